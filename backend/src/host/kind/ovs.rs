//! Open vSwitch rows: bridges and their ports, marked as the topology's in
//! `external_ids`. They go in one OVSDB transaction per target (built here,
//! sent by [`crate::host::exec`]), since a new port goes into its new
//! bridge's row; both kinds live in this one module.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde_json::{json, Value};

use netloom_core::plan::{Action, OvsIface, Resource, Step, OVS_OWNER_KEY};

use crate::host::confine::{self, clip, refuse, Refusal, TopologyName};
use crate::host::ovsdb::{self, Ovsdb};
use crate::host::StepError;

/// OVS rows by name: their `_uuid` and whether they carry the topology's owner mark.
pub type Rows = BTreeMap<String, (Value, bool)>;

/// Defence in depth: the OVS row steps that would touch a row not marked
/// as `topology`'s, refused (see below).
fn refuse_foreign_rows(
    topology: &str,
    steps: &[&Step],
    bridges: &Rows,
    ports: &Rows,
) -> Result<(), StepError> {
    // Defence in depth: a row of the host's own (another topology's, or not netloom's)
    // is never removed or changed, whatever the plan says. A port on a bridge
    // of ours that goes away goes with it, marked or not (someone may have
    // added it by hand).
    let bridge_goes = |b: &str| {
        bridges.get(b).is_some_and(|(_, ours)| *ours)
            && steps.iter().any(|s| {
                s.action == Action::Delete
                    && matches!(&s.resource, Resource::OvsBridge { name, .. } if name == b)
            })
    };
    for s in steps {
        let (table, name) = match &s.resource {
            Resource::OvsBridge { name, .. } => (bridges, name),
            Resource::OvsPort { bridge, .. }
                if s.action == Action::Delete && bridge_goes(bridge) =>
            {
                continue
            }
            Resource::OvsPort { name, .. } => (ports, name),
            _ => continue,
        };
        if table.get(name).is_some_and(|(_, ours)| !ours) {
            return Err(StepError::Io(std::io::Error::other(format!(
                "refused: OVS row {name} is not marked as topology {topology}'s"
            ))));
        }
    }
    // Ports go only on the topology's own bridges: marked, or made in this transaction.
    for s in steps {
        if let (Action::Create, Resource::OvsPort { bridge, name, .. }) = (s.action, &s.resource) {
            let made_now = steps.iter().any(|b| {
                b.action == Action::Create
                    && matches!(&b.resource, Resource::OvsBridge { name, .. } if name == bridge)
            });
            if !made_now && !bridges.get(bridge).is_some_and(|(_, ours)| *ours) {
                return Err(StepError::Io(std::io::Error::other(format!(
                    "refused: port {name} would go on bridge {bridge}, which is not marked as topology {topology}'s"
                ))));
            }
        }
    }
    Ok(())
}

/// The OVSDB operations that carry out `steps` on a database holding
/// `bridges` and `ports` (pure: the transaction around them is the caller's);
/// refuses a step on a row of someone else's.
pub fn ops(
    topology: &str,
    steps: &[&Step],
    bridges: &Rows,
    ports: &Rows,
) -> Result<Vec<Value>, StepError> {
    refuse_foreign_rows(topology, steps, bridges, ports)?;
    let mut t = Txn::new(topology);
    // A bridge to create that is already there as ours (made with its host's
    // daemons) is taken as it is: it only gets its ports.
    let made = |name: &str| bridges.get(name).is_some_and(|(_, ours)| *ours);
    let (mut new_bridges, deleted_bridges) = bridge_changes(steps, made);
    let mut port_inserts: Vec<(String, Value)> = Vec::new();
    for s in steps {
        match (s.action, &s.resource) {
            (Action::Delete, Resource::OvsBridge { name, .. }) => {
                if let Some((u, _)) = bridges.get(name) {
                    t.mutate("Open_vSwitch", json!([]), "bridges", "delete", u);
                }
            }
            (Action::Delete, Resource::OvsPort { bridge, name, .. }) => {
                if deleted_bridges.contains(bridge) {
                    continue;
                }
                if let Some((u, _)) = ports.get(name) {
                    t.mutate("Bridge", named(bridge), "ports", "delete", u);
                }
            }
            (Action::Update, Resource::OvsBridge { name, datapath }) => {
                t.update("Bridge", name, json!({"datapath_type": datapath}));
            }
            (
                Action::Update,
                Resource::OvsPort {
                    name, tag, iface, ..
                },
            ) => {
                let tag = tag.map_or(json!(["set", []]), |t| json!(t));
                t.update("Port", name, json!({"tag": tag}));
                t.update("Interface", name, iface_row(iface));
            }
            (
                Action::Create,
                Resource::OvsPort {
                    bridge,
                    name,
                    tag,
                    iface,
                },
            ) => port_inserts.push((bridge.clone(), t.insert_port(name, *tag, iface))),
            _ => {}
        }
    }
    for (bridge, pu) in &port_inserts {
        match new_bridges.get_mut(bridge) {
            Some(v) => v.push(pu.clone()),
            None => t.mutate("Bridge", named(bridge), "ports", "insert", pu),
        }
    }
    for s in steps {
        if let (Action::Create, Resource::OvsBridge { name, datapath }) = (s.action, &s.resource) {
            if made(name) {
                t.update("Bridge", name, json!({"datapath_type": datapath}));
            } else {
                let ports = new_bridges.remove(name).unwrap_or_default();
                t.insert_bridge(name, datapath, ports);
            }
        }
    }
    Ok(t.ops)
}

