//! netloom-core: the pure heart of netloom, shared by the browser and the server.
//!
//! No IO, no clocks, no threads: it builds for `wasm32-unknown-unknown`.
//! The bottom layer: the backend and the frontend import it, it imports
//! neither (docs/architecture.md). In pipeline order:
//!
//! - [`api`]: the wire types of the server's API, decoded by the browser with the same types.
//! - [`spec`]: the topology file as written (serde types, the format contract).
//! - [`format`]: YAML/JSON in and out, syntax errors with line and column.
//! - [`limits`]: the input budgets (file size, YAML nodes, hosts, guests, ...).
//! - [`validate`]: every rule of the format, every problem as `path: message`;
//!   turns a spec into a resolved [`topology::Topology`].
//! - [`topology`]: the resolved model everything else consumes.
//! - [`names`]: the Linux/OVS names netloom gives what it creates.
//! - [`ssh`]: an agent reached over SSH, `ssh://[USER@]HOST[:PORT]`, parsed safely.
//! - [`graph`]: a petgraph view (hosts, bridges, guests, externals).
//! - [`ovn`]: the OVN engine: the design as logical switches and routers,
//!   each host's chassis, and the one northbound transaction (a diff) that
//!   deploys it.
//! - [`plan`]: desired topology + observed state → ordered steps per host (apply/destroy).
//! - [`problem`]: problems and the JSON error body the API answers with.
//! - [`schema`]: the JSON Schema of the file format.
//! - [`sim`]: the simulator: one probe, frame by frame, through OVS bridges,
//!   tunnels and the guests' Linux stacks; DHCP lease prediction.
//! - [`trace`]: what a simulation returns (disposition, hops, steps with headers).
//! - [`reach`]: the reachability report, predicted here or measured by `verify`.
//! - [`doctor`]: what a host has (datapath, modules, OVS, underlay, bridges)
//!   read against the design, in words.
//! - [`capture`]: captured packets: pcap in and out, frames decoded into the
//!   same layers a simulated hop shows.
//! - [`intent`]: the design's `expect:` section judged by simulation or measurement.
//! - [`fix`]: for a failed probe or intent, the smallest edits to the design
//!   that make it work, each proven by the simulator, with their side effects.

pub mod api;
pub mod capture;
pub mod doctor;
pub mod fix;
pub mod format;
pub mod graph;
pub mod intent;
pub mod limits;
pub mod names;
pub mod ovn;
pub mod plan;
pub mod problem;
pub mod reach;
pub mod schema;
pub mod sim;
pub mod spec;
pub mod ssh;
pub mod topology;
pub mod trace;
pub mod validate;

pub use format::{load, parse};
pub use problem::{ErrorBody, Problem, Severity};
pub use spec::TopologySpec;
pub use topology::Topology;
pub use validate::{validate, Checked};
