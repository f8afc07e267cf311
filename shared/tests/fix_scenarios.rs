//! For every drop reason a valid design can produce, a broken design whose
//! first fix suggestion is the known fix; each suggestion, applied, makes
//! the probe succeed in the simulator. (`loop` is the simulator's bound,
//! which no valid design reaches: its layer-2 graph is a forest; `no-reply`,
//! a reply taken by another node than the sender, has no design known to
//! produce it: both are left out.)

mod support;

use netloom_core::fix::{self, Suggestion};
use netloom_core::sim::{simulate, Probe};
use netloom_core::trace::DropReason;
use netloom_core::Topology;
use support::{example, lab, test_lab};

/// The suggestions for a probe that fails with `reason`; each one proven
/// here again on the edited design.
fn fixes(
    t: &Topology,
    probe: (&str, &str, &str, Option<u16>),
    reason: DropReason,
) -> Vec<Suggestion> {
    let (from, to, proto, size) = probe;
    let p = Probe::parse(t, from, to, proto, size).unwrap();
    let tr = simulate(t, &p);
    assert_eq!(tr.disposition.reason(), Some(reason), "{tr}");
    let out = fix::for_probe(t, &p);
    for s in &out {
        let edited = lab(&netloom_core::format::to_yaml(&s.apply(&t.spec).unwrap()));
        let p2 = Probe::parse(&edited, from, &p.to.to_string(), proto, size).unwrap();
        let tr = simulate(&edited, &p2);
        assert!(tr.disposition.is_delivered(), "{}: {tr}", s.sentence());
    }
    out
}

fn first(s: &[Suggestion]) -> String {
    s.first().map(|s| s.sentence()).unwrap_or_default()
}

fn icmp<'a>(from: &'a str, to: &'a str) -> (&'a str, &'a str, &'a str, Option<u16>) {
    (from, to, "icmp", None)
}

/// The seed lab with vm3's nic written as given.
fn seedlab(vm3_nic: &str) -> Topology {
    let y = include_str!("../../examples/seedlab-gre.yaml")
        .replace("{bridge: br-in, vlan: 10, ip: 10.0.10.2/24}", vm3_nic);
    lab(&y)
}

#[test]
fn vlan_mismatch_tags_the_target() {
    let t = seedlab("{bridge: br-in, vlan: 20, ip: 10.0.10.2/24}");
    let s = fixes(&t, icmp("vm1", "vm3"), DropReason::VlanMismatch);
    assert_eq!(first(&s), "tag vm3's nic eth0 with VLAN 10");
    // vm3 then answers vm1 too; nothing else changes.
    let fx = &s[0].side_effects;
    assert_eq!((fx.started, fx.stopped), (1, 0), "{fx:?}");
    assert_eq!(
        (fx.changes[0].from.as_str(), fx.changes[0].to.as_str()),
        ("vm3", "10.0.10.1")
    );
}

#[test]
fn tagged_frame_at_guest_tags_the_untagged_nic() {
    let t = seedlab("{bridge: br-in, ip: 10.0.10.2/24}");
    let s = fixes(&t, icmp("vm1", "vm3"), DropReason::TaggedFrameAtGuest);
    assert_eq!(first(&s), "tag vm3's nic eth0 with VLAN 10");
}

#[test]
fn not_forwarding_points_the_gateway_at_the_router() {
    let t = test_lab("wronggw");
    let s = fixes(&t, icmp("a", "d"), DropReason::NotForwarding);
    assert_eq!(first(&s), "set a's gateway to 10.0.0.254");
}

#[test]
fn neighbor_unreachable_gateway_or_segment() {
    let t = test_lab("wronggw");
    let s = fixes(&t, icmp("c", "d"), DropReason::NeighborUnreachable);
    assert_eq!(first(&s), "set c's gateway to 10.0.0.254");
    // Two unconnected bridges of one host: plug one guest into the other's bridge.
    let t = test_lab("twobr");
    let s = fixes(&t, icmp("a", "b"), DropReason::NeighborUnreachable);
    assert_eq!(first(&s), "plug b's nic eth0 into h/br1 (untagged)");
}

#[test]
fn a_gateway_nobody_has_becomes_a_router_interface() {
    // a's gateway 10.0.0.254 exists nowhere; r routes only VLAN 20.
    let t = lab(
        "version: 1\nname: rif\nhosts:\n  - name: h\n    bridges: [{name: br}]\n    vms:\n      - {name: a, nics: [{bridge: br, ip: 10.0.0.1/24}], gateway: 10.0.0.254}\n      - {name: b, nics: [{bridge: br, vlan: 20, ip: 10.0.1.1/24}], gateway: 10.0.1.254}\n    routers:\n      - {name: r, interfaces: [{name: q1, bridge: br, vlan: 20, ip: 10.0.1.254/24}]}\n",
    );
    let s = fixes(&t, icmp("a", "b"), DropReason::NeighborUnreachable);
    assert_eq!(
        first(&s),
        "give h/r an interface fix0 on h/br (untagged) with 10.0.0.254/24"
    );
}

#[test]
fn an_edit_that_makes_arp_flux_is_not_a_proof() {
    // Another interface of r on a's segment would answer ARP from either: unpredictable.
    let t = test_lab("wronggw");
    let p = Probe::parse(&t, "c", "d", "icmp", None).unwrap();
    let all: Vec<String> = fix::for_probe(&t, &p)
        .iter()
        .map(|s| s.sentence())
        .collect();
    assert!(all.iter().all(|s| !s.contains("interface fix0")), "{all:?}");
    assert_eq!(all[0], "set c's gateway to 10.0.0.254");
}

