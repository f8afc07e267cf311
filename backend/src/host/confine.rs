//! Confinement: what a step, an observation or a ping may name on this
//! machine, whoever asks (an agent's client, or the controller itself).
//!
//! Every field that reaches a path, a sysctl, a pid file, a signal, a
//! device, a process argument or an OVS row is parsed here into a value that
//! can only name topology `T`'s own objects:
//! - names by the format's own rules: a topology or host is `[a-z][a-z0-9-]{0,11}`,
//!   a namespace `nl-T.` + dot-separated labels, a device 1 to 15 bytes of
//!   `[A-Za-z0-9_.-]` (never `.` or `..`); so no `/`, no NUL, no `..`;
//! - devices in the host's own namespace, OVS bridges and ports: `nl<tag>…`
//!   names (as `netloom_core::names` gives them), and an existing device there
//!   must carry `T`'s mark before anything touches it;
//! - sysctls: the [`SysctlKey`]s plans set, nothing else;
//! - paths: exactly the ones `netloom_core::names` and the planner build
//!   (`/run/netloom/T`, `/run/netloom/T/HOST`, a DHCP server's files there);
//! - dnsmasq: only the options plans give it; nftables: only table `ip netloom`.
//!
//! The executor's entry ([`super::exec::run_target`]) takes only [`Confined`]
//! steps, and the only way to make one is [`step`]: the checks cannot be
//! skipped by a new caller. OVS rows are checked again against the database
//! when the transaction is built (creates only on `T`'s bridges, updates and
//! deletes only of rows marked as `T`'s).

use std::fmt;
use std::ops::Deref;
use std::path::{Component, Path};

use netloom_core::names;
use netloom_core::plan::{Action, Resource, State, Step, TargetInfo};

use super::kind;

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("refused: {0}")]
pub struct Refusal(pub String);

pub(super) fn refuse<T>(message: impl Into<String>) -> Result<T, Refusal> {
    Err(Refusal(message.into()))
}

/// `dir` must be `want` exactly, the topology's own `what` (a step that
/// removes a directory whole).
pub(super) fn own_dir(dir: &str, want: &str, what: &str) -> Result<(), Refusal> {
    if dir != want {
        return refuse(format!("{:?} is not this topology's {what}", clip(dir)));
    }
    Ok(())
}

/// A topology name, by the format's rule.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TopologyName(String);

impl TopologyName {
    pub fn parse(s: &str) -> Result<TopologyName, Refusal> {
        if names::name_ok(s) {
            Ok(TopologyName(s.to_string()))
        } else {
            refuse(format!("{:?} is not a topology name", clip(s)))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `/run/netloom/T`.
    pub(super) fn run_dir(&self) -> String {
        names::run_dir(&self.0)
    }

    /// The `nl<tag>` every device name of the topology starts with.
    pub(super) fn device_prefix(&self) -> String {
        format!("nl{}", names::topology_tag(&self.0))
    }
}

impl fmt::Display for TopologyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A sysctl that plans set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SysctlKey {
    /// `net/ipv4/ip_forward`: routers forward, vms do not.
    IpForward,
    /// `net/ipv4/conf/all/arp_ignore`: emulated hosts (see docs/deploy.md).
    ArpIgnore,
    /// `net/ipv4/neigh/default/gc_thresh2` and `gc_thresh3` (see
    /// `plan::NEIGH_TABLE_SYSCTLS`): the machine's neighbour table, set in
    /// its own namespace only, and only ever grown.
    NeighTable(NeighThreshold),
}

/// Which bound of the neighbour table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NeighThreshold {
    Soft,
    Hard,
}

impl SysctlKey {
    pub fn parse(key: &str) -> Result<SysctlKey, Refusal> {
        let [soft, hard] = netloom_core::plan::NEIGH_TABLE_SYSCTLS;
        match key {
            "net/ipv4/ip_forward" => Ok(SysctlKey::IpForward),
            "net/ipv4/conf/all/arp_ignore" => Ok(SysctlKey::ArpIgnore),
            k if k == soft => Ok(SysctlKey::NeighTable(NeighThreshold::Soft)),
            k if k == hard => Ok(SysctlKey::NeighTable(NeighThreshold::Hard)),
            _ => refuse(format!("sysctl {:?} is not one netloom sets", clip(key))),
        }
    }

