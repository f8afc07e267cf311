//! Fuzzing at volume with proptest (cargo fuzz needs a nightly toolchain).
//!
//! Topologies are random but structured: few subnets shared by many guests on
//! several hosts, VLANs, tunnels and uplinks, overlapping prefixes, static
//! routes, routers with SNAT/DNAT, DHCP servers and clients. They are valid by
//! construction, then about half of them get one or two mutations that break a
//! rule (VLAN out of range, duplicate address or name, tunnel cycle, bad CIDR,
//! MAC, range, reference...), so the validator's refusals are exercised too.
//! Properties:
//! - loading and validating never panic, whatever the text (also mangled YAML);
//! - on every valid topology `simulate` ends with a bounded, deterministic
//!   trace for random probes and never runs out of its event budget (the
//!   validator forbids layer-2 cycles, and TTL bounds routing loops); given a
//!   cycle behind the validator's back, it still ends, bounded;
//! - `reach` ends and agrees with `simulate`, pair by pair;
//! - the planner never panics; creating from nothing, destroying, and going
//!   from one design to another, executed step by step, end exactly at the
//!   desired state with every dependency created first.
//!
//! `NETLOOM_FUZZ_CASES` sets the number of cases (default: small, for `cargo test`);
//! a real run: `NETLOOM_FUZZ_CASES=20000 cargo test --release -p netloom-core --test fuzz`.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use ipnet::Ipv4Net;
use netloom_core::ovn::{self, nb};
use netloom_core::plan::{self, Action, Facts, Plan, Resource, State};
use netloom_core::reach::reach;
use netloom_core::sim::{Probe, Proto, Simulator};
use netloom_core::spec::*;
use netloom_core::topology::NodeRef;
use netloom_core::trace::{Disposition, DropReason};
use netloom_core::{format, load, validate, Topology};
use proptest::prelude::*;
use proptest::test_runner::Config;

