//! The Simulate tab's "Real path": the probe sent for real on the design
//! applied by the server (`POST /api/simulate/real`, as `netloom simulate
//! --real`), each frame the trace puts on a wire beside the links that saw
//! it, and the first that none did.

use leptos::prelude::*;
use leptos::task::spawn_local;
use netloom_core::api::RealPath;
use netloom_core::capture::path::{FrameCheck, PathCheck};
use netloom_core::trace::Headers;
use serde_json::json;

use crate::api;
use crate::sim::{next, Asked};
use crate::state::Ctx;

/// The last answer (or why there is none), and whether one is coming.
#[derive(Clone, Copy)]
pub struct Real {
    found: RwSignal<Option<Result<PathCheck, String>>>,
    pub busy: RwSignal<bool>,
    /// The latest ask: an older answer is dropped.
    ticket: StoredValue<u32>,
}

impl Real {
    pub fn new() -> Real {
        Real {
            found: RwSignal::new(None),
            busy: RwSignal::new(false),
            ticket: StoredValue::new(0),
        }
    }

    /// Forget the answer: it was for the design or probe as they were.
    pub fn forget(self) {
        next(self.ticket);
        self.found.set(None);
        self.busy.set(false);
    }

    /// Sends `asked` for real on the design as it is now.
    pub fn ask(self, ctx: Ctx, asked: Asked) {
        let text = ctx.spec.with_untracked(netloom_core::format::to_yaml);
        let body = json!({"text": text, "from": asked.from, "to": asked.to,
            "proto": asked.proto, "size": asked.size, "ttl": asked.ttl});
        let ticket = next(self.ticket);
        self.found.set(None);
        self.busy.set(true);
        spawn_local(async move {
            let r = api::call_as::<RealPath>("POST", "/api/simulate/real", Some(body)).await;
            if self.ticket.get_value() == ticket {
                self.found.set(Some(r.map(|a| a.real)));
                self.busy.set(false);
            }
        });
    }
}

/// One frame; the list numbers it, as the verdict does.
fn frame_row(f: FrameCheck) -> impl IntoView {
    let (class, seen) = match (f.seen_on.is_empty(), f.optional) {
        (false, _) => ("seen", format!("seen on {}", f.seen_on.join(", "))),
        (true, true) => (
            "optional",
            "not seen (ARP: a cached neighbour needs none)".into(),
        ),
        (true, false) => ("missing", "NOT SEEN".into()),
    };
    view! {
        <li class=format!("real-frame {class}")>
            <span class="real-where">{format!("at {}: ", f.node)}</span>
            <span class="real-seen">{seen}</span>
            <div class="real-headers">{Headers(&f.predicted).to_string()}</div>
        </li>
    }
}

/// The answer: the verdict first, then every frame.
#[component]
pub fn RealPathBox() -> impl IntoView {
    let real = expect_context::<Real>();
    move || {
        let busy = real
            .busy
            .get()
            .then(|| view! { <p class="muted" id="real-busy">"sending it for real…"</p> });
        let body = match real.found.get() {
            None => None,
            Some(Err(e)) => Some(view! { <p class="error" id="real-error">{e}</p> }.into_any()),
            Some(Ok(c)) => {
                let verdict = match c.first_difference {
                    None => "Reality agrees: every predicted frame was seen.".to_string(),
                    Some(i) => format!(
                        "First difference: frame {} at {} was predicted but seen on no link.",
                        i + 1,
                        c.frames[i].node
                    ),
                };
                let ok = c.first_difference.is_none();
                let frames: Vec<_> = c.frames.into_iter().map(frame_row).collect();
                Some(view! {
                    <div class="realpath" id="real-path">
                        <h4>{format!("Real path (predicted: {})", c.predicted)}</h4>
                        <p id="real-verdict" class=if ok { "result ok" } else { "result bad" }>{verdict}</p>
                        <ol class="real-frames">{frames}</ol>
                    </div>
                }
                .into_any())
            }
        };
        view! { {busy} {body} }
    }
}
