//! Agents reached over SSH (`agent: ssh://[USER@]HOST[:PORT]`): the system's
//! OpenSSH client logs in (batch mode, `known_hosts` checked, the user's keys
//! and ssh-agent, `NETLOOM_SSH_CONFIG` as `ssh -F`) and runs
//! `netloom agent --stdio` there, which serves requests one after another:
//! a session whose answer is whole waits [`IDLE`] for this process's next
//! request to that host.
//!
//! The sessions to a host share one login: OpenSSH's connection sharing
//! (`ControlMaster=auto`), with its control socket in a directory of this
//! user's that nobody else may enter ([`control_dir`]); the master stays
//! [`PERSIST`] idle, so the next command reuses it too.
//!
//! The far end's netloom is `/usr/local/lib/netloom/netloom-VERSION`, or a
//! `netloom` on its PATH of this same version, found by a new session's own
//! remote command; when it has neither, this binary is copied there
//! (root-owned, as Ansible pushes its modules) and the session opened again.
//! A user other than root runs both through `sudo -n`.

use std::ffi::{OsStr, OsString};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use netloom_core::ssh::SshDest;

use super::proto::STDIO_READY as READY;

/// `ssh -F FILE` for every login (identities, known hosts, jump hosts).
pub const CONFIG_ENV: &str = "NETLOOM_SSH_CONFIG";
/// Where a pushed netloom lives on the far end.
const DIR: &str = "/usr/local/lib/netloom";
/// The far end's exit status for "no netloom of this version here".
const MISSING: i32 = 97;
/// How long a session whose agent has answered waits for another request.
const IDLE: Duration = Duration::from_secs(20);
/// How long an idle master waits for the next session (seconds).
const PERSIST: u32 = 60;
/// The longest unix socket path (`sun_path`, its NUL excluded).
const MAX_SOCKET_PATH: usize = 107;
/// What ssh adds to the control path while it makes the socket (`.` and 16 characters).
const SOCKET_TEMP_SUFFIX: usize = 17;
/// What OpenSSH's `%C` becomes: a SHA-1 in hex.
const PERCENT_C: usize = 40;

fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() }
}

/// Where the control sockets go: root's in `/run` (only root may make a
/// directory there), another user's in their `XDG_RUNTIME_DIR` (theirs
/// alone), else in the temporary directory under a name with their uid.
fn control_dir_for(euid: u32, runtime_dir: Option<&OsStr>, tmp: &Path) -> PathBuf {
    match runtime_dir.map(Path::new) {
        _ if euid == 0 => PathBuf::from("/run/netloom-ssh"),
        Some(r) if r.is_absolute() => r.join("netloom-ssh"),
        _ => tmp.join(format!("netloom-ssh-{euid}")),
    }
}

/// `ControlPath` for the sockets in `dir`: one master per destination
/// (`%C`: local host, remote host, port and user, hashed) and ssh
/// configuration file, so a master logged in under one configuration never
/// serves a command given another. Refused when ssh could misread it or the
/// socket's path would be too long.
fn control_path(dir: &Path, config: Option<&OsStr>) -> Result<String, String> {
    let d = dir.to_str().filter(|d| {
        d.bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'/' | b'.' | b'_' | b'-'))
    });
    let Some(d) = d else {
        return Err(format!(
            "{}: only letters, digits and '/', '.', '_', '-' may be in ssh's ControlPath",
            dir.display()
        ));
    };
    let name = match config {
        Some(f) => {
            let h = ring::digest::digest(&ring::digest::SHA256, f.as_encoded_bytes());
            let hex: String = h.as_ref()[..4].iter().map(|b| format!("{b:02x}")).collect();
            format!("{hex}-%C")
        }
        None => "%C".to_string(),
    };
    let len = d.len() + 1 + name.len() - 2 + PERCENT_C + SOCKET_TEMP_SUFFIX;
    if len > MAX_SOCKET_PATH {
        return Err(format!(
            "{d}: too long for a unix socket's path once ssh names its sockets there ({len} > {MAX_SOCKET_PATH} bytes)"
        ));
    }
    Ok(format!("{d}/{name}"))
}

/// This process's control directory, checked once; `None` (with a warning
/// on stderr, once) when it is not safe to use: then every request logs in
/// on its own.
fn control_dir() -> Option<&'static Path> {
    static DIR: OnceLock<Option<PathBuf>> = OnceLock::new();
    DIR.get_or_init(|| {
        let runtime = std::env::var_os("XDG_RUNTIME_DIR");
        let dir = control_dir_for(euid(), runtime.as_deref(), &std::env::temp_dir());
        match crate::host::lock::private_dir(&dir, "ssh's control sockets") {
            Ok(()) => Some(dir),
            Err(e) => {
                eprintln!("netloom: {e}; every ssh request logs in on its own");
                None
            }
        }
    })
    .as_deref()
}

