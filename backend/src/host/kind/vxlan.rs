//! A kernel VXLAN device plugged into OVS as a plain port: a real host's
//! tunnel under the userspace datapath, marked as the topology's.

use std::net::Ipv4Addr;

use netloom_core::plan::{self, Resource};

use crate::host::confine::{self, Refusal, TopologyName};
use crate::host::nl::{self, Link};
use crate::host::snapshot::Mapping;
use crate::host::{link_mark, StepError};

pub fn create(
    topology: &str,
    netns: &str,
    name: &str,
    vni: u32,
    local: Ipv4Addr,
    remote: Ipv4Addr,
) -> Result<(), StepError> {
    let mark = link_mark(topology);
    let name = name.to_string();
    nl::with_netlink(netns, move |n| {
        n.add_vxlan(&name, vni, local, remote, plan::VXLAN_INNER_MTU)?;
        n.mark(&name, &mark)
    })?;
    Ok(())
}

/// The VXLAN devices of the machine's own namespace marked as the
/// topology's, each as the target it is desired for, else the real host's
/// an agent observes for.
pub fn map(m: &Mapping) -> Vec<(String, Resource)> {
    let mark = link_mark(m.topology);
    m.machine()
        .into_iter()
        .flat_map(|v| &v.links)
        .filter(|l| l.alias.as_deref() == Some(mark.as_str()))
        .filter_map(observe)
        .map(|r| (m.owner(&r.key(), &m.real), r))
        .collect()
}

/// The VXLAN device `l` of the host's own namespace, if it is one.
fn observe(l: &Link) -> Option<Resource> {
    let x = l.vxlan.as_ref()?;
    // A device that is down or would not drop what the tunnel cannot
    // carry is not the one wanted: it reads as another, to be re-made.
    let sound = l.up && x.mtu == plan::VXLAN_INNER_MTU && x.df_set;
    let unset = Ipv4Addr::UNSPECIFIED;
    Some(Resource::VxlanLink {
        netns: String::new(),
        name: l.name.clone(),
        vni: x.vni,
        local: x.local.filter(|_| sound).unwrap_or(unset),
        remote: x.remote.unwrap_or(unset),
    })
}

pub fn confine(t: &TopologyName, ns: &str, name: &str) -> Result<(), Refusal> {
    confine::device_in(t, ns, name).map(drop)
}
