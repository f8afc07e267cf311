//! What [`crate::sim::simulate`] returns: a disposition and the hops a probe
//! took, modelled on Batfish traces and Open vSwitch's `ofproto/trace`.
//!
//! Every [`Step`] carries the packet's headers at that point, outermost layer
//! first, so a viewer can show a per-layer inspector. The `Display` impls
//! render the readable text `netloom simulate` prints.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::topology::Mac;

/// One simulated probe: what was sent, what became of it, and how.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Trace {
    pub probe: ProbeSummary,
    pub disposition: Disposition,
    pub hops: Vec<Hop>,
}

/// The probe as people name it (the resolved form is [`crate::sim::Probe`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ProbeSummary {
    /// The sending node (`vm1`, `node1/r1`, `internet`).
    pub from: String,
    /// Destination address (255.255.255.255 for DHCP).
    pub to: Ipv4Addr,
    /// `icmp`, `arp`, `tcp:80`, `udp:53`, `dhcp`.
    pub proto: String,
    /// IPv4 length of the probe packet (ICMP/UDP), when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u16>,
}

/// The outcome: the round trip succeeded, or why it did not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum Disposition {
    Delivered {
        detail: String,
    },
    Dropped {
        reason: DropReason,
        /// The node where the packet that mattered was lost.
        node: String,
        detail: String,
    },
}

/// One line of a trace read as `traceroute` prints it (see [`Trace::route`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteLine {
    pub node: String,
    pub detail: String,
}

impl Trace {
    /// The request's layer-3 path, as traceroute shows it: each router that
    /// forwarded it (and the TTL it left with), then the node that took it
    /// (the first IPv4 delivery; ARP replies are not the request's) or the
    /// node that dropped it and why. A reply lost on its way back is a last
    /// line of its own.
    pub fn route(&self) -> Vec<RouteLine> {
        let mut out = Vec::new();
        let mut arrived = false;
        'hops: for h in &self.hops {
            for st in &h.steps {
                let ip = st.packet.iter().any(|l| matches!(l, Layer::Ipv4 { .. }));
                match st.action {
                    Action::Forward => out.push(RouteLine {
                        node: h.node.clone(),
                        detail: st.detail.clone(),
                    }),
                    Action::Deliver if ip => {
                        out.push(RouteLine {
                            node: h.node.clone(),
                            detail: st.detail.clone(),
                        });
                        arrived = true;
                        break 'hops;
                    }
                    _ => {}
                }
            }
        }
        if let Disposition::Dropped {
            reason,
            node,
            detail,
        } = &self.disposition
        {
            let what = if arrived { "reply lost" } else { "dropped" };
            out.push(RouteLine {
                node: node.clone(),
                detail: format!("{what}: {}: {detail}", reason.as_str()),
            });
        }
        out
    }
}

impl Disposition {
    pub fn is_delivered(&self) -> bool {
        matches!(self, Disposition::Delivered { .. })
    }

    pub fn reason(&self) -> Option<DropReason> {
        match self {
            Disposition::Delivered { .. } => None,
            Disposition::Dropped { reason, .. } => Some(*reason),
        }
    }

    /// One line: `echo reply received`, `no-route at vm1: ...`.
    pub fn summary(&self) -> String {
        match self {
            Disposition::Delivered { detail } => detail.clone(),
            Disposition::Dropped {
                reason,
                node,
                detail,
            } => format!("{reason} at {node}: {detail}"),
        }
    }
}

/// Why a probe failed.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum DropReason {
    /// The destination sits on the same layer-2 segment, in another VLAN.
    VlanMismatch,
    /// The frame reached its guest carrying an 802.1Q tag (untagged port, other VLAN).
    TaggedFrameAtGuest,
    /// No route for the destination.
    NoRoute,
    /// ARP for the next hop got no answer.
    NeighborUnreachable,
    /// The request arrived but the reply was lost on the way back.
    NoReturnPath,
    /// The sender has no address (a DHCP client that got no lease).
    NoAddress,
    /// The frame did not fit the underlay after encapsulation.
    MtuExceeded,
    /// TTL ran out (a routing loop).
    TtlExceeded,
    /// The simulation hit its bound.
    Loop,
    /// The destination answered with TCP RST or ICMP port unreachable.
    PortClosed,
    /// A guest that does not forward got a packet for another address.
    NotForwarding,
    /// Nothing came back and nothing was seen dropping it.
    NoReply,
}

