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
//! This reads the machine once (each namespace's links, addresses, routes
//! and sysctls together, each host directory's daemons); what one resource
//! kind's reading means is in its module of [`super::kind`].

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::ops::ControlFlow;

use ipnet::Ipv4Net;

use netloom_core::names;
use netloom_core::plan::{Resource, State, TargetInfo, SANDBOX};

use super::kind;
use super::nl::{self, Link};
use super::ovsdb::Ovsdb;

/// What one namespace holds.
#[derive(Debug, Default)]
struct NsView {
    links: Vec<Link>,
    addrs: Vec<(String, Ipv4Net)>,
    routes: Vec<(Option<Ipv4Net>, Ipv4Addr)>,
    sysctls: BTreeMap<String, String>,
    tx_on: BTreeMap<String, bool>,
}

/// The target a namespace of topology `topology` belongs to, by its name.
pub fn target_of_netns(topology: &str, ns: &str) -> String {
    let rest = ns
        .strip_prefix(&names::netns_prefix(topology))
        .unwrap_or(ns);
    match rest.split_once('.') {
        Some((host, _)) if !host.starts_with('_') => host.to_string(),
        _ => SANDBOX.to_string(),
    }
}

/// Observe topology `topology` on this machine. `hint` is the desired state
/// (empty when destroying without a file).
pub fn observe(topology: &str, targets: &[TargetInfo], hint: &State) -> State {
    let mut s = State::default();
    let run = names::run_dir(topology);
    for (t, r) in kind::run_dir::observe(&run, targets) {
        s.insert(&t, r);
    }
    let own: Vec<String> = kind::namespace::observe(topology, hint);
    let ns_set: BTreeSet<&str> = own.iter().map(String::as_str).collect();
    // A real host's bridge-side links live in the agent's own namespace (""),
    // among the machine's own: only those marked as ours are read there.
    let real_host = targets.iter().any(|t| !t.emulated);
    let mut nss = own.clone();
    // The machine's own namespace: a real host's links, or the sandbox's neighbour table.
    let machine_sysctl = hint
        .iter()
        .any(|(_, r)| matches!(r, Resource::Sysctl { netns, .. } if netns.is_empty()));
    if real_host || machine_sysctl {
        nss.push(String::new());
    }
    for ns in &own {
        s.insert(
            &target_of_netns(topology, ns),
            Resource::Netns { name: ns.clone() },
        );
    }

    // Hints per namespace: the sysctls and offloads worth reading.
    let mut want_sysctl: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut want_tx: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (_, r) in hint.iter() {
        match r {
            Resource::Sysctl { netns, key, .. } => want_sysctl
                .entry(netns.clone())
                .or_default()
                .push(key.clone()),
            Resource::TxOffloadOff { netns, dev } => {
                want_tx.entry(netns.clone()).or_default().push(dev.clone())
            }
            _ => {}
        }
    }

    // Read the namespaces 16 at a time, each on a thread of its own inside it
    // (all at once, 1,100 threads at 100 hosts, took 0.25 s instead of 0.15).
    let read = |ns: &String| {
        let keys = want_sysctl.get(ns).cloned().unwrap_or_default();
        let devs = want_tx.get(ns).cloned().unwrap_or_default();
        nl::with_netlink(ns, move |n| {
            let mut v = NsView {
                links: n.links()?,
                addrs: n.addrs()?,
                routes: n.routes()?,
                ..Default::default()
            };
            // Only the sysctls plans set: the key names a file.
            for k in keys {
                let Ok(key) = super::confine::SysctlKey::parse(&k) else {
                    continue;
                };
                if let Ok(val) = nl::sysctl_get(key) {
                    v.sysctls.insert(k, val);
                }
            }
            for d in devs {
                if let Ok(on) = nl::tx_csum(&d) {
                    v.tx_on.insert(d, on);
                }
            }
            Ok(v)
        })
        .unwrap_or_default()
    };
    let views: BTreeMap<String, NsView> =
        super::exec::on_workers(&nss, 16, |ns| ControlFlow::Continue(read(ns)))
            .into_iter()
            .zip(&nss)
            .filter_map(|(v, ns)| Some((ns.clone(), v?)))
            .collect();

    // Leases: DHCP-given addresses and routes belong to the client resource.
    let mut leased: BTreeSet<(String, String)> = BTreeSet::new();
    let mut lease_routes: BTreeSet<(String, Ipv4Addr)> = BTreeSet::new();
    let entries: Vec<std::fs::DirEntry> = std::fs::read_dir(format!("{run}/leases"))
        .into_iter()
        .flatten()
        .flatten()
        .collect();
    let background = kind::dhcp_client::observe_background(&entries, &ns_set, hint);
    let on_device = |ns: &str, dev: &str, ip: Ipv4Net| {
        views
            .get(ns)
            .is_some_and(|v| v.addrs.iter().any(|(d, a)| d == dev && *a == ip))
    };
    for c in kind::dhcp_client::observe_leased(&entries, on_device) {
        leased.insert((c.ns.clone(), format!("{}/{}", c.dev, c.lease.ip)));
        if let Some(r) = c.lease.router {
            lease_routes.insert((c.ns.clone(), r));
        }
        s.insert(&target_of_netns(topology, &c.ns), c.resource());
    }
    // A client running in the background is the one apply started for "no
    // lease", whether or not it got one since (that shows in status and verify).
    for r in background {
        s.insert(&target_of_netns(topology, r.netns().unwrap_or_default()), r);
    }

    // Veth ends that are the peer of a desired pair are part of that pair's resource.
    let mut peer_ends: BTreeSet<(String, String)> = BTreeSet::new();
    let hint_by_key: BTreeMap<String, &Resource> = hint.iter().map(|(_, r)| (r.key(), r)).collect();
    let hint_target: BTreeMap<String, String> =
        hint.iter().map(|(t, r)| (r.key(), t.to_string())).collect();
    for (_, r) in hint.iter() {
        if let Resource::Veth {
            peer_netns, peer, ..
        } = r
        {
            peer_ends.insert((peer_netns.clone(), peer.clone()));
        }
    }
    let find_link = |ns: &str, name: &str| {
        views
            .get(ns)
            .and_then(|v| v.links.iter().find(|l| l.name == name))
    };

    let mark = super::link_mark(topology);
    for (ns, v) in &views {
        let target = target_of_netns(topology, ns);
        if ns.is_empty() {
            for l in v
                .links
                .iter()
                .filter(|l| l.kind == "veth" && l.alias.as_deref() == Some(mark.as_str()))
            {
                let key = format!("link /{}", l.name);
                let r = match hint_by_key.get(&key) {
                    Some(r) => (*r).clone(),
                    None => kind::veth::unmatched("", l),
                };
                // An agent observes for its own host, the one real target it is given.
                let real = targets
                    .iter()
                    .find(|t| !t.emulated)
                    .map(|t| t.name.clone())
                    .unwrap_or_default();
                s.insert(&hint_target.get(&key).cloned().unwrap_or(real), r);
            }
            for l in v
                .links
                .iter()
                .filter(|l| l.alias.as_deref() == Some(mark.as_str()))
            {
                let Some(r) = kind::vxlan::observe(l) else {
                    continue;
                };
                let real = targets
                    .iter()
                    .find(|t| !t.emulated)
                    .map(|t| t.name.clone())
                    .unwrap_or_default();
                s.insert(&hint_target.get(&r.key()).cloned().unwrap_or(real), r);
            }
            for (key, value) in &v.sysctls {
                s.insert(
                    SANDBOX,
                    kind::sysctl::observe_machine(key, value, &hint_by_key),
                );
            }
            continue;
        }
        for l in &v.links {
            let key = format!("link {ns}/{}", l.name);
            match l.kind.as_str() {
                "bridge" => s.insert(
                    &target,
                    kind::segment::observe(ns, l, hint_by_key.get(&key).copied()),
                ),
                "veth" => {
                    if peer_ends.contains(&(ns.clone(), l.name.clone()))
                        && !hint_by_key.contains_key(&key)
                    {
                        continue;
                    }
                    let want = hint_by_key.get(&key).copied();
                    // Owner of the target: a guest veth lives in its host's target.
                    let t = match want {
                        Some(Resource::Veth { .. }) => {
                            hint_target.get(&key).cloned().unwrap_or(target.clone())
                        }
                        _ => target.clone(),
                    };
                    s.insert(&t, kind::veth::observe(ns, l, want, find_link));
                }
                _ => {}
            }
        }
        for (dev, cidr) in &v.addrs {
            if dev == "lo" || leased.contains(&(ns.clone(), format!("{dev}/{cidr}"))) {
                continue;
            }
            let r = Resource::Addr {
                netns: ns.clone(),
                dev: dev.clone(),
                cidr: *cidr,
            };
            let t = hint_target.get(&r.key()).cloned().unwrap_or(target.clone());
            s.insert(&t, r);
        }
        for (to, via) in &v.routes {
            if to.is_none() && lease_routes.contains(&(ns.clone(), *via)) {
                continue;
            }
            s.insert(
                &target,
                Resource::Route {
                    netns: ns.clone(),
                    to: *to,
                    via: *via,
                },
            );
        }
        for (key, value) in &v.sysctls {
            s.insert(
                &target,
                Resource::Sysctl {
                    netns: ns.clone(),
                    key: key.clone(),
                    value: value.clone(),
                },
            );
        }
        for (dev, on) in &v.tx_on {
            if let Some(r) = kind::tx_offload::observe(ns, dev, *on) {
                s.insert(&target, r);
            }
        }
        if let Some(r) = kind::nft::observe(topology, ns) {
            s.insert(&target, r);
        }
    }

    for t in targets.iter().filter(|t| !t.emulated) {
        if let Ok(mut db) = Ovsdb::connect(&t.ovsdb) {
            for r in kind::ovs::observe(&mut db, topology) {
                s.insert(&t.name, r);
            }
        }
    }

    // Daemons and OVS rows, host by host (hosts gone from the file included).
    let mut host_dirs: BTreeSet<String> = targets
        .iter()
        .filter(|t| t.name != SANDBOX)
        .map(|t| t.name.clone())
        .collect();
    for ent in std::fs::read_dir(&run).into_iter().flatten().flatten() {
        if ["conf.db", "ovsdb.pid", "agent.pid"]
            .iter()
            .any(|f| ent.path().join(f).exists())
        {
            host_dirs.insert(ent.file_name().to_string_lossy().into_owned());
        }
    }
    let ns_inodes: BTreeMap<u64, String> = own
        .iter()
        .filter_map(|n| super::netns::inode(n).map(|i| (i, n.clone())))
        .collect();
    // Each host's daemons answer on their own sockets: asked all at once.
    let found: Vec<Vec<(String, Resource)>> = std::thread::scope(|sc| {
        let handles: Vec<_> = host_dirs
            .iter()
            .map(|host| {
                let (run, ns_inodes, ns_set) = (&run, &ns_inodes, &ns_set);
                sc.spawn(move || observe_host(topology, run, host, ns_inodes, ns_set))
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    for (target, r) in found.into_iter().flatten() {
        s.insert(&target, r);
    }
    s
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
