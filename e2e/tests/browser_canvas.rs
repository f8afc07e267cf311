//! The canvas as people use it, in a real headless Chromium: large designs
//! (layout, Fit, minimap, search, a star of tunnels, the view following the
//! packet), links and their labels, exports, and moving a guest to another
//! host. Geometry is read from the live SVG (client rectangles, attributes).

mod browser;

use browser::{chain_lab, wait_for, Browser, Server};
use serde_json::{json, Value};

/// Client rectangle of the first element matching `css`: [left, top, right, bottom].
const RECT: &str = "const r = document.querySelector(arguments[0]).getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom];";

fn rect(b: &Browser, css: &str) -> [f64; 4] {
    b.wait_css(css, 10);
    serde_json::from_value(b.js(RECT, json!([css]))).unwrap()
}

fn inside(inner: [f64; 4], outer: [f64; 4]) -> bool {
    inner[0] >= outer[0] - 1.0
        && inner[1] >= outer[1] - 1.0
        && inner[2] <= outer[2] + 1.0
        && inner[3] <= outer[3] + 1.0
}

fn overlap(a: [f64; 4], b: [f64; 4]) -> bool {
    a[0] < b[2] && b[0] < a[2] && a[1] < b[3] && b[1] < a[3]
}

fn open(b: &Browser, text: &str, nodes: usize) {
    b.open_design(text, nodes, 60);
}

fn start() -> (Server, Browser) {
    let server = Server::start();
    let b = Browser::start(1400, 900);
    b.goto(&server.login_url);
    b.wait_css("#canvas", 30);
    (server, b)
}

/// A hub host joined by GRE to twelve others.
fn star() -> String {
    let mut y = String::from("version: 1\nname: cstar\nhosts:\n");
    for h in 0..13 {
        y += &format!(
            "- name: s{h}\n  bridges: [{{name: br0}}]\n  vms:\n  - {{name: v{h}, nics: [{{bridge: br0, ip: 10.0.0.{}/24}}]}}\n",
            h + 1
        );
    }
    y += "tunnels:\n";
    for h in 1..13 {
        y += &format!("- {{type: gre, between: [s0/br0, s{h}/br0], key: {h}}}\n");
    }
    y
}

/// The segments drawn for tunnels: [x1, y1, x2, y2] in canvas coordinates.
fn tunnel_lines(b: &Browser) -> Vec<[f64; 4]> {
    serde_json::from_value(b.js(
        "return [...document.querySelectorAll('#canvas line.tunnel')].map(l => ['x1','y1','x2','y2'].map(a => +l.getAttribute(a)))",
        json!([]),
    ))
    .unwrap()
}

