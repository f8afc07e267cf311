//! Where steps run: the targets of a topology, the facts real hosts report,
//! and what cannot be planned on them.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::*;
use crate::names;
use crate::topology::{Topology, TunnelKind};

/// How a target is reached and what its Open vSwitch is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetInfo {
    /// `""` for the sandbox machine, else the host name.
    pub name: String,
    /// Where its agent listens: a real host's URL, an emulated host's unix
    /// socket (`unix:PATH`); `None` for the sandbox machine itself.
    pub agent: Option<String>,
    /// Emulated on this machine (sandbox) rather than a real host.
    pub emulated: bool,
    /// The namespace the host's own devices live in (`""`: the agent's own).
    pub netns: String,
    /// Path of the host's OVSDB unix socket.
    pub ovsdb: String,
    /// `netdev` (userspace) or `system` (kernel datapath).
    pub datapath: String,
}

/// What an observation found out about a real host, which changes the plan.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Facts {
    /// Hosts whose kernel has the Open vSwitch datapath (the plan uses `system` there).
    pub kernel_datapath: BTreeSet<String>,
    /// Real hosts' OVSDB socket paths, as their agents report them (`--ovsdb`);
    /// a host absent here (an older agent) uses [`SYSTEM_OVSDB`].
    #[serde(default)]
    pub ovsdb: BTreeMap<String, String>,
}

/// MTU of a kernel VXLAN device: a 1500-byte underlay less VXLAN's 50 bytes.
pub const VXLAN_INNER_MTU: u32 = 1450;

/// System OVSDB socket of a real host.
pub const SYSTEM_OVSDB: &str = "/var/run/openvswitch/db.sock";

/// The `other_config` of an emulated host's switch without OVN (apply's and
/// `export --shell`'s): its revalidators dump the datapath flows every 10 s,
/// not 0.5 s, and delete a flow for carrying few packets only when a dump
/// takes over 5 s, not 0.25 s, and then only under one packet a second,
/// not five (`min-revalidate-pps` 0 counts as 1). With the defaults, under a
/// first verify's load dumps take over 0.25 s, and every revalidation
/// (one per MAC learned) deleted the flows of pairs still being asked, so
/// each next packet of theirs was an upcall again: a first verify of 20
/// hosts x 10 vms took 27-29 s with them, 15-17 s without
/// (docs/performance.md, "Revalidators"). A change of a rule, a port, a
/// learned MAC or a tunnel's neighbour still revalidates at once; only
/// flow statistics and idle expiry come at the slower step, and netloom
/// reads neither. Not on an OVN chassis, where it was not measured again
/// once a failure first blamed on it turned out to be the export script's
/// unresolved tunnel neighbours ([`tunnel_warmups`]). Not on real hosts,
/// whose Open vSwitch is theirs.
pub const EMULATED_OVS_TUNING: [(&str, &str); 2] =
    [("max-revalidator", "10000"), ("min-revalidate-pps", "0")];

/// The sysctls bounding the machine's IPv4 neighbour (ARP) table: the kernel
/// keeps one table for every namespace, at most 1,024 entries by default
/// (`gc_thresh3`), and above `gc_thresh2` (512) it evicts entries older than
/// 5 s whenever it makes a new one, which a full mesh of probes never survives.
pub const NEIGH_TABLE_SYSCTLS: [&str; 2] = [
    "net/ipv4/neigh/default/gc_thresh2",
    "net/ipv4/neigh/default/gc_thresh3",
];

/// Neighbour entries the sandbox may need at once: every sender that talks
/// to every address of its segment (verify does) holds one entry per peer,
/// so at most the square of the interfaces on this machine, rounded up to a
/// power of two (the value changes rarely as a lab grows); `None` while the
/// kernel's default suffices.
pub fn neigh_table_size(topo: &Topology) -> Option<u64> {
    let ifaces = topo
        .guests
        .iter()
        .filter(|g| topo.hosts[g.host].agent.is_none())
        .map(|g| g.ifaces.len() as u64)
        .sum::<u64>()
        + topo.externals.len() as u64;
    let need = (ifaces * ifaces).next_power_of_two().min(1 << 24);
    (need > 1024).then_some(need)
}

/// The unix socket of an emulated host's agent.
pub fn agent_socket(topology: &str, host: &str) -> String {
    format!("{}/{host}/agent.sock", names::run_dir(topology))
}

/// The OVSDB socket of an emulated host's own ovsdb-server.
pub fn emulated_ovsdb(topology: &str, host: &str) -> String {
    format!("{}/{host}/db.sock", names::run_dir(topology))
}

