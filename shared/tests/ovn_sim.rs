//! The simulator under the OVN engine (`engine: ovn`): every example lab
//! means what it means on plain OVS bridges, but for the differences OVN
//! makes (docs/topology-format.md, "Under the OVN engine, the simulator"):
//! Geneve between hosts (58 bytes, no 802.1Q tag inside), ARP answered by
//! the logical switch at the sender's chassis, a logical switch per VLAN,
//! gateway routers with NAT rows and load balancers.

mod support;

use netloom_core::reach::{reach, ReachResult};
use netloom_core::sim::Simulator;
use netloom_core::spec::Engine;
use netloom_core::trace::{Action, ArpOp, DropReason, Layer, Trace};
use support::{example, ovn_example, ovn_examples, ovn_text, sized, trace};

fn verdicts(rs: &[ReachResult]) -> Vec<(String, String, String, bool, Option<DropReason>)> {
    rs.iter()
        .map(|r| {
            let (from, to, proto) = (r.from.clone(), r.to.clone(), r.proto.clone());
            (from, to, proto, r.ok, r.reason)
        })
        .collect()
}

/// Every step of a trace, with the node it is at.
fn steps(t: &Trace) -> impl Iterator<Item = (&str, &netloom_core::trace::Step)> {
    t.hops
        .iter()
        .flat_map(|h| h.steps.iter().map(move |s| (h.node.as_str(), s)))
}

#[test]
fn every_example_reaches_what_it_reaches_on_plain_ovs() {
    for (name, ovn) in ovn_examples() {
        assert_eq!(ovn.engine, Engine::Ovn, "{name}");
        let (a, b) = (reach(&example(&name)), reach(&ovn));
        // Pings: the same pairs answer, and the failures fail for the same reasons.
        assert_eq!(verdicts(&a.results), verdicts(&b.results), "{name}");
        assert!(b.results.iter().any(|r| r.ok), "{name}");
        // Connections to port forwards: the one expected difference is that
        // OVN's load balancer takes the VIP from any side and the gateway
        // router's NAT row masquerades whatever port the packet leaves by, so
        // the inside vms reach the forward too (port-closed on plain OVS,
        // where the DNAT rule listens on `qg0` only).
        let (pa, pb) = (verdicts(&a.ports), verdicts(&b.ports));
        assert_eq!(pa.len(), pb.len(), "{name}");
        for (x, y) in pa.iter().zip(&pb) {
            let inside = name == "nat.yaml" && (x.0 == "vm1" || x.0 == "vm2");
            if inside {
                assert_eq!((x.3, x.4), (false, Some(DropReason::PortClosed)), "{x:?}");
                assert_eq!((y.3, y.4), (true, None), "{y:?}");
            } else {
                assert_eq!(x, y, "{name}");
            }
        }
    }
}

#[test]
fn the_largest_packet_across_hosts_is_1442_bytes() {
    // Measured on OVN 23.03 (userspace datapath, two chassis, underlay MTU
    // 1500): ping -M do -s 1414 crosses, 1415 does not: IPv4 1442 and 1443.
    for lab in ["seedlab-gre.yaml", "vxlan.yaml"] {
        let t = ovn_example(lab);
        for n in [84, 1000, 1441, 1442] {
            let tr = sized(&t, "vm1", "10.0.10.2", n);
            assert!(tr.disposition.is_delivered(), "{lab}: {tr}");
        }
        let tr = sized(&t, "vm1", "10.0.10.2", 1443);
        assert_eq!(
            tr.disposition.reason(),
            Some(DropReason::MtuExceeded),
            "{tr}"
        );
        assert!(
            tr.disposition
                .summary()
                .contains("1501 bytes after Geneve VNI 1 encapsulation (+58) exceed"),
            "{tr}"
        );
    }
    // The same design on plain OVS: the VLAN's tag crosses inside GRE key 5.
    let plain = example("seedlab-gre.yaml");
    assert!(sized(&plain, "vm1", "10.0.10.2", 1454)
        .disposition
        .is_delivered());
    assert!(!sized(&plain, "vm1", "10.0.10.2", 1455)
        .disposition
        .is_delivered());
}

