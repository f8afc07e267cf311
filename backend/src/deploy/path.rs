//! The real path of one probe: capture on every link its trace crosses,
//! send the probe for real (`ping` in the sender's namespace), and match
//! what each link saw against the trace (`netloom_core::capture::path`).

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use netloom_core::capture::path::{compare, links_to_watch, PathCheck};
use netloom_core::capture::{decode, Link};
use netloom_core::sim::{Probe, Proto, DEFAULT_ICMP_SIZE};
use netloom_core::topology::NodeRef;
use netloom_core::trace::{Disposition, Layer, Trace};
use netloom_core::Topology;

use crate::host::capture::Socket;
use crate::host::netns;

/// Enough of each frame for every header the decoder reads.
const SNAPLEN: usize = 512;
/// How often a capture thread checks whether the probe is over.
const TICK: Duration = Duration::from_millis(50);
/// Late frames (a reply on its way back) after `ping` has ended.
const LINGER: Duration = Duration::from_millis(300);

/// Probes the sandbox topology for real and compares with `trace`.
pub fn real_path(topo: &Topology, probe: &Probe, trace: &Trace) -> Result<PathCheck, String> {
    if probe.proto != Proto::Icmp {
        return Err(format!(
            "the real path is measured with icmp probes, not {}",
            probe.proto
        ));
    }
    let links = links_to_watch(topo, trace);
    let mut sockets = Vec::new();
    for link in &links {
        let host = &topo.hosts[link.host(topo)];
        if host.agent.is_some() {
            return Err(format!(
                "{} is reached through an agent: the real path works on sandbox hosts so far",
                host.name
            ));
        }
        let tap = link.sandbox_tap(topo);
        if !netns::path(&tap.netns).exists() {
            return Err(format!(
                "no namespace {}: is {} applied?",
                tap.netns, topo.name
            ));
        }
        let s = Socket::open(&tap.netns, &tap.device)
            .map_err(|e| format!("{}: {e}", link.label(topo)))?;
        sockets.push((*link, tap.tunnel, s));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = sockets
        .into_iter()
        .map(|(link, tunnel, socket)| {
            let stop = stop.clone();
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
        })
        .collect();
    // A reply may be slow on a busy machine; a predicted drop needs less time to show.
    let wait = match trace.disposition {
        Disposition::Delivered { .. } => 5,
        Disposition::Dropped { .. } => 1,
    };
    let sent = send(topo, probe, wait);
    std::thread::sleep(LINGER);
    stop.store(true, Ordering::Relaxed);
    let mut captured: Vec<(String, Vec<Layer>)> = Vec::new();
    for r in readers {
        let seen: Vec<(Link, Vec<Layer>)> = r
            .join()
            .map_err(|_| "a capture thread panicked".to_string())?;
        captured.extend(seen.into_iter().map(|(l, layers)| (l.label(topo), layers)));
    }
    sent?;
    Ok(compare(trace, &captured))
}

/// `ping -c 1 -W WAIT` from the probe's sender, with its size and TTL.
fn send(topo: &Topology, probe: &Probe, wait: u32) -> Result<(), String> {
    let ns = match probe.from {
        NodeRef::Guest(g) => topo.guests[g].netns.clone(),
        NodeRef::External(e) => topo.externals[e].netns.clone(),
    };
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
    let mut cmd = netns::command_in(&ns, ping).map_err(|e| format!("{ns}: {e}"))?;
    // The answer is what the capture saw; ping's own verdict adds nothing.
    cmd.status().map(drop).map_err(|e| format!("ping: {e}"))
}
