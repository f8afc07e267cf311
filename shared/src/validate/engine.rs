//! What `engine: ovn` cannot express (docs/topology-format.md, "Engines").
//!
//! Under OVN a segment is one logical switch per VLAN, joined between
//! chassis by Geneve ([`crate::ovn::logical`]). So a tunnel only says "these
//! bridges are one segment" (a warning says its type and key are unused);
//! a VLAN that only an external network's segment would carry between two
//! groups of bridges, two external networks in one segment, a guest that
//! would reach an external network from a host without an uplink to it,
//! and SNAT on a router with more than its two sides are refused.

use std::collections::HashMap;

use petgraph::unionfind::UnionFind;

use super::Validator;
use crate::ovn::{tls_path_ok, Central, Remote, Tls};
use crate::problem::Problem;
use crate::spec::{Engine, OvnSpec, TopologySpec};
use crate::topology::{GuestKind, Topology};

impl Validator<'_> {
    /// `ovn:`, an existing central: only under engine `ovn`, where it is
    /// the central of every host, so every host is a real one (an emulated
    /// host's underlay reaches no real network); without it, real hosts
    /// have no central to join.
    pub(super) fn central(&mut self, spec: &TopologySpec) -> Option<Central> {
        let ovn = spec.engine == Some(Engine::Ovn);
        for (i, h) in spec.hosts.iter().enumerate() {
            match (&spec.ovn, &h.agent) {
                (Some(_), None) if ovn => self.problems.push(Problem::error(
                    format!("hosts[{i}]"),
                    format!("{:?} is emulated, but `ovn` names an existing central, which only real hosts join: give it an agent, or remove `ovn` to use the sandbox's own central", h.name),
                )),
                (None, Some(_)) if ovn => self.problems.push(Problem::error(
                    format!("hosts[{i}].agent"),
                    "under engine ovn a real host joins an existing OVN central: give its address in `ovn` (northbound, southbound and, for ssl:, the TLS files)",
                )),
                _ => {}
            }
        }
        let o = spec.ovn.as_ref()?;
        if !ovn {
            self.problems.push(Problem::error(
                "ovn",
                "an OVN central is used only under `engine: ovn`",
            ));
            return None;
        }
        let mut remote = |key: &str, s: &str| match Remote::parse(s) {
            Ok(r) => Some(r),
            Err(e) => {
                self.problems.push(Problem::error(format!("ovn.{key}"), e));
                None
            }
        };
        let (nb, sb) = (
            remote("northbound", &o.northbound),
            remote("southbound", &o.southbound),
        );
        let tls = self.central_tls(o, nb.is_some_and(|r| r.ssl) || sb.is_some_and(|r| r.ssl));
        Some(Central {
            northbound: nb?,
            southbound: sb?,
            tls: tls?,
        })
    }

    /// The TLS files: each required by an `ssl:` remote, each a plain absolute path.
    fn central_tls(&mut self, o: &OvnSpec, ssl: bool) -> Option<Option<Tls>> {
        let mut ok = true;
        let mut file = |key: &str, v: &Option<String>| -> String {
            let path = format!("ovn.{key}");
            match v {
                None if ssl => {
                    self.problems
                        .push(Problem::error(path, "required with an ssl: remote"));
                    ok = false;
                }
                None => {}
                Some(p) => {
                    if let Err(e) = tls_path_ok(p) {
                        self.problems.push(Problem::error(path, e));
                        ok = false;
                    }
                }
            }
            v.clone().unwrap_or_default()
        };
        let tls = Tls {
            private_key: file("private_key", &o.private_key),
            certificate: file("certificate", &o.certificate),
            ca_certificate: file("ca_certificate", &o.ca_certificate),
        };
        ok.then(|| ssl.then_some(tls))
    }

    /// The rules of `engine: ovn`; nothing under the default engine.
    pub(super) fn check_engine(&mut self, topo: &Topology) {
        if topo.engine != Engine::Ovn {
            return;
        }
        self.ovn_tunnels(topo);
        self.ovn_vlans_through_externals(topo);
        self.ovn_externals(topo);
        self.ovn_snat(topo);
    }

    /// A tunnel is kept as "one segment"; its type and key are not used.
    fn ovn_tunnels(&mut self, topo: &Topology) {
        for t in &topo.tunnels {
            let [a, b] = t.ends.map(|e| {
                let br = &topo.bridges[e];
                format!("{}/{}", topo.hosts[br.host].name, br.name)
            });
            self.problems.push(Problem::warning(
                t.path.clone(),
                format!("under engine ovn this tunnel only makes {a} and {b} one segment: OVN joins every pair of chassis with Geneve, so its {} is not used", t.kind),
            ));
        }
    }

    /// A VLAN used on two groups of bridges (joined by tunnels) that only an
    /// external network joins: OVS carries it tagged through the uplinks;
    /// OVN's localnet port carries the segment's untagged network only.
    fn ovn_vlans_through_externals(&mut self, topo: &Topology) {
        let segment = crate::graph::segments(topo);
        let mut uf = UnionFind::<usize>::new(topo.bridges.len());
        for t in &topo.tunnels {
            uf.union(t.ends[0], t.ends[1]);
        }
        let mut first: HashMap<(usize, u16), (usize, &str)> = HashMap::new();
        for iface in topo.guests.iter().flat_map(|g| &g.ifaces) {
            let Some(vlan) = iface.vlan else { continue };
            let group = uf.find(iface.bridge);
            let (g0, p0) = *first
                .entry((segment[iface.bridge], vlan))
                .or_insert((group, &iface.path));
            if g0 != group {
                let ext = (topo.bridges.iter().enumerate())
                    .find(|(b, br)| br.uplink.is_some() && segment[*b] == segment[iface.bridge])
                    .and_then(|(_, br)| br.uplink)
                    .map(|e| topo.externals[e].name.as_str())
                    .unwrap_or_default();
                self.err(
                    format!("{}.vlan", iface.path),
                    format!("under engine ovn, VLAN {vlan} here and at {p0} would be joined only through external network {ext:?}, which OVN does not carry VLANs over: join their bridges with a tunnel, or use another VLAN"),
                );
            }
        }
    }

    /// One external network per segment, reached from hosts that map it.
    fn ovn_externals(&mut self, topo: &Topology) {
        let segment = crate::graph::segments(topo);
        let mut ext_of: HashMap<usize, usize> = HashMap::new();
        for (b, br) in topo.bridges.iter().enumerate() {
            let Some(e) = br.uplink else { continue };
            let seg = segment[b];
            match ext_of.get(&seg) {
                Some(&other) if other != e => self.err(
                    format!("{}.uplink", br.path),
                    format!("under engine ovn, external networks {:?} and {:?} would be one segment: a logical switch reaches one physical network", topo.externals[other].name, topo.externals[e].name),
                ),
                _ => {
                    ext_of.insert(seg, e);
                }
            }
        }
        for g in &topo.guests {
            for iface in g.ifaces.iter().filter(|i| i.vlan.is_none()) {
                let Some(&e) = ext_of.get(&segment[iface.bridge]) else {
                    continue;
                };
                let host = &topo.hosts[g.host];
                if host
                    .bridges
                    .iter()
                    .all(|&b| topo.bridges[b].uplink != Some(e))
                {
                    self.err(
                        iface.path.clone(),
                        format!("under engine ovn, this interface is on the segment of external network {:?} but host {:?} has no bridge uplinked to it: OVN reaches a physical network only from the chassis that map it; uplink a bridge of {:?} to it, or move the interface", topo.externals[e].name, host.name, host.name),
                    );
                }
            }
        }
    }

    /// An OVN gateway router masquerades `source` whatever interface a
    /// packet leaves by: the same as "leaving by `out`" only when the router
    /// has no third interface to leave by.
    fn ovn_snat(&mut self, topo: &Topology) {
        for g in &topo.guests {
            let GuestKind::Router(nat) = &g.kind else {
                continue;
            };
            if g.ifaces.len() <= 2 {
                continue;
            }
            for (s, _) in nat.snat.iter().enumerate() {
                self.err(
                    format!("{}.snat[{s}]", g.path),
                    format!("under engine ovn, a router with snat has two interfaces at most ({} has {}): an OVN gateway router translates `source` whatever interface a packet leaves by, so traffic between its other interfaces would be translated too", g.name, g.ifaces.len()),
                );
            }
        }
    }
}
