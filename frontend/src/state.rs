//! The app's shared state: the design (one signal holding the raw spec), its
//! undo/redo history, what is selected, the canvas view, and what is being
//! dragged. Everything else is derived: validation, the resolved topology,
//! positions.

use std::collections::BTreeSet;

use leptos::prelude::*;
use netloom_core::spec::{Position, TopologySpec};
use netloom_core::{Problem, Topology};

use crate::model::{self, Elem, Kind, Layout};

/// The result of validating the design after each edit.
#[derive(Clone, Debug, PartialEq)]
pub struct Check {
    /// Errors and warnings, in the validator's order.
    pub problems: Vec<Problem>,
    /// The resolved topology when the design is valid (simulation needs it).
    pub topo: Option<Topology>,
}

/// The farthest Fit and the wheel zoom out: small enough for hundreds of hosts.
pub const MIN_ZOOM: f64 = 0.01;

/// Pan and zoom: canvas point p is drawn at `p * k + (tx, ty)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct View {
    pub tx: f64,
    pub ty: f64,
    pub k: f64,
}

/// A pointer gesture in progress (canvas coordinates unless said otherwise).
#[derive(Clone, Debug, PartialEq)]
pub enum Drag {
    /// Moving nodes: their layout ids and the offset so far.
    Move {
        keys: BTreeSet<String>,
        start: (f64, f64),
        d: (f64, f64),
    },
    /// Panning: where it started in client pixels, and the view then.
    Pan {
        start: (f64, f64),
        orig: View,
        moved: bool,
    },
    /// Rubber-band selection.
    Band { start: (f64, f64), cur: (f64, f64) },
    /// Drawing a connection from a node's handle.
    Connect { from: Elem, cur: (f64, f64) },
    /// Dragging a new element from the palette (`cur`: over the canvas).
    Place { kind: Kind, cur: Option<(f64, f64)> },
}

/// The design's place on the server, once saved or opened.
#[derive(Clone, Debug, PartialEq)]
pub struct Stored {
    pub id: i64,
    pub name: String,
    pub revision: i64,
}

/// Handles to all shared state; `Copy`, so every closure can take one.
#[derive(Clone, Copy)]
pub struct Ctx {
    pub spec: RwSignal<TopologySpec>,
    undo: StoredValue<Vec<TopologySpec>>,
    redo: StoredValue<Vec<TopologySpec>>,
    /// The coalescing key and time of the last edit (typing merges into one undo step).
    last: StoredValue<(Option<&'static str>, f64)>,
    pub history_len: RwSignal<(usize, usize)>,
    pub sel: RwSignal<Vec<Elem>>,
    pub view: RwSignal<View>,
    pub drag: RwSignal<Option<Drag>>,
    /// Layout ids being moved: set when a move starts and cleared when it
    /// ends, so nodes that stay put never re-render during a drag.
    pub moving: RwSignal<BTreeSet<String>>,
    /// The move's offset so far; only what is moving reads it.
    pub offset: RwSignal<(f64, f64)>,
    /// A message for the user: text and whether it is an error.
    pub toast: RwSignal<Option<(String, bool)>>,
    pub check: Memo<Check>,
    /// Elements with an error or warning (for the red marks).
    pub flagged: Memo<BTreeSet<Elem>>,
    pub layout: Memo<Layout>,
    /// A tunnel waiting for the user to pick GRE or VXLAN: the two bridges and where to ask.
    pub pending_tunnel: RwSignal<Option<(Elem, Elem, (f64, f64))>>,
    pub stored: RwSignal<Option<Stored>>,
    /// Right-hand panel tab.
    pub tab: RwSignal<&'static str>,
}

impl Ctx {
    pub fn new(spec: TopologySpec) -> Ctx {
        let spec = RwSignal::new(spec);
        let check = Memo::new(move |_| {
            spec.with(|s| match netloom_core::validate(s) {
                Ok(c) => Check {
                    problems: c.warnings,
                    topo: Some(c.topology),
                },
                Err(problems) => Check {
                    problems,
                    topo: None,
                },
            })
        });
        let flagged = Memo::new(move |_| {
            check.with(|c| {
                c.problems
                    .iter()
                    .filter_map(|p| model::elem_of_path(&p.path))
                    .collect()
            })
        });
        Ctx {
            spec,
            undo: StoredValue::new(Vec::new()),
            redo: StoredValue::new(Vec::new()),
            last: StoredValue::new((None, 0.0)),
            history_len: RwSignal::new((0, 0)),
            sel: RwSignal::new(Vec::new()),
            view: RwSignal::new(View {
                tx: 20.0,
                ty: 10.0,
                k: 1.0,
            }),
            drag: RwSignal::new(None),
            moving: RwSignal::new(BTreeSet::new()),
            offset: RwSignal::new((0.0, 0.0)),
            toast: RwSignal::new(None),
            check,
            flagged,
            layout: Memo::new(move |_| spec.with(model::effective_layout)),
            pending_tunnel: RwSignal::new(None),
            stored: RwSignal::new(None),
            tab: RwSignal::new("props"),
        }
    }

