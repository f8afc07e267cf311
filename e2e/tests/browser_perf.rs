//! The browser app's figures (docs/performance.md, "Browser app"), measured
//! in a real headless Chromium. Not part of `cargo test` (timings on a busy
//! machine are not pass/fail material); run it against a release build:
//!
//! ```sh
//! trunk build --release
//! cargo test -p netloom-e2e --test browser_perf -- --ignored --nocapture
//! ```

mod browser;

use std::process::Command;

use browser::{wait_for, Browser, Server};
use serde_json::json;

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

#[test]
#[ignore = "measurement, not a test: run with --ignored --nocapture"]
fn browser_app_figures() {
    if !browser::available("browser_app_figures") {
        return;
    }
    let server = Server::start();
    let (mut wasm, mut js) = (0, 0);
    for e in std::fs::read_dir(&server.dist).unwrap().flatten() {
        let p = e.path();
        match p.extension().and_then(|x| x.to_str()) {
            Some("wasm") => wasm += gzip_size(&p),
            Some("js") => js += gzip_size(&p),
            _ => {}
        }
    }
    println!(
        "gzip -9: wasm {:.1} KB + js {:.1} KB = {:.1} KB",
        wasm as f64 / 1024.0,
        js as f64 / 1024.0,
        (wasm + js) as f64 / 1024.0
    );

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
    b.click("#fit");
    let r = b.js_async(
        r#"const done = arguments[arguments.length - 1];
        const node = document.querySelector('#hosts-4-vms-3');
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
            ev('pointerup', window);
            const moved = node.getAttribute('transform');
            done({work, frames, moved, before});
        })();"#,
        json!([]),
    );
    assert_ne!(r["moved"], r["before"], "the dragged node did not move");
    let stats = |key: &str| {
        let mut v: Vec<f64> = serde_json::from_value(r[key].clone()).unwrap();
        v.sort_by(f64::total_cmp);
        (
            v.iter().sum::<f64>() / v.len() as f64,
            v[v.len() * 95 / 100],
            v[v.len() - 1],
        )
    };
    let (wm, wp, wx) = stats("work");
    let (fm, fp, fx) = stats("frames");
    println!("drag, 300 elements, 120 moves: app work {wm:.2} ms mean, {wp:.2} ms p95, {wx:.2} ms max per move; frame interval {fm:.1} ms mean, {fp:.1} ms p95, {fx:.1} ms max");

    // One simulation on the seed lab: click → the packet moves on the canvas.
    // Leptos patches the overlay in place (the same #packet element stays from
    // one run to the next), so the sign is the packet's position changing.
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
