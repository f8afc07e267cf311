//! The controller: make a topology real (the sandbox machine and real
//! hosts) and take it away.
//!
//! `spec → resolved model → plan → deploy`, as containerlab does it:
//! [`observe_all`] reads what exists (this machine through
//! [`crate::host::observe`], real hosts through their agents),
//! `netloom_core::plan` diffs it against what the topology needs,
//! [`execute`] runs the steps: each target's through its agent, or
//! [`crate::host::exec`] here. Steps run in the plan's execution order;
//! hosts run in parallel. DHCP clients ask last, all
//! at once: each server holds a reservation (MAC → address) for every client
//! it serves, the lease the format predicts, so the order they ask in does
//! not matter.
//!
//! Under engine `ovn` the plan also holds one northbound transaction
//! ([`northbound`]), run after the passes, before the DHCP clients ask.
//!
//! Every step reports an [`Event`] to the caller's callback (the CLI prints
//! them; the server can stream them). A failure stops the apply and names
//! the host, the step and the OS error; whatever was done stays and is found
//! by the next observation, so the next apply or destroy converges.

pub mod capture;
pub mod northbound;
pub mod path;
pub mod status;
pub mod verify;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use netloom_core::names;
use netloom_core::plan::{
    self, Facts, Plan, Resource, State, Step, TargetInfo, TargetPlan, SANDBOX,
};
use netloom_core::spec::Engine;
use netloom_core::Topology;

use crate::host::exec::{fail_at, run_target};
use crate::host::snapshot::Snapshot;
use crate::host::{confine, observe, procs};
pub use crate::host::{lock, ApplyError, StepError};
pub use crate::report::{Event, Progress, Report};

/// Facts about a topology's hosts: real hosts say through their agents
/// whether their kernel has the OVS datapath (then the plan uses it) and
/// where their OVSDB is; emulated hosts never do (this machine's kernel lacks it).
pub fn facts(topo: &Topology) -> Result<Facts, ApplyError> {
    let (f, mut unreachable) = facts_of_reachable(topo);
    if unreachable.is_empty() {
        Ok(f)
    } else {
        Err(unreachable.remove(0))
    }
}

/// Facts of the real hosts whose agents answer, and an error for each that does not.
fn facts_of_reachable(topo: &Topology) -> (Facts, Vec<ApplyError>) {
    let mut f = Facts::default();
    let mut unreachable = Vec::new();
    for t in plan::targets(topo, &Facts::default())
        .iter()
        .filter(|t| !t.emulated)
    {
        let Some(addr) = &t.agent else { continue };
        let fail =
            |e: String| ApplyError::other(&t.name, "ask the agent for its datapath and OVSDB", e);
        let h = peer(&topo.name, t, addr)
            .and_then(|p| crate::agent::host_facts(&p).map_err(|e| e.to_string()));
        match h {
            Ok(h) => {
                if h.kernel_datapath {
                    f.kernel_datapath.insert(t.name.clone());
                }
                f.ovsdb.insert(t.name.clone(), h.ovsdb);
            }
            Err(e) => unreachable.push(fail(e)),
        }
    }
    (f, unreachable)
}

/// The plan that would make `topo` real now.
pub fn plan_for(topo: &Topology) -> Result<Plan, ApplyError> {
    let f = facts(topo)?;
    if let Some((host, message)) = plan::unsupported(topo, &f).into_iter().next() {
        return Err(ApplyError::other(host, "plan", message));
    }
    let targets = plan::targets(topo, &f);
    let want = plan::desired(topo, &f);
    let have = observe_all(&topo.name, &targets, &want)?;
    let mut p = plan::plan(&topo.name, &targets, &want, &have);
    if topo.engine == Engine::Ovn {
        p.northbound = northbound::plan(topo, &p)?;
        if p.northbound.is_none() {
            p.northbound = plan::northbound_wait(topo, &p);
        }
    }
    Ok(p)
}

/// Observe everything: this machine directly (sandbox), real hosts through their agents.
pub fn observe_all(
    topology: &str,
    targets: &[TargetInfo],
    hint: &State,
) -> Result<State, ApplyError> {
    observe_all_with_snapshot(topology, targets, hint).map(|(have, _)| have)
}

/// [`observe_all`], with the snapshot of this machine's namespaces.
pub fn observe_all_with_snapshot(
    topology: &str,
    targets: &[TargetInfo],
    hint: &State,
) -> Result<(State, Snapshot), ApplyError> {
    let (have, snap, mut failed) = observe_each(topology, targets, hint);
    match failed.is_empty() {
        true => Ok((have, snap)),
        false => Err(failed.remove(0)),
    }
}

