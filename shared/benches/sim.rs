//! Simulator figures recorded in docs/performance.md ("Simulator").
//!
//! `cargo bench -p netloom-core --bench sim`

#[path = "../tests/support/mod.rs"]
mod support;

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode};
use netloom_core::reach::{reach, Matrix};
use netloom_core::sim::{simulate, Probe, Simulator};

fn ping_seed_lab(c: &mut Criterion) {
    let t = support::example("seedlab-gre.yaml");
    let probe = Probe::parse(&t, "vm1", "vm3", "icmp", None).unwrap();
    assert!(simulate(&t, &probe).disposition.is_delivered());
    c.bench_function("ping seed lab (simulate, model included)", |b| {
        b.iter(|| simulate(black_box(&t), &probe))
    });
    let sim = Simulator::new(&t);
    c.bench_function("ping seed lab (prepared Simulator)", |b| {
        b.iter(|| sim.simulate(black_box(&probe)))
    });
}

fn big(c: &mut Criterion) {
    let t = support::lab(&support::generated(100, 10));
    // vm1 (h0, VLAN 11) to vm991 (h99, VLAN 11): same VLAN, across the tunnel tree.
    let probe = Probe::parse(&t, "vm1", "vm991", "icmp", None).unwrap();
    let sim = Simulator::new(&t);
    assert!(sim.simulate(&probe).disposition.is_delivered());
    let mut g = c.benchmark_group("generated 100 hosts x 10 vms");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(8))
        .warm_up_time(Duration::from_secs(1));
    g.bench_function("ping across the tree (prepared Simulator)", |b| {
        b.iter(|| sim.simulate(black_box(&probe)))
    });
    g.bench_function("ping across the tree (simulate, model included)", |b| {
        b.iter(|| simulate(black_box(&t), &probe))
    });
    g.bench_function("reach (whole report)", |b| b.iter(|| reach(black_box(&t))));
    g.bench_function("reach (whole report, compact Matrix)", |b| {
        b.iter(|| Matrix::new(black_box(&t)))
    });
    g.finish();
}

/// 10,000 vms: 100 million pairs, several seconds an iteration. Only the
/// compact report: the expanded one would take some 40 GB.
fn huge(c: &mut Criterion) {
    let t = support::lab(&support::generated(100, 100));
    let mut g = c.benchmark_group("generated 100 hosts x 100 vms");
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .measurement_time(Duration::from_secs(60))
        .warm_up_time(Duration::from_secs(1));
    g.bench_function("reach (whole report, compact Matrix)", |b| {
        b.iter(|| Matrix::new(black_box(&t)))
    });
    g.finish();
}

criterion_group!(benches, ping_seed_lab, big, huge);
criterion_main!(benches);
