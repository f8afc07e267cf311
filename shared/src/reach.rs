//! The reachability report (spec, last section): every sender (vm or external
//! network) pings every address of the topology. [`reach`] predicts it;
//! `verify` fills the same type from real pings (`source: real`).
//!
//! Tracing 10^6 pairs frame by frame would repeat the same work, so `reach`
//! walks each ping at the IPv4 level over the shared static model
//! ([`Net`]): routing tables are built once per guest, and ARP resolution is
//! a lookup of the address's owner among the interfaces of the layer-2 domain
//! (segment, VLAN) — what a broadcast ARP request and its reply amount to on a
//! loop-free OVS network. MAC learning never changes a ping's fate there:
//! every unicast follows an ARP exchange that taught the bridges both ends.
//! Conntrack/masquerade are applied per walk. The verdicts and reasons equal
//! [`crate::sim::simulate`]'s for every pair (tests check it on every example).

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::sim::net::{Net, StackId, StackKind};
use crate::sim::packet::DEFAULT_TTL;
use crate::topology::{IfaceAddr, NodeRef, Topology};
use crate::trace::DropReason;

/// Where a report's verdicts come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// Predicted by `reach`.
    Simulation,
    /// Measured by `verify`.
    Real,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReachReport {
    pub topology: String,
    pub source: Source,
    pub results: Vec<ReachResult>,
}

/// One sender/address pair.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReachResult {
    /// A vm (`host/vm` when its name is on several hosts) or an external network.
    pub from: String,
    /// An IPv4 address.
    pub to: String,
    /// Always `icmp` (echo request of the default size).
    pub proto: String,
    /// An echo reply came back.
    pub ok: bool,
    pub detail: String,
    /// Extra key: why not, as in a trace's disposition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<DropReason>,
}

/// One pair measured by `verify`, reported as soon as its ping ends (pings
/// run in parallel, so pairs come in no particular order; `done` counts up).
/// The server streams it as the job event `probe` (its JSON with `"type":
/// "probe"` added) and the browser decodes it with this same type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Probe {
    /// The sender, as in [`ReachResult::from`].
    pub from: String,
    /// The address pinged, as in [`ReachResult::to`].
    pub to: String,
    /// Who holds the address: a vm (named as in `from`), a router or DHCP
    /// server (`host/name`), or an external network (its gateway).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// An echo reply came back.
    pub ok: bool,
    /// The round trip ping measured, when a reply came.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtt_ms: Option<f64>,
    /// How long the probe took, start to verdict: up to about 2 s without a
    /// reply (less when the sender has no route to the address).
    pub ms: f64,
    /// Pairs measured so far, this one included.
    pub done: usize,
    /// Pairs the measurement holds in all (the report's length).
    pub total: usize,
}

impl Probe {
    /// The pair's line in the measured report.
    pub fn result(&self) -> ReachResult {
        ReachResult {
            from: self.from.clone(),
            to: self.to.clone(),
            proto: "icmp".into(),
            ok: self.ok,
            detail: if self.ok {
                "echo reply received".into()
            } else {
                "no echo reply within 2 s".into()
            },
            reason: None,
        }
    }
}

/// Every address of the topology, in file order: guests (vms, dhcp servers,
/// routers; DHCP leases in place of `ip: dhcp`), then external gateways.
pub fn addresses(net: &Net) -> Vec<Ipv4Addr> {
    net.stacks
        .iter()
        .flat_map(|s| s.ifaces.iter().filter_map(|i| i.addr.map(|a| a.addr())))
        .collect()
}

/// Senders: every vm, then every external network.
pub fn senders(topo: &Topology) -> Vec<NodeRef> {
    let vms = (0..topo.guests.len())
        .filter(|&g| topo.guests[g].is_vm())
        .map(NodeRef::Guest);
    vms.chain((0..topo.externals.len()).map(NodeRef::External))
        .collect()
}

/// The pairs a report of `topo` holds at most: every sender times every
/// address (a DHCP client counts as one address, a guest's own addresses are
/// left out of its row). Cheap: no model is built. The server refuses a
/// report over [`crate::limits::MAX_REACH_PAIRS`] by this count.
pub fn pairs(topo: &Topology) -> usize {
    let addresses = topo
        .guests
        .iter()
        .flat_map(|g| &g.ifaces)
        .filter(|i| i.addr != IfaceAddr::None)
        .count()
        + topo.externals.len();
    senders(topo).len() * addresses
}

