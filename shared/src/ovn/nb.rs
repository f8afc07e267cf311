//! The northbound database: the rows a [`Logical`] network needs, the rows
//! netloom finds there, and the one transaction between the two.
//!
//! Every row netloom writes carries `external_ids:netloom-topology=<name>`
//! ([`super::MARK`]): [`select_ops`] reads only those, and every update,
//! mutation and delete of [`transaction`] names the row by its UUID *and*
//! the mark, so a row that is not this topology's is never touched, even one
//! with the same name. Rows are matched by name; NAT rows and static routes
//! have none, so they carry `external_ids:netloom-key` instead ([`KEY`]).
//!
//! Values are OVSDB's JSON wire forms (RFC 7047: `["set", [...]]`,
//! `["map", [[k, v], ...]]`, `["uuid", ...]`, `["named-uuid", ...]`) of the
//! OVN 23.03 schema (`/usr/share/ovn/ovn-nb.ovsschema`), kept in the
//! canonical form of [`canon`] so that equal data compares equal.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::{json, Map, Value};

use super::logical::{Logical, PortKind, Router, Switch};
use super::MARK;

/// The database every operation is for: `["OVN_Northbound", ops...]` are
/// the `transact` method's params.
pub const DB: &str = "OVN_Northbound";

/// The `external_ids` key that identifies a row without a name (NAT, static route).
pub const KEY: &str = "netloom-key";

/// The northbound tables netloom writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    LogicalSwitchPort,
    LogicalRouterPort,
    StaticRoute,
    Nat,
    LoadBalancer,
    LogicalSwitch,
    LogicalRouter,
}

impl Table {
    /// Every table, rows that others refer to before the rows referring to
    /// them, so that an insert only names rows inserted before it.
    pub const ALL: [Table; 7] = [
        Table::LogicalSwitchPort,
        Table::LogicalRouterPort,
        Table::StaticRoute,
        Table::Nat,
        Table::LoadBalancer,
        Table::LogicalSwitch,
        Table::LogicalRouter,
    ];

    /// The table's name in the schema.
    pub fn name(self) -> &'static str {
        match self {
            Table::LogicalSwitchPort => "Logical_Switch_Port",
            Table::LogicalRouterPort => "Logical_Router_Port",
            Table::StaticRoute => "Logical_Router_Static_Route",
            Table::Nat => "NAT",
            Table::LoadBalancer => "Load_Balancer",
            Table::LogicalSwitch => "Logical_Switch",
            Table::LogicalRouter => "Logical_Router",
        }
    }

    /// A root table's rows live until deleted; the others' only while a
    /// parent refers to them (the schema's `isRoot`), so they go by being
    /// removed from their parent.
    pub fn is_root(self) -> bool {
        matches!(
            self,
            Table::LogicalSwitch | Table::LogicalRouter | Table::LoadBalancer
        )
    }

    /// Rows identified by their `name` column (the others by [`KEY`]).
    fn named(self) -> bool {
        !matches!(self, Table::StaticRoute | Table::Nat)
    }

    /// The table and column whose rows refer to this table's rows.
    pub fn parent(self) -> Option<(Table, &'static str)> {
        match self {
            Table::LogicalSwitchPort => Some((Table::LogicalSwitch, "ports")),
            Table::LogicalRouterPort => Some((Table::LogicalRouter, "ports")),
            Table::StaticRoute => Some((Table::LogicalRouter, "static_routes")),
            Table::Nat => Some((Table::LogicalRouter, "nat")),
            Table::LoadBalancer => Some((Table::LogicalRouter, "load_balancer")),
            Table::LogicalSwitch | Table::LogicalRouter => None,
        }
    }

    /// This table's columns that refer to rows of another table.
    fn children(self) -> impl Iterator<Item = (Table, &'static str)> {
        Table::ALL
            .into_iter()
            .filter_map(move |t| match t.parent() {
                Some((p, col)) if p == self => Some((t, col)),
                _ => None,
            })
    }
}

/// One desired row.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub table: Table,
    /// Its name, or its [`KEY`] for a table without names.
    pub key: String,
    /// The columns netloom sets, canonical; reference columns excepted
    /// (they follow from `parent`).
    pub columns: BTreeMap<String, Value>,
    /// The key of the row of [`Table::parent`] that refers to this one.
    pub parent: Option<String>,
}

/// The desired northbound content of a topology: its rows, parents after
/// their children within each table's order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Nb {
    pub rows: Vec<Row>,
}

