//! Deploying from the browser: plan, apply, verify, destroy and status.
//!
//! - `POST /api/plan {text}` → per host, what apply would create, change and remove.
//! - `POST /api/status {text}` → what is deployed now, and the drift. Both
//!   429 while [`MAX_OBSERVING`] of them run.
//! - `POST /api/jobs {action, text}` → 202 `{id, topology, action}`: the
//!   executor runs on a blocking thread; 409 while another job of the same
//!   topology runs (jobs of one topology never interleave, others run at
//!   once), 429 while [`MAX_RUNNING_JOBS`] run.
//! - `GET /api/jobs/{id}/events` → Server-Sent Events: `start`, one `step` per
//!   executor step (host, step, error in place) or, for verify, one `probe`
//!   per pair as its ping ends (`netloom_core::reach::Probe`), then `done`
//!   with the result (the verify report and its disagreements). A late or
//!   reconnecting subscriber gets the whole log again (from `Last-Event-ID`).
//!   429 while [`MAX_EVENT_STREAMS`] streams are open.
//! - `GET /api/jobs/{id}` → the same log as one JSON document.
//! - `DELETE /api/jobs/{id}` → 202: an apply or destroy still waiting for its
//!   topology's lock (held by a `netloom` command, whose pid the job's
//!   `step` event names) gives up, and its `done` says `cancelled`; a job
//!   already running goes on to its end. 409 once the job is done.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use netloom_core::api::{
    JobAction, JobCancel, JobDone, JobEvent, JobLog, JobStarted, PlanHost, PlanView, StepEvent,
};
use netloom_core::plan::{Action, Plan, SANDBOX};
use netloom_core::Topology;
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::watch;

use super::error::ApiError;
use super::{parsed, wire, AppState, TextBody};
use crate::deploy;

/// Finished jobs kept for late subscribers.
const KEEP_FINISHED: usize = 32;
/// Events of finished jobs kept, all together (the newest job stays whatever
/// its size): a verify logs one per pair, up to
/// [`netloom_core::limits::MAX_REACH_PAIRS`], a few hundred bytes each, and
/// its `done` holds the report, as large again, as one.
const KEEP_EVENTS: usize = 2_000_000;
/// Most jobs running at once, all topologies together: each holds a blocking
/// thread and, for apply, a host's worth of daemons per host.
pub const MAX_RUNNING_JOBS: usize = 8;
/// Most event streams open at once: each holds a connection for as long as
/// its job runs (a browser tab watching a job has one).
pub const MAX_EVENT_STREAMS: usize = 64;
/// Live captures at once (`/api/designs/{id}/capture`): each holds a thread.
pub const MAX_CAPTURES: usize = 8;
/// Plans and status reads at once: each observes every host of its topology
/// (netlink, OVSDB, the agents) from a blocking thread.
pub const MAX_OBSERVING: usize = 8;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/plan", post(plan))
        .route("/status", post(status))
        .route("/jobs", post(start))
        .route("/jobs/{id}", get(show).delete(cancel))
        .route("/jobs/{id}/events", get(events))
}

/// The jobs of one server: running and recently finished, and which topologies are busy.
#[derive(Clone, Default)]
pub struct Jobs(Arc<Mutex<Registry>>);

#[derive(Default)]
struct Registry {
    next: u64,
    jobs: BTreeMap<u64, Arc<Job>>,
    /// Oldest first, with the length of each one's log.
    finished: VecDeque<(u64, usize)>,
    busy: HashSet<String>,
    /// Slots taken, by [`Use`].
    streams: usize,
    captures: usize,
    observing: usize,
}

impl Registry {
    fn taken(&mut self, kind: Use) -> &mut usize {
        match kind {
            Use::Stream => &mut self.streams,
            Use::Capture => &mut self.captures,
            Use::Observe => &mut self.observing,
        }
    }
}

/// Holds topology `name` for one job; released on drop (even if the job panics).
pub struct TopologyLock {
    jobs: Jobs,
    name: String,
}

impl Drop for TopologyLock {
    fn drop(&mut self) {
        if let Ok(mut r) = self.jobs.0.lock() {
            r.busy.remove(&self.name);
        }
    }
}

/// What a [`Slot`] is held for: each kind has its own limit.
#[derive(Clone, Copy)]
pub(super) enum Use {
    /// An open event stream (until the client goes away or the job ends).
    Stream,
    /// A live capture.
    Capture,
    /// A plan or a status read.
    Observe,
}

