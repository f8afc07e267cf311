//! The guests' Linux IPv4 stacks: receive, ARP, routing, forwarding, and the
//! protocols a probe meets (ICMP echo, TCP handshake, UDP, DHCP).
//!
//! Linux defaults that shape the outcome: the weak host model (a packet or
//! ARP request for any local address is accepted on any interface);
//! `arp_ignore=0`; no reverse-path filter; answering an ARP request creates a
//! neighbour entry for the requester; a route's source address is its
//! interface's address; the ARP target is the next hop (gateway/`via`, or the
//! destination when on-link); a guest without VLAN devices drops tagged frames;
//! only routers forward, decrementing the TTL.

use std::net::Ipv4Addr;

use super::net::{StackId, StackKind};
use super::packet::{
    Arp, Dhcp, Frame, Icmp, Ipv4, Payload, Tcp, Udp, DEFAULT_TTL, DHCP_CLIENT_PORT,
    DHCP_SERVER_PORT, IP_HEADER, L4, PROTO_TCP, PROTO_UDP, UDP_HEADER,
};
use super::{step, step_plain, DhcpClient, Event, Pending, Proto, Sim, ECHO_ID, PROBE_PORT};
use crate::topology::Mac;
use crate::trace::{Action, ArpOp, DhcpMessage, DropReason, IcmpKind, Step, TcpFlags};

/// Length of a TCP segment without data (SYN with the usual options).
const TCP_SYN_LEN: u16 = 60;
const TCP_RST_LEN: u16 = 40;
/// A BOOTP message with a few options, as udhcpc/dnsmasq send.
const DHCP_LEN: u16 = 328;
/// Linux quotes at most this much of the offending packet in an ICMP error.
const ICMP_ERROR_MAX: u16 = 576;
const DHCP_XID: u32 = 0x6e6c_0001;
/// OVN's routers answer ping with TTL 255 (`ip.ttl = 255` in lr_in_ip_input).
pub const OVN_ECHO_REPLY_TTL: u8 = 255;

impl Sim<'_, '_> {
    /// The probe's first packet (source address left for routing to pick).
    pub(super) fn probe_packet(&self) -> Ipv4 {
        let (len, l4) = match self.probe.proto {
            Proto::Tcp(port) => (
                TCP_SYN_LEN,
                L4::Tcp(Tcp {
                    sport: PROBE_PORT,
                    dport: port,
                    flags: TcpFlags::Syn,
                }),
            ),
            Proto::Udp(port) => (
                self.probe.packet_size().unwrap_or(IP_HEADER + UDP_HEADER),
                L4::Udp(Udp {
                    sport: PROBE_PORT,
                    dport: port,
                    dhcp: None,
                }),
            ),
            _ => (
                self.probe.packet_size().unwrap_or(super::DEFAULT_ICMP_SIZE),
                L4::Icmp(Icmp {
                    kind: IcmpKind::EchoRequest,
                    id: ECHO_ID,
                    seq: 1,
                    about: None,
                }),
            ),
        };
        Ipv4 {
            src: Ipv4Addr::UNSPECIFIED,
            dst: self.probe.to,
            ttl: self.probe.ttl.unwrap_or(DEFAULT_TTL),
            len,
            l4,
        }
    }

    fn label(&self, s: StackId) -> String {
        self.net.stacks[s].label.clone()
    }

    pub(super) fn emit(&mut self, s: StackId, iface: usize, frame: Frame) {
        let ifc = &self.net.stacks[s].ifaces[iface];
        self.queue.push_back(Event::Switch {
            sw: ifc.sw,
            port: ifc.port,
            frame,
            encap: None,
        });
    }

