//! The app's shared state: the design (one signal holding the raw spec), its
//! undo/redo history, what is selected, the canvas view, and what is being
//! dragged. Everything else is derived: validation, the resolved topology,
//! positions.

use std::collections::{BTreeMap, BTreeSet};

use leptos::prelude::*;
use netloom_core::spec::{Position, TopologySpec};
use netloom_core::{Problem, Topology};
use serde::{Deserialize, Serialize};
use wasm_bindgen::JsCast;

use crate::model::{self, Elem, Kind, Layout, Mark, Rect};

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

/// The design's place on the server, once saved or opened (kept in the
/// browser with the design, so Save after a reload updates it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Stored {
    pub id: i64,
    pub name: String,
    pub revision: i64,
}

/// What undoing a step puts back besides the design, when the step replaced
/// it (New, an example, Import, Open): where it was stored and as what.
#[derive(Clone)]
struct Origin {
    stored: Option<Stored>,
    clean: TopologySpec,
}

/// One undo (or redo) step: the design before it.
#[derive(Clone)]
struct Step {
    spec: TopologySpec,
    origin: Option<Origin>,
}

/// A question in the app's dialog, and what Yes does.
type Answer = Box<dyn FnOnce()>;

/// The two bridges of a tunnel waiting for its type, and where to ask.
pub type PendingTunnel = (Elem, Elem, (f64, f64));

