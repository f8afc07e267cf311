//! An emulated host's Open vSwitch: ovsdb-server and ovs-vswitchd in the
//! host's namespace, their files in its host directory.

use netloom_core::names;
use netloom_core::plan::Resource;

use crate::host::confine::{self, Refusal, TopologyName};
use crate::host::{procs, StepError};

pub fn create(topology: &str, netns: &str, dir: &str) -> Result<(), StepError> {
    let phy = names::phy_bridge(&names::topology_tag(topology));
    procs::start_ovs(netns, dir, &phy, topology)?;
    Ok(())
}

pub fn delete(dir: &str) {
    procs::stop_ovs(dir);
}

/// The daemons of host directory `dir` if they run; `home` names the
/// namespace of a process.
pub fn observe(dir: &str, home: impl Fn(i32) -> String) -> Option<Resource> {
    let pid = procs::ovs_running(dir)?;
    Some(Resource::OvsDaemons {
        netns: home(pid),
        dir: dir.to_string(),
    })
}

pub fn confine(t: &TopologyName, ns: &str, dir: &str) -> Result<(), Refusal> {
    confine::host_daemon(t, ns, dir)
}
