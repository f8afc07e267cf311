//! What a topology needs: every resource of every target.

use ipnet::Ipv4Net;

use super::*;
use crate::names;
use crate::sim::dhcp::Lease;
use crate::spec::Engine;
use crate::topology::{BridgeId, Guest, GuestKind, Host, HostId, IfaceAddr, Topology, TunnelKind};

/// What every part of [`desired`] needs to know.
struct Ctx<'t> {
    topo: &'t Topology,
    tag: String,
    run: String,
    tinfo: Vec<TargetInfo>,
    /// Per host: emulated here (no agent URL).
    sandbox_hosts: Vec<bool>,
    underlay_ns: String,
    /// Engine `ovn`: OVN's logical switches and routers replace the
    /// design's bridges, tunnels and router namespaces on the hosts.
    ovn: bool,
}

/// Everything a topology needs, per target.
pub fn desired(topo: &Topology, facts: &Facts) -> State {
    let c = Ctx {
        topo,
        tag: names::topology_tag(&topo.name),
        run: names::run_dir(&topo.name),
        tinfo: targets(topo, facts),
        sandbox_hosts: topo.hosts.iter().map(|h| h.agent.is_none()).collect(),
        underlay_ns: names::underlay_netns(&topo.name),
        ovn: topo.engine == Engine::Ovn,
    };
    let mut s = State::default();
    sandbox(&mut s, &c);
    externals(&mut s, &c);
    hosts(&mut s, &c);
    if !c.ovn {
        tunnels(&mut s, &c);
    }
    guests(&mut s, &c);
    s
}

/// The run directory, the underlay segment and the neighbour table.
fn sandbox(s: &mut State, c: &Ctx) {
    let Ctx {
        topo,
        ref tag,
        ref run,
        ref sandbox_hosts,
        ref underlay_ns,
        ..
    } = *c;
    s.insert(SANDBOX, Resource::RunDir { path: run.clone() });
    if c.ovn && topo.ovn.is_none() {
        s.insert(
            SANDBOX,
            Resource::OvnCentral {
                dir: names::ovn_dir(&topo.name),
            },
        );
    }

    // The underlay segment joining emulated hosts (real hosts have their own network).
    if sandbox_hosts.iter().any(|&b| b) {
        s.insert(
            SANDBOX,
            Resource::Netns {
                name: underlay_ns.clone(),
            },
        );
        s.insert(
            SANDBOX,
            Resource::Segment {
                netns: underlay_ns.clone(),
                name: names::segment(tag),
                mac: None,
            },
        );
    }
    // Many guests on one machine share its one neighbour table: make room
    // (never less than the machine has: see the executor and observation).
    if let Some(n) = neigh_table_size(topo) {
        for key in NEIGH_TABLE_SYSCTLS {
            s.insert(
                SANDBOX,
                Resource::Sysctl {
                    netns: String::new(),
                    key: key.into(),
                    value: n.to_string(),
                },
            );
        }
    }
}

/// Where external network `x` is emulated: this machine, or the real host
/// that uplinks to it ([`external_host`]).
fn external_target(topo: &Topology, x: usize) -> &str {
    external_host(topo, x).map_or(SANDBOX, |h| topo.hosts[h].name.as_str())
}

/// The external networks: a namespace and a segment each.
fn externals(s: &mut State, c: &Ctx) {
    let Ctx { topo, ref tag, .. } = *c;
    for (x, e) in topo.externals.iter().enumerate() {
        let place = external_target(topo, x);
        s.insert(
            place,
            Resource::Netns {
                name: e.netns.clone(),
            },
        );
        s.insert(
            place,
            Resource::Segment {
                netns: e.netns.clone(),
                name: names::segment(tag),
                mac: Some(e.mac),
            },
        );
        s.insert(
            place,
            Resource::Addr {
                netns: e.netns.clone(),
                dev: names::segment(tag),
                cidr: e.gateway,
            },
        );
    }
}

