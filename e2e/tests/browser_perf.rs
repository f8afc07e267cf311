//! The browser app's figures (docs/performance.md, "Browser app"), measured
//! in a real headless Chromium. Not part of `cargo test` (timings on a busy
//! machine are not pass/fail material); run it against a release build:
//!
//! ```sh
//! trunk build --release
//! cargo test -p netloom-e2e --test browser_perf -- --ignored --nocapture --test-threads 1
//! ```
//!
//! `browser_app_figures`: size, load, drag of 300 elements, one simulation.
//! `browser_scale_figures`: a 1,000-vm design (drag; its million-pair matrix
//! computed in the worker while the page's frames are watched) and the
//! 40,000-cell matrix (shown, scrolled).
//! `browser_drag_figures`: that drag with Chromium's frame-rate cap lifted,
//! so a frame's interval is its cost.
//! `browser_verify_figures` (root): the page while Verify of a 20-host lab
//! streams its 39,800 pairs into the Deploy tab's counter and the matrix.

mod browser;

#[path = "../../shared/tests/support/mod.rs"]
mod support;

use std::process::Command;

use browser::{chain_lab, job, wait_for, Browser, Deployed, Server};
use serde_json::{json, Value};

fn gzip_size(path: &std::path::Path) -> u64 {
    let out = Command::new("gzip")
        .args(["-9", "-c"])
        .arg(path)
        .output()
        .expect("gzip");
    out.stdout.len() as u64
}

/// A design of `hosts` hosts, each with 2 bridges and `vms` vms (1 nic each).
fn big_design(hosts: usize, vms: usize) -> String {
    let mut y = String::from("version: 1\nname: big\nhosts:\n");
    for h in 0..hosts {
        y += &format!("- name: h{h}\n  bridges:\n  - name: b0\n  - name: b1\n  vms:\n");
        for v in 0..vms {
            y += &format!(
                "  - name: v{h}x{v}\n    nics:\n    - {{bridge: b{}, vlan: {}, ip: 10.{h}.{v}.1/24}}\n",
                v % 2,
                10 + v % 3
            );
        }
    }
    y
}

/// Sorted samples: mean, 95th percentile and maximum.
fn stats(v: &Value) -> (f64, f64, f64) {
    let mut v: Vec<f64> = serde_json::from_value(v.clone()).unwrap();
    v.sort_by(f64::total_cmp);
    (
        v.iter().sum::<f64>() / v.len() as f64,
        v[v.len() * 95 / 100],
        v[v.len() - 1],
    )
}

/// Drag one node of the design shown by 120 small moves; the app's work
/// per move, the frame intervals, and the drop (the edit committed: pointer
/// up → next frame).
fn drag(b: &Browser, node: &str) -> String {
    b.click("#fit");
    let r = b.js_async(
        r#"const done = arguments[arguments.length - 1];
        const node = document.querySelector(arguments[0]);
        const before = node.getAttribute('transform');
        const box = node.getBoundingClientRect();
        let x = box.left + 20, y = box.top + 10;
        const ev = (type, target) => target.dispatchEvent(new PointerEvent(type, {bubbles: true, clientX: x, clientY: y, button: 0, pointerId: 1}));
        const frame = () => new Promise(r => requestAnimationFrame(() => r(performance.now())));
        (async () => {
            ev('pointerdown', node.querySelector('rect'));
            await frame();
            const work = [], frames = [];
            let last = await frame();
            for (let i = 0; i < 120; i++) {
                x += 2; y += 1;
                // The app's work: the handler and the reactive updates it
                // schedules (Leptos runs effects as microtasks), not the browser's paint.
                const t0 = performance.now();
                ev('pointermove', window);
                for (let k = 0; k < 20; k++) await Promise.resolve();
                work.push(performance.now() - t0);
                const t = await frame();
                frames.push(t - last);
                last = t;
            }
            const t0 = performance.now();
            ev('pointerup', window);
            const dropped = await frame() - t0;
            const moved = node.getAttribute('transform');
            done({work, frames, moved, before, dropped});
        })();"#,
        json!([node]),
    );
    assert_ne!(r["moved"], r["before"], "the dragged node did not move");
    let (wm, wp, wx) = stats(&r["work"]);
    let (fm, fp, fx) = stats(&r["frames"]);
    format!(
        "app work {wm:.2} ms mean, {wp:.2} ms p95, {wx:.2} ms max per move; frame interval {fm:.1} ms mean, {fp:.1} ms p95, {fx:.1} ms max; drop (pointer up → next frame) {:.0} ms",
        r["dropped"].as_f64().unwrap()
    )
}

