//! The OVN engine's meaning (`engine: ovn`), where it differs from plain OVS
//! bridges (docs/topology-format.md, "Under the OVN engine, the simulator").
//!
//! Each (segment, VLAN) is a logical switch, present on every host whose
//! bridge has a port in it. A bridge of the model stands for its host's part
//! of those switches (OVN puts them all in `br-int`), so under OVN a bridge:
//! - knows every port's MAC (the ports' `addresses`) and learns nothing;
//!   a MAC it does not know goes to the ports with `unknown` addresses
//!   (localnet, that is the uplink) and across the tunnels;
//! - answers an ARP request for a port's `"MAC IP"` address, or a router
//!   port's, itself, at the sender's chassis (OVN's ARP responder): the
//!   request is never flooded. Requests from the localnet port, for an
//!   address without a `"MAC IP"` (a DHCP client's lease), or for the
//!   sender's own address are flooded as before;
//! - floods a logical switch only: a port without a tag is in the untagged
//!   switch, so a guest never receives another VLAN's frames;
//! - carries frames between hosts in Geneve, whatever tunnel the design
//!   names: the VNI is the logical switch's tunnel key, the inner frame has
//!   no 802.1Q tag, and the overhead is 58 bytes ([`super::packet::GENEVE_OVERHEAD`]).
//!   The frame follows the design's tunnels; OVN joins every pair of
//!   chassis directly, which changes no outcome on a tree of tunnels.
//!
//! Routers are gateway routers (see `nat` and `stack` for their NAT, ARP
//! and what they answer); external segments stay plain (the physical network).

use std::collections::{HashMap, VecDeque};
use std::net::Ipv4Addr;

use super::net::{Domain, Net, Peer, Port, Stack, StackId, StackKind, SwId, Switch};
use super::packet::{Arp, Encap, EncapKind, Frame, Payload};
use super::switch::port_list;
use super::{step, Sim};
use crate::topology::{Mac, Topology};
use crate::trace::{Action, ArpOp, Step};

/// The logical network the simulator needs: switches' names and keys, and
/// who holds each MAC.
pub struct Ovn {
    switches: HashMap<Domain, LogicalSwitch>,
    /// Every port's MAC (vm and dhcp nics, router ports): (stack, interface).
    macs: HashMap<Mac, (StackId, usize)>,
}

/// A logical switch, as the OVN engine names it.
pub struct LogicalSwitch {
    /// `<topology>.<host>.<bridge>[.v<vlan>]`, after the segment's first bridge in file order.
    pub name: String,
    /// Its tunnel key (the Geneve VNI): its position among the logical
    /// switches, ordered by the segment's first bridge then VLAN, from 1.
    /// `ovn-northd` allocates the real key; only its place in the header is modelled.
    pub key: u32,
}

impl Ovn {
    /// The logical switches of the bridges' segments: one per VLAN in use
    /// and the untagged one of a segment uplinked to an external network
    /// (its localnet port).
    pub(super) fn new(topo: &Topology, switches: &[Switch], stacks: &[Stack]) -> Ovn {
        let nb = topo.bridges.len();
        let mut first: HashMap<usize, usize> = HashMap::new();
        for (b, s) in switches.iter().enumerate().take(nb) {
            first.entry(s.segment).or_insert(b);
        }
        let mut domains: Vec<(usize, u16)> = Vec::new();
        let mut macs = HashMap::new();
        for (s, st) in stacks.iter().enumerate() {
            if st.kind == StackKind::Upstream {
                continue;
            }
            for (i, ifc) in st.ifaces.iter().enumerate() {
                domains.push((first[&switches[ifc.sw].segment], ifc.vlan));
                macs.entry(ifc.mac).or_insert((s, i));
            }
        }
        for (b, br) in topo.bridges.iter().enumerate() {
            if br.uplink.is_some() {
                domains.push((first[&switches[b].segment], 0));
            }
        }
        domains.sort_unstable();
        domains.dedup();
        let switches = domains
            .into_iter()
            .enumerate()
            .map(|(k, (b, vlan))| {
                let br = &topo.bridges[b];
                let mut name = format!("{}.{}.{}", topo.name, topo.hosts[br.host].name, br.name);
                if vlan != 0 {
                    name.push_str(&format!(".v{vlan}"));
                }
                let ls = LogicalSwitch {
                    name,
                    key: k as u32 + 1,
                };
                ((switches[b].segment, vlan), ls)
            })
            .collect();
        Ovn { switches, macs }
    }
}

