//! The reachability matrix at scale, in a real headless Chromium: computed in
//! the web worker (the page keeps handling events while a million-pair
//! matrix is computed), virtualised (only the cells in view are in the DOM,
//! each the right one for its pair wherever the view is scrolled), grouped
//! by host, and, as root, after a real Verify with a disagreement: the hosts
//! and pairs that disagree first. Screenshots: e2e/artifacts/matrix-*.png.

mod browser;

#[path = "../../shared/tests/support/mod.rs"]
mod support;

use std::collections::HashMap;

use browser::{chain_lab, job, open_design, open_seed_lab, wait_for, Browser, Deployed, Server};
use serde_json::{json, Value};

/// The lab Verify runs on (namespaces `nl-bwebmx.…`, used by no other test).
const DEPLOYED: &str = "bwebmx";

/// Compute the matrix and wait for it.
fn compute(b: &Browser, secs: u64) {
    b.click("#tab-sim");
    b.click("#reach-run");
    b.wait_css("#reach-status[data-state=\"done\"]", secs);
}

/// The cells in the DOM: (from, to) → class list.
fn rendered(b: &Browser) -> Vec<(String, String, String)> {
    let v = b.js(
        "return [...document.querySelectorAll('#reach-matrix .cell')].map(c => [c.dataset.from, c.dataset.to, c.className])",
        json!([]),
    );
    serde_json::from_value(v).unwrap()
}

/// The labels of one axis in their on-screen order (headings of hosts included).
fn labels(b: &Browser, axis: &str) -> Vec<String> {
    let prop = if axis == "row" { "top" } else { "left" };
    let v = b.js(
        "return [...document.querySelectorAll('#reach-matrix .mx-label.' + arguments[0])]
            .sort((a, b) => parseFloat(a.style[arguments[1]]) - parseFloat(b.style[arguments[1]]))
            .map(e => (e.classList.contains('group') ? '#' : '') + e.dataset.name)",
        json!([axis, prop]),
    );
    serde_json::from_value(v).unwrap()
}

/// Cells that fit the view, with the few drawn beyond each edge: a bound on the DOM.
fn view_bound(b: &Browser) -> usize {
    let v = b.js(
        "const e = document.getElementById('reach-matrix'); return [e.clientWidth, e.clientHeight]",
        json!([]),
    );
    let (w, h) = (v[0].as_f64().unwrap(), v[1].as_f64().unwrap());
    ((w / 24.0).ceil() as usize + 8) * ((h / 20.0).ceil() as usize + 8)
}

/// Every cell in the DOM says what `netloom_core::reach` says of its pair.
fn assert_cells_right(cells: &[(String, String, String)], want: &HashMap<(String, String), bool>) {
    assert!(!cells.is_empty(), "no cell in view");
    for (from, to, class) in cells {
        let ok = want
            .get(&(from.clone(), to.clone()))
            .unwrap_or_else(|| panic!("a cell for {from} → {to}, which reach does not report"));
        let shown = class.split(' ').any(|c| c == "ok");
        assert_eq!(shown, *ok, "{from} → {to} shown as {class:?}");
    }
}

