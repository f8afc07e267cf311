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
mod engine;
mod expect;
mod guests;
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
use parse::show;

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

/// What the pass over the hosts collects: the resolved elements, and every
/// address and MAC in use, for the checks across the whole file after it.
#[derive(Default)]
struct Collected<'a> {
    hosts: Vec<Host>,
    bridges: Vec<Bridge>,
    guests: Vec<Guest>,
    bridge_index: HashMap<(usize, &'a str), BridgeId>,
    addr_uses: Vec<AddrUse>,
    dhcp_ranges: Vec<(Ipv4Addr, Ipv4Addr, String)>,
    static_addrs: Vec<AddrUse>,
    user_macs: Vec<(Mac, String)>,
    /// Guest interfaces whose MAC is to be generated: (guest, iface).
    mac_todo: Vec<(usize, usize)>,
    underlay_ips: Vec<AddrUse>,
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

        let mut c = Collected::default();
        let externals = self.externals(&mut c.addr_uses);
        for (h, host) in spec.hosts.iter().enumerate() {
            self.host(h, host, underlay, &ext_index, &mut c);
        }

        self.check_addresses(&Uses {
            addrs: &c.addr_uses,
            underlay_ips: &c.underlay_ips,
            user_macs: &c.user_macs,
            static_addrs: &c.static_addrs,
            dhcp_ranges: &c.dhcp_ranges,
        });
        let tunnels = self.tunnels(&c.bridges, &c.bridge_index);
        self.check_loops(&c.bridges, &tunnels);
        self.check_layout();

        let underlay = underlay?;
        let ovn = self.central(spec);
        if self.problems.iter().any(Problem::is_error) {
            return None;
        }

        let mut topo = Topology {
            name: spec.name.clone(),
            underlay,
            engine: spec.engine.unwrap_or_default(),
            ovn,
            externals,
            hosts: c.hosts,
            bridges: c.bridges,
            guests: c.guests,
            tunnels,
            expect: Vec::new(),
            spec: spec.clone(),
        };
        names::assign(&mut topo, &c.mac_todo);
        topo.expect = self.expectations(&topo);
        self.check_engine(&topo);
        if self.problems.iter().any(Problem::is_error) {
            return None;
        }
        self.warn_arp_flux(&topo);
        Some(topo)
    }

    /// Host `h` with its bridges and guests, checked and added to `c`.
    /// Guests come after bridges because an interface names its bridge;
    /// DHCP ranges and NAT rules come last because they need the guests' subnets.
    fn host(
        &mut self,
        h: usize,
        host: &'a HostSpec,
        underlay: Option<Ipv4Net>,
        ext_index: &HashMap<&str, usize>,
        c: &mut Collected<'a>,
    ) {
        let spec = self.spec;
        let hp = format!("hosts[{h}]");
        // Underlay address.
        let underlay_ip = self.underlay_ip(&hp, h, host, underlay);
        if let Some(a) = underlay_ip {
            c.underlay_ips.push(AddrUse {
                addr: a,
                path: format!("{hp}.underlay_ip"),
            });
        }
        self.check_agent(&hp, host);
        self.host_bridges(h, &hp, host, ext_index, c);
        self.check_unique_members(&hp, host);

        let bridge_names: Vec<&str> = host.bridges.iter().map(|b| b.name.as_str()).collect();
        let mut host_guests = Vec::new();
        for pending in self.pending_guests(&hp, host) {
            host_guests.push(self.guest(h, host, &bridge_names, pending, c));
        }

        // DHCP servers: range and router option.
        for (d, dh) in host.dhcp.iter().enumerate() {
            let gp = format!("{hp}.dhcp[{d}]");
            let g = host_guests[host.vms.len() + d];
            let net = c.guests[g].ifaces[0].addr.static_net();
            if let Some(server) = self.dhcp_server(&gp, dh, net, &mut c.dhcp_ranges) {
                c.guests[g].kind = GuestKind::Dhcp(server);
            }
        }

        // Router NAT rules.
        for (r, rt) in host.routers.iter().enumerate() {
            let gp = format!("{hp}.routers[{r}]");
            let g = host_guests[host.vms.len() + host.dhcp.len() + r];
            let nat = self.router_nat(&gp, rt);
            c.guests[g].kind = GuestKind::Router(nat);
        }

        c.hosts.push(Host {
            name: host.name.clone(),
            underlay_ip: underlay_ip.unwrap_or(Ipv4Addr::UNSPECIFIED),
            agent: host.agent.clone(),
            bridges: (c.bridges.len() - host.bridges.len()..c.bridges.len()).collect(),
            guests: host_guests,
            netns: names::host_netns(&spec.name, &host.name),
            underlay_peer: String::new(),
            path: hp,
        });
    }

    /// The bridges of host `h`, added to `c` and to its index by (host, name),
    /// which the guests' interfaces and the tunnels look them up in.
    fn host_bridges(
        &mut self,
        h: usize,
        hp: &str,
        host: &'a HostSpec,
        ext_index: &HashMap<&str, usize>,
        c: &mut Collected<'a>,
    ) {
        for (b, br) in host.bridges.iter().enumerate() {
            let bp = format!("{hp}.bridges[{b}]");
            self.check_name(format!("{bp}.name"), "bridge", &br.name);
            let uplink = self.uplink(&bp, br, ext_index);
            let id = c.bridges.len();
            c.bridge_index.entry((h, br.name.as_str())).or_insert(id);
            c.bridges.push(Bridge {
                host: h,
                name: br.name.clone(),
                uplink,
                ovs_name: String::new(),
                uplink_port: None,
                uplink_peer: None,
                path: bp,
            });
        }
    }

    /// Names must be unique per kind within a host, as the OVS and netns
    /// names are made from them.
    fn check_unique_members(&mut self, hp: &str, host: &HostSpec) {
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
