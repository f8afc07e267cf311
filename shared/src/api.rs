//! The wire types of `netloom serve`'s API: what the server answers and
//! streams, decoded by the browser with these same types, so a renamed field
//! fails to compile on one side instead of showing an empty panel.
//!
//! The simulator's answers ([`crate::trace::Trace`], [`crate::reach::ReachReport`])
//! and the error body ([`crate::ErrorBody`]) live with their modules. Every
//! type here derives `JsonSchema`: the server's OpenAPI document is made from them.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::reach::{Probe, ReachReport};
use crate::Problem;

/// `GET /api/health`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Health {
    pub ok: bool,
    /// The server's version.
    pub version: String,
}

/// `POST /api/validate`: every problem, warnings included (empty: valid).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Validation {
    pub problems: Vec<Problem>,
}

/// A stored design without its text, as listed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DesignInfo {
    pub id: i64,
    pub name: String,
    pub revision: i64,
    /// Seconds since the Unix epoch.
    pub updated: i64,
}

/// A stored design with its topology text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Design {
    #[serde(flatten)]
    pub info: DesignInfo,
    pub text: String,
}

/// `POST /api/plan`: per host, the steps apply would run, grouped by action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PlanView {
    pub topology: String,
    /// All steps, every host together.
    pub steps: usize,
    pub hosts: Vec<PlanHost>,
}

/// One host's part of a [`PlanView`]; each step as `netloom plan` prints it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PlanHost {
    /// The host's name, or `sandbox` for this machine's own steps.
    pub host: String,
    pub netns: String,
    pub emulated: bool,
    pub create: Vec<String>,
    pub change: Vec<String>,
    pub remove: Vec<String>,
}

/// `POST /api/status` (and `netloom status --json`): what is deployed now, and the drift.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Status {
    pub topology: String,
    /// True when anything of the topology exists on this machine.
    pub deployed: bool,
    pub hosts: Vec<HostStatus>,
    pub externals: Vec<ExternalStatus>,
    /// Every step apply would run now; empty when reality matches the file.
    pub drift: Vec<DriftItem>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct HostStatus {
    pub name: String,
    pub netns: String,
    /// Emulated here (sandbox) or real (its agent).
    pub emulated: bool,
    pub present: bool,
    pub processes: Vec<Process>,
    pub vms: Vec<GuestStatus>,
    pub routers: Vec<GuestStatus>,
    pub dhcp: Vec<GuestStatus>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct GuestStatus {
    pub name: String,
    pub netns: String,
    pub present: bool,
    pub interfaces: Vec<IfaceStatus>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub processes: Vec<Process>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct IfaceStatus {
    pub name: String,
    /// Addresses found on it (CIDR).
    pub addresses: Vec<String>,
    /// The DHCP lease it holds, if it asked for one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<String>,
    /// It asks for a lease, and the model predicts none (its client runs on
    /// in the background: a `lease` here means reality differs).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_lease_predicted: bool,
    /// The interface is there and up (`ip link`'s UP); absent when not
    /// known (a real host's guest, or a guest that is not there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub up: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Process {
    pub name: String,
    pub pid: i32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ExternalStatus {
    pub name: String,
    /// The upstream router's namespace.
    pub netns: String,
    pub gateway: String,
    pub present: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DriftItem {
    pub host: String,
    pub step: String,
}

/// What a deploy job does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum JobAction {
    Apply,
    Destroy,
    Verify,
}

impl JobAction {
    pub fn as_str(self) -> &'static str {
        match self {
            JobAction::Apply => "apply",
            JobAction::Destroy => "destroy",
            JobAction::Verify => "verify",
        }
    }
}

/// `POST /api/jobs` (202): the job started.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct JobStarted {
    pub id: u64,
    pub topology: String,
    pub action: JobAction,
}

/// `GET /api/jobs/{id}`: the job's log so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct JobLog {
    pub id: u64,
    pub action: JobAction,
    pub topology: String,
    /// The log ends with its `done` event.
    pub done: bool,
    pub events: Vec<JobEvent>,
}

/// `DELETE /api/jobs/{id}` (202): the job was asked to give up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct JobCancel {
    pub id: u64,
    /// Always `requested`.
    pub cancel: String,
}

/// One event of a job's log; its `type` is also the SSE event's name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum JobEvent {
    Start {
        action: JobAction,
        topology: String,
    },
    /// One executor step (apply, destroy) on one host.
    Step(StepEvent),
    /// One pair measured by verify, as its ping ends.
    Probe(Probe),
    /// The last event.
    Done(JobDone),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StepEvent {
    /// The host's name, or `sandbox`.
    pub host: String,
    /// The step, as `netloom plan` prints it.
    pub step: String,
    pub ok: bool,
    /// Why the step failed (`null` when it did not).
    pub error: Option<String>,
    pub ms: f64,
    /// An outcome worth showing of a step that went as predicted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// A step that went through, but reality differs from the prediction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

/// How a job ended: `report` (apply, destroy) or `real` and `disagreements`
/// (verify) when ok; `error`, with the `host` and `step` where it failed,
/// or `cancelled`, when not.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
pub struct JobDone {
    pub ok: bool,
    pub seconds: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<Report>,
    /// The measured reachability (verify).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub real: Option<ReachReport>,
    /// Pairs where reality and the simulation differ (verify).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disagreements: Option<Vec<Disagreement>>,
    /// The job gave up waiting for the topology's lock; nothing was changed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cancelled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What an apply or destroy did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Report {
    pub topology: String,
    pub steps: usize,
    pub seconds: f64,
}

/// One pair where reality and the prediction differ.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Disagreement {
    pub from: String,
    pub to: String,
    /// `tcp:PORT` for a connection probe; left out for a ping.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proto: Option<String>,
    /// `None`: the pair is missing on that side (e.g. a lease at another address).
    pub real: Option<bool>,
    pub simulation: Option<bool>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub simulation_detail: String,
}

/// `POST /api/simulate/real`: the trace, and the probe sent for real on the
/// applied design, frame by frame against it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RealPath {
    pub trace: crate::trace::Trace,
    pub real: crate::capture::path::PathCheck,
}
