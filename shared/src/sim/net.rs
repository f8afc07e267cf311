//! The static picture the simulator and `reach` work on, built once per
//! topology: switches (OVS bridges, and the segment of each external network)
//! with their ports, and IPv4 stacks (guests, and each external network's
//! upstream router) with interfaces, addresses (DHCP leases applied) and
//! routing tables.

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::dhcp::{allocate, Lease};
use super::ovn::Ovn;
use crate::graph::segments;
use crate::spec::Engine;
use crate::topology::{GuestKind, IfaceAddr, Mac, NodeRef, RouterNat, Topology, TunnelKind};
use crate::trace::{DropReason, NodeKind};

pub type SwId = usize;
pub type StackId = usize;

pub struct Net<'t> {
    pub topo: &'t Topology,
    /// Bridges (indexed like `topo.bridges`), then one segment per external.
    pub switches: Vec<Switch>,
    /// Guests (indexed like `topo.guests`), then one upstream router per external.
    pub stacks: Vec<Stack>,
    pub leases: Vec<Lease>,
    /// Per guest: the address its DHCP server would offer next.
    pub next_free: Vec<Option<Ipv4Addr>>,
    /// Who owns each address (a guest answers for all of its addresses on any interface).
    owners: HashMap<Ipv4Addr, Owner>,
    /// The logical network, under the OVN engine (`None`: plain OVS).
    pub ovn: Option<Ovn>,
}

/// An address's owner, and where it answers ARP for it in the usual case.
#[derive(Clone, Copy)]
struct Owner {
    stack: StackId,
    /// The domain of the interface holding the address, and the owner's first
    /// interface in it: `reach` asks about this domain nearly every time, and
    /// the answer is then found without reading the owner's interfaces.
    home: (Domain, usize),
}

pub struct Switch {
    pub label: String,
    pub kind: NodeKind,
    pub ports: Vec<Port>,
    /// Layer-2 segment number (switches joined by tunnels and uplinks share it).
    pub segment: usize,
}

pub struct Port {
    /// OVS port name.
    pub name: String,
    /// What it leads to, for traces: `vm1 eth0`, `gre key 5 to node2`.
    pub desc: String,
    /// Access tag; `None`: untagged port carrying every VLAN (native VLAN 0 untagged).
    pub tag: Option<u16>,
    pub peer: Peer,
}