impl Use {
    fn limit(self) -> usize {
        match self {
            Use::Stream => MAX_EVENT_STREAMS,
            Use::Capture => MAX_CAPTURES,
            Use::Observe => MAX_OBSERVING,
        }
    }

    /// The 429's words, given how many are held.
    fn busy(self, n: usize) -> String {
        let (held, advice) = match self {
            Use::Stream => ("event streams are open", "close a tab that watches a job"),
            Use::Capture => ("captures are running", "stop one first"),
            Use::Observe => ("plans and status reads are running", "wait for one to end"),
        };
        format!("{n} {held}; the limit is {}: {advice}", self.limit())
    }
}

/// One use of a limited kind, counted until dropped.
pub(super) struct Slot(Jobs, Use);

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut r) = self.0 .0.lock() {
            *r.taken(self.1) -= 1;
        }
    }
}

impl Jobs {
    /// A slot for one more use of a kind, or 429 at its limit.
    pub(super) fn slot(&self, kind: Use) -> Result<Slot, ApiError> {
        let mut r = self.0.lock().expect("jobs registry");
        let n = r.taken(kind);
        if *n >= kind.limit() {
            return Err(ApiError::busy(kind.busy(*n)));
        }
        *n += 1;
        Ok(Slot(self.clone(), kind))
    }

    /// Take topology `name` for a job: 409 while a job of it runs, 429 while
    /// [`MAX_RUNNING_JOBS`] run.
    pub fn lock(&self, name: &str) -> Result<TopologyLock, ApiError> {
        let mut r = self.0.lock().expect("jobs registry");
        if r.busy.contains(name) {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "",
                format!("a job on topology {name:?} is running: wait for it to finish"),
            ));
        }
        if r.busy.len() >= MAX_RUNNING_JOBS {
            return Err(ApiError::busy(format!(
                "{} jobs are running; the limit is {MAX_RUNNING_JOBS}: wait for one to finish",
                r.busy.len()
            )));
        }
        r.busy.insert(name.to_string());
        Ok(TopologyLock {
            jobs: self.clone(),
            name: name.to_string(),
        })
    }

    fn add(&self, action: JobAction, topology: &str) -> Arc<Job> {
        let mut r = self.0.lock().expect("jobs registry");
        r.next += 1;
        let (tx, _) = watch::channel(0);
        let job = Arc::new(Job {
            id: r.next,
            action,
            topology: topology.to_string(),
            log: Mutex::new(Vec::new()),
            changed: tx,
            cancel: AtomicBool::new(false),
        });
        r.jobs.insert(job.id, job.clone());
        job
    }

    fn finished(&self, job: &Job) {
        let events = job.log.lock().expect("job log").len();
        let mut r = self.0.lock().expect("jobs registry");
        r.finished.push_back((job.id, events));
        for old in forget(&mut r.finished, KEEP_FINISHED, KEEP_EVENTS) {
            r.jobs.remove(&old);
        }
    }

    fn get(&self, id: &str) -> Result<Arc<Job>, ApiError> {
        let found = id
            .parse::<u64>()
            .ok()
            .and_then(|id| self.0.lock().ok()?.jobs.get(&id).cloned());
        found.ok_or_else(|| {
            ApiError::not_found(format!(
                "no job {id:?} (finished jobs are kept for a while only)"
            ))
        })
    }
}

/// The oldest of `finished` to forget (taken out of it), so that at most
/// `jobs` stay, with at most `events` events among them; the newest stays.
fn forget(finished: &mut VecDeque<(u64, usize)>, jobs: usize, events: usize) -> Vec<u64> {
    let mut kept: usize = finished.iter().map(|&(_, n)| n).sum();
    let mut gone = Vec::new();
    while finished.len() > 1 && (finished.len() > jobs || kept > events) {
        let Some((id, n)) = finished.pop_front() else {
            break;
        };
        kept -= n;
        gone.push(id);
    }
    gone
}

/// One job: its log of events, appended as it runs.
struct Job {
    id: u64,
    action: JobAction,
    topology: String,
    log: Mutex<Vec<JobEvent>>,
    /// The log's length, for subscribers to wait on.
    changed: watch::Sender<usize>,
    /// Asked to give up its wait for the topology's lock.
    cancel: AtomicBool,
}

impl Job {
    fn push(&self, event: JobEvent) {
        let n = {
            let mut log = self.log.lock().expect("job log");
            log.push(event);
            log.len()
        };
        self.changed.send_replace(n);
    }

