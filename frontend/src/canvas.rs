//! The design canvas (SVG): hosts as containers, guests and bridges inside
//! them, external networks as clouds, links coloured by VLAN, tunnels dashed.
//!
//! The structure is rebuilt when the design changes; while something is
//! dragged only the moved nodes, their links and their hosts update (only
//! they read the drag offset), so a drag frame stays cheap however large the
//! design is.

use std::collections::BTreeSet;

use leptos::ev;
use leptos::prelude::*;
use netloom_core::spec::{Position, TopologySpec};
use web_sys::PointerEvent;

use crate::model::{self, Connection, Elem, Kind, Rect};
use crate::sim::SimOverlay;
use crate::state::{Ctx, Drag};

/// Styles of the canvas, inside the SVG itself so an exported SVG looks the same.
// (`netloom serve` allows exactly this text in its Content-Security-Policy, by hash.)
const CANVAS_CSS: &str = include_str!("canvas.css");

fn cloud_path(hw: f64, hh: f64) -> String {
    format!(
        "M{l},{b} a{r1},{r1} 0 0 1 {a},-{h1} a{r2},{r2} 0 0 1 {w2},-{h2} a{r3},{r3} 0 0 1 {w3},{h3} a{r1},{r1} 0 0 1 {a},{h1} z",
        l = -hw + 10.0,
        b = hh - 4.0,
        r1 = hh * 0.6,
        a = 8.0,
        h1 = hh * 0.9,
        r2 = hh * 0.9,
        w2 = hw * 0.8,
        h2 = hh * 0.7,
        r3 = hh * 0.8,
        w3 = hw * 0.8,
        h3 = hh * 0.7,
    )
}

/// Where a node is drawn now: its layout position plus the drag offset when it is being moved.
pub fn pos_of(ctx: Ctx, key: &str) -> (f64, f64) {
    let base = ctx.layout.with(|l| l.get(key).copied().unwrap_or_default());
    if ctx.moving.with(|m| m.contains(key)) {
        let d = ctx.offset.get();
        (base.0 + d.0, base.1 + d.1)
    } else {
        base
    }
}

/// The node under a canvas point (guests, bridges and clouds before hosts).
fn node_at(s: &TopologySpec, ctx: Ctx, p: (f64, f64)) -> Option<Elem> {
    let nodes = model::nodes(s);
    let pos = |k: &str| {
        ctx.layout
            .with_untracked(|l| l.get(k).copied().unwrap_or_default())
    };
    nodes
        .iter()
        .rev()
        .filter(|e| !matches!(e, Elem::Host(_)))
        .find(|e| match (e.key(s), e.kind()) {
            (Some(k), Some(kind)) => Rect::around(pos(&k), kind.half()).contains(p),
            _ => false,
        })
        .copied()
        .or_else(|| host_at(s, ctx, p).map(Elem::Host))
}

fn host_at(s: &TopologySpec, ctx: Ctx, p: (f64, f64)) -> Option<usize> {
    let pos = |k: &str| {
        ctx.layout
            .with_untracked(|l| l.get(k).copied().unwrap_or_default())
    };
    (0..s.hosts.len())
        .rev()
        .find(|&h| model::host_rect(s, h, &pos).contains(p))
}

/// Layout ids that move with a selection: selected nodes, and everything inside selected hosts.
fn moving_keys(s: &TopologySpec, sel: &[Elem]) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    for e in sel {
        if let Some(k) = e.key(s) {
            keys.insert(k);
        }
        if let Elem::Host(h) = e {
            keys.extend(model::children(s, *h).into_iter().filter_map(|c| c.key(s)));
        }
    }
    keys
}

fn node_down(ctx: Ctx, e: Elem, ev: &PointerEvent) {
    ev.stop_propagation();
    ev.prevent_default();
    crate::state::release_keyboard();
    let additive = ev.shift_key() || ev.ctrl_key() || ev.meta_key();
    let mut sel = ctx.sel.get_untracked();
    if additive {
        if let Some(i) = sel.iter().position(|x| *x == e) {
            sel.remove(i);
        } else {
            sel.push(e);
        }
    } else if !sel.contains(&e) {
        sel = vec![e];
    }
    ctx.sel.set(sel.clone());
    ctx.tab.set("props");
    let keys = ctx.spec.with_untracked(|s| moving_keys(s, &sel));
    let (p, _) = ctx.to_canvas(ev.client_x() as f64, ev.client_y() as f64);
    ctx.offset.set((0.0, 0.0));
    ctx.moving.set(keys.clone());
    ctx.drag.set(Some(Drag::Move {
        keys,
        start: p,
        d: (0.0, 0.0),
    }));
}

