//! Frames and packets as the simulator moves them, one struct per layer, and
//! their conversion to the trace's [`Layer`] list.

use std::net::Ipv4Addr;

use crate::topology::{Mac, TunnelKind};
use crate::trace::{ArpOp, DhcpMessage, IcmpKind, Layer, TcpFlags};

pub const ETH_IPV4: u16 = 0x0800;
pub const ETH_ARP: u16 = 0x0806;
pub const ETH_VLAN: u16 = 0x8100;
/// GRE protocol type of an Ethernet payload (OVS `gre` ports).
pub const ETH_TEB: u16 = 0x6558;
pub const ETH_HEADER: u16 = 14;
pub const VLAN_TAG: u16 = 4;
pub const ARP_LEN: u16 = 28;
pub const IP_HEADER: u16 = 20;
pub const UDP_HEADER: u16 = 8;
pub const PROTO_ICMP: u8 = 1;
pub const PROTO_TCP: u8 = 6;
pub const PROTO_UDP: u8 = 17;
pub const PROTO_GRE: u8 = 47;
pub const VXLAN_PORT: u16 = 4789;
pub const GENEVE_PORT: u16 = 6081;
/// OVN's Geneve overhead over the inner IPv4 packet: inner Ethernet 14, outer
/// IPv4 20, UDP 8, Geneve 8 and OVN's 8-byte option (port keys). Measured on
/// OVN 23.03 (userspace datapath, underlay MTU 1500): `ping -M do -s 1414`
/// crosses, 1415 does not, so the largest packet is 1442 bytes.
pub const GENEVE_OVERHEAD: u32 = 58;
/// Linux's default TTL for packets it originates.
pub const DEFAULT_TTL: u8 = 64;
/// Every interface and the underlay (spec, MTU section).
pub const MTU: u16 = 1500;
pub const DHCP_SERVER_PORT: u16 = 67;
pub const DHCP_CLIENT_PORT: u16 = 68;

