//! One captured Ethernet frame → [`Layer`]s, outermost first, the way the
//! simulator lists a hop's headers, so both render alike.
//!
//! etherparse reads Ethernet, 802.1Q, ARP, IPv4, IPv6, ICMP, UDP and TCP;
//! this module adds what it lacks (GRE with its key, VXLAN, DHCP) and walks
//! into a tunnel's inner frame. A header it cannot read ends the list with a
//! [`Layer::Unknown`] saying which and why: a capture never fails to decode.

use std::net::Ipv4Addr;

use etherparse::{
    ArpPacketSlice, Ethernet2HeaderSlice, Icmpv4Slice, Ipv4HeaderSlice, Ipv6HeaderSlice,
    SingleVlanHeaderSlice, TcpHeaderSlice, UdpHeaderSlice,
};

use crate::topology::Mac;
use crate::trace::{ArpOp, DhcpMessage, IcmpKind, Layer, TcpFlags};

const ETH_IPV4: u16 = 0x0800;
const ETH_ARP: u16 = 0x0806;
const ETH_VLAN: u16 = 0x8100;
const ETH_QINQ: u16 = 0x88a8;
const ETH_IPV6: u16 = 0x86dd;
/// GRE's protocol for a whole Ethernet frame inside (OVS `gre` ports, `gretap`).
const ETH_TEB: u16 = 0x6558;
const VXLAN_PORT: u16 = 4789;
const GENEVE_PORT: u16 = 6081;
const DHCP_PORTS: [u16; 2] = [67, 68];
/// Tunnels inside tunnels: deeper than this is left undecoded.
const MAX_DEPTH: u8 = 4;

/// The layers of one frame, outermost first.
pub fn decode(frame: &[u8]) -> Vec<Layer> {
    let mut out = Vec::new();
    ethernet(frame, 0, &mut out);
    out
}

fn unknown(what: impl Into<String>, rest: &[u8], out: &mut Vec<Layer>) {
    out.push(Layer::Unknown {
        what: what.into(),
        length: rest.len(),
    });
}

fn ethernet(b: &[u8], depth: u8, out: &mut Vec<Layer>) {
    let Ok(eth) = Ethernet2HeaderSlice::from_slice(b) else {
        return unknown("truncated Ethernet header", b, out);
    };
    let mut ethertype = eth.ether_type().0;
    out.push(Layer::Ethernet {
        src: Mac(eth.source()),
        dst: Mac(eth.destination()),
        ethertype,
    });
    let mut rest = &b[eth.slice().len()..];
    while ethertype == ETH_VLAN || ethertype == ETH_QINQ {
        let Ok(tag) = SingleVlanHeaderSlice::from_slice(rest) else {
            return unknown("truncated 802.1Q tag", rest, out);
        };
        ethertype = tag.ether_type().0;
        out.push(Layer::Dot1q {
            vid: tag.vlan_identifier().value(),
            ethertype,
        });
        rest = &rest[tag.slice().len()..];
    }
    match ethertype {
        ETH_ARP => arp(rest, out),
        ETH_IPV4 => ipv4(rest, depth, out),
        ETH_IPV6 => ipv6(rest, out),
        t if t < 0x0600 => unknown("802.3 frame (LLC)", rest, out),
        t => unknown(format!("ethertype {t:#06x}"), rest, out),
    }
}

fn arp(b: &[u8], out: &mut Vec<Layer>) {
    let Ok(a) = ArpPacketSlice::from_slice(b) else {
        return unknown("truncated ARP packet", b, out);
    };
    let (Ok(smac), Ok(sip), Ok(tmac), Ok(tip)) = (
        <[u8; 6]>::try_from(a.sender_hw_addr()),
        <[u8; 4]>::try_from(a.sender_protocol_addr()),
        <[u8; 6]>::try_from(a.target_hw_addr()),
        <[u8; 4]>::try_from(a.target_protocol_addr()),
    ) else {
        return unknown("ARP for other than Ethernet and IPv4", b, out);
    };
    let op = match a.operation().0 {
        1 => ArpOp::Request,
        2 => ArpOp::Reply,
        n => return unknown(format!("ARP operation {n}"), b, out),
    };
    out.push(Layer::Arp {
        op,
        sender_mac: Mac(smac),
        sender_ip: sip.into(),
        target_mac: Mac(tmac),
        target_ip: tip.into(),
    });
}

