//! `verify`: the reachability report measured for real — every sender (vm,
//! external network) pings every address of the topology from inside its
//! namespace — and its comparison with the simulator's prediction. A real
//! host's guests live on that host: its agent pings, listens and connects
//! for them.
//!
//! Pings go only to addresses of the topology, from namespaces netloom
//! created, whose only links lead to other namespaces of the same topology.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Mutex, PoisonError};
use std::time::Instant;

use ipnet::Ipv4Net;

use netloom_core::reach::{PortTarget, Probe, ReachReport, ReachResult, Source};
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

/// One probe to run: who sends, from which namespace, to which address
/// (and whose), and where it runs: `None` this machine, else the agent of
/// the sender's real host.
#[derive(Clone)]
struct Pair {
    host: String,
    from: String,
    ns: String,
    to: Ipv4Addr,
    owner: String,
    place: Option<String>,
    /// A connection probe to this TCP port; `None`: a ping.
    port: Option<u16>,
}

/// What a pair found: its verdict, the round trip, the words of a failed
/// connection; or why it was not measured.
type Outcome = Result<(bool, Option<f64>, Option<String>), String>;

/// A pair's probe, and why it was not measured if it was not.
type Measured = (Probe, Option<String>);

/// Measured pairs, reported one at a time so `done` counts up in order.
struct Tally<'a> {
    progress: Progress<'a>,
    total: usize,
    found: Mutex<(usize, Vec<Option<Measured>>)>,
}