#[test]
fn a_40000_cell_matrix_is_virtualised_grouped_by_host_and_right_where_scrolled() {
    if !browser::available(
        "a_40000_cell_matrix_is_virtualised_grouped_by_host_and_right_where_scrolled",
    ) {
        return;
    }
    let text = chain_lab(20, 10);
    let topo = netloom_core::validate(&netloom_core::parse(&text).unwrap())
        .unwrap()
        .topology;
    let want: HashMap<(String, String), bool> = netloom_core::reach::reach(&topo)
        .results
        .into_iter()
        .map(|r| ((r.from, r.to), r.ok))
        .collect();
    assert_eq!(
        want.len(),
        200 * 199,
        "200 senders × 200 addresses, less their own"
    );

    let server = Server::start();
    let b = Browser::start(1400, 900);
    b.goto(&server.login_url);
    b.wait_css("#canvas", 30);
    open_design(&b, &text, "bigmx");
    compute(&b, 120);
    assert!(
        b.text("#reach-status")
            .contains("200 senders × 200 addresses, 39800 pairs"),
        "{}",
        b.text("#reach-status")
    );

    // Only what is in view is in the DOM, and it is right.
    let cells = rendered(&b);
    let bound = view_bound(&b);
    assert!(
        cells.len() <= bound,
        "{} cells in the DOM, the view holds {bound}",
        cells.len()
    );
    assert_cells_right(&cells, &want);
    // Grouped by host: each host's heading, then its vms, in file order.
    let rows = labels(&b, "row");
    assert_eq!(rows[..4], ["#h0", "vm0-0", "vm0-1", "vm0-2"], "{rows:?}");
    let cols = labels(&b, "col");
    assert_eq!(cols[..3], ["#h0", "10.10.0.1", "10.20.0.2"], "{cols:?}");
    b.screenshot("matrix-1-top");

    // Find a pair far down and right: the view goes there and shows its cell.
    for (from, to) in [("vm17-8", "10.20.13.10"), ("vm17-9", "10.20.13.10")] {
        b.set_field("#matrix-find-from", from);
        b.set_field("#matrix-find-to", to);
        let css = format!("#reach-matrix .cell.found[data-from=\"{from}\"][data-to=\"{to}\"]");
        b.wait_css(&css, 10);
        let cells = rendered(&b);
        assert!(cells.len() <= bound, "{} cells in the DOM", cells.len());
        assert_cells_right(&cells, &want);
        assert!(
            !b.exists("#reach-matrix .cell[data-from=\"vm0-0\"]"),
            "the first row is out of view, so out of the DOM"
        );
    }
    b.screenshot("matrix-2-found");
    // The found pair animates on a click (simulated in the worker too).
    b.set_field("#sim-speed", "8");
    b.click("#reach-matrix .cell.found");
    b.wait_css("#sim-result", 60);
    assert_eq!(
        b.js(
            "return document.getElementById('sim-result').dataset.outcome",
            json!([])
        ),
        json!(if want[&("vm17-9".into(), "10.20.13.10".into())] {
            "delivered"
        } else {
            "dropped"
        })
    );

    // Scrolled by hand to the far corner: the last sender's pairs are there.
    b.js(
        "const e = document.getElementById('reach-matrix'); e.scrollTop = e.scrollHeight; e.scrollLeft = e.scrollWidth; return null",
        json!([]),
    );
    b.wait_css(
        "#reach-matrix .cell[data-from=\"vm19-9\"][data-to=\"10.10.19.9\"]",
        10,
    );
    assert_cells_right(&rendered(&b), &want);

    // Enlarged over the canvas: more cells in view, still only those.
    let before = rendered(&b).len();
    b.click("#matrix-wide");
    wait_for("the enlarged view filled", 10, || {
        (rendered(&b).len() > before).then_some(())
    });
    let cells = rendered(&b);
    assert!(
        cells.len() <= view_bound(&b),
        "{} cells in the DOM",
        cells.len()
    );
    assert_cells_right(&cells, &want);
    b.screenshot("matrix-3-wide");

    b.assert_csp_kept();
}

#[test]
fn the_page_handles_events_while_the_worker_computes_a_million_pairs() {
    if !browser::available("the_page_handles_events_while_the_worker_computes_a_million_pairs") {
        return;
    }
    let text = support::generated(100, 10);
    let topo = netloom_core::validate(&netloom_core::parse(&text).unwrap())
        .unwrap()
        .topology;
    let senders = netloom_core::reach::senders(&topo).len();
    let server = Server::start();
    let b = Browser::start(1400, 900);
    b.goto(&server.login_url);
    b.wait_css("#canvas", 30);
    open_design(&b, &text, "gen");
    b.click("#tab-sim");
    // Click Compute, then (a task later, once the click's updates are drawn) another tab; a frame after that the
    // tab must have switched while the matrix is still being computed. Were
    // reach run on the page's thread, the click would hold it until the end.
    let r = b.js_async(
        r#"const done = arguments[arguments.length - 1];
        const state = () => document.getElementById('reach-status').dataset.state;
        document.getElementById('reach-run').click();
        setTimeout(() => {
            const in_task = state();
            document.getElementById('tab-props').click();
            requestAnimationFrame(() => done({
                in_task,
                in_frame: state(),
                switched: document.getElementById('tab-props').classList.contains('active'),
            }));
        }, 0);"#,
        json!([]),
    );
    assert_eq!(
        r,
        json!({"in_task": "running", "in_frame": "running", "switched": true}),
        "events handled while the matrix is computed"
    );
    // And the matrix comes.
    b.click("#tab-sim");
    b.wait_css("#reach-status[data-state=\"done\"]", 300);
    let shape = b.text("#reach-status");
    assert!(
        shape.starts_with(&format!("{senders} senders × ")),
        "{shape}"
    );
    assert!(b.exists("#reach-matrix .cell"));
    b.assert_csp_kept();
}

