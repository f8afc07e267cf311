//! The Deploy tab: plan, apply, verify, destroy and status through the
//! server (`/api/plan`, `/api/jobs`, `/api/status`), with the job's progress
//! streamed over Server-Sent Events as it runs: each step on each host, and
//! an error where it happened. Verify puts the real ping matrix over the
//! simulated one (the Simulate tab's matrix marks every disagreement),
//! filling it in pair by pair as each ping ends, with a done/total counter;
//! the tab shows that matrix too, disagreements first. A job waiting for its
//! topology's lock can be cancelled. Status and Plan say what the last
//! Verify found broken: they compare configuration, not traffic.

use std::cell::RefCell;
use std::rc::Rc;

use leptos::prelude::*;
use leptos::task::spawn_local;
use netloom_core::api::{
    Disagreement, DriftItem, GuestStatus, JobCancel, JobDone, JobEvent, JobStarted,
    PlanView as Plan, Status,
};
use netloom_core::reach::Probe;
use netloom_frontend::grid::{pairs_disagree, Measured};
use netloom_frontend::seen;
use netloom_frontend::work::design_json;
use serde::de::DeserializeOwned;
use serde_json::json;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;

use crate::api::call_as;
use crate::matrix::Matrix;
use crate::sim::Sim;
use crate::state::Ctx;

/// What the Deploy tab shows.
#[derive(Clone, Copy)]
struct Deploy {
    /// The running job's action, while it runs.
    running: RwSignal<Option<&'static str>>,
    /// The running job's id, once the server took it.
    job: RwSignal<Option<u64>>,
    /// Cancel was asked of the running job.
    cancelling: RwSignal<bool>,
    /// The disagreements the last Verify of this design found, until the
    /// deployment or the design changes.
    verified: RwSignal<Option<Vec<Disagreement>>>,
    /// Events of the last job (`start`, `step`…, `done`), as the server sent them.
    log: RwSignal<Vec<JobEvent>>,
    plan: RwSignal<Option<Plan>>,
    status: RwSignal<Option<Status>>,
    error: RwSignal<Option<String>>,
}

/// The design as the server takes it, or why it cannot be deployed.
fn design_text(ctx: Ctx) -> Result<String, String> {
    if ctx.check.with_untracked(|c| c.topo.is_none()) {
        return Err("the design has errors: fix the problems listed first".into());
    }
    Ok(ctx.spec.with_untracked(netloom_core::format::to_yaml))
}

fn fetch<T: DeserializeOwned + Send + Sync + 'static>(
    ctx: Ctx,
    d: Deploy,
    path: &'static str,
    into: RwSignal<Option<T>>,
) {
    let text = match design_text(ctx) {
        Ok(t) => t,
        Err(e) => return d.error.set(Some(e)),
    };
    d.error.set(None);
    spawn_local(async move {
        match call_as::<T>("POST", path, Some(json!({ "text": text }))).await {
            Ok(v) => into.set(Some(v)),
            Err(e) => d.error.set(Some(e)),
        }
    });
}

/// Whether anything of the design is deployed, or why that is not known.
async fn deployed(text: &str) -> Result<bool, String> {
    let status = call_as::<Status>("POST", "/api/status", Some(json!({ "text": text }))).await?;
    Ok(status.deployed)
}

/// Start a job and follow its events until `done`.
fn start(ctx: Ctx, sim: Sim, d: Deploy, action: &'static str) {
    let text = match design_text(ctx) {
        Ok(t) => t,
        Err(e) => return d.error.set(Some(e)),
    };
    d.error.set(None);
    d.log.set(Vec::new());
    d.job.set(None);
    d.cancelling.set(false);
    d.running.set(Some(action));
    // The design verified, for its prediction.
    let json = ctx.spec.with_untracked(design_json);
    let name = ctx.spec.with_untracked(|s| s.name.clone());
    spawn_local(async move {
        if action == "verify" {
            if let Err(e) = before_verify(sim, &text, &name, &json).await {
                d.running.set(None);
                return d.error.set(Some(e));
            }
        } else {
            sim.probes.set(None);
        }
        let id = match call_as::<JobStarted>(
            "POST",
            "/api/jobs",
            Some(json!({"action": action, "text": text})),
        )
        .await
        {
            Ok(v) => {
                d.job.set(Some(v.id));
                v.id
            }
            Err(e) => {
                d.running.set(None);
                sim.probes.set(None);
                return d.error.set(Some(e));
            }
        };
        follow(sim, d, action, json, id);
    });
}

