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

use std::fmt;
use std::net::SocketAddrV4;

use serde::{Deserialize, Serialize};

use crate::topology::{ExternalId, GuestId, HostId, Topology};

/// An existing OVN central that a design's real hosts join (`ovn:` in the
/// file), checked: netloom transacts on its northbound database and every
/// host's `ovn-controller` connects to its southbound one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Central {
    pub northbound: Remote,
    pub southbound: Remote,
    /// The files of an `ssl:` remote; `None` when both are `tcp:`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<Tls>,
}

/// An OVSDB server's address, as OVS writes it: `ssl:IP:PORT` or `tcp:IP:PORT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Remote {
    /// `ssl:` rather than `tcp:`.
    pub ssl: bool,
    pub addr: SocketAddrV4,
}

impl Remote {
    /// `ssl:IP:PORT` or `tcp:IP:PORT`, IPv4, a port other than 0.
    pub fn parse(s: &str) -> Result<Remote, String> {
        let bad = || format!("{s:?} is not ssl:IP:PORT or tcp:IP:PORT (IPv4)");
        let (ssl, rest) = match s.split_once(':') {
            Some(("ssl", rest)) => (true, rest),
            Some(("tcp", rest)) => (false, rest),
            _ => return Err(bad()),
        };
        let addr: SocketAddrV4 = rest.parse().map_err(|_| bad())?;
        if addr.port() == 0 {
            return Err(bad());
        }
        Ok(Remote { ssl, addr })
    }
}

impl fmt::Display for Remote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let proto = if self.ssl { "ssl" } else { "tcp" };
        write!(f, "{proto}:{}", self.addr)
    }
}

/// The PEM files an `ssl:` remote needs, at the same absolute paths on the
/// machine that runs netloom and on every host (each machine its own key and
/// certificate, signed by the central's CA, as `ovs-pki` makes them).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Tls {
    pub private_key: String,
    pub certificate: String,
    pub ca_certificate: String,
}

/// A path the agent may hand to `ovn-controller`: absolute, no `..`, no
/// control characters, at most 1,024 bytes, and not under `/proc`, `/sys`
/// or `/dev` (whose files never end, or are not PEM files).
pub fn tls_path_ok(p: &str) -> Result<(), String> {
    if !p.starts_with('/') {
        return Err(format!("{p:?} is not an absolute path"));
    }
    if ["/proc", "/sys", "/dev"].iter().any(|d| {
        p.strip_prefix(d)
            .is_some_and(|r| r.is_empty() || r.starts_with('/'))
    }) {
        return Err(format!(
            "{p:?} is under /proc, /sys or /dev, not a PEM file"
        ));
    }
    if p.len() > 1024 || p.chars().any(char::is_control) || p.split('/').any(|c| c == "..") {
        return Err(format!(
            "{p:?} must be at most 1,024 bytes, without control characters or `..`"
        ));
    }
    Ok(())
}

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

    #[test]
    fn remotes_are_ssl_or_tcp_with_an_ipv4_address_and_a_port() {
        let r = Remote::parse("ssl:10.0.0.1:6641").unwrap();
        assert!(r.ssl);
        assert_eq!(r.to_string(), "ssl:10.0.0.1:6641");
        assert!(!Remote::parse("tcp:127.0.0.1:6642").unwrap().ssl);
        for bad in [
            "unix:/run/ovn/nb.sock",
            "/run/ovn/nb.sock",
            "ssl:10.0.0.1",
            "tcp:nb.example:6641",
            "ptcp:6641",
            "ssl:[::1]:6641",
            "tcp:10.0.0.1:0",
        ] {
            let e = Remote::parse(bad).unwrap_err();
            assert!(e.contains(&format!("{bad:?}")), "{bad}: {e}");
        }
    }

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
