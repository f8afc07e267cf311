//! Tunnels: kinds, keys, ends on two hosts' bridges, one per remote, type and key.

use std::collections::HashMap;

use super::parse::show;
use super::Validator;
use crate::spec::TunnelSpec;
use crate::topology::*;

impl Validator<'_> {
    /// The file's tunnels, resolved against the bridges.
    pub(super) fn tunnels(
        &mut self,
        bridges: &[Bridge],
        bridge_index: &HashMap<(usize, &str), BridgeId>,
    ) -> Vec<Tunnel> {
        let spec = self.spec;
        let mut tunnels = Vec::new();
        let mut tunnel_keys: HashMap<(usize, usize, &'static str, u64), String> = HashMap::new();
        for (t, tu) in spec.tunnels.iter().enumerate() {
            let tp = format!("tunnels[{t}]");
            let kind = self.tunnel_kind(&tp, tu);
            if tu.between.len() != 2 {
                self.err(
                    format!("{tp}.between"),
                    format!("a tunnel joins exactly two ends, not {}", tu.between.len()),
                );
                continue;
            }
            let Some(ends) = self.tunnel_ends(&tp, tu, bridge_index) else {
                continue;
            };
            let (h0, h1) = (bridges[ends[0]].host, bridges[ends[1]].host);
            if h0 == h1 {
                self.err(
                    format!("{tp}.between"),
                    format!(
                        "both ends are on host {}: a tunnel joins bridges of two different hosts",
                        show(&spec.hosts[h0].name)
                    ),
                );
                continue;
            }
            let Some(kind) = kind else { continue };
            let (ty, id) = match kind {
                TunnelKind::Gre { key } => ("gre", u64::from(key.unwrap_or(0))),
                TunnelKind::Vxlan { vni } => ("vxlan", u64::from(vni)),
            };
            let pair = (h0.min(h1), h0.max(h1), ty, id);
            if let Some(first) = tunnel_keys.get(&pair) {
                let what = if ty == "gre" { "key" } else { "vni" };
                self.err(&tp, format!("{first} already joins these two hosts with {ty} {what} {id}: OVS refuses a second tunnel with the same remote, type and {what}; use another {what}"));
            } else {
                tunnel_keys.insert(pair, tp.clone());
            }
            tunnels.push(Tunnel {
                kind,
                ends,
                ports: [String::new(), String::new()],
                path: tp,
            });
        }
        tunnels
    }

    /// A tunnel's kind with its key or VNI.
    fn tunnel_kind(&mut self, tp: &str, tu: &TunnelSpec) -> Option<TunnelKind> {
        match tu.kind.as_str() {
            "gre" => {
                if tu.vni.is_some() {
                    self.err(
                        format!("{tp}.vni"),
                        "vni is for vxlan tunnels; a gre tunnel takes key",
                    );
                }
                match tu.key {
                    None => Some(TunnelKind::Gre { key: None }),
                    Some(k) if (0..=u32::MAX as i64).contains(&k) => Some(TunnelKind::Gre {
                        key: Some(k as u32),
                    }),
                    Some(k) => {
                        self.err(
                            format!("{tp}.key"),
                            format!("GRE key {k} is outside 0..4294967295"),
                        );
                        None
                    }
                }
            }
            "vxlan" => {
                if tu.key.is_some() {
                    self.err(
                        format!("{tp}.key"),
                        "key is for gre tunnels; a vxlan tunnel takes vni",
                    );
                }
                match tu.vni {
                    None => {
                        self.err(tp, "a vxlan tunnel needs a vni (0..16777215)");
                        None
                    }
                    Some(v) if (0..=16_777_215).contains(&v) => {
                        Some(TunnelKind::Vxlan { vni: v as u32 })
                    }
                    Some(v) => {
                        self.err(
                            format!("{tp}.vni"),
                            format!("VNI {v} is outside 0..16777215"),
                        );
                        None
                    }
                }
            }
            other => {
                self.err(
                    format!("{tp}.type"),
                    format!("{} is not a tunnel type: use gre or vxlan", show(other)),
                );
                None
            }
        }
    }

    /// The bridges a tunnel joins, when both ends name one.
    fn tunnel_ends(
        &mut self,
        tp: &str,
        tu: &TunnelSpec,
        bridge_index: &HashMap<(usize, &str), BridgeId>,
    ) -> Option<[usize; 2]> {
        let spec = self.spec;
        let mut ends = [usize::MAX; 2];
        for (e, end) in tu.between.iter().enumerate() {
            let ep = format!("{tp}.between[{e}]");
            let Some((hname, bname)) = end.split_once('/') else {
                self.err(
                    ep,
                    format!(
                        "{} is not a tunnel end: write host/bridge, like node1/br-in",
                        show(end)
                    ),
                );
                continue;
            };
            let Some(h) = spec.hosts.iter().position(|x| x.name == hname) else {
                let known: Vec<&str> = spec.hosts.iter().map(|x| x.name.as_str()).collect();
                self.err(
                    ep,
                    format!("no host {} (hosts: {})", show(hname), known.join(", ")),
                );
                continue;
            };
            match bridge_index.get(&(h, bname)) {
                Some(&b) => ends[e] = b,
                None => {
                    let known: Vec<&str> = spec.hosts[h]
                        .bridges
                        .iter()
                        .map(|b| b.name.as_str())
                        .collect();
                    self.err(
                        ep,
                        format!(
                            "host {} has no bridge {} (its bridges: {})",
                            show(hname),
                            show(bname),
                            known.join(", ")
                        ),
                    );
                }
            }
        }
        (!ends.contains(&usize::MAX)).then_some(ends)
    }
}