#[test]
fn large_designs_read_and_navigate() {
    if !browser::available("large_designs_read_and_navigate") {
        return;
    }
    let (_server, b) = start();
    let canvas = || rect(&b, "#canvas");

    // 20 hosts × 10 vms, a GRE chain: Fit shows every host.
    open(&b, &chain_lab(20, 10), 220);
    b.click("#fit");
    let hosts: Vec<[f64; 4]> = serde_json::from_value(b.js(
        "return [...document.querySelectorAll('#canvas g.host > rect')].map(e => { const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; })",
        json!([]),
    ))
    .unwrap();
    assert_eq!(hosts.len(), 20);
    for (h, r) in hosts.iter().enumerate() {
        assert!(
            inside(*r, canvas()),
            "host h{h} at {r:?} is not on screen {:?}",
            canvas()
        );
    }
    // A grid, not a row: the hosts span several rows and fill the screen's shape.
    let all = hosts
        .iter()
        .copied()
        .reduce(|a, r| {
            [
                a[0].min(r[0]),
                a[1].min(r[1]),
                a[2].max(r[2]),
                a[3].max(r[3]),
            ]
        })
        .unwrap();
    let (w, h) = (all[2] - all[0], all[3] - all[1]);
    assert!(w / h < 4.0, "hosts span {w} × {h} px: one long row");
    let mut tops: Vec<i64> = hosts.iter().map(|r| r[1].round() as i64).collect();
    tops.sort();
    tops.dedup();
    assert!(tops.len() >= 3, "hosts in {} rows", tops.len());
    b.screenshot("canvas-20x10-fit");
    // Far out, the hosts' names stay readable.
    let title = rect(&b, "#hosts-3 .host-title");
    assert!(
        title[3] - title[1] >= 8.0,
        "host title {title:?} is too small to read"
    );

    // Search by name: selected, and brought on screen at a readable zoom.
    b.set_field("#canvas-search", "vm17-3");
    let target = "#canvas g.node[data-elem='h17/vm17-3']";
    wait_for("vm17-3 selected", 10, || {
        b.exists(&format!("{target}.selected")).then_some(())
    });
    let r = rect(&b, &format!("{target} > rect"));
    assert!(inside(r, canvas()), "vm17-3 at {r:?} is off screen");
    assert!(
        r[2] - r[0] > 60.0,
        "vm17-3 is {} px wide: not readable",
        r[2] - r[0]
    );
    // By address: 10.20.5.2 is vm5-1's.
    b.set_field("#canvas-search", "10.20.5.2");
    let target = "#canvas g.node[data-elem='h5/vm5-1']";
    wait_for("vm5-1 selected", 10, || {
        b.exists(&format!("{target}.selected")).then_some(())
    });
    assert!(inside(rect(&b, &format!("{target} > rect")), canvas()));

    // The minimap: every host, and a press on one brings it to the middle.
    assert_eq!(
        b.js(
            "return document.querySelectorAll('#minimap .mm-host').length",
            json!([])
        ),
        json!(20)
    );
    b.set_field("#canvas-search", "h19");
    b.click("#minimap .mm-host");
    let c = canvas();
    wait_for("h0 in the middle", 10, || {
        let r = rect(&b, "#hosts-0 > rect");
        let (x, y) = ((r[0] + r[2]) / 2.0, (r[1] + r[3]) / 2.0);
        ((x - (c[0] + c[2]) / 2.0).abs() < 40.0 && (y - (c[1] + c[3]) / 2.0).abs() < 40.0)
            .then_some(())
    });

    // The minimap can be put away.
    b.click("#toggle-minimap");
    b.wait_css("#minimap.hidden", 10);
    b.click("#toggle-minimap");
    b.wait_css("#minimap:not(.hidden)", 10);

    // Zoomed in on h0, the ping to vm19-0 crosses 19 tunnels and back: the
    // view follows the packet. Every frame of the play is watched.
    b.click("#tab-sim");
    b.wait_css("#sim-from", 20);
    b.set_field("#sim-from", "vm0-0");
    b.set_field("#sim-speed", "8");
    b.set_field("#sim-to", "vm19-0");
    b.js(
        "window.__seen = {frames: 0, out: 0, far: null};
         const c = document.getElementById('canvas').getBoundingClientRect();
         const watch = () => {
             const p = document.getElementById('packet');
             if (p) {
                 const r = p.getBoundingClientRect();
                 window.__seen.frames++;
                 if (r.left < c.left - 1 || r.top < c.top - 1 || r.right > c.right + 1 || r.bottom > c.bottom + 1) {
                     window.__seen.out++;
                     window.__seen.far = [p.dataset.node, r.left, r.top];
                 }
             }
             requestAnimationFrame(watch);
         };
         requestAnimationFrame(watch); return null",
        json!([]),
    );
    b.click("#sim-run");
    b.wait_css("#sim-result", 180);
    let at_end = || {
        let pos = b.text("#sim-position");
        let words: Vec<&str> = pos.split(' ').collect();
        (words.len() == 4 && words[1] == words[3]).then_some(())
    };
    wait_for("the ping played to the end", 120, at_end);
    let seen = b.js("return window.__seen", json!([]));
    assert!(seen["frames"].as_u64().unwrap() > 20, "{seen}");
    assert_eq!(
        seen["out"],
        json!(0),
        "frames with the packet off screen: {seen}"
    );

    // A star of tunnels looks like one: no two spokes (each drawn from the
    // hub) leave it in the same direction.
    b.click("#tab-props");
    open(&b, &star(), 26);
    b.click("#fit");
    b.screenshot("canvas-star");
    let lines = tunnel_lines(&b);
    assert_eq!(lines.len(), 12);
    let angle = |l: &[f64; 4]| (l[3] - l[1]).atan2(l[2] - l[0]);
    for (i, a) in lines.iter().enumerate() {
        for l in &lines[i + 1..] {
            let tau = std::f64::consts::TAU;
            let mut d = (angle(a) - angle(l)).abs() % tau;
            d = d.min(tau - d);
            assert!(d > 0.1, "tunnels {a:?} and {l:?} are drawn on one line");
        }
    }
    b.assert_csp_kept();
}

