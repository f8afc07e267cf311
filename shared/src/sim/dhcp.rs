//! Lease prediction: which address and router each `ip: dhcp` interface gets.
//!
//! Real behaviour this follows (spec "Meaning", machine facts): dnsmasq runs
//! with `--dhcp-sequential-ip`, so a server hands out the lowest free address
//! of its range; clients ask in file order (hosts, vms, nics). A DISCOVER is a
//! broadcast, so it reaches exactly the servers on the client's layer-2
//! segment in the same VLAN (a server on an untagged port gets other VLANs'
//! broadcasts tagged and drops them). When several servers offer, the client
//! takes the first offer, which is a race in reality; netloom resolves it as
//! the first server in file order. A server whose range is used up offers nothing.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use crate::graph::segments;
use crate::topology::{GuestId, GuestKind, IfaceAddr, Topology};

/// One predicted lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// The vm that asked.
    pub client: GuestId,
    /// Index of its interface.
    pub iface: usize,
    /// The dhcp guest that answered.
    pub server: GuestId,
    /// The address with the server's prefix length.
    pub addr: Ipv4Net,
    /// Router option (the server's `gateway`), which becomes the default route.
    pub router: Option<Ipv4Addr>,
}

/// Leases in the order the clients get them.
pub fn leases(topo: &Topology) -> Vec<Lease> {
    allocate(topo).leases
}

/// Leases plus, per dhcp guest, the next address it would offer.
pub(crate) struct Allocation {
    pub leases: Vec<Lease>,
    /// Indexed by guest; `None` for non-servers and exhausted ranges.
    pub next_free: Vec<Option<Ipv4Addr>>,
}

/// Layer-2 domain of a guest interface: (segment, VLAN; 0 for untagged).
pub(crate) fn iface_domain(seg: &[usize], topo: &Topology, g: GuestId, i: usize) -> (usize, u16) {
    let iface = &topo.guests[g].ifaces[i];
    (seg[iface.bridge], iface.vlan.unwrap_or(0))
}

pub(crate) fn allocate(topo: &Topology) -> Allocation {
    let seg = segments(topo);
    let mut next_free: Vec<Option<Ipv4Addr>> = topo
        .guests
        .iter()
        .map(|g| match &g.kind {
            GuestKind::Dhcp(d) => Some(d.range.0),
            _ => None,
        })
        .collect();
    let servers: Vec<GuestId> = (0..topo.guests.len())
        .filter(|&g| matches!(topo.guests[g].kind, GuestKind::Dhcp(_)))
        .collect();
    let mut leases = Vec::new();
    for (c, guest) in topo.guests.iter().enumerate() {
        for (i, iface) in guest.ifaces.iter().enumerate() {
            if iface.addr != IfaceAddr::Dhcp {
                continue;
            }
            let domain = iface_domain(&seg, topo, c, i);
            let server = servers
                .iter()
                .copied()
                .find(|&s| next_free[s].is_some() && iface_domain(&seg, topo, s, 0) == domain);
            let Some(s) = server else { continue };
            let GuestKind::Dhcp(d) = &topo.guests[s].kind else {
                continue;
            };
            let Some(net) = topo.guests[s].ifaces[0].addr.static_net() else {
                continue;
            };
            let Some(addr) = next_free[s] else { continue };
            // Ranges exclude static addresses (validated), so the next free one is simply the next.
            next_free[s] = u32::from(addr)
                .checked_add(1)
                .map(Ipv4Addr::from)
                .filter(|n| *n <= d.range.1);
            leases.push(Lease {
                client: c,
                iface: i,
                server: s,
                addr: Ipv4Net::new(addr, net.prefix_len()).unwrap_or(net),
                router: d.gateway,
            });
        }
    }
    Allocation { leases, next_free }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topo(yaml: &str) -> Topology {
        crate::load(yaml).unwrap().topology
    }

    #[test]
    fn lowest_free_address_in_file_order_and_exhaustion() {
        let t = topo(
            r#"
version: 1
name: d
hosts:
  - name: h
    bridges: [{name: b}]
    vms:
      - {name: a, nics: [{bridge: b, ip: dhcp}]}
      - {name: c, nics: [{bridge: b, ip: dhcp}, {bridge: b, vlan: 5, ip: dhcp}]}
      - {name: e, nics: [{bridge: b, ip: dhcp}]}
    dhcp:
      - {name: s, bridge: b, ip: 10.0.0.2/24, range: [10.0.0.10, 10.0.0.11], gateway: 10.0.0.1}
"#,
        );
        let l = leases(&t);
        assert_eq!(l.len(), 2, "{l:?}");
        assert_eq!(
            (l[0].client, l[0].iface, l[0].addr.to_string()),
            (0, 0, "10.0.0.10/24".into())
        );
        assert_eq!(
            (l[1].client, l[1].iface, l[1].addr.to_string()),
            (1, 0, "10.0.0.11/24".into())
        );
        assert_eq!(l[0].router, Some(Ipv4Addr::new(10, 0, 0, 1)));
    }
}
