//! The order steps run in: the one home of the pass order and of "DHCP
//! clients last", which the executor (`deploy::execute`) and the shell
//! export ([`shell_script`]) both follow.

use std::collections::BTreeMap;

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

/// Steps of one pass: step indices by target index.
pub type Pass = BTreeMap<usize, Vec<usize>>;

/// The passes of a plan, run one after the other, the targets of one pass
/// in parallel: hosts' deletions, the sandbox's deletions, the sandbox's
/// creations, hosts' creations; then `clients`, every DHCP client's
/// creation, all at once, after everything else: each server holds a
/// reservation (MAC → address) for every client it serves, so the order
/// clients ask in does not matter, but their server and path must be there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Passes {
    pub passes: Vec<Pass>,
    pub clients: Pass,
}

/// The passes of `plan` (see [`Passes`]), each in [`execution_order`].
pub fn passes(plan: &Plan) -> Passes {
    let mut passes: Vec<Pass> = vec![BTreeMap::new(); 4];
    let mut clients = Pass::new();
    for (ti, si) in execution_order(plan) {
        let tp = &plan.targets[ti];
        let s = &tp.steps[si];
        let sandbox = tp.target.name == SANDBOX;
        let delete = s.action == Action::Delete;
        let pass = match (delete, sandbox) {
            _ if !delete && matches!(s.resource, Resource::DhcpClient { .. }) => &mut clients,
            (true, false) => &mut passes[0],
            (true, true) => &mut passes[1],
            (false, true) => &mut passes[2],
            (false, false) => &mut passes[3],
        };
        pass.entry(ti).or_default().push(si);
    }
    Passes { passes, clients }
}
