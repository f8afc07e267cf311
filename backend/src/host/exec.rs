//! The executor: a target's steps on this machine, in the order the plan
//! gives them. Within a target, steps of one rank run in parallel (they
//! touch different things) and the OVS rows go in one OVSDB transaction.
//! Every step reports an [`Event`] to the caller's callback. Runs in the
//! controller for the sandbox's own steps and in each host's agent for its.

use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use netloom_core::names;
use netloom_core::plan::{Action, Resource, Step, TargetInfo, TargetPlan, OVS_OWNER_KEY};

use super::kind::ovs::{self, Rows};
use super::ovsdb::Ovsdb;
use super::{confine, kind, ApplyError, StepError};
use crate::report::{Event, Progress};

/// Steps of one target in one pass: rank by rank; OVS rows in one
/// transaction; each step when its kind says ([`kind::timing`]).
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
    let run = |group: &[&Step]| run_parallel(topology, tp, group, progress, fail_at);
    std::thread::scope(|sc| {
        let early = rows_first.then(|| {
            let rows = &rows;
            sc.spawn(move || ovs_rows(topology, tp, rows, progress, fail_at))
        });
        let (mut count, mut pending, mut ovs_done) = (0, None, rows_first);
        let (mut deferred, mut starting) = (Vec::new(), Vec::new());
        for group in steps.chunk_by(same_rank) {
            // A rank may hold rows and other steps (a chassis' keys beside ports).
            let (rows_here, group): (Vec<&Step>, Vec<&Step>) =
                group.iter().partition(|s| s.resource.is_ovs_row());
            if !rows_here.is_empty() {
                if !ovs_done {
                    let (n, want) = ovs_rows(topology, tp, &rows, progress, fail_at)?;
                    count += n;
                    // Not when the host goes (its underlay bridge goes only with it):
                    // its daemons are stopped next, and ovs-vswitchd applying the
                    // removal was a third of a 100-host destroy.
                    pending = want.filter(|_| !host_goes(topology, tp, &rows));
                    ovs_done = true;
                }
                if group.is_empty() {
                    continue;
                }
            }
            let [now, later, daemons, agents] = by_timing(&group, &tp.target);
            deferred.extend(later);
            // Each kind started in the background on workers of its own.
            for kind in [daemons, agents].into_iter().filter(|k| !k.is_empty()) {
                starting.push(sc.spawn(move || run(&kind)));
            }
            count += run(&now)?;
        }
        for h in starting {
            count += h.join().expect("OVS daemons thread")?;
        }
        if let Some(h) = early {
            let (n, want) = h.join().expect("OVS thread")?;
            count += n;
            pending = want;
        }
        await_vswitchd(&tp.target, pending, deferred.first().copied())?;
        // Already in rank order.
        for group in deferred.chunk_by(same_rank) {
            count += run(group)?;
        }
        Ok(count)
    })
}

fn same_rank(a: &&Step, b: &&Step) -> bool {
    a.resource.rank() == b.resource.rank()
}

