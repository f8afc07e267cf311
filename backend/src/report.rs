//! What apply, destroy and verify tell their caller as they go: one [`Event`]
//! per step or probe, and a [`Report`] at the end. Below every layer that
//! reports (the executor, the agent, the controller), so each can carry them.

use serde::{Deserialize, Serialize};

use netloom_core::reach::Probe;

/// Progress of one step (of apply or destroy), or of one probe of verify.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Event {
    /// Host name, or `""` for the sandbox machine's own steps.
    pub target: String,
    /// The step, as `netloom plan` prints it.
    pub step: String,
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub ms: f64,
    /// A step that went through as the model predicts, with an outcome worth
    /// showing: `no lease (predicted)` for a DHCP client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// A step that went through, but reality differs from the model's prediction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
    /// Set by verify: the pair just measured, with the count so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe: Option<Probe>,
}

/// What an apply or destroy did (a job's `done` event carries it).
pub use netloom_core::api::Report;

/// Progress callback.
pub type Progress<'a> = &'a (dyn Fn(&Event) + Sync);
