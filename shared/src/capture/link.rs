//! Which link a capture listens on, as users name it, and where on a host
//! that link can be seen.
//!
//! - `vm1:eth0` (or `host/router:outside`): a guest's nic, inside the guest.
//!   A guest with one nic may be named alone (`vm1`).
//! - `tunnels[0]`: a tunnel, as the file's path names it. Its OVS ports have
//!   no kernel device, so it is seen on the first end's underlay NIC,
//!   keeping only its own encapsulated packets.
//! - `node1/br-in`: a whole bridge, as the file's tunnels name it: an OVS
//!   mirror of all its ports to a veth made for the capture, removed after.
//! - `node1/br-ex:uplink`: a bridge's uplink to its external network, on the
//!   bridge's end of the uplink veth.
//!
//! A real host's agent is asked for a [`HostLink`]: what the controller knows
//! of the link, which the agent checks against its own host before it reads.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::names;
use crate::topology::{BridgeId, GuestId, NodeRef, Topology, TunnelKind};
use crate::trace::Layer;

/// A link of the topology.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    Nic {
        guest: GuestId,
        iface: usize,
    },
    Tunnel(usize),
    Bridge(BridgeId),
    /// The uplink of a bridge that has one.
    Uplink(BridgeId),
}

/// Where a sandbox host shows a link: a device in a namespace, and for a
/// tunnel which of the device's packets are the tunnel's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tap {
    pub netns: String,
    pub device: String,
    pub tunnel: Option<TunnelFilter>,
    /// For a whole bridge: the mirror to make before reading `device`.
    pub mirror: Option<MirrorOn>,
}

/// An OVS mirror of every port of a bridge, out to a port made for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorOn {
    /// The emulated host's OVSDB socket.
    pub ovsdb: String,
    /// The bridge's OVS name.
    pub bridge: String,
    /// The mirror's output port: a veth end whose peer is the tap's device.
    pub port: String,
}

/// A link as a real host's agent is asked to capture it. Every field is a
/// claim the agent checks on its own host: the namespace is the topology's,
/// the tunnel's port is marked as the topology's with that remote and key,
/// the bridge is marked as the topology's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HostLink {
    /// A device inside one of the topology's namespaces (a guest's nic).
    Nic { netns: String, device: String },
    /// One end of a tunnel: its OVS port (or kernel VXLAN device) on the
    /// host, and the outer headers of its packets: between the host's
    /// `local` underlay address and `remote`, with `kind`'s key or VNI.
    Tunnel {
        port: String,
        local: Ipv4Addr,
        remote: Ipv4Addr,
        kind: TunnelKind,
    },
    /// A whole bridge, by its OVS name.
    Bridge { bridge: String },
}

/// The outer headers of one tunnel's packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TunnelFilter {
    pub ends: [Ipv4Addr; 2],
    pub kind: TunnelKind,
    /// Engine `ovn`: the tunnel is OVN's Geneve between the two chassis
    /// (any VNI: `ovn-northd` chooses the keys), not the design's kind.
    pub geneve: bool,
}