fn ipv4(b: &[u8], depth: u8, out: &mut Vec<Layer>) {
    let Ok(ip) = Ipv4HeaderSlice::from_slice(b) else {
        return unknown("truncated IPv4 header", b, out);
    };
    let protocol = ip.protocol().0;
    out.push(Layer::Ipv4 {
        src: ip.source_addr(),
        dst: ip.destination_addr(),
        ttl: ip.ttl(),
        protocol,
        total_length: ip.total_len(),
    });
    let head = ip.slice().len();
    // Ethernet pads short packets: the payload ends where IPv4 says it does.
    let end = usize::from(ip.total_len()).clamp(head, b.len());
    let payload = &b[head..end];
    if ip.fragments_offset().value() != 0 {
        return unknown("IPv4 fragment", payload, out);
    }
    match protocol {
        1 => icmp(payload, out),
        6 => tcp(payload, out),
        17 => udp(payload, depth, out),
        47 => gre(payload, depth, out),
        p => unknown(format!("IP protocol {p}"), payload, out),
    }
}

fn ipv6(b: &[u8], out: &mut Vec<Layer>) {
    let Ok(ip) = Ipv6HeaderSlice::from_slice(b) else {
        return unknown("truncated IPv6 header", b, out);
    };
    let next_header = ip.next_header().0;
    out.push(Layer::Ipv6 {
        src: ip.source_addr(),
        dst: ip.destination_addr(),
        next_header,
        hop_limit: ip.hop_limit(),
    });
    let rest = &b[ip.slice().len()..];
    unknown(format!("IPv6 next header {next_header}"), rest, out);
}

fn icmp(b: &[u8], out: &mut Vec<Layer>) {
    let Ok(m) = Icmpv4Slice::from_slice(b) else {
        return unknown("truncated ICMP header", b, out);
    };
    let (t, code) = (m.type_u8(), m.code_u8());
    let kind = match (t, code) {
        (8, _) => IcmpKind::EchoRequest,
        (0, _) => IcmpKind::EchoReply,
        (3, 3) => IcmpKind::PortUnreachable,
        (11, _) => IcmpKind::TimeExceeded,
        (t, _) => IcmpKind::Other(t),
    };
    // Identifier and sequence exist only in echoes; other types use those bytes otherwise.
    let [a, b2, c, d] = m.bytes5to8();
    let (id, seq) = match kind {
        IcmpKind::EchoRequest | IcmpKind::EchoReply => {
            (u16::from_be_bytes([a, b2]), u16::from_be_bytes([c, d]))
        }
        _ => (0, 0),
    };
    out.push(Layer::Icmp {
        kind,
        code,
        id,
        seq,
    });
}

fn tcp(b: &[u8], out: &mut Vec<Layer>) {
    let Ok(t) = TcpHeaderSlice::from_slice(b) else {
        return unknown("truncated TCP header", b, out);
    };
    let flags = match (t.syn(), t.ack(), t.rst(), t.fin(), t.psh()) {
        (true, false, false, false, _) => TcpFlags::Syn,
        (true, true, false, false, _) => TcpFlags::SynAck,
        (false, true, true, false, _) => TcpFlags::RstAck,
        (false, false, true, false, _) => TcpFlags::Rst,
        (false, true, false, true, _) => TcpFlags::FinAck,
        (false, true, false, false, true) => TcpFlags::PshAck,
        (false, true, false, false, false) => TcpFlags::Ack,
        _ => TcpFlags::Other(t.slice()[13]),
    };
    out.push(Layer::Tcp {
        src_port: t.source_port(),
        dst_port: t.destination_port(),
        flags,
    });
}

