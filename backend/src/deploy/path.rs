//! The real path of one probe: capture on every link its trace crosses,
//! send the probe for real from the sender's namespace (`ping`, or a TCP
//! connection to a listener opened where the trace delivers the SYN), and
//! match what each link saw against the trace (`netloom_core::capture::path`).

use std::net::SocketAddrV4;
use std::os::fd::OwnedFd;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use netloom_core::capture::path::{compare, links_to_watch, PathCheck};
use netloom_core::capture::{decode, Link, Tap, TunnelFilter};
use netloom_core::sim::{Probe, Proto, DEFAULT_ICMP_SIZE};
use netloom_core::topology::NodeRef;
use netloom_core::trace::{Action, Disposition, Layer, TcpFlags, Trace};
use netloom_core::Topology;

use super::capture::open_here;
use crate::host::capture::Socket;
use crate::host::{netns, probe};

/// Enough of each frame for every header the decoder reads.
const SNAPLEN: usize = 512;
/// How often a capture thread checks whether the probe is over.
const TICK: Duration = Duration::from_millis(50);
/// Late frames (a reply on its way back) after the probe has ended.
const LINGER: Duration = Duration::from_millis(300);

/// What each capture thread saw: its link and the frames' layers.
type Seen = Vec<(Link, Vec<Layer>)>;

/// Probes the sandbox topology for real and compares with `trace`.
pub fn real_path(topo: &Topology, probe: &Probe, trace: &Trace) -> Result<PathCheck, String> {
    if !matches!(probe.proto, Proto::Icmp | Proto::Tcp(_)) {
        return Err(format!(
            "the real path is measured with icmp and tcp probes, not {}",
            probe.proto
        ));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<JoinHandle<Seen>> = open(topo, trace)?
        .into_iter()
        .map(|(link, socket, tap)| read(link, socket, tap.tunnel, stop.clone()))
        .collect();
    let sent = send(topo, probe, trace);
    std::thread::sleep(LINGER);
    stop.store(true, Ordering::Relaxed);
    let mut captured: Vec<(String, Vec<Layer>)> = Vec::new();
    for r in readers {
        let seen = r
            .join()
            .map_err(|_| "a capture thread panicked".to_string())?;
        captured.extend(seen.into_iter().map(|(l, layers)| (l.label(topo), layers)));
    }
    sent?;
    Ok(compare(trace, &captured))
}

/// A capture on every link the trace crosses.
fn open(topo: &Topology, trace: &Trace) -> Result<Vec<(Link, Socket, Tap)>, String> {
    let mut out = Vec::new();
    for link in links_to_watch(topo, trace) {
        let host = &topo.hosts[link.host(topo)];
        if host.agent.is_some() {
            return Err(format!(
                "{} is reached through an agent: the real path works on sandbox hosts so far",
                host.name
            ));
        }
        let (s, tap) = open_here(topo, link).map_err(|e| format!("{}: {e}", link.label(topo)))?;
        out.push((link, s, tap));
    }
    Ok(out)
}

/// Frames of one link until `stop`; a tunnel's own only.
fn read(
    link: Link,
    socket: Socket,
    tunnel: Option<TunnelFilter>,
    stop: Arc<AtomicBool>,
) -> JoinHandle<Seen> {
    std::thread::spawn(move || {
        let mut seen = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            let Ok(Some(frame)) = socket.next(SNAPLEN, TICK) else {
                continue;
            };
            let layers = decode(&frame.data);
            if tunnel.is_none_or(|t| t.keeps(&layers)) {
                seen.push((link, layers));
            }
        }
        seen
    })
}

fn sender_ns(topo: &Topology, n: NodeRef) -> String {
    match n {
        NodeRef::Guest(g) => topo.guests[g].netns.clone(),
        NodeRef::External(e) => topo.externals[e].netns.clone(),
    }
}

/// The probe, sent for real; what it got is what the capture saw.
fn send(topo: &Topology, probe: &Probe, trace: &Trace) -> Result<(), String> {
    let ns = sender_ns(topo, probe.from);
    // A reply may be slow on a busy machine; a predicted drop needs less time to show.
    let wait = match trace.disposition {
        Disposition::Delivered { .. } => 5,
        Disposition::Dropped { .. } => 1,
    };
    let Proto::Tcp(port) = probe.proto else {
        return ping(&ns, probe, wait);
    };
    // Where the trace delivers the SYN, something listens while the probe runs.
    let _listener: Option<OwnedFd> = match syn_target(topo, trace) {
        Some((at, p)) => probe::listen(&at, p).map_err(|e| format!("listen in {at}: {e}"))?,
        None => None,
    };
    probe::connect_all(&ns, &[SocketAddrV4::new(probe.to, port)])
        .map(drop)
        .map_err(|e| format!("connect from {ns}: {e}"))
}

/// The namespace and port of the guest the trace delivers a SYN to, when
/// the trace has it answer SYN-ACK (a predicted RST needs no listener).
fn syn_target(topo: &Topology, trace: &Trace) -> Option<(String, u16)> {
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
    Some((sender_ns(topo, topo.resolve_node(node).ok()?), port))
}

/// `ping -c 1 -W WAIT` from namespace `ns`, with the probe's size and TTL.
fn ping(ns: &str, probe: &Probe, wait: u32) -> Result<(), String> {
    let size = probe.size.unwrap_or(DEFAULT_ICMP_SIZE) - 28;
    let mut ping = Command::new("ping");
    ping.args([
        "-n",
        "-c",
        "1",
        "-W",
        &wait.to_string(),
        "-s",
        &size.to_string(),
    ])
    .args([
        "-t",
        &probe.ttl.unwrap_or(64).to_string(),
        &probe.to.to_string(),
    ])
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    let mut cmd = netns::command_in(ns, ping).map_err(|e| format!("{ns}: {e}"))?;
    // The answer is what the capture saw; ping's own verdict adds nothing.
    cmd.status().map(drop).map_err(|e| format!("ping: {e}"))
}
