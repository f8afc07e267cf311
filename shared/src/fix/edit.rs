//! One small change to a design, made on the file as written ([`TopologySpec`]),
//! so that the edited design is validated again like any file and can be saved.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use crate::spec::*;
use crate::topology::{GuestId, GuestKind, L4Proto, Topology, TunnelKind};

/// What kind of guest an edit touches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Vm,
    Dhcp,
    Router,
}

/// A guest by its place in the file: `hosts[host].vms[index]` and the like.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct GuestAt {
    pub host: usize,
    pub kind: Kind,
    pub index: usize,
}

impl GuestAt {
    /// Where the resolved guest `g` of `topo` is written.
    pub fn of(topo: &Topology, g: GuestId) -> GuestAt {
        let guest = &topo.guests[g];
        let pos = topo.hosts[guest.host]
            .guests
            .iter()
            .position(|&x| x == g)
            .unwrap_or(0);
        let spec = &topo.spec.hosts[guest.host];
        let (kind, index) = match guest.kind {
            GuestKind::Vm => (Kind::Vm, pos),
            GuestKind::Dhcp(_) => (Kind::Dhcp, pos.saturating_sub(spec.vms.len())),
            GuestKind::Router(_) => (
                Kind::Router,
                pos.saturating_sub(spec.vms.len() + spec.dhcp.len()),
            ),
        };
        GuestAt {
            host: guest.host,
            kind,
            index,
        }
    }
}

/// One interface of a guest (a dhcp server has only interface 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct IfaceAt {
    pub guest: GuestAt,
    pub iface: usize,
}

/// A change to the design.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "edit", rename_all = "kebab-case")]
pub enum Edit {
    /// Set (`Some`) or remove (`None`) an interface's access tag.
    SetVlan { at: IfaceAt, vlan: Option<u16> },
    /// Plug an interface into another bridge of its host, with this tag.
    Plug {
        at: IfaceAt,
        bridge: String,
        vlan: Option<u16>,
    },
    /// Set a vm's or router's default route.
    SetGateway { at: GuestAt, gateway: Ipv4Addr },
    /// Add a static route to a vm or router.
    AddRoute {
        at: GuestAt,
        to: Ipv4Net,
        via: Ipv4Addr,
    },
    /// Masquerade `source` leaving a router by interface `out`.
    AddSnat {
        at: GuestAt,
        source: Ipv4Net,
        out: String,
    },
    /// A port forward on a router.
    AddDnat {
        at: GuestAt,
        #[serde(rename = "in")]
        in_: String,
        proto: L4Proto,
        port: u16,
        to: Ipv4Addr,
        to_port: u16,
    },
    /// A new tunnel between two `host/bridge` ends.
    AddTunnel {
        kind: TunnelKind,
        between: [String; 2],
    },
    /// Another type, key or VNI for `tunnels[tunnel]`.
    SetTunnel { tunnel: usize, kind: TunnelKind },
    /// A new router interface.
    AddInterface {
        at: GuestAt,
        name: String,
        bridge: String,
        vlan: Option<u16>,
        ip: Ipv4Net,
    },
    /// Another address range for a dhcp server.
    SetRange { at: GuestAt, range: [Ipv4Addr; 2] },
}

impl Edit {
    /// The design with this edit made; an error when the edit names
    /// something the design does not have.
    pub fn apply(&self, spec: &TopologySpec) -> Result<TopologySpec, String> {
        let mut out = spec.clone();
        match self.apply_in(&mut out) {
            Some(()) => Ok(out),
            None => Err(format!(
                "the edit names something this design lacks: {self:?}"
            )),
        }
    }