#[test]
fn a_missing_tunnel_is_added() {
    let y = include_str!("../../examples/seedlab-gre.yaml");
    let y = &y[..y.find("tunnels:").unwrap()];
    let s = fixes(&lab(y), icmp("vm1", "vm3"), DropReason::NeighborUnreachable);
    assert_eq!(
        first(&s),
        "add a GRE (no key) tunnel between node1/br-in and node2/br-in"
    );
}

#[test]
fn no_route_sets_a_gateway() {
    let y = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/labs/rt.yaml"))
        .unwrap()
        .replace(
            "ip: 10.0.10.1/24}], gateway: 10.0.10.254}",
            "ip: 10.0.10.1/24}]}",
        );
    let s = fixes(&lab(&y), icmp("a", "b"), DropReason::NoRoute);
    assert_eq!(first(&s), "set a's gateway to 10.0.10.254");
}

#[test]
fn no_return_path_masquerades() {
    let t = test_lab("nosnat");
    let s = fixes(&t, icmp("vm1", "internet"), DropReason::NoReturnPath);
    assert_eq!(
        first(&s),
        "masquerade 10.0.0.0/24 leaving node1/r1 by qg0 (SNAT)"
    );
    assert!(s[0].side_effects.is_empty(), "{:?}", s[0].side_effects);
}

#[test]
fn no_address_moves_the_server_or_widens_its_range() {
    let t = test_lab("nodhcp");
    let s = fixes(&t, icmp("a", "b"), DropReason::NoAddress);
    assert_eq!(first(&s), "tag dhcp server h/d with VLAN 10");
    let t = test_lab("nolease");
    let s = fixes(&t, icmp("vm4", "vm3"), DropReason::NoAddress);
    assert_eq!(
        first(&s),
        "set node1/dhcp10's range to 10.0.10.100 - 10.0.10.103"
    );
}

#[test]
fn mtu_exceeded_drops_the_gre_key() {
    let t = example("seedlab-gre.yaml");
    let s = fixes(
        &t,
        ("vm1", "vm3", "icmp", Some(1455)),
        DropReason::MtuExceeded,
    );
    assert_eq!(
        first(&s),
        "make the tunnel between node1/br-in and node2/br-in GRE (no key)"
    );
}

#[test]
fn ttl_exceeded_breaks_the_routing_loop() {
    // r1 sends 10.2.0.0/24 to r2, whose default route points back at r1; r3 has it.
    let t = lab(
        "version: 1\nname: rloop\nhosts:\n  - name: h\n    bridges: [{name: br}]\n    vms:\n      - {name: a, nics: [{bridge: br, vlan: 1, ip: 10.0.0.1/24}], gateway: 10.0.0.254}\n      - {name: z, nics: [{bridge: br, vlan: 3, ip: 10.2.0.1/24}], gateway: 10.2.0.254}\n    routers:\n      - {name: r1, interfaces: [{name: q0, bridge: br, vlan: 1, ip: 10.0.0.254/24}, {name: q1, bridge: br, vlan: 2, ip: 10.1.0.1/24}], routes: [{to: 10.2.0.0/24, via: 10.1.0.2}]}\n      - {name: r2, interfaces: [{name: q0, bridge: br, vlan: 2, ip: 10.1.0.2/24}], gateway: 10.1.0.1}\n      - {name: r3, interfaces: [{name: q0, bridge: br, vlan: 2, ip: 10.1.0.3/24}, {name: q1, bridge: br, vlan: 3, ip: 10.2.0.254/24}], gateway: 10.1.0.1}\n",
    );
    let s = fixes(&t, icmp("a", "z"), DropReason::TtlExceeded);
    assert_eq!(first(&s), "set h/r2's gateway to 10.1.0.3");
}

#[test]
fn port_closed_forwards_the_port() {
    let t = example("nat.yaml");
    let s = fixes(
        &t,
        ("internet", "198.51.100.2", "tcp:81", None),
        DropReason::PortClosed,
    );
    assert_eq!(
        first(&s),
        "forward tcp port 81 arriving on node1/r1 qg0 to 10.0.0.1:81 (DNAT)"
    );
}

#[test]
fn two_edits_when_one_is_not_enough() {
    // vm1 has no gateway and r1 does not masquerade: both are needed.
    let y = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/labs/nosnat.yaml"
    ))
    .unwrap()
    .replace("        gateway: 10.0.0.254\n", "");
    let s = fixes(&lab(&y), icmp("vm1", "internet"), DropReason::NoRoute);
    assert_eq!(
        first(&s),
        "set vm1's gateway to 10.0.0.254, then masquerade 10.0.0.0/24 leaving node1/r1 by qg0 (SNAT)"
    );
}

#[test]
fn a_working_probe_or_a_hopeless_one_gets_no_suggestion() {
    let t = example("seedlab-gre.yaml");
    let ok = Probe::parse(&t, "vm1", "vm3", "icmp", None).unwrap();
    assert!(fix::for_probe(&t, &ok).is_empty());
    // The external router has no route inside and cannot be edited.
    let t = example("nat.yaml");
    let p = Probe::parse(&t, "internet", "vm1", "icmp", None).unwrap();
    assert!(fix::for_probe(&t, &p).is_empty());
}
