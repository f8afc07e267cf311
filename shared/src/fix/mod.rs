//! Fix suggestions: for a probe that fails (or an intent that does not
//! hold), the smallest edits to the design that make it work, each proven
//! by the simulator, with what else each one changes.
//!
//! Candidates come from the failing trace ([`candidates`]): the drop
//! reason and the nodes the probe involved. Each is applied to the file as
//! written ([`Edit::apply`]), validated like any file, and re-simulated: a
//! suggestion is returned only if the probe then succeeds and every
//! expectation of the design's intent holds. When no single edit does, the
//! trace of each edited design points at a second edit. Suggestions are
//! ranked by their number of edits, then by how many other pairs of the
//! reachability report change (their side effects, [`SideEffects`]),
//! then by the order they were found in. Pure and deterministic: no
//! threads of its own, no clock; the work is bounded by counts.

mod candidates;
mod edit;
mod effects;

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

pub use self::edit::{apply_all, Edit, GuestAt, IfaceAt, Kind};
pub use self::effects::{Change, SideEffects};
use crate::reach::Matrix;
use crate::sim::net::Net;
use crate::sim::{Probe, Simulator};
use crate::spec::TopologySpec;
use crate::topology::Topology;
use crate::trace::Trace;
use crate::Problem;

/// Single edits tried at most (the candidates of every failing probe together).
const MAX_CANDIDATES: usize = 60;
/// Edited designs that failed whose trace is asked for a second edit.
const MAX_SECOND: usize = 12;
/// Designs validated and simulated at most, in all.
const MAX_PROOFS: usize = 200;
/// Suggestions returned at most.
pub const MAX_SUGGESTIONS: usize = 3;
/// Proven edit lists whose side effects are measured to rank them, at most;
/// on a design of more than [`BIG`] pairs, only [`MAX_SUGGESTIONS`] (a
/// router's or tunnel's edit compares whole reports, 1.1 million pairs at
/// 1,000 vms).
const MAX_RANKED: usize = 8;
/// Pairs of the reachability report from which a design counts as big.
const BIG: usize = 100_000;

/// A proven fix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Suggestion {
    /// The edits, in the order they are applied.
    pub edits: Vec<Edit>,
    /// Each edit in words.
    pub text: Vec<String>,
    /// Other pairs of the reachability report that start or stop answering.
    pub side_effects: SideEffects,
}

impl Suggestion {
    /// The edits in words, joined: `tag vm3's nic eth0 with VLAN 10, then ...`.
    pub fn sentence(&self) -> String {
        self.text.join(", then ")
    }

    /// The design with the suggestion applied.
    pub fn apply(&self, spec: &TopologySpec) -> Result<TopologySpec, String> {
        apply_all(&self.edits, spec)
    }
}

/// A ping (or other probe) that must succeed, or must not, written as for
/// `netloom simulate`, so it is resolved again on each edited design.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Want {
    from: String,
    to: String,
    proto: String,
    size: Option<u16>,
    ttl: Option<u8>,
    reach: bool,
}

impl Want {
    fn resolve(&self, sim: &Simulator) -> Result<Probe, String> {
        let p = Probe::parse_in(sim.net(), &self.from, &self.to, &self.proto, self.size)?;
        p.with_ttl(self.ttl.map(u16::from))
    }
}

/// Suggestions that make `probe` succeed on `topo`, the design's intent
/// kept whole. None when it already succeeds, or when nothing small is found.
pub fn for_probe(topo: &Topology, probe: &Probe) -> Vec<Suggestion> {
    let sim = Simulator::new(topo);
    let net = sim.net();
    let want = Want {
        from: net.stacks[net.stack_of(probe.from)].label.clone(),
        to: probe.to.to_string(),
        proto: probe.proto.to_string(),
        size: probe.size,
        ttl: probe.ttl,
        reach: true,
    };
    let mut wants = vec![want];
    wants.extend(intent_wants(topo));
    search(topo, &wants)
}

/// Suggestions that make every expectation of the design's intent hold.
/// None when the design has no intent, or it already holds.
pub fn for_intent(topo: &Topology) -> Vec<Suggestion> {
    search(topo, &intent_wants(topo))
}

fn intent_wants(topo: &Topology) -> Vec<Want> {
    let icmp = |e: &crate::topology::Expectation| Want {
        from: e.from.clone(),
        to: e.to.clone(),
        proto: "icmp".into(),
        size: None,
        ttl: None,
        reach: e.reach,
    };
    topo.expect.iter().map(icmp).collect()
}

/// What re-simulating an edited design showed.
enum Proof {
    /// Every want holds.
    Holds(Topology),
    /// The design is valid, but this wanted probe fails (the wants after it untried).
    Fails(Topology, Probe, Trace),
    /// Invalid, or a pair that must not reach does.
    Broken,
}

