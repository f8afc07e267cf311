//! A layer-2 segment: a Linux bridge in a namespace.

use netloom_core::plan::Resource;
use netloom_core::topology::Mac;

use crate::host::confine::{self, Refusal, TopologyName};
use crate::host::nl::{self, Link};
use crate::host::snapshot::Mapping;
use crate::host::StepError;

pub fn create(netns: &str, name: &str, mac: Option<Mac>) -> Result<(), StepError> {
    let name = name.to_string();
    nl::with_netlink(netns, move |n| n.add_bridge(&name, mac))?;
    Ok(())
}

/// The bridges of the topology's namespaces.
pub fn map(m: &Mapping) -> Vec<(String, Resource)> {
    let mut out = Vec::new();
    for (ns, v) in m.namespaces() {
        for l in v.links.iter().filter(|l| l.kind == "bridge") {
            let want = m.want(&format!("link {ns}/{}", l.name));
            out.push((m.target(ns), observe(ns, l, want)));
        }
    }
    out
}

/// The bridge `l` of namespace `ns`; its MAC counts only when the desired
/// segment (`want`) sets one.
fn observe(ns: &str, l: &Link, want: Option<&Resource>) -> Resource {
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
