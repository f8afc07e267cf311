//! `OvnChassis`: a real host as a chassis of an existing OVN central (engine
//! `ovn`): the keys of its `Open_vSwitch` row that `ovn-controller` reads,
//! marked `netloom-ovn=<topology>`. A host that is already another OVN's
//! chassis is left alone; the values it had of those keys (Debian's
//! `ovs-ctl` sets a `system-id`) are kept aside and put back.

use netloom_core::ovn::{Chassis, Remote};
use netloom_core::plan::{ovn_external_ids, OvnChassis, Resource, OVN_CHASSIS_MARK};
use serde_json::{json, Value};

use crate::host::confine::{self, clip, refuse, Refusal, TopologyName};
use crate::host::ovsdb::{self, Ovsdb, OvsdbError};
use crate::host::StepError;

/// Where the host's own value of a key netloom sets waits while the chassis
/// is the topology's: `netloom-was:KEY`.
const WAS: &str = "netloom-was:";

/// The `Open_vSwitch` row's uuid and `external_ids`.
fn row(db: &mut Ovsdb) -> Result<(Value, Vec<(String, String)>), OvsdbError> {
    let rows = db.select("Open_vSwitch", &["external_ids"])?;
    let r = rows
        .first()
        .ok_or_else(|| OvsdbError::Protocol("no Open_vSwitch row".into()))?;
    Ok((r["_uuid"].clone(), ovsdb::read_map(&r["external_ids"])))
}

fn get<'a>(ids: &'a [(String, String)], k: &str) -> Option<&'a str> {
    ids.iter().find(|(ik, _)| ik == k).map(|(_, v)| v.as_str())
}

/// One transaction on the row `uuid`: remove the keys `drop`, then insert
/// `add`. The other keys stay as they are: `ovn-controller` writes its own
/// (`ovn-nb-cfg`) into the same column while it runs.
fn rewrite(
    db: &mut Ovsdb,
    uuid: &Value,
    drop: Vec<String>,
    add: Vec<(String, String)>,
) -> Result<(), OvsdbError> {
    let at = json!([["_uuid", "==", uuid]]);
    db.transact(vec![
        json!({"op": "mutate", "table": "Open_vSwitch", "where": at,
            "mutations": [["external_ids", "delete", ["set", drop]]]}),
        json!({"op": "mutate", "table": "Open_vSwitch", "where": at,
            "mutations": [["external_ids", "insert", ovsdb::map(add)]]}),
    ])?;
    Ok(())
}

/// Set the chassis' keys (again, for a change). Refused when the host's
/// OVS already follows an OVN central that is not this topology's, and when
/// the Geneve end it would advertise is not one of the host's addresses
/// (the other chassis would send the topology's traffic there).
pub fn create(topology: &str, ovsdb: &str, ch: &OvnChassis) -> Result<(), StepError> {
    let ip = ch.chassis.encap_ip;
    let addrs = crate::host::nl::with_netlink("", |n| n.addrs())?;
    if !addrs.iter().any(|(_, net)| net.addr() == ip) {
        return Err(StepError::Io(std::io::Error::other(format!(
            "ovn-encap-ip {ip} is not an address of this host"
        ))));
    }
    let mut db = Ovsdb::connect(ovsdb)?;
    let (uuid, ids) = row(&mut db)?;
    let ours = get(&ids, OVN_CHASSIS_MARK) == Some(topology);
    if let (false, Some(remote)) = (ours, get(&ids, "ovn-remote")) {
        return Err(StepError::Io(std::io::Error::other(format!(
            "this host is already a chassis of another OVN central (ovn-remote {remote}): netloom leaves it alone"
        ))));
    }
    let keys = chassis_keys();
    let mut add = ovn_external_ids(ch);
    add.push((OVN_CHASSIS_MARK.into(), topology.into()));
    if !ours {
        // The host's own values, unless kept aside already (a first apply that failed half-way).
        let kept = |k: &str| get(&ids, &format!("{WAS}{k}")).is_some();
        add.extend(
            (ids.iter())
                .filter(|(k, _)| keys.contains(k) && !kept(k))
                .map(|(k, v)| (format!("{WAS}{k}"), v.clone())),
        );
    }
    // Every key netloom may have set before, so a mapping that went goes too.
    rewrite(&mut db, &uuid, keys, add)?;
    Ok(())
}

/// Whether the host's chassis keys are `topology`'s.
pub fn is_ours(ovsdb: &str, topology: &str) -> Result<bool, StepError> {
    let (_, ids) = row(&mut Ovsdb::connect(ovsdb)?)?;
    Ok(get(&ids, OVN_CHASSIS_MARK) == Some(topology))
}

/// A chassis of no name, no central, nothing: what keys changed by hand
/// read as.
fn blank() -> OvnChassis {
    OvnChassis {
        chassis: Chassis {
            system_id: String::new(),
            encap_type: String::new(),
            encap_ip: std::net::Ipv4Addr::UNSPECIFIED,
            bridge_mappings: Vec::new(),
        },
        remote: String::new(),
        bridge: String::new(),
        datapath: String::new(),
    }
}

/// The keys a chassis of netloom's may hold, its mark included.
fn chassis_keys() -> Vec<String> {
    let mut any = blank();
    any.chassis.bridge_mappings = vec![(String::new(), String::new())];
    let mut keys: Vec<String> = ovn_external_ids(&any).into_iter().map(|(k, _)| k).collect();
    keys.push(OVN_CHASSIS_MARK.to_string());
    keys
}

