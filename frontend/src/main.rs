//! netloom's browser app: design, validate and simulate virtual networks,
//! all in the browser through `netloom-core`; the server stores designs and
//! deploys them.
//!
//! Layers, each importing only from those above it in this list (no circle):
//! - the library (`netloom_frontend`, shared with the web worker): [`model`]
//!   (element identities, geometry, layout ids, edits on the spec), `grid`
//!   (the matrix's data), `work` (the worker's jobs), `fixes` (fix
//!   suggestions in words), `seen`, `about`.
//! - [`state`]: shared signals, undo/redo, the canvas view (where a node is
//!   drawn, the part on screen); [`compute`]: the web workers that simulate
//!   and compute matrices.
//! - [`sim`]: the simulation's state and the trace drawn on the canvas;
//!   [`api`]: calls to the server, designs stored there.
//! - [`fix_panel`]: the fixes offered for a dropped probe, applied as an edit;
//!   [`real_path`]: the probe sent for real on the applied design, beside the trace.
//! - [`matrix`]: the reachability matrix; [`canvas`]: the SVG design canvas
//!   and the palette; [`panels`]: properties, problems, YAML.
//! - [`sim_panel`]: the Simulate tab; [`deploy`]: plan, apply, verify,
//!   destroy and status through the server.
//! - [`capture`]: the Capture tab, a live capture on a link of the applied
//!   design, decoded as the Simulate inspector shows a hop.
//! - this file: the app's shell, tabs, menus and keys.

mod api;
mod canvas;
mod capture;
mod compute;
mod deploy;
mod fix_panel;
mod matrix;
mod panels;
mod real_path;
mod sim;
mod sim_panel;
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
/// Where on the server it is stored (JSON of [`state::Stored`]), and the
/// design as last saved, opened or started: Save after a reload updates the
/// stored design, and New asks only when there is unsaved work.
const STORED: &str = "netloom.stored";
const CLEAN: &str = "netloom.clean";

fn empty_design() -> TopologySpec {
    TopologySpec {
        version: 1,
        name: "lab".into(),
        underlay: None,
        engine: None,
        ovn: None,
        externals: vec![],
        hosts: vec![],
        tunnels: vec![],
        layout: Default::default(),
        expect: None,
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
            let said = format!("Opened {what}");
            ctx.replace(what, spec, None, move || ctx.say(said, false));
        }
        Err(p) => ctx.say(format!("{what} is not a topology file: {p}"), true),
    }
}

fn open_example(ctx: Ctx, about: LabAbout, name: &'static str) {
    if let Some((_, text)) = examples::EXAMPLES.iter().find(|(n, _)| *n == name) {
        load_text(ctx, text, &format!("example {name}"));
        about.0.set(Some(name));
    }
}