#[test]
fn frames_cross_in_geneve_untagged_with_the_switch_key() {
    let t = ovn_example("seedlab-gre.yaml");
    let tr = trace(&t, "vm1", "vm3", "icmp");
    assert!(tr.disposition.is_delivered(), "{tr}");
    let encaps: Vec<_> = steps(&tr)
        .filter(|(_, s)| s.action == Action::TunnelEncap)
        .collect();
    // The request there, the reply back.
    assert_eq!(encaps.len(), 2, "{tr}");
    for (node, s) in encaps {
        // Logical switches in order (segment's first bridge, then VLAN): v10 is key 1... of
        // seedlab.node1.br-in: v10 and v20, keys 1 and 2.
        assert!(
            s.packet.contains(&Layer::Geneve { vni: 1 }),
            "{node}: {:?}",
            s.packet
        );
        assert!(
            matches!(s.packet[2], Layer::Udp { dst_port: 6081, .. }),
            "{node}: {:?}",
            s.packet
        );
        assert!(!s
            .packet
            .iter()
            .any(|l| matches!(l, Layer::Dot1q { .. } | Layer::Gre { .. })));
        assert!(s.detail.starts_with("Geneve VNI 1 "), "{}", s.detail);
    }
    // Under OVN no frame anywhere carries an 802.1Q tag.
    for (_, t) in ovn_examples() {
        let sim = Simulator::new(&t);
        for r in reach(&t).results {
            let from = t.resolve_node(&r.from).unwrap();
            let p = netloom_core::sim::Probe::icmp(from, r.to.parse().unwrap());
            let tr = sim.simulate(&p);
            assert!(
                !steps(&tr).any(|(_, s)| s.packet.iter().any(|l| matches!(l, Layer::Dot1q { .. }))),
                "{tr}"
            );
        }
    }
}

#[test]
fn arp_is_answered_at_the_senders_chassis() {
    let t = ovn_example("seedlab-gre.yaml");
    let tr = trace(&t, "vm1", "vm3", "icmp");
    let answered: Vec<_> = steps(&tr)
        .filter(|(_, s)| s.action == Action::ArpResponder)
        .collect();
    // vm1 asks for vm3 at node1, vm3 for vm1 (to answer) at node2; each
    // guest answers the request itself on plain OVS.
    let at: Vec<(&str, &str)> = answered
        .iter()
        .map(|(n, s)| (*n, &s.detail[..s.detail.find(": ").unwrap_or(0)]))
        .collect();
    assert_eq!(
        at,
        [
            ("node1/br-in", "10.0.10.2 is-at 02:20:c1:82:e0:3a"),
            ("node2/br-in", "10.0.10.1 is-at 02:10:25:1b:a2:8f")
        ],
        "{tr}"
    );
    let (_, s) = answered[0];
    assert!(
        s.detail.contains("vm3 eth0 (port on node2/br-in)"),
        "{}",
        s.detail
    );
    assert!(matches!(
        s.packet[1],
        Layer::Arp {
            op: ArpOp::Reply,
            ..
        }
    ));
    // No ARP request is flooded, none crosses the tunnel, vm3 never sees one.
    let arp_request = |s: &netloom_core::trace::Step| {
        s.packet.iter().any(|l| {
            matches!(
                l,
                Layer::Arp {
                    op: ArpOp::Request,
                    ..
                }
            )
        })
    };
    assert!(!steps(&tr).any(|(_, s)| s.action == Action::Flood), "{tr}");
    assert!(
        !steps(&tr)
            .any(|(n, s)| n.starts_with("vm") && s.action == Action::Receive && arp_request(s)),
        "{tr}"
    );
    assert!(
        !steps(&tr).any(|(_, s)| s.action == Action::TunnelEncap && arp_request(s)),
        "{tr}"
    );
    // Plain OVS floods the request through the tunnel, where vm3 answers it.
    let plain = trace(&example("seedlab-gre.yaml"), "vm1", "vm3", "icmp");
    assert!(!steps(&plain).any(|(_, s)| s.action == Action::ArpResponder));
    assert!(steps(&plain).any(|(n, s)| n == "vm3" && arp_request(s)));
}

