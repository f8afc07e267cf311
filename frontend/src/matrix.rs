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

/// An element's id: the Deploy tab's matrix prefixes its own with `deploy-`.
fn dom_id(deploy: bool, name: &str) -> String {
    if deploy {
        format!("deploy-{name}")
    } else {
        name.to_string()
    }
}

/// Verify's progress (pairs measured, in all) while it runs.
fn probing(sim: Sim) -> Option<(usize, usize)> {
    sim.probes
        .get()
        .filter(|&(done, total)| total == 0 || done < total)
}

/// The matrix; `deploy`: the Deploy tab's, which shows what Verify measured
/// (its ids start with `deploy-`, and it has no Compute button).
#[component]
pub fn Matrix(#[prop(optional)] deploy: bool) -> impl IntoView {
    let sim = expect_context::<Sim>();
    let layout = Memo::new(move |_| {
        let grid = sim.matrix.get()?;
        // Reordering while pairs stream in would move cells under the pointer.
        let done = probing(sim).is_none();
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
    view! {
        <MatrixHead deploy layout />
        <MatrixPanel deploy layout />
        {(!deploy).then(|| view! {
            <crate::fix_panel::IntentBox />
            <crate::fix_panel::FixBox at="matrix" />
        })}
    }
}

/// What Verify found in all, once it is done.
fn summary_text(disagreements: usize) -> String {
    if disagreements == 0 {
        "Real pings agree with the simulation on every pair (verified cells are underlined).".into()
    } else {
        format!(
            "{} with the simulation (marked ≠, listed first).",
            pairs_disagree(disagreements)
        )
    }
}

/// The heading, the Compute button, the matrix's shape, and Verify's progress and summary.
#[component]
fn MatrixHead(deploy: bool, layout: Memo<Option<Layout>>) -> impl IntoView {
    let ctx = expect_context::<Ctx>();
    let sim = expect_context::<Sim>();
    let id = move |name: &str| dom_id(deploy, name);
    let summary = move || {
        let n = layout.with(|l| l.as_ref().and_then(|l| l.disagreements))?;
        Some(view! {
            <p id=id("verify-summary") class=if n == 0 { "result ok" } else { "result bad" } data-disagreements=n.to_string()>
                {summary_text(n)}
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
        {move || probing(sim).map(|(done, total)| view! {
            <p id=id("verify-running") class="result">{if total == 0 { "Verifying: waiting for the first ping…".to_string() } else { format!("Verifying: {done} of {total} pairs measured so far…") }}</p>
        })}
        {summary}
    }
}

/// The scrolling matrix and what it shares: the layout, the view's scroll
/// position and size, and the pair found.
#[derive(Clone, Copy)]
struct Panel {
    deploy: bool,
    sim: Sim,
    layout: Memo<Option<Layout>>,
    scroller: NodeRef<html::Div>,
    /// The scroll position and size of the view: left, top, width, height.
    viewport: RwSignal<(f64, f64, f64, f64)>,
    /// The visible slot ranges (rows, columns).
    window: Memo<(Range<usize>, Range<usize>)>,
    found: RwSignal<Option<(Option<usize>, Option<usize>)>>,
    find_error: RwSignal<Option<String>>,
}

impl Panel {
    fn new(deploy: bool, sim: Sim, layout: Memo<Option<Layout>>) -> Panel {
        let viewport = RwSignal::new((0.0, 0.0, 0.0, 0.0));
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
        Panel {
            deploy,
            sim,
            layout,
            scroller: NodeRef::new(),
            viewport,
            window,
            found: RwSignal::new(None),
            find_error: RwSignal::new(None),
        }
    }

    fn id(self, name: &str) -> String {
        dom_id(self.deploy, name)
    }

    fn measure(self) {
        if let Some(el) = self.scroller.get_untracked() {
            self.viewport.set((
                el.scroll_left() as f64,
                el.scroll_top() as f64,
                el.client_width() as f64,
                el.client_height() as f64,
            ));
        }
    }

    /// The view's size changes when its tab is shown, when it is widened, when the window resizes.
    fn watch_size(self) {
        Effect::new(move |_| {
            let Some(el) = self.scroller.get() else {
                return;
            };
            let cb = Closure::<dyn FnMut()>::new(move || self.measure());
            if let Ok(obs) = web_sys::ResizeObserver::new(cb.as_ref().unchecked_ref()) {
                obs.observe(&el);
                on_cleanup(move || obs.disconnect());
            }
            // Owned by the observer for the page's life.
            cb.forget();
        });
    }

    /// The whole matrix's width and height (px).
    fn size(self) -> (f64, f64) {
        self.layout.with(|l| {
            l.as_ref().map_or((0.0, 0.0), |l| {
                (
                    LABEL_W + l.cols.len() as f64 * CW,
                    HEAD_H + l.rows.len() as f64 * CH,
                )
            })
        })
    }

    /// The cells in view.
    fn cells(self) -> Vec<CellView> {
        let (rows, cols) = self.window.get();
        let grid = self.sim.matrix.get();
        let found = self.found.get();
        self.layout.with(|l| {
            let (Some(l), Some(g)) = (l, grid) else {
                return Vec::new();
            };
            self.sim.real.with(|real| {
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
    }

    /// Row labels (sticky on the left) or column headings (sticky on top) in view, host headings included.
    fn heads(self, row: bool) -> Vec<Head> {
        let (rows, cols) = self.window.get();
        let grid = self.sim.matrix.get();
        self.layout.with(|l| {
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
    }

    /// Host headings across the cells: a band per row group, a stripe per
    /// column group, as (left, top, width, height).
    fn bands(self) -> Vec<(f64, f64, f64, f64)> {
        let (rows, cols) = self.window.get();
        let (w, h) = self.size();
        self.layout.with(|l| {
            let Some(l) = l else { return Vec::new() };
            let across = rows
                .filter(|&i| matches!(l.rows[i], Slot::Group(..)))
                .map(|i| (LABEL_W, HEAD_H + i as f64 * CH, w - LABEL_W, CH));
            let down = cols
                .filter(|&j| matches!(l.cols[j], Slot::Group(..)))
                .map(|j| (LABEL_W + j as f64 * CW, HEAD_H, CW, h - HEAD_H));
            across.chain(down).collect()
        })
    }

    /// Find the sender and address typed, and scroll them into the middle of the view.
    fn find(self) {
        let from = document_value(&self.id("matrix-find-from"));
        let to = document_value(&self.id("matrix-find-to"));
        self.find_error.set(None);
        let Some(grid) = self.sim.matrix.get_untracked() else {
            return;
        };
        let r = (!from.is_empty()).then(|| grid.row_of(&from));
        let c = (!to.is_empty()).then(|| grid.col_of(&to));
        if let Some(None) = r {
            self.find_error
                .set(Some(format!("no sender {from} in the matrix")));
        }
        if let Some(None) = c {
            self.find_error
                .set(Some(format!("no address {to} in the matrix")));
        }
        let (r, c) = (r.flatten(), c.flatten());
        self.found.set(Some((r, c)));
        let (Some(el), Some(l)) = (self.scroller.get_untracked(), self.layout.get_untracked())
        else {
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
        self.measure();
    }
}

/// The Find fields, and the matrix itself: only the cells and labels in view are drawn.
#[component]
fn MatrixPanel(deploy: bool, layout: Memo<Option<Layout>>) -> impl IntoView {
    let ctx = expect_context::<Ctx>();
    let sim = expect_context::<Sim>();
    let p = Panel::new(deploy, sim, layout);
    p.watch_size();
    let wide = RwSignal::new(false);
    let id = move |name: &str| p.id(name);
    let head_view = move |h: Head| head_view(p.found, h);
    let bands = move || {
        p.bands()
            .into_iter()
            .map(|(x, y, bw, bh)| {
                view! {
                    <div class="mx-band" style:left=format!("{x}px") style:top=format!("{y}px")
                        style:width=format!("{bw}px") style:height=format!("{bh}px")></div>
                }
            })
            .collect::<Vec<_>>()
    };
    view! {
        <div class="matrix-panel" class:wide=move || wide.get() class:hidden=move || sim.matrix.with(Option::is_none)>
            <div class="row matrix-tools">
                <input id=id("matrix-find-from") placeholder="sender" on:change=move |_| p.find() />
                <input id=id("matrix-find-to") placeholder="address" on:change=move |_| p.find() />
                <button class="small" id=id("matrix-find") on:click=move |_| p.find()>"Find"</button>
                <button class="small" id=id("matrix-wide") on:click=move |_| wide.update(|w| *w = !*w)>
                    {move || if wide.get() { "Back to the panel" } else { "Enlarge" }}
                </button>
            </div>
            {move || p.find_error.get().map(|e| view! { <p class="error" id=id("matrix-find-error")>{e}</p> })}
            <div class="matrix-scroll" id=id("reach-matrix") node_ref=p.scroller on:scroll=move |_| p.measure()>
                <div class="mx" on:click=move |ev| animate(ctx, sim, &ev) style:width=move || format!("{}px", p.size().0) style:height=move || format!("{}px", p.size().1)>
                    <div class="mx-head" style:height=format!("{HEAD_H}px")>
                        <div class="mx-corner" style:width=format!("{LABEL_W}px")>"from \\ to"</div>
                        <For each=move || p.heads(false) key=|h| h.clone() children=head_view />
                    </div>
                    <div class="mx-rows" style:width=format!("{LABEL_W}px") style:height=move || format!("{}px", p.size().1 - HEAD_H)>
                        <For each=move || p.heads(true) key=|h| h.clone() children=head_view />
                    </div>
                    {bands}
                    <For each=move || p.cells() key=|c| c.clone() children=move |v| cell_view(sim, v) />
                </div>
            </div>
        </div>
    }
}

/// A cell's classes, its mark, and what the real ping said (for its title).
fn cell_look(ok: bool, measured: Option<bool>) -> (String, &'static str, &'static str) {
    let disagree = measured.is_some_and(|m| m != ok);
    let class = format!(
        "cell {}{}{}",
        if ok { "ok" } else { "no" },
        if measured.is_some() { " verified" } else { "" },
        if disagree { " disagree" } else { "" }
    );
    let mark = match (ok, disagree) {
        (_, true) => "≠",
        (true, _) => "✓",
        (false, _) => "✗",
    };
    let real_said = match measured {
        Some(true) => "; real ping: reply",
        Some(false) => "; real ping: no reply",
        None => "",
    };
    (class, mark, real_said)
}

fn cell_view(sim: Sim, v: CellView) -> impl IntoView {
    let grid = sim.matrix.get_untracked().unwrap_or_default();
    let (from, to) = (grid.rows[v.r].name.clone(), grid.cols[v.c].name.clone());
    let detail = grid
        .cell(v.r, v.c)
        .map(|c| c.1.to_string())
        .unwrap_or_default();
    let (class, mark, real_said) = cell_look(v.ok, v.measured);
    let title = format!("{from} → {to}: {detail}{real_said}");
    view! {
        <div class=class class:found=v.found title=title data-from=from data-to=to
            style:left=format!("{}px", LABEL_W + v.j as f64 * CW)
            style:top=format!("{}px", HEAD_H + v.i as f64 * CH)>{mark}</div>
    }
}

fn head_view(found: RwSignal<Option<(Option<usize>, Option<usize>)>>, h: Head) -> impl IntoView {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_slots_in_view_and_a_margin_are_drawn() {
        // 100 px from 200 px on, 20 px slots: slots 10..15, three more each side.
        assert_eq!(in_view(200.0, 100.0, 20.0, 1000), 7..18);
        assert_eq!(in_view(0.0, 100.0, 20.0, 1000), 0..8);
        assert_eq!(in_view(0.0, 100.0, 20.0, 4), 0..4);
        // Scrolled past the end (the axis shrank): nothing, not a reversed range.
        assert_eq!(in_view(900.0, 100.0, 20.0, 4), 4..4);
    }

    #[test]
    fn a_cell_shows_whether_the_real_ping_agreed() {
        assert_eq!(cell_look(true, None), ("cell ok".into(), "✓", ""));
        assert_eq!(cell_look(false, None), ("cell no".into(), "✗", ""));
        assert_eq!(
            cell_look(true, Some(true)),
            ("cell ok verified".into(), "✓", "; real ping: reply")
        );
        assert_eq!(
            cell_look(true, Some(false)),
            (
                "cell ok verified disagree".into(),
                "≠",
                "; real ping: no reply"
            )
        );
        assert_eq!(
            cell_look(false, Some(true)),
            (
                "cell no verified disagree".into(),
                "≠",
                "; real ping: reply"
            )
        );
    }

    #[test]
    fn the_deploy_tabs_matrix_has_ids_of_its_own() {
        assert_eq!(dom_id(false, "reach-matrix"), "reach-matrix");
        assert_eq!(dom_id(true, "reach-matrix"), "deploy-reach-matrix");
    }

    #[test]
    fn the_summary_counts_the_disagreements() {
        assert!(summary_text(0).starts_with("Real pings agree"));
        let two = summary_text(2);
        assert!(two.starts_with(&pairs_disagree(2)), "{two}");
        assert!(two.ends_with("(marked ≠, listed first)."), "{two}");
    }
}
