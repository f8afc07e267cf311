//! Scenario tests: what the simulator predicts in situations whose real
//! outcome is known.

mod support;

use netloom_core::sim::{leases, simulate, Probe, Proto};
use netloom_core::trace::{Action, DropReason, Layer, Trace};
use support::{example, sized, test_lab, trace};

fn reason(t: &Trace) -> Option<DropReason> {
    t.disposition.reason()
}

fn has_step(t: &Trace, node: &str, action: Action, text: &str) -> bool {
    t.hops
        .iter()
        .filter(|h| h.node == node)
        .flat_map(|h| &h.steps)
        .any(|s| s.action == action && s.detail.contains(text))
}

#[test]
fn vlan_isolation_across_a_tunnel() {
    let t = test_lab("split");
    let ok = trace(&t, "a", "b", "icmp");
    assert!(ok.disposition.is_delivered(), "{ok}");
    // The tunnel carries the inner frame with its 802.1Q tag and the GRE key.
    let encap = ok
        .hops
        .iter()
        .flat_map(|h| &h.steps)
        .find(|s| s.action == Action::TunnelEncap)
        .unwrap();
    assert!(encap.packet.contains(&Layer::Gre {
        protocol: 0x6558,
        key: Some(7)
    }));
    assert!(encap
        .packet
        .iter()
        .any(|l| matches!(l, Layer::Dot1q { vid: 10, .. })));

    let t2 = trace(&t, "a", "c", "icmp");
    assert_eq!(reason(&t2), Some(DropReason::VlanMismatch), "{t2}");
    // The broadcast crossed the tunnel but node2 only flooded it within VLAN 10.
    assert!(has_step(&t2, "node2/br", Action::Flood, "VLAN 10 to"));
    assert!(!t2.hops.iter().any(|h| h.node == "c"));
}

#[test]
fn tagged_and_untagged_ports_on_one_bridge() {
    let t = test_lab("mixed");
    // From the untagged vm: VLAN 0 never reaches the access port of VLAN 10.
    let a = trace(&t, "u", "t", "icmp");
    assert_eq!(reason(&a), Some(DropReason::VlanMismatch), "{a}");
    // From the tagged vm: the untagged port carries VLAN 10 tagged; the guest drops it.
    let b = trace(&t, "t", "u", "icmp");
    assert_eq!(reason(&b), Some(DropReason::TaggedFrameAtGuest), "{b}");
    assert!(has_step(&b, "u", Action::Drop, "tagged VLAN 10"));
}

#[test]
fn inter_vlan_routing_through_a_router() {
    let t = test_lab("rt");
    let tr = trace(&t, "a", "b", "icmp");
    assert!(tr.disposition.is_delivered(), "{tr}");
    assert!(has_step(&tr, "h/r", Action::Forward, "TTL 63"));
    assert!(has_step(&tr, "h/r", Action::Route, "10.0.20.0/24 dev q20"));
    // Weak host: the router answers ARP for its other interface's address too.
    let far = trace(&t, "a", "10.0.20.254", "icmp");
    assert!(far.disposition.is_delivered(), "{far}");
}

#[test]
fn snat_out_and_back() {
    let t = example("nat.yaml");
    let tr = trace(&t, "vm1", "internet", "icmp");
    assert!(tr.disposition.is_delivered(), "{tr}");
    assert!(has_step(
        &tr,
        "node1/r1",
        Action::Nat,
        "masquerade on qg0: 10.0.0.1 > 198.51.100.1 → 198.51.100.2 > 198.51.100.1"
    ));
    assert!(has_step(
        &tr,
        "node1/r1",
        Action::Nat,
        "conntrack: 198.51.100.1 > 198.51.100.2 → 198.51.100.1 > 10.0.0.1"
    ));
}

#[test]
fn without_snat_there_is_no_return_path() {
    let t = test_lab("nosnat");
    let tr = trace(&t, "vm1", "internet", "icmp");
    assert_eq!(reason(&tr), Some(DropReason::NoReturnPath), "{tr}");
    assert!(has_step(&tr, "internet", Action::Deliver, "echo request"));
    let netloom_core::trace::Disposition::Dropped { node, detail, .. } = &tr.disposition else {
        unreachable!()
    };
    assert_eq!(node, "internet");
    assert!(detail.contains("no-route"), "{detail}");
}

