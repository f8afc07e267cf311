//! The real path beside the predicted one: which of a trace's frames were
//! seen on the links it crosses, and the first that was not.
//!
//! The backend sends the probe for real while capturing on
//! [`links_to_watch`]; [`compare`] then matches every frame the trace put on
//! a wire against what each link saw. ARP frames are shown but never the
//! difference: whether a neighbour is asked again depends on caches the
//! simulator starts empty.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::capture::Link;
use crate::topology::{NodeRef, Topology};
use crate::trace::{Action, Disposition, Headers, Layer, NodeKind, Step, Trace};

/// One frame the trace put on a wire, and where it was seen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FrameCheck {
    /// The node of the first hop showing it.
    pub node: String,
    pub predicted: Vec<Layer>,
    /// Links on which an equal frame was captured.
    pub seen_on: Vec<String>,
    /// ARP: a warm cache sends none, so its absence proves nothing.
    pub optional: bool,
}

/// The predicted frames in order, and the first one no link saw.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PathCheck {
    pub frames: Vec<FrameCheck>,
    pub first_difference: Option<usize>,
    /// The trace's outcome, for the summary.
    pub predicted: String,
}

/// The links a probe's trace crosses: every nic of the guests it visits,
/// every tunnel between two bridges it visits, and every uplink between a
/// bridge and an external network's segment it visits.
pub fn links_to_watch(topo: &Topology, trace: &Trace) -> Vec<Link> {
    let nodes: Vec<&str> = trace.hops.iter().map(|h| h.node.as_str()).collect();
    let mut out = Vec::new();
    for (g, guest) in topo.guests.iter().enumerate() {
        let label = if guest.is_vm() {
            topo.vm_label(g)
        } else {
            format!("{}/{}", topo.hosts[guest.host].name, guest.name)
        };
        if nodes.contains(&label.as_str()) && topo.resolve_node(&label) == Ok(NodeRef::Guest(g)) {
            out.extend((0..guest.ifaces.len()).map(|iface| Link::Nic { guest: g, iface }));
        }
    }
    let bridge = |b: usize| {
        let br = &topo.bridges[b];
        format!("{}/{}", topo.hosts[br.host].name, br.name)
    };
    for (i, t) in topo.tunnels.iter().enumerate() {
        if t.ends.iter().all(|&b| nodes.contains(&bridge(b).as_str())) {
            out.push(Link::Tunnel(i));
        }
    }
    // An uplink joins its bridge to its external network's segment.
    for (b, br) in topo.bridges.iter().enumerate() {
        let Some(x) = br.uplink else { continue };
        let segment = format!("{} (segment)", topo.externals[x].name);
        if nodes.contains(&bridge(b).as_str()) && nodes.contains(&segment.as_str()) {
            out.push(Link::Uplink(b));
        }
    }
    out
}

/// The frames of a trace that cross a wire, in order, each told once (a
/// frame a bridge passes on unchanged is one frame seen on two links), and
/// whether it is ARP. Inside a bridge a frame carries the VLAN of its access
/// port, which no wire shows: only what a bridge outputs or encapsulates counts.
pub fn wire_frames(trace: &Trace) -> Vec<(&str, &[Layer], bool)> {
    let mut out: Vec<(&str, &[Layer], bool)> = Vec::new();
    for hop in &trace.hops {
        let switch = matches!(hop.kind, NodeKind::Bridge | NodeKind::Segment);
        let on_wire =
            |s: &&Step| !switch || matches!(s.action, Action::Output | Action::TunnelEncap);
        for s in hop.steps.iter().filter(on_wire) {
            let p = s.packet.as_slice();
            let frame = matches!(p.first(), Some(Layer::Ethernet { .. }));
            if frame && !out.iter().any(|(_, q, _)| same(q, p)) {
                let arp = p.iter().any(|l| matches!(l, Layer::Arp { .. }));
                out.push((hop.node.as_str(), p, arp));
            }
        }
    }
    out
}

/// Whether a captured frame is the predicted one. Echo id and sequence, and
/// a TCP client's port, are the sender's own; a tunnelled frame is compared from its tunnel header in,
/// since the underlay's own MACs are the machine's, not the design's.
pub fn same(predicted: &[Layer], captured: &[Layer]) -> bool {
    let from_tunnel = |p: &[Layer]| {
        p.iter()
            .position(|l| {
                matches!(
                    l,
                    Layer::Gre { .. } | Layer::Vxlan { .. } | Layer::Geneve { .. }
                )
            })
            .map_or(0, |i| i)
    };
    let (a, b) = (from_tunnel(predicted), from_tunnel(captured));
    let (p, c) = (&predicted[a..], &captured[b..]);
    p.len() == c.len() && p.iter().zip(c).all(|(x, y)| same_layer(x, y))
}

fn same_layer(a: &Layer, b: &Layer) -> bool {
    match (a, b) {
        (
            Layer::Icmp {
                kind: k1, code: c1, ..
            },
            Layer::Icmp {
                kind: k2, code: c2, ..
            },
        ) => k1 == k2 && c1 == c2,
        // The client's port is the kernel's own choice: the server's side must match.
        (
            Layer::Tcp {
                src_port: s1,
                dst_port: d1,
                flags: f1,
            },
            Layer::Tcp {
                src_port: s2,
                dst_port: d2,
                flags: f2,
            },
        ) => f1 == f2 && (s1 == s2 || d1 == d2),
        // OVN's tunnel key is ovn-northd's choice; the simulator's VNI only stands in for it.
        (Layer::Geneve { .. }, Layer::Geneve { .. }) => true,
        _ => a == b,
    }
}

