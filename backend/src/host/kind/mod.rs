//! One module per resource kind: how a step makes and removes it, how it is
//! read back, and the checks that confine it to its topology. The executor
//! ([`super::exec`]), the observer ([`super::observe`], whose snapshot each
//! kind's `map` reads) and the confinement ([`super::confine`]) dispatch
//! here by kind; what spans kinds (rank order, OVS transactions, reading a
//! namespace once) stays with them. When a kind's step runs within its rank
//! is [`timing`]'s.

pub mod addr;
pub mod agent;
pub mod dhcp_client;
pub mod dhcp_host;
pub mod dnsmasq;
pub mod namespace;
pub mod nft;
pub mod ovn_central;
pub mod ovn_chassis;
pub mod ovn_controller;
pub mod ovs;
pub mod ovs_daemons;
pub mod route;
pub mod run_dir;
pub mod segment;
pub mod sysctl;
pub mod tx_offload;
pub mod veth;
pub mod vxlan;

use netloom_core::plan::{Action, Resource, Step, TargetInfo};

use super::{nl, StepError};

/// When a step runs within its target's pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timing {
    /// With the other steps of its rank.
    InRank,
    /// After the target's other steps, once ovs-vswitchd has applied every
    /// configuration: it is on a device ovs-vswitchd makes.
    AfterVswitchd,
    /// Started in the background with the others of its kind while the
    /// rest goes on: nothing else of the sandbox's needs it.
    Background,
}

/// When step `s` of target `target` runs. Addresses, routes, rulesets and
/// DHCP in the host's own namespace, where ovs-vswitchd makes its devices
/// (the underlay bridge's port), wait for it to have applied every
/// configuration, this apply's or an earlier one it had not finished (a
/// killed apply's); guests' namespaces hold only veth ends, so theirs go on
/// meanwhile. The hosts' OVS daemons and agents start while the links are
/// made; the hosts' steps come after. A real host's OVN chassis waits for
/// its integration bridge likewise.
pub fn timing(s: &Step, target: &TargetInfo) -> Timing {
    let on_ovs_devices = !target.ovsdb.is_empty()
        && s.resource.netns() == Some(target.netns.as_str())
        && matches!(
            s.resource,
            Resource::Addr { .. }
                | Resource::Route { .. }
                | Resource::Nft { .. }
                | Resource::Dnsmasq { .. }
                | Resource::DhcpClient { .. }
        );
    match (&s.resource, s.action) {
        (_, Action::Delete) => Timing::InRank,
        (Resource::OvsDaemons { .. } | Resource::Agent { .. }, Action::Create) => {
            Timing::Background
        }
        // After the integration bridge: new OVS rows go on a thread of their
        // own from the start, and ovn-controller needs the bridge applied
        // (its `.mgmt` socket), or makes one of its own, unmarked.
        (Resource::OvnChassis { .. } | Resource::OvnController { .. }, _) => Timing::AfterVswitchd,
        _ if on_ovs_devices => Timing::AfterVswitchd,
        _ => Timing::InRank,
    }
}

/// Removes link `name` of namespace `netns`: a segment, a veth pair (both
/// ends) or a VXLAN device, all the same way.
pub fn delete_link(netns: &str, name: &str) -> Result<(), StepError> {
    let name = name.to_string();
    nl::with_netlink(netns, move |n| n.del_link(&name))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(ovsdb: &str) -> TargetInfo {
        TargetInfo {
            name: "h1".into(),
            agent: Some("unix:/run/netloom/t/h1/agent.sock".into()),
            emulated: true,
            netns: "nl-t.h1".into(),
            ovsdb: ovsdb.into(),
            datapath: "netdev".into(),
        }
    }

    fn timed(action: Action, resource: Resource, target: &TargetInfo) -> Timing {
        let s = Step {
            action,
            resource,
            was: None,
        };
        timing(&s, target)
    }

    #[test]
    fn what_is_on_ovs_devices_waits_and_daemons_start_in_the_background() {
        let addr = |ns: &str| Resource::Addr {
            netns: ns.into(),
            dev: "nl0000b1".into(),
            cidr: "10.0.0.1/24".parse().unwrap(),
        };
        let h = host("/run/netloom/t/h1/db.sock");
        let daemons = Resource::OvsDaemons {
            netns: "nl-t.h1".into(),
            dir: "/run/netloom/t/h1".into(),
            ovn: None,
        };
        // A real host's chassis: after its integration bridge.
        let controller = Resource::OvnController {
            dir: "/run/netloom/t/_ovn-controller".into(),
            tls: None,
        };
        for (action, resource, target, want) in [
            (Action::Create, addr("nl-t.h1"), &h, Timing::AfterVswitchd),
            (Action::Update, addr("nl-t.h1"), &h, Timing::AfterVswitchd),
            (Action::Delete, addr("nl-t.h1"), &h, Timing::InRank),
            // A guest's namespace holds only veth ends.
            (Action::Create, addr("nl-t.h1.vm1"), &h, Timing::InRank),
            // Without OVS there is nothing to wait for.
            (Action::Create, addr("nl-t.h1"), &host(""), Timing::InRank),
            (Action::Create, daemons.clone(), &h, Timing::Background),
            (Action::Update, daemons.clone(), &h, Timing::InRank),
            (Action::Delete, daemons, &h, Timing::InRank),
            (
                Action::Create,
                controller.clone(),
                &h,
                Timing::AfterVswitchd,
            ),
            (Action::Delete, controller, &h, Timing::InRank),
        ] {
            let said = format!("{action:?} {resource:?}");
            assert_eq!(timed(action, resource, target), want, "{said}");
        }
    }
}
