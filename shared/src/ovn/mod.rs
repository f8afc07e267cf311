//! The OVN engine (`engine: ovn`): the design as OVN logical switches and
//! routers, and the northbound transaction that makes them. Pure, like the
//! rest of the core: the backend runs the transaction and configures each
//! host's `ovn-controller` from [`chassis`].
//!
//! - [`logical`]: the logical model of a topology (switches per segment and
//!   VLAN, ports, gateway routers, NAT, load balancers) and each host's chassis.
//! - [`nb`]: that model as northbound rows, the rows netloom finds in the
//!   database, and the one transaction that turns the second into the first.
//!
//! Names of logical objects are readable and joined with `.`, which no name
//! in a file contains, so they never collide between topologies or kinds
//! (`seedlab.node1.br-in.v10`, `seedlab.node1.vm1.eth0`).

pub mod logical;
pub mod nb;

pub use logical::{chassis, logical, Chassis, Logical};

use crate::topology::{ExternalId, GuestId, HostId, Topology};

/// The key of `external_ids` that marks every northbound row netloom writes;
/// its value is the topology's name.
pub const MARK: &str = "netloom-topology";

/// The chassis name (`external_ids:system-id` of the host's Open vSwitch) of
/// a host: `<topology>.<host>`.
pub fn system_id(topo: &Topology, host: HostId) -> String {
    format!("{}.{}", topo.name, topo.hosts[host].name)
}

/// The logical switch port of a vm's or dhcp server's interface, which the
/// host's OVS interface names in `external_ids:iface-id`:
/// `<topology>.<host>.<vm>.<nic>` or `<topology>.<host>.dhcp.<server>.<nic>`
/// (the guest's namespace name without `nl-`, then the interface).
pub fn iface_id(topo: &Topology, guest: GuestId, nic: usize) -> String {
    let g = &topo.guests[guest];
    let ns = g.netns.strip_prefix("nl-").unwrap_or(&g.netns);
    format!("{ns}.{}", g.ifaces[nic].name)
}

/// The physical network name of an external network, in `localnet` ports'
/// `options:network_name` and chassis' `ovn-bridge-mappings`: `<topology>._ext.<external>`.
pub fn physnet(topo: &Topology, external: ExternalId) -> String {
    format!("{}._ext.{}", topo.name, topo.externals[external].name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seedlab() -> Topology {
        let text = include_str!("../../../examples/dhcp.yaml");
        crate::load(text).unwrap().topology
    }

    #[test]
    fn names_carry_the_topology_and_the_guest_kind() {
        let t = seedlab();
        let vm2 = t.find_guest("node2", "vm2").unwrap();
        let dhcp = t.find_guest("node1", "dhcp10").unwrap();
        assert_eq!(iface_id(&t, vm2, 0), "dhcplab.node2.vm2.eth0");
        assert_eq!(iface_id(&t, dhcp, 0), "dhcplab.node1.dhcp.dhcp10.eth0");
        assert_eq!(system_id(&t, 1), "dhcplab.node2");
    }
}
