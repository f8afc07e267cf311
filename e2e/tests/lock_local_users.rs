//! Root test: a topology's apply/destroy lock is root's alone. An
//! unprivileged local user who tries everything it can to hold it does not
//! stop `netloom destroy`; a wait for a lock that root holds names the
//! holder and ends cleanly on Ctrl-C or SIGTERM, having changed nothing.

mod apply_support;

use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::PermissionsExt;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use apply_support::*;

const LOCKS: &str = "/run/netloom-lock";

/// `setpriv` to nobody: no capabilities, no groups.
fn as_nobody(argv: &[&str]) -> Command {
    let mut c = Command::new("setpriv");
    c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .args(argv);
    c
}

/// A process that holds something until dropped (its stdin closes, then it is killed).
struct Holder {
    child: Child,
    _stdin: ChildStdin,
}

impl Holder {
    /// Start `cmd` (it reads stdin until it closes) and wait for its first line.
    fn start(mut cmd: Command, ready: &str) -> Holder {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the holder");
        let stdin = child.stdin.take().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), ready, "the holder did not start");
        Holder {
            child,
            _stdin: stdin,
        }
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Wait for a child, at most `secs`; killed (and the test failed) after that.
fn finish(mut child: Child, secs: u64, what: &str) -> (ExitStatus, String) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                e.read_to_string(&mut err).unwrap();
            }
            return (st, err);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} still runs after {secs} s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn an_unprivileged_user_cannot_hold_a_topology_lock() {
    if !netloom_e2e::root("an_unprivileged_user_cannot_hold_a_topology_lock") {
        return;
    }
    let name = "e2e-loclk1";
    // The lock directory exists once any apply or destroy ran.
    ok(&["destroy", "--name", name]);
    let meta = std::fs::symlink_metadata(LOCKS).unwrap();
    assert!(meta.is_dir());
    assert_eq!(meta.permissions().mode() & 0o7777, 0o700, "{LOCKS}");

    // What held the lock before: the topology's abstract socket name.
    let bind = format!(
        "use Socket; socket(my $s, AF_UNIX, SOCK_STREAM, 0) or die $!; \
         bind($s, pack_sockaddr_un(\"\\0netloom/lock/{name}\")) or die \"bind: $!\"; \
         listen($s, 1); $| = 1; print \"bound\\n\"; <STDIN>;"
    );
    let _abstract = Holder::start(as_nobody(&["perl", "-e", &bind]), "bound");

    // Everything else a user could do to the lock directory or its files.
    let file = format!("{LOCKS}/{name}.lock");
    let attempts: [&[&str]; 7] = [
        &["mkdir", "-p", &format!("{LOCKS}/{name}")],
        &["touch", &file],
        &["flock", "-n", &file, "true"],
        &["flock", "-n", LOCKS, "true"],
        &["ls", LOCKS],
        // Making the directory first, or a link in its place, where root would look.
        &["mkdir", "/run/netloom-lock.e2e"],
        &["ln", "-s", "/tmp", "/run/netloom-lock.e2e"],
    ];
    for argv in attempts {
        let o = as_nobody(argv).output().unwrap();
        assert!(
            !o.status.success(),
            "nobody could `{}`: {}",
            argv.join(" "),
            String::from_utf8_lossy(&o.stdout)
        );
    }

    let destroy = Command::new(bin())
        .args(["destroy", "--name", name])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (st, err) = finish(destroy, 120, "netloom destroy");
    assert!(st.success(), "{st}: {err}");
    assert!(!err.contains("waiting for topology"), "{err}");
}

/// A lock held by root the way netloom does (its pid and what it does in the file).
fn hold_as_root(name: &str) -> (Holder, u32) {
    let file = format!("{LOCKS}/{name}.lock");
    let mut sh = Command::new("sh");
    sh.args([
        "-c",
        // flock -o: the lock stays with flock itself, not with `cat`.
        "echo \"$$ test holder\" > \"$1\" && echo locked && exec flock -o \"$1\" cat >/dev/null",
        "sh",
        &file,
    ]);
    let h = Holder::start(sh, "locked");
    let pid = h.child.id();
    // Locked once flock has it: `flock -n` fails from then on.
    let deadline = Instant::now() + Duration::from_secs(30);
    while Command::new("flock")
        .args(["-n", &file, "true"])
        .status()
        .unwrap()
        .success()
    {
        assert!(Instant::now() < deadline, "the holder never locked {file}");
        std::thread::sleep(Duration::from_millis(20));
    }
    (h, pid)
}

