//! The reachability matrix: every sender × every address, green or red, with
//! the real pings of Verify laid over it (filled in pair by pair while Verify
//! runs). Virtualised: only the cells in view are in the DOM, so 40,000 or a
//! million pairs scroll like forty. Rows and columns are grouped by host (a
//! heading line per host); once Verify is done, hosts and members with
//! disagreements come first. A click on a cell animates that pair. Columns
//! are named by owner and address and follow the rows, so every sender's
//! own cell is on the diagonal. The Simulate tab has one, and the Deploy tab
//! one of its own for Verify.

use std::ops::Range;

use leptos::html;
use leptos::prelude::*;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;

use crate::sim::Sim;
use crate::state::Ctx;
use netloom_frontend::grid::{pairs_disagree, Grid, Slot};

/// Cell width and height, the row labels' width and the column headings' height (px).
const CW: f64 = 24.0;
const CH: f64 = 20.0;
const LABEL_W: f64 = 132.0;
const HEAD_H: f64 = 124.0;
/// Cells drawn beyond each edge of the view, so a short scroll shows no gap.
const OVERSCAN: usize = 3;

/// The axes as laid out, and the disagreements once Verify is done.
#[derive(Clone, Debug, PartialEq)]
struct Layout {
    rows: Vec<Slot>,
    cols: Vec<Slot>,
    disagreements: Option<usize>,
}

/// One cell in view: its row and column (grid indices), slot positions and state.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct CellView {
    r: usize,
    c: usize,
    i: usize,
    j: usize,
    ok: bool,
    measured: Option<bool>,
    found: bool,
}

/// The slots of an axis that overlap `[from, from + len)` px (the axis starts at 0).
fn in_view(from: f64, len: f64, size: f64, n: usize) -> Range<usize> {
    let first = ((from / size).floor().max(0.0) as usize).saturating_sub(OVERSCAN);
    let last = (((from + len) / size).ceil().max(0.0) as usize + OVERSCAN).min(n);
    first.min(last)..last
}

/// Where a member sits on its laid-out axis.
fn slot_of(slots: &[Slot], member: usize) -> Option<usize> {
    slots.iter().position(|s| *s == Slot::Item(member))
}

