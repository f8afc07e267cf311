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

/// Reads of the row before giving up: another writer between a read and
/// its write (another topology's apply, `ovn-controller` writing its own
/// keys, such as `ovn-nb-cfg`, into the same column) makes one start again.
const TRIES: usize = 20;

/// Keys to remove, then keys to insert, into the row's `external_ids`.
type Rewrite = (Vec<String>, Vec<(String, String)>);

/// One transaction on the row `uuid`, only while its `external_ids` are
/// still `seen`: remove the keys of `rw`, then insert its pairs; the other
/// keys stay as they are. False when they changed meanwhile: nothing written.
fn rewrite(
    db: &mut Ovsdb,
    uuid: &Value,
    seen: &[(String, String)],
    (drop, add): Rewrite,
) -> Result<bool, OvsdbError> {
    let at = json!([["_uuid", "==", uuid]]);
    let written = db.transact(vec![
        json!({"op": "wait", "table": "Open_vSwitch", "where": at, "timeout": 0,
            "columns": ["external_ids"], "until": "==",
            "rows": [{"external_ids": ovsdb::map(seen.iter().cloned())}]}),
        json!({"op": "mutate", "table": "Open_vSwitch", "where": at,
            "mutations": [["external_ids", "delete", ["set", drop]]]}),
        json!({"op": "mutate", "table": "Open_vSwitch", "where": at,
            "mutations": [["external_ids", "insert", ovsdb::map(add)]]}),
    ]);
    match written {
        Ok(_) => Ok(true),
        Err(OvsdbError::Failed(e)) if e.starts_with("timed out") => Ok(false),
        Err(e) => Err(e),
    }
}

