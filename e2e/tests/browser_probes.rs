//! Packet Tracer habits in the Simulate tab: a probe's size and TTL are
//! fields of their own, every probe run stays in a list to run again, and
//! the played probe's route reads as traceroute prints it.

mod browser;

use browser::{wait_for, Server};
use serde_json::json;

#[test]
fn probes_are_listed_rerun_and_routed() {
    if !browser::available("probes_are_listed_rerun_and_routed") {
        return;
    }
    let server = Server::start();
    let b = browser::app(&server);
    b.click("#examples-menu summary");
    b.click("#example-nat");
    b.click("#tab-sim");
    b.set_field("#sim-from", "vm1");
    b.set_field("#sim-to", "198.51.100.1");
    let route = |want: &str| {
        wait_for(&format!("the route shows {want:?}"), 30, || {
            let r = b.text("#sim-route");
            r.contains(want).then_some(r)
        })
    };
    b.click("#sim-run");
    // The router that forwarded it, with the TTL it left with; then the upstream.
    let r = route("ip_forward, TTL 63");
    assert!(r.contains("node1/r1") && r.contains("internet"), "{r}");

    b.set_field("#sim-ttl", "1");
    b.click("#sim-run");
    let r = route("ttl-exceeded");
    assert!(r.contains("TTL 1 expires here"), "{r}");
    assert!(!r.contains("internet"), "{r}");

    // Both probes are listed, newest first; the older one runs again with its own TTL.
    let items = wait_for("two probes listed", 30, || {
        let v = b.js(
            "return [...document.querySelectorAll('#probe-list li')].map(l => l.textContent)",
            json!([]),
        );
        let items: Vec<String> = serde_json::from_value(v).unwrap_or_default();
        (items.len() == 2).then_some(items)
    });
    assert!(
        items[0].ends_with("vm1 → 198.51.100.1 icmp ttl 1"),
        "{items:?}"
    );
    assert!(items[1].ends_with("vm1 → 198.51.100.1 icmp"), "{items:?}");
    b.click("#probe-list li:nth-child(2) .rerun");
    route("ip_forward, TTL 63");
    b.wait_value("#sim-ttl", "", 30);

    // A size outside what the MTU carries is refused, naming the range; so is one that is no number.
    let refused = |size: &str, words: &str| {
        b.set_field("#sim-size", size);
        b.click("#sim-run");
        wait_for(&format!("size {size} refused"), 30, || {
            b.exists("#sim-error")
                .then(|| b.text("#sim-error"))
                .filter(|e| e.contains(words))
        });
    };
    refused("2000", "size 2000 is outside 28..1500");
    refused("abc", "size \"abc\" is not a number");
    b.assert_csp_kept();
}
