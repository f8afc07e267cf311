//! A layer-2 segment: a Linux bridge in a namespace.

use netloom_core::plan::Resource;
use netloom_core::topology::Mac;

use crate::host::confine::{self, Refusal, TopologyName};
use crate::host::nl::{self, Link};
use crate::host::StepError;

pub fn create(netns: &str, name: &str, mac: Option<Mac>) -> Result<(), StepError> {
    let name = name.to_string();
    nl::with_netlink(netns, move |n| n.add_bridge(&name, mac))?;
    Ok(())
}

/// The bridge `l` of namespace `ns`; its MAC counts only when the desired
/// segment (`want`) sets one.
pub fn observe(ns: &str, l: &Link, want: Option<&Resource>) -> Resource {
    let mac = match want {
        Some(Resource::Segment { mac: Some(_), .. }) => l.mac,
        _ => None,
    };
    Resource::Segment {
        netns: ns.to_string(),
        name: l.name.clone(),
        mac,
    }
}

pub fn confine(t: &TopologyName, ns: &str, name: &str) -> Result<(), Refusal> {
    confine::device_in(t, ns, name).map(drop)
}