/// The design as written, and its warnings: an edit that brings a new one
/// (ARP flux: an outcome the simulator cannot predict) proves nothing.
struct Base<'a> {
    spec: &'a TopologySpec,
    warnings: HashSet<Problem>,
}

impl<'a> Base<'a> {
    fn new(topo: &'a Topology) -> Self {
        let warnings = crate::validate(&topo.spec)
            .map(|c| c.warnings.into_iter().collect())
            .unwrap_or_default();
        Base {
            spec: &topo.spec,
            warnings,
        }
    }
}

/// Validate the edited design and simulate the wants on it, up to the
/// first that fails.
fn prove(base: &Base, edits: &[Edit], wants: &[Want]) -> Proof {
    let Ok(spec) = apply_all(edits, base.spec) else {
        return Proof::Broken;
    };
    let checked = match crate::validate(&spec) {
        // Counting would let an edit trade one warning for another.
        Ok(c) if c.warnings.iter().all(|w| base.warnings.contains(w)) => c,
        _ => return Proof::Broken,
    };
    let topo = checked.topology;
    let sim = Simulator::new(&topo);
    for w in wants {
        let Ok(p) = w.resolve(&sim) else {
            return Proof::Broken;
        };
        let trace = sim.simulate(&p);
        match (trace.disposition.is_delivered(), w.reach) {
            (true, false) => return Proof::Broken,
            (false, true) => {
                drop(sim);
                return Proof::Fails(topo, p, trace);
            }
            _ => {}
        }
    }
    drop(sim);
    Proof::Holds(topo)
}

/// The wants that do not hold on `topo` first: an edited design that
/// still fails one is then rejected after a single simulation.
fn failing_first(topo: &Topology, wants: &[Want]) -> Vec<Want> {
    let sim = Simulator::new(topo);
    let holds = |w: &Want| {
        w.resolve(&sim)
            .is_ok_and(|p| sim.simulate(&p).disposition.is_delivered() == w.reach)
    };
    let (ok, failing): (Vec<Want>, Vec<Want>) = wants.iter().cloned().partition(holds);
    failing.into_iter().chain(ok).collect()
}

/// The candidates of every wanted probe that fails on `topo`.
fn failing_candidates(topo: &Topology, wants: &[Want]) -> Vec<Edit> {
    let sim = Simulator::new(topo);
    let mut out: Vec<Edit> = Vec::new();
    for w in wants.iter().filter(|w| w.reach) {
        let Ok(p) = w.resolve(&sim) else { continue };
        let trace = sim.simulate(&p);
        if !trace.disposition.is_delivered() {
            for e in candidates::candidates(sim.net(), &p, &trace) {
                if !out.contains(&e) {
                    out.push(e);
                }
            }
        }
    }
    out.truncate(MAX_CANDIDATES);
    out
}

/// Proven edit lists, fewest edits first, then in the order found.
fn search(topo: &Topology, wants: &[Want]) -> Vec<Suggestion> {
    let wants = &failing_first(topo, wants);
    let first = failing_candidates(topo, wants);
    if first.is_empty() {
        return Vec::new();
    }
    let base = Base::new(topo);
    let mut proofs = 0;
    let mut proven: Vec<(Vec<Edit>, Topology)> = Vec::new();
    let mut second: Vec<(Edit, Topology, Probe, Trace)> = Vec::new();
    for e in &first {
        proofs += 1;
        match prove(&base, std::slice::from_ref(e), wants) {
            Proof::Holds(t) => proven.push((vec![e.clone()], t)),
            Proof::Fails(t, p, tr) if second.len() < MAX_SECOND => {
                second.push((e.clone(), t, p, tr))
            }
            _ => {}
        }
    }
    let ranked = if crate::reach::pairs(topo) > BIG {
        MAX_SUGGESTIONS
    } else {
        MAX_RANKED
    };
    if proven.is_empty() {
        'pairs: for (e, t, p, tr) in &second {
            let sim = Simulator::new(t);
            for e2 in candidates::candidates(sim.net(), p, tr) {
                if proofs >= MAX_PROOFS || proven.len() >= ranked {
                    break 'pairs;
                }
                proofs += 1;
                let edits = vec![e.clone(), e2];
                if let Proof::Holds(after) = prove(&base, &edits, wants) {
                    proven.push((edits, after));
                }
            }
        }
    }
    proven.sort_by_key(|(edits, _)| edits.len());
    proven.truncate(ranked);
    rank(topo, wants, proven)
}