/// A row netloom found (marked as the topology's).
#[derive(Debug, Clone, PartialEq)]
pub struct ObservedRow {
    pub table: Table,
    pub uuid: String,
    /// Its name, or its [`KEY`].
    pub key: String,
    /// Every column the select returned but `_uuid` and `_version`, canonical.
    pub columns: BTreeMap<String, Value>,
}

/// The rows of a topology found in the northbound database.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observed {
    pub rows: Vec<ObservedRow>,
}

/// `["map", [[k, v], ...]]`
fn map<'a>(pairs: impl IntoIterator<Item = (&'a str, String)>) -> Value {
    let pairs: Vec<Value> = pairs.into_iter().map(|(k, v)| json!([k, v])).collect();
    canon(&json!(["map", pairs]))
}

/// `["set", [...]]` of strings, canonical.
fn set(items: impl IntoIterator<Item = String>) -> Value {
    let items: Vec<Value> = items.into_iter().map(Value::String).collect();
    canon(&json!(["set", items]))
}

/// The canonical form of an OVSDB datum, as `select` returns it: a set's
/// members sorted and deduplicated, a set of one written as its member; a
/// map's pairs sorted by key. Anything else is itself.
pub fn canon(v: &Value) -> Value {
    let Some([tag, inner]) = v.as_array().map(Vec::as_slice) else {
        return v.clone();
    };
    let mut items = inner.as_array().cloned().unwrap_or_default();
    items.sort_by_key(Value::to_string);
    items.dedup();
    match tag.as_str() {
        Some("set") if items.len() == 1 => items.remove(0),
        Some("set") => json!(["set", items]),
        Some("map") => json!(["map", items]),
        _ => v.clone(),
    }
}

/// `external_ids` of a row: the mark, and the key of a row without a name.
fn ids(topology: &str, key: Option<&str>) -> Value {
    let mut pairs = vec![(MARK, topology.to_string())];
    pairs.extend(key.map(|k| (KEY, k.to_string())));
    map(pairs)
}

/// Rows in order, each (table, key) once.
#[derive(Default)]
struct Rows {
    rows: Vec<Row>,
    seen: HashSet<(Table, String)>,
}

impl Rows {
    fn push(&mut self, table: Table, key: String, cols: Vec<(&str, Value)>, parent: Option<&str>) {
        if self.seen.insert((table, key.clone())) {
            self.rows.push(Row {
                table,
                key,
                columns: cols.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
                parent: parent.map(str::to_string),
            });
        }
    }
}

/// The rows a logical network needs.
pub fn desired(l: &Logical) -> Nb {
    let mut rows = Rows::default();
    for sw in &l.switches {
        switch_rows(&mut rows, &l.topology, sw);
    }
    for r in &l.routers {
        router_rows(&mut rows, &l.topology, r);
    }
    Nb { rows: rows.rows }
}

fn switch_rows(rows: &mut Rows, topology: &str, sw: &Switch) {
    let marked = ids(topology, None);
    rows.push(
        Table::LogicalSwitch,
        sw.name.clone(),
        vec![("name", json!(sw.name)), ("external_ids", marked.clone())],
        None,
    );
    for p in &sw.ports {
        let options = match &p.kind {
            PortKind::Vif { chassis, .. } => map([("requested-chassis", chassis.clone())]),
            PortKind::Router { router_port } => map([("router-port", router_port.clone())]),
            PortKind::Localnet { network_name, .. } => {
                map([("network_name", network_name.clone())])
            }
        };
        rows.push(
            Table::LogicalSwitchPort,
            p.name.clone(),
            vec![
                ("name", json!(p.name)),
                ("type", json!(p.kind.ovn_type())),
                ("addresses", set(p.addresses.iter().cloned())),
                ("options", options),
                ("external_ids", marked.clone()),
            ],
            Some(&sw.name),
        );
    }
}

