//! `verify`: the reachability report measured for real — every sender (vm,
//! external network) pings every address of the topology from inside its
//! namespace — and its comparison with the simulator's prediction. A real
//! host's guests live on that host: its agent pings for them.
//!
//! Pings go only to addresses of the topology, from namespaces netloom
//! created, whose only links lead to other namespaces of the same topology.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use ipnet::Ipv4Net;
use serde::Serialize;

use netloom_core::reach::{Probe, ReachReport, ReachResult, Source};
use netloom_core::topology::{IfaceAddr, NodeRef, Topology};

use super::{Event, Progress};
use crate::host::probe;

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
                found[gi] =
                    crate::host::nl::with_netlink(&g.netns, |n| n.addrs()).unwrap_or_default()
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
        let Ok(peer) = crate::agent::peers::configured(addr) else {
            continue;
        };
        if let Ok(v) = crate::agent::addrs(&peer, &topo.name, &nss) {
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

/// One ping to run: who sends, from which namespace, to which address
/// (and whose), and where it runs: `None` this machine, else the agent of
/// the sender's real host.
struct Pair {
    host: String,
    from: String,
    ns: String,
    to: Ipv4Addr,
    owner: String,
    place: Option<String>,
}

/// What a pair found: ping's verdict and round trip, or why it was not measured.
type Outcome = Result<(bool, Option<f64>), String>;

/// Measured pairs, reported one at a time so `done` counts up in order.
struct Tally<'a> {
    progress: Progress<'a>,
    total: usize,
    found: Mutex<(usize, Vec<Option<(Probe, Option<String>)>>)>,
}

impl Tally<'_> {
    fn record(&self, i: usize, p: &Pair, outcome: Outcome, ms: f64) {
        let (ok, rtt_ms, unmeasured) = match outcome {
            Ok((ok, rtt)) => (ok, rtt, None),
            Err(e) => (false, None, Some(format!("not measured: {e}"))),
        };
        let mut f = self.found.lock().unwrap_or_else(PoisonError::into_inner);
        f.0 += 1;
        let probe = Probe {
            from: p.from.clone(),
            to: p.to.to_string(),
            owner: Some(p.owner.clone()),
            ok,
            rtt_ms,
            ms,
            done: f.0,
            total: self.total,
        };
        (self.progress)(&Event {
            target: p.host.clone(),
            step: format!("ping {} ({}) from {}", p.to, p.owner, p.from),
            ok,
            error: (!ok).then(|| unmeasured.clone().unwrap_or(probe.result().detail)),
            ms,
            note: None,
            warning: None,
            probe: Some(probe.clone()),
        });
        f.1[i] = Some((probe, unmeasured));
    }
}