/// The bridges `steps` create that are not `made` yet, each with no port
/// so far, and the names of those they delete.
fn bridge_changes(
    steps: &[&Step],
    made: impl Fn(&str) -> bool,
) -> (BTreeMap<String, Vec<Value>>, Vec<String>) {
    let mut new_bridges = BTreeMap::new();
    let mut deleted = Vec::new();
    for s in steps {
        match (s.action, &s.resource) {
            (Action::Create, Resource::OvsBridge { name, .. }) if !made(name) => {
                new_bridges.insert(name.clone(), Vec::new());
            }
            (Action::Delete, Resource::OvsBridge { name, .. }) => deleted.push(name.clone()),
            _ => {}
        }
    }
    (new_bridges, deleted)
}

/// `where` of the row named `name`.
fn named(name: &str) -> Value {
    json!([["name", "==", name]])
}

/// An interface's type and options.
fn iface_row(iface: &OvsIface) -> Value {
    let mut row = json!({"type": iface.ovs_type(), "options": ovsdb::map(iface.options())});
    if let OvsIface::Vif { .. } = iface {
        row["external_ids"] = ovsdb::map(iface.external_ids());
    }
    row
}

/// An OVSDB transaction being built: its operations, the rows it inserts
/// named `row1`, `row2`, ... in order.
struct Txn {
    ops: Vec<Value>,
    inserted: usize,
    /// `external_ids` of the rows netloom makes: the topology's mark.
    owner: Value,
}

impl Txn {
    fn new(topology: &str) -> Txn {
        Txn {
            ops: Vec::new(),
            inserted: 0,
            owner: ovsdb::map([(OVS_OWNER_KEY, topology)]),
        }
    }

    /// Insert `row` into `table`; its `["named-uuid", ...]`.
    fn insert(&mut self, table: &str, row: Value) -> Value {
        self.inserted += 1;
        let name = format!("row{}", self.inserted);
        self.ops
            .push(json!({"op": "insert", "table": table, "uuid-name": name, "row": row}));
        json!(["named-uuid", name])
    }

    fn update(&mut self, table: &str, name: &str, row: Value) {
        self.ops
            .push(json!({"op": "update", "table": table, "where": named(name), "row": row}));
    }

    /// Insert `uuid` into, or delete it from, set `column` of the rows `wher`.
    fn mutate(&mut self, table: &str, wher: Value, column: &str, verb: &str, uuid: &Value) {
        self.ops
            .push(json!({"op": "mutate", "table": table, "where": wher,
            "mutations": [[column, verb, ["set", [uuid]]]]}));
    }

    /// A port with its interface, marked as the topology's; its uuid.
    fn insert_port(&mut self, name: &str, tag: Option<u16>, iface: &OvsIface) -> Value {
        let mut row = iface_row(iface);
        row["name"] = json!(name);
        let iu = self.insert("Interface", row);
        let mut row = json!({"name": name, "interfaces": iu, "external_ids": self.owner});
        if let Some(t) = tag {
            row["tag"] = json!(t);
        }
        self.insert("Port", row)
    }

    /// A bridge with its internal port and `ports`, marked as the topology's.
    fn insert_bridge(&mut self, name: &str, datapath: &str, ports: Vec<Value>) {
        let iu = self.insert("Interface", json!({"name": name, "type": "internal"}));
        let pu = self.insert(
            "Port",
            json!({"name": name, "interfaces": iu, "external_ids": self.owner}),
        );
        let mut all = vec![pu];
        all.extend(ports);
        let bu = self.insert(
            "Bridge",
            json!({"name": name, "datapath_type": datapath, "ports": ["set", all], "external_ids": self.owner}),
        );
        self.mutate("Open_vSwitch", json!([]), "bridges", "insert", &bu);
    }
}