/// ssh's arguments, up to and including the destination: netloom's options,
/// `-F config`, and with `control` (a `ControlPath`) connection sharing.
fn ssh_args(dest: &SshDest, config: Option<&OsStr>, control: Option<&str>) -> Vec<OsString> {
    let mut a: Vec<OsString> = Vec::new();
    if let Some(f) = config {
        a.extend(["-F".into(), f.to_owned()]);
    }
    let mut options = vec![
        "BatchMode=yes".to_string(),
        "StrictHostKeyChecking=yes".into(),
        "ConnectTimeout=15".into(),
        "ServerAliveInterval=15".into(),
        "ServerAliveCountMax=4".into(),
    ];
    if let Some(path) = control {
        options.extend([
            "ControlMaster=auto".into(),
            format!("ControlPath={path}"),
            format!("ControlPersist={PERSIST}"),
        ]);
    }
    for o in options {
        a.extend(["-o".into(), o.into()]);
    }
    if let Some(p) = dest.port {
        a.extend(["-p".into(), p.to_string().into()]);
    }
    // `--`: nothing after it is read as an option (the parts are plain anyway).
    a.extend(["--".into(), dest.login().into()]);
    a
}

/// `ssh` with netloom's options, up to and including the destination.
fn ssh(dest: &SshDest) -> Command {
    let config = std::env::var_os(CONFIG_ENV);
    let control = control_dir().and_then(|d| match control_path(d, config.as_deref()) {
        Ok(p) => Some(p),
        Err(e) => {
            eprintln!("netloom: {e}; this request logs in on its own");
            None
        }
    });
    let mut c = Command::new("ssh");
    c.args(ssh_args(dest, config.as_deref(), control.as_deref()));
    c
}

fn sudo(dest: &SshDest) -> &'static str {
    match dest.user {
        Some(_) if !dest.is_root() => "sudo -n ",
        _ => "",
    }
}

/// Where this binary goes on a far end that has no netloom of its version.
fn pushed() -> String {
    format!("{DIR}/netloom-{}", version())
}

/// The request's remote command: find a netloom of this version (`pushed`,
/// else one on PATH that says so), say so, and serve on the session (through
/// `sudo`); exit [`MISSING`] without a word when there is none.
fn agent_command(pushed: &str, sudo: &str) -> String {
    let v = version();
    format!(
        "p={pushed}; [ -x \"$p\" ] || {{ p=$(command -v netloom) && \
         [ \"$(\"$p\" --version 2>/dev/null)\" = 'netloom {v}' ]; }} || exit {MISSING}; \
         echo {READY}; exec {sudo}\"$p\" agent --stdio"
    )
}

/// What went wrong with one ssh run, with ssh's own words.
fn failed(dest: &SshDest, what: &str, o: &std::process::Output) -> io::Error {
    io::Error::other(format!(
        "{dest}: {what}: {}",
        String::from_utf8_lossy(&o.stderr).trim()
    ))
}

/// Copies this binary to `path` on the far end, root-owned, atomically
/// (written beside under the shell's pid, so two copies at once do not mix);
/// gzipped on the way (a third of the bytes; both ends have gzip).
fn push(dest: &SshDest, path: &str) -> io::Result<()> {
    let exe = std::fs::File::open(std::env::current_exe()?)?;
    let mut gzip = Command::new("gzip")
        .args(["-1", "-c"])
        .stdin(exe)
        .stdout(Stdio::piped())
        .spawn()?;
    let packed = gzip
        .stdout
        .take()
        .ok_or_else(|| io::Error::other("gzip without its pipe"))?;
    let script = format!(
        "{}sh -c 'umask 022 && mkdir -p {DIR} && gzip -d > {path}.part$$ && chmod 755 {path}.part$$ && mv -f {path}.part$$ {path}'",
        sudo(dest)
    );
    let o = ssh(dest).arg(script).stdin(packed).output();
    let packed_ok = gzip.wait()?.success();
    let o = o?;
    if o.status.success() && packed_ok {
        Ok(())
    } else {
        Err(failed(dest, &format!("cannot copy netloom to {path}"), &o))
    }
}

