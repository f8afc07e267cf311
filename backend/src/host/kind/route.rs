//! An IPv4 route in a namespace (`to` none: the default route).

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use netloom_core::plan::Resource;

use crate::host::confine::{self, Refusal, TopologyName};
use crate::host::snapshot::Mapping;
use crate::host::{nl, StepError};

pub fn create(netns: &str, to: Option<Ipv4Net>, via: Ipv4Addr) -> Result<(), StepError> {
    nl::with_netlink(netns, move |n| n.route_replace(to, via))?;
    Ok(())
}

pub fn delete(netns: &str, to: Option<Ipv4Net>) -> Result<(), StepError> {
    nl::with_netlink(netns, move |n| n.route_del(to))?;
    Ok(())
}

/// The routes of the topology's namespaces but the default routes a DHCP
/// client's lease put there (the client's resource).
pub fn map(m: &Mapping) -> Vec<(String, Resource)> {
    let mut out = Vec::new();
    for (ns, v) in m.namespaces() {
        for (to, via) in &v.routes {
            let leased = m
                .leased
                .iter()
                .any(|c| c.ns == ns && c.lease.router == Some(*via));
            if to.is_none() && leased {
                continue;
            }
            let r = Resource::Route {
                netns: ns.to_string(),
                to: *to,
                via: *via,
            };
            out.push((m.target(ns), r));
        }
    }
    out
}

pub fn confine(t: &TopologyName, ns: &str) -> Result<(), Refusal> {
    confine::netns(t, ns).map(drop)
}