/// The matrix; `deploy`: the Deploy tab's, which shows what Verify measured
/// (its ids start with `deploy-`, and it has no Compute button).
#[component]
pub fn Matrix(#[prop(optional)] deploy: bool) -> impl IntoView {
    let ctx = expect_context::<Ctx>();
    let sim = expect_context::<Sim>();
    let id = move |name: &str| {
        if deploy {
            format!("deploy-{name}")
        } else {
            name.to_string()
        }
    };
    let scroller = NodeRef::<html::Div>::new();
    // The scroll position and size of the view: left, top, width, height.
    let viewport = RwSignal::new((0.0, 0.0, 0.0, 0.0));
    let wide = RwSignal::new(false);
    let found = RwSignal::new(None::<(Option<usize>, Option<usize>)>);
    let find_error = RwSignal::new(None::<String>);
    let measure = move || {
        if let Some(el) = scroller.get_untracked() {
            viewport.set((
                el.scroll_left() as f64,
                el.scroll_top() as f64,
                el.client_width() as f64,
                el.client_height() as f64,
            ));
        }
    };
    // The view's size changes when its tab is shown, when it is widened, when the window resizes.
    Effect::new(move |_| {
        let Some(el) = scroller.get() else {
            return;
        };
        let cb = Closure::<dyn FnMut()>::new(measure);
        if let Ok(obs) = web_sys::ResizeObserver::new(cb.as_ref().unchecked_ref()) {
            obs.observe(&el);
            on_cleanup(move || obs.disconnect());
        }
        // Owned by the observer for the page's life.
        cb.forget();
    });
    let probing = move || {
        sim.probes
            .get()
            .filter(|&(done, total)| total == 0 || done < total)
    };
    let layout = Memo::new(move |_| {
        let grid = sim.matrix.get()?;
        // Reordering while pairs stream in would move cells under the pointer.
        let done = probing().is_none();
        let bad = done
            .then(|| sim.real.with(|r| r.as_ref().map(|r| grid.disagreements(r))))
            .flatten();
        let (rows, cols) = grid.layout(bad.as_ref().map(|b| (b.1.as_slice(), b.2.as_slice())));
        Some(Layout {
            rows,
            cols,
            disagreements: bad.map(|b| b.0),
        })
    });
    let size = move || {
        layout.with(|l| {
            l.as_ref().map_or((0.0, 0.0), |l| {
                (
                    LABEL_W + l.cols.len() as f64 * CW,
                    HEAD_H + l.rows.len() as f64 * CH,
                )
            })
        })
    };
    // The visible slot ranges (rows, columns).
    // Downstream work happens only when a row or column comes into view or leaves it.
    let window = Memo::new(move |_| {
        let (left, top, w, h) = viewport.get();
        // Hidden (its tab not shown) until the first measure: draw a panel's worth.
        let (w, h) = if w > 0.0 { (w, h) } else { (340.0, 300.0) };
        layout.with(|l| {
            l.as_ref().map_or((0..0, 0..0), |l| {
                (
                    in_view(top, h - HEAD_H, CH, l.rows.len()),
                    in_view(left, w - LABEL_W, CW, l.cols.len()),
                )
            })
        })
    });
    let cells = move || {
        let (rows, cols) = window.get();
        let grid = sim.matrix.get();
        let found = found.get();
        layout.with(|l| {
            let (Some(l), Some(g)) = (l, grid) else {
                return Vec::new();
            };
            sim.real.with(|real| {
                let mut out = Vec::new();
                for i in rows.clone() {
                    let Slot::Item(r) = l.rows[i] else { continue };
                    for j in cols.clone() {
                        let Slot::Item(c) = l.cols[j] else { continue };
                        let Some((ok, _)) = g.cell(r, c) else {
                            continue;
                        };
                        let measured = real
                            .as_ref()
                            .and_then(|m| m.get(&g.rows[r].name, &g.cols[c].name));
                        out.push(CellView {
                            r,
                            c,
                            i,
                            j,
                            ok,
                            measured,
                            found: found == Some((Some(r), Some(c))),
                        });
                    }
                }
                out
            })
        })
    };
    let cell_view = move |v: CellView| {
        let grid = sim.matrix.get_untracked().unwrap_or_default();
        let (from, to) = (grid.rows[v.r].name.clone(), grid.cols[v.c].name.clone());
        let detail = grid
            .cell(v.r, v.c)
            .map(|c| c.1.to_string())
            .unwrap_or_default();
        let disagree = v.measured.is_some_and(|m| m != v.ok);
        let class = format!(
            "cell {}{}{}",
            if v.ok { "ok" } else { "no" },
            if v.measured.is_some() {
                " verified"
            } else {
                ""
            },
            if disagree { " disagree" } else { "" }
        );
        let real_said = match v.measured {
            Some(true) => "; real ping: reply",
            Some(false) => "; real ping: no reply",
            None => "",
        };
        let title = format!("{from} → {to}: {detail}{real_said}");
        let mark = match (v.ok, disagree) {
            (_, true) => "≠",
            (true, _) => "✓",
            (false, _) => "✗",
        };
        view! {
            <div class=class class:found=v.found title=title data-from=from data-to=to
                style:left=format!("{}px", LABEL_W + v.j as f64 * CW)
                style:top=format!("{}px", HEAD_H + v.i as f64 * CH)>{mark}</div>
        }
    };
    // Row labels (sticky on the left) or column headings (sticky on top) in view, host headings included.
    let heads = move |row: bool| {
        let (rows, cols) = window.get();
        let grid = sim.matrix.get();
        layout.with(|l| {
            let (Some(l), Some(g)) = (l, grid) else {
                return Vec::new();
            };
            let (slots, range) = if row {
                (&l.rows, rows)
            } else {
                (&l.cols, cols)
            };
            range.map(|i| head_of(&g, &slots[i], i, row)).collect()
        })
    };
    let head_view = move |h: Head| {
        let is_found = move || {
            found.get().is_some_and(|(r, c)| {
                h.member.is_some() && if h.row { r == h.member } else { c == h.member }
            })
        };
        let pos = if h.row {
            (0.0, h.slot as f64 * CH)
        } else {
            (LABEL_W + h.slot as f64 * CW, 0.0)
        };
        let name = h.name.clone();
        view! {
            <div class=if h.row { "mx-label row" } else { "mx-label col" } class:group=h.group
                class:found=is_found title=h.title data-name=name
                style:left=format!("{}px", pos.0) style:top=format!("{}px", pos.1)>
                <span>{h.text}</span>
            </div>
        }
    };
    // Host headings across the cells: a band per row group, a stripe per column group.
    let bands =
        move || {
            let (rows, cols) = window.get();
            let (w, h) = size();
            layout.with(|l| {
                let Some(l) = l else { return Vec::new() };
                let across = rows
                    .filter(|&i| matches!(l.rows[i], Slot::Group(..)))
                    .map(|i| (LABEL_W, HEAD_H + i as f64 * CH, w - LABEL_W, CH));
                let down = cols
                    .filter(|&j| matches!(l.cols[j], Slot::Group(..)))
                    .map(|j| (LABEL_W + j as f64 * CW, HEAD_H, CW, h - HEAD_H));
                across.chain(down).map(|(x, y, bw, bh)| {
                view! {
                    <div class="mx-band" style:left=format!("{x}px") style:top=format!("{y}px")
                        style:width=format!("{bw}px") style:height=format!("{bh}px")></div>
                }
            }).collect::<Vec<_>>()
            })
        };
    let find = move || {
        let from = document_value(&id("matrix-find-from"));
        let to = document_value(&id("matrix-find-to"));
        find_error.set(None);
        let Some(grid) = sim.matrix.get_untracked() else {
            return;
        };
        let r = (!from.is_empty()).then(|| grid.row_of(&from));
        let c = (!to.is_empty()).then(|| grid.col_of(&to));
        if let Some(None) = r {
            find_error.set(Some(format!("no sender {from} in the matrix")));
        }
        if let Some(None) = c {
            find_error.set(Some(format!("no address {to} in the matrix")));
        }
        let (r, c) = (r.flatten(), c.flatten());
        found.set(Some((r, c)));
        let (Some(el), Some(l)) = (scroller.get_untracked(), layout.get_untracked()) else {
            return;
        };
        let (w, h) = (el.client_width() as f64, el.client_height() as f64);
        // Put the found row and column in the middle of the view.
        let left = c
            .and_then(|c| slot_of(&l.cols, c))
            .map(|j| j as f64 * CW - (w - LABEL_W) / 2.0);
        let top = r
            .and_then(|r| slot_of(&l.rows, r))
            .map(|i| i as f64 * CH - (h - HEAD_H) / 2.0);
        let opts = web_sys::ScrollToOptions::new();
        opts.set_left(left.unwrap_or(el.scroll_left() as f64).max(0.0));
        opts.set_top(top.unwrap_or(el.scroll_top() as f64).max(0.0));
        el.scroll_to_with_scroll_to_options(&opts);
        measure();
    };
    let summary = move || {
        let n = layout.with(|l| l.as_ref().and_then(|l| l.disagreements))?;
        Some(view! {
            <p id=id("verify-summary") class=if n == 0 { "result ok" } else { "result bad" } data-disagreements=n.to_string()>
                {if n == 0 { "Real pings agree with the simulation on every pair (verified cells are underlined).".to_string() } else { format!("{} with the simulation (marked ≠, listed first).", pairs_disagree(n)) }}
            </p>
        })
    };
    let shape = move || {
        sim.matrix.with(|g| {
            g.as_ref().map(|g| {
                format!(
                    "{} senders × {} addresses, {} pairs",
                    g.rows.len(),
                    g.cols.len(),
                    g.pairs()
                )
            })
        })
    };
    let compute = move |_| {
        if ctx.check.with_untracked(|c| c.topo.is_none()) {
            sim.error.set(Some(
                "the design has errors: fix the problems listed first".into(),
            ));
            return;
        }
        sim.predict(ctx.spec.with_untracked(netloom_frontend::work::design_json));
    };
    let state = move || {
        if sim.reaching.get() {
            "running"
        } else if sim.matrix.with(Option::is_some) {
            "done"
        } else {
            "none"
        }
    };
    view! {
        <h4>{if deploy { "Verified matrix" } else { "Reachability" }}</h4>
        <div class="row">
            {(!deploy).then(|| view! {
                <button id="reach-run" disabled=move || sim.reaching.get() on:click=compute>
                    {move || if sim.reaching.get() { "Computing…" } else { "Compute matrix" }}
                </button>
            })}
            <span id=id("reach-status") class="muted" data-state=state>{move || if sim.reaching.get() {
                Some("computing in the background…".to_string())
            } else {
                shape()
            }}</span>
        </div>
        {move || probing().map(|(done, total)| view! {
            <p id=id("verify-running") class="result">{if total == 0 { "Verifying: waiting for the first ping…".to_string() } else { format!("Verifying: {done} of {total} pairs measured so far…") }}</p>
        })}
        {summary}
        <div class="matrix-panel" class:wide=move || wide.get() class:hidden=move || sim.matrix.with(Option::is_none)>
            <div class="row matrix-tools">
                <input id=id("matrix-find-from") placeholder="sender" on:change=move |_| find() />
                <input id=id("matrix-find-to") placeholder="address" on:change=move |_| find() />
                <button class="small" id=id("matrix-find") on:click=move |_| find()>"Find"</button>
                <button class="small" id=id("matrix-wide") on:click=move |_| wide.update(|w| *w = !*w)>
                    {move || if wide.get() { "Back to the panel" } else { "Enlarge" }}
                </button>
            </div>
            {move || find_error.get().map(|e| view! { <p class="error" id=id("matrix-find-error")>{e}</p> })}
            <div class="matrix-scroll" id=id("reach-matrix") node_ref=scroller on:scroll=move |_| measure()>
                <div class="mx" on:click=move |ev| animate(ctx, sim, &ev) style:width=move || format!("{}px", size().0) style:height=move || format!("{}px", size().1)>
                    <div class="mx-head" style:height=format!("{HEAD_H}px")>
                        <div class="mx-corner" style:width=format!("{LABEL_W}px")>"from \\ to"</div>
                        <For each=move || heads(false) key=|h| h.clone() children=head_view />
                    </div>
                    <div class="mx-rows" style:width=format!("{LABEL_W}px") style:height=move || format!("{}px", size().1 - HEAD_H)>
                        <For each=move || heads(true) key=|h| h.clone() children=head_view />
                    </div>
                    {bands}
                    <For each=cells key=|c| c.clone() children=cell_view />
                </div>
            </div>
        </div>
    }
}

