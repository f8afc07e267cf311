//! Properties of fix suggestions on every lab of the repository, broken at
//! random: each suggestion, applied, makes its probe succeed in the
//! simulator (or the whole intent hold), and no edit, however wrong, panics.

mod support;

use netloom_core::fix::{self, Edit, GuestAt, IfaceAt, Kind};
use netloom_core::sim::{simulate, Probe};
use netloom_core::spec::{ExpectSpec, PairSpec, TopologySpec};
use netloom_core::{format, intent, load, validate, Topology};
use proptest::prelude::*;
use proptest::test_runner::Config;

/// Every example and scenario lab, as written.
fn labs() -> Vec<TopologySpec> {
    let all = support::examples().into_iter().chain(support::test_labs());
    all.map(|(_, t)| t.spec).collect()
}

/// Break a lab in one place: a nic's tag, or a vm's gateway dropped.
fn broken(spec: &TopologySpec, nic: usize, vlan: Option<u16>, drop_gateway: bool) -> TopologySpec {
    let mut s = spec.clone();
    let nics = s
        .hosts
        .iter_mut()
        .flat_map(|h| h.vms.iter_mut())
        .flat_map(|v| v.nics.iter_mut());
    if let Some(n) = nics.enumerate().find(|(i, _)| *i == nic).map(|(_, n)| n) {
        n.vlan = vlan.map(i64::from);
    }
    if drop_gateway {
        if let Some(v) = s.hosts.iter_mut().flat_map(|h| h.vms.iter_mut()).nth(nic) {
            v.gateway = None;
        }
    }
    s
}

/// The topology of a spec written out and read back, as a user would load it.
fn reload(spec: &TopologySpec) -> Option<Topology> {
    load(&format::to_yaml(spec)).ok().map(|c| c.topology)
}

fn labels(t: &Topology) -> Vec<String> {
    let senders = netloom_core::reach::senders(t);
    let net = netloom_core::sim::net::Net::new(t);
    senders
        .into_iter()
        .map(|n| net.stacks[net.stack_of(n)].label.clone())
        .collect()
}

fn addresses(t: &Topology) -> Vec<String> {
    let net = netloom_core::sim::net::Net::new(t);
    netloom_core::reach::addresses(&net)
        .iter()
        .map(|a| a.to_string())
        .collect()
}

proptest! {
    #![proptest_config(Config { cases: 48, ..Config::default() })]

    #[test]
    fn every_suggestion_makes_its_probe_succeed(
        lab in any::<prop::sample::Index>(),
        nic in 0usize..6,
        vlan in prop::option::of(prop::sample::select(vec![10u16, 20, 5])),
        drop_gateway in any::<bool>(),
        from in any::<prop::sample::Index>(),
        to in any::<prop::sample::Index>(),
    ) {
        let labs = labs();
        let spec = broken(lab.get(&labs), nic, vlan, drop_gateway);
        let Some(t) = reload(&spec) else { return Ok(()) };
        let (senders, addrs) = (labels(&t), addresses(&t));
        if senders.is_empty() || addrs.is_empty() {
            return Ok(());
        }
        let (from, to) = (from.get(&senders), to.get(&addrs));
        let p = Probe::parse(&t, from, to, "icmp", None).unwrap();
        for s in fix::for_probe(&t, &p) {
            let edited = s.apply(&t.spec).unwrap();
            let after = reload(&edited);
            prop_assert!(after.is_some(), "{}: the edited design is invalid", s.sentence());
            let after = after.unwrap();
            let p2 = Probe::parse(&after, from, to, "icmp", None).unwrap();
            let tr = simulate(&after, &p2);
            prop_assert!(tr.disposition.is_delivered(), "{}: {}", s.sentence(), tr);
        }
    }

    #[test]
    fn every_intent_suggestion_makes_the_whole_intent_hold(
        lab in any::<prop::sample::Index>(),
        nic in 0usize..6,
        vlan in prop::option::of(prop::sample::select(vec![10u16, 20])),
        pairs in prop::collection::vec((any::<prop::sample::Index>(), any::<prop::sample::Index>(), any::<bool>()), 1..4),
    ) {
        let labs = labs();
        let mut spec = broken(lab.get(&labs), nic, vlan, false);
        let Some(t) = reload(&spec) else { return Ok(()) };
        let (senders, addrs) = (labels(&t), addresses(&t));
        if senders.is_empty() || addrs.is_empty() {
            return Ok(());
        }
        let mut expect = ExpectSpec::default();
        for (f, a, reach) in pairs {
            let pair = PairSpec { from: f.get(&senders).clone(), to: a.get(&addrs).clone() };
            // The intent refuses a pair written twice.
            if expect.reach.contains(&pair) || expect.isolate.contains(&pair) {
                continue;
            }
            if reach { expect.reach.push(pair) } else { expect.isolate.push(pair) }
        }
        spec.expect = Some(expect);
        let Some(t) = reload(&spec) else { return Ok(()) };
        for s in fix::for_intent(&t) {
            let after = reload(&s.apply(&t.spec).unwrap());
            prop_assert!(after.is_some(), "{}: the edited design is invalid", s.sentence());
            let results = intent::check(&after.unwrap());
            prop_assert!(results.iter().all(|r| r.holds), "{}: {:?}", s.sentence(), results);
        }
    }

    #[test]
    fn edits_naming_nothing_are_errors_not_panics(
        host in 0usize..4, index in 0usize..8, iface in 0usize..4, kind in 0usize..3,
        lab in any::<prop::sample::Index>(),
    ) {
        let labs = labs();
        let spec = lab.get(&labs);
        let kind = [Kind::Vm, Kind::Dhcp, Kind::Router][kind];
        let at = GuestAt { host, kind, index };
        let edits = [
            Edit::SetVlan { at: IfaceAt { guest: at, iface }, vlan: Some(7) },
            Edit::SetGateway { at, gateway: "10.0.0.254".parse().unwrap() },
            Edit::AddSnat { at, source: "10.0.0.0/24".parse().unwrap(), out: "q".into() },
            Edit::SetTunnel { tunnel: index, kind: netloom_core::topology::TunnelKind::Vxlan { vni: 9 } },
            Edit::SetRange { at, range: ["10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap()] },
        ];
        for e in &edits {
            // Applied or refused, and the result (when there is one) is validated without a panic.
            if let Ok(s) = e.apply(spec) {
                let _ = validate(&s);
            }
            let _ = e.describe(spec);
        }
    }
}

/// Every failed pair of every lab (twenty a lab at most): each suggestion
/// made for it is proven again here on the design written out and read back.
#[test]
fn every_suggestion_for_every_lab_holds() {
    let mut checked = 0;
    for spec in labs() {
        let t = reload(&spec).unwrap();
        let failed = netloom_core::reach::reach(&t)
            .results
            .into_iter()
            .filter(|r| !r.ok);
        for r in failed.take(20) {
            let p = Probe::parse(&t, &r.from, &r.to, "icmp", None).unwrap();
            for s in fix::for_probe(&t, &p) {
                let after = reload(&s.apply(&t.spec).unwrap()).expect("a valid edited design");
                let p2 = Probe::parse(&after, &r.from, &r.to, "icmp", None).unwrap();
                let tr = simulate(&after, &p2);
                assert!(tr.disposition.is_delivered(), "{}: {tr}", s.sentence());
                checked += 1;
            }
        }
    }
    assert!(checked >= 20, "only {checked} suggestions were made");
}