/// Remove the chassis' keys and put back the host's own values of them;
/// only while the row is marked as `topology`'s.
pub fn delete(topology: &str, ovsdb: &str) -> Result<(), StepError> {
    let mut db = Ovsdb::connect(ovsdb)?;
    let (uuid, ids) = row(&mut db)?;
    if get(&ids, OVN_CHASSIS_MARK) != Some(topology) {
        return Ok(());
    }
    let mut drop = chassis_keys();
    let mut add = Vec::new();
    for (k, v) in &ids {
        if let Some(was) = k.strip_prefix(WAS) {
            drop.push(k.clone());
            add.push((was.to_string(), v.clone()));
        }
    }
    rewrite(&mut db, &uuid, drop, add)?;
    Ok(())
}

/// The chassis a row's keys configure, when they are all there.
pub fn from_ids(ids: &[(String, String)]) -> Option<OvnChassis> {
    let bridge_mappings = get(ids, "ovn-bridge-mappings")
        .unwrap_or_default()
        .split(',')
        .filter_map(|m| m.split_once(':'))
        .map(|(n, b)| (n.to_string(), b.to_string()))
        .collect();
    Some(OvnChassis {
        chassis: Chassis {
            system_id: get(ids, "system-id")?.to_string(),
            encap_type: get(ids, "ovn-encap-type")?.to_string(),
            encap_ip: get(ids, "ovn-encap-ip")?.parse().ok()?,
            bridge_mappings,
        },
        remote: get(ids, "ovn-remote")?.to_string(),
        bridge: get(ids, "ovn-bridge")?.to_string(),
        datapath: get(ids, "ovn-bridge-datapath-type")?.to_string(),
    })
}

/// The chassis keys marked as `topology`'s in the host's OVSDB.
pub fn observe(db: &mut Ovsdb, topology: &str) -> Option<Resource> {
    let (_, ids) = row(db).ok()?;
    if get(&ids, OVN_CHASSIS_MARK) != Some(topology) {
        return None;
    }
    // Keys changed by hand read as a chassis that differs, which apply sets again.
    let chassis = from_ids(&ids).unwrap_or_else(blank);
    Some(Resource::OvnChassis { chassis })
}

/// The chassis' name, bridges and physical networks are the topology's;
/// `remote` passes `check_remote`.
pub fn confine_chassis(
    t: &TopologyName,
    ch: &OvnChassis,
    check_remote: impl Fn(&str) -> bool,
) -> Result<(), Refusal> {
    let c = &ch.chassis;
    if !c.system_id.starts_with(&format!("{t}.")) || c.system_id.contains(',') {
        return refuse(format!(
            "chassis {:?} is not the topology's",
            clip(&c.system_id)
        ));
    }
    if c.encap_type != "geneve" {
        return refuse(format!(
            "encapsulation {:?} is not Geneve",
            clip(&c.encap_type)
        ));
    }
    if !check_remote(&ch.remote) {
        return refuse(format!(
            "ovn-remote {:?} is not the topology's central",
            clip(&ch.remote)
        ));
    }
    if !matches!(ch.datapath.as_str(), "netdev" | "system") {
        return refuse(format!(
            "datapath {:?} is not one netloom uses",
            clip(&ch.datapath)
        ));
    }
    confine::own_device(t, &ch.bridge)?;
    for (net, bridge) in &c.bridge_mappings {
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

/// A real host's chassis reaches a central over the network: `ssl:` or
/// `tcp:` with an address, never a local socket.
pub fn confine(t: &TopologyName, ch: &OvnChassis) -> Result<(), Refusal> {
    confine_chassis(t, ch, |r| Remote::parse(r).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chassis() -> OvnChassis {
        OvnChassis {
            chassis: Chassis {
                system_id: "lab.node1".into(),
                encap_type: "geneve".into(),
                encap_ip: "10.0.0.11".parse().unwrap(),
                bridge_mappings: vec![("lab._ext.internet".into(), format!("nl{}x", tag()))],
            },
            remote: "ssl:10.0.0.1:6642".into(),
            bridge: names_int(),
            datapath: "system".into(),
        }
    }

    fn tag() -> String {
        netloom_core::names::topology_tag("lab")
    }

    fn names_int() -> String {
        netloom_core::names::ovn_bridge(&tag())
    }

    #[test]
    fn keys_read_back_as_the_chassis_they_configure() {
        let ch = chassis();
        assert_eq!(from_ids(&ovn_external_ids(&ch)), Some(ch));
    }

    #[test]
    fn only_the_topologys_chassis_on_a_remote_central() {
        let t = TopologyName::parse("lab").unwrap();
        assert!(confine(&t, &chassis()).is_ok());
        let bad: [fn(&mut OvnChassis); 9] = [
            |c| c.chassis.system_id = "other.node1".into(),
            |c| c.chassis.system_id = "lab.node1,x".into(),
            |c| c.chassis.encap_type = "vxlan".into(),
            |c| c.remote = "unix:/var/run/openvswitch/db.sock".into(),
            |c| c.remote = "ssl:10.0.0.1".into(),
            |c| c.bridge = "br-int".into(),
            |c| c.datapath = "dummy".into(),
            |c| c.chassis.bridge_mappings[0].0 = "physnet1".into(),
            |c| c.chassis.bridge_mappings[0].1 = "br-ex".into(),
        ];
        for (i, f) in bad.iter().enumerate() {
            let mut c = chassis();
            f(&mut c);
            assert!(confine(&t, &c).is_err(), "{i}: {c:?}");
        }
    }
}
