//! The simulator: predicts, frame by frame, what the deployed network does
//! with one probe.
//!
//! Layers are modules, smoltcp-style: [`packet`] (headers), `switch` (OVS
//! bridges in standalone mode), `stack` (the guests' Linux IPv4 stacks),
//! `nat` (conntrack with SNAT/DNAT), [`dhcp`] (lease prediction), `ovn` (the
//! OVN engine's meaning where it differs: logical switches, ARP responder,
//! Geneve, gateway routers) and [`net`]
//! (the static model built from a [`Topology`]). The run is an event queue of
//! frames arriving at switch ports and guest interfaces, processed in FIFO
//! order until nothing is left, so a flood's copies interleave as breadth
//! first. State (MAC tables, neighbour caches, conntrack) starts empty:
//! every probe is traced as on a freshly deployed network.
//!
//! Listeners (assumption shared with `apply`/`verify`, which starts them): a
//! vm listens on every TCP and UDP port probed; a DHCP server (dnsmasq) only
//! on UDP 67; routers and external upstream routers on none, so they answer
//! TCP with RST and UDP with ICMP port unreachable (`port-closed`). A TCP
//! probe succeeds when the SYN-ACK is back; a UDP probe when the datagram
//! reaches a listening socket (UDP has no reply of its own); ICMP and ARP when
//! the reply is back; DHCP when the ACK is back.

pub mod dhcp;
pub mod net;
pub mod packet;

mod nat;
mod ovn;
mod stack;
mod switch;

use std::collections::VecDeque;
use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use self::nat::Conn;
use self::net::{Net, StackId, SwId};
use self::packet::{Dhcp, Encap, Frame, Ipv4};
use crate::topology::{Mac, NodeRef, Topology};
use crate::trace::{Action, Disposition, DropReason, Hop, Layer, ProbeSummary, Step, Trace};

pub use self::dhcp::{leases, Lease};
pub use self::stack::OVN_ECHO_REPLY_TTL;

/// What to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum Proto {
    /// ICMP echo request; ok when the echo reply is back.
    Icmp,
    /// ARP request for the address; ok when the reply is back.
    Arp,
    /// TCP SYN to a port; ok when the SYN-ACK is back.
    Tcp(u16),
    /// UDP datagram to a port; ok when a listener receives it.
    Udp(u16),
    /// DHCP DISCOVER/OFFER/REQUEST/ACK from the sender's first `ip: dhcp` nic.
    Dhcp,
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Proto::Icmp => f.write_str("icmp"),
            Proto::Arp => f.write_str("arp"),
            Proto::Tcp(p) => write!(f, "tcp:{p}"),
            Proto::Udp(p) => write!(f, "udp:{p}"),
            Proto::Dhcp => f.write_str("dhcp"),
        }
    }
}

impl FromStr for Proto {
    type Err = String;

    fn from_str(s: &str) -> Result<Proto, String> {
        let port = |p: &str| match p.parse::<u16>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(format!("{p:?} is not a port (1..65535)")),
        };
        match s.split_once(':') {
            None if s == "icmp" => Ok(Proto::Icmp),
            None if s == "arp" => Ok(Proto::Arp),
            None if s == "dhcp" => Ok(Proto::Dhcp),
            Some(("tcp", p)) => Ok(Proto::Tcp(port(p)?)),
            Some(("udp", p)) => Ok(Proto::Udp(port(p)?)),
            _ => Err(format!(
                "{s:?} is not a probe: use icmp, arp, tcp:PORT, udp:PORT or dhcp"
            )),
        }
    }
}

impl From<Proto> for String {
    fn from(p: Proto) -> String {
        p.to_string()
    }
}

impl TryFrom<String> for Proto {
    type Error = String;
    fn try_from(s: String) -> Result<Proto, String> {
        s.parse()
    }
}

/// One probe, resolved against a topology.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Probe {
    pub from: NodeRef,
    /// Destination address (255.255.255.255 for DHCP).
    pub to: Ipv4Addr,
    pub proto: Proto,
    /// IPv4 length of the ICMP echo or UDP datagram; `None`: the default
    /// (84, as `ping`; 32 for UDP).
    pub size: Option<u16>,
    /// The request's TTL; `None`: 64, as Linux sends it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<u8>,
}

