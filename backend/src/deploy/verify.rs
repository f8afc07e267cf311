//! `verify`: the reachability report measured for real — every sender (vm,
//! external network) pings every address of the topology from inside its
//! namespace — and its comparison with the simulator's prediction. A real
//! host's guests live on that host: its agent pings for them.
//!
//! Pings go only to addresses of the topology, from namespaces netloom
//! created, whose only links lead to other namespaces of the same topology.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};

use ipnet::Ipv4Net;
use serde::Serialize;

use netloom_core::reach::{ReachReport, ReachResult, Source};
use netloom_core::topology::{IfaceAddr, NodeRef, Topology};

use super::netns;

/// Pings running at once (each mostly waits).
const PARALLEL: usize = 48;

/// Per guest with an `ip: dhcp` interface, the `(device, address)` pairs
/// found in its namespace (whoever ran the client: apply or a script), read
/// here or, on a real host, by its agent; empty for other guests.
pub fn dhcp_found(topo: &Topology) -> Vec<Vec<(String, Ipv4Net)>> {
    let mut found: Vec<Vec<(String, Ipv4Net)>> = vec![Vec::new(); topo.guests.len()];
    let mut remote: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (gi, g) in topo.guests.iter().enumerate() {
        if !g.ifaces.iter().any(|i| i.addr == IfaceAddr::Dhcp) {
            continue;
        }
        match &topo.hosts[g.host].agent {
            None => {
                found[gi] = super::nl::with_netlink(&g.netns, |n| n.addrs()).unwrap_or_default()
            }
            Some(a) => remote.entry(a.as_str()).or_default().push(gi),
        }
    }
    for (addr, guests) in remote {
        let nss: Vec<String> = guests
            .iter()
            .map(|&g| topo.guests[g].netns.clone())
            .collect();
        // An agent that cannot be asked leaves its guests' leases unfound.
        let Ok(token) = super::real_host_token() else {
            continue;
        };
        if let Ok(v) = crate::agent::addrs(addr, &token, &topo.name, &nss) {
            for (g, a) in guests.into_iter().zip(v) {
                found[g] = a;
            }
        }
    }
    found
}

/// The addresses each guest really has: static ones, and for `ip: dhcp` the
/// address found on the interface (see [`dhcp_found`]).
pub fn real_addresses(topo: &Topology) -> Vec<Vec<Option<Ipv4Addr>>> {
    topo.guests
        .iter()
        .zip(dhcp_found(topo))
        .map(|(g, found)| {
            g.ifaces
                .iter()
                .map(|i| match i.addr {
                    IfaceAddr::Static(n) => Some(n.addr()),
                    IfaceAddr::Dhcp => found
                        .iter()
                        .find(|(d, _)| *d == i.name)
                        .map(|(_, a)| a.addr()),
                    IfaceAddr::None => None,
                })
                .collect()
        })
        .collect()
}

