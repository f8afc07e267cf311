//! A host's guests (vms, DHCP servers, routers): their interfaces, gateway and routes.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::parse::{parse_addr, parse_cidr, parse_prefix, show};
use super::{AddrUse, Collected, PendingGuest, RawIface, Validator};
use crate::names;
use crate::spec::HostSpec;
use crate::topology::*;

impl<'a> Validator<'a> {
    /// Every guest of host `hp` in the common form, in the order vms, DHCP
    /// servers, routers: the later passes find a guest by that order.
    pub(super) fn pending_guests(&mut self, hp: &str, host: &'a HostSpec) -> Vec<PendingGuest<'a>> {
        let mut pending = self.pending_vms(hp, host);
        pending.extend(self.pending_dhcp(hp, host));
        pending.extend(self.pending_routers(hp, host));
        pending
    }

    /// The vms of host `hp`; a nic's interface is `eth` and its index.
    fn pending_vms(&mut self, hp: &str, host: &'a HostSpec) -> Vec<PendingGuest<'a>> {
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
        pending
    }

    /// The DHCP servers of host `hp`, each with its one interface; range and
    /// options are checked once the interface's subnet is known.
    fn pending_dhcp(&mut self, hp: &str, host: &'a HostSpec) -> Vec<PendingGuest<'a>> {
        let mut pending: Vec<PendingGuest> = Vec::new();
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
        pending
    }

    /// The routers of host `hp`, whose interfaces are named in the file;
    /// NAT rules are checked once the interfaces are known.
    fn pending_routers(&mut self, hp: &str, host: &'a HostSpec) -> Vec<PendingGuest<'a>> {
        let mut pending: Vec<PendingGuest> = Vec::new();
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
        pending
    }

    /// The guest `pending` of host `h`, checked and added to `c`; returns its id.
    pub(super) fn guest(
        &mut self,
        h: usize,
        host: &HostSpec,
        bridge_names: &[&str],
        pending: PendingGuest<'a>,
        c: &mut Collected<'a>,
    ) -> usize {
        let (kind, name, gp, raw_ifaces, gateway, routes, kind_word) = pending;
        let gid = c.guests.len();
        let mut ifaces = Vec::new();
        for (i, ri) in raw_ifaces.into_iter().enumerate() {
            let bridge = self.iface_bridge(h, host, bridge_names, &ri, &c.bridge_index);
            let vlan = self.check_vlan(format!("{}.vlan", ri.path), ri.vlan);
            let addr = self.iface_addr(&ri, kind_word, c);
            let mac = self.iface_mac(&ri, (gid, i), c);
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
        self.check_next_hops(&ifaces, next_hops, kind_word);
        c.guests.push(Guest {
            host: h,
            name: name.to_string(),
            kind,
            ifaces,
            gateway,
            routes: rs,
            netns: names::guest_netns(&self.spec.name, &host.name, kind_word, name),
            path: gp,
        });
        gid
    }

    /// The bridge an interface names; it must be on the guest's own host.
    fn iface_bridge(
        &mut self,
        h: usize,
        host: &HostSpec,
        bridge_names: &[&str],
        ri: &RawIface,
        bridge_index: &HashMap<(usize, &str), BridgeId>,
    ) -> Option<BridgeId> {
        match bridge_index.get(&(h, ri.bridge)) {
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
        }
    }

    /// An interface's address: none, `dhcp` (vms only) or a host address with
    /// its prefix, which goes to `c` for the duplicate checks.
    fn iface_addr(&mut self, ri: &RawIface, kind_word: &str, c: &mut Collected) -> IfaceAddr {
        match ri.ip {
            None => IfaceAddr::None,
            Some("dhcp") if kind_word == "vm" => IfaceAddr::Dhcp,
            Some(s) => {
                let ip_path = format!("{}.ip", ri.path);
                match parse_cidr(s) {
                    Ok(n) => {
                        if n.prefix_len() < 31
                            && (n.addr() == n.network() || n.addr() == n.broadcast())
                        {
                            self.err(
                                &ip_path,
                                format!(
                                    "{n} is the {} address of its subnet, not a host address",
                                    if n.addr() == n.network() {
                                        "network"
                                    } else {
                                        "broadcast"
                                    }
                                ),
                            );
                        }
                        c.addr_uses.push(AddrUse {
                            addr: n.addr(),
                            path: ip_path.clone(),
                        });
                        c.static_addrs.push(AddrUse {
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
        }
    }

    /// An interface's MAC as written, or a placeholder noted in `c` under
    /// `at` (guest, iface) to be generated once all names are known.
    fn iface_mac(&mut self, ri: &RawIface, at: (usize, usize), c: &mut Collected) -> Mac {
        match ri.mac {
            None => {
                c.mac_todo.push(at);
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
                    c.user_macs.push((m, format!("{}.mac", ri.path)));
                    m
                }
                Err(e) => {
                    self.err(format!("{}.mac", ri.path), e);
                    Mac([0; 6])
                }
            },
        }
    }

    /// A next hop must lie on a subnet of the guest itself; a dhcp
    /// interface's subnet is only known once it has its lease.
    fn check_next_hops(
        &mut self,
        ifaces: &[Iface],
        next_hops: Vec<(String, Ipv4Addr)>,
        kind_word: &str,
    ) {
        let nets: Vec<Ipv4Net> = ifaces.iter().filter_map(|i| i.addr.static_net()).collect();
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
                self.err(
                    path,
                    format!("{a} is not in a subnet of this {kind_word}'s interfaces ({subnets})"),
                );
            }
        }
    }
}
