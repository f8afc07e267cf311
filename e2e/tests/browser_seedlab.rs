//! From an empty canvas, build the seed GRE lab by drag and drop in a real
//! headless Chromium, check the YAML panel, undo/redo, and simulate across
//! the tunnel and across VLANs; then, as root, apply it to this machine from
//! the Deploy tab (live progress), verify (real pings agree with the
//! simulation on every pair) and destroy it. Screenshots:
//! e2e/artifacts/seedlab-*.png.

mod browser;

use browser::{job, select, wait_yaml, yaml, Browser, Deployed, Server, CONTROL, SHIFT};
use serde_json::json;

const ESCAPE: &str = "\u{E00C}";

/// The names labs are deployed under: not `seedlab` nor the apply tests'
/// `e2e-seed`, and one per test (they run in parallel), so no other test's
/// namespaces (`nl-<name>.…`) are touched.
const DEPLOYED: &str = "bseedlab";
const FAILING: &str = "bfaillab";

/// Drag a palette item to a point given relative to the canvas.
fn place(b: &Browser, kind: &str, x: i64, y: i64) {
    let from = b.center(&format!("#palette-{kind}"));
    b.drag(from, b.canvas_point(x, y));
}

fn connect(b: &Browser, from: &str, to: &str) {
    let start = b.center(&format!("[data-handle=\"{from}\"]"));
    let end = b.center(&format!("#{to} rect"));
    b.drag(start, end);
}

fn nic(b: &Browser, vm: &str, vlan: &str, ip: &str) {
    select(b, vm);
    b.set_field("#prop-nic0-vlan", vlan);
    wait_yaml(b, &format!("vlan: {vlan}"));
    b.set_field("#prop-nic0-ip", ip);
    wait_yaml(b, ip);
}

fn run_probe(b: &Browser, to: &str) -> String {
    b.set_field("#sim-to", to);
    b.click("#sim-run");
    b.wait_css("#sim-result", 60);
    b.js(
        "return document.getElementById('sim-result').dataset.outcome",
        json!([]),
    )
    .as_str()
    .unwrap_or_default()
    .to_string()
}