impl DropReason {
    pub fn as_str(&self) -> &'static str {
        match self {
            DropReason::VlanMismatch => "vlan-mismatch",
            DropReason::TaggedFrameAtGuest => "tagged-frame-at-guest",
            DropReason::NoRoute => "no-route",
            DropReason::NeighborUnreachable => "neighbor-unreachable",
            DropReason::NoReturnPath => "no-return-path",
            DropReason::NoAddress => "no-address",
            DropReason::MtuExceeded => "mtu-exceeded",
            DropReason::TtlExceeded => "ttl-exceeded",
            DropReason::Loop => "loop",
            DropReason::PortClosed => "port-closed",
            DropReason::NotForwarding => "not-forwarding",
            DropReason::NoReply => "no-reply",
        }
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What kind of node a hop is at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum NodeKind {
    /// An Open vSwitch bridge.
    Bridge,
    /// The layer-2 segment of an external network.
    Segment,
    Vm,
    Dhcp,
    Router,
    /// An external network's upstream router.
    External,
}

impl NodeKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            NodeKind::Bridge => "bridge",
            NodeKind::Segment => "segment",
            NodeKind::Vm => "vm",
            NodeKind::Dhcp => "dhcp",
            NodeKind::Router => "router",
            NodeKind::External => "external",
        }
    }
}

/// One node handling one frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Hop {
    pub node: String,
    pub kind: NodeKind,
    pub steps: Vec<Step>,
}

/// One thing a node did, and the packet as it was right after.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Step {
    pub action: Action,
    pub detail: String,
    /// Headers, outermost first.
    pub packet: Vec<Layer>,
}

/// Step kinds, after `ofproto/trace` (bridges) and the Linux stack (guests).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// A frame enters a bridge port (with the VLAN it is in).
    Ingress,
    /// The bridge learned (VLAN, source MAC) → port.
    Learn,
    /// Known destination: one output port.
    Lookup,
    /// Unknown or broadcast destination: all ports of the VLAN.
    Flood,
    /// Frames leave by these ports as they are.
    Output,
    /// Frames leave by these ports with an 802.1Q tag added.
    VlanPush,
    /// Frames leave by these ports with the tag removed.
    VlanPop,
    TunnelEncap,
    TunnelDecap,
    /// OVN's ARP responder: the logical switch answers an ARP request for a
    /// port's address itself, at the sender's own chassis.
    ArpResponder,
    /// A guest received a frame.
    Receive,
    /// ARP request or reply sent.
    Arp,
    /// A neighbour (ARP cache) entry was made.
    Neighbor,
    /// The route that matched.
    Route,
    /// Address translation, before → after.
    Nat,
    /// A router forwards the packet (TTL decremented).
    Forward,
    /// A guest sent a packet.
    Send,
    /// Delivered to a local socket or protocol.
    Deliver,
    Drop,
}

impl Action {
    pub fn as_str(&self) -> &'static str {
        match self {
            Action::Ingress => "ingress",
            Action::Learn => "learn",
            Action::Lookup => "lookup",
            Action::Flood => "flood",
            Action::Output => "output",
            Action::VlanPush => "vlan-push",
            Action::VlanPop => "vlan-pop",
            Action::TunnelEncap => "tunnel-encap",
            Action::TunnelDecap => "tunnel-decap",
            Action::ArpResponder => "arp-responder",
            Action::Receive => "receive",
            Action::Arp => "arp",
            Action::Neighbor => "neighbor",
            Action::Route => "route",
            Action::Nat => "nat",
            Action::Forward => "forward",
            Action::Send => "send",
            Action::Deliver => "deliver",
            Action::Drop => "drop",
        }
    }
}