fn handle_down(ctx: Ctx, e: Elem, ev: &PointerEvent) {
    ev.stop_propagation();
    ev.prevent_default();
    let (p, _) = ctx.to_canvas(ev.client_x() as f64, ev.client_y() as f64);
    ctx.drag.set(Some(Drag::Connect { from: e, cur: p }));
}

fn background_down(ctx: Ctx, ev: &PointerEvent) {
    if ev.button() != 0 {
        return;
    }
    ev.prevent_default();
    crate::state::release_keyboard();
    let (p, _) = ctx.to_canvas(ev.client_x() as f64, ev.client_y() as f64);
    ctx.pending_tunnel.set(None);
    if ev.shift_key() {
        ctx.drag.set(Some(Drag::Band { start: p, cur: p }));
    } else {
        ctx.drag.set(Some(Drag::Pan {
            start: (ev.client_x() as f64, ev.client_y() as f64),
            orig: ctx.view.get_untracked(),
            moved: false,
        }));
    }
}

/// Window-level pointer handling, so palette drags can start outside the canvas.
pub fn install_pointer_handlers(ctx: Ctx) {
    let _ = window_event_listener(ev::pointermove, move |ev| {
        let (cx, cy) = (ev.client_x() as f64, ev.client_y() as f64);
        let (p, inside) = ctx.to_canvas(cx, cy);
        // A move only changes the offset: the drag itself (and whatever reads it) stays as it is.
        let moved = ctx.drag.try_update_untracked(|d| match d {
            Some(Drag::Move { start, d, .. }) => {
                *d = (p.0 - start.0, p.1 - start.1);
                Some(*d)
            }
            _ => None,
        });
        if let Some(Some(d)) = moved {
            ctx.offset.set(d);
            return;
        }
        let Some(drag) = ctx.drag.get_untracked() else {
            return;
        };
        let next = match drag {
            Drag::Move { .. } => return,
            Drag::Pan { start, orig, .. } => {
                ctx.view.set(crate::state::View {
                    tx: orig.tx + cx - start.0,
                    ty: orig.ty + cy - start.1,
                    k: orig.k,
                });
                Drag::Pan {
                    start,
                    orig,
                    moved: true,
                }
            }
            Drag::Band { start, .. } => Drag::Band { start, cur: p },
            Drag::Connect { from, .. } => Drag::Connect { from, cur: p },
            Drag::Place { kind, .. } => Drag::Place {
                kind,
                cur: inside.then_some(p),
            },
        };
        ctx.drag.set(Some(next));
    });
    let _ = window_event_listener(ev::pointerup, move |ev| {
        let Some(drag) = ctx.drag.get_untracked() else {
            return;
        };
        let (p, inside) = ctx.to_canvas(ev.client_x() as f64, ev.client_y() as f64);
        finish(ctx, drag, p, inside);
        ctx.end_drag();
    });
}

fn finish(ctx: Ctx, drag: Drag, p: (f64, f64), inside: bool) {
    match drag {
        Drag::Move { keys, d, .. } => {
            if d.0.abs() + d.1.abs() < 1.0 {
                return;
            }
            let lay = ctx.layout.get_untracked();
            ctx.edit(None, |s| {
                for k in &keys {
                    if let Some(&(x, y)) = lay.get(k) {
                        s.layout.insert(
                            k.clone(),
                            Position {
                                x: (x + d.0).round(),
                                y: (y + d.1).round(),
                            },
                        );
                    }
                }
            });
        }
        Drag::Pan { moved, .. } => {
            if !moved {
                ctx.sel.set(Vec::new());
            }
        }
        Drag::Band { start, cur } => {
            let band = Rect {
                l: start.0.min(cur.0),
                t: start.1.min(cur.1),
                r: start.0.max(cur.0),
                b: start.1.max(cur.1),
            };
            let s = ctx.spec.get_untracked();
            let lay = ctx.layout.get_untracked();
            let pos = |k: &str| lay.get(k).copied().unwrap_or_default();
            let hits = model::nodes(&s)
                .into_iter()
                .filter(|e| {
                    let r = match *e {
                        Elem::Host(h) => model::host_rect(&s, h, &pos),
                        _ => match (e.key(&s), e.kind()) {
                            (Some(k), Some(kind)) => Rect::around(pos(&k), kind.half()),
                            _ => return false,
                        },
                    };
                    band.intersects(&r)
                })
                .collect();
            ctx.sel.set(hits);
        }
        Drag::Connect { from, .. } => {
            let s = ctx.spec.get_untracked();
            let Some(to) = node_at(&s, ctx, p) else {
                return;
            };
            if to == from {
                return;
            }
            match model::connection(&s, from, to) {
                Ok(Connection::Tunnel) => ctx.pending_tunnel.set(Some((from, to, p))),
                Ok(_) => {
                    let mut made = None;
                    ctx.edit(None, |s| made = model::connect(s, from, to, ""));
                    if let Some(m) = made {
                        ctx.select_only(m.owner());
                    }
                }
                Err(e) => ctx.say(e, true),
            }
        }
        Drag::Place { kind, .. } => {
            if !inside {
                return;
            }
            let s = ctx.spec.get_untracked();
            let host = if kind.inside_host() {
                match host_at(&s, ctx, p) {
                    Some(h) => Some(h),
                    None => {
                        ctx.say(format!("drop the {} inside a host", kind.word()), true);
                        return;
                    }
                }
            } else {
                None
            };
            let mut made = None;
            ctx.edit(None, |s| made = model::add(s, kind, host, p));
            if let Some(m) = made {
                ctx.select_only(m);
            }
        }
    }
}

