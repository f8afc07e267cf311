//! Checks a [`TopologySpec`] against every rule of the format and resolves it
//! into a [`Topology`].
//!
//! Every problem is collected, not only the first, each as `path: message`.
//! Checks run in passes: names and local values first, then references, then
//! addresses across the whole file, then the shape of the layer-2 graph.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use crate::names;

mod addresses;
mod dhcp;
mod header;
mod hosts;
mod loops;
mod nat;
mod parse;
mod tunnels;

use crate::problem::Problem;
use crate::spec::*;
use crate::topology::*;
use addresses::Uses;
use parse::{parse_addr, parse_cidr, parse_prefix, show};

/// A valid topology and the warnings about it.
#[derive(Debug, Clone)]
pub struct Checked {
    pub topology: Topology,
    pub warnings: Vec<Problem>,
}

/// Default tunnel network when the file gives none.
pub const DEFAULT_UNDERLAY: &str = "172.31.0.0/24";

/// Validate a parsed file. `Err` holds every problem (errors and warnings).
pub fn validate(spec: &TopologySpec) -> Result<Checked, Vec<Problem>> {
    let mut v = Validator {
        spec,
        problems: Vec::new(),
    };
    let topo = v.run();
    let has_errors = v.problems.iter().any(Problem::is_error);
    match topo {
        Some(topology) if !has_errors => Ok(Checked {
            topology,
            warnings: v.problems,
        }),
        _ => Err(v.problems),
    }
}

struct Validator<'a> {
    spec: &'a TopologySpec,
    problems: Vec<Problem>,
}

/// Where an address is used, for duplicate detection.
struct AddrUse {
    addr: Ipv4Addr,
    path: String,
}

/// A guest interface before its bridge index is known.
struct RawIface<'a> {
    name: String,
    bridge: &'a str,
    vlan: Option<i64>,
    ip: Option<&'a str>,
    mac: Option<&'a str>,
    path: String,
}

/// A guest (vm, DHCP server or router) in the common form the host loop
/// checks: kind, name, path, interfaces, gateway, routes, kind word.
type PendingGuest<'a> = (
    GuestKind,
    &'a str,
    String,
    Vec<RawIface<'a>>,
    Option<&'a str>,
    &'a [RouteSpec],
    &'a str,
);

impl<'a> Validator<'a> {
    fn err(&mut self, path: impl Into<String>, msg: impl Into<String>) {
        self.problems.push(Problem::error(path, msg));
    }

    fn check_name(&mut self, path: String, what: &str, name: &str) {
        if !crate::names::name_ok(name) {
            self.err(
                path,
                format!(
                    "{} is not a valid {what} name: use 1 to 12 characters, a lowercase letter first, then lowercase letters, digits or '-'",
                    show(name)
                ),
            );
        }
    }