fn udp(b: &[u8], depth: u8, out: &mut Vec<Layer>) {
    let Ok(u) = UdpHeaderSlice::from_slice(b) else {
        return unknown("truncated UDP header", b, out);
    };
    let (src_port, dst_port, length) = (u.source_port(), u.destination_port(), u.length());
    out.push(Layer::Udp {
        src_port,
        dst_port,
        length,
    });
    let head = u.slice().len();
    let payload = &b[head..usize::from(length).clamp(head, b.len())];
    if dst_port == VXLAN_PORT {
        vxlan(payload, depth, out);
    } else if dst_port == GENEVE_PORT {
        geneve(payload, depth, out);
    } else if DHCP_PORTS.contains(&src_port) && DHCP_PORTS.contains(&dst_port) {
        dhcp(payload, out);
    }
}

fn vxlan(b: &[u8], depth: u8, out: &mut Vec<Layer>) {
    // RFC 7348: flags (I = 0x08: the VNI is valid), 3 reserved, VNI (24 bits), 1 reserved.
    if b.len() < 8 {
        return unknown("truncated VXLAN header", b, out);
    }
    if b[0] & 0x08 == 0 {
        return unknown("VXLAN header without a valid VNI", b, out);
    }
    out.push(Layer::Vxlan {
        vni: u32::from_be_bytes([0, b[4], b[5], b[6]]),
    });
    inner_frame(&b[8..], depth, out);
}

fn geneve(b: &[u8], depth: u8, out: &mut Vec<Layer>) {
    // RFC 8926: version and options length (low 6 bits, 4-byte words),
    // flags, protocol type, VNI (24 bits), reserved; then the options (OVN's
    // carries the logical ports' keys), then the inner frame.
    if b.len() < 8 {
        return unknown("truncated Geneve header", b, out);
    }
    let end = 8 + usize::from(b[0] & 0x3f) * 4;
    if b.len() < end {
        return unknown("truncated Geneve options", b, out);
    }
    if u16::from_be_bytes([b[2], b[3]]) != ETH_TEB {
        return unknown("Geneve payload that is not Ethernet", b, out);
    }
    out.push(Layer::Geneve {
        vni: u32::from_be_bytes([0, b[4], b[5], b[6]]),
    });
    inner_frame(&b[end..], depth, out);
}

fn inner_frame(b: &[u8], depth: u8, out: &mut Vec<Layer>) {
    if depth >= MAX_DEPTH {
        return unknown("tunnels nested too deep", b, out);
    }
    ethernet(b, depth + 1, out);
}

fn gre(b: &[u8], depth: u8, out: &mut Vec<Layer>) {
    // RFC 2784/2890: C (0x80) adds checksum + reserved, K (0x20) a key, S (0x10) a sequence number.
    if b.len() < 4 {
        return unknown("truncated GRE header", b, out);
    }
    let (flags, version) = (b[0], b[1] & 0x07);
    if version != 0 {
        return unknown(format!("GRE version {version}"), b, out);
    }
    let protocol = u16::from_be_bytes([b[2], b[3]]);
    let checksum = if flags & 0x80 != 0 { 4 } else { 0 };
    let key_at = 4 + checksum;
    let has_key = flags & 0x20 != 0;
    let head = key_at + if has_key { 4 } else { 0 } + if flags & 0x10 != 0 { 4 } else { 0 };
    if b.len() < head {
        return unknown("truncated GRE header", b, out);
    }
    let key = has_key
        .then(|| u32::from_be_bytes([b[key_at], b[key_at + 1], b[key_at + 2], b[key_at + 3]]));
    out.push(Layer::Gre { protocol, key });
    let rest = &b[head..];
    match protocol {
        ETH_TEB => inner_frame(rest, depth, out),
        ETH_IPV4 if depth < MAX_DEPTH => ipv4(rest, depth + 1, out),
        p => unknown(format!("GRE protocol {p:#06x}"), rest, out),
    }
}

/// The fixed BOOTP part ahead of the options: op .. file, then the magic cookie.
const BOOTP_LEN: usize = 236;
const DHCP_COOKIE: [u8; 4] = [99, 130, 83, 99];

