//! One apply or destroy of a topology at a time on this machine, whoever runs
//! it (the CLI, the server, two terminals).
//!
//! The lock is `flock` on `/run/netloom-lock/T.lock`, in a directory that
//! only our user (root) may enter, so no other local user can take or hold
//! it (an abstract unix socket, used before, was anyone's to bind). The
//! kernel frees the lock when its holder exits, even on `kill -9`. The holder
//! writes its pid and what it does into the file, so a waiter can say whom it
//! waits for; it removes the file when done, and a taker checks that the
//! file it locked is still the one of that name, so the removal never lets
//! two in. The directory is not under `/run/netloom`, which destroy removes.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use std::time::Duration;

/// Where the locks live.
pub const DIR: &str = "/run/netloom-lock";

/// Held while a topology's apply or destroy runs; released on drop.
#[derive(Debug)]
pub struct TopologyLock {
    path: PathBuf,
    _file: File,
}

impl Drop for TopologyLock {
    fn drop(&mut self) {
        // Removed while still locked: a waiter that opened this file sees,
        // once it gets the lock, that the name is gone, and starts over.
        let _ = std::fs::remove_file(&self.path);
    }
}

fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() }
}

/// A directory for `what` (locks, ssh's control sockets), made if missing;
/// refused unless it is a real directory of our user that nobody else may
/// enter (a directory someone else made, or a symlink, could let them hold
/// or take our locks, or plant a socket of theirs).
pub(crate) fn private_dir(dir: &Path, what: &str) -> io::Result<()> {
    let refuse = |why: String| {
        io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("{}: {why}: refusing to keep {what} there", dir.display()),
        )
    };
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => {
            return Err(io::Error::new(
                e.kind(),
                format!("cannot create {}: {e}", dir.display()),
            ));
        }
        _ => {}
    }
    let m = std::fs::symlink_metadata(dir)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", dir.display())))?;
    if m.file_type().is_symlink() {
        return Err(refuse("a symbolic link".into()));
    }
    if !m.is_dir() {
        return Err(refuse("not a directory".into()));
    }
    if m.uid() != euid() {
        return Err(refuse(format!(
            "owned by uid {}, not by this process's uid {} (netloom did not make it: remove it)",
            m.uid(),
            euid()
        )));
    }
    if m.mode() & 0o077 != 0 {
        return Err(refuse(format!(
            "mode {:04o} lets other users in (make it 0700)",
            m.mode() & 0o7777
        )));
    }
    Ok(())
}

/// What the lock file says about its holder, as a waiter reports it.
fn holder(text: &str) -> String {
    match text.trim().split_once(' ') {
        Some((pid, what)) if pid.parse::<u32>().is_ok() => format!("pid {pid} ({what})"),
        _ => "a process that has not said who it is yet".into(),
    }
}

/// This process's command line, short, on one line.
fn command_line() -> String {
    let mut args = std::env::args();
    let exe = args.next().unwrap_or_default();
    let exe = Path::new(&exe)
        .file_name()
        .map_or(exe.clone(), |n| n.to_string_lossy().into_owned());
    let line: String = std::iter::once(exe)
        .chain(args)
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(200)
        .collect();
    line
}

/// Take the lock in `dir` if it is free; otherwise who holds it.
/// `what` (e.g. `apply`) is what a waiter is told the holder does.
pub fn try_lock_in(
    dir: &Path,
    topology: &str,
    what: &str,
) -> io::Result<Result<TopologyLock, String>> {
    private_dir(dir, "locks")?;
    let path = dir.join(format!("{topology}.lock"));
    let context = |e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", path.display()));
    loop {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&path)
            .map_err(context)?;
        // SAFETY: flock on a descriptor we own.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::WouldBlock {
                return Err(context(e));
            }
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            return Ok(Err(holder(&text)));
        }
        let same = std::fs::symlink_metadata(&path)
            .ok()
            .zip(file.metadata().ok())
            .is_some_and(|(named, ours)| named.ino() == ours.ino() && named.dev() == ours.dev());
        if !same {
            continue;
        }
        file.set_len(0).map_err(context)?;
        file.write_all(format!("{} {what}: {}\n", std::process::id(), command_line()).as_bytes())
            .map_err(context)?;
        return Ok(Ok(TopologyLock { path, _file: file }));
    }
}

