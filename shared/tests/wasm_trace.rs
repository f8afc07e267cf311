//! The simulator compiled to wasm, timed in a real headless browser
//! (docs/performance.md, "Simulator"). Runs only on wasm32:
//! `scripts/bench-wasm.sh`. It asserts the trace's outcome and prints the
//! timings; the figures are a benchmark, not a pass/fail condition.
#![cfg(target_arch = "wasm32")]

mod support;

use std::hint::black_box;

use netloom_core::fix;
use netloom_core::sim::{simulate, Probe, Simulator};
use wasm_bindgen_test::{console_log, wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

fn mean_ms(runs: u32, mut f: impl FnMut()) -> f64 {
    let perf = web_sys::window().unwrap().performance().unwrap();
    f();
    let start = perf.now();
    for _ in 0..runs {
        f();
    }
    (perf.now() - start) / f64::from(runs)
}

#[wasm_bindgen_test]
fn one_trace_on_the_1000_vm_topology() {
    let t = support::lab(&support::generated(100, 10));
    // Same probe as the native bench: across the whole tunnel tree, VLAN 11.
    let probe = Probe::parse(&t, "vm1", "vm991", "icmp", None).unwrap();
    let sim = Simulator::new(&t);
    assert!(sim.simulate(&probe).disposition.is_delivered());

    let prepared = mean_ms(50, || {
        black_box(sim.simulate(black_box(&probe)));
    });
    let model_included = mean_ms(20, || {
        black_box(simulate(black_box(&t), &probe));
    });
    // No file system in the browser: the example is compiled in.
    let seed = support::lab(include_str!("../../examples/seedlab-gre.yaml"));
    let seed_probe = Probe::parse(&seed, "vm1", "vm3", "icmp", None).unwrap();
    assert!(simulate(&seed, &seed_probe).disposition.is_delivered());
    let seed_ms = mean_ms(200, || {
        black_box(simulate(black_box(&seed), &seed_probe));
    });
    console_log!("wasm: ping across 100 hosts x 10 vms, prepared Simulator: {prepared:.3} ms");
    console_log!("wasm: ping across 100 hosts x 10 vms, model included: {model_included:.3} ms");
    console_log!("wasm: ping on the seed lab, model included: {seed_ms:.3} ms");
}

/// Fix suggestions (docs/performance.md, "Fix suggestions"): the seed lab
/// with vm3 in VLAN 20, and the 1,000-vm lab with vm991 in VLAN 12.
#[wasm_bindgen_test]
fn fix_suggestions_for_one_pair() {
    let seed = include_str!("../../examples/seedlab-gre.yaml").replace(
        "{bridge: br-in, vlan: 10, ip: 10.0.10.2/24}",
        "{bridge: br-in, vlan: 20, ip: 10.0.10.2/24}",
    );
    let seed = support::lab(&seed);
    let p = Probe::parse(&seed, "vm1", "vm3", "icmp", None).unwrap();
    assert_eq!(
        fix::for_probe(&seed, &p)[0].sentence(),
        "tag vm3's nic eth0 with VLAN 10"
    );
    let seed_ms = mean_ms(50, || {
        black_box(fix::for_probe(black_box(&seed), &p));
    });
    let big = support::generated(100, 10).replace(
        "{name: vm991, nics: [{bridge: br, vlan: 11,",
        "{name: vm991, nics: [{bridge: br, vlan: 12,",
    );
    let big = support::lab(&big);
    let q = Probe::parse(&big, "vm1", "vm991", "icmp", None).unwrap();
    let big_ms = mean_ms(3, || {
        black_box(fix::for_probe(black_box(&big), &q));
    });
    // A router's edit: its side effects compare the whole reports.
    let nat = support::generated(100, 10).replace(
        "        snat:\n          - {source: 10.0.0.0/8, out: qg0}\n",
        "",
    );
    let nat = support::lab(&nat);
    let o = Probe::parse(&nat, "vm1", "internet", "icmp", None).unwrap();
    let nat_ms = mean_ms(2, || {
        black_box(fix::for_probe(black_box(&nat), &o));
    });
    console_log!("wasm: fix one pair, seed lab: {seed_ms:.3} ms");
    console_log!("wasm: fix one pair, 100 hosts x 10 vms: {big_ms:.1} ms");
    console_log!("wasm: fix one pair, 100 hosts x 10 vms, a router's edit: {nat_ms:.1} ms");
}
