//! A veth pair: the end `name` in `netns` (an OVS port, or the host's own
//! namespace's, marked as the topology's), its peer in `peer_netns`,
//! optionally enslaved to a segment.

use netloom_core::topology::Mac;

use crate::host::confine::{self, Refusal, TopologyName};
use crate::host::{link_mark, netns, nl, StepError};

pub fn create(
    topology: &str,
    ns: &str,
    name: &str,
    peer_netns: &str,
    peer: &str,
    peer_mac: Option<Mac>,
    peer_master: Option<String>,
) -> Result<(), StepError> {
    // Created from the side of the end named `name` (an OVS port, or
    // the host's own namespace's), up at once; the peer is made
    // directly in its namespace with its MAC, then enslaved and up there.
    let fd = netns::open(peer_netns)?;
    let mark = link_mark(topology);
    let (name, p2) = (name.to_string(), peer.to_string());
    nl::with_netlink(ns, move |n| {
        use std::os::fd::AsRawFd;
        n.add_veth(&name, &p2, peer_mac, fd.as_raw_fd())?;
        n.mark(&name, &mark)
    })?;
    let peer = peer.to_string();
    nl::with_netlink(peer_netns, move |n| {
        n.set_up_in(&peer, peer_master.as_deref())
    })?;
    Ok(())
}

pub fn confine(
    t: &TopologyName,
    ns: &str,
    name: &str,
    peer_netns: &str,
    peer: &str,
    peer_master: Option<&str>,
) -> Result<(), Refusal> {
    confine::device_in(t, ns, name)?;
    confine::device_in(t, peer_netns, peer)?;
    match peer_master {
        Some(m) => confine::device_in(t, peer_netns, m).map(drop),
        None => Ok(()),
    }
}