/// Sessions whose agent waits for a request, each with when it began to.
static SESSIONS: Mutex<Vec<(Instant, SshConn)>> = Mutex::new(Vec::new());

/// An idle session to `dest`, if one is still there.
fn idle_session(dest: &str) -> Option<SshConn> {
    let mut idle = SESSIONS.lock().ok()?;
    while let Some(i) = idle.iter().position(|(_, c)| c.dest == dest) {
        let (_, mut c) = idle.swap_remove(i);
        // One whose ssh has exited meanwhile (its master lost the host) goes.
        if matches!(c.child.try_wait(), Ok(None)) {
            return Some(c);
        }
    }
    None
}

/// Closes the sessions idle for [`IDLE`] (a server must not keep them, nor
/// through them their master, for ever); ends once none is left.
fn reap() {
    loop {
        std::thread::sleep(IDLE / 4);
        let Ok(mut idle) = SESSIONS.lock() else {
            return;
        };
        idle.retain(|(since, _)| since.elapsed() < IDLE);
        if idle.is_empty() {
            return;
        }
    }
}

/// `netloom agent --stdio` on the far end, as a connection: an idle session,
/// else a new one (over the shared login), or two and a copy when netloom is
/// not there yet.
pub fn connect(dest: &SshDest) -> io::Result<SshConn> {
    if let Some(conn) = idle_session(&dest.to_string()) {
        return Ok(conn);
    }
    let mut conn = SshConn::spawn(dest)?;
    if conn.ready()? {
        return Ok(conn);
    }
    drop(conn);
    let path = pushed();
    push(dest, &path)?;
    let mut conn = SshConn::spawn(dest)?;
    if conn.ready()? {
        Ok(conn)
    } else {
        Err(io::Error::other(format!(
            "{dest}: netloom was copied to {path}, yet the far end does not find it there"
        )))
    }
}

/// A session with `netloom agent --stdio`: its standard input and output;
/// ssh's complaints, if the answers end early, become the read's error.
pub struct SshConn {
    dest: String,
    child: Child,
    input: ChildStdin,
    output: ChildStdout,
    said: Receiver<String>,
}

impl SshConn {
    fn spawn(dest: &SshDest) -> io::Result<SshConn> {
        let mut c = ssh(dest);
        c.arg(agent_command(&pushed(), sudo(dest)));
        SshConn::run(dest.to_string(), c)
    }

    /// `command` (ssh) with its standard input, output and error as pipes.
    fn run(dest: String, mut command: Command) -> io::Result<SshConn> {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let (Some(input), Some(output), Some(mut err)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(io::Error::other("ssh without its pipes"));
        };
        let (tx, said) = channel();
        std::thread::spawn(move || {
            // Read to its end, so that ssh never blocks on it however long the
            // session serves; its first 64 KiB kept for an error message.
            let (mut kept, mut buf) = (Vec::new(), [0u8; 4096]);
            while let Ok(n @ 1..) = err.read(&mut buf) {
                let room = (64usize << 10).saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
            }
            let _ = tx.send(String::from_utf8_lossy(&kept).into_owned());
        });
        Ok(SshConn {
            dest,
            child,
            input,
            output,
            said,
        })
    }

    /// Reads the far end's first line: true once it serves, false when it
    /// has no netloom of this version; ssh's words when the session failed.
    fn ready(&mut self) -> io::Result<bool> {
        let mut line = Vec::new();
        let mut byte = [0u8];
        // Byte by byte: what follows the line is the agent's, read later.
        while self.output.read(&mut byte)? == 1 {
            if byte[0] == b'\n' && line == READY.as_bytes() {
                return Ok(true);
            }
            line.push(byte[0]);
            if line.len() > READY.len() {
                // Something else speaks first (a start-up file of the remote
                // shell?): the agent would wait for a request forever.
                let _ = self.child.kill();
                let _ = self.child.wait();
                return Err(io::Error::other(format!(
                    "{}: the far end said {:?} before netloom could start",
                    self.dest,
                    String::from_utf8_lossy(&line)
                )));
            }
        }
        let status = self.child.wait()?;
        if line.is_empty() && status.code() == Some(MISSING) {
            return Ok(false);
        }
        Err(self.failure(status))
    }

    /// Keeps the session for the next request once its agent says it waits
    /// for one (`buffered`: what was read past the answer already); else
    /// closes it.
    pub fn idle(mut self, buffered: &[u8]) {
        let mut line = buffered.to_vec();
        let mut byte = [0u8];
        while !line.ends_with(b"\n") && line.len() <= READY.len() {
            match self.output.read(&mut byte) {
                Ok(1) => line.push(byte[0]),
                _ => return,
            }
        }
        if line.strip_suffix(b"\n") != Some(READY.as_bytes()) {
            return;
        }
        if let Ok(mut idle) = SESSIONS.lock() {
            if idle.is_empty() {
                std::thread::spawn(reap);
            }
            idle.push((Instant::now(), self));
        }
    }

