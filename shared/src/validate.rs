//! Checks a [`TopologySpec`] against every rule of the format and resolves it
//! into a [`Topology`].
//!
//! Every problem is collected, not only the first, each as `path: message`.
//! Checks run in passes: names and local values first, then references, then
//! addresses across the whole file, then the shape of the layer-2 graph.

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use crate::names;
use crate::problem::Problem;
use crate::spec::*;
use crate::topology::*;

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

fn show(s: &str) -> String {
    const MAX: usize = 40;
    if s.chars().count() > MAX {
        let cut: String = s.chars().take(MAX).collect();
        format!("{cut:?}...")
    } else {
        format!("{s:?}")
    }
}

/// Parse `a.b.c.d/n` as an interface address (host bits allowed).
fn parse_cidr(s: &str) -> Result<Ipv4Net, String> {
    if !s.contains('/') {
        return Err(format!(
            "{} has no prefix length: write an address with its subnet, like 10.0.0.1/24",
            show(s)
        ));
    }
    s.parse::<Ipv4Net>().map_err(|_| match s.split_once('/') {
        Some((a, _)) if a.parse::<Ipv4Addr>().is_ok() => {
            format!(
                "{}: the prefix length must be a number in 0..32, like 10.0.0.1/24",
                show(s)
            )
        }
        _ => format!(
            "{} is not an IPv4 address with prefix, like 10.0.0.1/24",
            show(s)
        ),
    })
}

fn parse_addr(s: &str) -> Result<Ipv4Addr, String> {
    s.parse::<Ipv4Addr>()
        .map_err(|_| format!("{} is not an IPv4 address, like 10.0.0.254", show(s)))
}

