//! Fixes for a dropped probe and a violated intent: when the played trace
//! is red, the proven suggestions (`netloom_frontend::fixes`) are asked of
//! the fix worker ([`crate::compute::fixes`]) and offered in the Simulate
//! tab, under the trace and, for a pair of the matrix (a click on a red
//! cell), under the matrix too; when the matrix finds the design's intent
//! (`expect:`) violated, its fixes are offered under the matrix. One click
//! applies a suggestion as an edit of the design (Undo takes it back) and
//! runs the probe, and the matrix if shown, again.

use leptos::prelude::*;
use netloom_frontend::fixes::Offer;
use netloom_frontend::work::{design_json, Answer, Job};

use crate::compute;
use crate::sim::{next, now, Asked, Sim};
use crate::state::Ctx;

/// What the fix worker found for a probe.
#[derive(Clone, Debug, PartialEq)]
enum Found {
    Computing,
    /// The suggestions, best first, and the milliseconds from asking to the answer.
    Offers(Vec<Offer>, f64),
    Failed(String),
}

/// Fixes asked of the worker, for a probe (as asked) or for the intent (`None`).
#[derive(Clone, Copy)]
struct Asking {
    state: RwSignal<Option<(Option<Asked>, Found)>>,
    /// Only the answer to the last question is shown.
    ticket: StoredValue<u32>,
}

impl Asking {
    fn new() -> Asking {
        Asking {
            state: RwSignal::new(None),
            ticket: StoredValue::new(0),
        }
    }

    /// Forget what was asked before; ask `job` unless `None`.
    fn ask(self, ctx: Ctx, target: Option<Asked>, job: Option<Job>) {
        let ticket = next(self.ticket);
        let Some(job) = job else {
            return self.state.set(None);
        };
        self.state.set(Some((target.clone(), Found::Computing)));
        let start = now();
        let text = ctx.spec.with_untracked(design_json);
        compute::fixes().send(text, job, move |answer| {
            if self.ticket.get_value() != ticket {
                return;
            }
            let found = match answer {
                Answer::Fixes(offers) => Found::Offers(offers, now() - start),
                Answer::Failed(e) => Found::Failed(e),
                Answer::Played(_) | Answer::Grid(_) => return,
            };
            self.state.set(Some((target, found)));
        });
    }
}

/// The fixes of the played probe and of the design's intent, shared through context.
#[derive(Clone, Copy)]
pub struct Fixer {
    probe: Asking,
    intent: Asking,
}

impl Fixer {
    /// Watch the played trace and the matrix: ask for fixes when the trace
    /// is dropped or the matrix's intent is violated, forget them otherwise.
    pub fn new(ctx: Ctx, sim: Sim) -> Fixer {
        let f = Fixer {
            probe: Asking::new(),
            intent: Asking::new(),
        };
        Effect::new(move |_| {
            let dropped = sim.played.with(|p| {
                p.as_ref()
                    .is_some_and(|p| !p.trace.disposition.is_delivered())
            });
            // `Sim::run` puts the probe it plays first in the list.
            let asked = sim.asked.with_untracked(|a| a.first().cloned());
            let job = asked.as_ref().filter(|_| dropped).map(|a| Job::Fix {
                then: format!("{} → {} then reaches", a.from, a.to),
                from: a.from.clone(),
                to: a.to.clone(),
                proto: a.proto.clone(),
                size: a.size,
                ttl: a.ttl,
            });
            f.probe.ask(ctx, asked, job);
        });
        Effect::new(move |_| {
            let violated = sim.matrix.with(|g| {
                g.as_ref()
                    .is_some_and(|g| g.intent.iter().any(|r| !r.holds))
            });
            f.intent.ask(ctx, None, violated.then_some(Job::FixIntent));
        });
        f
    }
}

/// Apply `offer` to the design as one undoable edit, then run `asked` (if
/// a probe's fix) and the matrix (if one was shown) on the edited design.
fn apply(ctx: Ctx, sim: Sim, offer: &Offer, asked: Option<Asked>) {
    let edited = ctx.spec.with_untracked(|s| offer.suggestion.apply(s));
    let new = match edited {
        Ok(new) => new,
        Err(e) => return ctx.say(format!("cannot apply the fix: {e}"), true),
    };
    let matrix = sim.matrix.with_untracked(Option::is_some);
    ctx.edit(None, move |s| *s = new);
    ctx.say(
        format!("Applied: {} (Undo takes it back)", offer.sentence),
        false,
    );
    // After the edit's own effects have forgotten the old trace and matrix.
    set_timeout(
        move || {
            if let Some(asked) = asked {
                sim.run(ctx, asked);
            }
            if matrix {
                sim.predict(ctx.spec.with_untracked(design_json));
            }
        },
        std::time::Duration::ZERO,
    );
}