    pub(super) fn stack_rx(&mut self, s: StackId, i: usize, frame: Frame) {
        let net = self.net;
        let ifc = &net.stacks[s].ifaces[i];
        if let Some(v) = frame.vlan {
            let detail = format!(
                "frame tagged VLAN {v} on {}: a guest has no VLAN interface, so it is dropped",
                ifc.name
            );
            // It matters only when the frame was meant for this guest; a flood's
            // stray copies are shown but decide nothing (ARP failures explain themselves).
            if frame.dst == ifc.mac && matches!(frame.payload, Payload::Ip(_)) {
                self.lose(
                    DropReason::TaggedFrameAtGuest,
                    self.label(s),
                    detail.clone(),
                );
            }
            self.record(s, vec![step(Action::Drop, detail, &frame)]);
            return;
        }
        // Frames for other hosts (a flood's copies) are discarded silently, as by the NIC.
        if frame.dst != ifc.mac && frame.dst != Mac::BROADCAST {
            return;
        }
        match frame.payload {
            Payload::Arp(a) => self.arp_rx(s, i, &frame, a),
            Payload::Ip(p) => self.ip_rx(s, i, &frame, p),
        }
    }

    fn arp_rx(&mut self, s: StackId, i: usize, frame: &Frame, a: Arp) {
        let net = self.net;
        let ifc = &net.stacks[s].ifaces[i];
        match a.op {
            ArpOp::Request => {
                if !net.is_local(s, a.tpa) {
                    // Not for us: Linux only refreshes an entry it already has.
                    if let Some(e) = self.neigh[s].iter_mut().find(|e| e.0 == i && e.1 == a.spa) {
                        e.2 = a.sha;
                    }
                    return;
                }
                let mut steps = vec![step(
                    Action::Receive,
                    format!("ARP request for {} on {}", a.tpa, ifc.name),
                    frame,
                )];
                self.learn_neighbor(s, i, a.spa, a.sha, &mut steps, frame);
                let reply = Frame {
                    src: ifc.mac,
                    dst: a.sha,
                    vlan: None,
                    payload: Payload::Arp(Arp {
                        op: ArpOp::Reply,
                        sha: ifc.mac,
                        spa: a.tpa,
                        tha: a.sha,
                        tpa: a.spa,
                    }),
                };
                steps.push(step(
                    Action::Arp,
                    format!("reply {} is-at {} from {}", a.tpa, ifc.mac, ifc.name),
                    &reply,
                ));
                self.emit(s, i, reply);
                self.record(s, steps);
            }
            ArpOp::Reply => {
                let mut steps = vec![step(
                    Action::Receive,
                    format!("ARP reply {} is-at {} on {}", a.spa, a.sha, ifc.name),
                    frame,
                )];
                self.learn_neighbor(s, i, a.spa, a.sha, &mut steps, frame);
                if s == self.src
                    && self.probe.proto == Proto::Arp
                    && a.spa == self.probe.to
                    && self.success.is_none()
                {
                    self.success = Some(format!("ARP reply: {} is-at {}", a.spa, a.sha));
                    steps.push(step(Action::Deliver, "ARP reply received".into(), frame));
                }
                // Send what was waiting for this neighbour, in order.
                let mut waiting = Vec::new();
                self.pending.retain(|p| {
                    let hit = p.stack == s && p.iface == i && p.next_hop == a.spa;
                    if hit {
                        waiting.push(p.packet);
                    }
                    !hit
                });
                for pkt in waiting.into_iter().flatten() {
                    let out = Frame {
                        src: ifc.mac,
                        dst: a.sha,
                        vlan: None,
                        payload: Payload::Ip(pkt),
                    };
                    steps.push(step(
                        Action::Send,
                        format!("queued packet to {} via {}", pkt.dst, ifc.name),
                        &out,
                    ));
                    self.emit(s, i, out);
                }
                self.record(s, steps);
            }
        }
    }

