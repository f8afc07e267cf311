//! The `expect:` section: checked by `validate`, judged by the simulator,
//! and mended by fix suggestions that keep the whole intent.

mod support;

use netloom_core::{fix, intent, load};

const SEED: &str = include_str!("../../examples/seedlab-gre.yaml");

fn with_expect(yaml: &str, expect: &str) -> String {
    format!("{yaml}expect:\n{expect}")
}

#[test]
fn names_that_resolve_to_nothing_are_errors_at_their_place() {
    let text = with_expect(
        SEED,
        "  reach: [{from: vm1, to: vm3}, {from: vm1, to: vm9}]\n  isolate: [{from: nobody, to: 10.0.20.2}, {from: vm1, to: vm3}]\n",
    );
    let problems = load(&text).unwrap_err();
    let lines: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
    assert_eq!(lines.len(), 3, "{lines:#?}");
    assert!(
        lines[0].starts_with(
            "expect.reach[1].to: no vm, router, dhcp server or external network named \"vm9\""
        ),
        "{lines:#?}"
    );
    assert!(
        lines[1].starts_with("expect.isolate[0].from: no vm"),
        "{lines:#?}"
    );
    assert!(
        lines[2]
            .starts_with("expect.isolate[1]: the same pair is already expected by expect.reach[0]"),
        "{lines:#?}"
    );
    // Unknown keys are refused as everywhere else.
    let typo = with_expect(SEED, "  reachh: []\n");
    assert!(load(&typo).unwrap_err()[0]
        .to_string()
        .contains("unknown field `reachh`"));
}

#[test]
fn a_file_without_expect_has_no_intent() {
    let t = load(SEED).unwrap().topology;
    assert!(t.expect.is_empty());
    assert!(intent::check(&t).is_empty());
    assert!(fix::for_intent(&t).is_empty());
    // Written back, it still has no `expect` key.
    assert!(!netloom_core::format::to_yaml(&t.spec).contains("expect"));
}

#[test]
fn the_intent_is_judged_by_the_simulator() {
    let text = with_expect(
        SEED,
        "  reach: [{from: vm1, to: vm3}, {from: vm1, to: 10.0.20.2}]\n  isolate: [{from: node1/vm2, to: vm3}]\n",
    );
    let t = load(&text).unwrap().topology;
    let r = intent::check(&t);
    let got: Vec<(&str, &str, &str, bool)> = r
        .iter()
        .map(|r| (r.path.as_str(), r.from.as_str(), r.to.as_str(), r.holds))
        .collect();
    assert_eq!(
        got,
        [
            ("expect.reach[0]", "vm1", "10.0.10.2", true),
            ("expect.reach[1]", "vm1", "10.0.20.2", false),
            ("expect.isolate[0]", "vm2", "10.0.10.2", true),
        ]
    );
    assert!(
        r[1].line().contains("must reach: VIOLATED"),
        "{}",
        r[1].line()
    );
    // The predicted report carries the same verdicts; its JSON names them `intent`.
    let report = netloom_core::reach::reach(&t);
    assert_eq!(report.intent, r);
    let v = serde_json::to_value(&report).unwrap();
    assert_eq!(v["intent"][1]["holds"], false);
    // Judged on a report's lines, as verify does with the real one: the same.
    let judged: Vec<bool> = intent::judge(&t, &report).iter().map(|r| r.holds).collect();
    assert_eq!(judged, [true, false, true]);
    // The JSON round trip keeps the intent.
    let back = load(&netloom_core::format::to_json(&t.spec))
        .unwrap()
        .topology;
    assert_eq!(back.expect, t.expect);
}

#[test]
fn suggestions_keep_the_whole_intent() {
    // vm3 sits in VLAN 20 beside vm5 (vm1's subnet too): vm1 must reach
    // vm3, and must not reach vm5.
    let y = SEED
        .replace("{bridge: br-in, vlan: 10, ip: 10.0.10.2/24}", "{bridge: br-in, vlan: 20, ip: 10.0.10.2/24}")
        .replace("      - name: vm4\n", "      - {name: vm5, nics: [{bridge: br-in, vlan: 20, ip: 10.0.10.5/24}]}\n      - name: vm4\n");
    let text = with_expect(
        &y,
        "  reach: [{from: vm1, to: vm3}]\n  isolate: [{from: vm1, to: vm5}]\n",
    );
    let t = load(&text).unwrap().topology;
    let s = fix::for_intent(&t);
    // Moving vm1 into VLAN 20 would let it reach vm5: only tagging vm3 keeps the intent.
    let sentences: Vec<String> = s.iter().map(|s| s.sentence()).collect();
    assert_eq!(sentences, ["tag vm3's nic eth0 with VLAN 10"]);
    let fixed = load(&netloom_core::format::to_yaml(
        &s[0].apply(&t.spec).unwrap(),
    ))
    .unwrap()
    .topology;
    assert!(intent::check(&fixed).iter().all(|r| r.holds));
}

#[test]
fn an_intent_over_its_limit_is_refused_before_validation() {
    let pairs = "  - {from: vm1, to: vm3}\n".repeat(netloom_core::limits::MAX_EXPECTATIONS + 1);
    let text = with_expect(SEED, &format!("  reach:\n{pairs}"));
    let problems = load(&text).unwrap_err();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(
        problems[0].to_string(),
        "expect.reach: 1001 pairs; the limit is 1000"
    );
}
