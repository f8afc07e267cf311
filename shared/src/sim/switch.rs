//! Open vSwitch bridges in standalone mode (the NORMAL action), and the
//! segment of an external network, which behaves the same for our frames.
//!
//! NORMAL, as OVS implements it: an access port (tag N) puts untagged ingress
//! frames in VLAN N and drops tagged ones; a port with no tag and no trunks
//! list carries every VLAN: untagged is VLAN 0, tagged frames keep their VLAN.
//! The bridge learns (VLAN, source MAC) → port, sends known unicast to its one
//! port (nowhere when that is the ingress port), and floods broadcast and
//! unknown unicast to every other port of the VLAN. Egress: access ports and
//! VLAN 0 untagged, other VLANs tagged. Tunnel ports are untagged ports, so
//! the inner frame keeps its 802.1Q tag.

use super::net::{Peer, SwId};
use std::net::Ipv4Addr;

use super::packet::{Encap, EncapKind, Frame, Payload, MTU};
use super::{step, Event, Sim};
use crate::trace::{Action, DropReason, NodeKind, Step};

impl Sim<'_, '_> {
    /// A frame arriving on port `port` of switch `sw` (decapsulated from
    /// `encap` when it came through a tunnel), forwarded the way NORMAL does.
    pub(super) fn switch_rx(
        &mut self,
        sw: SwId,
        port: usize,
        mut frame: Frame,
        encap: Option<Encap>,
    ) {
        let net = self.net;
        let swt = &net.switches[sw];
        if net.ovn.is_some() && swt.kind == NodeKind::Bridge {
            self.logical_switch_rx(sw, port, frame, encap);
            return;
        }
        let mut steps = Vec::new();
        if let Some(e) = encap {
            steps.push(self.decap_step(sw, port, &e, &frame));
        }
        let ingress_tagged = frame.vlan.is_some();
        let Some(vlan) = self.ingress_vlan(sw, port, &frame, &mut steps) else {
            self.record_switch(sw, steps);
            return;
        };
        self.learn(sw, port, vlan, &frame, &mut steps);
        // Inside the bridge the VLAN is metadata; show it as it would leave a trunk.
        frame.vlan = (vlan != 0).then_some(vlan);
        let Some(outs) = self.out_ports(sw, port, vlan, &frame, &mut steps) else {
            self.record_switch(sw, steps);
            return;
        };
        let plain = self.output_groups(sw, vlan, ingress_tagged, &frame, &outs, &mut steps);
        for q in outs {
            let out = if swt.ports[q].tag.is_some() || vlan == 0 {
                plain.clone()
            } else {
                frame.clone()
            };
            self.port_out(sw, q, out, &mut steps);
        }
        self.record_switch(sw, steps);
    }

    /// A frame coming out of tunnel port `port` of switch `sw`.
    pub(super) fn decap_step(&self, sw: SwId, port: usize, e: &Encap, frame: &Frame) -> Step {
        let p = &self.net.switches[sw].ports[port];
        let detail = format!(
            "{} from {} > {} on {} ({})",
            e.kind, e.src_ip, e.dst_ip, p.name, p.desc
        );
        Step {
            action: Action::TunnelDecap,
            detail,
            packet: e.layers(frame),
        }
    }

    /// The VLAN a frame entering `port` belongs to, with the ingress step;
    /// `None` when an access port drops it for carrying a tag.
    fn ingress_vlan(
        &mut self,
        sw: SwId,
        port: usize,
        frame: &Frame,
        steps: &mut Vec<Step>,
    ) -> Option<u16> {
        let net = self.net;
        let swt = &net.switches[sw];
        let p = &swt.ports[port];
        let vlan = match (p.tag, frame.vlan) {
            (Some(tag), None) => tag,
            (Some(tag), Some(v)) => {
                let detail = format!(
                    "access port {} (VLAN {tag}) drops a frame tagged VLAN {v}",
                    p.name
                );
                steps.push(step(Action::Drop, detail.clone(), frame));
                if matches!(frame.payload, Payload::Ip(_)) {
                    self.lose(DropReason::VlanMismatch, swt.label.clone(), detail);
                }
                return None;
            }
            (None, v) => v.unwrap_or(0),
        };
        let mode = match p.tag {
            Some(t) => format!("access VLAN {t}"),
            None if vlan == 0 => "untagged port, native VLAN".to_string(),
            None => format!("untagged port, tagged VLAN {vlan}"),
        };
        steps.push(step(
            Action::Ingress,
            format!("in_port {} ({}), {mode}", p.name, p.desc),
            frame,
        ));
        Some(vlan)
    }