/// Each host's scaffolding: its namespace and daemons when emulated, bridges and uplinks.
fn hosts(s: &mut State, c: &Ctx) {
    let Ctx {
        topo,
        ref run,
        ref tinfo,
        ..
    } = *c;
    for (hi, h) in topo.hosts.iter().enumerate() {
        let t = &tinfo[hi + 1];
        if h.agent.is_some() {
            // A real host keeps its own files (dnsmasq's, leases, rulesets, the lease script).
            s.insert(&h.name, Resource::RunDir { path: run.clone() });
        }
        if h.agent.is_none() {
            emulated_host(s, c, hi, t);
            underlay_bridge(s, c, h, t);
        } else if c.ovn {
            real_chassis(s, c, hi, t);
        }
        for &b in &h.bridges {
            // Under OVN only a bridge with an uplink stays: the provider
            // bridge its localnet port reaches the external network by.
            if !c.ovn || topo.bridges[b].uplink.is_some() {
                host_bridge(s, c, h, t, b);
            }
        }
    }
}

/// An emulated host as the sandbox makes it: its namespace, its link to the
/// underlay, its agent and Open vSwitch daemons.
fn emulated_host(s: &mut State, c: &Ctx, hi: HostId, t: &TargetInfo) {
    let h = &c.topo.hosts[hi];
    let Ctx {
        ref tag,
        ref run,
        ref underlay_ns,
        ..
    } = *c;
    let hns = t.netns.clone();
    s.insert(
        SANDBOX,
        Resource::Netns {
            name: h.netns.clone(),
        },
    );
    s.insert(
        SANDBOX,
        Resource::Veth {
            netns: hns.clone(),
            name: names::underlay_port(tag),
            peer_netns: underlay_ns.clone(),
            peer: h.underlay_peer.clone(),
            peer_mac: None,
            peer_master: Some(names::segment(tag)),
        },
    );
    s.insert(
        SANDBOX,
        Resource::Agent {
            netns: hns.clone(),
            dir: format!("{run}/{}", h.name),
        },
    );
    // Started by the sandbox with the host's agent, so the host's own
    // steps find its Open vSwitch running.
    s.insert(
        SANDBOX,
        Resource::OvsDaemons {
            netns: hns.clone(),
            dir: format!("{run}/{}", h.name),
            ovn: c.ovn.then(|| ovn_chassis(c, hi, t)),
        },
    );
    if c.ovn {
        // Made with the daemons (as the underlay bridge is), listed so it is observed and confined.
        s.insert(
            &h.name,
            Resource::OvsBridge {
                name: names::ovn_bridge(tag),
                datapath: t.datapath.clone(),
            },
        );
    }
    // Only the underlay bridge's port, which holds the address, answers
    // ARP for it: the underlay veth is an OVS port but also a kernel
    // device here, and its answer (its own MAC) would make a remote's
    // tunnel send to a MAC this host's OVS does not take tunnel packets for.
    s.insert(
        SANDBOX,
        Resource::Sysctl {
            netns: hns.clone(),
            key: "net/ipv4/conf/all/arp_ignore".into(),
            value: "1".into(),
        },
    );
}

/// How host `h`'s `ovn-controller` joins the topology's OVN central: the
/// existing one (`ovn`) or the sandbox's own.
fn ovn_chassis(c: &Ctx, h: HostId, t: &TargetInfo) -> OvnChassis {
    let remote = match &c.topo.ovn {
        Some(central) => central.southbound.to_string(),
        None => format!("unix:{}/sb.sock", names::ovn_dir(&c.topo.name)),
    };
    OvnChassis {
        chassis: crate::ovn::chassis(c.topo, h),
        remote,
        bridge: names::ovn_bridge(&c.tag),
        datapath: t.datapath.clone(),
    }
}

/// A real host as a chassis of the existing central: its integration
/// bridge, the chassis' keys, then its `ovn-controller`.
fn real_chassis(s: &mut State, c: &Ctx, hi: HostId, t: &TargetInfo) {
    let h = &c.topo.hosts[hi].name;
    s.insert(
        h,
        Resource::OvsBridge {
            name: names::ovn_bridge(&c.tag),
            datapath: t.datapath.clone(),
        },
    );
    s.insert(
        h,
        Resource::OvnChassis {
            chassis: ovn_chassis(c, hi, t),
        },
    );
    s.insert(
        h,
        Resource::OvnController {
            dir: names::ovn_controller_dir(&c.topo.name),
            tls: c.topo.ovn.as_ref().and_then(|o| o.tls.clone()),
        },
    );
}