/// A row label, a column heading, or a host's heading on either axis.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Head {
    row: bool,
    slot: usize,
    /// The member (grid index); `None` for a host's heading or a blank.
    member: Option<usize>,
    /// A host's heading.
    group: bool,
    /// A sender's name or an address (what Find takes).
    name: String,
    /// What the label shows: a column names the address's owner too.
    text: String,
    title: String,
}

fn head_of(g: &Grid, s: &Slot, slot: usize, row: bool) -> Head {
    match s {
        Slot::Group(host, n) => Head {
            row,
            slot,
            member: None,
            group: true,
            name: host.clone(),
            text: host.clone(),
            title: format!("{host}: {n} {}", if row { "senders" } else { "addresses" }),
        },
        Slot::Item(m) if row => {
            let a = &g.rows[*m];
            Head {
                row,
                slot,
                member: Some(*m),
                group: false,
                name: a.name.clone(),
                text: a.name.clone(),
                title: format!("{} (on {})", a.name, a.host),
            }
        }
        Slot::Item(m) => {
            let a = &g.cols[*m];
            Head {
                row,
                slot,
                member: Some(*m),
                group: false,
                name: a.name.clone(),
                text: format!("{} {}", a.owner, a.name),
                title: format!("{} of {} (on {})", a.name, a.owner, a.host),
            }
        }
        Slot::Blank(r) => {
            let a = &g.rows[*r];
            Head {
                row,
                slot,
                member: None,
                group: false,
                name: String::new(),
                text: format!("{} —", a.name),
                title: format!("{} has no address", a.name),
            }
        }
    }
}

fn document_value(id: &str) -> String {
    document()
        .get_element_by_id(id)
        .and_then(|e| e.dyn_into::<web_sys::HtmlInputElement>().ok())
        .map(|e| e.value().trim().to_string())
        .unwrap_or_default()
}

/// A click on a cell animates its pair (one listener for all cells: cells
/// come and go as the view scrolls).
fn animate(ctx: Ctx, sim: Sim, ev: &web_sys::MouseEvent) {
    let Some(cell) = ev
        .target()
        .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
        .and_then(|e| e.closest(".cell").ok().flatten())
    else {
        return;
    };
    let (Some(from), Some(to)) = (
        cell.get_attribute("data-from"),
        cell.get_attribute("data-to"),
    ) else {
        return;
    };
    sim.from.set(from.clone());
    sim.to.set(to.clone());
    sim.proto.set("icmp".into());
    sim.run(ctx, crate::sim::Asked::ping(&from, &to));
}