    /// MAC learning: the frame's source is reached by `port` in `vlan`.
    fn learn(&mut self, sw: SwId, port: usize, vlan: u16, frame: &Frame, steps: &mut Vec<Step>) {
        let p = &self.net.switches[sw].ports[port];
        let table = &mut self.macs[sw];
        if !frame.src.is_multicast() {
            match table
                .iter_mut()
                .find(|(v, m, _)| *v == vlan && *m == frame.src)
            {
                Some(e) if e.2 == port => {}
                Some(e) => {
                    e.2 = port;
                    steps.push(step(
                        Action::Learn,
                        format!("{} moved to {} in VLAN {vlan}", frame.src, p.name),
                        frame,
                    ));
                }
                None => {
                    table.push((vlan, frame.src, port));
                    steps.push(step(
                        Action::Learn,
                        format!("learned {} on {} in VLAN {vlan}", frame.src, p.name),
                        frame,
                    ));
                }
            }
        }
    }

    /// The ports a frame leaves by: the learned one, or every other port of
    /// the VLAN; `None` when its destination was learned on the ingress port.
    fn out_ports(
        &mut self,
        sw: SwId,
        port: usize,
        vlan: u16,
        frame: &Frame,
        steps: &mut Vec<Step>,
    ) -> Option<Vec<usize>> {
        let net = self.net;
        let swt = &net.switches[sw];
        let known = if frame.dst.is_multicast() {
            None
        } else {
            self.macs[sw]
                .iter()
                .find(|(v, m, _)| *v == vlan && *m == frame.dst)
                .map(|e| e.2)
        };
        match known {
            Some(q) if q == port => {
                let detail = format!(
                    "{} was learned on the ingress port: not sent back",
                    frame.dst
                );
                steps.push(step(Action::Drop, detail, frame));
                None
            }
            Some(q) => {
                let detail = format!(
                    "{} in VLAN {vlan} learned on {} ({})",
                    frame.dst, swt.ports[q].name, swt.ports[q].desc
                );
                steps.push(step(Action::Lookup, detail, frame));
                Some(vec![q])
            }
            None => {
                let outs: Vec<usize> = (0..swt.ports.len())
                    .filter(|&q| q != port && swt.ports[q].tag.is_none_or(|t| t == vlan))
                    .collect();
                let why = if frame.dst.is_multicast() {
                    "broadcast"
                } else {
                    "no learned MAC for destination"
                };
                let detail = if outs.is_empty() {
                    format!("{why}: VLAN {vlan} has no other port")
                } else {
                    format!(
                        "{why}: flooding VLAN {vlan} to {}",
                        port_list(self, sw, &outs)
                    )
                };
                steps.push(step(Action::Flood, detail, frame));
                Some(outs)
            }
        }
    }

    /// The output steps grouped the way the datapath actions read: untagged
    /// ports, then tagged ones. Returns the frame as untagged ports send it.
    fn output_groups(
        &self,
        sw: SwId,
        vlan: u16,
        ingress_tagged: bool,
        frame: &Frame,
        outs: &[usize],
        steps: &mut Vec<Step>,
    ) -> Frame {
        let swt = &self.net.switches[sw];
        let (untagged, tagged): (Vec<usize>, Vec<usize>) = outs
            .iter()
            .partition(|&&q| swt.ports[q].tag.is_some() || vlan == 0);
        let mut plain = frame.clone();
        plain.vlan = None;
        if !untagged.is_empty() {
            let action = if ingress_tagged {
                Action::VlanPop
            } else {
                Action::Output
            };
            steps.push(step(
                action,
                format!("untagged to {}", port_list(self, sw, &untagged)),
                &plain,
            ));
        }
        if !tagged.is_empty() {
            let action = if ingress_tagged {
                Action::Output
            } else {
                Action::VlanPush
            };
            steps.push(step(
                action,
                format!("tagged VLAN {vlan} to {}", port_list(self, sw, &tagged)),
                frame,
            ));
        }
        plain
    }

