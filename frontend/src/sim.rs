//! Simulation mode (after Packet Tracer's): pick a probe, run
//! `netloom_core::sim::simulate` in the browser's web worker
//! ([`crate::compute`]), and play the trace on the canvas hop by hop, with an
//! event list, a per-layer inspector and the reachability matrix
//! ([`crate::matrix`], computed by `netloom_core::reach` in the worker too).

use std::collections::BTreeSet;
use std::sync::Arc;

use leptos::prelude::*;
use netloom_core::topology::Topology;
use netloom_core::trace::{Action, Disposition, Layer};
use netloom_frontend::grid::{Grid, Measured};
use netloom_frontend::work::{design_json, Answer, Job, Played};

use crate::canvas::pos_of;
use crate::compute;
use crate::matrix::Matrix;
use crate::model;
use crate::state::Ctx;

/// Simulation state, shared through context.
#[derive(Clone, Copy)]
pub struct Sim {
    pub from: RwSignal<String>,
    pub to: RwSignal<String>,
    pub proto: RwSignal<String>,
    pub port: RwSignal<String>,
    /// IPv4 length of an icmp or udp probe, as typed; empty: the default.
    pub size: RwSignal<String>,
    /// The request's TTL, as typed; empty: 64.
    pub ttl: RwSignal<String>,
    /// The probes run on this design, newest first, each to run again.
    pub asked: RwSignal<Vec<Asked>>,
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
    pub matrix: RwSignal<Option<Arc<Grid>>>,
    /// The pairs measured by Verify, overlaid on the matrix (filled in
    /// pair by pair while Verify runs).
    pub real: RwSignal<Option<Measured>>,
    /// Pairs measured and in all by the running or last Verify.
    pub probes: RwSignal<Option<(usize, usize)>>,
    /// A probe is being simulated in the worker.
    pub simulating: RwSignal<bool>,
    /// A matrix is being computed in the worker.
    pub reaching: RwSignal<bool>,
    /// The last probe and matrix asked for: only their answers are shown
    /// (an edit of the design moves both on, see [`Sim::forget`]).
    trace_ticket: StoredValue<u32>,
    reach_ticket: StoredValue<u32>,
}

