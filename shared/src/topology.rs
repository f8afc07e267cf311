//! The resolved topology: what [`crate::validate`] makes of a valid file.
//!
//! Addresses are typed, references are indices, and every Linux/OVS name
//! netloom will create is derived here once, so the simulator, the planner and
//! the UI all agree on them. Vms, DHCP servers and routers are all [`Guest`]s:
//! a namespace with interfaces plugged into bridges; they differ in [`GuestKind`].

use std::fmt;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use crate::spec::{Engine, TopologySpec};

/// Index into [`Topology::hosts`].
pub type HostId = usize;
/// Index into [`Topology::bridges`].
pub type BridgeId = usize;
/// Index into [`Topology::guests`].
pub type GuestId = usize;
/// Index into [`Topology::externals`].
pub type ExternalId = usize;
/// Index into [`Topology::tunnels`].
pub type TunnelId = usize;

/// A validated topology with every reference resolved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Topology {
    pub name: String,
    pub underlay: Ipv4Net,
    /// `engine`, `ovs` when absent.
    #[serde(default, skip_serializing_if = "Engine::is_ovs")]
    pub engine: Engine,
    /// `ovn`: the existing central real hosts join under engine `ovn`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ovn: Option<crate::ovn::Central>,
    pub externals: Vec<External>,
    pub hosts: Vec<Host>,
    /// All bridges of all hosts, host by host in file order.
    pub bridges: Vec<Bridge>,
    /// All guests, host by host; within a host: vms, then dhcp servers, then routers, in file order.
    pub guests: Vec<Guest>,
    pub tunnels: Vec<Tunnel>,
    /// The intent (`expect`), reach entries first; empty when the file has none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expect: Vec<Expectation>,
    /// The file as written (kept for round trips and the editor's layout).
    pub spec: TopologySpec,
}

/// One ping of the intent, its names checked against the design.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Expectation {
    /// The sender as written (resolves with [`Topology::resolve_node`]).
    pub from: String,
    /// An IPv4 address or a node, as written.
    pub to: String,
    /// `true`: the ping must be answered (`expect.reach`); `false`: it must not (`expect.isolate`).
    pub reach: bool,
    /// `expect.reach[i]` or `expect.isolate[i]`
    pub path: String,
}

/// An external network: a segment with one upstream router.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct External {
    pub name: String,
    /// The upstream router's address with the segment's prefix.
    pub gateway: Ipv4Net,
    /// MAC of the upstream router (derived).
    pub mac: Mac,
    /// Namespace of the upstream router in sandbox mode.
    pub netns: String,
    /// `externals[i]`
    pub path: String,
}

/// A machine: emulated (sandbox) or real (reached through its agent).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Host {
    pub name: String,
    pub underlay_ip: Ipv4Addr,
    pub agent: Option<String>,
    pub bridges: Vec<BridgeId>,
    pub guests: Vec<GuestId>,
    /// Namespace that emulates this host in sandbox mode.
    pub netns: String,
    /// Segment end of this host's underlay veth, in the underlay namespace (sandbox).
    pub underlay_peer: String,
    /// `hosts[i]`
    pub path: String,
}

/// An Open vSwitch bridge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bridge {
    pub host: HostId,
    pub name: String,
    pub uplink: Option<ExternalId>,
    /// OVS bridge (and internal interface) name; fits 15 bytes.
    pub ovs_name: String,
    /// OVS port/veth name of the uplink on this bridge, when there is one.
    pub uplink_port: Option<String>,
    /// The uplink veth's other end, on the external network's segment.
    pub uplink_peer: Option<String>,
    /// `hosts[i].bridges[j]`
    pub path: String,
}

/// What a guest is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum GuestKind {
    Vm,
    Dhcp(DhcpServer),
    Router(RouterNat),
}

/// DHCP service of a dhcp guest (its own address is its only interface's).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DhcpServer {
    pub range: (Ipv4Addr, Ipv4Addr),
    pub gateway: Option<Ipv4Addr>,
}

/// NAT rules of a router.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RouterNat {
    pub snat: Vec<Snat>,
    pub dnat: Vec<Dnat>,
}

/// Masquerade packets from `source` leaving by interface `out`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snat {
    pub source: Ipv4Net,
    /// Index into the router's interfaces.
    pub out: usize,
}

/// L4 protocol of a port forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum L4Proto {
    Tcp,
    Udp,
}

impl fmt::Display for L4Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            L4Proto::Tcp => "tcp",
            L4Proto::Udp => "udp",
        })
    }
}