/// An Ethernet frame; `vlan` is its 802.1Q tag as it is on the wire.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    pub src: Mac,
    pub dst: Mac,
    pub vlan: Option<u16>,
    pub payload: Payload,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    Arp(Arp),
    Ip(Ipv4),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Arp {
    pub op: ArpOp,
    pub sha: Mac,
    pub spa: Ipv4Addr,
    pub tha: Mac,
    pub tpa: Ipv4Addr,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ipv4 {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub ttl: u8,
    /// Total length.
    pub len: u16,
    pub l4: L4,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum L4 {
    Icmp(Icmp),
    Tcp(Tcp),
    Udp(Udp),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Icmp {
    pub kind: IcmpKind,
    pub id: u16,
    pub seq: u16,
    /// For errors: the flow of the packet that caused it (as it was received).
    pub about: Option<Flow>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tcp {
    pub sport: u16,
    pub dport: u16,
    pub flags: TcpFlags,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Udp {
    pub sport: u16,
    pub dport: u16,
    pub dhcp: Option<Dhcp>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dhcp {
    pub message: DhcpMessage,
    pub xid: u32,
    pub chaddr: Mac,
    pub yiaddr: Ipv4Addr,
    pub server_id: Option<Ipv4Addr>,
    pub requested: Option<Ipv4Addr>,
    pub prefix: Option<u8>,
    pub router: Option<Ipv4Addr>,
}

/// A connection-tracking tuple. ICMP uses the echo id for both ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flow {
    pub proto: u8,
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub sport: u16,
    pub dport: u16,
}

impl Flow {
    pub fn reversed(&self) -> Flow {
        Flow {
            proto: self.proto,
            src: self.dst,
            dst: self.src,
            sport: self.dport,
            dport: self.sport,
        }
    }
}

impl L4 {
    pub fn proto(&self) -> u8 {
        match self {
            L4::Icmp(_) => PROTO_ICMP,
            L4::Tcp(_) => PROTO_TCP,
            L4::Udp(_) => PROTO_UDP,
        }
    }
}

impl Ipv4 {
    pub fn flow(&self) -> Flow {
        let (sport, dport) = match self.l4 {
            L4::Icmp(i) => (i.id, i.id),
            L4::Tcp(t) => (t.sport, t.dport),
            L4::Udp(u) => (u.sport, u.dport),
        };
        Flow {
            proto: self.l4.proto(),
            src: self.src,
            dst: self.dst,
            sport,
            dport,
        }
    }

    /// Set the flow's addresses and ports (NAT).
    pub fn set_flow(&mut self, f: Flow) {
        self.src = f.src;
        self.dst = f.dst;
        match &mut self.l4 {
            L4::Icmp(i) => i.id = f.sport,
            L4::Tcp(t) => {
                t.sport = f.sport;
                t.dport = f.dport;
            }
            L4::Udp(u) => {
                u.sport = f.sport;
                u.dport = f.dport;
            }
        }
    }

    /// Packets that may open a connection in conntrack's eyes; an echo reply,
    /// SYN-ACK, RST or ICMP error without a tracked connection is INVALID and
    /// never gets NAT.
    pub fn opens_connection(&self) -> bool {
        match self.l4 {
            L4::Icmp(i) => i.kind == IcmpKind::EchoRequest,
            L4::Tcp(t) => t.flags == TcpFlags::Syn,
            L4::Udp(_) => true,
        }
    }
}

impl Frame {
    /// Bytes on the wire, without preamble, padding and FCS.
    pub fn wire_len(&self) -> u16 {
        let tag = if self.vlan.is_some() { VLAN_TAG } else { 0 };
        ETH_HEADER + tag + self.payload_len()
    }

    pub fn payload_len(&self) -> u16 {
        match &self.payload {
            Payload::Arp(_) => ARP_LEN,
            Payload::Ip(p) => p.len,
        }
    }

    fn ethertype(&self) -> u16 {
        match self.payload {
            Payload::Arp(_) => ETH_ARP,
            Payload::Ip(_) => ETH_IPV4,
        }
    }

    /// The headers, outermost first.
    pub fn layers(&self) -> Vec<Layer> {
        let mut out = Vec::with_capacity(4);
        self.push_layers(&mut out);
        out
    }

    pub fn push_layers(&self, out: &mut Vec<Layer>) {
        let et = self.ethertype();
        match self.vlan {
            Some(vid) => {
                out.push(Layer::Ethernet {
                    src: self.src,
                    dst: self.dst,
                    ethertype: ETH_VLAN,
                });
                out.push(Layer::Dot1q { vid, ethertype: et });
            }
            None => out.push(Layer::Ethernet {
                src: self.src,
                dst: self.dst,
                ethertype: et,
            }),
        }
        match &self.payload {
            Payload::Arp(a) => out.push(Layer::Arp {
                op: a.op,
                sender_mac: a.sha,
                sender_ip: a.spa,
                target_mac: a.tha,
                target_ip: a.tpa,
            }),
            Payload::Ip(p) => p.push_layers(out),
        }
    }
}

impl Ipv4 {
    pub fn push_layers(&self, out: &mut Vec<Layer>) {
        out.push(Layer::Ipv4 {
            src: self.src,
            dst: self.dst,
            ttl: self.ttl,
            protocol: self.l4.proto(),
            total_length: self.len,
        });
        match self.l4 {
            L4::Icmp(i) => {
                let (_, code) = i.kind.type_code();
                out.push(Layer::Icmp {
                    kind: i.kind,
                    code,
                    id: i.id,
                    seq: i.seq,
                });
            }
            L4::Tcp(t) => out.push(Layer::Tcp {
                src_port: t.sport,
                dst_port: t.dport,
                flags: t.flags,
            }),
            L4::Udp(u) => {
                out.push(Layer::Udp {
                    src_port: u.sport,
                    dst_port: u.dport,
                    length: self.len.saturating_sub(IP_HEADER),
                });
                if let Some(d) = u.dhcp {
                    out.push(Layer::Dhcp {
                        message: d.message,
                        xid: d.xid,
                        chaddr: d.chaddr,
                        yiaddr: d.yiaddr,
                        server_id: d.server_id,
                        requested_ip: d.requested,
                        subnet_mask: d.prefix.map(prefix_mask),
                        router: d.router,
                    });
                }
            }
        }
    }
}

fn prefix_mask(len: u8) -> Ipv4Addr {
    let bits = if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len.min(32)))
    };
    Ipv4Addr::from(bits)
}

/// What a tunnel port wraps a frame in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum EncapKind {
    /// The design's own GRE or VXLAN tunnel (the plain OVS engine).
    Design(TunnelKind),
    /// OVN's Geneve, whatever the design's tunnel says: `vni` is the logical
    /// switch's tunnel key, `vlan` the design VLAN that switch stands for
    /// (metadata only: the inner frame carries no 802.1Q tag).
    Geneve { vni: u32, vlan: u16 },
}

impl EncapKind {
    /// Bytes added to the inner IPv4 packet (the inner Ethernet header counted).
    pub fn overhead(&self) -> u32 {
        match self {
            EncapKind::Design(k) => k.overhead(),
            EncapKind::Geneve { .. } => GENEVE_OVERHEAD,
        }
    }
}

impl std::fmt::Display for EncapKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EncapKind::Design(k) => write!(f, "{k}"),
            EncapKind::Geneve { vni, .. } => write!(f, "Geneve VNI {vni}"),
        }
    }
}