fn dhcp(b: &[u8], out: &mut Vec<Layer>) {
    if b.len() < BOOTP_LEN + 4 {
        return unknown("truncated DHCP message", b, out);
    }
    if b[BOOTP_LEN..BOOTP_LEN + 4] != DHCP_COOKIE {
        return unknown("BOOTP without DHCP options", b, out);
    }
    let addr = |at: usize| Ipv4Addr::new(b[at], b[at + 1], b[at + 2], b[at + 3]);
    let opts = options(&b[BOOTP_LEN + 4..]);
    let opt_addr = |code: u8| {
        opts.iter()
            .find(|(c, v)| *c == code && v.len() >= 4)
            .map(|(_, v)| Ipv4Addr::new(v[0], v[1], v[2], v[3]))
    };
    let message = match opts.iter().find(|(c, v)| *c == 53 && v.len() == 1) {
        Some((_, v)) => match v[0] {
            1 => DhcpMessage::Discover,
            2 => DhcpMessage::Offer,
            3 => DhcpMessage::Request,
            4 => DhcpMessage::Decline,
            5 => DhcpMessage::Ack,
            6 => DhcpMessage::Nak,
            7 => DhcpMessage::Release,
            8 => DhcpMessage::Inform,
            n => return unknown(format!("DHCP message type {n}"), b, out),
        },
        None => return unknown("BOOTP without a DHCP message type", b, out),
    };
    let mut chaddr = [0; 6];
    chaddr.copy_from_slice(&b[28..34]);
    out.push(Layer::Dhcp {
        message,
        xid: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
        chaddr: Mac(chaddr),
        yiaddr: addr(16),
        server_id: opt_addr(54),
        requested_ip: opt_addr(50),
        subnet_mask: opt_addr(1),
        router: opt_addr(3),
    });
}

