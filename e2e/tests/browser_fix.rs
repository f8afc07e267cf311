//! Fix suggestions in a real headless Chromium: on the seed lab with vm3
//! moved to VLAN 20, vm1 → vm3 is dropped and the Simulate tab offers the
//! proven fix (computed in the fix worker); one click applies it (the trace
//! turns delivered, the YAML has the tag), Undo brings the broken design
//! back, a probe nothing fixes says so, and a red matrix cell offers the
//! same fix, which turns it green; with an `expect:` section, the violated
//! intent is listed under the matrix with its fix.
//! Screenshots: e2e/artifacts/fix-*.png.

mod browser;

use browser::{open_design, wait_for, yaml, Browser, Server};
use serde_json::json;

const FIX: &str = "Fix: tag vm3's nic eth0 with VLAN 10";
const EFFECTS: &str = "(vm1 → vm3 then reaches; 1 other pair starts reaching: vm3 → 10.0.10.1)";

/// The seed lab with vm3's nic in VLAN 20 (its address still in VLAN 10's subnet).
fn broken() -> String {
    include_str!("../../examples/seedlab-gre.yaml")
        .replace("vlan: 10, ip: 10.0.10.2", "vlan: 20, ip: 10.0.10.2")
}

/// vm3's VLAN in the YAML panel's design.
fn vm3_vlan(b: &Browser) -> Option<i64> {
    let spec = netloom_core::parse(&yaml(b)).ok()?;
    let vm3 = spec
        .hosts
        .iter()
        .flat_map(|h| &h.vms)
        .find(|v| v.name == "vm3")?;
    vm3.nics[0].vlan
}

fn wait_vlan(b: &Browser, want: i64) {
    wait_for(&format!("the YAML with vm3 in VLAN {want}"), 30, || {
        (vm3_vlan(b) == Some(want)).then_some(())
    });
}

fn outcome(b: &Browser) -> Option<String> {
    b.js(
        "const r = document.getElementById('sim-result'); return r ? r.dataset.outcome : null",
        json!([]),
    )
    .as_str()
    .map(str::to_string)
}

fn wait_outcome(b: &Browser, want: &str) {
    wait_for(&format!("the trace {want}"), 60, || {
        (outcome(b).as_deref() == Some(want)).then_some(())
    });
}

/// Wait for the fix box `at` (`sim` or `matrix`) to have its answer; its text.
fn offered(b: &Browser, at: &str) -> String {
    let css = format!("#{at}-fix[data-state=\"found\"]");
    b.wait_css(&css, 60);
    // A button's `value` is empty: its words are its text.
    b.js(
        "return document.getElementById(arguments[0]).textContent",
        json!([format!("{at}-fix-0")]),
    )
    .as_str()
    .unwrap_or_default()
    .to_string()
}

/// The fix box's time from asking the worker to its answer (ms), the
/// answer shown and then the probe run four more times.
fn timings(b: &Browser) -> Vec<f64> {
    let ms = || {
        b.js(
            "const f = document.querySelector('#sim-fix[data-state=\"found\"]'); return f ? Number(f.dataset.ms) : null",
            json!([]),
        )
        .as_f64()
    };
    let mut out = vec![ms().unwrap()];
    for _ in 0..4 {
        // The box is drawn anew for the next answer: this mark goes with the old one.
        b.js(
            "document.getElementById('sim-fix').dataset.state = 'old'",
            json!([]),
        );
        b.click("#sim-run");
        out.push(wait_for("the next fixes", 60, ms));
    }
    out
}