/// As root: apply the seed lab, make vm2 ignore pings (so vm4 → vm2 fails
/// for real while the simulation says it works), verify from the Deploy tab.
/// The counter and the cells fill pair by pair; then the two involved come
/// first in their hosts, on both axes alike (the columns follow the rows):
/// vm2 (which stopped answering) and vm4 (whose ping failed).
#[test]
fn after_verify_the_disagreements_come_first() {
    if !browser::available("after_verify_the_disagreements_come_first")
        || !netloom_e2e::root("after_verify_the_disagreements_come_first")
    {
        return;
    }
    let _guard = Deployed(DEPLOYED);
    let server = Server::start();
    let b = Browser::start(1400, 900);
    b.goto(&server.login_url);
    b.wait_css("#canvas", 30);
    open_seed_lab(&b, DEPLOYED);
    b.click("#tab-deploy");
    assert!(
        job(&b, "#deploy-apply", "apply", 300),
        "apply failed: {}",
        b.text("#job-result")
    );
    browser::ignore_pings(&format!("nl-{DEPLOYED}.node1.vm2"));

    // Before Verify: grouped by host in file order.
    compute(&b, 60);
    assert_eq!(
        labels(&b, "row"),
        ["#node1", "vm1", "vm2", "#node2", "vm3", "vm4"]
    );

    b.click("#tab-deploy");
    assert!(
        job(&b, "#deploy-verify", "verify", 300),
        "verify failed: {}",
        b.text("#job-result")
    );
    let progress: Value = b.js(
        "const p = document.getElementById('verify-progress'); return [Number(p.dataset.done), Number(p.dataset.total)]",
        json!([]),
    );
    assert_eq!(
        progress,
        json!([12, 12]),
        "4 vms × 3 other addresses, counted pair by pair"
    );
    b.click("#show-matrix");
    b.wait_css("#verify-summary[data-disagreements=\"1\"]", 30);
    assert_eq!(
        labels(&b, "row"),
        ["#node1", "vm2", "vm1", "#node2", "vm4", "vm3"]
    );
    assert_eq!(
        labels(&b, "col"),
        [
            "#node1",
            "10.0.20.1",
            "10.0.10.1",
            "#node2",
            "10.0.20.2",
            "10.0.10.2"
        ]
    );
    let bad = rendered(&b)
        .into_iter()
        .filter(|c| c.2.split(' ').any(|k| k == "disagree"))
        .map(|c| (c.0, c.1))
        .collect::<Vec<_>>();
    assert_eq!(bad, [("vm4".to_string(), "10.0.20.1".to_string())]);
    assert_eq!(
        b.js(
            "return document.querySelectorAll('#reach-matrix .cell.verified').length",
            json!([])
        ),
        json!(12),
        "every pair measured"
    );
    b.js(
        "document.getElementById('reach-matrix').scrollIntoView(); return null",
        json!([]),
    );
    b.screenshot("matrix-4-disagreement");
    b.assert_csp_kept();

    b.click("#tab-deploy");
    assert!(
        job(&b, "#deploy-destroy", "destroy", 300),
        "destroy failed: {}",
        b.text("#job-result")
    );
}
