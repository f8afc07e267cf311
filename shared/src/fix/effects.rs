//! What else an edit changes: the pairs of the reachability report that
//! start or stop answering ping, the wanted pairs left out.

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use super::edit::{Edit, Kind};
use crate::reach::{answers, Matrix};
use crate::sim::net::{Net, StackId};
use crate::sim::Probe;
use crate::topology::{GuestKind, IfaceAddr, Topology};

/// Changes listed at most (all are counted).
const MAX_LISTED: usize = 50;

/// Other pairs that change, counted, and the first few listed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SideEffects {
    /// Pairs that start answering ping.
    pub started: usize,
    /// Pairs that stop answering ping.
    pub stopped: usize,
    /// The first changes, in report order.
    pub changes: Vec<Change>,
}

impl SideEffects {
    pub fn is_empty(&self) -> bool {
        self.started + self.stopped == 0
    }
}

/// One pair whose verdict changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub from: String,
    pub to: String,
    /// Answers after the edit (so it did not before).
    pub ok: bool,
}

/// The (sender label, address) pairs the wants name, on the edited design.
pub(super) fn wanted_pairs<'w>(
    after: &Topology,
    wants: impl Iterator<Item = (&'w String, &'w String)>,
) -> HashSet<(String, String)> {
    let net = Net::new(after);
    let mut out = HashSet::new();
    for (from, to) in wants {
        if let Ok(p) = Probe::parse_in(&net, from, to, "icmp", None) {
            out.insert((
                net.stacks[net.stack_of(p.from)].label.clone(),
                p.to.to_string(),
            ));
        }
    }
    out
}

/// Pairs already named by the wants: not side effects.
type Wanted = HashSet<(String, String)>;

impl SideEffects {
    /// Count (and list, while there is room) one pair, unless unchanged or wanted.
    fn note(&mut self, wanted: &Wanted, from: &str, to: &str, was: bool, now: bool) {
        if was == now || wanted.contains(&(from.to_string(), to.to_string())) {
            return;
        }
        if now {
            self.started += 1;
        } else {
            self.stopped += 1;
        }
        if self.changes.len() < MAX_LISTED {
            self.changes.push(Change {
                from: from.into(),
                to: to.into(),
                ok: now,
            });
        }
    }
}

/// Pairs whose verdict differs between the two reports (a pair only one
/// of them has counts as not answering in the other).
pub(super) fn diff(before: &Matrix, after: &Matrix, wanted: &Wanted) -> SideEffects {
    let mut fx = SideEffects::default();
    // Most edits keep every sender and address: the reports then line up pair by pair.
    let aligned = before.pairs().count() == after.pairs().count()
        && before
            .pairs()
            .zip(after.pairs())
            .all(|(b, a)| b.from() == a.from() && b.to() == a.to());
    if aligned {
        for (b, a) in before.pairs().zip(after.pairs()) {
            fx.note(wanted, a.from(), a.to(), b.ok(), a.ok());
        }
        return fx;
    }
    let was: HashMap<(&str, &str), bool> = before
        .pairs()
        .map(|p| ((p.from(), p.to()), p.ok()))
        .collect();
    let mut seen = HashSet::new();
    for a in after.pairs() {
        seen.insert((a.from(), a.to()));
        let before_ok = was.get(&(a.from(), a.to())) == Some(&true);
        fx.note(wanted, a.from(), a.to(), before_ok, a.ok());
    }
    for b in before.pairs() {
        if b.ok() && !seen.contains(&(b.from(), b.to())) {
            fx.note(wanted, b.from(), b.to(), true, false);
        }
    }
    fx
}

/// When the edits only touch vms (their tag, bridge, gateway or routes)
/// that take no DHCP lease and that no router or DHCP server points at,
/// the stacks whose rows and columns of the report hold every pair the
/// edits can change: those vms, and the vms that route through them (a vm
/// forwards nothing, so other walks never pass it). `None` otherwise.
pub(super) fn local_stacks(
    before: &Topology,
    after: &Topology,
    edits: &[Edit],
) -> Option<Vec<StackId>> {
    let mut touched = Vec::new();
    for e in edits {
        let at = match e {
            Edit::SetVlan { at, .. } | Edit::Plug { at, .. } => at.guest,
            Edit::SetGateway { at, .. } | Edit::AddRoute { at, .. } => *at,
            _ => return None,
        };
        // Vms come first among a host's guests.
        let g = before.hosts.get(at.host)?.guests.get(at.index);
        touched.push(*g.filter(|_| at.kind == Kind::Vm)?);
    }
    let mut out = touched.clone();
    // Guest numbers are the same in both designs: no such edit adds a guest.
    for topo in [before, after] {
        for &x in &touched {
            let ifaces = &topo.guests.get(x)?.ifaces;
            if ifaces.iter().any(|i| i.addr == IfaceAddr::Dhcp) {
                return None;
            }
            let own: Vec<Ipv4Addr> = ifaces
                .iter()
                .filter_map(|i| i.addr.static_net())
                .map(|n| n.addr())
                .collect();
            for (y, g) in topo.guests.iter().enumerate() {
                let mut vias = g.gateway.iter().chain(g.routes.iter().map(|r| &r.via));
                let through = vias.any(|v| own.contains(v));
                let offered = matches!(&g.kind, GuestKind::Dhcp(d) if d.gateway.is_some_and(|a| own.contains(&a)));
                if offered || (through && !g.is_vm()) {
                    return None;
                }
                if through && !out.contains(&y) {
                    out.push(y);
                }
            }
        }
    }
    Some(out)
}

/// [`diff`] on the rows and columns of `stacks` only, walked pair by pair
/// ([`local_stacks`] says when that finds every change).
pub(super) fn diff_local(
    before: &Net,
    after: &Net,
    stacks: &[StackId],
    wanted: &Wanted,
) -> Option<SideEffects> {
    let senders: Vec<StackId> = crate::reach::senders(before.topo)
        .into_iter()
        .map(|n| before.stack_of(n))
        .collect();
    let addrs = crate::reach::addresses(before);
    if addrs != crate::reach::addresses(after) {
        return None;
    }
    let mine = |n: &Net, a: &Ipv4Addr| n.owner(*a).is_some_and(|o| stacks.contains(&o));
    let cols: Vec<usize> = (0..addrs.len())
        .filter(|&t| mine(before, &addrs[t]) || mine(after, &addrs[t]))
        .collect();
    let all: Vec<usize> = (0..addrs.len()).collect();
    let mut fx = SideEffects::default();
    for &s in &senders {
        let targets = if stacks.contains(&s) { &all } else { &cols };
        for &t in targets {
            let a = addrs[t];
            if before.is_local(s, a) {
                continue;
            }
            let label = &before.stacks[s].label;
            fx.note(
                wanted,
                label,
                &a.to_string(),
                answers(before, s, a),
                answers(after, s, a),
            );
        }
    }
    Some(fx)
}