    /// Its file under `/proc/sys` of the calling thread's namespace.
    pub fn path(self) -> &'static str {
        match self {
            SysctlKey::IpForward => "/proc/sys/net/ipv4/ip_forward",
            SysctlKey::ArpIgnore => "/proc/sys/net/ipv4/conf/all/arp_ignore",
            SysctlKey::NeighTable(NeighThreshold::Soft) => {
                "/proc/sys/net/ipv4/neigh/default/gc_thresh2"
            }
            SysctlKey::NeighTable(NeighThreshold::Hard) => {
                "/proc/sys/net/ipv4/neigh/default/gc_thresh3"
            }
        }
    }
}

/// A step that names only its topology's objects (see the module doc).
#[derive(Debug, Clone, Copy)]
pub struct Confined<'a>(&'a Step);

impl<'a> Confined<'a> {
    /// The step itself, for as long as the request lives.
    pub fn get(self) -> &'a Step {
        self.0
    }
}

impl Deref for Confined<'_> {
    type Target = Step;

    fn deref(&self) -> &Step {
        self.0
    }
}

/// A step of topology `t`, or why not. `host_link` reads a device of the
/// host's own namespace: `None` when absent, else its alias (netloom's mark).
pub fn step<'a>(
    t: &TopologyName,
    s: &'a Step,
    host_link: &dyn Fn(&str) -> Option<Option<String>>,
) -> Result<Confined<'a>, Refusal> {
    match (s.action, &s.resource) {
        // Deleting a veth removes the end `name` (its peer goes with it); an
        // end observed without the wanted peer (an apply killed between
        // making a pair and setting its peer up) reads with peer "".
        (Action::Delete, Resource::Veth { netns, name, .. }) => {
            device_in(t, netns, name)?;
        }
        // A chassis' keys go by the topology's mark, an ovn-controller by its
        // directory: what was observed (keys changed by hand, TLS files
        // since removed) must not keep them from going.
        (Action::Delete, Resource::OvnChassis { .. }) => {}
        (Action::Delete, Resource::OvnController { dir, .. }) => {
            kind::ovn_controller::confine_dir(t, dir)?;
        }
        _ => resource(t, &s.resource)?,
    }
    if let Some(r) = &s.was {
        match (r, &s.resource) {
            // The value a sysctl had is only read, never written: the
            // machine's neighbour table starts below any size a plan sets
            // (gc_thresh2 is 512 by default).
            (
                Resource::Sysctl { netns, key, .. },
                Resource::Sysctl {
                    netns: n2, key: k2, ..
                },
            ) if netns == n2 && key == k2 => {}
            // The keys a chassis had are replaced whole, never used.
            (Resource::OvnChassis { .. }, Resource::OvnChassis { .. }) => {}
            _ => resource(t, r)?,
        }
    }
    // A device of the host's own namespace: netloom's name is not enough, it
    // must carry the topology's mark unless this step creates it.
    let creates = s.action == Action::Create
        && matches!(
            s.resource,
            Resource::Segment { .. } | Resource::Veth { .. } | Resource::VxlanLink { .. }
        );
    for dev in host_devices(&s.resource) {
        match host_link(dev) {
            Some(Some(alias)) if alias == super::link_mark(t.as_str()) => {}
            Some(_) if creates => return refuse(format!("device {dev} already exists")),
            Some(_) => {
                return refuse(format!(
                    "device {dev} of the host is not marked as topology {t}'s"
                ))
            }
            None => {}
        }
    }
    Ok(Confined(s))
}

/// Every step of a request, or the first refused one (as it prints) and why.
pub fn steps<'a>(
    t: &TopologyName,
    steps: &[&'a Step],
) -> Result<Vec<Confined<'a>>, (String, Refusal)> {
    let host_link = |dev: &str| -> Option<Option<String>> {
        let dev = dev.to_string();
        super::nl::with_netlink("", move |n| {
            Ok(n.links()?
                .into_iter()
                .find(|l| l.name == dev)
                .map(|l| l.alias))
        })
        // An unreadable host namespace: treat the device as present and unmarked.
        .unwrap_or(Some(None))
    };
    steps
        .iter()
        .map(|s| step(t, s, &host_link).map_err(|e| (s.to_string(), e)))
        .collect()
}

