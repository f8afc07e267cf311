//! Which edits might mend a failed probe: those the drop reason points at,
//! on the nodes the probe involves (sender, the address's owner, where it
//! was dropped, the guests on its path), never a blind search over the
//! whole design. Each one is only a candidate: the search proves it.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::edit::{Edit, GuestAt, IfaceAt};
use crate::sim::net::{Net, StackId, StackKind};
use crate::sim::{Probe, Proto};
use crate::topology::{L4Proto, Topology, TunnelKind};
use crate::trace::{DropReason, NodeKind, Trace};

/// The edits worth trying for `trace`, most likely first, without repeats.
pub(super) fn candidates(net: &Net, probe: &Probe, trace: &Trace) -> Vec<Edit> {
    let Some(reason) = trace.disposition.reason() else {
        return Vec::new();
    };
    let c = Ctx::new(net, probe, trace, reason);
    let mut out = Vec::new();
    use DropReason::*;
    if matches!(
        reason,
        VlanMismatch | TaggedFrameAtGuest | NeighborUnreachable | NoAddress | NoReturnPath
    ) {
        c.vlans(&mut out);
        c.plugs(&mut out);
        c.tunnels(&mut out);
    }
    if matches!(
        reason,
        NoRoute | NotForwarding | NeighborUnreachable | NoReturnPath | NoReply | TtlExceeded
    ) {
        c.routes(&mut out);
        c.snat(&mut out);
        c.router_ifaces(&mut out);
    }
    match reason {
        NoAddress => c.dhcp(&mut out),
        MtuExceeded => c.mtu(&mut out),
        PortClosed => c.dnat(&mut out),
        _ => {}
    }
    let mut seen = std::collections::HashSet::new();
    out.retain(|e| seen.insert(e.clone()));
    out
}

struct Ctx<'n, 't> {
    net: &'n Net<'t>,
    topo: &'t Topology,
    probe: &'n Probe,
    /// Nodes the probe involves: the address's owner, the sender, where it
    /// was dropped, then the routers on its path, each once.
    nodes: Vec<StackId>,
}

impl<'n, 't> Ctx<'n, 't> {
    fn new(net: &'n Net<'t>, probe: &'n Probe, trace: &Trace, reason: DropReason) -> Self {
        let labels: HashMap<&str, StackId> = (0..net.stacks.len())
            .map(|s| (net.stacks[s].label.as_str(), s))
            .collect();
        let mut nodes = Vec::new();
        nodes.extend(net.owner(probe.to));
        nodes.push(net.stack_of(probe.from));
        if let crate::trace::Disposition::Dropped { node, .. } = &trace.disposition {
            nodes.extend(labels.get(node.as_str()));
        }
        // Routers on the way; other guests on it only saw a flooded frame.
        let routers = trace.hops.iter().filter(|h| h.kind == NodeKind::Router);
        nodes.extend(routers.filter_map(|h| labels.get(h.node.as_str())));
        if reason == DropReason::NoAddress {
            // A client without a lease: the servers are what it is missing.
            let servers = 0..net.stacks.len();
            nodes.extend(servers.filter(|&s| matches!(net.stacks[s].kind, StackKind::Dhcp { .. })));
        }
        let mut seen = std::collections::HashSet::new();
        nodes.retain(|s| seen.insert(*s));
        Ctx {
            net,
            topo: net.topo,
            probe,
            nodes,
        }
    }

