//! An IPv4 address on a device.

use ipnet::Ipv4Net;

use crate::host::confine::{self, Refusal, TopologyName};
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

pub fn confine(t: &TopologyName, ns: &str, dev: &str) -> Result<(), Refusal> {
    confine::netns(t, ns)?;
    confine::device(dev).map(drop)
}
