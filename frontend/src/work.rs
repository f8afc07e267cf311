//! The work done in the app's web worker, and its messages. The app sends a
//! design with a job ([`Request`]); the worker decodes and validates it (the
//! last design is kept, so a run of probes on one design decodes it once), runs `netloom_core`'s simulator or reach, and answers with a trace
//! prepared for playing or a [`Grid`]. A grid crosses as JSON for its names
//! plus two typed arrays for its cells, moved (transferred), not copied.

use netloom_core::sim::{simulate, Probe};
use netloom_core::spec::{Engine, TopologySpec};
use netloom_core::topology::{NodeRef, Topology};
use netloom_core::trace::{Action, Disposition, NodeKind, Trace};
use serde::{Deserialize, Serialize};
use wasm_bindgen::{JsCast, JsValue};

use crate::fixes::{intent_offers, offers, Offer};
use crate::grid::Grid;
use crate::model;

/// The worker's script (Trunk's loader shim of the `netloom-worker` binary).
/// The server gives this one file the policy a worker needs to run wasm.
pub const WORKER_SCRIPT: &str = "/netloom-worker_loader.js";

/// The worker's first message: it listens from now on.
pub const READY: &str = "ready";

#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Job {
    /// One probe, as `Probe::parse` takes it.
    Simulate {
        from: String,
        to: String,
        proto: String,
        /// IPv4 length of an icmp or udp probe; `None`: the default.
        size: Option<u16>,
        /// The request's TTL; `None`: 64.
        ttl: Option<u16>,
    },
    /// The whole reachability matrix.
    Reach,
    /// Proven fixes of a probe that fails (fields as for `Simulate`);
    /// `then` says in their words what each makes work (`vm1 → vm3 then reaches`).
    Fix {
        from: String,
        to: String,
        proto: String,
        size: Option<u16>,
        ttl: Option<u16>,
        then: String,
    },
    /// Proven fixes of the design's intent (`expect:`).
    FixIntent,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Request {
    pub id: u32,
    /// The design as JSON ([`design_json`]: no YAML parser in the worker).
    pub text: String,
    pub job: Job,
}

/// A trace prepared for playing: where each hop is drawn and where it came from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Played {
    pub trace: Trace,
    /// Layout id of each hop's node.
    pub keys: Vec<String>,
    /// The earlier hop that handed the frame to each hop (flood copies branch).
    pub parents: Vec<Option<usize>>,
    /// For a hop reached through a tunnel: the tunnel's label, or `Geneve`
    /// under OVN (the capsule).
    pub capsule: Vec<Option<String>>,
    /// The hop where the probe was dropped.
    pub drop_hop: Option<usize>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Answer {
    Played(Box<Played>),
    Grid(Box<Grid>),
    /// The proven fixes, best first; none when nothing small is proven.
    Fixes(Vec<Offer>),
    /// Why the job could not run (a bad probe, a design with errors).
    Failed(String),
}

/// The worker's state: the last design, parsed and validated.
#[derive(Default)]
pub struct Worker {
    last: Option<(String, TopologySpec, Topology)>,
}

impl Worker {
    pub fn run(&mut self, req: Request) -> Answer {
        let (spec, topo) = match self.design(req.text) {
            Ok(d) => d,
            Err(e) => return Answer::Failed(e),
        };
        match req.job {
            Job::Simulate {
                from,
                to,
                proto,
                size,
                ttl,
            } => match probe(topo, &from, &to, &proto, size, ttl) {
                Ok(probe) => Answer::Played(Box::new(prepare(topo, spec, simulate(topo, &probe)))),
                Err(e) => Answer::Failed(e),
            },
            Job::Reach => Answer::Grid(Box::new(Grid::predict(topo))),
            Job::Fix {
                from,
                to,
                proto,
                size,
                ttl,
                then,
            } => match probe(topo, &from, &to, &proto, size, ttl) {
                Ok(probe) => Answer::Fixes(offers(topo, &probe, &then)),
                Err(e) => Answer::Failed(e),
            },
            Job::FixIntent => Answer::Fixes(intent_offers(topo)),
        }
    }

    fn design(&mut self, text: String) -> Result<(&TopologySpec, &Topology), String> {
        if self.last.as_ref().is_none_or(|(t, _, _)| *t != text) {
            self.last = None;
            let errors = || "the design has errors: fix the problems listed first".to_string();
            let spec: TopologySpec = serde_json::from_str(&text).map_err(|_| errors())?;
            let topo = netloom_core::validate(&spec)
                .map_err(|_| errors())?
                .topology;
            self.last = Some((text, spec, topo));
        }
        let (_, spec, topo) = self.last.as_ref().expect("just set");
        Ok((spec, topo))
    }
}

/// A probe as asked: `Probe::parse`'s fields and the request's TTL.
fn probe(
    topo: &Topology,
    from: &str,
    to: &str,
    proto: &str,
    size: Option<u16>,
    ttl: Option<u16>,
) -> Result<Probe, String> {
    Probe::parse(topo, from, to, proto, size).and_then(|p| p.with_ttl(ttl))
}

/// A design as the worker takes it.
pub fn design_json(spec: &TopologySpec) -> String {
    serde_json::to_string(spec).unwrap_or_default()
}

/// The layout id of the node a hop names.
fn hop_key(topo: &Topology, kind: NodeKind, node: &str) -> String {
    match kind {
        NodeKind::Bridge | NodeKind::Dhcp | NodeKind::Router => node.to_string(),
        NodeKind::Segment => format!("ext:{}", node.trim_end_matches(" (segment)")),
        NodeKind::External => format!("ext:{node}"),
        NodeKind::Vm => match topo.resolve_node(node) {
            Ok(NodeRef::Guest(g)) => {
                let guest = &topo.guests[g];
                format!("{}/{}", topo.hosts[guest.host].name, guest.name)
            }
            _ => node.to_string(),
        },
    }
}