/// The devices of the host's own namespace (`""`) a resource names.
fn host_devices(r: &Resource) -> Vec<&str> {
    match r {
        Resource::Segment { netns, name, .. }
        | Resource::VxlanLink { netns, name, .. }
        | Resource::TxOffloadOff {
            netns, dev: name, ..
        } if netns.is_empty() => vec![name],
        Resource::Veth {
            netns,
            name,
            peer_netns,
            peer,
            ..
        } => {
            let mut v = Vec::new();
            if netns.is_empty() {
                v.push(name.as_str());
            }
            if peer_netns.is_empty() {
                v.push(peer.as_str());
            }
            v
        }
        _ => Vec::new(),
    }
}

/// Every resource of an observation's hint is one the topology could have:
/// observation reads what the hint names (sysctls, devices), so it is held
/// to the same rules as a step.
pub fn hint(t: &TopologyName, hint: &State) -> Result<(), Refusal> {
    for (target, r) in hint.iter() {
        if !target.is_empty() {
            host_name(target)?;
        }
        resource(t, r)?;
    }
    Ok(())
}

/// A target of a request as the agent will use it: its name is a host's, its
/// namespace the topology's (or the agent's own), and its OVSDB the one the
/// agent knows: `ovsdb` (the agent's `--ovsdb`) for a real host, the
/// emulated host's own socket (`/run/netloom/T/HOST/db.sock`) otherwise.
pub fn target(t: &TopologyName, mut ti: TargetInfo, ovsdb: &str) -> Result<TargetInfo, Refusal> {
    host_name(&ti.name)?;
    if !ti.netns.is_empty() {
        netns(t, &ti.netns)?;
    }
    if !matches!(ti.datapath.as_str(), "netdev" | "system") {
        return refuse(format!(
            "datapath {:?} is not netdev or system",
            clip(&ti.datapath)
        ));
    }
    ti.ovsdb = if ti.emulated {
        format!("{}/{}/db.sock", t.run_dir(), ti.name)
    } else {
        ovsdb.to_string()
    };
    Ok(ti)
}

/// One of topology `t`'s namespaces: `nl-T.` and dot-separated labels of
/// `[a-z0-9_-]` (host, guest kind, guest name; `_underlay`, `_ext`).
pub fn netns<'a>(t: &TopologyName, ns: &'a str) -> Result<&'a str, Refusal> {
    let ok = ns.len() <= 128
        && ns
            .strip_prefix(&names::netns_prefix(t.as_str()))
            .is_some_and(|rest| {
                rest.split('.').all(|l| {
                    !l.is_empty()
                        && l.bytes().all(|c| {
                            c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'_'
                        })
                })
            });
    if ok {
        Ok(ns)
    } else {
        refuse(format!("namespace {:?} is not topology {t}'s", clip(ns)))
    }
}

/// A TCP port `verify` listens on or connects to: 1..=65535.
pub fn port(p: u16) -> Result<u16, Refusal> {
    if p == 0 {
        refuse("port 0: a port is 1..65535")
    } else {
        Ok(p)
    }
}

/// A host name by the format's rule.
fn host_name(h: &str) -> Result<&str, Refusal> {
    if names::name_ok(h) {
        Ok(h)
    } else {
        refuse(format!("{:?} is not a host name", clip(h)))
    }
}

/// A Linux device name: 1 to 15 bytes of `[A-Za-z0-9_.-]`, never `.` or `..`.
pub(super) fn device(d: &str) -> Result<&str, Refusal> {
    let ok = (1..=15).contains(&d.len())
        && d != "."
        && d != ".."
        && d.bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'));
    if ok {
        Ok(d)
    } else {
        refuse(format!("{:?} is not a device name", clip(d)))
    }
}

