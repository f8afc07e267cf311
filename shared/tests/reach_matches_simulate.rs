//! `reach` takes shortcuts to be fast; its verdicts must still be exactly
//! what `simulate` says for every pair.

mod support;

use netloom_core::reach::{reach, Matrix, Source};
use netloom_core::sim::{Probe, Simulator};
use netloom_core::Topology;

fn check(name: &str, t: &Topology) -> usize {
    let report = reach(t);
    assert_eq!(report.source, Source::Simulation);
    assert_eq!(report.topology, t.name);
    // The CLI streams the compact report's JSON: the report's own, to the byte.
    assert_eq!(
        serde_json::to_string_pretty(&Matrix::new(t)).unwrap(),
        serde_json::to_string_pretty(&report).unwrap(),
        "{name}"
    );
    let sim = Simulator::new(t);
    for r in &report.results {
        let from = t.resolve_node(&r.from).unwrap();
        let probe = Probe::icmp(from, r.to.parse().unwrap());
        let trace = sim.simulate(&probe);
        let d = &trace.disposition;
        assert_eq!(
            (r.ok, r.reason, r.detail.as_str()),
            (
                d.is_delivered(),
                d.reason(),
                match d {
                    netloom_core::trace::Disposition::Delivered { detail } => detail.as_str(),
                    netloom_core::trace::Disposition::Dropped { detail, .. } => detail.as_str(),
                }
            ),
            "{name}: {} -> {}\n{trace}",
            r.from,
            r.to
        );
    }
    report.results.len()
}

#[test]
fn reach_equals_simulate_on_every_example() {
    for (name, t) in support::examples() {
        assert!(check(&name, &t) > 0, "{name}: empty report");
    }
}

#[test]
fn reach_equals_simulate_on_every_example_under_ovn() {
    for (name, t) in support::ovn_examples() {
        assert!(check(&name, &t) > 0, "{name}: empty report");
    }
}

#[test]
fn reach_equals_simulate_on_a_generated_topology_under_ovn() {
    let t = support::lab(&support::generated_ovn(4, 10));
    assert!(check("generated 4x10 (ovn)", &t) > 1500);
}

#[test]
fn reach_equals_simulate_on_the_scenario_labs() {
    for (name, t) in support::test_labs() {
        check(&name, &t);
    }
}

#[test]
fn reach_equals_simulate_on_a_generated_topology() {
    let t = support::lab(&support::generated(4, 10));
    let n = check("generated 4x10", &t);
    // 40 vms + the external network, each to every other address.
    assert!(n > 1500, "{n}");
}

#[test]
fn report_shape_is_the_spec_s() {
    let t = support::example("seedlab-gre.yaml");
    let report = reach(&t);
    let json: serde_json::Value = serde_json::to_value(&report).unwrap();
    assert_eq!(json["topology"], "seedlab");
    assert_eq!(json["source"], "simulation");
    let first = &json["results"][0];
    assert_eq!(first["from"], "vm1");
    assert_eq!(first["to"], "10.0.20.1");
    assert_eq!(first["proto"], "icmp");
    assert_eq!(first["ok"], false);
    // 4 senders x 3 other addresses.
    assert_eq!(report.results.len(), 12);
    let ok: Vec<(&str, &str)> = report
        .results
        .iter()
        .filter(|r| r.ok)
        .map(|r| (r.from.as_str(), r.to.as_str()))
        .collect();
    assert_eq!(
        ok,
        [
            ("vm1", "10.0.10.2"),
            ("vm2", "10.0.20.2"),
            ("vm3", "10.0.10.1"),
            ("vm4", "10.0.20.1")
        ]
    );
}
