//! Network namespaces, and running code or processes inside one.
//!
//! A namespace is a file under `/run/netns` (as `ip netns` keeps them). Code
//! that must run inside one runs on a fresh OS thread that has `setns`-ed
//! into it: the namespace is a per-thread property, so no other thread (and
//! never a tokio worker) changes namespace. Netlink sockets opened on that
//! thread stay bound to the namespace.

use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Condvar, Mutex};

/// Where `ip netns` keeps namespaces.
pub const NETNS_DIR: &str = "/run/netns";

/// `/run/netns/NAME`.
pub fn path(name: &str) -> PathBuf {
    Path::new(NETNS_DIR).join(name)
}

fn cstr(p: &Path) -> io::Result<std::ffi::CString> {
    std::ffi::CString::new(p.as_os_str().as_encoded_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in path"))
}

fn check(rc: libc::c_int) -> io::Result<()> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Make `/run/netns` a shared mount point, as `ip netns add` does, so that
/// namespaces bound under it are seen by every mount namespace.
fn prepare_dir() -> io::Result<()> {
    std::fs::create_dir_all(NETNS_DIR)?;
    let dir = cstr(Path::new(NETNS_DIR))?;
    let make_shared = || {
        // SAFETY: valid NUL-terminated strings; no data pointer.
        check(unsafe {
            libc::mount(
                c"none".as_ptr(),
                dir.as_ptr(),
                std::ptr::null(),
                libc::MS_SHARED | libc::MS_REC,
                std::ptr::null(),
            )
        })
    };
    match make_shared() {
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {}
        r => return r,
    }
    // Not a mount point yet: bind it onto itself first.
    // SAFETY: as above.
    check(unsafe {
        libc::mount(
            dir.as_ptr(),
            dir.as_ptr(),
            c"none".as_ptr(),
            libc::MS_BIND | libc::MS_REC,
            std::ptr::null(),
        )
    })?;
    make_shared()
}

/// Open namespace `name` (`""`: this process's own, e.g. a real host's agent's).
pub fn open(name: &str) -> io::Result<File> {
    if name.is_empty() {
        File::open("/proc/self/ns/net")
    } else {
        File::open(path(name))
    }
}

/// Run `f` on a new OS thread inside namespace `name` (`""`: this process's own).
pub fn run_in<R: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> R + Send + 'static,
) -> io::Result<R> {
    let fd = if name.is_empty() {
        None
    } else {
        Some(File::open(path(name))?)
    };
    std::thread::spawn(move || -> io::Result<R> {
        if let Some(fd) = fd {
            // SAFETY: fd is an open nsfs file; setns affects only this thread.
            check(unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) })?;
        }
        Ok(f())
    })
    .join()
    .map_err(|_| io::Error::other("namespace thread panicked"))?
}

/// `ip netns add NAME`: a new namespace bound at `/run/netns/NAME`; then `f` runs inside it.
pub fn create_then<R: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> R + Send + 'static,
) -> io::Result<R> {
    prepare_dir()?;
    let target = path(name);
    // The bind mount needs an existing file; O_EXCL so a leftover is noticed.
    File::options().write(true).create_new(true).open(&target)?;
    let t2 = target.clone();
    let res = std::thread::spawn(move || -> io::Result<R> {
        // SAFETY: unshare affects only this thread's network namespace.
        check(unsafe { libc::unshare(libc::CLONE_NEWNET) })?;
        let src = cstr(Path::new("/proc/thread-self/ns/net"))?;
        let dst = cstr(&t2)?;
        // SAFETY: valid paths; bind mount keeps the namespace alive after the thread exits.
        check(unsafe {
            libc::mount(
                src.as_ptr(),
                dst.as_ptr(),
                c"none".as_ptr(),
                libc::MS_BIND,
                std::ptr::null(),
            )
        })?;
        Ok(f())
    })
    .join()
    .map_err(|_| io::Error::other("namespace thread panicked"))?;
    if res.is_err() {
        let _ = std::fs::remove_file(&target);
    }
    res
}

/// `ip netns delete NAME`, after killing every process inside (a process
/// would keep the namespace, and its interfaces, alive).
pub fn delete(name: &str) -> io::Result<()> {
    let p = path(name);
    if let Some(ino) = inode(name) {
        kill_all_in(ino);
    }
    let c = cstr(&p)?;
    // SAFETY: valid path; lazy unmount of the bind mount.
    let rc = unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
    if rc < 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINVAL) && e.raw_os_error() != Some(libc::ENOENT) {
            return Err(e);
        }
    }
    match std::fs::remove_file(&p) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Names in `/run/netns` starting with `prefix`.
pub fn list(prefix: &str) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(NETNS_DIR)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.starts_with(prefix))
        .collect();
    out.sort();
    out
}