/// A device, bridge or port netloom names for topology `t` (`nl<tag>…`).
pub(super) fn own_device<'a>(t: &TopologyName, d: &'a str) -> Result<&'a str, Refusal> {
    device(d)?;
    if d.starts_with(&t.device_prefix()) {
        Ok(d)
    } else {
        refuse(format!(
            "{d} is not a name netloom gives topology {t}'s devices"
        ))
    }
}

/// A device in namespace `ns`: the topology's own name in the host's own
/// namespace (`""`), any device name inside one of the topology's namespaces.
pub fn device_in<'a>(t: &TopologyName, ns: &str, d: &'a str) -> Result<&'a str, Refusal> {
    if ns.is_empty() {
        own_device(t, d)
    } else {
        netns(t, ns)?;
        device(d)
    }
}

/// `/run/netloom/T/HOST`: a host's directory of daemon files.
pub(super) fn host_dir<'a>(t: &TopologyName, d: &'a str) -> Result<&'a str, Refusal> {
    let run = t.run_dir();
    match d.strip_prefix(&run).and_then(|r| r.strip_prefix('/')) {
        Some(h) if host_name(h).is_ok() => Ok(d),
        _ => refuse(format!("{:?} is not a host directory of {run}", clip(d))),
    }
}

/// A daemon of a host: in one of the topology's namespaces, its files in a host directory.
pub(super) fn host_daemon(t: &TopologyName, ns: &str, dir: &str) -> Result<(), Refusal> {
    netns(t, ns)?;
    host_dir(t, dir).map(drop)
}

/// A file name of netloom's: `[A-Za-z0-9_.:-]`, not starting with a dot.
fn file_name(f: &str) -> bool {
    (1..=64).contains(&f.len())
        && !f.starts_with('.')
        && f.bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b':' | b'-'))
}

/// A file in a host's directory (or in one of its DHCP servers' `.hosts` directories).
pub(super) fn host_file<'a>(t: &TopologyName, p: &'a str) -> Result<&'a str, Refusal> {
    let path = Path::new(p);
    let normal = path
        .components()
        .all(|c| matches!(c, Component::RootDir | Component::Normal(_)));
    let ok = normal
        && path.parent().and_then(Path::to_str).is_some_and(|dir| {
            host_dir(t, dir).is_ok()
                || dir.strip_suffix(".hosts").is_some_and(|server| {
                    server
                        .rsplit_once('/')
                        .is_some_and(|(d, n)| host_dir(t, d).is_ok() && dhcp_name(n).is_ok())
                })
        })
        && path
            .file_name()
            .and_then(|f| f.to_str())
            .is_some_and(file_name);
    if ok {
        Ok(p)
    } else {
        refuse(format!(
            "{:?} is not a file of a host directory of {}",
            clip(p),
            t.run_dir()
        ))
    }
}

/// A DHCP server's name: `dhcp-` and a label (it names its pid, lease and log files).
pub(super) fn dhcp_name(n: &str) -> Result<&str, Refusal> {
    match n.strip_prefix("dhcp-") {
        Some(rest)
            if !rest.is_empty()
                && rest.len() <= 32
                && rest
                    .bytes()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-') =>
        {
            Ok(n)
        }
        _ => refuse(format!("{:?} is not a DHCP server's name", clip(n))),
    }
}

