//! Simulation mode (after Packet Tracer's): pick a probe, run
//! `netloom_core::sim::simulate` in the browser, and play the trace on the
//! canvas hop by hop, with an event list, a per-layer inspector and the
//! reachability matrix from `netloom_core::reach`.

use std::collections::{BTreeMap, BTreeSet};

use leptos::prelude::*;
use netloom_core::reach::{ReachReport, ReachResult};
use netloom_core::sim::{simulate, Probe};
use netloom_core::topology::{NodeRef, Topology};
use netloom_core::trace::{Action, Disposition, Layer, NodeKind, Trace};

use crate::canvas::pos_of;
use crate::model;
use crate::state::Ctx;

/// A trace prepared for playing: where each hop is drawn and where it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Played {
    pub trace: Trace,
    /// Layout id of each hop's node.
    pub keys: Vec<String>,
    /// The earlier hop that handed the frame to each hop (flood copies branch).
    pub parents: Vec<Option<usize>>,
    /// For a hop reached through a tunnel: the tunnel's label (the capsule).
    pub capsule: Vec<Option<String>>,
    /// The hop where the probe was dropped.
    pub drop_hop: Option<usize>,
}

/// Simulation state, shared through context.
#[derive(Clone, Copy)]
pub struct Sim {
    pub from: RwSignal<String>,
    pub to: RwSignal<String>,
    pub proto: RwSignal<String>,
    pub port: RwSignal<String>,
    pub played: RwSignal<Option<Played>>,
    /// Position in hops: hop k is reached at k; between, the packet travels.
    pub cursor: RwSignal<f64>,
    pub playing: RwSignal<bool>,
    /// Hops per second.
    pub speed: RwSignal<f64>,
    pub picked: RwSignal<Option<(usize, usize)>>,
    /// Protocol classes hidden from the event list.
    pub hidden: RwSignal<BTreeSet<&'static str>>,
    pub error: RwSignal<Option<String>>,
    pub matrix: RwSignal<Option<ReachReport>>,
    /// The measured report from Verify, overlaid on the matrix (filled in
    /// pair by pair while Verify runs).
    pub real: RwSignal<Option<ReachReport>>,
    /// Pairs measured and in all by the running or last Verify.
    pub probes: RwSignal<Option<(usize, usize)>>,
}

impl Sim {
    pub fn new() -> Sim {
        Sim {
            from: RwSignal::new(String::new()),
            to: RwSignal::new(String::new()),
            proto: RwSignal::new("icmp".into()),
            port: RwSignal::new("80".into()),
            played: RwSignal::new(None),
            cursor: RwSignal::new(0.0),
            playing: RwSignal::new(false),
            speed: RwSignal::new(1.5),
            picked: RwSignal::new(None),
            hidden: RwSignal::new(BTreeSet::new()),
            error: RwSignal::new(None),
            matrix: RwSignal::new(None),
            real: RwSignal::new(None),
            probes: RwSignal::new(None),
        }
    }

    fn last(&self) -> f64 {
        self.played.with_untracked(|p| {
            p.as_ref()
                .map(|p| p.keys.len().saturating_sub(1))
                .unwrap_or(0)
        }) as f64
    }

    pub fn play(&self) {
        if self.cursor.get_untracked() >= self.last() {
            self.cursor.set(0.0);
        }
        self.playing.set(true);
        self.picked.set(None);
        tick(*self, now());
    }

    pub fn step(&self, dir: f64) {
        self.playing.set(false);
        self.picked.set(None);
        let c = self.cursor.get_untracked();
        let next = if dir > 0.0 {
            c.floor() + 1.0
        } else {
            c.ceil() - 1.0
        };
        self.cursor.set(next.clamp(0.0, self.last()));
    }

    pub fn reset(&self) {
        self.playing.set(false);
        self.picked.set(None);
        self.cursor.set(0.0);
    }