/// The outer headers a tunnel port puts around a frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Encap {
    pub kind: EncapKind,
    pub src_mac: Mac,
    pub dst_mac: Mac,
    pub src_ip: Ipv4Addr,
    pub dst_ip: Ipv4Addr,
}

impl Encap {
    /// Length of the outer IPv4 packet around `inner` (must fit the underlay MTU).
    pub fn outer_len(&self, inner: &Frame) -> u32 {
        // The overhead counts the inner Ethernet header, which `inner.wire_len()` includes.
        u32::from(inner.wire_len()) - u32::from(ETH_HEADER) + self.kind.overhead()
    }

    /// VXLAN's and Geneve's UDP source port: OVS derives it from a hash of
    /// the inner flow (32768..61000 by default); this value is a stable stand-in.
    fn udp_sport(inner: &Frame) -> u16 {
        let mut h: u32 = 0x811c_9dc5;
        for b in inner.src.0.iter().chain(inner.dst.0.iter()) {
            h ^= u32::from(*b);
            h = h.wrapping_mul(0x0100_0193);
        }
        32768 + (h % (61000 - 32768)) as u16
    }

    pub fn layers(&self, inner: &Frame) -> Vec<Layer> {
        let len = self.outer_len(inner).min(u32::from(u16::MAX)) as u16;
        let mut out = Vec::with_capacity(8);
        out.push(Layer::Ethernet {
            src: self.src_mac,
            dst: self.dst_mac,
            ethertype: ETH_IPV4,
        });
        let protocol = match self.kind {
            EncapKind::Design(TunnelKind::Gre { .. }) => PROTO_GRE,
            EncapKind::Design(TunnelKind::Vxlan { .. }) | EncapKind::Geneve { .. } => PROTO_UDP,
        };
        out.push(Layer::Ipv4 {
            src: self.src_ip,
            dst: self.dst_ip,
            ttl: DEFAULT_TTL,
            protocol,
            total_length: len,
        });
        let udp = |dst_port| Layer::Udp {
            src_port: Self::udp_sport(inner),
            dst_port,
            length: len - IP_HEADER,
        };
        match self.kind {
            EncapKind::Design(TunnelKind::Gre { key }) => out.push(Layer::Gre {
                protocol: ETH_TEB,
                key,
            }),
            EncapKind::Design(TunnelKind::Vxlan { vni }) => {
                out.push(udp(VXLAN_PORT));
                out.push(Layer::Vxlan { vni });
            }
            EncapKind::Geneve { vni, .. } => {
                out.push(udp(GENEVE_PORT));
                out.push(Layer::Geneve { vni });
            }
        }
        inner.push_layers(&mut out);
        out
    }
}