/// The checks of every field of one resource.
fn resource(t: &TopologyName, r: &Resource) -> Result<(), Refusal> {
    match r {
        Resource::RunDir { path } => kind::run_dir::confine(t, path),
        Resource::Netns { name } => kind::namespace::confine(t, name),
        Resource::Agent { netns: ns, dir } => kind::agent::confine(t, ns, dir),
        Resource::OvsDaemons {
            netns: ns,
            dir,
            ovn,
        } => kind::ovs_daemons::confine(t, ns, dir, ovn.as_ref()),
        Resource::OvnCentral { dir } => kind::ovn_central::confine(t, dir),
        Resource::OvnChassis { chassis } => kind::ovn_chassis::confine(t, chassis),
        Resource::OvnController { dir, tls } => kind::ovn_controller::confine(t, dir, tls.as_ref()),
        Resource::Segment { netns, name, .. } => kind::segment::confine(t, netns, name),
        Resource::VxlanLink { netns, name, .. } => kind::vxlan::confine(t, netns, name),
        Resource::Veth {
            netns,
            name,
            peer_netns,
            peer,
            peer_master,
            ..
        } => kind::veth::confine(t, netns, name, peer_netns, peer, peer_master.as_deref()),
        Resource::TxOffloadOff { netns, dev } => kind::tx_offload::confine(t, netns, dev),
        Resource::OvsBridge { name, datapath } => kind::ovs::confine_bridge(t, name, datapath),
        Resource::OvsPort {
            bridge,
            name,
            tag,
            iface,
        } => kind::ovs::confine_port(t, bridge, name, *tag, iface),
        Resource::Sysctl {
            netns: ns,
            key,
            value,
        } => kind::sysctl::confine(t, ns, key, value),
        Resource::Addr { netns: ns, dev, .. } => kind::addr::confine(t, ns, dev),
        Resource::DhcpClient { netns: ns, dev, .. } => kind::dhcp_client::confine(t, ns, dev),
        Resource::Route { netns: ns, .. } => kind::route::confine(t, ns),
        Resource::Nft { netns: ns, ruleset } => kind::nft::confine(t, ns, ruleset),
        Resource::Dnsmasq {
            netns: ns,
            name,
            args,
        } => kind::dnsmasq::confine(t, ns, name, args),
        Resource::DhcpHost { path, .. } => kind::dhcp_host::confine(t, path),
    }
}