    fn check_unique<'n>(&mut self, what: &str, items: impl Iterator<Item = (String, &'n str)>) {
        let mut seen: HashMap<&str, String> = HashMap::new();
        for (path, name) in items {
            if let Some(first) = seen.get(name) {
                let msg = format!("{what} name {} is already used by {first}", show(name));
                self.err(format!("{path}.name"), msg);
            } else {
                seen.insert(name, path);
            }
        }
    }

    fn check_vlan(&mut self, path: String, vlan: Option<i64>) -> Option<u16> {
        match vlan {
            None => None,
            Some(v) if (1..=4094).contains(&v) => Some(v as u16),
            Some(v) => {
                self.err(path, format!("VLAN {v} is outside 1..4094"));
                None
            }
        }
    }

    fn run(&mut self) -> Option<Topology> {
        let spec = self.spec;
        self.check_header();
        let underlay = self.underlay();
        self.check_names();
        let ext_index: HashMap<&str, usize> = spec
            .externals
            .iter()
            .enumerate()
            .map(|(i, e)| (e.name.as_str(), i))
            .collect();

        let mut addr_uses: Vec<AddrUse> = Vec::new();
        let externals = self.externals(&mut addr_uses);

        let mut hosts = Vec::new();
        let mut bridges: Vec<Bridge> = Vec::new();
        let mut guests: Vec<Guest> = Vec::new();
        let mut bridge_index: HashMap<(usize, &str), BridgeId> = HashMap::new();
        let mut dhcp_ranges: Vec<(Ipv4Addr, Ipv4Addr, String)> = Vec::new();
        let mut static_addrs: Vec<AddrUse> = Vec::new();
        let mut user_macs: Vec<(Mac, String)> = Vec::new();
        // Guest interfaces whose MAC is to be generated: (guest, iface).
        let mut mac_todo: Vec<(usize, usize)> = Vec::new();
        let mut underlay_ips: Vec<AddrUse> = Vec::new();

        for (h, host) in spec.hosts.iter().enumerate() {
            let hp = format!("hosts[{h}]");
            // Underlay address.
            let underlay_ip = self.underlay_ip(&hp, h, host, underlay);
            if let Some(a) = underlay_ip {
                underlay_ips.push(AddrUse {
                    addr: a,
                    path: format!("{hp}.underlay_ip"),
                });
            }
            self.check_agent(&hp, host);

            // Bridges.
            for (b, br) in host.bridges.iter().enumerate() {
                let bp = format!("{hp}.bridges[{b}]");
                self.check_name(format!("{bp}.name"), "bridge", &br.name);
                let uplink = self.uplink(&bp, br, &ext_index);
                let id = bridges.len();
                bridge_index.entry((h, br.name.as_str())).or_insert(id);
                bridges.push(Bridge {
                    host: h,
                    name: br.name.clone(),
                    uplink,
                    ovs_name: String::new(),
                    uplink_port: None,
                    uplink_peer: None,
                    path: bp,
                });
            }
            self.check_unique(
                "bridge",
                host.bridges
                    .iter()
                    .enumerate()
                    .map(|(i, x)| (format!("{hp}.bridges[{i}]"), x.name.as_str())),
            );
            self.check_unique(
                "vm",
                host.vms
                    .iter()
                    .enumerate()
                    .map(|(i, x)| (format!("{hp}.vms[{i}]"), x.name.as_str())),
            );
            self.check_unique(
                "dhcp server",
                host.dhcp
                    .iter()
                    .enumerate()
                    .map(|(i, x)| (format!("{hp}.dhcp[{i}]"), x.name.as_str())),
            );
            self.check_unique(
                "router",
                host.routers
                    .iter()
                    .enumerate()
                    .map(|(i, x)| (format!("{hp}.routers[{i}]"), x.name.as_str())),
            );

            let bridge_names: Vec<&str> = host.bridges.iter().map(|b| b.name.as_str()).collect();
            let mut host_guests = Vec::new();

            // Collect every guest of this host in a common form.
            let mut pending: Vec<PendingGuest> = Vec::new();
            for (v, vm) in host.vms.iter().enumerate() {
                let gp = format!("{hp}.vms[{v}]");
                self.check_name(format!("{gp}.name"), "vm", &vm.name);
                let ifaces = vm
                    .nics
                    .iter()
                    .enumerate()
                    .map(|(n, nic)| RawIface {
                        name: format!("eth{n}"),
                        bridge: &nic.bridge,
                        vlan: nic.vlan,
                        ip: nic.ip.as_deref(),
                        mac: nic.mac.as_deref(),
                        path: format!("{gp}.nics[{n}]"),
                    })
                    .collect();
                pending.push((
                    GuestKind::Vm,
                    &vm.name,
                    gp,
                    ifaces,
                    vm.gateway.as_deref(),
                    &vm.routes,
                    "vm",
                ));
            }
            for (d, dh) in host.dhcp.iter().enumerate() {
                let gp = format!("{hp}.dhcp[{d}]");
                self.check_name(format!("{gp}.name"), "dhcp server", &dh.name);
                let ifaces = vec![RawIface {
                    name: "eth0".into(),
                    bridge: &dh.bridge,
                    vlan: dh.vlan,
                    ip: Some(dh.ip.as_str()),
                    mac: None,
                    path: gp.clone(),
                }];
                let server = DhcpServer {
                    range: (Ipv4Addr::UNSPECIFIED, Ipv4Addr::UNSPECIFIED),
                    gateway: None,
                };
                pending.push((
                    GuestKind::Dhcp(server),
                    &dh.name,
                    gp,
                    ifaces,
                    None,
                    &[],
                    "dhcp",
                ));
            }
            for (r, rt) in host.routers.iter().enumerate() {
                let gp = format!("{hp}.routers[{r}]");
                self.check_name(format!("{gp}.name"), "router", &rt.name);
                for (i, ifc) in rt.interfaces.iter().enumerate() {
                    self.check_name(
                        format!("{gp}.interfaces[{i}].name"),
                        "router interface",
                        &ifc.name,
                    );
                }
                self.check_unique(
                    "interface",
                    rt.interfaces
                        .iter()
                        .enumerate()
                        .map(|(i, x)| (format!("{gp}.interfaces[{i}]"), x.name.as_str())),
                );
                let ifaces = rt
                    .interfaces
                    .iter()
                    .enumerate()
                    .map(|(i, ifc)| RawIface {
                        name: ifc.name.clone(),
                        bridge: &ifc.bridge,
                        vlan: ifc.vlan,
                        ip: Some(ifc.ip.as_str()),
                        mac: None,
                        path: format!("{gp}.interfaces[{i}]"),
                    })
                    .collect();
                pending.push((
                    GuestKind::Router(RouterNat::default()),
                    &rt.name,
                    gp,
                    ifaces,
                    rt.gateway.as_deref(),
                    &rt.routes,
                    "router",
                ));
            }

            for (kind, name, gp, raw_ifaces, gateway, routes, kind_word) in pending {
                let gid = guests.len();
                let mut ifaces = Vec::new();
                for (i, ri) in raw_ifaces.into_iter().enumerate() {
                    let bridge = match bridge_index.get(&(h, ri.bridge)) {
                        Some(&b) => Some(b),
                        None => {
                            let known = if bridge_names.is_empty() {
                                format!("host {} has no bridges", show(&host.name))
                            } else {
                                format!(
                                    "bridges of host {}: {}",
                                    show(&host.name),
                                    bridge_names.join(", ")
                                )
                            };
                            self.err(
                                format!("{}.bridge", ri.path),
                                format!("no bridge {} on this host ({known})", show(ri.bridge)),
                            );
                            None
                        }
                    };
                    let vlan = self.check_vlan(format!("{}.vlan", ri.path), ri.vlan);
                    let addr = match ri.ip {
                        None => IfaceAddr::None,
                        Some("dhcp") if kind_word == "vm" => IfaceAddr::Dhcp,
                        Some(s) => {
                            let ip_path = format!("{}.ip", ri.path);
                            match parse_cidr(s) {
                                Ok(n) => {
                                    if n.prefix_len() < 31
                                        && (n.addr() == n.network() || n.addr() == n.broadcast())
                                    {
                                        self.err(&ip_path, format!("{n} is the {} address of its subnet, not a host address", if n.addr() == n.network() { "network" } else { "broadcast" }));
                                    }
                                    addr_uses.push(AddrUse {
                                        addr: n.addr(),
                                        path: ip_path.clone(),
                                    });
                                    static_addrs.push(AddrUse {
                                        addr: n.addr(),
                                        path: ip_path,
                                    });
                                    IfaceAddr::Static(n)
                                }
                                Err(e) => {
                                    let e = if kind_word == "vm" {
                                        format!("{e}, or the word dhcp")
                                    } else {
                                        e
                                    };
                                    self.err(ip_path, e);
                                    IfaceAddr::None
                                }
                            }
                        }
                    };
                    let mac = match ri.mac {
                        None => {
                            mac_todo.push((gid, i));
                            Mac([0; 6])
                        }
                        Some(s) => match s.parse::<Mac>() {
                            Ok(m) if m.is_multicast() => {
                                self.err(format!("{}.mac", ri.path), format!("{m} is a multicast address: a nic needs a unicast MAC (first byte even)"));
                                m
                            }
                            Ok(m) if m == Mac([0; 6]) => {
                                self.err(
                                    format!("{}.mac", ri.path),
                                    "00:00:00:00:00:00 cannot be a nic's MAC",
                                );
                                m
                            }
                            Ok(m) => {
                                user_macs.push((m, format!("{}.mac", ri.path)));
                                m
                            }
                            Err(e) => {
                                self.err(format!("{}.mac", ri.path), e);
                                Mac([0; 6])
                            }
                        },
                    };
                    ifaces.push(Iface {
                        name: ri.name,
                        bridge: bridge.unwrap_or(usize::MAX),
                        vlan,
                        addr,
                        mac,
                        port: String::new(),
                        path: ri.path,
                    });
                }
                let gateway = gateway.and_then(|g| match parse_addr(g) {
                    Ok(a) => Some(a),
                    Err(e) => {
                        self.err(format!("{gp}.gateway"), e);
                        None
                    }
                });
                let mut rs = Vec::new();
                let mut next_hops: Vec<(String, Ipv4Addr)> = gateway
                    .map(|a| (format!("{gp}.gateway"), a))
                    .into_iter()
                    .collect();
                for (r, route) in routes.iter().enumerate() {
                    let to = parse_prefix(&route.to)
                        .map_err(|e| self.err(format!("{gp}.routes[{r}].to"), e))
                        .ok();
                    let via = parse_addr(&route.via)
                        .map_err(|e| self.err(format!("{gp}.routes[{r}].via"), e))
                        .ok();
                    if let Some(via) = via {
                        next_hops.push((format!("{gp}.routes[{r}].via"), via));
                    }
                    if let (Some(to), Some(via)) = (to, via) {
                        rs.push(Route { to, via });
                    }
                }
                // A next hop must lie on a subnet of the guest itself; a dhcp
                // interface's subnet is only known once it has its lease.
                let nets: Vec<Ipv4Net> =
                    ifaces.iter().filter_map(|i| i.addr.static_net()).collect();
                let has_dhcp = ifaces.iter().any(|i| i.addr == IfaceAddr::Dhcp);
                for (path, a) in next_hops {
                    if !has_dhcp && !nets.iter().any(|n| n.contains(&a)) {
                        let subnets = if nets.is_empty() {
                            "it has no addressed interface".to_string()
                        } else {
                            format!(
                                "its subnets: {}",
                                nets.iter()
                                    .map(|n| n.trunc().to_string())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            )
                        };
                        self.err(path, format!("{a} is not in a subnet of this {kind_word}'s interfaces ({subnets})"));
                    }
                }
                host_guests.push(gid);
                guests.push(Guest {
                    host: h,
                    name: name.to_string(),
                    kind,
                    ifaces,
                    gateway,
                    routes: rs,
                    netns: names::guest_netns(&spec.name, &host.name, kind_word, name),
                    path: gp,
                });
            }

            // DHCP servers: range and router option.
            for (d, dh) in host.dhcp.iter().enumerate() {
                let gp = format!("{hp}.dhcp[{d}]");
                let g = host_guests[host.vms.len() + d];
                let net = guests[g].ifaces[0].addr.static_net();
                if let Some(server) = self.dhcp_server(&gp, dh, net, &mut dhcp_ranges) {
                    guests[g].kind = GuestKind::Dhcp(server);
                }
            }

            // Router NAT rules.
            for (r, rt) in host.routers.iter().enumerate() {
                let gp = format!("{hp}.routers[{r}]");
                let g = host_guests[host.vms.len() + host.dhcp.len() + r];
                let nat = self.router_nat(&gp, rt);
                guests[g].kind = GuestKind::Router(nat);
            }

            hosts.push(Host {
                name: host.name.clone(),
                underlay_ip: underlay_ip.unwrap_or(Ipv4Addr::UNSPECIFIED),
                agent: host.agent.clone(),
                bridges: (bridges.len() - host.bridges.len()..bridges.len()).collect(),
                guests: host_guests,
                netns: names::host_netns(&spec.name, &host.name),
                underlay_peer: String::new(),
                path: hp,
            });
        }

        self.check_addresses(&Uses {
            addrs: &addr_uses,
            underlay_ips: &underlay_ips,
            user_macs: &user_macs,
            static_addrs: &static_addrs,
            dhcp_ranges: &dhcp_ranges,
        });
        let tunnels = self.tunnels(&bridges, &bridge_index);
        self.check_loops(&bridges, &tunnels);
        self.check_layout();

        let underlay = underlay?;
        if self.problems.iter().any(Problem::is_error) {
            return None;
        }

        let mut topo = Topology {
            name: spec.name.clone(),
            underlay,
            externals,
            hosts,
            bridges,
            guests,
            tunnels,
            spec: spec.clone(),
        };
        names::assign(&mut topo, &mac_todo);
        self.warn_arp_flux(&topo);
        Some(topo)
    }

    /// A guest with two interfaces on one layer-2 segment answers ARP from either: a race.
    fn warn_arp_flux(&mut self, topo: &Topology) {
        let segment = crate::graph::segments(topo);
        for g in &topo.guests {
            let mut seen: HashMap<(usize, u16), &str> = HashMap::new();
            for i in &g.ifaces {
                let key = (segment[i.bridge], i.vlan.unwrap_or(0));
                if let Some(first) = seen.get(&key) {
                    self.problems.push(Problem::warning(
                        i.path.clone(),
                        format!("this interface and {first} of the same {} are on one layer-2 segment: which one answers ARP first is a race (ARP flux), so traffic may use either", g.kind_word()),
                    ));
                } else {
                    seen.insert(key, &i.path);
                }
            }
        }
    }
}