/// One protocol header.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "layer", rename_all = "kebab-case")]
pub enum Layer {
    Ethernet {
        src: Mac,
        dst: Mac,
        ethertype: u16,
    },
    #[serde(rename = "802.1q")]
    Dot1q {
        vid: u16,
        ethertype: u16,
    },
    Arp {
        op: ArpOp,
        sender_mac: Mac,
        sender_ip: Ipv4Addr,
        target_mac: Mac,
        target_ip: Ipv4Addr,
    },
    Ipv4 {
        src: Ipv4Addr,
        dst: Ipv4Addr,
        ttl: u8,
        protocol: u8,
        total_length: u16,
    },
    Gre {
        /// 0x6558: transparent Ethernet bridging.
        protocol: u16,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key: Option<u32>,
    },
    Udp {
        src_port: u16,
        dst_port: u16,
        length: u16,
    },
    Vxlan {
        vni: u32,
    },
    /// OVN's encapsulation (UDP 6081): `vni` is the logical switch's tunnel
    /// key; the 8-byte OVN option (ingress and egress port keys) that
    /// follows the header is counted in lengths but not shown.
    Geneve {
        vni: u32,
    },
    Icmp {
        #[serde(rename = "type")]
        kind: IcmpKind,
        code: u8,
        id: u16,
        seq: u16,
    },
    Tcp {
        src_port: u16,
        dst_port: u16,
        flags: TcpFlags,
    },
    Dhcp {
        message: DhcpMessage,
        xid: u32,
        chaddr: Mac,
        yiaddr: Ipv4Addr,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        server_id: Option<Ipv4Addr>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        requested_ip: Option<Ipv4Addr>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        subnet_mask: Option<Ipv4Addr>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        router: Option<Ipv4Addr>,
    },
    /// Only in captured packets: the simulator's guests have IPv6 off.
    Ipv6 {
        src: Ipv6Addr,
        dst: Ipv6Addr,
        next_header: u8,
        hop_limit: u8,
    },
    /// Only in captured packets: what the decoder does not read, or the
    /// header it could not read (`what` says which and why).
    Unknown {
        what: String,
        length: usize,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ArpOp {
    Request,
    Reply,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum IcmpKind {
    EchoRequest,
    EchoReply,
    /// Destination unreachable, code 3: port unreachable.
    PortUnreachable,
    /// Type 11 (only in captured packets).
    TimeExceeded,
    /// Any other type (only in captured packets); the layer's `code` says the rest.
    Other(u8),
}

impl IcmpKind {
    /// ICMP type and code on the wire.
    pub fn type_code(&self) -> (u8, u8) {
        match self {
            IcmpKind::EchoRequest => (8, 0),
            IcmpKind::EchoReply => (0, 0),
            IcmpKind::PortUnreachable => (3, 3),
            IcmpKind::TimeExceeded => (11, 0),
            IcmpKind::Other(t) => (*t, 0),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum TcpFlags {
    Syn,
    SynAck,
    RstAck,
    // The rest only in captured packets: the simulator's probes end at the answer to a SYN.
    Ack,
    PshAck,
    FinAck,
    Rst,
    /// Any other combination: the flags byte (FIN 0x01 ... CWR 0x80).
    Other(u8),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum DhcpMessage {
    Discover,
    Offer,
    Request,
    Ack,
    // The rest only in captured packets.
    Decline,
    Nak,
    Release,
    Inform,
}

impl fmt::Display for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TcpFlags::Syn => "SYN",
            TcpFlags::SynAck => "SYN-ACK",
            TcpFlags::RstAck => "RST-ACK",
            TcpFlags::Ack => "ACK",
            TcpFlags::PshAck => "PSH-ACK",
            TcpFlags::FinAck => "FIN-ACK",
            TcpFlags::Rst => "RST",
            TcpFlags::Other(b) => return write!(f, "flags {b:#04x}"),
        })
    }
}

impl fmt::Display for DhcpMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DhcpMessage::Discover => "DISCOVER",
            DhcpMessage::Offer => "OFFER",
            DhcpMessage::Request => "REQUEST",
            DhcpMessage::Ack => "ACK",
            DhcpMessage::Decline => "DECLINE",
            DhcpMessage::Nak => "NAK",
            DhcpMessage::Release => "RELEASE",
            DhcpMessage::Inform => "INFORM",
        })
    }
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Layer::Ethernet { src, dst, .. } => write!(f, "eth {src} > {dst}"),
            Layer::Dot1q { vid, .. } => write!(f, "802.1q vlan {vid}"),
            Layer::Arp {
                op: ArpOp::Request,
                sender_ip,
                target_ip,
                ..
            } => {
                write!(f, "arp who-has {target_ip} tell {sender_ip}")
            }
            Layer::Arp {
                op: ArpOp::Reply,
                sender_ip,
                sender_mac,
                ..
            } => {
                write!(f, "arp {sender_ip} is-at {sender_mac}")
            }
            Layer::Ipv4 {
                src,
                dst,
                ttl,
                total_length,
                ..
            } => {
                write!(f, "ipv4 {src} > {dst} ttl {ttl} len {total_length}")
            }
            Layer::Gre { key: Some(k), .. } => write!(f, "gre key {k}"),
            Layer::Gre { key: None, .. } => write!(f, "gre"),
            Layer::Udp {
                src_port, dst_port, ..
            } => write!(f, "udp {src_port} > {dst_port}"),
            Layer::Vxlan { vni } => write!(f, "vxlan vni {vni}"),
            Layer::Geneve { vni } => write!(f, "geneve vni {vni}"),
            Layer::Icmp {
                kind,
                code,
                id,
                seq,
            } => match kind {
                IcmpKind::EchoRequest => write!(f, "icmp echo request id {id} seq {seq}"),
                IcmpKind::EchoReply => write!(f, "icmp echo reply id {id} seq {seq}"),
                IcmpKind::PortUnreachable => write!(f, "icmp port unreachable"),
                IcmpKind::TimeExceeded => write!(f, "icmp time exceeded"),
                IcmpKind::Other(t) => write!(f, "icmp type {t} code {code}"),
            },
            Layer::Tcp {
                src_port,
                dst_port,
                flags,
            } => write!(f, "tcp {src_port} > {dst_port} {flags}"),
            Layer::Dhcp {
                message, yiaddr, ..
            } => {
                if yiaddr.is_unspecified() {
                    write!(f, "dhcp {message}")
                } else {
                    write!(f, "dhcp {message} yiaddr {yiaddr}")
                }
            }
            Layer::Ipv6 {
                src,
                dst,
                hop_limit,
                ..
            } => write!(f, "ipv6 {src} > {dst} hlim {hop_limit}"),
            Layer::Unknown { what, length } => write!(f, "{what} ({length} bytes)"),
        }
    }
}