/// Measure the report: same senders, same addresses (leases as found) as
/// `reach`. `progress` gets an [`Event`] carrying a [`Probe`] as each pair
/// ends, one at a time, `done` counting up. A real host's pairs are pinged
/// by its agent, all in one request, and reported when it answers.
pub fn measure(topo: &Topology, progress: Progress) -> ReachReport {
    let addrs = real_addresses(topo);
    let mut owned: Vec<(Ipv4Addr, String)> = Vec::new();
    for (g, guest_addrs) in addrs.iter().enumerate() {
        let guest = &topo.guests[g];
        let owner = if guest.is_vm() {
            topo.vm_label(g)
        } else {
            format!("{}/{}", topo.hosts[guest.host].name, guest.name)
        };
        owned.extend(guest_addrs.iter().flatten().map(|a| (*a, owner.clone())));
    }
    owned.extend(
        topo.externals
            .iter()
            .map(|e| (e.gateway.addr(), e.name.clone())),
    );
    let mut pairs: Vec<Pair> = Vec::new();
    for node in netloom_core::reach::senders(topo) {
        let (host, from, ns, own, place) = match node {
            NodeRef::Guest(g) => {
                let h = &topo.hosts[topo.guests[g].host];
                (
                    h.name.clone(),
                    topo.vm_label(g),
                    topo.guests[g].netns.clone(),
                    addrs[g].iter().flatten().copied().collect::<Vec<_>>(),
                    h.agent.clone(),
                )
            }
            NodeRef::External(e) => {
                let x = &topo.externals[e];
                // External networks live on this machine, like the sandbox's own steps.
                (
                    String::new(),
                    x.name.clone(),
                    x.netns.clone(),
                    vec![x.gateway.addr()],
                    None,
                )
            }
        };
        for (to, owner) in &owned {
            if !own.contains(to) {
                pairs.push(Pair {
                    host: host.clone(),
                    from: from.clone(),
                    ns: ns.clone(),
                    to: *to,
                    owner: owner.clone(),
                    place: place.clone(),
                });
            }
        }
    }
    let total = pairs.len();
    let tally = Tally {
        progress,
        total,
        found: Mutex::new((0, vec![None; total])),
    };
    let local: Vec<usize> = (0..total).filter(|&i| pairs[i].place.is_none()).collect();
    let mut remote: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, p) in pairs.iter().enumerate() {
        if let Some(a) = &p.place {
            remote.entry(a.as_str()).or_default().push(i);
        }
    }
    // Local senders: one batch each, all at once (each mostly waits for replies).
    let mut senders: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for &i in &local {
        senders.entry(pairs[i].ns.as_str()).or_default().push(i);
    }
    std::thread::scope(|sc| {
        for (addr, idx) in &remote {
            let (pairs, tally) = (&pairs, &tally);
            sc.spawn(move || {
                let pings: Vec<(String, Ipv4Addr)> = idx
                    .iter()
                    .map(|&i| (pairs[i].ns.clone(), pairs[i].to))
                    .collect();
                let t0 = Instant::now();
                let r = agent_pings(&topo.name, addr, &pings);
                let ms = t0.elapsed().as_secs_f64() * 1000.0;
                for (k, &i) in idx.iter().enumerate() {
                    let outcome = match &r {
                        Ok(oks) => Ok((oks.get(k).copied().unwrap_or(false), None)),
                        Err(e) => Err(e.clone()),
                    };
                    tally.record(i, &pairs[i], outcome, ms);
                }
            });
        }
        for (ns, idx) in &senders {
            let (pairs, tally) = (&pairs, &tally);
            sc.spawn(move || {
                let dests: Vec<Ipv4Addr> = idx.iter().map(|&i| pairs[i].to).collect();
                let t0 = Instant::now();
                let mut reported = vec![false; idx.len()];
                let r = probe::echo_all(ns, &dests, |k, e| {
                    reported[k] = true;
                    let outcome = match e {
                        probe::Echo::Reply(rtt) => (true, Some(rtt)),
                        probe::Echo::Silent | probe::Echo::Unreachable => (false, None),
                    };
                    let ms = t0.elapsed().as_secs_f64() * 1000.0;
                    tally.record(idx[k], &pairs[idx[k]], Ok(outcome), ms);
                });
                // A sender whose socket could not be made: its pairs are unmeasured.
                if let Err(e) = r {
                    for (&i, _) in idx.iter().zip(&reported).filter(|(_, r)| !**r) {
                        tally.record(i, &pairs[i], Err(e.to_string()), 0.0);
                    }
                }
            });
        }
    });
    let (_, found) = tally
        .found
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner);
    ReachReport {
        topology: topo.name.clone(),
        source: Source::Real,
        results: found
            .into_iter()
            .flatten()
            .map(|(probe, unmeasured)| {
                let mut r = probe.result();
                if let Some(d) = unmeasured {
                    r.detail = d;
                }
                r
            })
            .collect(),
    }
}

/// Pings run by the agent at `addr` for its host's guests.
fn agent_pings(
    topology: &str,
    addr: &str,
    pings: &[(String, Ipv4Addr)],
) -> Result<Vec<bool>, String> {
    let peer = crate::agent::peers::configured(addr)?;
    crate::agent::ping(&peer, topology, pings).map_err(|e| e.to_string())
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