/// Handles to all shared state; `Copy`, so every closure can take one.
#[derive(Clone, Copy)]
pub struct Ctx {
    pub spec: RwSignal<TopologySpec>,
    undo: StoredValue<Vec<Step>>,
    redo: StoredValue<Vec<Step>>,
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
    /// Elements with an error or warning, and why (for their marks on the canvas).
    pub flagged: Memo<BTreeMap<Elem, Mark>>,
    pub layout: Memo<Layout>,
    /// A tunnel waiting for the user to pick GRE or VXLAN: the two bridges and where to ask.
    pub pending_tunnel: RwSignal<Option<PendingTunnel>>,
    pub stored: RwSignal<Option<Stored>>,
    /// The design as last saved, opened or started: anything else is unsaved work.
    pub clean: RwSignal<TopologySpec>,
    /// The confirmation asked ([`Ctx::confirm`]): the question and the Yes button's word.
    pub question: RwSignal<Option<(String, &'static str)>>,
    answer: StoredValue<Option<Answer>, LocalStorage>,
    /// Right-hand panel tab.
    pub tab: RwSignal<&'static str>,
    /// What the last Status and Verify found of each link, by DOM id, until
    /// the design changes.
    pub seen: RwSignal<std::collections::BTreeMap<String, netloom_frontend::seen::Seen>>,
    /// The link a right-click on the canvas asked to capture on (the Capture tab starts it).
    pub capture_on: RwSignal<Option<Elem>>,
}

impl Ctx {
    /// The app on `spec`, saved as `clean` (stored on the server as `stored`).
    pub fn new(spec: TopologySpec, clean: TopologySpec, stored: Option<Stored>) -> Ctx {
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
        let flagged = Memo::new(move |_| check.with(|c| model::marks(&c.problems)));
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
            seen: RwSignal::new(Default::default()),
            stored: RwSignal::new(stored),
            clean: RwSignal::new(clean),
            question: RwSignal::new(None),
            answer: StoredValue::new_local(None),
            tab: RwSignal::new("props"),
            capture_on: RwSignal::new(None),
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
                if let Some(&(x, y)) = shown.get(&k) {
                    new.layout.entry(k).or_insert(Position {
                        x: x.round(),
                        y: y.round(),
                    });
                }
            }
        }
        let now = js_sys::Date::now();
        let (lk, lt) = self.last.get_value();
        let merge = coalesce.is_some() && lk == coalesce && now - lt < 1500.0;
        if !merge {
            self.push_undo(Step {
                spec: old,
                origin: None,
            });
        }
        self.redo.update_value(Vec::clear);
        self.last.set_value((coalesce, now));
        self.spec.set(new);
        self.sync_history();
    }

    fn push_undo(&self, step: Step) {
        self.undo.update_value(|u| {
            u.push(step);
            if u.len() > 500 {
                u.remove(0);
            }
        });
    }

    /// Replace the design (open, import, example, new) as one undo step,
    /// asking first when that would drop unsaved changes; `done` runs once
    /// it is replaced.
    pub fn replace(
        &self,
        what: &str,
        spec: TopologySpec,
        stored: Option<Stored>,
        done: impl FnOnce() + 'static,
    ) {
        let ctx = *self;
        let go = move || {
            let origin = ctx.origin();
            ctx.push_undo(Step {
                spec: ctx.spec.get_untracked(),
                origin: Some(origin),
            });
            ctx.redo.update_value(Vec::clear);
            ctx.last.set_value((None, 0.0));
            ctx.sel.set(Vec::new());
            ctx.clean.set(spec.clone());
            ctx.spec.set(spec);
            ctx.stored.set(stored);
            ctx.sync_history();
            ctx.fit();
            done();
        };
        if self.unsaved() {
            self.confirm(
                format!("This design has unsaved changes. Replace it with {what}? (Undo brings it back.)"),
                "Replace",
                go,
            );
        } else {
            go();
        }
    }

    /// Changes since the design was last saved, opened or started (an
    /// empty canvas has nothing to lose).
    pub fn unsaved(&self) -> bool {
        let empty = self
            .spec
            .with_untracked(|s| s.hosts.is_empty() && s.externals.is_empty());
        !empty
            && self
                .spec
                .with_untracked(|s| self.clean.with_untracked(|c| s != c))
    }

    /// The design as it is now was saved on the server as `stored`.
    pub fn saved(&self, spec: TopologySpec, stored: Stored) {
        self.clean.set(spec);
        self.stored.set(Some(stored));
    }

    fn origin(&self) -> Origin {
        Origin {
            stored: self.stored.get_untracked(),
            clean: self.clean.get_untracked(),
        }
    }

    /// Ask `question` in the app's dialog; `then` runs on `yes`.
    pub fn confirm(
        &self,
        question: impl Into<String>,
        yes: &'static str,
        then: impl FnOnce() + 'static,
    ) {
        self.answer.set_value(Some(Box::new(then)));
        self.question.set(Some((question.into(), yes)));
    }

    /// The dialog's answer.
    pub fn answered(&self, yes: bool) {
        self.question.set(None);
        let then = self.answer.try_update_value(Option::take).flatten();
        if let Some(f) = then.filter(|_| yes) {
            f();
        }
    }

    fn sync_history(&self) {
        let u = self.undo.with_value(Vec::len);
        let r = self.redo.with_value(Vec::len);
        self.history_len.set((u, r));
    }

    pub fn undo(&self) {
        if let Some(prev) = self.undo.try_update_value(Vec::pop).flatten() {
            let back = self.step_back(&prev);
            self.redo.update_value(|r| r.push(back));
            self.after_history(prev);
        }
    }

    pub fn redo(&self) {
        if let Some(next) = self.redo.try_update_value(Vec::pop).flatten() {
            let back = self.step_back(&next);
            self.undo.update_value(|u| u.push(back));
            self.after_history(next);
        }
    }

    /// The step that returns to now from where `step` leads.
    fn step_back(&self, step: &Step) -> Step {
        Step {
            spec: self.spec.get_untracked(),
            origin: step.origin.as_ref().map(|_| self.origin()),
        }
    }

    fn after_history(&self, step: Step) {
        self.last.set_value((None, 0.0));
        // Indices may point elsewhere now.
        self.sel.set(Vec::new());
        if let Some(o) = step.origin {
            self.stored.set(o.stored);
            self.clean.set(o.clean);
        }
        self.spec.set(step.spec);
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
    pub fn to_canvas(self, cx: f64, cy: f64) -> ((f64, f64), bool) {
        let v = self.view.get_untracked();
        let (l, t, w, h) = canvas_rect();
        let inside = cx >= l && cx <= l + w && cy >= t && cy <= t + h;
        (((cx - l - v.tx) / v.k, (cy - t - v.ty) / v.k), inside)
    }

    /// Where a node is drawn now: its layout position plus the drag offset when it is being moved.
    pub fn pos_of(&self, key: &str) -> (f64, f64) {
        let base = self
            .layout
            .with(|l| l.get(key).copied().unwrap_or_default());
        if self.moving.with(|m| m.contains(key)) {
            let d = self.offset.get();
            (base.0 + d.0, base.1 + d.1)
        } else {
            base
        }
    }

    /// The part of the canvas on screen, in canvas coordinates.
    pub fn visible(&self) -> Rect {
        let v = self.view.get_untracked();
        let (_, _, w, h) = canvas_rect();
        Rect {
            l: -v.tx / v.k,
            t: -v.ty / v.k,
            r: (w - v.tx) / v.k,
            b: (h - v.ty) / v.k,
        }
    }

    /// Pan so canvas point `p` is in the middle of the screen, at zoom `k`.
    pub fn center_on(&self, p: (f64, f64), k: f64) {
        let now = self.visible();
        let v = self.view.get_untracked();
        let (w, h) = ((now.r - now.l) * v.k, (now.b - now.t) * v.k);
        self.view.set(View {
            tx: w / 2.0 - p.0 * k,
            ty: h / 2.0 - p.1 * k,
            k,
        });
    }
}

/// Take the keyboard from a text field: a click on the canvas does not (it
/// prevents the default), and Delete must then delete the selection, not text.
pub fn release_keyboard() {
    if let Some(el) = document()
        .active_element()
        .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok())
    {
        // Blurring cannot fail in a way that matters here.
        let _ = el.blur();
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
