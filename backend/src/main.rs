//! netloom: design, simulate and deploy multi-host virtual networks.
//!
//! Layers, each importing only from those above it in this list (no circle;
//! see docs/architecture.md):
//!
//! 1. `netloom_core` (the pure core: spec, validate, topology, plan, sim),
//!    [`report`] (the events apply/destroy/verify tell as they go),
//!    [`secret`] (token files and fresh tokens), [`tls`] (rustls configurations).
//! 2. [`host`]: this machine — the executor of a target's steps, observation,
//!    namespaces, rtnetlink, OVSDB, processes, confinement, the topology lock,
//!    probes. Never imports the agent or the controller.
//! 3. [`agent`]: the per-host agent — wire protocol, server (with its
//!    grants and the confinement guard), peers, client. Never imports the controller.
//! 4. [`deploy`]: the controller — facts, observe every target, execute a
//!    plan through agents (or [`host`] directly), verify, status.
//! 5. [`server`] (`netloom serve`, the web app's HTTP API) and [`cli`] (one
//!    module per command, each owns its clap arguments and returns an exit code).

mod agent;
mod cli;
mod deploy;
mod host;
mod report;
mod secret;
mod server;
mod tls;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    // Like other Unix tools, end quietly when the reader goes away
    // (`netloom plan FILE | head`) instead of panicking in println!; a
    // server or agent keeps Rust's default (ignored) instead.
    if !args.serves() {
        // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    cli::run(args)
}
