//! A veth pair: the end `name` in `netns` (an OVS port, or the host's own
//! namespace's, marked as the topology's), its peer in `peer_netns`,
//! optionally enslaved to a segment.

use std::collections::BTreeSet;

use netloom_core::plan::Resource;
use netloom_core::topology::Mac;

use crate::host::confine::{self, Refusal, TopologyName};
use crate::host::nl::{self, Link};
use crate::host::snapshot::Mapping;
use crate::host::{link_mark, netns, StepError};

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

/// The veth pairs: the ends in the machine's own namespace marked as the
/// topology's, and those in its namespaces but a desired pair's peer end
/// (part of that pair's resource).
pub fn map(m: &Mapping) -> Vec<(String, Resource)> {
    let mut out = machine_ends(m);
    let peer_ends: BTreeSet<(&str, &str)> = m
        .hint
        .iter()
        .filter_map(|(_, r)| match r {
            Resource::Veth {
                peer_netns, peer, ..
            } => Some((peer_netns.as_str(), peer.as_str())),
            _ => None,
        })
        .collect();
    for (ns, v) in m.namespaces() {
        for l in v.links.iter().filter(|l| l.kind == "veth") {
            let key = format!("link {ns}/{}", l.name);
            let want = m.want(&key);
            if want.is_none() && peer_ends.contains(&(ns, l.name.as_str())) {
                continue;
            }
            // A guest's veth end is its host's: the target it is desired for.
            let t = match want {
                Some(Resource::Veth { .. }) => m.owner(&key, &m.target(ns)),
                _ => m.target(ns),
            };
            out.push((t, observe(ns, l, want, |ns, name| m.link(ns, name))));
        }
    }
    out
}

/// The veth ends of the machine's own namespace marked as the topology's:
/// as desired if they are, for the target desired, else the real host's an
/// agent observes for.
fn machine_ends(m: &Mapping) -> Vec<(String, Resource)> {
    let mark = link_mark(m.topology);
    m.machine()
        .into_iter()
        .flat_map(|v| &v.links)
        .filter(|l| l.kind == "veth" && l.alias.as_deref() == Some(mark.as_str()))
        .map(|l| {
            let key = format!("link /{}", l.name);
            let r = m.want(&key).cloned().unwrap_or_else(|| unmatched("", l));
            (m.owner(&key, &m.real), r)
        })
        .collect()
}

/// The veth end `l` of namespace `ns`. As the desired pair `want`, its peer
/// reads as wanted only when it is there (`find_link` finds a link by
/// namespace and name) with the MAC and master wanted, and `l` is up.
fn observe<'a>(
    ns: &str,
    l: &Link,
    want: Option<&Resource>,
    find_link: impl Fn(&str, &str) -> Option<&'a Link>,
) -> Resource {
    let Some(Resource::Veth {
        netns,
        name,
        peer_netns,
        peer,
        peer_mac,
        peer_master,
    }) = want
    else {
        return unmatched(ns, l);
    };
    let p = find_link(peer_netns, peer);
    let master_ok = match (peer_master, p.and_then(|p| p.master)) {
        (None, None) => true,
        (Some(m), Some(idx)) => find_link(peer_netns, m).is_some_and(|ml| ml.index == idx),
        _ => false,
    };
    let mac_ok = peer_mac.is_none() || p.and_then(|p| p.mac) == *peer_mac;
    Resource::Veth {
        netns: netns.clone(),
        name: name.clone(),
        peer_netns: peer_netns.clone(),
        peer: if p.is_some() && master_ok && mac_ok && l.up {
            peer.clone()
        } else {
            String::new()
        },
        peer_mac: *peer_mac,
        peer_master: peer_master.clone(),
    }
}

/// A veth end `l` of namespace `ns` that is no desired pair's: one to remove.
fn unmatched(ns: &str, l: &Link) -> Resource {
    Resource::Veth {
        netns: ns.to_string(),
        name: l.name.clone(),
        peer_netns: String::new(),
        peer: String::new(),
        peer_mac: None,
        peer_master: None,
    }
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
