//! Talking to `netloom serve`: designs stored on the server, with revisions.
//! The session cookie set by the login link authenticates every call.

use leptos::prelude::*;
use leptos::task::spawn_local;
use netloom_core::api::{Design, DesignInfo as Info};
use serde::de::DeserializeOwned;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use crate::state::{Ctx, Stored};

/// An API call; `Err` is the server's `ErrorBody` message (or why the call failed).
pub async fn call(
    method: &str,
    path: &str,
    body: Option<serde_json::Value>,
) -> Result<serde_json::Value, String> {
    let init = web_sys::RequestInit::new();
    init.set_method(method);
    init.set_credentials(web_sys::RequestCredentials::SameOrigin);
    if let Some(b) = body {
        let headers = web_sys::Headers::new().map_err(js_err)?;
        headers
            .set("content-type", "application/json")
            .map_err(js_err)?;
        init.set_headers(&headers);
        init.set_body(&JsValue::from_str(&b.to_string()));
    }
    let resp = JsFuture::from(window().fetch_with_str_and_init(path, &init))
        .await
        .map_err(|e| format!("the server did not answer: {}", js_err(e)))?;
    let resp: web_sys::Response = resp.dyn_into().map_err(js_err)?;
    let text = JsFuture::from(resp.text().map_err(js_err)?)
        .await
        .map_err(js_err)?;
    let text = text.as_string().unwrap_or_default();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
    if resp.ok() {
        Ok(json)
    } else {
        Err(error_message(&json, resp.status()))
    }
}

/// What a failed call says: its `ErrorBody`'s message, or its status.
pub fn error_message(json: &serde_json::Value, status: u16) -> String {
    let msg = json["error"]["message"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| format!("HTTP {status}"));
    if status == 401 {
        format!("{msg} (the app was opened without logging in)")
    } else {
        msg
    }
}

pub fn js_err(e: JsValue) -> String {
    e.as_string()
        .or_else(|| js_sys::JSON::stringify(&e).ok().and_then(|s| s.as_string()))
        .unwrap_or_else(|| "browser error".into())
}

/// An API call whose answer is the wire type `T`.
pub async fn call_as<T: DeserializeOwned>(
    method: &str,
    path: &str,
    body: Option<serde_json::Value>,
) -> Result<T, String> {
    let v = call(method, path, body).await?;
    serde_json::from_value(v).map_err(|e| format!("the server's answer to {path}: {e}"))
}

/// Save the design: a new revision of the stored one, or a new stored design.
pub fn save(ctx: Ctx, as_new: bool) {
    let spec = ctx.spec.get_untracked();
    let text = netloom_core::format::to_yaml(&spec);
    let stored = ctx.stored.get_untracked().filter(|_| !as_new);
    spawn_local(async move {
        let result = match &stored {
            Some(s) => {
                call_as::<Info>(
                    "PUT",
                    &format!("/api/designs/{}", s.id),
                    Some(serde_json::json!({"revision": s.revision, "text": text})),
                )
                .await
            }
            None => {
                let name = spec.name.clone();
                call_as::<Info>(
                    "POST",
                    "/api/designs",
                    Some(serde_json::json!({"name": name, "text": text})),
                )
                .await
            }
        };
        match result {
            Ok(info) => {
                ctx.saved(
                    spec,
                    Stored {
                        id: info.id,
                        name: info.name.clone(),
                        revision: info.revision,
                    },
                );
                ctx.say(
                    format!("Saved “{}” (revision {})", info.name, info.revision),
                    false,
                );
            }
            Err(e) => ctx.say(format!("Not saved: {e}"), true),
        }
    });
}

/// The stored design remembered from the last visit, checked once against
/// the server's list: gone (deleted, another database), it is forgotten, so
/// Save makes a new design rather than failing, or writing over another
/// design that took its id.
pub fn recheck(ctx: Ctx) {
    let Some(kept) = ctx.stored.get_untracked() else {
        return;
    };
    spawn_local(async move {
        let Ok(list) = call_as::<Vec<Info>>("GET", "/api/designs", None).await else {
            return;
        };
        let there = list.iter().any(|d| d.id == kept.id && d.name == kept.name);
        // A save meanwhile has the last word.
        if !there && ctx.stored.with_untracked(|s| s.as_ref() == Some(&kept)) {
            ctx.stored.set(None);
        }
    });
}

fn open(ctx: Ctx, id: i64) {
    spawn_local(async move {
        match call_as::<Design>("GET", &format!("/api/designs/{id}"), None).await {
            Ok(d) => match netloom_core::parse(&d.text) {
                Ok(spec) => {
                    let stored = Stored {
                        id,
                        name: d.info.name,
                        revision: d.info.revision,
                    };
                    let what = format!("“{}” from the server", stored.name);
                    ctx.replace(&what, spec, Some(stored), || ());
                }
                Err(p) => ctx.say(format!("The stored design does not parse: {p}"), true),
            },
            Err(e) => ctx.say(e, true),
        }
    });
}