    fn apply_in(&self, s: &mut TopologySpec) -> Option<()> {
        match self {
            Edit::SetVlan { at, vlan } => *iface(s, *at)?.vlan = vlan.map(i64::from),
            Edit::Plug { at, bridge, vlan } => {
                let i = iface(s, *at)?;
                *i.bridge = bridge.clone();
                *i.vlan = vlan.map(i64::from);
            }
            Edit::SetGateway { at, gateway } => *gateway_of(s, *at)? = Some(gateway.to_string()),
            Edit::AddRoute { at, to, via } => routes_of(s, *at)?.push(RouteSpec {
                to: to.to_string(),
                via: via.to_string(),
            }),
            Edit::AddSnat { at, source, out } => router(s, *at)?.snat.push(SnatSpec {
                source: source.to_string(),
                out: out.clone(),
            }),
            Edit::AddDnat {
                at,
                in_,
                proto,
                port,
                to,
                to_port,
            } => router(s, *at)?.dnat.push(DnatSpec {
                in_: in_.clone(),
                proto: proto.to_string(),
                port: i64::from(*port),
                to: to.to_string(),
                to_port: i64::from(*to_port),
            }),
            Edit::AddTunnel { kind, between } => s.tunnels.push(tunnel(*kind, between.to_vec())),
            Edit::SetTunnel { tunnel: t, kind } => {
                let old = s.tunnels.get_mut(*t)?;
                *old = tunnel(*kind, old.between.clone());
            }
            Edit::AddInterface {
                at,
                name,
                bridge,
                vlan,
                ip,
            } => router(s, *at)?.interfaces.push(RouterIfaceSpec {
                name: name.clone(),
                bridge: bridge.clone(),
                vlan: vlan.map(i64::from),
                ip: ip.to_string(),
            }),
            Edit::SetRange { at, range } => {
                dhcp(s, *at)?.range = range.iter().map(|a| a.to_string()).collect()
            }
        }
        Some(())
    }

    /// The edit in words, naming things as the file does:
    /// `tag vm3's nic eth0 with VLAN 10`.
    pub fn describe(&self, spec: &TopologySpec) -> String {
        let g = |at: &GuestAt| guest_name(spec, *at);
        let i = |at: &IfaceAt| iface_name(spec, *at);
        match self {
            Edit::SetVlan { at, vlan: Some(v) } => format!("tag {} with VLAN {v}", i(at)),
            Edit::SetVlan { at, vlan: None } => format!("untag {} (no VLAN)", i(at)),
            Edit::Plug { at, bridge, vlan } => {
                let host = host_name(spec, at.guest.host);
                format!("plug {} into {host}/{bridge}{}", i(at), in_vlan(*vlan))
            }
            Edit::SetGateway { at, gateway } => format!("set {}'s gateway to {gateway}", g(at)),
            Edit::AddRoute { at, to, via } => {
                format!("add a route on {} to {to} via {via}", g(at))
            }
            Edit::AddSnat { at, source, out } => {
                format!("masquerade {source} leaving {} by {out} (SNAT)", g(at))
            }
            Edit::AddDnat {
                at,
                in_,
                proto,
                port,
                to,
                to_port,
            } => format!(
                "forward {proto} port {port} arriving on {} {in_} to {to}:{to_port} (DNAT)",
                g(at)
            ),
            Edit::AddTunnel { kind, between } => format!(
                "add a {} tunnel between {} and {}",
                kind_words(*kind),
                between[0],
                between[1]
            ),
            Edit::SetTunnel { tunnel: t, kind } => {
                let ends = spec.tunnels.get(*t).map(|t| t.between.join(" and "));
                let ends = ends.unwrap_or_else(|| format!("tunnels[{t}]"));
                format!("make the tunnel between {ends} {}", kind_words(*kind))
            }
            Edit::AddInterface {
                at,
                name,
                bridge,
                vlan,
                ip,
            } => {
                let host = host_name(spec, at.host);
                let v = in_vlan(*vlan);
                format!(
                    "give {} an interface {name} on {host}/{bridge}{v} with {ip}",
                    g(at)
                )
            }
            Edit::SetRange { at, range } => {
                format!("set {}'s range to {} - {}", g(at), range[0], range[1])
            }
        }
    }
}

/// Apply edits in order.
pub fn apply_all(edits: &[Edit], spec: &TopologySpec) -> Result<TopologySpec, String> {
    let mut out = spec.clone();
    for e in edits {
        out = e.apply(&out)?;
    }
    Ok(out)
}

fn in_vlan(vlan: Option<u16>) -> String {
    vlan.map_or(" (untagged)".into(), |v| format!(" in VLAN {v}"))
}

fn kind_words(kind: TunnelKind) -> String {
    match kind {
        TunnelKind::Gre { key: None } => "GRE (no key)".into(),
        k => k.to_string(),
    }
}

fn tunnel(kind: TunnelKind, between: Vec<String>) -> TunnelSpec {
    let (key, vni) = match kind {
        TunnelKind::Gre { key } => (key.map(i64::from), None),
        TunnelKind::Vxlan { vni } => (None, Some(i64::from(vni))),
    };
    TunnelSpec {
        kind: kind.ovs_type().into(),
        between,
        key,
        vni,
    }
}