/// Keeps a refusal's message short whatever the request held.
pub(super) fn clip(s: &str) -> String {
    s.chars().take(80).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use netloom_core::plan::{self, Facts, OvsIface};

    fn t(name: &str) -> TopologyName {
        TopologyName::parse(name).unwrap()
    }

    #[test]
    fn a_port_of_verify_is_never_zero() {
        assert_eq!(port(1), Ok(1));
        assert_eq!(port(65535), Ok(65535));
        assert!(port(0).unwrap_err().0.contains("port 0"));
    }

    fn step_of(action: Action, resource: Resource) -> Step {
        Step {
            action,
            resource,
            was: None,
        }
    }

    #[test]
    fn a_chassis_goes_whatever_was_observed_but_only_the_topologys_is_made() {
        let none = host(vec![], vec![]);
        // Keys changed by hand read as a chassis of no name; TLS files since removed.
        let keys: Resource = serde_json::from_value(serde_json::json!({"kind": "ovn_chassis",
            "chassis": {"system_id": "", "encap_type": "", "encap_ip": "0.0.0.0",
                "bridge_mappings": [], "remote": "", "bridge": "", "datapath": ""}}))
        .unwrap();
        let gone = "/nonexistent/netloom/key.pem".to_string();
        let controller = |dir: &str| Resource::OvnController {
            dir: dir.into(),
            tls: Some(netloom_core::ovn::Tls {
                private_key: gone.clone(),
                certificate: gone.clone(),
                ca_certificate: gone.clone(),
            }),
        };
        let own = netloom_core::names::ovn_controller_dir("t");
        for r in [keys.clone(), controller(&own)] {
            assert!(
                step(&t("t"), &step_of(Action::Delete, r.clone()), &none).is_ok(),
                "{r:?}"
            );
            assert!(
                step(&t("t"), &step_of(Action::Create, r.clone()), &none).is_err(),
                "{r:?}"
            );
        }
        // Replaced whole: the keys found are not checked, the new ones are.
        let mut update = step_of(Action::Update, keys.clone());
        update.was = Some(keys);
        assert!(step(&t("t"), &update, &none).is_err());
        // Another topology's ovn-controller is not stopped.
        let other = netloom_core::names::ovn_controller_dir("u");
        assert!(step(&t("t"), &step_of(Action::Delete, controller(&other)), &none).is_err());
    }

    /// Devices of the host's own namespace, for [`step`]: `marked` carry t's mark.
    fn host(marked: Vec<String>, unmarked: Vec<String>) -> impl Fn(&str) -> Option<Option<String>> {
        move |d: &str| {
            if marked.iter().any(|m| m == d) {
                Some(Some(crate::host::link_mark("t")))
            } else if unmarked.iter().any(|m| m == d) {
                Some(None)
            } else {
                None
            }
        }
    }

    /// Every step of the plans of the example labs, built from nothing and
    /// torn down again, passes: confinement refuses no real plan.
    #[test]
    fn every_step_of_the_example_plans_is_confined() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples");
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let text = std::fs::read_to_string(e.path()).unwrap();
            let topo = netloom_core::load(&text).unwrap().topology;
            let name = t(&topo.name);
            let f = Facts::default();
            let targets = plan::targets(&topo, &f);
            let want = plan::desired(&topo, &f);
            let empty = State::default();
            hint(&name, &want).unwrap();
            for ti in &targets[1..] {
                target(&name, ti.clone(), "/x/db.sock").unwrap();
            }
            let mark = crate::host::link_mark(&topo.name);
            let marked = move |_: &str| Some(Some(mark.clone()));
            for p in [
                plan::plan(&topo.name, &targets, &want, &empty),
                plan::plan(&topo.name, &targets, &empty, &want),
            ] {
                for s in p.targets.iter().flat_map(|t| &t.steps) {
                    let dev_free = |_: &str| None;
                    let seen: &dyn Fn(&str) -> Option<Option<String>> =
                        if s.action == Action::Create {
                            &dev_free
                        } else {
                            &marked
                        };
                    assert!(step(&name, s, seen).is_ok(), "{}: {s}", topo.name);
                }
            }
        }
    }

    #[test]
    fn names_with_paths_or_other_topologies_are_refused() {
        for bad in ["", "../etc", "a/b", "T", "x\0", "abcdefghijklm"] {
            assert!(TopologyName::parse(bad).is_err(), "{bad:?}");
        }
        let n = t("t");
        assert!(netns(&n, "nl-t.h1.vm1").is_ok());
        assert!(netns(&n, "nl-t._underlay").is_ok());
        for ns in [
            "",
            "nl-t.",
            "nl-tt.h1",
            "victim",
            "nl-t./../x",
            "nl-t.h1..x",
            "nl-t.h1/x",
            "nl-t.h\0",
        ] {
            assert!(netns(&n, ns).is_err(), "{ns:?}");
        }
        for d in ["", ".", "..", "a/b", "eth0\0", "0123456789abcdef", "a b"] {
            assert!(device(d).is_err(), "{d:?}");
        }
        let ti = TargetInfo {
            name: "h1".into(),
            agent: None,
            emulated: true,
            netns: "nl-t.h1".into(),
            ovsdb: "/var/run/elsewhere.sock".into(),
            datapath: "netdev".into(),
        };
        assert_eq!(
            target(&n, ti.clone(), "/mine").unwrap().ovsdb,
            "/run/netloom/t/h1/db.sock"
        );
        let real = TargetInfo {
            emulated: false,
            ..ti.clone()
        };
        assert_eq!(target(&n, real, "/mine").unwrap().ovsdb, "/mine");
        for bad in [
            TargetInfo {
                name: "../../etc".into(),
                ..ti.clone()
            },
            TargetInfo {
                netns: "nl-u.h1".into(),
                ..ti.clone()
            },
            TargetInfo {
                datapath: "x".into(),
                ..ti
            },
        ] {
            assert!(target(&n, bad, "/mine").is_err());
        }
    }

    /// Each step refused on topology `t`'s host with nothing observed.
    fn all_refused(cases: &[Step]) {
        let n = t("t");
        let none = host(vec![], vec![]);
        for c in cases {
            assert!(step(&n, c, &none).is_err(), "{c}");
        }
    }

    fn s(n: &str) -> String {
        n.to_string()
    }

    // The attacks of the safety review, and their neighbours: each is refused.

    /// Namespaces, run directories and daemon directories not the topology's.
    #[test]
    fn steps_on_other_namespaces_and_directories_are_refused() {
        all_refused(&[
            step_of(Action::Delete, Resource::Netns { name: s("victim") }),
            step_of(
                Action::Delete,
                Resource::Netns {
                    name: s("nl-other.h1"),
                },
            ),
            step_of(Action::Delete, Resource::RunDir { path: s("/etc") }),
            step_of(
                Action::Delete,
                Resource::RunDir {
                    path: s("/run/netloom/t/../../etc"),
                },
            ),
            step_of(
                Action::Delete,
                Resource::Agent {
                    netns: s("nl-t.h1"),
                    dir: s("/run/netloom/t/../../../etc"),
                },
            ),
            step_of(
                Action::Create,
                Resource::OvsDaemons {
                    netns: s("nl-t.h1"),
                    dir: s("/run/netloom/t"),
                    ovn: None,
                },
            ),
        ]);
    }

    /// Sysctl keys and values netloom does not set.
    #[test]
    fn sysctls_not_netlooms_are_refused() {
        all_refused(&[
            // The review's write-anywhere: a sysctl key that climbs out of /proc/sys.
            step_of(
                Action::Create,
                Resource::Sysctl {
                    netns: s("nl-t.h1"),
                    key: s("../../etc/cron.d/x"),
                    value: s("1"),
                },
            ),
            step_of(
                Action::Create,
                Resource::Sysctl {
                    netns: s("nl-t.h1"),
                    key: s("kernel/core_pattern"),
                    value: s("1"),
                },
            ),
            step_of(
                Action::Create,
                Resource::Sysctl {
                    netns: s("nl-t.h1"),
                    key: s("net/ipv4/ip_forward"),
                    value: s("|/x"),
                },
            ),
            // The machine's neighbour table: only in its own namespace, only a size.
            step_of(
                Action::Create,
                Resource::Sysctl {
                    netns: s("nl-t.h1"),
                    key: s("net/ipv4/neigh/default/gc_thresh3"),
                    value: s("4096"),
                },
            ),
            step_of(
                Action::Create,
                Resource::Sysctl {
                    netns: s(""),
                    key: s("net/ipv4/neigh/default/gc_thresh3"),
                    value: s("1"),
                },
            ),
            step_of(
                Action::Create,
                Resource::Sysctl {
                    netns: s(""),
                    key: s("net/ipv4/ip_forward"),
                    value: s("1"),
                },
            ),
        ]);
    }

    /// nftables rulesets outside the topology's namespaces or table `ip netloom`.
    #[test]
    fn rulesets_not_in_table_ip_netloom_are_refused() {
        all_refused(&[
            step_of(
                Action::Create,
                Resource::Nft {
                    netns: s(""),
                    ruleset: s("{}"),
                },
            ),
            step_of(
                Action::Create,
                Resource::Nft {
                    netns: s("nl-t.h1.router.r1"),
                    ruleset: s(r#"{"nftables":[{"flush":{"ruleset":null}}]}"#),
                },
            ),
            step_of(
                Action::Create,
                Resource::Nft {
                    netns: s("nl-t.h1.router.r1"),
                    ruleset: s(
                        r#"{"nftables":[{"add":{"table":{"family":"inet","name":"filter"}}}]}"#,
                    ),
                },
            ),
        ]);
    }

    /// DHCP clients, servers and reservation files that name other files.
    #[test]
    fn dhcp_on_other_files_is_refused() {
        let hosts_file = |action, path: &str| {
            step_of(
                action,
                Resource::DhcpHost {
                    path: s(path),
                    mac: "02:00:00:00:00:01".parse().unwrap(),
                    ip: "10.0.0.1".parse().unwrap(),
                },
            )
        };
        all_refused(&[
            // The review's delete-anywhere: a DHCP client device that is a path.
            step_of(
                Action::Delete,
                Resource::DhcpClient {
                    netns: s("nl-t.h1.vm1"),
                    dev: s("../../../etc/passwd"),
                    order: 0,
                    no_lease: false,
                },
            ),
            step_of(
                Action::Create,
                Resource::Dnsmasq {
                    netns: s("nl-t.h1"),
                    name: s("dhcp-d"),
                    args: vec![s("--dhcp-script=/tmp/evil")],
                },
            ),
            step_of(
                Action::Create,
                Resource::Dnsmasq {
                    netns: s("nl-t.h1"),
                    name: s("dhcp-d"),
                    args: vec![s("--pid-file=/etc/passwd")],
                },
            ),
            step_of(
                Action::Create,
                Resource::Dnsmasq {
                    netns: s("nl-t.h1"),
                    name: s("../../x"),
                    args: vec![],
                },
            ),
            hosts_file(Action::Create, "/etc/dnsmasq.d/x.hosts/evil"),
            hosts_file(Action::Delete, "/run/netloom/t/h1/vswitchd.hosts/x"),
            hosts_file(Action::Delete, "/run/netloom/t/agent.token"),
            hosts_file(
                Action::Create,
                "/run/netloom/t/h1/dhcp-a.hosts/../../../../etc/x",
            ),
        ]);
    }

    /// The host's own devices and OVS bridges.
    #[test]
    fn the_hosts_own_devices_and_bridges_are_refused() {
        all_refused(&[
            // The host's own devices: not netloom's names.
            step_of(
                Action::Delete,
                Resource::Segment {
                    netns: s(""),
                    name: s("lo"),
                    mac: None,
                },
            ),
            step_of(
                Action::Create,
                Resource::TxOffloadOff {
                    netns: s(""),
                    dev: s("eth0"),
                },
            ),
            step_of(
                Action::Create,
                Resource::OvsPort {
                    bridge: s("nl0000b1"),
                    name: s("eth0"),
                    tag: None,
                    iface: OvsIface::System,
                },
            ),
            step_of(
                Action::Delete,
                Resource::OvsBridge {
                    name: s("br-int"),
                    datapath: s("system"),
                },
            ),
        ]);
    }

    /// A veth end observed without its peer can be deleted (it is what a
    /// killed apply leaves), not made; and only in the topology's namespaces.
    #[test]
    fn a_veth_without_its_peer_can_be_deleted_not_created() {
        let n = t("t");
        let none = host(vec![], vec![]);
        let half = |ns: &str| Resource::Veth {
            netns: ns.into(),
            name: "nl0000up".into(),
            peer_netns: "nl-t._underlay".into(),
            peer: String::new(),
            peer_mac: None,
            peer_master: Some("nl0000seg".into()),
        };
        assert!(step(&n, &step_of(Action::Delete, half("nl-t.h1")), &none).is_ok());
        assert!(step(&n, &step_of(Action::Create, half("nl-t.h1")), &none).is_err());
        assert!(step(&n, &step_of(Action::Delete, half("nl-other.h1")), &none).is_err());
    }

    /// Raising the machine's neighbour table from its default (gc_thresh2 is
    /// 512, below any size a plan sets) is allowed; lowering it to such a
    /// value, or a switch in its place, is not.
    #[test]
    fn a_sysctl_update_may_replace_any_value() {
        let n = t("t");
        let none = host(vec![], vec![]);
        let soft = |v: &str| Resource::Sysctl {
            netns: String::new(),
            key: "net/ipv4/neigh/default/gc_thresh2".into(),
            value: v.into(),
        };
        let update = |to: &str, was: Resource| Step {
            action: Action::Update,
            resource: soft(to),
            was: Some(was),
        };
        assert!(step(&n, &update("65536", soft("512")), &none).is_ok());
        assert!(step(&n, &update("512", soft("65536")), &none).is_err());
        let other = Resource::Sysctl {
            netns: String::new(),
            key: "net/ipv4/ip_forward".into(),
            value: "1".into(),
        };
        assert!(step(&n, &update("65536", other), &none).is_err());
    }

    #[test]
    fn a_host_device_must_carry_the_mark_unless_created() {
        let n = t("t");
        let own = format!("{}x1", n.device_prefix());
        let seg = |action| {
            step_of(
                action,
                Resource::Segment {
                    netns: String::new(),
                    name: own.clone(),
                    mac: None,
                },
            )
        };
        let marked = host(vec![], vec![]);
        assert!(
            step(&n, &seg(Action::Create), &marked).is_ok(),
            "a new device"
        );
        assert!(
            step(&n, &seg(Action::Delete), &marked).is_ok(),
            "already gone"
        );
        let foreign = host(vec![], vec![own.clone()]);
        assert!(
            step(&n, &seg(Action::Delete), &foreign).is_err(),
            "not ours"
        );
        assert!(step(&n, &seg(Action::Create), &foreign).is_err(), "taken");
        let ours = host(vec![own.clone()], vec![]);
        assert!(step(&n, &seg(Action::Delete), &ours).is_ok());
    }
}
