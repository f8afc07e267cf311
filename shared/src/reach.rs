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
//! [`crate::sim::simulate`]'s for every pair (tests check it on every example,
//! under both engines). Under OVN the walk is the same: OVN's ARP responder
//! answers for the same owners the flood would reach, an untagged owner is
//! simply in another logical switch ([`ArpMiss`] never says `Tagged`), a
//! gateway router's NAT row applies whatever port the packet leaves by, and
//! its echo replies leave with TTL 255.
//!
//! At 10,000 vms (10^8 pairs) the words are what cost: a walk ends in an
//! [`Outcome`] without strings, the [`Matrix`] keeps a number per pair, and
//! a line's words are made when it is written.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use schemars::JsonSchema;
use serde::ser::SerializeStruct;
use serde::{Deserialize, Serialize, Serializer};

use crate::sim::net::{ArpMiss, Net, StackId, StackKind};
use crate::sim::packet::DEFAULT_TTL;
use crate::sim::OVN_ECHO_REPLY_TTL;
use crate::sim::{Probe as SimProbe, Proto};
use crate::topology::{GuestKind, IfaceAddr, L4Proto, NodeRef, Topology};
use crate::trace::{Disposition, DropReason};

/// Where a report's verdicts come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// Predicted by `reach`.
    Simulation,
    /// Measured by `verify`.
    Real,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ReachReport {
    pub topology: String,
    pub source: Source,
    pub results: Vec<ReachResult>,
    /// Extra key: the TCP connections the design asks for (see [`ports`]);
    /// left out when it has none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<ReachResult>,
    /// Extra key: each expectation of the design's `expect:` judged
    /// ([`crate::intent`]); left out when it has none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub intent: Vec<crate::intent::IntentResult>,
}

/// One sender/address pair.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ReachResult {
    /// A vm (`host/vm` when its name is on several hosts) or an external network.
    pub from: String,
    /// An IPv4 address.
    pub to: String,
    /// `icmp` (echo request of the default size) in `results`, `tcp:PORT`
    /// (a connection to that port) in `ports`.
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
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
    /// Extra key: `tcp:PORT` for a connection probe (a line of the report's
    /// `ports`); absent for a ping.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proto: Option<String>,
    /// Why a connection probe failed, when it did (pings fail in one way).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl Probe {
    /// The pair's line in the measured report.
    pub fn result(&self) -> ReachResult {
        let detail = match (&self.proto, &self.detail) {
            (_, Some(d)) => d.clone(),
            (Some(_), None) if self.ok => "connection established (SYN-ACK received)".into(),
            (Some(_), None) => "no connection".into(),
            (None, None) if self.ok => "echo reply received".into(),
            (None, None) => "no echo reply within 2 s".into(),
        };
        ReachResult {
            from: self.from.clone(),
            to: self.to.clone(),
            proto: self.proto.clone().unwrap_or_else(|| "icmp".into()),
            ok: self.ok,
            detail,
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
    let m = Matrix::new(topo);
    ReachReport {
        topology: topo.name.clone(),
        source: Source::Simulation,
        results: m.pairs().map(|p| p.result()).collect(),
        ports: m.ports.clone(),
        intent: m.intent.clone(),
    }
}

/// A TCP port the design asks to reach: a router's port forward (`dnat`
/// with `proto: tcp`), at the address of the interface it listens on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortTarget {
    pub addr: Ipv4Addr,
    pub port: u16,
    /// Where the router forwards it: the listener `verify` starts there.
    pub to: Ipv4Addr,
    pub to_port: u16,
}

/// Every TCP port forward of the design, in file order (routers' static
/// addresses only: a router's interfaces cannot use DHCP).
pub fn port_targets(topo: &Topology) -> Vec<PortTarget> {
    let mut out = Vec::new();
    for g in &topo.guests {
        let GuestKind::Router(nat) = &g.kind else {
            continue;
        };
        for d in nat.dnat.iter().filter(|d| d.proto == L4Proto::Tcp) {
            if let Some(IfaceAddr::Static(a)) = g.ifaces.get(d.in_iface).map(|i| i.addr) {
                out.push(PortTarget {
                    addr: a.addr(),
                    port: d.port,
                    to: d.to,
                    to_port: d.to_port,
                });
            }
        }
    }
    out
}

