//! What this machine has, for `netloom doctor`: read for its emulated hosts,
//! and by a real host's agent for its own (`netloom_core::doctor` says what
//! it means for a design). Nothing here changes anything.

use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Command;

use netloom_core::doctor::{HostCheck, Upcalls, MODULES};
use netloom_core::plan::OVS_OWNER_KEY;

use super::ovsdb::{self, Ovsdb};
use super::{nl, procs};

/// The facts; `ovsdb`: the database whose bridges to list, `underlay`: the
/// address whose NIC to find (both `None` for emulated hosts).
pub fn checkup(ovsdb: Option<&str>, underlay: Option<Ipv4Addr>) -> HostCheck {
    let loaded = |m: &str| Path::new("/sys/module").join(m).exists();
    let kernel_datapath = loaded("openvswitch");
    HostCheck {
        kernel_datapath,
        modules: MODULES.iter().map(|m| (m.to_string(), loaded(m))).collect(),
        ovs_version: ovs_version(),
        underlay: underlay.and_then(nic_of),
        bridges: ovsdb.map(bridges_in).unwrap_or_default(),
        upcalls: kernel_datapath.then(|| upcalls(ovsdb)).flatten(),
    }
}

/// `ovs-dpctl show system@ovs-system`: the kernel datapath's counters
/// (`None` until `ovs-vswitchd` has made it), and the handler threads of the
/// `ovs-vswitchd` of database socket `ovsdb`.
fn upcalls(ovsdb: Option<&str>) -> Option<Upcalls> {
    let mut u = lookups(&stdout_of("ovs-dpctl", &["show", "system@ovs-system"])?)?;
    u.handlers = ovsdb.and_then(handlers);
    Some(u)
}

/// The threads named `handlerN` (Open vSwitch names each thread it starts)
/// of the `ovs-vswitchd` whose pidfile is beside database socket `ovsdb`,
/// as Debian and `ovs-ctl` place them (a pid now another program's: none).
fn handlers(ovsdb: &str) -> Option<u32> {
    let pid = procs::alive_pid(&Path::new(ovsdb).with_file_name("ovs-vswitchd.pid"))
        .filter(|&p| procs::runs(p, "ovs-vswitchd"))?;
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let named = |t: &std::fs::DirEntry| {
        std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.starts_with("handler"))
    };
    Some(tasks.flatten().filter(named).count() as u32)
}

/// The `lookups: hit:H missed:M lost:L` line of `ovs-dpctl show`.
fn lookups(text: &str) -> Option<Upcalls> {
    let line = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("lookups:"))?;
    let count = |key: &str| -> Option<u64> {
        line.split_whitespace()
            .find_map(|f| f.strip_prefix(key))?
            .parse()
            .ok()
    };
    Some(Upcalls {
        missed: count("missed:")?,
        lost: count("lost:")?,
        handlers: None,
    })
}

/// `ovs-vswitchd --version`, first line.
fn ovs_version() -> Option<String> {
    let text = stdout_of("ovs-vswitchd", &["--version"])?;
    Some(text.lines().next().unwrap_or_default().to_string())
}

/// What `program args` printed, when it ran and succeeded.
fn stdout_of(program: &str, args: &[&str]) -> Option<String> {
    let o = Command::new(program).args(args).output().ok()?;
    o.status
        .success()
        .then(|| String::from_utf8_lossy(&o.stdout).into_owned())
}

/// `ip -o addr | grep ADDRESS` and that device's MTU.
fn nic_of(addr: Ipv4Addr) -> Option<(String, u32)> {
    let addrs = nl::with_netlink("", |n| n.addrs()).ok()?;
    let (dev, _) = addrs.into_iter().find(|(_, a)| a.addr() == addr)?;
    let mtu = std::fs::read_to_string(format!("/sys/class/net/{dev}/mtu")).ok()?;
    Some((dev, mtu.trim().parse().ok()?))
}

/// `ovs-vsctl list-br` with each bridge's netloom mark.
fn bridges_in(db: &str) -> Vec<(String, Option<String>)> {
    let Ok(mut db) = Ovsdb::connect(db) else {
        return Vec::new();
    };
    let rows = db
        .select("Bridge", &["name", "external_ids"])
        .unwrap_or_default();
    rows.iter()
        .map(|r| {
            let mark = ovsdb::read_map(&r["external_ids"])
                .into_iter()
                .find_map(|(k, v)| (k == OVS_OWNER_KEY).then_some(v));
            (r["name"].as_str().unwrap_or_default().to_string(), mark)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lookups_line_gives_the_upcall_counters() {
        // vm1's, from a lab whose datapath had no upcall handler (e2e/vm/guest.sh).
        let shown = "system@ovs-system:\n  lookups: hit:0 missed:24 lost:24\n  flows: 0\n  \
                     masks: hit:0 total:0 hit/pkt:0.00\n  port 0: ovs-system (internal)\n";
        assert_eq!(
            lookups(shown),
            Some(Upcalls {
                missed: 24,
                lost: 24,
                handlers: None
            })
        );
        assert_eq!(lookups("system@ovs-system:\n  flows: 0\n"), None);
        assert_eq!(lookups("  lookups: hit:1 missed:x lost:0\n"), None);
    }
}