    fn learn_neighbor(
        &mut self,
        s: StackId,
        i: usize,
        ip: Ipv4Addr,
        mac: Mac,
        steps: &mut Vec<Step>,
        frame: &Frame,
    ) {
        if ip.is_unspecified() {
            return;
        }
        let name = &self.net.stacks[s].ifaces[i].name;
        match self.neigh[s].iter_mut().find(|e| e.0 == i && e.1 == ip) {
            Some(e) => e.2 = mac,
            None => {
                self.neigh[s].push((i, ip, mac));
                steps.push(step(
                    Action::Neighbor,
                    format!("{ip} lladdr {mac} dev {name}"),
                    frame,
                ));
            }
        }
    }

    fn ip_rx(&mut self, s: StackId, i: usize, frame: &Frame, mut pkt: Ipv4) {
        let net = self.net;
        let st = &net.stacks[s];
        let ifc = &st.ifaces[i];
        let on = if self.logical_router(s) {
            format!("on {} (logical router port)", ifc.name)
        } else {
            format!("on {}", ifc.name)
        };
        let mut steps = vec![step(Action::Receive, on, frame)];

        if let (
            Some(_),
            L4::Udp(Udp {
                dport: DHCP_CLIENT_PORT,
                dhcp: Some(d),
                ..
            }),
        ) = (&self.dhcp, pkt.l4)
        {
            if d.chaddr == ifc.mac && s == self.src {
                self.dhcp_client_rx(s, i, d, frame, steps);
                return;
            }
        }
        if pkt.dst == Ipv4Addr::BROADCAST {
            if let (
                StackKind::Dhcp { .. },
                L4::Udp(Udp {
                    dport: DHCP_SERVER_PORT,
                    dhcp: Some(d),
                    ..
                }),
            ) = (&st.kind, pkt.l4)
            {
                self.dhcp_server_rx(s, i, d, steps);
            }
            // Other broadcasts (a DISCOVER at a vm) find no socket and are dropped quietly.
            return;
        }
        let ct = self.prerouting(s, i, &mut pkt, &mut steps);
        if net.is_local(s, pkt.dst) {
            self.local_in(s, pkt, &mut steps);
            self.record(s, steps);
            return;
        }
        if !st.forwarding {
            let detail = format!(
                "{} is not an address of {} and it does not forward (ip_forward=0)",
                pkt.dst, st.label
            );
            steps.push(step(Action::Drop, detail.clone(), frame));
            self.lose(DropReason::NotForwarding, st.label.clone(), detail);
            self.record(s, steps);
            return;
        }
        if pkt.ttl <= 1 {
            let detail = format!("TTL {} expires here", pkt.ttl);
            steps.push(step(Action::Drop, detail.clone(), frame));
            self.lose(DropReason::TtlExceeded, st.label.clone(), detail);
            self.record(s, steps);
            return;
        }
        pkt.ttl -= 1;
        let detail = if self.logical_router(s) {
            format!("logical router {}, TTL {}", st.label, pkt.ttl)
        } else {
            format!("ip_forward, TTL {}", pkt.ttl)
        };
        steps.push(Step {
            action: Action::Forward,
            detail,
            packet: ip_layers(&pkt),
        });
        self.ip_out(s, pkt, Some(i), ct, &mut steps);
        self.record(s, steps);
    }