    fn since(&self, from: usize) -> Vec<JobEvent> {
        self.log
            .lock()
            .expect("job log")
            .get(from..)
            .map(<[JobEvent]>::to_vec)
            .unwrap_or_default()
    }

    fn done(&self) -> bool {
        self.log
            .lock()
            .expect("job log")
            .last()
            .is_some_and(|e| matches!(e, JobEvent::Done(_)))
    }
}

#[derive(Deserialize, schemars::JsonSchema)]
pub(super) struct JobBody {
    action: JobAction,
    /// A topology file (YAML or JSON).
    text: String,
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

pub(super) fn need_root() -> Result<(), ApiError> {
    if is_root() {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "",
            "netloom serve does not run as root: deploying needs root (network namespaces, Open vSwitch)",
        ))
    }
}

fn host_name(name: &str) -> String {
    if name == SANDBOX {
        "sandbox".into()
    } else {
        name.to_string()
    }
}

/// A plan as the app shows it: per host, the steps grouped by action.
fn plan_view(p: &Plan) -> PlanView {
    let hosts = p
        .targets
        .iter()
        .map(|t| {
            let of = |a: Action| -> Vec<String> {
                t.steps
                    .iter()
                    .filter(|s| s.action == a)
                    .map(|s| s.to_string())
                    .collect()
            };
            PlanHost {
                host: host_name(&t.target.name),
                netns: t.target.netns.clone(),
                emulated: t.target.emulated,
                create: of(Action::Create),
                change: of(Action::Update),
                remove: of(Action::Delete),
            }
        })
        .collect();
    PlanView {
        topology: p.topology.clone(),
        steps: p.len(),
        hosts,
    }
}

async fn blocking<T: Send + 'static>(
    what: &'static str,
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, ApiError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(v)) => Ok(v),
        // Observation failing is the machine's state, not a bug: say where.
        Ok(Err(e)) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "",
            format!("{what}: {e}"),
        )),
        Err(e) => Err(ApiError::internal(what, e)),
    }
}

async fn plan(
    State(s): State<AppState>,
    body: Result<Json<TextBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(b) = body?;
    let topo = parsed(b.text).await?;
    let slot = s.jobs.slot(Use::Observe)?;
    let p = blocking("plan", move || {
        let _slot = slot;
        deploy::plan_for(&topo).map_err(|e| e.to_string())
    })
    .await?;
    Ok(Json(wire(&plan_view(&p))))
}

async fn status(
    State(s): State<AppState>,
    body: Result<Json<TextBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(b) = body?;
    let topo = parsed(b.text).await?;
    let slot = s.jobs.slot(Use::Observe)?;
    let s = blocking("status", move || {
        let _slot = slot;
        deploy::status::status(&topo).map_err(|e| e.to_string())
    })
    .await?;
    Ok(Json(wire(&s)))
}

async fn start(
    State(s): State<AppState>,
    body: Result<Json<JobBody>, JsonRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let Json(b) = body?;
    let topo = parsed(b.text).await?;
    if b.action == JobAction::Verify {
        super::simulate::check_pairs(&topo)?;
    }
    let lock = s.jobs.lock(&topo.name)?;
    need_root()?;
    let job = s.jobs.add(b.action, &topo.name);
    let answer = wire(&JobStarted {
        id: job.id,
        topology: job.topology.clone(),
        action: job.action,
    });
    let jobs = s.jobs.clone();
    tokio::task::spawn_blocking(move || {
        run(&job, &topo, lock);
        jobs.finished(&job);
    });
    Ok((StatusCode::ACCEPTED, Json(answer)))
}

/// Run a job to its `done` event; a panic in the executor is reported, not
/// lost. The topology's `lock` is given back before `done` is told: a
/// client that starts its next job on seeing it finds the topology free.
fn run(job: &Job, topo: &Topology, lock: TopologyLock) {
    job.push(JobEvent::Start {
        action: job.action,
        topology: job.topology.clone(),
    });
    let started = std::time::Instant::now();
    let progress = |e: &deploy::Event| job.push(log_entry(e));
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        outcome(job, topo, &progress)
    }));
    let done = outcome.unwrap_or_else(|_| JobDone {
        error: Some("the executor crashed (a bug: see the server log)".into()),
        ..JobDone::default()
    });
    drop(lock);
    job.push(JobEvent::Done(JobDone {
        seconds: started.elapsed().as_secs_f64(),
        ..done
    }));
}

