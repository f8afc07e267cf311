//! An emulated host's Open vSwitch: ovsdb-server and ovs-vswitchd in the
//! host's namespace, their files in its host directory.

use netloom_core::names;
use netloom_core::plan::{ovn_external_ids, OvnChassis, Resource};

use crate::host::confine::{self, Refusal, TopologyName};
use crate::host::ovsdb::{self, Ovsdb};
use crate::host::{procs, StepError};

pub fn create(
    topology: &str,
    netns: &str,
    dir: &str,
    ovn: Option<&OvnChassis>,
) -> Result<(), StepError> {
    let phy = names::phy_bridge(&names::topology_tag(topology));
    procs::start_ovs(netns, dir, &phy, topology, ovn)?;
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
        ovn: procs::ovn_controller_running(dir).and_then(|_| chassis(dir)),
    })
}

/// The OVN chassis the host's `Open_vSwitch` row configures.
fn chassis(dir: &str) -> Option<OvnChassis> {
    let mut db = Ovsdb::connect(&format!("{dir}/db.sock")).ok()?;
    let rows = db.select("Open_vSwitch", &["external_ids"]).ok()?;
    let ids = ovsdb::read_map(&rows.first()?["external_ids"]);
    let ch = super::ovn_chassis::from_ids(&ids)?;
    // Only a row netloom wrote whole reads back as the chassis it planned.
    (ovn_external_ids(&ch).iter().all(|kv| ids.contains(kv))).then_some(ch)
}

pub fn confine(
    t: &TopologyName,
    ns: &str,
    dir: &str,
    ovn: Option<&OvnChassis>,
) -> Result<(), Refusal> {
    confine::host_daemon(t, ns, dir)?;
    let Some(ch) = ovn else {
        return Ok(());
    };
    // An emulated host's chassis joins the sandbox's own central.
    let sb = format!("unix:{}/sb.sock", names::ovn_dir(t.as_str()));
    super::ovn_chassis::confine_chassis(t, ch, |r| r == sb)
}