    /// The session ended with `status`: ssh's (or the far end's) own words.
    fn failure(&mut self, status: ExitStatus) -> io::Error {
        // ssh has exited: its stderr ends now (a moment, for its last words).
        let said = self.said.recv_timeout(Duration::from_secs(2));
        let said = said.unwrap_or_default();
        io::Error::other(format!(
            "{}: ssh failed ({status}): {}",
            self.dest,
            said.trim()
        ))
    }
}

impl Read for SshConn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.output.read(buf)?;
        if n == 0 && !buf.is_empty() {
            let status = self.child.wait()?;
            if !status.success() {
                return Err(self.failure(status));
            }
        }
        Ok(n)
    }
}

impl Write for SshConn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.input.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.input.flush()
    }
}

impl Drop for SshConn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dest(url: &str) -> SshDest {
        netloom_core::ssh::parse(url).unwrap().unwrap()
    }

    #[test]
    fn the_login_shares_a_master_through_a_private_socket_and_checks_the_host_key() {
        let args = ssh_args(
            &dest("ssh://ops@10.0.0.6:2222"),
            Some(OsStr::new("/etc/netloom/ssh_config")),
            Some("/run/netloom-ssh/0a1b2c3d-%C"),
        );
        let args: Vec<&str> = args.iter().map(|a| a.to_str().unwrap()).collect();
        assert_eq!(
            args.join(" "),
            "-F /etc/netloom/ssh_config -o BatchMode=yes -o StrictHostKeyChecking=yes \
             -o ConnectTimeout=15 -o ServerAliveInterval=15 -o ServerAliveCountMax=4 \
             -o ControlMaster=auto -o ControlPath=/run/netloom-ssh/0a1b2c3d-%C \
             -o ControlPersist=60 -p 2222 -- ops@10.0.0.6"
        );
        // No safe control directory: a login per request, nothing shared.
        let args = ssh_args(&dest("ssh://h"), None, None);
        let args: Vec<&str> = args.iter().map(|a| a.to_str().unwrap()).collect();
        assert!(!args.iter().any(|a| a.starts_with("Control")), "{args:?}");
        assert_eq!(args[args.len() - 2..], ["--", "h"]);
    }

    #[test]
    fn control_sockets_live_where_only_this_user_may_make_them() {
        let tmp = Path::new("/tmp");
        let run = Some(OsStr::new("/run/user/1000"));
        assert_eq!(control_dir_for(0, run, tmp), Path::new("/run/netloom-ssh"));
        assert_eq!(
            control_dir_for(1000, run, tmp),
            Path::new("/run/user/1000/netloom-ssh")
        );
        for none in [None, Some(OsStr::new("relative/dir"))] {
            assert_eq!(
                control_dir_for(1000, none, tmp),
                Path::new("/tmp/netloom-ssh-1000")
            );
        }
    }

    #[test]
    fn a_control_path_per_configuration_short_enough_and_plain() {
        let dir = Path::new("/run/netloom-ssh");
        assert_eq!(control_path(dir, None).unwrap(), "/run/netloom-ssh/%C");
        let a = control_path(dir, Some(OsStr::new("/etc/a"))).unwrap();
        let b = control_path(dir, Some(OsStr::new("/etc/b"))).unwrap();
        assert!(
            a.starts_with("/run/netloom-ssh/") && a.ends_with("-%C"),
            "{a}"
        );
        assert_ne!(a, b);
        // The longest socket path ssh makes there still fits a sockaddr_un.
        let longest = a.len() - 2 + PERCENT_C + SOCKET_TEMP_SUFFIX;
        assert!(longest <= MAX_SOCKET_PATH, "{longest}");
        let deep = Path::new("/home/someone/with/a/very/long/runtime/directory/netloom-ssh");
        let e = control_path(deep, Some(OsStr::new("/etc/a"))).unwrap_err();
        assert!(e.contains("too long for a unix socket"), "{e}");
        for odd in ["/run/user/1000/my dir", "/run/%d", "/run/\"x\""] {
            let e = control_path(Path::new(odd), None).unwrap_err();
            assert!(e.contains("ControlPath"), "{e}");
        }
    }

    /// The remote command run by `sh` here: its status and what it printed,
    /// with a `netloom` saying `netloom VERSION` on PATH when given a version.
    fn run_agent_command(dir: &Path, pushed: &Path, on_path: Option<&str>) -> (i32, String) {
        use std::os::unix::fs::PermissionsExt;
        let bin = dir.join("bin");
        let _ = std::fs::remove_dir_all(&bin);
        std::fs::create_dir_all(&bin).unwrap();
        if let Some(v) = on_path {
            let fake = bin.join("netloom");
            let script = format!(
                "#!/bin/sh\n[ \"$1\" = --version ] && exec echo 'netloom {v}'\necho \"ran $0 $*\"\n"
            );
            std::fs::write(&fake, script).unwrap();
            std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let o = Command::new("sh")
            .arg("-c")
            .arg(agent_command(pushed.to_str().unwrap(), ""))
            .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let out = String::from_utf8_lossy(&o.stdout).into_owned();
        (o.status.code().unwrap_or(-1), out)
    }

    #[test]
    fn one_session_finds_the_far_ends_netloom_of_this_version_or_says_it_is_missing() {
        let dir = std::env::temp_dir().join(format!("netloom-ssh-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pushed = dir.join("netloom-pushed");
        let v = version();
        // Nothing there, or only another version on PATH: missing, nothing said.
        assert_eq!(
            run_agent_command(&dir, &pushed, None),
            (MISSING, String::new())
        );
        let (code, out) = run_agent_command(&dir, &pushed, Some("0.0.0-other"));
        assert_eq!((code, out.as_str()), (MISSING, ""));
        // This version on PATH: ready, then it serves.
        let (code, out) = run_agent_command(&dir, &pushed, Some(v));
        let fake = dir.join("bin/netloom");
        assert_eq!(code, 0);
        assert_eq!(
            out,
            format!("{READY}\nran {} agent --stdio\n", fake.display())
        );
        // The pushed one comes first, whatever PATH has.
        std::fs::copy(&fake, &pushed).unwrap();
        let (code, out) = run_agent_command(&dir, &pushed, Some("0.0.0-other"));
        assert_eq!(code, 0);
        assert_eq!(
            out,
            format!("{READY}\nran {} agent --stdio\n", pushed.display())
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A stand-in for a session: `script` run by `sh` as if over ssh to `dest`.
    fn session(dest: &str, script: &str) -> SshConn {
        let mut c = Command::new("sh");
        c.args(["-c", script]);
        SshConn::run(dest.to_string(), c).unwrap()
    }

    #[test]
    fn a_session_whose_answer_is_whole_serves_the_next_request() {
        // An agent in shell: READY, then per request line one answer and READY.
        let agent =
            format!("echo {READY}; while read -r l; do echo \"answer $l\"; echo {READY}; done");
        let mut conn = session("ssh://idle-test", &agent);
        assert!(conn.ready().unwrap());
        let mut answers = Vec::new();
        for request in ["one", "two"] {
            writeln!(conn, "{request}").unwrap();
            let mut reader = std::io::BufReader::new(conn);
            let mut l = String::new();
            std::io::BufRead::read_line(&mut reader, &mut l).unwrap();
            answers.push(l);
            // The line after the answer may be in the reader's buffer already, or not.
            let buffered = reader.buffer().to_vec();
            reader.into_inner().idle(&buffered);
            conn = idle_session("ssh://idle-test").expect("the session, idle");
        }
        assert_eq!(answers, ["answer one\n", "answer two\n"]);
        // Another destination's idle session is not this one's.
        assert!(idle_session("ssh://other").is_none());
        drop(conn);
        assert!(idle_session("ssh://idle-test").is_none());
    }

    #[test]
    fn a_session_that_says_anything_else_after_its_answer_is_closed() {
        for (name, agent) in [
            ("ssh://garbled", "echo something-else; sleep 30"),
            ("ssh://ended", "true"),
        ] {
            let conn = session(name, agent);
            conn.idle(b"");
            assert!(idle_session(name).is_none(), "{name}");
        }
        // Nothing missing, but ssh's own words when the session fails.
        let mut conn = session(
            "ssh://failing",
            "echo 'Host key verification failed.' >&2; exit 255",
        );
        let e = conn.ready().unwrap_err().to_string();
        assert!(
            e.contains("ssh://failing: ssh failed") && e.contains("Host key verification failed."),
            "{e}"
        );
        let mut conn = session("ssh://missing", &format!("exit {MISSING}"));
        assert!(!conn.ready().unwrap());
    }
}
