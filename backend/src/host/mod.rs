//! This machine: its kernel and daemons. The executor of a target's steps
//! ([`exec`]), what exists ([`observe`], from a [`snapshot`] of the
//! namespaces), and the parts they are made of:
//! namespaces ([`netns`]), rtnetlink ([`nl`]), OVSDB ([`ovsdb`]), processes
//! ([`procs`]), each resource kind's create, delete, observe and checks
//! ([`kind`]), the confinement of every step to its topology ([`confine`]),
//! the topology lock ([`lock`]), echo probes ([`probe`], [`ping`]), packet
//! capture on one device ([`capture`]) and what an agent may capture
//! ([`tap`]), what the machine has ([`checkup`]).
//!
//! Layer: above `netloom_core`, [`crate::report`] and [`crate::secret`];
//! below the agent and the controller. It knows steps, not agents or other
//! hosts: nothing here imports `crate::agent` or `crate::deploy`.

pub mod capture;
pub mod checkup;
pub mod confine;
pub mod exec;
pub mod kind;
pub mod lock;
pub mod netns;
pub mod nl;
pub mod observe;
pub mod ovsdb;
pub mod ping;
pub mod probe;
pub mod procs;
pub mod snapshot;
pub mod tap;

use nl::NlError;
use ovsdb::OvsdbError;
use procs::ProcError;

/// What went wrong in one step.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    #[error(transparent)]
    Netlink(#[from] NlError),
    #[error(transparent)]
    Ovsdb(#[from] OvsdbError),
    #[error(transparent)]
    Process(#[from] ProcError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// A failed apply or destroy: which host, which step, and the error.
#[derive(Debug, thiserror::Error)]
#[error("{}: step `{step}` failed: {source}", if target.is_empty() { "sandbox" } else { target.as_str() })]
pub struct ApplyError {
    pub target: String,
    pub step: String,
    /// Boxed: an `ApplyError` is the `Err` of most of the executor's
    /// results, and a step's error is large.
    #[source]
    pub source: Box<StepError>,
}

impl ApplyError {
    pub fn new(target: impl Into<String>, step: impl Into<String>, source: StepError) -> Self {
        ApplyError {
            target: target.into(),
            step: step.into(),
            source: Box::new(source),
        }
    }

    /// A failure around the steps (an agent, a plan, a refusal), in words.
    pub fn other(
        target: impl Into<String>,
        step: impl Into<String>,
        message: impl std::fmt::Display,
    ) -> Self {
        let e = std::io::Error::other(message.to_string());
        Self::new(target, step, StepError::Io(e))
    }

    /// The interruption, when a signal or a cancel ended a wait for the lock.
    pub fn interrupted(&self) -> Option<&std::io::Error> {
        match &*self.source {
            StepError::Io(e) if e.kind() == std::io::ErrorKind::Interrupted => Some(e),
            _ => None,
        }
    }
}

/// The alias netloom gives the links it creates: `netloom:<topology>`.
pub fn link_mark(topology: &str) -> String {
    format!("netloom:{topology}")
}