/// Predict the report.
pub fn reach(topo: &Topology) -> ReachReport {
    let net = Net::new(topo);
    let targets = addresses(&net);
    let target_words: Vec<String> = targets.iter().map(|a| a.to_string()).collect();
    let mut walker = Walker {
        net: &net,
        conns: Vec::new(),
        no_route: vec![None; net.stacks.len()],
    };
    let senders = senders(topo);
    let mut results = Vec::with_capacity(senders.len() * targets.len());
    for node in senders {
        let s = net.stack_of(node);
        let from = net.stacks[s].label.clone();
        for (t, to) in targets.iter().zip(&target_words) {
            if net.is_local(s, *t) {
                continue;
            }
            let v = walker.ping(s, *t);
            results.push(ReachResult {
                from: from.clone(),
                to: to.clone(),
                proto: "icmp".into(),
                ok: v.reason.is_none(),
                detail: v.detail,
                reason: v.reason,
            });
        }
    }
    ReachReport {
        topology: topo.name.clone(),
        source: Source::Simulation,
        results,
    }
}

/// The verdict of one ping, as `simulate` would give it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// `None`: the echo reply came back.
    pub reason: Option<DropReason>,
    /// Where it was lost (the sender when it was delivered).
    pub node: String,
    pub detail: String,
}

#[derive(Clone, Copy, PartialEq, Eq)]
struct Pkt {
    src: Ipv4Addr,
    dst: Ipv4Addr,
    ttl: u8,
    /// An echo reply (never opens a connection).
    reply: bool,
}

/// A tracked ICMP echo on a router: the tuple as first seen and its replies' tuple.
#[derive(Clone, Copy)]
struct Conn {
    router: StackId,
    orig: (Ipv4Addr, Ipv4Addr),
    reply: (Ipv4Addr, Ipv4Addr),
}

enum Walk {
    Arrived(StackId, Pkt),
    Lost {
        reason: DropReason,
        node: StackId,
        detail: String,
    },
}

struct Walker<'n, 't> {
    net: &'n Net<'t>,
    conns: Vec<Conn>,
    /// Per stack: its routing table in words, made once.
    no_route: Vec<Option<String>>,
}

impl Walker<'_, '_> {
    fn ping(&mut self, s: StackId, dst: Ipv4Addr) -> Verdict {
        let net = self.net;
        let label = |x: StackId| net.stacks[x].label.clone();
        if !net.has_address(s) {
            return Verdict {
                reason: Some(DropReason::NoAddress),
                node: label(s),
                detail: net.no_address(s),
            };
        }
        self.conns.clear();
        let request = Pkt {
            src: Ipv4Addr::UNSPECIFIED,
            dst,
            ttl: DEFAULT_TTL,
            reply: false,
        };
        let (d, req) = match self.walk(s, request) {
            Walk::Arrived(d, p) => (d, p),
            Walk::Lost {
                reason,
                node,
                detail,
            } => {
                return Verdict {
                    reason: Some(reason),
                    node: label(node),
                    detail,
                }
            }
        };
        let reply = Pkt {
            src: req.dst,
            dst: req.src,
            ttl: DEFAULT_TTL,
            reply: true,
        };
        match self.walk(d, reply) {
            Walk::Arrived(x, p) if x == s => Verdict {
                reason: None,
                node: label(s),
                detail: format!("echo reply received from {}", p.src),
            },
            Walk::Arrived(..) => Verdict {
                reason: Some(DropReason::NoReply),
                node: label(s),
                detail: "the request arrived but no reply came back".into(),
            },
            Walk::Lost {
                reason,
                node,
                detail,
            } => Verdict {
                reason: Some(DropReason::NoReturnPath),
                node: label(node),
                detail: format!("the request arrived but the reply was lost: {reason}: {detail}"),
            },
        }
    }

    /// Carry a packet made at `s` to the stack that takes it in.
    fn walk(&mut self, s: StackId, mut p: Pkt) -> Walk {
        let net = self.net;
        let mut node = s;
        let mut arrived_on: Option<usize> = None;
        loop {
            let st = &net.stacks[node];
            let router = matches!(st.kind, StackKind::Router(_));
            let mut new_conn = None;
            if arrived_on.is_some() {
                if router {
                    new_conn = self.prerouting(node, &mut p);
                }
                if net.is_local(node, p.dst) {
                    return Walk::Arrived(node, p);
                }
                if !st.forwarding {
                    let detail = format!(
                        "{} is not an address of {} and it does not forward (ip_forward=0)",
                        p.dst, st.label
                    );
                    return Walk::Lost {
                        reason: DropReason::NotForwarding,
                        node,
                        detail,
                    };
                }
                if p.ttl <= 1 {
                    return Walk::Lost {
                        reason: DropReason::TtlExceeded,
                        node,
                        detail: format!("TTL {} expires here", p.ttl),
                    };
                }
                p.ttl -= 1;
            } else if net.is_local(node, p.dst) {
                if p.src.is_unspecified() {
                    p.src = p.dst;
                }
                return Walk::Arrived(node, p);
            }
            let Some(route) = net.route(node, p.dst) else {
                let table = self.no_route[node].get_or_insert_with(|| net.table_words(node));
                let detail = format!("no route to {} (routing table: {table})", p.dst);
                return Walk::Lost {
                    reason: DropReason::NoRoute,
                    node,
                    detail,
                };
            };
            if p.src.is_unspecified() {
                match net.source_for(node, route.iface) {
                    Some(a) => p.src = a,
                    None => {
                        let detail = format!("{} has no address to send from", st.label);
                        return Walk::Lost {
                            reason: DropReason::NoAddress,
                            node,
                            detail,
                        };
                    }
                }
            }
            if router {
                if arrived_on.is_none() {
                    new_conn = self.output_conntrack(node, p);
                }
                if let Some(c) = new_conn {
                    self.masquerade(node, route.iface, c, &mut p);
                }
            }
            let next_hop = route.via.unwrap_or(p.dst);
            let domain = net.domain(node, route.iface);
            match net.arp_answerer(domain, next_hop) {
                Some((next, iface)) => {
                    node = next;
                    arrived_on = Some(iface);
                }
                None => {
                    let (reason, detail) = net.arp_failure(domain, next_hop);
                    return Walk::Lost {
                        reason,
                        node,
                        detail,
                    };
                }
            }
        }
    }

