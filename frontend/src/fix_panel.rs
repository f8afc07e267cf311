//! Fixes for a dropped probe: when the played trace is red, the proven
//! suggestions (`netloom_frontend::fixes`) are asked of the fix worker
//! ([`crate::compute::fixes`]) and offered in the Simulate tab, under the
//! trace and, for a pair of the matrix (a click on a red cell), under the
//! matrix too. One click applies a suggestion as an edit of the design
//! (Undo takes it back) and runs the probe, and the matrix if shown, again.

use leptos::prelude::*;
use netloom_frontend::fixes::Offer;
use netloom_frontend::work::{design_json, Answer, Job};

use crate::compute;
use crate::sim::{Asked, Sim};
use crate::state::Ctx;

/// What the fix worker found for a probe.
#[derive(Clone, Debug, PartialEq)]
enum Found {
    Computing,
    /// The suggestions, best first, and the milliseconds from asking to the answer.
    Offers(Vec<Offer>, f64),
    Failed(String),
}

/// The fixes of the played probe, shared through context.
#[derive(Clone, Copy)]
pub struct Fixer {
    /// The probe (as asked) and what was found for it.
    state: RwSignal<Option<(Asked, Found)>>,
    /// Only the answer to the last question is shown.
    ticket: StoredValue<u32>,
}

impl Fixer {
    /// Watch the played trace: ask for fixes when it is dropped, forget them otherwise.
    pub fn new(ctx: Ctx, sim: Sim) -> Fixer {
        let f = Fixer {
            state: RwSignal::new(None),
            ticket: StoredValue::new(0),
        };
        Effect::new(move |_| {
            let dropped = sim.played.with(|p| {
                p.as_ref()
                    .is_some_and(|p| !p.trace.disposition.is_delivered())
            });
            f.ticket.update_value(|t| *t = t.wrapping_add(1));
            // `Sim::run` puts the probe it plays first in the list.
            match sim.asked.with_untracked(|a| a.first().cloned()) {
                Some(asked) if dropped => f.ask(ctx, asked),
                _ => f.state.set(None),
            }
        });
        f
    }

    fn ask(self, ctx: Ctx, asked: Asked) {
        let ticket = self.ticket.get_value();
        self.state.set(Some((asked.clone(), Found::Computing)));
        let job = Job::Fix {
            what: format!("{} → {}", asked.from, asked.to),
            from: asked.from.clone(),
            to: asked.to.clone(),
            proto: asked.proto.clone(),
            size: asked.size,
            ttl: asked.ttl,
        };
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
            self.state.set(Some((asked, found)));
        });
    }
}

fn now() -> f64 {
    window().performance().map(|p| p.now()).unwrap_or(0.0)
}

/// Apply `offer` to the design as one undoable edit, then run `asked` (and
/// the matrix, if one was shown) on the edited design.
fn apply(ctx: Ctx, sim: Sim, offer: &Offer, asked: Asked) {
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
            sim.run(ctx, asked);
            if matrix {
                sim.predict(ctx.spec.with_untracked(design_json));
            }
        },
        std::time::Duration::ZERO,
    );
}

/// The fixes offered for the played probe: `at` prefixes the ids (`sim`
/// under the trace, `matrix` under the matrix, shown only for a pair of it).
#[component]
pub fn FixBox(at: &'static str) -> impl IntoView {
    let ctx = expect_context::<Ctx>();
    let sim = expect_context::<Sim>();
    let fixer = expect_context::<Fixer>();
    let id = move |name: &str| format!("{at}-{name}");
    move || {
        let (asked, found) = fixer.state.get()?;
        let in_matrix = sim.matrix.with(|g| {
            g.as_ref()
                .is_some_and(|g| g.row_of(&asked.from).is_some() && g.col_of(&asked.to).is_some())
        });
        if at == "matrix" && !in_matrix {
            return None;
        }
        let (state, ms) = match &found {
            Found::Computing => ("computing", None),
            Found::Offers(o, ms) if o.is_empty() => ("none", Some(*ms)),
            Found::Offers(_, ms) => ("found", Some(*ms)),
            Found::Failed(_) => ("failed", None),
        };
        let body = match found {
            Found::Computing => view! { <p class="muted">"looking for a fix…"</p> }.into_any(),
            Found::Failed(e) => view! { <p class="error">{e}</p> }.into_any(),
            Found::Offers(o, _) if o.is_empty() => view! {
                <p class="muted fix-none">"No fix found: no edit of one or two changes that the simulator proves."</p>
            }
            .into_any(),
            Found::Offers(offers, _) => offer_list(ctx, sim, offers, &asked, at).into_any(),
        };
        Some(view! {
            <div class="fixes" id=id("fix") data-state=state data-ms=ms.map(|m| format!("{m:.1}"))>
                <h4>{format!("Fix {} → {}", asked.from, asked.to)}</h4>
                {body}
            </div>
        })
    }
}

/// Each offer as a button that applies it, with what it changes.
fn offer_list(ctx: Ctx, sim: Sim, offers: Vec<Offer>, asked: &Asked, at: &str) -> impl IntoView {
    offers
        .into_iter()
        .enumerate()
        .map(|(n, offer)| {
            let asked = asked.clone();
            let sentence = format!("Fix: {}", offer.sentence);
            let effects = format!("({})", offer.effects);
            view! {
                <button class="fix-offer" id=format!("{at}-fix-{n}") title="apply to the design (Undo takes it back)"
                    on:click=move |_| apply(ctx, sim, &offer, asked.clone())>
                    <b>{sentence}</b>" "<span class="fix-effects">{effects}</span>
                </button>
            }
        })
        .collect_view()
}
