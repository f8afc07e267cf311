//! Fix suggestions as the app offers them: `netloom_core::fix`'s proven
//! suggestions for a failed probe, computed in the web worker, each with
//! its side effects in words ("vm1 → vm3 then reaches; nothing else
//! changes"). The page applies one with `Suggestion::apply` as an edit of
//! the design (undoable).

use netloom_core::fix::{self, SideEffects, Suggestion};
use netloom_core::sim::Probe;
use netloom_core::topology::Topology;
use serde::{Deserialize, Serialize};

/// Pairs named per kind of side effect (all are counted).
const NAMED: usize = 3;

/// One proven suggestion, in words.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Offer {
    /// The edits: `tag vm3's nic eth0 with VLAN 10`.
    pub sentence: String,
    /// What it makes work and what else it changes.
    pub effects: String,
    pub suggestion: Suggestion,
}

/// The suggestions that make `probe` succeed on `topo` (the design's intent
/// kept whole); `then` says what each makes work (`vm1 → vm3 then reaches`).
pub fn offers(topo: &Topology, probe: &Probe, then: &str) -> Vec<Offer> {
    in_words(fix::for_probe(topo, probe), then)
}

/// The suggestions that make the design's intent hold.
pub fn intent_offers(topo: &Topology) -> Vec<Offer> {
    in_words(fix::for_intent(topo), "the intent then holds")
}

fn in_words(suggestions: Vec<Suggestion>, then: &str) -> Vec<Offer> {
    suggestions
        .into_iter()
        .map(|s| Offer {
            sentence: s.sentence(),
            effects: effects_text(then, &s.side_effects),
            suggestion: s,
        })
        .collect()
}

/// `vm1 → vm3 then reaches; nothing else changes`, or the pairs that start
/// and stop reaching, the first few named.
pub fn effects_text(then: &str, fx: &SideEffects) -> String {
    let mut out = then.to_string();
    if fx.is_empty() {
        out.push_str("; nothing else changes");
        return out;
    }
    for (ok, n, verb) in [(true, fx.started, "start"), (false, fx.stopped, "stop")] {
        if n == 0 {
            continue;
        }
        let named: Vec<String> = fx
            .changes
            .iter()
            .filter(|c| c.ok == ok)
            .take(NAMED)
            .map(|c| format!("{} → {}", c.from, c.to))
            .collect();
        let pairs = if n == 1 { "pair" } else { "pairs" };
        let s = if n == 1 { "s" } else { "" };
        out.push_str(&format!(
            "; {n} other {pairs} {verb}{s} reaching: {}",
            named.join(", ")
        ));
        if n > named.len() {
            out.push_str(&format!(" and {} more", n - named.len()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use netloom_core::fix::Change;

    fn change(from: &str, ok: bool) -> Change {
        Change {
            from: from.into(),
            to: "10.0.0.1".into(),
            ok,
        }
    }

    #[test]
    fn side_effects_read_as_pairs_that_start_and_stop_reaching() {
        let none = SideEffects::default();
        assert_eq!(
            effects_text("vm1 → vm3 then reaches", &none),
            "vm1 → vm3 then reaches; nothing else changes"
        );
        let some = SideEffects {
            started: 5,
            stopped: 1,
            changes: ["a", "b", "c", "d", "e"]
                .iter()
                .map(|f| change(f, true))
                .chain([change("x", false)])
                .collect(),
        };
        assert_eq!(
            effects_text("vm1 → vm3 then reaches", &some),
            "vm1 → vm3 then reaches; 5 other pairs start reaching: a → 10.0.0.1, \
             b → 10.0.0.1, c → 10.0.0.1 and 2 more; 1 other pair stops reaching: x → 10.0.0.1"
        );
    }

    /// The seed lab with vm3's nic in VLAN 20.
    fn broken_seedlab() -> String {
        include_str!("../../examples/seedlab-gre.yaml")
            .replace("vlan: 10, ip: 10.0.10.2", "vlan: 20, ip: 10.0.10.2")
    }

    #[test]
    fn the_seed_lab_with_vm3_in_the_wrong_vlan_is_fixed_by_its_tag() {
        let spec = netloom_core::parse(&broken_seedlab()).unwrap();
        let topo = netloom_core::validate(&spec).unwrap().topology;
        let probe = Probe::parse(&topo, "vm1", "vm3", "icmp", None).unwrap();
        let offers = offers(&topo, &probe, "vm1 → vm3 then reaches");
        let first = &offers[0];
        assert_eq!(first.sentence, "tag vm3's nic eth0 with VLAN 10");
        // The way back, vm3 → vm1, starts reaching too (a pair of its own).
        assert_eq!(
            first.effects,
            "vm1 → vm3 then reaches; 1 other pair starts reaching: vm3 → 10.0.10.1"
        );
        let fixed = first.suggestion.apply(&spec).unwrap();
        let topo = netloom_core::validate(&fixed).unwrap().topology;
        let trace = netloom_core::sim::simulate(&topo, &probe);
        assert!(trace.disposition.is_delivered(), "{trace}");
    }

    #[test]
    fn a_violated_intent_is_fixed_whole() {
        let text = broken_seedlab() + "expect:\n  reach:\n    - {from: vm1, to: vm3}\n";
        let spec = netloom_core::parse(&text).unwrap();
        let topo = netloom_core::validate(&spec).unwrap().topology;
        let offers = intent_offers(&topo);
        assert_eq!(offers[0].sentence, "tag vm3's nic eth0 with VLAN 10");
        assert!(
            offers[0].effects.starts_with("the intent then holds; "),
            "{}",
            offers[0].effects
        );
        let fixed = offers[0].suggestion.apply(&spec).unwrap();
        let topo = netloom_core::validate(&fixed).unwrap().topology;
        assert!(intent_offers(&topo).is_empty());
        assert!(netloom_core::intent::check(&topo).iter().all(|r| r.holds));
    }
}
