//! Deployment: make a topology real on this machine (sandbox) and take it away.
//!
//! `spec → resolved model → plan → deploy`, as containerlab does it:
//! [`observe`] reads what exists, `netloom_core::plan` diffs it against
//! what the topology needs, [`execute`] runs the steps. Steps run in the
//! plan's execution order; within a target, steps of one rank run in
//! parallel (they touch different things), the OVS rows of a target go in one
//! OVSDB transaction, and hosts run in parallel. DHCP clients ask last, all
//! at once: each server holds a reservation (MAC → address) for every client
//! it serves, the lease the format predicts, so the order they ask in does
//! not matter.
//!
//! Every step reports an [`Event`] to the caller's callback (the CLI prints
//! them; the server can stream them). A failure stops the apply and names
//! the host, the step and the OS error; whatever was done stays and is found
//! by the next observation, so the next apply or destroy converges.

pub mod confine;
pub mod lock;
pub mod netns;
pub mod nl;
pub mod observe;
pub mod ovsdb;
pub mod probe;
pub mod procs;
pub mod status;
pub mod verify;

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::path::Path;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use netloom_core::names;
use netloom_core::plan::{
    self, Action, Facts, Plan, Resource, State, Step, TargetInfo, TargetPlan, OVS_OWNER_KEY,
    SANDBOX,
};
use netloom_core::reach::Probe;
use netloom_core::Topology;

use nl::NlError;
use ovsdb::{Ovsdb, OvsdbError};
use procs::ProcError;

/// What went wrong in one step.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    #[error(transparent)]
    Netlink(#[from] NlError),
    #[error(transparent)]
    Ovsdb(#[from] OvsdbError),
    #[error(transparent)]
    Process(#[from] ProcError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// A failed apply or destroy: which host, which step, and the error.
#[derive(Debug, thiserror::Error)]
#[error("{}: step `{step}` failed: {source}", if target.is_empty() { "sandbox" } else { target.as_str() })]
pub struct ApplyError {
    pub target: String,
    pub step: String,
    #[source]
    pub source: StepError,
}

/// Progress of one step (of apply or destroy), or of one probe of verify.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Event {
    /// Host name, or `""` for the sandbox machine's own steps.
    pub target: String,
    /// The step, as `netloom plan` prints it.
    pub step: String,
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub ms: f64,
    /// A step that went through as the model predicts, with an outcome worth
    /// showing: `no lease (predicted)` for a DHCP client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// A step that went through, but reality differs from the model's prediction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
    /// Set by verify: the pair just measured, with the count so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe: Option<Probe>,
}

/// What an apply or destroy did.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub topology: String,
    pub steps: usize,
    pub seconds: f64,
}

/// Progress callback.
pub type Progress<'a> = &'a (dyn Fn(&Event) + Sync);

/// The alias netloom gives the links it creates: `netloom:<topology>`.
pub fn link_mark(topology: &str) -> String {
    format!("netloom:{topology}")
}

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
        let fail = |e: String| ApplyError {
            target: t.name.clone(),
            step: "ask the agent for its datapath and OVSDB".into(),
            source: StepError::Io(std::io::Error::other(e)),
        };
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
        return Err(ApplyError {
            target: host,
            step: "plan".into(),
            source: StepError::Io(std::io::Error::other(message)),
        });
    }
    let targets = plan::targets(topo, &f);
    let want = plan::desired(topo, &f);
    let have = observe_all(&topo.name, &targets, &want)?;
    Ok(plan::plan(&topo.name, &targets, &want, &have))
}

/// Observe everything: this machine directly (sandbox), real hosts through their agents.
pub fn observe_all(
    topology: &str,
    targets: &[TargetInfo],
    hint: &State,
) -> Result<State, ApplyError> {
    let mut have = observe::observe(topology, targets, hint);
    for t in targets.iter().filter(|t| !t.emulated) {
        let Some(addr) = &t.agent else { continue };
        let fail = |e: String| ApplyError {
            target: t.name.clone(),
            step: "observe through the agent".into(),
            source: StepError::Io(std::io::Error::other(e)),
        };
        let peer = peer(topology, t, addr).map_err(fail)?;
        let theirs = crate::agent::observe(&peer, topology, std::slice::from_ref(t), hint)
            .map_err(|e| fail(e.to_string()))?;
        // The agent sees its own host, and only it: what this machine saw under
        // the host's name is not there; the rest of what the agent reports is ours to see.
        match theirs.targets.get(&t.name) {
            Some(rs) => have.targets.insert(t.name.clone(), rs.clone()),
            None => have.targets.remove(&t.name),
        };
    }
    Ok(have)
}

/// The plan that removes everything of topology `name` (the file, when given,
/// sharpens observation and names the real hosts, observed through their
/// agents), and an error for each real host whose agent does not answer:
/// the rest is removed all the same.
pub fn destroy_plan(
    name: &str,
    topo: Option<&Topology>,
) -> Result<(Plan, Vec<ApplyError>), ApplyError> {
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
    let have = observe_all(name, &targets, &hint)?;
    let targets = if topo.is_some() {
        targets
    } else {
        targets_from(name, &have)
    };
    Ok((
        plan::plan(name, &targets, &State::default(), &have),
        unreachable,
    ))
}