#[test]
#[ignore = "measurement, not a test: run with --ignored --nocapture"]
fn browser_app_figures() {
    if !browser::available("browser_app_figures") {
        return;
    }
    let server = Server::start();
    // The page loads the app; the worker (simulation, matrices) is fetched
    // when the Simulate or Deploy tab first opens.
    for (what, worker) in [("page", false), ("worker", true)] {
        let (mut wasm, mut js) = (0, 0);
        for e in std::fs::read_dir(&server.dist).unwrap().flatten() {
            let p = e.path();
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            if name.starts_with("netloom-worker") != worker {
                continue;
            }
            match p.extension().and_then(|x| x.to_str()) {
                Some("wasm") => wasm += gzip_size(&p),
                Some("js") => js += gzip_size(&p),
                _ => {}
            }
        }
        println!(
            "gzip -9, {what}: wasm {:.1} KB + js {:.1} KB = {:.1} KB",
            wasm as f64 / 1024.0,
            js as f64 / 1024.0,
            (wasm + js) as f64 / 1024.0
        );
    }

    let b = Browser::start(1400, 900);
    b.goto(&server.login_url);
    b.wait_css("#canvas", 30);
    let mut loads = Vec::new();
    for _ in 0..5 {
        b.goto(&server.base);
        let t = wait_for("the interactive mark", 30, || {
            b.js("const m = performance.getEntriesByName('netloom-interactive')[0]; return m ? m.startTime : null", json!([]))
                .as_f64()
        });
        loads.push(t);
    }
    loads.sort_by(f64::total_cmp);
    println!(
        "page interactive (navigation start → app mounted), 5 loads: median {:.0} ms, max {:.0} ms",
        loads[2], loads[4]
    );

    // Dragging one node of a 300-element design (10 hosts × (2 bridges + 28 vms)).
    b.set_field("#yaml", &big_design(10, 28));
    wait_for("300 nodes drawn", 30, || {
        (b.js(
            "return document.querySelectorAll('#canvas g.node').length",
            json!([]),
        ) == json!(300))
        .then_some(())
    });
    let d = drag(&b, "#hosts-4-vms-3");
    println!("drag, 300 elements, 120 moves: {d}");

    // One simulation on the seed lab: click → the packet moves on the canvas.
    // The click takes the last trace off; the worker's answer draws the packet
    // again: the sign is the packet at a position other than before the click.
    b.click("#examples-menu summary");
    b.click("#example-seedlab-gre");
    b.wait_css("#no-problems", 10);
    b.click("#tab-sim");
    b.set_field("#sim-speed", "8");
    b.set_field("#sim-to", "vm3");
    let mut starts = Vec::new();
    for _ in 0..5 {
        let t = b.js_async(
            r#"const done = arguments[arguments.length - 1];
            const at = () => { const p = document.getElementById('packet'); return p && p.getAttribute('transform'); };
            const before = at();
            const t0 = performance.now();
            const finish = () => { obs.disconnect(); requestAnimationFrame(() => done(performance.now() - t0)); };
            const obs = new MutationObserver(() => { const now = at(); if (now && now !== before) finish(); });
            obs.observe(document.getElementById('canvas'), {childList: true, subtree: true, attributes: true, attributeFilter: ['transform']});
            document.getElementById('sim-run').click();"#,
            json!([]),
        );
        starts.push(t.as_f64().unwrap());
        b.wait_css("#sim-result", 30);
        b.click("#sim-reset");
    }
    starts.sort_by(f64::total_cmp);
    println!("simulate vm1 → vm3 on the seed lab, click → packet moving (next frame painted), 5 runs: median {:.1} ms, max {:.1} ms", starts[2], starts[4]);
}

/// The 1,000-vm design of the core's benchmarks and how many elements it draws.
fn thousand_vms() -> (String, usize) {
    let text = support::generated(100, 10);
    let spec = netloom_core::parse(&text).unwrap();
    let nodes = spec
        .hosts
        .iter()
        .map(|h| h.bridges.len() + h.vms.len() + h.dhcp.len() + h.routers.len())
        .sum::<usize>()
        + spec.externals.len();
    (text, nodes)
}

/// Dragging in the 1,000-vm design with Chromium's frame-rate cap lifted
/// (`--disable-frame-rate-limit --disable-gpu-vsync`): a frame follows as
/// soon as the last is done, so the frame interval is what one frame of the
/// drag costs (the app's work, style, layout, paint), not the display's 16.7 ms.
#[test]
#[ignore = "measurement, not a test: run with --ignored --nocapture"]
fn browser_drag_figures() {
    if !browser::available("browser_drag_figures") {
        return;
    }
    let server = Server::start();
    let b = Browser::start_with(
        1400,
        900,
        &["--disable-frame-rate-limit", "--disable-gpu-vsync"],
    );
    b.goto(&server.login_url);
    b.wait_css("#canvas", 30);
    let (text, nodes) = thousand_vms();
    open(&b, &text, nodes);
    for _ in 0..3 {
        println!(
            "drag, 1,000 vms, 120 moves, frames uncapped: {}",
            drag(&b, "#hosts-40-vms-3")
        );
    }
}

