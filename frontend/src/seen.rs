//! What Status and Verify found of a deployed design, per link of the
//! canvas (by its element's DOM id): up, or down and why. The canvas draws
//! a link green or red from it until the design changes.

use std::collections::BTreeMap;

use netloom_core::api::{Disagreement, GuestStatus, Status};
use netloom_core::spec::TopologySpec;

use crate::model::Elem;

/// A link's state as last seen; `why` says what was found (its tooltip).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub up: bool,
    pub why: String,
}

/// From Status: a guest's link is up when the guest is there with that
/// interface up, down when the guest or the interface is missing or down.
pub fn from_status(s: &TopologySpec, st: &Status) -> BTreeMap<String, Seen> {
    let mut out = BTreeMap::new();
    if !st.deployed {
        return out;
    }
    let mut put = |e: Elem, guest: Option<&GuestStatus>, iface: &str| {
        let seen = match guest {
            None => Seen {
                up: false,
                why: "Status: the guest is not there".into(),
            },
            Some(g) if !g.present => Seen {
                up: false,
                why: format!("Status: {} is not there", g.name),
            },
            Some(g) => match g
                .interfaces
                .iter()
                .find(|i| i.name == iface)
                .and_then(|i| Some((i, i.up?)))
            {
                Some((i, true)) => Seen {
                    up: true,
                    why: format!("Status: {iface} is up {}", i.addresses.join(", ")),
                },
                Some((_, false)) => Seen {
                    up: false,
                    why: format!("Status: {}'s {iface} is down or missing", g.name),
                },
                // A real host's guest: whether its link is up is not known here.
                None => return,
            },
        };
        out.insert(e.dom_id(), seen);
    };
    for (h, host) in s.hosts.iter().enumerate() {
        let Some(hs) = st.hosts.iter().find(|x| x.name == host.name) else {
            continue;
        };
        for (v, vm) in host.vms.iter().enumerate() {
            for n in 0..vm.nics.len() {
                put(
                    Elem::Nic(h, v, n),
                    find(&hs.vms, &vm.name),
                    &format!("eth{n}"),
                );
            }
        }
        for (r, rt) in host.routers.iter().enumerate() {
            for (i, ifc) in rt.interfaces.iter().enumerate() {
                put(
                    Elem::RIface(h, r, i),
                    find(&hs.routers, &rt.name),
                    &ifc.name,
                );
            }
        }
        for (d, dh) in host.dhcp.iter().enumerate() {
            put(Elem::DhcpLink(h, d), find(&hs.dhcp, &dh.name), "eth0");
        }
    }
    out
}

fn find<'a>(list: &'a [GuestStatus], name: &str) -> Option<&'a GuestStatus> {
    list.iter().find(|g| g.name == name)
}

/// From Verify: a vm cut off both ways (pings that should answer failed
/// both from it and to one of its addresses) has its links marked down. A
/// pair failing one way only does not say which end is at fault, so it
/// marks nothing: the matrix shows it.
pub fn from_verify(s: &TopologySpec, ds: &[Disagreement]) -> BTreeMap<String, Seen> {
    let lost = || {
        ds.iter()
            .filter(|d| d.proto.is_none() && d.real == Some(false) && d.simulation == Some(true))
    };
    let mut out = BTreeMap::new();
    for (h, host) in s.hosts.iter().enumerate() {
        for (v, vm) in host.vms.iter().enumerate() {
            // A vm's name in a report: `vm`, or `host/vm` when the name is on several hosts.
            let full = format!("{}/{}", host.name, vm.name);
            let from = lost()
                .filter(|d| d.from == vm.name || d.from == full)
                .count();
            let addrs: Vec<&str> = vm
                .nics
                .iter()
                .filter_map(|n| n.ip.as_deref()?.split_once('/').map(|(a, _)| a))
                .collect();
            let to = lost().filter(|d| addrs.contains(&d.to.as_str())).count();
            if from == 0 || to == 0 {
                continue;
            }
            for k in 0..vm.nics.len() {
                out.insert(
                    Elem::Nic(h, v, k).dom_id(),
                    Seen {
                        up: false,
                        why: format!(
                            "Verify: {from} pings from {} and {to} to it that should answer did not",
                            vm.name
                        ),
                    },
                );
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use netloom_core::api::{HostStatus, IfaceStatus};

    fn seedlab() -> TopologySpec {
        netloom_core::parse(include_str!("../../examples/seedlab-gre.yaml")).unwrap()
    }

    fn guest(name: &str, present: bool, up: Option<bool>) -> GuestStatus {
        GuestStatus {
            name: name.into(),
            netns: String::new(),
            present,
            interfaces: vec![IfaceStatus {
                name: "eth0".into(),
                addresses: vec![],
                lease: None,
                no_lease_predicted: false,
                up,
            }],
            processes: vec![],
        }
    }

    #[test]
    fn status_marks_present_interfaces_up_and_missing_ones_down() {
        let s = seedlab();
        let host = |name: &str, vms: Vec<GuestStatus>| HostStatus {
            name: name.into(),
            netns: String::new(),
            emulated: true,
            present: true,
            processes: vec![],
            vms,
            routers: vec![],
            dhcp: vec![],
        };
        let st = Status {
            topology: "seedlab".into(),
            deployed: true,
            hosts: vec![
                host(
                    "node1",
                    vec![
                        guest("vm1", true, Some(true)),
                        guest("vm2", true, Some(false)),
                    ],
                ),
                host(
                    "node2",
                    vec![guest("vm3", false, None), guest("vm4", true, None)],
                ),
            ],
            externals: vec![],
            drift: vec![],
        };
        let seen = from_status(&s, &st);
        let up = |h, v| seen[&Elem::Nic(h, v, 0).dom_id()].up;
        assert!(up(0, 0));
        assert!(!up(0, 1), "vm2's eth0 is down");
        assert!(!up(1, 0), "vm3 is not there");
        assert!(
            !seen.contains_key(&Elem::Nic(1, 1, 0).dom_id()),
            "vm4's link state is not known"
        );
        let nothing = Status {
            deployed: false,
            ..st
        };
        assert!(
            from_status(&s, &nothing).is_empty(),
            "nothing deployed: no marks"
        );
    }

    #[test]
    fn verify_marks_a_vm_cut_off_both_ways_and_nothing_for_one_way() {
        let s = seedlab();
        let d = |from: &str, to: &str, real, sim| Disagreement {
            from: from.into(),
            to: to.into(),
            proto: None,
            real: Some(real),
            simulation: Some(sim),
            simulation_detail: String::new(),
        };
        // vm3 (10.0.10.2) does not answer vm1: one way, no culprit.
        assert!(from_verify(&s, &[d("vm1", "10.0.10.2", false, true)]).is_empty());
        // vm1 (10.0.10.1) neither reaches vm3 nor is reached.
        let cut = [
            d("vm1", "10.0.10.2", false, true),
            d("vm3", "10.0.10.1", false, true),
            d("vm2", "10.0.10.1", true, false),
        ];
        let seen = from_verify(&s, &cut);
        assert_eq!(
            seen.len(),
            2,
            "vm1 and vm3 both lost a pair each way: {seen:?}"
        );
        let vm1 = &seen[&Elem::Nic(0, 0, 0).dom_id()];
        assert!(
            !vm1.up && vm1.why.contains("1 pings from vm1 and 1 to it"),
            "{vm1:?}"
        );
    }
}