/// Read the row's keys, decide from them what to rewrite (`None`: nothing),
/// and write it unless the keys changed meanwhile; then read again. Two
/// topologies' applies on one host cannot both find it free.
fn update(
    db: &mut Ovsdb,
    decide: impl Fn(&[(String, String)]) -> Result<Option<Rewrite>, StepError>,
) -> Result<(), StepError> {
    for _ in 0..TRIES {
        let (uuid, ids) = row(db)?;
        let Some(rw) = decide(&ids)? else {
            return Ok(());
        };
        if rewrite(db, &uuid, &ids, rw)? {
            return Ok(());
        }
    }
    Err(StepError::Io(std::io::Error::other(format!(
        "the Open_vSwitch row's external_ids changed under each of {TRIES} tries: try again"
    ))))
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
    update(&mut Ovsdb::connect(ovsdb)?, |ids| {
        let ours = get(ids, OVN_CHASSIS_MARK) == Some(topology);
        if let (false, Some(remote)) = (ours, get(ids, "ovn-remote")) {
            return Err(StepError::Io(std::io::Error::other(format!(
                "this host is already a chassis of another OVN central (ovn-remote {remote}): netloom leaves it alone"
            ))));
        }
        let keys = chassis_keys();
        let mut add = ovn_external_ids(ch);
        add.push((OVN_CHASSIS_MARK.into(), topology.into()));
        if !ours {
            // The host's own values, unless kept aside already (a first apply that failed half-way).
            let kept = |k: &str| get(ids, &format!("{WAS}{k}")).is_some();
            add.extend(
                (ids.iter())
                    .filter(|(k, _)| keys.contains(k) && !kept(k))
                    .map(|(k, v)| (format!("{WAS}{k}"), v.clone())),
            );
        }
        // Every key netloom may have set before, so a mapping that went goes too.
        Ok(Some((keys, add)))
    })
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
    update(&mut Ovsdb::connect(ovsdb)?, |ids| {
        if get(ids, OVN_CHASSIS_MARK) != Some(topology) {
            return Ok(None);
        }
        let mut drop = chassis_keys();
        let mut add = Vec::new();
        for (k, v) in ids {
            if let Some(was) = k.strip_prefix(WAS) {
                drop.push(k.clone());
                add.push((was.to_string(), v.clone()));
            }
        }
        Ok(Some((drop, add)))
    })
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

    /// An `ovsdb-server` of Open vSwitch's schema on a socket of its own
    /// directory, holding the `Open_vSwitch` row with the host's own
    /// `system-id`; killed when dropped, even when the test fails.
    struct Switch {
        child: std::process::Child,
        dir: std::path::PathBuf,
    }

    impl Drop for Switch {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    impl Switch {
        fn start(name: &str) -> Option<Switch> {
            let schema = std::fs::read_to_string("/usr/share/openvswitch/vswitch.ovsschema");
            let (Ok(schema), Ok(_)) = (
                schema,
                std::process::Command::new("ovsdb-server")
                    .arg("--version")
                    .output(),
            ) else {
                eprintln!("SKIPPED {name}: needs Open vSwitch (ovsdb-server, its schema)");
                return None;
            };
            let dir = std::env::temp_dir().join(format!("netloom-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            let db = dir.join("conf.db");
            std::fs::write(&db, crate::host::procs::new_database(&schema).unwrap()).unwrap();
            let child = std::process::Command::new("ovsdb-server")
                .arg(&db)
                .arg(format!("--remote=punix:{}", dir.join("db.sock").display()))
                .arg(format!("--unixctl={}", dir.join("ctl").display()))
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            let sw = Switch { child, dir };
            let t0 = std::time::Instant::now();
            let mut db = loop {
                match Ovsdb::connect(&sw.sock()) {
                    Ok(db) => break db,
                    Err(e) if t0.elapsed().as_secs() > 30 => panic!("{e}"),
                    Err(_) => std::thread::sleep(std::time::Duration::from_millis(20)),
                }
            };
            db.transact(vec![json!({"op": "insert", "table": "Open_vSwitch",
                "row": {"external_ids": ovsdb::map([("system-id", "host-own")])}})])
                .unwrap();
            Some(sw)
        }

        fn sock(&self) -> String {
            self.dir.join("db.sock").display().to_string()
        }

        fn ids(&self) -> Vec<(String, String)> {
            row(&mut Ovsdb::connect(&self.sock()).unwrap()).unwrap().1
        }
    }

    #[test]
    fn keys_changed_since_they_were_read_are_not_written_over() {
        let Some(sw) = Switch::start("chassis-stale") else {
            return;
        };
        let mut db = Ovsdb::connect(&sw.sock()).unwrap();
        let (uuid, seen) = row(&mut db).unwrap();
        // ovn-controller, say, writes a key of its own meanwhile.
        let at = json!([["_uuid", "==", uuid]]);
        Ovsdb::connect(&sw.sock())
            .unwrap()
            .transact(vec![
                json!({"op": "mutate", "table": "Open_vSwitch", "where": at,
                "mutations": [["external_ids", "insert", ovsdb::map([("ovn-nb-cfg", "1")])]]}),
            ])
            .unwrap();
        let rw = (
            vec!["system-id".to_string()],
            vec![("a".into(), "b".into())],
        );
        assert!(!rewrite(&mut db, &uuid, &seen, rw.clone()).unwrap());
        let now = sw.ids();
        assert_eq!(get(&now, "system-id"), Some("host-own"), "{now:?}");
        assert_eq!(get(&now, "a"), None);
        assert!(rewrite(&mut db, &uuid, &now, rw).unwrap());
        assert_eq!(
            sw.ids(),
            [("a".into(), "b".into()), ("ovn-nb-cfg".into(), "1".into())]
        );
    }

    /// Two topologies' applies take one host at once: one gets it, the
    /// other is told it is another central's; the host's own `system-id`
    /// comes back when the winner lets go.
    #[test]
    fn two_topologies_never_both_take_a_host() {
        let Some(sw) = Switch::start("chassis-race") else {
            return;
        };
        let of = |topology: &str| {
            let mut ch = chassis();
            ch.chassis.system_id = format!("{topology}.node1");
            ch.chassis.encap_ip = std::net::Ipv4Addr::LOCALHOST;
            ch
        };
        for round in 0..10 {
            let tries: Vec<(&str, Result<(), String>)> = std::thread::scope(|s| {
                let go = |t: &'static str| {
                    let (sock, ch) = (sw.sock(), of(t));
                    s.spawn(move || (t, create(t, &sock, &ch).map_err(|e| e.to_string())))
                };
                let both = [go("lab"), go("other")];
                both.map(|h| h.join().unwrap()).into()
            });
            let won: Vec<&str> = (tries.iter())
                .filter(|(_, r)| r.is_ok())
                .map(|(t, _)| *t)
                .collect();
            assert_eq!(won.len(), 1, "round {round}: {tries:?}");
            let lost = tries.iter().find(|(_, r)| r.is_err()).unwrap();
            assert!(
                lost.1.as_ref().unwrap_err().contains("already a chassis"),
                "{lost:?}"
            );
            assert_eq!(get(&sw.ids(), OVN_CHASSIS_MARK), Some(won[0]));
            delete(won[0], &sw.sock()).unwrap();
            assert_eq!(sw.ids(), [("system-id".into(), "host-own".into())]);
        }
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