    /// Route and send a packet: locally made (`in_iface` None; conntrack is
    /// looked up here, once the source is known) or forwarded (with the
    /// connection PREROUTING found).
    pub(super) fn ip_out(
        &mut self,
        s: StackId,
        mut pkt: Ipv4,
        in_iface: Option<usize>,
        ct: Option<super::nat::Ct>,
        steps: &mut Vec<Step>,
    ) {
        let net = self.net;
        let st = &net.stacks[s];
        if in_iface.is_none() && net.is_local(s, pkt.dst) {
            // To one of its own addresses: Linux delivers it over loopback.
            if pkt.src.is_unspecified() {
                pkt.src = pkt.dst;
            }
            steps.push(Step {
                action: Action::Route,
                detail: format!("local {} dev lo", pkt.dst),
                packet: ip_layers(&pkt),
            });
            self.local_in(s, pkt, steps);
            return;
        }
        let Some(route) = net.route(s, pkt.dst) else {
            let detail = net.no_route(s, pkt.dst);
            steps.push(Step {
                action: Action::Drop,
                detail: detail.clone(),
                packet: ip_layers(&pkt),
            });
            self.lose(DropReason::NoRoute, st.label.clone(), detail);
            return;
        };
        if pkt.src.is_unspecified() {
            match net.source_for(s, route.iface) {
                Some(a) => pkt.src = a,
                None => {
                    let detail = format!("{} has no address to send from", st.label);
                    steps.push(step_plain(Action::Drop, detail.clone()));
                    self.lose(DropReason::NoAddress, st.label.clone(), detail);
                    return;
                }
            }
        }
        steps.push(Step {
            action: Action::Route,
            detail: route.describe(&st.ifaces),
            packet: ip_layers(&pkt),
        });
        let ct = if in_iface.is_none() {
            self.output_conntrack(s, &pkt)
        } else {
            ct
        };
        self.postrouting(s, route.iface, &mut pkt, ct, steps);
        let next_hop = route.via.unwrap_or(pkt.dst);
        self.send_to_neighbor(s, route.iface, next_hop, pkt, steps);
    }

    fn send_to_neighbor(
        &mut self,
        s: StackId,
        i: usize,
        next_hop: Ipv4Addr,
        pkt: Ipv4,
        steps: &mut Vec<Step>,
    ) {
        let ifc = &self.net.stacks[s].ifaces[i];
        let known = self.neigh[s]
            .iter()
            .find(|e| e.0 == i && e.1 == next_hop)
            .map(|e| e.2)
            .or_else(|| self.static_binding(s, i, next_hop, steps));
        if let Some(mac) = known {
            let out = Frame {
                src: ifc.mac,
                dst: mac,
                vlan: None,
                payload: Payload::Ip(pkt),
            };
            steps.push(step(
                Action::Send,
                format!("to {next_hop} ({mac}) via {}", ifc.name),
                &out,
            ));
            self.emit(s, i, out);
            return;
        }
        let asked = self
            .pending
            .iter()
            .any(|p| p.stack == s && p.iface == i && p.next_hop == next_hop);
        self.pending.push(Pending {
            stack: s,
            iface: i,
            next_hop,
            packet: Some(pkt),
        });
        if !asked {
            // arp_announce=0: the packet's source if it is local, else the interface's address.
            let spa = if self.net.is_local(s, pkt.src) {
                pkt.src
            } else {
                self.net.source_for(s, i).unwrap_or(pkt.src)
            };
            self.arp_request(s, i, spa, next_hop, steps);
        }
    }

    fn arp_request(
        &mut self,
        s: StackId,
        i: usize,
        spa: Ipv4Addr,
        target: Ipv4Addr,
        steps: &mut Vec<Step>,
    ) {
        let ifc = &self.net.stacks[s].ifaces[i];
        let req = Frame {
            src: ifc.mac,
            dst: Mac::BROADCAST,
            vlan: None,
            payload: Payload::Arp(Arp {
                op: ArpOp::Request,
                sha: ifc.mac,
                spa,
                tha: Mac([0; 6]),
                tpa: target,
            }),
        };
        steps.push(step(
            Action::Arp,
            format!("who-has {target} tell {spa} on {}", ifc.name),
            &req,
        ));
        self.emit(s, i, req);
    }

    /// `arping`: an ARP request for the destination itself on the interface
    /// routing would use.
    pub(super) fn send_arp_probe(&mut self) {
        let s = self.src;
        let net = self.net;
        let mut steps = Vec::new();
        match net.route(s, self.probe.to) {
            None => {
                let detail = net.no_route(s, self.probe.to);
                steps.push(step_plain(Action::Drop, detail.clone()));
                self.lose(DropReason::NoRoute, self.label(s), detail);
            }
            Some(r) => {
                let spa = net.source_for(s, r.iface).unwrap_or(Ipv4Addr::UNSPECIFIED);
                self.pending.push(Pending {
                    stack: s,
                    iface: r.iface,
                    next_hop: self.probe.to,
                    packet: None,
                });
                self.arp_request(s, r.iface, spa, self.probe.to, &mut steps);
            }
        }
        self.record(s, steps);
    }