/// Start `netloom ARGS`, wait until it says it waits for `holder`, send `signal`:
/// it must end at once, cancelled, with the signal's exit code.
fn cancel_wait(args: &[&str], name: &str, pid: u32, signal: &str, code: i32) {
    let mut child = Command::new(bin())
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stderr).lines() {
            let line = line.unwrap_or_default();
            let _ = tx.send(line.clone());
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    let waiting = format!("waiting for topology {name}: held by pid {pid} (test holder)");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(l) if l == waiting => break,
            Ok(_) => continue,
            Err(e) => {
                let _ = child.kill();
                panic!("netloom {} never said {waiting:?}: {e}", args.join(" "));
            }
        }
    }
    netloom_e2e::run(&["kill", &format!("-{signal}"), &child.id().to_string()]);
    let (st, _) = finish(child, 10, "the cancelled wait");
    let err = reader.join().unwrap();
    assert_eq!(st.code(), Some(code), "{st}: {err}");
    let command = args[0];
    assert!(
        err.contains(&format!(
            "netloom {command}: cancelled while waiting for topology {name} (held by pid {pid} (test holder)): nothing was changed"
        )),
        "{err}"
    );
}

#[test]
fn a_wait_for_the_lock_names_the_holder_and_ends_cleanly_on_a_signal() {
    if !netloom_e2e::root("a_wait_for_the_lock_names_the_holder_and_ends_cleanly_on_a_signal") {
        return;
    }
    let links_before = root_links();
    let name = "e2e-loclk2";
    let lab = Lab::from_text(
        name,
        format!(
            "version: 1\nname: {name}\nhosts:\n  - name: node1\n    bridges: [{{name: br0}}]\n    vms:\n      - name: vm1\n        nics:\n          - {{bridge: br0, ip: 10.9.0.1/24}}\n"
        ),
    );
    ok(&["apply", lab.path()]);
    // Root's only: the run directories hold the agents' token, pidfiles and leases.
    for d in ["/run/netloom".to_string(), format!("/run/netloom/{name}")] {
        let mode = std::fs::metadata(&d).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o700, "{d}");
    }
    let namespaces = |n: &str| -> Vec<String> {
        netloom_e2e::netns_list()
            .into_iter()
            .filter(|x| x.starts_with(&format!("nl-{n}.")))
            .collect()
    };
    let before = namespaces(name);
    assert!(!before.is_empty());

    let (holder, pid) = hold_as_root(name);
    cancel_wait(&["destroy", "--name", name], name, pid, "INT", 130);
    // A changed file: the apply would have work to do, had it not been cancelled.
    let edited = std::env::temp_dir().join(format!("netloom-{name}-edited.yaml"));
    std::fs::write(&edited, lab.text.replace("10.9.0.1/24", "10.9.0.2/24")).unwrap();
    cancel_wait(&["apply", edited.to_str().unwrap()], name, pid, "TERM", 143);
    let _ = std::fs::remove_file(&edited);

    // Nothing was changed: the lab is as applied, and root's holder still holds.
    assert_eq!(namespaces(name), before);
    assert!(lab.plan_steps().is_empty(), "{:#?}", lab.plan_steps());
    assert!(
        !Command::new("flock")
            .args(["-n", &format!("{LOCKS}/{name}.lock"), "true"])
            .status()
            .unwrap()
            .success(),
        "the lock was let go"
    );
    drop(holder);
    let out = ok(&["destroy", "--name", name]);
    assert!(out.contains("destroyed"), "{out}");
    assert_no_residue(name, &links_before);
    assert!(
        !std::path::Path::new(&format!("{LOCKS}/{name}.lock")).exists(),
        "the lock file stays behind"
    );
}
