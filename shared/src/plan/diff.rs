//! Desired against observed: [`Step`]s per target in dependency order.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use super::*;

/// What a step does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Create,
    Update,
    Delete,
}

/// One operation of a plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub action: Action,
    pub resource: Resource,
    /// For an update: the value it replaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub was: Option<Resource>,
}

impl Step {
    /// The step that undoes this one.
    pub fn inverse(&self) -> Step {
        match self.action {
            Action::Create => Step {
                action: Action::Delete,
                resource: self.resource.clone(),
                was: None,
            },
            Action::Delete => Step {
                action: Action::Create,
                resource: self.resource.clone(),
                was: None,
            },
            Action::Update => Step {
                action: Action::Update,
                resource: self.was.clone().unwrap_or_else(|| self.resource.clone()),
                was: Some(self.resource.clone()),
            },
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = match self.action {
            Action::Create => '+',
            Action::Update => '~',
            Action::Delete => '-',
        };
        write!(f, "{sign} {}", self.resource.key())?;
        match (&self.resource, &self.was) {
            (
                Resource::OvsPort { tag, iface, .. },
                Some(Resource::OvsPort {
                    tag: old,
                    iface: oi,
                    ..
                }),
            ) => {
                if tag != old {
                    write!(f, " (tag {} → {})", show_tag(*old), show_tag(*tag))?;
                }
                if iface != oi {
                    write!(f, " (interface {:?} → {:?})", oi, iface)?;
                }
                Ok(())
            }
            (Resource::Route { via, .. }, Some(Resource::Route { via: old, .. })) => {
                write!(f, " (via {old} → {via})")
            }
            (Resource::Sysctl { value, .. }, Some(Resource::Sysctl { value: old, .. })) => {
                write!(f, " ({old} → {value})")
            }
            _ => Ok(()),
        }
    }
}

fn show_tag(t: Option<u16>) -> String {
    t.map_or_else(|| "none".to_string(), |t| t.to_string())
}

/// The steps of one target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetPlan {
    pub target: TargetInfo,
    /// Deletions first (reverse dependency order), then creations and updates.
    pub steps: Vec<Step>,
}

/// A whole plan. Executed as: targets' deletions (hosts, then the sandbox),
/// then creations (the sandbox, then hosts in parallel, DHCP clients last in `order`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub topology: String,
    pub targets: Vec<TargetPlan>,
    /// Engine `ovn`: the one northbound transaction, run after the passes,
    /// before the DHCP clients ask; none when the database is as the design wants.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub northbound: Option<Northbound>,
}

/// A plan's northbound transaction (engine `ovn`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Northbound {
    /// Its operations ([`crate::ovn::nb::transaction`]).
    pub ops: Vec<serde_json::Value>,
    /// The chassis (`system-id`s) that must have applied it before the apply
    /// goes on; none for a destroy.
    pub chassis: Vec<String>,
    /// The existing central it runs on (`ovn`); `None`: the topology's own, in the sandbox.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub central: Option<crate::ovn::Central>,
}

/// The northbound transaction that turns `observed` (the topology's rows
/// found in its central) into `topo`'s logical network, with the chassis
/// that must apply it; none when nothing is to change.
pub fn northbound(
    topo: &crate::Topology,
    observed: &crate::ovn::nb::Observed,
) -> Option<Northbound> {
    use crate::ovn;
    let want = ovn::nb::desired(&ovn::logical(topo));
    let ops = ovn::nb::transaction(&topo.name, &want, observed);
    (!ops.is_empty()).then(|| Northbound {
        ops,
        chassis: (0..topo.hosts.len())
            .map(|h| ovn::system_id(topo, h))
            .collect(),
        central: topo.ovn.clone(),
    })
}

/// With nothing to change in the northbound database, a transaction that
/// only raises `nb_cfg` when `p` starts a chassis' `ovn-controller` (one
/// that was stopped, or whose keys changed): the apply then waits for it to
/// have caught up, as after any change.
pub fn northbound_wait(topo: &crate::Topology, p: &Plan) -> Option<Northbound> {
    let starts = (p.targets.iter().flat_map(|t| &t.steps)).any(|s| {
        s.action != Action::Delete
            && matches!(
                s.resource,
                Resource::OvnController { .. }
                    | Resource::OvnChassis { .. }
                    | Resource::OvsDaemons { ovn: Some(_), .. }
            )
    });
    starts.then(|| Northbound {
        ops: vec![crate::ovn::nb::bump()],
        chassis: (0..topo.hosts.len())
            .map(|h| crate::ovn::system_id(topo, h))
            .collect(),
        central: topo.ovn.clone(),
    })
}