/// The nsfs inode of a namespace (what `/proc/PID/ns/net` links to), if it is mounted.
pub fn inode(name: &str) -> Option<u64> {
    let m = std::fs::metadata(path(name)).ok()?;
    // An unmounted placeholder file lives on tmpfs, not nsfs (dev 0 major is nsfs's anon dev).
    let own = std::fs::metadata("/proc/self/ns/net").ok()?;
    (m.dev() == own.dev()).then_some(m.ino())
}

/// The namespace inode a process is in. Read from the link's text
/// (`net:[INODE]`): following the link costs the kernel more, and a
/// namespace delete reads it for every process of the machine.
pub fn pid_inode(pid: i32) -> Option<u64> {
    let link = std::fs::read_link(format!("/proc/{pid}/ns/net")).ok()?;
    link.to_str()?
        .strip_prefix("net:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// Every process of the machine by the namespace inode it is in.
fn scan_pids() -> BTreeMap<u64, Vec<i32>> {
    let mut out: BTreeMap<u64, Vec<i32>> = BTreeMap::new();
    for pid in std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
    {
        if let Some(ino) = pid_inode(pid) {
            out.entry(ino).or_default().push(pid);
        }
    }
    out
}

/// [`scan_pids`], one scan shared by the callers that asked before it
/// started: the namespaces of a host's guests are deleted ten at a time,
/// and each would otherwise read the same /proc (at 100 hosts, a third of
/// destroy's CPU). A scan that started before the call is not used: a
/// process that went in meanwhile would be missed.
fn pids_by_inode() -> Arc<BTreeMap<u64, Vec<i32>>> {
    struct Scans {
        started: u64,
        finished: u64,
        running: bool,
        last: Option<Arc<BTreeMap<u64, Vec<i32>>>>,
    }
    static SCANS: Mutex<Scans> = Mutex::new(Scans {
        started: 0,
        finished: 0,
        running: false,
        last: None,
    });
    static DONE: Condvar = Condvar::new();
    let lock = || SCANS.lock().unwrap_or_else(|e| e.into_inner());
    let mut g = lock();
    let want = g.started + 1;
    loop {
        if let Some(last) = g.last.as_ref().filter(|_| g.finished >= want) {
            return last.clone();
        }
        if g.running {
            g = DONE.wait(g).unwrap_or_else(|e| e.into_inner());
            continue;
        }
        g.running = true;
        g.started += 1;
        let id = g.started;
        drop(g);
        let found = Arc::new(scan_pids());
        g = lock();
        g.running = false;
        g.finished = id;
        g.last = Some(found);
        DONE.notify_all();
    }
}

fn kill_all_in(ino: u64) {
    let pids = pids_by_inode().get(&ino).cloned().unwrap_or_default();
    for &pid in &pids {
        // SAFETY: plain signal to a pid we found inside our own namespace.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    for pid in pids {
        super::procs::wait_gone(pid, std::time::Duration::from_secs(2));
    }
}

/// Make `cmd` start inside namespace `name` (setns between fork and exec; no shell).
pub fn command_in(name: &str, mut cmd: Command) -> io::Result<Command> {
    if name.is_empty() {
        return Ok(cmd);
    }
    let fd = File::open(path(name))?;
    // SAFETY: setns is async-signal-safe; the fd stays open (moved into the closure) until exec.
    unsafe {
        cmd.pre_exec(move || check(libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET)));
    }
    Ok(cmd)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    /// Deletes its namespaces, also when the test fails.
    struct Made(Vec<String>);

    impl Drop for Made {
        fn drop(&mut self) {
            for n in &self.0 {
                let _ = delete(n);
            }
        }
    }

    /// Namespaces deleted at once share one /proc scan: each process inside
    /// any of them is still killed, and a process outside is not touched.
    #[test]
    fn deleting_namespaces_at_once_kills_what_runs_in_each() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("SKIPPED: needs root (network namespaces)");
            return;
        }
        let made = Made(
            (0..6)
                .map(|i| format!("nl-e2e-nsdel{}.{i}", std::process::id()))
                .collect(),
        );
        let sleeper = |ns: &str| {
            let mut c = Command::new("sleep");
            c.arg("600");
            command_in(ns, c).unwrap().spawn().unwrap()
        };
        let mut inside = Vec::new();
        for n in &made.0 {
            create_then(n, || ()).unwrap();
            inside.push(sleeper(n));
        }
        let mut outside = sleeper("");
        std::thread::scope(|sc| {
            for n in &made.0 {
                sc.spawn(move || delete(n).unwrap());
            }
        });
        let outside_ran_on = outside.try_wait().unwrap().is_none();
        let _ = outside.kill();
        let _ = outside.wait();
        for c in &mut inside {
            let st = c.try_wait().unwrap();
            assert_eq!(st.and_then(|s| s.signal()), Some(libc::SIGKILL));
        }
        assert!(
            outside_ran_on,
            "a process outside the namespaces was killed"
        );
        for n in &made.0 {
            assert!(!path(n).exists(), "{n} is still there");
        }
    }
}
