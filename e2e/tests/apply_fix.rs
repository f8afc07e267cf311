//! Root test: a broken seed lab in the sandbox, mended by netloom's own
//! first fix suggestion. Before and after, `verify` agrees with `reach`;
//! after, the pair reaches for real and the intent holds.

mod apply_support;

use apply_support::*;
use netloom_core::fix::{apply_all, Edit};
use serde_json::Value;

const NAME: &str = "fix-seed";

/// `netloom verify --json`: the whole answer (the exit code says whether it agrees).
fn verify(lab: &Lab) -> Value {
    let o = netloom(&["verify", "--json", lab.path()]);
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("verify: {e}\n{}", String::from_utf8_lossy(&o.stderr)))
}

/// Whether the real report has `from -> to` answering.
fn reaches(v: &Value, from: &str, to: &str) -> bool {
    let results = v["report"]["results"].as_array().unwrap();
    let line = results.iter().find(|r| r["from"] == from && r["to"] == to);
    line.unwrap_or_else(|| panic!("no {from} -> {to} in {v}"))["ok"] == true
}

#[test]
fn the_first_fix_suggestion_mends_the_sandbox() {
    if !netloom_e2e::root("the_first_fix_suggestion_mends_the_sandbox") {
        return;
    }
    let links_before = root_links();
    // vm3 in VLAN 20 instead of 10: vm1 no longer reaches it.
    let mut lab = Lab::new("seedlab-gre.yaml", NAME);
    let broken = replace_once(
        &lab.text,
        "vlan: 10, ip: 10.0.10.2/24",
        "vlan: 20, ip: 10.0.10.2/24",
    );
    lab.rewrite(
        broken + "expect:\n  reach: [{from: vm1, to: vm3}]\n  isolate: [{from: vm1, to: vm2}]\n",
    );
    ok(&["apply", lab.path()]);
    let v = verify(&lab);
    assert_eq!(v["disagreements"], serde_json::json!([]), "{v}");
    assert!(!reaches(&v, "vm1", "10.0.10.2"), "{v}");
    assert_eq!(v["report"]["intent"][0]["holds"], false, "{v}");

    // netloom's first suggestion, as data, applied to the file.
    let out = ok(&[
        "simulate",
        lab.path(),
        "--from",
        "vm1",
        "--to",
        "vm3",
        "--fix",
        "--json",
    ]);
    let answer: Value = serde_json::from_str(&out).unwrap();
    let first = &answer["fixes"][0];
    assert_eq!(
        first["text"][0], "tag vm3's nic eth0 with VLAN 10",
        "{answer}"
    );
    let edits: Vec<Edit> = serde_json::from_value(first["edits"].clone()).unwrap();
    let spec = netloom_core::parse(&lab.text).unwrap();
    let fixed = apply_all(&edits, &spec).unwrap();
    lab.rewrite(netloom_core::format::to_yaml(&fixed));

    // Only vm3's port changes; then reality, reach and the intent agree.
    let planned = lab.plan_steps();
    assert!(
        planned.len() == 1
            && planned[0].starts_with("update ovs-port")
            && planned[0].ends_with(" tag=10"),
        "{planned:#?}"
    );
    ok(&["apply", lab.path()]);
    assert!(lab.plan_steps().is_empty());
    let v = verify(&lab);
    assert_eq!(v["disagreements"], serde_json::json!([]), "{v}");
    assert!(reaches(&v, "vm1", "10.0.10.2"), "{v}");
    assert!(reaches(&v, "vm3", "10.0.10.1"), "{v}");
    let intent = v["report"]["intent"].as_array().unwrap();
    assert!(intent.iter().all(|r| r["holds"] == true), "{v}");

    let out = ok(&["destroy", lab.path()]);
    assert!(out.contains("destroyed"), "{out}");
    drop(lab);
    assert_no_residue(NAME, &links_before);
}
