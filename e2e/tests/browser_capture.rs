//! A live capture in the browser, in a real headless Chromium, as root on
//! this machine: a right-click on vm1's link asks the server for a capture
//! (refused, with the server's reason, while the design is not applied);
//! once applied, vm1's pings to vm3 appear as they happen, the filter keeps
//! the icmp ones, a picked packet shows its layers (as the Simulate
//! inspector does) and its bytes; Stop ends it and Download saves a pcap
//! holding every packet listed. A right-click on a bridge captures all of it,
//! VLAN tags included; on the tunnel, its packets on the underlay, inside
//! GRE; on an uplink, what leaves for the external network, after NAT.
//! Screenshots: e2e/artifacts/capture-*.png.

mod browser;

use std::process::Command;

use browser::{job, wait_for, Browser};
use netloom_core::capture::pcap;
use serde_json::json;

/// The lab deployed here (namespaces `nl-e2e-capui.…`, used by no other test).
const DEPLOYED: &str = "e2e-capui";

/// Right-click vm1's link (its nic to the bridge) on the canvas.
fn capture_vm1(b: &Browser) {
    capture_link(b, "hosts-0-vms-0-nics-0");
}

/// Right-click a link on the canvas (by its element id), at a point of its
/// line that nothing else covers.
fn capture_link(b: &Browser, id: &str) {
    b.wait_css(&format!("#{id} .link-hit"), 30);
    let at = b.js(
        "const id = '#' + arguments[0], line = document.querySelector(id + ' .link-hit');
         const m = line.getScreenCTM(), a = line.getAttribute.bind(line);
         const [x1, y1, x2, y2] = ['x1', 'y1', 'x2', 'y2'].map(k => parseFloat(a(k)));
         for (const t of [0.5, 0.6, 0.4, 0.7, 0.3, 0.8, 0.2]) {
             const p = new DOMPoint(x1 + (x2 - x1) * t, y1 + (y2 - y1) * t).matrixTransform(m);
             const e = document.elementFromPoint(p.x, p.y);
             if (e && e.closest(id)) return [Math.round(p.x), Math.round(p.y)];
         }
         return null",
        json!([id]),
    );
    let at = (
        at[0].as_i64().expect("a point of the link in view"),
        at[1].as_i64().unwrap(),
    );
    b.context_click(at);
    b.wait_css("#tab-capture.active", 30);
}

/// The one-line headers of the packets listed (those the filter keeps).
fn rows(b: &Browser) -> Vec<String> {
    let v = b.js(
        "return [...document.querySelectorAll('#capture-packets tr.packet td.summary')].map(t => t.textContent)",
        json!([]),
    );
    serde_json::from_value(v).unwrap()
}

/// The bytes of every blob the page makes into a download from now on.
fn watch_blobs(b: &Browser) {
    b.js(
        "window.madeBlobs = []; const make = URL.createObjectURL;
         URL.createObjectURL = blob => { window.madeBlobs.push(blob); return make.call(URL, blob); };
         return null",
        json!([]),
    );
}

fn blobs(b: &Browser) -> Vec<Vec<u8>> {
    let v = b.js_async(
        "const done = arguments[arguments.length - 1];
         Promise.all(window.madeBlobs.map(async x => [...new Uint8Array(await x.arrayBuffer())]))
             .then(done, e => done(String(e)));",
        json!([]),
    );
    serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("{e}: {v}"))
}