impl Tally<'_> {
    fn record(&self, i: usize, p: &Pair, outcome: Outcome, ms: f64) {
        let (ok, rtt_ms, detail, unmeasured) = match outcome {
            Ok((ok, rtt, detail)) => (ok, rtt, detail, None),
            Err(e) => (false, None, None, Some(format!("not measured: {e}"))),
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
            proto: p.port.map(|port| format!("tcp:{port}")),
            detail,
        };
        let step = match p.port {
            None => format!("ping {} ({}) from {}", p.to, p.owner, p.from),
            Some(port) => format!("connect to {}:{port} ({}) from {}", p.to, p.owner, p.from),
        };
        (self.progress)(&Event {
            target: p.host.clone(),
            step,
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
    let owned = owners(topo, &addrs);
    let targets = netloom_core::reach::port_targets(topo);
    let (pairs, echoes) = pairs(topo, &addrs, &owned, &targets);
    let total = pairs.len();
    let tally = Tally {
        progress,
        total,
        found: Mutex::new((0, vec![None; total])),
    };
    run_echoes(topo, &pairs[..echoes], &tally);
    run_connects(topo, &addrs, &targets, &pairs, echoes, &tally);
    let (_, found) = tally
        .found
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner);
    let mut results: Vec<ReachResult> = found
        .into_iter()
        .flatten()
        .map(|(probe, unmeasured)| {
            let mut r = probe.result();
            if let Some(d) = unmeasured {
                r.detail = d;
            }
            r
        })
        .collect();
    let ports = results.split_off(echoes.min(results.len()));
    let mut report = ReachReport {
        topology: topo.name.clone(),
        source: Source::Real,
        results,
        ports,
        intent: Vec::new(),
    };
    report.intent = netloom_core::intent::judge(topo, &report);
    report
}

/// An address of the topology with who holds it: the guest's name in the
/// report, and the guest (`None`: an external gateway).
type Owner = (Ipv4Addr, String, Option<usize>);

/// Every address of the topology (leases as found) with who holds it.
fn owners(topo: &Topology, addrs: &[Vec<Option<Ipv4Addr>>]) -> Vec<Owner> {
    let mut owned = Vec::new();
    for (g, guest_addrs) in addrs.iter().enumerate() {
        let guest = &topo.guests[g];
        let owner = if guest.is_vm() {
            topo.vm_label(g)
        } else {
            format!("{}/{}", topo.hosts[guest.host].name, guest.name)
        };
        owned.extend(
            guest_addrs
                .iter()
                .flatten()
                .map(|a| (*a, owner.clone(), Some(g))),
        );
    }
    owned.extend(
        topo.externals
            .iter()
            .map(|e| (e.gateway.addr(), e.name.clone(), None)),
    );
    owned
}

/// The pairs to measure, as `reach` reports them: every sender's pings to
/// every address but its own, then every sender's connections to the
/// design's TCP ports (`targets`, [`netloom_core::reach::port_targets`]).
/// Also how many pings come first.
fn pairs(
    topo: &Topology,
    addrs: &[Vec<Option<Ipv4Addr>>],
    owned: &[Owner],
    targets: &[PortTarget],
) -> (Vec<Pair>, usize) {
    let mut senders = Vec::new();
    for node in netloom_core::reach::senders(topo) {
        senders.push(match node {
            NodeRef::Guest(g) => {
                let h = &topo.hosts[topo.guests[g].host];
                let own = addrs[g].iter().flatten().copied().collect::<Vec<_>>();
                let p = Pair {
                    host: h.name.clone(),
                    from: topo.vm_label(g),
                    ns: topo.guests[g].netns.clone(),
                    to: Ipv4Addr::UNSPECIFIED,
                    owner: String::new(),
                    place: h.agent.clone(),
                    port: None,
                };
                (p, own)
            }
            NodeRef::External(e) => {
                let x = &topo.externals[e];
                // On this machine, or on the real host uplinked to it.
                let host = netloom_core::plan::external_host(topo, e).map(|h| &topo.hosts[h]);
                let p = Pair {
                    host: host.map(|h| h.name.clone()).unwrap_or_default(),
                    from: x.name.clone(),
                    ns: x.netns.clone(),
                    to: Ipv4Addr::UNSPECIFIED,
                    owner: String::new(),
                    place: host.and_then(|h| h.agent.clone()),
                    port: None,
                };
                (p, vec![x.gateway.addr()])
            }
        });
    }
    let owner_of = |a: Ipv4Addr| {
        owned
            .iter()
            .find(|(o, _, _)| *o == a)
            .map_or_else(String::new, |(_, name, _)| name.clone())
    };
    let mut pairs = Vec::new();
    for (s, own) in &senders {
        for (to, owner, _) in owned.iter().filter(|(to, _, _)| !own.contains(to)) {
            pairs.push(Pair {
                to: *to,
                owner: owner.clone(),
                ..s.clone()
            });
        }
    }
    let echoes = pairs.len();
    for (s, _) in &senders {
        for t in targets {
            pairs.push(Pair {
                to: t.addr,
                owner: owner_of(t.addr),
                port: Some(t.port),
                ..s.clone()
            });
        }
    }
    (pairs, echoes)
}

/// Ping every pair: a real host's pairs by its agent, all in one request,
/// reported when it answers; this machine's senders one batch each, all at
/// once (each mostly waits for replies).
fn run_echoes(topo: &Topology, pairs: &[Pair], tally: &Tally) {
    let mut remote: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    let mut senders: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, p) in pairs.iter().enumerate() {
        match &p.place {
            Some(a) => remote.entry(a.as_str()).or_default().push(i),
            None => senders.entry(p.ns.as_str()).or_default().push(i),
        }
    }
    let quiet = probe::Quiet::default();
    // Each sender's place taken before any starts (see `Quiet::prober`).
    let probers: Vec<_> = senders.iter().map(|s| (s, quiet.prober())).collect();
    std::thread::scope(|sc| {
        for (addr, idx) in &remote {
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
                        Ok(oks) => Ok((oks.get(k).copied().unwrap_or(false), None, None)),
                        Err(e) => Err(e.clone()),
                    };
                    tally.record(i, &pairs[i], outcome, ms);
                }
            });
        }
        for ((ns, idx), prober) in probers {
            sc.spawn(move || {
                let dests: Vec<Ipv4Addr> = idx.iter().map(|&i| pairs[i].to).collect();
                let t0 = Instant::now();
                let mut reported = vec![false; idx.len()];
                let r = probe::echo_all(ns, &dests, prober, |k, e| {
                    reported[k] = true;
                    let outcome = match e {
                        probe::Echo::Reply(rtt) => (true, Some(rtt), None),
                        probe::Echo::Silent | probe::Echo::Unreachable => (false, None, None),
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
}

/// How long an agent keeps `verify`'s listeners at most: the connections
/// end long before (every sender's at once, [`probe::CONNECT_WAIT`] each).
const LISTEN_SECONDS: u32 = 120;

/// Connect every TCP pair (index `first` on in `pairs`), with a listener on
/// the forwarded-to port of its guest meanwhile: this machine's opened here,
/// a real host's by its agent, all of them open before the first connection
/// and closed after the last.
fn run_connects(
    topo: &Topology,
    addrs: &[Vec<Option<Ipv4Addr>>],
    targets: &[PortTarget],
    pairs: &[Pair],
    first: usize,
    tally: &Tally,
) {
    if first == pairs.len() {
        return;
    }
    // Each target's listener: (target, namespace), here or by an agent.
    let mut here = Vec::new();
    let mut remote: BTreeMap<&str, Vec<(usize, &str)>> = BTreeMap::new();
    for (k, t) in targets.iter().enumerate() {
        let owner = (0..addrs.len()).find(|&g| addrs[g].contains(&Some(t.to)));
        let Some(g) = owner else { continue };
        let guest = &topo.guests[g];
        match &topo.hosts[guest.host].agent {
            None => here.push((k, guest.netns.as_str())),
            Some(a) => remote.entry(a).or_default().push((k, &guest.netns)),
        }
    }
    let hold = AtomicBool::new(true);
    std::thread::scope(|sc| {
        let (tx, rx) = mpsc::channel();
        for (addr, ls) in &remote {
            let (tx, hold) = (tx.clone(), &hold);
            sc.spawn(move || {
                let list: Vec<(String, u16)> = ls
                    .iter()
                    .map(|&(k, ns)| (ns.to_string(), targets[k].to_port))
                    .collect();
                agent_listen(&topo.name, addr, &list, hold, |r| {
                    let _ = tx.send((ls, r));
                });
            });
        }
        drop(tx);
        // The targets whose listener could not be opened, and why.
        let (mut listeners, mut failed) = (Vec::new(), Vec::new());
        for &(k, ns) in &here {
            match probe::listen(ns, targets[k].to_port) {
                Ok(l) => listeners.push(l),
                Err(e) => failed.push((k, e.to_string())),
            }
        }
        for (ls, r) in rx.iter().take(remote.len()) {
            for (n, &(k, _)) in ls.iter().enumerate() {
                match &r {
                    Ok(v) => failed.extend(v[n].clone().map(|e| (k, e))),
                    Err(e) => failed.push((k, e.clone())),
                }
            }
        }
        let unmeasured = failed
            .into_iter()
            .map(|(k, e)| {
                let t = &targets[k];
                let why = format!("cannot listen on {}:{}: {e}", t.to, t.to_port);
                ((t.addr, t.port), why)
            })
            .collect();
        connect_pairs(&topo.name, pairs, first, &unmeasured, tally);
        hold.store(false, Ordering::Relaxed);
        drop(listeners);
    });
}

/// Listeners opened by the agent at `addr`, kept while `hold`: `opened`
/// gets, once, why each could not be opened, or why none was.
fn agent_listen(
    topology: &str,
    addr: &str,
    listeners: &[(String, u16)],
    hold: &AtomicBool,
    opened: impl FnOnce(Result<Vec<Option<String>>, String>),
) {
    let mut opened = Some(opened);
    let r = crate::agent::peers::configured(addr).and_then(|peer| {
        crate::agent::client::listen(&peer, topology, listeners, LISTEN_SECONDS, |a| {
            if let (Some(v), Some(f)) = (a, opened.take()) {
                f(Ok(v));
            }
            hold.load(Ordering::Relaxed)
        })
        .map_err(|e| e.to_string())
    });
    if let (Err(e), Some(f)) = (r, opened.take()) {
        f(Err(e));
    }
}

/// Connect every pair from index `first` on, but those `unmeasured` says
/// cannot be: this machine's senders here, a real host's through its agent
/// (all of its senders in one request), all at once.
fn connect_pairs(
    topology: &str,
    pairs: &[Pair],
    first: usize,
    unmeasured: &BTreeMap<(Ipv4Addr, u16), String>,
    tally: &Tally,
) {
    let mut here: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    let mut remote: BTreeMap<&str, BTreeMap<&str, Vec<usize>>> = BTreeMap::new();
    for (i, p) in pairs.iter().enumerate().skip(first) {
        if let Some(why) = unmeasured.get(&(p.to, p.port.unwrap_or(0))) {
            tally.record(i, p, Err(why.clone()), 0.0);
            continue;
        }
        match &p.place {
            None => here.entry(&p.ns).or_default().push(i),
            Some(a) => remote
                .entry(a)
                .or_default()
                .entry(&p.ns)
                .or_default()
                .push(i),
        }
    }
    let dests = |idx: &[usize]| -> Vec<SocketAddrV4> {
        idx.iter()
            .map(|&i| SocketAddrV4::new(pairs[i].to, pairs[i].port.unwrap_or(0)))
            .collect()
    };
    std::thread::scope(|sc| {
        for (addr, senders) in &remote {
            sc.spawn(move || {
                let asks: Vec<(String, Vec<SocketAddrV4>)> = senders
                    .iter()
                    .map(|(ns, idx)| (ns.to_string(), dests(idx)))
                    .collect();
                let t0 = Instant::now();
                let r = crate::agent::peers::configured(addr).and_then(|peer| {
                    crate::agent::client::connects(&peer, topology, &asks)
                        .map_err(|e| e.to_string())
                });
                let ms = t0.elapsed().as_secs_f64() * 1000.0;
                for (s, idx) in senders.values().enumerate() {
                    let r = r.as_ref().map_err(Clone::clone).and_then(|v| v[s].clone());
                    report_connects(pairs, idx, &r, ms, tally);
                }
            });
        }
        for (ns, idx) in &here {
            sc.spawn(move || {
                let t0 = Instant::now();
                let r = probe::connect_all(ns, &dests(idx)).map_err(|e| e.to_string());
                let ms = t0.elapsed().as_secs_f64() * 1000.0;
                report_connects(pairs, idx, &r, ms, tally);
            });
        }
    });
}

/// One sender's connection probes as they ended, or why none was made.
fn report_connects(
    pairs: &[Pair],
    idx: &[usize],
    r: &Result<Vec<probe::Connect>, String>,
    ms: f64,
    tally: &Tally,
) {
    for (k, &i) in idx.iter().enumerate() {
        let outcome = match r {
            Ok(c) => Ok(connected(c[k])),
            Err(e) => Err(e.clone()),
        };
        tally.record(i, &pairs[i], outcome, ms);
    }
}

/// A connection probe's verdict, round trip and words.
fn connected(c: probe::Connect) -> (bool, Option<f64>, Option<String>) {
    let wait = probe::CONNECT_WAIT.as_secs_f64();
    match c {
        probe::Connect::Established(ms) => (true, Some(ms), None),
        probe::Connect::Refused => (
            false,
            None,
            Some("refused: RST, nothing listens there".into()),
        ),
        probe::Connect::Silent => (
            false,
            None,
            Some(format!("no answer to the SYN within {wait} s")),
        ),
        probe::Connect::Unreachable => (false, None, Some("no route, or no ARP answer".into())),
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

/// One pair where reality and the prediction differ (a verify job's `done` event lists them).
pub use netloom_core::api::Disagreement;

/// Pairs where `real` and `predicted` disagree (or that only one of them
/// has): pings, then connection probes.
pub fn compare(real: &ReachReport, predicted: &ReachReport) -> Vec<Disagreement> {
    let mut out = differ(&real.results, &predicted.results);
    out.extend(differ(&real.ports, &predicted.ports));
    out
}

fn differ(real: &[ReachResult], predicted: &[ReachResult]) -> Vec<Disagreement> {
    let key = |r: &ReachResult| (r.from.clone(), r.to.clone(), r.proto.clone());
    let sim: BTreeMap<_, &ReachResult> = predicted.iter().map(|r| (key(r), r)).collect();
    let re: BTreeMap<_, &ReachResult> = real.iter().map(|r| (key(r), r)).collect();
    let one =
        |k: &(String, String, String), real: Option<bool>, s: Option<&&ReachResult>| Disagreement {
            from: k.0.clone(),
            to: k.1.clone(),
            proto: (k.2 != "icmp").then(|| k.2.clone()),
            real,
            simulation: s.map(|s| s.ok),
            simulation_detail: s.map(|s| s.detail.clone()).unwrap_or_default(),
        };
    let mut out = Vec::new();
    for (k, r) in &re {
        match sim.get(k) {
            Some(s) if s.ok == r.ok => {}
            s => out.push(one(k, Some(r.ok), s)),
        }
    }
    for (k, s) in &sim {
        if !re.contains_key(k) {
            out.push(one(k, None, Some(s)));
        }
    }
    out
}
