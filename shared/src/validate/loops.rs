//! The layer-2 graph: bridges and externals joined by tunnels and uplinks
//! must form a forest (OVS runs no spanning tree here).

use petgraph::unionfind::UnionFind;

use super::Validator;
use crate::topology::*;

impl Validator<'_> {
    pub(super) fn check_loops(&mut self, bridges: &[Bridge], tunnels: &[Tunnel]) {
        let spec = self.spec;
        // Layer-2 loops: bridges and externals joined by tunnels and uplinks form a forest.
        // Uplinks index the file's externals, which may be more than the resolved ones.
        let mut uf = UnionFind::<usize>::new(bridges.len() + spec.externals.len());
        // A bridge has at most one uplink, so uplinks alone close no loop:
        // the tunnel that completes one is reported.
        for (b, br) in bridges.iter().enumerate() {
            if let Some(e) = br.uplink {
                uf.union(b, bridges.len() + e);
            }
        }
        for t in tunnels {
            if !uf.union(t.ends[0], t.ends[1]) {
                self.err(t.path.clone(), "this tunnel closes a loop of bridges (through tunnels and uplinks); OVS runs no spanning tree here, so broadcasts would circulate forever");
            }
        }
    }

    /// Layout positions must be finite numbers.
    pub(super) fn check_layout(&mut self) {
        let spec = self.spec;
        for (key, pos) in &spec.layout {
            if !pos.x.is_finite() || !pos.y.is_finite() {
                self.err(
                    format!("layout.{key}"),
                    "x and y must be finite numbers, not infinity or NaN",
                );
            }
        }
    }
}