/// One router with two interfaces on one bridge (VLANs 10 and 20), two vms,
/// and an empty second host.
const TWO_VLANS: &str = "version: 1
name: ctwo
hosts:
- name: h1
  bridges: [{name: br0}]
  vms:
  - {name: a, nics: [{bridge: br0, vlan: 10, ip: 10.0.10.2/24}], gateway: 10.0.10.1}
  - {name: b, nics: [{bridge: br0, vlan: 20, ip: 10.0.20.2/24}], gateway: 10.0.20.1}
  routers:
  - name: r1
    interfaces:
    - {name: if10, bridge: br0, vlan: 10, ip: 10.0.10.1/24}
    - {name: if20, bridge: br0, vlan: 20, ip: 10.0.20.1/24}
- name: h2
  bridges: [{name: br0}]
";

/// Record every blob the page turns into a URL (what a download saves).
const RECORD_BLOBS: &str = "window.__blobs = []; const make = URL.createObjectURL;
    URL.createObjectURL = b => { window.__blobs.push(b); return make.call(URL, b); }; return null";

/// The text of the last recorded blob of `mime`, waiting for it.
fn blob_text(b: &Browser, mime: &str) -> String {
    wait_for(mime, 20, || {
        b.js_async(
            "const done = arguments[arguments.length - 1];
             const bl = (window.__blobs || []).filter(x => x.type === arguments[0]).pop();
             bl ? bl.text().then(done) : done(null);",
            json!([mime]),
        )
        .as_str()
        .map(str::to_string)
    })
}