/// What is at the other end of a port.
#[derive(Debug, Clone, Copy)]
pub enum Peer {
    Stack {
        stack: StackId,
        iface: usize,
    },
    /// A tunnel port; frames come out of `remote` (switch, port) after decapsulation.
    Tunnel {
        kind: TunnelKind,
        local_ip: Ipv4Addr,
        remote_ip: Ipv4Addr,
        remote: (SwId, usize),
    },
    /// A veth (uplink) straight into another switch's port.
    Wire {
        remote: (SwId, usize),
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum StackKind {
    Vm,
    Dhcp {
        range: (Ipv4Addr, Ipv4Addr),
        gateway: Option<Ipv4Addr>,
    },
    Router(RouterNat),
    Upstream,
}

pub struct Stack {
    pub label: String,
    pub node: NodeRef,
    pub kind: StackKind,
    pub ifaces: Vec<Iface>,
    /// Most specific first; among equals, the order Linux would have added them.
    pub routes: Vec<RouteEntry>,
    /// `ip_forward=1` (routers and upstream routers).
    pub forwarding: bool,
}

pub struct Iface {
    pub name: String,
    pub mac: Mac,
    pub addr: Option<Ipv4Net>,
    /// `ip: dhcp` (whether or not a lease came).
    pub dhcp: bool,
    pub sw: SwId,
    pub port: usize,
    /// The VLAN this interface's untagged frames are in (its tag, or 0).
    pub vlan: u16,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RouteOrigin {
    Connected,
    Static,
    Default,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RouteEntry {
    pub dst: Ipv4Net,
    pub via: Option<Ipv4Addr>,
    pub iface: usize,
    pub origin: RouteOrigin,
}

/// A layer-2 broadcast domain: (segment, VLAN).
pub type Domain = (usize, u16);

/// Why an ARP request got no answer (see [`Net::arp_miss`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArpMiss {
    /// No interface has the address.
    NoOwner,
    /// The owner's interface (stack, interface) is on an untagged port of the
    /// segment, and the request came in a VLAN.
    Tagged(StackId, usize),
    /// The owner is the only one in the domain: it sent the request itself.
    Own(StackId),
    /// The owner's interface (stack, interface) is on the segment, in another VLAN.
    OtherVlan(StackId, usize),
    /// The owner is not on the segment.
    OffSegment(StackId),
}

impl ArpMiss {
    pub fn reason(self) -> DropReason {
        match self {
            ArpMiss::Tagged(..) => DropReason::TaggedFrameAtGuest,
            ArpMiss::OtherVlan(..) => DropReason::VlanMismatch,
            ArpMiss::NoOwner | ArpMiss::Own(_) | ArpMiss::OffSegment(_) => {
                DropReason::NeighborUnreachable
            }
        }
    }
}

impl<'t> Net<'t> {
    pub fn new(topo: &'t Topology) -> Net<'t> {
        let alloc = allocate(topo);
        let mut switches = switches(topo);
        let mut stacks = guest_stacks(topo, &alloc.leases, &mut switches);
        upstream_stacks(topo, &mut stacks, &mut switches);
        uplinks(topo, &mut switches);
        tunnel_ports(topo, &mut switches);
        if topo.engine == Engine::Ovn {
            super::ovn::geneve_ports(topo, &mut switches);
        }

        let mut net = Net {
            topo,
            switches,
            stacks,
            leases: alloc.leases,
            next_free: alloc.next_free,
            owners: HashMap::new(),
            ovn: None,
        };
        net.owners = net.find_owners();
        if topo.engine == Engine::Ovn {
            net.ovn = Some(Ovn::new(topo, &net.switches, &net.stacks));
        }
        net
    }

    fn find_owners(&self) -> HashMap<Ipv4Addr, Owner> {
        let mut owners = HashMap::new();
        for (s, st) in self.stacks.iter().enumerate() {
            for (i, ifc) in st.ifaces.iter().enumerate() {
                let Some(a) = ifc.addr else { continue };
                owners.entry(a.addr()).or_insert_with(|| {
                    let domain = self.domain(s, i);
                    let first = (0..=i).find(|&j| self.domain(s, j) == domain);
                    Owner {
                        stack: s,
                        home: (domain, first.unwrap_or(i)),
                    }
                });
            }
        }
        owners
    }

    /// The stack that owns an address.
    pub fn owner(&self, addr: Ipv4Addr) -> Option<StackId> {
        self.owners.get(&addr).map(|o| o.stack)
    }

    /// Is `addr` one of this stack's own addresses (on any interface)?
    pub fn is_local(&self, s: StackId, addr: Ipv4Addr) -> bool {
        self.stacks[s]
            .ifaces
            .iter()
            .any(|i| i.addr.is_some_and(|n| n.addr() == addr))
    }

    pub fn domain(&self, s: StackId, i: usize) -> Domain {
        let ifc = &self.stacks[s].ifaces[i];
        (self.switches[ifc.sw].segment, ifc.vlan)
    }

    /// Longest-prefix match.
    pub fn route(&self, s: StackId, dst: Ipv4Addr) -> Option<RouteEntry> {
        self.stacks[s]
            .routes
            .iter()
            .find(|r| r.dst.contains(&dst))
            .copied()
    }

    /// Source address Linux picks for a route: the outgoing interface's
    /// address, else any address of the guest.
    pub fn source_for(&self, s: StackId, iface: usize) -> Option<Ipv4Addr> {
        let st = &self.stacks[s];
        st.ifaces[iface]
            .addr
            .or_else(|| st.ifaces.iter().find_map(|i| i.addr))
            .map(|n| n.addr())
    }

    /// The routing table in one line, as `ip route` would list it.
    pub fn table_words(&self, s: StackId) -> String {
        let st = &self.stacks[s];
        if st.routes.is_empty() {
            return "empty".into();
        }
        st.routes
            .iter()
            .map(|r| r.describe(&st.ifaces))
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub fn no_route(&self, s: StackId, dst: Ipv4Addr) -> String {
        format!("no route to {dst} (routing table: {})", self.table_words(s))
    }

    /// Why a sender without any address cannot send.
    pub fn no_address(&self, s: StackId) -> String {
        let st = &self.stacks[s];
        match st.ifaces.iter().find(|i| i.dhcp) {
            Some(i) => format!(
                "{} asked for a DHCP lease and got none, so {} has no address",
                i.name, st.label
            ),
            None => format!("{} has no IPv4 address", st.label),
        }
    }

    pub fn has_address(&self, s: StackId) -> bool {
        self.stacks[s].ifaces.iter().any(|i| i.addr.is_some())
    }

    /// The interface that answers an ARP request for `addr` sent into `domain`:
    /// an interface of the address's owner that receives the domain's
    /// broadcasts untagged (weak host: any of the owner's interfaces answers).
    pub fn arp_answerer(&self, domain: Domain, addr: Ipv4Addr) -> Option<(StackId, usize)> {
        let Owner { stack: s, home } = *self.owners.get(&addr)?;
        if home.0 == domain {
            return Some((s, home.1));
        }
        (0..self.stacks[s].ifaces.len())
            .find(|&i| self.domain(s, i) == domain)
            .map(|i| (s, i))
    }

    /// Why nobody answered ARP for `addr` in `domain`, with the words a
    /// trace gives.
    pub fn arp_failure(&self, domain: Domain, addr: Ipv4Addr) -> (DropReason, String) {
        let miss = self.arp_miss(domain, addr);
        (miss.reason(), self.arp_miss_words(miss, domain.1, addr))
    }

    /// Why nobody answered ARP for `addr` in `domain`: the owner is on this
    /// segment in another VLAN, or on an untagged port where the request
    /// arrived tagged, or not on this segment at all. No words: `reach`
    /// makes them only for the pairs it writes out.
    pub fn arp_miss(&self, domain: Domain, addr: Ipv4Addr) -> ArpMiss {
        let (segment, vlan) = domain;
        let Some(s) = self.owner(addr) else {
            return ArpMiss::NoOwner;
        };
        let on_segment = || {
            let ifaces = self.stacks[s].ifaces.iter().enumerate();
            ifaces.filter(move |(_, i)| self.switches[i.sw].segment == segment)
        };
        // Under OVN an untagged port is in the untagged logical switch only:
        // the request never reaches it tagged.
        if vlan != 0 && self.ovn.is_none() {
            let untagged = |i: &Iface| self.switches[i.sw].ports[i.port].tag.is_none();
            if let Some((i, _)) = on_segment().find(|(_, i)| untagged(i)) {
                return ArpMiss::Tagged(s, i);
            }
        }
        if on_segment().any(|(_, i)| i.vlan == vlan) {
            // Only the owner itself is in the domain: nobody hears its own request.
            return ArpMiss::Own(s);
        }
        match on_segment().next() {
            Some((i, _)) => ArpMiss::OtherVlan(s, i),
            None => ArpMiss::OffSegment(s),
        }
    }

    /// The detail of an ARP request for `addr` in `vlan` that got no answer.
    pub fn arp_miss_words(&self, miss: ArpMiss, vlan: u16, addr: Ipv4Addr) -> String {
        let name = |s: StackId| &self.stacks[s].label;
        let iface = |s: StackId, i: usize| &self.stacks[s].ifaces[i];
        match miss {
            ArpMiss::NoOwner => format!("no ARP reply for {addr}: no interface has that address"),
            ArpMiss::Tagged(s, i) => format!(
                "no ARP reply for {addr}: {} {} is on an untagged port, so the request in VLAN {vlan} reached it tagged and it dropped it",
                name(s),
                iface(s, i).name
            ),
            ArpMiss::Own(s) => format!("no ARP reply for {addr}: it is {}'s own address", name(s)),
            ArpMiss::OtherVlan(s, i) => format!(
                "no ARP reply for {addr}: {} {} is on this segment but in {}, not {}",
                name(s),
                iface(s, i).name,
                vlan_name(iface(s, i).vlan),
                vlan_name(vlan)
            ),
            ArpMiss::OffSegment(s) => {
                format!("no ARP reply for {addr}: {} is not on this layer-2 segment", name(s))
            }
        }
    }

    pub fn node_kind(&self, s: StackId) -> NodeKind {
        match self.stacks[s].kind {
            StackKind::Vm => NodeKind::Vm,
            StackKind::Dhcp { .. } => NodeKind::Dhcp,
            StackKind::Router(_) => NodeKind::Router,
            StackKind::Upstream => NodeKind::External,
        }
    }

    /// Stack of a node reference.
    pub fn stack_of(&self, node: NodeRef) -> StackId {
        match node {
            NodeRef::Guest(g) => g,
            NodeRef::External(e) => self.topo.guests.len() + e,
        }
    }
}

pub fn vlan_name(v: u16) -> String {
    if v == 0 {
        "the untagged VLAN".into()
    } else {
        format!("VLAN {v}")
    }
}

/// Connected routes (interface order), static routes (file order), then the
/// default route; stable-sorted most specific first. A static route whose
/// `via` is on no connected subnet, or is one of the guest's own addresses, is
/// refused by Linux ("Nexthop has invalid gateway"), so it is left out.
fn routing_table(
    ifaces: &[Iface],
    statics: &[(Ipv4Net, Ipv4Addr)],
    gateway: Option<Ipv4Addr>,
) -> Vec<RouteEntry> {
    let mut routes: Vec<RouteEntry> = ifaces
        .iter()
        .enumerate()
        .filter_map(|(i, ifc)| {
            ifc.addr.map(|a| RouteEntry {
                dst: a.trunc(),
                via: None,
                iface: i,
                origin: RouteOrigin::Connected,
            })
        })
        .collect();
    // A gateway must be on a connected subnet and not one of the guest's own
    // addresses (Linux: "Nexthop has invalid gateway").
    let local = |via: Ipv4Addr| {
        ifaces
            .iter()
            .any(|i| i.addr.is_some_and(|a| a.addr() == via))
    };
    let onlink = |via: Ipv4Addr| {
        if local(via) {
            return None;
        }
        ifaces
            .iter()
            .position(|i| i.addr.is_some_and(|a| a.contains(&via)))
    };
    for &(dst, via) in statics {
        if let Some(iface) = onlink(via) {
            routes.push(RouteEntry {
                dst,
                via: Some(via),
                iface,
                origin: RouteOrigin::Static,
            });
        }
    }
    if let Some(gw) = gateway {
        if let Some(iface) = onlink(gw) {
            let dst = Ipv4Net::new(Ipv4Addr::UNSPECIFIED, 0).unwrap_or_default();
            routes.push(RouteEntry {
                dst,
                via: Some(gw),
                iface,
                origin: RouteOrigin::Default,
            });
        }
    }
    routes.sort_by_key(|r| std::cmp::Reverse(r.dst.prefix_len()));
    routes
}

impl RouteEntry {
    /// `10.0.0.0/24 dev eth0 (connected)`, `default via 10.0.0.254 dev eth0`.
    pub fn describe(&self, ifaces: &[Iface]) -> String {
        let dev = &ifaces[self.iface].name;
        match (self.origin, self.via) {
            (RouteOrigin::Default, Some(v)) => format!("default via {v} dev {dev}"),
            (_, Some(v)) => format!("{} via {v} dev {dev}", self.dst),
            (_, None) => format!("{} dev {dev} (connected)", self.dst),
        }
    }
}

/// A switch per bridge, then one per external network's segment, without ports yet.
fn switches(topo: &Topology) -> Vec<Switch> {
    let seg = segments(topo);
    let mut switches: Vec<Switch> = topo
        .bridges
        .iter()
        .enumerate()
        .map(|(b, br)| Switch {
            label: format!("{}/{}", topo.hosts[br.host].name, br.name),
            kind: NodeKind::Bridge,
            ports: Vec::new(),
            segment: seg[b],
        })
        .collect();
    for (e, ext) in topo.externals.iter().enumerate() {
        let first = topo.bridges.iter().position(|b| b.uplink == Some(e));
        switches.push(Switch {
            label: format!("{} (segment)", ext.name),
            kind: NodeKind::Segment,
            ports: Vec::new(),
            // A segment no bridge is uplinked to is a domain of its own.
            segment: first.map_or(usize::MAX - e, |b| seg[b]),
        });
    }
    switches
}

/// A stack per guest, in guest order, each interface plugged into its bridge's switch.
fn guest_stacks(topo: &Topology, leases: &[Lease], switches: &mut [Switch]) -> Vec<Stack> {
    let ng = topo.guests.len();
    // `Topology::vm_label`, without its scan of every guest per vm.
    let mut vm_names: BTreeMap<&str, usize> = BTreeMap::new();
    for g in topo.guests.iter().filter(|g| g.is_vm()) {
        *vm_names.entry(g.name.as_str()).or_default() += 1;
    }
    let mut leases_of: Vec<Vec<&Lease>> = vec![Vec::new(); ng];
    for l in leases {
        leases_of[l.client].push(l);
    }
    let mut stacks: Vec<Stack> = Vec::with_capacity(ng + topo.externals.len());
    for (g, guest) in topo.guests.iter().enumerate() {
        let label = if guest.is_vm() && vm_names.get(guest.name.as_str()) == Some(&1) {
            guest.name.clone()
        } else {
            format!("{}/{}", topo.hosts[guest.host].name, guest.name)
        };
        stacks.push(guest_stack(topo, g, label, &leases_of[g], leases, switches));
    }
    stacks
}

/// Guest `g`'s stack, labelled `label`: its interfaces with their static or
/// leased addresses (`own` are its leases), and its routing table.
fn guest_stack(
    topo: &Topology,
    g: usize,
    label: String,
    own: &[&Lease],
    leases: &[Lease],
    switches: &mut [Switch],
) -> Stack {
    let guest = &topo.guests[g];
    let kind = match &guest.kind {
        GuestKind::Vm => StackKind::Vm,
        GuestKind::Dhcp(d) => StackKind::Dhcp {
            range: d.range,
            gateway: d.gateway,
        },
        GuestKind::Router(nat) => StackKind::Router(nat.clone()),
    };
    let mut ifaces = Vec::with_capacity(guest.ifaces.len());
    for (i, ifc) in guest.ifaces.iter().enumerate() {
        let lease = own.iter().find(|l| l.iface == i);
        let addr = match ifc.addr {
            IfaceAddr::Static(n) => Some(n),
            IfaceAddr::Dhcp => lease.map(|l| l.addr),
            IfaceAddr::None => None,
        };
        let port = switches[ifc.bridge].ports.len();
        switches[ifc.bridge].ports.push(Port {
            name: ifc.port.clone(),
            desc: format!("{label} {}", ifc.name),
            tag: ifc.vlan,
            peer: Peer::Stack { stack: g, iface: i },
        });
        ifaces.push(Iface {
            name: ifc.name.clone(),
            mac: ifc.mac,
            addr,
            dhcp: ifc.addr == IfaceAddr::Dhcp,
            sw: ifc.bridge,
            port,
            vlan: ifc.vlan.unwrap_or(0),
        });
    }
    // The file's gateway wins over a lease's router option (see docs).
    let lease_router = leases
        .iter()
        .filter(|l| l.client == g)
        .find_map(|l| l.router);
    let gateway = guest.gateway.or(lease_router);
    let statics: Vec<(Ipv4Net, Ipv4Addr)> = guest.routes.iter().map(|r| (r.to, r.via)).collect();
    let routes = routing_table(&ifaces, &statics, gateway);
    Stack {
        label,
        node: NodeRef::Guest(g),
        kind,
        ifaces,
        routes,
        forwarding: guest.is_router(),
    }
}

/// Each external network's upstream router, a stack on its segment.
fn upstream_stacks(topo: &Topology, stacks: &mut Vec<Stack>, switches: &mut [Switch]) {
    let nb = topo.bridges.len();
    let ng = topo.guests.len();
    for (e, ext) in topo.externals.iter().enumerate() {
        let sw = nb + e;
        let port = switches[sw].ports.len();
        let ifaces = vec![Iface {
            name: "eth0".into(),
            mac: ext.mac,
            addr: Some(ext.gateway),
            dhcp: false,
            sw,
            port,
            vlan: 0,
        }];
        let routes = routing_table(&ifaces, &[], None);
        stacks.push(Stack {
            label: ext.name.clone(),
            node: NodeRef::External(e),
            kind: StackKind::Upstream,
            ifaces,
            routes,
            forwarding: true,
        });
        switches[sw].ports.push(Port {
            name: format!("{}-gw", ext.name),
            desc: format!("{} upstream router", ext.name),
            tag: None,
            peer: Peer::Stack {
                stack: ng + e,
                iface: 0,
            },
        });
    }
}

/// Uplinks: a veth from the bridge's uplink port into the external's segment.
fn uplinks(topo: &Topology, switches: &mut [Switch]) {
    let nb = topo.bridges.len();
    for (b, br) in topo.bridges.iter().enumerate() {
        if let Some(e) = br.uplink {
            let sw = nb + e;
            let (bp, sp) = (switches[b].ports.len(), switches[sw].ports.len());
            let name = br.uplink_port.clone().unwrap_or_default();
            let (to_ext, to_bridge) = (
                format!("uplink to {}", topo.externals[e].name),
                format!("uplink of {}", switches[b].label),
            );
            switches[b].ports.push(Port {
                name: name.clone(),
                desc: to_ext,
                tag: None,
                peer: Peer::Wire { remote: (sw, sp) },
            });
            switches[sw].ports.push(Port {
                name,
                desc: to_bridge,
                tag: None,
                peer: Peer::Wire { remote: (b, bp) },
            });
        }
    }
}

/// The two ports of each tunnel, one on the bridge at either end.
fn tunnel_ports(topo: &Topology, switches: &mut [Switch]) {
    for t in &topo.tunnels {
        let [a, b] = t.ends;
        let (ia, ib) = (
            topo.hosts[topo.bridges[a].host].underlay_ip,
            topo.hosts[topo.bridges[b].host].underlay_ip,
        );
        let (pa, pb) = (switches[a].ports.len(), switches[b].ports.len());
        let (ha, hb) = (
            &topo.hosts[topo.bridges[a].host].name,
            &topo.hosts[topo.bridges[b].host].name,
        );
        switches[a].ports.push(Port {
            name: t.ports[0].clone(),
            desc: format!("{} tunnel to {hb}", t.kind),
            tag: None,
            peer: Peer::Tunnel {
                kind: t.kind,
                local_ip: ia,
                remote_ip: ib,
                remote: (b, pb),
            },
        });
        switches[b].ports.push(Port {
            name: t.ports[1].clone(),
            desc: format!("{} tunnel to {ha}", t.kind),
            tag: None,
            peer: Peer::Tunnel {
                kind: t.kind,
                local_ip: ib,
                remote_ip: ia,
                remote: (a, pa),
            },
        });
    }
}