    /// Run one probe and start playing it.
    pub fn run(&self, ctx: Ctx, from: &str, to: &str, proto: &str) {
        self.error.set(None);
        let Some(topo) = ctx.check.with_untracked(|c| c.topo.clone()) else {
            self.error.set(Some(
                "the design has errors: fix the problems listed first".into(),
            ));
            return;
        };
        match Probe::parse(&topo, from, to, proto, None) {
            Ok(probe) => {
                let trace = simulate(&topo, &probe);
                let spec = ctx.spec.get_untracked();
                self.played.set(Some(prepare(&topo, &spec, trace)));
                self.cursor.set(0.0);
                ctx.tab.set("sim");
                self.play();
            }
            Err(e) => self.error.set(Some(e)),
        }
    }
}

fn now() -> f64 {
    window().performance().map(|p| p.now()).unwrap_or(0.0)
}

fn tick(sim: Sim, last: f64) {
    request_animation_frame(move || {
        if !sim.playing.get_untracked() {
            return;
        }
        let t = now();
        let dt = ((t - last) / 1000.0).min(0.1);
        let end = sim.last();
        let c = (sim.cursor.get_untracked() + dt * sim.speed.get_untracked()).min(end);
        sim.cursor.set(c);
        if c >= end {
            sim.playing.set(false);
        } else {
            tick(sim, t);
        }
    });
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

pub fn prepare(topo: &Topology, spec: &netloom_core::spec::TopologySpec, trace: Trace) -> Played {
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
                .map(|l| l.label.clone())
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

/// The protocol a packet is about, for filters and the packet's label.
pub fn class_of(packet: &[Layer]) -> &'static str {
    for l in packet.iter().rev() {
        match l {
            Layer::Dhcp { .. } => return "dhcp",
            Layer::Tcp { .. } => return "tcp",
            Layer::Icmp { .. } => return "icmp",
            Layer::Arp { .. } => return "arp",
            Layer::Udp { .. } => return "udp",
            _ => {}
        }
    }
    "other"
}

const CLASSES: [&str; 6] = ["arp", "icmp", "tcp", "udp", "dhcp", "other"];

/// Drawn on the canvas: the path so far, the packet, and a drop.
#[component]
pub fn SimOverlay() -> impl IntoView {
    let ctx = expect_context::<Ctx>();
    let sim = expect_context::<Sim>();
    move || {
        let Some(p) = sim.played.get() else {
            return ().into_any();
        };
        let c = sim.cursor.get();
        let reached = (c.floor() as usize).min(p.keys.len().saturating_sub(1));
        let pos = |k: &str| pos_of(ctx, k);
        let trail = (1..=reached)
            .filter_map(|k| {
                let from = pos(&p.keys[p.parents[k]?]);
                let to = pos(&p.keys[k]);
                Some(view! { <line class="trail" x1=from.0 y1=from.1 x2=to.0 y2=to.1 /> })
            })
            .collect_view();
        let marks = (0..=reached)
            .map(|k| {
                let (x, y) = pos(&p.keys[k]);
                view! {
                    <circle class="hop-mark" cx=x cy=y r="30" data-hop=k.to_string()
                        data-node=p.trace.hops[k].node.clone() />
                }
            })
            .collect_view();
        // Travelling into hop `reached + 1` when between hops.
        let next = reached + 1;
        let moving = c > reached as f64 && next < p.keys.len();
        let (ppos, capsule, packet_hop) = if moving {
            let t = c - reached as f64;
            let from = p.parents[next]
                .map(|j| pos(&p.keys[j]))
                .unwrap_or_else(|| pos(&p.keys[next]));
            let to = pos(&p.keys[next]);
            let at = (from.0 + (to.0 - from.0) * t, from.1 + (to.1 - from.1) * t);
            (at, p.capsule[next].clone(), next)
        } else {
            (pos(&p.keys[reached]), None, reached)
        };
        let label = p.trace.hops[packet_hop]
            .steps
            .first()
            .map(|s| class_of(&s.packet).to_uppercase())
            .unwrap_or_default();
        let capsule_view = capsule.map(|cap| {
            view! {
                <rect class="capsule" x="-44" y="-24" width="88" height="36" rx="12" />
                <text class="capsule-label" y="-15">{cap}</text>
            }
        });
        let drop = p.drop_hop.filter(|&d| reached >= d && !moving).map(|d| {
            let (x, y) = pos(&p.keys[d]);
            let reason = p.trace.disposition.summary();
            view! {
                <g class="drop" id="drop-mark" transform=format!("translate({x},{y})")>
                    <line class="drop-x" x1="-14" y1="-14" x2="14" y2="14" />
                    <line class="drop-x" x1="-14" y1="14" x2="14" y2="-14" />
                    <text class="drop-text" x="20" y="40">{reason}</text>
                </g>
            }
        });
        view! {
            <g class="sim">
                {trail}
                {marks}
                <g id="packet" class="packet" data-hop=packet_hop.to_string()
                    data-node=p.trace.hops[packet_hop].node.clone()
                    transform=format!("translate({},{})", ppos.0, ppos.1 - 30.0)>
                    {capsule_view}
                    <rect x="-20" y="-8" width="40" height="16" rx="3" />
                    <text>{label}</text>
                </g>
                {drop}
            </g>
        }
        .into_any()
    }
}

/// Senders and destinations offered: vms, routers and dhcp servers (by the
/// name `Probe::parse` accepts), and external networks.
fn endpoints(topo: &Topology) -> Vec<(String, bool)> {
    let mut out: Vec<(String, bool)> = (0..topo.guests.len())
        .map(|g| {
            let guest = &topo.guests[g];
            let name = if guest.is_vm() {
                topo.vm_label(g)
            } else {
                format!("{}/{}", topo.hosts[guest.host].name, guest.name)
            };
            (name, guest.is_vm())
        })
        .collect();
    out.extend(topo.externals.iter().map(|e| (e.name.clone(), true)));
    out
}

#[component]
pub fn SimPanel() -> impl IntoView {
    let ctx = expect_context::<Ctx>();
    let sim = expect_context::<Sim>();
    let topo = Memo::new(move |_| ctx.check.with(|c| c.topo.clone()));
    let options = move || {
        topo.with(|t| {
            let Some(t) = t else {
                return view! { <p class="error">"The design has errors: simulation needs a valid design (see Problems)."</p> }.into_any();
            };
            let eps = endpoints(t);
            if sim.from.with_untracked(String::is_empty) || !eps.iter().any(|(n, _)| sim.from.with_untracked(|f| f == n)) {
                sim.from.set(eps.iter().find(|(_, s)| *s).map(|(n, _)| n.clone()).unwrap_or_default());
            }
            let froms = eps
                .iter()
                .filter(|(_, s)| *s)
                .map(|(n, _)| {
                    let sel = sim.from.with_untracked(|f| f == n);
                    view! { <option value=n.clone() selected=sel>{n.clone()}</option> }
                })
                .collect_view();
            let targets = eps
                .iter()
                .map(|(n, _)| view! { <option value=n.clone()></option> })
                .collect_view();
            view! {
                <label class="field"><span>"Source"</span>
                    <select id="sim-from" on:change=move |ev| sim.from.set(event_target_value(&ev))>{froms}</select>
                </label>
                <datalist id="sim-targets">{targets}</datalist>
            }
            .into_any()
        })
    };
    let proto_value = move || {
        let p = sim.proto.get();
        if p == "tcp" || p == "udp" {
            format!("{p}:{}", sim.port.get().trim())
        } else {
            p
        }
    };
    let run = move |_| {
        sim.run(
            ctx,
            &sim.from.get_untracked(),
            &sim.to.get_untracked(),
            &proto_value(),
        )
    };
    view! {
        <div class="simpanel">
            <h3>"Simulation"</h3>
            {options}
            <label class="field"><span>"Destination"</span>
                <input id="sim-to" list="sim-targets" placeholder="vm name or address" prop:value=move || sim.to.get()
                    on:change=move |ev| sim.to.set(event_target_value(&ev)) />
            </label>
            <div class="row">
                <label class="field"><span>"Protocol"</span>
                    <select id="sim-proto" on:change=move |ev| sim.proto.set(event_target_value(&ev))>
                        <option value="icmp">"icmp (ping)"</option>
                        <option value="arp">"arp"</option>
                        <option value="tcp">"tcp"</option>
                        <option value="udp">"udp"</option>
                        <option value="dhcp">"dhcp"</option>
                    </select>
                </label>
                <Show when=move || matches!(sim.proto.get().as_str(), "tcp" | "udp")>
                    <label class="field port"><span>"Port"</span>
                        <input id="sim-port" prop:value=move || sim.port.get() on:change=move |ev| sim.port.set(event_target_value(&ev)) />
                    </label>
                </Show>
            </div>
            <div class="row">
                <button id="sim-run" class="primary" on:click=run>"Simulate"</button>
                <label class="speed">"speed"
                        <input type="range" id="sim-speed" min="0.25" max="8" step="0.25" prop:value=move || sim.speed.get().to_string()
                            on:input=move |ev| sim.speed.set(event_target_value(&ev).parse().unwrap_or(1.5)) />
                    </label>
            </div>
            {move || sim.error.get().map(|e| view! { <p class="error" id="sim-error">{e}</p> })}
            <Player />
            <Events />
            <Inspector />
            <Matrix />
        </div>
    }
}

#[component]
fn Player() -> impl IntoView {
    let sim = expect_context::<Sim>();
    move || {
        let p = sim.played.get()?;
        let n = p.keys.len();
        let delivered = p.trace.disposition.is_delivered();
        let summary = p.trace.disposition.summary();
        let probe = format!(
            "{} {} → {}",
            p.trace.probe.proto, p.trace.probe.from, p.trace.probe.to
        );
        Some(view! {
            <div class="player">
                <p class="probe">{probe}</p>
                <div class="row controls">
                    <button id="sim-reset" title="back to the start" on:click=move |_| sim.reset()>"Reset"</button>
                    <button id="sim-back" title="step back" on:click=move |_| sim.step(-1.0)>"◀ Back"</button>
                    {move || if sim.playing.get() {
                        view! { <button id="sim-pause" title="pause" on:click=move |_| sim.playing.set(false)>"Pause"</button> }.into_any()
                    } else {
                        view! { <button id="sim-play" title="play" on:click=move |_| sim.play()>"Play"</button> }.into_any()
                    }}
                    <button id="sim-forward" title="step forward" on:click=move |_| sim.step(1.0)>"Step ▶"</button>

                </div>
                <p class="muted" id="sim-position">{move || format!("hop {} of {n}", (sim.cursor.get().floor() as usize + 1).min(n))}</p>
                <Show when=move || { sim.cursor.get() >= (n.saturating_sub(1)) as f64 }>
                    <p id="sim-result" class=if delivered { "result ok" } else { "result bad" }
                        data-outcome=if delivered { "delivered" } else { "dropped" }>
                        {if delivered { format!("Delivered: {summary}") } else { format!("Dropped: {summary}") }}
                    </p>
                </Show>
            </div>
        })
    }
}

#[component]
fn Events() -> impl IntoView {
    let sim = expect_context::<Sim>();
    let filters = CLASSES
        .into_iter()
        .map(|c| {
            view! {
                <label class="filter">
                    <input type="checkbox" prop:checked=move || !sim.hidden.with(|h| h.contains(c))
                        on:change=move |_| sim.hidden.update(|h| { if !h.remove(c) { h.insert(c); } }) />
                    {c}
                </label>
            }
        })
        .collect_view();
    let rows = move || {
        let p = sim.played.get()?;
        let reached = sim.cursor.get().floor() as usize;
        let hidden = sim.hidden.get();
        let picked = sim.picked.get();
        Some(
            p.trace
                .hops
                .iter()
                .enumerate()
                .flat_map(|(h, hop)| {
                    hop.steps
                        .iter()
                        .enumerate()
                        .map(move |(s, st)| (h, s, hop, st))
                })
                .filter(|(_, _, _, st)| !hidden.contains(class_of(&st.packet)))
                .map(|(h, s, hop, st)| {
                    let class = format!(
                        "event {}{}{}",
                        class_of(&st.packet),
                        if h <= reached { " reached" } else { "" },
                        if picked == Some((h, s)) || (picked.is_none() && h == reached) {
                            " current"
                        } else {
                            ""
                        }
                    );
                    let drop = st.action == Action::Drop;
                    view! {
                        <tr class=class class:drop=drop data-hop=h.to_string() on:click=move |_| {
                            sim.playing.set(false);
                            sim.cursor.set(h as f64);
                            sim.picked.set(Some((h, s)));
                        }>
                            <td>{h + 1}</td>
                            <td>{hop.node.clone()}</td>
                            <td class="action">{st.action.as_str()}</td>
                            <td>{class_of(&st.packet)}</td>
                        </tr>
                    }
                })
                .collect_view(),
        )
    };
    view! {
        <Show when=move || sim.played.with(Option::is_some)>
            <h4>"Events"</h4>
            <div class="filters">{filters.clone()}</div>
            <div class="events-scroll">
                <table class="events" id="sim-events">
                    <thead><tr><th>"#"</th><th>"at"</th><th>"action"</th><th>"type"</th></tr></thead>
                    <tbody>{rows}</tbody>
                </table>
            </div>
        </Show>
    }
}

fn layer_title(l: &Layer) -> &'static str {
    match l {
        Layer::Ethernet { .. } => "Ethernet",
        Layer::Dot1q { .. } => "802.1Q",
        Layer::Arp { .. } => "ARP",
        Layer::Ipv4 { .. } => "IPv4",
        Layer::Gre { .. } => "GRE",
        Layer::Udp { .. } => "UDP",
        Layer::Vxlan { .. } => "VXLAN",
        Layer::Icmp { .. } => "ICMP",
        Layer::Tcp { .. } => "TCP",
        Layer::Dhcp { .. } => "DHCP",
    }
}