#[test]
fn dnat_in() {
    let t = example("nat.yaml");
    let tr = trace(&t, "internet", "198.51.100.2", "tcp:8080");
    assert!(tr.disposition.is_delivered(), "{tr}");
    assert!(has_step(
        &tr,
        "node1/r1",
        Action::Nat,
        "dnat: 198.51.100.1:40000 > 198.51.100.2:8080 → 198.51.100.1:40000 > 10.0.0.1:80"
    ));
    assert!(has_step(
        &tr,
        "vm1",
        Action::Deliver,
        "listener on tcp port 80"
    ));
    // No forward for another port: the router itself answers RST.
    let closed = trace(&t, "internet", "198.51.100.2", "tcp:81");
    assert_eq!(reason(&closed), Some(DropReason::PortClosed), "{closed}");
    // Without a port forward, the inside is unreachable from outside.
    let inside = trace(&t, "internet", "vm1", "icmp");
    assert_eq!(reason(&inside), Some(DropReason::NoRoute), "{inside}");
}

#[test]
fn dhcp_across_a_tunnel() {
    let t = example("dhcp.yaml");
    let l = leases(&t);
    let got: Vec<(String, String, Option<String>)> = l
        .iter()
        .map(|x| {
            (
                t.guests[x.client].name.clone(),
                x.addr.to_string(),
                x.router.map(|r| r.to_string()),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "vm2".into(),
                "10.0.10.100/24".into(),
                Some("10.0.10.254".into())
            ),
            (
                "vm3".into(),
                "10.0.10.101/24".into(),
                Some("10.0.10.254".into())
            ),
        ]
    );
    let tr = trace(&t, "vm3", "255.255.255.255", "dhcp");
    assert!(tr.disposition.is_delivered(), "{tr}");
    assert!(
        tr.disposition
            .summary()
            .contains("lease 10.0.10.101/24, router 10.0.10.254"),
        "{tr}"
    );
    assert!(tr
        .hops
        .iter()
        .flat_map(|h| &h.steps)
        .any(|s| s.action == Action::TunnelEncap));
    // The lease's router option is the default route: vm3 reaches vm1 through r1.
    let ping = trace(&t, "vm3", "vm1", "icmp");
    assert!(ping.disposition.is_delivered(), "{ping}");
    assert!(has_step(
        &ping,
        "vm3",
        Action::Route,
        "default via 10.0.10.254"
    ));
}

#[test]
fn a_dhcp_client_without_a_server_has_no_address() {
    let t = test_lab("nodhcp");
    assert!(leases(&t).is_empty());
    let d = trace(&t, "a", "255.255.255.255", "dhcp");
    assert_eq!(reason(&d), Some(DropReason::NoAddress), "{d}");
    let p = trace(&t, "a", "b", "icmp");
    assert_eq!(reason(&p), Some(DropReason::NoAddress), "{p}");
}

#[test]
fn a_wrong_gateway() {
    let t = test_lab("wronggw");
    let a = trace(&t, "a", "d", "icmp");
    assert_eq!(reason(&a), Some(DropReason::NotForwarding), "{a}");
    let c = trace(&t, "c", "d", "icmp");
    assert_eq!(reason(&c), Some(DropReason::NeighborUnreachable), "{c}");
    assert!(
        c.disposition
            .summary()
            .contains("no ARP reply for 10.0.0.99"),
        "{c}"
    );
}

#[test]
fn two_subnets_on_one_segment_without_a_router() {
    let t = test_lab("twonets");
    let tr = trace(&t, "a", "b", "icmp");
    assert_eq!(reason(&tr), Some(DropReason::NoRoute), "{tr}");
    // An ARP probe for an address nobody has gets no answer.
    let arp = trace(&t, "a", "10.0.0.9", "arp");
    assert_eq!(reason(&arp), Some(DropReason::NeighborUnreachable), "{arp}");
}

#[test]
fn guests_on_two_unconnected_bridges_of_one_host() {
    let t = test_lab("twobr");
    let tr = trace(&t, "a", "b", "icmp");
    assert_eq!(reason(&tr), Some(DropReason::NeighborUnreachable), "{tr}");
    assert!(
        tr.disposition
            .summary()
            .contains("not on this layer-2 segment"),
        "{tr}"
    );
}

#[test]
fn frames_too_big_for_the_tunnel_are_dropped() {
    let t = example("seedlab-gre.yaml");
    // GRE with key: 42 bytes, plus the VLAN tag: 1454 is the largest that fits.
    assert!(sized(&t, "vm1", "vm3", 1454).disposition.is_delivered());
    let big = sized(&t, "vm1", "vm3", 1455);
    assert_eq!(reason(&big), Some(DropReason::MtuExceeded), "{big}");
    // On one host nothing is encapsulated: 1500 passes.
    assert!(sized(&t, "vm1", "vm1", 1500).disposition.is_delivered());
    let vx = example("vxlan.yaml");
    assert!(sized(&vx, "vm1", "vm3", 1446).disposition.is_delivered());
    assert_eq!(
        reason(&sized(&vx, "vm1", "vm3", 1447)),
        Some(DropReason::MtuExceeded)
    );
}