#[test]
fn a_dhcp_lease_is_not_answered_by_the_switch() {
    // A DHCP client's port is `"MAC"` alone: OVN does not know its lease, so
    // ARP for it is flooded and the guest answers, as on plain OVS.
    let t = ovn_example("dhcp.yaml");
    let tr = trace(&t, "vm2", "dhcp", "dhcp");
    assert!(tr.disposition.is_delivered(), "{tr}");
    let tr = trace(&t, "vm2", "vm3", "icmp");
    assert!(tr.disposition.is_delivered(), "{tr}");
    assert!(
        !steps(&tr).any(|(_, s)| s.action == Action::ArpResponder),
        "{tr}"
    );
    assert!(
        steps(&tr).any(|(n, s)| n == "vm3" && s.action == Action::Arp),
        "{tr}"
    );
    // Across the router, r1 resolves vm1 (a "MAC IP" port) without asking.
    let tr = trace(&t, "vm2", "vm1", "icmp");
    assert!(tr.disposition.is_delivered(), "{tr}");
    assert!(
        steps(&tr).any(|(n, s)| n == "node1/r1"
            && s.action == Action::Neighbor
            && s.detail.contains("known to the logical router without ARP")),
        "{tr}"
    );
}

#[test]
fn an_untagged_guest_never_sees_a_vlans_frames() {
    // The seed lab with an untagged vm beside vm1: on plain OVS the flooded
    // ARP request of VLAN 10 reaches it tagged and it drops it.
    let yaml = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/seedlab-gre.yaml"
    ))
    .unwrap()
    .replace(
        "      - name: vm2\n",
        "      - name: vm5\n        nics:\n          - {bridge: br-in, ip: 10.0.10.5/24}\n      - name: vm2\n",
    );
    let dropped_at_vm5 = |t: &netloom_core::Topology| {
        let tr = trace(t, "vm2", "10.0.20.9", "arp");
        let dropped = steps(&tr).any(|(n, s)| n == "vm5" && s.action == Action::Drop);
        dropped
    };
    let plain = support::lab(&yaml);
    assert!(dropped_at_vm5(&plain));
    let ovn = support::lab(&ovn_text(&yaml));
    assert!(!dropped_at_vm5(&ovn));
    // Its ping to vm1, in another logical switch, fails alike (the reason
    // says the owner is in another VLAN rather than that it dropped a tagged frame).
    let (a, b) = (
        trace(&plain, "vm1", "vm5", "icmp"),
        trace(&ovn, "vm1", "vm5", "icmp"),
    );
    assert_eq!(
        a.disposition.reason(),
        Some(DropReason::TaggedFrameAtGuest),
        "{a}"
    );
    assert_eq!(
        b.disposition.reason(),
        Some(DropReason::VlanMismatch),
        "{b}"
    );
    assert_eq!(
        verdicts(&reach(&ovn).results)
            .iter()
            .map(|v| (v.0.clone(), v.1.clone(), v.3))
            .collect::<Vec<_>>(),
        verdicts(&reach(&plain).results)
            .iter()
            .map(|v| (v.0.clone(), v.1.clone(), v.3))
            .collect::<Vec<_>>()
    );
}

#[test]
fn the_gateway_router_answers_ping_and_drops_the_rest() {
    let t = ovn_example("nat.yaml");
    let tr = trace(&t, "vm1", "10.0.0.254", "icmp");
    assert!(tr.disposition.is_delivered(), "{tr}");
    let reply = steps(&tr)
        .find(|(n, s)| *n == "vm1" && s.action == Action::Deliver)
        .unwrap()
        .1;
    // OVN answers with TTL 255 (Linux: 64).
    assert!(
        matches!(reply.packet[0], Layer::Ipv4 { ttl: 255, .. }),
        "{tr}"
    );
    // No RST, no port unreachable: the logical router drops tcp and udp for its addresses.
    for proto in ["tcp:22", "udp:53"] {
        let tr = trace(&t, "vm1", "10.0.0.254", proto);
        assert_eq!(tr.disposition.reason(), Some(DropReason::NoReply), "{tr}");
        assert!(
            tr.disposition
                .summary()
                .contains("logical router node1/r1 drops"),
            "{tr}"
        );
        let plain = trace(&example("nat.yaml"), "vm1", "10.0.0.254", proto);
        assert_eq!(
            plain.disposition.reason(),
            Some(DropReason::PortClosed),
            "{plain}"
        );
    }
}

