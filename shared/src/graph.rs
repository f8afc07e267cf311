//! A petgraph view of a topology, for the simulator and the UI.
//!
//! Nodes are hosts, bridges, guests and external networks; edges are
//! attachments (guest interface to bridge), tunnels, uplinks and the
//! containment of bridges and guests in their host.

use petgraph::graph::{NodeIndex, UnGraph};
use petgraph::unionfind::UnionFind;

use crate::topology::{BridgeId, ExternalId, GuestId, HostId, Topology, TunnelId};

/// A node of the graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Node {
    Host(HostId),
    Bridge(BridgeId),
    Guest(GuestId),
    External(ExternalId),
}

/// An edge of the graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Edge {
    /// Guest interface `iface` plugged into a bridge.
    Attachment {
        iface: usize,
    },
    Tunnel(TunnelId),
    Uplink,
    /// A bridge or guest lives on a host.
    Contains,
}

/// The graph and where each element's node is.
#[derive(Debug, Clone)]
pub struct TopologyGraph {
    pub graph: UnGraph<Node, Edge>,
    pub hosts: Vec<NodeIndex>,
    pub bridges: Vec<NodeIndex>,
    pub guests: Vec<NodeIndex>,
    pub externals: Vec<NodeIndex>,
}

impl TopologyGraph {
    pub fn new(topo: &Topology) -> Self {
        let mut graph = UnGraph::new_undirected();
        let hosts: Vec<_> = (0..topo.hosts.len())
            .map(|h| graph.add_node(Node::Host(h)))
            .collect();
        let bridges: Vec<_> = (0..topo.bridges.len())
            .map(|b| graph.add_node(Node::Bridge(b)))
            .collect();
        let guests: Vec<_> = (0..topo.guests.len())
            .map(|g| graph.add_node(Node::Guest(g)))
            .collect();
        let externals: Vec<_> = (0..topo.externals.len())
            .map(|e| graph.add_node(Node::External(e)))
            .collect();
        for (b, br) in topo.bridges.iter().enumerate() {
            graph.add_edge(hosts[br.host], bridges[b], Edge::Contains);
            if let Some(e) = br.uplink {
                graph.add_edge(bridges[b], externals[e], Edge::Uplink);
            }
        }
        for (g, guest) in topo.guests.iter().enumerate() {
            graph.add_edge(hosts[guest.host], guests[g], Edge::Contains);
            for (i, iface) in guest.ifaces.iter().enumerate() {
                graph.add_edge(
                    guests[g],
                    bridges[iface.bridge],
                    Edge::Attachment { iface: i },
                );
            }
        }
        for (t, tunnel) in topo.tunnels.iter().enumerate() {
            graph.add_edge(
                bridges[tunnel.ends[0]],
                bridges[tunnel.ends[1]],
                Edge::Tunnel(t),
            );
        }
        TopologyGraph {
            graph,
            hosts,
            bridges,
            guests,
            externals,
        }
    }
}

/// The layer-2 domain of each bridge: bridges joined by tunnels, or uplinked
/// to the same external network, share a number. Indexed by bridge.
pub fn segments(topo: &Topology) -> Vec<usize> {
    let nb = topo.bridges.len();
    let mut uf = UnionFind::<usize>::new(nb + topo.externals.len());
    for (b, br) in topo.bridges.iter().enumerate() {
        if let Some(e) = br.uplink {
            uf.union(b, nb + e);
        }
    }
    for t in &topo.tunnels {
        uf.union(t.ends[0], t.ends[1]);
    }
    (0..nb).map(|b| uf.find(b)).collect()
}