#[test]
fn a_dropped_probe_offers_its_fix_which_one_click_applies_and_undo_takes_back() {
    if !browser::available(
        "a_dropped_probe_offers_its_fix_which_one_click_applies_and_undo_takes_back",
    ) {
        return;
    }
    let server = Server::start();
    let b = browser::app(&server);
    open_design(&b, &broken(), "seedlab");
    b.click("#tab-sim");
    b.set_field("#sim-from", "vm1");
    b.set_field("#sim-to", "vm3");
    b.click("#sim-run");
    wait_outcome(&b, "dropped");
    let text = offered(&b, "sim");
    assert!(text.contains(FIX) && text.contains(EFFECTS), "{text}");
    eprintln!(
        "fix suggestions for vm1 → vm3 in the app, asked to answered (ms): {:?}",
        timings(&b)
    );
    b.js(
        "document.getElementById('sim-fix').scrollIntoView({block: 'center'})",
        json!([]),
    );
    b.screenshot("fix-offered");

    // One click: the design is edited, the probe runs again and is delivered.
    b.click("#sim-fix-0");
    wait_for("the fix said applied", 30, || {
        b.text("#toast")
            .contains("Applied: tag vm3's nic eth0 with VLAN 10 (Undo takes it back)")
            .then_some(())
    });
    wait_vlan(&b, 10);
    wait_outcome(&b, "delivered");
    assert!(
        !b.exists("#sim-fix"),
        "a fix is still offered for a delivered probe"
    );
    b.screenshot("fix-applied");

    // Undo brings the broken design back; the trace belonged to the fixed one.
    b.click("#undo");
    wait_vlan(&b, 20);
    wait_for("the trace forgotten", 30, || {
        outcome(&b).is_none().then_some(())
    });

    // An address nobody has: no edit makes it answer, and the tab says so.
    b.set_field("#sim-to", "10.0.10.99");
    b.click("#sim-run");
    wait_outcome(&b, "dropped");
    b.wait_css("#sim-fix[data-state=\"none\"]", 60);
    assert!(b.text("#sim-fix").contains("No fix found"));
    assert!(!b.exists("#sim-fix-0"));

    // A red matrix cell offers the same fix; applying it turns the cell green.
    b.click("#reach-run");
    b.wait_css("#reach-status[data-state=\"done\"]", 60);
    let cell = "#reach-matrix .cell[data-from=\"vm1\"][data-to=\"10.0.10.2\"]";
    assert!(
        b.js(
            "return document.querySelector(arguments[0]).classList.contains('no')",
            json!([cell])
        ) == json!(true)
    );
    b.click(cell);
    let text = offered(&b, "matrix");
    assert!(text.contains(FIX), "{text}");
    b.js(
        "document.getElementById('matrix-fix').scrollIntoView({block: 'center'})",
        json!([]),
    );
    b.screenshot("fix-matrix");
    b.click("#matrix-fix-0");
    wait_vlan(&b, 10);
    wait_for("the cell green", 60, || {
        b.js(
            "const c = document.querySelector(arguments[0]); return c && c.classList.contains('ok')",
            json!([cell]),
        )
        .as_bool()
        .filter(|ok| *ok)
    });
    b.assert_csp_kept();
}

#[test]
fn a_violated_intent_is_shown_under_the_matrix_with_its_fix() {
    if !browser::available("a_violated_intent_is_shown_under_the_matrix_with_its_fix") {
        return;
    }
    let server = Server::start();
    let b = browser::app(&server);
    let text = broken()
        + "expect:\n  reach:\n    - {from: vm1, to: vm3}\n  isolate:\n    - {from: vm1, to: vm4}\n";
    open_design(&b, &text, "seedlab");
    b.click("#tab-sim");
    b.click("#reach-run");
    let holding = |want: &str| {
        b.wait_css(
            &format!("#reach-intent[data-holding=\"{want}\"][data-of=\"2\"]"),
            60,
        )
    };
    holding("1");
    let violated = b.text("#reach-intent .violated");
    assert!(
        violated.contains("expect.reach[0]: vm1 -> 10.0.10.2 must reach: VIOLATED"),
        "{violated}"
    );
    let fix = offered(&b, "intent");
    assert!(
        fix.contains(FIX) && fix.contains("(the intent then holds"),
        "{fix}"
    );
    b.js(
        "document.getElementById('reach-intent').scrollIntoView({block: 'center'})",
        json!([]),
    );
    b.screenshot("fix-intent");
    b.click("#intent-fix-0");
    wait_vlan(&b, 10);
    holding("2");
    assert!(
        !b.exists("#intent-fix"),
        "a fix offered for an intent that holds"
    );
    b.click("#undo");
    wait_vlan(&b, 20);
    b.assert_csp_kept();
}
