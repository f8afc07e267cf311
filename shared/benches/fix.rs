//! Fix-suggestion figures recorded in docs/performance.md ("Fix suggestions").
//!
//! `cargo bench -p netloom-core --bench fix`

#[path = "../tests/support/mod.rs"]
mod support;

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use netloom_core::fix;
use netloom_core::sim::Probe;

/// The seed lab with vm3 in VLAN 20: vm1 -> vm3 fails (vlan-mismatch).
fn seed_lab(c: &mut Criterion) {
    let y = include_str!("../../examples/seedlab-gre.yaml").replace(
        "{bridge: br-in, vlan: 10, ip: 10.0.10.2/24}",
        "{bridge: br-in, vlan: 20, ip: 10.0.10.2/24}",
    );
    let t = support::lab(&y);
    let probe = Probe::parse(&t, "vm1", "vm3", "icmp", None).unwrap();
    let first = fix::for_probe(&t, &probe);
    assert_eq!(first[0].sentence(), "tag vm3's nic eth0 with VLAN 10");
    c.bench_function(
        "fix one pair, seed lab (suggestions with side effects)",
        |b| b.iter(|| fix::for_probe(black_box(&t), &probe)),
    );
}

/// 1,000 vms (`generated(100, 10)`), vm991 (h99) moved from VLAN 11 to 12:
/// vm1 (h0, VLAN 11) -> vm991 fails across the tunnel tree.
fn thousand(c: &mut Criterion) {
    let y = support::generated(100, 10).replace(
        "{name: vm991, nics: [{bridge: br, vlan: 11,",
        "{name: vm991, nics: [{bridge: br, vlan: 12,",
    );
    let t = support::lab(&y);
    let probe = Probe::parse(&t, "vm1", "vm991", "icmp", None).unwrap();
    let first = fix::for_probe(&t, &probe);
    assert_eq!(first[0].sentence(), "tag vm991's nic eth0 with VLAN 11");
    let mut g = c.benchmark_group("generated 100 hosts x 10 vms");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(10))
        .warm_up_time(Duration::from_secs(1));
    g.bench_function("fix one pair (suggestions with side effects)", |b| {
        b.iter(|| fix::for_probe(black_box(&t), &probe))
    });
    // A router's edit may change any pair: its side effects compare the whole reports.
    let y = support::generated(100, 10).replace(
        "        snat:\n          - {source: 10.0.0.0/8, out: qg0}\n",
        "",
    );
    let nat = support::lab(&y);
    let out = Probe::parse(&nat, "vm1", "internet", "icmp", None).unwrap();
    let first = fix::for_probe(&nat, &out);
    assert_eq!(
        first[0].sentence(),
        "masquerade 10.11.0.0/16 leaving h0/r0 by qg0 (SNAT)"
    );
    g.bench_function(
        "fix one pair, a router's edit (whole reports compared)",
        |b| b.iter(|| fix::for_probe(black_box(&nat), &out)),
    );
    g.finish();
}

criterion_group!(benches, seed_lab, thousand);
criterion_main!(benches);