/// The predicted `ports` of a report: every sender connects to every
/// [`port_targets`] entry (a TCP SYN, ok when the SYN-ACK is back), each
/// traced by the simulator on `net` (`topo`'s model).
pub fn ports(topo: &Topology, net: &Net) -> Vec<ReachResult> {
    let targets = port_targets(topo);
    let mut out = Vec::new();
    for from in senders(topo) {
        let label = &net.stacks[net.stack_of(from)].label;
        for t in &targets {
            let proto = Proto::Tcp(t.port);
            let trace = crate::sim::trace_on(
                net,
                &SimProbe {
                    from,
                    to: t.addr,
                    proto,
                    size: None,
                    ttl: None,
                },
            );
            let (ok, detail, reason) = match trace.disposition {
                Disposition::Delivered { detail } => (true, detail, None),
                Disposition::Dropped { reason, detail, .. } => (false, detail, Some(reason)),
            };
            out.push(ReachResult {
                from: label.clone(),
                to: t.addr.to_string(),
                proto: proto.to_string(),
                ok,
                detail,
                reason,
            });
        }
    }
    out
}

/// Whether a ping from stack `s` to `dst` is answered, walked as
/// [`Matrix`] walks every pair (for a few pairs rather than all).
pub fn answers(net: &Net, s: StackId, dst: Ipv4Addr) -> bool {
    let mut walker = Walker {
        net,
        conns: Vec::new(),
        target: Ipv4Addr::UNSPECIFIED,
    };
    matches!(walker.ping(s, dst), Outcome::Reply(_))
}

/// Addresses walked to by every sender of a block before the next ones.
const TILE: usize = 256;

/// A cell of [`Matrix`] whose address is the sender's own (left out of the report).
const OWN: u32 = u32::MAX;

/// Fewest pairs worth a thread of their own: a small lab is done before a thread starts.
const MIN_PAIRS_PER_THREAD: usize = 200_000;

/// The predicted report, compact: one number per sender/address pair naming
/// its [`Outcome`] in a table of the few distinct ones (their words name the
/// pinged address as "the target", so pings that end alike share an entry).
/// 10,000 vms make 100 million pairs: 400 MB here, where [`ReachResult`]s
/// with their strings would take some 40 GB. Lines are written from it one
/// at a time ([`Matrix::pairs`]; its JSON is [`ReachReport`]'s).
pub struct Matrix<'t> {
    net: Net<'t>,
    senders: Vec<StackId>,
    targets: Vec<Ipv4Addr>,
    /// `targets` in words, made once rather than once per line.
    target_words: Vec<String>,
    /// Per stack: its routing table in words (`no route` details quote it).
    tables: Vec<String>,
    outcomes: Vec<Outcome>,
    /// Sender-major, `targets.len()` per sender: an index into `outcomes`, or [`OWN`].
    cells: Vec<u32>,
    /// The report's `ports` (few: senders times TCP port forwards).
    pub ports: Vec<ReachResult>,
    /// Extra key `intent`: each expectation of the design's `expect:`
    /// judged (left out when it has none).
    pub intent: Vec<crate::intent::IntentResult>,
}