/// Fields of a header as name → value, in the order serde writes them.
fn layer_fields(l: &Layer) -> Vec<(String, String)> {
    let v = serde_json::to_value(l).unwrap_or_default();
    let Some(obj) = v.as_object() else {
        return Vec::new();
    };
    obj.iter()
        .filter(|(k, _)| k.as_str() != "layer")
        .map(|(k, v)| {
            let shown = match (k.as_str(), v) {
                ("ethertype" | "protocol", serde_json::Value::Number(n))
                    if n.as_u64().unwrap_or(0) > 255 =>
                {
                    format!("0x{:04x}", n.as_u64().unwrap_or(0))
                }
                (_, serde_json::Value::String(s)) => s.clone(),
                (_, other) => other.to_string(),
            };
            (k.replace('_', " "), shown)
        })
        .collect()
}

#[component]
fn Inspector() -> impl IntoView {
    let sim = expect_context::<Sim>();
    move || {
        let p = sim.played.get()?;
        let (h, s) = sim.picked.get().unwrap_or_else(|| {
            let h = (sim.cursor.get().floor() as usize).min(p.trace.hops.len().saturating_sub(1));
            (
                h,
                p.trace
                    .hops
                    .get(h)
                    .map(|x| x.steps.len().saturating_sub(1))
                    .unwrap_or(0),
            )
        });
        let hop = p.trace.hops.get(h)?;
        let step = hop.steps.get(s)?;
        let layers = step
            .packet
            .iter()
            .map(|l| {
                let rows = layer_fields(l)
                    .into_iter()
                    .map(|(k, v)| view! { <tr><th>{k}</th><td>{v}</td></tr> })
                    .collect_view();
                view! {
                    <details open class="layer">
                        <summary>{layer_title(l)}<span class="muted">{format!("  {l}")}</span></summary>
                        <table>{rows}</table>
                    </details>
                }
            })
            .collect_view();
        Some(view! {
            <div class="inspector" id="inspector">
                <h4>{format!("At {} ({})", hop.node, hop.kind.as_str())}</h4>
                <p class="decision"><b>{step.action.as_str()}</b>": "{step.detail.clone()}</p>
                {layers}
            </div>
        })
    }
}