#[test]
fn build_the_seed_lab_by_drag_and_drop_then_simulate() {
    if !browser::available("build_the_seed_lab_by_drag_and_drop_then_simulate") {
        return;
    }
    let server = Server::start();
    let b = Browser::start(1400, 900);
    b.goto(&server.login_url);
    b.wait_css("#canvas", 30);
    b.wait_css("#welcome", 10);
    b.screenshot("seedlab-1-empty");

    // Two hosts, a bridge in each, two vms per host.
    place(&b, "host", 240, 200);
    b.wait_css("#hosts-0", 10);
    place(&b, "host", 640, 200);
    b.wait_css("#hosts-1", 10);
    place(&b, "bridge", 240, 265);
    place(&b, "bridge", 640, 265);
    b.wait_css("#hosts-1-bridges-0", 10);
    for (x, host) in [(240, 0), (640, 1)] {
        place(&b, "vm", x - 65, 170);
        place(&b, "vm", x + 65, 170);
        b.wait_css(&format!("#hosts-{host}-vms-1"), 10);
    }

    // Nics: drag from each vm's handle to its host's bridge.
    for h in 0..2 {
        for v in 0..2 {
            connect(
                &b,
                &format!("hosts-{h}-vms-{v}"),
                &format!("hosts-{h}-bridges-0"),
            );
            b.wait_css(&format!("#hosts-{h}-vms-{v}-nics-0"), 10);
        }
    }
    // The tunnel: bridge to bridge across hosts, then choose GRE.
    connect(&b, "hosts-0-bridges-0", "hosts-1-bridges-0");
    b.click("#tunnel-gre");
    b.wait_css("#tunnels-0", 10);
    b.set_field("#prop-tunnel-id", "5");
    wait_yaml(&b, "key: 5");
    b.screenshot("seedlab-2-connected");

    for h in 0..2 {
        select(&b, &format!("hosts-{h}-bridges-0"));
        b.set_field("#prop-name", "br-in");
        wait_yaml(&b, &format!("node{}/br-in", h + 1));
    }
    nic(&b, "hosts-0-vms-0", "10", "10.0.10.1/24");
    nic(&b, "hosts-0-vms-1", "20", "10.0.20.1/24");
    nic(&b, "hosts-1-vms-0", "10", "10.0.10.2/24");
    nic(&b, "hosts-1-vms-1", "20", "10.0.20.2/24");
    b.keys(&[], ESCAPE);
    b.set_field("#prop-design-name", "seedlab");
    wait_yaml(&b, "name: seedlab");
    b.wait_css("#no-problems", 10);

    // The YAML panel holds the seed lab itself (positions aside).
    let mut built = netloom_core::parse(&yaml(&b)).expect("the YAML panel parses");
    assert!(
        !built.layout.is_empty(),
        "positions are kept with the design"
    );
    built.layout.clear();
    let seed = netloom_core::parse(include_str!("../../examples/seedlab-gre.yaml")).unwrap();
    assert_eq!(
        built, seed,
        "the lab built on the canvas differs from examples/seedlab-gre.yaml"
    );
    assert_eq!(
        b.js(
            "return document.querySelectorAll('.tunnel').length",
            json!([])
        ),
        json!(1)
    );
    assert!(b.text("#tunnels-0").contains("GRE key 5"));
    b.screenshot("seedlab-3-built");

    // Undo and redo the last edit (the design's name) from the keyboard.
    b.keys(&[CONTROL], "z");
    wait_yaml(&b, "name: lab\n");
    b.keys(&[CONTROL, SHIFT], "z");
    wait_yaml(&b, "name: seedlab");

    // vm1 → vm3: same VLAN, other host, across the GRE tunnel.
    b.click("#tab-sim");
    b.set_field("#sim-speed", "8");
    assert_eq!(
        run_probe(&b, "vm3"),
        "delivered",
        "{}",
        b.text("#sim-result")
    );
    let hops = b.js(
        "return [...document.querySelectorAll('circle.hop-mark')].map(e => e.dataset.node)",
        json!([]),
    );
    let hops: Vec<String> = serde_json::from_value(hops).unwrap();
    for n in ["vm1", "node1/br-in", "node2/br-in", "vm3"] {
        assert!(
            hops.iter().any(|h| h == n),
            "no rendered hop at {n}: {hops:?}"
        );
    }
    assert_eq!(
        b.js(
            "return document.getElementById('packet').dataset.node",
            json!([])
        ),
        json!("vm1"),
        "the reply ends at vm1"
    );
    assert!(
        b.exists("#inspector"),
        "the inspector shows the current step"
    );
    b.screenshot("seedlab-4-delivered");

    // Replay slowly and catch the packet inside its GRE capsule on the tunnel.
    b.click("#sim-reset");
    b.set_field("#sim-speed", "0.5");
    b.click("#sim-play");
    b.wait_css("#packet .capsule", 60);
    assert!(b.text("#packet").contains("GRE key 5"));
    b.screenshot("seedlab-5-tunnel");
    b.set_field("#sim-speed", "8");
    b.wait_css("#sim-result", 60);

    // vm1 → vm4: another VLAN; the drop is drawn with its reason.
    let outcome = run_probe(&b, "vm4");
    assert_eq!(outcome, "dropped");
    b.wait_css("#drop-mark", 10);
    let reason = b.text("#drop-mark");
    assert!(
        !reason.trim().is_empty() && b.text("#sim-result").contains(reason.trim()),
        "reason {reason:?}"
    );
    b.screenshot("seedlab-6-dropped");
    b.assert_csp_kept();

    deploy_verify_destroy(&b);
    b.assert_csp_kept();
}

