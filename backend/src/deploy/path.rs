//! The real path of one probe: capture on every link its trace crosses,
//! send the probe for real from the sender's namespace (`ping`, or a TCP
//! connection to a listener opened where the trace delivers the SYN), and
//! match what each link saw against the trace (`netloom_core::capture::path`).
//! On a real host its agent captures and sends (icmp only: a listener for
//! tcp is opened on this machine).

use std::net::SocketAddrV4;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Sender};
use std::thread::ScopedJoinHandle;
use std::time::{Duration, Instant};

use netloom_core::capture::path::{compare, links_to_watch, PathCheck};
use netloom_core::capture::{decode, Link};
use netloom_core::sim::{Probe, Proto, DEFAULT_ICMP_SIZE};
use netloom_core::topology::NodeRef;
use netloom_core::trace::{Action, Disposition, Layer, TcpFlags, Trace};
use netloom_core::Topology;

use super::capture::{self, Limits};
use crate::agent::proto::EchoProbe;
use crate::agent::{client, peers};
use crate::host::{ping, probe};

/// Enough of each frame for every header the decoder reads.
const SNAPLEN: u32 = 512;
/// How long the captures may take to open (an agent makes a bridge's mirror).
const OPEN_WAIT: Duration = Duration::from_secs(30);
/// A bound on each capture, should the probe never end.
const MAX_SECONDS: f64 = 120.0;
/// Late frames (a reply on its way back) after the probe has ended.
const LINGER: Duration = Duration::from_millis(300);

/// What each capture thread saw: its link and the frames' layers.
type Seen = Vec<(Link, Vec<Layer>)>;

/// Probes the applied topology for real and compares with `trace`: links
/// and senders on real hosts through their agents.
pub fn real_path(topo: &Topology, probe: &Probe, trace: &Trace) -> Result<PathCheck, String> {
    if !matches!(probe.proto, Proto::Icmp | Proto::Tcp(_)) {
        return Err(format!(
            "the real path is measured with icmp and tcp probes, not {}",
            probe.proto
        ));
    }
    let on_real_host = |n: NodeRef| match n {
        NodeRef::Guest(g) => topo.hosts[topo.guests[g].host].agent.is_some(),
        NodeRef::External(_) => false,
    };
    let tcp_target = syn_target(topo, trace).map(|(n, _)| n);
    if matches!(probe.proto, Proto::Tcp(_))
        && (on_real_host(probe.from) || tcp_target.is_some_and(on_real_host))
    {
        return Err(
            "between guests of real hosts the real path is measured with icmp probes".into(),
        );
    }
    let stop = AtomicBool::new(false);
    let captured = std::thread::scope(|s| -> Result<Vec<(String, Vec<Layer>)>, String> {
        let readers = watch(s, topo, trace, &stop)?;
        let sent = send(topo, probe, trace);
        std::thread::sleep(LINGER);
        stop.store(true, Ordering::Relaxed);
        let mut captured = Vec::new();
        for r in readers {
            let seen = r
                .join()
                .map_err(|_| "a capture thread panicked".to_string())??;
            captured.extend(seen.into_iter().map(|(l, layers)| (l.label(topo), layers)));
        }
        sent.map(|()| captured)
    })?;
    Ok(compare(trace, &captured))
}

type Reader<'s> = ScopedJoinHandle<'s, Result<Seen, String>>;

/// A capture on every link the trace crosses, each on a thread of its own,
/// here or through the link's agent; once every one is open.
fn watch<'s>(
    s: &'s std::thread::Scope<'s, '_>,
    topo: &'s Topology,
    trace: &Trace,
    stop: &'s AtomicBool,
) -> Result<Vec<Reader<'s>>, String> {
    let (opened, open) = mpsc::channel();
    let readers: Vec<Reader<'s>> = links_to_watch(topo, trace)
        .into_iter()
        .map(|link| {
            let opened = opened.clone();
            s.spawn(move || read(topo, link, stop, &opened))
        })
        .collect();
    drop(opened);
    // A capture that fails says nothing and ends with its error.
    let ready = (0..readers.len())
        .take_while(|_| open.recv_timeout(OPEN_WAIT).is_ok())
        .count();
    if ready == readers.len() {
        return Ok(readers);
    }
    stop.store(true, Ordering::Relaxed);
    let mut why = format!("a capture did not open within {} s", OPEN_WAIT.as_secs());
    for r in readers {
        if let Ok(Err(e)) = r.join() {
            why = e;
        }
    }
    Err(why)
}