    /// Neighbours that never answered: drop what waited for them.
    pub(super) fn fail_pending(&mut self) {
        let pending = std::mem::take(&mut self.pending);
        let mut reported: Vec<(StackId, usize, Ipv4Addr)> = Vec::new();
        for p in pending {
            let key = (p.stack, p.iface, p.next_hop);
            if reported.contains(&key) {
                continue;
            }
            reported.push(key);
            let (reason, detail) = self
                .net
                .arp_failure(self.net.domain(p.stack, p.iface), p.next_hop);
            let packet = p.packet.map(|x| ip_layers(&x)).unwrap_or_default();
            self.record(
                p.stack,
                vec![Step {
                    action: Action::Drop,
                    detail: detail.clone(),
                    packet,
                }],
            );
            self.lose(reason, self.label(p.stack), detail);
        }
    }

    /// A packet for one of this guest's addresses.
    fn local_in(&mut self, s: StackId, pkt: Ipv4, steps: &mut Vec<Step>) {
        if self.logical_router(s) && !matches!(pkt.l4, L4::Icmp(_)) {
            // OVN's router answers ping on its addresses and drops the rest
            // (lr_in_ip_input): no RST, no port unreachable.
            let detail = format!(
                "logical router {} drops {} for its own address {}: it answers only ping there",
                self.label(s),
                if pkt.l4.proto() == PROTO_TCP {
                    "tcp"
                } else {
                    "udp"
                },
                pkt.dst
            );
            steps.push(Step {
                action: Action::Drop,
                detail: detail.clone(),
                packet: ip_layers(&pkt),
            });
            self.lose(DropReason::NoReply, self.label(s), detail);
            return;
        }
        match pkt.l4 {
            L4::Icmp(icmp) => self.local_icmp(s, pkt, icmp, steps),
            L4::Tcp(t) => self.local_tcp(s, pkt, t, steps),
            L4::Udp(u) => self.local_udp(s, pkt, u, steps),
        }
    }

    /// An ICMP message for this guest: an echo request is answered; a reply
    /// or port unreachable ends the probe when this guest sent it.
    fn local_icmp(&mut self, s: StackId, pkt: Ipv4, icmp: Icmp, steps: &mut Vec<Step>) {
        let is_src = s == self.src;
        match icmp.kind {
            IcmpKind::EchoRequest => {
                self.arrived = true;
                steps.push(Step {
                    action: Action::Deliver,
                    detail: format!("echo request for {}", pkt.dst),
                    packet: ip_layers(&pkt),
                });
                let mut reply = reply_to(
                    &pkt,
                    L4::Icmp(Icmp {
                        kind: IcmpKind::EchoReply,
                        ..icmp
                    }),
                    pkt.len,
                );
                if self.logical_router(s) {
                    reply.ttl = OVN_ECHO_REPLY_TTL;
                }
                self.ip_out(s, reply, None, None, steps);
            }
            IcmpKind::EchoReply if is_src && self.probe.proto == Proto::Icmp => {
                steps.push(Step {
                    action: Action::Deliver,
                    detail: format!("echo reply from {}", pkt.src),
                    packet: ip_layers(&pkt),
                });
                self.success
                    .get_or_insert_with(|| format!("echo reply received from {}", pkt.src));
            }
            IcmpKind::PortUnreachable if is_src => {
                steps.push(Step {
                    action: Action::Deliver,
                    detail: format!("port unreachable from {}", pkt.src),
                    packet: ip_layers(&pkt),
                });
                let detail = format!(
                    "{} answered ICMP port unreachable: nothing listens there",
                    pkt.src
                );
                self.closed.get_or_insert((self.label(s), detail));
            }
            _ => steps.push(Step {
                action: Action::Drop,
                detail: "no socket wants it".into(),
                packet: ip_layers(&pkt),
            }),
        }
    }

