//! `verify`: the reachability report measured for real — every sender (vm,
//! external network) pings every address of the topology from inside its
//! namespace — and its comparison with the simulator's prediction.
//!
//! Pings go only to addresses of the topology, from namespaces netloom
//! created, whose only links lead to other namespaces of the same topology.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use serde::Serialize;

use netloom_core::reach::{Probe, ReachReport, ReachResult, Source};
use netloom_core::topology::{IfaceAddr, NodeRef, Topology};

use super::{netns, Event, Progress};

/// Pings running at once (each mostly waits).
const PARALLEL: usize = 48;

/// The addresses each guest really has: static ones, and for `ip: dhcp` the
/// address found on the interface (whoever ran the client: apply or a script).
pub fn real_addresses(topo: &Topology) -> Vec<Vec<Option<Ipv4Addr>>> {
    topo.guests
        .iter()
        .map(|g| {
            let found = if g.ifaces.iter().any(|i| i.addr == IfaceAddr::Dhcp) {
                super::nl::with_netlink(&g.netns, |n| n.addrs()).unwrap_or_default()
            } else {
                Vec::new()
            };
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

/// `ip netns exec NS ping -c 1 -i 0.2 -w 2 -q ADDR`: whether an echo reply
/// came, and its round trip as ping measured it.
fn ping(ns: &str, addr: Ipv4Addr) -> (bool, Option<f64>) {
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
    .stdout(Stdio::piped())
    .stderr(Stdio::null());
    match netns::command_in(ns, cmd).and_then(|mut c| c.output()) {
        Ok(o) if o.status.success() => (true, rtt(&o.stdout)),
        _ => (false, None),
    }
}

/// The round trip in ping's summary (`rtt min/avg/max/mdev = 0.036/…`), in ms.
fn rtt(stdout: &[u8]) -> Option<f64> {
    let text = std::str::from_utf8(stdout).ok()?;
    let line = text.lines().find(|l| l.starts_with("rtt "))?;
    line.split('=')
        .nth(1)?
        .trim()
        .split('/')
        .next()?
        .parse()
        .ok()
}

/// One ping to run: who sends, from which namespace, to which address (and whose).
struct Pair {
    host: String,
    from: String,
    ns: String,
    to: Ipv4Addr,
    owner: String,
}

/// Measure the report: same senders, same addresses (leases as found) as
/// `reach`. `progress` gets an [`Event`] carrying a [`Probe`] as each pair
/// ends, one at a time, `done` counting up.
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
        let (host, from, ns, own): (String, String, String, Vec<Ipv4Addr>) = match node {
            NodeRef::Guest(g) => (
                topo.hosts[topo.guests[g].host].name.clone(),
                topo.vm_label(g),
                topo.guests[g].netns.clone(),
                addrs[g].iter().flatten().copied().collect(),
            ),
            NodeRef::External(e) => {
                let x = &topo.externals[e];
                // External networks live on this machine, like the sandbox's own steps.
                (
                    String::new(),
                    x.name.clone(),
                    x.netns.clone(),
                    vec![x.gateway.addr()],
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
                });
            }
        }
    }
    let total = pairs.len();
    let next = AtomicUsize::new(0);
    let found: Mutex<(usize, Vec<Option<Probe>>)> = Mutex::new((0, vec![None; total]));
    // A pool rather than batches: a slow (unanswered) ping holds up only its worker.
    std::thread::scope(|sc| {
        for _ in 0..PARALLEL.min(total) {
            sc.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(p) = pairs.get(i) else { break };
                let t0 = Instant::now();
                let (ok, rtt_ms) = ping(&p.ns, p.to);
                let ms = t0.elapsed().as_secs_f64() * 1000.0;
                // Reported under the lock, so `done` reaches callers in order.
                let mut f = found.lock().unwrap_or_else(PoisonError::into_inner);
                f.0 += 1;
                let probe = Probe {
                    from: p.from.clone(),
                    to: p.to.to_string(),
                    owner: Some(p.owner.clone()),
                    ok,
                    rtt_ms,
                    ms,
                    done: f.0,
                    total,
                };
                let line = probe.result();
                progress(&Event {
                    target: p.host.clone(),
                    step: format!("ping {} ({}) from {}", p.to, p.owner, p.from),
                    ok,
                    error: (!ok).then_some(line.detail),
                    ms,
                    probe: Some(probe.clone()),
                });
                f.1[i] = Some(probe);
            });
        }
    });
    let (_, probes) = found.into_inner().unwrap_or_else(PoisonError::into_inner);
    ReachReport {
        topology: topo.name.clone(),
        source: Source::Real,
        results: probes.iter().flatten().map(Probe::result).collect(),
    }
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

#[cfg(test)]
mod tests {
    use super::rtt;

    #[test]
    fn the_round_trip_is_read_from_pings_summary() {
        let out = b"PING 10.0.0.2 (10.0.0.2) 56(84) bytes of data.\n\n--- 10.0.0.2 ping statistics ---\n1 packets transmitted, 1 received, 0% packet loss, time 0ms\nrtt min/avg/max/mdev = 0.036/0.036/0.036/0.000 ms\n";
        assert_eq!(rtt(out), Some(0.036));
        assert_eq!(
            rtt(b"1 packets transmitted, 0 received, 100% packet loss\n"),
            None
        );
        assert_eq!(rtt(b"rtt min/avg/max/mdev = garbage\n"), None);
        assert_eq!(rtt(&[0xff, 0xfe]), None);
    }
}
