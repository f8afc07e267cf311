//! A simulated packet, put on the wire and captured, decodes into the very
//! layers the simulator showed: the inspector renders both alike.

mod support;

use netloom_core::capture::decode;
use netloom_core::reach;
use netloom_core::sim::{simulate, Probe, Proto, Simulator};
use netloom_core::trace::{ArpOp, DhcpMessage, Layer, TcpFlags};
use netloom_core::Topology;

/// The bytes a kernel would send for these headers (checksums left 0: the
/// decoder, like a capture on a veth with offload, does not check them).
fn encode(layers: &[Layer]) -> Vec<u8> {
    let mut b = Vec::new();
    for l in layers {
        match l {
            Layer::Ethernet {
                src,
                dst,
                ethertype,
            } => {
                b.extend(dst.0);
                b.extend(src.0);
                b.extend(ethertype.to_be_bytes());
            }
            Layer::Dot1q { vid, ethertype } => {
                b.extend(vid.to_be_bytes());
                b.extend(ethertype.to_be_bytes());
            }
            Layer::Arp {
                op,
                sender_mac,
                sender_ip,
                target_mac,
                target_ip,
            } => {
                let op = match op {
                    ArpOp::Request => 1,
                    ArpOp::Reply => 2,
                };
                b.extend([0, 1, 8, 0, 6, 4, 0, op]);
                b.extend(sender_mac.0);
                b.extend(sender_ip.octets());
                b.extend(target_mac.0);
                b.extend(target_ip.octets());
            }
            Layer::Ipv4 {
                src,
                dst,
                ttl,
                protocol,
                total_length,
            } => {
                b.extend([0x45, 0]);
                b.extend(total_length.to_be_bytes());
                b.extend([0, 0, 0x40, 0, *ttl, *protocol, 0, 0]);
                b.extend(src.octets());
                b.extend(dst.octets());
            }
            Layer::Gre { protocol, key } => {
                b.extend([if key.is_some() { 0x20 } else { 0 }, 0]);
                b.extend(protocol.to_be_bytes());
                b.extend(key.iter().flat_map(|k| k.to_be_bytes()));
            }
            Layer::Udp {
                src_port,
                dst_port,
                length,
            } => {
                b.extend(src_port.to_be_bytes());
                b.extend(dst_port.to_be_bytes());
                b.extend(length.to_be_bytes());
                b.extend([0, 0]);
            }
            Layer::Vxlan { vni } => {
                b.extend([0x08, 0, 0, 0]);
                b.extend(&vni.to_be_bytes()[1..]);
                b.push(0);
            }
            Layer::Geneve { vni } => {
                // Options length 2 words: OVN's option, class 0x0102 type
                // 0x80, one word of port keys (ingress 1, egress 2).
                b.extend([0x02, 0, 0x65, 0x58]);
                b.extend(&vni.to_be_bytes()[1..]);
                b.push(0);
                b.extend([0x01, 0x02, 0x80, 0x01, 0, 1, 0, 2]);
            }
            Layer::Icmp {
                kind,
                code,
                id,
                seq,
            } => {
                b.extend([kind.type_code().0, *code, 0, 0]);
                b.extend(id.to_be_bytes());
                b.extend(seq.to_be_bytes());
            }
            Layer::Tcp {
                src_port,
                dst_port,
                flags,
            } => {
                let flags = match flags {
                    TcpFlags::Syn => 0x02,
                    TcpFlags::SynAck => 0x12,
                    TcpFlags::RstAck => 0x14,
                    other => panic!("the simulator sent {other:?}"),
                };
                b.extend(src_port.to_be_bytes());
                b.extend(dst_port.to_be_bytes());
                b.extend([0; 8]);
                b.extend([0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
            }
            Layer::Dhcp {
                message,
                xid,
                chaddr,
                yiaddr,
                server_id,
                requested_ip,
                subnet_mask,
                router,
            } => {
                let (op, kind) = match message {
                    DhcpMessage::Discover => (1, 1),
                    DhcpMessage::Offer => (2, 2),
                    DhcpMessage::Request => (1, 3),
                    DhcpMessage::Ack => (2, 5),
                    other => panic!("the simulator sent {other:?}"),
                };
                let mut m = vec![0u8; 236];
                m[..4].copy_from_slice(&[op, 1, 6, 0]);
                m[4..8].copy_from_slice(&xid.to_be_bytes());
                m[16..20].copy_from_slice(&yiaddr.octets());
                m[28..34].copy_from_slice(&chaddr.0);
                m.extend([99, 130, 83, 99, 53, 1, kind]);
                for (code, a) in [
                    (54, server_id),
                    (50, requested_ip),
                    (1, subnet_mask),
                    (3, router),
                ] {
                    if let Some(a) = a {
                        m.extend([code, 4]);
                        m.extend(a.octets());
                    }
                }
                m.push(255);
                b.extend(m);
            }
            Layer::Ipv6 { .. } | Layer::Unknown { .. } => panic!("the simulator sent {l:?}"),
        }
    }
    b
}

/// Every probe kind from every sender to every address of the lab.
fn probes(t: &Topology) -> Vec<Probe> {
    let addresses = reach::addresses(Simulator::new(t).net());
    let mut out = Vec::new();
    for from in reach::senders(t) {
        for &to in &addresses {
            for proto in [Proto::Icmp, Proto::Arp, Proto::Tcp(22), Proto::Udp(53)] {
                out.push(Probe {
                    proto,
                    ..Probe::icmp(from, to)
                });
            }
        }
        out.push(Probe {
            proto: Proto::Dhcp,
            ..Probe::icmp(from, "255.255.255.255".parse().unwrap())
        });
    }
    out
}

#[test]
fn every_simulated_packet_decodes_into_the_layers_the_simulator_showed() {
    let labs = support::examples()
        .into_iter()
        .chain(support::test_labs())
        .chain(support::ovn_examples());
    let mut packets = 0;
    let mut seen = std::collections::BTreeSet::new();
    for (name, t) in labs {
        for probe in probes(&t) {
            let trace = simulate(&t, &probe);
            for step in trace.hops.iter().flat_map(|h| &h.steps) {
                // Inside a guest's stack a step shows the IP packet alone: not a frame.
                if !matches!(step.packet.first(), Some(Layer::Ethernet { .. })) {
                    continue;
                }
                let got = decode(&encode(&step.packet));
                assert_eq!(got, step.packet, "{name}: {} {}", probe.proto, step.detail);
                seen.extend(
                    step.packet
                        .iter()
                        .map(|l| format!("{l}").split(' ').next().unwrap().to_string()),
                );
                packets += 1;
            }
        }
    }
    // Every kind of header the simulator writes was met at least once.
    for kind in [
        "eth", "802.1q", "arp", "ipv4", "gre", "udp", "vxlan", "geneve", "icmp", "tcp", "dhcp",
    ] {
        assert!(
            seen.contains(kind),
            "no {kind} header among {packets} packets: {seen:?}"
        );
    }
}
