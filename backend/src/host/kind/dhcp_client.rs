//! A DHCP client (udhcpc) on a device: asked once for a lease that netloom
//! configures, or, when the model predicts none, left running in the
//! background with a script that configures a lease should one come.

use std::collections::BTreeSet;
use std::path::Path;

use netloom_core::names;
use netloom_core::plan::{self, Resource};

use crate::host::confine::{Refusal, TopologyName};
use crate::host::exec::Outcome;
use crate::host::snapshot::{Mapping, Snapshot};
use crate::host::{netns, nl, procs, StepError};

/// Lease file of a DHCP client.
pub fn lease_path(topology: &str, ns: &str, dev: &str) -> String {
    format!("{}/leases/{ns}.{dev}", names::run_dir(topology))
}

pub fn create(
    topology: &str,
    netns: &str,
    dev: &str,
    order: usize,
    no_lease: bool,
) -> Result<Outcome, StepError> {
    let lease = lease_path(topology, netns, dev);
    if no_lease {
        return background(topology, netns, dev, &lease);
    }
    let _ = std::fs::remove_file(&lease);
    let script = format!("{}/udhcpc.script", names::run_dir(topology));
    // udhcpc needs the link up to send.
    let d2 = dev.to_string();
    nl::with_netlink(netns, move |n| n.set_up(&d2))?;
    procs::dhcp_request(netns, dev, &script, Path::new(&lease))?;
    let mut text = std::fs::read_to_string(&lease)?;
    text.push_str(&format!("order={order}\n"));
    std::fs::write(&lease, &text)?;
    let l = procs::read_lease(Path::new(&lease))
        .ok_or_else(|| std::io::Error::other(format!("unreadable lease {lease}")))?;
    let dev = dev.to_string();
    nl::with_netlink(netns, move |n| {
        n.add_addr(&dev, l.ip)?;
        if let Some(r) = l.router {
            n.route_replace(None, r)?;
        }
        Ok(())
    })?;
    Ok(Outcome::default())
}

pub fn delete(topology: &str, netns: &str, dev: &str) {
    let lease = lease_path(topology, netns, dev);
    // A client running in the background goes first: it would configure a lease again.
    procs::stop_udhcpc(Path::new(&plan::dhcp_client_pidfile(topology, netns, dev)));
    if let Some(l) = procs::read_lease(Path::new(&lease)) {
        let dev = dev.to_string();
        let _ = nl::with_netlink(netns, move |n| n.del_addr(&dev, l.ip));
    }
    let _ = std::fs::remove_file(&lease);
}

/// A DHCP client the model predicts no lease for: started in the background
/// ([`plan::background_dhcp_client`]), which returns after one DISCOVER's
/// wait for an offer, or once a lease came after all. A lease, now or later,
/// is configured by its script (netloom is gone by then), so reality shows
/// in `status` and `verify`; one that came now is this step's warning.
fn background(topology: &str, netns: &str, dev: &str, lease: &str) -> Result<Outcome, StepError> {
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

/// A lease file `NS.DEV` of the leases directory, as read.
#[derive(Debug, Clone)]
pub struct Leased {
    pub ns: String,
    pub dev: String,
    pub lease: procs::Lease,
}

impl Leased {
    pub fn resource(&self) -> Resource {
        Resource::DhcpClient {
            netns: self.ns.clone(),
            dev: self.dev.clone(),
            order: self.lease.order,
            no_lease: false,
        }
    }
}

/// The lease files among `entries` (the leases directory's).
pub fn read_leases(entries: &[std::fs::DirEntry]) -> Vec<Leased> {
    let mut out = Vec::new();
    for ent in entries {
        let fname = ent.file_name().to_string_lossy().into_owned();
        let Some((ns, dev)) = fname.rsplit_once('.') else {
            continue;
        };
        if let Some(lease) = procs::read_lease(&ent.path()) {
            out.push(Leased {
                ns: ns.to_string(),
                dev: dev.to_string(),
                lease,
            });
        }
    }
    out
}

/// The clients whose lease is configured: its address is on its device.
pub fn leased(snap: &Snapshot) -> Vec<Leased> {
    snap.leases
        .iter()
        .filter(|c| {
            snap.nss
                .get(&c.ns)
                .is_some_and(|v| v.addrs.iter().any(|(d, a)| *d == c.dev && *a == c.lease.ip))
        })
        .cloned()
        .collect()
}

/// The DHCP clients running in the background, by (namespace, device):
/// `NS.DEV.pid` among the lease files `entries`, a live udhcpc in one of
/// the topology's namespaces `nss`.
pub fn read_background(
    entries: &[std::fs::DirEntry],
    nss: &BTreeSet<&str>,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for ent in entries {
        let fname = ent.file_name().to_string_lossy().into_owned();
        let Some((ns, dev)) = fname
            .strip_suffix(".pid")
            .and_then(|stem| stem.rsplit_once('.'))
        else {
            continue;
        };
        let Some(pid) = procs::udhcpc_pid(&ent.path()) else {
            continue;
        };
        let home = netns::pid_inode(pid);
        if nss.contains(ns) && home.is_some() && home == netns::inode(ns) {
            out.push((ns.to_string(), dev.to_string()));
        }
    }
    out
}

/// The clients whose lease is configured, then those running in the
/// background: the one apply started for "no lease", whether or not it got
/// one since (that shows in status and verify). A background client's place
/// in file order is not recorded anywhere: the hint's is taken.
pub fn map(m: &Mapping) -> Vec<(String, Resource)> {
    let leased = m.leased.iter().map(|c| (m.target(&c.ns), c.resource()));
    let background = m.snap.background.iter().map(|(ns, dev)| {
        let order = m
            .hint
            .iter()
            .find_map(|(_, r)| match r {
                Resource::DhcpClient {
                    netns,
                    dev: d,
                    order,
                    ..
                } if netns == ns && d == dev => Some(*order),
                _ => None,
            })
            .unwrap_or(0);
        let r = Resource::DhcpClient {
            netns: ns.clone(),
            dev: dev.clone(),
            order,
            no_lease: true,
        };
        (m.target(ns), r)
    });
    leased.chain(background).collect()
}

/// The checks of an address on the device: the client puts one there.
pub fn confine(t: &TopologyName, ns: &str, dev: &str) -> Result<(), Refusal> {
    super::addr::confine(t, ns, dev)
}