/// Port forward on a router.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dnat {
    /// Index into the router's interfaces.
    pub in_iface: usize,
    pub proto: L4Proto,
    pub port: u16,
    pub to: Ipv4Addr,
    pub to_port: u16,
}

/// A vm, DHCP server or router.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Guest {
    pub host: HostId,
    pub name: String,
    pub kind: GuestKind,
    pub ifaces: Vec<Iface>,
    pub gateway: Option<Ipv4Addr>,
    pub routes: Vec<Route>,
    /// Namespace of this guest in sandbox mode.
    pub netns: String,
    /// `hosts[i].vms[j]`, `hosts[i].dhcp[j]` or `hosts[i].routers[j]`
    pub path: String,
}

impl Guest {
    pub fn is_vm(&self) -> bool {
        matches!(self.kind, GuestKind::Vm)
    }

    pub fn is_router(&self) -> bool {
        matches!(self.kind, GuestKind::Router(_))
    }

    /// `vm`, `dhcp` or `router`.
    pub fn kind_word(&self) -> &'static str {
        match self.kind {
            GuestKind::Vm => "vm",
            GuestKind::Dhcp(_) => "dhcp",
            GuestKind::Router(_) => "router",
        }
    }
}

/// How an interface gets its address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IfaceAddr {
    None,
    Static(Ipv4Net),
    Dhcp,
}

impl IfaceAddr {
    pub fn static_net(&self) -> Option<Ipv4Net> {
        match self {
            IfaceAddr::Static(n) => Some(*n),
            _ => None,
        }
    }
}

/// A guest interface: the guest end of a veth pair whose other end is a bridge port.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Iface {
    /// Name inside the guest: `eth0`... for vms and dhcp servers, the file's name for routers.
    pub name: String,
    pub bridge: BridgeId,
    pub vlan: Option<u16>,
    pub addr: IfaceAddr,
    pub mac: Mac,
    /// Name of the bridge-side veth end, which is also its OVS port name.
    pub port: String,
    /// `hosts[i].vms[j].nics[k]` and the like.
    pub path: String,
}

/// A static route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    pub to: Ipv4Net,
    pub via: Ipv4Addr,
}

/// Tunnel type with its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TunnelKind {
    /// Ethernet over GRE; `key` absent means no key (OVS treats it as 0).
    Gre {
        key: Option<u32>,
    },
    Vxlan {
        vni: u32,
    },
}

impl TunnelKind {
    /// Bytes added around the inner Ethernet frame (spec: MTU section).
    pub fn overhead(&self) -> u32 {
        match self {
            TunnelKind::Gre { key: None } => 38,
            TunnelKind::Gre { key: Some(_) } => 42,
            TunnelKind::Vxlan { .. } => 50,
        }
    }

    /// `gre` or `vxlan`, as OVS names the interface type.
    pub fn ovs_type(&self) -> &'static str {
        match self {
            TunnelKind::Gre { .. } => "gre",
            TunnelKind::Vxlan { .. } => "vxlan",
        }
    }
}

impl fmt::Display for TunnelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TunnelKind::Gre { key: None } => write!(f, "GRE"),
            TunnelKind::Gre { key: Some(k) } => write!(f, "GRE key {k}"),
            TunnelKind::Vxlan { vni } => write!(f, "VXLAN {vni}"),
        }
    }
}

/// A tunnel: one OVS port on each end's bridge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tunnel {
    pub kind: TunnelKind,
    pub ends: [BridgeId; 2],
    /// OVS port name on each end.
    pub ports: [String; 2],
    /// `tunnels[i]`
    pub path: String,
}

/// An Ethernet address.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(into = "String", try_from = "String")]
pub struct Mac(pub [u8; 6]);

impl Mac {
    pub const BROADCAST: Mac = Mac([0xff; 6]);