/// An emulated host's bridge to the underlay, which holds its underlay address.
fn underlay_bridge(s: &mut State, c: &Ctx, h: &Host, t: &TargetInfo) {
    let Ctx { topo, ref tag, .. } = *c;
    let phy = names::phy_bridge(tag);
    s.insert(
        &h.name,
        Resource::OvsBridge {
            name: phy.clone(),
            datapath: t.datapath.clone(),
        },
    );
    s.insert(
        &h.name,
        Resource::OvsPort {
            bridge: phy.clone(),
            name: names::underlay_port(tag),
            tag: None,
            iface: OvsIface::System,
        },
    );
    s.insert(
        &h.name,
        Resource::Addr {
            netns: t.netns.clone(),
            dev: phy,
            cidr: Ipv4Net::new(h.underlay_ip, topo.underlay.prefix_len()).unwrap_or(topo.underlay),
        },
    );
}

/// Bridge `b` of host `h`, and its uplink to an external network if it has one.
fn host_bridge(s: &mut State, c: &Ctx, h: &Host, t: &TargetInfo, b: BridgeId) {
    let Ctx { topo, ref tag, .. } = *c;
    let br = &topo.bridges[b];
    s.insert(
        &h.name,
        Resource::OvsBridge {
            name: br.ovs_name.clone(),
            datapath: t.datapath.clone(),
        },
    );
    if let (Some(x), Some(port), Some(peer)) = (br.uplink, &br.uplink_port, &br.uplink_peer) {
        // Both ends are where the external network is emulated.
        let place = external_target(topo, x);
        s.insert(
            place,
            Resource::Veth {
                netns: t.netns.clone(),
                name: port.clone(),
                peer_netns: topo.externals[x].netns.clone(),
                peer: peer.clone(),
                peer_mac: None,
                peer_master: Some(names::segment(tag)),
            },
        );
        // The upstream router's own TCP/UDP leaves by this end into a userspace datapath.
        if t.datapath == "netdev" {
            s.insert(
                place,
                Resource::TxOffloadOff {
                    netns: topo.externals[x].netns.clone(),
                    dev: peer.clone(),
                },
            );
        }
        s.insert(
            &h.name,
            Resource::OvsPort {
                bridge: br.ovs_name.clone(),
                name: port.clone(),
                tag: None,
                iface: OvsIface::System,
            },
        );
    }
}

/// Tunnel ports (or kernel VXLAN devices) on both ends.
fn tunnels(s: &mut State, c: &Ctx) {
    let Ctx {
        topo, ref tinfo, ..
    } = *c;
    for tun in &topo.tunnels {
        for end in 0..2 {
            let br = &topo.bridges[tun.ends[end]];
            let here = &topo.hosts[br.host];
            let other = &topo.hosts[topo.bridges[tun.ends[1 - end]].host];
            let t = &tinfo[br.host + 1];
            if let (TunnelKind::Vxlan { vni }, true) = (tun.kind, kernel_vxlan(t)) {
                s.insert(
                    &here.name,
                    Resource::VxlanLink {
                        netns: t.netns.clone(),
                        name: tun.ports[end].clone(),
                        vni,
                        local: here.underlay_ip,
                        remote: other.underlay_ip,
                    },
                );
                s.insert(
                    &here.name,
                    Resource::OvsPort {
                        bridge: br.ovs_name.clone(),
                        name: tun.ports[end].clone(),
                        tag: None,
                        iface: OvsIface::System,
                    },
                );
                continue;
            }
            let iface = match tun.kind {
                TunnelKind::Gre { key } => OvsIface::Gre {
                    remote_ip: other.underlay_ip,
                    key,
                },
                TunnelKind::Vxlan { vni } => OvsIface::Vxlan {
                    remote_ip: other.underlay_ip,
                    vni,
                },
            };
            s.insert(
                &topo.hosts[br.host].name,
                Resource::OvsPort {
                    bridge: br.ovs_name.clone(),
                    name: tun.ports[end].clone(),
                    tag: None,
                    iface,
                },
            );
        }
    }
}

/// Each guest: its namespace, interfaces, addresses or DHCP client, routes and services.
fn guests(s: &mut State, c: &Ctx) {
    let topo = c.topo;
    let mut dhcp_order = 0;
    let leases = crate::sim::dhcp::leases(topo);
    for (gi, g) in topo.guests.iter().enumerate() {
        if c.ovn && g.is_router() {
            // An OVN gateway router, in the northbound database.
            continue;
        }
        let target = topo.hosts[g.host].name.as_str();
        s.insert(
            target,
            Resource::Netns {
                name: g.netns.clone(),
            },
        );
        s.insert(
            target,
            Resource::Sysctl {
                netns: g.netns.clone(),
                key: "net/ipv4/ip_forward".into(),
                value: if g.is_router() { "1" } else { "0" }.into(),
            },
        );
        for ii in 0..g.ifaces.len() {
            guest_iface(s, c, (gi, ii), &leases, &mut dhcp_order);
        }
        guest_routes(s, target, g);
        if let Some(rules) = nft_ruleset(topo, gi) {
            s.insert(
                target,
                Resource::Nft {
                    netns: g.netns.clone(),
                    ruleset: rules,
                },
            );
        }
        if matches!(g.kind, GuestKind::Dhcp(_)) {
            dhcp_server(s, c, gi, &leases);
        }
    }
}