impl Net<'_> {
    /// The logical switch of a domain, under OVN.
    pub fn logical_switch(&self, d: Domain) -> Option<&LogicalSwitch> {
        self.ovn.as_ref()?.switches.get(&d)
    }

    /// `logical switch NAME`, or the domain in words when it has none.
    fn switch_words(&self, d: Domain) -> String {
        match self.logical_switch(d) {
            Some(ls) => format!("logical switch {}", ls.name),
            None => format!("segment {}, {}", d.0, super::net::vlan_name(d.1)),
        }
    }

    /// The port of domain `d` whose addresses hold `addr` (`"MAC IP"`: a
    /// static address, or a router port's), as OVN's ARP responder knows it.
    pub fn port_address(&self, d: Domain, addr: Ipv4Addr) -> Option<(StackId, usize)> {
        self.ovn.as_ref()?;
        let s = self.owner(addr)?;
        let st = &self.stacks[s];
        if st.kind == StackKind::Upstream {
            return None;
        }
        let i = st.ifaces.iter().enumerate().position(|(i, ifc)| {
            !ifc.dhcp && ifc.addr.is_some_and(|a| a.addr() == addr) && self.domain(s, i) == d
        })?;
        Some((s, i))
    }

    /// The port of domain `d` whose MAC is `mac`.
    fn mac_port(&self, d: Domain, mac: Mac) -> Option<(StackId, usize)> {
        let &(s, i) = self.ovn.as_ref()?.macs.get(&mac)?;
        (self.domain(s, i) == d).then_some((s, i))
    }

    /// The port of switch `from` on the way to switch `to` (tunnels and uplinks).
    fn toward(&self, from: SwId, to: SwId) -> Option<usize> {
        let mut first: HashMap<SwId, Option<usize>> = HashMap::from([(from, None)]);
        let mut queue = VecDeque::from([from]);
        while let Some(s) = queue.pop_front() {
            if s == to {
                return first.get(&s).copied().flatten();
            }
            for (q, p) in self.switches[s].ports.iter().enumerate() {
                let next = match p.peer {
                    Peer::Tunnel { remote, .. } | Peer::Wire { remote } => remote.0,
                    Peer::Stack { .. } => continue,
                };
                if !first.contains_key(&next) {
                    let via = first.get(&s).copied().flatten().unwrap_or(q);
                    first.insert(next, Some(via));
                    queue.push_back(next);
                }
            }
        }
        None
    }

    /// A port's words in a lookup: `vm3 eth0 (port on node2/br-in)`.
    fn port_owner_words(&self, s: StackId, i: usize) -> String {
        let st = &self.stacks[s];
        let ifc = &st.ifaces[i];
        let kind = if matches!(st.kind, StackKind::Router(_)) {
            "router port"
        } else {
            "port"
        };
        format!(
            "{} {} ({kind} on {})",
            st.label, ifc.name, self.switches[ifc.sw].label
        )
    }
}

/// Names the design's tunnel ports as `ovn-controller` names its Geneve
/// ports: one per remote chassis, `ovn-<its name, 6 characters>-<n>`, n
/// counting up from 0 on a host among equal prefixes (in tunnel order here,
/// in the southbound database's there). Tunnels between the same two hosts
/// are the same Geneve port.
pub(super) fn geneve_ports(topo: &Topology, switches: &mut [Switch]) {
    let mut count: HashMap<(usize, String), usize> = HashMap::new();
    let mut named: HashMap<(usize, usize), String> = HashMap::new();
    for t in &topo.tunnels {
        for (end, other) in [(0, 1), (1, 0)] {
            let (b, rb) = (t.ends[end], t.ends[other]);
            let (host, remote) = (topo.bridges[b].host, topo.bridges[rb].host);
            let chassis = format!("{}.{}", topo.name, topo.hosts[remote].name);
            let name = named.entry((host, remote)).or_insert_with(|| {
                let prefix: String = chassis.chars().take(6).collect();
                let n = count.entry((host, prefix.clone())).or_default();
                *n += 1;
                format!("ovn-{prefix}-{:x}", *n - 1)
            });
            if let Some(p) = switches[b]
                .ports
                .iter_mut()
                .find(|p| p.name == t.ports[end])
            {
                p.name = name.clone();
                p.desc = format!("Geneve to {}, chassis {chassis}", topo.hosts[remote].name);
            }
        }
    }
}