/// `ip netns exec NS ping -c 1 -i 0.2 -w 2 -q ADDR`: true on an echo reply.
fn ping(ns: &str, addr: Ipv4Addr) -> bool {
    let mut cmd = Command::new("ping");
    cmd.args([
        "-c",
        "1",
        "-i",
        "0.2",
        "-w",
        "2",
        "-q",
        "-n",
        &addr.to_string(),
    ])
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    netns::command_in(ns, cmd)
        .and_then(|mut c| c.status())
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Ping each (namespace, address) pair on this machine, a few dozen at a time.
pub fn ping_all(pings: &[(String, Ipv4Addr)]) -> Vec<bool> {
    let mut oks = vec![false; pings.len()];
    for (chunk, chunk_oks) in pings.chunks(PARALLEL).zip(oks.chunks_mut(PARALLEL)) {
        std::thread::scope(|sc| {
            for ((ns, t), ok) in chunk.iter().zip(chunk_oks.iter_mut()) {
                sc.spawn(move || *ok = ping(ns, *t));
            }
        });
    }
    oks
}

/// Measure the report: same senders, same addresses (leases as found) as `reach`.
pub fn measure(topo: &Topology) -> ReachReport {
    let addrs = real_addresses(topo);
    let mut targets: Vec<Ipv4Addr> = addrs.iter().flatten().flatten().copied().collect();
    targets.extend(topo.externals.iter().map(|e| e.gateway.addr()));
    // Pings per place they run from: `None` this machine, else a real host's agent.
    let mut by_place: BTreeMap<Option<String>, Vec<(String, Ipv4Addr)>> = BTreeMap::new();
    let mut jobs: Vec<(String, Option<String>, usize)> = Vec::new();
    for node in netloom_core::reach::senders(topo) {
        let (label, ns, own, place): (String, String, Vec<Ipv4Addr>, Option<String>) = match node {
            NodeRef::Guest(g) => (
                topo.vm_label(g),
                topo.guests[g].netns.clone(),
                addrs[g].iter().flatten().copied().collect(),
                topo.hosts[topo.guests[g].host].agent.clone(),
            ),
            NodeRef::External(e) => {
                let x = &topo.externals[e];
                (
                    x.name.clone(),
                    x.netns.clone(),
                    vec![x.gateway.addr()],
                    None,
                )
            }
        };
        for t in &targets {
            if !own.contains(t) {
                let list = by_place.entry(place.clone()).or_default();
                jobs.push((label.clone(), place.clone(), list.len()));
                list.push((ns.clone(), *t));
            }
        }
    }
    // Real hosts in parallel with this machine's own pings.
    let outcomes: BTreeMap<Option<String>, Result<Vec<bool>, String>> = std::thread::scope(|sc| {
        let hs: Vec<_> = by_place
            .iter()
            .map(|(place, pings)| {
                sc.spawn(move || {
                    let r = match place {
                        None => Ok(ping_all(pings)),
                        Some(addr) => agent_pings(&topo.name, addr, pings),
                    };
                    (place.clone(), r)
                })
            })
            .collect();
        hs.into_iter()
            .map(|h| h.join().expect("ping thread"))
            .collect()
    });
    let results = jobs
        .into_iter()
        .map(|(from, place, i)| {
            let to = by_place[&place][i].1.to_string();
            let (ok, detail) = match &outcomes[&place] {
                Ok(oks) if oks[i] => (true, "echo reply received".to_string()),
                Ok(_) => (false, "no echo reply within 2 s".to_string()),
                Err(e) => (false, format!("not measured: {e}")),
            };
            ReachResult {
                from,
                to,
                proto: "icmp".into(),
                ok,
                detail,
                reason: None,
            }
        })
        .collect();
    ReachReport {
        topology: topo.name.clone(),
        source: Source::Real,
        results,
    }
}

/// Pings run by the agent at `addr` for its host's guests.
fn agent_pings(
    topology: &str,
    addr: &str,
    pings: &[(String, Ipv4Addr)],
) -> Result<Vec<bool>, String> {
    let token = super::real_host_token().map_err(|e| e.to_string())?;
    crate::agent::ping(addr, &token, topology, pings).map_err(|e| e.to_string())
}

/// One pair where reality and the prediction differ.
#[derive(Debug, Clone, Serialize)]
pub struct Disagreement {
    pub from: String,
    pub to: String,
    /// `None`: the pair is missing on that side (e.g. a lease at another address).
    pub real: Option<bool>,
    pub simulation: Option<bool>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub simulation_detail: String,
}

/// Pairs where `real` and `predicted` disagree (or that only one of them has).
pub fn compare(real: &ReachReport, predicted: &ReachReport) -> Vec<Disagreement> {
    let key = |r: &ReachResult| (r.from.clone(), r.to.clone());
    let sim: BTreeMap<_, &ReachResult> = predicted.results.iter().map(|r| (key(r), r)).collect();
    let re: BTreeMap<_, &ReachResult> = real.results.iter().map(|r| (key(r), r)).collect();
    let mut out = Vec::new();
    for (k, r) in &re {
        match sim.get(k) {
            Some(s) if s.ok == r.ok => {}
            s => out.push(Disagreement {
                from: k.0.clone(),
                to: k.1.clone(),
                real: Some(r.ok),
                simulation: s.map(|s| s.ok),
                simulation_detail: s.map(|s| s.detail.clone()).unwrap_or_default(),
            }),
        }
    }
    for (k, s) in &sim {
        if !re.contains_key(k) {
            out.push(Disagreement {
                from: k.0.clone(),
                to: k.1.clone(),
                real: None,
                simulation: Some(s.ok),
                simulation_detail: s.detail.clone(),
            });
        }
    }
    out
}