#[test]
fn snat_is_a_nat_row_and_dnat_a_load_balancer() {
    let t = ovn_example("nat.yaml");
    let tr = trace(&t, "vm1", "internet", "icmp");
    assert!(tr.disposition.is_delivered(), "{tr}");
    assert!(
        steps(&tr).any(|(n, s)| n == "node1/r1"
            && s.action == Action::Nat
            && s.detail
                .starts_with("NAT row snat 10.0.0.0/24 → 198.51.100.2")),
        "{tr}"
    );
    assert!(
        steps(&tr).any(|(n, s)| n == "node1/r1"
            && s.action == Action::Forward
            && s.detail.starts_with("logical router node1/r1")),
        "{tr}"
    );
    let tr = trace(&t, "internet", "198.51.100.2", "tcp:8080");
    assert!(tr.disposition.is_delivered(), "{tr}");
    assert!(
        steps(&tr).any(|(_, s)| s.action == Action::Nat
            && s.detail == "load balancer: 198.51.100.1:40000 > 198.51.100.2:8080 → 198.51.100.1:40000 > 10.0.0.1:80"),
        "{tr}"
    );
    // From inside: the VIP answers too, through the NAT row (see the reach test).
    let tr = trace(&t, "vm2", "198.51.100.2", "tcp:8080");
    assert!(tr.disposition.is_delivered(), "{tr}");
}

#[test]
fn seed_lab_vm1_to_vm3() {
    let t = ovn_example("seedlab-gre.yaml");
    insta::assert_snapshot!(trace(&t, "vm1", "vm3", "icmp").to_string());
}

#[test]
fn a_generated_lab_reaches_alike_on_both_engines() {
    // Several hosts on a tree of tunnels (frames relayed across a middle
    // host), VLANs, untagged vms, DHCP clients, a router to an external network.
    let ovn = support::generated_ovn(4, 10);
    let plain = support::lab(&ovn.replacen("engine: ovn\n", "", 1));
    let ovn = support::lab(&ovn);
    let (a, b) = (reach(&plain).results, reach(&ovn).results);
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!((&x.from, &x.to, x.ok), (&y.from, &y.to, y.ok));
        // The one difference: an untagged owner is in another logical
        // switch, where plain OVS hands it the frame tagged.
        if x.reason == Some(DropReason::TaggedFrameAtGuest) {
            assert_eq!(y.reason, Some(DropReason::VlanMismatch), "{y:?}");
        } else {
            assert_eq!(x.reason, y.reason, "{x:?} {y:?}");
        }
    }
    assert!(b.iter().filter(|r| r.ok).count() > 100);
}

#[test]
fn tunnel_ports_are_named_as_ovn_controller_names_them() {
    // Chassis seedlab.node2 and seedlab.node3 share their first 6
    // characters: node1's Geneve ports to them are ovn-seedla-0 and -1; two
    // design tunnels between the same hosts are one Geneve port.
    let yaml = "version: 1\nengine: ovn\nname: seedlab\nhosts:\n  - name: node1\n    bridges: [{name: a}, {name: b}]\n  - name: node2\n    bridges: [{name: a}, {name: b}]\n  - name: node3\n    bridges: [{name: a}]\ntunnels:\n  - {type: gre, between: [node1/a, node2/a]}\n  - {type: vxlan, between: [node1/b, node2/b], vni: 7}\n  - {type: gre, between: [node1/a, node3/a]}\n";
    let t = support::lab(yaml);
    let sim = Simulator::new(&t);
    let names = |label: &str| -> Vec<(String, String)> {
        let sw = sim
            .net()
            .switches
            .iter()
            .find(|s| s.label == label)
            .unwrap();
        sw.ports
            .iter()
            .map(|p| (p.name.clone(), p.desc.clone()))
            .collect()
    };
    let to = |n: &str, host: &str| {
        (
            n.to_string(),
            format!("Geneve to {host}, chassis seedlab.{host}"),
        )
    };
    assert_eq!(
        names("node1/a"),
        [to("ovn-seedla-0", "node2"), to("ovn-seedla-1", "node3")]
    );
    assert_eq!(names("node1/b"), [to("ovn-seedla-0", "node2")]);
    assert_eq!(names("node2/b"), [to("ovn-seedla-0", "node1")]);
    assert_eq!(names("node3/a"), [to("ovn-seedla-0", "node1")]);
}
