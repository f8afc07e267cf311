//! The intent (`expect`): every sender and destination names something of
//! the design, and no pair is both expected to reach and to be isolated.

use std::collections::HashMap;

use super::parse::show;
use super::Validator;
use crate::spec::PairSpec;
use crate::topology::{Expectation, Topology};

impl Validator<'_> {
    /// The intent's entries, reach first; a problem for each name that resolves to nothing.
    pub(super) fn expectations(&mut self, topo: &Topology) -> Vec<Expectation> {
        let Some(e) = &self.spec.expect else {
            return Vec::new();
        };
        let lists = [("reach", &e.reach, true), ("isolate", &e.isolate, false)];
        let mut out = Vec::new();
        let mut seen: HashMap<&PairSpec, String> = HashMap::new();
        for (key, pairs, reach) in lists {
            for (i, p) in pairs.iter().enumerate() {
                let path = format!("expect.{key}[{i}]");
                if let Err(e) = topo.resolve_node(&p.from) {
                    self.err(format!("{path}.from"), e);
                }
                if p.to.parse::<std::net::Ipv4Addr>().is_err() {
                    if let Err(e) = topo.resolve_node(&p.to) {
                        let msg = format!("{e}, and {} is not an IPv4 address", show(&p.to));
                        self.err(format!("{path}.to"), msg);
                    }
                }
                if let Some(first) = seen.get(p) {
                    let msg = format!("the same pair is already expected by {first}");
                    self.err(path.clone(), msg);
                } else {
                    seen.insert(p, path.clone());
                }
                out.push(Expectation {
                    from: p.from.clone(),
                    to: p.to.clone(),
                    reach,
                    path,
                });
            }
        }
        out
    }
}
