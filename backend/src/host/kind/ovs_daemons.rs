//! An emulated host's Open vSwitch: ovsdb-server and ovs-vswitchd in the
//! host's namespace, their files in its host directory.

use netloom_core::names;
use netloom_core::plan::{ovn_external_ids, OvnChassis, Resource};

use crate::host::confine::{self, clip, refuse, Refusal, TopologyName};
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
    let get = |k: &str| ids.iter().find(|(ik, _)| ik == k).map(|(_, v)| v.clone());
    let mappings = get("ovn-bridge-mappings")
        .unwrap_or_default()
        .split(',')
        .filter_map(|m| m.split_once(':'))
        .map(|(n, b)| (n.to_string(), b.to_string()))
        .collect();
    let ch = OvnChassis {
        system_id: get("system-id")?,
        remote: get("ovn-remote")?,
        encap_ip: get("ovn-encap-ip")?.parse().ok()?,
        bridge: get("ovn-bridge")?,
        mappings,
    };
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
    let own = format!("{t}.");
    if !ch.system_id.starts_with(&own) {
        return refuse(format!(
            "chassis {:?} is not the topology's",
            clip(&ch.system_id)
        ));
    }
    let sb = format!("unix:{}/sb.sock", names::ovn_dir(t.as_str()));
    if ch.remote != sb {
        return refuse(format!(
            "ovn-remote {:?} is not the topology's central",
            clip(&ch.remote)
        ));
    }
    confine::own_device(t, &ch.bridge)?;
    for (net, bridge) in &ch.mappings {
        if !net.starts_with(&format!("{t}._ext.")) || net.contains([',', ':']) {
            return refuse(format!(
                "physical network {:?} is not the topology's",
                clip(net)
            ));
        }
        confine::own_device(t, bridge)?;
    }
    Ok(())
}
