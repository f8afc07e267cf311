//! `status`: per host, what is deployed — vms with their addresses and
//! leases, routers, DHCP servers, processes — and the drift (what apply would do).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use netloom_core::plan::{self, Resource, State};
use netloom_core::topology::{GuestKind, Iface, IfaceAddr, Topology};

use super::facts;
use crate::host::snapshot::Snapshot;
use crate::host::{kind, nl, procs};

// The wire types: the browser decodes `/api/status` with them.
pub use netloom_core::api::{
    DriftItem, ExternalStatus, GuestStatus, HostStatus, IfaceStatus, Process, Status,
};

pub fn status(topo: &Topology) -> Result<Status, super::ApplyError> {
    let f = facts(topo)?;
    let targets = plan::targets(topo, &f);
    let want = plan::desired(topo, &f);
    let (have, snap) = super::observe_all_with_snapshot(&topo.name, &targets, &want)?;
    let p = plan::plan(&topo.name, &targets, &want, &have);
    let found = Found::new(topo, &want, &have, &snap);
    let externals = topo
        .externals
        .iter()
        .map(|e| ExternalStatus {
            name: e.name.clone(),
            netns: e.netns.clone(),
            gateway: e.gateway.to_string(),
            present: found.nss.contains(&e.netns),
        })
        .collect();
    let mut drift: Vec<DriftItem> = p
        .targets
        .iter()
        .flat_map(|t| {
            t.steps.iter().map(move |s| DriftItem {
                host: t.target.name.clone(),
                step: s.to_string(),
            })
        })
        .collect();
    // Under OVN the logical network is in the central: a row changed or
    // removed there is drift too, one transaction away.
    if topo.engine == netloom_core::spec::Engine::Ovn && !have.is_empty() {
        if let Some(nb) = super::northbound::plan(topo, &p)? {
            drift.push(DriftItem {
                host: String::new(),
                step: format!("northbound transaction ({} operations)", nb.ops.len()),
            });
        }
    }
    Ok(Status {
        topology: topo.name.clone(),
        deployed: !have.is_empty(),
        hosts: (0..topo.hosts.len()).map(|h| found.host(h)).collect(),
        externals,
        drift,
    })
}

/// What observation found, indexed for the status of each host and guest.
struct Found<'a> {
    topo: &'a Topology,
    have: &'a State,
    /// This machine's namespaces as observation read them.
    snap: &'a Snapshot,
    run: String,
    /// Namespaces that exist.
    nss: BTreeSet<String>,
    /// Addresses found, by (namespace, device).
    addrs: BTreeMap<(String, String), Vec<String>>,
    /// DHCP clients the model predicts no lease for: (namespace, device).
    no_lease: BTreeSet<(&'a str, &'a str)>,
    /// Per guest, the leases a real host's agent found.
    remote_leases: Vec<Vec<(String, ipnet::Ipv4Net)>>,
}

impl<'a> Found<'a> {
    fn new(topo: &'a Topology, want: &'a State, have: &'a State, snap: &'a Snapshot) -> Found<'a> {
        let mut nss = BTreeSet::new();
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
        let no_lease = want
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
        Found {
            topo,
            have,
            snap,
            run: netloom_core::names::run_dir(&topo.name),
            nss,
            addrs,
            no_lease,
            remote_leases,
        }
    }

    fn host(&self, hi: usize) -> HostStatus {
        let h = &self.topo.hosts[hi];
        let dir = format!("{}/{}", self.run, h.name);
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
                .filter(|&g| pred(&self.topo.guests[g].kind))
                .map(|g| self.guest(g))
                .collect()
        };
        // A real host is not a namespace: its devices are in its agent's own
        // (""), and it is present when its agent found anything of the topology.
        let (netns, present) = match h.agent {
            None => (h.netns.clone(), self.nss.contains(&h.netns)),
            Some(_) => (
                String::new(),
                self.have
                    .targets
                    .get(&h.name)
                    .is_some_and(|rs| !rs.is_empty()),
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
    }

    fn guest(&self, gi: usize) -> GuestStatus {
        let g = &self.topo.guests[gi];
        let local = self.topo.hosts[g.host].agent.is_none();
        // A local guest's links as observation read them (a real host's: unknown here).
        let links = (local && self.nss.contains(&g.netns))
            .then(|| self.snap.links(&g.netns).unwrap_or_default());
        let interfaces = g
            .ifaces
            .iter()
            .map(|i| self.interface(gi, i, links))
            .collect();
        GuestStatus {
            name: g.name.clone(),
            netns: g.netns.clone(),
            present: self.nss.contains(&g.netns),
            interfaces,
            processes: self.processes(gi),
        }
    }

    fn interface(&self, gi: usize, i: &Iface, links: Option<&[nl::Link]>) -> IfaceStatus {
        let g = &self.topo.guests[gi];
        let mut a = self
            .addrs
            .get(&(g.netns.clone(), i.name.clone()))
            .cloned()
            .unwrap_or_default();
        let lease = match (&i.addr, &self.topo.hosts[g.host].agent) {
            (IfaceAddr::Dhcp, None) => procs::read_lease(Path::new(
                &kind::dhcp_client::lease_path(&self.topo.name, &g.netns, &i.name),
            ))
            .map(|l| l.ip.to_string()),
            // A real host's lease files are on it: its agent reports the address.
            (IfaceAddr::Dhcp, Some(_)) => self.remote_leases[gi]
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
            no_lease_predicted: self.no_lease.contains(&(g.netns.as_str(), i.name.as_str())),
            up: links.map(|l| l.iter().any(|l| l.name == i.name && l.up)),
        }
    }

    /// A dhcp server's dnsmasq; a local vm's DHCP clients that run in the
    /// background (a real host's are on it).
    fn processes(&self, gi: usize) -> Vec<Process> {
        let g = &self.topo.guests[gi];
        let host = &self.topo.hosts[g.host];
        match g.kind {
            GuestKind::Dhcp(_) => {
                let pidfile = format!("{}/{}/dhcp-{}.pid", self.run, host.name, g.name);
                procs::alive_pid(Path::new(&pidfile))
                    .map(|pid| Process {
                        name: "dnsmasq".into(),
                        pid,
                    })
                    .into_iter()
                    .collect()
            }
            _ => g
                .ifaces
                .iter()
                .filter(|_| host.agent.is_none())
                .filter_map(|i| {
                    let pidfile = plan::dhcp_client_pidfile(&self.topo.name, &g.netns, &i.name);
                    procs::udhcpc_pid(Path::new(&pidfile)).map(|pid| Process {
                        name: "udhcpc".into(),
                        pid,
                    })
                })
                .collect(),
        }
    }
}