/// Before a Verify: refuse one of nothing deployed, else put a fresh
/// prediction up for the measured pairs to go over as they arrive.
async fn before_verify(sim: Sim, text: &str, name: &str, json: &str) -> Result<(), String> {
    // Pinging what is not there would report every reachable pair as a disagreement.
    if !deployed(text).await? {
        return Err(format!(
            "Nothing is deployed of “{name}”: Apply it first, then Verify."
        ));
    }
    sim.predict(json.to_string());
    sim.real.set(None);
    sim.probes.set(Some((0, 0)));
    Ok(())
}

/// Follow job `id`'s events (Server-Sent Events) until `done`, or until the
/// server loses it.
fn follow(sim: Sim, d: Deploy, action: &'static str, json: String, id: u64) {
    let Ok(es) = web_sys::EventSource::new(&format!("/api/jobs/{id}/events")) else {
        d.running.set(None);
        sim.probes.set(None);
        return d
            .error
            .set(Some("this browser cannot follow the job's events".into()));
    };
    let source = es.clone();
    let pending = Rc::new(RefCell::new(Vec::<(String, String)>::new()));
    let on_event =
        Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |m: web_sys::MessageEvent| {
            let Some(data) = m.data().as_string() else {
                return;
            };
            // Decoded in the frame that draws it: thousands of pairs a second come in.
            let kind = m.type_();
            if kind != "done" {
                return queue(sim, d, &pending, (kind, data));
            }
            let Ok(JobEvent::Done(done)) = serde_json::from_str::<JobEvent>(&data) else {
                return;
            };
            // Closing stops the browser from reconnecting to a finished stream.
            source.close();
            d.running.set(None);
            d.job.set(None);
            // The counter ends where the probes took it; the report then stands.
            flush(sim, d, &pending);
            finished(sim, d, action, &json, done);
        });
    for kind in ["start", "step", "probe", "done"] {
        let _ = es.add_event_listener_with_callback(kind, on_event.as_ref().unchecked_ref());
    }
    // The browser retries a dropped stream by itself; a closed one (the server lost the job) is final.
    let watched = es.clone();
    let on_error = Closure::<dyn FnMut()>::new(move || {
        if watched.ready_state() == web_sys::EventSource::CLOSED
            && d.running.get_untracked().is_some()
        {
            d.running.set(None);
            d.job.set(None);
            // A half-measured matrix would read as an answer.
            sim.probes.set(None);
            sim.real.set(None);
            d.error.set(Some(format!(
                "lost the progress of job {id}: is the server still running?"
            )));
        }
    });
    es.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    // The listeners live as long as the EventSource, which the browser owns.
    on_event.forget();
    on_error.forget();
}

/// The job is done: its verdict goes on the log, a Verify's pairs on the
/// matrix; any other job changed the deployment, so what was shown of it goes.
fn finished(sim: Sim, d: Deploy, action: &str, json: &str, mut done: JobDone) {
    if action == "verify" {
        if done.ok {
            d.verified
                .set(Some(done.disagreements.clone().unwrap_or_default()));
        }
        // Now on the matrix; the log keeps the verdict and the disagreements.
        show_verify(sim, json, done.real.take());
    } else {
        d.status.set(None);
        d.plan.set(None);
        // What Verify found was of the deployment before.
        d.verified.set(None);
    }
    d.log.update(|l| l.push(JobEvent::Done(done)));
}

/// Ask the server to cancel the running job: one waiting for its
/// topology's lock gives up, one already running goes on to its end.
fn cancel(d: Deploy) {
    let Some(id) = d.job.get_untracked() else {
        return;
    };
    d.cancelling.set(true);
    spawn_local(async move {
        if let Err(e) = call_as::<JobCancel>("DELETE", &format!("/api/jobs/{id}"), None).await {
            d.cancelling.set(false);
            d.error.set(Some(e));
        }
    });
}