/// Observe what can be: a real host whose agent cannot be asked, or refuses,
/// is left out of the state (nothing is planned there) and named.
fn observe_each(
    topology: &str,
    targets: &[TargetInfo],
    hint: &State,
) -> (State, Snapshot, Vec<ApplyError>) {
    let (mut have, snap) = observe::observe_with_snapshot(topology, targets, hint);
    let mut failed = Vec::new();
    for t in targets.iter().filter(|t| !t.emulated) {
        let Some(addr) = &t.agent else { continue };
        let theirs = peer(topology, t, addr).and_then(|p| {
            crate::agent::observe(&p, topology, std::slice::from_ref(t), hint)
                .map_err(|e| e.to_string())
        });
        // The agent sees its own host, and only it: what this machine saw under
        // the host's name is not there; the rest of what the agent reports is ours to see.
        match theirs.map(|mut s| s.targets.remove(&t.name)) {
            Ok(Some(rs)) => {
                have.targets.insert(t.name.clone(), rs);
            }
            Ok(None) => {
                have.targets.remove(&t.name);
            }
            Err(e) => {
                have.targets.remove(&t.name);
                failed.push(ApplyError::other(&t.name, "observe through the agent", e));
            }
        }
    }
    (have, snap, failed)
}

/// The first of the hosts left as they were, the others named in its message.
fn left_out(mut errors: Vec<ApplyError>) -> Result<(), ApplyError> {
    if errors.is_empty() {
        return Ok(());
    }
    let first = errors.remove(0);
    if errors.is_empty() {
        return Err(first);
    }
    let also: Vec<String> = errors.iter().map(ToString::to_string).collect();
    let message = format!("{}; also {}", first.source, also.join("; also "));
    Err(ApplyError::other(first.target, first.step, message))
}

/// The plan that removes everything of topology `name` (the file, when given,
/// sharpens observation and names the real hosts, observed through their
/// agents), and an error for each real host whose agent does not answer or
/// refuses: the rest is removed all the same.
fn destroy_plan(name: &str, topo: Option<&Topology>) -> (Plan, Vec<ApplyError>) {
    let (targets, hint, unreachable) = match topo {
        // Real hosts' agents say where their OVSDB is; the datapath does not matter for removal.
        Some(t) => {
            let (f, unreachable) = facts_of_reachable(t);
            let targets: Vec<TargetInfo> = plan::targets(t, &f)
                .into_iter()
                .filter(|t| !unreachable.iter().any(|e| e.target == t.name))
                .collect();
            (targets, plan::desired(t, &f), unreachable)
        }
        None => (Vec::new(), State::default(), Vec::new()),
    };
    let (have, _, refused) = observe_each(name, &targets, &hint);
    let mut unreachable = unreachable;
    unreachable.extend(refused);
    let targets = if topo.is_some() {
        targets
    } else {
        targets_from(name, &have)
    };
    let mut p = plan::plan(name, &targets, &State::default(), &have);
    // A central that cannot be reached is reported, as an agent is: the
    // hosts' steps go all the same.
    match topo.map(northbound::removal).transpose() {
        Ok(nb) => p.northbound = nb.flatten(),
        Err(e) => unreachable.push(e),
    }
    (p, unreachable)
}

/// Targets as found, when the file is lost: a host's OVSDB is where its
/// daemons (the sandbox's, in the host's directory) run.
fn targets_from(topology: &str, have: &State) -> Vec<TargetInfo> {
    let run = names::run_dir(topology);
    have.targets
        .keys()
        .map(|name| {
            let daemons = have.iter().find_map(|(_, r)| match r {
                Resource::OvsDaemons { netns, dir, .. } if *dir == format!("{run}/{name}") => {
                    Some((netns.clone(), dir.clone()))
                }
                _ => None,
            });
            let (netns, dir) = daemons.unwrap_or_default();
            TargetInfo {
                name: name.clone(),
                agent: (name != SANDBOX)
                    .then(|| format!("unix:{}", plan::agent_socket(topology, name))),
                emulated: true,
                netns,
                ovsdb: if dir.is_empty() {
                    String::new()
                } else {
                    format!("{dir}/db.sock")
                },
                datapath: "netdev".into(),
            }
        })
        .collect()
}

/// Apply: observe, plan, execute — after any other apply or destroy of the
/// same topology on this machine has finished (they never interleave).
/// While it waits for the lock, `cancel` is asked whether to give up (an
/// `Interrupted` error naming the holder, see [`lock::lock`]).
pub fn apply(topo: &Topology, progress: Progress, cancel: Cancel) -> Result<Report, ApplyError> {
    let _lock = wait_for_lock(&topo.name, "apply", progress, cancel)?;
    execute(&plan_for(topo)?, progress)
}

/// Asked while waiting for a topology's lock: give up?
pub type Cancel<'a> = &'a (dyn Fn() -> bool + Sync);

/// Whether an event says that an apply or destroy waits for another's lock.
pub fn is_lock_wait(e: &Event) -> bool {
    e.target.is_empty() && e.step.starts_with("waiting for topology ")
}