fn cases(default: u32) -> u32 {
    std::env::var("NETLOOM_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Subnets (/24 unless a prefix says otherwise); the last two are the externals'.
const NETS: [[u8; 3]; 6] = [
    [10, 0, 0],
    [10, 0, 1],
    [10, 0, 2],
    [192, 168, 7],
    [198, 51, 100],
    [203, 0, 113],
];
const EXTERNAL_GATEWAYS: [&str; 2] = ["198.51.100.1/24", "203.0.113.1/24"];

#[derive(Debug, Clone, Copy)]
struct Addr {
    net: usize,
    host: u8,
}

impl Addr {
    fn ip(self) -> Ipv4Addr {
        let [a, b, c] = NETS[self.net];
        Ipv4Addr::new(a, b, c, self.host)
    }
}

fn addr() -> impl Strategy<Value = Addr> {
    // Mostly two nets, so guests share subnets and talk; the rest now and then.
    (
        prop_oneof![3 => 0usize..2, 1 => 0..NETS.len()],
        prop_oneof![8 => 1u8..=30, 1 => 253u8..=254],
    )
        .prop_map(|(net, host)| Addr { net, host })
}

fn prefix() -> impl Strategy<Value = u8> {
    prop_oneof![16 => Just(24u8), 1 => Just(16), 1 => Just(28), 1 => Just(32)]
}

fn vlan() -> impl Strategy<Value = Option<i64>> {
    prop_oneof![8 => Just(None), 2 => Just(Some(10)), 1 => Just(Some(20)), 1 => Just(Some(4094))]
}

/// A next hop: host number `.1` in the subnet of the guest's `.0`-th addressed interface.
type Hop = (usize, u8);

fn hop() -> impl Strategy<Value = Hop> {
    (
        0usize..3,
        prop_oneof![3 => Just(254u8), 1 => Just(253u8), 1 => 1u8..=30],
    )
}

/// A static route: destination (net, prefix) and next hop.
type RouteShape = ((usize, u8), Hop);

fn routes() -> impl Strategy<Value = Vec<RouteShape>> {
    prop::collection::vec(
        (
            (
                0..NETS.len(),
                prop_oneof![Just(24u8), Just(16), Just(32), Just(0)],
            ),
            hop(),
        ),
        0..=2,
    )
}

#[derive(Debug, Clone)]
struct Nic {
    bridge: usize,
    vlan: Option<i64>,
    /// 0: no address, 1: static, 2: dhcp.
    kind: u8,
    addr: Addr,
    prefix: u8,
    mac: bool,
}

#[derive(Debug, Clone)]
struct Vm {
    nics: Vec<Nic>,
    gateway: Option<Hop>,
    routes: Vec<RouteShape>,
}

#[derive(Debug, Clone)]
struct Dhcp {
    bridge: usize,
    vlan: Option<i64>,
    net: usize,
    host: u8,
    range: (u8, u8),
    gateway: Option<u8>,
}

#[derive(Debug, Clone)]
struct Router {
    ifaces: Vec<(usize, Option<i64>, Addr, u8)>,
    gateway: Option<Hop>,
    routes: Vec<RouteShape>,
    snat: Vec<(usize, u8, usize)>,
    dnat: Vec<(usize, bool, u16, Addr, u16)>,
}

#[derive(Debug, Clone)]
struct Host {
    /// Per bridge: the external it would like as uplink.
    bridges: Vec<Option<usize>>,
    vms: Vec<Vm>,
    dhcp: Vec<Dhcp>,
    routers: Vec<Router>,
    agent: bool,
}

/// A deliberate error: kind, and two selectors of where and what.
type Mutation = (u8, usize, usize);

#[derive(Debug, Clone)]
struct Shape {
    externals: usize,
    hosts: Vec<Host>,
    tunnels: Vec<(usize, usize, usize, usize, u8)>,
    mutations: Vec<Mutation>,
}

fn nic() -> impl Strategy<Value = Nic> {
    (
        0usize..3,
        vlan(),
        prop_oneof![1 => Just(0u8), 4 => Just(1), 2 => Just(2)],
        addr(),
        prefix(),
        prop::bool::weighted(0.15),
    )
        .prop_map(|(bridge, vlan, kind, addr, prefix, mac)| Nic {
            bridge,
            vlan,
            kind,
            addr,
            prefix,
            mac,
        })
}

fn vm() -> impl Strategy<Value = Vm> {
    (
        prop::collection::vec(nic(), 0..=3),
        prop::option::weighted(0.85, hop()),
        routes(),
    )
        .prop_map(|(nics, gateway, routes)| Vm {
            nics,
            gateway,
            routes,
        })
}

fn dhcp() -> impl Strategy<Value = Dhcp> {
    (
        0usize..3,
        vlan(),
        0usize..4,
        2u8..=9,
        (100u8..=101, 0u8..=8),
        prop::option::weighted(0.7, prop_oneof![Just(254u8), 1u8..=30]),
    )
        .prop_map(|(bridge, vlan, net, host, range, gateway)| Dhcp {
            bridge,
            vlan,
            net,
            host,
            range,
            gateway,
        })
}

fn router() -> impl Strategy<Value = Router> {
    (
        prop::collection::vec(
            (
                0usize..3,
                vlan(),
                // Where the vms' gateways point, mostly.
                (
                    prop_oneof![3 => 0usize..2, 1 => 0..NETS.len()],
                    prop_oneof![4 => 253u8..=254, 1 => 1u8..=30],
                )
                    .prop_map(|(net, host)| Addr { net, host }),
                prefix(),
            ),
            1..=3,
        ),
        prop::option::weighted(0.6, hop()),
        routes(),
        prop::collection::vec(
            (0..NETS.len(), prop_oneof![Just(24u8), Just(16)], 0usize..3),
            0..=2,
        ),
        prop::collection::vec(
            (
                0usize..3,
                any::<bool>(),
                prop_oneof![Just(80u16), Just(8080), 1u16..=65535],
                addr(),
                prop_oneof![Just(80u16), Just(22), Just(53)],
            ),
            0..=2,
        ),
    )
        .prop_map(|(ifaces, gateway, routes, snat, dnat)| Router {
            ifaces,
            gateway,
            routes,
            snat,
            dnat,
        })
}

fn host() -> impl Strategy<Value = Host> {
    (
        prop::collection::vec(prop::option::weighted(0.3, 0usize..2), 1..=3),
        prop::collection::vec(vm(), 0..=3),
        prop::collection::vec(dhcp(), 0..=2),
        prop::collection::vec(router(), 0..=2),
        prop::bool::weighted(0.1),
    )
        .prop_map(|(bridges, vms, dhcp, routers, agent)| Host {
            bridges,
            vms,
            dhcp,
            routers,
            agent,
        })
}

fn shape() -> impl Strategy<Value = Shape> {
    (
        0usize..=2,
        prop::collection::vec(host(), 1..=3),
        prop::collection::vec((0usize..3, 0usize..3, 0usize..3, 0usize..3, 0u8..3), 0..=4),
        prop_oneof![
            11 => Just(Vec::new()),
            9 => prop::collection::vec((0u8..14, any::<usize>(), any::<usize>()), 1..=2),
        ],
    )
        .prop_map(|(externals, hosts, tunnels, mutations)| Shape {
            externals,
            hosts,
            tunnels,
            mutations,
        })
}

/// Hands out unused addresses, so that only mutations duplicate one.
#[derive(Default)]
struct Alloc {
    used: BTreeSet<Ipv4Addr>,
    macs: u32,
    /// Per net: DHCP ranges handed out so far (each gets its own ten addresses).
    ranges: BTreeMap<usize, u8>,
}

impl Alloc {
    /// The drawn address, or the next free host number of its net that is a
    /// host address under `prefix` (never inside the DHCP ranges, from .100 up).
    fn take(&mut self, a: Addr, prefix: u8) -> Ipv4Net {
        let mut host = a.host;
        loop {
            let ip = Addr { net: a.net, host }.ip();
            let n = Ipv4Net::new(ip, prefix).unwrap();
            let edge = prefix < 31 && (ip == n.network() || ip == n.broadcast());
            if !edge && self.used.insert(ip) {
                return n;
            }
            host = match host {
                60 => 250,
                254 => 1,
                h => h + 1,
            };
        }
    }

    fn mac(&mut self) -> String {
        self.macs += 1;
        format!(
            "52:54:00:00:{:02x}:{:02x}",
            self.macs >> 8,
            self.macs & 0xff
        )
    }
}

/// Host number `host` in the subnet of the `i`-th addressed interface, when it is one.
fn next_hop((i, host): Hop, own: &[Ipv4Net]) -> Option<String> {
    let n = own.get(i % own.len().max(1))?;
    let [a, b, c, _] = n.network().octets();
    let ip = Ipv4Addr::new(a, b, c, host);
    (n.contains(&ip) && ip != n.network() && ip != n.broadcast()).then(|| ip.to_string())
}

fn route_specs(routes: &[RouteShape], own: &[Ipv4Net]) -> Vec<RouteSpec> {
    let mut out: Vec<RouteSpec> = Vec::new();
    for &((net, p), via) in routes {
        let to = Ipv4Net::new(Addr { net, host: 0 }.ip(), p)
            .unwrap()
            .trunc()
            .to_string();
        if let (Some(via), false) = (next_hop(via, own), out.iter().any(|r| r.to == to)) {
            out.push(RouteSpec { to, via });
        }
    }
    out
}

/// Disjoint sets, to keep tunnels and uplinks from closing a layer-2 cycle.
struct Sets(Vec<usize>);

impl Sets {
    fn find(&mut self, x: usize) -> usize {
        if self.0[x] != x {
            let r = self.find(self.0[x]);
            self.0[x] = r;
        }
        self.0[x]
    }

    /// Join two sets; false when they were one already (the edge would close a cycle).
    fn join(&mut self, a: usize, b: usize) -> bool {
        let (ra, rb) = (self.find(a), self.find(b));
        self.0[ra] = rb;
        ra != rb
    }
}

/// The spec of a shape: valid by construction, then its mutations applied.
fn build(s: &Shape) -> TopologySpec {
    let mut alloc = Alloc::default();
    for g in EXTERNAL_GATEWAYS {
        alloc.used.insert(g.parse::<Ipv4Net>().unwrap().addr());
    }
    // Layer-2 graph: bridges (host-major), then externals.
    let first: Vec<usize> = s
        .hosts
        .iter()
        .scan(0, |n, h| {
            let f = *n;
            *n += h.bridges.len();
            Some(f)
        })
        .collect();
    let nbridges: usize = s.hosts.iter().map(|h| h.bridges.len()).sum();
    let mut sets = Sets((0..nbridges + s.externals).collect());
    let mut tunnels = Vec::new();
    for (i, &(ha, ba, hb, bb, kind)) in s.tunnels.iter().enumerate() {
        let (ha, hb) = (ha % s.hosts.len(), hb % s.hosts.len());
        let (ba, bb) = (
            ba % s.hosts[ha].bridges.len(),
            bb % s.hosts[hb].bridges.len(),
        );
        if ha == hb || !sets.join(first[ha] + ba, first[hb] + bb) {
            continue;
        }
        let (kind, key, vni) = match kind {
            0 => ("gre", Some(i as i64), None),
            1 => ("gre", Some(u32::MAX as i64 - i as i64), None),
            _ => ("vxlan", None, Some(i as i64 * 4099)),
        };
        tunnels.push(TunnelSpec {
            kind: kind.into(),
            between: vec![format!("h{ha}/br{ba}"), format!("h{hb}/br{bb}")],
            key,
            vni,
        });
    }
    let mut hosts = Vec::new();
    for (h, host) in s.hosts.iter().enumerate() {
        let nb = host.bridges.len();
        let br = |b: usize| format!("br{}", b % nb);
        let bridges = host
            .bridges
            .iter()
            .enumerate()
            .map(|(b, up)| BridgeSpec {
                name: format!("br{b}"),
                uplink: up
                    .filter(|&e| e < s.externals && sets.join(first[h] + b, nbridges + e))
                    .map(|e| format!("ext{e}")),
            })
            .collect();
        let mut vms = Vec::new();
        for (v, vm) in host.vms.iter().enumerate() {
            let mut own = Vec::new();
            let nics = vm
                .nics
                .iter()
                .map(|n| NicSpec {
                    bridge: br(n.bridge),
                    vlan: n.vlan,
                    ip: match n.kind {
                        0 => None,
                        1 => {
                            let net = alloc.take(n.addr, n.prefix);
                            own.push(net);
                            Some(net.to_string())
                        }
                        _ => Some("dhcp".into()),
                    },
                    mac: n.mac.then(|| alloc.mac()),
                })
                .collect();
            vms.push(VmSpec {
                name: format!("vm{v}"),
                nics,
                gateway: vm.gateway.and_then(|g| next_hop(g, &own)),
                routes: route_specs(&vm.routes, &own),
            });
        }
        let dhcp = host
            .dhcp
            .iter()
            .enumerate()
            .map(|(d, srv)| {
                let ip = alloc.take(
                    Addr {
                        net: srv.net,
                        host: srv.host,
                    },
                    24,
                );
                let k = alloc.ranges.entry(srv.net).or_default();
                let start = srv.range.0 + 10 * *k;
                *k += 1;
                let at = |host: u8| Addr { net: srv.net, host }.ip().to_string();
                DhcpSpec {
                    name: format!("dhcp{d}"),
                    bridge: br(srv.bridge),
                    vlan: srv.vlan,
                    ip: ip.to_string(),
                    range: vec![at(start), at(start + srv.range.1)],
                    gateway: srv.gateway.map(at),
                }
            })
            .collect();
        let routers = host
            .routers
            .iter()
            .enumerate()
            .map(|(r, rt)| {
                let own: Vec<Ipv4Net> = rt
                    .ifaces
                    .iter()
                    .map(|&(_, _, a, p)| alloc.take(a, p))
                    .collect();
                let q = |i: usize| format!("q{}", i % rt.ifaces.len());
                RouterSpec {
                    name: format!("r{r}"),
                    interfaces: rt
                        .ifaces
                        .iter()
                        .zip(&own)
                        .enumerate()
                        .map(|(i, (&(b, vlan, _, _), net))| RouterIfaceSpec {
                            name: q(i),
                            bridge: br(b),
                            vlan,
                            ip: net.to_string(),
                        })
                        .collect(),
                    gateway: rt.gateway.and_then(|g| next_hop(g, &own)),
                    routes: route_specs(&rt.routes, &own),
                    snat: rt
                        .snat
                        .iter()
                        .map(|&(net, p, out)| SnatSpec {
                            source: Ipv4Net::new(Addr { net, host: 0 }.ip(), p)
                                .unwrap()
                                .trunc()
                                .to_string(),
                            out: q(out),
                        })
                        .collect(),
                    dnat: rt
                        .dnat
                        .iter()
                        .map(|&(i, tcp, port, to, to_port)| DnatSpec {
                            in_: q(i),
                            proto: if tcp { "tcp" } else { "udp" }.into(),
                            port: port.into(),
                            to: to.ip().to_string(),
                            to_port: to_port.into(),
                        })
                        .collect(),
                }
            })
            .collect();
        hosts.push(HostSpec {
            name: format!("h{h}"),
            underlay_ip: None,
            agent: host.agent.then(|| format!("https://h{h}.example.net:7311")),
            bridges,
            vms,
            dhcp,
            routers,
        });
    }
    let mut spec = TopologySpec {
        expect: None,
        version: 1,
        name: "fz".into(),
        underlay: None,
        engine: None,
        ovn: None,
        externals: (0..s.externals)
            .map(|e| ExternalSpec {
                name: format!("ext{e}"),
                gateway: EXTERNAL_GATEWAYS[e].into(),
            })
            .collect(),
        hosts,
        tunnels,
        layout: BTreeMap::new(),
    };
    for &m in &s.mutations {
        mutate(&mut spec, m);
    }
    spec
}

/// Break one rule of the format (or do nothing when the shape has no place for it).
fn mutate(spec: &mut TopologySpec, (kind, i, j): Mutation) {
    let pick = |n: usize| i % n.max(1);
    let statics: Vec<String> = spec
        .hosts
        .iter()
        .flat_map(|h| &h.vms)
        .flat_map(|v| &v.nics)
        .filter_map(|n| n.ip.clone())
        .filter(|ip| ip.contains('/'))
        .collect();
    let first_tunnel = spec.tunnels.first().cloned();
    let nexternals = spec.externals.len();
    let nhosts = spec.hosts.len();
    let h = &mut spec.hosts[i % nhosts];
    let nics: Vec<&mut NicSpec> = h.vms.iter_mut().flat_map(|v| &mut v.nics).collect();
    let nnics = nics.len();
    let nic = nics.into_iter().nth(j % nnics.max(1));
    match kind {
        0 => {
            if let Some(n) = nic {
                n.vlan = Some([0, 4095, -1, 1 << 40][pick(4)]);
            }
        }
        1 => {
            if let (Some(n), Some(ip)) = (nic, statics.get(pick(statics.len()))) {
                n.ip = Some(ip.clone());
            }
        }
        2 => match h.vms.len() {
            0 | 1 => spec.name = ["Fz", "much-too-long-name", ""][pick(3)].into(),
            _ => h.vms[1].name = h.vms[0].name.clone(),
        },
        3 => match first_tunnel {
            // A second tunnel between the same bridges: a layer-2 cycle.
            Some(mut t) => {
                t.key = Some(12345);
                t.kind = "gre".into();
                t.vni = None;
                spec.tunnels.push(t);
            }
            None => spec.tunnels.push(TunnelSpec {
                kind: ["gre", "vxlan", "ipip"][pick(3)].into(),
                between: vec!["h0/br0".into(), "h0/br0".into()],
                key: None,
                vni: None,
            }),
        },
        4 => {
            if let Some(n) = nic {
                n.ip =
                    Some(["10.0.0.1/33", "10.0.0.256/24", "dhcp4", "", "10.0.0.1"][j % 5].into());
            }
        }
        5 => {
            if let Some(v) = {
                let n = h.vms.len().max(1);
                h.vms.get_mut(j % n)
            } {
                v.gateway = Some("192.0.2.1".into());
            }
        }
        6 => {
            if let Some(n) = nic {
                n.bridge = "nobridge".into();
            }
        }
        7 => {
            if let Some(n) = nic {
                n.mac = Some(["01:00:5e:00:00:01", "zz", "00:00:00:00:00:00"][pick(3)].into());
            }
        }
        8 => {
            if let Some(r) = {
                let n = h.routers.len().max(1);
                h.routers.get_mut(j % n)
            } {
                match pick(3) {
                    0 => r.snat.push(SnatSpec {
                        source: "10.0.0.0/24".into(),
                        out: "q9".into(),
                    }),
                    1 => r.dnat.push(DnatSpec {
                        in_: "q0".into(),
                        proto: "icmp".into(),
                        port: 80,
                        to: "10.0.0.1".into(),
                        to_port: 80,
                    }),
                    _ => r.dnat.push(DnatSpec {
                        in_: "q0".into(),
                        proto: "tcp".into(),
                        port: 70000,
                        to: "10.0.0.1".into(),
                        to_port: 0,
                    }),
                }
            }
        }
        9 => {
            if let Some(d) = {
                let n = h.dhcp.len().max(1);
                h.dhcp.get_mut(j % n)
            } {
                // An earlier mutation may have left one address.
                let last = d.range.last().cloned().unwrap_or_default();
                d.range = match pick(4) {
                    0 => vec![last, "0.0.0.1".into()],
                    1 => vec!["10.9.9.9".into(), "10.9.9.10".into()],
                    2 => vec![d.ip.split('/').next().unwrap().into(), last],
                    _ => vec![last],
                };
            }
        }
        10 => {
            let range = h.dhcp.first().and_then(|d| d.range.first().cloned());
            if let (Some(n), Some(r)) = (nic, range) {
                n.ip = Some(format!("{r}/24"));
            }
        }
        11 => match pick(3) {
            0 => h.agent = Some("not a url".into()),
            1 => h.underlay_ip = Some("172.31.0.1".into()),
            _ => spec.underlay = Some(["bad", "172.31.0.0/32", "10.0.0.0/24"][j % 3].into()),
        },
        12 => {
            let b = j % h.bridges.len();
            h.bridges[b].uplink = Some(if nexternals > 0 { "ext0" } else { "nowhere" }.into());
            if let Some(other) = h.bridges.get_mut(b + 1) {
                other.uplink = Some("ext0".into());
            }
        }
        _ => spec.version = 2,
    }
}

/// A probe as drawn: sender, destination, protocol, size.
#[derive(Debug, Clone)]
struct ProbeShape {
    from: usize,
    to: Dest,
    proto: u8,
    port: u16,
    size: Option<u16>,
}

#[derive(Debug, Clone, Copy)]
enum Dest {
    /// One of the topology's addresses (mod their number).
    Known(usize),
    Anywhere(Addr),
    Special(Ipv4Addr),
}

fn probe_shape() -> impl Strategy<Value = ProbeShape> {
    (
        any::<usize>(),
        prop_oneof![
            6 => any::<usize>().prop_map(Dest::Known),
            2 => addr().prop_map(Dest::Anywhere),
            1 => prop_oneof![
                Just(Ipv4Addr::BROADCAST),
                Just(Ipv4Addr::UNSPECIFIED),
                Just(Ipv4Addr::LOCALHOST),
                Just(Ipv4Addr::new(224, 0, 0, 1)),
                Just(Ipv4Addr::new(10, 0, 0, 255)),
                Just(Ipv4Addr::new(10, 0, 0, 0)),
            ]
            .prop_map(Dest::Special),
        ],
        prop_oneof![4 => Just(0u8), 1 => Just(1), 2 => Just(2), 2 => Just(3), 1 => Just(4)],
        prop_oneof![Just(80u16), Just(8080), Just(53), Just(67), 1u16..=65535],
        prop::option::weighted(
            0.3,
            prop_oneof![28u16..=1500, Just(1500), Just(1458), Just(1459)],
        ),
    )
        .prop_map(|(from, to, proto, port, size)| ProbeShape {
            from,
            to,
            proto,
            port,
            size,
        })
}

/// Turn a drawn probe into a real one; every guest (routers and dhcp servers
/// too) and every external network can send.
fn probe(t: &Topology, sim: &Simulator, p: &ProbeShape) -> Option<Probe> {
    let senders: Vec<NodeRef> = (0..t.guests.len())
        .map(NodeRef::Guest)
        .chain((0..t.externals.len()).map(NodeRef::External))
        .collect();
    let from = *senders.get(p.from % senders.len().max(1))?;
    let known = netloom_core::reach::addresses(sim.net());
    let to = match p.to {
        Dest::Known(i) if !known.is_empty() => known[i % known.len()],
        Dest::Known(_) => Ipv4Addr::new(10, 0, 0, 1),
        Dest::Anywhere(a) => a.ip(),
        Dest::Special(a) => a,
    };
    let proto = match p.proto {
        0 => Proto::Icmp,
        1 => Proto::Arp,
        2 => Proto::Tcp(p.port),
        3 => Proto::Udp(p.port),
        _ => Proto::Dhcp,
    };
    let size = match proto {
        Proto::Icmp | Proto::Udp(_) => p.size,
        _ => None,
    };
    Some(Probe {
        from,
        to: if proto == Proto::Dhcp {
            Ipv4Addr::BROADCAST
        } else {
            to
        },
        proto,
        size,
        // Low TTLs too: drops on the way, never a panic.
        ttl: p.size.map(|s| (s % 6) as u8 + 1),
    })
}

/// A single simulation that takes this long is a hang, even in a debug build.
const SLOW: Duration = Duration::from_secs(10);

/// Simulate every probe; `looped`: the topology was given a layer-2 cycle
/// behind the validator's back, so only termination is checked.
fn check_simulation(
    t: &Topology,
    probes: &[ProbeShape],
    looped: bool,
) -> Result<(), TestCaseError> {
    let sim = Simulator::new(t);
    let net = sim.net();
    let ports: usize = net.switches.iter().map(|s| s.ports.len()).sum();
    // The simulator's own event budget; each event records at most a hop.
    let budget = 8 * (ports + net.stacks.len()) + 64 * 16 + 1000;
    for (n, p) in probes.iter().enumerate() {
        let Some(probe) = probe(t, &sim, p) else {
            continue;
        };
        let started = Instant::now();
        let trace = sim.simulate(&probe);
        prop_assert!(
            started.elapsed() < SLOW,
            "{probe:?} took {:?}",
            started.elapsed()
        );
        prop_assert!(
            looped || trace.disposition.reason() != Some(DropReason::Loop),
            "a loop-free topology ran out of the event budget: {probe:?}\n{trace}"
        );
        prop_assert!(trace.hops.len() <= 2 * budget, "{} hops", trace.hops.len());
        prop_assert_eq!(trace.probe.to, probe.to);
        prop_assert!(serde_json::to_string(&trace).is_ok());
        if n == 0 {
            prop_assert_eq!(&trace, &sim.simulate(&probe), "not deterministic");
        }
    }
    Ok(())
}

fn check_reach(t: &Topology) -> Result<(), TestCaseError> {
    let started = Instant::now();
    let report = reach(t);
    prop_assert!(
        started.elapsed() < SLOW * 3,
        "reach took {:?}",
        started.elapsed()
    );
    let sim = Simulator::new(t);
    for r in &report.results {
        let from = t.resolve_node(&r.from).map_err(TestCaseError::fail)?;
        let trace = sim.simulate(&Probe::icmp(from, r.to.parse().unwrap()));
        let detail = match &trace.disposition {
            Disposition::Delivered { detail } | Disposition::Dropped { detail, .. } => detail,
        };
        prop_assert_eq!(
            (r.ok, r.reason, &r.detail),
            (
                trace.disposition.is_delivered(),
                trace.disposition.reason(),
                detail
            ),
            "reach and simulate disagree: {} -> {}\n{}",
            &r.from,
            &r.to,
            trace
        );
    }
    Ok(())
}

/// Kernel objects vanish with what they live in; OVS rows, daemons and files
/// need their own delete step (mirrors the planner's `goes_with_deps`).
fn goes_with_deps(r: &Resource) -> bool {
    !matches!(
        r,
        Resource::OvsBridge { .. }
            | Resource::OvsPort { .. }
            | Resource::OvsDaemons { .. }
            | Resource::Dnsmasq { .. }
            | Resource::RunDir { .. }
    )
}

/// Execute a plan on a model of the machines, starting from `from`: deletions
/// take their kernel dependents along, as the kernel does. Checks that every
/// create finds what it depends on and every update/delete finds its object;
/// returns what is left.
fn execute(p: &Plan, from: &State, wanted: &State) -> Result<State, TestCaseError> {
    let mut live: BTreeMap<(String, String), Resource> = from
        .iter()
        .map(|(t, r)| ((t.to_string(), r.key()), r.clone()))
        .collect();
    let wanted_keys: BTreeSet<String> = wanted.iter().map(|(_, r)| r.key()).collect();
    for (ti, si) in plan::execution_order(p) {
        let target = &p.targets[ti].target.name;
        let step = &p.targets[ti].steps[si];
        let key = (target.clone(), step.resource.key());
        match step.action {
            Action::Delete => {
                prop_assert!(live.remove(&key).is_some(), "deletes a missing {}", key.1);
                let mut gone: BTreeSet<String> = BTreeSet::from([key.1.clone()]);
                if let Resource::Addr { netns, .. } = &step.resource {
                    gone.insert(format!("addrs {netns}"));
                }
                loop {
                    let dead: Vec<(String, String)> = live
                        .iter()
                        .filter(|(_, r)| {
                            goes_with_deps(r) && r.deps().iter().any(|d| gone.contains(d))
                        })
                        .map(|(k, _)| k.clone())
                        .collect();
                    if dead.is_empty() {
                        break;
                    }
                    for k in dead {
                        if let Some(Resource::Addr { netns, .. }) = live.remove(&k) {
                            gone.insert(format!("addrs {netns}"));
                        }
                        gone.insert(k.1);
                    }
                }
            }
            Action::Create | Action::Update => {
                let present: BTreeSet<&String> = live.keys().map(|(_, k)| k).collect();
                for d in step.resource.deps() {
                    prop_assert!(
                        !wanted_keys.contains(&d) || present.contains(&d),
                        "{} is created before its dependency {d}",
                        key.1
                    );
                }
                if step.action == Action::Update {
                    prop_assert!(live.contains_key(&key), "updates a missing {}", key.1);
                }
                live.insert(key, step.resource.clone());
            }
        }
    }
    let mut out = State::default();
    for ((t, _), r) in live {
        out.insert(&t, r);
    }
    Ok(out)
}

fn same_state(a: &State, b: &State) -> bool {
    let strip = |s: &State| {
        s.targets
            .iter()
            .filter(|(_, m)| !m.is_empty())
            .map(|(t, m)| (t.clone(), m.clone()))
            .collect::<BTreeMap<_, _>>()
    };
    strip(a) == strip(b)
}

fn check_transition(
    name: &str,
    targets: &[plan::TargetInfo],
    want: &State,
    have: &State,
) -> Result<(), TestCaseError> {
    let p = plan::plan(name, targets, want, have);
    let after = execute(&p, have, want)?;
    prop_assert!(
        same_state(&after, want),
        "executing the plan does not reach the desired state\nplan:\n{}",
        p.targets
            .iter()
            .flat_map(|t| t
                .steps
                .iter()
                .map(move |s| format!("{} {s}", t.target.name)))
            .collect::<Vec<_>>()
            .join("\n")
    );
    // Renders every step's commands.
    prop_assert!(!plan::shell_script(&p).is_empty());
    Ok(())
}

fn facts(t: &Topology, mask: u8) -> Facts {
    Facts {
        kernel_datapath: t
            .hosts
            .iter()
            .enumerate()
            .filter(|(i, _)| mask & (1 << i) != 0)
            .map(|(_, h)| h.name.clone())
            .collect(),
        ..Facts::default()
    }
}

fn check_planner(t: &Topology, other: Option<&Topology>, mask: u8) -> Result<(), TestCaseError> {
    let f = facts(t, mask);
    let targets = plan::targets(t, &f);
    let want = plan::desired(t, &f);
    let empty = State::default();
    let create = plan::plan(&t.name, &targets, &want, &empty);
    prop_assert!(create
        .targets
        .iter()
        .flat_map(|tp| &tp.steps)
        .all(|s| s.action == Action::Create));
    prop_assert_eq!(create.len(), want.len());
    prop_assert!(plan::plan(&t.name, &targets, &want, &want).is_empty());
    check_transition(&t.name, &targets, &want, &empty)?;
    check_transition(&t.name, &targets, &empty, &want)?;
    // The same design with other datapath facts: updates in place.
    check_transition(
        &t.name,
        &targets,
        &plan::desired(t, &facts(t, !mask)),
        &want,
    )?;
    if let Some(o) = other {
        let theirs = plan::desired(o, &facts(o, mask));
        check_transition(&t.name, &targets, &want, &theirs)?;
    }
    Ok(())
}

/// The same design under `engine: ovn`: valid only if valid under OVS
/// (OVN's rules only add refusals); then every vm and dhcp nic is one VIF,
/// every router interface one router port, no row is lost to a name
/// clash, and the transaction from nothing inserts each row once.
fn check_ovn(spec: &TopologySpec, valid_under_ovs: bool) -> Result<(), TestCaseError> {
    let spec = TopologySpec {
        engine: Some(Engine::Ovn),
        ..spec.clone()
    };
    let Some(t) = valid(&spec) else {
        return Ok(());
    };
    prop_assert!(valid_under_ovs, "valid under ovn only");
    let l = ovn::logical(&t);
    let ports: Vec<&ovn::logical::SwitchPort> = l.switches.iter().flat_map(|s| &s.ports).collect();
    let vifs = (ports.iter())
        .filter(|p| matches!(p.kind, ovn::logical::PortKind::Vif { .. }))
        .count();
    let nics: usize = (t.guests.iter())
        .filter(|g| !g.is_router())
        .map(|g| g.ifaces.len())
        .sum();
    prop_assert_eq!(vifs, nics);
    let router_ifaces: usize = (t.guests.iter())
        .filter(|g| g.is_router())
        .map(|g| g.ifaces.len())
        .sum();
    prop_assert_eq!(
        l.routers.iter().map(|r| r.ports.len()).sum::<usize>(),
        router_ifaces
    );
    let want = nb::desired(&l);
    let count = |table: nb::Table| want.rows.iter().filter(|r| r.table == table).count();
    prop_assert_eq!(count(nb::Table::LogicalSwitchPort), ports.len());
    prop_assert_eq!(count(nb::Table::LogicalSwitch), l.switches.len());
    prop_assert_eq!(count(nb::Table::LogicalRouterPort), router_ifaces);
    let ops = nb::transaction(&t.name, &want, &nb::Observed::default());
    let inserts = ops.iter().filter(|op| op["op"] == "insert").count();
    prop_assert_eq!(inserts, want.rows.len());
    prop_assert_eq!(ops.len(), inserts + usize::from(inserts > 0));
    Ok(())
}

fn valid(spec: &TopologySpec) -> Option<Topology> {
    validate(spec).ok().map(|c| c.topology)
}

proptest! {
    #![proptest_config(Config { cases: cases(200), ..Config::default() })]

    /// The whole core on one random design (and a second one for the planner).
    #[test]
    fn random_topologies_never_break_the_core(
        a in shape(),
        b in shape(),
        probes in prop::collection::vec(probe_shape(), 1..=8),
        mask in any::<u8>(),
    ) {
        let (sa, sb) = (build(&a), build(&b));
        let (ta, tb) = (valid(&sa), valid(&sb));
        // What validates from the spec must load from its text, both ways.
        for text in [format::to_yaml(&sa), format::to_json(&sa)] {
            prop_assert_eq!(load(&text).is_ok(), ta.is_some(), "{}", text);
        }
        check_ovn(&sa, ta.is_some())?;
        if let Some(t) = &ta {
            check_simulation(t, &probes, false)?;
            check_reach(t)?;
            check_planner(t, tb.as_ref(), mask)?;
            // The event budget is the last line of defence: a second tunnel
            // beside the first one is a cycle that floods forever in OVS.
            if let Some(first) = t.tunnels.first() {
                let mut cyclic = t.clone();
                cyclic.tunnels.push(netloom_core::topology::Tunnel {
                    ports: ["fzloop0".into(), "fzloop1".into()],
                    path: "tunnels[loop]".into(),
                    ..first.clone()
                });
                check_simulation(&cyclic, &probes[..1], true)?;
                let started = Instant::now();
                reach(&cyclic);
                prop_assert!(started.elapsed() < SLOW * 3);
            }
        }
    }

    /// Edited text: a random design's YAML with bytes changed, inserted or cut.
    #[test]
    fn mangled_files_never_panic(
        a in shape(),
        edits in prop::collection::vec(
            (any::<prop::sample::Index>(), 0u8..3, prop::sample::select(
                b": -[]{}\n\t'\"#&*!|>%@`0123456789./abcz\xff".to_vec()
            )),
            1..=6,
        ),
    ) {
        let mut text = format::to_yaml(&build(&a)).into_bytes();
        for (at, op, byte) in edits {
            let i = at.index(text.len() + 1);
            match op {
                0 => text.insert(i, byte),
                1 if i < text.len() => { text.remove(i); }
                _ if i < text.len() => text[i] = byte,
                _ => text.push(byte),
            }
        }
        let text = String::from_utf8_lossy(&text);
        if let Ok(checked) = load(&text) {
            check_simulation(&checked.topology, &[ProbeShape {
                from: 0, to: Dest::Known(1), proto: 0, port: 80, size: None,
            }], false)?;
        }
    }
}
