//! An IPv4 route in a namespace (`to` none: the default route).

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use crate::host::confine::{self, Refusal, TopologyName};
use crate::host::{nl, StepError};

pub fn create(netns: &str, to: Option<Ipv4Net>, via: Ipv4Addr) -> Result<(), StepError> {
    nl::with_netlink(netns, move |n| n.route_replace(to, via))?;
    Ok(())
}

pub fn delete(netns: &str, to: Option<Ipv4Net>) -> Result<(), StepError> {
    nl::with_netlink(netns, move |n| n.route_del(to))?;
    Ok(())
}

pub fn confine(t: &TopologyName, ns: &str) -> Result<(), Refusal> {
    confine::netns(t, ns).map(drop)
}
