//! The logical model of a topology under OVN.
//!
//! - A segment (bridges joined by tunnels, or uplinked to the same external
//!   network: [`crate::graph::segments`]) carries one logical switch per VLAN
//!   in use, the untagged one included: a guest drops tagged frames, so each
//!   (segment, VLAN) is its own broadcast domain, which is what a logical
//!   switch is. Tunnels' types and keys have no counterpart: OVN joins every
//!   pair of chassis with Geneve (validation warns about it).
//! - Every vm nic and dhcp server is a VIF port: static addresses as
//!   `"MAC IP"` (so OVN answers ARP for them, as the guest would), a DHCP
//!   client or an address-less nic as `"MAC"` alone: its address comes from
//!   the design's dnsmasq, so OVN must neither answer ARP for it nor filter
//!   its traffic (no `port_security`, as the OVS engine filters nothing).
//!   The port asks to be bound on its host (`options:requested-chassis`).
//! - A dhcp server stays a dnsmasq namespace plugged in like a vm, rather than
//!   OVN's native DHCP: it keeps its own address answering ping and hands out
//!   leases sequentially (`--dhcp-sequential-ip`), which the simulator
//!   predicts; OVN's DHCP answers from the port's configured address only.
//! - A router is a gateway router pinned to its host's chassis, one router
//!   port per interface peered with a `router` port on the interface's
//!   switch; its `gateway` and `routes` are static routes, each `snat` a NAT
//!   row, and its `dnat` port forwards a load balancer per protocol (as
//!   Neutron's port forwarding does).
//! - An external network is a `localnet` port on the untagged switch of the
//!   segment its bridges are uplinked into; each host with such a bridge maps
//!   the physical network to that bridge ([`Chassis::bridge_mappings`]).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use super::{iface_id, physnet, system_id};
use crate::topology::{
    BridgeId, ExternalId, GuestId, GuestKind, HostId, IfaceAddr, L4Proto, Mac, Topology,
};

/// A topology's logical network.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Logical {
    /// The topology's name, the value of every row's mark.
    pub topology: String,
    /// By first bridge of the segment, then VLAN (untagged first).
    pub switches: Vec<Switch>,
    /// In guest order.
    pub routers: Vec<Router>,
}

/// One logical switch: a segment's VLAN (or its untagged traffic).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Switch {
    /// `<topology>.<host>.<bridge>[.v<vlan>]`, after the segment's first bridge in file order.
    pub name: String,
    /// The segment's first bridge in file order.
    pub bridge: BridgeId,
    pub vlan: Option<u16>,
    pub ports: Vec<SwitchPort>,
}

/// A logical switch port.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SwitchPort {
    pub name: String,
    pub kind: PortKind,
    /// `addresses` as OVN reads it: `"MAC IP"`, `"MAC"`, `"router"` or `"unknown"`.
    pub addresses: Vec<String>,
}

/// What a switch port connects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum PortKind {
    /// A vm's or dhcp server's interface on a host's `br-int`; the port's
    /// name is its [`iface_id`].
    Vif {
        guest: GuestId,
        iface: usize,
        host: HostId,
        /// The chassis it is bound on.
        chassis: String,
    },
    /// The peer of a router port (`type=router`).
    Router { router_port: String },
    /// An external network (`type=localnet`).
    Localnet {
        external: ExternalId,
        network_name: String,
    },
}

impl PortKind {
    /// `type` of the port in the northbound database (`""` for a VIF).
    pub fn ovn_type(&self) -> &'static str {
        match self {
            PortKind::Vif { .. } => "",
            PortKind::Router { .. } => "router",
            PortKind::Localnet { .. } => "localnet",
        }
    }
}

/// A gateway router.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Router {
    /// `<topology>.<host>.<router>`
    pub name: String,
    pub guest: GuestId,
    /// The chassis it is pinned to (`options:chassis`).
    pub chassis: String,
    pub ports: Vec<RouterPort>,
    /// The default route first, then `routes` in file order.
    pub routes: Vec<StaticRoute>,
    pub snat: Vec<Snat>,
    /// One per protocol with forwards, tcp first.
    pub load_balancers: Vec<LoadBalancer>,
}