/// Headers on one line, outermost first, ` | ` between layers.
pub struct Headers<'a>(pub &'a [Layer]);

impl fmt::Display for Headers<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, l) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" | ")?;
            }
            write!(f, "{l}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Trace {
    /// The ofproto/trace-like text: the probe, numbered hops with their steps
    /// and the packet under each step, then the final disposition.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = &self.probe;
        write!(f, "Probe: {} from {} to {}", p.proto, p.from, p.to)?;
        if let Some(s) = p.size {
            write!(f, ", {s} bytes")?;
        }
        writeln!(f)?;
        for (n, hop) in self.hops.iter().enumerate() {
            writeln!(f)?;
            writeln!(f, "{:>2}. {} ({})", n + 1, hop.node, hop.kind.as_str())?;
            for s in &hop.steps {
                writeln!(f, "    {:<12} {}", s.action.as_str(), s.detail)?;
                if !s.packet.is_empty() {
                    writeln!(f, "    {:<12}   {}", "", Headers(&s.packet))?;
                }
            }
        }
        writeln!(f)?;
        match &self.disposition {
            Disposition::Delivered { detail } => writeln!(f, "Final: delivered: {detail}"),
            Disposition::Dropped {
                reason,
                node,
                detail,
            } => {
                writeln!(f, "Final: dropped ({reason}) at {node}: {detail}")
            }
        }
    }
}