    /// End whatever gesture is in progress.
    pub fn end_drag(&self) {
        self.drag.set(None);
        if self.moving.with_untracked(|m| !m.is_empty()) {
            self.moving.set(BTreeSet::new());
        }
    }

    /// Apply one edit as one undo step. Edits with the same `coalesce` key
    /// within 1.5 s merge (typing in the YAML panel is one step, not one per key).
    /// Positions the canvas showed are written into the layout, so adding an
    /// element never moves the others; not for YAML typing (`coalesce` =
    /// `yaml`), where the text must stay exactly what was typed.
    pub fn edit(&self, coalesce: Option<&'static str>, f: impl FnOnce(&mut TopologySpec)) {
        let old = self.spec.get_untracked();
        let mut new = old.clone();
        f(&mut new);
        if new == old {
            return;
        }
        let shown = self.layout.get_untracked();
        let from_text = coalesce == Some("yaml");
        for e in model::nodes(&new).into_iter().filter(|_| !from_text) {
            if let Some(k) = e.key(&new) {
                if !new.layout.contains_key(&k) {
                    if let Some(&(x, y)) = shown.get(&k) {
                        new.layout.insert(
                            k,
                            Position {
                                x: x.round(),
                                y: y.round(),
                            },
                        );
                    }
                }
            }
        }
        let now = js_sys::Date::now();
        let (lk, lt) = self.last.get_value();
        let merge = coalesce.is_some() && lk == coalesce && now - lt < 1500.0;
        if !merge {
            self.undo.update_value(|u| {
                u.push(old);
                if u.len() > 500 {
                    u.remove(0);
                }
            });
        }
        self.redo.update_value(Vec::clear);
        self.last.set_value((coalesce, now));
        self.spec.set(new);
        self.sync_history();
    }

    /// Replace the design (open, import, example, new): a fresh history.
    pub fn replace(&self, spec: TopologySpec, stored: Option<Stored>) {
        self.undo.update_value(Vec::clear);
        self.redo.update_value(Vec::clear);
        self.last.set_value((None, 0.0));
        self.sel.set(Vec::new());
        self.spec.set(spec);
        self.stored.set(stored);
        self.sync_history();
        self.fit();
    }

    fn sync_history(&self) {
        let u = self.undo.with_value(Vec::len);
        let r = self.redo.with_value(Vec::len);
        self.history_len.set((u, r));
    }

    pub fn undo(&self) {
        if let Some(prev) = self.undo.try_update_value(Vec::pop).flatten() {
            let cur = self.spec.get_untracked();
            self.redo.update_value(|r| r.push(cur));
            self.after_history(prev);
        }
    }

    pub fn redo(&self) {
        if let Some(next) = self.redo.try_update_value(Vec::pop).flatten() {
            let cur = self.spec.get_untracked();
            self.undo.update_value(|u| u.push(cur));
            self.after_history(next);
        }
    }

    fn after_history(&self, spec: TopologySpec) {
        self.last.set_value((None, 0.0));
        // Indices may point elsewhere now.
        self.sel.set(Vec::new());
        self.spec.set(spec);
        self.sync_history();
    }

    pub fn say(&self, msg: impl Into<String>, error: bool) {
        self.toast.set(Some((msg.into(), error)));
    }

    pub fn select_only(&self, e: Elem) {
        self.sel.set(vec![e]);
        self.tab.set("props");
    }

    /// Zoom and pan so the whole design fits the canvas.
    pub fn fit(&self) {
        let s = self.spec.get_untracked();
        let lay = model::effective_layout(&s);
        let pos = |k: &str| lay.get(k).copied().unwrap_or_default();
        let bb = model::design_bounds(&s, &pos);
        let Some(bb) = bb else {
            self.view.set(View {
                tx: 20.0,
                ty: 10.0,
                k: 1.0,
            });
            return;
        };
        let (w, h) = canvas_size();
        let k = ((w - 40.0) / (bb.r - bb.l))
            .min((h - 40.0) / (bb.b - bb.t))
            .clamp(MIN_ZOOM, 1.2);
        self.view.set(View {
            tx: (w - (bb.r - bb.l) * k) / 2.0 - bb.l * k,
            ty: (h - (bb.b - bb.t) * k) / 2.0 - bb.t * k,
            k,
        });
    }

    /// Client (window) pixels → canvas coordinates, and whether the point is over the canvas.
    pub fn to_canvas(&self, cx: f64, cy: f64) -> ((f64, f64), bool) {
        let v = self.view.get_untracked();
        let (l, t, w, h) = canvas_rect();
        let inside = cx >= l && cx <= l + w && cy >= t && cy <= t + h;
        (((cx - l - v.tx) / v.k, (cy - t - v.ty) / v.k), inside)
    }
}

fn canvas_rect() -> (f64, f64, f64, f64) {
    document()
        .get_element_by_id("canvas")
        .map(|e| {
            let r = e.get_bounding_client_rect();
            (r.left(), r.top(), r.width(), r.height())
        })
        .unwrap_or((0.0, 0.0, 800.0, 600.0))
}

fn canvas_size() -> (f64, f64) {
    let (_, _, w, h) = canvas_rect();
    (w.max(200.0), h.max(200.0))
}