/// Zoom around the pointer.
fn wheel(ctx: Ctx, ev: &web_sys::WheelEvent) {
    ev.prevent_default();
    let v = ctx.view.get_untracked();
    let (p, _) = ctx.to_canvas(ev.client_x() as f64, ev.client_y() as f64);
    let k = (v.k * (-ev.delta_y() * 0.0015).exp()).clamp(0.15, 4.0);
    ctx.view.set(crate::state::View {
        tx: v.tx + p.0 * (v.k - k),
        ty: v.ty + p.1 * (v.k - k),
        k,
    });
}

#[component]
pub fn Canvas() -> impl IntoView {
    let ctx = expect_context::<Ctx>();
    let transform = move || {
        let v = ctx.view.get();
        format!("translate({},{}) scale({})", v.tx, v.ty, v.k)
    };
    view! {
        <svg
            id="canvas"
            xmlns="http://www.w3.org/2000/svg"
            on:pointerdown=move |ev| background_down(ctx, &ev)
            on:wheel=move |ev| wheel(ctx, &ev)
        >
            <style>{CANVAS_CSS}</style>
            <g id="viewport" transform=transform>
                {design_view(ctx)}
                <SimOverlay />
                {move || drag_overlay(ctx)}
            </g>
        </svg>
        {move || tunnel_chooser(ctx)}
    }
}

/// Hosts, links and nodes, each keyed by what it draws once (its identity,
/// names, tags): an edit redraws only what it changed, and a drop on a
/// 1,000-vm design moves one node instead of rebuilding 2,000 elements.
fn design_view(ctx: Ctx) -> impl IntoView {
    let hosts = move || {
        ctx.spec.with(|s| {
            s.hosts
                .iter()
                .enumerate()
                .map(|(h, x)| (h, x.name.clone()))
                .collect::<Vec<_>>()
        })
    };
    let links = move || {
        ctx.spec.with(|s| {
            model::links(s)
                .into_iter()
                .map(|l| {
                    let ends = (
                        l.a.key(s).unwrap_or_default(),
                        l.b.key(s).unwrap_or_default(),
                    );
                    (l, ends)
                })
                .collect::<Vec<_>>()
        })
    };
    let nodes = move || {
        ctx.spec.with(|s| {
            model::nodes(s)
                .into_iter()
                .filter(|e| !matches!(e, Elem::Host(_)))
                .map(|e| (e, e.key(s).unwrap_or_default()))
                .collect::<Vec<_>>()
        })
    };
    view! {
        <g class="hosts"><For each=hosts key=|x| x.clone() children=move |(h, name)| host_view(ctx, h, name) /></g>
        <g class="links"><For each=links key=|x| x.clone() children=move |(l, ends)| link_view(ctx, l, ends) /></g>
        <g class="nodes"><For each=nodes key=|x| x.clone() children=move |(e, key)| node_view(ctx, e, key) /></g>
    }
}