/// The bridges and ports marked as this topology's in one OVSDB.
pub fn observe(db: &mut Ovsdb, topology: &str) -> Vec<Resource> {
    let (Ok(bridges), Ok(ports), Ok(ifaces)) = (
        db.select(
            "Bridge",
            &["name", "datapath_type", "external_ids", "ports"],
        ),
        db.select("Port", &["name", "tag", "interfaces", "external_ids"]),
        db.select("Interface", &["name", "type", "options", "external_ids"]),
    ) else {
        return Vec::new();
    };
    let uuid = |r: &Value| r["_uuid"][1].as_str().unwrap_or_default().to_string();
    let port_by_uuid: BTreeMap<String, &Value> = ports.iter().map(|p| (uuid(p), p)).collect();
    let iface_by_uuid: BTreeMap<String, &Value> = ifaces.iter().map(|i| (uuid(i), i)).collect();
    let mut out = Vec::new();
    for b in &bridges {
        let owned = ovsdb::read_map(&b["external_ids"])
            .iter()
            .any(|(k, v)| k == OVS_OWNER_KEY && v == topology);
        if !owned {
            continue;
        }
        let bname = b["name"].as_str().unwrap_or_default().to_string();
        out.push(Resource::OvsBridge {
            name: bname.clone(),
            datapath: b["datapath_type"].as_str().unwrap_or_default().to_string(),
        });
        for pu in ovsdb::read_uuids(&b["ports"]) {
            let Some(p) = port_by_uuid.get(&pu) else {
                continue;
            };
            let pname = p["name"].as_str().unwrap_or_default().to_string();
            if pname == bname || ovn_controllers(p) {
                continue;
            }
            let iface = ovsdb::read_uuids(&p["interfaces"])
                .first()
                .and_then(|u| iface_by_uuid.get(u).copied())
                .map_or(OvsIface::System, iface_of);
            let tag = ovsdb::read_opt_int(&p["tag"]).and_then(|t| u16::try_from(t).ok());
            out.push(Resource::OvsPort {
                bridge: bname.clone(),
                name: pname,
                tag,
                iface,
            });
        }
    }
    out
}

/// What an `Interface` row is.
fn iface_of(i: &Value) -> OvsIface {
    let opts = ovsdb::read_map(&i["options"]);
    let opt = |k: &str| opts.iter().find(|(ok, _)| ok == k).map(|(_, v)| v.clone());
    let remote: Ipv4Addr = opt("remote_ip")
        .and_then(|r| r.parse().ok())
        .unwrap_or(Ipv4Addr::UNSPECIFIED);
    let iface_id = ovsdb::read_map(&i["external_ids"])
        .into_iter()
        .find(|(k, _)| k == "iface-id")
        .map(|(_, v)| v);
    match i["type"].as_str().unwrap_or_default() {
        "gre" => OvsIface::Gre {
            remote_ip: remote,
            key: opt("key").and_then(|k| k.parse().ok()),
        },
        "vxlan" => OvsIface::Vxlan {
            remote_ip: remote,
            vni: opt("key").and_then(|k| k.parse().ok()).unwrap_or(0),
        },
        "internal" => OvsIface::Internal,
        _ => match iface_id {
            Some(iface_id) => OvsIface::Vif { iface_id },
            None => OvsIface::System,
        },
    }
}

/// A port `ovn-controller` made on a bridge of netloom's (a Geneve tunnel
/// to another chassis, a patch port to a provider bridge): its marks
/// (`ovn-chassis-id`, `ovn-localnet-port`, ...) say so. It is OVN's to
/// keep or remove, not the plan's.
fn ovn_controllers(port: &Value) -> bool {
    ovsdb::read_map(&port["external_ids"])
        .iter()
        .any(|(k, _)| k.starts_with("ovn-"))
}

pub fn confine_bridge(t: &TopologyName, name: &str, datapath: &str) -> Result<(), Refusal> {
    confine::own_device(t, name)?;
    match datapath {
        "netdev" | "system" => Ok(()),
        d => refuse(format!("datapath {:?} is not netdev or system", clip(d))),
    }
}

pub fn confine_port(
    t: &TopologyName,
    bridge: &str,
    name: &str,
    tag: Option<u16>,
    iface: &OvsIface,
) -> Result<(), Refusal> {
    confine::own_device(t, bridge)?;
    confine::own_device(t, name)?;
    // A VIF binds a logical port of the topology's own OVN: one of its guests'.
    if let OvsIface::Vif { iface_id } = iface {
        if !iface_id.starts_with(&format!("{t}.")) {
            return refuse(format!(
                "iface-id {:?} is not one of the topology's",
                clip(iface_id)
            ));
        }
    }
    match tag {
        Some(v) if !(1..=4094).contains(&v) => refuse(format!("VLAN {v} is outside 1..4094")),
        _ => Ok(()),
    }
}