#[test]
fn a_routing_loop_runs_out_of_ttl() {
    let t = test_lab("loop");
    let tr = trace(&t, "a", "192.0.2.1", "icmp");
    assert_eq!(reason(&tr), Some(DropReason::TtlExceeded), "{tr}");
}

#[test]
fn tcp_udp_and_arp_probes() {
    let t = example("nat.yaml");
    assert!(trace(&t, "vm2", "vm1", "tcp:22").disposition.is_delivered());
    assert!(trace(&t, "vm2", "vm1", "udp:53").disposition.is_delivered());
    let r = trace(&t, "vm2", "10.0.0.254", "udp:53");
    assert_eq!(reason(&r), Some(DropReason::PortClosed), "{r}");
    assert!(trace(&t, "vm2", "vm1", "arp").disposition.is_delivered());
    // The external network's upstream router answers ping, and only ping.
    assert!(trace(&t, "vm2", "internet", "icmp")
        .disposition
        .is_delivered());
    assert_eq!(
        reason(&trace(&t, "vm2", "internet", "tcp:80")),
        Some(DropReason::PortClosed)
    );
}

#[test]
fn probes_parse_and_reject_bad_input() {
    let t = example("nat.yaml");
    assert_eq!("tcp:8080".parse::<Proto>(), Ok(Proto::Tcp(8080)));
    assert!("tcp:0".parse::<Proto>().is_err());
    assert!("ping".parse::<Proto>().is_err());
    assert!(Probe::parse(&t, "nobody", "vm1", "icmp", None).is_err());
    assert!(Probe::parse(&t, "vm1", "nowhere", "icmp", None).is_err());
    assert!(Probe::parse(&t, "vm1", "vm2", "icmp", Some(1501)).is_err());
    assert!(Probe::parse(&t, "vm1", "vm2", "tcp:80", Some(100)).is_err());
    assert!(
        Probe::parse(&t, "vm1", "vm2", "dhcp", None).is_err(),
        "vm1 has no dhcp nic"
    );
    let p = Probe::parse(&t, "vm1", "node1/r1", "icmp", None).unwrap();
    assert_eq!(p.to.to_string(), "10.0.0.254");
}

#[test]
fn traces_are_deterministic_and_round_trip_as_json() {
    for (name, t) in support::examples() {
        for from in netloom_core::reach::senders(&t) {
            let probe = Probe::icmp(from, "10.0.0.1".parse().unwrap());
            let a = simulate(&t, &probe);
            let b = simulate(&t, &probe);
            assert_eq!(a, b, "{name}");
            let json = serde_json::to_string(&a).unwrap();
            let back: Trace = serde_json::from_str(&json).unwrap();
            assert_eq!(back, a, "{name}");
        }
    }
}

/// A probe read as traceroute prints it: the routers it crossed with the
/// TTL each left it with, then who took it; with TTL 1 it expires at the
/// first router, and a TTL outside 1..255 is refused with the range named.
#[test]
fn the_route_and_a_ttl_that_expires_on_it() {
    let t = example("nat.yaml");
    let lines = |ttl: Option<u16>| {
        let p = Probe::parse(&t, "vm1", "198.51.100.1", "icmp", None)
            .and_then(|p| p.with_ttl(ttl))
            .unwrap();
        let tr = simulate(&t, &p);
        let route: Vec<(String, String)> =
            tr.route().into_iter().map(|l| (l.node, l.detail)).collect();
        (tr, route)
    };
    let (tr, route) = lines(None);
    assert!(tr.disposition.is_delivered(), "{tr}");
    assert_eq!(route.len(), 2, "{route:?}");
    assert_eq!(route[0], ("node1/r1".into(), "ip_forward, TTL 63".into()));
    assert_eq!(route[1].0, "internet", "{route:?}");

    let (tr, route) = lines(Some(1));
    assert_eq!(reason(&tr), Some(DropReason::TtlExceeded), "{tr}");
    assert_eq!(
        route,
        vec![(
            "node1/r1".to_string(),
            "dropped: ttl-exceeded: TTL 1 expires here".to_string()
        )]
    );
    let (tr, _) = lines(Some(2));
    assert!(
        tr.disposition.is_delivered(),
        "TTL 2 crosses one router: {tr}"
    );

    let p = Probe::parse(&t, "vm1", "198.51.100.1", "icmp", None).unwrap();
    assert_eq!(p.with_ttl(Some(0)).unwrap_err(), "ttl 0 is outside 1..255");
    assert_eq!(
        p.with_ttl(Some(256)).unwrap_err(),
        "ttl 256 is outside 1..255"
    );
}
