//! The engine in a real headless Chromium: the design's properties choose
//! it; on the seed lab OVN puts `engine: ovn` in the YAML, marks the GRE
//! tunnel with its warning (amber, the reason in the line's tooltip), and
//! the Simulate tab (the web worker) traces vm1 → vm3 as OVN does (its ARP
//! responder answers on node1: 11 hops instead of 13); undo takes it all
//! back. A router with snat and a third interface under OVN is marked with
//! its error (red, the reason in its tooltip).
//! Screenshots: e2e/artifacts/engine-*.png.

mod browser;

use browser::{open_seed_lab, wait_for, wait_yaml, yaml, Browser, Server, CONTROL};
use serde_json::json;

const TUNNEL_WARNING: &str = "warning: under engine ovn this tunnel only makes node1/br-in and node2/br-in one segment: OVN joins every pair of chassis with Geneve, so its GRE key 5 is not used";
const SNAT_ERROR: &str =
    "error: under engine ovn, a router with snat has two interfaces at most (r1 has 3)";

/// The marks on the canvas: each marked element's id and class (`bad` or `warn`).
fn marks(b: &Browser) -> Vec<(String, String)> {
    let v = b.js(
        "return [...document.querySelectorAll('#canvas .bad, #canvas .warn')]
            .filter(e => e.id).map(e => [e.id, e.classList.contains('bad') ? 'bad' : 'warn'])",
        json!([]),
    );
    serde_json::from_value(v).unwrap()
}

fn wait_marks(b: &Browser, want: &[(&str, &str)]) {
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(a, c)| (a.to_string(), c.to_string()))
        .collect();
    wait_for(&format!("the marks {want:?}"), 30, || {
        (marks(b) == want).then_some(())
    });
}

/// The tooltip of an element on the canvas (its own `title` child).
fn tooltip(b: &Browser, id: &str) -> String {
    b.text(&format!("#{id} > title"))
}

/// The badge of a marked element: its count and whether it is amber.
fn badge(b: &Browser, id: &str) -> (String, bool) {
    let v = b.js(
        "const c = document.querySelector('#' + arguments[0] + ' .badge');
         const t = document.querySelector('#' + arguments[0] + ' .badge-text');
         return [t.textContent, c.classList.contains('warn')]",
        json!([id]),
    );
    (v[0].as_str().unwrap().to_string(), v[1].as_bool().unwrap())
}

/// Run vm1 → vm3 in the Simulate tab; the number of hops of its trace.
fn hops_vm1_to_vm3(b: &Browser) -> usize {
    b.click("#tab-sim");
    b.set_field("#sim-from", "vm1");
    b.set_field("#sim-to", "vm3");
    b.set_field("#sim-speed", "8");
    b.js(
        "const r = document.getElementById('sim-result'); if (r) r.remove(); return null",
        json!([]),
    );
    b.click("#sim-run");
    b.wait_css("#sim-result[data-outcome=\"delivered\"]", 120);
    let pos = b.text("#sim-position");
    let n = pos.rsplit(' ').next().unwrap().parse().unwrap();
    b.click("#tab-props");
    n
}

#[test]
fn the_engine_is_chosen_in_the_designs_properties_and_what_ovn_cannot_express_is_marked() {
    if !browser::available(
        "the_engine_is_chosen_in_the_designs_properties_and_what_ovn_cannot_express_is_marked",
    ) {
        return;
    }
    let server = Server::start();
    let b = browser::app(&server);
    open_seed_lab(&b, "seedlab");
    assert!(!yaml(&b).contains("engine"));
    wait_marks(&b, &[]);
    assert_eq!(hops_vm1_to_vm3(&b), 13);

    // OVN in the design's properties: the file says so, the tunnel is marked.
    b.wait_value("#prop-engine", "ovs", 30);
    b.set_field("#prop-engine", "ovn");
    wait_yaml(&b, "\nengine: ovn\n");
    wait_marks(&b, &[("tunnels-0", "warn")]);
    let tip = tooltip(&b, "tunnels-0");
    assert!(tip.contains(TUNNEL_WARNING), "tooltip {tip:?}");
    assert_eq!(badge(&b, "tunnels-0"), ("1".into(), true));
    assert!(b.exists("#problems .problem.warning"));
    assert!(!b.exists("#problems .problem.error"));
    b.screenshot("engine-ovn-seedlab");
    // The worker simulates the design as OVN builds it.
    assert_eq!(hops_vm1_to_vm3(&b), 11);
    b.wait_value("#prop-engine", "ovn", 30);

    // Undo: back to Open vSwitch, no mark, no `engine` key.
    b.js("document.activeElement.blur(); return null", json!([]));
    b.keys(&[CONTROL], "z");
    wait_for("the YAML without engine", 30, || {
        (!yaml(&b).contains("engine")).then_some(())
    });
    wait_marks(&b, &[]);
    b.wait_value("#prop-engine", "ovs", 30);

    // A router with snat and a third interface under OVN: marked with the error.
    let text = include_str!("../../examples/nat.yaml")
        .replace("name: natlab\n", "name: natlab\nengine: ovn\n")
        .replace(
            "          - {name: qg0,",
            "          - {name: qr1, bridge: br-in, vlan: 20, ip: 10.0.20.254/24}\n          - {name: qg0,",
        );
    b.set_field("#yaml", &text);
    wait_marks(&b, &[("hosts-0-routers-0", "bad")]);
    let tip = tooltip(&b, "hosts-0-routers-0");
    assert!(tip.contains(SNAT_ERROR), "tooltip {tip:?}");
    assert_eq!(badge(&b, "hosts-0-routers-0"), ("1".into(), false));
    b.wait_value("#prop-engine", "ovn", 30);
    b.screenshot("engine-ovn-router");
    b.assert_csp_kept();
}