/// Default ICMP echo size: 56 data bytes, as `ping`.
pub const DEFAULT_ICMP_SIZE: u16 = 84;
/// Default UDP probe size: 4 data bytes.
pub const DEFAULT_UDP_SIZE: u16 = 32;

impl Probe {
    /// A ping of the default size.
    pub fn icmp(from: NodeRef, to: Ipv4Addr) -> Probe {
        Probe {
            from,
            to,
            proto: Proto::Icmp,
            size: None,
            ttl: None,
        }
    }

    /// The same probe sent with TTL `ttl` (1..255; `None`: the default), as
    /// `ping -t` or a traceroute's probe does.
    pub fn with_ttl(self, ttl: Option<u16>) -> Result<Probe, String> {
        match ttl {
            None => Ok(self),
            Some(t @ 1..=255) => Ok(Probe {
                ttl: Some(t as u8),
                ..self
            }),
            Some(t) => Err(format!("ttl {t} is outside 1..255")),
        }
    }

    /// Resolve a probe as users write it: `from` a node name (`vm1`,
    /// `host/vm`, `host/router`, an external network), `to` an address or a
    /// node (its first address, DHCP lease included), `proto` as in [`Proto`].
    pub fn parse(
        topo: &Topology,
        from: &str,
        to: &str,
        proto: &str,
        size: Option<u16>,
    ) -> Result<Probe, String> {
        Probe::parse_in(&Net::new(topo), from, to, proto, size)
    }

    /// [`Probe::parse`] on a model already built (of the topology to probe).
    pub fn parse_in(
        net: &Net,
        from: &str,
        to: &str,
        proto: &str,
        size: Option<u16>,
    ) -> Result<Probe, String> {
        let topo = net.topo;
        let proto: Proto = proto.parse()?;
        let from = topo.resolve_node(from)?;
        if let (Some(s), Proto::Icmp | Proto::Udp(_)) = (size, proto) {
            if !(28..=packet::MTU).contains(&s) {
                return Err(format!(
                    "size {s} is outside 28..1500: the IPv4 packet must fit the 1500-byte MTU (nothing fragments)"
                ));
            }
        } else if size.is_some() {
            return Err(format!(
                "--size applies to icmp and udp probes, not {proto}"
            ));
        }
        let to = if proto == Proto::Dhcp {
            let s = net.stack_of(from);
            if !net.stacks[s].ifaces.iter().any(|i| i.dhcp) {
                return Err(format!(
                    "{} has no `ip: dhcp` interface",
                    net.stacks[s].label
                ));
            }
            Ipv4Addr::BROADCAST
        } else if let Ok(a) = to.parse::<Ipv4Addr>() {
            a
        } else {
            let node = topo
                .resolve_node(to)
                .map_err(|e| format!("{e} (and it is not an IPv4 address)"))?;
            let s = net.stack_of(node);
            net.stacks[s]
                .ifaces
                .iter()
                .find_map(|i| i.addr)
                .map(|n| n.addr())
                .ok_or_else(|| format!("{to} has no address (a dhcp client without a lease?)"))?
        };
        Ok(Probe {
            from,
            to,
            proto,
            size,
            ttl: None,
        })
    }

    /// IPv4 length of the probe packet.
    pub fn packet_size(&self) -> Option<u16> {
        match self.proto {
            Proto::Icmp => Some(self.size.unwrap_or(DEFAULT_ICMP_SIZE)),
            Proto::Udp(_) => Some(self.size.unwrap_or(DEFAULT_UDP_SIZE)),
            _ => None,
        }
    }
}

/// Trace one probe on a freshly deployed topology. Deterministic and bounded.
pub fn simulate(topo: &Topology, probe: &Probe) -> Trace {
    Simulator::new(topo).simulate(probe)
}

/// A topology prepared for many probes: the static model is built once.
pub struct Simulator<'t> {
    net: Net<'t>,
}