/// The log entry of an executor event: a `step`, or a verify `probe` (the
/// `Probe` itself, so the browser decodes it with the same type).
fn log_entry(e: &deploy::Event) -> JobEvent {
    if let Some(p) = &e.probe {
        return JobEvent::Probe(p.clone());
    }
    JobEvent::Step(StepEvent {
        host: host_name(&e.target),
        step: e.step.clone(),
        ok: e.ok,
        error: e.error.clone(),
        ms: e.ms,
        // Only when a step has them (a DHCP client the model predicts no lease for).
        note: e.note.clone(),
        warning: e.warning.clone(),
    })
}

/// The `done` event's content: the report, or where it failed.
fn outcome(job: &Job, topo: &Topology, progress: deploy::Progress) -> JobDone {
    let cancel = || job.cancel.load(Ordering::SeqCst);
    let report = |r: deploy::Report| JobDone {
        ok: true,
        report: Some(r),
        ..JobDone::default()
    };
    let result = match job.action {
        JobAction::Apply => deploy::apply(topo, progress, &cancel).map(report),
        JobAction::Destroy => {
            deploy::destroy(&topo.name, Some(topo), progress, &cancel).map(report)
        }
        JobAction::Verify => {
            let real = deploy::verify::measure(topo, progress);
            let predicted = netloom_core::reach::reach(topo);
            let disagreements = deploy::verify::compare(&real, &predicted);
            Ok(JobDone {
                ok: true,
                real: Some(real),
                disagreements: Some(disagreements),
                ..JobDone::default()
            })
        }
    };
    match result {
        Ok(done) => done,
        Err(e) => match e.interrupted() {
            Some(io) => JobDone {
                cancelled: true,
                error: Some(io.to_string()),
                ..JobDone::default()
            },
            None => JobDone {
                host: Some(host_name(&e.target)),
                step: Some(e.step.clone()),
                error: Some(e.to_string()),
                ..JobDone::default()
            },
        },
    }
}

async fn show(
    State(s): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let Path(id) = id?;
    let job = s.jobs.get(&id)?;
    Ok(Json(wire(&JobLog {
        id: job.id,
        action: job.action,
        topology: job.topology.clone(),
        done: job.done(),
        events: job.since(0),
    })))
}

async fn cancel(
    State(s): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let Path(id) = id?;
    let job = s.jobs.get(&id)?;
    if job.done() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "",
            format!("job {} has finished", job.id),
        ));
    }
    job.cancel.store(true, Ordering::SeqCst);
    Ok((
        StatusCode::ACCEPTED,
        Json(wire(&JobCancel {
            id: job.id,
            cancel: "requested".into(),
        })),
    ))
}

async fn events(
    State(s): State<AppState>,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let Path(id) = id?;
    let job = s.jobs.get(&id)?;
    let slot = s.jobs.slot(Use::Stream)?;
    // Event ids are log positions: a reconnecting EventSource resumes after the last it saw.
    let from = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok())
        .map_or(0, |n| n.saturating_add(1));
    let rx = job.changed.subscribe();
    // The slot travels with the stream's state and is freed when the stream is dropped.
    let stream = futures::stream::unfold(
        (job, rx, from, slot),
        |(job, mut rx, at, slot)| async move {
            loop {
                // Read before the log: once `done` is in it, nothing follows.
                let done = job.done();
                let new = job.since(at);
                // The end of a finished job: sent in the last batch, or
                // resumed at or past it.
                if new.is_empty() && done {
                    return None;
                }
                if !new.is_empty() {
                    let batch: Vec<Result<SseEvent, Infallible>> = new
                        .iter()
                        .enumerate()
                        .map(|(i, e)| {
                            let data = wire(e);
                            Ok(SseEvent::default()
                                .id((at + i).to_string())
                                .event(data["type"].as_str().unwrap_or("step"))
                                .data(data.to_string()))
                        })
                        .collect();
                    let next = at + new.len();
                    return Some((futures::stream::iter(batch), (job, rx, next, slot)));
                }
                if rx.changed().await.is_err() {
                    return None;
                }
            }
        },
    );
    use futures::StreamExt;
    Ok(Sse::new(stream.flatten()).keep_alive(KeepAlive::default()))
}

#[cfg(test)]
mod tests {
    use super::super::tests::{call, scripted, state};
    use super::*;
    use axum::http::Method;
    use serde_json::json;

    fn start_event() -> JobEvent {
        JobEvent::Start {
            action: JobAction::Verify,
            topology: "lab".into(),
        }
    }

    fn lab(name: &str) -> String {
        format!("version: 1\nname: {name}\nhosts:\n  - name: node1\n    bridges: [{{name: br0}}]\n")
    }

