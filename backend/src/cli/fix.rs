//! `--fix` of `simulate` and `reach`: fix suggestions in words.

use std::fmt::Write as _;

use netloom_core::fix::Suggestion;

/// Side effects listed per suggestion, at most (all are counted).
const MAX_CHANGES: usize = 5;

/// `what` (`vm1 -> 10.0.10.2 then reaches`) and each suggestion, numbered,
/// with what else it changes; a line saying so when there is none.
pub fn render(what: &str, fixes: &[Suggestion]) -> String {
    let mut out = String::new();
    if fixes.is_empty() {
        out.push_str("no fix found: no edit of one or two changes that the simulator proves\n");
        return out;
    }
    let _ = writeln!(out, "fix suggestions, each proven by the simulator:");
    for (n, s) in fixes.iter().enumerate() {
        let _ = writeln!(out, "{:>3}. {}", n + 1, s.sentence());
        let fx = &s.side_effects;
        if fx.is_empty() {
            let _ = writeln!(out, "     {what}; nothing else changes");
            continue;
        }
        let _ = writeln!(
            out,
            "     {what}; {} other pairs start answering, {} stop:",
            fx.started, fx.stopped
        );
        for c in fx.changes.iter().take(MAX_CHANGES) {
            let verb = if c.ok { "starts" } else { "stops" };
            let _ = writeln!(out, "       {} -> {} {verb}", c.from, c.to);
        }
        let more = fx.started + fx.stopped;
        if more > MAX_CHANGES {
            let _ = writeln!(
                out,
                "       ... and {} more (--json lists 50)",
                more - MAX_CHANGES
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use netloom_core::fix::{Change, SideEffects};

    #[test]
    fn suggestions_are_numbered_with_their_side_effects() {
        let quiet = Suggestion {
            edits: vec![],
            text: vec!["tag vm3's nic eth0 with VLAN 10".into()],
            side_effects: SideEffects::default(),
        };
        let loud = Suggestion {
            text: vec!["a".into(), "b".into()],
            side_effects: SideEffects {
                started: 7,
                stopped: 0,
                changes: (0..7)
                    .map(|i| Change {
                        from: format!("vm{i}"),
                        to: "10.0.0.1".into(),
                        ok: true,
                    })
                    .collect(),
            },
            ..quiet.clone()
        };
        let text = render("vm1 -> 10.0.10.2 then reaches", &[quiet, loud]);
        assert!(text.contains("  1. tag vm3's nic eth0 with VLAN 10\n     vm1 -> 10.0.10.2 then reaches; nothing else changes\n"), "{text}");
        assert!(text.contains("  2. a, then b\n"), "{text}");
        assert!(
            text.contains("7 other pairs start answering, 0 stop"),
            "{text}"
        );
        assert!(text.contains("       vm4 -> 10.0.0.1 starts\n"), "{text}");
        assert!(!text.contains("vm5 -> "), "{text}");
        assert!(text.contains("... and 2 more"), "{text}");
        assert!(render("x", &[]).starts_with("no fix found"));
    }
}
