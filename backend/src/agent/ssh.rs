//! Agents reached over SSH (`agent: ssh://[USER@]HOST[:PORT]`): the system's
//! OpenSSH client logs in (batch mode, `known_hosts` checked, the user's keys
//! and ssh-agent, `NETLOOM_SSH_CONFIG` as `ssh -F`) and runs
//! `netloom agent --stdio` there, one login per request.
//!
//! The far end's netloom is `/usr/local/lib/netloom/netloom-VERSION`, or a
//! `netloom` on its PATH of this same version; when it has neither, this
//! binary is copied there first (root-owned, as Ansible pushes its modules).
//! A user other than root runs both through `sudo -n`.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};

use netloom_core::ssh::SshDest;

/// `ssh -F FILE` for every login (identities, known hosts, jump hosts).
pub const CONFIG_ENV: &str = "NETLOOM_SSH_CONFIG";
/// Where a pushed netloom lives on the far end.
const DIR: &str = "/usr/local/lib/netloom";
/// The check's exit status for "no netloom of this version there".
const MISSING: i32 = 97;

/// The far end's netloom of each destination, once found or pushed.
static FOUND: Mutex<BTreeMap<String, String>> = Mutex::new(BTreeMap::new());

fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

/// `ssh` with netloom's options, up to and including the destination.
fn ssh(dest: &SshDest) -> Command {
    let mut c = Command::new("ssh");
    if let Some(f) = std::env::var_os(CONFIG_ENV) {
        c.arg("-F").arg(f);
    }
    for o in [
        "BatchMode=yes",
        "StrictHostKeyChecking=yes",
        "ConnectTimeout=15",
        "ServerAliveInterval=15",
        "ServerAliveCountMax=4",
    ] {
        c.args(["-o", o]);
    }
    if let Some(p) = dest.port {
        c.args(["-p", &p.to_string()]);
    }
    // `--`: nothing after it is read as an option (the parts are plain anyway).
    c.args(["--", &dest.login()]);
    c
}

fn sudo(dest: &SshDest) -> &'static str {
    match dest.user {
        Some(_) if !dest.is_root() => "sudo -n ",
        _ => "",
    }
}

/// What went wrong with one ssh run, with ssh's own words.
fn failed(dest: &SshDest, what: &str, o: &std::process::Output) -> io::Error {
    io::Error::other(format!(
        "{dest}: {what}: {}",
        String::from_utf8_lossy(&o.stderr).trim()
    ))
}

/// The path of a netloom of this version on the far end; pushed when missing.
fn remote_netloom(dest: &SshDest) -> io::Result<String> {
    let key = dest.to_string();
    if let Some(p) = FOUND.lock().ok().and_then(|m| m.get(&key).cloned()) {
        return Ok(p);
    }
    let v = version();
    let pushed = format!("{DIR}/netloom-{v}");
    let check = format!(
        "[ -x {pushed} ] && exec echo {pushed}; \
         n=$(command -v netloom) && [ \"$(\"$n\" --version 2>/dev/null)\" = 'netloom {v}' ] && exec echo \"$n\"; \
         exit {MISSING}"
    );
    let o = ssh(dest).arg(check).stdin(Stdio::null()).output()?;
    let path = match o.status.code() {
        Some(0) => String::from_utf8_lossy(&o.stdout).trim().to_string(),
        Some(MISSING) => {
            push(dest, &pushed)?;
            pushed
        }
        _ => return Err(failed(dest, "cannot log in", &o)),
    };
    if let Ok(mut m) = FOUND.lock() {
        m.insert(key, path.clone());
    }
    Ok(path)
}

/// Copies this binary to `path` on the far end, atomically, root-owned;
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
        "{}sh -c 'umask 022 && mkdir -p {DIR} && gzip -d > {path}.part && chmod 755 {path}.part && mv -f {path}.part {path}'",
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

/// `netloom agent --stdio` on the far end, as a connection.
pub fn connect(dest: &SshDest) -> io::Result<SshConn> {
    let netloom = remote_netloom(dest)?;
    let mut child = ssh(dest)
        .arg(format!("{}{netloom} agent --stdio", sudo(dest)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let (Some(input), Some(output), Some(mut err)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return Err(io::Error::other("ssh without its pipes"));
    };
    let said = Arc::new(Mutex::new(String::new()));
    let into = said.clone();
    std::thread::spawn(move || {
        let mut s = String::new();
        let _ = (&mut err).take(64 << 10).read_to_string(&mut s);
        if let Ok(mut t) = into.lock() {
            *t = s;
        }
    });
    Ok(SshConn {
        dest: dest.to_string(),
        child,
        input,
        output,
        said,
    })
}

/// A request's login: its standard input and output; ssh's complaints,
/// if the answers end early, become the read's error.
pub struct SshConn {
    dest: String,
    child: Child,
    input: ChildStdin,
    output: ChildStdout,
    said: Arc<Mutex<String>>,
}

impl Read for SshConn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.output.read(buf)?;
        // The end, with a failure: ssh's own words (its reader has them once ssh exits).
        let failed = n == 0 && !buf.is_empty() && self.child.wait().is_ok_and(|s| !s.success());
        if failed {
            std::thread::sleep(std::time::Duration::from_millis(50));
            let said = self.said.lock().map(|s| s.trim().to_string());
            let said = said.unwrap_or_default();
            return Err(io::Error::other(format!(
                "{}: ssh failed: {said}",
                self.dest
            )));
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
