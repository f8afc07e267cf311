//! Input budget figures recorded in docs/performance.md ("Input budgets").
//!
//! `cargo bench -p netloom-core --bench budgets`

#[path = "../tests/support/mod.rs"]
mod support;

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use netloom_core::format::{try_load, try_parse, Refusal};
use netloom_core::TopologySpec;

fn alias_bomb(c: &mut Criterion) {
    let bomb = support::alias_bomb();
    assert!(matches!(try_load(&bomb), Err(Refusal::OverLimit(_))));
    let lab = support::generated(100, 100);
    assert!(try_load(&lab).is_ok());
    let mut g = c.benchmark_group("input budgets");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(5))
        .warm_up_time(Duration::from_secs(1));
    g.bench_function("alias bomb, 160 KB (refused)", |b| {
        b.iter(|| try_load(black_box(&bomb)))
    });
    // What the budgets cost a big real lab: parsing with them (the nodes are
    // counted only when the text has a `*`), against serde_yaml_ng alone.
    let counted = format!("{lab}# *\n");
    for (name, text) in [
        ("10,000-vm lab: try_parse", &lab),
        (
            "10,000-vm lab with a `*`: try_parse (nodes counted)",
            &counted,
        ),
    ] {
        g.bench_function(name, |b| b.iter(|| try_parse(black_box(text))));
    }
    g.bench_function("10,000-vm lab: serde_yaml_ng typed parse alone", |b| {
        b.iter(|| serde_yaml_ng::from_str::<TopologySpec>(black_box(&lab)))
    });
    g.finish();
}

criterion_group!(benches, alias_bomb);
criterion_main!(benches);