fn host_view(ctx: Ctx, h: usize, name: String) -> impl IntoView {
    let e = Elem::Host(h);
    let rect = Memo::new(move |_| {
        ctx.spec.with(|s| {
            if h < s.hosts.len() {
                model::host_rect(s, h, &|k| pos_of(ctx, k))
            } else {
                Rect {
                    l: 0.0,
                    t: 0.0,
                    r: 0.0,
                    b: 0.0,
                }
            }
        })
    });
    view! {
        <g class="host" id=e.dom_id() data-elem=name.clone()
            on:pointerdown=move |ev| node_down(ctx, e, &ev)>
            <rect class="host-box"
                class:selected=move || ctx.sel.with(|x| x.contains(&e))
                class:bad=move || ctx.flagged.with(|x| x.contains(&e))
                x=move || rect.get().l y=move || rect.get().t
                width=move || rect.get().r - rect.get().l
                height=move || rect.get().b - rect.get().t rx="10" />
            <text class="host-title" x=move || rect.get().l + 10.0 y=move || rect.get().t + 19.0>
                {format!("host {name}")}
            </text>
        </g>
    }
}

fn node_view(ctx: Ctx, e: Elem, key: String) -> impl IntoView {
    let Some(kind) = e.kind() else {
        return ().into_any();
    };
    let name = key
        .rsplit(['/', ':'])
        .next()
        .unwrap_or_default()
        .to_string();
    let (hw, hh) = kind.half();
    let k2 = key.clone();
    let transform = move || {
        let (x, y) = pos_of(ctx, &k2);
        format!("translate({x},{y})")
    };
    let shape = match kind {
        Kind::Ext => view! { <path d=cloud_path(hw, hh) /> }.into_any(),
        Kind::Router => {
            view! { <rect x=-hw y=-hh width=2.0 * hw height=2.0 * hh rx="18" /> }.into_any()
        }
        Kind::Bridge => {
            view! { <rect x=-hw y=-hh width=2.0 * hw height=2.0 * hh rx="4" /> }.into_any()
        }
        _ => view! { <rect x=-hw y=-hh width=2.0 * hw height=2.0 * hh rx="6" /> }.into_any(),
    };
    let subtitle = match kind {
        Kind::Bridge => "OVS bridge",
        Kind::Ext => "external",
        k => k.word(),
    };
    let problems = move || {
        ctx.check.with(|c| {
            c.problems
                .iter()
                .filter(|p| model::elem_of_path(&p.path) == Some(e))
                .count()
        })
    };
    let label_y = if kind == Kind::Bridge { 0.0 } else { -5.0 };
    view! {
        <g class=format!("node {}", kind.word()) id=e.dom_id() data-elem=key
            class:selected=move || ctx.sel.with(|x| x.contains(&e))
            class:bad=move || ctx.flagged.with(|x| x.contains(&e))
            transform=transform
            on:pointerdown=move |ev| node_down(ctx, e, &ev)>
            {shape}
            <text y=label_y>{name}</text>
            {(kind != Kind::Bridge).then(|| view! { <text class="kind" y="9">{subtitle}</text> })}
            <circle class="handle" cx=hw cy="0" r="6" data-handle=e.dom_id()
                on:pointerdown=move |ev| handle_down(ctx, e, &ev) />
            <Show when=move || { problems() > 0 }>
                <circle class="badge" cx=-hw cy=-hh r="8" />
                <text class="badge-text" x=-hw y=-hh>{problems}</text>
            </Show>
        </g>
    }
    .into_any()
}

fn link_view(ctx: Ctx, l: model::Link, (ka, kb): (String, String)) -> impl IntoView {
    let ends = Memo::new(move |_| (pos_of(ctx, &ka), pos_of(ctx, &kb)));
    let class = if l.tunnel {
        "link tunnel"
    } else if matches!(l.elem, Elem::Uplink(..)) {
        "link uplink"
    } else {
        "link"
    };
    let color = model::vlan_color(l.vlan);
    let e = l.elem;
    let owner = e.owner();
    let sel = move || ctx.sel.with(|x| x.contains(&e));
    let mid = move || {
        let ((x1, y1), (x2, y2)) = ends.get();
        ((x1 + x2) / 2.0, (y1 + y2) / 2.0)
    };
    // The tag sits near the guest end, where it applies.
    let near = move || {
        let ((x1, y1), (x2, y2)) = ends.get();
        (x1 + (x2 - x1) * 0.35, y1 + (y2 - y1) * 0.35)
    };
    let tag = match (l.tunnel, l.vlan) {
        (true, _) => view! {
            <text class="tlabel" x=move || mid().0 y=move || mid().1 - 8.0>{l.label.clone()}</text>
        }
        .into_any(),
        (false, Some(v)) => view! {
            <rect class="tag-bg" stroke=color x=move || near().0 - 14.0 y=move || near().1 - 8.0 width="28" height="16" rx="8" />
            <text class="tag" fill=color x=move || near().0 y=move || near().1>{v.to_string()}</text>
        }
        .into_any(),
        _ => ().into_any(),
    };
    let stroke = if l.tunnel || matches!(e, Elem::Uplink(..)) {
        None
    } else {
        Some(color)
    };
    view! {
        <g class="linkg" id=e.dom_id() data-vlan=l.vlan.map(|v| v.to_string()).unwrap_or_default()>
            <line class=class class:sel=sel stroke=stroke
                x1=move || ends.get().0.0 y1=move || ends.get().0.1
                x2=move || ends.get().1.0 y2=move || ends.get().1.1 />
            <line class="link-hit"
                x1=move || ends.get().0.0 y1=move || ends.get().0.1
                x2=move || ends.get().1.0 y2=move || ends.get().1.1
                on:pointerdown=move |ev: PointerEvent| {
                    ev.stop_propagation();
                    ctx.sel.set(if owner == e { vec![e] } else { vec![owner, e] });
                    ctx.tab.set("props");
                } />
            {tag}
        </g>
    }
}