/// A router port: one interface of the router.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RouterPort {
    /// `lrp-` and the name of its peer switch port, `<topology>.<host>.router.<router>.<iface>`.
    pub name: String,
    pub iface: usize,
    pub mac: Mac,
    pub network: Ipv4Net,
}

/// A static route of a router.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaticRoute {
    pub prefix: Ipv4Net,
    pub nexthop: Ipv4Addr,
}

/// Masquerade `source` to the address of interface `out`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snat {
    pub source: Ipv4Net,
    pub external_ip: Ipv4Addr,
}

/// A router's port forwards of one protocol.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadBalancer {
    /// `<router name>.<protocol>`
    pub name: String,
    pub protocol: L4Proto,
    /// `"in address:port"` → `"to:to_port"`.
    pub vips: BTreeMap<String, String>,
}

/// What a host's `ovn-controller` is told (its Open vSwitch's `external_ids`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Chassis {
    /// `system-id`
    pub system_id: String,
    /// `ovn-encap-type`: always `geneve`.
    pub encap_type: String,
    /// `ovn-encap-ip`: the host's underlay address.
    pub encap_ip: Ipv4Addr,
    /// `ovn-bridge-mappings`: physical network → provider bridge, the OVS
    /// bridge ([`crate::topology::Bridge::ovs_name`]) of the host's first
    /// bridge uplinked to that external network, with its uplink port.
    pub bridge_mappings: Vec<(String, String)>,
}

impl Chassis {
    /// `ovn-bridge-mappings` as OVS stores it: `physnet:bridge,...`.
    pub fn bridge_mappings_text(&self) -> String {
        let pairs: Vec<String> = self
            .bridge_mappings
            .iter()
            .map(|(net, br)| format!("{net}:{br}"))
            .collect();
        pairs.join(",")
    }
}

/// The chassis configuration of host `host`.
pub fn chassis(topo: &Topology, host: HostId) -> Chassis {
    let mut bridge_mappings: Vec<(String, String)> = Vec::new();
    for &b in &topo.hosts[host].bridges {
        let br = &topo.bridges[b];
        if let Some(e) = br.uplink {
            let net = physnet(topo, e);
            // One provider bridge per network: OVN takes one mapping per
            // physical network, and two bridges uplinked to the same
            // external are one segment anyway.
            if bridge_mappings.iter().all(|(n, _)| *n != net) {
                bridge_mappings.push((net, br.ovs_name.clone()));
            }
        }
    }
    Chassis {
        system_id: system_id(topo, host),
        encap_type: "geneve".into(),
        encap_ip: topo.hosts[host].underlay_ip,
        bridge_mappings,
    }
}

/// The logical network of a validated topology (any engine: the result
/// only means something under `engine: ovn`, whose extra rules validation checks).
pub fn logical(topo: &Topology) -> Logical {
    let first = segment_first_bridge(topo);
    let mut switches: BTreeMap<(BridgeId, Option<u16>), Switch> = BTreeMap::new();
    let mut routers = Vec::new();
    for (g, guest) in topo.guests.iter().enumerate() {
        for (i, iface) in guest.ifaces.iter().enumerate() {
            let key = (first[iface.bridge], iface.vlan);
            let sw = switches
                .entry(key)
                .or_insert_with(|| new_switch(topo, key.0, key.1));
            sw.ports.push(guest_port(topo, g, i));
        }
        if guest.is_router() {
            routers.push(router(topo, g));
        }
    }
    for (e, _) in topo.externals.iter().enumerate() {
        let uplinked = topo.bridges.iter().position(|b| b.uplink == Some(e));
        // Only a segment with untagged guests needs the external network:
        // tagged frames reaching it are dropped by its upstream router.
        if let Some(sw) = uplinked.and_then(|b| switches.get_mut(&(first[b], None))) {
            let network_name = physnet(topo, e);
            sw.ports.push(SwitchPort {
                name: network_name.clone(),
                kind: PortKind::Localnet {
                    external: e,
                    network_name,
                },
                addresses: vec!["unknown".into()],
            });
        }
    }
    Logical {
        topology: topo.name.clone(),
        switches: switches.into_values().collect(),
        routers,
    }
}