/// The designs stored on the server, as last listed, or why they could not be.
#[derive(Clone, Copy)]
struct Listed {
    list: RwSignal<Vec<Info>>,
    error: RwSignal<Option<String>>,
}

impl Listed {
    fn refresh(self) {
        spawn_local(async move {
            match call_as::<Vec<Info>>("GET", "/api/designs", None).await {
                Ok(v) => {
                    self.list.set(v);
                    self.error.set(None);
                }
                Err(e) => self.error.set(Some(e)),
            }
        })
    }
}

/// Whether stored design `id` is the one being edited.
fn is_current(ctx: Ctx, id: i64) -> bool {
    ctx.stored
        .with_untracked(|s| s.as_ref().is_some_and(|s| s.id == id))
}

/// Ask for a new name of stored design `id` and rename it.
fn rename(ctx: Ctx, listed: Listed, id: i64, revision: i64) {
    let Ok(Some(name)) = window().prompt_with_message("New name of the design") else {
        return;
    };
    spawn_local(async move {
        match call_as::<Info>(
            "PUT",
            &format!("/api/designs/{id}"),
            Some(serde_json::json!({"revision": revision, "name": name})),
        )
        .await
        {
            Ok(info) => {
                if is_current(ctx, id) {
                    ctx.stored.set(Some(Stored {
                        id,
                        name: info.name,
                        revision: info.revision,
                    }));
                }
                listed.refresh();
            }
            Err(e) => ctx.say(e, true),
        }
    });
}

/// Delete stored design `id`, once confirmed.
fn remove(ctx: Ctx, listed: Listed, id: i64, name: String) {
    ctx.confirm(
        format!("Delete “{name}” from the server?"),
        "Delete",
        move || {
            spawn_local(async move {
                match call("DELETE", &format!("/api/designs/{id}"), None).await {
                    Ok(_) => {
                        if is_current(ctx, id) {
                            ctx.stored.set(None);
                        }
                        listed.refresh();
                    }
                    Err(e) => ctx.say(e, true),
                }
            })
        },
    );
}

/// One stored design with its revision, when it was saved, and what can be done with it.
fn design_row(ctx: Ctx, listed: Listed, d: Info) -> impl IntoView {
    let current = ctx
        .stored
        .with(|s| s.as_ref().is_some_and(|s| s.id == d.id));
    let when = js_sys::Date::new(&JsValue::from_f64(d.updated as f64 * 1000.0))
        .to_locale_string("en-GB", &JsValue::UNDEFINED)
        .as_string()
        .unwrap_or_default();
    let name = d.name.clone();
    view! {
        <li class:current=current>
            <span class="dname">{d.name.clone()}</span>
            <span class="muted">{format!(" r{} · {when}", d.revision)}</span>
            <span class="actions">
                <button class="small" on:click=move |_| open(ctx, d.id)>"Open"</button>
                <button class="small" on:click=move |_| rename(ctx, listed, d.id, d.revision)>"Rename"</button>
                <button class="small danger" on:click=move |_| remove(ctx, listed, d.id, name.clone())>"Delete"</button>
            </span>
        </li>
    }
}

/// The server tab's list of stored designs.
#[component]
pub fn DesignsPanel() -> impl IntoView {
    let ctx = expect_context::<Ctx>();
    let listed = Listed {
        list: RwSignal::new(Vec::new()),
        error: RwSignal::new(None),
    };
    listed.refresh();
    // Refresh after every save/open so revisions shown are current.
    Effect::new(move |_| {
        ctx.stored.track();
        listed.refresh();
    });
    let rows = move || {
        listed
            .list
            .get()
            .into_iter()
            .map(|d| design_row(ctx, listed, d))
            .collect_view()
    };
    view! {
        <h3>"Designs on the server"</h3>
        <p class="muted">{move || match ctx.stored.get() {
            Some(s) => format!("This design: “{}”, revision {}", s.name, s.revision),
            None => "This design is not saved on the server yet.".to_string(),
        }}</p>
        <div class="row">
            <button id="save" class="primary" on:click=move |_| save(ctx, false)>"Save"</button>
            <button id="save-as" on:click=move |_| save(ctx, true)>"Save as new"</button>
            <button on:click=move |_| listed.refresh()>"Refresh"</button>
        </div>
        {move || listed.error.get().map(|e| view! { <p class="error">{e}</p> })}
        <ul class="designs" id="designs">{rows}</ul>
    }
}