/// The targets of a topology, sandbox first.
pub fn targets(topo: &Topology, facts: &Facts) -> Vec<TargetInfo> {
    let mut out = vec![TargetInfo {
        name: SANDBOX.to_string(),
        agent: None,
        emulated: true,
        netns: String::new(),
        ovsdb: String::new(),
        datapath: String::new(),
    }];
    for h in &topo.hosts {
        out.push(match &h.agent {
            None => TargetInfo {
                name: h.name.clone(),
                agent: Some(format!("unix:{}", agent_socket(&topo.name, &h.name))),
                emulated: true,
                netns: h.netns.clone(),
                ovsdb: emulated_ovsdb(&topo.name, &h.name),
                datapath: "netdev".into(),
            },
            Some(url) => TargetInfo {
                name: h.name.clone(),
                agent: Some(url.clone()),
                emulated: false,
                netns: String::new(),
                ovsdb: facts
                    .ovsdb
                    .get(&h.name)
                    .cloned()
                    .unwrap_or_else(|| SYSTEM_OVSDB.into()),
                datapath: if facts.kernel_datapath.contains(&h.name) {
                    "system".into()
                } else {
                    "netdev".into()
                },
            },
        });
    }
    out
}

/// Whether a target's VXLAN tunnels are kernel devices rather than OVS
/// tunnel ports: a real host under the userspace datapath. Its OVS could
/// send tunnel packets only from an address on an OVS bridge, and netloom
/// does not move a real host's own address off its NIC (emulated hosts get
/// such a bridge, see [`desired`]).
pub fn kernel_vxlan(t: &TargetInfo) -> bool {
    !t.emulated && t.datapath == "netdev"
}

/// The real host that holds external network `x`: the one host of the
/// bridges uplinked to it, when that host is real. An external network is
/// emulated on one machine (a namespace with its upstream router); on a real
/// host that machine is the host itself, where its uplink's veth can reach.
/// `None`: on this machine (uplinked from emulated hosts, or from none).
pub fn external_host(topo: &Topology, x: usize) -> Option<usize> {
    match uplinked_from(topo, x).as_slice() {
        [h] if topo.hosts[*h].agent.is_some() => Some(*h),
        _ => None,
    }
}

/// The hosts whose bridges are uplinked to external network `x`, each once.
fn uplinked_from(topo: &Topology, x: usize) -> Vec<usize> {
    let mut hosts: Vec<usize> = topo
        .bridges
        .iter()
        .filter(|b| b.uplink == Some(x))
        .map(|b| b.host)
        .collect();
    // Bridges come host by host: equal hosts are neighbours.
    hosts.dedup();
    hosts
}

/// External networks uplinked from a real host and from another host too:
/// one namespace cannot be on both machines.
fn split_externals(topo: &Topology) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (x, e) in topo.externals.iter().enumerate() {
        let hosts = uplinked_from(topo, x);
        let real = hosts.iter().find(|&&h| topo.hosts[h].agent.is_some());
        if let (Some(&h), true) = (real, hosts.len() > 1) {
            out.push((
                topo.hosts[h].name.clone(),
                format!(
                    "externals[{x}]: {} is uplinked from real host {} and from other hosts; an external network is emulated on one machine, so uplink it from one real host only",
                    e.name, topo.hosts[h].name
                ),
            ));
        }
    }
    out
}

/// What the plan cannot make work on these hosts, as `(host, message)`: a
/// tunnel between an emulated and a real host (the emulated hosts' underlay
/// is a segment on this machine, which reaches no real network), and a GRE
/// tunnel end on a real host under the userspace datapath (VXLAN goes through
/// a kernel device there; GRE would need a kernel `gretap` device, which
/// netloom does not make).
pub fn unsupported(topo: &Topology, facts: &Facts) -> Vec<(String, String)> {
    let tinfo = targets(topo, facts);
    let mut out = split_externals(topo);
    for (i, tun) in topo.tunnels.iter().enumerate() {
        let [a, b] = tun.ends.map(|e| &topo.hosts[topo.bridges[e].host]);
        if a.agent.is_some() != b.agent.is_some() {
            let (real, emulated) = if a.agent.is_some() { (a, b) } else { (b, a) };
            out.push((
                real.name.clone(),
                format!(
                    "tunnels[{i}]: emulated host {} cannot reach real host {}: the emulated hosts' underlay is a segment on this machine",
                    emulated.name, real.name
                ),
            ));
            continue;
        }
        if !matches!(tun.kind, TunnelKind::Gre { .. }) {
            continue;
        }
        for &b in &tun.ends {
            let h = topo.bridges[b].host;
            if kernel_vxlan(&tinfo[h + 1]) {
                out.push((
                    topo.hosts[h].name.clone(),
                    format!(
                        "tunnels[{i}]: a GRE tunnel cannot end on real host {} without the kernel Open vSwitch datapath (its agent reports the userspace one); use vxlan",
                        topo.hosts[h].name
                    ),
                ));
            }
        }
    }
    out
}