/// Hold an event for the next frame: the log, the counter and the matrix
/// are redrawn once per frame, not once per event (a large lab sends
/// thousands of steps and pairs).
fn queue(sim: Sim, d: Deploy, pending: &Rc<RefCell<Vec<(String, String)>>>, ev: (String, String)) {
    let mut queue = pending.borrow_mut();
    queue.push(ev);
    if queue.len() > 1 {
        return;
    }
    let pending = pending.clone();
    request_animation_frame(move || flush(sim, d, &pending));
}

/// Put the held events (type, JSON) on the log, and the held pairs on the
/// matrix and the counter.
fn flush(sim: Sim, d: Deploy, pending: &RefCell<Vec<(String, String)>>) {
    let batch = std::mem::take(&mut *pending.borrow_mut());
    let mut probes: Vec<Probe> = Vec::new();
    let mut log: Vec<JobEvent> = Vec::new();
    for (kind, data) in batch {
        if kind == "probe" {
            probes.extend(serde_json::from_str::<Probe>(&data).ok());
        } else {
            log.extend(serde_json::from_str::<JobEvent>(&data).ok());
        }
    }
    if !log.is_empty() {
        d.log.update(|l| l.extend(log));
    }
    // A job that was lost meanwhile keeps no half matrix.
    let Some(last) = probes
        .last()
        .filter(|_| sim.probes.with_untracked(Option::is_some))
    else {
        return;
    };
    let counts = (last.done, last.total);
    sim.real.update(|r| {
        let r = r.get_or_insert_with(Measured::default);
        // The matrix holds pings; connection probes (`tcp:PORT`) only count.
        for p in probes.iter().filter(|p| p.proto.is_none()) {
            r.insert(&p.from, &p.to, p.ok);
        }
    });
    sim.probes.set(Some(counts));
}

/// Overlay the measured matrix on the simulated one (of the design verified, as JSON).
fn show_verify(sim: Sim, design: &str, real: Option<netloom_core::reach::ReachReport>) {
    let Some(real) = real else {
        // A verify that failed keeps no half-measured matrix.
        sim.probes.set(None);
        sim.real.set(None);
        return;
    };
    // An edit during the run dropped the prediction: make it again for what was verified.
    if sim.matrix.with_untracked(Option::is_none) && !sim.reaching.get_untracked() {
        sim.predict(design.to_string());
    }
    if real.results.is_empty() {
        // Nothing to ping: no counter waiting for a first pair.
        sim.probes.set(None);
    }
    let mut measured = Measured::default();
    for r in &real.results {
        measured.insert(&r.from, &r.to, r.ok);
    }
    sim.real.set(Some(measured));
}

/// Disagreements of a Verify as a list, the first [`LISTED`] of them.
fn disagreement_list(ds: &[Disagreement]) -> impl IntoView {
    let show = |v: Option<bool>| match v {
        Some(true) => "reply",
        Some(false) => "no reply",
        None => "absent",
    };
    // The matrix shows them all, first; a list of thousands would bury the rest of the tab.
    let more = ds.len().saturating_sub(LISTED);
    view! {
        <ul class="disagreements">{ds.iter().take(LISTED).map(|x| {
            let proto = x.proto.as_deref().map_or(String::new(), |p| format!(" {p}"));
            view! {
                <li>{format!("{} → {}{proto}: real {}, simulation {}", x.from, x.to, show(x.real), show(x.simulation))}</li>
            }
        }).collect_view()}
        {(more > 0).then(|| view! { <li class="muted">{format!("and {more} more (on the matrix)")}</li> })}</ul>
    }
}

/// Under Status and Plan, which compare configuration and so cannot see a
/// broken link: the pairs the last Verify found disagreeing, if any.
fn last_verify(verified: Option<Vec<Disagreement>>) -> Option<impl IntoView> {
    let ds = verified.filter(|d| !d.is_empty())?;
    let n = ds.len();
    Some(view! {
        <div class="last-verify" data-disagreements=n.to_string()>
            <p class="result bad">{format!("But in the last Verify, {} with the simulation:", pairs_disagree(n))}</p>
            {disagreement_list(&ds)}
        </div>
    })
}