/// For each bridge, the first bridge (in file order) of its segment.
fn segment_first_bridge(topo: &Topology) -> Vec<BridgeId> {
    let seg = crate::graph::segments(topo);
    let mut first: BTreeMap<usize, BridgeId> = BTreeMap::new();
    for (b, s) in seg.iter().enumerate() {
        first.entry(*s).or_insert(b);
    }
    seg.iter().map(|s| first[s]).collect()
}

fn new_switch(topo: &Topology, bridge: BridgeId, vlan: Option<u16>) -> Switch {
    let br = &topo.bridges[bridge];
    let mut name = format!("{}.{}.{}", topo.name, topo.hosts[br.host].name, br.name);
    if let Some(v) = vlan {
        name.push_str(&format!(".v{v}"));
    }
    Switch {
        name,
        bridge,
        vlan,
        ports: Vec::new(),
    }
}

/// The switch port of interface `i` of guest `g`: a VIF, or a router port's peer.
fn guest_port(topo: &Topology, g: GuestId, i: usize) -> SwitchPort {
    let guest = &topo.guests[g];
    let iface = &guest.ifaces[i];
    if guest.is_router() {
        // `<topology>.<host>.router.<router>.<iface>`, like a vm's port.
        let name = iface_id(topo, g, i);
        return SwitchPort {
            kind: PortKind::Router {
                router_port: format!("lrp-{name}"),
            },
            name,
            addresses: vec!["router".into()],
        };
    }
    let address = match iface.addr {
        IfaceAddr::Static(net) => format!("{} {}", iface.mac, net.addr()),
        IfaceAddr::Dhcp | IfaceAddr::None => iface.mac.to_string(),
    };
    SwitchPort {
        name: iface_id(topo, g, i),
        kind: PortKind::Vif {
            guest: g,
            iface: i,
            host: guest.host,
            chassis: system_id(topo, guest.host),
        },
        addresses: vec![address],
    }
}