/// Take the lock in [`DIR`] if it is free; otherwise who holds it.
#[cfg(test)]
pub fn try_lock(topology: &str, what: &str) -> io::Result<Result<TopologyLock, String>> {
    try_lock_in(Path::new(DIR), topology, what)
}

/// Wait for the lock in `dir`. `waiting` is told the holder once if it is
/// taken at first; `cancelled` is asked while waiting, and when it says yes
/// the wait ends with an `Interrupted` error naming the holder.
pub fn lock_in(
    dir: &Path,
    topology: &str,
    what: &str,
    cancelled: &dyn Fn() -> bool,
    waiting: impl FnOnce(&str),
) -> io::Result<TopologyLock> {
    let gave_up = |holder: &str| {
        io::Error::new(
            io::ErrorKind::Interrupted,
            format!(
                "cancelled while waiting for topology {topology} (held by {holder}): nothing was changed"
            ),
        )
    };
    let mut waiting = Some(waiting);
    let mut last = String::new();
    let got = {
        let _waiting = Waiting::start();
        loop {
            match try_lock_in(dir, topology, what)? {
                Ok(l) => break l,
                Err(holder) => last = holder,
            }
            if let Some(w) = waiting.take() {
                w(&last);
            }
            if cancelled() {
                return Err(gave_up(&last));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    // A signal that came as the lock was taken still cancels: nothing has run yet.
    if !last.is_empty() && cancelled() {
        return Err(gave_up(&last));
    }
    Ok(got)
}

/// Wait for the lock in [`DIR`] (see [`lock_in`]).
pub fn lock(
    topology: &str,
    what: &str,
    cancelled: &dyn Fn() -> bool,
    waiting: impl FnOnce(&str),
) -> io::Result<TopologyLock> {
    lock_in(Path::new(DIR), topology, what, cancelled, waiting)
}

/// Wait for the lock named `name` in [`DIR`] that guards a moment's work on
/// the machine (a name no topology has: `_` first). Not a [`Waiting`]:
/// Ctrl-C and SIGTERM meanwhile end the process as at any other time.
pub fn briefly(name: &str, what: &str) -> io::Result<TopologyLock> {
    loop {
        if let Ok(l) = try_lock_in(Path::new(DIR), name, what)? {
            return Ok(l);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// How many threads wait for a lock now; the signal handler reads it.
static WAITERS: AtomicUsize = AtomicUsize::new(0);
/// The SIGINT or SIGTERM that cancelled a wait, or 0.
static SIGNAL: AtomicI32 = AtomicI32::new(0);

/// While one lives, SIGINT and SIGTERM (after [`cancel_waits_on_signals`])
/// set [`interrupted`] instead of ending the process.
pub struct Waiting;

impl Waiting {
    pub fn start() -> Waiting {
        WAITERS.fetch_add(1, Ordering::SeqCst);
        Waiting
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        WAITERS.fetch_sub(1, Ordering::SeqCst);
    }
}

extern "C" fn on_signal(sig: libc::c_int) {
    if WAITERS.load(Ordering::SeqCst) > 0 {
        SIGNAL.store(sig, Ordering::SeqCst);
    } else {
        // Not waiting: the signal does what it always did (it ends the process).
        // SAFETY: signal and raise are async-signal-safe.
        unsafe {
            libc::signal(sig, libc::SIG_DFL);
            libc::raise(sig);
        }
    }
}

/// For the CLI: Ctrl-C or SIGTERM while waiting for a lock cancels the wait
/// (see [`interrupted`]); at any other time they end the process as before.
pub fn cancel_waits_on_signals() {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: on_signal only touches atomics and calls async-signal-safe functions.
        unsafe {
            libc::signal(
                sig,
                on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t,
            );
        }
    }
}

/// How many [`Waiting`]s live now.
pub fn waiting() -> usize {
    WAITERS.load(Ordering::SeqCst)
}

/// The signal that cancelled a wait (after [`cancel_waits_on_signals`]).
pub fn interrupted() -> Option<i32> {
    Some(SIGNAL.load(Ordering::SeqCst)).filter(|s| *s != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::sync::atomic::AtomicBool;

    /// A private lock directory, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> TempDir {
            let d = std::env::temp_dir().join(format!("netloom-lock-{tag}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&d);
            std::fs::create_dir(&d).unwrap();
            std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700)).unwrap();
            TempDir(d)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn a_held_lock_is_refused_naming_its_holder_until_dropped() {
        let d = TempDir::new("held");
        let held = try_lock_in(&d.0, "lab", "apply")
            .unwrap()
            .expect("free at first");
        let who = try_lock_in(&d.0, "lab", "destroy").unwrap().unwrap_err();
        assert!(
            who.starts_with(&format!("pid {} (apply: ", std::process::id())),
            "{who}"
        );
        let other = try_lock_in(&d.0, "lab2", "apply").unwrap();
        assert!(other.is_ok(), "another topology must not wait");
        let file = d.0.join("lab.lock");
        let mode = std::fs::metadata(&file).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o600, "the lock file is root's only");
        drop(held);
        assert!(!file.exists(), "the lock file stays behind");
        assert!(
            try_lock_in(&d.0, "lab", "apply").unwrap().is_ok(),
            "not released on drop"
        );
    }

    #[test]
    fn a_waiter_is_told_the_holder_and_gets_the_lock_once_it_is_released() {
        let d = TempDir::new("wait");
        let held = try_lock_in(&d.0, "lab", "destroy").unwrap().unwrap();
        let told = std::sync::Mutex::new(None::<String>);
        std::thread::scope(|s| {
            let t = s.spawn(|| {
                lock_in(&d.0, "lab", "apply", &|| false, |h| {
                    *told.lock().unwrap() = Some(h.to_string())
                })
            });
            while told.lock().unwrap().is_none() {
                std::thread::yield_now();
            }
            drop(held);
            let got = t.join().unwrap().expect("the lock once free");
            let text = std::fs::read_to_string(d.0.join("lab.lock")).unwrap();
            assert!(
                text.starts_with(&format!("{} apply: ", std::process::id())),
                "{text}"
            );
            drop(got);
        });
        let told = told.into_inner().unwrap().unwrap();
        assert!(told.contains("(destroy: "), "{told}");
    }

    #[test]
    fn a_cancelled_wait_ends_with_the_holder_and_leaves_the_lock_alone() {
        let d = TempDir::new("cancel");
        let _held = try_lock_in(&d.0, "lab", "apply").unwrap().unwrap();
        let cancel = AtomicBool::new(false);
        let e = lock_in(
            &d.0,
            "lab",
            "destroy",
            &|| cancel.load(Ordering::SeqCst),
            |_| cancel.store(true, Ordering::SeqCst),
        )
        .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::Interrupted);
        let msg = e.to_string();
        assert!(
            msg.contains("waiting for topology lab")
                && msg.contains(&format!("held by pid {}", std::process::id()))
                && msg.contains("nothing was changed"),
            "{msg}"
        );
        assert!(
            try_lock_in(&d.0, "lab", "x").unwrap().is_err(),
            "still held"
        );
    }

    #[test]
    fn a_directory_others_could_enter_or_swap_is_refused() {
        let d = TempDir::new("unsafe");
        let open = d.0.join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o755)).unwrap();
        let e = try_lock_in(&open, "lab", "apply").unwrap_err();
        assert!(
            e.to_string().contains("mode 0755 lets other users in"),
            "{e}"
        );

        let link = d.0.join("link");
        std::os::unix::fs::symlink(&d.0, &link).unwrap();
        let e = try_lock_in(&link, "lab", "apply").unwrap_err();
        assert!(e.to_string().contains("a symbolic link"), "{e}");

        // Made when missing, 0700.
        let fresh = d.0.join("fresh");
        drop(try_lock_in(&fresh, "lab", "apply").unwrap().unwrap());
        assert_eq!(std::fs::metadata(&fresh).unwrap().mode() & 0o777, 0o700);

        if euid() == 0 {
            let theirs = d.0.join("theirs");
            std::fs::create_dir(&theirs).unwrap();
            std::fs::set_permissions(&theirs, std::fs::Permissions::from_mode(0o700)).unwrap();
            std::os::unix::fs::chown(&theirs, Some(65534), Some(65534)).unwrap();
            let e = try_lock_in(&theirs, "lab", "apply").unwrap_err();
            assert!(e.to_string().contains("owned by uid 65534"), "{e}");
        }
    }
}
