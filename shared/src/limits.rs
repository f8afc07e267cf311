//! The input budgets of a topology file, in one place (docs/topology-format.md,
//! "Limits", lists them). Each is far above any real lab and small enough that
//! parsing, validating and simulating a file at the limit stays fast: a file
//! over one is refused before the work that would grow with it.

use crate::problem::Problem;
use crate::spec::{HostSpec, TopologySpec};

/// Largest file accepted (bytes).
pub const MAX_FILE_BYTES: usize = 8 * 1024 * 1024;

/// Deepest bracket nesting accepted. A topology nests a handful of levels;
/// libyaml's scanner is quadratic in flow nesting depth, so deeper input is
/// refused before parsing (100k `[` would take minutes).
pub const MAX_NESTING: usize = 100;

/// Most YAML nodes (scalars, sequences, mappings, keys included) a document
/// with aliases may have once they are expanded: an alias counts the whole
/// subtree of its anchor again. A 10,000-vm lab written out has about
/// 140,000. Counting costs a second parse, so a text without a `*` (no alias
/// possible) is not counted.
pub const MAX_YAML_NODES: usize = 500_000;

/// Most hosts.
pub const MAX_HOSTS: usize = 1_000;
/// Most bridges, all hosts together.
pub const MAX_BRIDGES: usize = 10_000;
/// Most guests (vms, DHCP servers and routers), all hosts together.
pub const MAX_GUESTS: usize = 20_000;
/// Most DHCP servers, all hosts together (their ranges are checked pairwise).
pub const MAX_DHCP_SERVERS: usize = 1_000;
/// Most external networks.
pub const MAX_EXTERNALS: usize = 100;
/// Most tunnels (a full mesh of 100 hosts is 4,950).
pub const MAX_TUNNELS: usize = 5_000;
/// Most interfaces of one guest (a vm's `nics`, a router's `interfaces`).
pub const MAX_INTERFACES: usize = 64;
/// Most static routes of one guest.
pub const MAX_ROUTES: usize = 1_000;

/// Entries of `expect.reach` and of `expect.isolate`, each.
pub const MAX_EXPECTATIONS: usize = 1_000;

/// Most sender/address pairs one reachability request may ask for
/// (`POST /api/reach`): a report that size is about 100 MB of JSON.
pub const MAX_REACH_PAIRS: usize = 2_000_000;

/// `count` things against `limit`, as a problem at `path` naming both.
fn over(
    count: usize,
    what: &str,
    limit: usize,
    path: impl FnOnce() -> String,
) -> Result<(), Problem> {
    if count > limit {
        return Err(Problem::error(
            path(),
            format!("{count} {what}; the limit is {limit}"),
        ));
    }
    Ok(())
}

/// The first count of `spec` over its limit. Checked right after parsing, so
/// the validator's work, which grows with these counts, stays bounded.
pub fn check(spec: &TopologySpec) -> Result<(), Problem> {
    let hosts = &spec.hosts;
    let sum = |f: fn(&HostSpec) -> usize| hosts.iter().map(f).sum::<usize>();
    fn top(key: &'static str) -> impl FnOnce() -> String {
        move || key.to_string()
    }
    over(hosts.len(), "hosts", MAX_HOSTS, top("hosts"))?;
    over(
        spec.externals.len(),
        "external networks",
        MAX_EXTERNALS,
        top("externals"),
    )?;
    over(spec.tunnels.len(), "tunnels", MAX_TUNNELS, top("tunnels"))?;
    over(
        sum(|h| h.bridges.len()),
        "bridges",
        MAX_BRIDGES,
        top("hosts"),
    )?;
    over(
        sum(|h| h.vms.len() + h.dhcp.len() + h.routers.len()),
        "guests (vms, dhcp servers and routers)",
        MAX_GUESTS,
        top("hosts"),
    )?;
    over(
        sum(|h| h.dhcp.len()),
        "dhcp servers",
        MAX_DHCP_SERVERS,
        top("hosts"),
    )?;
    if let Some(e) = &spec.expect {
        over(
            e.reach.len(),
            "pairs",
            MAX_EXPECTATIONS,
            top("expect.reach"),
        )?;
        over(
            e.isolate.len(),
            "pairs",
            MAX_EXPECTATIONS,
            top("expect.isolate"),
        )?;
    }
    for (h, host) in hosts.iter().enumerate() {
        for (i, v) in host.vms.iter().enumerate() {
            let at = |key: &'static str| move || format!("hosts[{h}].vms[{i}].{key}");
            over(v.nics.len(), "nics", MAX_INTERFACES, at("nics"))?;
            over(v.routes.len(), "routes", MAX_ROUTES, at("routes"))?;
        }
        for (i, r) in host.routers.iter().enumerate() {
            let at = |key: &'static str| move || format!("hosts[{h}].routers[{i}].{key}");
            over(
                r.interfaces.len(),
                "interfaces",
                MAX_INTERFACES,
                at("interfaces"),
            )?;
            over(r.routes.len(), "routes", MAX_ROUTES, at("routes"))?;
        }
    }
    Ok(())
}