#[test]
fn links_labels_exports_and_moves() {
    if !browser::available("links_labels_exports_and_moves") {
        return;
    }
    let (_server, b) = start();
    open(&b, TWO_VLANS, 5);
    b.click("#fit");

    // Two interfaces of r1 on br0: two lines apart, two tags apart.
    let line = |i: usize| -> [f64; 4] {
        serde_json::from_value(b.js(
            "const l = document.querySelector(arguments[0]); return ['x1','y1','x2','y2'].map(a => +l.getAttribute(a))",
            json!([format!("#hosts-0-routers-0-interfaces-{i} line.link")]),
        ))
        .unwrap()
    };
    let (l0, l1) = (line(0), line(1));
    let gap = ((l0[0] - l1[0]).hypot(l0[1] - l1[1])).min((l0[2] - l1[2]).hypot(l0[3] - l1[3]));
    assert!(
        gap > 10.0,
        "the interfaces' links {l0:?} and {l1:?} are drawn as one"
    );
    let t0 = rect(&b, "#hosts-0-routers-0-interfaces-0 .tag-bg");
    let t1 = rect(&b, "#hosts-0-routers-0-interfaces-1 .tag-bg");
    assert!(!overlap(t0, t1), "the VLAN tags {t0:?} and {t1:?} overlap");
    // No tag under a guest's box.
    let rects = |css: &str| -> Vec<[f64; 4]> {
        serde_json::from_value(b.js(
            "return [...document.querySelectorAll(arguments[0])].map(e => { const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; })",
            json!([css]),
        ))
        .unwrap()
    };
    let tags = rects("#canvas .tag-bg");
    assert_eq!(tags.len(), 4);
    for g in rects("#canvas g.vm > rect, #canvas g.router > rect") {
        for t in &tags {
            assert!(
                !overlap(*t, g),
                "a VLAN tag at {t:?} is under the box at {g:?}"
            );
        }
    }

    // Interface names and addresses: off, then on; tooltips always.
    assert!(!b.exists("#canvas .addr"));
    b.click("#toggle-labels");
    wait_for("address labels", 10, || {
        let texts = b.js(
            "return [...document.querySelectorAll('#canvas .addr')].map(t => t.textContent)",
            json!([]),
        );
        let texts: Vec<String> = serde_json::from_value(texts).unwrap();
        (texts.contains(&"if20 10.0.20.1/24".to_string())
            && texts.contains(&"eth0 10.0.10.2/24".to_string()))
        .then_some(())
    });
    b.screenshot("canvas-labels");
    let addrs = rects("#canvas .addr");
    for (i, a) in addrs.iter().enumerate() {
        for t in tags.iter().chain(&addrs[i + 1..]) {
            assert!(!overlap(*a, *t), "the label at {a:?} runs over {t:?}");
        }
    }
    let tip = b.text("#hosts-0-routers-0 > title");
    assert!(
        tip.contains("if10: 10.0.10.1/24 on br0, VLAN 10"),
        "tooltip {tip:?}"
    );

    // A drop (a → 10.0.30.9: no route on the way): its reason sits on the
    // node that dropped it, over no other node and no tag.
    b.click("#tab-sim");
    b.wait_css("#sim-from", 20);
    b.set_field("#sim-from", "a");
    b.set_field("#sim-speed", "8");
    b.set_field("#sim-to", "10.0.30.9");
    b.click("#sim-run");
    b.wait_css("#drop-mark .drop-text", 180);
    b.screenshot("canvas-drop");
    let reason = rect(&b, "#drop-mark .drop-text");
    let boxes = rects("#canvas g.node > rect");
    let under: Vec<_> = boxes.iter().filter(|r| overlap(reason, **r)).collect();
    assert!(
        under.len() == 1 && inside(reason, *under[0]),
        "the drop's reason {reason:?} runs over the boxes {under:?}"
    );
    for t in rects("#canvas .tag-bg") {
        assert!(
            !overlap(reason, t),
            "the drop's reason {reason:?} runs over the tag {t:?}"
        );
    }

    // Export: the whole design at scale 1, nothing selected; PNG beside it.
    // (The search selects vm b and zooms in on it first.)
    b.set_field("#canvas-search", "b");
    b.wait_css("#canvas .selected", 10);
    b.js(RECORD_BLOBS, json!([]));
    b.click("#export-svg");
    let svg = blob_text(&b, "image/svg+xml");
    let r = b.js(
        "const d = new DOMParser().parseFromString(arguments[0], 'image/svg+xml');
         const s = d.documentElement, vb = (s.getAttribute('viewBox') || '').split(' ').map(Number);
         const live = document.getElementById('viewport').getBBox();
         return {vb, live: [live.x, live.y, live.width, live.height], selected: d.querySelectorAll('.selected').length,
                 transform: d.getElementById('viewport').getAttribute('transform'), nodes: d.querySelectorAll('g.node').length};",
        json!([svg]),
    );
    assert_eq!(r["selected"], json!(0), "the export shows the selection");
    assert_eq!(
        r["transform"],
        Value::Null,
        "the export keeps the view's zoom"
    );
    assert_eq!(r["nodes"], json!(5));
    let vb: Vec<f64> = serde_json::from_value(r["vb"].clone()).unwrap();
    let live: Vec<f64> = serde_json::from_value(r["live"].clone()).unwrap();
    assert_eq!(vb.len(), 4, "no viewBox: {r}");
    assert!(
        vb[0] <= live[0]
            && vb[1] <= live[1]
            && vb[0] + vb[2] >= live[0] + live[2]
            && vb[1] + vb[3] >= live[1] + live[3],
        "the export {vb:?} cuts the design {live:?}"
    );
    b.click("#export-png");
    let size = wait_for("the PNG", 20, || {
        let v = b.js_async(
            "const done = arguments[arguments.length - 1];
             const bl = window.__blobs.filter(x => x.type === 'image/png').pop();
             bl ? createImageBitmap(bl).then(i => done([i.width, i.height])) : done(null);",
            json!([]),
        );
        v.as_array()
            .map(|a| (a[0].as_f64().unwrap(), a[1].as_f64().unwrap()))
    });
    assert!(
        (size.0 - 2.0 * vb[2]).abs() <= 2.0 && (size.1 - 2.0 * vb[3]).abs() <= 2.0,
        "PNG {size:?} for {vb:?}"
    );

    // A vm dropped inside the other host moves there.
    let from = b.center("#canvas g.node[data-elem='h1/a'] > rect");
    let to = b.center("#hosts-1 > rect");
    b.drag(from, to);
    b.wait_css("#canvas g.node[data-elem='h2/a']", 10);
    assert!(!b.exists("#canvas g.node[data-elem='h1/a']"));
    let (h1, h2) = (rect(&b, "#hosts-0 > rect"), rect(&b, "#hosts-1 > rect"));
    assert!(
        !overlap(h1, h2),
        "host h1 {h1:?} still stretches over h2 {h2:?}"
    );
    assert!(inside(
        rect(&b, "#canvas g.node[data-elem='h2/a'] > rect"),
        h2
    ));
    b.assert_csp_kept();
}
