//! A sysctl netloom sets: IP forwarding or ARP in a namespace, or the
//! machine's neighbour table size; never set back (the namespace goes, the
//! machine may need the size for others).

use netloom_core::plan::{Resource, SANDBOX};

use crate::host::confine::{self, clip, refuse, Refusal, SysctlKey, TopologyName};
use crate::host::snapshot::Mapping;
use crate::host::{lock, netns, nl, StepError};

/// The lock (in [`lock::DIR`], beside topologies' own: no topology name
/// starts with `_`) under which a table size is read and grown.
const TABLE_LOCK: &str = "_neigh-table";

pub fn create(netns: &str, key: &str, value: String) -> Result<(), StepError> {
    let key = SysctlKey::parse(key).map_err(std::io::Error::other)?;
    // A table size only grows: the machine may need more for others. Read
    // and written under the machine's lock: two topologies' applies growing
    // it at once would otherwise both read the old size, and the smaller
    // one, written last, would shrink it below the other's need.
    let grow = matches!(key, SysctlKey::NeighTable(_));
    let _machine = grow
        .then(|| lock::briefly(TABLE_LOCK, "grow the neighbour table"))
        .transpose()?;
    netns::run_in(netns, move || {
        let have = nl::sysctl_get(key).ok().and_then(|v| v.parse::<u64>().ok());
        match (grow, have, value.parse::<u64>()) {
            (true, Some(h), Ok(want)) if h >= want => Ok(()),
            _ => nl::sysctl_set(key, &value),
        }
    })??;
    Ok(())
}

/// The sysctls read: the machine's as the sandbox's, a namespace's as its target's.
pub fn map(m: &Mapping) -> Vec<(String, Resource)> {
    let machine = m.machine().into_iter().flat_map(|v| &v.sysctls);
    let mut out: Vec<(String, Resource)> = machine
        .map(|(key, value)| (SANDBOX.to_string(), observe_machine(m, key, value)))
        .collect();
    for (ns, v) in m.namespaces() {
        for (key, value) in &v.sysctls {
            let r = Resource::Sysctl {
                netns: ns.to_string(),
                key: key.clone(),
                value: value.clone(),
            };
            out.push((m.target(ns), r));
        }
    }
    out
}

/// A sysctl of the machine's own namespace that reads `value`, as the one
/// desired when it is big enough: the neighbour table is when it is at
/// least the size wanted.
fn observe_machine(m: &Mapping, key: &str, value: &str) -> Resource {
    let read = Resource::Sysctl {
        netns: String::new(),
        key: key.to_string(),
        value: value.to_string(),
    };
    match m.want(&read.key()) {
        Some(want @ Resource::Sysctl { value: w, .. })
            if value.parse::<u64>().ok() >= w.parse::<u64>().ok() =>
        {
            want.clone()
        }
        _ => read,
    }
}

pub fn confine(t: &TopologyName, ns: &str, key: &str, value: &str) -> Result<(), Refusal> {
    match SysctlKey::parse(key)? {
        // The machine's own table: a size, never a switch.
        SysctlKey::NeighTable(_) if ns.is_empty() => match value.parse::<u32>() {
            Ok(n) if (1024..=1 << 24).contains(&n) => Ok(()),
            _ => refuse(format!(
                "neighbour table size {:?} is outside 1024..16777216",
                clip(value)
            )),
        },
        SysctlKey::NeighTable(_) => {
            refuse("the neighbour table is the machine's, not a namespace's")
        }
        SysctlKey::IpForward | SysctlKey::ArpIgnore => {
            confine::netns(t, ns)?;
            if matches!(value, "0" | "1" | "2") {
                Ok(())
            } else {
                refuse(format!("sysctl value {:?} is not 0, 1 or 2", clip(value)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use netloom_core::plan::NEIGH_TABLE_SYSCTLS;

    use super::*;

    const HARD: &str = "/proc/sys/net/ipv4/neigh/default/gc_thresh3";

    fn size() -> u64 {
        std::fs::read_to_string(HARD)
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }

    /// The machine's size as it was, put back even when the test fails.
    struct Restore(u64);

    impl Drop for Restore {
        fn drop(&mut self) {
            let _ = std::fs::write(HARD, self.0.to_string());
        }
    }

    /// Growing the table waits for the machine's lock: while this test
    /// holds it, the size is not written; once let go, it is.
    #[test]
    fn the_table_grows_only_under_the_machines_lock() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("SKIPPED the_table_grows_only_under_the_machines_lock: needs root");
            return;
        }
        let was = Restore(size());
        let held = lock::briefly(TABLE_LOCK, "test").unwrap();
        let want = was.0 + 1;
        let grower = std::thread::spawn(move || {
            create("", NEIGH_TABLE_SYSCTLS[1], want.to_string()).map_err(|e| e.to_string())
        });
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(size(), was.0, "written while the machine's lock was held");
        drop(held);
        grower.join().unwrap().unwrap();
        assert_eq!(size(), want);
    }
}