/// Every frame the trace put on a wire against what each link captured
/// (`(link label, layers)`); a tunnel's capture also counts for the frame
/// inside it, which is what the far bridge takes in.
pub fn compare(trace: &Trace, captured: &[(String, Vec<Layer>)]) -> PathCheck {
    let frames: Vec<FrameCheck> = wire_frames(trace)
        .into_iter()
        .map(|(node, p, optional)| {
            let mut seen_on: Vec<String> = captured
                .iter()
                .filter(|(_, c)| inner_frames(c).any(|f| same(p, f)))
                .map(|(l, _)| l.clone())
                .collect();
            seen_on.dedup();
            FrameCheck {
                node: node.to_string(),
                predicted: p.to_vec(),
                seen_on,
                optional,
            }
        })
        .collect();
    let first_difference = frames
        .iter()
        .position(|f| !f.optional && f.seen_on.is_empty());
    let predicted = match &trace.disposition {
        Disposition::Delivered { .. } => "delivered".to_string(),
        Disposition::Dropped { reason, node, .. } => format!("dropped ({reason}) at {node}"),
    };
    PathCheck {
        frames,
        first_difference,
        predicted,
    }
}

/// The frame and each Ethernet frame carried inside it.
fn inner_frames(c: &[Layer]) -> impl Iterator<Item = &[Layer]> {
    (0..c.len())
        .filter(|&i| matches!(c[i], Layer::Ethernet { .. }))
        .map(move |i| &c[i..])
}

impl fmt::Display for PathCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Real path (predicted: {}):", self.predicted)?;
        for (i, fr) in self.frames.iter().enumerate() {
            let seen = if fr.seen_on.is_empty() && fr.optional {
                "not seen (ARP: a cached neighbour needs none)".to_string()
            } else if fr.seen_on.is_empty() {
                "NOT SEEN".to_string()
            } else {
                format!("seen on {}", fr.seen_on.join(", "))
            };
            writeln!(f, "{:>2}. at {}: {seen}", i + 1, fr.node)?;
            writeln!(f, "      {}", Headers(&fr.predicted))?;
        }
        match self.first_difference {
            None => writeln!(f, "Reality agrees: every predicted frame was seen."),
            Some(i) => writeln!(
                f,
                "First difference: frame {} at {} was predicted but seen on no link.",
                i + 1,
                self.frames[i].node
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::{simulate, Probe};

    fn seed() -> Topology {
        crate::load(include_str!("../../../examples/seedlab-gre.yaml"))
            .unwrap()
            .topology
    }

    fn ping(t: &Topology, from: &str, to: &str) -> Trace {
        simulate(t, &Probe::parse(t, from, to, "icmp", None).unwrap())
    }

    #[test]
    fn a_ping_across_the_tunnel_watches_both_vms_and_the_tunnel() {
        let t = seed();
        let links: Vec<String> = links_to_watch(&t, &ping(&t, "vm1", "10.0.10.2"))
            .iter()
            .map(|l| l.label(&t))
            .collect();
        assert_eq!(links, ["vm1:eth0", "vm3:eth0", "tunnels[0]"]);
    }

    #[test]
    fn a_ping_out_to_the_external_network_watches_the_uplink() {
        let t = crate::load(include_str!("../../../examples/nat.yaml"))
            .unwrap()
            .topology;
        let labels = |tr: &Trace| -> Vec<String> {
            links_to_watch(&t, tr).iter().map(|l| l.label(&t)).collect()
        };
        let out = labels(&ping(&t, "vm1", "198.51.100.1"));
        assert!(out.contains(&"node1/br-ex:uplink".to_string()), "{out:?}");
        // Inside, the uplink is not on the way.
        let inside = labels(&ping(&t, "vm1", "10.0.0.2"));
        assert!(!inside.iter().any(|l| l.ends_with(":uplink")), "{inside:?}");
    }

    #[test]
    fn all_seen_agrees_and_a_missing_frame_is_the_first_difference() {
        let t = seed();
        let trace = ping(&t, "vm1", "10.0.10.2");
        let frames = wire_frames(&trace);
        assert!(frames.len() >= 4, "{frames:?}");
        let all: Vec<(String, Vec<Layer>)> = frames
            .iter()
            .filter(|(_, _, arp)| !arp)
            .map(|(_, p, _)| ("somewhere".to_string(), p.to_vec()))
            .collect();
        let check = compare(&trace, &all);
        assert_eq!(check.first_difference, None, "{check}");
        // The reply never came: the first frame carrying it is the difference.
        let is_reply = |p: &[Layer]| p.iter().any(|l| l.to_string().contains("echo reply"));
        let in_all = all.iter().position(|(_, p)| is_reply(p)).unwrap();
        let in_frames = frames.iter().position(|(_, p, _)| is_reply(p)).unwrap();
        let check = compare(&trace, &all[..in_all]);
        assert_eq!(check.first_difference, Some(in_frames), "{check}");
        assert!(check.to_string().contains("First difference"));
    }
}