/// Targets as found, when the file is lost: a host's OVSDB is where its
/// daemons (the sandbox's, in the host's directory) run.
fn targets_from(topology: &str, have: &State) -> Vec<TargetInfo> {
    let run = names::run_dir(topology);
    have.targets
        .keys()
        .map(|name| {
            let daemons = have.iter().find_map(|(_, r)| match r {
                Resource::OvsDaemons { netns, dir } if *dir == format!("{run}/{name}") => {
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
    .map_err(|e| ApplyError {
        target: String::new(),
        step,
        source: StepError::Io(e),
    })
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
    let (p, mut unreachable) = destroy_plan(name, topo)?;
    let mut r = execute(&p, progress)?;
    // A second look catches what the first plan could not see (a half-started daemon).
    let (again, _) = destroy_plan(name, topo)?;
    if !again.is_empty() {
        r.steps += execute(&again, progress)?.steps;
    }
    r.seconds = start.elapsed().as_secs_f64();
    // What could be reached is gone; a host that could not be is still to do.
    if unreachable.is_empty() {
        Ok(r)
    } else {
        Err(unreachable.remove(0))
    }
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
    if !clients.is_empty() {
        warm_tunnels(plan);
    }
    // All at once: each server holds a reservation for every client it serves.
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
/// parallel), then the DHCP clients.
fn passes(plan: &Plan) -> (Vec<Pass<'_>>, Pass<'_>) {
    let order = plan::execution_order(plan);
    // Four passes: hosts' deletions, sandbox deletions, sandbox creations, hosts' creations.
    let mut passes: Vec<Pass> = vec![BTreeMap::new(); 4];
    for (ti, si) in order {
        let tp = &plan.targets[ti];
        let s = &tp.steps[si];
        let sandbox = tp.target.name == SANDBOX;
        let pass = match (s.action == Action::Delete, sandbox) {
            (true, false) => 0,
            (true, true) => 1,
            (false, true) => 2,
            (false, false) => 3,
        };
        passes[pass].entry(ti).or_default().push(s);
    }
    // DHCP clients ask after everything else, per target.
    let mut clients: Pass = BTreeMap::new();
    for pass in passes.iter_mut() {
        for (&ti, steps) in pass.iter_mut() {
            steps.retain(|s| {
                let client =
                    s.action != Action::Delete && matches!(s.resource, Resource::DhcpClient { .. });
                if client {
                    clients.entry(ti).or_default().push(s);
                }
                !client
            });
        }
    }
    (passes, clients)
}

/// Each target's steps, targets in parallel; how many steps ran.
fn run_targets(
    plan: &Plan,
    steps: &BTreeMap<usize, Vec<&Step>>,
    progress: Progress,
    fail_at: Option<&str>,
) -> Result<usize, ApplyError> {
    let topology = plan.topology.as_str();
    let results: Vec<Result<usize, ApplyError>> = std::thread::scope(|sc| {
        let hs: Vec<_> = steps
            .iter()
            .map(|(&ti, steps)| {
                let tp = &plan.targets[ti];
                sc.spawn(move || run_remote_or_local(topology, tp, steps, progress, fail_at))
            })
            .collect();
        hs.into_iter()
            .map(|h| h.join().expect("target thread"))
            .collect()
    });
    results.into_iter().sum()
}

/// Resolve the underlay neighbours of tunnels just created on emulated hosts.
/// The userspace datapath drops the packet that makes it look up a tunnel's
/// remote: were that a DHCP DISCOVER, the client would wait a second to retry.
/// It learns a remote only from an ARP reply to its bridge's own address, so
/// each host asks (`arping` from the underlay bridge) rather than pings: a
/// ping may use a neighbour entry the kernel took from the remote's own ARP
/// request, and then no reply passes through OVS. Between netloom's own namespaces.
fn warm_tunnels(plan: &Plan) {
    let phy = names::phy_bridge(&names::topology_tag(&plan.topology));
    let mut pairs: Vec<(String, std::net::Ipv4Addr)> = Vec::new();
    for tp in plan
        .targets
        .iter()
        .filter(|t| t.target.emulated && !t.target.netns.is_empty())
    {
        for s in tp.steps.iter().filter(|s| s.action == Action::Create) {
            if let Resource::OvsPort {
                iface:
                    plan::OvsIface::Gre { remote_ip, .. } | plan::OvsIface::Vxlan { remote_ip, .. },
                ..
            } = &s.resource
            {
                pairs.push((tp.target.netns.clone(), *remote_ip));
            }
        }
    }
    std::thread::scope(|sc| {
        for (ns, ip) in &pairs {
            let phy = &phy;
            sc.spawn(move || {
                let ip = ip.to_string();
                // Until the first reply, a request a second, for up to 2 s. The
                // reply is what OVS learns from; arping's exit need not be awaited.
                procs::run_until(
                    ns,
                    &[
                        "busybox", "arping", "-f", "-c", "2", "-w", "2", "-I", phy, &ip,
                    ],
                    |line| line.contains("reply from"),
                );
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
    if tp.target.emulated && !crate::agent::alive(addr.trim_start_matches("unix:")) {
        return local();
    }
    let peer = peer(topology, &tp.target, addr).map_err(|e| ApplyError {
        target: tp.target.name.clone(),
        step: "find the agent's token".into(),
        source: StepError::Io(std::io::Error::other(e)),
    })?;
    crate::agent::execute(&peer, topology, &tp.target, steps, progress, fail_at)
}

/// A step the confinement refused, as the failure of that step.
fn refused(tp: &TargetPlan, step: &str, e: confine::Refusal) -> ApplyError {
    ApplyError {
        target: tp.target.name.clone(),
        step: step.to_string(),
        source: StepError::Io(std::io::Error::other(e.to_string())),
    }
}

/// Steps of one target in one pass: rank by rank; OVS rows in one transaction.
///
/// New OVS rows go first, on a thread of their own: a new ovs-vswitchd
/// spends about 0.1 s calibrating its userspace datapath as soon as it sees
/// a bridge, and the namespaces, links, offloads and sysctls are made
/// meanwhile (it picks a port's device up when it appears). Removals keep
/// rank order.
pub fn run_target<'a>(
    topology: &confine::TopologyName,
    tp: &TargetPlan,
    steps: &[confine::Confined<'a>],
    progress: Progress,
    fail_at: Option<&str>,
) -> Result<usize, ApplyError> {
    let topology = topology.as_str();
    let steps: Vec<&'a Step> = steps.iter().map(|c| c.get()).collect();
    let rows: Vec<&Step> = steps
        .iter()
        .copied()
        .filter(|s| s.resource.is_ovs_row())
        .collect();
    let rows_first = !rows.is_empty() && rows.iter().all(|s| s.action != Action::Delete);
    std::thread::scope(|sc| {
        let mut early = rows_first.then(|| {
            let rows = &rows;
            sc.spawn(move || ovs_rows(topology, tp, rows, progress, fail_at))
        });
        let mut done = 0;
        let mut ovs_done = rows_first;
        let mut pending: Pending<'a> = None;
        type Early<'s, 'a> =
            Option<std::thread::ScopedJoinHandle<'s, Result<(usize, Pending<'a>), ApplyError>>>;
        let settle = |pending: &mut Pending<'a>,
                      early: &mut Early<'_, 'a>,
                      done: &mut usize|
         -> Result<(), ApplyError> {
            if let Some(h) = early.take() {
                let (n, want) = h.join().expect("OVS thread")?;
                *done += n;
                *pending = want;
            }
            if let Some((want, s)) = pending.take() {
                Ovsdb::connect(&tp.target.ovsdb)
                    .and_then(|mut db| db.wait_applied(want, Duration::from_secs(15)))
                    .map_err(|e| fail(&tp.target.name, s, e.into()))?;
            }
            Ok(())
        };
        // Addresses, routes and daemons in the host's own namespace, where
        // ovs-vswitchd makes its devices (the underlay bridge's port), wait for
        // it to have applied every configuration, this apply's or an earlier
        // one it had not finished (a killed apply's); guests' namespaces hold
        // only veth ends, so theirs go on meanwhile.
        let on_ovs_devices = |s: &Step| {
            matches!(
                s.resource,
                Resource::Addr { .. }
                    | Resource::Route { .. }
                    | Resource::Nft { .. }
                    | Resource::Dnsmasq { .. }
                    | Resource::DhcpClient { .. }
            ) && s.resource.netns() == Some(tp.target.netns.as_str())
        };
        let mut deferred: Vec<&Step> = Vec::new();
        let mut starting = Vec::new();
        let mut count = 0;
        let mut i = 0;
        while i < steps.len() {
            let rank = steps[i].resource.rank();
            let mut j = i;
            while j < steps.len() && steps[j].resource.rank() == rank {
                j += 1;
            }
            let group = &steps[i..j];
            if group[0].resource.is_ovs_row() {
                if !ovs_done {
                    let (n, want) = ovs_rows(topology, tp, &rows, progress, fail_at)?;
                    count += n;
                    // Not when the host goes (its underlay bridge goes only with it):
                    // its daemons are stopped next, and ovs-vswitchd applying the
                    // removal was a third of a 100-host destroy.
                    pending = want.filter(|_| !host_goes(topology, tp, &rows));
                    ovs_done = true;
                }
            } else {
                let has_ovs = !tp.target.ovsdb.is_empty();
                let (later, now): (Vec<&Step>, Vec<&Step>) = group
                    .iter()
                    .partition(|s| has_ovs && s.action != Action::Delete && on_ovs_devices(s));
                deferred.extend(later);
                // Nothing else of the sandbox's needs the hosts' OVS daemons and
                // agents, so the links are made while they start (each kind on
                // workers of its own); the hosts' steps come after.
                let starts = |s: &&Step, daemons: bool| {
                    s.action == Action::Create
                        && match s.resource {
                            Resource::OvsDaemons { .. } => daemons,
                            Resource::Agent { .. } => !daemons,
                            _ => false,
                        }
                };
                let (daemons, now): (Vec<&Step>, Vec<&Step>) =
                    now.into_iter().partition(|s| starts(s, true));
                let (agents, now): (Vec<&Step>, Vec<&Step>) =
                    now.into_iter().partition(|s| starts(s, false));
                for background in [daemons, agents] {
                    if !background.is_empty() {
                        starting.push(sc.spawn(move || {
                            run_parallel(topology, tp, &background, progress, fail_at)
                        }));
                    }
                }
                count += run_parallel(topology, tp, &now, progress, fail_at)?;
            }
            i = j;
        }
        for h in starting {
            count += h.join().expect("OVS daemons thread")?;
        }
        settle(&mut pending, &mut early, &mut done)?;
        if let Some(first) = deferred.first() {
            Ovsdb::connect(&tp.target.ovsdb)
                .and_then(|mut db| db.wait_all_applied(Duration::from_secs(15)))
                .map_err(|e| fail(&tp.target.name, first, e.into()))?;
        }
        // Already in rank order.
        for group in deferred.chunk_by(|a, b| a.resource.rank() == b.resource.rank()) {
            count += run_parallel(topology, tp, group, progress, fail_at)?;
        }
        Ok(count + done)
    })
}

/// Whether `rows` remove emulated host `tp` as a whole: its underlay bridge
/// is made with its daemons and removed only with them.
fn host_goes(topology: &str, tp: &TargetPlan, rows: &[&Step]) -> bool {
    let phy = names::phy_bridge(&names::topology_tag(topology));
    tp.target.emulated
        && rows.iter().any(|s| {
            s.action == Action::Delete
                && matches!(&s.resource, Resource::OvsBridge { name, .. } if *name == phy)
        })
}

/// Steps of one rank at once, at most 16 running (2 cores, and every step
/// has its own thread anyway); returns how many ran. After a failure no
/// further step starts; the error is that of the first failed step in the
/// group's order.
fn run_parallel(
    topology: &str,
    tp: &TargetPlan,
    group: &[&Step],
    progress: Progress,
    fail_at: Option<&str>,
) -> Result<usize, ApplyError> {
    let results = on_workers(group, 16, |s| {
        match run_one(topology, &tp.target, s, progress, fail_at) {
            Ok(()) => ControlFlow::Continue(Ok(())),
            Err(e) => ControlFlow::Break(Err(e)),
        }
    });
    for r in results.into_iter().flatten() {
        r?;
    }
    Ok(group.len())
}

/// `f` on each item, on at most `width` threads that each take the next item
/// as they finish one, so a slow item holds up only its own thread (in fixed
/// chunks, each chunk waited for its slowest: 100 hosts' agents started in 7
/// rounds). Once `f` breaks, no further item is taken. The results are in
/// the items' order, `None` for an item not taken.
fn on_workers<T: Sync, R: Send>(
    items: &[T],
    width: usize,
    f: impl Fn(&T) -> ControlFlow<R, R> + Sync,
) -> Vec<Option<R>> {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let done: Vec<Vec<(usize, R)>> = std::thread::scope(|sc| {
        let workers: Vec<_> = (0..items.len().min(width))
            .map(|_| {
                sc.spawn(|| {
                    let mut mine = Vec::new();
                    while !stop.load(Ordering::SeqCst) {
                        let i = next.fetch_add(1, Ordering::SeqCst);
                        let Some(item) = items.get(i) else { break };
                        let r = match f(item) {
                            ControlFlow::Continue(r) => r,
                            ControlFlow::Break(r) => {
                                stop.store(true, Ordering::SeqCst);
                                r
                            }
                        };
                        mine.push((i, r));
                    }
                    mine
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|h| h.join().expect("worker thread"))
            .collect()
    });
    let mut out: Vec<Option<R>> = items.iter().map(|_| None).collect();
    for (i, r) in done.into_iter().flatten() {
        out[i] = Some(r);
    }
    out
}

/// The configuration ovs-vswitchd must reach before addresses go on its
/// devices, and the step that asked for it.
type Pending<'a> = Option<(i64, &'a Step)>;

/// A target's OVS rows as one transaction, each reported; returns how many
/// and the configuration ovs-vswitchd must reach.
fn ovs_rows<'a>(
    topology: &str,
    tp: &TargetPlan,
    rows: &[&'a Step],
    progress: Progress,
    fail_at: Option<&str>,
) -> Result<(usize, Pending<'a>), ApplyError> {
    let Some(first) = rows.first() else {
        return Ok((0, None));
    };
    let t0 = Instant::now();
    let r = ovs_transaction(topology, &tp.target, rows, fail_at);
    for s in rows {
        let said = Outcome::default();
        report(progress, &tp.target.name, s, t0, r.as_ref().map(|_| &said));
    }
    let want = r.map_err(|e| fail(&tp.target.name, first, e))?;
    Ok((rows.len(), want.map(|w| (w, *first))))
}

/// What a step that went through says besides "done" (see [`Event`]).
#[derive(Debug, Default)]
struct Outcome {
    note: Option<String>,
    warning: Option<String>,
}

fn report(
    progress: Progress,
    target: &str,
    s: &Step,
    t0: Instant,
    r: Result<&Outcome, &StepError>,
) {
    let said = r.ok();
    progress(&Event {
        target: target.to_string(),
        step: s.to_string(),
        ok: r.is_ok(),
        error: r.err().map(|e| e.to_string()),
        ms: t0.elapsed().as_secs_f64() * 1000.0,
        note: said.and_then(|o| o.note.clone()),
        warning: said.and_then(|o| o.warning.clone()),
        probe: None,
    });
}

fn fail(target: &str, s: &Step, source: StepError) -> ApplyError {
    ApplyError {
        target: target.to_string(),
        step: s.to_string(),
        source,
    }
}

fn run_one(
    topology: &str,
    target: &TargetInfo,
    s: &Step,
    progress: Progress,
    fail_at: Option<&str>,
) -> Result<(), ApplyError> {
    let t0 = Instant::now();
    let r = do_step(topology, s, fail_at);
    report(progress, &target.name, s, t0, r.as_ref());
    r.map(|_| ()).map_err(|e| fail(&target.name, s, e))
}

/// Failure injection for tests: `NETLOOM_FAIL_AT=<substring of a step>` makes that step fail.
/// The agent gets the pattern with each request, so an agent started by one
/// apply never fails the next one.
pub fn fail_at() -> Option<String> {
    std::env::var("NETLOOM_FAIL_AT")
        .ok()
        .filter(|p| !p.is_empty())
}

fn injected_failure(s: &Step, fail_at: Option<&str>) -> Result<(), StepError> {
    match fail_at {
        Some(pat) if s.to_string().contains(pat) => Err(StepError::Io(std::io::Error::other(
            "failure injected by NETLOOM_FAIL_AT",
        ))),
        _ => Ok(()),
    }
}

/// One step (anything but OVS rows).
fn do_step(topology: &str, s: &Step, fail_at: Option<&str>) -> Result<Outcome, StepError> {
    injected_failure(s, fail_at)?;
    let del = s.action == Action::Delete;
    match s.resource.clone() {
        Resource::RunDir { path } => {
            if del {
                if Path::new(&path).exists() {
                    std::fs::remove_dir_all(&path)?;
                }
                // The parent is shared by topologies: remove it only when empty.
                let _ = std::fs::remove_dir("/run/netloom");
            } else {
                use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
                // Root's only (the agents' token, pidfiles, leases), also when made before.
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(&path)?;
                for d in Path::new(&path).ancestors().take(2) {
                    std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o700))?;
                }
                std::fs::write(format!("{path}/udhcpc.script"), procs::UDHCPC_SCRIPT)?;
                std::fs::set_permissions(
                    format!("{path}/udhcpc.script"),
                    std::fs::Permissions::from_mode(0o755),
                )?;
                std::fs::create_dir_all(format!("{path}/leases"))?;
                std::fs::create_dir_all(format!("{path}/nft"))?;
            }
        }
        Resource::Netns { name } => {
            if del {
                netns::delete(&name)?;
            } else {
                // A namespace deleted a moment ago may still be going: retry briefly.
                let mut tries = 0;
                loop {
                    match nl::create_netns_then(&name, |_| Ok(())) {
                        Err(NlError::Io(e))
                            if e.kind() == std::io::ErrorKind::AlreadyExists && tries < 1 =>
                        {
                            // A leftover placeholder or mount: clear it and try again.
                            netns::delete(&name)?;
                            tries += 1;
                        }
                        r => break r?,
                    }
                }
            }
        }
        Resource::Agent { netns, dir } => {
            if del {
                procs::stop(&Path::new(&dir).join("agent.pid"), Duration::from_secs(2));
                for f in ["agent.sock", "agent.log"] {
                    let _ = std::fs::remove_file(Path::new(&dir).join(f));
                }
            } else {
                procs::start_agent(topology, &netns, &dir)?;
            }
        }
        Resource::OvsDaemons { netns, dir } => {
            if del {
                procs::stop_ovs(&dir);
            } else {
                let phy = names::phy_bridge(&names::topology_tag(topology));
                procs::start_ovs(&netns, &dir, &phy, topology)?;
            }
        }
        Resource::Segment { netns, name, mac } => {
            nl::with_netlink(&netns, move |n| {
                if del {
                    n.del_link(&name)
                } else {
                    n.add_bridge(&name, mac)
                }
            })?;
        }
        Resource::Veth {
            netns: ns,
            name,
            peer_netns,
            peer,
            peer_mac,
            peer_master,
        } => {
            if del {
                nl::with_netlink(&ns, move |n| n.del_link(&name))?;
            } else {
                // Created from the side of the end named `name` (an OVS port, or
                // the host's own namespace's), up at once; the peer is made
                // directly in its namespace with its MAC, then enslaved and up there.
                let fd = netns::open(&peer_netns)?;
                let mark = link_mark(topology);
                let p2 = peer.clone();
                nl::with_netlink(&ns, move |n| {
                    use std::os::fd::AsRawFd;
                    n.add_veth(&name, &p2, peer_mac, fd.as_raw_fd())?;
                    n.mark(&name, &mark)
                })?;
                nl::with_netlink(&peer_netns, move |n| {
                    n.set_up_in(&peer, peer_master.as_deref())
                })?;
            }
        }
        Resource::VxlanLink {
            netns,
            name,
            vni,
            local,
            remote,
        } => {
            let mark = link_mark(topology);
            nl::with_netlink(&netns, move |n| {
                if del {
                    n.del_link(&name)
                } else {
                    n.add_vxlan(&name, vni, local, remote, plan::VXLAN_INNER_MTU)?;
                    n.mark(&name, &mark)
                }
            })?;
        }
        Resource::TxOffloadOff { netns, dev } => {
            if !del {
                netns::run_in(&netns, move || nl::tx_csum_off(&dev))??;
            }
        }
        Resource::Sysctl { netns, key, value } => {
            if !del {
                let key = confine::SysctlKey::parse(&key).map_err(std::io::Error::other)?;
                // A table size only grows: the machine may need more for others.
                let grow = matches!(key, confine::SysctlKey::NeighTable(_));
                netns::run_in(&netns, move || {
                    let have = nl::sysctl_get(key).ok().and_then(|v| v.parse::<u64>().ok());
                    match (grow, have, value.parse::<u64>()) {
                        (true, Some(h), Ok(want)) if h >= want => Ok(()),
                        _ => nl::sysctl_set(key, &value),
                    }
                })??;
            }
        }
        Resource::Addr { netns, dev, cidr } => {
            nl::with_netlink(&netns, move |n| {
                if del {
                    n.del_addr(&dev, cidr)
                } else {
                    n.add_addr(&dev, cidr)
                }
            })?;
        }
        Resource::Route { netns, to, via } => {
            nl::with_netlink(&netns, move |n| {
                if del {
                    n.route_del(to)
                } else {
                    n.route_replace(to, via)
                }
            })?;
        }
        Resource::Nft { netns, ruleset } => {
            let rec = observe::nft_record(topology, &netns);
            if del {
                let _ = procs::run(&netns, &["nft", "delete", "table", "ip", "netloom"], None);
                let _ = std::fs::remove_file(rec);
            } else {
                procs::run(&netns, &["nft", "-j", "-f", "-"], Some(&ruleset))?;
                std::fs::write(rec, ruleset)?;
            }
        }
        Resource::Dnsmasq { netns, name, args } => {
            let dir = args
                .iter()
                .find_map(|a| a.strip_prefix("--pid-file="))
                .and_then(|p| Path::new(p).parent().map(Path::to_path_buf))
                .unwrap_or_default();
            let pidfile = dir.join(format!("{name}.pid"));
            if del || s.action == Action::Update {
                procs::stop(&pidfile, Duration::from_secs(2));
            }
            if del {
                // Its reservations go with it (their own steps find them gone).
                if let Some(d) = plan::dnsmasq_hosts_dir(&args) {
                    let _ = std::fs::remove_dir_all(d);
                }
            } else {
                // A real host has no host directory until its first server needs one.
                std::fs::create_dir_all(&dir)?;
                if let Some(d) = plan::dnsmasq_hosts_dir(&args) {
                    std::fs::create_dir_all(d)?;
                }
                // A restart starts from the same leases: the lease file is dnsmasq's memory.
                procs::start_dnsmasq(&netns, &args)?;
            }
        }
        Resource::DhcpHost { path, mac, ip } => {
            let pidfile = plan::dhcp_host_pidfile(&path)
                .ok_or_else(|| std::io::Error::other(format!("{path}: not a hosts file")))?;
            let dir = Path::new(&path).parent().unwrap_or(Path::new("/"));
            // The directory stays while its dnsmasq runs: dnsmasq watches it
            // from its start, and would not see a new one of the same name.
            if del {
                let _ = std::fs::remove_file(&path);
                // Only a SIGHUP makes dnsmasq forget a reservation.
                procs::hangup_dnsmasq(Path::new(&pidfile));
            } else {
                std::fs::create_dir_all(dir)?;
                // Whole or not at all: dnsmasq reads a new file as soon as it appears.
                // (A dot file: dnsmasq skips those.)
                let name = Path::new(&path).file_name().unwrap_or_default();
                let tmp = dir.join(format!(".{}", name.to_string_lossy()));
                std::fs::write(&tmp, format!("{mac},{ip}\n"))?;
                std::fs::rename(&tmp, &path)?;
                // dnsmasq reads a new file by itself, a changed one on SIGHUP; the
                // signal also covers a watch it lost.
                procs::hangup_dnsmasq(Path::new(&pidfile));
            }
        }
        Resource::DhcpClient {
            netns,
            dev,
            order,
            no_lease,
        } => {
            let lease = observe::lease_path(topology, &netns, &dev);
            if del {
                // A client running in the background goes first: it would configure a lease again.
                procs::stop_udhcpc(Path::new(&plan::dhcp_client_pidfile(
                    topology, &netns, &dev,
                )));
                if let Some(l) = procs::read_lease(Path::new(&lease)) {
                    let _ = nl::with_netlink(&netns, move |n| n.del_addr(&dev, l.ip));
                }
                let _ = std::fs::remove_file(&lease);
            } else if no_lease {
                return background_client(topology, &netns, &dev, &lease);
            } else {
                let _ = std::fs::remove_file(&lease);
                let script = format!("{}/udhcpc.script", names::run_dir(topology));
                // udhcpc needs the link up to send.
                let d2 = dev.clone();
                nl::with_netlink(&netns, move |n| n.set_up(&d2))?;
                procs::dhcp_request(&netns, &dev, &script, Path::new(&lease))?;
                let mut text = std::fs::read_to_string(&lease)?;
                text.push_str(&format!("order={order}\n"));
                std::fs::write(&lease, &text)?;
                let l = procs::read_lease(Path::new(&lease))
                    .ok_or_else(|| std::io::Error::other(format!("unreadable lease {lease}")))?;
                nl::with_netlink(&netns, move |n| {
                    n.add_addr(&dev, l.ip)?;
                    if let Some(r) = l.router {
                        n.route_replace(None, r)?;
                    }
                    Ok(())
                })?;
            }
        }
        Resource::OvsBridge { .. } | Resource::OvsPort { .. } => {
            unreachable!("OVS rows go through ovs_transaction")
        }
    }
    Ok(Outcome::default())
}

/// A DHCP client the model predicts no lease for: started in the background
/// ([`plan::background_dhcp_client`]), which returns after one DISCOVER's
/// wait for an offer, or once a lease came after all. A lease, now or later,
/// is configured by its script (netloom is gone by then), so reality shows
/// in `status` and `verify`; one that came now is this step's warning.
fn background_client(
    topology: &str,
    netns: &str,
    dev: &str,
    lease: &str,
) -> Result<Outcome, StepError> {
    let pidfile = plan::dhcp_client_pidfile(topology, netns, dev);
    procs::stop_udhcpc(Path::new(&pidfile));
    let _ = std::fs::remove_file(lease);
    let run = names::run_dir(topology);
    let script = format!("{run}/udhcpc-background.script");
    // Whole or not at all, as clients of other namespaces may start it meanwhile.
    let aside = format!("{run}/.{netns}.{dev}.script");
    std::fs::write(&aside, procs::UDHCPC_BACKGROUND_SCRIPT)?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&aside, std::fs::Permissions::from_mode(0o755))?;
    std::fs::rename(&aside, &script)?;
    if let Some(dir) = Path::new(&pidfile).parent() {
        std::fs::create_dir_all(dir)?;
    }
    let d = dev.to_string();
    nl::with_netlink(netns, move |n| n.set_up(&d))?;
    procs::start_background_dhcp(
        netns,
        &plan::background_dhcp_client(dev, &script, &pidfile),
        Path::new(lease),
    )?;
    Ok(match procs::read_lease(Path::new(lease)) {
        None => Outcome {
            note: Some("no lease (predicted)".into()),
            warning: None,
        },
        Some(l) => Outcome {
            note: None,
            warning: Some(format!(
                "got the lease {} although the model predicts none: it is configured; verify shows what differs",
                l.ip
            )),
        },
    })
}

/// All OVS row steps of a target as one OVSDB transaction that bumps
/// `next_cfg`; returns the configuration number ovs-vswitchd must reach
/// (the caller waits for it when something depends on it).
fn ovs_transaction(
    topology: &str,
    target: &TargetInfo,
    steps: &[&Step],
    fail_at: Option<&str>,
) -> Result<Option<i64>, StepError> {
    for s in steps {
        injected_failure(s, fail_at)?;
    }
    let mut db = Ovsdb::connect(&target.ovsdb)?;
    // Rows by name, with whether they carry the topology's owner mark.
    let uuid_of = |rows: &[Value]| -> Rows {
        rows.iter()
            .map(|r| {
                let ours = r["external_ids"][1]
                    .as_array()
                    .is_some_and(|kv| kv.iter().any(|p| *p == json!([OVS_OWNER_KEY, topology])));
                (
                    r["name"].as_str().unwrap_or_default().to_string(),
                    (r["_uuid"].clone(), ours),
                )
            })
            .collect()
    };
    let bridges = uuid_of(&db.select("Bridge", &["name", "external_ids"])?);
    let ports = uuid_of(&db.select("Port", &["name", "external_ids"])?);
    let mut ops = ovs_ops(topology, steps, &bridges, &ports)?;
    if ops.is_empty() {
        return Ok(None);
    }
    ops.push(json!({"op": "mutate", "table": "Open_vSwitch", "where": [], "mutations": [["next_cfg", "+=", 1]]}));
    ops.push(
        json!({"op": "select", "table": "Open_vSwitch", "where": [], "columns": ["next_cfg"]}),
    );
    let res = db.transact(ops)?;
    let want = res
        .last()
        .and_then(|r| r["rows"][0]["next_cfg"].as_i64())
        .unwrap_or(0);
    Ok(Some(want))
}

/// OVS rows by name: their `_uuid` and whether they carry the topology's owner mark.
type Rows = BTreeMap<String, (Value, bool)>;

/// The OVSDB operations that carry out `steps` on a database holding
/// `bridges` and `ports` (pure: the transaction around them is the caller's);
/// refuses a step on a row of someone else's.
fn ovs_ops(
    topology: &str,
    steps: &[&Step],
    bridges: &Rows,
    ports: &Rows,
) -> Result<Vec<Value>, StepError> {
    // Defence in depth: a row of the host's own (another topology's, or not netloom's)
    // is never removed or changed, whatever the plan says. A port on a bridge
    // of ours that goes away goes with it, marked or not (someone may have
    // added it by hand).
    let bridge_goes = |b: &str| {
        bridges.get(b).is_some_and(|(_, ours)| *ours)
            && steps.iter().any(|s| {
                s.action == Action::Delete
                    && matches!(&s.resource, Resource::OvsBridge { name, .. } if name == b)
            })
    };
    for s in steps {
        let (table, name) = match &s.resource {
            Resource::OvsBridge { name, .. } => (bridges, name),
            Resource::OvsPort { bridge, .. }
                if s.action == Action::Delete && bridge_goes(bridge) =>
            {
                continue
            }
            Resource::OvsPort { name, .. } => (ports, name),
            _ => continue,
        };
        if table.get(name).is_some_and(|(_, ours)| !ours) {
            return Err(StepError::Io(std::io::Error::other(format!(
                "refused: OVS row {name} is not marked as topology {topology}'s"
            ))));
        }
    }
    // Ports go only on the topology's own bridges: marked, or made in this transaction.
    for s in steps {
        if let (Action::Create, Resource::OvsPort { bridge, name, .. }) = (s.action, &s.resource) {
            let made_now = steps.iter().any(|b| {
                b.action == Action::Create
                    && matches!(&b.resource, Resource::OvsBridge { name, .. } if name == bridge)
            });
            if !made_now && !bridges.get(bridge).is_some_and(|(_, ours)| *ours) {
                return Err(StepError::Io(std::io::Error::other(format!(
                    "refused: port {name} would go on bridge {bridge}, which is not marked as topology {topology}'s"
                ))));
            }
        }
    }
    let owner = ovsdb::map([(OVS_OWNER_KEY, topology)]);
    let mut ops: Vec<Value> = Vec::new();
    let mut new_bridges: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    let mut deleted_bridges: Vec<String> = Vec::new();
    let mut n = 0;
    let mut fresh = || {
        n += 1;
        format!("row{n}")
    };
    // A bridge to create that is already there as ours (made with its host's
    // daemons) is taken as it is: it only gets its ports.
    let made = |name: &str| bridges.get(name).is_some_and(|(_, ours)| *ours);
    for s in steps {
        if let (Action::Create, Resource::OvsBridge { name, .. }) = (s.action, &s.resource) {
            if !made(name) {
                new_bridges.insert(name.clone(), Vec::new());
            }
        }
        if let (Action::Delete, Resource::OvsBridge { name, .. }) = (s.action, &s.resource) {
            deleted_bridges.push(name.clone());
        }
    }
    let mut port_inserts: Vec<(String, Value)> = Vec::new();
    for s in steps {
        match (&s.action, &s.resource) {
            (Action::Delete, Resource::OvsBridge { name, .. }) => {
                if let Some((u, _)) = bridges.get(name) {
                    ops.push(json!({"op": "mutate", "table": "Open_vSwitch", "where": [],
                        "mutations": [["bridges", "delete", ["set", [u]]]]}));
                }
            }
            (Action::Delete, Resource::OvsPort { bridge, name, .. }) => {
                if deleted_bridges.contains(bridge) {
                    continue;
                }
                if let Some((u, _)) = ports.get(name) {
                    ops.push(
                        json!({"op": "mutate", "table": "Bridge", "where": [["name", "==", bridge]],
                        "mutations": [["ports", "delete", ["set", [u]]]]}),
                    );
                }
            }
            (Action::Update, Resource::OvsBridge { name, datapath }) => {
                ops.push(
                    json!({"op": "update", "table": "Bridge", "where": [["name", "==", name]],
                    "row": {"datapath_type": datapath}}),
                );
            }
            (
                Action::Update,
                Resource::OvsPort {
                    name, tag, iface, ..
                },
            ) => {
                let tag = tag.map_or(json!(["set", []]), |t| json!(t));
                ops.push(json!({"op": "update", "table": "Port", "where": [["name", "==", name]], "row": {"tag": tag}}));
                ops.push(
                    json!({"op": "update", "table": "Interface", "where": [["name", "==", name]],
                    "row": {"type": iface.ovs_type(), "options": ovsdb::map(iface.options())}}),
                );
            }
            (
                Action::Create,
                Resource::OvsPort {
                    bridge,
                    name,
                    tag,
                    iface,
                },
            ) => {
                let iu = fresh();
                let pu = fresh();
                ops.push(json!({"op": "insert", "table": "Interface", "uuid-name": iu,
                    "row": {"name": name, "type": iface.ovs_type(), "options": ovsdb::map(iface.options())}}));
                let mut row =
                    json!({"name": name, "interfaces": ["named-uuid", iu], "external_ids": owner});
                if let Some(t) = tag {
                    row["tag"] = json!(t);
                }
                ops.push(json!({"op": "insert", "table": "Port", "uuid-name": pu, "row": row}));
                port_inserts.push((bridge.clone(), json!(["named-uuid", pu])));
            }
            _ => {}
        }
    }
    for (bridge, pu) in &port_inserts {
        match new_bridges.get_mut(bridge) {
            Some(v) => v.push(pu.clone()),
            None => ops.push(
                json!({"op": "mutate", "table": "Bridge", "where": [["name", "==", bridge]],
                "mutations": [["ports", "insert", ["set", [pu]]]]}),
            ),
        }
    }
    for s in steps {
        if let (Action::Create, Resource::OvsBridge { name, datapath }) = (s.action, &s.resource) {
            if made(name) {
                ops.push(
                    json!({"op": "update", "table": "Bridge", "where": [["name", "==", name]],
                    "row": {"datapath_type": datapath}}),
                );
                continue;
            }
            let iu = fresh();
            let pu = fresh();
            let bu = fresh();
            ops.push(json!({"op": "insert", "table": "Interface", "uuid-name": iu, "row": {"name": name, "type": "internal"}}));
            ops.push(json!({"op": "insert", "table": "Port", "uuid-name": pu,
                "row": {"name": name, "interfaces": ["named-uuid", iu], "external_ids": owner}}));
            let mut ports = vec![json!(["named-uuid", pu])];
            ports.extend(new_bridges.get(name).cloned().unwrap_or_default());
            ops.push(json!({"op": "insert", "table": "Bridge", "uuid-name": bu,
                "row": {"name": name, "datapath_type": datapath, "ports": ["set", ports], "external_ids": owner}}));
            ops.push(json!({"op": "mutate", "table": "Open_vSwitch", "where": [],
                "mutations": [["bridges", "insert", ["set", [["named-uuid", bu]]]]]}));
        }
    }
    Ok(ops)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every example lab: (file stem, topology), sorted.
    fn examples() -> Vec<(String, Topology)> {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples");
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|p| {
                let text = std::fs::read_to_string(p).unwrap();
                let stem = p.file_stem().unwrap().to_string_lossy().into_owned();
                (stem, netloom_core::load(&text).unwrap().topology)
            })
            .collect()
    }

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

    /// Each desired OVS row of `want` as found in the database, marked as the
    /// topology's (`ours`) or not.
    fn rows_of(want: &State, ours: bool) -> (Rows, Rows) {
        let (mut bridges, mut ports) = (Rows::new(), Rows::new());
        for (_, r) in want.iter() {
            match r {
                Resource::OvsBridge { name, .. } => {
                    bridges.insert(name.clone(), (json!(["uuid", format!("b-{name}")]), ours));
                }
                Resource::OvsPort { name, .. } => {
                    ports.insert(name.clone(), (json!(["uuid", format!("p-{name}")]), ours));
                }
                _ => {}
            }
        }
        (bridges, ports)
    }

    fn show_ops(out: &mut String, title: &str, t: &str, p: &Plan, (bridges, ports): &(Rows, Rows)) {
        out.push_str(&format!("# {title}\n"));
        for tp in &p.targets {
            let rows: Vec<&Step> = tp
                .steps
                .iter()
                .filter(|s| s.resource.is_ovs_row())
                .collect();
            if rows.is_empty() {
                continue;
            }
            out.push_str(&format!("target {:?}\n", tp.target.name));
            match ovs_ops(t, &rows, bridges, ports) {
                Ok(ops) => {
                    for op in ops {
                        out.push_str(&format!("  {op}\n"));
                    }
                }
                Err(e) => out.push_str(&format!("  error: {e}\n")),
            }
        }
    }

    /// The OVSDB operations of each example's apply on an empty database,
    /// apply over its own rows with drifted tags, destroy, and a destroy and
    /// an apply refused on rows that are not the topology's.
    #[test]
    fn the_ovsdb_operations_of_every_example_are_as_before() {
        for (name, t) in examples() {
            let f = Facts::default();
            let targets = plan::targets(&t, &f);
            let want = plan::desired(&t, &f);
            let mut drifted = want.clone();
            for rs in drifted.targets.values_mut() {
                for r in rs.values_mut() {
                    if let Resource::OvsPort { tag, .. } = r {
                        *tag = Some(tag.map_or(99, |t| t + 1));
                    }
                }
            }
            let none = (Rows::new(), Rows::new());
            let mut out = String::new();
            let apply = plan::plan(&t.name, &targets, &want, &State::default());
            show_ops(&mut out, "apply", &t.name, &apply, &none);
            let update = plan::plan(&t.name, &targets, &want, &drifted);
            show_ops(&mut out, "update", &t.name, &update, &rows_of(&want, true));
            let destroy = plan::plan(&t.name, &targets, &State::default(), &want);
            show_ops(
                &mut out,
                "destroy",
                &t.name,
                &destroy,
                &rows_of(&want, true),
            );
            show_ops(
                &mut out,
                "destroy of foreign rows",
                &t.name,
                &destroy,
                &rows_of(&want, false),
            );
            let (foreign_bridges, _) = rows_of(&want, false);
            let ports_on_foreign = (foreign_bridges, Rows::new());
            let only_ports = Plan {
                topology: apply.topology.clone(),
                targets: apply
                    .targets
                    .iter()
                    .map(|tp| TargetPlan {
                        target: tp.target.clone(),
                        steps: tp
                            .steps
                            .iter()
                            .filter(|s| matches!(s.resource, Resource::OvsPort { .. }))
                            .cloned()
                            .collect(),
                    })
                    .collect(),
            };
            show_ops(
                &mut out,
                "ports on foreign bridges",
                &t.name,
                &only_ports,
                &ports_on_foreign,
            );
            insta::assert_snapshot!(format!("ovsdb-{name}"), out);
        }
    }
}
