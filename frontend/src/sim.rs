//! Simulation mode (after Packet Tracer's): the state of a probe run by
//! `netloom_core::sim::simulate` in the browser's web worker
//! ([`crate::compute`]) and of the reachability matrix (computed by
//! `netloom_core::reach` in the worker too), and the trace played on the
//! canvas hop by hop ([`SimOverlay`]). The tab's panel (`sim_panel.rs`) sits
//! above this module and the matrix: nothing here imports either.

use std::collections::BTreeSet;
use std::sync::Arc;

use leptos::prelude::*;
use netloom_core::trace::{Disposition, Layer};
use netloom_frontend::grid::{Grid, Measured};
use netloom_frontend::work::{design_json, Answer, Job, Played};

use crate::compute;
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
                Answer::Grid(_) | Answer::Fixes(_) => {}
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
                Answer::Played(_) | Answer::Fixes(_) => {}
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

    pub fn label(&self) -> String {
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
pub(crate) fn next(ticket: StoredValue<u32>) -> u32 {
    ticket.update_value(|t| *t = t.wrapping_add(1));
    ticket.get_value()
}

pub(crate) fn now() -> f64 {
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
    follow_packet(ctx, sim);
    move || {
        let Some(p) = sim.played.get() else {
            return ().into_any();
        };
        let c = sim.cursor.get();
        let reached = (c.floor() as usize).min(p.keys.len().saturating_sub(1));
        let pos = |k: &str| ctx.pos_of(k);
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
        let drop = p
            .drop_hop
            .filter(|&d| reached >= d && !moving)
            .map(|d| drop_mark(ctx, &p, d));
        view! {
            <g class="sim">
                {trail}
                {marks}
                {packet_view(&p, packet_hop, moving, ppos)}
                {drop}
            </g>
        }
        .into_any()
    }
}

/// The view follows the packet: when it nears the edge of the screen, the
/// view pans to put it in the middle again.
fn follow_packet(ctx: Ctx, sim: Sim) {
    Effect::new(move |_| {
        let c = sim.cursor.get();
        // Only the cursor moves the view, not a node dragged meanwhile.
        let at = sim.played.with(|p| {
            let p = p.as_ref().filter(|p| !p.keys.is_empty())?;
            Some(untrack(|| packet_at(p, c, &|k| ctx.pos_of(k)).0))
        });
        let Some(at) = at else { return };
        let k = ctx.view.get_untracked().k;
        let v = ctx.visible();
        let margin = 60.0 / k;
        if at.0 < v.l + margin || at.0 > v.r - margin || at.1 < v.t + margin || at.1 > v.b - margin
        {
            ctx.center_on(at, k);
        }
    });
}

/// The packet at `at`, labelled with its protocol, in its capsule while it
/// travels into hop `hop`.
fn packet_view(p: &Played, hop: usize, moving: bool, at: (f64, f64)) -> impl IntoView {
    let capsule = p.capsule[hop].clone().filter(|_| moving);
    let label = p.trace.hops[hop]
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
    view! {
        <g id="packet" class="packet" data-hop=hop.to_string()
            data-node=p.trace.hops[hop].node.clone()
            transform=format!("translate({},{})", at.0, at.1 - 30.0)>
            {capsule_view}
            <rect x="-20" y="-8" width="40" height="16" rx="3" />
            <text>{label}</text>
        </g>
    }
}

/// The drop at hop `d`: a cross, and the reason's name on the node itself,
/// squeezed to its width if need be; the whole sentence is in the panel
/// (beside the node it ran over the nodes and tags around).
fn drop_mark(ctx: Ctx, p: &Played, d: usize) -> impl IntoView {
    let (x, y) = ctx.pos_of(&p.keys[d]);
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
    let squeeze = squeeze_to(&reason, 2.0 * hw - 14.0);
    let adjust = squeeze.as_ref().map(|_| "spacingAndGlyphs");
    view! {
        <g class="drop" id="drop-mark" transform=format!("translate({x},{y})")>
            <line class="drop-x" x1="-14" y1="-14" x2="14" y2="14" />
            <line class="drop-x" x1="-14" y1="14" x2="14" y2="-14" />
            <rect class="drop-bg" x=4.0 - hw y="1" width=2.0 * hw - 8.0 height="16" rx="4" />
            <text class="drop-text" y="9" textLength=squeeze lengthAdjust=adjust>{reason}</text>
        </g>
    }
}

/// The length to squeeze `text` to when it would not fit in `room` px, in
/// bold 10 px sans-serif: about 6.2 px a character.
fn squeeze_to(text: &str, room: f64) -> Option<String> {
    (text.chars().count() as f64 * 6.2 > room).then(|| room.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reason_too_long_for_its_node_is_squeezed_to_fit() {
        // 10 characters: about 62 px.
        assert_eq!(squeeze_to("no-route!!", 78.0), None);
        assert_eq!(squeeze_to("no-route!!", 60.0), Some("60".into()));
        // Characters, not bytes: "→" is one.
        assert_eq!(squeeze_to("→→→→→→→→→→", 78.0), None);
    }

    #[test]
    fn probes_are_labelled_with_what_differs_from_the_default() {
        assert_eq!(Asked::ping("a", "b").label(), "a → b icmp");
        let big = Asked {
            size: Some(1400),
            ttl: Some(2),
            proto: "udp:53".into(),
            ..Asked::ping("vm1", "10.0.0.1")
        };
        assert_eq!(big.label(), "vm1 → 10.0.0.1 udp:53 size 1400 ttl 2");
    }
}