    /// Frame `out` leaving port `q` of switch `sw` to what the port is wired
    /// to; a tunnel port encapsulates it, or drops it when it exceeds the MTU.
    pub(super) fn port_out(&mut self, sw: SwId, q: usize, out: Frame, steps: &mut Vec<Step>) {
        let net = self.net;
        let swt = &net.switches[sw];
        match swt.ports[q].peer {
            Peer::Stack { stack, iface } => self.queue.push_back(Event::Stack {
                stack,
                iface,
                frame: out,
            }),
            Peer::Wire {
                remote: (rsw, rport),
            } => self.queue.push_back(Event::Switch {
                sw: rsw,
                port: rport,
                frame: out,
                encap: None,
            }),
            Peer::Tunnel {
                kind,
                local_ip,
                remote_ip,
                remote,
            } => {
                let kind = EncapKind::Design(kind);
                self.tunnel_out(sw, q, out, kind, (local_ip, remote_ip, remote), steps);
            }
        }
    }

    /// Frame `out` encapsulated in `kind` on tunnel port `q` of switch `sw`
    /// (`ends`: local and remote underlay addresses, and where it comes
    /// out), or dropped when it exceeds the underlay MTU.
    pub(super) fn tunnel_out(
        &mut self,
        sw: SwId,
        q: usize,
        out: Frame,
        kind: EncapKind,
        ends: (Ipv4Addr, Ipv4Addr, (SwId, usize)),
        steps: &mut Vec<Step>,
    ) {
        let swt = &self.net.switches[sw];
        let (local_ip, remote_ip, (rsw, rport)) = ends;
        let e = Encap {
            kind,
            src_mac: super::packet::underlay_mac(local_ip),
            dst_mac: super::packet::underlay_mac(remote_ip),
            src_ip: local_ip,
            dst_ip: remote_ip,
        };
        let outer = e.outer_len(&out);
        if outer > u32::from(MTU) {
            let detail = format!(
                "{} bytes after {} encapsulation ({}) exceed the underlay MTU {MTU}: dropped",
                outer,
                kind,
                overhead_words(kind, out.vlan.is_some())
            );
            steps.push(step(Action::Drop, detail.clone(), &out));
            self.lose(
                DropReason::MtuExceeded,
                format!("{} {}", swt.label, swt.ports[q].name),
                detail,
            );
            return;
        }
        let detail = format!(
            "{} {} > {} on {}",
            kind, local_ip, remote_ip, swt.ports[q].name
        );
        steps.push(Step {
            action: Action::TunnelEncap,
            detail,
            packet: e.layers(&out),
        });
        self.queue.push_back(Event::Switch {
            sw: rsw,
            port: rport,
            frame: out,
            encap: Some(e),
        });
    }
}

fn overhead_words(kind: EncapKind, tagged: bool) -> String {
    let tag = if tagged {
        " + 4 for the 802.1Q tag"
    } else {
        ""
    };
    format!("+{}{tag}", kind.overhead())
}

pub(super) fn port_list(sim: &Sim, sw: SwId, ports: &[usize]) -> String {
    let swt = &sim.net.switches[sw];
    let mut out = String::new();
    for (n, &q) in ports.iter().enumerate() {
        if n > 0 {
            out.push_str(", ");
        }
        out.push_str(&swt.ports[q].name);
        out.push_str(" (");
        out.push_str(&swt.ports[q].desc);
        out.push(')');
    }
    out
}