fn router_rows(rows: &mut Rows, topology: &str, r: &Router) {
    let marked = ids(topology, None);
    rows.push(
        Table::LogicalRouter,
        r.name.clone(),
        vec![
            ("name", json!(r.name)),
            ("options", map([("chassis", r.chassis.clone())])),
            ("external_ids", marked.clone()),
        ],
        None,
    );
    for p in &r.ports {
        rows.push(
            Table::LogicalRouterPort,
            p.name.clone(),
            vec![
                ("name", json!(p.name)),
                ("mac", json!(p.mac.to_string())),
                ("networks", set([p.network.to_string()])),
                ("external_ids", marked.clone()),
            ],
            Some(&r.name),
        );
    }
    for s in &r.routes {
        let key = format!("{}.route.{}.{}", r.name, s.prefix, s.nexthop);
        let cols = vec![
            ("ip_prefix", json!(s.prefix.to_string())),
            ("nexthop", json!(s.nexthop.to_string())),
            ("external_ids", ids(topology, Some(&key))),
        ];
        rows.push(Table::StaticRoute, key, cols, Some(&r.name));
    }
    for s in &r.snat {
        let key = format!("{}.snat.{}.{}", r.name, s.source, s.external_ip);
        let cols = vec![
            ("type", json!("snat")),
            ("logical_ip", json!(s.source.to_string())),
            ("external_ip", json!(s.external_ip.to_string())),
            ("external_ids", ids(topology, Some(&key))),
        ];
        rows.push(Table::Nat, key, cols, Some(&r.name));
    }
    for lb in &r.load_balancers {
        let vips = map(lb.vips.iter().map(|(k, v)| (k.as_str(), v.clone())));
        let cols = vec![
            ("name", json!(lb.name)),
            ("protocol", json!(lb.protocol.to_string())),
            ("vips", vips),
            ("external_ids", marked.clone()),
        ];
        rows.push(Table::LoadBalancer, lb.name.clone(), cols, Some(&r.name));
    }
}

/// Operations that fail their transaction (a `wait` that times out at
/// once) when the central holds a logical switch or router of `topology`
/// already: put first, they make a transaction from nothing happen once,
/// however many times it is sent (the shell export's, from each host).
pub fn none_yet(topology: &str) -> Vec<Value> {
    [Table::LogicalSwitch, Table::LogicalRouter]
        .map(|t| {
            json!({"op": "wait", "table": t.name(), "where": [mark_condition(topology)],
                "columns": ["name"], "until": "==", "rows": [], "timeout": 0})
        })
        .to_vec()
}

/// `external_ids` holds the mark: the condition of every read and write.
fn mark_condition(topology: &str) -> Value {
    json!(["external_ids", "includes", ["map", [[MARK, topology]]]])
}

/// The row with this UUID, if it is still the topology's.
fn row_condition(topology: &str, uuid: &str) -> Value {
    json!([["_uuid", "==", ["uuid", uuid]], mark_condition(topology)])
}

/// The operations reading a topology's rows: one `select` per table of
/// [`Table::ALL`], in that order; [`observed`] reads their results.
pub fn select_ops(topology: &str) -> Vec<Value> {
    Table::ALL
        .iter()
        .map(|t| json!({"op": "select", "table": t.name(), "where": [mark_condition(topology)]}))
        .collect()
}

/// The rows found by [`select_ops`]: `results` is the `result` array of
/// their `transact` (one `{"rows": [...]}` per table).
pub fn observed(results: &Value) -> Result<Observed, String> {
    let results = results
        .as_array()
        .ok_or("the select results are not an array")?;
    if results.len() != Table::ALL.len() {
        return Err(format!(
            "{} select results for {} tables",
            results.len(),
            Table::ALL.len()
        ));
    }
    let mut out = Observed::default();
    for (table, result) in Table::ALL.into_iter().zip(results) {
        let rows = result["rows"]
            .as_array()
            .ok_or_else(|| format!("{}: no rows in {result}", table.name()))?;
        for row in rows {
            out.rows.push(observed_row(table, row)?);
        }
    }
    Ok(out)
}

fn observed_row(table: Table, row: &Value) -> Result<ObservedRow, String> {
    let obj = row
        .as_object()
        .ok_or_else(|| format!("{}: a row is not an object", table.name()))?;
    let uuid = match obj
        .get("_uuid")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
    {
        Some([tag, Value::String(u)]) if tag == "uuid" => u.clone(),
        _ => return Err(format!("{}: a row has no _uuid", table.name())),
    };
    let columns: BTreeMap<String, Value> = obj
        .iter()
        .filter(|(k, _)| !k.starts_with('_'))
        .map(|(k, v)| (k.clone(), canon(v)))
        .collect();
    let key = if table.named() {
        columns
            .get("name")
            .and_then(Value::as_str)
            .map(str::to_string)
    } else {
        map_get(columns.get("external_ids"), KEY)
    };
    let key = key.ok_or_else(|| format!("{} {uuid}: no name or {KEY}", table.name()))?;
    Ok(ObservedRow {
        table,
        uuid,
        key,
        columns,
    })
}

/// The value of `key` in an OVSDB map.
fn map_get(datum: Option<&Value>, key: &str) -> Option<String> {
    let pairs = datum?.get(1)?.as_array()?;
    pairs
        .iter()
        .find_map(|p| match p.as_array().map(Vec::as_slice) {
            Some([Value::String(k), Value::String(v)]) if k == key => Some(v.clone()),
            _ => None,
        })
}

