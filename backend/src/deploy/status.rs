//! `status`: per host, what is deployed — vms with their addresses and
//! leases, routers, DHCP servers, processes — and the drift (what apply would do).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use netloom_core::plan::{self, Resource};
use netloom_core::topology::{GuestKind, IfaceAddr, Topology};

use super::facts;
use crate::host::{kind, procs};

// The wire types: the browser decodes `/api/status` with them.
pub use netloom_core::api::{
    DriftItem, ExternalStatus, GuestStatus, HostStatus, IfaceStatus, Process, Status,
};

pub fn status(topo: &Topology) -> Result<Status, super::ApplyError> {
    let f = facts(topo)?;
    let targets = plan::targets(topo, &f);
    let want = plan::desired(topo, &f);
    let have = super::observe_all(&topo.name, &targets, &want)?;
    let p = plan::plan(&topo.name, &targets, &want, &have);
    let run = netloom_core::names::run_dir(&topo.name);

    let mut nss: BTreeSet<String> = BTreeSet::new();
    let mut addrs: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for (_, r) in have.iter() {
        match r {
            Resource::Netns { name } => {
                nss.insert(name.clone());
            }
            Resource::Addr { netns, dev, cidr } => addrs
                .entry((netns.clone(), dev.clone()))
                .or_default()
                .push(cidr.to_string()),
            _ => {}
        }
    }
    let no_lease: BTreeSet<(&str, &str)> = want
        .iter()
        .filter_map(|(_, r)| match r {
            Resource::DhcpClient {
                netns,
                dev,
                no_lease: true,
                ..
            } => Some((netns.as_str(), dev.as_str())),
            _ => None,
        })
        .collect();
    let remote_leases = if topo.hosts.iter().any(|h| h.agent.is_some()) {
        super::verify::dhcp_found(topo)
    } else {
        vec![Vec::new(); topo.guests.len()]
    };
    let guest = |gi: usize| {
        let g = &topo.guests[gi];
        // A local guest's links as the kernel has them (a real host's: unknown here).
        let links = (topo.hosts[g.host].agent.is_none() && nss.contains(&g.netns))
            .then(|| crate::host::nl::with_netlink(&g.netns, |n| n.links()).unwrap_or_default());
        let interfaces = g
            .ifaces
            .iter()
            .map(|i| {
                let mut a = addrs
                    .get(&(g.netns.clone(), i.name.clone()))
                    .cloned()
                    .unwrap_or_default();
                let lease = match (&i.addr, &topo.hosts[g.host].agent) {
                    (IfaceAddr::Dhcp, None) => procs::read_lease(Path::new(
                        &kind::dhcp_client::lease_path(&topo.name, &g.netns, &i.name),
                    ))
                    .map(|l| l.ip.to_string()),
                    // A real host's lease files are on it: its agent reports the address.
                    (IfaceAddr::Dhcp, Some(_)) => remote_leases[gi]
                        .iter()
                        .find(|(d, _)| *d == i.name)
                        .map(|(_, a)| a.to_string()),
                    _ => None,
                };
                if let Some(l) = &lease {
                    a.push(l.clone());
                }
                IfaceStatus {
                    name: i.name.clone(),
                    addresses: a,
                    lease,
                    no_lease_predicted: no_lease.contains(&(g.netns.as_str(), i.name.as_str())),
                    up: links
                        .as_ref()
                        .map(|l| l.iter().any(|l| l.name == i.name && l.up)),
                }
            })
            .collect();
        // A local vm's clients that run in the background (a real host's are on it).
        let clients = g
            .ifaces
            .iter()
            .filter(|_| topo.hosts[g.host].agent.is_none())
            .filter_map(|i| {
                let pidfile = plan::dhcp_client_pidfile(&topo.name, &g.netns, &i.name);
                procs::udhcpc_pid(Path::new(&pidfile)).map(|pid| Process {
                    name: "udhcpc".into(),
                    pid,
                })
            });
        let processes = match g.kind {
            GuestKind::Dhcp(_) => {
                let pidfile = format!("{run}/{}/dhcp-{}.pid", topo.hosts[g.host].name, g.name);
                procs::alive_pid(Path::new(&pidfile))
                    .map(|pid| Process {
                        name: "dnsmasq".into(),
                        pid,
                    })
                    .into_iter()
                    .collect()
            }
            _ => clients.collect(),
        };
        GuestStatus {
            name: g.name.clone(),
            netns: g.netns.clone(),
            present: nss.contains(&g.netns),
            interfaces,
            processes,
        }
    };
    let hosts = topo
        .hosts
        .iter()
        .map(|h| {
            let dir = format!("{run}/{}", h.name);
            let processes = [
                ("ovsdb-server", "ovsdb.pid"),
                ("ovs-vswitchd", "vswitchd.pid"),
            ]
            .iter()
            .filter_map(|(n, f)| {
                procs::alive_pid(&Path::new(&dir).join(f)).map(|pid| Process {
                    name: n.to_string(),
                    pid,
                })
            })
            .collect();
            let of = |pred: fn(&GuestKind) -> bool| -> Vec<GuestStatus> {
                h.guests
                    .iter()
                    .copied()
                    .filter(|&g| pred(&topo.guests[g].kind))
                    .map(guest)
                    .collect()
            };
            // A real host is not a namespace: its devices are in its agent's own
            // (""), and it is present when its agent found anything of the topology.
            let (netns, present) = match h.agent {
                None => (h.netns.clone(), nss.contains(&h.netns)),
                Some(_) => (
                    String::new(),
                    have.targets.get(&h.name).is_some_and(|rs| !rs.is_empty()),
                ),
            };
            HostStatus {
                name: h.name.clone(),
                netns,
                emulated: h.agent.is_none(),
                present,
                processes,
                vms: of(|k| matches!(k, GuestKind::Vm)),
                routers: of(|k| matches!(k, GuestKind::Router(_))),
                dhcp: of(|k| matches!(k, GuestKind::Dhcp(_))),
            }
        })
        .collect();
    let externals = topo
        .externals
        .iter()
        .map(|e| ExternalStatus {
            name: e.name.clone(),
            netns: e.netns.clone(),
            gateway: e.gateway.to_string(),
            present: nss.contains(&e.netns),
        })
        .collect();
    let drift = p
        .targets
        .iter()
        .flat_map(|t| {
            t.steps.iter().map(move |s| DriftItem {
                host: t.target.name.clone(),
                step: s.to_string(),
            })
        })
        .collect();
    Ok(Status {
        topology: topo.name.clone(),
        deployed: !have.is_empty(),
        hosts,
        externals,
        drift,
    })
}