/// Proven lists with their side effects, fewest edits first, then fewest
/// other pairs changed; the first [`MAX_SUGGESTIONS`].
fn rank(topo: &Topology, wants: &[Want], proven: Vec<(Vec<Edit>, Topology)>) -> Vec<Suggestion> {
    if proven.is_empty() {
        return Vec::new();
    }
    let mut before = Before::new(topo);
    let mut out: Vec<Suggestion> = proven
        .into_iter()
        .map(|(edits, after)| {
            let wanted = effects::wanted_pairs(&after, wants.iter().map(|w| (&w.from, &w.to)));
            let side_effects = before.side_effects(&edits, &after, &wanted);
            let text = describe(&edits, &topo.spec);
            Suggestion {
                edits,
                text,
                side_effects,
            }
        })
        .collect();
    // A stable sort keeps the order found among equals.
    out.sort_by_key(|s| {
        (
            s.edits.len(),
            s.side_effects.started + s.side_effects.stopped,
        )
    });
    out.truncate(MAX_SUGGESTIONS);
    out
}

/// Each edit in words, on the design as it is when that edit comes (an
/// edit may name what an earlier one added).
fn describe(edits: &[Edit], spec: &TopologySpec) -> Vec<String> {
    let mut spec = spec.clone();
    let mut out = Vec::new();
    for e in edits {
        out.push(e.describe(&spec));
        spec = e.apply(&spec).unwrap_or(spec);
    }
    out
}

/// The design before the edits, its models made when first needed: the
/// whole report (for edits that may change any pair), or the model alone
/// (for edits whose changes lie in a few rows and columns).
struct Before<'t> {
    topo: &'t Topology,
    net: Option<Net<'t>>,
    matrix: Option<Matrix<'t>>,
}

impl<'t> Before<'t> {
    fn new(topo: &'t Topology) -> Self {
        Before {
            topo,
            net: None,
            matrix: None,
        }
    }

    fn side_effects(
        &mut self,
        edits: &[Edit],
        after: &Topology,
        wanted: &HashSet<(String, String)>,
    ) -> SideEffects {
        if let Some(stacks) = effects::local_stacks(self.topo, after, edits) {
            let net = self.net.get_or_insert_with(|| Net::new(self.topo));
            if let Some(fx) = effects::diff_local(net, &Net::new(after), &stacks, wanted) {
                return fx;
            }
        }
        let topo = self.topo;
        let before = self.matrix.get_or_insert_with(|| Matrix::new(topo));
        effects::diff(before, &Matrix::new(after), wanted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every lab of the repository, and the seed lab with each vm's tag or
    /// gateway changed: for every failed pair and every proven edit list,
    /// the side effects found on a few rows and columns equal the whole
    /// reports' difference.
    #[test]
    fn local_side_effects_equal_the_whole_reports_difference() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
        let mut texts = Vec::new();
        for sub in ["examples", "shared/tests/labs"] {
            let mut files: Vec<_> = std::fs::read_dir(format!("{dir}/{sub}"))
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            files.sort();
            texts.extend(files.iter().map(|f| std::fs::read_to_string(f).unwrap()));
        }
        let seed = &texts[2];
        assert!(seed.contains("name: seedlab"));
        let variants: Vec<String> = [
            ("vlan: 10, ip: 10.0.10.2", "vlan: 20, ip: 10.0.10.2"),
            ("vlan: 20, ip: 10.0.20.1", "ip: 10.0.20.1"),
        ]
        .iter()
        .map(|(a, b)| seed.replace(a, b))
        .collect();
        texts.extend(variants);
        let mut local = 0;
        for text in &texts {
            let topo = crate::load(text).unwrap().topology;
            let failed = crate::reach::reach(&topo)
                .results
                .into_iter()
                .filter(|r| !r.ok);
            for r in failed.take(12) {
                let wants = [Want {
                    from: r.from.clone(),
                    to: r.to.clone(),
                    proto: "icmp".into(),
                    size: None,
                    ttl: None,
                    reach: true,
                }];
                for e in failing_candidates(&topo, &wants) {
                    let Proof::Holds(after) =
                        prove(&Base::new(&topo), std::slice::from_ref(&e), &wants)
                    else {
                        continue;
                    };
                    let Some(stacks) =
                        effects::local_stacks(&topo, &after, std::slice::from_ref(&e))
                    else {
                        continue;
                    };
                    let wanted = effects::wanted_pairs(&after, [(&r.from, &r.to)].into_iter());
                    let few =
                        effects::diff_local(&Net::new(&topo), &Net::new(&after), &stacks, &wanted)
                            .unwrap();
                    let whole = effects::diff(&Matrix::new(&topo), &Matrix::new(&after), &wanted);
                    assert_eq!(few, whole, "{}: {:?}", topo.name, e);
                    local += 1;
                }
            }
        }
        assert!(local >= 10, "only {local} local edit lists");
    }
}
