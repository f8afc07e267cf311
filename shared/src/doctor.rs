//! `netloom doctor`: what each host of a topology has, and what netloom will
//! do about each thing. The facts ([`HostCheck`]) are measured by the backend
//! (this machine for emulated hosts, a real host's agent for its own); this
//! module only reads them against the design, in words.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::topology::{HostId, Topology, TunnelKind};

/// What a machine has, as netloom needs to know it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct HostCheck {
    /// The Open vSwitch kernel datapath (`openvswitch` module) is loaded.
    pub kernel_datapath: bool,
    /// Kernel modules real hosts use, and whether each is loaded.
    pub modules: Vec<(String, bool)>,
    /// `ovs-vswitchd --version`, first line; `None`: not installed.
    pub ovs_version: Option<String>,
    /// The device holding the host's underlay address and its MTU
    /// (`None`: no device holds it; emulated hosts are not asked).
    pub underlay: Option<(String, u32)>,
    /// OVS bridges already in the host's database, with the topology whose
    /// mark each carries (`None`: not netloom's). Emulated hosts: none.
    pub bridges: Vec<(String, Option<String>)>,
    /// The kernel datapath's upcall counters since it was made (`None`: no
    /// kernel datapath yet; an agent older than this does not say).
    #[serde(default)]
    pub upcalls: Option<Upcalls>,
}

/// `ovs-dpctl show`'s `lookups: hit:H missed:M lost:L`: of the packets the
/// kernel datapath had no flow for, how many it passed up to `ovs-vswitchd`
/// (`missed`) and how many of those never got there (`lost`); and how many
/// threads `ovs-vswitchd` runs to read them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Upcalls {
    pub missed: u64,
    pub lost: u64,
    /// `ovs-vswitchd`'s upcall handler threads (`handlerN`); `None`: its
    /// process was not found, or an agent older than this did not say.
    #[serde(default)]
    pub handlers: Option<u32>,
}

/// The modules a real host's tunnels and datapath use.
pub const MODULES: [&str; 4] = ["openvswitch", "ip_gre", "vxlan", "8021q"];

/// How much a finding matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// As it should be.
    Ok,
    /// Worth knowing: netloom adapts.
    Note,
    /// Apply would fail or the network would not work.
    Problem,
}

/// One thing about one host, and what netloom does about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Finding {
    pub level: Level,
    /// What was found.
    pub fact: String,
    /// What netloom will do (or what to do first).
    pub action: String,
}

fn finding(level: Level, fact: impl Into<String>, action: impl Into<String>) -> Finding {
    Finding {
        level,
        fact: fact.into(),
        action: action.into(),
    }
}

/// Every finding about host `h` of `topo`, given what was measured there.
pub fn advise(topo: &Topology, h: HostId, check: &HostCheck) -> Vec<Finding> {
    let host = &topo.hosts[h];
    let mut out = vec![match &check.ovs_version {
        Some(v) => finding(Level::Ok, v.clone(), "netloom drives it through OVSDB"),
        None => finding(
            Level::Problem,
            "Open vSwitch is not installed",
            "install it first (Debian: apt-get install openvswitch-switch)",
        ),
    }];
    if host.agent.is_none() {
        out.extend(emulated(topo));
        return out;
    }
    out.push(datapath(topo, h, check));
    out.extend(check.upcalls.and_then(upcalls));
    out.extend(tunnels(topo, h, check));
    out.extend(bridges(topo, h, check));
    out
}

fn emulated(topo: &Topology) -> Vec<Finding> {
    vec![
        finding(
            Level::Note,
            "emulated on this machine (no agent)",
            "its own ovsdb-server and ovs-vswitchd in a namespace, userspace datapath \
             (datapath_type=netdev), TX checksum offload off on guest veths and uplinks",
        ),
        finding(
            Level::Note,
            format!("underlay {} emulated with veths, MTU 1500", topo.underlay),
            "tunnels are OVS userspace tunnel ports: no kernel module is needed",
        ),
    ]
}

fn datapath(topo: &Topology, h: HostId, check: &HostCheck) -> Finding {
    let gre = tunnels_at(topo, h).any(|k| matches!(k, TunnelKind::Gre { .. }));
    match (check.kernel_datapath, gre) {
        (true, _) => finding(
            Level::Ok,
            "OVS kernel datapath (openvswitch module loaded)",
            "bridges use datapath_type=system; tunnels are kernel tunnel ports",
        ),
        (false, false) => finding(
            Level::Note,
            "no OVS kernel datapath",
            "bridges use the userspace datapath (netdev); VXLAN ends are kernel VXLAN devices on OVS ports",
        ),
        (false, true) => finding(
            Level::Problem,
            "no OVS kernel datapath, and the design has a GRE tunnel here",
            "plan refuses GRE on a userspace real host: modprobe openvswitch, or use VXLAN",
        ),
    }
}