/// The example lab whose description is shown over the canvas, if any.
#[derive(Clone, Copy)]
struct LabAbout(RwSignal<Option<&'static str>>);

/// An opened example's description and expected result, until closed, or
/// saved, or another design is opened (while the design last opened or
/// saved is that example's; Cancel in the confirmation opens nothing).
#[component]
fn AboutLab() -> impl IntoView {
    let ctx = expect_context::<Ctx>();
    let shown = expect_context::<LabAbout>().0;
    move || {
        let name = shown.get()?;
        let text = examples::EXAMPLES.iter().find(|(n, _)| *n == name)?.1;
        let opened = netloom_core::parse(text).ok()?;
        if !ctx.clean.with(|c| *c == opened) {
            return None;
        }
        let a = netloom_frontend::about::about(text);
        Some(view! {
            <div class="lab-about" id="lab-about">
                <button class="small close" title="close" on:click=move |_| shown.set(None)>"×"</button>
                <b>{format!("Example {name}")}</b>
                <p class="what">{a.what}</p>
                {a.expected.map(|e| view! { <p class="expected">{e}</p> })}
            </div>
        })
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
    // While the dialog asks, the design is not edited behind it.
    if ctx.question.with_untracked(Option::is_some) {
        if key == "Escape" {
            ctx.answered(false);
            ev.prevent_default();
        }
        return;
    }
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
    let about = expect_context::<LabAbout>();
    let examples = examples::EXAMPLES
        .iter()
        .map(|(name, _)| {
            view! {
                <button class="menu-item" id=format!("example-{name}") on:click=move |_| {
                    open_example(ctx, about, name);
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
            <button id="new" on:click=move |_| ctx.replace("a new design", empty_design(), None, || ())>"New"</button>
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
                ctx.clean.track();
                let changed = if ctx.unsaved() { " (unsaved changes)" } else { "" };
                match ctx.stored.get() {
                    Some(s) => format!("{name} — saved as “{}” r{}{changed}", s.name, s.revision),
                    None => format!("{name}{changed}"),
                }
            }}</span>
        </header>
    }
}

/// The app's confirmation ([`Ctx::confirm`]): a modal question with Cancel and Yes.
#[component]
fn ConfirmDialog() -> impl IntoView {
    let ctx = expect_context::<Ctx>();
    // Cancel has the keyboard: Enter keeps the work, as Escape does.
    let no = NodeRef::<leptos::html::Button>::new();
    Effect::new(move |_| {
        if let Some(b) = no.get() {
            let _ = b.focus();
        }
    });
    move || {
        ctx.question.get().map(|(q, yes)| {
            view! {
                <div class="modal-back">
                    <div class="modal" id="confirm-dialog" role="alertdialog" aria-modal="true">
                        <p>{q}</p>
                        <div class="row">
                            <button id="confirm-no" node_ref=no on:click=move |_| ctx.answered(false)>"Cancel"</button>
                            <button id="confirm-yes" class="primary" on:click=move |_| ctx.answered(true)>{yes}</button>
                        </div>
                    </div>
                </div>
            }
        })
    }
}

/// Shown on an empty canvas: start from an example.
#[component]
fn Welcome() -> impl IntoView {
    let ctx = expect_context::<Ctx>();
    let about = expect_context::<LabAbout>();
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
                    <button class="small" on:click=move |_| open_example(ctx, about, name)>{*name}</button>
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
                {tab_button("capture", "Capture")}
                {tab_button("server", "Server")}
            </nav>
            <div class="tab-body">
                <div class:hidden=move || tab.get() != "props"><panels::Properties /></div>
                <div class:hidden=move || tab.get() != "sim"><sim_panel::SimPanel /></div>
                <div class:hidden=move || tab.get() != "deploy"><deploy::DeployPanel /></div>
                <div class:hidden=move || tab.get() != "capture"><capture::CapturePanel /></div>
                <div class:hidden=move || tab.get() != "server"><api::DesignsPanel /></div>
            </div>
        </aside>
    }
}

#[component]
fn App() -> impl IntoView {
    let kept = |key: &str| storage().and_then(|s| s.get_item(key).ok().flatten());
    let design = kept(AUTOSAVE)
        .and_then(|t| netloom_core::parse(&t).ok())
        .unwrap_or_else(empty_design);
    let clean = kept(CLEAN)
        .and_then(|t| netloom_core::parse(&t).ok())
        .unwrap_or_else(empty_design);
    let stored = kept(STORED).and_then(|t| serde_json::from_str(&t).ok());
    let ctx = Ctx::new(design, clean, stored);
    api::recheck(ctx);
    provide_context(ctx);
    provide_context(sim::Sim::new());
    provide_context(LabAbout(RwSignal::new(None)));
    canvas::install_pointer_handlers(ctx);
    let _ = window_event_listener(ev::keydown, move |ev| keyboard(ctx, ev));
    Effect::new(move |_| {
        let yaml = ctx.spec.with(netloom_core::format::to_yaml);
        if let Some(s) = storage() {
            let _ = s.set_item(AUTOSAVE, &yaml);
        }
    });
    Effect::new(move |_| {
        let clean = ctx.clean.with(netloom_core::format::to_yaml);
        if let Some(s) = storage() {
            let _ = s.set_item(CLEAN, &clean);
        }
    });
    Effect::new(move |_| {
        let stored = ctx.stored.with(|s| s.as_ref().map(serde_json::to_string));
        if let Some(s) = storage() {
            let _ = match stored {
                Some(Ok(json)) => s.set_item(STORED, &json),
                _ => s.remove_item(STORED),
            };
        }
    });
    // A trace belongs to the design it was run on.
    let sim = expect_context::<sim::Sim>();
    Effect::new(move |_| {
        ctx.spec.track();
        sim.forget();
        ctx.seen.set(Default::default());
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
        <main class="workspace" class:wide=move || ctx.tab.get() == "capture">
            <canvas::Palette />
            <div class="canvas-wrap">
                <canvas::Canvas />
                <Welcome />
                <AboutLab />
            </div>
            <SideTabs />
        </main>
        <footer class="bottom">
            <panels::ProblemsPanel yaml_error=yaml_error />
            <panels::YamlPanel yaml_error=yaml_error />
        </footer>
        {move || ctx.toast.get().map(|(m, err)| view! { <div class="toast" id="toast" class:error=err>{m}</div> })}
        <ConfirmDialog />
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