/// The UUIDs in a reference column's datum.
fn uuids(datum: Option<&Value>) -> Vec<String> {
    fn one(v: &Value) -> Option<String> {
        match v.as_array().map(Vec::as_slice) {
            Some([tag, Value::String(u)]) if tag == "uuid" => Some(u.clone()),
            _ => None,
        }
    }
    match datum {
        Some(v) if v.get(0).and_then(Value::as_str) == Some("set") => v[1]
            .as_array()
            .map(|xs| xs.iter().filter_map(one).collect())
            .unwrap_or_default(),
        Some(v) => one(v).into_iter().collect(),
        None => Vec::new(),
    }
}

/// The operations of one `transact` that turn `observed` into `desired`:
/// empty when they are equal. Rows missing are inserted (children first,
/// each parent naming its children), changed columns updated, children
/// added to or removed from their parent's reference column, and root rows
/// no longer wanted deleted (their children go with them). A non-empty
/// transaction ends by incrementing `NB_Global.nb_cfg`, so the caller can
/// wait for each chassis to report it. Destroy is the transaction
/// to an empty [`Nb`].
pub fn transaction(topology: &str, desired: &Nb, observed: &Observed) -> Vec<Value> {
    let mut found: HashMap<(Table, &str), &ObservedRow> = HashMap::new();
    for o in &observed.rows {
        found.entry((o.table, o.key.as_str())).or_insert(o);
    }
    let existing = |r: &Row| found.get(&(r.table, r.key.as_str())).copied();
    let refs: Vec<Value> = (desired.rows.iter().enumerate())
        .map(|(i, r)| match existing(r) {
            Some(o) => json!(["uuid", o.uuid]),
            None => json!(["named-uuid", format!("row{i}")]),
        })
        .collect();
    let mut children: HashMap<(Table, &str), Vec<usize>> = HashMap::new();
    for (i, r) in desired.rows.iter().enumerate() {
        if let (Some(p), Some((pt, _))) = (&r.parent, r.table.parent()) {
            children.entry((pt, p.as_str())).or_default().push(i);
        }
    }
    let ours: HashSet<&str> = observed.rows.iter().map(|o| o.uuid.as_str()).collect();
    let mut ops = Vec::new();
    for table in Table::ALL {
        for (i, r) in desired
            .rows
            .iter()
            .enumerate()
            .filter(|(_, r)| r.table == table)
        {
            let kids: Vec<(&str, Vec<Value>)> = (table.children())
                .map(|(child, col)| {
                    let idx = children.get(&(r.table, r.key.as_str()));
                    let idx = idx.map(Vec::as_slice).unwrap_or_default();
                    let refs = (idx.iter())
                        .filter(|&&j| desired.rows[j].table == child)
                        .map(|&j| refs[j].clone())
                        .collect();
                    (col, refs)
                })
                .collect();
            ops.extend(row_ops(topology, i, r, existing(r), &kids, &ours));
        }
    }
    let kept: HashSet<&str> = desired
        .rows
        .iter()
        .filter_map(existing)
        .map(|o| o.uuid.as_str())
        .collect();
    for o in observed
        .rows
        .iter()
        .filter(|o| o.table.is_root() && !kept.contains(o.uuid.as_str()))
    {
        ops.push(json!({"op": "delete", "table": o.table.name(),
            "where": row_condition(topology, &o.uuid)}));
    }
    if !ops.is_empty() {
        ops.push(bump());
    }
    ops
}

/// `NB_Global.nb_cfg += 1`: each chassis reports the number once it has
/// applied everything before it.
pub fn bump() -> Value {
    json!({"op": "mutate", "table": "NB_Global", "where": [],
        "mutations": [["nb_cfg", "+=", 1]]})
}