fn router(topo: &Topology, g: GuestId) -> Router {
    let guest = &topo.guests[g];
    let host = &topo.hosts[guest.host];
    let name = format!("{}.{}.{}", topo.name, host.name, guest.name);
    let addr = |i: usize| guest.ifaces[i].addr.static_net();
    let ports = (0..guest.ifaces.len())
        .filter_map(|i| {
            Some(RouterPort {
                name: format!("lrp-{}", iface_id(topo, g, i)),
                iface: i,
                mac: guest.ifaces[i].mac,
                network: addr(i)?,
            })
        })
        .collect();
    let default = guest.gateway.map(|nexthop| StaticRoute {
        prefix: Ipv4Net::default(),
        nexthop,
    });
    let routes = default
        .into_iter()
        .chain(guest.routes.iter().map(|r| StaticRoute {
            prefix: r.to,
            nexthop: r.via,
        }))
        .collect();
    let (snat, load_balancers) = match &guest.kind {
        GuestKind::Router(nat) => {
            let snat = nat
                .snat
                .iter()
                .filter_map(|s| {
                    Some(Snat {
                        source: s.source,
                        external_ip: addr(s.out)?.addr(),
                    })
                })
                .collect();
            let mut lbs = Vec::new();
            for protocol in [L4Proto::Tcp, L4Proto::Udp] {
                let vips: BTreeMap<String, String> = nat
                    .dnat
                    .iter()
                    .filter(|d| d.proto == protocol)
                    .filter_map(|d| {
                        let vip = format!("{}:{}", addr(d.in_iface)?.addr(), d.port);
                        Some((vip, format!("{}:{}", d.to, d.to_port)))
                    })
                    .collect();
                if !vips.is_empty() {
                    lbs.push(LoadBalancer {
                        name: format!("{name}.{protocol}"),
                        protocol,
                        vips,
                    });
                }
            }
            (snat, lbs)
        }
        _ => (Vec::new(), Vec::new()),
    };
    Router {
        name,
        guest: g,
        chassis: system_id(topo, guest.host),
        ports,
        routes,
        snat,
        load_balancers,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Topology {
        crate::load(text).unwrap().topology
    }

    fn example(name: &str) -> Topology {
        let path = format!("{}/../examples/{name}.yaml", env!("CARGO_MANIFEST_DIR"));
        load(&std::fs::read_to_string(path).unwrap())
    }

    #[test]
    fn the_seed_lab_is_one_switch_per_vlan_across_the_tunnel() {
        let l = logical(&example("seedlab-gre"));
        let names: Vec<&str> = l.switches.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            ["seedlab.node1.br-in.v10", "seedlab.node1.br-in.v20"]
        );
        let v10: Vec<&str> = l.switches[0]
            .ports
            .iter()
            .map(|p| p.name.as_str())
            .collect();
        assert_eq!(v10, ["seedlab.node1.vm1.eth0", "seedlab.node2.vm3.eth0"]);
        let mac = example("seedlab-gre").guests[2].ifaces[0].mac;
        assert_eq!(
            l.switches[0].ports[1].addresses,
            [format!("{mac} 10.0.10.2")]
        );
        match &l.switches[0].ports[1].kind {
            PortKind::Vif { chassis, host, .. } => {
                assert_eq!(chassis, "seedlab.node2");
                assert_eq!(*host, 1);
            }
            other => panic!("not a VIF: {other:?}"),
        }
        assert!(l.routers.is_empty());
    }

    #[test]
    fn dhcp_clients_carry_their_mac_alone() {
        let t = example("dhcp");
        let l = logical(&t);
        let v10 = l.switches.iter().find(|s| s.vlan == Some(10)).unwrap();
        let vm2 = v10
            .ports
            .iter()
            .find(|p| p.name == "dhcplab.node2.vm2.eth0")
            .unwrap();
        let mac = t.guests[t.find_guest("node2", "vm2").unwrap()].ifaces[0].mac;
        assert_eq!(vm2.addresses, [mac.to_string()]);
        // The server is a VIF with its own address; the router a peer port.
        let kinds: Vec<&str> = v10.ports.iter().map(|p| p.kind.ovn_type()).collect();
        assert_eq!(kinds, ["", "router", "", ""]);
    }

    #[test]
    fn the_nat_router_is_a_gateway_router_with_snat_a_forward_and_a_localnet() {
        let t = example("nat");
        let l = logical(&t);
        let r = &l.routers[0];
        assert_eq!(r.name, "natlab.node1.r1");
        assert_eq!(r.chassis, "natlab.node1");
        let nets: Vec<String> = r.ports.iter().map(|p| p.network.to_string()).collect();
        assert_eq!(nets, ["10.0.0.254/24", "198.51.100.2/24"]);
        assert_eq!(r.ports[1].name, "lrp-natlab.node1.router.r1.qg0");
        assert_eq!(
            r.routes,
            [StaticRoute {
                prefix: "0.0.0.0/0".parse().unwrap(),
                nexthop: "198.51.100.1".parse().unwrap()
            }]
        );
        assert_eq!(r.snat[0].external_ip.to_string(), "198.51.100.2");
        assert_eq!(r.load_balancers[0].name, "natlab.node1.r1.tcp");
        assert_eq!(
            r.load_balancers[0]
                .vips
                .get("198.51.100.2:8080")
                .map(String::as_str),
            Some("10.0.0.1:80")
        );
        let ex = l
            .switches
            .iter()
            .find(|s| s.name == "natlab.node1.br-ex")
            .unwrap();
        let last = ex.ports.last().unwrap();
        assert_eq!(last.kind.ovn_type(), "localnet");
        assert_eq!(last.name, "natlab._ext.internet");
        assert_eq!(last.addresses, ["unknown"]);
        let c = chassis(&t, 0);
        assert_eq!(c.encap_ip.to_string(), "172.31.0.1");
        assert_eq!(c.encap_type, "geneve");
        assert_eq!(
            c.bridge_mappings_text(),
            format!("natlab._ext.internet:{}", t.bridges[1].ovs_name)
        );
    }

    #[test]
    fn a_chassis_without_uplinks_maps_nothing() {
        let t = example("seedlab-gre");
        let c = chassis(&t, 1);
        assert_eq!(c.system_id, "seedlab.node2");
        assert_eq!(c.encap_ip.to_string(), "172.31.0.2");
        assert!(c.bridge_mappings.is_empty());
        assert_eq!(c.bridge_mappings_text(), "");
    }
}