impl<'t> Simulator<'t> {
    pub fn new(topo: &'t Topology) -> Simulator<'t> {
        Simulator {
            net: Net::new(topo),
        }
    }

    pub fn net(&self) -> &Net<'t> {
        &self.net
    }

    pub fn simulate(&self, probe: &Probe) -> Trace {
        trace_on(&self.net, probe)
    }
}

/// Trace one probe on a model already built (the reach matrix's, say).
pub fn trace_on(net: &Net, probe: &Probe) -> Trace {
    let mut sim = Sim::new(net, *probe);
    sim.start();
    sim.finish()
}

/// Something arriving somewhere.
enum Event {
    /// A frame entering a switch port (`encap`: it came out of this tunnel).
    Switch {
        sw: SwId,
        port: usize,
        frame: Frame,
        encap: Option<Encap>,
    },
    /// A frame arriving at a guest interface.
    Stack {
        stack: StackId,
        iface: usize,
        frame: Frame,
    },
}

/// A packet (or, for ARP probes, nothing) waiting for an ARP reply.
struct Pending {
    stack: StackId,
    iface: usize,
    next_hop: Ipv4Addr,
    packet: Option<Ipv4>,
}

/// The DHCP client of a DHCP probe.
struct DhcpClient {
    iface: usize,
    xid: u32,
    offers: Vec<(StackId, Dhcp)>,
}

/// A drop that decides the outcome, unless something succeeds.
struct Loss {
    reason: DropReason,
    node: String,
    detail: String,
    /// The request had already arrived: this is the way back.
    after_arrival: bool,
}

/// Ephemeral source port of TCP/UDP probes, and the echo id.
const PROBE_PORT: u16 = 40000;
const ECHO_ID: u16 = 1;

struct Sim<'n, 't> {
    net: &'n Net<'t>,
    probe: Probe,
    src: StackId,
    queue: VecDeque<Event>,
    /// Per switch: (VLAN, MAC) → port.
    macs: Vec<Vec<(u16, Mac, usize)>>,
    /// Per stack: (interface, address) → MAC.
    neigh: Vec<Vec<(usize, Ipv4Addr, Mac)>>,
    pending: Vec<Pending>,
    /// Per stack (routers only): tracked connections.
    conns: Vec<Vec<Conn>>,
    dhcp: Option<DhcpClient>,
    hops: Vec<Hop>,
    events: usize,
    budget: usize,
    looped: bool,
    success: Option<String>,
    closed: Option<(String, String)>,
    arrived: bool,
    loss: Option<Loss>,
}

impl<'n, 't> Sim<'n, 't> {
    fn new(net: &'n Net<'t>, probe: Probe) -> Self {
        let ports: usize = net.switches.iter().map(|s| s.ports.len()).sum();
        Sim {
            net,
            probe,
            src: net.stack_of(probe.from),
            queue: VecDeque::new(),
            macs: vec![Vec::new(); net.switches.len()],
            neigh: vec![Vec::new(); net.stacks.len()],
            pending: Vec::new(),
            conns: vec![Vec::new(); net.stacks.len()],
            dhcp: None,
            hops: Vec::new(),
            events: 0,
            // A few floods and a TTL's worth of routed hops, with room to spare;
            // the layer-2 graph is a forest, so a real run stays far below.
            budget: 8 * (ports + net.stacks.len()) + 64 * 16 + 1000,
            looped: false,
            success: None,
            closed: None,
            arrived: false,
            loss: None,
        }
    }

    fn start(&mut self) {
        let s = self.src;
        let label = self.net.stacks[s].label.clone();
        if self.probe.proto == Proto::Dhcp {
            self.run_dhcp();
            return;
        }
        if !self.net.has_address(s) {
            let detail = self.net.no_address(s);
            self.record(s, vec![step_plain(Action::Drop, detail.clone())]);
            self.lose(DropReason::NoAddress, label, detail);
            return;
        }
        match self.probe.proto {
            Proto::Arp => self.send_arp_probe(),
            _ => {
                let pkt = self.probe_packet();
                let mut steps = Vec::new();
                self.ip_out(s, pkt, None, None, &mut steps);
                self.record(s, steps);
            }
        }
        self.run();
    }

