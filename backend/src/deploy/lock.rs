//! One apply or destroy of a topology at a time on this machine, whoever runs
//! it (the CLI, the server, two terminals).
//!
//! The lock is an abstract unix socket named after the topology: binding it
//! fails while another process holds it, the kernel frees it when the holder
//! exits (even on `kill -9`), and it leaves no file behind for destroy to
//! account for. Abstract names belong to the network namespace, and every
//! controller runs in the machine's own.

use std::io;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixListener};
use std::time::Duration;

/// Held while a topology's apply or destroy runs; released on drop.
#[derive(Debug)]
pub struct TopologyLock {
    _socket: UnixListener,
}

/// Take the lock if it is free; `None` while someone else holds it.
pub fn try_lock(topology: &str) -> io::Result<Option<TopologyLock>> {
    let addr = SocketAddr::from_abstract_name(format!("netloom/lock/{topology}"))?;
    match UnixListener::bind_addr(&addr) {
        Ok(socket) => Ok(Some(TopologyLock { _socket: socket })),
        Err(e) if e.kind() == io::ErrorKind::AddrInUse => Ok(None),
        Err(e) => Err(e),
    }
}

/// Wait for the lock; `waiting` is called once if it is taken at first.
pub fn lock(topology: &str, waiting: impl FnOnce()) -> io::Result<TopologyLock> {
    let mut waiting = Some(waiting);
    loop {
        if let Some(l) = try_lock(topology)? {
            return Ok(l);
        }
        if let Some(w) = waiting.take() {
            w();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_lock_is_refused_until_dropped_and_topologies_are_independent() {
        let name = format!("unit-{}", std::process::id());
        let held = try_lock(&name).unwrap().expect("free at first");
        assert!(try_lock(&name).unwrap().is_none(), "taken twice");
        let other = try_lock(&format!("{name}-other")).unwrap();
        assert!(other.is_some(), "another topology must not wait");
        drop(held);
        assert!(try_lock(&name).unwrap().is_some(), "not released on drop");
    }

    #[test]
    fn a_waiter_gets_the_lock_once_it_is_released() {
        let name = format!("unit-wait-{}", std::process::id());
        let held = try_lock(&name).unwrap().unwrap();
        let waited = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|s| {
            let t = s.spawn(|| {
                lock(&name, || {
                    waited.store(true, std::sync::atomic::Ordering::SeqCst)
                })
            });
            while !waited.load(std::sync::atomic::Ordering::SeqCst) {
                std::thread::yield_now();
            }
            drop(held);
            assert!(t.join().unwrap().is_ok());
        });
    }
}