/// Open a design through the YAML panel; the time until its `nodes` elements are drawn.
fn open(b: &Browser, text: &str, nodes: usize) -> f64 {
    let t = std::time::Instant::now();
    b.open_design(text, nodes, 120);
    t.elapsed().as_secs_f64() * 1000.0
}

/// Click Compute and watch the page until the matrix is drawn: the time to
/// the first frame with cells, every frame interval meanwhile, and the long
/// tasks (over 50 ms: the page did nothing else) the browser reported.
fn compute_matrix(b: &Browser) -> Value {
    b.js_async(
        r#"const done = arguments[arguments.length - 1];
        const long = [];
        const obs = new PerformanceObserver(l => l.getEntries().forEach(e => long.push(e.duration)));
        obs.observe({type: 'longtask'});
        const shown = () => document.getElementById('reach-status').dataset.state === 'done'
            && document.querySelector('#reach-matrix .cell') !== null;
        const frames = [];
        const t0 = performance.now();
        let last = t0;
        document.getElementById('reach-run').click();
        const tick = t => {
            frames.push(t - last);
            last = t;
            if (shown()) {
                obs.disconnect();
                done({ms: t - t0, frames, long, cells: document.querySelectorAll('#reach-matrix .cell').length});
            } else {
                requestAnimationFrame(tick);
            }
        };
        requestAnimationFrame(tick);"#,
        json!([]),
    )
}

fn describe_compute(r: &Value) -> String {
    let (fm, fp, fx) = stats(&r["frames"]);
    let long: Vec<f64> = serde_json::from_value(r["long"].clone()).unwrap();
    format!(
        "click → matrix drawn {:.0} ms; {} frames meanwhile, interval {fm:.1} ms mean, {fp:.1} ms p95, {fx:.1} ms max; long tasks (> 50 ms) {}, longest {:.0} ms, {} cells in the DOM",
        r["ms"].as_f64().unwrap(),
        r["frames"].as_array().unwrap().len(),
        long.len(),
        long.iter().copied().fold(0.0, f64::max),
        r["cells"]
    )
}

#[test]
#[ignore = "measurement, not a test: run with --ignored --nocapture"]
fn browser_scale_figures() {
    if !browser::available("browser_scale_figures") {
        return;
    }
    let server = Server::start();
    let b = Browser::start(1400, 900);
    b.goto(&server.login_url);
    b.wait_css("#canvas", 30);

    // The 1,000-vm design of the core's benchmarks (1,103 guests, 100 bridges,
    // an external network: 1,205 elements on the canvas).
    let (text, nodes) = thousand_vms();
    let ms = open(&b, &text, nodes);
    println!("1,000 vms ({nodes} elements): opened through the YAML panel and drawn in {ms:.0} ms");
    for _ in 0..2 {
        println!(
            "drag, 1,000 vms, 120 moves: {}",
            drag(&b, "#hosts-40-vms-3")
        );
    }
    b.click("#tab-sim");
    for run in 1..=2 {
        let r = compute_matrix(&b);
        println!(
            "reach matrix, 1,000 vms (1.1 million pairs), run {run}: {}",
            describe_compute(&r)
        );
    }

    // 200 × 200: `benchmarks/apply/gen_big.py 20 10`.
    open(&b, &chain_lab(20, 10), 220);
    b.click("#tab-sim");
    let mut shown = Vec::new();
    for run in 0..5 {
        let r = compute_matrix(&b);
        if run == 0 {
            println!("40,000-cell matrix, first run: {}", describe_compute(&r));
        }
        shown.push(r["ms"].as_f64().unwrap());
    }
    shown.sort_by(f64::total_cmp);
    println!(
        "40,000-cell matrix, click → drawn, 5 runs: median {:.0} ms, max {:.0} ms",
        shown[2], shown[4]
    );
    for wide in [false, true] {
        if wide {
            b.click("#matrix-wide");
        }
        let r = b.js_async(
            r#"const done = arguments[arguments.length - 1];
            const e = document.getElementById('reach-matrix');
            e.scrollTop = 0; e.scrollLeft = 0;
            const frames = [], counts = [], work = [];
            // The app's work per scroll: a frame dispatches the scroll event (caught
            // here first), runs the app's handler and the updates it schedules
            // (microtasks), then the animation frame callbacks.
            let scrolled = null;
            window.addEventListener('scroll', () => { scrolled = performance.now(); }, true);
            let last = null, n = 0;
            const tick = t => {
                if (scrolled !== null) { work.push(performance.now() - scrolled); scrolled = null; }
                if (last !== null) { frames.push(t - last); counts.push(document.querySelectorAll('#reach-matrix .cell').length); }
                last = t;
                if (n++ === 120) return done({frames, counts, work});
                e.scrollTop += 40; e.scrollLeft += 30;
                requestAnimationFrame(tick);
            };
            requestAnimationFrame(tick);"#,
            json!([]),
        );
        let (fm, fp, fx) = stats(&r["frames"]);
        let (cm, _, cx) = stats(&r["counts"]);
        let (wm, wp, wx) = stats(&r["work"]);
        println!(
            "scrolling the 40,000-cell matrix ({}), 120 frames of 40 px down and 30 px right: app work {wm:.1} ms mean, {wp:.1} ms p95, {wx:.1} ms max per scroll; frame interval {fm:.1} ms mean, {fp:.1} ms p95, {fx:.1} ms max; cells in the DOM {cm:.0} mean, {cx:.0} max",
            if wide { "enlarged, 1,240 × 640 px" } else { "side panel" }
        );
    }
}