/// The transaction that removes `topo`'s rows (`observed`) from the
/// existing central it names: destroy. `None` when there are none, or when
/// the central is the sandbox's own (it goes whole).
pub fn northbound_removal(
    topo: &crate::Topology,
    observed: &crate::ovn::nb::Observed,
) -> Option<Northbound> {
    let central = topo.ovn.clone()?;
    let ops = crate::ovn::nb::transaction(&topo.name, &Default::default(), observed);
    (!ops.is_empty()).then_some(Northbound {
        ops,
        chassis: Vec::new(),
        central: Some(central),
    })
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.targets.iter().all(|t| t.steps.is_empty()) && self.northbound.is_none()
    }

    /// True when it starts the topology's own OVN central (first, or again
    /// after one of its daemons died): on new databases, so its northbound
    /// transaction is planned against an empty one.
    pub fn starts_ovn_central(&self) -> bool {
        (self.targets.iter().flat_map(|t| &t.steps)).any(|s| {
            s.action == Action::Create && matches!(s.resource, Resource::OvnCentral { .. })
        })
    }

    /// Its steps; the northbound transaction counts as one.
    pub fn len(&self) -> usize {
        let nb = usize::from(self.northbound.is_some());
        self.targets.iter().map(|t| t.steps.len()).sum::<usize>() + nb
    }
}

/// Diff desired against observed. `targets` says how each target is reached;
/// targets only in `observed` (a host removed from the file) are planned for deletion.
pub fn plan(topology: &str, targets: &[TargetInfo], desired: &State, observed: &State) -> Plan {
    let empty = BTreeMap::new();
    let Removals {
        gone,
        changed,
        fresh,
    } = removals(targets, desired, observed);
    let mut out = Vec::new();
    for name in target_names(targets, desired, observed) {
        let want = desired.targets.get(&name).unwrap_or(&empty);
        let have = observed.targets.get(&name).unwrap_or(&empty);
        let mut deletes = deletions(&name, want, have, &gone, &changed);
        let mut creates = creations(want, have, &gone, fresh.contains(&name));
        deletes.sort_by_key(|r| std::cmp::Reverse(r.rank()));
        creates.sort_by_key(|s| s.resource.rank());
        let mut steps: Vec<Step> = deletes
            .into_iter()
            .map(|r| Step {
                action: Action::Delete,
                resource: r.clone(),
                was: None,
            })
            .collect();
        steps.extend(creates);
        let target = targets
            .iter()
            .find(|t| t.name == name)
            .cloned()
            .unwrap_or(TargetInfo {
                name: name.clone(),
                agent: None,
                emulated: true,
                netns: String::new(),
                ovsdb: String::new(),
                datapath: String::new(),
            });
        out.push(TargetPlan { target, steps });
    }
    Plan {
        topology: topology.to_string(),
        targets: out,
        northbound: None,
    }
}

/// What a plan deletes or re-creates, as [`removals`] finds it.
struct Removals {
    /// Keys deleted or re-created anywhere, with what they touch: their
    /// dependents must go too.
    gone: BTreeSet<String>,
    /// The (target, key) of those re-created.
    changed: Vec<(String, String)>,
    /// Targets whose emulated Open vSwitch starts on a new database: every
    /// row of theirs is made again. (Targets, not keys: emulated hosts share
    /// row names, such as the underlay bridge's.)
    fresh: BTreeSet<String>,
}