impl Sim {
    pub fn new() -> Sim {
        Sim {
            from: RwSignal::new(String::new()),
            to: RwSignal::new(String::new()),
            proto: RwSignal::new("icmp".into()),
            port: RwSignal::new("80".into()),
            size: RwSignal::new(String::new()),
            ttl: RwSignal::new(String::new()),
            asked: RwSignal::new(Vec::new()),
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
            simulating: RwSignal::new(false),
            reaching: RwSignal::new(false),
            trace_ticket: StoredValue::new(0),
            reach_ticket: StoredValue::new(0),
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

    /// Run one probe in the worker and start playing it when it comes back;
    /// it goes first in the list of probes asked.
    pub fn run(&self, ctx: Ctx, probe: Asked) {
        self.error.set(None);
        if ctx.check.with_untracked(|c| c.topo.is_none()) {
            self.error.set(Some(
                "the design has errors: fix the problems listed first".into(),
            ));
            return;
        }
        ctx.tab.set("sim");
        let ticket = next(self.trace_ticket);
        self.simulating.set(true);
        // The last trace answered another probe: no result of it stays up meanwhile.
        self.playing.set(false);
        self.played.set(None);
        let sim = *self;
        self.asked.update(|a| {
            a.retain(|p| *p != probe);
            a.insert(0, probe.clone());
            a.truncate(ASKED);
        });
        let job = Job::Simulate {
            from: probe.from,
            to: probe.to,
            proto: probe.proto,
            size: probe.size,
            ttl: probe.ttl,
        };
        let text = ctx.spec.with_untracked(design_json);
        compute::traces().send(text, job, move |answer| {
            if sim.trace_ticket.get_value() != ticket {
                return;
            }
            sim.simulating.set(false);
            match answer {
                Answer::Played(p) => {
                    sim.played.set(Some(*p));
                    sim.cursor.set(0.0);
                    sim.play();
                }
                Answer::Failed(e) => sim.error.set(Some(e)),
                Answer::Grid(_) => {}
            }
        });
    }

    /// Compute the reachability matrix of the design `text` ([`design_json`]) in the worker.
    pub fn predict(&self, text: String) {
        let ticket = next(self.reach_ticket);
        self.reaching.set(true);
        let sim = *self;
        compute::reaches().send(text, Job::Reach, move |answer| {
            if sim.reach_ticket.get_value() != ticket {
                return;
            }
            sim.reaching.set(false);
            match answer {
                Answer::Grid(g) => sim.matrix.set(Some(Arc::new(*g))),
                Answer::Failed(e) => sim.error.set(Some(e)),
                Answer::Played(_) => {}
            }
        });
    }

    /// The design changed: what was shown and what is on its way belong to the old one.
    pub fn forget(&self) {
        next(self.trace_ticket);
        next(self.reach_ticket);
        self.simulating.set(false);
        self.reaching.set(false);
        self.playing.set(false);
        self.played.set(None);
        self.matrix.set(None);
        self.real.set(None);
    }
}

/// One probe as asked: the fields of the panel.
#[derive(Clone, Debug, PartialEq)]
pub struct Asked {
    pub from: String,
    pub to: String,
    /// As `Probe::parse` takes it: `icmp`, `tcp:80`...
    pub proto: String,
    pub size: Option<u16>,
    pub ttl: Option<u16>,
}

impl Asked {
    /// A ping of the default size and TTL.
    pub fn ping(from: &str, to: &str) -> Asked {
        Asked {
            from: from.into(),
            to: to.into(),
            proto: "icmp".into(),
            size: None,
            ttl: None,
        }
    }

    fn label(&self) -> String {
        let mut s = format!("{} → {} {}", self.from, self.to, self.proto);
        if let Some(n) = self.size {
            s.push_str(&format!(" size {n}"));
        }
        if let Some(t) = self.ttl {
            s.push_str(&format!(" ttl {t}"));
        }
        s
    }
}

/// Probes kept in the list.
const ASKED: usize = 20;

/// Move a ticket on; returns the new one.
fn next(ticket: StoredValue<u32>) -> u32 {
    ticket.update_value(|t| *t = t.wrapping_add(1));
    ticket.get_value()
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

/// Where the packet is at cursor `c`: at hop `reached`, or on its way into
/// the next hop. Returns the point and the hop it is at or heading for.
fn packet_at(p: &Played, c: f64, pos: &dyn Fn(&str) -> (f64, f64)) -> ((f64, f64), usize) {
    let reached = (c.floor() as usize).min(p.keys.len().saturating_sub(1));
    let next = reached + 1;
    if c > reached as f64 && next < p.keys.len() {
        let t = c - reached as f64;
        let from = p.parents[next]
            .map(|j| pos(&p.keys[j]))
            .unwrap_or_else(|| pos(&p.keys[next]));
        let to = pos(&p.keys[next]);
        (
            (from.0 + (to.0 - from.0) * t, from.1 + (to.1 - from.1) * t),
            next,
        )
    } else {
        (pos(&p.keys[reached]), reached)
    }
}

/// Drawn on the canvas: the path so far, the packet, and a drop.
#[component]
pub fn SimOverlay() -> impl IntoView {
    let ctx = expect_context::<Ctx>();
    let sim = expect_context::<Sim>();
    // The view follows the packet: when it nears the edge of the screen,
    // the view pans to put it in the middle again.
    Effect::new(move |_| {
        let c = sim.cursor.get();
        // Only the cursor moves the view, not a node dragged meanwhile.
        let at = sim.played.with(|p| {
            let p = p.as_ref().filter(|p| !p.keys.is_empty())?;
            Some(untrack(|| packet_at(p, c, &|k| pos_of(ctx, k)).0))
        });
        let Some(at) = at else { return };
        let k = ctx.view.get_untracked().k;
        let v = crate::canvas::visible(ctx);
        let margin = 60.0 / k;
        if at.0 < v.l + margin || at.0 > v.r - margin || at.1 < v.t + margin || at.1 > v.b - margin
        {
            crate::canvas::center_on(ctx, at, k);
        }
    });
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
        let (ppos, packet_hop) = packet_at(&p, c, &pos);
        let moving = packet_hop > reached;
        let capsule = p.capsule[packet_hop].clone().filter(|_| moving);
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
        // The reason's name on the node itself, squeezed to its width if need
        // be; the whole sentence is in the panel (beside the node it ran over
        // the nodes and tags around).
        let drop = p.drop_hop.filter(|&d| reached >= d && !moving).map(|d| {
            let (x, y) = pos(&p.keys[d]);
            let reason = match &p.trace.disposition {
                Disposition::Dropped { reason, .. } => reason.to_string(),
                Disposition::Delivered { .. } => String::new(),
            };
            let hw = ctx.spec.with_untracked(|s| {
                model::nodes(s)
                    .into_iter()
                    .find(|e| e.key(s).as_deref() == Some(p.keys[d].as_str()))
                    .and_then(|e| e.kind())
                    .map_or(46.0, |k| k.half().0)
            });
            let room = 2.0 * hw - 14.0;
            // Bold 10 px sans-serif: about 6.2 px a character.
            let squeeze = (reason.chars().count() as f64 * 6.2 > room).then(|| room.to_string());
            let adjust = squeeze.as_ref().map(|_| "spacingAndGlyphs");
            view! {
                <g class="drop" id="drop-mark" transform=format!("translate({x},{y})")>
                    <line class="drop-x" x1="-14" y1="-14" x2="14" y2="14" />
                    <line class="drop-x" x1="-14" y1="14" x2="14" y2="-14" />
                    <rect class="drop-bg" x=4.0 - hw y="1" width=2.0 * hw - 8.0 height="16" rx="4" />
                    <text class="drop-text" y="9" textLength=squeeze lengthAdjust=adjust>{reason}</text>
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
                    // Follows the sender set elsewhere too (a click on a matrix cell).
                    <select id="sim-from" prop:value=move || sim.from.get() on:change=move |ev| sim.from.set(event_target_value(&ev))>{froms}</select>
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
    // Empty: the default; anything else must be a number.
    let number = |what: &str, v: String| -> Result<Option<u16>, String> {
        let v = v.trim().to_string();
        if v.is_empty() {
            return Ok(None);
        }
        v.parse()
            .map(Some)
            .map_err(|_| format!("{what} {v:?} is not a number"))
    };
    let run = move |_| {
        let sized = matches!(sim.proto.get_untracked().as_str(), "icmp" | "udp");
        let fields = number(
            "size",
            if sized {
                sim.size.get_untracked()
            } else {
                String::new()
            },
        )
        .and_then(|size| Ok((size, number("ttl", sim.ttl.get_untracked())?)));
        match fields {
            Ok((size, ttl)) => sim.run(
                ctx,
                Asked {
                    from: sim.from.get_untracked(),
                    to: sim.to.get_untracked(),
                    proto: proto_value(),
                    size,
                    ttl,
                },
            ),
            Err(e) => sim.error.set(Some(e)),
        }
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
                    <select id="sim-proto" prop:value=move || sim.proto.get() on:change=move |ev| sim.proto.set(event_target_value(&ev))>
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
                <Show when=move || matches!(sim.proto.get().as_str(), "icmp" | "udp")>
                    <label class="field port" title="IPv4 length of the packet, 28..1500 (default 84 for icmp, as ping)"><span>"Size"</span>
                        <input id="sim-size" placeholder="84" prop:value=move || sim.size.get() on:change=move |ev| sim.size.set(event_target_value(&ev)) />
                    </label>
                </Show>
                <label class="field port" title="TTL of the request, 1..255 (default 64)"><span>"TTL"</span>
                    <input id="sim-ttl" placeholder="64" prop:value=move || sim.ttl.get() on:change=move |ev| sim.ttl.set(event_target_value(&ev)) />
                </label>
            </div>
            <div class="row">
                <button id="sim-run" class="primary" on:click=run>"Simulate"</button>
                {move || sim.simulating.get().then(|| view! { <span class="muted" id="sim-busy">"simulating…"</span> })}
                <label class="speed">"speed"
                        <input type="range" id="sim-speed" min="0.25" max="8" step="0.25" prop:value=move || sim.speed.get().to_string()
                            on:input=move |ev| sim.speed.set(event_target_value(&ev).parse().unwrap_or(1.5)) />
                    </label>
            </div>
            {move || sim.error.get().map(|e| view! { <p class="error" id="sim-error">{e}</p> })}
            <AskedList />
            <Route />
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

/// The probes run so far, newest first, each to run again (with the
/// panel's fields set to it).
#[component]
fn AskedList() -> impl IntoView {
    let ctx = expect_context::<Ctx>();
    let sim = expect_context::<Sim>();
    let again = move |a: Asked| {
        sim.from.set(a.from.clone());
        sim.to.set(a.to.clone());
        match a.proto.split_once(':') {
            Some((p, port)) => {
                sim.proto.set(p.into());
                sim.port.set(port.into());
            }
            None => sim.proto.set(a.proto.clone()),
        }
        sim.size
            .set(a.size.map(|n| n.to_string()).unwrap_or_default());
        sim.ttl
            .set(a.ttl.map(|n| n.to_string()).unwrap_or_default());
        sim.run(ctx, a);
    };
    move || {
        let asked = sim.asked.get();
        (!asked.is_empty()).then(|| {
            view! {
                <details class="asked" id="probe-list" open=true>
                    <summary>{format!("Probes ({})", asked.len())}</summary>
                    <ol>{asked.into_iter().map(|a| {
                        let label = a.label();
                        view! {
                            <li><button class="small rerun" title="run again" on:click=move |_| again(a.clone())>"Run"</button>" "{label}</li>
                        }
                    }).collect_view()}</ol>
                </details>
            }
        })
    }
}

/// The played probe's path as traceroute prints it: the routers that
/// forwarded it, then who took it, or where it was dropped.
#[component]
fn Route() -> impl IntoView {
    let sim = expect_context::<Sim>();
    move || {
        sim.played.with(|p| {
            let p = p.as_ref()?;
            let lines = p.trace.route();
            Some(view! {
                <div class="route" id="sim-route">
                    <h4>"Route"</h4>
                    <ol>{lines.into_iter().map(|l| view! {
                        <li><b>{l.node}</b>" "<span class="muted">{l.detail}</span></li>
                    }).collect_view()}</ol>
                </div>
            })
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
        Layer::Ipv6 { .. } => "IPv6",
        Layer::Unknown { .. } => "Not decoded",
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