pub fn prepare(topo: &Topology, spec: &TopologySpec, trace: Trace) -> Played {
    let keys: Vec<String> = trace
        .hops
        .iter()
        .map(|h| hop_key(topo, h.kind, &h.node))
        .collect();
    let links = model::links(spec);
    let key_of = |e: model::Elem| e.key(spec).unwrap_or_default();
    let adjacent = |a: &str, b: &str| {
        a == b
            || links.iter().any(|l| {
                let (x, y) = (key_of(l.a), key_of(l.b));
                (x == a && y == b) || (x == b && y == a)
            })
    };
    let parents: Vec<Option<usize>> = (0..keys.len())
        .map(|i| (0..i).rev().find(|&j| adjacent(&keys[j], &keys[i])))
        .collect();
    let capsule = (0..keys.len())
        .map(|i| {
            let p = parents[i]?;
            links
                .iter()
                .find(|l| {
                    l.tunnel && {
                        let (x, y) = (key_of(l.a), key_of(l.b));
                        (x == keys[p] && y == keys[i]) || (x == keys[i] && y == keys[p])
                    }
                })
                .map(|l| match topo.engine {
                    // OVN carries it in Geneve whatever the design's tunnel says.
                    Engine::Ovn => "Geneve".to_string(),
                    Engine::Ovs => l.label.clone(),
                })
        })
        .collect();
    let drop_hop = match &trace.disposition {
        Disposition::Delivered { .. } => None,
        Disposition::Dropped { node, .. } => trace
            .hops
            .iter()
            .rposition(|h| h.steps.iter().any(|s| s.action == Action::Drop))
            .or_else(|| trace.hops.iter().rposition(|h| &h.node == node))
            .or(Some(keys.len().saturating_sub(1))),
    };
    Played {
        trace,
        keys,
        parents,
        capsule,
        drop_hop,
    }
}

/// The message's fields: `id`, `json`, and for a grid `cells` (`Uint8Array`)
/// and `detail` (`Uint32Array`).
fn set(obj: &js_sys::Object, key: &str, value: &JsValue) {
    let _ = js_sys::Reflect::set(obj, &JsValue::from_str(key), value);
}

fn get(obj: &JsValue, key: &str) -> JsValue {
    js_sys::Reflect::get(obj, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

/// The worker's answer as a message, and the buffers to transfer with it.
pub fn encode(id: u32, answer: Answer) -> (JsValue, js_sys::Array) {
    let obj = js_sys::Object::new();
    let transfer = js_sys::Array::new();
    set(&obj, "id", &JsValue::from(id));
    let answer = match answer {
        Answer::Grid(mut g) => {
            let cells = js_sys::Uint8Array::from(std::mem::take(&mut g.cells).as_slice());
            let detail = js_sys::Uint32Array::from(std::mem::take(&mut g.detail_of).as_slice());
            transfer.push(&cells.buffer());
            transfer.push(&detail.buffer());
            set(&obj, "cells", &cells);
            set(&obj, "detail", &detail);
            Answer::Grid(g)
        }
        other => other,
    };
    let json = serde_json::to_string(&answer).unwrap_or_else(|e| {
        serde_json::to_string(&Answer::Failed(format!("cannot encode the answer: {e}")))
            .unwrap_or_default()
    });
    set(&obj, "json", &JsValue::from_str(&json));
    (obj.into(), transfer)
}

/// An answer message back into its id and answer.
pub fn decode(msg: &JsValue) -> Option<(u32, Answer)> {
    let id = get(msg, "id").as_f64()? as u32;
    let json = get(msg, "json").as_string()?;
    let answer = match serde_json::from_str::<Answer>(&json) {
        Ok(Answer::Grid(mut g)) => {
            g.cells = get(msg, "cells")
                .dyn_into::<js_sys::Uint8Array>()
                .ok()?
                .to_vec();
            g.detail_of = get(msg, "detail")
                .dyn_into::<js_sys::Uint32Array>()
                .ok()?
                .to_vec();
            g.index();
            Answer::Grid(g)
        }
        Ok(other) => other,
        Err(e) => Answer::Failed(format!("unreadable answer from the worker: {e}")),
    };
    Some((id, answer))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The capsules of vm1 → vm3 on the seed lab under `engine`.
    fn capsules(engine: Engine) -> Vec<String> {
        let mut spec =
            netloom_core::parse(include_str!("../../examples/seedlab-gre.yaml")).unwrap();
        spec.engine = Some(engine);
        let topo = netloom_core::validate(&spec).unwrap().topology;
        let probe = Probe::parse(&topo, "vm1", "vm3", "icmp", None).unwrap();
        let played = prepare(&topo, &spec, simulate(&topo, &probe));
        played.capsule.into_iter().flatten().collect()
    }

    #[test]
    fn the_packet_crosses_in_the_designs_tunnel_under_ovs_and_in_geneve_under_ovn() {
        let ovs = capsules(Engine::Ovs);
        assert!(
            !ovs.is_empty() && ovs.iter().all(|c| c == "GRE key 5"),
            "{ovs:?}"
        );
        let ovn = capsules(Engine::Ovn);
        assert!(
            !ovn.is_empty() && ovn.iter().all(|c| c == "Geneve"),
            "{ovn:?}"
        );
    }
}