    /// Process events until none are left; then fail ARP that got no answer
    /// (Linux gives up after its probes) and go on with what that causes.
    fn run(&mut self) {
        loop {
            while let Some(ev) = self.queue.pop_front() {
                self.events += 1;
                if self.events > self.budget {
                    self.looped = true;
                    self.queue.clear();
                    self.pending.clear();
                    return;
                }
                match ev {
                    Event::Switch {
                        sw,
                        port,
                        frame,
                        encap,
                    } => self.switch_rx(sw, port, frame, encap),
                    Event::Stack {
                        stack,
                        iface,
                        frame,
                    } => self.stack_rx(stack, iface, frame),
                }
            }
            if self.pending.is_empty() {
                return;
            }
            self.fail_pending();
        }
    }

    fn finish(self) -> Trace {
        let from = self.net.stacks[self.src].label.clone();
        let src_label = from.clone();
        let disposition = if let Some(detail) = self.success {
            Disposition::Delivered { detail }
        } else if self.looped {
            Disposition::Dropped {
                reason: DropReason::Loop,
                node: src_label,
                detail: format!("the simulation stopped after {} events", self.budget),
            }
        } else if let Some((node, detail)) = self.closed {
            Disposition::Dropped {
                reason: DropReason::PortClosed,
                node,
                detail,
            }
        } else if let Some(l) = self.loss {
            if self.arrived && l.after_arrival {
                Disposition::Dropped {
                    reason: DropReason::NoReturnPath,
                    node: l.node,
                    detail: format!(
                        "the request arrived but the reply was lost: {}: {}",
                        l.reason, l.detail
                    ),
                }
            } else {
                Disposition::Dropped {
                    reason: l.reason,
                    node: l.node,
                    detail: l.detail,
                }
            }
        } else {
            let detail = if self.arrived {
                "the request arrived but no reply came back".to_string()
            } else {
                "nothing came back".to_string()
            };
            Disposition::Dropped {
                reason: DropReason::NoReply,
                node: src_label,
                detail,
            }
        };
        Trace {
            probe: ProbeSummary {
                from,
                to: self.probe.to,
                proto: self.probe.proto.to_string(),
                size: self.probe.packet_size(),
            },
            disposition,
            hops: self.hops,
        }
    }

    /// Record a loss that decides the outcome (the last one wins).
    fn lose(&mut self, reason: DropReason, node: String, detail: String) {
        self.loss = Some(Loss {
            reason,
            node,
            detail,
            after_arrival: self.arrived,
        });
    }

    fn record(&mut self, s: StackId, steps: Vec<Step>) {
        if !steps.is_empty() {
            let st = &self.net.stacks[s];
            self.hops.push(Hop {
                node: st.label.clone(),
                kind: self.net.node_kind(s),
                steps,
            });
        }
    }

    fn record_switch(&mut self, sw: SwId, steps: Vec<Step>) {
        let s = &self.net.switches[sw];
        self.hops.push(Hop {
            node: s.label.clone(),
            kind: s.kind,
            steps,
        });
    }
}

fn step(action: Action, detail: String, frame: &Frame) -> Step {
    Step {
        action,
        detail,
        packet: frame.layers(),
    }
}

fn step_plain(action: Action, detail: String) -> Step {
    Step {
        action,
        detail,
        packet: Vec::<Layer>::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_past_its_budget_ends_as_a_loop() {
        let t = crate::load(
            "version: 1\nname: b\nhosts:\n  - name: h\n    bridges: [{name: br}]\n    vms:\n      - {name: a, nics: [{bridge: br, ip: 10.0.0.1/24}]}\n      - {name: b, nics: [{bridge: br, ip: 10.0.0.2/24}]}\n",
        )
        .unwrap()
        .topology;
        let net = Net::new(&t);
        let probe = Probe::parse(&t, "a", "b", "icmp", None).unwrap();
        let mut sim = Sim::new(&net, probe);
        sim.budget = 3;
        sim.start();
        let trace = sim.finish();
        assert_eq!(trace.disposition.reason(), Some(DropReason::Loop));
        // With its real budget the same probe succeeds.
        assert!(simulate(&t, &probe).disposition.is_delivered());
    }
}