/// The fixes offered: `at` prefixes the ids and says which: `sim` (the
/// played probe's, under the trace), `matrix` (the same, under the matrix,
/// for a pair of it) or `intent` (the design's intent's).
#[component]
pub fn FixBox(at: &'static str) -> impl IntoView {
    let ctx = expect_context::<Ctx>();
    let sim = expect_context::<Sim>();
    let fixer = expect_context::<Fixer>();
    let asking = if at == "intent" {
        fixer.intent
    } else {
        fixer.probe
    };
    move || {
        let (target, found) = asking.state.get()?;
        let in_matrix = |a: &Asked| {
            sim.matrix.with(|g| {
                g.as_ref()
                    .is_some_and(|g| g.row_of(&a.from).is_some() && g.col_of(&a.to).is_some())
            })
        };
        if at == "matrix" && !target.as_ref().is_some_and(in_matrix) {
            return None;
        }
        let title = match &target {
            Some(a) => format!("Fix {} → {}", a.from, a.to),
            None => "Fix the intent".to_string(),
        };
        let (state, ms) = match &found {
            Found::Computing => ("computing", None),
            Found::Offers(o, ms) if o.is_empty() => ("none", Some(format!("{ms:.1}"))),
            Found::Offers(_, ms) => ("found", Some(format!("{ms:.1}"))),
            Found::Failed(_) => ("failed", None),
        };
        let body = match found {
            Found::Computing => view! { <p class="muted">"looking for a fix…"</p> }.into_any(),
            Found::Failed(e) => view! { <p class="error">{e}</p> }.into_any(),
            Found::Offers(o, _) if o.is_empty() => view! {
                <p class="muted fix-none">"No fix found: no edit of one or two changes that the simulator proves."</p>
            }
            .into_any(),
            Found::Offers(offers, _) => offer_list(ctx, sim, offers, target, at).into_any(),
        };
        Some(view! {
            <div class="fixes" id=format!("{at}-fix") data-state=state data-ms=ms>
                <h4>{title}</h4>
                {body}
            </div>
        })
    }
}

/// Each offer as a button that applies it, with what it changes.
fn offer_list(
    ctx: Ctx,
    sim: Sim,
    offers: Vec<Offer>,
    target: Option<Asked>,
    at: &str,
) -> impl IntoView {
    offers
        .into_iter()
        .enumerate()
        .map(|(n, offer)| {
            let target = target.clone();
            let sentence = format!("Fix: {}", offer.sentence);
            let effects = format!("({})", offer.effects);
            view! {
                <button class="fix-offer" id=format!("{at}-fix-{n}") title="apply to the design (Undo takes it back)"
                    on:click=move |_| apply(ctx, sim, &offer, target.clone())>
                    <b>{sentence}</b>" "<span class="fix-effects">{effects}</span>
                </button>
            }
        })
        .collect_view()
}

/// The design's intent as the matrix judged it: how many expectations
/// hold, the violated ones, and their fixes.
#[component]
pub fn IntentBox() -> impl IntoView {
    let sim = expect_context::<Sim>();
    move || {
        let intent = sim.matrix.with(|g| g.as_ref().map(|g| g.intent.clone()))?;
        if intent.is_empty() {
            return None;
        }
        let holding = intent.iter().filter(|r| r.holds).count();
        let violated = intent
            .iter()
            .filter(|r| !r.holds)
            .map(|r| view! { <li>{r.line()}</li> })
            .collect_view();
        let class = if holding == intent.len() {
            "result ok"
        } else {
            "result bad"
        };
        Some(view! {
            <div class="intent" id="reach-intent" data-holding=holding.to_string() data-of=intent.len().to_string()>
                <p class=class>{format!("Intent: {holding} of {} expectations hold", intent.len())}</p>
                <ul class="violated">{violated}</ul>
                <FixBox at="intent" />
            </div>
        })
    }
}
