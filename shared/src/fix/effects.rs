//! What else an edit changes: the pairs of the reachability report that
//! start or stop answering ping, the wanted pairs left out.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::reach::Matrix;
use crate::sim::Probe;
use crate::topology::Topology;

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
    let net = crate::sim::net::Net::new(after);
    let mut out = HashSet::new();
    for (from, to) in wants {
        if let Ok(p) = Probe::parse(after, from, to, "icmp", None) {
            out.insert((
                net.stacks[net.stack_of(p.from)].label.clone(),
                p.to.to_string(),
            ));
        }
    }
    out
}

/// Pairs whose verdict differs between the two reports (a pair only one
/// of them has counts as not answering in the other).
pub(super) fn diff(
    before: &Matrix,
    after: &Matrix,
    wanted: &HashSet<(String, String)>,
) -> SideEffects {
    let mut fx = SideEffects::default();
    let mut note = |from: &str, to: &str, was: bool, now: bool| {
        if was == now || wanted.contains(&(from.to_string(), to.to_string())) {
            return;
        }
        if now {
            fx.started += 1;
        } else {
            fx.stopped += 1;
        }
        if fx.changes.len() < MAX_LISTED {
            fx.changes.push(Change {
                from: from.into(),
                to: to.into(),
                ok: now,
            });
        }
    };
    // Most edits keep every sender and address: the reports then line up pair by pair.
    let aligned = before.pairs().count() == after.pairs().count()
        && before
            .pairs()
            .zip(after.pairs())
            .all(|(b, a)| b.from() == a.from() && b.to() == a.to());
    if aligned {
        for (b, a) in before.pairs().zip(after.pairs()) {
            if b.ok() != a.ok() {
                note(a.from(), a.to(), b.ok(), a.ok());
            }
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
        note(
            a.from(),
            a.to(),
            was.get(&(a.from(), a.to())) == Some(&true),
            a.ok(),
        );
    }
    for b in before.pairs() {
        if b.ok() && !seen.contains(&(b.from(), b.to())) {
            note(b.from(), b.to(), true, false);
        }
    }
    fx
}