impl<'t> Matrix<'t> {
    /// Walk every pair; on native targets the senders are shared out among the cores.
    pub fn new(topo: &'t Topology) -> Matrix<'t> {
        let pairs = pairs(topo);
        let split = Split {
            threads: workers().min(pairs / MIN_PAIRS_PER_THREAD).max(1),
            tile: TILE,
        };
        Matrix::split(topo, split)
    }

    fn split(topo: &'t Topology, split: Split) -> Matrix<'t> {
        let net = Net::new(topo);
        let targets = addresses(&net);
        let senders: Vec<StackId> = senders(topo).into_iter().map(|n| net.stack_of(n)).collect();
        let mut cells = vec![OWN; senders.len() * targets.len()];
        let outcomes = fill(&net, &senders, &targets, &mut cells, split);
        Matrix {
            target_words: targets.iter().map(|a| a.to_string()).collect(),
            tables: (0..net.stacks.len()).map(|s| net.table_words(s)).collect(),
            ports: ports(topo, &net),
            net,
            senders,
            targets,
            outcomes,
            cells,
            intent: crate::intent::check(topo),
        }
    }

    pub fn topology(&self) -> &str {
        &self.net.topo.name
    }

    /// The pairs in report order: senders as [`senders`] lists them, each
    /// with every address of [`addresses`] but its own.
    pub fn pairs(&self) -> impl Iterator<Item = Pair<'_>> {
        let width = self.targets.len();
        let cells = self.cells.iter().enumerate();
        cells.filter(|(_, &c)| c != OWN).map(move |(k, &c)| Pair {
            m: self,
            sender: k / width,
            target: k % width,
            outcome: self.outcomes[c as usize],
        })
    }

    /// The words of a pair's outcome.
    fn detail(&self, o: Outcome, target: Ipv4Addr) -> String {
        match o {
            Outcome::Reply(a) => format!("echo reply received from {}", a.of(target)),
            Outcome::NoAddress(s) => self.net.no_address(s),
            Outcome::Lost(loss) => self.loss_words(loss, target),
            Outcome::NoReply => "the request arrived but no reply came back".into(),
            Outcome::ReplyLost(loss) => format!(
                "the request arrived but the reply was lost: {}: {}",
                loss.reason(),
                self.loss_words(loss, target)
            ),
        }
    }

    fn loss_words(&self, loss: Loss, target: Ipv4Addr) -> String {
        let label = |s: StackId| &self.net.stacks[s].label;
        match loss {
            Loss::NotForwarding { dst, node } => format!(
                "{} is not an address of {} and it does not forward (ip_forward=0)",
                dst.of(target),
                label(node)
            ),
            Loss::TtlExceeded(ttl) => format!("TTL {ttl} expires here"),
            Loss::NoRoute { dst, node } => format!(
                "no route to {} (routing table: {})",
                dst.of(target),
                self.tables[node]
            ),
            Loss::NoSource(node) => format!("{} has no address to send from", label(node)),
            Loss::Arp {
                miss,
                vlan,
                next_hop,
            } => self.net.arp_miss_words(miss, vlan, next_hop.of(target)),
        }
    }
}

/// The same JSON as the [`ReachReport`] of [`reach`], written line by line
/// (`serde_json::to_writer` streams it without the report in memory).
impl Serialize for Matrix<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        /// The `results` array, made as it is written.
        struct Results<'m>(&'m Matrix<'m>);
        impl Serialize for Results<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_seq(self.0.pairs().map(|p| p.result()))
            }
        }
        let mut r = s.serialize_struct("ReachReport", 5)?;
        r.serialize_field("topology", self.topology())?;
        r.serialize_field("source", &Source::Simulation)?;
        r.serialize_field("results", &Results(self))?;
        if self.ports.is_empty() {
            r.skip_field("ports")?;
        } else {
            r.serialize_field("ports", &self.ports)?;
        }
        if self.intent.is_empty() {
            r.skip_field("intent")?;
        } else {
            r.serialize_field("intent", &self.intent)?;
        }
        r.end()
    }
}

/// One line of a [`Matrix`]; its words are made only when asked for.
#[derive(Clone, Copy)]
pub struct Pair<'m> {
    m: &'m Matrix<'m>,
    sender: usize,
    target: usize,
    outcome: Outcome,
}

impl<'m> Pair<'m> {
    /// The sender's number in the report (senders come in this order).
    pub fn sender(&self) -> usize {
        self.sender
    }

    /// The address's number among [`addresses`].
    pub fn target(&self) -> usize {
        self.target
    }

    /// As [`ReachResult::from`].
    pub fn from(&self) -> &'m str {
        &self.m.net.stacks[self.m.senders[self.sender]].label
    }

    /// As [`ReachResult::to`].
    pub fn to(&self) -> &'m str {
        &self.m.target_words[self.target]
    }

    pub fn ok(&self) -> bool {
        matches!(self.outcome, Outcome::Reply(_))
    }

    pub fn reason(&self) -> Option<DropReason> {
        self.outcome.reason()
    }

    pub fn detail(&self) -> String {
        self.m.detail(self.outcome, self.m.targets[self.target])
    }

    /// The pair's line of the report.
    pub fn result(&self) -> ReachResult {
        ReachResult {
            from: self.from().into(),
            to: self.to().into(),
            proto: "icmp".into(),
            ok: self.ok(),
            detail: self.detail(),
            reason: self.reason(),
        }
    }
}

/// How the pairs are shared out: rows in blocks, one per thread; each block
/// walked in columns of `tile` addresses.
#[derive(Clone, Copy)]
struct Split {
    threads: usize,
    tile: usize,
}

/// Walk every pair into `cells` (one row of `targets` per sender), the rows
/// in blocks on their own threads; returns the outcome table the cells index.
fn fill(
    net: &Net,
    senders: &[StackId],
    targets: &[Ipv4Addr],
    cells: &mut [u32],
    split: Split,
) -> Vec<Outcome> {
    let width = targets.len().max(1);
    let rows = senders.len().div_ceil(split.threads).max(1);
    let jobs = cells
        .chunks_mut(rows * width)
        .zip(senders.chunks(rows))
        .map(|(block, senders)| move || fill_rows(net, senders, targets, block, split.tile));
    let tables = run(jobs.collect());
    // Number the outcomes of all blocks in one table.
    let mut all = Table::default();
    for (table, block) in tables.into_iter().zip(cells.chunks_mut(rows * width)) {
        let ids: Vec<u32> = table.into_iter().map(|o| all.id(o)).collect();
        for c in block.iter_mut().filter(|c| **c != OWN) {
            *c = ids[*c as usize];
        }
    }
    all.outcomes
}

