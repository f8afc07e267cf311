//! netloom's browser app: design, validate and simulate virtual networks,
//! all in the browser through `netloom-core`; the server stores designs and
//! deploys them.
//!
//! - [`model`]: element identities, geometry, layout ids, edits on the spec.
//! - [`state`]: shared signals, undo/redo.
//! - [`canvas`]: the SVG design canvas and the palette.
//! - [`panels`]: properties, problems, YAML.
//! - [`sim`]: simulation mode; [`matrix`]: the reachability matrix.
//! - [`compute`]: the web workers that simulate and compute matrices.
//! - [`api`]: designs stored on the server.
//! - [`deploy`]: plan, apply, verify, destroy and status through the server.

mod api;
mod canvas;
mod compute;
mod deploy;
mod matrix;
mod panels;
mod sim;
mod state;

use netloom_frontend::model;

use leptos::ev;
use leptos::prelude::*;
use netloom_core::spec::TopologySpec;
use netloom_core::Problem;
use wasm_bindgen::{JsCast, JsValue};

use crate::state::Ctx;

mod examples {
    include!(concat!(env!("OUT_DIR"), "/examples.rs"));
}

/// Where the design in progress is kept between page loads.
const AUTOSAVE: &str = "netloom.design";

fn empty_design() -> TopologySpec {
    TopologySpec {
        version: 1,
        name: "lab".into(),
        underlay: None,
        externals: vec![],
        hosts: vec![],
        tunnels: vec![],
        layout: Default::default(),
    }
}

fn storage() -> Option<web_sys::Storage> {
    window().local_storage().ok().flatten()
}

fn download(name: &str, mime: &str, text: &str) {
    let parts = js_sys::Array::of1(&JsValue::from_str(text));
    let bag = web_sys::BlobPropertyBag::new();
    bag.set_type(mime);
    let Ok(blob) = web_sys::Blob::new_with_str_sequence_and_options(&parts, &bag) else {
        return;
    };
    canvas::save_blob(name, &blob);
}

fn load_text(ctx: Ctx, text: &str, what: &str) {
    match netloom_core::parse(text) {
        Ok(spec) => {
            ctx.replace(spec, None);
            ctx.say(format!("Opened {what}"), false);
        }
        Err(p) => ctx.say(format!("{what} is not a topology file: {p}"), true),
    }
}

fn open_example(ctx: Ctx, name: &str) {
    if let Some((_, text)) = examples::EXAMPLES.iter().find(|(n, _)| *n == name) {
        load_text(ctx, text, &format!("example {name}"));
    }
}

fn import_file(ctx: Ctx, ev: ev::Event) {
    let input: web_sys::HtmlInputElement = event_target(&ev);
    let Some(file) = input.files().and_then(|f| f.get(0)) else {
        return;
    };
    let name = file.name();
    input.set_value("");
    leptos::task::spawn_local(async move {
        match wasm_bindgen_futures::JsFuture::from(file.text()).await {
            Ok(t) => load_text(ctx, &t.as_string().unwrap_or_default(), &name),
            Err(_) => ctx.say(format!("cannot read {name}"), true),
        }
    });
}

fn typing_in_field(ev: &web_sys::KeyboardEvent) -> bool {
    ev.target()
        .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
        .is_some_and(|e| matches!(e.tag_name().as_str(), "INPUT" | "TEXTAREA" | "SELECT"))
}

fn keyboard(ctx: Ctx, ev: web_sys::KeyboardEvent) {
    let cmd = ev.ctrl_key() || ev.meta_key();
    let key = ev.key();
    if typing_in_field(&ev) {
        return;
    }
    match (cmd, key.as_str()) {
        (true, "z" | "Z") if ev.shift_key() => ctx.redo(),
        (true, "z" | "Z") => ctx.undo(),
        (true, "y") => ctx.redo(),
        (true, "a") => ctx.sel.set(ctx.spec.with_untracked(model::nodes)),
        (false, "Delete" | "Backspace") => {
            let sel = ctx.sel.get_untracked();
            if !sel.is_empty() {
                ctx.edit(None, |s| model::delete(s, &sel));
                ctx.sel.set(Vec::new());
            }
        }
        (false, "Escape") => {
            ctx.sel.set(Vec::new());
            ctx.pending_tunnel.set(None);
            ctx.end_drag();
        }
        _ => return,
    }
    ev.prevent_default();
}