/// The steps of `group` that run in it, after ovs-vswitchd, and in the
/// background: OVS daemons, then the rest (agents); each in the group's order.
fn by_timing<'a>(group: &[&'a Step], target: &TargetInfo) -> [Vec<&'a Step>; 4] {
    let mut out: [Vec<&'a Step>; 4] = Default::default();
    for s in group {
        let i = match kind::timing(s, target) {
            kind::Timing::InRank => 0,
            kind::Timing::AfterVswitchd => 1,
            kind::Timing::Background => match s.resource {
                Resource::OvsDaemons { .. } => 2,
                _ => 3,
            },
        };
        out[i].push(*s);
    }
    out
}

/// Wait for ovs-vswitchd of `target`: to reach the configuration `pending`
/// asks for, and, when a step on its devices follows (`deferred`), to have
/// applied every one.
fn await_vswitchd(
    target: &TargetInfo,
    pending: Pending,
    deferred: Option<&Step>,
) -> Result<(), ApplyError> {
    let wait = Duration::from_secs(15);
    if let Some((want, s)) = pending {
        Ovsdb::connect(&target.ovsdb)
            .and_then(|mut db| db.wait_applied(want, wait))
            .map_err(|e| fail(&target.name, s, e.into()))?;
    }
    if let Some(first) = deferred {
        Ovsdb::connect(&target.ovsdb)
            .and_then(|mut db| db.wait_all_applied(wait))
            .map_err(|e| fail(&target.name, first, e.into()))?;
    }
    Ok(())
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
pub fn on_workers<T: Sync, R: Send>(
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
pub struct Outcome {
    pub note: Option<String>,
    pub warning: Option<String>,
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
    ApplyError::new(target, s.to_string(), source)
}

fn run_one(
    topology: &str,
    target: &TargetInfo,
    s: &Step,
    progress: Progress,
    fail_at: Option<&str>,
) -> Result<(), ApplyError> {
    let t0 = Instant::now();
    let r = do_step(topology, target, s, fail_at);
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
fn do_step(
    topology: &str,
    target: &TargetInfo,
    s: &Step,
    fail_at: Option<&str>,
) -> Result<Outcome, StepError> {
    injected_failure(s, fail_at)?;
    let del = s.action == Action::Delete;
    match s.resource.clone() {
        Resource::RunDir { path } if del => kind::run_dir::delete(&path)?,
        Resource::RunDir { path } => kind::run_dir::create(&path)?,
        Resource::Netns { name } if del => kind::namespace::delete(&name)?,
        Resource::Netns { name } => kind::namespace::create(&name)?,
        Resource::Agent { .. }
        | Resource::OvsDaemons { .. }
        | Resource::OvnCentral { .. }
        | Resource::OvnChassis { .. }
        | Resource::OvnController { .. } => daemon_step(topology, target, &s.resource, del)?,
        Resource::Segment { .. } | Resource::Veth { .. } | Resource::VxlanLink { .. } => {
            link_step(topology, s.resource.clone(), del)?
        }
        // Nothing to undo: the device or namespace goes by its own step.
        Resource::TxOffloadOff { .. } | Resource::Sysctl { .. } if del => {}
        Resource::TxOffloadOff { netns, dev } => kind::tx_offload::create(&netns, &dev)?,
        Resource::Sysctl { netns, key, value } => kind::sysctl::create(&netns, &key, value)?,
        Resource::Addr { netns, dev, cidr } if del => kind::addr::delete(&netns, &dev, cidr)?,
        Resource::Addr { netns, dev, cidr } => kind::addr::create(&netns, &dev, cidr)?,
        Resource::Route { netns, to, .. } if del => kind::route::delete(&netns, to)?,
        Resource::Route { netns, to, via } => kind::route::create(&netns, to, via)?,
        Resource::Nft { netns, .. } if del => kind::nft::delete(topology, &netns),
        Resource::Nft { netns, ruleset } => kind::nft::create(topology, &netns, &ruleset)?,
        Resource::Dnsmasq { name, args, .. } if del => kind::dnsmasq::delete(&name, &args),
        Resource::Dnsmasq { netns, name, args } => {
            kind::dnsmasq::create(&netns, &name, &args, s.action == Action::Update)?
        }
        Resource::DhcpHost { path, .. } if del => kind::dhcp_host::delete(&path)?,
        Resource::DhcpHost { path, mac, ip } => kind::dhcp_host::create(&path, mac, ip)?,
        Resource::DhcpClient { netns, dev, .. } if del => {
            kind::dhcp_client::delete(topology, &netns, &dev)
        }
        Resource::DhcpClient {
            netns,
            dev,
            order,
            no_lease,
        } => return kind::dhcp_client::create(topology, &netns, &dev, order, no_lease),
        Resource::OvsBridge { .. } | Resource::OvsPort { .. } => {
            unreachable!("OVS rows go through ovs_transaction")
        }
    }
    Ok(Outcome::default())
}

/// A link's step: a segment, veth pair or VXLAN device.
fn link_step(topology: &str, r: Resource, del: bool) -> Result<(), StepError> {
    match r {
        // A link goes the same way whatever its kind.
        Resource::Segment { netns, name, .. }
        | Resource::Veth { netns, name, .. }
        | Resource::VxlanLink { netns, name, .. }
            if del =>
        {
            kind::delete_link(&netns, &name)?
        }
        Resource::Segment { netns, name, mac } => kind::segment::create(&netns, &name, mac)?,
        Resource::Veth {
            netns: ns,
            name,
            peer_netns,
            peer,
            peer_mac,
            peer_master,
        } => kind::veth::create(
            topology,
            &ns,
            &name,
            &peer_netns,
            &peer,
            peer_mac,
            peer_master,
        )?,
        Resource::VxlanLink {
            netns,
            name,
            vni,
            local,
            remote,
        } => kind::vxlan::create(topology, &netns, &name, vni, local, remote)?,
        _ => unreachable!("not a link: {r:?}"),
    }
    Ok(())
}

/// A step of a daemon or its settings: an emulated host's agent or OVS
/// daemons, the sandbox's OVN central, a real host's chassis keys (in its
/// OVSDB) or its `ovn-controller`.
fn daemon_step(
    topology: &str,
    target: &TargetInfo,
    r: &Resource,
    del: bool,
) -> Result<(), StepError> {
    match r {
        Resource::Agent { dir, .. } if del => kind::agent::delete(dir),
        Resource::Agent { netns, dir } => kind::agent::create(topology, netns, dir)?,
        Resource::OvsDaemons { dir, .. } if del => kind::ovs_daemons::delete(dir),
        Resource::OvsDaemons { netns, dir, ovn } => {
            kind::ovs_daemons::create(topology, netns, dir, ovn.as_ref())?
        }
        Resource::OvnCentral { dir } if del => kind::ovn_central::delete(dir),
        Resource::OvnCentral { dir } => kind::ovn_central::create(dir)?,
        Resource::OvnChassis { .. } if del => kind::ovn_chassis::delete(topology, &target.ovsdb)?,
        Resource::OvnChassis { chassis } => {
            kind::ovn_chassis::create(topology, &target.ovsdb, chassis)?
        }
        Resource::OvnController { dir, .. } if del => {
            kind::ovn_controller::delete(topology, dir, &target.ovsdb)
        }
        Resource::OvnController { dir, tls } => {
            kind::ovn_controller::create(topology, dir, &target.ovsdb, tls.as_ref())?
        }
        _ => unreachable!("not a daemon's step: {r:?}"),
    }
    Ok(())
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
    let mut ops = ovs::ops(topology, steps, &bridges, &ports)?;
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use netloom_core::plan::{self, Facts, Plan, State, TargetPlan};
    use netloom_core::Topology;

    /// Every example lab: (file stem, topology), sorted.
    pub(crate) fn examples() -> Vec<(String, Topology)> {
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
            match ovs::ops(t, &rows, bridges, ports) {
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
                northbound: None,
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