/// Why a first packet can vanish on a host that has every module: the
/// switch never hears of it. Seen on Debian 12's Open vSwitch 3.1.0 in VMs
/// that boot in under 10 s (e2e/vm/guest.sh). The handler count says so
/// directly; the counters alone cannot, since a restart of `ovs-vswitchd`
/// also loses what arrives while none runs.
fn upcalls(u: Upcalls) -> Option<Finding> {
    let none_read = match u.handlers {
        Some(n) => n == 0,
        None => u.lost > 0 && u.lost == u.missed,
    };
    if none_read {
        return Some(finding(
            Level::Problem,
            format!(
                "ovs-vswitchd reads no upcalls: the kernel datapath lost {} of the {} packets \
                 it passed up to ovs-vswitchd, and loses every packet that has no flow yet",
                u.lost, u.missed
            ),
            "restart ovs-vswitchd (systemctl restart openvswitch-switch): Open vSwitch 3.1.0 \
             (Debian 12) started in a host's first 10 s of uptime gives its datapath no upcall \
             handler (fixed in 3.1.1)",
        ));
    }
    (u.lost > 0).then(|| {
        finding(
            Level::Note,
            format!(
                "the kernel datapath lost {} of the {} packets it passed up to ovs-vswitchd \
                 since it was made",
                u.lost, u.missed
            ),
            "first packets of new flows were dropped while ovs-vswitchd was not reading; \
             verify asks each pair again",
        )
    })
}

fn tunnels_at(topo: &Topology, h: HostId) -> impl Iterator<Item = &TunnelKind> {
    topo.tunnels
        .iter()
        .filter(move |t| t.ends.iter().any(|&b| topo.bridges[b].host == h))
        .map(|t| &t.kind)
}

fn tunnels(topo: &Topology, h: HostId, check: &HostCheck) -> Vec<Finding> {
    let host = &topo.hosts[h];
    let loaded = |m: &str| check.modules.iter().any(|(n, l)| n == m && *l);
    let mut out = Vec::new();
    let kinds: Vec<&TunnelKind> = tunnels_at(topo, h).collect();
    for (module, used) in [
        (
            "ip_gre",
            kinds.iter().any(|k| matches!(k, TunnelKind::Gre { .. })),
        ),
        (
            "vxlan",
            kinds.iter().any(|k| matches!(k, TunnelKind::Vxlan { .. })),
        ),
    ] {
        if used && !loaded(module) {
            out.push(finding(
                Level::Note,
                format!("module {module} is not loaded"),
                format!(
                    "OVS loads it with the first tunnel port; if that fails: modprobe {module}"
                ),
            ));
        }
    }
    match &check.underlay {
        None if !kinds.is_empty() => out.push(finding(
            Level::Problem,
            format!("no device holds the underlay address {}", host.underlay_ip),
            "tunnels to this host will not come up: give a NIC that address, or set underlay_ip",
        )),
        None => {}
        Some((dev, mtu)) => {
            let worst = kinds.iter().map(|k| k.overhead()).max().unwrap_or(0);
            let room = mtu.saturating_sub(worst + 4);
            let (level, action) = if kinds.is_empty() || room >= 1500 {
                (
                    Level::Ok,
                    "guests' 1500-byte packets cross its tunnels whole".to_string(),
                )
            } else {
                (Level::Note, format!(
                    "a VLAN-tagged packet crossing its tunnels carries at most {room} bytes of IPv4; \
                     bigger ones are dropped (nothing fragments), as the simulator predicts (mtu-exceeded)"
                ))
            };
            out.push(finding(
                level,
                format!("underlay NIC {dev} ({}), MTU {mtu}", host.underlay_ip),
                action,
            ));
        }
    }
    out
}