    /// Conntrack on arrival: translate a tracked echo, or track a new request.
    fn prerouting(&mut self, r: StackId, p: &mut Pkt) -> Option<usize> {
        if let Some(c) = self
            .conns
            .iter()
            .find(|c| c.router == r && c.orig == (p.src, p.dst))
        {
            (p.dst, p.src) = c.reply;
            return None;
        }
        if let Some(c) = self
            .conns
            .iter()
            .find(|c| c.router == r && c.reply == (p.src, p.dst))
        {
            (p.dst, p.src) = c.orig;
            return None;
        }
        // Requests open connections; a reply nobody tracked is INVALID and untouched.
        self.track_request(r, *p)
    }

    fn output_conntrack(&mut self, r: StackId, p: Pkt) -> Option<usize> {
        let f = (p.src, p.dst);
        if self
            .conns
            .iter()
            .any(|c| c.router == r && (c.orig == f || c.reply == f))
        {
            return None;
        }
        self.track_request(r, p)
    }

    /// Only an echo request opens a connection.
    fn track_request(&mut self, r: StackId, p: Pkt) -> Option<usize> {
        if p.reply {
            return None;
        }
        self.conns.push(Conn {
            router: r,
            orig: (p.src, p.dst),
            reply: (p.dst, p.src),
        });
        Some(self.conns.len() - 1)
    }

    fn masquerade(&mut self, r: StackId, out_if: usize, c: usize, p: &mut Pkt) {
        let st = &self.net.stacks[r];
        let StackKind::Router(nat) = &st.kind else {
            return;
        };
        let Some(out) = st.ifaces[out_if].addr else {
            return;
        };
        if nat
            .snat
            .iter()
            .any(|rule| rule.out == out_if && rule.source.contains(&p.src))
        {
            p.src = out.addr();
            self.conns[c].reply = (p.dst, p.src);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_survive_the_wire_as_the_server_sends_them() {
        let reply = Probe {
            from: "node1/vm1".into(),
            to: "10.0.10.2".into(),
            owner: Some("node2/vm3".into()),
            ok: true,
            rtt_ms: Some(0.081),
            ms: 3.5,
            done: 3,
            total: 12,
        };
        let lost = Probe {
            owner: None,
            ok: false,
            rtt_ms: None,
            ms: 2001.0,
            done: 12,
            ..reply.clone()
        };
        for p in [&reply, &lost] {
            // The server adds the event's type to the object; decoding ignores it.
            let mut v = serde_json::to_value(p).unwrap();
            v["type"] = "probe".into();
            let back: Probe = serde_json::from_str(&v.to_string()).unwrap();
            assert_eq!(&back, p);
        }
        let v = serde_json::to_value(&reply).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"from": "node1/vm1", "to": "10.0.10.2", "owner": "node2/vm3",
                "ok": true, "rtt_ms": 0.081, "ms": 3.5, "done": 3, "total": 12})
        );
        let v = serde_json::to_value(&lost).unwrap();
        assert!(v.get("owner").is_none() && v.get("rtt_ms").is_none(), "{v}");
        assert!(serde_json::from_str::<Probe>(r#"{"from": "a", "to": "b"}"#).is_err());
    }

    #[test]
    fn a_probe_is_its_line_of_the_real_report() {
        let p = Probe {
            from: "vm1".into(),
            to: "10.0.0.2".into(),
            owner: None,
            ok: false,
            rtt_ms: None,
            ms: 2000.0,
            done: 1,
            total: 1,
        };
        let r = p.result();
        assert_eq!(
            (r.from.as_str(), r.to.as_str(), r.ok),
            ("vm1", "10.0.0.2", false)
        );
        assert_eq!(r.proto, "icmp");
        assert_eq!(r.detail, "no echo reply within 2 s");
    }
}