#[component]
fn PlanView(plan: Plan, verified: Option<Vec<Disagreement>>) -> impl IntoView {
    let steps = plan.steps;
    let hosts = plan
        .hosts
        .into_iter()
        .filter(|h| !h.create.is_empty() || !h.change.is_empty() || !h.remove.is_empty())
        .map(|h| {
            let group = |items: &Vec<String>, label: &'static str, class: &'static str| {
                let items = items.clone();
                let few = items.len() <= 12;
                (!items.is_empty()).then(|| view! {
                    <details class=format!("plan-group {class}") open=few>
                        <summary>{format!("{label}: {}", items.len())}</summary>
                        <ul>{items.into_iter().map(|s| view! { <li>{s}</li> }).collect_view()}</ul>
                    </details>
                })
            };
            view! {
                <div class="plan-host" data-host=h.host.clone()>
                    <b>{h.host.clone()}</b>
                    {group(&h.create, "create", "create")}
                    {group(&h.change, "change", "change")}
                    {group(&h.remove, "remove", "remove")}
                </div>
            }
        })
        .collect_view();
    view! {
        <div id="deploy-plan" data-steps=steps.to_string()>
            <h4>"Plan"</h4>
            {if steps == 0 {
                view! { <p class="result ok">"Nothing to do: what is deployed is configured as the design says."</p> }.into_any()
            } else {
                view! { <p class="muted">{format!("{steps} steps")}</p> }.into_any()
            }}
            {last_verify(verified)}
            {hosts}
        </div>
    }
}