/// The operations for desired row `i`: its insert, naming its children
/// `kids` (reference column, references), or, if it exists as `found`, the
/// update of its changed columns and the mutations of its reference columns.
fn row_ops(
    topology: &str,
    i: usize,
    r: &Row,
    found: Option<&ObservedRow>,
    kids: &[(&str, Vec<Value>)],
    ours: &HashSet<&str>,
) -> Vec<Value> {
    let table = r.table.name();
    let Some(o) = found else {
        let mut row: Map<String, Value> = r.columns.clone().into_iter().collect();
        for (col, refs) in kids {
            row.insert(col.to_string(), json!(["set", refs]));
        }
        return vec![
            json!({"op": "insert", "table": table, "uuid-name": format!("row{i}"), "row": row}),
        ];
    };
    let mut ops = Vec::new();
    let changed: Map<String, Value> = (r.columns.iter())
        .filter(|(k, v)| o.columns.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if !changed.is_empty() {
        ops.push(json!({"op": "update", "table": table,
            "where": row_condition(topology, &o.uuid), "row": changed}));
    }
    let mutations: Vec<Value> = (kids.iter())
        .flat_map(|(col, refs)| reference_mutations(col, refs, o.columns.get(*col), ours))
        .collect();
    if !mutations.is_empty() {
        ops.push(json!({"op": "mutate", "table": table,
            "where": row_condition(topology, &o.uuid), "mutations": mutations}));
    }
    ops
}

/// The mutations of an existing parent's reference column `col`: the wanted
/// children it lacks inserted, and the topology's rows it holds but should
/// not removed. References to rows that are not the topology's stay.
fn reference_mutations(
    col: &str,
    wanted: &[Value],
    held: Option<&Value>,
    ours: &HashSet<&str>,
) -> Vec<Value> {
    let held = uuids(held);
    let wanted_uuids: HashSet<String> = uuids(Some(&json!(["set", wanted]))).into_iter().collect();
    let add: Vec<Value> = (wanted.iter())
        .filter(|w| uuids(Some(w)).first().is_none_or(|u| !held.contains(u)))
        .cloned()
        .collect();
    let remove: Vec<Value> = (held.iter())
        .filter(|u| ours.contains(u.as_str()) && !wanted_uuids.contains(*u))
        .map(|u| json!(["uuid", u]))
        .collect();
    let mut out = Vec::new();
    if !add.is_empty() {
        out.push(json!([col, "insert", ["set", add]]));
    }
    if !remove.is_empty() {
        out.push(json!([col, "delete", ["set", remove]]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canon_sorts_sets_and_maps_and_unwraps_singletons() {
        assert_eq!(
            canon(&json!(["set", ["b", "a", "b"]])),
            json!(["set", ["a", "b"]])
        );
        assert_eq!(canon(&json!(["set", ["a"]])), json!("a"));
        assert_eq!(canon(&json!(["set", []])), json!(["set", []]));
        assert_eq!(
            canon(&json!(["map", [["z", "1"], ["a", "2"]]])),
            json!(["map", [["a", "2"], ["z", "1"]]])
        );
        assert_eq!(canon(&json!(["uuid", "u1"])), json!(["uuid", "u1"]));
        assert_eq!(canon(&json!("x")), json!("x"));
    }

    #[test]
    fn uuids_of_a_single_reference_and_of_a_set() {
        assert_eq!(uuids(Some(&json!(["uuid", "a"]))), ["a"]);
        assert_eq!(
            uuids(Some(&json!(["set", [["uuid", "a"], ["uuid", "b"]]]))),
            ["a", "b"]
        );
        assert!(uuids(Some(&json!(["set", []]))).is_empty());
        assert!(uuids(None).is_empty());
    }

    #[test]
    fn a_parent_keeps_references_that_are_not_ours() {
        let ours: HashSet<&str> = ["mine-old"].into_iter().collect();
        let held = json!([
            "set",
            [["uuid", "foreign"], ["uuid", "mine-old"], ["uuid", "kept"]]
        ]);
        let wanted = [json!(["uuid", "kept"]), json!(["named-uuid", "row3"])];
        let m = reference_mutations("ports", &wanted, Some(&held), &ours);
        assert_eq!(
            m,
            [
                json!(["ports", "insert", ["set", [["named-uuid", "row3"]]]]),
                json!(["ports", "delete", ["set", [["uuid", "mine-old"]]]]),
            ]
        );
    }

    #[test]
    fn observed_rejects_results_of_another_shape() {
        assert!(observed(&json!({})).is_err());
        assert!(observed(&json!([{"rows": []}])).is_err());
        let no_uuid = json!([{"rows": [{"name": "x"}]}, {"rows": []}, {"rows": []}, {"rows": []},
            {"rows": []}, {"rows": []}, {"rows": []}]);
        assert!(observed(&no_uuid).unwrap_err().contains("_uuid"));
        let empty: Vec<Value> = (0..7).map(|_| json!({"rows": []})).collect();
        assert_eq!(observed(&Value::Array(empty)).unwrap(), Observed::default());
    }

    #[test]
    fn select_ops_read_only_marked_rows_of_every_table() {
        let ops = select_ops("lab");
        assert_eq!(ops.len(), Table::ALL.len());
        assert_eq!(
            ops[0],
            json!({"op": "select", "table": "Logical_Switch_Port",
                "where": [["external_ids", "includes", ["map", [["netloom-topology", "lab"]]]]]})
        );
    }
}
