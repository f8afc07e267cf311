//! A capture on one link of a topology, wherever the link is: on this
//! machine for a sandbox host (a whole bridge through a mirror made for it),
//! through the host's agent for a real one (the agent checks the link on its
//! host: the namespace, the tunnel or the bridge is the topology's).

use std::time::{Duration, Instant};

use netloom_core::capture::{Link, Tap};
use netloom_core::Topology;

use crate::agent::{client, peers};
use crate::host::capture::{Frame, Reading, Socket};
use crate::host::netns;

/// How often a quiet capture on this machine lets its caller stop it.
const TICK: Duration = Duration::from_millis(200);
/// The longest capture an agent runs (its own bound).
const AGENT_MAX_SECONDS: u32 = 600;

/// When a capture ends, besides its caller saying so.
pub struct Limits {
    /// Bytes kept of each frame.
    pub snaplen: u32,
    /// `None`: until the caller stops it (through an agent: at most 600 s).
    pub seconds: Option<f64>,
    pub count: Option<u64>,
}

/// Frames of `link`, each handed to `on`; `on` is also asked, with `None`,
/// once the capture is open and when nothing came for a while, and ends the
/// capture by returning false.
/// The number of frames.
pub fn run(
    topo: &Topology,
    link: Link,
    l: &Limits,
    on: impl FnMut(Option<&Frame>) -> bool,
) -> Result<u64, String> {
    match &topo.hosts[link.host(topo)].agent {
        Some(url) => through_agent(topo, link, url, l, on),
        None => here(topo, link, l, on),
    }
}

/// A capture where an emulated host shows `link`, with the tap it reads
/// (a tunnel's filter); refused when the topology is not applied here.
fn open_here(topo: &Topology, link: Link) -> Result<(Socket, Tap), String> {
    let tap = link.sandbox_tap(topo);
    if !netns::path(&tap.netns).exists() {
        return Err(format!(
            "no namespace {}: is {} applied?",
            tap.netns, topo.name
        ));
    }
    Ok((Socket::open_tap(&tap, &topo.name)?, tap))
}

fn here(
    topo: &Topology,
    link: Link,
    l: &Limits,
    mut on: impl FnMut(Option<&Frame>) -> bool,
) -> Result<u64, String> {
    let (socket, tap) = open_here(topo, link)?;
    // Open: the caller may say so (or stop) before the first frame comes.
    if !on(None) {
        return Ok(0);
    }
    let r = Reading {
        snaplen: l.snaplen as usize,
        until: l
            .seconds
            .map(|s| Instant::now() + Duration::from_secs_f64(s)),
        count: l.count,
        tick: TICK,
        // A tunnel is read on the underlay NIC: only its own packets count.
        tunnel: tap.tunnel,
    };
    socket.read(&r, on).map_err(|e| e.to_string())
}

/// Through the host's agent, which checks the link on its host (a tunnel's
/// port and key, a bridge's mark) before it reads.
fn through_agent(
    topo: &Topology,
    link: Link,
    url: &str,
    l: &Limits,
    mut on: impl FnMut(Option<&Frame>) -> bool,
) -> Result<u64, String> {
    let peer = peers::configured(url)?;
    let seconds = l.seconds.map_or(AGENT_MAX_SECONDS, |s| {
        (s.ceil() as u32).clamp(1, AGENT_MAX_SECONDS)
    });
    let ask = client::CaptureAsk {
        topology: &topo.name,
        link: link.host_link(topo),
        snaplen: l.snaplen,
        seconds,
        count: l.count,
    };
    client::capture(&peer, &ask, |f| on(f.as_ref())).map_err(|e| e.to_string())
}