#[component]
fn StatusView(status: Status, verified: Option<Vec<Disagreement>>) -> impl IntoView {
    let deployed = status.deployed;
    let hosts = status
        .hosts
        .iter()
        .map(|h| {
            let present = h.present;
            view! {
                <h5>{format!("{} — {}", h.name, if present { "deployed" } else { "absent" })}
                    <span class="muted mono">{format!("  {}", h.netns)}</span></h5>
                <table class="status-table"><tbody>{guest_rows(h.vms.iter().chain(&h.routers).chain(&h.dhcp).collect())}</tbody></table>
            }
        })
        .collect_view();
    let externals = status
        .externals
        .into_iter()
        .map(|e| {
            view! {
                <tr class:missing=!e.present>
                    <td>{format!("external {}", e.name)}</td>
                    <td class="mono">{e.netns}</td>
                    <td>{format!("gateway {}", e.gateway)}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <div id="deploy-status" data-deployed=deployed.to_string()>
            <h4>{if deployed { "Status: deployed" } else { "Status: not deployed" }}</h4>
            {deployed.then(|| view! { {hosts}<table class="status-table"><tbody>{externals}</tbody></table> })}
            {drift_view(deployed, &status.drift, verified)}
        </div>
    }
}

/// A guest's interfaces as Status found them: name, addresses, lease.
fn interfaces_text(g: &GuestStatus) -> String {
    g.interfaces
        .iter()
        .map(|i| {
            let mut s = format!("{} {}", i.name, i.addresses.join(", "));
            if let Some(l) = &i.lease {
                s.push_str(&format!(" (lease {l})"));
            }
            s
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn guest_rows(guests: Vec<&GuestStatus>) -> impl IntoView {
    guests
        .into_iter()
        .map(|g| {
            view! {
                <tr class:missing=!g.present>
                    <td>{g.name.clone()}</td>
                    <td class="mono">{g.netns.clone()}</td>
                    <td>{interfaces_text(g)}</td>
                </tr>
            }
        })
        .collect_view()
}

/// The steps that would make what is deployed match the design.
fn drift_view(
    deployed: bool,
    drift: &[DriftItem],
    verified: Option<Vec<Disagreement>>,
) -> impl IntoView {
    let n = drift.len();
    if !deployed {
        // Everything is "drift" then: say so once, not step by step.
        view! { <p class="result" id="status-drift" data-drift=n.to_string()>{format!("Nothing is deployed of this design: Apply would take {n} steps.")}</p> }.into_any()
    } else if drift.is_empty() {
        view! {
            <p class="result ok" id="status-drift" data-drift="0">"No drift: what is deployed is configured as the design says."</p>
            {last_verify(verified)}
        }
        .into_any()
    } else {
        view! {
            <div id="status-drift" data-drift=n.to_string()>
                <p class="result bad">{format!("Drift: {n} steps would be needed to match the design")}</p>
                <ul class="drift">{drift.iter().map(|d| view! { <li>{format!("{}: {}", if d.host.is_empty() { "this machine" } else { d.host.as_str() }, d.step)}</li> }).collect_view()}</ul>
            </div>
        }
        .into_any()
    }
}

/// Disagreements listed under the result; the matrix has them all.
const LISTED: usize = 50;

/// The job's log: per step, the host and the outcome; a failed step carries its error.
#[component]
fn JobLog(d: Deploy) -> impl IntoView {
    // Steps by their place in the log: a new event adds its row, the others stay.
    let steps = move || {
        d.log.with(|log| {
            (0..log.len())
                .filter(|&i| matches!(log[i], JobEvent::Step(_)))
                .collect::<Vec<_>>()
        })
    };
    let row = move |i: usize| {
        let Some(JobEvent::Step(e)) = d.log.with_untracked(|l| l.get(i).cloned()) else {
            return None;
        };
        let ok = e.ok;
        Some(view! {
            <tr class:failed=!ok>
                <td>{e.host}</td>
                <td class="mono">{e.step}
                    {e.error.map(|m| view! { <div class="error step-error">{m}</div> })}</td>
                <td class="num">{if ok { format!("{:.0} ms", e.ms) } else { "failed".into() }}</td>
            </tr>
        })
    };
    let hosts = move || {
        d.log.with(|log| {
            host_progress(log)
                .into_iter()
                .map(|(h, ok, bad)| {
                    view! { <span class="host-progress" class:failed={bad > 0}>{if bad > 0 { format!("{h}: {ok} done, {bad} failed") } else { format!("{h}: {ok} done") }}</span> }
                })
                .collect_view()
        })
    };
    // Follow the progress: keep the newest step in view (once the rows are drawn).
    Effect::new(move |_| {
        d.log.track();
        request_animation_frame(|| {
            if let Some(el) = document().query_selector(".job-scroll").ok().flatten() {
                el.set_scroll_top(el.scroll_height());
            }
        });
    });
    view! {
        <Show when=move || d.log.with(|l| !l.is_empty())>
            {move || d.log.with(|log| job_result(log))}
            <div class="hosts-progress">{hosts}</div>
            <div class="job-scroll">
                <table class="job-log" id="job-log"><tbody><For each=steps key=|i| *i children=row /></tbody></table>
            </div>
        </Show>
    }
}

/// Steps done and failed per host, hosts in the order they first came up.
fn host_progress(log: &[JobEvent]) -> Vec<(String, usize, usize)> {
    let mut per: Vec<(String, usize, usize)> = Vec::new();
    for e in log.iter().filter_map(|e| match e {
        JobEvent::Step(s) => Some(s),
        _ => None,
    }) {
        let h = e.host.clone();
        let i = match per.iter().position(|p| p.0 == h) {
            Some(i) => i,
            None => {
                per.push((h, 0, 0));
                per.len() - 1
            }
        };
        if e.ok {
            per[i].1 += 1;
        } else {
            per[i].2 += 1;
        }
    }
    per
}

/// The sentence that says how a job ended.
fn done_text(e: &JobDone) -> String {
    let secs = e.seconds;
    match (&e.disagreements, e.ok) {
        (Some(ds), true) if ds.is_empty() => {
            format!("Verified in {secs:.1} s: reality agrees with the simulation on every pair.")
        }
        (Some(ds), true) => format!(
            "Verified in {secs:.1} s: {} with the simulation (marked ≠ on the matrix).",
            pairs_disagree(ds.len())
        ),
        (None, true) => format!(
            "Done in {secs:.1} s: {} steps.",
            e.report.as_ref().map_or(0, |r| r.steps)
        ),
        _ if e.cancelled => {
            format!("Cancelled: {}", e.error.as_deref().unwrap_or_default())
        }
        _ => format!("Failed: {}", e.error.as_deref().unwrap_or("unknown error")),
    }
}

/// The job's result once it is done, with a Verify's disagreements.
fn job_result(log: &[JobEvent]) -> Option<impl IntoView> {
    let e: &JobDone = log.iter().find_map(|e| match e {
        JobEvent::Done(d) => Some(d),
        _ => None,
    })?;
    let ok = e.ok;
    let good = ok && e.disagreements.as_ref().is_none_or(|d| d.is_empty());
    let list = e
        .disagreements
        .as_ref()
        .filter(|d| !d.is_empty())
        .map(|ds| disagreement_list(ds));
    Some(view! {
        <p id="job-result" class=if good { "result ok" } else { "result bad" }
            data-ok=ok.to_string() data-action=log.first().and_then(|s| match s {
                JobEvent::Start { action, .. } => Some(action.as_str()),
                _ => None,
            }).unwrap_or_default()>{done_text(e)}</p>
        {list}
    })
}

#[component]
pub fn DeployPanel() -> impl IntoView {
    let ctx = expect_context::<Ctx>();
    let sim = expect_context::<Sim>();
    let d = Deploy {
        running: RwSignal::new(None),
        job: RwSignal::new(None),
        cancelling: RwSignal::new(false),
        verified: RwSignal::new(None),
        log: RwSignal::new(Vec::new()),
        plan: RwSignal::new(None),
        status: RwSignal::new(None),
        error: RwSignal::new(None),
    };
    // A plan or status belongs to the design it was asked for.
    Effect::new(move |_| {
        ctx.spec.track();
        d.plan.set(None);
        d.status.set(None);
        d.verified.set(None);
    });
    // The canvas shows each link up or down as Status and Verify found it.
    Effect::new(move |_| {
        let (status, verified) = (d.status.get(), d.verified.get());
        ctx.seen.set(ctx.spec.with_untracked(|s| {
            let mut m = status
                .map(|st| seen::from_status(s, &st))
                .unwrap_or_default();
            if let Some(ds) = verified {
                m.extend(seen::from_verify(s, &ds));
            }
            m
        }));
    });
    let busy = move || d.running.get().is_some();
    view! {
        <h3>"Deploy on this machine"</h3>
        <p class="muted">"Each host becomes a network namespace with its own Open vSwitch; vms are namespaces too."</p>
        <div class="row">
            <button id="deploy-plan-button" disabled=busy on:click=move |_| fetch(ctx, d, "/api/plan", d.plan)>"Plan"</button>
            <button id="deploy-apply" class="primary" disabled=busy on:click=move |_| start(ctx, sim, d, "apply")>"Apply to hosts"</button>
            <button id="deploy-verify" disabled=busy on:click=move |_| start(ctx, sim, d, "verify")>"Verify"</button>
            <button id="deploy-destroy" class="danger" disabled=busy on:click=move |_| {
                let name = ctx.spec.with_untracked(|s| s.name.clone());
                ctx.confirm(format!("Tear down everything deployed of “{name}”?"), "Destroy", move || start(ctx, sim, d, "destroy"));
            }>"Destroy"</button>
            <button id="deploy-status-button" disabled=busy on:click=move |_| fetch(ctx, d, "/api/status", d.status)>"Status"</button>
        </div>
        {move || d.running.get().map(|a| view! {
            <p class="running row" id="job-running">
                <span>{move || if d.cancelling.get() {
                    format!("{a}: cancel asked (a job waiting for the lock gives up; one already at work finishes)…")
                } else {
                    format!("{a}: running…")
                }}</span>
                {move || d.job.get().map(|_| view! {
                    <button class="small" id="deploy-cancel" disabled=move || d.cancelling.get() on:click=move |_| cancel(d)>"Cancel"</button>
                })}
            </p>
        })}
        {move || d.error.get().map(|e| view! { <p class="error" id="deploy-error">{e}</p> })}
        {move || sim.probes.get().map(|(done, total)| view! {
            <div class="verify-progress" id="verify-progress" data-done=done.to_string() data-total=total.to_string()>
                // No value until the first pair: the bar is indeterminate.
                <progress max=total.to_string() value=(total > 0).then(|| done.to_string())></progress>
                <span>{if total == 0 { "waiting for the first ping…".to_string() } else { format!("{done} / {total} pairs measured") }}</span>
            </div>
        })}
        // Asked for after a job: above its log and the matrix, where it is seen.
        {move || d.plan.get().map(|p| view! { <PlanView plan=p verified=d.verified.get_untracked() /> })}
        {move || d.status.get().map(|s| view! { <StatusView status=s verified=d.verified.get_untracked() /> })}
        <JobLog d=d />
        {move || sim.real.with(Option::is_some).then(|| view! {
            <button class="small" id="show-matrix" on:click=move |_| ctx.tab.set("sim")>"Show the verified matrix"</button>
        })}
        <Show when=move || sim.probes.with(Option::is_some) || sim.real.with(Option::is_some)>
            <Matrix deploy=true />
        </Show>
    }
}