/// Take the topology's lock, telling the caller whom it waits for.
fn wait_for_lock(
    name: &str,
    what: &str,
    progress: Progress,
    cancel: Cancel,
) -> Result<lock::TopologyLock, ApplyError> {
    let step = format!("lock topology {name}");
    lock::lock(name, what, cancel, |holder| {
        progress(&Event {
            target: String::new(),
            step: format!("waiting for topology {name}: held by {holder}"),
            ok: true,
            error: None,
            ms: 0.0,
            note: None,
            warning: None,
            probe: None,
        })
    })
    .map_err(|e| ApplyError::new("", step, StepError::Io(e)))
}

/// Destroy: remove everything marked as topology `name`'s, touching nothing else.
pub fn destroy(
    name: &str,
    topo: Option<&Topology>,
    progress: Progress,
    cancel: Cancel,
) -> Result<Report, ApplyError> {
    let _lock = wait_for_lock(name, "destroy", progress, cancel)?;
    let start = Instant::now();
    let (p, _) = destroy_plan(name, topo);
    let mut steps = execute_each(&p, progress, &mut Vec::new());
    // A second look catches what the first plan could not see (a half-started
    // daemon), and says what is left: a host that failed fails again, one
    // that answered late is done. (The first look's failures were told as
    // they happened.)
    let (again, mut left) = destroy_plan(name, topo);
    steps += execute_each(&again, progress, &mut left);
    // What could be reached is gone; a host that could not be is still to do.
    left_out(left).map(|()| Report {
        topology: name.to_string(),
        steps,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// [`execute`] for destroy, its steps done: a target whose step fails is
/// added to `failed` and left out of the later passes; the others go on,
/// so that all that can be removed is.
fn execute_each(plan: &Plan, progress: Progress, failed: &mut Vec<ApplyError>) -> usize {
    let fail_at = fail_at();
    let (passes, clients) = passes(plan);
    let mut gave_up = BTreeSet::new();
    let mut count = 0;
    for pass in passes.iter().chain([&clients]) {
        let pass: Pass = (pass.iter())
            .filter(|(ti, _)| !gave_up.contains(*ti))
            .map(|(&ti, steps)| (ti, steps.clone()))
            .collect();
        for (ti, r) in run_each(plan, &pass, progress, fail_at.as_deref()) {
            match r {
                Ok(n) => count += n,
                Err(e) => {
                    gave_up.insert(ti);
                    failed.push(e);
                }
            }
        }
    }
    match plan
        .northbound
        .as_ref()
        .map(|nb| northbound::run(&plan.topology, nb, progress))
    {
        Some(Ok(())) => count += 1,
        Some(Err(e)) => failed.push(e),
        None => {}
    }
    count
}

/// Run a plan's steps in its execution order (see the module doc).
pub fn execute(plan: &Plan, progress: Progress) -> Result<Report, ApplyError> {
    let start = Instant::now();
    let topology = plan.topology.as_str();
    let fail_at = fail_at();
    let fail_at = fail_at.as_deref();
    let (passes, clients) = passes(plan);
    let mut count = 0;
    for pass in &passes {
        count += run_targets(plan, pass, progress, fail_at)?;
    }
    if let Some(nb) = &plan.northbound {
        northbound::run(topology, nb, progress)?;
        count += 1;
    }
    warm_tunnels(plan);
    count += run_targets(plan, &clients, progress, fail_at)?;
    Ok(Report {
        topology: topology.to_string(),
        steps: count,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// A target's steps in one pass, by target index.
type Pass<'p> = BTreeMap<usize, Vec<&'p Step>>;

/// The passes `execute` runs one after the other (targets of a pass in
/// parallel), then the DHCP clients: [`plan::passes`], with the steps.
fn passes(plan: &Plan) -> (Vec<Pass<'_>>, Pass<'_>) {
    let steps = |pass: &plan::Pass| -> Pass {
        pass.iter()
            .map(|(&ti, sis)| {
                (
                    ti,
                    sis.iter().map(|&si| &plan.targets[ti].steps[si]).collect(),
                )
            })
            .collect()
    };
    let p = plan::passes(plan);
    (p.passes.iter().map(steps).collect(), steps(&p.clients))
}

/// Each target's steps, targets in parallel; how many steps ran.
fn run_targets(
    plan: &Plan,
    steps: &BTreeMap<usize, Vec<&Step>>,
    progress: Progress,
    fail_at: Option<&str>,
) -> Result<usize, ApplyError> {
    (run_each(plan, steps, progress, fail_at).into_iter())
        .map(|(_, r)| r)
        .sum()
}

/// The targets' steps of one pass, in parallel: each one's outcome.
fn run_each(
    plan: &Plan,
    steps: &Pass,
    progress: Progress,
    fail_at: Option<&str>,
) -> Vec<(usize, Result<usize, ApplyError>)> {
    let topology = plan.topology.as_str();
    std::thread::scope(|sc| {
        let hs: Vec<_> = steps
            .iter()
            .map(|(&ti, steps)| {
                let tp = &plan.targets[ti];
                (
                    ti,
                    sc.spawn(move || run_remote_or_local(topology, tp, steps, progress, fail_at)),
                )
            })
            .collect();
        hs.into_iter()
            .map(|(ti, h)| (ti, h.join().expect("target thread")))
            .collect()
    })
}

/// Run [`plan::tunnel_warmups`], all at once: between netloom's own namespaces.
fn warm_tunnels(plan: &Plan) {
    std::thread::scope(|sc| {
        for (ns, argv) in plan::tunnel_warmups(plan) {
            sc.spawn(move || {
                let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
                // The reply is what OVS learns from; arping's exit need not be awaited.
                procs::run_until(&ns, &argv, |line| line.contains("reply from"));
            });
        }
    });
}

/// How to reach a target's agent at `addr`: an emulated host's with the
/// sandbox's token; a real host's only when the operator configured it
/// (`agent::peers`): the design alone never decides where a token goes.
fn peer(topology: &str, t: &TargetInfo, addr: &str) -> Result<crate::agent::Peer, String> {
    if t.emulated {
        crate::agent::sandbox_peer(topology, addr)
    } else {
        crate::agent::peers::configured(addr).map_err(|e| format!("host {}: {e}", t.name))
    }
}

/// Run a target's steps through its agent. An emulated host whose agent is
/// not running (a half-built or half-destroyed sandbox) is handled here
/// directly: it is this machine anyway.
fn run_remote_or_local(
    topology: &str,
    tp: &TargetPlan,
    steps: &[&Step],
    progress: Progress,
    fail_at: Option<&str>,
) -> Result<usize, ApplyError> {
    let local = || {
        let t = confine::TopologyName::parse(topology).map_err(|e| refused(tp, "plan", e))?;
        let steps = confine::steps(&t, steps).map_err(|(step, e)| refused(tp, &step, e))?;
        run_target(&t, tp, &steps, progress, fail_at)
    };
    let Some(addr) = &tp.target.agent else {
        return local();
    };
    if tp.target.emulated && !procs::alive(addr.trim_start_matches("unix:")) {
        return local();
    }
    let peer = peer(topology, &tp.target, addr)
        .map_err(|e| ApplyError::other(&tp.target.name, "find the agent's token", e))?;
    crate::agent::execute(&peer, topology, &tp.target, steps, progress, fail_at)
}

/// A step the confinement refused, as the failure of that step.
fn refused(tp: &TargetPlan, step: &str, e: confine::Refusal) -> ApplyError {
    ApplyError::other(&tp.target.name, step, e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::exec::tests::examples;

    fn show_passes(out: &mut String, p: &Plan) {
        let (passes, clients) = passes(p);
        for (i, pass) in passes.iter().chain([&clients]).enumerate() {
            out.push_str(&format!("pass {i}\n"));
            for (ti, steps) in pass {
                out.push_str(&format!("  target {:?}\n", p.targets[*ti].target.name));
                for s in steps {
                    out.push_str(&format!("    {s}\n"));
                }
            }
        }
    }

    /// Destroy's error names each host it left: the first as itself, the
    /// others in its message.
    #[test]
    fn every_host_left_is_named() {
        assert!(left_out(Vec::new()).is_ok());
        let e = |h: &str, why: &str| ApplyError::other(h, "observe through the agent", why);
        let one = left_out(vec![e("far", "connection refused")]).unwrap_err();
        assert_eq!(
            one.to_string(),
            "far: step `observe through the agent` failed: connection refused"
        );
        let two = left_out(vec![e("far", "connection refused"), e("near", "refused")]).unwrap_err();
        assert_eq!(two.target, "far");
        assert_eq!(
            two.to_string(),
            "far: step `observe through the agent` failed: connection refused; \
             also near: step `observe through the agent` failed: refused"
        );
    }

    /// The passes of each example's apply (from nothing) and destroy plans.
    #[test]
    fn the_passes_of_every_example_are_as_before() {
        for (name, t) in examples() {
            let f = Facts::default();
            let targets = plan::targets(&t, &f);
            let want = plan::desired(&t, &f);
            let mut out = String::from("# apply\n");
            show_passes(
                &mut out,
                &plan::plan(&t.name, &targets, &want, &State::default()),
            );
            out.push_str("# destroy\n");
            show_passes(
                &mut out,
                &plan::plan(&t.name, &targets, &State::default(), &want),
            );
            insta::assert_snapshot!(format!("passes-{name}"), out);
        }
    }
}