/// One block of rows, numbering its outcomes in a table of its own.
fn fill_rows(
    net: &Net,
    senders: &[StackId],
    targets: &[Ipv4Addr],
    cells: &mut [u32],
    tile: usize,
) -> Vec<Outcome> {
    let mut walker = Walker {
        net,
        conns: Vec::new(),
        target: Ipv4Addr::UNSPECIFIED,
    };
    let mut table = Table::default();
    let width = targets.len().max(1);
    // Column by column of `tile` addresses, so that their owners' data stays in cache.
    for first in (0..targets.len()).step_by(tile) {
        let cols = first..(first + tile).min(targets.len());
        for (&s, row) in senders.iter().zip(cells.chunks_mut(width)) {
            for (&t, cell) in targets[cols.clone()].iter().zip(&mut row[cols.clone()]) {
                if !net.is_local(s, t) {
                    *cell = table.id(walker.ping(s, t));
                }
            }
        }
    }
    table.outcomes
}

/// Threads to share the work among: the cores (none in the browser's wasm32).
fn workers() -> usize {
    if cfg!(target_arch = "wasm32") {
        return 1;
    }
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Run the jobs, each on its own thread when there are several.
fn run<T: Send>(jobs: Vec<impl FnOnce() -> T + Send>) -> Vec<T> {
    if jobs.len() <= 1 {
        return jobs.into_iter().map(|job| job()).collect();
    }
    std::thread::scope(|scope| {
        let handles: Vec<_> = jobs.into_iter().map(|job| scope.spawn(job)).collect();
        let joined = handles.into_iter().map(|h| h.join());
        joined
            .map(|r| r.unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
            .collect()
    })
}

/// Outcomes numbered in order of first appearance. A row's pairs mostly end
/// alike, so the previous outcome is tried before the map.
#[derive(Default)]
struct Table {
    outcomes: Vec<Outcome>,
    ids: HashMap<Outcome, u32>,
    last: Option<(Outcome, u32)>,
}

impl Table {
    fn id(&mut self, o: Outcome) -> u32 {
        if let Some((last, id)) = self.last {
            if last == o {
                return id;
            }
        }
        // Fewer than u32::MAX (OWN): a table that long would need far more pairs than fit in memory.
        let next = self.outcomes.len() as u32;
        let id = *self.ids.entry(o).or_insert(next);
        if id == next {
            self.outcomes.push(o);
        }
        self.last = Some((o, id));
        id
    }
}

/// An address an outcome names: the pinged one, or another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Addr {
    Target,
    Other(Ipv4Addr),
}

impl Addr {
    fn of(self, target: Ipv4Addr) -> Ipv4Addr {
        match self {
            Addr::Target => target,
            Addr::Other(a) => a,
        }
    }
}

/// How a ping ended, as `simulate` would tell it; words come later
/// ([`Matrix::detail`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Outcome {
    /// The echo reply came back from this address.
    Reply(Addr),
    /// The sender has no address.
    NoAddress(StackId),
    /// The request was lost.
    Lost(Loss),
    /// The reply arrived somewhere else than the sender.
    NoReply,
    /// The request arrived, the reply was lost.
    ReplyLost(Loss),
}

impl Outcome {
    fn reason(self) -> Option<DropReason> {
        match self {
            Outcome::Reply(_) => None,
            Outcome::NoAddress(_) => Some(DropReason::NoAddress),
            Outcome::Lost(loss) => Some(loss.reason()),
            Outcome::NoReply => Some(DropReason::NoReply),
            Outcome::ReplyLost(_) => Some(DropReason::NoReturnPath),
        }
    }
}

/// Where and why a packet's walk ended short.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Loss {
    NotForwarding {
        dst: Addr,
        node: StackId,
    },
    TtlExceeded(u8),
    NoRoute {
        dst: Addr,
        node: StackId,
    },
    /// The node has no address to send from.
    NoSource(StackId),
    /// Nobody answered ARP for the next hop in this VLAN.
    Arp {
        miss: ArpMiss,
        vlan: u16,
        next_hop: Addr,
    },
}

