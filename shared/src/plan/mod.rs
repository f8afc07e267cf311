//! The planner: desired topology + observed state → ordered operations per target.
//!
//! Everything a deployment consists of is a [`Resource`] with a stable key
//! (a namespace, a veth pair, an OVS port, an address, a dnsmasq process...).
//! [`desired`] says which resources a [`Topology`](crate::Topology) needs; the executor
//! observes which exist (the same type, [`State`]); [`plan`] diffs the two into
//! [`Step`]s: create, update (in place: an OVS port's tag, a ruleset, a
//! process's arguments) or delete, in dependency order. A step's inverse is
//! [`Step::inverse`]. Applying a plan and observing again gives a state whose
//! plan is empty — that is what makes apply idempotent.
//!
//! A *target* is where steps run: `""` is the sandbox machine itself (the
//! underlay and external segments, the namespaces emulating hosts), any other
//! value is a host name whose agent runs its steps. Pure: no IO here.
//!
//! Map (each file one job, in pipeline order): `resource.rs` the kinds and
//! their keys, ranks and dependencies; `state.rs` a set of them per target;
//! `target.rs` where steps run and what real hosts report; `services.rs` the
//! daemons' configuration; `desired.rs` what a topology needs; `diff.rs` the
//! steps from observed to desired; `order.rs` the passes steps run in, shared
//! by the executor and the export; `export.rs` steps as shell commands.

mod desired;
mod diff;
mod export;
mod order;
mod resource;
mod services;
mod state;
mod target;

pub use desired::*;
pub use diff::*;
pub use export::*;
pub use order::*;
pub use resource::*;
pub use services::*;
pub use state::*;
pub use target::*;

#[cfg(test)]
mod tests;
