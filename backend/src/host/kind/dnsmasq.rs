//! A DHCP server: a supervised dnsmasq in a namespace, its files (pid,
//! leases, log, reservations) in a host directory. Only the options netloom's
//! plans give pass its checks, since it runs as root.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use netloom_core::plan::{self, Resource};

use crate::host::confine::{self, clip, refuse, Refusal, TopologyName};
use crate::host::{netns, procs, StepError};

/// The directory of its pidfile, where its other files go too.
fn files_dir(args: &[String]) -> PathBuf {
    args.iter()
        .find_map(|a| a.strip_prefix("--pid-file="))
        .and_then(|p| Path::new(p).parent().map(Path::to_path_buf))
        .unwrap_or_default()
}

fn stop(name: &str, args: &[String]) {
    procs::stop(
        &files_dir(args).join(format!("{name}.pid")),
        "dnsmasq",
        Duration::from_secs(2),
    );
}

/// `restart`: an update, which stops the running server first.
pub fn create(netns: &str, name: &str, args: &[String], restart: bool) -> Result<(), StepError> {
    if restart {
        stop(name, args);
    }
    // A real host has no host directory until its first server needs one.
    std::fs::create_dir_all(files_dir(args))?;
    if let Some(d) = plan::dnsmasq_hosts_dir(args) {
        std::fs::create_dir_all(d)?;
    }
    // A restart starts from the same leases: the lease file is dnsmasq's memory.
    procs::start_dnsmasq(netns, args)?;
    Ok(())
}

pub fn delete(name: &str, args: &[String]) {
    stop(name, args);
    // Its reservations go with it (their own steps find them gone).
    if let Some(d) = plan::dnsmasq_hosts_dir(args) {
        let _ = std::fs::remove_dir_all(d);
    }
}

/// The server whose pidfile `path` (named `fname`) is, if it runs in one of
/// the topology's namespaces `ns_set` (found by its namespace's inode).
pub fn observe(
    path: &Path,
    fname: &str,
    ns_inodes: &BTreeMap<u64, String>,
    ns_set: &BTreeSet<&str>,
) -> Option<Resource> {
    let stem = fname
        .strip_suffix(".pid")
        .filter(|s| s.starts_with("dhcp-"))?;
    let pid = procs::alive_pid(path)?;
    let ns = netns::pid_inode(pid).and_then(|i| ns_inodes.get(&i).cloned())?;
    ns_set.contains(ns.as_str()).then(|| Resource::Dnsmasq {
        netns: ns,
        name: stem.to_string(),
        args: procs::cmdline_args(pid),
    })
}

pub fn confine(t: &TopologyName, ns: &str, name: &str, args: &[String]) -> Result<(), Refusal> {
    confine::netns(t, ns)?;
    confine::dhcp_name(name)?;
    args.iter().try_for_each(|a| arg(t, a))
}

/// dnsmasq runs as root: only the options netloom's plans use, its files in a host directory.
fn arg(t: &TopologyName, arg: &str) -> Result<(), Refusal> {
    let (opt, value) = arg.split_once('=').unwrap_or((arg, ""));
    let ok = match opt {
        "--conf-file" => value == "/dev/null",
        "--user" => value == "root",
        "--dhcp-leasefile" | "--pid-file" | "--log-facility" => {
            confine::host_file(t, value).is_ok()
        }
        "--dhcp-hostsdir" => value
            .strip_suffix(".hosts")
            .and_then(|s| s.rsplit_once('/'))
            .is_some_and(|(d, n)| confine::host_dir(t, d).is_ok() && confine::dhcp_name(n).is_ok()),
        "--interface" => confine::device(value).is_ok(),
        "--no-resolv"
        | "--no-hosts"
        | "--bind-interfaces"
        | "--dhcp-sequential-ip"
        | "--no-ping"
        | "--dhcp-authoritative"
        | "--log-dhcp" => value.is_empty(),
        "--port" => value == "0",
        "--dhcp-range" | "--dhcp-option" => value
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b',' | b':')),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        refuse(format!(
            "dnsmasq option {:?} is not one netloom gives",
            clip(arg)
        ))
    }
}