    #[tokio::test]
    async fn plan_lists_what_each_host_gets() {
        if !is_root() {
            // Observing namespaces and OVS needs root; the browser test covers it as root.
            return;
        }
        let app = super::super::app(state());
        let name = format!("t-plan{}", std::process::id() % 10000);
        let (status, body) = call(
            &app,
            Method::POST,
            "/api/plan",
            Some(json!({"text": lab(&name)})),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["topology"], json!(name));
        let node1 = body["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["host"] == "node1")
            .expect("node1 in the plan");
        let create: Vec<&str> = node1["create"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        // Bridge names on the machine are hashed; the host's namespace carries the
        // topology's name. The sandbox starts an emulated host's daemons.
        let everything: Vec<&str> = body["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|h| h["create"].as_array().unwrap())
            .filter_map(Value::as_str)
            .collect();
        assert!(
            everything
                .iter()
                .any(|s| s.starts_with("+ ovs-daemons") && s.contains(&format!("nl-{name}.node1"))),
            "{everything:?}"
        );
        assert!(
            create.iter().any(|s| s.starts_with("+ ovs-bridge")),
            "{create:?}"
        );
        assert!(node1["remove"].as_array().unwrap().is_empty());
        assert_eq!(body["steps"].as_u64().unwrap() as usize, {
            body["hosts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| h["create"].as_array().unwrap().len())
                .sum::<usize>()
        });
    }

    /// The deploy answers and every event of a job's log and stream decode
    /// into the browser's wire types and encode back to the same JSON.
    #[tokio::test]
    async fn deploy_answers_decode_into_the_wire_types() {
        use super::super::tests::round_trips;
        use netloom_core::api::Status;
        if !is_root() {
            // Observing and deploying need root; CI and the e2e tests run as root.
            return;
        }
        let app = super::super::app(state());
        let name = format!("t-wire{}", std::process::id() % 10000);
        let text = json!({"text": lab(&name)});
        let (_, b) = call(&app, Method::POST, "/api/plan", Some(text.clone())).await;
        assert!(round_trips::<PlanView>("plan", &b).steps > 0);
        let (_, b) = call(&app, Method::POST, "/api/status", Some(text)).await;
        assert!(!round_trips::<Status>("status", &b).deployed);
        // Destroying what was never deployed: a job with nothing to do.
        let (status, b) = call(
            &app,
            Method::POST,
            "/api/jobs",
            Some(json!({"action": "destroy", "text": lab(&name)})),
        )
        .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{b}");
        let id = round_trips::<JobStarted>("job", &b).id;
        let log = loop {
            let (_, j) = call(&app, Method::GET, &format!("/api/jobs/{id}"), None).await;
            let log = round_trips::<JobLog>("job log", &j);
            if log.done {
                break log;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        };
        assert!(matches!(log.events.first(), Some(JobEvent::Start { .. })));
        let Some(JobEvent::Done(done)) = log.events.last() else {
            panic!("{log:?}")
        };
        assert!(
            done.ok && done.report.as_ref().is_some_and(|r| r.steps == 0),
            "{done:?}"
        );
        let text = stream(app.clone(), id, None).await;
        let data: Vec<Value> = text
            .lines()
            .filter_map(|l| serde_json::from_str(l.strip_prefix("data: ")?).ok())
            .collect();
        assert_eq!(data.len(), log.events.len(), "{text}");
        for d in &data {
            round_trips::<JobEvent>("event", d);
        }
        let (status, b) = call(&app, Method::DELETE, &format!("/api/jobs/{id}"), None).await;
        assert_eq!(status, StatusCode::CONFLICT, "{b}");
    }

    #[tokio::test]
    async fn invalid_topologies_and_actions_are_refused() {
        let app = super::super::app(state());
        for (uri, body) in [
            ("/api/plan", json!({"text": "version: 1\nname: Bad\n"})),
            ("/api/status", json!({"text": "nope"})),
            (
                "/api/jobs",
                json!({"action": "apply", "text": "version: 1\nname: Bad\n"}),
            ),
            ("/api/jobs", json!({"action": "explode", "text": lab("x")})),
        ] {
            let (status, b) = call(&app, Method::POST, uri, Some(body)).await;
            assert!(status.is_client_error(), "{uri}: {status} {b}");
            assert!(b["error"]["message"].is_string(), "{uri}: {b}");
        }
        let (status, b) = call(&app, Method::GET, "/api/jobs/999/events", None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{b}");
    }

    #[tokio::test]
    async fn a_second_job_on_a_busy_topology_is_refused() {
        let st = state();
        let jobs = st.jobs.clone();
        let app = super::super::app(st);
        let _held = jobs.lock("busy").expect("free at first");
        assert!(jobs.lock("busy").is_err(), "one holder at a time");
        let (status, b) = call(
            &app,
            Method::POST,
            "/api/jobs",
            Some(json!({"action": "apply", "text": lab("busy")})),
        )
        .await;
        assert_eq!(status, StatusCode::CONFLICT, "{b}");
        assert!(b["error"]["message"].as_str().unwrap().contains("busy"));

        // Another topology is not held up: destroying one never deployed is an empty job.
        let other = format!("t-free{}", std::process::id() % 10000);
        let (status, b) = call(
            &app,
            Method::POST,
            "/api/jobs",
            Some(json!({"action": "destroy", "text": lab(&other)})),
        )
        .await;
        if !is_root() {
            assert_eq!(status, StatusCode::FORBIDDEN, "{b}");
            return;
        }
        assert_eq!(status, StatusCode::ACCEPTED, "{b}");
        let id = b["id"].as_u64().unwrap();
        let log = loop {
            let (_, j) = call(&app, Method::GET, &format!("/api/jobs/{id}"), None).await;
            if j["done"] == true {
                break j;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        };
        let events = log["events"].as_array().unwrap();
        assert_eq!(events[0]["type"], "start");
        let done = events.last().unwrap();
        assert_eq!(done["ok"], true, "{done}");
        assert_eq!(done["report"]["steps"], 0, "nothing of {other} existed");
        // Its lock was given back before `done` was told.
        assert!(jobs.lock(&other).is_ok());
    }

    #[tokio::test]
    async fn running_jobs_are_bounded() {
        let st = state();
        let jobs = st.jobs.clone();
        let app = super::super::app(st);
        let held: Vec<TopologyLock> = (0..MAX_RUNNING_JOBS)
            .map(|i| jobs.lock(&format!("t{i}")).unwrap())
            .collect();
        let (status, b) = call(
            &app,
            Method::POST,
            "/api/jobs",
            Some(json!({"action": "destroy", "text": lab("one-more")})),
        )
        .await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{b}");
        assert_eq!(
            b["error"]["message"],
            format!("{MAX_RUNNING_JOBS} jobs are running; the limit is {MAX_RUNNING_JOBS}: wait for one to finish")
        );
        assert!(jobs.0.lock().unwrap().jobs.is_empty(), "no job was started");
        drop(held);
        assert!(
            jobs.lock("one-more").is_ok(),
            "a finished job frees its place"
        );
    }

    #[test]
    fn finished_jobs_are_forgotten_oldest_first_by_count_and_by_events() {
        let mut f: VecDeque<(u64, usize)> = (1..=4).map(|id| (id, 10)).collect();
        assert_eq!(forget(&mut f, 3, 100), [1]);
        assert_eq!(forget(&mut f, 3, 100), Vec::<u64>::new());
        f.push_back((5, 85));
        // 30 + 85 events over a budget of 100: the oldest go until it fits.
        assert_eq!(forget(&mut f, 8, 100), [2, 3]);
        assert_eq!(f, [(4, 10), (5, 85)]);
        // One job over the whole budget: the newest stays all the same.
        f.push_back((6, 500));
        assert_eq!(forget(&mut f, 8, 100), [4, 5]);
        assert_eq!(f, [(6, 500)]);
    }

    /// A client that reconnects after a finished job's stream closed (as an
    /// `EventSource` does) resumes past its last event: the stream ends at
    /// once instead of holding a slot open forever.
    #[tokio::test]
    async fn a_stream_resumed_past_a_finished_job_ends() {
        let st = state();
        let job = st.jobs.add(JobAction::Apply, "lab");
        job.push(start_event());
        job.push(JobEvent::Done(JobDone::default()));
        let app = super::super::app(st);
        for last in ["1", "7", "18446744073709551615"] {
            let req = scripted(Method::GET, &format!("/api/jobs/{}/events", job.id))
                .header("last-event-id", last)
                .body(axum::body::Body::empty())
                .unwrap();
            let resp = tower::ServiceExt::oneshot(app.clone(), req).await.unwrap();
            assert_eq!(resp.status(), StatusCode::OK);
            let body = axum::body::to_bytes(resp.into_body(), usize::MAX);
            let body = tokio::time::timeout(std::time::Duration::from_secs(10), body)
                .await
                .unwrap_or_else(|_| panic!("Last-Event-ID {last}: the stream did not end"))
                .unwrap();
            assert!(body.is_empty(), "{last}: {body:?}");
        }
    }

    #[tokio::test]
    async fn plans_and_status_reads_are_bounded() {
        let st = state();
        let held: Vec<Slot> = (0..MAX_OBSERVING)
            .map(|_| st.jobs.slot(Use::Observe).unwrap())
            .collect();
        let app = super::super::app(st);
        let text = Some(json!({"text": lab("t-bounded")}));
        for uri in ["/api/plan", "/api/status"] {
            let (status, b) = call(&app, Method::POST, uri, text.clone()).await;
            assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{uri}: {b}");
            let message = b["error"]["message"].as_str().unwrap();
            assert!(
                message.contains(&format!("the limit is {MAX_OBSERVING}")),
                "{b}"
            );
        }
        // A bad text is told as such, limit or not.
        let (status, _) = call(&app, Method::POST, "/api/plan", Some(json!({"text": "x"}))).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        drop(held);
        let (status, b) = call(&app, Method::POST, "/api/plan", text).await;
        assert_ne!(status, StatusCode::TOO_MANY_REQUESTS, "{b}");
    }

    #[tokio::test]
    async fn event_streams_are_bounded() {
        let st = state();
        let job = st.jobs.add(JobAction::Apply, "lab");
        job.push(start_event());
        let app = super::super::app(st);
        let uri = format!("/api/jobs/{}/events", job.id);
        // A running job's stream stays open as long as its response is held.
        let open = || async {
            let req = scripted(Method::GET, &uri)
                .body(axum::body::Body::empty())
                .unwrap();
            tower::ServiceExt::oneshot(app.clone(), req).await.unwrap()
        };
        let mut streams = Vec::new();
        for _ in 0..MAX_EVENT_STREAMS {
            let resp = open().await;
            assert_eq!(resp.status(), StatusCode::OK);
            streams.push(resp);
        }
        let (status, b) = call(&app, Method::GET, &uri, None).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{b}");
        assert!(
            b["error"]["message"]
                .as_str()
                .unwrap()
                .contains(&format!("the limit is {MAX_EVENT_STREAMS}")),
            "{b}"
        );
        // A client going away frees its slot.
        streams.pop();
        assert_eq!(open().await.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn a_job_waiting_for_the_lock_names_its_holder_and_can_be_cancelled() {
        if !is_root() {
            // The lock directory is root's.
            return;
        }
        let app = super::super::app(state());
        let name = format!("t-wait{}", std::process::id() % 10000);
        let held = deploy::lock::try_lock(&name, "test holder")
            .unwrap()
            .expect("free at first");
        let (status, b) = call(
            &app,
            Method::POST,
            "/api/jobs",
            Some(json!({"action": "destroy", "text": lab(&name)})),
        )
        .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{b}");
        let id = b["id"].as_u64().unwrap();
        let log = |app: Router| async move {
            call(&app, Method::GET, &format!("/api/jobs/{id}"), None)
                .await
                .1
        };
        let waiting = loop {
            let j = log(app.clone()).await;
            if let Some(e) = j["events"]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["type"] == "step")
            {
                break e.clone();
            }
            assert_ne!(j["done"], true, "{j}");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        };
        let said = waiting["step"].as_str().unwrap();
        assert!(
            said.contains(&format!(
                "waiting for topology {name}: held by pid {} (test holder: ",
                std::process::id()
            )),
            "{said}"
        );

        let (status, b) = call(&app, Method::DELETE, &format!("/api/jobs/{id}"), None).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{b}");
        let done = loop {
            let j = log(app.clone()).await;
            if j["done"] == true {
                break j["events"].as_array().unwrap().last().unwrap().clone();
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        };
        assert_eq!(done["ok"], false, "{done}");
        assert_eq!(done["cancelled"], true, "{done}");
        assert!(
            done["error"]
                .as_str()
                .unwrap()
                .contains("nothing was changed"),
            "{done}"
        );
        assert!(
            deploy::lock::try_lock(&name, "x").unwrap().is_err(),
            "the holder still holds it"
        );
        drop(held);
        let (status, b) = call(&app, Method::DELETE, &format!("/api/jobs/{id}"), None).await;
        assert_eq!(status, StatusCode::CONFLICT, "{b}");
    }

    /// The whole event stream of a finished job, resumed after `last` when given.
    async fn stream(app: Router, id: u64, last: Option<&str>) -> String {
        let mut req = scripted(Method::GET, &format!("/api/jobs/{id}/events"));
        if let Some(l) = last {
            req = req.header("last-event-id", l);
        }
        let resp = tower::ServiceExt::oneshot(app, req.body(axum::body::Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.headers()["content-type"], "text/event-stream");
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn events_stream_replays_the_log() {
        let st = state();
        let job = st.jobs.add(JobAction::Verify, "lab");
        job.push(start_event());
        job.push(JobEvent::Step(StepEvent {
            host: "node1".into(),
            step: "+ x".into(),
            ok: false,
            error: Some("boom".into()),
            ms: 1.0,
            note: None,
            warning: None,
        }));
        job.push(JobEvent::Done(JobDone::default()));
        let text = stream(super::super::app(st), job.id, Some("0")).await;
        assert!(
            !text.contains("event: start"),
            "resumed after event 0: {text}"
        );
        assert!(
            text.contains("id: 1\n") && text.contains("event: step") && text.contains("boom"),
            "{text}"
        );
        assert!(
            text.contains("event: done"),
            "the stream ends with done: {text}"
        );
    }

    #[test]
    fn a_step_carries_its_note_or_warning_only_when_it_has_one() {
        let step = |note: Option<&str>, warning: Option<&str>| {
            wire(&log_entry(&deploy::Event {
                target: "node1".into(),
                step: "+ dhcp-client nl-lab.node1.vm2/eth0".into(),
                ok: true,
                error: None,
                ms: 1000.0,
                note: note.map(str::to_string),
                warning: warning.map(str::to_string),
                probe: None,
            }))
        };
        let plain = step(None, None);
        assert!(plain.get("note").is_none() && plain.get("warning").is_none());
        assert_eq!(
            step(Some("no lease (predicted)"), None)["note"],
            "no lease (predicted)"
        );
        let w = step(None, Some("got the lease 10.0.0.5/24"));
        assert_eq!(w["warning"], "got the lease 10.0.0.5/24");
        assert!(w.get("note").is_none() && w["ok"] == true);
    }

    #[tokio::test]
    async fn verify_probes_stream_as_probe_events() {
        let st = state();
        let job = st.jobs.add(JobAction::Verify, "lab");
        let probe = netloom_core::reach::Probe {
            from: "node1/vm1".into(),
            to: "10.0.10.2".into(),
            owner: Some("node2/vm3".into()),
            ok: false,
            rtt_ms: None,
            ms: 2001.5,
            done: 1,
            total: 2,
            proto: None,
            detail: None,
        };
        let event = |probe: Option<netloom_core::reach::Probe>| deploy::Event {
            target: "node1".into(),
            step: "ping 10.0.10.2 (node2/vm3) from node1/vm1".into(),
            ok: false,
            error: Some("no echo reply within 2 s".into()),
            ms: 2001.5,
            note: None,
            warning: None,
            probe,
        };
        job.push(start_event());
        job.push(log_entry(&event(Some(probe.clone()))));
        job.push(log_entry(&event(None)));
        job.push(JobEvent::Done(JobDone {
            ok: true,
            ..JobDone::default()
        }));
        let text = stream(super::super::app(st.clone()), job.id, None).await;
        let blocks: Vec<(&str, Value)> = text
            .split("\n\n")
            .filter_map(|b| {
                let field = |k: &str| b.lines().find_map(|l| l.strip_prefix(k));
                Some((
                    field("event: ")?,
                    serde_json::from_str(field("data: ")?).ok()?,
                ))
            })
            .collect();
        let names: Vec<&str> = blocks.iter().map(|b| b.0).collect();
        assert_eq!(names, ["start", "probe", "step", "done"], "{text}");
        let data = &blocks[1].1;
        assert_eq!(data["type"], "probe", "{data}");
        let back: netloom_core::reach::Probe = serde_json::from_value(data.clone()).unwrap();
        assert_eq!(
            back, probe,
            "the browser decodes what the executor reported"
        );
        // Events without a probe stay steps, host named as before.
        assert_eq!(blocks[2].1["host"], "node1");
        assert!(blocks[2].1.get("done").is_none(), "{}", blocks[2].1);

        let app = super::super::app(st);
        let (status, j) = call(&app, Method::GET, &format!("/api/jobs/{}", job.id), None).await;
        assert_eq!(status, StatusCode::OK, "{j}");
        assert_eq!(
            &j["events"][1], data,
            "the log document holds the same probe"
        );
    }
}
