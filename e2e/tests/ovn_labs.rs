//! Root test: every example deployed on OVN (`engine: ovn`) in the sandbox:
//! a central (northbound and southbound databases, ovn-northd) and one
//! emulated chassis per host (userspace datapath, Geneve between them).
//! For each: apply, `verify` agrees with `reach`, a second plan is empty,
//! every northbound row is marked as the topology's, a row netloom did not
//! write survives an apply, a change is one northbound transaction and
//! nothing else, and destroy leaves nothing.

mod apply_support;

use apply_support::*;

/// The example `example` as topology `name` on the OVN engine.
fn ovn_lab(example: &str, name: &str) -> Lab {
    let base = Lab::new(example, name);
    let text = base.text.replacen(
        &format!("name: {name}\n"),
        &format!("name: {name}\nengine: ovn\n"),
        1,
    );
    assert!(text.contains("engine: ovn"), "{text}");
    // Dropping `base` sweeps the name: the new lab is written after.
    drop(base);
    Lab::from_text(name, text)
}

fn nbctl(name: &str, args: &[&str]) -> String {
    let db = format!("--db=unix:/run/netloom/{name}/_ovn/nb.sock");
    let mut all = vec!["ovn-nbctl", db.as_str()];
    all.extend(args);
    let o = netloom_e2e::try_run(&all);
    assert!(
        o.status.success(),
        "{all:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Every row of the tables netloom writes, by its `external_ids`: each must
/// carry the topology's mark, but the row whose UUID is `foreign`.
fn assert_rows_marked(name: &str, foreign: &str) {
    let mut rows = 0;
    for table in [
        "Logical_Switch",
        "Logical_Switch_Port",
        "Logical_Router",
        "Logical_Router_Port",
        "Logical_Router_Static_Route",
        "NAT",
        "Load_Balancer",
    ] {
        let out = nbctl(
            name,
            &[
                "--format=csv",
                "--data=bare",
                "--no-headings",
                "--columns=_uuid,external_ids",
                "list",
                table,
            ],
        );
        for line in out
            .lines()
            .filter(|l| !l.starts_with(&format!("{foreign},")))
        {
            rows += 1;
            assert!(
                line.contains(&format!("netloom-topology={name}")),
                "{table} row not marked as {name}'s: {line}"
            );
        }
    }
    assert!(rows > 0, "no northbound rows at all");
}

fn cycle(example: &str, name: &str) {
    if !netloom_e2e::root(name) {
        return;
    }
    let links_before = root_links();
    let lab = ovn_lab(example, name);

    let first = ok(&["apply", lab.path()]);
    assert!(first.contains("applied"), "{first}");
    let plan = lab.plan();
    assert!(
        steps(&plan).is_empty() && plan.get("northbound").is_none(),
        "second plan not empty: {plan:#}"
    );
    let d = lab.verify();
    assert!(d.is_empty(), "verify disagrees with reach on OVN: {d:#?}");

    // A switch netloom did not make is not the plan's: an apply leaves it.
    nbctl(name, &["ls-add", "user-ls"]);
    let find = [
        "--bare",
        "--columns=_uuid",
        "find",
        "Logical_Switch",
        "name=user-ls",
    ];
    let foreign = nbctl(name, &find).trim().to_string();
    assert!(!foreign.is_empty());
    assert_rows_marked(name, &foreign);
    let again = ok(&["apply", lab.path()]);
    assert!(again.contains("applied 0 steps"), "{again}");
    assert_eq!(
        nbctl(name, &find).trim(),
        foreign,
        "the user's switch is gone"
    );

    // A logical switch of ours removed by hand: status calls it drift, and
    // one transaction (no host step) puts it back.
    let ours = nbctl(
        name,
        &["--bare", "--columns=name", "list", "Logical_Switch"],
    );
    let ours = ours
        .lines()
        .find(|l| l.starts_with(&format!("{name}.")))
        .expect("a switch of ours")
        .to_string();
    nbctl(name, &["ls-del", &ours]);
    let status: serde_json::Value =
        serde_json::from_str(&ok(&["status", "--json", lab.path()])).unwrap();
    let drift = status["drift"].as_array().unwrap();
    assert!(
        drift.len() == 1
            && drift[0]["step"]
                .as_str()
                .unwrap()
                .starts_with("northbound transaction"),
        "{drift:#?}"
    );
    let fixed = ok(&["apply", lab.path()]);
    assert!(fixed.contains("applied 1 steps"), "{fixed}");
    assert!(lab.plan().get("northbound").is_none());
    assert!(!nbctl(
        name,
        &[
            "--bare",
            "--columns=_uuid",
            "find",
            "Logical_Switch",
            &format!("name={ours}")
        ]
    )
    .trim()
    .is_empty());

    let out = ok(&["destroy", lab.path()]);
    assert!(out.contains("destroyed"), "{out}");
    assert_no_residue(name, &links_before);
}

#[test]
fn seed_lab_on_ovn() {
    cycle("seedlab-gre.yaml", "e2e-ovseed");
}

#[test]
fn vxlan_lab_on_ovn() {
    cycle("vxlan.yaml", "e2e-ovvx");
}

#[test]
fn dhcp_lab_on_ovn() {
    cycle("dhcp.yaml", "e2e-ovdhcp");
}

#[test]
fn nat_lab_on_ovn() {
    cycle("nat.yaml", "e2e-ovnat");
}

/// A VLAN moved is a port moved between logical switches: one northbound
/// transaction, no step on any host, and reachability follows.
#[test]
fn a_vlan_change_is_one_northbound_transaction() {
    let name = "e2e-ovmove";
    if !netloom_e2e::root(name) {
        return;
    }
    let mut lab = ovn_lab("seedlab-gre.yaml", name);
    ok(&["apply", lab.path()]);
    let text = replace_once(
        &lab.text,
        "{bridge: br-in, vlan: 20, ip: 10.0.20.2/24}",
        "{bridge: br-in, vlan: 10, ip: 10.0.20.2/24}",
    );
    lab.rewrite(text);
    let plan = lab.plan();
    assert!(
        steps(&plan).is_empty(),
        "host steps for a VLAN change: {plan:#}"
    );
    let ops = plan["northbound"]["ops"]
        .as_array()
        .expect("a northbound transaction");
    assert!(
        ops.iter()
            .any(|o| o["table"] == "Logical_Switch" && o["op"] == "mutate"),
        "{ops:#?}"
    );
    ok(&["apply", lab.path()]);
    assert!(lab.plan().get("northbound").is_none());
    let d = lab.verify();
    assert!(
        d.is_empty(),
        "verify disagrees with reach after the move: {d:#?}"
    );
}

/// `netloom simulate --json` of the seed lab on OVN.
fn simulate(lab: &Lab, extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "simulate",
        "--json",
        lab.path(),
        "--from",
        "vm1",
        "--to",
        "10.0.10.2",
    ];
    args.extend(extra);
    serde_json::from_str(&ok(&args)).expect("trace json")
}

/// The steps of a trace with `action`, as (node, detail).
fn steps_of(trace: &serde_json::Value, action: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for h in trace["hops"].as_array().unwrap() {
        for s in h["steps"].as_array().unwrap() {
            if s["action"] == action {
                out.push((
                    h["node"].as_str().unwrap_or_default().to_string(),
                    s["detail"].as_str().unwrap_or_default().to_string(),
                ));
            }
        }
    }
    out
}

fn ovn_trace(name: &str, datapath: &str, flow: &str, format: &str) -> String {
    let db = format!("--db=unix:/run/netloom/{name}/_ovn/sb.sock");
    let o = netloom_e2e::try_run(&["ovn-trace", &db, format, datapath, flow]);
    assert!(
        o.status.success(),
        "ovn-trace: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The seed lab's vm1 → vm3 on OVN: `ovn-trace` (OVN's own account of its
/// logical flows) and netloom's trace agree on the path: the ARP request
/// answered at vm1's own switch port with vm3's MAC, the echo request
/// through vm1's logical switch to vm3's port, by the Geneve port
/// ovn-controller made; and the largest packet that crosses is the
/// simulator's to the byte.
#[test]
fn the_seed_labs_path_agrees_with_ovn_trace() {
    let name = "e2e-ovtrace";
    if !netloom_e2e::root(name) {
        return;
    }
    let lab = ovn_lab("seedlab-gre.yaml", name);
    ok(&["apply", lab.path()]);
    let trace = simulate(&lab, &[]);
    assert_eq!(trace["disposition"]["outcome"], "delivered", "{trace:#}");
    let (vm1, vm3) = (
        format!("{name}.node1.vm1.eth0"),
        format!("{name}.node2.vm3.eth0"),
    );

    // The logical switch netloom names at vm1's first ingress.
    let ingress = &steps_of(&trace, "ingress")[0].1;
    let switch = ingress
        .rsplit("logical switch ")
        .next()
        .unwrap()
        .to_string();
    assert_eq!(switch, format!("{name}.node1.br-in.v10"), "{ingress}");
    let request = trace["hops"][3]["steps"][0]["packet"][0].clone();
    let (mac1, mac3) = (
        request["src"].as_str().unwrap(),
        request["dst"].as_str().unwrap(),
    );

    // ARP: netloom says the request is answered at node1, not flooded.
    let answered = steps_of(&trace, "arp-responder");
    assert_eq!(answered[0].0, "node1/br-in", "{answered:?}");
    assert!(
        answered[0].1.contains(&format!("is-at {mac3}")),
        "{answered:?}"
    );
    let arp = ovn_trace(
        name,
        &switch,
        &format!("inport == \"{vm1}\" && eth.src == {mac1} && eth.dst == ff:ff:ff:ff:ff:ff && arp.op == 1 && arp.spa == 10.0.10.1 && arp.tpa == 10.0.10.2 && arp.sha == {mac1}"),
        "--minimal",
    );
    for want in [
        format!("eth.src = {mac3};"),
        "arp.op = 2;".into(),
        format!("output(\"{vm1}\");"),
    ] {
        assert!(
            arp.contains(&want),
            "ovn-trace of the ARP request lacks {want:?}:\n{arp}"
        );
    }

    // The echo request: same switch, out to vm3's port.
    let icmp = ovn_trace(
        name,
        &switch,
        &format!("inport == \"{vm1}\" && eth.src == {mac1} && eth.dst == {mac3} && ip4.src == 10.0.10.1 && ip4.dst == 10.0.10.2 && ip.ttl == 64 && icmp4.type == 8"),
        "--summary",
    );
    assert!(
        icmp.contains(&format!("ingress(dp=\"{switch}\", inport=\"{vm1}\")")),
        "{icmp}"
    );
    assert!(icmp.contains(&format!("output to \"{vm3}\"")), "{icmp}");
    let last = trace["hops"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|h| h["node"] == "vm3");
    assert!(last.is_some(), "netloom's trace never reaches vm3");

    // The Geneve port netloom's trace leaves node1 by is the one ovn-controller made.
    let out = steps_of(&trace, "output");
    let tunnel = out
        .iter()
        .find_map(|(_, d)| d.strip_prefix("to ").filter(|d| d.contains("Geneve")))
        .and_then(|d| d.split_whitespace().next())
        .expect("an output to a Geneve port");
    let db = format!("--db=unix:/run/netloom/{name}/node1/db.sock");
    let ports = netloom_e2e::try_run(&[
        "ip",
        "netns",
        "exec",
        &format!("nl-{name}.node1"),
        "ovs-vsctl",
        &db,
        "list-ports",
        &format!("nl{}int", netloom_core::names::topology_tag(name)),
    ]);
    let ports = String::from_utf8_lossy(&ports.stdout);
    assert!(
        ports.lines().any(|p| p == tunnel),
        "{tunnel} not in {ports}"
    );

    // The real path: every predicted frame seen, the Geneve frame on the
    // tunnel between the two chassis included (OVN's key is northd's).
    let real = ok(&[
        "simulate",
        lab.path(),
        "--from",
        "vm1",
        "--to",
        "10.0.10.2",
        "--real",
    ]);
    assert!(
        real.contains("Reality agrees: every predicted frame was seen."),
        "{real}"
    );
    assert!(
        real.contains("at node1/br-in: seen on tunnels[0]"),
        "{real}"
    );

    // The largest packet: 1442 bytes cross, 1443 do not, in the simulator and for real.
    assert_eq!(
        simulate(&lab, &["--size", "1442"])["disposition"]["outcome"],
        "delivered"
    );
    let big = simulate(&lab, &["--size", "1443"]);
    assert_eq!(
        big["disposition"]["reason"], "mtu-exceeded",
        "{:#}",
        big["disposition"]
    );
    let ping = |payload: &str| {
        netloom_e2e::try_run(&[
            "ip",
            "netns",
            "exec",
            &format!("nl-{name}.node1.vm1"),
            "ping",
            "-c",
            "3",
            "-W",
            "1",
            "-M",
            "do",
            "-s",
            payload,
            "10.0.10.2",
        ])
        .status
        .success()
    };
    assert!(ping("1414"), "a 1442-byte packet did not cross");
    assert!(!ping("1415"), "a 1443-byte packet crossed");
}

/// Three chassis joined by a chain of design tunnels (node1 — node2 —
/// node3): OVN joins every pair of chassis itself (node1 has a Geneve port
/// to node3 too), and verify agrees with reach on every pair.
#[test]
fn three_chassis_on_a_chain_of_tunnels() {
    let name = "e2e-ov3";
    if !netloom_e2e::root(name) {
        return;
    }
    let mut yaml = format!("version: 1\nname: {name}\nengine: ovn\nhosts:\n");
    for h in 1..=3 {
        yaml += &format!(
            "  - name: node{h}\n    bridges: [{{name: br-in}}]\n    vms:\n      - name: vm{h}a\n        nics: [{{bridge: br-in, vlan: 10, ip: 10.0.10.{h}/24}}]\n      - name: vm{h}b\n        nics: [{{bridge: br-in, vlan: 20, ip: 10.0.20.{h}/24}}]\n"
        );
    }
    yaml += "tunnels:\n  - {type: vxlan, between: [node1/br-in, node2/br-in], vni: 1}\n  - {type: vxlan, between: [node2/br-in, node3/br-in], vni: 2}\n";
    let links_before = root_links();
    let lab = Lab::from_text(name, yaml);
    ok(&["apply", lab.path()]);
    let d = lab.verify();
    assert!(d.is_empty(), "verify disagrees with reach: {d:#?}");
    let tag = netloom_core::names::topology_tag(name);
    for h in 1..=3 {
        let db = format!("--db=unix:/run/netloom/{name}/node{h}/db.sock");
        let o = netloom_e2e::try_run(&[
            "ip",
            "netns",
            "exec",
            &format!("nl-{name}.node{h}"),
            "ovs-vsctl",
            &db,
            "list-ports",
            &format!("nl{tag}int"),
        ]);
        let geneve = String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter(|p| p.starts_with("ovn-"))
            .count();
        assert_eq!(geneve, 2, "node{h}: one Geneve port per other chassis");
    }
    ok(&["destroy", lab.path()]);
    assert_no_residue(name, &links_before);
}

/// The central's `ovn-northd` and a chassis' `ovs-vswitchd` died: apply
/// starts both afresh, on new databases, so it inserts the whole logical
/// network again (the old northbound rows are not there to keep) and makes
/// the chassis' bridges and ports again; the lab works as before.
#[test]
fn a_central_and_a_chassis_that_died_are_made_again() {
    let name = "e2e-ovdead";
    if !netloom_e2e::root(name) {
        return;
    }
    let links_before = root_links();
    let lab = ovn_lab("seedlab-gre.yaml", name);
    ok(&["apply", lab.path()]);
    for pidfile in ["_ovn/northd.pid", "node1/vswitchd.pid"] {
        kill_dead_of(&format!("/run/netloom/{name}/{pidfile}"));
    }
    let plan = lab.plan();
    let planned = steps(&plan);
    for want in [
        "create ovn_central",
        "create ovs_daemons",
        "create ovs-port",
    ] {
        assert!(
            planned.iter().any(|p| p.contains(want)),
            "{want:?} in {planned:#?}"
        );
    }
    let ops = plan["northbound"]["ops"].as_array().expect("a transaction");
    assert!(
        ops.iter()
            .any(|o| o["table"] == "Logical_Switch" && o["op"] == "insert"),
        "{ops:#?}"
    );
    ok(&["apply", lab.path()]);
    let again = lab.plan();
    assert!(
        steps(&again).is_empty() && again.get("northbound").is_none(),
        "{again:#}"
    );
    let d = lab.verify();
    assert!(d.is_empty(), "verify after the restart: {d:#?}");
    ok(&["destroy", lab.path()]);
    assert_no_residue(name, &links_before);
}
