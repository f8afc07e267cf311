//! The OVN engine's northbound transaction, run against a small in-memory
//! OVSDB that follows RFC 7047 as far as these operations go (insert with
//! `uuid-name`, update, mutate, delete, `where` on `_uuid` and `includes`,
//! garbage collection of unreferenced rows of non-root tables, weak
//! references dropped with their row). For every example deployed with
//! `engine: ovn`: the transaction from nothing is pinned, applying it and
//! reading the rows back makes the next transaction empty, a change touches
//! only what changed, and destroy removes the topology's rows and nothing else.

mod support;

use std::collections::{BTreeMap, HashMap};

use netloom_core::ovn::{self, nb};
use netloom_core::spec::Engine;
use netloom_core::Topology;
use serde_json::{json, Map, Value};

fn example_text(file: &str) -> String {
    let path = format!("{}/../examples/{file}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap()
}

/// An example's topology, deployed with `engine: ovn`.
fn ovn_example(file: &str) -> Topology {
    ovn_lab(&example_text(file))
}

/// Each operation as `op table`.
fn kinds(ops: &[Value]) -> Vec<String> {
    (ops.iter())
        .map(|op| {
            format!(
                "{} {}",
                op["op"].as_str().unwrap(),
                op["table"].as_str().unwrap()
            )
        })
        .collect()
}

fn ovn_lab(text: &str) -> Topology {
    let mut spec = netloom_core::parse(text).unwrap();
    spec.engine = Some(Engine::Ovn);
    netloom_core::validate(&spec).unwrap().topology
}

/// The examples' file names, sorted.
fn examples() -> Vec<String> {
    support::examples().into_iter().map(|(n, _)| n).collect()
}

/// Tables whose rows live only while referenced (the schema's `isRoot: false`).
const NON_ROOT: [&str; 4] = [
    "Logical_Switch_Port",
    "Logical_Router_Port",
    "Logical_Router_Static_Route",
    "NAT",
];

/// An in-memory northbound database: table → uuid → columns (canonical).
#[derive(Debug, Clone, PartialEq)]
struct Db {
    tables: BTreeMap<String, BTreeMap<String, Map<String, Value>>>,
    next: u64,
}

/// The members of a set datum (a bare atom is a set of one).
fn members(v: Option<&Value>) -> Vec<Value> {
    match v {
        None => Vec::new(),
        Some(v) if v.get(0) == Some(&json!("set")) => v[1].as_array().unwrap().clone(),
        Some(v) => vec![v.clone()],
    }
}

impl Db {
    fn new() -> Self {
        let mut db = Db {
            tables: BTreeMap::new(),
            next: 0,
        };
        db.tables.entry("NB_Global".into()).or_default().insert(
            "nb-global".into(),
            json!({"nb_cfg": 0}).as_object().unwrap().clone(),
        );
        db
    }

    fn uuid(&mut self) -> String {
        self.next += 1;
        format!("00000000-0000-0000-0000-{:012}", self.next)
    }

    fn matching(&self, table: &str, conds: &Value) -> Vec<String> {
        let rows = self.tables.get(table).cloned().unwrap_or_default();
        rows.iter()
            .filter(|(u, row)| {
                conds.as_array().unwrap().iter().all(|c| {
                    let (col, f, val) = (c[0].as_str().unwrap(), c[1].as_str().unwrap(), &c[2]);
                    match (col, f) {
                        ("_uuid", "==") => val == &json!(["uuid", u]),
                        (_, "includes") => {
                            let have = row.get(col).map(|m| m[1].clone()).unwrap_or(json!([]));
                            let have = have.as_array().unwrap();
                            val[1].as_array().unwrap().iter().all(|p| have.contains(p))
                        }
                        other => panic!("condition {other:?} not modelled"),
                    }
                })
            })
            .map(|(u, _)| u.clone())
            .collect()
    }

    /// Apply one transaction's operations, as ovsdb-server would commit them.
    fn apply(&mut self, ops: &[Value]) {
        let mut named: HashMap<String, String> = HashMap::new();
        for op in ops.iter().filter(|op| op["op"] == "insert") {
            let id = self.uuid();
            named.insert(op["uuid-name"].as_str().unwrap().to_string(), id);
        }
        for op in ops {
            let op = resolve(op, &named);
            let table = op["table"].as_str().unwrap().to_string();
            match op["op"].as_str().unwrap() {
                "insert" => {
                    let id = named[op["uuid-name"].as_str().unwrap()].clone();
                    let row = canon_row(op["row"].as_object().unwrap());
                    self.tables.entry(table).or_default().insert(id, row);
                }
                "update" => {
                    for u in self.matching(&table, &op["where"]) {
                        let row = self.tables.get_mut(&table).unwrap().get_mut(&u).unwrap();
                        row.extend(canon_row(op["row"].as_object().unwrap()));
                    }
                }
                "mutate" => {
                    for u in self.matching(&table, &op["where"]) {
                        let row = self.tables.get_mut(&table).unwrap().get_mut(&u).unwrap();
                        for m in op["mutations"].as_array().unwrap() {
                            mutate(row, m);
                        }
                    }
                }
                "delete" => {
                    for u in self.matching(&table, &op["where"]) {
                        self.tables.get_mut(&table).unwrap().remove(&u);
                    }
                }
                other => panic!("operation {other} not modelled"),
            }
        }
        self.collect_garbage();
    }

    /// Drop references to rows that are gone, then unreferenced rows of
    /// non-root tables, until nothing changes.
    fn collect_garbage(&mut self) {
        loop {
            let live: Vec<String> = self
                .tables
                .values()
                .flat_map(|t| t.keys().cloned())
                .collect();
            for row in self.tables.values_mut().flat_map(|t| t.values_mut()) {
                for v in row.values_mut() {
                    let refs = members(Some(v));
                    if refs.iter().any(|r| r.get(0) == Some(&json!("uuid"))) {
                        let kept: Vec<Value> = refs
                            .into_iter()
                            .filter(|r| live.contains(&r[1].as_str().unwrap().to_string()))
                            .collect();
                        *v = nb::canon(&json!(["set", kept]));
                    }
                }
            }
            let text = serde_json::to_string(&self.tables).unwrap();
            let mut removed = false;
            for t in NON_ROOT {
                let rows = self.tables.entry(t.into()).or_default();
                let before = rows.len();
                rows.retain(|u, _| text.contains(&format!("[\"uuid\",\"{u}\"]")));
                removed |= rows.len() != before;
            }
            if !removed {
                return;
            }
        }
    }

    /// What [`nb::select_ops`] returns on this database.
    fn select(&self, topology: &str) -> Value {
        let results: Vec<Value> = nb::select_ops(topology)
            .iter()
            .map(|op| {
                let table = op["table"].as_str().unwrap();
                let rows: Vec<Value> = self
                    .matching(table, &op["where"])
                    .into_iter()
                    .map(|u| {
                        let mut row = self.tables[table][&u].clone();
                        row.insert("_uuid".into(), json!(["uuid", u]));
                        Value::Object(row)
                    })
                    .collect();
                json!({ "rows": rows })
            })
            .collect();
        Value::Array(results)
    }

    fn observed(&self, topology: &str) -> nb::Observed {
        nb::observed(&self.select(topology)).unwrap()
    }

    fn nb_cfg(&self) -> i64 {
        self.tables["NB_Global"]["nb-global"]["nb_cfg"]
            .as_i64()
            .unwrap()
    }
}

/// `["named-uuid", n]` replaced by the UUID its insert got.
fn resolve(v: &Value, named: &HashMap<String, String>) -> Value {
    match v {
        Value::Array(a) if a.len() == 2 && a[0] == "named-uuid" => {
            json!(["uuid", named[a[1].as_str().unwrap()]])
        }
        Value::Array(a) => Value::Array(a.iter().map(|x| resolve(x, named)).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| (k.clone(), resolve(x, named)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn canon_row(row: &Map<String, Value>) -> Map<String, Value> {
    row.iter().map(|(k, v)| (k.clone(), nb::canon(v))).collect()
}

fn mutate(row: &mut Map<String, Value>, m: &Value) {
    let (col, f, val) = (m[0].as_str().unwrap(), m[1].as_str().unwrap(), &m[2]);
    match f {
        "+=" => {
            let n = row[col].as_i64().unwrap() + val.as_i64().unwrap();
            row.insert(col.into(), json!(n));
        }
        "insert" | "delete" => {
            let mut set = members(row.get(col));
            let change = members(Some(val));
            if f == "insert" {
                set.extend(change);
            } else {
                set.retain(|x| !change.contains(x));
            }
            row.insert(col.into(), nb::canon(&json!(["set", set])));
        }
        other => panic!("mutator {other} not modelled"),
    }
}

/// The transaction that deploys `t` on `db`, applied.
fn deploy(db: &mut Db, t: &Topology) -> Vec<Value> {
    let want = nb::desired(&ovn::logical(t));
    let ops = nb::transaction(&t.name, &want, &db.observed(&t.name));
    db.apply(&ops);
    ops
}

fn destroy(db: &mut Db, topology: &str) -> Vec<Value> {
    let ops = nb::transaction(topology, &nb::Nb::default(), &db.observed(topology));
    db.apply(&ops);
    ops
}

/// Every `where` of a write names one row by UUID and requires the mark.
fn assert_guarded(ops: &[Value], topology: &str) {
    let mark = json!(["external_ids", "includes", ["map", [[ovn::MARK, topology]]]]);
    for op in ops {
        let kind = op["op"].as_str().unwrap();
        if kind == "insert" || op["table"] == "NB_Global" {
            continue;
        }
        let conds = op["where"].as_array().unwrap();
        assert_eq!(conds.len(), 2, "{op}");
        assert_eq!(conds[0][0], "_uuid", "{op}");
        assert_eq!(conds[1], mark, "{op}");
    }
}

#[test]
fn every_example_deploys_in_one_transaction_and_a_second_is_empty() {
    for file in examples() {
        let t = ovn_example(&file);
        let mut db = Db::new();
        let ops = deploy(&mut db, &t);
        assert!(
            ops.iter()
                .all(|op| op["op"] == "insert" || op["table"] == "NB_Global"),
            "{file}: from nothing, only inserts"
        );
        assert_eq!(
            ops.last().unwrap()["mutations"],
            json!([["nb_cfg", "+=", 1]])
        );
        assert_eq!(db.nb_cfg(), 1);
        // Every inserted row is the topology's.
        for op in ops.iter().filter(|op| op["op"] == "insert") {
            let ids = &op["row"]["external_ids"];
            assert!(ids.to_string().contains(ovn::MARK), "{file}: {op}");
        }
        let mut text = String::new();
        for op in &ops {
            text.push_str(&serde_json::to_string(op).unwrap());
            text.push('\n');
        }
        for h in 0..t.hosts.len() {
            text.push_str(&format!("chassis {:?}\n", ovn::chassis(&t, h)));
        }
        insta::assert_snapshot!(format!("ovn-{}", file.trim_end_matches(".yaml")), text);
        let again = nb::transaction(
            &t.name,
            &nb::desired(&ovn::logical(&t)),
            &db.observed(&t.name),
        );
        assert_eq!(
            again,
            Vec::<Value>::new(),
            "{file}: applying twice changes nothing"
        );
    }
}

#[test]
fn the_rows_read_back_are_the_rows_written() {
    let t = ovn_example("nat.yaml");
    let mut db = Db::new();
    deploy(&mut db, &t);
    let seen = db.observed(&t.name);
    let want = nb::desired(&ovn::logical(&t));
    assert_eq!(seen.rows.len(), want.rows.len());
    for w in &want.rows {
        let o = seen
            .rows
            .iter()
            .find(|o| o.table == w.table && o.key == w.key)
            .unwrap();
        for (col, v) in &w.columns {
            assert_eq!(o.columns.get(col), Some(v), "{:?} {} {col}", w.table, w.key);
        }
    }
}

#[test]
fn destroy_removes_the_topology_rows_and_nothing_else() {
    let seed = ovn_example("seedlab-gre.yaml");
    let nat = ovn_example("nat.yaml");
    let mut db = Db::new();
    // A switch of someone else's with the same name as one of the seed lab's, and its port.
    let foreign = json!([
        {"op": "insert", "table": "Logical_Switch_Port", "uuid-name": "p",
         "row": {"name": "theirs", "type": "", "addresses": "unknown"}},
        {"op": "insert", "table": "Logical_Switch", "uuid-name": "s",
         "row": {"name": "seedlab.node1.br-in.v10", "ports": ["set", [["named-uuid", "p"]]],
                 "external_ids": ["map", [["owner", "someone"]]]}},
    ]);
    db.apply(foreign.as_array().unwrap());
    let before = db.clone();
    deploy(&mut db, &seed);
    deploy(&mut db, &nat);
    let ops = destroy(&mut db, &seed.name);
    assert_guarded(&ops, &seed.name);
    assert!(ops
        .iter()
        .all(|op| op["op"] == "delete" || op["table"] == "NB_Global"));
    assert!(db.observed(&seed.name).rows.is_empty());
    // The other topology is whole: deploying it again changes nothing.
    let again = nb::transaction(
        &nat.name,
        &nb::desired(&ovn::logical(&nat)),
        &db.observed(&nat.name),
    );
    assert!(again.is_empty());
    destroy(&mut db, &nat.name);
    // What remains is what was there before, the same-named switch included.
    let mut after = db.clone();
    after.next = before.next;
    after.tables.get_mut("NB_Global").unwrap().insert(
        "nb-global".into(),
        before.tables["NB_Global"]["nb-global"].clone(),
    );
    after.tables.retain(|_, rows| !rows.is_empty());
    let mut before = before;
    before.tables.retain(|_, rows| !rows.is_empty());
    assert_eq!(after, before);
    // Destroying what is not there is nothing.
    assert!(destroy(&mut db, &seed.name).is_empty());
}

#[test]
fn a_vm_moved_to_another_vlan_moves_its_port_between_switches() {
    let t = ovn_example("seedlab-gre.yaml");
    let mut db = Db::new();
    deploy(&mut db, &t);
    let text = example_text("seedlab-gre.yaml");
    let moved = ovn_lab(&text.replace(
        "{bridge: br-in, vlan: 10, ip: 10.0.10.1/24}",
        "{bridge: br-in, vlan: 20, ip: 10.0.20.9/24}",
    ));
    let ops = deploy(&mut db, &moved);
    assert_guarded(&ops, &t.name);
    let kinds = kinds(&ops);
    // The port keeps its row: its address is updated, and it leaves one
    // switch's ports for the other's.
    assert_eq!(
        kinds,
        [
            "update Logical_Switch_Port",
            "mutate Logical_Switch",
            "mutate Logical_Switch",
            "mutate NB_Global"
        ]
    );
    assert_eq!(ops[1]["mutations"][0][1], "delete");
    assert_eq!(ops[2]["mutations"][0][1], "insert");
    let again = nb::transaction(
        &t.name,
        &nb::desired(&ovn::logical(&moved)),
        &db.observed(&t.name),
    );
    assert!(again.is_empty());
}

#[test]
fn a_changed_forward_and_a_removed_vm_touch_only_their_rows() {
    let t = ovn_example("nat.yaml");
    let mut db = Db::new();
    deploy(&mut db, &t);
    let text = example_text("nat.yaml");
    let changed = text
        .replace("port: 8080", "port: 8081")
        .replace("      - name: vm2\n        nics:\n          - {bridge: br-in, ip: 10.0.0.2/24}\n        gateway: 10.0.0.254\n", "");
    let changed = ovn_lab(&changed);
    assert_eq!(changed.guests.len(), t.guests.len() - 1);
    let ops = deploy(&mut db, &changed);
    assert_guarded(&ops, &t.name);
    let text: Vec<String> = ops.iter().map(|op| op.to_string()).collect();
    assert_eq!(ops.len(), 3, "{text:#?}");
    assert_eq!(ops[0]["table"], "Load_Balancer");
    assert_eq!(
        ops[0]["row"],
        json!({"vips": ["map", [["198.51.100.2:8081", "10.0.0.1:80"]]]})
    );
    assert_eq!(ops[1]["table"], "Logical_Switch");
    assert_eq!(ops[1]["mutations"][0][1], "delete");
    assert!(db.tables["Logical_Switch_Port"]
        .values()
        .all(|r| r["name"] != "natlab.node1.vm2.eth0"));
}

#[test]
fn every_scenario_lab_valid_under_ovn_deploys_idempotently_and_destroys_whole() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/labs");
    let mut deployed = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let mut spec =
            netloom_core::parse(&std::fs::read_to_string(entry.unwrap().path()).unwrap()).unwrap();
        spec.engine = Some(Engine::Ovn);
        let Ok(c) = netloom_core::validate(&spec) else {
            continue;
        };
        let t = c.topology;
        let mut db = Db::new();
        let empty = db.clone();
        deploy(&mut db, &t);
        assert!(deploy(&mut db, &t).is_empty(), "{}", t.name);
        destroy(&mut db, &t.name);
        let left: usize = db
            .tables
            .iter()
            .filter(|(n, _)| *n != "NB_Global")
            .map(|(_, r)| r.len())
            .sum();
        assert_eq!(left, 0, "{}: {:#?}", t.name, db.tables);
        assert_eq!(
            db.tables["NB_Global"].len(),
            empty.tables["NB_Global"].len()
        );
        deployed += 1;
    }
    assert!(deployed >= 5, "only {deployed} labs are valid under ovn");
}

#[test]
fn a_renamed_switch_is_replaced_and_its_ports_keep_their_rows() {
    let text = example_text("seedlab-gre.yaml");
    let t = ovn_lab(&text);
    let mut db = Db::new();
    deploy(&mut db, &t);
    let ports_before = db.tables["Logical_Switch_Port"].clone();
    // A host listed first, its bridge tunnelled to node1's: the segment's
    // first bridge, and so its switches' names, change.
    let grown = ovn_lab(
        &text
            .replace(
                "hosts:\n",
                "hosts:\n  - name: node0\n    underlay_ip: 172.31.0.9\n    bridges: [{name: br-in}]\n",
            )
            .replace(
                "key: 5}\n",
                "key: 5}\n  - {type: gre, between: [node0/br-in, node1/br-in]}\n",
            ),
    );
    let ops = deploy(&mut db, &grown);
    assert_guarded(&ops, &t.name);
    let kinds = kinds(&ops);
    assert_eq!(
        kinds,
        [
            "insert Logical_Switch",
            "insert Logical_Switch",
            "delete Logical_Switch",
            "delete Logical_Switch",
            "mutate NB_Global"
        ]
    );
    assert_eq!(ops[0]["row"]["name"], "seedlab.node0.br-in.v10");
    // The new switches name the existing ports, which outlive the old ones.
    assert_eq!(db.tables["Logical_Switch_Port"], ports_before);
    let again = nb::transaction(
        &t.name,
        &nb::desired(&ovn::logical(&grown)),
        &db.observed(&t.name),
    );
    assert!(again.is_empty());
}

/// The emulated switch's revalidator tuning is for hosts without OVN: the
/// shell export of an OVN lab starts its chassis' switches with the defaults.
#[test]
fn only_switches_without_ovn_are_tuned() {
    use netloom_core::plan::{self, Facts, State};
    let script = |t: &Topology| {
        let facts = Facts::default();
        let targets = plan::targets(t, &facts);
        let want = plan::desired(t, &facts);
        plan::shell_script(&plan::plan(&t.name, &targets, &want, &State::default()))
    };
    let text = example_text("seedlab-gre.yaml");
    let plain = netloom_core::load(&text).unwrap().topology;
    let inits = |s: &str| -> Vec<String> {
        (s.lines().filter(|l| l.contains("--no-wait init")))
            .map(String::from)
            .collect()
    };
    let (tuned, ovn) = (inits(&script(&plain)), inits(&script(&ovn_lab(&text))));
    assert_eq!((tuned.len(), ovn.len()), (2, 2), "{tuned:#?} {ovn:#?}");
    assert!(tuned
        .iter()
        .all(|l| l.contains("other_config:max-revalidator=10000")));
    assert!(ovn.iter().all(|l| !l.contains("other_config")), "{ovn:#?}");
}

/// The OVN seed lab's plan from nothing, with its northbound transaction,
/// as `netloom export` makes it.
fn ovn_seed_plan() -> netloom_core::plan::Plan {
    use netloom_core::plan::{self, Facts, State};
    let t = ovn_example("seedlab-gre.yaml");
    let facts = Facts::default();
    let mut p = plan::plan(
        &t.name,
        &plan::targets(&t, &facts),
        &plan::desired(&t, &facts),
        &State::default(),
    );
    p.northbound = plan::northbound(&t, &Default::default());
    p
}

/// The shell export of an OVN lab asks each chassis' Geneve remote from its
/// underlay bridge, as apply does: under OVN nothing else revalidates the
/// flow that dropped a tunnel's first packet (seen: the seed lab's
/// cross-host pairs silent after the script in 2 runs of 6 without it).
#[test]
fn the_ovn_script_warms_every_chassis_pairs_tunnel() {
    let p = ovn_seed_plan();
    let warmups = netloom_core::plan::tunnel_warmups(&p);
    assert_eq!(warmups.len(), 2, "{warmups:?}");
    let script = netloom_core::plan::shell_script(&p);
    for (ns, argv) in &warmups {
        let line = format!("ip netns exec {ns} {} >/dev/null || true\n", argv.join(" "));
        assert!(script.contains(&line), "{line}");
        assert_eq!(argv[..2], ["busybox", "arping"]);
    }
    // After the northbound transaction, once the chassis have their flows.
    let arping = script.find("arping").unwrap();
    assert!(script.find("ovsdb-client transact").unwrap() < arping);
}

/// Stand-ins for the OVN tools in a directory of their own, each a shell
/// script printing what the real one would; removed when dropped.
struct Tools(std::path::PathBuf);

impl Tools {
    fn new(name: &str) -> Tools {
        let dir = std::env::temp_dir().join(format!("netloom-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Tools(dir)
    }

    /// `name` runs `body` (`$D`: this directory, for a tool's state).
    fn tool(&self, name: &str, body: &str) {
        use std::os::unix::fs::PermissionsExt;
        let path = self.0.join(name);
        let body = body.replace("$D", &self.0.display().to_string());
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// `script` under `sh` with these tools first on the path: exit code, stdout, stderr.
    fn run(&self, script: &str) -> (Option<i32>, String, String) {
        let o = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("{script}echo done"))
            .env("PATH", format!("{}:/usr/bin:/bin", self.0.display()))
            .output()
            .unwrap();
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        (o.status.code(), text(&o.stdout), text(&o.stderr))
    }
}

impl Drop for Tools {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The OVN seed lab's northbound part alone, as a script.
fn northbound_only() -> String {
    let mut p = ovn_seed_plan();
    p.targets.clear();
    netloom_core::plan::shell_script(&p)
}

/// `ovsdb-client transact` exits 0 when an operation fails (the transaction
/// is then undone, and says so in its result): the script must stop there,
/// not wait on an `nb_cfg` that every chassis already has.
#[test]
fn the_ovn_script_stops_on_a_failed_northbound_transaction() {
    let script = northbound_only();
    let tools = Tools::new("nb-failed");
    let run = |result: &str| {
        tools.tool("ovsdb-client", &format!("echo '{result}'"));
        // Every chassis has applied nb_cfg 1 already, as after an earlier run.
        tools.tool("ovn-nbctl", "echo 1");
        tools.tool("ovn-sbctl", "echo 1");
        tools.run(&script)
    };
    let ok = run(r#"[{"uuid":["uuid","8972e77f-2c38-4975-b815-ec40f77a8e65"]},{"count":1}]"#);
    let failed = run(
        r#"[{"uuid":["uuid","8972e77f-2c38-4975-b815-ec40f77a8e65"]},{"details":"Transaction causes multiple rows in \"Logical_Switch_Port\" table to have identical values","error":"constraint violation"}]"#,
    );
    // The guard's answer: the design's rows are there already (another
    // host's script made them), kept, and the script goes on.
    let there =
        run(r#"[{"details":"\"where\" clause test failed","error":"timed out"},null,null]"#);
    assert_eq!(ok, (Some(0), "done\n".into(), String::new()));
    assert_eq!(
        (there.0, there.1.as_str()),
        (Some(0), "done\n"),
        "{there:?}"
    );
    assert!(
        there
            .2
            .contains("the northbound rows of topology seedlab are there already"),
        "{there:?}"
    );
    assert_eq!(failed.0, Some(1), "{failed:?}");
    assert!(failed.1.is_empty(), "{failed:?}");
    assert!(
        failed.2.starts_with("northbound transaction failed: [")
            && failed.2.contains("constraint violation"),
        "{failed:?}"
    );
}

/// As apply does: a chassis that has not reported the `nb_cfg` after 200
/// rounds (20 s) gets it raised once more, as `ovn-controller` at 50
/// chassis never reported the first it saw. The stand-ins keep `nb_cfg` in
/// a file; the chassis reports only a raised one. The rounds are made
/// shorter here (`sleep 0.1` to `sleep 0.001`), their count is the script's.
#[test]
fn the_ovn_scripts_wait_raises_nb_cfg_for_a_silent_chassis() {
    let script = northbound_only().replace("sleep 0.1\n", "sleep 0.001\n");
    let tools = Tools::new("nb-nudge");
    std::fs::write(tools.0.join("nb_cfg"), "1\n").unwrap();
    tools.tool(
        "ovsdb-client",
        // The design's transaction (with its guard) made nb_cfg 1 before;
        // a transaction of the raise alone makes it one more.
        r#"case "$*" in
  *'"op":"wait"'*) echo '[{},{},{"count":1}]';;
  *'"+="'*) echo $(($(cat $D/nb_cfg) + 1)) > $D/nb_cfg; echo '[{"count":1}]';;
esac"#,
    );
    tools.tool("ovn-nbctl", "cat $D/nb_cfg");
    tools.tool(
        "ovn-sbctl",
        "n=$(cat $D/nb_cfg); if [ \"$n\" -ge 2 ]; then echo \"$n\"; else echo 0; fi",
    );
    let (code, out, err) = tools.run(&script);
    assert_eq!((code, out.as_str()), (Some(0), "done\n"), "{err}");
    let raised = std::fs::read_to_string(tools.0.join("nb_cfg")).unwrap();
    assert_eq!(
        raised.trim(),
        "2",
        "raised once, for the first chassis; the second had it"
    );
}
