//! An IPv4 address on a device.

use ipnet::Ipv4Net;

use netloom_core::plan::Resource;

use crate::host::confine::{self, Refusal, TopologyName};
use crate::host::snapshot::Mapping;
use crate::host::{nl, StepError};

pub fn create(netns: &str, dev: &str, cidr: Ipv4Net) -> Result<(), StepError> {
    let dev = dev.to_string();
    nl::with_netlink(netns, move |n| n.add_addr(&dev, cidr))?;
    Ok(())
}

pub fn delete(netns: &str, dev: &str, cidr: Ipv4Net) -> Result<(), StepError> {
    let dev = dev.to_string();
    nl::with_netlink(netns, move |n| n.del_addr(&dev, cidr))?;
    Ok(())
}

/// The addresses of the topology's namespaces but `lo`'s and those a DHCP
/// client's lease put there (the client's resource), each as the target
/// it is desired for, else its namespace's.
pub fn map(m: &Mapping) -> Vec<(String, Resource)> {
    let mut out = Vec::new();
    for (ns, v) in m.namespaces() {
        for (dev, cidr) in &v.addrs {
            let leased = m
                .leased
                .iter()
                .any(|c| c.ns == ns && c.dev == *dev && c.lease.ip == *cidr);
            if dev == "lo" || leased {
                continue;
            }
            let r = Resource::Addr {
                netns: ns.to_string(),
                dev: dev.clone(),
                cidr: *cidr,
            };
            out.push((m.owner(&r.key(), &m.target(ns)), r));
        }
    }
    out
}

pub fn confine(t: &TopologyName, ns: &str, dev: &str) -> Result<(), Refusal> {
    confine::netns(t, ns)?;
    confine::device(dev).map(drop)
}
