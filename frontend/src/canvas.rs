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
use crate::state::{Ctx, Drag, View, MIN_ZOOM};

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

/// Guests of a move that were dropped inside another host (and outside
/// their own): the host each goes to. Guests of a host that moves along stay.
fn new_homes(
    s: &TopologySpec,
    ctx: Ctx,
    keys: &BTreeSet<String>,
    d: (f64, f64),
) -> std::collections::BTreeMap<String, usize> {
    let lay = ctx.layout.get_untracked();
    let pos = |k: &str| lay.get(k).copied().unwrap_or_default();
    let rects: Vec<Rect> = (0..s.hosts.len())
        .map(|h| model::host_rect(s, h, &pos))
        .collect();
    model::nodes(s)
        .into_iter()
        .filter(|e| matches!(e, Elem::Vm(..) | Elem::Dhcp(..) | Elem::Router(..)))
        .filter_map(|e| {
            let k = e.key(s)?;
            let own = e.host()?;
            if !keys.contains(&k) || keys.contains(&s.hosts[own].name) {
                return None;
            }
            let (x, y) = pos(&k);
            let at = (x + d.0, y + d.1);
            if rects[own].contains(at) {
                return None;
            }
            let to = (0..rects.len())
                .rev()
                .find(|&h| h != own && rects[h].contains(at))?;
            Some((k, to))
        })
        .collect()
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
                ctx.view.set(View {
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

/// A drag ends at canvas point `p` (`inside`: over the canvas).
fn finish(ctx: Ctx, drag: Drag, p: (f64, f64), inside: bool) {
    match drag {
        Drag::Move { keys, d, .. } => drop_moved(ctx, &keys, d),
        Drag::Pan { moved, .. } => {
            if !moved {
                ctx.sel.set(Vec::new());
            }
        }
        Drag::Band { start, cur } => select_band(ctx, start, cur),
        Drag::Connect { from, .. } => connect_at(ctx, from, p),
        Drag::Place { kind, .. } => {
            if inside {
                place(ctx, kind, p);
            }
        }
    }
}

/// Moved nodes land `d` away; guests dropped inside another host move there.
fn drop_moved(ctx: Ctx, keys: &BTreeSet<String>, d: (f64, f64)) {
    if d.0.abs() + d.1.abs() < 1.0 {
        return;
    }
    let lay = ctx.layout.get_untracked();
    let homes = ctx.spec.with_untracked(|s| new_homes(s, ctx, keys, d));
    let mut moved = Vec::new();
    ctx.edit(None, |s| {
        for k in keys {
            let Some(&(x, y)) = lay.get(k) else { continue };
            let at = (x + d.0, y + d.1);
            let guest = homes.get(k).and_then(|&to| {
                let e = model::nodes(s)
                    .into_iter()
                    .find(|e| e.key(s).as_ref() == Some(k))?;
                model::move_guest(s, e, to, at)
            });
            match guest {
                Some(e) => moved.push(e),
                None => {
                    s.layout.insert(
                        k.clone(),
                        Position {
                            x: at.0.round(),
                            y: at.1.round(),
                        },
                    );
                }
            }
        }
    });
    // Guests moved to another host have new indices: select them there.
    if !moved.is_empty() {
        ctx.sel.set(moved);
    }
}

/// Select everything the band from `start` to `cur` touches.
fn select_band(ctx: Ctx, start: (f64, f64), cur: (f64, f64)) {
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

/// Connect `from` to the node at `p`; between bridges, ask the tunnel type first.
fn connect_at(ctx: Ctx, from: Elem, p: (f64, f64)) {
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

/// Add a `kind` from the palette at `p` (inside the host there, for what lives in one).
fn place(ctx: Ctx, kind: Kind, p: (f64, f64)) {
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

/// Zoom around the pointer.
fn wheel(ctx: Ctx, ev: &web_sys::WheelEvent) {
    ev.prevent_default();
    let v = ctx.view.get_untracked();
    let (p, _) = ctx.to_canvas(ev.client_x() as f64, ev.client_y() as f64);
    let k = (v.k * (-ev.delta_y() * 0.0015).exp()).clamp(MIN_ZOOM, 4.0);
    ctx.view.set(View {
        tx: v.tx + p.0 * (v.k - k),
        ty: v.ty + p.1 * (v.k - k),
        k,
    });
}

/// Below this zoom, text is too small to read and only costs painting: labels are hidden.
const FAR: f64 = 0.4;

#[component]
pub fn Canvas() -> impl IntoView {
    let ctx = expect_context::<Ctx>();
    // Interface names and addresses on the links.
    let labels = RwSignal::new(false);
    let map = RwSignal::new(true);
    let transform = move || {
        let v = ctx.view.get();
        format!("translate({},{}) scale({})", v.tx, v.ty, v.k)
    };
    view! {
        <svg
            id="canvas"
            xmlns="http://www.w3.org/2000/svg"
            class:far=move || ctx.view.get().k < FAR
            on:pointerdown=move |ev| background_down(ctx, &ev)
            on:wheel=move |ev| wheel(ctx, &ev)
        >
            <style>{CANVAS_CSS}</style>
            <g id="viewport" transform=transform>
                {design_view(ctx, labels)}
                <SimOverlay />
                {move || drag_overlay(ctx)}
            </g>
        </svg>
        {move || tunnel_chooser(ctx)}
        <div class="canvas-tools">
            <input id="canvas-search" type="search" placeholder="find name or address"
                title="Jump to an element by its name or an address (Enter)"
                on:change=move |ev| find(ctx, &event_target_value(&ev)) />
            <button id="toggle-labels" class:active=move || labels.get()
                title="Interface names and addresses on the links"
                on:click=move |_| labels.update(|l| *l = !*l)>"Labels"</button>
            <button id="toggle-minimap" class:active=move || map.get()
                title="The whole design in miniature (press it to go there)"
                on:click=move |_| map.update(|m| *m = !*m)>"Map"</button>
        </div>
        <Minimap shown=map />
    }
}

/// Hosts, links and nodes, each keyed by what it draws once (its identity,
/// names, tags): an edit redraws only what it changed, and a drop on a
/// 1,000-vm design moves one node instead of rebuilding 2,000 elements.
fn design_view(ctx: Ctx, labels: RwSignal<bool>) -> impl IntoView {
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
            let links = model::links(s);
            // Links between the same two nodes (two interfaces of a router on
            // one bridge) are drawn side by side: each its slot of how many.
            let mut pairs = std::collections::HashMap::new();
            let pair = |l: &model::Link| (l.a.min(l.b), l.a.max(l.b));
            for l in &links {
                *pairs.entry(pair(l)).or_insert(0usize) += 1;
            }
            let mut seen = std::collections::HashMap::new();
            links
                .into_iter()
                .map(|l| {
                    let slot = seen.entry(pair(&l)).or_insert(0usize);
                    let par = (*slot, pairs[&pair(&l)]);
                    *slot += 1;
                    let ends = (
                        l.a.key(s).unwrap_or_default(),
                        l.b.key(s).unwrap_or_default(),
                    );
                    (l, ends, par)
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
    // Zoomed far out, the hosts' titles alone stay, drawn 11 px high
    // whatever the zoom (a memo: a pan changes no title).
    let title_scale = Memo::new(move |_| {
        let k = ctx.view.get().k;
        if k < FAR {
            11.0 / (13.0 * k)
        } else {
            1.0
        }
    });
    view! {
        <g class="hosts"><For each=hosts key=|x| x.clone() children=move |(h, name)| host_view(ctx, h, name, title_scale) /></g>
        <g class="links"><For each=links key=|x| x.clone() children=move |(l, ends, par)| link_view(ctx, l, ends, par, labels) /></g>
        <g class="nodes"><For each=nodes key=|x| x.clone() children=move |(e, key)| node_view(ctx, e, key) /></g>
    }
}

fn host_view(ctx: Ctx, h: usize, name: String, title_scale: Memo<f64>) -> impl IntoView {
    let e = Elem::Host(h);
    let rect = Memo::new(move |_| {
        ctx.spec.with(|s| {
            if h < s.hosts.len() {
                model::host_rect(s, h, &|k| ctx.pos_of(k))
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
    let title_at = move || {
        let r = rect.get();
        format!(
            "translate({},{}) scale({})",
            r.l + 10.0,
            r.t + 6.0,
            title_scale.get()
        )
    };
    view! {
        <g class="host" id=e.dom_id() data-elem=name.clone()
            on:pointerdown=move |ev| node_down(ctx, e, &ev)>
            <rect class="host-box"
                class:selected=move || ctx.sel.with(|x| x.contains(&e))
                class:bad=move || severity(ctx, e) == Some(true)
                class:warn=move || severity(ctx, e) == Some(false)
                x=move || rect.get().l y=move || rect.get().t
                width=move || rect.get().r - rect.get().l
                height=move || rect.get().b - rect.get().t rx="10" />
            <text class="host-title" y="13" transform=title_at>
                {format!("host {name}")}
            </text>
            <title>{move || with_reasons(ctx, e, ctx.spec.with(|s| model::tooltip(s, e)))}</title>
        </g>
    }
}

/// A right-click on what a capture listens on (a guest's nic, a tunnel, a
/// whole bridge, an uplink) asks the Capture tab to capture there.
fn capture_on(ctx: Ctx, e: Elem, ev: &ev::MouseEvent) {
    let link = matches!(e, Elem::Nic(..) | Elem::RIface(..) | Elem::DhcpLink(..));
    if link || matches!(e, Elem::Tunnel(_) | Elem::Bridge(..) | Elem::Uplink(..)) {
        ev.prevent_default();
        ctx.capture_on.set(Some(e));
        ctx.tab.set("capture");
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
        let (x, y) = ctx.pos_of(&k2);
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
    let label_y = if kind == Kind::Bridge { 0.0 } else { -5.0 };
    view! {
        <g class=format!("node {}", kind.word()) id=e.dom_id() data-elem=key
            class:selected=move || ctx.sel.with(|x| x.contains(&e))
            class:bad=move || severity(ctx, e) == Some(true)
            class:warn=move || severity(ctx, e) == Some(false)
            transform=transform
            on:pointerdown=move |ev| node_down(ctx, e, &ev)
            on:contextmenu=move |ev| capture_on(ctx, e, &ev)>
            <title>{move || with_reasons(ctx, e, ctx.spec.with(|s| model::tooltip(s, e)))}</title>
            {shape}
            <text y=label_y>{name}</text>
            {(kind != Kind::Bridge).then(|| view! { <text class="kind" y="9">{subtitle}</text> })}
            <circle class="handle" cx=hw cy="0" r="6" data-handle=e.dom_id()
                on:pointerdown=move |ev| handle_down(ctx, e, &ev) />
            {badge(ctx, e, move || (-hw, -hh))}
        </g>
    }
    .into_any()
}

/// Whether validation found an error in `e` (`Some(true)`), warnings only
/// (`Some(false)`), or nothing.
fn severity(ctx: Ctx, e: Elem) -> Option<bool> {
    ctx.flagged.with(|m| m.get(&e).map(|m| m.error))
}

/// An element's tooltip followed by what validation found in it, so
/// hovering a marked element says why it is marked.
fn with_reasons(ctx: Ctx, e: Elem, title: String) -> String {
    ctx.flagged.with(|m| match m.get(&e) {
        Some(m) => format!("{title}\n\n{}", m.reasons.join("\n")),
        None => title,
    })
}

/// The number of problems in `e`, in a disc at `at`: red when one is an
/// error, amber for warnings only.
fn badge(
    ctx: Ctx,
    e: Elem,
    at: impl Fn() -> (f64, f64) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let count = move || {
        ctx.flagged
            .with(|m| m.get(&e).map_or(0, |m| m.reasons.len()))
    };
    view! {
        <Show when=move || { count() > 0 }>
            <circle class="badge" class:warn=move || severity(ctx, e) == Some(false)
                cx=move || at().0 cy=move || at().1 r="8" />
            <text class="badge-text" x=move || at().0 y=move || at().1>{count}</text>
        </Show>
    }
}

/// Parallel links are this far apart: enough for their tags (28 × 16) not
/// to touch at any angle.
const SPREAD: f64 = 34.0;

/// Where a link's tag goes: on the link, just outside the guest's box (so
/// the box never hides it).
fn tag_point(a: (f64, f64), b: (f64, f64), half: (f64, f64)) -> (f64, f64) {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let len = dx.hypot(dy);
    if len < 1.0 {
        return a;
    }
    let (ux, uy) = (dx / len, dy / len);
    // The tag (28 × 16) clears the box once one axis is past the box's edge.
    let clear = |half: f64, tag: f64, u: f64| {
        if u.abs() < 1e-6 {
            f64::INFINITY
        } else {
            (half + tag) / u.abs()
        }
    };
    let t = clear(half.0, 14.0, ux).min(clear(half.1, 8.0, uy)) + 3.0;
    let t = t.min(len * 0.6);
    (a.0 + ux * t, a.1 + uy * t)
}

/// A link's text: "eth0 10.0.0.1/24"; `named` (a guest's nic): with its
/// VLAN in the title. Returns the label (shown when labels are on) and the title.
fn link_text(l: &model::Link, named: bool) -> (String, String) {
    let text = match &l.addr {
        Some(a) => format!("{} {a}", l.label),
        None => l.label.clone(),
    };
    let title = if named {
        format!(
            "{text}{}",
            l.vlan.map(|v| format!(", VLAN {v}")).unwrap_or_default()
        )
    } else {
        l.label.clone()
    };
    (text, title)
}

/// Both ends of a link, shifted `offset` sideways (its place among parallel links).
fn shifted(a: (f64, f64), b: (f64, f64), offset: f64) -> ((f64, f64), (f64, f64)) {
    let len = (b.0 - a.0).hypot(b.1 - a.1).max(1.0);
    let (nx, ny) = (-(b.1 - a.1) / len * offset, (b.0 - a.0) / len * offset);
    ((a.0 + nx, a.1 + ny), (b.0 + nx, b.1 + ny))
}

type Ends = Memo<((f64, f64), (f64, f64))>;

fn link_view(
    ctx: Ctx,
    l: model::Link,
    (ka, kb): (String, String),
    (slot, of): (usize, usize),
    labels: RwSignal<bool>,
) -> impl IntoView {
    let offset = (slot as f64 - (of as f64 - 1.0) / 2.0) * SPREAD;
    let ends = Memo::new(move |_| shifted(ctx.pos_of(&ka), ctx.pos_of(&kb), offset));
    let class = if l.tunnel {
        "link tunnel"
    } else if matches!(l.elem, Elem::Uplink(..)) {
        "link uplink"
    } else {
        "link"
    };
    let e = l.elem;
    let owner = e.owner();
    let sel = move || ctx.sel.with(|x| x.contains(&e));
    let half = l.a.kind().map_or((0.0, 0.0), Kind::half);
    let near = Memo::new(move |_| {
        let (a, b) = ends.get();
        tag_point(a, b, half)
    });
    let stroke = (!l.tunnel && !matches!(e, Elem::Uplink(..))).then(|| model::vlan_color(l.vlan));
    // Up or down as the last Status or Verify found it (deployed designs).
    let id = e.dom_id();
    let seen = Memo::new(move |_| ctx.seen.with(|m| m.get(&id).cloned()));
    let (_, title) = link_text(&l, !l.tunnel && !matches!(e, Elem::Uplink(..)));
    let title = move || {
        let title = match seen.get() {
            Some(x) => format!("{title}\n{}", x.why),
            None => title.clone(),
        };
        with_reasons(ctx, e, title)
    };
    let mid = move || midpoint(ends);
    view! {
        <g class="linkg" id=e.dom_id() data-vlan=l.vlan.map(|v| v.to_string()).unwrap_or_default()
            class:up=move || seen.with(|x| x.as_ref().is_some_and(|x| x.up))
            class:down=move || seen.with(|x| x.as_ref().is_some_and(|x| !x.up))
            data-seen=move || seen.with(|x| x.as_ref().map_or("", |x| if x.up { "up" } else { "down" }))
            class:bad=move || severity(ctx, e) == Some(true)
            class:warn=move || severity(ctx, e) == Some(false)
            on:contextmenu=move |ev| capture_on(ctx, e, &ev)>
            <title>{title}</title>
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
            {link_tag(&l, ends, near)}
            {link_addr(&l, ends, near, (slot, of), labels)}
            {badge(ctx, e, mid)}
        </g>
    }
}

/// The middle of a link as drawn now.
fn midpoint(ends: Ends) -> (f64, f64) {
    let ((x1, y1), (x2, y2)) = ends.get();
    ((x1 + x2) / 2.0, (y1 + y2) / 2.0)
}

/// A tunnel's name at its middle, or a nic's VLAN in a tag near its guest.
fn link_tag(l: &model::Link, ends: Ends, near: Memo<(f64, f64)>) -> impl IntoView {
    let mid = move || midpoint(ends);
    let color = model::vlan_color(l.vlan);
    match (l.tunnel, l.vlan) {
        (true, _) => view! {
            <text class="tlabel" x=move || mid().0 y=move || mid().1 - 8.0>{l.label.clone()}</text>
        }
        .into_any(),
        (false, Some(v)) => view! {
            <rect class="tag-bg" stroke=color x=move || near.get().0 - 14.0 y=move || near.get().1 - 8.0 width="28" height="16" rx="8" />
            <text class="tag" fill=color x=move || near.get().0 y=move || near.get().1>{v.to_string()}</text>
        }
        .into_any(),
        _ => ().into_any(),
    }
}

/// "eth0 10.0.0.1/24" beside a nic's tag, when labels are on.
fn link_addr(
    l: &model::Link,
    ends: Ends,
    near: Memo<(f64, f64)>,
    (slot, of): (usize, usize),
    labels: RwSignal<bool>,
) -> impl IntoView {
    let named = !l.tunnel && !matches!(l.elem, Elem::Uplink(..));
    let (text, _) = link_text(l, named);
    // Beside the tag, on the side away from the link's neighbours: the outer
    // side of parallel links, else the side the link comes from (guests left
    // of their bridge get their label on the left).
    let left = move || {
        if of > 1 {
            slot * 2 < of - 1
        } else {
            let ((x1, _), (x2, _)) = ends.get();
            x2 - x1 > 1.0
        }
    };
    move || {
        (named && labels.get()).then(|| {
            view! {
                <text class="addr" class:end=left
                    x=move || near.get().0 + if left() { -17.0 } else { 17.0 }
                    y=move || near.get().1>{text.clone()}</text>
            }
        })
    }
}

fn drag_overlay(ctx: Ctx) -> impl IntoView {
    match ctx.drag.get() {
        Some(Drag::Connect { from, cur }) => {
            let start = ctx
                .spec
                .with_untracked(|s| from.key(s))
                .map(|k| ctx.pos_of(&k))
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

/// The element a search means: a layout id or name, then an address, then
/// the first name containing the text.
fn search(s: &TopologySpec, q: &str) -> Option<Elem> {
    let q = q.trim();
    if q.is_empty() {
        return None;
    }
    let nodes = model::nodes(s);
    let keys: Vec<(Elem, String)> = nodes.iter().filter_map(|&e| Some((e, e.key(s)?))).collect();
    let name = |k: &str| k.rsplit(['/', ':']).next().unwrap_or_default().to_string();
    let addr = |a: &str| a.split('/').next().unwrap_or_default() == q;
    let by_address = || {
        let owner = model::links(s)
            .into_iter()
            .find(|l| l.addr.as_deref().is_some_and(addr))
            .map(|l| l.a);
        owner.or_else(|| {
            s.hosts
                .iter()
                .position(|h| h.underlay_ip.as_deref().is_some_and(addr))
                .map(Elem::Host)
        })
    };
    keys.iter()
        .find(|(_, k)| k == q || name(k) == q)
        .map(|(e, _)| *e)
        .or_else(by_address)
        .or_else(|| keys.iter().find(|(_, k)| k.contains(q)).map(|(e, _)| *e))
}

/// Select what a search names and bring it to the middle of the screen, readable.
fn find(ctx: Ctx, q: &str) {
    let hit = ctx.spec.with_untracked(|s| {
        let e = search(s, q)?;
        let lay = ctx.layout.get_untracked();
        let pos = |k: &str| lay.get(k).copied().unwrap_or_default();
        let r = match e {
            Elem::Host(h) => model::host_rect(s, h, &pos),
            _ => Rect::around(pos(&e.key(s)?), e.kind()?.half()),
        };
        Some((e, ((r.l + r.r) / 2.0, (r.t + r.b) / 2.0)))
    });
    match hit {
        Some((e, p)) => {
            ctx.select_only(e);
            ctx.center_on(p, ctx.view.get_untracked().k.max(0.8));
        }
        None if q.trim().is_empty() => {}
        None => ctx.say(
            format!("nothing is named or addressed “{}”", q.trim()),
            true,
        ),
    }
}

/// Minimap size in pixels.
const MAP: (f64, f64) = (160.0, 100.0);

/// Design → minimap pixels for the design's bounds `bb`: (scale, left, top)
/// with the design centred.
fn map_scale(bb: &Rect) -> (f64, f64, f64) {
    let k = (MAP.0 / (bb.r - bb.l)).min(MAP.1 / (bb.b - bb.t));
    let l = bb.l - (MAP.0 / k - (bb.r - bb.l)) / 2.0;
    let t = bb.t - (MAP.1 / k - (bb.b - bb.t)) / 2.0;
    (k, l, t)
}

/// The design's bounds, and its hosts (true) and externals as drawn in the minimap.
type Shapes = Memo<Option<(Rect, Vec<(bool, Rect)>)>>;

/// The whole design in miniature with the part on screen framed; a press
/// (or a drag) moves the view there.
#[component]
fn Minimap(shown: RwSignal<bool>) -> impl IntoView {
    let ctx = expect_context::<Ctx>();
    // Hosts and externals, and the scale: from the layout, not the drag offset.
    let shapes: Shapes = Memo::new(move |_| {
        ctx.spec.with(|s| {
            ctx.layout.with(|lay| {
                let pos = |k: &str| lay.get(k).copied().unwrap_or_default();
                let bb = model::design_bounds(s, &pos)?;
                let rects: Vec<(bool, Rect)> = model::nodes(s)
                    .into_iter()
                    .filter_map(|e| match e {
                        Elem::Host(h) => Some((true, model::host_rect(s, h, &pos))),
                        Elem::Ext(_) => {
                            Some((false, Rect::around(pos(&e.key(s)?), Kind::Ext.half())))
                        }
                        _ => None,
                    })
                    .collect();
                Some((bb, rects))
            })
        })
    });
    let go = move |ev: &PointerEvent| {
        let Some((k, l, t)) = shapes.with(|x| x.as_ref().map(|(bb, _)| map_scale(bb))) else {
            return;
        };
        let Some(map) = document().get_element_by_id("minimap") else {
            return;
        };
        let r = map.get_bounding_client_rect();
        let p = (
            (ev.client_x() as f64 - r.left()) / k + l,
            (ev.client_y() as f64 - r.top()) / k + t,
        );
        ctx.center_on(p, ctx.view.get_untracked().k);
    };
    let pressed = RwSignal::new(false);
    view! {
        <svg id="minimap" class="minimap" xmlns="http://www.w3.org/2000/svg"
            width=MAP.0 height=MAP.1
            class:hidden=move || !shown.get() || shapes.with(Option::is_none)
            on:pointerdown=move |ev| { ev.stop_propagation(); pressed.set(true); go(&ev); }
            on:pointermove=move |ev| if pressed.get_untracked() { go(&ev) }
            on:pointerup=move |_| pressed.set(false)
            on:pointerleave=move |_| pressed.set(false)>
            {move || minimap_body(ctx, shapes)}
        </svg>
    }
}

/// The minimap's hosts and externals, and the frame of the part on screen.
fn minimap_body(ctx: Ctx, shapes: Shapes) -> Option<impl IntoView> {
    let (k, l, t) = shapes.with(|x| x.as_ref().map(|(bb, _)| map_scale(bb)))?;
    let px = move |r: &Rect| {
        (
            (r.l - l) * k,
            (r.t - t) * k,
            ((r.r - r.l) * k).max(1.0),
            ((r.b - r.t) * k).max(1.0),
        )
    };
    let boxes = shapes.with(|x| {
        x.as_ref().map(|(_, rects)| {
            rects
                .iter()
                .map(|(host, r)| {
                    let (x, y, w, h) = px(r);
                    view! { <rect class=if *host { "mm-host" } else { "mm-ext" } x=x y=y width=w height=h /> }
                })
                .collect_view()
        })
    });
    let frame = move || {
        ctx.view.track();
        px(&ctx.visible())
    };
    Some(view! {
        {boxes}
        <rect id="minimap-view" class="mm-view" x=move || frame().0 y=move || frame().1
            width=move || frame().2 height=move || frame().3 />
    })
}

/// The design as a file of its own: all of it at scale 1 whatever the
/// view's zoom, nothing selected, no handles. Returns the markup and its size.
fn export_markup(ctx: Ctx) -> Option<(String, f64, f64)> {
    use wasm_bindgen::JsCast;
    let bb = ctx.spec.with_untracked(|s| {
        ctx.layout.with_untracked(|lay| {
            model::design_bounds(s, &|k| lay.get(k).copied().unwrap_or_default())
        })
    })?;
    let copy: web_sys::Element = document()
        .get_element_by_id("canvas")?
        .clone_node_with_deep(true)
        .ok()?
        .dyn_into()
        .ok()?;
    // Room for tunnel labels and the links' text around the boxes.
    let pad = 40.0;
    let (x, y) = (bb.l - pad, bb.t - pad);
    let (w, h) = (bb.r - bb.l + 2.0 * pad, bb.b - bb.t + 2.0 * pad);
    let _ = copy.set_attribute("viewBox", &format!("{x} {y} {w} {h}"));
    let _ = copy.set_attribute("width", &w.to_string());
    let _ = copy.set_attribute("height", &h.to_string());
    let _ = copy.remove_attribute("class");
    let all = |css: &str| {
        let list = copy.query_selector_all(css).ok();
        let n = list.as_ref().map_or(0, |l| l.length());
        (0..n)
            .filter_map(|i| list.as_ref()?.item(i)?.dyn_into::<web_sys::Element>().ok())
            .collect::<Vec<_>>()
    };
    for v in all("#viewport") {
        let _ = v.remove_attribute("transform");
    }
    for e in all(".selected") {
        let _ = e.class_list().remove_1("selected");
    }
    for e in all(".sel") {
        let _ = e.class_list().remove_1("sel");
    }
    for e in all(".handle, .link-hit, .rubber, .band, .ghost") {
        e.remove();
    }
    let text = web_sys::XmlSerializer::new()
        .ok()?
        .serialize_to_string(&copy)
        .ok()?;
    Some((text, w, h))
}

/// Save a blob as a download named `name`.
pub fn save_blob(name: &str, blob: &web_sys::Blob) {
    use wasm_bindgen::JsCast;
    let Ok(url) = web_sys::Url::create_object_url_with_blob(blob) else {
        return;
    };
    if let Ok(a) = document().create_element("a") {
        let a: web_sys::HtmlAnchorElement = a.unchecked_into();
        a.set_href(&url);
        a.set_download(name);
        a.click();
    }
    let _ = web_sys::Url::revoke_object_url(&url);
}

fn svg_blob(text: &str) -> Option<web_sys::Blob> {
    let parts = js_sys::Array::of1(&wasm_bindgen::JsValue::from_str(text));
    let bag = web_sys::BlobPropertyBag::new();
    bag.set_type("image/svg+xml");
    web_sys::Blob::new_with_str_sequence_and_options(&parts, &bag).ok()
}

pub fn export_svg(ctx: Ctx) {
    if let Some(blob) = export_markup(ctx).and_then(|(text, _, _)| svg_blob(&text)) {
        let name = ctx.spec.with_untracked(|s| s.name.clone());
        save_blob(&format!("{name}.svg"), &blob);
    }
}

/// The exported SVG drawn into a bitmap: twice the size for sharpness, at
/// most 8,192 pixels a side (what browsers' canvases allow).
pub fn export_png(ctx: Ctx) {
    use wasm_bindgen::closure::Closure;
    use wasm_bindgen::JsCast;
    let Some((text, w, h)) = export_markup(ctx) else {
        return;
    };
    let Some(url) =
        svg_blob(&text).and_then(|b| web_sys::Url::create_object_url_with_blob(&b).ok())
    else {
        return;
    };
    let Ok(img) = web_sys::HtmlImageElement::new() else {
        return;
    };
    let name = ctx.spec.with_untracked(|s| s.name.clone());
    let scale = 2.0f64.min(8192.0 / w.max(h));
    let (pw, ph) = ((w * scale).round() as u32, (h * scale).round() as u32);
    let img2 = img.clone();
    let src = url.clone();
    let loaded = Closure::once_into_js(move || {
        let _ = web_sys::Url::revoke_object_url(&src);
        let Some(canvas) = document()
            .create_element("canvas")
            .ok()
            .and_then(|c| c.dyn_into::<web_sys::HtmlCanvasElement>().ok())
        else {
            return;
        };
        canvas.set_width(pw);
        canvas.set_height(ph);
        let Some(g) = canvas
            .get_context("2d")
            .ok()
            .flatten()
            .and_then(|g| g.dyn_into::<web_sys::CanvasRenderingContext2d>().ok())
        else {
            return;
        };
        g.set_fill_style_str("#fff");
        g.fill_rect(0.0, 0.0, pw as f64, ph as f64);
        let _ = g.draw_image_with_html_image_element_and_dw_and_dh(
            &img2, 0.0, 0.0, pw as f64, ph as f64,
        );
        let done = Closure::once_into_js(move |blob: Option<web_sys::Blob>| {
            if let Some(b) = blob {
                save_blob(&format!("{name}.png"), &b);
            }
        });
        let _ = canvas.to_blob(done.unchecked_ref());
    });
    img.set_onload(Some(loaded.unchecked_ref()));
    img.set_src(&url);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nic(addr: Option<&str>, vlan: Option<i64>) -> model::Link {
        model::Link {
            elem: Elem::Host(0),
            a: Elem::Host(0),
            b: Elem::Host(0),
            vlan,
            label: "eth0".into(),
            addr: addr.map(Into::into),
            tunnel: false,
        }
    }

    #[test]
    fn a_nic_is_labelled_with_its_address_and_titled_with_its_vlan() {
        let l = nic(Some("10.0.0.1/24"), Some(10));
        assert_eq!(
            link_text(&l, true),
            (
                "eth0 10.0.0.1/24".into(),
                "eth0 10.0.0.1/24, VLAN 10".into()
            )
        );
        assert_eq!(
            link_text(&nic(None, None), true),
            ("eth0".into(), "eth0".into())
        );
        // Tunnels and uplinks: their label alone.
        assert_eq!(link_text(&l, false).1, "eth0");
    }

    #[test]
    fn parallel_links_are_shifted_across_their_direction() {
        // Left to right: a positive offset moves both ends down.
        assert_eq!(
            shifted((0.0, 0.0), (10.0, 0.0), 5.0),
            ((0.0, 5.0), (10.0, 5.0))
        );
        assert_eq!(
            shifted((0.0, 0.0), (0.0, 10.0), 5.0),
            ((-5.0, 0.0), (-5.0, 10.0))
        );
        // Ends on one point: no division by zero.
        assert_eq!(
            shifted((1.0, 1.0), (1.0, 1.0), 5.0),
            ((1.0, 1.0), (1.0, 1.0))
        );
    }

    #[test]
    fn a_tag_sits_just_outside_the_guests_box() {
        // A 40 × 20 half-box, link to the right: past the box (40) and the tag (14), plus 3.
        assert_eq!(
            tag_point((0.0, 0.0), (200.0, 0.0), (40.0, 20.0)),
            (57.0, 0.0)
        );
        // A short link: at most 60% of its length.
        assert_eq!(
            tag_point((0.0, 0.0), (50.0, 0.0), (40.0, 20.0)),
            (30.0, 0.0)
        );
    }

    #[test]
    fn the_minimap_fits_the_design_and_centres_it() {
        // Twice as wide as the map's 160 × 100: half scale, centred down.
        let bb = Rect {
            l: 0.0,
            t: 0.0,
            r: 320.0,
            b: 100.0,
        };
        assert_eq!(map_scale(&bb), (0.5, 0.0, -50.0));
        // Tall: the height decides, centred across.
        let bb = Rect {
            l: 10.0,
            t: 0.0,
            r: 110.0,
            b: 200.0,
        };
        assert_eq!(map_scale(&bb), (0.5, -100.0, 0.0));
    }
}