    /// A TCP segment for this guest: a SYN is answered by SYN-ACK or RST;
    /// either answer ends the probe when this guest sent the SYN.
    fn local_tcp(&mut self, s: StackId, pkt: Ipv4, t: Tcp, steps: &mut Vec<Step>) {
        let net = self.net;
        let is_src = s == self.src;
        match t.flags {
            TcpFlags::Syn => {
                self.arrived = true;
                let listening = listens(&net.stacks[s].kind, PROTO_TCP, t.dport);
                let (flags, len, what) = if listening {
                    (
                        TcpFlags::SynAck,
                        TCP_SYN_LEN,
                        format!("listener on tcp port {}: SYN-ACK", t.dport),
                    )
                } else {
                    (
                        TcpFlags::RstAck,
                        TCP_RST_LEN,
                        format!("nothing listens on tcp port {}: RST", t.dport),
                    )
                };
                steps.push(Step {
                    action: Action::Deliver,
                    detail: what,
                    packet: ip_layers(&pkt),
                });
                let reply = reply_to(
                    &pkt,
                    L4::Tcp(Tcp {
                        sport: t.dport,
                        dport: t.sport,
                        flags,
                    }),
                    len,
                );
                self.ip_out(s, reply, None, None, steps);
            }
            TcpFlags::SynAck if is_src => {
                steps.push(Step {
                    action: Action::Deliver,
                    detail: "SYN-ACK: connection established".into(),
                    packet: ip_layers(&pkt),
                });
                self.success.get_or_insert_with(|| {
                    format!("SYN-ACK received from {}:{}", pkt.src, t.sport)
                });
            }
            TcpFlags::RstAck if is_src => {
                steps.push(Step {
                    action: Action::Deliver,
                    detail: "RST: connection refused".into(),
                    packet: ip_layers(&pkt),
                });
                let detail = format!(
                    "{}:{} answered RST: nothing listens there",
                    pkt.src, t.sport
                );
                self.closed.get_or_insert((self.label(s), detail));
            }
            _ => steps.push(Step {
                action: Action::Drop,
                detail: "no connection wants it".into(),
                packet: ip_layers(&pkt),
            }),
        }
    }

    /// A UDP datagram for this guest: delivered to a listener, or answered
    /// with ICMP port unreachable.
    fn local_udp(&mut self, s: StackId, pkt: Ipv4, u: Udp, steps: &mut Vec<Step>) {
        let net = self.net;
        if listens(&net.stacks[s].kind, PROTO_UDP, u.dport) {
            self.arrived = true;
            steps.push(Step {
                action: Action::Deliver,
                detail: format!("listener on udp port {}", u.dport),
                packet: ip_layers(&pkt),
            });
            self.success.get_or_insert_with(|| {
                format!(
                    "datagram received by {} on udp port {}",
                    net.stacks[s].label, u.dport
                )
            });
        } else {
            self.arrived = true;
            steps.push(Step {
                action: Action::Deliver,
                detail: format!(
                    "nothing listens on udp port {}: ICMP port unreachable",
                    u.dport
                ),
                packet: ip_layers(&pkt),
            });
            let about = Icmp {
                kind: IcmpKind::PortUnreachable,
                id: 0,
                seq: 0,
                about: Some(pkt.flow()),
            };
            let len = (IP_HEADER + 8 + pkt.len).min(ICMP_ERROR_MAX);
            let reply = reply_to(&pkt, L4::Icmp(about), len);
            self.ip_out(s, reply, None, None, steps);
        }
    }

    // DHCP ---------------------------------------------------------------

