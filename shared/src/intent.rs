//! The design's intent (`expect:` in the file, [`crate::topology::Expectation`]):
//! each ping that must or must not be answered, judged on the simulator
//! ([`check`], what `reach` reports) or on a measured report ([`judge`],
//! what `verify` reports).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::reach::ReachReport;
use crate::sim::{Probe, Simulator};
use crate::topology::{Expectation, Topology};
use crate::trace::DropReason;

/// One expectation and whether it holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct IntentResult {
    /// Where it is written: `expect.reach[0]`.
    pub path: String,
    /// The sender, as the report names it.
    pub from: String,
    /// The address pinged (the node's first address when a node was written).
    pub to: String,
    /// `true`: must be answered; `false`: must not.
    pub reach: bool,
    /// The ping's outcome matches the expectation.
    pub holds: bool,
    pub detail: String,
    /// Why the ping failed, when it did (simulation only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<DropReason>,
}

impl IntentResult {
    /// `vm1 -> 10.0.10.2 must reach: vlan-mismatch at vm1: ...`
    pub fn line(&self) -> String {
        let must = if self.reach {
            "must reach"
        } else {
            "must not reach"
        };
        let verdict = if self.holds { "holds" } else { "VIOLATED" };
        format!(
            "{}: {} -> {} {must}: {verdict} ({})",
            self.path, self.from, self.to, self.detail
        )
    }
}

/// The ping an expectation asks about, resolved on `sim`'s topology:
/// the sender's label, and the probe.
pub fn probe(sim: &Simulator, e: &Expectation) -> Result<(String, Probe), String> {
    let net = sim.net();
    let p = Probe::parse_in(net, &e.from, &e.to, "icmp", None)?;
    Ok((net.stacks[net.stack_of(p.from)].label.clone(), p))
}

/// Every expectation judged by the simulator.
pub fn check(topo: &Topology) -> Vec<IntentResult> {
    if topo.expect.is_empty() {
        return Vec::new();
    }
    let sim = Simulator::new(topo);
    topo.expect.iter().map(|e| check_one(&sim, e)).collect()
}

fn check_one(sim: &Simulator, e: &Expectation) -> IntentResult {
    let (from, to, outcome) = match probe(sim, e) {
        Ok((from, p)) => {
            let d = sim.simulate(&p).disposition;
            (from, p.to.to_string(), Ok(d))
        }
        Err(err) => (e.from.clone(), e.to.clone(), Err(err)),
    };
    let (ok, detail, reason) = match outcome {
        Ok(d) => (d.is_delivered(), d.summary(), d.reason()),
        Err(err) => (false, err, None),
    };
    IntentResult {
        path: e.path.clone(),
        from,
        to,
        reach: e.reach,
        holds: ok == e.reach,
        detail,
        reason,
    }
}

/// Every expectation judged by a report's lines (a measured one, for
/// `verify`); a pair the report lacks does not hold.
pub fn judge(topo: &Topology, report: &ReachReport) -> Vec<IntentResult> {
    if topo.expect.is_empty() {
        return Vec::new();
    }
    let sim = Simulator::new(topo);
    let mut out = Vec::new();
    for e in &topo.expect {
        let (from, to) = match probe(&sim, e) {
            Ok((from, p)) => (from, p.to.to_string()),
            Err(_) => (e.from.clone(), e.to.clone()),
        };
        let line = report.results.iter().find(|r| r.from == from && r.to == to);
        let (holds, detail) = match line {
            Some(r) => (r.ok == e.reach, r.detail.clone()),
            None => (false, "the report has no such pair".to_string()),
        };
        out.push(IntentResult {
            path: e.path.clone(),
            from,
            to,
            reach: e.reach,
            holds,
            detail,
            reason: None,
        });
    }
    out
}