fn drag_overlay(ctx: Ctx) -> impl IntoView {
    match ctx.drag.get() {
        Some(Drag::Connect { from, cur }) => {
            let start = ctx
                .spec
                .with_untracked(|s| from.key(s))
                .map(|k| pos_of(ctx, &k))
                .unwrap_or_default();
            view! { <line class="rubber" x1=start.0 y1=start.1 x2=cur.0 y2=cur.1 /> }.into_any()
        }
        Some(Drag::Band { start, cur }) => view! {
            <rect class="band" x=start.0.min(cur.0) y=start.1.min(cur.1)
                width=(cur.0 - start.0).abs() height=(cur.1 - start.1).abs() />
        }
        .into_any(),
        Some(Drag::Place { kind, cur: Some(p) }) => {
            let (hw, hh) = kind.half();
            view! {
                <g class=format!("ghost node {}", kind.word()) transform=format!("translate({},{})", p.0, p.1)>
                    <rect x=-hw y=-hh width=2.0 * hw height=2.0 * hh rx="6" fill="#fff" stroke="#0a66ff" />
                    <text>{kind.word()}</text>
                </g>
            }
            .into_any()
        }
        _ => ().into_any(),
    }
}

/// After a bridge-to-bridge drag: pick the tunnel type.
fn tunnel_chooser(ctx: Ctx) -> impl IntoView {
    let (a, b, p) = ctx.pending_tunnel.get()?;
    let v = ctx.view.get_untracked();
    // Set through the CSSOM: the Content-Security-Policy refuses style attributes.
    let (left, top) = (
        format!("{}px", p.0 * v.k + v.tx),
        format!("{}px", p.1 * v.k + v.ty),
    );
    let make = move |kind: &'static str| {
        move |_| {
            ctx.pending_tunnel.set(None);
            let mut made = None;
            ctx.edit(None, |s| made = model::connect(s, a, b, kind));
            if let Some(m) = made {
                ctx.select_only(m);
            }
        }
    };
    Some(view! {
        <div class="chooser" style:left=left style:top=top>
            <span>"Tunnel type"</span>
            <button id="tunnel-gre" on:click=make("gre")>"GRE"</button>
            <button id="tunnel-vxlan" on:click=make("vxlan")>"VXLAN"</button>
            <button on:click=move |_| ctx.pending_tunnel.set(None)>"Cancel"</button>
        </div>
    })
}

/// The palette: drag an item onto the canvas.
#[component]
pub fn Palette() -> impl IntoView {
    let ctx = expect_context::<Ctx>();
    let items = Kind::ALL
        .into_iter()
        .map(|k| {
            let hint = match k {
                Kind::Host => "a machine: drop on the canvas",
                Kind::Ext => "an external network: drop on the canvas",
                _ => "drop inside a host",
            };
            view! {
                <div class=format!("pal-item pal-{}", k.word()) id=format!("palette-{}", k.word()) title=hint
                    on:pointerdown=move |ev: PointerEvent| {
                        ev.prevent_default();
                        ctx.drag.set(Some(Drag::Place { kind: k, cur: None }));
                    }>
                    <span class="pal-icon"></span>
                    {k.word()}
                </div>
            }
        })
        .collect_view();
    view! {
        <div class="palette">
            <div class="pal-title">"Palette"</div>
            {items}
            <p class="pal-help">"Drag onto the canvas. Connect: drag from a node's round handle to a bridge (nic), to a bridge on another host (tunnel) or to a cloud (uplink). Shift-drag: select an area. Wheel: zoom."</p>
        </div>
    }
}