    /// DISCOVER, wait for offers, REQUEST the chosen one, wait for the ACK.
    pub(super) fn run_dhcp(&mut self) {
        let s = self.src;
        let net = self.net;
        let Some(iface) = net.stacks[s].ifaces.iter().position(|i| i.dhcp) else {
            let detail = format!("{} has no `ip: dhcp` interface", self.label(s));
            self.lose(DropReason::NoAddress, self.label(s), detail);
            return;
        };
        self.dhcp = Some(DhcpClient {
            iface,
            xid: DHCP_XID,
            offers: Vec::new(),
        });
        let discover = self.dhcp_client_msg(s, iface, DhcpMessage::Discover, None, None);
        let mut steps = vec![step(
            Action::Send,
            format!("DHCPDISCOVER on {}", net.stacks[s].ifaces[iface].name),
            &discover,
        )];
        self.emit(s, iface, discover);
        self.record(s, steps.split_off(0));
        self.run();
        let offers = self
            .dhcp
            .as_ref()
            .map(|c| c.offers.clone())
            .unwrap_or_default();
        // Several offers: the first server in file order (in reality, the first to arrive).
        let Some((server, offer)) = offers.into_iter().min_by_key(|(srv, _)| *srv) else {
            if self.loss.is_none() {
                let ifc = &net.stacks[s].ifaces[iface];
                let detail = format!(
                    "no DHCP server answered the DISCOVER on {} ({} of its segment): no lease, no address",
                    ifc.name,
                    super::net::vlan_name(ifc.vlan)
                );
                self.record(s, vec![step_plain(Action::Drop, detail.clone())]);
                self.lose(DropReason::NoAddress, self.label(s), detail);
            }
            return;
        };
        let request = self.dhcp_client_msg(
            s,
            iface,
            DhcpMessage::Request,
            offer.server_id,
            Some(offer.yiaddr),
        );
        let detail = format!(
            "DHCPREQUEST {} from {}",
            offer.yiaddr, net.stacks[server].label
        );
        self.record(s, vec![step(Action::Send, detail, &request)]);
        self.emit(s, iface, request);
        self.run();
    }

    fn dhcp_client_msg(
        &self,
        s: StackId,
        i: usize,
        message: DhcpMessage,
        server: Option<Ipv4Addr>,
        requested: Option<Ipv4Addr>,
    ) -> Frame {
        let ifc = &self.net.stacks[s].ifaces[i];
        let dhcp = Dhcp {
            message,
            xid: DHCP_XID,
            chaddr: ifc.mac,
            yiaddr: Ipv4Addr::UNSPECIFIED,
            server_id: server,
            requested,
            prefix: None,
            router: None,
        };
        Frame {
            src: ifc.mac,
            dst: Mac::BROADCAST,
            vlan: None,
            payload: Payload::Ip(Ipv4 {
                src: Ipv4Addr::UNSPECIFIED,
                dst: Ipv4Addr::BROADCAST,
                ttl: DEFAULT_TTL,
                len: DHCP_LEN,
                l4: L4::Udp(Udp {
                    sport: DHCP_CLIENT_PORT,
                    dport: DHCP_SERVER_PORT,
                    dhcp: Some(dhcp),
                }),
            }),
        }
    }