fn removals(targets: &[TargetInfo], desired: &State, observed: &State) -> Removals {
    let empty = BTreeMap::new();
    let mut gone: BTreeSet<String> = BTreeSet::new();
    let mut changed: Vec<(String, String)> = Vec::new();
    let mut fresh = BTreeSet::new();
    for (t, obs) in &observed.targets {
        let want = desired.targets.get(t).unwrap_or(&empty);
        for (k, r) in obs {
            match want.get(k) {
                None => {
                    gone.insert(k.clone());
                    gone.extend(r.touches());
                }
                Some(w) if w != r && !r.updates_in_place() => {
                    gone.insert(k.clone());
                    gone.extend(r.touches());
                    changed.push((t.clone(), k.clone()));
                }
                _ => {}
            }
        }
    }
    // Propagate: an existing resource that lives on a gone one is gone too.
    loop {
        let before = gone.len();
        for (_, r) in observed.iter() {
            if !gone.contains(&r.key()) && r.deps().iter().any(|d| gone.contains(d)) {
                gone.insert(r.key());
                gone.extend(r.touches());
            }
        }
        let restarted = fresh_databases(desired, observed, &gone);
        for t in targets
            .iter()
            .filter(|t| t.emulated && restarted.contains(t.netns.as_str()))
        {
            fresh.insert(t.name.clone());
            // The bridges' own devices are the daemons' (a tap that stays,
            // down, with its address and none to serve it): a wanted address
            // on one is made again; one no longer wanted is deleted as usual.
            let seen = observed.targets.get(&t.name).unwrap_or(&empty);
            let wanted = desired.targets.get(&t.name).unwrap_or(&empty);
            let bridge = |dev: &str| {
                (seen.values().chain(wanted.values()))
                    .any(|r| matches!(r, Resource::OvsBridge { name, .. } if name == dev))
            };
            for (k, r) in seen {
                if let Resource::Addr { netns, dev, .. } = r {
                    if *netns == t.netns && bridge(dev) && wanted.contains_key(k) {
                        gone.insert(k.clone());
                        gone.extend(r.touches());
                    }
                }
            }
        }
        if gone.len() == before {
            break;
        }
    }
    Removals {
        gone,
        changed,
        fresh,
    }
}

/// The namespaces whose emulated Open vSwitch is (re)started: its daemons
/// (a resource of the sandbox) start on a new database, so the rows its
/// host's target observed in the old one are gone with it. A real host's OVS
/// is the system's, never started by netloom.
fn fresh_databases<'d>(
    desired: &'d State,
    observed: &State,
    gone: &BTreeSet<String>,
) -> BTreeSet<&'d str> {
    let mut fresh = BTreeSet::new();
    for (t, want) in &desired.targets {
        for r in want.values() {
            let Resource::OvsDaemons { netns, .. } = r else {
                continue;
            };
            let k = r.key();
            let running =
                !gone.contains(&k) && observed.targets.get(t).is_some_and(|m| m.contains_key(&k));
            if !running {
                fresh.insert(netns.as_str());
            }
        }
    }
    fresh
}

/// The targets to plan for: those given, in their order, then any other
/// target observed or desired.
fn target_names(targets: &[TargetInfo], desired: &State, observed: &State) -> Vec<String> {
    let mut names: Vec<String> = targets.iter().map(|t| t.name.clone()).collect();
    for t in observed.targets.keys().chain(desired.targets.keys()) {
        if !names.contains(t) {
            names.push(t.clone());
        }
    }
    names
}

/// The resources of target `name` to delete: those no longer wanted or
/// re-created, and processes whose home is re-created.
fn deletions<'h>(
    name: &str,
    want: &BTreeMap<String, Resource>,
    have: &'h BTreeMap<String, Resource>,
    gone: &BTreeSet<String>,
    changed: &[(String, String)],
) -> Vec<&'h Resource> {
    let mut deletes: Vec<&Resource> = Vec::new();
    for (k, r) in have {
        let wanted = want.get(k);
        let dep_gone = r.deps().iter().any(|d| gone.contains(d));
        let replaced = changed.iter().any(|(t, ck)| *t == name && ck == k);
        if (wanted.is_none() || replaced) && !(dep_gone && r.goes_with_deps()) {
            deletes.push(r);
        } else if wanted.is_some() && dep_gone && !r.goes_with_deps() && !replaced {
            // A process or row whose home is re-created: restart it.
            deletes.push(r);
        }
    }
    deletes
}

/// The steps that create what is missing or gone and update what differs.
fn creations(
    want: &BTreeMap<String, Resource>,
    have: &BTreeMap<String, Resource>,
    gone: &BTreeSet<String>,
    fresh_database: bool,
) -> Vec<Step> {
    let mut creates: Vec<Step> = Vec::new();
    for (k, w) in want {
        match have.get(k) {
            None => creates.push(Step {
                action: Action::Create,
                resource: w.clone(),
                was: None,
            }),
            Some(_) if gone.contains(k) || (fresh_database && w.is_ovs_row()) => {
                creates.push(Step {
                    action: Action::Create,
                    resource: w.clone(),
                    was: None,
                });
            }
            Some(r) if r != w => creates.push(Step {
                action: Action::Update,
                resource: w.clone(),
                was: Some(r.clone()),
            }),
            _ => {}
        }
    }
    creates
}