/// Is port `p` in the logical switch of `vlan`? Access ports are in their
/// VLAN's, tunnels in all, other untagged ports (guests, the localnet) in
/// the untagged one only.
fn in_switch(p: &Port, vlan: u16) -> bool {
    match (p.tag, p.peer) {
        (Some(t), _) => t == vlan,
        (None, Peer::Tunnel { .. }) => true,
        (None, _) => vlan == 0,
    }
}

impl Sim<'_, '_> {
    /// A frame arriving at port `port` of bridge `sw` under OVN (decapsulated
    /// from Geneve `encap` when it came through a tunnel).
    pub(super) fn logical_switch_rx(
        &mut self,
        sw: SwId,
        port: usize,
        frame: Frame,
        encap: Option<Encap>,
    ) {
        let net = self.net;
        let swt = &net.switches[sw];
        let p = &swt.ports[port];
        let mut steps = Vec::new();
        let vlan = match encap {
            Some(e) => {
                steps.push(self.decap_step(sw, port, &e, &frame));
                match e.kind {
                    EncapKind::Geneve { vlan, .. } => vlan,
                    EncapKind::Design(_) => p.tag.unwrap_or(0),
                }
            }
            None => p.tag.unwrap_or(0),
        };
        let domain = (swt.segment, vlan);
        let detail = format!(
            "in_port {} ({}), {}",
            p.name,
            p.desc,
            net.switch_words(domain)
        );
        steps.push(step(Action::Ingress, detail, &frame));
        if encap.is_none() {
            if let Some(answer) = self.arp_responder(sw, port, domain, &frame) {
                steps.extend(answer);
                self.record_switch(sw, steps);
                return;
            }
        }
        let outs = self.logical_outs(sw, port, domain, &frame, &mut steps);
        if !outs.is_empty() {
            let detail = format!("to {}", port_list(self, sw, &outs));
            steps.push(step(Action::Output, detail, &frame));
        }
        for q in outs {
            match swt.ports[q].peer {
                Peer::Tunnel {
                    local_ip,
                    remote_ip,
                    remote,
                    ..
                } => {
                    let vni = net.logical_switch(domain).map_or(0, |ls| ls.key);
                    let kind = EncapKind::Geneve { vni, vlan };
                    let ends = (local_ip, remote_ip, remote);
                    self.tunnel_out(sw, q, frame.clone(), kind, ends, &mut steps);
                }
                _ => self.port_out(sw, q, frame.clone(), &mut steps),
            }
        }
        self.record_switch(sw, steps);
    }

    /// OVN's ARP responder: a request from a guest or router port for an
    /// address a port of the switch declares is answered here, back out of
    /// the port it came in by, with the steps that say so. None when the
    /// request goes on (flooded).
    fn arp_responder(
        &mut self,
        sw: SwId,
        port: usize,
        domain: Domain,
        frame: &Frame,
    ) -> Option<Vec<Step>> {
        let net = self.net;
        let p = &net.switches[sw].ports[port];
        let (Payload::Arp(a), Peer::Stack { stack, iface }) = (&frame.payload, p.peer) else {
            return None;
        };
        if a.op != ArpOp::Request {
            return None;
        }
        let a = *a;
        let (o, oi) = net.port_address(domain, a.tpa)?;
        if (o, oi) == (stack, iface) {
            return None;
        }
        let mac = net.stacks[o].ifaces[oi].mac;
        let reply = Frame {
            src: mac,
            dst: a.sha,
            vlan: None,
            payload: Payload::Arp(Arp {
                op: ArpOp::Reply,
                sha: mac,
                spa: a.tpa,
                tha: a.sha,
                tpa: a.spa,
            }),
        };
        let whose = if matches!(net.stacks[o].kind, StackKind::Router(_)) {
            "the address of"
        } else {
            "the \"MAC IP\" address of"
        };
        let detail = format!(
            "{} is-at {mac}: {whose} {}; answered here, not flooded",
            a.tpa,
            net.port_owner_words(o, oi)
        );
        let mut steps = vec![
            step(Action::ArpResponder, detail, &reply),
            step(
                Action::Output,
                format!("back to {} ({})", p.name, p.desc),
                &reply,
            ),
        ];
        self.port_out(sw, port, reply, &mut steps);
        Some(steps)
    }