/// Frames of one link until `stop`, saying on `opened` once it is open.
fn read(
    topo: &Topology,
    link: Link,
    stop: &AtomicBool,
    opened: &Sender<()>,
) -> Result<Seen, String> {
    let mut seen = Vec::new();
    let limits = Limits {
        snaplen: SNAPLEN,
        seconds: Some(MAX_SECONDS),
        count: None,
    };
    let mut told = false;
    // Once stopped, frames still queued are read (a thread that got no CPU
    // for a while has some) until the link is idle, or for LINGER more.
    let mut stopped: Option<Instant> = None;
    let read = capture::run(topo, link, &limits, |f| {
        match f {
            Some(f) => seen.push((link, decode(&f.data))),
            // The first call, with no frame, is the capture saying it is open.
            None if !told => told = opened.send(()).is_ok(),
            None => return !stop.load(Ordering::Relaxed),
        }
        !stop.load(Ordering::Relaxed) || stopped.get_or_insert_with(Instant::now).elapsed() < LINGER
    });
    match read {
        // A link that goes down once open ("Network is down") sees no more:
        // what it saw is the answer, as for the others.
        Err(_) if told => Ok(seen),
        Err(e) => Err(format!("{}: {e}", link.label(topo))),
        Ok(_) => Ok(seen),
    }
}

fn sender_ns(topo: &Topology, n: NodeRef) -> String {
    match n {
        NodeRef::Guest(g) => topo.guests[g].netns.clone(),
        NodeRef::External(e) => topo.externals[e].netns.clone(),
    }
}

/// The probe, sent for real (by the sender's agent on a real host); what it
/// got is what the capture saw.
fn send(topo: &Topology, probe: &Probe, trace: &Trace) -> Result<(), String> {
    let ns = sender_ns(topo, probe.from);
    // A reply may be slow on a busy machine; a predicted drop needs less time to show.
    let wait = match trace.disposition {
        Disposition::Delivered { .. } => 5,
        Disposition::Dropped { .. } => 1,
    };
    let Proto::Tcp(port) = probe.proto else {
        let size = probe.size.unwrap_or(DEFAULT_ICMP_SIZE);
        let ttl = probe.ttl.unwrap_or(64);
        let agent = match probe.from {
            NodeRef::Guest(g) => topo.hosts[topo.guests[g].host].agent.as_deref(),
            NodeRef::External(_) => None,
        };
        return match agent {
            None => ping::ping_once(&ns, probe.to, size, ttl, wait),
            Some(url) => {
                let echo = EchoProbe {
                    netns: ns,
                    to: probe.to,
                    size,
                    ttl,
                    wait,
                };
                client::echo(&peers::configured(url)?, &topo.name, echo).map_err(|e| e.to_string())
            }
        };
    };
    // Where the trace delivers the SYN, something listens while the probe runs.
    let _listener: Option<OwnedFd> = match syn_target(topo, trace) {
        Some((at, p)) => {
            let at = sender_ns(topo, at);
            probe::listen(&at, p).map_err(|e| format!("listen in {at}: {e}"))?
        }
        None => None,
    };
    probe::connect_all(&ns, &[SocketAddrV4::new(probe.to, port)])
        .map(drop)
        .map_err(|e| format!("connect from {ns}: {e}"))
}

/// The node and port the trace delivers a SYN to, when the trace has it
/// answer SYN-ACK (a predicted RST needs no listener).
fn syn_target(topo: &Topology, trace: &Trace) -> Option<(NodeRef, u16)> {
    let layers = || {
        trace
            .hops
            .iter()
            .flat_map(|h| &h.steps)
            .flat_map(|s| &s.packet)
    };
    let accepted = layers().any(|l| {
        matches!(
            l,
            Layer::Tcp {
                flags: TcpFlags::SynAck,
                ..
            }
        )
    });
    if !accepted {
        return None;
    }
    let syn = |l: &Layer| match l {
        Layer::Tcp {
            dst_port,
            flags: TcpFlags::Syn,
            ..
        } => Some(*dst_port),
        _ => None,
    };
    let (node, port) = trace.hops.iter().find_map(|h| {
        h.steps
            .iter()
            .filter(|s| s.action == Action::Deliver)
            .find_map(|s| s.packet.iter().find_map(syn))
            .map(|p| (h.node.as_str(), p))
    })?;
    Some((topo.resolve_node(node).ok()?, port))
}
