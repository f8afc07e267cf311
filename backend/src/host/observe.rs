//! Observation: what of a topology exists on this machine now, as a
//! [`State`] the planner can diff. Everything netloom owns is found by its
//! marks: namespaces by the `nl-<topology>.` prefix, OVS rows by their
//! `external_ids`, processes and leases by the files under the run directory.
//!
//! Some facts have no kernel representation worth reading back (which end of
//! a veth pair was created first); for those the desired state is the hint:
//! a resource that exists and matches every fact we can read is reported as
//! the desired one.
//!
//! The namespaces are read once into a [`Snapshot`] (each one's links,
//! addresses, routes and sysctls together), which one pure mapper per
//! resource kind (`map` in its module of [`super::kind`]) turns into
//! resources; daemons and OVS rows are asked host by host.

use std::collections::{BTreeMap, BTreeSet};

use netloom_core::names;
use netloom_core::plan::{Resource, State, TargetInfo, SANDBOX};

use super::kind;
use super::ovsdb::Ovsdb;
use super::snapshot::{self, Snapshot};

/// Observe topology `topology` on this machine. `hint` is the desired state
/// (empty when destroying without a file).
pub fn observe(topology: &str, targets: &[TargetInfo], hint: &State) -> State {
    observe_with_snapshot(topology, targets, hint).0
}

/// [`observe`], with the snapshot of the namespaces it read (their links'
/// state is what `status` shows).
pub fn observe_with_snapshot(
    topology: &str,
    targets: &[TargetInfo],
    hint: &State,
) -> (State, Snapshot) {
    let run = names::run_dir(topology);
    let snap = snapshot::read(topology, targets, hint);
    let found = [
        kind::run_dir::observe(&run, targets),
        snapshot::map_snapshot(topology, targets, hint, &snap),
        real_hosts_ovs(topology, targets),
        daemons(topology, &run, targets, &snap.own),
        kind::ovn_central::observe(topology)
            .map(|r| (SANDBOX.to_string(), r))
            .into_iter()
            .collect(),
    ];
    let mut s = State::default();
    for (target, r) in found.into_iter().flatten() {
        s.insert(&target, r);
    }
    (s, snap)
}

/// The OVS rows of the real hosts (an agent's own), in their OVSDB.
fn real_hosts_ovs(topology: &str, targets: &[TargetInfo]) -> Vec<(String, Resource)> {
    let mut out = Vec::new();
    for t in targets.iter().filter(|t| !t.emulated) {
        if let Ok(mut db) = Ovsdb::connect(&t.ovsdb) {
            let mut found = kind::ovs::observe(&mut db, topology);
            found.extend(kind::ovn_chassis::observe(&mut db, topology));
            found.extend(kind::ovn_controller::observe(topology));
            out.extend(found.into_iter().map(|r| (t.name.clone(), r)));
        }
    }
    out
}

/// Daemons and OVS rows, host by host (hosts gone from the file included);
/// `own`: the topology's namespaces.
fn daemons(
    topology: &str,
    run: &str,
    targets: &[TargetInfo],
    own: &[String],
) -> Vec<(String, Resource)> {
    let mut host_dirs: BTreeSet<String> = targets
        .iter()
        .filter(|t| t.name != SANDBOX)
        .map(|t| t.name.clone())
        .collect();
    for ent in std::fs::read_dir(run).into_iter().flatten().flatten() {
        if ["conf.db", "ovsdb.pid", "agent.pid"]
            .iter()
            .any(|f| ent.path().join(f).exists())
        {
            host_dirs.insert(ent.file_name().to_string_lossy().into_owned());
        }
    }
    let ns_set: BTreeSet<&str> = own.iter().map(String::as_str).collect();
    let ns_inodes: BTreeMap<u64, String> = own
        .iter()
        .filter_map(|n| super::netns::inode(n).map(|i| (i, n.clone())))
        .collect();
    // Each host's daemons answer on their own sockets: asked all at once.
    let found: Vec<Vec<(String, Resource)>> = std::thread::scope(|sc| {
        let handles: Vec<_> = host_dirs
            .iter()
            .map(|host| {
                let (ns_inodes, ns_set) = (&ns_inodes, &ns_set);
                sc.spawn(move || observe_host(topology, run, host, ns_inodes, ns_set))
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    found.into_iter().flatten().collect()
}

/// What runs for `host` (its directory `run/host`): its agent, its OVS
/// daemons and their rows, its DHCP servers and their reservations, each
/// with the target it belongs to.
fn observe_host(
    topology: &str,
    run: &str,
    host: &str,
    ns_inodes: &BTreeMap<u64, String>,
    ns_set: &BTreeSet<&str>,
) -> Vec<(String, Resource)> {
    let mut out = Vec::new();
    let dir = format!("{run}/{host}");
    // The namespace a daemon runs in (the host's, unless it was moved).
    let home = |pid: i32| {
        super::netns::pid_inode(pid)
            .and_then(|i| ns_inodes.get(&i).cloned())
            .unwrap_or_else(|| names::host_netns(topology, host))
    };
    if let Some(r) = kind::agent::observe(&dir, home) {
        out.push((SANDBOX.to_string(), r));
    }
    if let Some(r) = kind::ovs_daemons::observe(&dir, home) {
        out.push((SANDBOX.to_string(), r));
        if let Ok(mut db) = Ovsdb::connect(&format!("{dir}/db.sock")) {
            for r in kind::ovs::observe(&mut db, topology) {
                out.push((host.to_string(), r));
            }
        }
    }
    // dnsmasq processes of this host, and their reservations.
    for ent in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        let fname = ent.file_name().to_string_lossy().into_owned();
        if fname.starts_with("dhcp-") && fname.ends_with(".hosts") {
            for r in kind::dhcp_host::observe(&ent.path()) {
                out.push((host.to_string(), r));
            }
            continue;
        }
        if let Some(r) = kind::dnsmasq::observe(&ent.path(), &fname, ns_inodes, ns_set) {
            out.push((host.to_string(), r));
        }
    }
    out
}