    /// Interfaces of the involved guests (not external routers): (stack, iface).
    fn ifaces(&self) -> impl Iterator<Item = (StackId, usize)> + '_ {
        let guests = self.nodes.iter().filter(|&&s| s < self.topo.guests.len());
        guests.flat_map(|&s| (0..self.net.stacks[s].ifaces.len()).map(move |i| (s, i)))
    }

    fn tag(&self, s: StackId, i: usize) -> Option<u16> {
        let ifc = &self.net.stacks[s].ifaces[i];
        self.net.switches[ifc.sw].ports[ifc.port].tag
    }

    fn segment(&self, s: StackId, i: usize) -> usize {
        self.net.switches[self.net.stacks[s].ifaces[i].sw].segment
    }

    fn at(&self, s: StackId, i: usize) -> IfaceAt {
        IfaceAt {
            guest: GuestAt::of(self.topo, s),
            iface: i,
        }
    }

    fn bridge(&self, s: StackId, i: usize) -> usize {
        self.topo.guests[s].ifaces[i].bridge
    }

    /// Pairs of interfaces of two involved guests: (x, i, y, j).
    fn iface_pairs(&self) -> Vec<(StackId, usize, StackId, usize)> {
        let all: Vec<(StackId, usize)> = self.ifaces().collect();
        let mut out = Vec::new();
        for &(x, i) in &all {
            for &(y, j) in all.iter().filter(|(y, _)| *y != x) {
                out.push((x, i, y, j));
            }
        }
        out
    }

    /// Give an interface the tag of another guest's interface on its segment.
    fn vlans(&self, out: &mut Vec<Edit>) {
        for (x, i, y, j) in self.iface_pairs() {
            let (tx, ty) = (self.tag(x, i), self.tag(y, j));
            if self.segment(x, i) == self.segment(y, j) && tx != ty {
                let at = self.at(x, i);
                out.push(Edit::SetVlan { at, vlan: ty });
            }
        }
    }

    /// Plug an interface into the bridge (and VLAN) of another guest's
    /// interface on the same host but another segment.
    fn plugs(&self, out: &mut Vec<Edit>) {
        for (x, i, y, j) in self.iface_pairs() {
            let (bx, by) = (self.bridge(x, i), self.bridge(y, j));
            let host = self.topo.bridges[bx].host;
            if host == self.topo.bridges[by].host && self.segment(x, i) != self.segment(y, j) {
                let bridge = self.topo.bridges[by].name.clone();
                let vlan = self.tag(y, j);
                out.push(Edit::Plug {
                    at: self.at(x, i),
                    bridge,
                    vlan,
                });
            }
        }
    }

    /// A GRE tunnel joining the segments of two guests on different hosts.
    fn tunnels(&self, out: &mut Vec<Edit>) {
        for (x, i, y, j) in self.iface_pairs() {
            let (bx, by) = (self.bridge(x, i), self.bridge(y, j));
            let (hx, hy) = (self.topo.bridges[bx].host, self.topo.bridges[by].host);
            if x < y && hx != hy && self.segment(x, i) != self.segment(y, j) {
                let end = |b: usize| {
                    let br = &self.topo.bridges[b];
                    format!("{}/{}", self.topo.hosts[br.host].name, br.name)
                };
                let kind = TunnelKind::Gre {
                    key: self.free_key(hx, hy),
                };
                out.push(Edit::AddTunnel {
                    kind,
                    between: [end(bx), end(by)],
                });
            }
        }
    }

    /// A GRE key no tunnel between the two hosts uses yet (`None`: no key).
    fn free_key(&self, a: usize, b: usize) -> Option<u32> {
        let hosts = |t: &crate::topology::Tunnel| {
            let h = t.ends.map(|e| self.topo.bridges[e].host);
            h == [a, b] || h == [b, a]
        };
        let keys: Vec<u32> = self
            .topo
            .tunnels
            .iter()
            .filter(|t| hosts(t))
            .filter_map(|t| match t.kind {
                TunnelKind::Gre { key } => Some(key.unwrap_or(0)),
                TunnelKind::Vxlan { .. } => None,
            })
            .collect();
        keys.iter().max().map(|k| k.saturating_add(1))
    }

    /// The networks a route might be missing for: the destination's, then the sender's.
    fn networks(&self) -> Vec<Ipv4Net> {
        let mut out = Vec::new();
        let of = |s: StackId, a: Option<Ipv4Addr>| {
            let ifaces = &self.net.stacks[s].ifaces;
            let mut nets = ifaces.iter().filter_map(|i| i.addr);
            match a {
                Some(a) => nets.find(|n| n.addr() == a),
                None => nets.next(),
            }
            .map(|n| n.trunc())
        };
        if let Some(t) = self.net.owner(self.probe.to) {
            out.extend(of(t, Some(self.probe.to)));
        }
        out.extend(of(self.net.stack_of(self.probe.from), None));
        out
    }

    /// Forwarding neighbours of `x`: (address, router) of every router or
    /// external router sharing a layer-2 domain with one of `x`'s interfaces.
    fn next_hops(&self, x: StackId) -> Vec<Ipv4Addr> {
        let net = self.net;
        let mut out = Vec::new();
        for (r, st) in net.stacks.iter().enumerate() {
            if r == x || !st.forwarding {
                continue;
            }
            for (k, ifc) in st.ifaces.iter().enumerate() {
                let Some(a) = ifc.addr else { continue };
                let domain = net.domain(r, k);
                if (0..net.stacks[x].ifaces.len()).any(|i| net.domain(x, i) == domain) {
                    out.push(a.addr());
                }
            }
        }
        out
    }

    /// A gateway, then a route to each missing network, via each forwarding neighbour.
    fn routes(&self, out: &mut Vec<Edit>) {
        let nets = self.networks();
        for &x in self.nodes.iter().filter(|&&s| s < self.topo.guests.len()) {
            let g = &self.topo.guests[x];
            if !(g.is_vm() || g.is_router()) {
                continue;
            }
            let at = GuestAt::of(self.topo, x);
            let hops = self.next_hops(x);
            for &via in &hops {
                if g.gateway != Some(via) {
                    out.push(Edit::SetGateway { at, gateway: via });
                }
            }
            for &to in &nets {
                let connected = self.net.stacks[x]
                    .ifaces
                    .iter()
                    .any(|i| i.addr.is_some_and(|a| a.trunc() == to));
                for &via in hops.iter().filter(|_| !connected) {
                    out.push(Edit::AddRoute { at, to, via });
                }
            }
        }
    }

    /// Masquerade the sender's network on each involved router's interface
    /// towards an external network (its upstream router has no route back).
    fn snat(&self, out: &mut Vec<Edit>) {
        let Some(source) = self.networks().last().copied() else {
            return;
        };
        let net = self.net;
        let upstreams: Vec<StackId> = (self.topo.guests.len()..net.stacks.len()).collect();
        for &r in self.nodes.iter().filter(|&&s| s < self.topo.guests.len()) {
            if !self.topo.guests[r].is_router() {
                continue;
            }
            for (k, ifc) in net.stacks[r].ifaces.iter().enumerate() {
                let faces_out = upstreams.iter().any(|&u| {
                    !net.stacks[u].ifaces.is_empty() && net.domain(u, 0) == net.domain(r, k)
                });
                if faces_out {
                    out.push(Edit::AddSnat {
                        at: GuestAt::of(self.topo, r),
                        source,
                        out: ifc.name.clone(),
                    });
                }
            }
        }
    }

    /// A gateway or `via` nobody has: give a router of the same host that address.
    fn router_ifaces(&self, out: &mut Vec<Edit>) {
        for (x, i) in self.ifaces().collect::<Vec<_>>() {
            let Some(net) = self.net.stacks[x].ifaces[i].addr else {
                continue;
            };
            let g = &self.topo.guests[x];
            let vias = g.gateway.into_iter().chain(g.routes.iter().map(|r| r.via));
            let missing = vias.filter(|a| net.contains(a) && self.net.owner(*a).is_none());
            for a in missing.collect::<Vec<_>>() {
                self.add_iface(x, i, a, net.prefix_len(), out);
            }
        }
    }

    fn add_iface(&self, x: StackId, i: usize, a: Ipv4Addr, prefix: u8, out: &mut Vec<Edit>) {
        let b = self.bridge(x, i);
        let host = self.topo.bridges[b].host;
        let Ok(ip) = Ipv4Net::new(a, prefix) else {
            return;
        };
        for &r in &self.topo.hosts[host].guests {
            let g = &self.topo.guests[r];
            if !g.is_router() {
                continue;
            }
            let taken = |n: &String| g.ifaces.iter().any(|f| &f.name == n);
            let Some(name) = (0..).map(|n| format!("fix{n}")).find(|n| !taken(n)) else {
                continue;
            };
            out.push(Edit::AddInterface {
                at: GuestAt::of(self.topo, r),
                name,
                bridge: self.topo.bridges[b].name.clone(),
                vlan: self.tag(x, i),
                ip,
            });
        }
    }

    /// A client without a lease: a server of its host moved to its segment,
    /// or a server of its domain with a longer range.
    fn dhcp(&self, out: &mut Vec<Edit>) {
        let net = self.net;
        let s = net.stack_of(self.probe.from);
        let Some(c) = net.stacks[s].ifaces.iter().position(|i| i.dhcp) else {
            return;
        };
        let clients = net
            .stacks
            .iter()
            .flat_map(|st| &st.ifaces)
            .filter(|i| i.dhcp)
            .count();
        let b = self.bridge(s, c);
        for (d, st) in net.stacks.iter().enumerate() {
            let StackKind::Dhcp { range, .. } = st.kind else {
                continue;
            };
            if st.ifaces.is_empty() {
                continue;
            }
            if net.domain(d, 0) == net.domain(s, c) {
                if let Some(r) = longer(range, st.ifaces[0].addr, clients) {
                    out.push(Edit::SetRange {
                        at: GuestAt::of(self.topo, d),
                        range: r,
                    });
                }
            } else if self.segment(d, 0) != self.segment(s, c)
                && self.topo.bridges[self.bridge(d, 0)].host == self.topo.bridges[b].host
            {
                // On the client's segment already, the VLAN edits cover it.
                out.push(Edit::Plug {
                    at: self.at(d, 0),
                    bridge: self.topo.bridges[b].name.clone(),
                    vlan: self.tag(s, c),
                });
            }
        }
    }

    /// A frame too big for a tunnel: the tunnel as GRE without a key (38
    /// bytes of overhead, the least there is).
    fn mtu(&self, out: &mut Vec<Edit>) {
        let small = TunnelKind::Gre { key: None };
        for (t, tunnel) in self.topo.tunnels.iter().enumerate() {
            let segment = self.net.switches[tunnel.ends[0]].segment;
            let on_path = self.ifaces().any(|(s, i)| self.segment(s, i) == segment);
            if on_path && tunnel.kind != small {
                out.push(Edit::SetTunnel {
                    tunnel: t,
                    kind: small,
                });
            }
        }
    }

    /// A port nothing listens on at a router: forward it to a vm next to the router.
    fn dnat(&self, out: &mut Vec<Edit>) {
        let (proto, port) = match self.probe.proto {
            Proto::Tcp(p) => (L4Proto::Tcp, p),
            Proto::Udp(p) => (L4Proto::Udp, p),
            _ => return,
        };
        let net = self.net;
        let Some(r) = net
            .owner(self.probe.to)
            .filter(|&r| r < self.topo.guests.len())
        else {
            return;
        };
        if !self.topo.guests[r].is_router() {
            return;
        }
        let holds = |i: &&crate::sim::net::Iface| i.addr.is_some_and(|a| a.addr() == self.probe.to);
        let Some(in_) = net.stacks[r]
            .ifaces
            .iter()
            .find(holds)
            .map(|i| i.name.clone())
        else {
            return;
        };
        for v in (0..self.topo.guests.len()).filter(|&v| self.topo.guests[v].is_vm()) {
            for (k, ifc) in net.stacks[v].ifaces.iter().enumerate() {
                let shares =
                    (0..net.stacks[r].ifaces.len()).any(|i| net.domain(r, i) == net.domain(v, k));
                if let (true, Some(a)) = (shares, ifc.addr) {
                    out.push(Edit::AddDnat {
                        at: GuestAt::of(self.topo, r),
                        in_: in_.clone(),
                        proto,
                        port,
                        to: a.addr(),
                        to_port: port,
                    });
                }
            }
        }
    }
}

/// A range that ends `more` addresses later, still inside the server's
/// subnet and short of its broadcast address.
fn longer(
    range: (Ipv4Addr, Ipv4Addr),
    server: Option<Ipv4Net>,
    more: usize,
) -> Option<[Ipv4Addr; 2]> {
    let subnet = server?;
    let last = u32::from(subnet.broadcast()).checked_sub(1)?;
    let end = u32::from(range.1).saturating_add(more as u32).min(last);
    (end > u32::from(range.1)).then(|| [range.0, Ipv4Addr::from(end)])
}