fn bridges(topo: &Topology, h: HostId, check: &HostCheck) -> Vec<Finding> {
    let ours: Vec<&str> = topo.hosts[h]
        .bridges
        .iter()
        .map(|&b| topo.bridges[b].ovs_name.as_str())
        .collect();
    check
        .bridges
        .iter()
        .map(
            |(name, mark)| match (mark.as_deref(), ours.contains(&name.as_str())) {
                (Some(t), true) if t == topo.name => finding(
                    Level::Ok,
                    format!("bridge {name} is this topology's"),
                    "apply converges it",
                ),
                (_, true) => finding(
                    Level::Problem,
                    format!("bridge {name} exists, and is not this topology's"),
                    "apply refuses to touch it: remove it, or rename the topology",
                ),
                (Some(t), false) => finding(
                    Level::Note,
                    format!("bridge {name} belongs to topology {t}"),
                    "left alone",
                ),
                (None, false) => finding(
                    Level::Note,
                    format!("bridge {name} is not netloom's"),
                    "left alone",
                ),
            },
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed(agent: bool) -> Topology {
        let mut text = include_str!("../../examples/seedlab-gre.yaml").to_string();
        if agent {
            text = text.replacen(
                "    bridges:",
                "    agent: https://node1.example.net:7311\n    bridges:",
                1,
            );
        }
        crate::load(&text).unwrap().topology
    }

    fn check() -> HostCheck {
        HostCheck {
            kernel_datapath: false,
            modules: MODULES.iter().map(|m| (m.to_string(), false)).collect(),
            ovs_version: Some("ovs-vswitchd (Open vSwitch) 3.1.0".into()),
            underlay: Some(("eth1".into(), 1500)),
            bridges: vec![("br-user".into(), None)],
            upcalls: None,
        }
    }

    fn levels(f: &[Finding]) -> Vec<Level> {
        f.iter().map(|f| f.level).collect()
    }

    #[test]
    fn an_emulated_host_is_said_to_be_emulated() {
        let f = advise(&seed(false), 0, &check());
        assert!(
            f[1].fact.contains("emulated") && f[1].action.contains("netdev"),
            "{f:#?}"
        );
        assert!(!levels(&f).contains(&Level::Problem));
    }

    #[test]
    fn gre_on_a_userspace_real_host_is_a_problem_the_kernel_datapath_solves() {
        let t = seed(true);
        let f = advise(&t, 0, &check());
        assert!(
            f.iter()
                .any(|f| f.level == Level::Problem && f.action.contains("refuses GRE")),
            "{f:#?}"
        );
        assert!(f.iter().any(|f| f.fact.contains("ip_gre")), "{f:#?}");
        // GRE + tag: 1500 - 46 = 1454 bytes of IPv4 at most.
        assert!(f.iter().any(|f| f.action.contains("1454")), "{f:#?}");
        let kernel = HostCheck {
            kernel_datapath: true,
            ..check()
        };
        assert!(!levels(&advise(&t, 0, &kernel)).contains(&Level::Problem));
    }

    #[test]
    fn bridges_and_missing_pieces_are_named() {
        let t = seed(true);
        let ours = t.bridges[t.hosts[0].bridges[0]].ovs_name.clone();
        let c = HostCheck {
            kernel_datapath: true,
            ovs_version: None,
            underlay: None,
            bridges: vec![(ours.clone(), None), ("br-user".into(), None)],
            ..check()
        };
        let f = advise(&t, 0, &c);
        let problems: Vec<&str> = f
            .iter()
            .filter(|f| f.level == Level::Problem)
            .map(|f| f.fact.as_str())
            .collect();
        assert_eq!(problems.len(), 3, "{f:#?}");
        assert!(problems[0].contains("not installed"));
        assert!(problems[1].contains("no device holds"));
        assert!(problems[2].contains(&ours));
        assert!(f
            .iter()
            .any(|f| f.fact.contains("br-user") && f.action == "left alone"));
    }

    #[test]
    fn a_switch_with_no_upcall_handler_is_a_problem() {
        let t = seed(true);
        let with = |missed, lost, handlers| HostCheck {
            kernel_datapath: true,
            upcalls: Some(Upcalls {
                missed,
                lost,
                handlers,
            }),
            ..check()
        };
        let about = |c: &HostCheck| -> Vec<Finding> {
            advise(&t, 0, c)
                .into_iter()
                .filter(|f| f.fact.contains("passed up to ovs-vswitchd"))
                .collect()
        };
        let none = about(&with(24, 23, Some(0)));
        assert_eq!(levels(&none), [Level::Problem], "{none:#?}");
        assert!(
            none[0].fact.contains("23 of the 24")
                && none[0].action.contains("restart ovs-vswitchd"),
            "{none:#?}"
        );
        // No packet yet: the missing handler is the problem all the same.
        assert_eq!(levels(&about(&with(0, 0, Some(0)))), [Level::Problem]);
        // After a restart the old losses stay counted, new misses get through;
        // even when they are all there is, handlers read the next ones.
        for c in [with(30, 24, Some(2)), with(24, 24, Some(2))] {
            let some = about(&c);
            assert_eq!(levels(&some), [Level::Note], "{some:#?}");
            assert!(some[0].fact.contains("24 of the"), "{some:#?}");
        }
        assert_eq!(about(&with(30, 0, Some(2))), []);
        // Handlers not found: every upcall lost says the same.
        assert_eq!(levels(&about(&with(24, 24, None))), [Level::Problem]);
        assert_eq!(levels(&about(&with(30, 24, None))), [Level::Note]);
        assert_eq!(about(&with(0, 0, None)), []);
        // An agent older than this sends no counters: nothing is said; one
        // a step older, counters without handlers.
        let old: HostCheck = serde_json::from_value(serde_json::json!({
            "kernel_datapath": true, "modules": [], "ovs_version": null,
            "underlay": null, "bridges": []
        }))
        .unwrap();
        assert_eq!(old.upcalls, None);
        let counters: Upcalls =
            serde_json::from_value(serde_json::json!({"missed": 3, "lost": 1})).unwrap();
        assert_eq!(counters.handlers, None);
    }
}