/// DHCP options as (code, value), up to the end option or the first one cut short.
fn options(mut b: &[u8]) -> Vec<(u8, &[u8])> {
    let mut out = Vec::new();
    while let Some((&code, rest)) = b.split_first() {
        match code {
            0 => b = rest,
            255 => break,
            _ => {
                let Some((&len, rest)) = rest.split_first() else {
                    break;
                };
                let Some(value) = rest.get(..usize::from(len)) else {
                    break;
                };
                out.push((code, value));
                b = &rest[usize::from(len)..];
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::PacketBuilder;

    const A: [u8; 6] = [0x02, 0, 0, 0, 0, 1];
    const B: [u8; 6] = [0x02, 0, 0, 0, 0, 2];

    fn echo(vlan: Option<u16>) -> Vec<u8> {
        let eth = PacketBuilder::ethernet2(A, B);
        let ip = [10, 0, 0, 1];
        let mut out = Vec::new();
        let payload = [0u8; 56];
        match vlan {
            Some(v) => eth
                .single_vlan(v.try_into().unwrap())
                .ipv4(ip, [10, 0, 0, 2], 64)
                .icmpv4_echo_request(7, 3)
                .write(&mut out, &payload),
            None => eth
                .ipv4(ip, [10, 0, 0, 2], 64)
                .icmpv4_echo_request(7, 3)
                .write(&mut out, &payload),
        }
        .unwrap();
        out
    }

    /// `inner` in VXLAN over UDP over IPv4 on the underlay.
    fn in_vxlan(vni: u32, inner: &[u8]) -> Vec<u8> {
        let mut vx = vec![0x08, 0, 0, 0];
        vx.extend_from_slice(&(vni << 8).to_be_bytes());
        vx.extend_from_slice(inner);
        let mut frame = Vec::new();
        PacketBuilder::ethernet2(B, A)
            .ipv4([192, 168, 0, 1], [192, 168, 0, 2], 64)
            .udp(40000, VXLAN_PORT)
            .write(&mut frame, &vx)
            .unwrap();
        frame
    }

    #[test]
    fn a_tagged_echo_reads_as_the_simulator_writes_it() {
        let layers = decode(&echo(Some(10)));
        let text: Vec<String> = layers.iter().map(|l| l.to_string()).collect();
        assert_eq!(
            text,
            [
                "eth 02:00:00:00:00:01 > 02:00:00:00:00:02",
                "802.1q vlan 10",
                "ipv4 10.0.0.1 > 10.0.0.2 ttl 64 len 84",
                "icmp echo request id 7 seq 3",
            ]
        );
        assert!(matches!(
            layers[0],
            Layer::Ethernet {
                ethertype: ETH_VLAN,
                ..
            }
        ));
        assert!(matches!(
            layers[1],
            Layer::Dot1q {
                ethertype: ETH_IPV4,
                ..
            }
        ));
    }

    #[test]
    fn gre_with_a_key_opens_onto_the_inner_frame() {
        let inner = echo(Some(10));
        let mut gre = vec![0x20, 0x00, 0x65, 0x58, 0, 0, 0, 7];
        gre.extend_from_slice(&inner);
        let mut frame = Vec::new();
        PacketBuilder::ethernet2(B, A)
            .ipv4([192, 168, 0, 1], [192, 168, 0, 2], 64)
            .write(&mut frame, etherparse::IpNumber(47), &gre)
            .unwrap();
        let layers = decode(&frame);
        assert_eq!(layers.len(), 7, "{layers:?}");
        assert_eq!(
            layers[2],
            Layer::Gre {
                protocol: ETH_TEB,
                key: Some(7)
            }
        );
        assert_eq!(layers[3..], decode(&inner)[..]);
    }

    #[test]
    fn vxlan_names_its_vni() {
        let inner = echo(None);
        let frame = in_vxlan(1001, &inner);
        let layers = decode(&frame);
        assert_eq!(layers[3], Layer::Vxlan { vni: 1001 });
        assert_eq!(layers[4..], decode(&inner)[..]);
    }

    #[test]
    fn a_dhcp_ack_carries_its_lease() {
        let mut m = vec![0u8; BOOTP_LEN];
        m[0] = 2;
        m[4..8].copy_from_slice(&0x1234_5678u32.to_be_bytes());
        m[16..20].copy_from_slice(&[10, 0, 0, 50]);
        m[28..34].copy_from_slice(&A);
        m.extend_from_slice(&DHCP_COOKIE);
        m.extend_from_slice(&[53, 1, 5, 54, 4, 10, 0, 0, 1, 1, 4, 255, 255, 255, 0]);
        m.extend_from_slice(&[3, 4, 10, 0, 0, 254, 0, 255]);
        let mut frame = Vec::new();
        PacketBuilder::ethernet2(B, A)
            .ipv4([10, 0, 0, 1], [255, 255, 255, 255], 64)
            .udp(67, 68)
            .write(&mut frame, &m)
            .unwrap();
        let layers = decode(&frame);
        assert_eq!(
            layers[3],
            Layer::Dhcp {
                message: DhcpMessage::Ack,
                xid: 0x1234_5678,
                chaddr: Mac(A),
                yiaddr: Ipv4Addr::new(10, 0, 0, 50),
                server_id: Some(Ipv4Addr::new(10, 0, 0, 1)),
                requested_ip: None,
                subnet_mask: Some(Ipv4Addr::new(255, 255, 255, 0)),
                router: Some(Ipv4Addr::new(10, 0, 0, 254)),
            }
        );
    }

    #[test]
    fn an_ack_is_an_ack() {
        let mut frame = Vec::new();
        PacketBuilder::ethernet2(A, B)
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .tcp(40000, 80, 1, 1000)
            .ack(5)
            .write(&mut frame, &[])
            .unwrap();
        assert!(matches!(
            decode(&frame)[2],
            Layer::Tcp {
                flags: TcpFlags::Ack,
                dst_port: 80,
                ..
            }
        ));
    }

    #[test]
    fn every_cut_of_a_frame_decodes_without_a_panic_and_says_where_it_stopped() {
        let frame = in_vxlan(1, &echo(Some(10)));
        for n in 0..frame.len() {
            let layers = decode(&frame[..n]);
            // Every cut short of the inner echo's payload ends in what could not be read.
            if n < frame.len() - 56 {
                assert!(
                    matches!(layers.last(), Some(Layer::Unknown { .. })),
                    "cut at {n}: {layers:?}"
                );
            }
        }
    }
}
