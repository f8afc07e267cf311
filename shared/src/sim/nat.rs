//! Routers' netfilter: connection tracking with masquerade (SNAT) and port
//! forwards (DNAT), as nftables does it.
//!
//! NAT is decided by the first packet of a connection only: DNAT in
//! PREROUTING (arriving on the rule's `in` interface with its proto and
//! port), masquerade in POSTROUTING (leaving by `out` with a source in
//! `source`; the new source is `out`'s address, ports kept). Later packets of
//! the connection, either way, are translated from the conntrack entry.
//! Packets that cannot open a connection (echo reply, SYN-ACK, RST, ICMP
//! error) and match none are INVALID and pass untranslated. ICMP errors
//! RELATED to a connection are translated through the packet they quote.

use super::net::{StackId, StackKind};
use super::packet::{Flow, Ipv4, L4, PROTO_TCP, PROTO_UDP};
use super::Sim;
use crate::topology::L4Proto;
use crate::trace::{Action, Step};

/// A tracked connection: the tuple as first seen, and the tuple its replies
/// will carry (after NAT).
#[derive(Debug, Clone, Copy)]
pub(super) struct Conn {
    orig: Flow,
    reply: Flow,
}

/// What conntrack made of a packet on a router.
#[derive(Debug, Clone, Copy)]
pub(super) enum Ct {
    /// It opened this connection; POSTROUTING may still masquerade it.
    New(usize),
    /// A later packet of the connection (already translated).
    Known,
}

fn flow_words(f: &Flow) -> String {
    if f.proto == PROTO_TCP || f.proto == PROTO_UDP {
        format!("{}:{} > {}:{}", f.src, f.sport, f.dst, f.dport)
    } else {
        format!("{} > {}", f.src, f.dst)
    }
}

impl Sim<'_, '_> {
    fn is_router(&self, s: StackId) -> bool {
        matches!(self.net.stacks[s].kind, StackKind::Router(_))
    }

    /// PREROUTING: translate known connections, apply DNAT to new ones.
    pub(super) fn prerouting(
        &mut self,
        s: StackId,
        in_if: usize,
        pkt: &mut Ipv4,
        steps: &mut Vec<Step>,
    ) -> Option<Ct> {
        if !self.is_router(s) {
            return None;
        }
        if let Some(ct) = self.translate_known(s, pkt, steps) {
            return Some(ct);
        }
        if !pkt.opens_connection() {
            return None;
        }
        let orig = pkt.flow();
        let StackKind::Router(nat) = &self.net.stacks[s].kind else {
            return None;
        };
        let st = &self.net.stacks[s];
        let lb = self.logical_router(s);
        let rule = nat.dnat.iter().find(|d| {
            let proto = match d.proto {
                L4Proto::Tcp => PROTO_TCP,
                L4Proto::Udp => PROTO_UDP,
            };
            // Under OVN a port forward is a load balancer VIP (the `in`
            // interface's address and port), whatever port it arrives by.
            let at = if lb {
                st.ifaces[d.in_iface]
                    .addr
                    .is_some_and(|a| a.addr() == orig.dst)
            } else {
                d.in_iface == in_if
            };
            at && proto == orig.proto && d.port == orig.dport
        });
        if let Some(d) = rule {
            let mut f = orig;
            f.dst = d.to;
            f.dport = d.to_port;
            pkt.set_flow(f);
            let what = if lb { "load balancer" } else { "dnat" };
            let detail = format!("{what}: {} → {}", flow_words(&orig), flow_words(&f));
            steps.push(Step {
                action: Action::Nat,
                detail,
                packet: layers(pkt),
            });
        }
        self.conns[s].push(Conn {
            orig,
            reply: pkt.flow().reversed(),
        });
        Some(Ct::New(self.conns[s].len() - 1))
    }

    /// OUTPUT: a packet the router itself sends (no DNAT rules there).
    pub(super) fn output_conntrack(&mut self, s: StackId, pkt: &Ipv4) -> Option<Ct> {
        if !self.is_router(s) {
            return None;
        }
        let f = pkt.flow();
        if self.conns[s].iter().any(|c| c.orig == f || c.reply == f) {
            return Some(Ct::Known);
        }
        if !pkt.opens_connection() {
            return None;
        }
        self.conns[s].push(Conn {
            orig: f,
            reply: f.reversed(),
        });
        Some(Ct::New(self.conns[s].len() - 1))
    }

    /// POSTROUTING: masquerade a new connection leaving by a rule's `out`.
    pub(super) fn postrouting(
        &mut self,
        s: StackId,
        out_if: usize,
        pkt: &mut Ipv4,
        ct: Option<Ct>,
        steps: &mut Vec<Step>,
    ) {
        let Some(Ct::New(idx)) = ct else { return };
        let st = &self.net.stacks[s];
        let StackKind::Router(nat) = &st.kind else {
            return;
        };
        // Under OVN a rule is a NAT row (source → the `out` interface's
        // address) and the gateway router applies it whatever port the packet leaves by.
        let lr = self.logical_router(s);
        let Some(rule) = nat
            .snat
            .iter()
            .find(|r| (lr || r.out == out_if) && r.source.contains(&pkt.src))
        else {
            return;
        };
        let Some(out_addr) = st.ifaces[rule.out].addr else {
            return;
        };
        let before = pkt.flow();
        let mut f = before;
        f.src = out_addr.addr();
        pkt.set_flow(f);
        self.conns[s][idx].reply = f.reversed();
        let on = if lr {
            format!("NAT row snat {} → {}", rule.source, f.src)
        } else {
            format!("masquerade on {}", st.ifaces[out_if].name)
        };
        let detail = format!("{on}: {} → {}", flow_words(&before), flow_words(&f));
        steps.push(Step {
            action: Action::Nat,
            detail,
            packet: layers(pkt),
        });
    }

    /// A packet of a tracked connection, either way, or an ICMP error about one.
    fn translate_known(&mut self, s: StackId, pkt: &mut Ipv4, steps: &mut Vec<Step>) -> Option<Ct> {
        let f = pkt.flow();
        let before = *pkt;
        let conns = &self.conns[s];
        if let Some(c) = conns.iter().find(|c| c.orig == f) {
            pkt.set_flow(c.reply.reversed());
        } else if let Some(c) = conns.iter().find(|c| c.reply == f) {
            pkt.set_flow(c.orig.reversed());
        } else if let L4::Icmp(mut icmp) = pkt.l4 {
            // An ICMP error quotes the packet as its sender received it: the
            // reverse of the reply tuple.
            let about = icmp.about?;
            let c = conns.iter().find(|c| c.reply.reversed() == about)?;
            if pkt.dst == c.reply.dst {
                pkt.dst = c.orig.src;
            }
            if pkt.src == c.reply.src {
                pkt.src = c.orig.dst;
            }
            icmp.about = Some(c.orig);
            pkt.l4 = L4::Icmp(icmp);
        } else {
            return None;
        }
        if *pkt != before {
            let detail = format!(
                "conntrack: {} → {}",
                flow_words(&before.flow()),
                flow_words(&pkt.flow())
            );
            steps.push(Step {
                action: Action::Nat,
                detail,
                packet: layers(pkt),
            });
        }
        Some(Ct::Known)
    }
}

fn layers(p: &Ipv4) -> Vec<crate::trace::Layer> {
    let mut out = Vec::with_capacity(2);
    p.push_layers(&mut out);
    out
}