#[test]
fn a_live_capture_in_the_browser_lists_decodes_and_saves_real_packets() {
    let Some((_guard, _server, b)) = browser::seed_lab_app(
        "a_live_capture_in_the_browser_lists_decodes_and_saves_real_packets",
        DEPLOYED,
    ) else {
        return;
    };

    // Not stored yet, then stored but not applied: the tab says why not.
    capture_vm1(&b);
    wait_for("the capture refused", 30, || {
        b.text("#capture-error")
            .contains("not stored on the server")
            .then_some(())
    });
    b.click("#tab-server");
    b.click("#save");
    wait_for("the design stored", 30, || {
        b.text("#designs").contains(DEPLOYED).then_some(())
    });
    capture_vm1(&b);
    wait_for("the server's refusal", 30, || {
        b.text("#capture-error")
            .contains("is not applied")
            .then_some(())
    });
    assert_eq!(b.text("#capture-link"), "vm1:eth0");

    b.click("#tab-deploy");
    assert!(
        job(&b, "#deploy-apply", "apply", 300),
        "apply failed: {}",
        b.text("#job-result")
    );

    // Capturing: vm1 pings vm3 and every packet shows up.
    capture_vm1(&b);
    b.wait_css("#capture-count[data-phase=\"capturing\"]", 30);
    ping_vm3(&b);
    wait_for("three requests and three replies listed", 30, || {
        (rows(&b).iter().filter(|r| r.contains("icmp")).count() >= 6).then_some(())
    });
    let all = rows(&b).len();

    // The filter keeps the icmp packets; one picked shows its layers and bytes.
    b.set_field("#capture-filter", "icmp");
    wait_for("only icmp listed", 30, || {
        let r = rows(&b);
        (r.len() >= 6 && r.iter().all(|r| r.contains("icmp"))).then_some(())
    });
    b.click("#capture-packets tr.packet");
    b.wait_css("#capture-inspector", 30);
    let layers = b.js(
        "return [...document.querySelectorAll('#capture-inspector .layer summary')].map(s => s.textContent.trim().split(/\\s+/)[0])",
        json!([]),
    );
    assert_eq!(layers, json!(["Ethernet", "IPv4", "ICMP"]));
    let hex = b.text("#capture-hex");
    assert!(hex.starts_with("0000  "), "{hex}");
    assert!(hex.lines().count() >= 6, "98 bytes or more: {hex}");
    b.screenshot("capture-1-icmp");

    // Stop, then Download: a pcap of every packet received.
    b.click("#capture-stop");
    b.wait_css("#capture-count[data-phase=\"ended\"]", 30);
    assert!(!b.exists("#capture-error"), "{}", b.text("#capture-error"));
    let listed = {
        b.set_field("#capture-filter", "");
        wait_for("every packet listed again", 30, || {
            let n = rows(&b).len();
            (n >= all).then_some(n)
        })
    };
    watch_blobs(&b);
    b.click("#capture-download");
    let saved = wait_for("the pcap made", 30, || blobs(&b).pop());
    let packets: Vec<_> = pcap::Reader::new(&saved)
        .expect("a pcap file")
        .collect::<Result<_, _>>()
        .expect("whole records");
    assert_eq!(packets.len(), listed, "the file holds what was listed");
    let icmp = packets
        .iter()
        .filter(|p| {
            netloom_core::capture::decode(p.data)
                .iter()
                .any(|l| matches!(l, netloom_core::trace::Layer::Icmp { .. }))
        })
        .count();
    assert!(icmp >= 6, "{icmp} icmp packets saved");
    b.js(
        "document.getElementById('capture-hex').scrollIntoView(); return null",
        json!([]),
    );
    b.screenshot("capture-2-stopped");

    // A whole bridge (through an OVS mirror): vm1's pings carry VLAN 10 there.
    b.context_click(b.center("#hosts-0-bridges-0 rect"));
    b.wait_css("#capture-count[data-phase=\"capturing\"]", 60);
    assert_eq!(b.text("#capture-link"), "node1/br-in");
    ping_vm3(&b);
    b.set_field("#capture-filter", "vlan 10");
    wait_for("vm1's pings tagged VLAN 10 on the bridge", 30, || {
        (rows(&b).iter().filter(|r| r.contains("icmp")).count() >= 6).then_some(())
    });
    assert!(rows(&b).iter().all(|r| r.contains("802.1q vlan 10")));
    b.click("#capture-stop");
    b.wait_css("#capture-count[data-phase=\"ended\"]", 30);
    b.screenshot("capture-3-bridge");

    // The tunnel, on the underlay: the same pings inside GRE with key 5.
    capture_link(&b, "tunnels-0");
    b.wait_css("#capture-count[data-phase=\"capturing\"]", 60);
    assert_eq!(b.text("#capture-link"), "tunnels[0]");
    ping_vm3(&b);
    b.set_field("#capture-filter", "gre key 5");
    wait_for("vm1's pings inside the tunnel", 30, || {
        let r = rows(&b);
        (r.iter().filter(|r| r.contains("icmp")).count() >= 6).then_some(())
    });
    assert!(rows(&b).iter().all(|r| r.contains("gre key 5 | eth")));
    b.click("#capture-stop");
    b.wait_css("#capture-count[data-phase=\"ended\"]", 30);
    b.screenshot("capture-4-tunnel");
    b.assert_csp_kept();
}

/// A right-click on an uplink (the NAT example's br-ex to "internet")
/// captures there: vm1's pings to the upstream router leave masqueraded as
/// r1's outside address, and its replies come back to it.
#[test]
fn a_capture_from_an_uplink_shows_what_leaves_for_the_external_network() {
    const NAME: &str = "e2e-capup";
    let test = "a_capture_from_an_uplink_shows_what_leaves_for_the_external_network";
    if !browser::available(test) || !netloom_e2e::root(test) {
        return;
    }
    let _guard = browser::Deployed(NAME);
    let server = browser::Server::start();
    let b = browser::app(&server);
    let text =
        include_str!("../../examples/nat.yaml").replace("name: natlab", &format!("name: {NAME}"));
    browser::open_design(&b, &text, NAME);
    b.click("#tab-server");
    b.click("#save");
    wait_for("the design stored", 30, || {
        b.text("#designs").contains(NAME).then_some(())
    });
    b.click("#tab-deploy");
    assert!(
        job(&b, "#deploy-apply", "apply", 300),
        "apply failed: {}",
        b.text("#job-result")
    );

    capture_link(&b, "hosts-0-bridges-1-uplink");
    b.wait_css("#capture-count[data-phase=\"capturing\"]", 60);
    assert_eq!(b.text("#capture-link"), "node1/br-ex:uplink");
    vm1_pings(NAME, "198.51.100.1");
    b.set_field("#capture-filter", "icmp");
    wait_for("vm1's pings and their replies on the uplink", 30, || {
        (rows(&b).len() >= 6).then_some(())
    });
    let r = rows(&b);
    assert!(
        r.iter()
            .all(|r| r.contains("198.51.100.2") && !r.contains("10.0.0.1")),
        "masqueraded on the uplink: {r:#?}"
    );
    b.click("#capture-stop");
    b.wait_css("#capture-count[data-phase=\"ended\"]", 30);
    assert!(!b.exists("#capture-error"), "{}", b.text("#capture-error"));
    b.screenshot("capture-5-uplink");
}

/// vm1 pings vm3 three times, all answered.
fn ping_vm3(b: &Browser) {
    vm1_pings(DEPLOYED, "10.0.10.2");
    assert!(!b.exists("#capture-error"), "{}", b.text("#capture-error"));
}

/// vm1 of deployed design `name` (on host node1) pings `to` three times, all answered.
fn vm1_pings(name: &str, to: &str) {
    let ping = Command::new("ip")
        .args(["netns", "exec", &format!("nl-{name}.node1.vm1")])
        .args(["ping", "-c", "3", "-i", "0.2", "-W", "2", to])
        .output()
        .unwrap();
    assert!(ping.status.success(), "{ping:?}");
}
