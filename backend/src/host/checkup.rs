//! What this machine has, for `netloom doctor`: read for its emulated hosts,
//! and by a real host's agent for its own (`netloom_core::doctor` says what
//! it means for a design). Nothing here changes anything.

use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Command;

use netloom_core::doctor::{HostCheck, MODULES};
use netloom_core::plan::OVS_OWNER_KEY;

use super::nl;
use super::ovsdb::{self, Ovsdb};

/// The facts; `ovsdb`: the database whose bridges to list, `underlay`: the
/// address whose NIC to find (both `None` for emulated hosts).
pub fn checkup(ovsdb: Option<&str>, underlay: Option<Ipv4Addr>) -> HostCheck {
    let loaded = |m: &str| Path::new("/sys/module").join(m).exists();
    HostCheck {
        kernel_datapath: loaded("openvswitch"),
        modules: MODULES.iter().map(|m| (m.to_string(), loaded(m))).collect(),
        ovs_version: ovs_version(),
        underlay: underlay.and_then(nic_of),
        bridges: ovsdb.map(bridges_in).unwrap_or_default(),
    }
}

/// `ovs-vswitchd --version`, first line.
fn ovs_version() -> Option<String> {
    let o = Command::new("ovs-vswitchd")
        .arg("--version")
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&o.stdout);
    o.status
        .success()
        .then(|| text.lines().next().unwrap_or_default().to_string())
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