    /// Where the logical switch sends a frame: the port that holds its
    /// destination MAC (or the tunnel towards it), every other port of the
    /// switch for a broadcast, the `unknown` ports (localnet and tunnels)
    /// for a MAC no port declares.
    fn logical_outs(
        &mut self,
        sw: SwId,
        port: usize,
        domain: Domain,
        frame: &Frame,
        steps: &mut Vec<Step>,
    ) -> Vec<usize> {
        let net = self.net;
        let swt = &net.switches[sw];
        let words = net.switch_words(domain);
        let others = |keep: &dyn Fn(&Port) -> bool| -> Vec<usize> {
            let ports = swt.ports.iter().enumerate();
            let ports = ports.filter(|&(q, p)| q != port && in_switch(p, domain.1) && keep(p));
            ports.map(|(q, _)| q).collect()
        };
        if frame.dst.is_multicast() {
            let outs = others(&|_| true);
            let detail = format!("broadcast: {words} floods its ports");
            steps.push(step(Action::Flood, detail, frame));
            return outs;
        }
        let Some((o, oi)) = net.mac_port(domain, frame.dst) else {
            let outs = others(&|p| !matches!(p.peer, Peer::Stack { .. }));
            let detail = format!(
                "{} is no port's MAC: {words} sends it to its unknown (localnet) ports and tunnels",
                frame.dst
            );
            steps.push(step(Action::Flood, detail, frame));
            return outs;
        };
        let ifc = &net.stacks[o].ifaces[oi];
        let q = if ifc.sw == sw {
            Some(ifc.port)
        } else {
            net.toward(sw, ifc.sw)
        };
        match q {
            Some(q) if q != port => {
                let detail = format!("{} is {}", frame.dst, net.port_owner_words(o, oi));
                steps.push(step(Action::Lookup, detail, frame));
                vec![q]
            }
            _ => {
                let detail = format!(
                    "{} is {}: not reachable from here, dropped",
                    frame.dst,
                    net.port_owner_words(o, oi)
                );
                steps.push(step(Action::Drop, detail, frame));
                Vec::new()
            }
        }
    }

    /// A logical router knows the MAC of every `"MAC IP"` port of its
    /// switches (lr_in_arp_resolve) and sends to it without asking ARP;
    /// other next hops (the upstream router, a DHCP client's lease) it resolves by ARP.
    pub(super) fn static_binding(
        &mut self,
        s: StackId,
        i: usize,
        next_hop: Ipv4Addr,
        steps: &mut Vec<Step>,
    ) -> Option<Mac> {
        if !self.logical_router(s) {
            return None;
        }
        let net = self.net;
        let (o, oi) = net.port_address(net.domain(s, i), next_hop)?;
        let mac = net.stacks[o].ifaces[oi].mac;
        steps.push(super::step_plain(
            Action::Neighbor,
            format!(
                "{next_hop} lladdr {mac}: the address of {}, known to the logical router without ARP",
                net.port_owner_words(o, oi)
            ),
        ));
        Some(mac)
    }

    /// Under OVN: is stack `s` a logical (gateway) router?
    pub(super) fn logical_router(&self, s: StackId) -> bool {
        self.net.ovn.is_some() && matches!(self.net.stacks[s].kind, StackKind::Router(_))
    }
}