impl Loss {
    fn reason(self) -> DropReason {
        match self {
            Loss::NotForwarding { .. } => DropReason::NotForwarding,
            Loss::TtlExceeded(_) => DropReason::TtlExceeded,
            Loss::NoRoute { .. } => DropReason::NoRoute,
            Loss::NoSource(_) => DropReason::NoAddress,
            Loss::Arp { miss, .. } => miss.reason(),
        }
    }
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
    Lost(Loss),
}

struct Walker<'n, 't> {
    net: &'n Net<'t>,
    conns: Vec<Conn>,
    /// The address being pinged (outcomes name it as [`Addr::Target`]).
    target: Ipv4Addr,
}

impl Walker<'_, '_> {
    fn ping(&mut self, s: StackId, dst: Ipv4Addr) -> Outcome {
        if !self.net.has_address(s) {
            return Outcome::NoAddress(s);
        }
        self.conns.clear();
        self.target = dst;
        let request = Pkt {
            src: Ipv4Addr::UNSPECIFIED,
            dst,
            ttl: DEFAULT_TTL,
            reply: false,
        };
        let (d, req) = match self.walk(s, request) {
            Walk::Arrived(d, p) => (d, p),
            Walk::Lost(loss) => return Outcome::Lost(loss),
        };
        let logical_router =
            self.net.ovn.is_some() && matches!(self.net.stacks[d].kind, StackKind::Router(_));
        let reply = Pkt {
            src: req.dst,
            dst: req.src,
            ttl: if logical_router {
                OVN_ECHO_REPLY_TTL
            } else {
                DEFAULT_TTL
            },
            reply: true,
        };
        match self.walk(d, reply) {
            Walk::Arrived(x, p) if x == s => Outcome::Reply(self.addr(p.src)),
            Walk::Arrived(..) => Outcome::NoReply,
            Walk::Lost(loss) => Outcome::ReplyLost(loss),
        }
    }

    fn addr(&self, a: Ipv4Addr) -> Addr {
        if a == self.target {
            Addr::Target
        } else {
            Addr::Other(a)
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
                    let dst = self.addr(p.dst);
                    return Walk::Lost(Loss::NotForwarding { dst, node });
                }
                if p.ttl <= 1 {
                    return Walk::Lost(Loss::TtlExceeded(p.ttl));
                }
                p.ttl -= 1;
            } else if net.is_local(node, p.dst) {
                if p.src.is_unspecified() {
                    p.src = p.dst;
                }
                return Walk::Arrived(node, p);
            }
            let Some(route) = net.route(node, p.dst) else {
                let dst = self.addr(p.dst);
                return Walk::Lost(Loss::NoRoute { dst, node });
            };
            if p.src.is_unspecified() {
                match net.source_for(node, route.iface) {
                    Some(a) => p.src = a,
                    None => return Walk::Lost(Loss::NoSource(node)),
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
                    return Walk::Lost(Loss::Arp {
                        miss: net.arp_miss(domain, next_hop),
                        vlan: domain.1,
                        next_hop: self.addr(next_hop),
                    })
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
        // Under OVN a NAT row applies whatever port the packet leaves by (see `sim::nat`).
        let any_port = self.net.ovn.is_some();
        let rule = nat
            .snat
            .iter()
            .find(|rule| (any_port || rule.out == out_if) && rule.source.contains(&p.src));
        if let Some(out) = rule.and_then(|r| st.ifaces[r.out].addr) {
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
            proto: None,
            detail: None,
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

    /// Rows walked in blocks on several threads (their outcome tables
    /// merged) and in columns make the same report as one thread walking
    /// every row whole.
    #[test]
    fn the_split_changes_nothing() {
        let yaml = include_str!("../../examples/nat.yaml");
        let t = crate::load(yaml).unwrap().topology;
        let lines = |threads, tile| -> Vec<ReachResult> {
            let m = Matrix::split(&t, Split { threads, tile });
            m.pairs().map(|p| p.result()).collect()
        };
        let whole = lines(1, TILE);
        // Blocks number their outcomes apart: answers and failures make the tables differ.
        assert!(
            whole.iter().any(|r| r.ok) && whole.iter().any(|r| !r.ok),
            "{whole:?}"
        );
        // 3 senders, 5 addresses: blocks and columns of every size, the last one short.
        for threads in 1..=4 {
            for tile in 1..=6 {
                assert_eq!(
                    lines(threads, tile),
                    whole,
                    "{threads} threads, tile {tile}"
                );
            }
        }
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
            proto: None,
            detail: None,
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