fn parse_prefix(s: &str) -> Result<Ipv4Net, String> {
    let net = parse_cidr(s)?;
    if net.network() != net.addr() {
        return Err(format!(
            "{} has host bits set: the network is {}",
            show(s),
            net.trunc()
        ));
    }
    Ok(net)
}

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
        if spec.version != 1 {
            self.err(
                "version",
                format!(
                    "version {} is not supported: this is version 1 of the format",
                    spec.version
                ),
            );
        }
        self.check_name("name".into(), "topology", &spec.name);

        let underlay = match &spec.underlay {
            None => DEFAULT_UNDERLAY.parse::<Ipv4Net>().ok(),
            Some(u) => {
                match parse_prefix(u) {
                    Ok(n) if n.prefix_len() <= 30 => Some(n),
                    Ok(n) => {
                        self.err("underlay", format!("{n} is too small for a tunnel network: use a prefix of /30 or shorter"));
                        None
                    }
                    Err(e) => {
                        self.err("underlay", e);
                        None
                    }
                }
            }
        };

        // Names and uniqueness.
        for (i, e) in spec.externals.iter().enumerate() {
            self.check_name(format!("externals[{i}].name"), "external network", &e.name);
        }
        self.check_unique(
            "external network",
            spec.externals
                .iter()
                .enumerate()
                .map(|(i, e)| (format!("externals[{i}]"), e.name.as_str())),
        );
        for (h, host) in spec.hosts.iter().enumerate() {
            self.check_name(format!("hosts[{h}].name"), "host", &host.name);
        }
        self.check_unique(
            "host",
            spec.hosts
                .iter()
                .enumerate()
                .map(|(i, x)| (format!("hosts[{i}]"), x.name.as_str())),
        );

        let ext_index: HashMap<&str, usize> = spec
            .externals
            .iter()
            .enumerate()
            .map(|(i, e)| (e.name.as_str(), i))
            .collect();

        // Externals.
        let mut externals = Vec::new();
        let mut addr_uses: Vec<AddrUse> = Vec::new();
        for (i, e) in spec.externals.iter().enumerate() {
            let path = format!("externals[{i}].gateway");
            match parse_cidr(&e.gateway) {
                Ok(gw) => {
                    if gw.prefix_len() > 30 {
                        self.err(&path, format!("{gw}: the segment needs room for the topology's own addresses, use /30 or shorter"));
                    } else if gw.addr() == gw.network() || gw.addr() == gw.broadcast() {
                        self.err(&path, format!("{gw} is not a host address of its subnet {}: the upstream router needs one, like {}/{}", gw.trunc(), Ipv4Addr::from(u32::from(gw.network()) + 1), gw.prefix_len()));
                    }
                    addr_uses.push(AddrUse {
                        addr: gw.addr(),
                        path: path.clone(),
                    });
                    externals.push(External {
                        name: e.name.clone(),
                        gateway: gw,
                        mac: Mac([0; 6]),
                        netns: names::external_netns(&spec.name, &e.name),
                        path: format!("externals[{i}]"),
                    });
                }
                Err(msg) => self.err(path, msg),
            }
        }

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
            let underlay_ip = match (&host.underlay_ip, underlay) {
                (Some(s), u) => match parse_addr(s) {
                    Ok(a) => {
                        if let Some(u) = u {
                            if !u.contains(&a) || a == u.network() || a == u.broadcast() {
                                self.err(
                                    format!("{hp}.underlay_ip"),
                                    format!("{a} is not a host address of the underlay {u}"),
                                );
                            }
                        }
                        Some(a)
                    }
                    Err(e) => {
                        self.err(format!("{hp}.underlay_ip"), e);
                        None
                    }
                },
                (None, Some(u)) => {
                    let n = u32::from(u.network()).checked_add(h as u32 + 1);
                    match n.map(Ipv4Addr::from) {
                        Some(a) if u.contains(&a) && a != u.broadcast() => Some(a),
                        _ => {
                            self.err(
                                format!("{hp}.underlay_ip"),
                                format!("the underlay {u} has no address left for host {}: give underlay_ip or a larger underlay", h + 1),
                            );
                            None
                        }
                    }
                }
                (None, None) => None,
            };
            if let Some(a) = underlay_ip {
                underlay_ips.push(AddrUse {
                    addr: a,
                    path: format!("{hp}.underlay_ip"),
                });
            }
            if let Some(agent) = &host.agent {
                let ok = (agent.starts_with("https://") || agent.starts_with("http://"))
                    && agent.len() > "https://".len()
                    && !agent.chars().any(|c| c.is_whitespace() || c.is_control());
                if !ok {
                    self.err(
                        format!("{hp}.agent"),
                        format!(
                            "{} is not an agent URL: write it like https://node1.example.net:7311",
                            show(agent)
                        ),
                    );
                }
            }

            // Bridges.
            for (b, br) in host.bridges.iter().enumerate() {
                let bp = format!("{hp}.bridges[{b}]");
                self.check_name(format!("{bp}.name"), "bridge", &br.name);
                let uplink = match &br.uplink {
                    None => None,
                    Some(u) => match ext_index.get(u.as_str()) {
                        Some(&e) => Some(e),
                        None => {
                            let known = if spec.externals.is_empty() {
                                "the file has no externals".to_string()
                            } else {
                                format!(
                                    "known: {}",
                                    spec.externals
                                        .iter()
                                        .map(|e| e.name.as_str())
                                        .collect::<Vec<_>>()
                                        .join(", ")
                                )
                            };
                            self.err(
                                format!("{bp}.uplink"),
                                format!("no external network named {} ({known})", show(u)),
                            );
                            None
                        }
                    },
                };
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
            let mut pending: Vec<(
                GuestKind,
                &str,
                String,
                Vec<RawIface>,
                Option<&str>,
                &[RouteSpec],
                &str,
            )> = Vec::new();
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
                if dh.range.len() != 2 {
                    self.err(
                        format!("{gp}.range"),
                        format!(
                            "a range is two addresses [first, last], not {}",
                            dh.range.len()
                        ),
                    );
                }
                let parsed: Vec<Option<Ipv4Addr>> = dh
                    .range
                    .iter()
                    .take(2)
                    .enumerate()
                    .map(|(i, s)| {
                        parse_addr(s)
                            .map_err(|e| self.err(format!("{gp}.range[{i}]"), e))
                            .ok()
                    })
                    .collect();
                let mut range = None;
                if let [Some(a), Some(b)] = parsed[..] {
                    if a > b {
                        self.err(
                            format!("{gp}.range"),
                            format!(
                                "the range starts at {a}, after its end {b}: write [first, last]"
                            ),
                        );
                    } else if let Some(n) = net {
                        let inside =
                            |x: Ipv4Addr| n.contains(&x) && x != n.network() && x != n.broadcast();
                        let mut ok = true;
                        for (i, x) in [(0, a), (1, b)] {
                            if !inside(x) {
                                ok = false;
                                self.err(
                                    format!("{gp}.range[{i}]"),
                                    format!(
                                        "{x} is not a host address of the server's subnet {}",
                                        n.trunc()
                                    ),
                                );
                            }
                        }
                        if (a..=b).contains(&n.addr()) {
                            ok = false;
                            self.err(format!("{gp}.range"), format!("the range {a}..{b} includes the server's own address {}: leave it out of the range", n.addr()));
                        }
                        // A range already reported would only repeat itself in the checks against other addresses.
                        if ok {
                            dhcp_ranges.push((a, b, format!("{gp}.range")));
                        }
                    }
                    range = Some((a, b));
                }
                let gateway = dh.gateway.as_deref().and_then(|s| match parse_addr(s) {
                    Ok(a) => {
                        if let Some(n) = net {
                            if !n.contains(&a) {
                                self.err(
                                    format!("{gp}.gateway"),
                                    format!("{a} is not in the server's subnet {}", n.trunc()),
                                );
                            }
                        }
                        Some(a)
                    }
                    Err(e) => {
                        self.err(format!("{gp}.gateway"), e);
                        None
                    }
                });
                if let Some(range) = range {
                    guests[g].kind = GuestKind::Dhcp(DhcpServer { range, gateway });
                }
            }

            // Router NAT rules.
            for (r, rt) in host.routers.iter().enumerate() {
                let gp = format!("{hp}.routers[{r}]");
                let g = host_guests[host.vms.len() + host.dhcp.len() + r];
                let iface_names: Vec<&str> =
                    rt.interfaces.iter().map(|i| i.name.as_str()).collect();
                let find_iface = |name: &str| iface_names.iter().position(|n| *n == name);
                let mut nat = RouterNat::default();
                for (s, sn) in rt.snat.iter().enumerate() {
                    let source = parse_prefix(&sn.source)
                        .map_err(|e| self.err(format!("{gp}.snat[{s}].source"), e))
                        .ok();
                    let out = find_iface(&sn.out);
                    if out.is_none() {
                        self.err(
                            format!("{gp}.snat[{s}].out"),
                            format!(
                                "router {} has no interface {} (it has: {})",
                                show(&rt.name),
                                show(&sn.out),
                                iface_names.join(", ")
                            ),
                        );
                    }
                    if let (Some(source), Some(out)) = (source, out) {
                        nat.snat.push(Snat { source, out });
                    }
                }
                for (d, dn) in rt.dnat.iter().enumerate() {
                    let dp = format!("{gp}.dnat[{d}]");
                    let in_iface = find_iface(&dn.in_);
                    if in_iface.is_none() {
                        self.err(
                            format!("{dp}.in"),
                            format!(
                                "router {} has no interface {} (it has: {})",
                                show(&rt.name),
                                show(&dn.in_),
                                iface_names.join(", ")
                            ),
                        );
                    }
                    let proto = match dn.proto.as_str() {
                        "tcp" => Some(L4Proto::Tcp),
                        "udp" => Some(L4Proto::Udp),
                        other => {
                            self.err(
                                format!("{dp}.proto"),
                                format!(
                                    "{} is not a protocol netloom forwards: use tcp or udp",
                                    show(other)
                                ),
                            );
                            None
                        }
                    };
                    let mut port_of = |field: &str, p: i64| {
                        if (1..=65535).contains(&p) {
                            Some(p as u16)
                        } else {
                            self.err(
                                format!("{dp}.{field}"),
                                format!("port {p} is outside 1..65535"),
                            );
                            None
                        }
                    };
                    let port = port_of("port", dn.port);
                    let to_port = port_of("to_port", dn.to_port);
                    let to = parse_addr(&dn.to)
                        .map_err(|e| self.err(format!("{dp}.to"), e))
                        .ok();
                    if let (Some(in_iface), Some(proto), Some(port), Some(to), Some(to_port)) =
                        (in_iface, proto, port, to, to_port)
                    {
                        nat.dnat.push(Dnat {
                            in_iface,
                            proto,
                            port,
                            to,
                            to_port,
                        });
                    }
                }
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

        // Addresses used twice.
        self.check_duplicate_addrs(&addr_uses, "address");
        self.check_duplicate_addrs(&underlay_ips, "underlay address");
        let mut seen_macs: HashMap<Mac, &str> = HashMap::new();
        for (m, path) in &user_macs {
            if let Some(first) = seen_macs.get(m) {
                self.problems.push(Problem::error(
                    path.clone(),
                    format!("MAC {m} is already used by {first}"),
                ));
            } else {
                seen_macs.insert(*m, path);
            }
        }
        // Static addresses inside a DHCP range.
        for a in &static_addrs {
            for (lo, hi, rp) in &dhcp_ranges {
                // The server's own address is reported by the range check itself.
                let server = rp.trim_end_matches(".range");
                let own = a
                    .path
                    .strip_prefix(server)
                    .is_some_and(|rest| rest.starts_with('.'));
                if (*lo..=*hi).contains(&a.addr) && !own {
                    self.err(a.path.clone(), format!("{} lies inside the dhcp range {lo}..{hi} of {server}: a lease could take it; use an address outside the range", a.addr));
                }
            }
        }
        // Overlapping ranges would hand out one address twice.
        for (i, (lo1, hi1, p1)) in dhcp_ranges.iter().enumerate() {
            for (lo2, hi2, p2) in &dhcp_ranges[..i] {
                if lo1 <= hi2 && lo2 <= hi1 {
                    self.err(p1.clone(), format!("{lo1}..{hi1} overlaps the range {lo2}..{hi2} of {}: a lease could be handed out twice", p2.trim_end_matches(".range")));
                }
            }
        }

        // Tunnels.
        let mut tunnels = Vec::new();
        let mut tunnel_keys: HashMap<(usize, usize, &'static str, u64), String> = HashMap::new();
        for (t, tu) in spec.tunnels.iter().enumerate() {
            let tp = format!("tunnels[{t}]");
            let kind = match tu.kind.as_str() {
                "gre" => {
                    if tu.vni.is_some() {
                        self.err(
                            format!("{tp}.vni"),
                            "vni is for vxlan tunnels; a gre tunnel takes key",
                        );
                    }
                    match tu.key {
                        None => Some(TunnelKind::Gre { key: None }),
                        Some(k) if (0..=u32::MAX as i64).contains(&k) => Some(TunnelKind::Gre {
                            key: Some(k as u32),
                        }),
                        Some(k) => {
                            self.err(
                                format!("{tp}.key"),
                                format!("GRE key {k} is outside 0..4294967295"),
                            );
                            None
                        }
                    }
                }
                "vxlan" => {
                    if tu.key.is_some() {
                        self.err(
                            format!("{tp}.key"),
                            "key is for gre tunnels; a vxlan tunnel takes vni",
                        );
                    }
                    match tu.vni {
                        None => {
                            self.err(&tp, "a vxlan tunnel needs a vni (0..16777215)");
                            None
                        }
                        Some(v) if (0..=16_777_215).contains(&v) => {
                            Some(TunnelKind::Vxlan { vni: v as u32 })
                        }
                        Some(v) => {
                            self.err(
                                format!("{tp}.vni"),
                                format!("VNI {v} is outside 0..16777215"),
                            );
                            None
                        }
                    }
                }
                other => {
                    self.err(
                        format!("{tp}.type"),
                        format!("{} is not a tunnel type: use gre or vxlan", show(other)),
                    );
                    None
                }
            };
            if tu.between.len() != 2 {
                self.err(
                    format!("{tp}.between"),
                    format!("a tunnel joins exactly two ends, not {}", tu.between.len()),
                );
                continue;
            }
            let mut ends = [usize::MAX; 2];
            for (e, end) in tu.between.iter().enumerate() {
                let ep = format!("{tp}.between[{e}]");
                let Some((hname, bname)) = end.split_once('/') else {
                    self.err(
                        ep,
                        format!(
                            "{} is not a tunnel end: write host/bridge, like node1/br-in",
                            show(end)
                        ),
                    );
                    continue;
                };
                let Some(h) = spec.hosts.iter().position(|x| x.name == hname) else {
                    let known: Vec<&str> = spec.hosts.iter().map(|x| x.name.as_str()).collect();
                    self.err(
                        ep,
                        format!("no host {} (hosts: {})", show(hname), known.join(", ")),
                    );
                    continue;
                };
                match bridge_index.get(&(h, bname)) {
                    Some(&b) => ends[e] = b,
                    None => {
                        let known: Vec<&str> = spec.hosts[h]
                            .bridges
                            .iter()
                            .map(|b| b.name.as_str())
                            .collect();
                        self.err(
                            ep,
                            format!(
                                "host {} has no bridge {} (its bridges: {})",
                                show(hname),
                                show(bname),
                                known.join(", ")
                            ),
                        );
                    }
                }
            }
            if ends.contains(&usize::MAX) {
                continue;
            }
            let (h0, h1) = (bridges[ends[0]].host, bridges[ends[1]].host);
            if h0 == h1 {
                self.err(
                    format!("{tp}.between"),
                    format!(
                        "both ends are on host {}: a tunnel joins bridges of two different hosts",
                        show(&spec.hosts[h0].name)
                    ),
                );
                continue;
            }
            let Some(kind) = kind else { continue };
            let (ty, id) = match kind {
                TunnelKind::Gre { key } => ("gre", u64::from(key.unwrap_or(0))),
                TunnelKind::Vxlan { vni } => ("vxlan", u64::from(vni)),
            };
            let pair = (h0.min(h1), h0.max(h1), ty, id);
            if let Some(first) = tunnel_keys.get(&pair) {
                let what = if ty == "gre" { "key" } else { "vni" };
                self.err(&tp, format!("{first} already joins these two hosts with {ty} {what} {id}: OVS refuses a second tunnel with the same remote, type and {what}; use another {what}"));
            } else {
                tunnel_keys.insert(pair, tp.clone());
            }
            tunnels.push(Tunnel {
                kind,
                ends,
                ports: [String::new(), String::new()],
                path: tp,
            });
        }

        // Layer-2 loops: bridges and externals joined by tunnels and uplinks form a forest.
        // Uplinks index the file's externals, which may be more than the resolved ones.
        let mut uf = UnionFind::new(bridges.len() + spec.externals.len());
        // A bridge has at most one uplink, so uplinks alone close no loop:
        // the tunnel that completes one is reported.
        for (b, br) in bridges.iter().enumerate() {
            if let Some(e) = br.uplink {
                uf.union(b, bridges.len() + e);
            }
        }
        for t in &tunnels {
            if !uf.union(t.ends[0], t.ends[1]) {
                self.err(t.path.clone(), "this tunnel closes a loop of bridges (through tunnels and uplinks); OVS runs no spanning tree here, so broadcasts would circulate forever");
            }
        }

        // Layout positions must be finite numbers.
        for (key, pos) in &spec.layout {
            if !pos.x.is_finite() || !pos.y.is_finite() {
                self.err(
                    format!("layout.{key}"),
                    "x and y must be finite numbers, not infinity or NaN",
                );
            }
        }

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

    fn check_duplicate_addrs(&mut self, uses: &[AddrUse], what: &str) {
        let mut seen: BTreeMap<Ipv4Addr, &str> = BTreeMap::new();
        for u in uses {
            if let Some(first) = seen.get(&u.addr) {
                self.problems.push(Problem::error(
                    u.path.clone(),
                    format!("{what} {} is already used by {first}", u.addr),
                ));
            } else {
                seen.insert(u.addr, &u.path);
            }
        }
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

struct UnionFind {
    parent: Vec<usize>,
}

impl UnionFind {
    fn new(n: usize) -> Self {
        UnionFind {
            parent: (0..n).collect(),
        }
    }

    fn find(&mut self, mut x: usize) -> usize {
        while self.parent[x] != x {
            self.parent[x] = self.parent[self.parent[x]];
            x = self.parent[x];
        }
        x
    }

    /// Join two sets; false when they were already one (the edge closes a cycle).
    fn union(&mut self, a: usize, b: usize) -> bool {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra == rb {
            return false;
        }
        self.parent[ra] = rb;
        true
    }
}