    fn dhcp_server_rx(&mut self, s: StackId, i: usize, d: Dhcp, mut steps: Vec<Step>) {
        let net = self.net;
        let st = &net.stacks[s];
        let ifc = &st.ifaces[i];
        let (StackKind::Dhcp { gateway, .. }, Some(own)) = (&st.kind, ifc.addr) else {
            return;
        };
        let client = net.stacks.iter().enumerate().find_map(|(c, cs)| {
            cs.ifaces
                .iter()
                .position(|x| x.mac == d.chaddr)
                .map(|x| (c, x))
        });
        let (message, yiaddr) = match d.message {
            DhcpMessage::Discover => {
                // The address this client holds from this server, else the next free one.
                let held = client.and_then(|(c, x)| {
                    net.leases
                        .iter()
                        .find(|l| l.client == c && l.iface == x && l.server == s)
                });
                match held.map(|l| l.addr.addr()).or(net.next_free[s]) {
                    Some(a) => (DhcpMessage::Offer, a),
                    None => {
                        steps.push(step_plain(
                            Action::Drop,
                            "DHCPDISCOVER: no address left in the range".into(),
                        ));
                        self.record(s, steps);
                        return;
                    }
                }
            }
            DhcpMessage::Request if d.server_id == Some(own.addr()) => match d.requested {
                Some(a) => (DhcpMessage::Ack, a),
                None => return,
            },
            // A REQUEST for another server, or a server's own message: not ours.
            _ => return,
        };
        let reply = Dhcp {
            message,
            xid: d.xid,
            chaddr: d.chaddr,
            yiaddr,
            server_id: Some(own.addr()),
            requested: None,
            prefix: Some(own.prefix_len()),
            router: *gateway,
        };
        // dnsmasq answers a client without an address by unicast to its MAC and offered address.
        let frame = Frame {
            src: ifc.mac,
            dst: d.chaddr,
            vlan: None,
            payload: Payload::Ip(Ipv4 {
                src: own.addr(),
                dst: yiaddr,
                ttl: DEFAULT_TTL,
                len: DHCP_LEN,
                l4: L4::Udp(Udp {
                    sport: DHCP_SERVER_PORT,
                    dport: DHCP_CLIENT_PORT,
                    dhcp: Some(reply),
                }),
            }),
        };
        let word = if message == DhcpMessage::Offer {
            "DHCPOFFER"
        } else {
            "DHCPACK"
        };
        steps.push(step(
            Action::Send,
            format!("{word} {yiaddr} to {}", d.chaddr),
            &frame,
        ));
        self.emit(s, i, frame);
        self.record(s, steps);
    }

    fn dhcp_client_rx(
        &mut self,
        s: StackId,
        i: usize,
        d: Dhcp,
        frame: &Frame,
        mut steps: Vec<Step>,
    ) {
        let Some(server) = d.server_id.and_then(|a| self.net.owner(a)) else {
            return;
        };
        let client = self
            .dhcp
            .as_mut()
            .filter(|c| c.iface == i && c.xid == d.xid);
        let Some(client) = client else { return };
        match d.message {
            DhcpMessage::Offer => {
                client.offers.push((server, d));
                steps.push(step(
                    Action::Deliver,
                    format!(
                        "DHCPOFFER {} from {}",
                        d.yiaddr, self.net.stacks[server].label
                    ),
                    frame,
                ));
            }
            DhcpMessage::Ack => {
                let router = d
                    .router
                    .map_or("no router option".to_string(), |r| format!("router {r}"));
                let prefix = d.prefix.unwrap_or(32);
                let detail = format!(
                    "lease {}/{prefix}, {router}, from {}",
                    d.yiaddr, self.net.stacks[server].label
                );
                steps.push(step(Action::Deliver, format!("DHCPACK: {detail}"), frame));
                self.success.get_or_insert(detail);
            }
            _ => return,
        }
        self.record(s, steps);
    }
}

/// Who listens (see the module docs of `sim`).
fn listens(kind: &StackKind, proto: u8, port: u16) -> bool {
    match kind {
        StackKind::Vm => true,
        StackKind::Dhcp { .. } => proto == PROTO_UDP && port == DHCP_SERVER_PORT,
        StackKind::Router(_) | StackKind::Upstream => false,
    }
}

fn ip_layers(p: &Ipv4) -> Vec<crate::trace::Layer> {
    let mut out = Vec::with_capacity(2);
    p.push_layers(&mut out);
    out
}

/// The answer to `pkt`, from its destination back to its source.
fn reply_to(pkt: &Ipv4, l4: L4, len: u16) -> Ipv4 {
    Ipv4 {
        src: pkt.dst,
        dst: pkt.src,
        ttl: DEFAULT_TTL,
        len,
        l4,
    }
}