/// Interface `ii` of guest `gi`: its veth to the host's bridge, and its
/// address or DHCP client. DHCP clients are numbered in the order met, which
/// `dhcp_order` counts.
fn guest_iface(
    s: &mut State,
    c: &Ctx,
    (gi, ii): (usize, usize),
    leases: &[Lease],
    dhcp_order: &mut usize,
) {
    let topo = c.topo;
    let g = &topo.guests[gi];
    let iface = &g.ifaces[ii];
    let t = &c.tinfo[g.host + 1];
    let target = topo.hosts[g.host].name.as_str();
    s.insert(
        target,
        Resource::Veth {
            netns: t.netns.clone(),
            name: iface.port.clone(),
            peer_netns: g.netns.clone(),
            peer: iface.name.clone(),
            peer_mac: Some(iface.mac),
            peer_master: None,
        },
    );
    let port = if c.ovn {
        Resource::OvsPort {
            bridge: names::ovn_bridge(&c.tag),
            name: iface.port.clone(),
            tag: None,
            iface: OvsIface::Vif {
                iface_id: crate::ovn::iface_id(topo, gi, ii),
            },
        }
    } else {
        Resource::OvsPort {
            bridge: topo.bridges[iface.bridge].ovs_name.clone(),
            name: iface.port.clone(),
            tag: iface.vlan,
            iface: OvsIface::System,
        }
    };
    s.insert(target, port);
    s.insert(
        target,
        Resource::TxOffloadOff {
            netns: g.netns.clone(),
            dev: iface.name.clone(),
        },
    );
    match iface.addr {
        IfaceAddr::Static(cidr) => {
            s.insert(
                target,
                Resource::Addr {
                    netns: g.netns.clone(),
                    dev: iface.name.clone(),
                    cidr,
                },
            );
        }
        IfaceAddr::Dhcp => {
            s.insert(
                target,
                Resource::DhcpClient {
                    netns: g.netns.clone(),
                    dev: iface.name.clone(),
                    order: *dhcp_order,
                    no_lease: !leases.iter().any(|l| l.client == gi && l.iface == ii),
                },
            );
            *dhcp_order += 1;
        }
        IfaceAddr::None => {}
    }
}

/// A guest's default route and its other routes.
fn guest_routes(s: &mut State, target: &str, g: &Guest) {
    if let Some(gw) = g.gateway {
        s.insert(
            target,
            Resource::Route {
                netns: g.netns.clone(),
                to: None,
                via: gw,
            },
        );
    }
    for r in &g.routes {
        s.insert(
            target,
            Resource::Route {
                netns: g.netns.clone(),
                to: Some(r.to),
                via: r.via,
            },
        );
    }
}

/// The DHCP server `gi`: a hosts file per lease it gives, and its dnsmasq.
fn dhcp_server(s: &mut State, c: &Ctx, gi: usize, leases: &[Lease]) {
    let Ctx { topo, ref run, .. } = *c;
    let g = &topo.guests[gi];
    let host = &topo.hosts[g.host];
    let target = host.name.as_str();
    let dir = format!("{run}/{}", host.name);
    let name = format!("dhcp-{}", g.name);
    for l in leases.iter().filter(|l| l.server == gi) {
        let client = &topo.guests[l.client];
        let iface = &client.ifaces[l.iface];
        s.insert(
            target,
            Resource::DhcpHost {
                path: format!(
                    "{}/{}.{}",
                    dhcp_hosts_dir(&dir, &name),
                    client.netns,
                    iface.name
                ),
                mac: iface.mac,
                ip: l.addr.addr(),
            },
        );
    }
    s.insert(
        target,
        Resource::Dnsmasq {
            netns: g.netns.clone(),
            args: dnsmasq_args(topo, gi, &dir, &name),
            name,
        },
    );
}
