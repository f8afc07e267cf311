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