/// Stand-in MAC of a host's underlay interface (`br-phy`) in traces,
/// derived from its underlay address (`02:00:a.b.c.d`). A deployment keeps
/// the MAC OVS gives br-phy, so only the outer MACs of a real capture differ.
pub fn underlay_mac(ip: Ipv4Addr) -> Mac {
    let o = ip.octets();
    Mac([0x02, 0x00, o[0], o[1], o[2], o[3]])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip_frame(len: u16, vlan: Option<u16>) -> Frame {
        Frame {
            src: Mac([2, 0, 0, 0, 0, 1]),
            dst: Mac([2, 0, 0, 0, 0, 2]),
            vlan,
            payload: Payload::Ip(Ipv4 {
                src: Ipv4Addr::new(10, 0, 0, 1),
                dst: Ipv4Addr::new(10, 0, 0, 2),
                ttl: 64,
                len,
                l4: L4::Icmp(Icmp {
                    kind: IcmpKind::EchoRequest,
                    id: 1,
                    seq: 1,
                    about: None,
                }),
            }),
        }
    }

    fn encap(kind: TunnelKind) -> Encap {
        Encap {
            kind: EncapKind::Design(kind),
            src_mac: Mac([2; 6]),
            dst_mac: Mac([4; 6]),
            src_ip: Ipv4Addr::new(172, 31, 0, 1),
            dst_ip: Ipv4Addr::new(172, 31, 0, 2),
        }
    }

    #[test]
    fn the_spec_mtu_example_holds() {
        // "the largest IPv4 packet crossing a GRE tunnel on a VLAN is 1458 bytes"
        let gre = encap(TunnelKind::Gre { key: None });
        assert_eq!(gre.outer_len(&ip_frame(1458, Some(10))), 1500);
        assert_eq!(gre.outer_len(&ip_frame(1459, Some(10))), 1501);
        // machine facts: inner 1462 (GRE), 1458 (GRE key), 1450 (VXLAN) untagged
        assert_eq!(gre.outer_len(&ip_frame(1462, None)), 1500);
        assert_eq!(
            encap(TunnelKind::Gre { key: Some(5) }).outer_len(&ip_frame(1458, None)),
            1500
        );
        assert_eq!(
            encap(TunnelKind::Vxlan { vni: 1 }).outer_len(&ip_frame(1450, None)),
            1500
        );
    }

    #[test]
    fn layers_are_outermost_first() {
        let f = ip_frame(84, Some(10));
        let l = encap(TunnelKind::Vxlan { vni: 7 }).layers(&f);
        let names: Vec<String> = l.iter().map(|x| x.to_string()).collect();
        assert!(names[0].starts_with("eth"));
        assert!(names[1].starts_with("ipv4 172.31.0.1 > 172.31.0.2"));
        assert!(names[2].ends_with("> 4789"));
        assert_eq!(names[3], "vxlan vni 7");
        assert_eq!(names[5], "802.1q vlan 10");
        assert_eq!(prefix_mask(24), Ipv4Addr::new(255, 255, 255, 0));
        assert_eq!(prefix_mask(0), Ipv4Addr::UNSPECIFIED);
    }

    #[test]
    fn geneve_carries_1442_bytes_untagged() {
        let geneve = Encap {
            kind: EncapKind::Geneve { vni: 3, vlan: 10 },
            ..encap(TunnelKind::Gre { key: None })
        };
        assert_eq!(geneve.outer_len(&ip_frame(1442, None)), 1500);
        assert_eq!(geneve.outer_len(&ip_frame(1443, None)), 1501);
        let names: Vec<String> = geneve
            .layers(&ip_frame(84, None))
            .iter()
            .map(|x| x.to_string())
            .collect();
        assert!(names[2].ends_with("> 6081"), "{names:?}");
        assert_eq!(names[3], "geneve vni 3");
        assert!(
            names[4].starts_with("eth"),
            "no 802.1Q tag inside: {names:?}"
        );
    }
}