impl Link {
    /// `text` as the `--link` option takes it; errors name what is missing.
    pub fn parse(topo: &Topology, text: &str) -> Result<Link, String> {
        if let Some(n) = text
            .strip_prefix("tunnels[")
            .and_then(|r| r.strip_suffix(']'))
        {
            let i: usize = n
                .parse()
                .map_err(|_| format!("{text}: a tunnel is named tunnels[N], N a number"))?;
            return match topo.tunnels.len() {
                0 => Err(format!("{text}: the topology has no tunnels")),
                len if i >= len => Err(format!(
                    "{text}: there are tunnels[0] to tunnels[{}]",
                    len - 1
                )),
                _ => Ok(Link::Tunnel(i)),
            };
        }
        let (node, nic) = match text.rsplit_once(':') {
            Some((node, nic)) => (node, Some(nic)),
            None => (text, None),
        };
        if let Some(b) = topo.find_bridge_path(node) {
            if topo.resolve_node(node).is_err() {
                return match nic {
                    None => Ok(Link::Bridge(b)),
                    Some("uplink") if topo.bridges[b].uplink.is_some() => Ok(Link::Uplink(b)),
                    Some("uplink") => Err(format!("{text}: bridge {node} has no uplink")),
                    Some(_) => Err(format!(
                        "{text}: a bridge is captured whole ({node}) or by its uplink ({node}:uplink)"
                    )),
                };
            }
        }
        let guest = match topo
            .resolve_node(node)
            .map_err(|e| format!("{text}: {e}"))?
        {
            NodeRef::Guest(g) => g,
            NodeRef::External(_) => {
                return Err(format!(
                    "{text}: an external network is no link; name a router's nic on it"
                ))
            }
        };
        let ifaces = &topo.guests[guest].ifaces;
        let names = || {
            ifaces
                .iter()
                .map(|i| i.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let iface = match nic {
            Some(nic) => ifaces
                .iter()
                .position(|i| i.name == nic)
                .ok_or_else(|| format!("{text}: {node} has no nic {nic:?} (it has {})", names()))?,
            None if ifaces.len() == 1 => 0,
            None => {
                return Err(format!(
                    "{text}: {node} has several nics ({}): name one as {node}:NIC",
                    names()
                ))
            }
        };
        Ok(Link::Nic { guest, iface })
    }

    /// How reports name this link: the form [`Link::parse`] reads.
    pub fn label(&self, topo: &Topology) -> String {
        match *self {
            Link::Nic { guest, iface } => {
                let g = &topo.guests[guest];
                let node = if g.is_vm() {
                    topo.vm_label(guest)
                } else {
                    format!("{}/{}", topo.hosts[g.host].name, g.name)
                };
                format!("{node}:{}", g.ifaces[iface].name)
            }
            Link::Tunnel(i) => format!("tunnels[{i}]"),
            Link::Bridge(b) => {
                let br = &topo.bridges[b];
                format!("{}/{}", topo.hosts[br.host].name, br.name)
            }
            Link::Uplink(b) => format!("{}:uplink", Link::Bridge(b).label(topo)),
        }
    }

    /// Where an emulated host shows this link.
    pub fn sandbox_tap(&self, topo: &Topology) -> Tap {
        match *self {
            Link::Nic { guest, iface } => {
                let g = &topo.guests[guest];
                Tap {
                    netns: g.netns.clone(),
                    device: g.ifaces[iface].name.clone(),
                    tunnel: None,
                    mirror: None,
                }
            }
            Link::Bridge(b) => {
                let br = &topo.bridges[b];
                let host = &topo.hosts[br.host];
                let tag = names::topology_tag(&topo.name);
                Tap {
                    netns: host.netns.clone(),
                    device: names::mirror_peer(&tag, &br.ovs_name),
                    tunnel: None,
                    mirror: Some(MirrorOn {
                        ovsdb: crate::plan::emulated_ovsdb(&topo.name, &host.name),
                        bridge: br.ovs_name.clone(),
                        port: names::mirror_port(&tag, &br.ovs_name),
                    }),
                }
            }
            Link::Uplink(b) => {
                let br = &topo.bridges[b];
                Tap {
                    netns: topo.hosts[br.host].netns.clone(),
                    device: br.uplink_port.clone().unwrap_or_default(),
                    tunnel: None,
                    mirror: None,
                }
            }
            Link::Tunnel(i) => {
                let t = &topo.tunnels[i];
                let [a, b] = t.ends.map(|e| &topo.hosts[topo.bridges[e].host]);
                Tap {
                    netns: a.netns.clone(),
                    device: names::underlay_port(&names::topology_tag(&topo.name)),
                    tunnel: Some(TunnelFilter {
                        ends: [a.underlay_ip, b.underlay_ip],
                        kind: t.kind,
                        geneve: topo.engine == crate::spec::Engine::Ovn,
                    }),
                    mirror: None,
                }
            }
        }
    }

    /// What the agent of [`Link::host`] is asked for when it is a real host:
    /// a tunnel at its first end, as [`Link::sandbox_tap`] reads it.
    pub fn host_link(&self, topo: &Topology) -> HostLink {
        match *self {
            Link::Nic { guest, iface } => {
                let g = &topo.guests[guest];
                HostLink::Nic {
                    netns: g.netns.clone(),
                    device: g.ifaces[iface].name.clone(),
                }
            }
            Link::Tunnel(i) => {
                let t = &topo.tunnels[i];
                let [a, b] = t.ends.map(|e| &topo.hosts[topo.bridges[e].host]);
                HostLink::Tunnel {
                    port: t.ports[0].clone(),
                    local: a.underlay_ip,
                    remote: b.underlay_ip,
                    kind: t.kind,
                }
            }
            Link::Bridge(b) => HostLink::Bridge {
                bridge: topo.bridges[b].ovs_name.clone(),
            },
            // The bridge's end of the uplink is in the host's own namespace.
            Link::Uplink(b) => HostLink::Nic {
                netns: String::new(),
                device: topo.bridges[b].uplink_port.clone().unwrap_or_default(),
            },
        }
    }

    /// The host whose agent (or sandbox) shows this link.
    pub fn host(&self, topo: &Topology) -> usize {
        match *self {
            Link::Nic { guest, .. } => topo.guests[guest].host,
            Link::Tunnel(i) => topo.bridges[topo.tunnels[i].ends[0]].host,
            Link::Bridge(b) | Link::Uplink(b) => topo.bridges[b].host,
        }
    }
}

impl TunnelFilter {
    /// Whether a decoded underlay frame is this tunnel's: between its two
    /// ends, either way, with its key or VNI (an absent GRE key is 0, as in OVS).
    pub fn keeps(&self, layers: &[Layer]) -> bool {
        let outer = layers.iter().position(|l| matches!(l, Layer::Ipv4 { .. }));
        let Some(i) = outer else { return false };
        let Layer::Ipv4 { src, dst, .. } = layers[i] else {
            return false;
        };
        if [src, dst] != self.ends && [dst, src] != self.ends {
            return false;
        }
        if self.geneve {
            let (udp, geneve) = (layers.get(i + 1), layers.get(i + 2));
            return matches!(udp, Some(Layer::Udp { .. }))
                && matches!(geneve, Some(Layer::Geneve { .. }));
        }
        match (self.kind, layers.get(i + 1), layers.get(i + 2)) {
            (TunnelKind::Gre { key }, Some(Layer::Gre { key: got, .. }), _) => {
                key.unwrap_or(0) == got.unwrap_or(0)
            }
            (
                TunnelKind::Vxlan { vni },
                Some(Layer::Udp { .. }),
                Some(Layer::Vxlan { vni: got }),
            ) => vni == *got,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::decode;

    fn seed() -> Topology {
        let text = include_str!("../../../examples/seedlab-gre.yaml");
        crate::load(text).unwrap().topology
    }

    #[test]
    fn links_parse_as_reports_name_them() {
        let t = seed();
        for g in 0..t.guests.len() {
            for i in 0..t.guests[g].ifaces.len() {
                let link = Link::Nic { guest: g, iface: i };
                assert_eq!(Link::parse(&t, &link.label(&t)), Ok(link));
            }
        }
        assert_eq!(Link::parse(&t, "tunnels[0]"), Ok(Link::Tunnel(0)));
        for b in 0..t.bridges.len() {
            let link = Link::Bridge(b);
            assert_eq!(Link::parse(&t, &link.label(&t)), Ok(link));
        }
        let tap = Link::Bridge(0).sandbox_tap(&t);
        let m = tap.mirror.expect("a bridge is read through a mirror");
        assert!(tap.device.starts_with(&m.port) && m.ovsdb.ends_with("/node1/db.sock"));
    }

    /// An agent is asked for a tunnel at the end the sandbox reads, with the
    /// outer headers the sandbox's filter keeps; a bridge by its OVS name,
    /// whose mirror devices are names of the topology's that fit Linux.
    #[test]
    fn a_real_host_is_asked_what_the_sandbox_reads() {
        let t = seed();
        let f = Link::Tunnel(0).sandbox_tap(&t).tunnel.unwrap();
        let HostLink::Tunnel {
            port,
            local,
            remote,
            kind,
        } = Link::Tunnel(0).host_link(&t)
        else {
            panic!("a tunnel")
        };
        assert_eq!(
            (TunnelFilter {
                ends: [local, remote],
                kind,
                geneve: false,
            }),
            f
        );
        assert_eq!(port, t.tunnels[0].ports[0]);
        let tag = names::topology_tag(&t.name);
        let mut seen = std::collections::HashSet::new();
        for b in 0..t.bridges.len() {
            let HostLink::Bridge { bridge } = Link::Bridge(b).host_link(&t) else {
                panic!("a bridge")
            };
            assert_eq!(bridge, t.bridges[b].ovs_name);
            let (port, peer) = (
                names::mirror_port(&tag, &bridge),
                names::mirror_peer(&tag, &bridge),
            );
            assert!(
                port.starts_with(&format!("nl{tag}m")) && peer.len() <= 15,
                "{peer}"
            );
            assert!(seen.insert(port), "two bridges share a mirror port");
        }
    }

    /// A bridge's uplink is named after the bridge and read on the bridge's
    /// end of the uplink veth; a bridge without one says so.
    #[test]
    fn an_uplink_is_its_bridges() {
        let text = include_str!("../../../examples/nat.yaml");
        let t = crate::load(text).unwrap().topology;
        let ex = t.find_bridge_path("node1/br-ex").unwrap();
        assert_eq!(Link::parse(&t, "node1/br-ex:uplink"), Ok(Link::Uplink(ex)));
        assert_eq!(Link::Uplink(ex).label(&t), "node1/br-ex:uplink");
        let tap = Link::Uplink(ex).sandbox_tap(&t);
        assert_eq!(Some(&tap.device), t.bridges[ex].uplink_port.as_ref());
        assert_eq!(tap.netns, t.hosts[0].netns);
        let e = Link::parse(&t, "node1/br-in:uplink").unwrap_err();
        assert!(e.contains("br-in has no uplink"), "{e}");
        let e = Link::parse(&t, "node1/br-ex:eth0").unwrap_err();
        assert!(e.contains("node1/br-ex:uplink"), "{e}");
    }

    #[test]
    fn a_bad_link_says_what_is_there() {
        let t = seed();
        let n = t.tunnels.len();
        let e = Link::parse(&t, &format!("tunnels[{n}]")).unwrap_err();
        assert!(e.contains(&format!("tunnels[{}]", n - 1)), "{e}");
        assert!(Link::parse(&t, "tunnels[x]")
            .unwrap_err()
            .contains("tunnels[N]"));
        assert!(Link::parse(&t, "nosuchvm").is_err());
        let vm = t.guests.iter().position(|g| g.is_vm()).unwrap();
        let e = Link::parse(&t, &format!("{}:eth9", t.guests[vm].name)).unwrap_err();
        assert!(e.contains("no nic \"eth9\"") && e.contains("eth0"), "{e}");
    }

    #[test]
    fn a_tunnel_keeps_its_own_packets_only() {
        let t = seed();
        let tap = Link::Tunnel(0).sandbox_tap(&t);
        let f = tap.tunnel.unwrap();
        let [a, b] = f.ends;
        let frame = |src: Ipv4Addr, dst: Ipv4Addr, key: u32| {
            let mut gre = vec![0x20, 0, 0x65, 0x58];
            gre.extend(key.to_be_bytes());
            gre.extend([0u8; 14]);
            let mut out = Vec::new();
            etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
                .ipv4(src.octets(), dst.octets(), 64)
                .write(&mut out, etherparse::IpNumber(47), &gre)
                .unwrap();
            decode(&out)
        };
        let TunnelKind::Gre { key } = f.kind else {
            panic!("the seed lab's tunnel is GRE")
        };
        let key = key.unwrap_or(0);
        assert!(f.keeps(&frame(a, b, key)));
        assert!(f.keeps(&frame(b, a, key)));
        assert!(!f.keeps(&frame(a, b, key + 1)));
        assert!(!f.keeps(&frame(a, Ipv4Addr::new(192, 0, 2, 9), key)));
        // Under OVN the tunnel is Geneve between the chassis: GRE is not it.
        let ovn = TunnelFilter { geneve: true, ..f };
        assert!(!ovn.keeps(&frame(a, b, key)));
        let geneve = |src: Ipv4Addr, dst: Ipv4Addr| {
            vec![
                Layer::Ipv4 {
                    src,
                    dst,
                    ttl: 64,
                    protocol: 17,
                    total_length: 100,
                },
                Layer::Udp {
                    src_port: 40000,
                    dst_port: 6081,
                    length: 80,
                },
                Layer::Geneve { vni: 7 },
            ]
        };
        assert!(ovn.keeps(&geneve(b, a)));
        assert!(!ovn.keeps(&geneve(a, Ipv4Addr::new(192, 0, 2, 9))));
        assert!(!f.keeps(&geneve(a, b)));
    }
}