/// Apply the lab to this machine, verify it for real, destroy it.
fn deploy_verify_destroy(b: &Browser) {
    if !netloom_e2e::root("build_the_seed_lab_by_drag_and_drop_then_simulate (deploy stages)") {
        return;
    }
    let _guard = Deployed(DEPLOYED);
    b.click("#tab-props");
    b.keys(&[], ESCAPE);
    b.set_field("#prop-design-name", DEPLOYED);
    wait_yaml(b, &format!("name: {DEPLOYED}"));
    b.click("#tab-deploy");

    // The plan: every host gets its namespace and Open vSwitch, nothing is removed.
    b.click("#deploy-plan-button");
    b.wait_css("#deploy-plan", 60);
    let hosts = b.js(
        "return [...document.querySelectorAll('#deploy-plan .plan-host')].map(e => e.dataset.host)",
        json!([]),
    );
    for h in ["node1", "node2"] {
        assert!(
            hosts.as_array().unwrap().iter().any(|x| x == h),
            "{h} not in the plan: {hosts}"
        );
    }
    assert!(
        !b.exists("#deploy-plan .plan-group.remove"),
        "a fresh plan removes nothing"
    );
    b.screenshot("seedlab-7-plan");

    // Apply: progress arrives per host and step while it runs.
    assert!(
        job(b, "#deploy-apply", "apply", 300),
        "apply failed: {}",
        b.text("#job-result")
    );
    let steps = b.js(
        "return document.querySelectorAll('#job-log tr').length",
        json!([]),
    );
    assert!(steps.as_u64().unwrap() > 10, "steps shown: {steps}");
    assert!(!b.exists("#job-log tr.failed"));
    for h in ["node1", "node2"] {
        assert!(
            b.text(".hosts-progress").contains(&format!("{h}:")),
            "no progress for {h}"
        );
    }
    b.screenshot("seedlab-8-applied");

    // Status: both hosts deployed, vms with their addresses, no drift.
    b.click("#deploy-status-button");
    b.wait_css(
        "#deploy-status[data-deployed=\"true\"] #status-drift[data-drift=\"0\"]",
        60,
    );
    let status = b.text("#deploy-status");
    assert!(
        status.contains("10.0.20.2/24") && status.contains(&format!("nl-{DEPLOYED}.node1")),
        "{status}"
    );
    b.js(
        "document.getElementById('deploy-status').scrollIntoView(); return null",
        json!([]),
    );
    b.screenshot("seedlab-9-status");

    // Verify: the real ping matrix agrees with the simulated one everywhere.
    assert!(
        job(b, "#deploy-verify", "verify", 300),
        "verify failed: {}",
        b.text("#job-result")
    );
    assert!(
        b.text("#job-result").contains("agrees"),
        "{}",
        b.text("#job-result")
    );
    // The counter is where the streamed probes took it: one per measured pair.
    let counter = b.js(
        "const p = document.getElementById('verify-progress'); return p ? [Number(p.dataset.done), Number(p.dataset.total)] : null",
        json!([]),
    );
    b.click("#show-matrix");
    b.wait_css("#verify-summary[data-disagreements=\"0\"]", 10);
    assert!(!b.exists("#reach-matrix .cell.disagree"));
    assert_eq!(
        b.js(
            "return document.querySelectorAll('#reach-matrix .cell:not(.verified)').length",
            json!([])
        ),
        json!(0),
        "every simulated pair was measured"
    );
    let cells = b.js(
        "return document.querySelectorAll('#reach-matrix .cell.verified').length",
        json!([]),
    );
    assert_eq!(
        counter,
        json!([cells, cells]),
        "progress counter [done, total]"
    );
    b.js(
        "document.getElementById('reach-matrix').scrollIntoView(); return null",
        json!([]),
    );
    assert!(
        b.exists("#reach-matrix .cell.no"),
        "the VLAN drop is part of the matrix"
    );
    b.screenshot("seedlab-10-verified");

    // Destroy and see nothing is left.
    b.click("#tab-deploy");
    assert!(
        job(b, "#deploy-destroy", "destroy", 300),
        "destroy failed: {}",
        b.text("#job-result")
    );
    let left: Vec<String> = netloom_e2e::netns_list()
        .into_iter()
        .filter(|n| n.starts_with(&format!("nl-{DEPLOYED}.")))
        .collect();
    assert!(left.is_empty(), "namespaces left after destroy: {left:?}");
    b.click("#deploy-status-button");
    b.wait_css("#deploy-status[data-deployed=\"false\"]", 60);
    b.js(
        "document.getElementById('deploy-status').scrollIntoView(); return null",
        json!([]),
    );
    b.screenshot("seedlab-11-destroyed");
}

/// A step that fails during Apply is shown where it happened: its host, the
/// step and the OS error, in the live log; the lab is destroyed afterwards.
#[test]
fn a_failed_apply_step_is_shown_in_place() {
    if !browser::available("a_failed_apply_step_is_shown_in_place")
        || !netloom_e2e::root("a_failed_apply_step_is_shown_in_place")
    {
        return;
    }
    let _guard = Deployed(FAILING);
    let pattern = format!("+ addr nl-{FAILING}.node2.vm4/");
    let server = Server::start_with_env(&[("NETLOOM_FAIL_AT", &pattern)]);
    let b = Browser::start(1400, 900);
    b.goto(&server.login_url);
    b.wait_css("#canvas", 30);
    b.click("#examples-menu summary");
    b.click("#example-seedlab-gre");
    b.wait_css("#no-problems", 10);
    b.keys(&[], ESCAPE);
    b.click("#tab-props");
    b.set_field("#prop-design-name", FAILING);
    wait_yaml(&b, &format!("name: {FAILING}"));
    b.click("#tab-deploy");

    assert!(
        !job(&b, "#deploy-apply", "apply", 300),
        "the apply should fail"
    );
    let result = b.text("#job-result");
    assert!(
        result.contains("node2") && result.contains("failure injected"),
        "{result}"
    );
    let failed = b.text("#job-log tr.failed");
    assert!(
        failed.contains("node2")
            && failed.contains(&pattern)
            && failed.contains("failure injected"),
        "the failed row: {failed:?}"
    );
    assert!(b.text(".host-progress.failed").starts_with("node2:"));
    b.screenshot("seedlab-failed-apply");

    // What was done stays; Destroy takes it all away.
    assert!(
        job(&b, "#deploy-destroy", "destroy", 300),
        "destroy failed: {}",
        b.text("#job-result")
    );
    let prefix = format!("nl-{FAILING}.");
    assert!(netloom_e2e::netns_list()
        .iter()
        .all(|n| !n.starts_with(&prefix)));
}