    pub fn is_multicast(&self) -> bool {
        self.0[0] & 1 == 1
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

impl std::str::FromStr for Mac {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = s.split(':').collect();
        if parts.len() != 6 {
            return Err(format!(
                "{s:?} is not a MAC address (six hex bytes like 52:54:00:00:00:01)"
            ));
        }
        let mut out = [0u8; 6];
        for (o, p) in out.iter_mut().zip(&parts) {
            // from_str_radix alone would accept a sign, like "+1".
            if p.len() != 2 || !p.bytes().all(|c| c.is_ascii_hexdigit()) {
                return Err(format!(
                    "{s:?} is not a MAC address (six hex bytes like 52:54:00:00:00:01)"
                ));
            }
            *o = u8::from_str_radix(p, 16).map_err(|_| {
                format!("{s:?} is not a MAC address (six hex bytes like 52:54:00:00:00:01)")
            })?;
        }
        Ok(Mac(out))
    }
}

impl From<Mac> for String {
    fn from(m: Mac) -> String {
        m.to_string()
    }
}

impl TryFrom<String> for Mac {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

/// Where a guest interface or an uplink plugs in: a bridge port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum PortRef {
    /// Interface `iface` of guest `guest`.
    Guest { guest: GuestId, iface: usize },
    /// One end (0 or 1) of a tunnel.
    Tunnel { tunnel: TunnelId, end: usize },
    /// The uplink of a bridge into its external network.
    Uplink { bridge: BridgeId },
}

impl Topology {
    /// Ports of a bridge, in a fixed order: guest interfaces, tunnel ends, uplink.
    pub fn bridge_ports(&self, bridge: BridgeId) -> Vec<PortRef> {
        let mut out = Vec::new();
        for (g, guest) in self.guests.iter().enumerate() {
            for (i, iface) in guest.ifaces.iter().enumerate() {
                if iface.bridge == bridge {
                    out.push(PortRef::Guest { guest: g, iface: i });
                }
            }
        }
        for (t, tunnel) in self.tunnels.iter().enumerate() {
            for end in 0..2 {
                if tunnel.ends[end] == bridge {
                    out.push(PortRef::Tunnel { tunnel: t, end });
                }
            }
        }
        if self.bridges[bridge].uplink.is_some() {
            out.push(PortRef::Uplink { bridge });
        }
        out
    }

    /// The OVS port name of a port.
    pub fn port_name(&self, port: PortRef) -> &str {
        match port {
            PortRef::Guest { guest, iface } => &self.guests[guest].ifaces[iface].port,
            PortRef::Tunnel { tunnel, end } => &self.tunnels[tunnel].ports[end],
            PortRef::Uplink { bridge } => self.bridges[bridge]
                .uplink_port
                .as_deref()
                .unwrap_or_default(),
        }
    }

    /// The access tag of a port (`None`: untagged/trunk).
    pub fn port_vlan(&self, port: PortRef) -> Option<u16> {
        match port {
            PortRef::Guest { guest, iface } => self.guests[guest].ifaces[iface].vlan,
            _ => None,
        }
    }

    /// A guest by host and guest name (any kind).
    pub fn find_guest(&self, host: &str, name: &str) -> Option<GuestId> {
        self.guests
            .iter()
            .position(|g| g.name == name && self.hosts[g.host].name == host)
    }

    /// A bridge as tunnel ends name it: `host/bridge`.
    pub fn find_bridge_path(&self, text: &str) -> Option<BridgeId> {
        let (h, b) = text.split_once('/')?;
        self.bridges
            .iter()
            .position(|br| br.name == b && self.hosts[br.host].name == h)
    }

    /// How reports name a vm: its name, or `host/vm` when several hosts have a vm of that name.
    pub fn vm_label(&self, guest: GuestId) -> String {
        let g = &self.guests[guest];
        let clashes = self
            .guests
            .iter()
            .filter(|o| o.is_vm() && o.name == g.name)
            .count();
        if clashes > 1 {
            format!("{}/{}", self.hosts[g.host].name, g.name)
        } else {
            g.name.clone()
        }
    }

    /// Resolve a node reference as users write it: `vm`, `host/vm`, `host/router`,
    /// `host/dhcp`, or an external network's name.
    pub fn resolve_node(&self, text: &str) -> Result<NodeRef, String> {
        if let Some((h, n)) = text.split_once('/') {
            return self
                .find_guest(h, n)
                .map(NodeRef::Guest)
                .ok_or_else(|| format!("no guest {n:?} on host {h:?}"));
        }
        let guests: Vec<GuestId> = (0..self.guests.len())
            .filter(|&g| self.guests[g].name == text)
            .collect();
        let ext = self.externals.iter().position(|e| e.name == text);
        match (guests.as_slice(), ext) {
            ([g], None) => Ok(NodeRef::Guest(*g)),
            ([], Some(e)) => Ok(NodeRef::External(e)),
            ([], None) => Err(format!(
                "no vm, router, dhcp server or external network named {text:?}"
            )),
            _ => Err(format!("{text:?} is ambiguous: write it as host/name")),
        }
    }
}

/// A node that can send or receive a probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum NodeRef {
    Guest(GuestId),
    External(ExternalId),
}