#[component]
fn Toolbar() -> impl IntoView {
    let ctx = expect_context::<Ctx>();
    let examples = examples::EXAMPLES
        .iter()
        .map(|(name, _)| {
            view! {
                <button class="menu-item" id=format!("example-{name}") on:click=move |_| {
                    open_example(ctx, name);
                    if let Some(menu) = document().get_element_by_id("examples-menu") {
                        let _ = menu.remove_attribute("open");
                    }
                }>{*name}</button>
            }
        })
        .collect_view();
    let undo_off = move || ctx.history_len.get().0 == 0;
    let redo_off = move || ctx.history_len.get().1 == 0;
    view! {
        <header class="toolbar">
            <span class="brand">"netloom"</span>
            <button id="new" on:click=move |_| ctx.replace(empty_design(), None)>"New"</button>
            <details class="menu" id="examples-menu">
                <summary>"Examples"</summary>
                <div class="menu-list">{examples}</div>
            </details>
            <label class="button" for="import-file">"Import…"</label>
            <input type="file" id="import-file" accept=".yaml,.yml,.json" on:change=move |ev| import_file(ctx, ev) />
            <button id="export-yaml" on:click=move |_| {
                let s = ctx.spec.get_untracked();
                download(&format!("{}.yaml", s.name), "application/yaml", &netloom_core::format::to_yaml(&s));
            }>"Export YAML"</button>
            <button id="export-svg" title="the whole design, as a vector drawing" on:click=move |_| canvas::export_svg(ctx)>"Export SVG"</button>
            <button id="export-png" title="the whole design, as a picture" on:click=move |_| canvas::export_png(ctx)>"Export PNG"</button>
            <span class="sep"></span>
            <button id="undo" title="Ctrl+Z" disabled=undo_off on:click=move |_| ctx.undo()>"Undo"</button>
            <button id="redo" title="Ctrl+Shift+Z" disabled=redo_off on:click=move |_| ctx.redo()>"Redo"</button>
            <button id="auto-layout" on:click=move |_| {
                ctx.edit(None, |s| {
                    let lay = model::auto_layout(s);
                    s.layout = lay.into_iter().map(|(k, (x, y))| (k, netloom_core::spec::Position { x, y })).collect();
                });
                ctx.fit();
            }>"Auto-layout"</button>
            <button id="fit" on:click=move |_| ctx.fit()>"Fit"</button>
            <span class="title">{move || {
                let name = ctx.spec.with(|s| s.name.clone());
                match ctx.stored.get() {
                    Some(s) => format!("{name} — saved as “{}” r{}", s.name, s.revision),
                    None => name,
                }
            }}</span>
        </header>
    }
}

/// Shown on an empty canvas: start from an example.
#[component]
fn Welcome() -> impl IntoView {
    let ctx = expect_context::<Ctx>();
    let empty = move || {
        ctx.spec
            .with(|s| s.hosts.is_empty() && s.externals.is_empty())
    };
    view! {
        <Show when=empty>
            <div class="welcome" id="welcome">
                <b>"Empty canvas."</b>
                " Drag a host from the palette, or open an example lab: "
                {examples::EXAMPLES.iter().map(|(name, _)| view! {
                    <button class="small" on:click=move |_| open_example(ctx, name)>{*name}</button>
                }).collect_view()}
            </div>
        </Show>
    }
}

#[component]
fn SideTabs() -> impl IntoView {
    let ctx = expect_context::<Ctx>();
    let tab = ctx.tab;
    let tab_button = move |id: &'static str, label: &'static str| {
        view! {
            <button class="tab" id=format!("tab-{id}") class:active=move || tab.get() == id on:click=move |_| tab.set(id)>{label}</button>
        }
    };
    view! {
        <aside class="side">
            <nav class="tabs">
                {tab_button("props", "Properties")}
                {tab_button("sim", "Simulate")}
                {tab_button("deploy", "Deploy")}
                {tab_button("server", "Server")}
            </nav>
            <div class="tab-body">
                <div class:hidden=move || tab.get() != "props"><panels::Properties /></div>
                <div class:hidden=move || tab.get() != "sim"><sim::SimPanel /></div>
                <div class:hidden=move || tab.get() != "deploy"><deploy::DeployPanel /></div>
                <div class:hidden=move || tab.get() != "server"><api::DesignsPanel /></div>
            </div>
        </aside>
    }
}

#[component]
fn App() -> impl IntoView {
    let saved = storage()
        .and_then(|s| s.get_item(AUTOSAVE).ok().flatten())
        .and_then(|t| netloom_core::parse(&t).ok());
    let ctx = Ctx::new(saved.unwrap_or_else(empty_design));
    provide_context(ctx);
    provide_context(sim::Sim::new());
    canvas::install_pointer_handlers(ctx);
    let _ = window_event_listener(ev::keydown, move |ev| keyboard(ctx, ev));
    Effect::new(move |_| {
        let yaml = ctx.spec.with(netloom_core::format::to_yaml);
        if let Some(s) = storage() {
            let _ = s.set_item(AUTOSAVE, &yaml);
        }
    });
    // A trace belongs to the design it was run on.
    let sim = expect_context::<sim::Sim>();
    Effect::new(move |_| {
        ctx.spec.track();
        sim.forget();
    });
    // The workers' wasm is fetched when a tab that uses them opens, not with
    // the page: it loads while the user picks a probe.
    Effect::new(move |_| {
        if matches!(ctx.tab.get(), "sim" | "deploy") {
            compute::start();
        }
    });
    Effect::new(move |_| {
        if ctx.toast.get().is_some() {
            set_timeout(
                move || ctx.toast.set(None),
                std::time::Duration::from_secs(6),
            );
        }
    });
    request_animation_frame(move || ctx.fit());
    let yaml_error = RwSignal::new(None::<Problem>);
    view! {
        <Toolbar />
        <main class="workspace">
            <canvas::Palette />
            <div class="canvas-wrap">
                <canvas::Canvas />
                <Welcome />
            </div>
            <SideTabs />
        </main>
        <footer class="bottom">
            <panels::ProblemsPanel yaml_error=yaml_error />
            <panels::YamlPanel yaml_error=yaml_error />
        </footer>
        {move || ctx.toast.get().map(|(m, err)| view! { <div class="toast" id="toast" class:error=err>{m}</div> })}
    }
}

fn main() {
    console_error_panic_hook::set_once();
    mount_to_body(App);
    // The performance script (e2e/tests/browser_perf.rs) reads this mark.
    if let Some(p) = window().performance() {
        let _ = p.mark("netloom-interactive");
    }
}