fn host_name(spec: &TopologySpec, h: usize) -> &str {
    spec.hosts.get(h).map_or("?", |h| h.name.as_str())
}

/// A vm by its name (`host/vm` when several hosts have one of that name),
/// a dhcp server or router as `host/name`: as `--from` takes them.
fn guest_name(spec: &TopologySpec, at: GuestAt) -> String {
    let Some(host) = spec.hosts.get(at.host) else {
        return "?".into();
    };
    let name = match at.kind {
        Kind::Vm => host.vms.get(at.index).map(|v| &v.name),
        Kind::Dhcp => host.dhcp.get(at.index).map(|d| &d.name),
        Kind::Router => host.routers.get(at.index).map(|r| &r.name),
    };
    let Some(name) = name else {
        return "?".into();
    };
    let vms = spec.hosts.iter().flat_map(|h| &h.vms);
    if at.kind == Kind::Vm && vms.filter(|v| &v.name == name).count() == 1 {
        return name.clone();
    }
    format!("{}/{name}", host.name)
}

fn iface_name(spec: &TopologySpec, at: IfaceAt) -> String {
    let g = guest_name(spec, at.guest);
    match at.guest.kind {
        Kind::Vm => format!("{g}'s nic eth{}", at.iface),
        Kind::Dhcp => format!("dhcp server {g}"),
        Kind::Router => {
            let host = spec.hosts.get(at.guest.host);
            let r = host.and_then(|h| h.routers.get(at.guest.index));
            let i = r.and_then(|r| r.interfaces.get(at.iface));
            format!("{g}'s interface {}", i.map_or("?", |i| i.name.as_str()))
        }
    }
}

/// The bridge and tag fields of an interface, whatever its guest's kind.
struct IfaceSlots<'s> {
    bridge: &'s mut String,
    vlan: &'s mut Option<i64>,
}

fn iface(s: &mut TopologySpec, at: IfaceAt) -> Option<IfaceSlots<'_>> {
    let host = s.hosts.get_mut(at.guest.host)?;
    match at.guest.kind {
        Kind::Vm => {
            let n = host.vms.get_mut(at.guest.index)?.nics.get_mut(at.iface)?;
            Some(IfaceSlots {
                bridge: &mut n.bridge,
                vlan: &mut n.vlan,
            })
        }
        Kind::Dhcp if at.iface == 0 => {
            let d = host.dhcp.get_mut(at.guest.index)?;
            Some(IfaceSlots {
                bridge: &mut d.bridge,
                vlan: &mut d.vlan,
            })
        }
        Kind::Dhcp => None,
        Kind::Router => {
            let r = host.routers.get_mut(at.guest.index)?;
            let i = r.interfaces.get_mut(at.iface)?;
            Some(IfaceSlots {
                bridge: &mut i.bridge,
                vlan: &mut i.vlan,
            })
        }
    }
}

fn gateway_of(s: &mut TopologySpec, at: GuestAt) -> Option<&mut Option<String>> {
    let host = s.hosts.get_mut(at.host)?;
    match at.kind {
        Kind::Vm => Some(&mut host.vms.get_mut(at.index)?.gateway),
        Kind::Router => Some(&mut host.routers.get_mut(at.index)?.gateway),
        Kind::Dhcp => None,
    }
}

fn routes_of(s: &mut TopologySpec, at: GuestAt) -> Option<&mut Vec<RouteSpec>> {
    let host = s.hosts.get_mut(at.host)?;
    match at.kind {
        Kind::Vm => Some(&mut host.vms.get_mut(at.index)?.routes),
        Kind::Router => Some(&mut host.routers.get_mut(at.index)?.routes),
        Kind::Dhcp => None,
    }
}

fn router(s: &mut TopologySpec, at: GuestAt) -> Option<&mut RouterSpec> {
    if at.kind != Kind::Router {
        return None;
    }
    s.hosts.get_mut(at.host)?.routers.get_mut(at.index)
}

fn dhcp(s: &mut TopologySpec, at: GuestAt) -> Option<&mut DhcpSpec> {
    if at.kind != Kind::Dhcp {
        return None;
    }
    s.hosts.get_mut(at.host)?.dhcp.get_mut(at.index)
}