/// Every sender × every address, green or red; a click animates that pair.
#[component]
fn Matrix() -> impl IntoView {
    let ctx = expect_context::<Ctx>();
    let sim = expect_context::<Sim>();
    let compute = move |_| {
        if let Some(t) = ctx.check.with_untracked(|c| c.topo.clone()) {
            sim.matrix.set(Some(netloom_core::reach::reach(&t)));
        }
    };
    let table = move || {
        let rep = sim.matrix.get()?;
        let real = sim.real.get();
        let mut froms: Vec<String> = Vec::new();
        let mut tos: Vec<String> = Vec::new();
        for r in &rep.results {
            if !froms.contains(&r.from) {
                froms.push(r.from.clone());
            }
            if !tos.contains(&r.to) {
                tos.push(r.to.clone());
            }
        }
        let head = tos
            .iter()
            .map(|t| view! { <th class="to">{t.clone()}</th> })
            .collect_view();
        // Looked up per cell, and redrawn as measured pairs arrive: no scans per cell.
        let predicted: BTreeMap<(&str, &str), &ReachResult> = rep
            .results
            .iter()
            .map(|r| ((r.from.as_str(), r.to.as_str()), r))
            .collect();
        let measured: Option<BTreeMap<(&str, &str), bool>> = real.as_ref().map(|real| {
            real.results
                .iter()
                .map(|x| ((x.from.as_str(), x.to.as_str()), x.ok))
                .collect()
        });
        let probing = sim
            .probes
            .get()
            .filter(|&(done, total)| total == 0 || done < total);
        let disagreements = measured.as_ref().filter(|_| probing.is_none()).map(|m| {
            rep.results
                .iter()
                .filter(|r| {
                    m.get(&(r.from.as_str(), r.to.as_str()))
                        .is_some_and(|&ok| ok != r.ok)
                })
                .count()
        });
        let body = froms
            .iter()
            .map(|f| {
                let cells = tos
                    .iter()
                    .map(|t| {
                        let r = predicted.get(&(f.as_str(), t.as_str())).copied().cloned();
                        let measured = measured.as_ref().and_then(|m| m.get(&(f.as_str(), t.as_str())).copied());
                        match r {
                            None => view! { <td class="self">"·"</td> }.into_any(),
                            Some(r) => {
                                let disagree = measured.is_some_and(|m| m != r.ok);
                                let class = format!(
                                    "cell {}{}{}",
                                    if r.ok { "ok" } else { "no" },
                                    if measured.is_some() { " verified" } else { "" },
                                    if disagree { " disagree" } else { "" }
                                );
                                let real_said = match measured {
                                    Some(true) => "; real ping: reply",
                                    Some(false) => "; real ping: no reply",
                                    None => "",
                                };
                                let title = format!("{} → {}: {}{real_said}", r.from, r.to, r.detail);
                                let (ff, tt) = (r.from.clone(), r.to.clone());
                                let mark = match (r.ok, measured) {
                                    (_, Some(m)) if m != r.ok => "≠",
                                    (true, _) => "✓",
                                    (false, _) => "✗",
                                };
                                view! {
                                    <td class=class title=title data-from=ff.clone() data-to=tt.clone()
                                        on:click=move |_| {
                                            sim.from.set(ff.clone());
                                            sim.to.set(tt.clone());
                                            sim.proto.set("icmp".into());
                                            sim.run(ctx, &ff, &tt, "icmp");
                                        }>{mark}</td>
                                }
                                .into_any()
                            }
                        }
                    })
                    .collect_view();
                view! { <tr><th>{f.clone()}</th>{cells}</tr> }
            })
            .collect_view();
        Some(view! {
            {probing.map(|(done, total)| view! {
                <p id="verify-running" class="result">{if total == 0 { "Verifying: waiting for the first ping…".to_string() } else { format!("Verifying: {done} of {total} pairs measured so far…") }}</p>
            })}
            {disagreements.map(|n| view! {
                <p id="verify-summary" class=if n == 0 { "result ok" } else { "result bad" } data-disagreements=n.to_string()>
                    {if n == 0 { "Real pings agree with the simulation on every pair (verified cells are underlined).".to_string() } else { format!("{n} pairs disagree with the simulation (marked ≠).") }}
                </p>
            })}
            <div class="matrix-scroll">
                <table class="matrix" id="reach-matrix">
                    <thead><tr><th>"from \\ to"</th>{head}</tr></thead>
                    <tbody>{body}</tbody>
                </table>
            </div>
        })
    };
    view! {
        <h4>"Reachability"</h4>
        <button id="reach-run" on:click=compute>"Compute matrix"</button>
        {table}
    }
}
