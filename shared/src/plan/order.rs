//! The order steps run in.

use super::*;

/// The order steps run in, as (target index, step index): hosts' deletions,
/// the sandbox's deletions, the sandbox's creations, hosts' creations.
pub fn execution_order(plan: &Plan) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let is_sandbox = |t: &TargetPlan| t.target.name == SANDBOX;
    for pass in 0..4 {
        for (ti, tp) in plan.targets.iter().enumerate() {
            let want_sandbox = pass == 1 || pass == 2;
            if is_sandbox(tp) != want_sandbox {
                continue;
            }
            for (si, s) in tp.steps.iter().enumerate() {
                let del = s.action == Action::Delete;
                if del == (pass < 2) {
                    out.push((ti, si));
                }
            }
        }
    }
    out
}