#[test]
#[ignore = "measurement, not a test: run as root with --ignored --nocapture"]
fn browser_verify_figures() {
    if !browser::available("browser_verify_figures") || !netloom_e2e::root("browser_verify_figures")
    {
        return;
    }
    const NAME: &str = "bwebperf";
    let _guard = Deployed(NAME);
    let server = Server::start();
    let b = Browser::start(1400, 900);
    b.goto(&server.login_url);
    b.wait_css("#canvas", 30);
    open(
        &b,
        &chain_lab(20, 10).replace("name: bigmx", &format!("name: {NAME}")),
        220,
    );
    b.click("#tab-deploy");
    let t = std::time::Instant::now();
    assert!(
        job(&b, "#deploy-apply", "apply", 600),
        "{}",
        b.text("#job-result")
    );
    println!(
        "apply 20 x 10 from the Deploy tab: {:.1} s (click → result shown)",
        t.elapsed().as_secs_f64()
    );
    // Watch every frame while Verify runs: the counter's values, the frame
    // intervals, the long tasks.
    let r = b.js_async(
        r#"const done = arguments[arguments.length - 1];
        const long = [];
        const t0 = performance.now();
        const obs = new PerformanceObserver(l => l.getEntries().forEach(e => { long.push(e.duration); at.push([Math.round(e.startTime - t0), Math.round(e.duration)]); }));
        obs.observe({type: 'longtask'});
        const at = [], frames = [], counts = new Set();
        let last = t0;
        document.getElementById('deploy-verify').click();
        const tick = t => {
            frames.push(t - last);
            last = t;
            const p = document.getElementById('verify-progress');
            if (p) counts.add(p.dataset.done);
            const r = document.getElementById('job-result');
            if (r && r.dataset.action === 'verify') {
                obs.disconnect();
                done({s: (t - t0) / 1000, frames, long, at, updates: counts.size, ok: r.dataset.ok,
                      total: p && p.dataset.total, done: p && p.dataset.done});
            } else {
                requestAnimationFrame(tick);
            }
        };
        requestAnimationFrame(tick);"#,
        json!([]),
    );
    assert_eq!(r["ok"], "true", "verify failed: {}", b.text("#job-result"));
    let (fm, fp, fx) = stats(&r["frames"]);
    let long: Vec<f64> = serde_json::from_value(r["long"].clone()).unwrap();
    println!(
        "verify 20 x 10 from the Deploy tab ({} of {} pairs): {:.1} s; the counter took {} values; frame interval {fm:.1} ms mean, {fp:.1} ms p95, {fx:.1} ms max; long tasks (> 50 ms) {}, longest {:.0} ms",
        r["done"], r["total"], r["s"].as_f64().unwrap(), r["updates"], long.len(), long.iter().copied().fold(0.0, f64::max)
    );
    b.click("#show-matrix");
    b.wait_css("#verify-summary", 30);
    println!("long tasks (start ms, duration ms): {}", r["at"]);
    println!("{}", b.text("#verify-summary"));
    b.screenshot("perf-verify-20x10");
    b.click("#tab-deploy");
    assert!(
        job(&b, "#deploy-destroy", "destroy", 600),
        "{}",
        b.text("#job-result")
    );
}
