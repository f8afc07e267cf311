//! netloom: design, simulate and deploy multi-host virtual networks.
//!
//! - [`cli`]: one module per command (`validate`, `simulate`, `reach`, ...);
//!   each owns its clap arguments and returns an exit code.
//! - [`agent`]: the per-host agent (unix socket or TCP/TLS, token) and its client.
//! - [`deploy`]: apply/destroy on real namespaces, OVS (OVSDB), rtnetlink, nft, dnsmasq.
//! - [`server`]: `netloom serve`, the web app's HTTP API.
//! - [`tls`]: rustls configurations for serve, the agent and the agent client.
//! - [`secret`]: token files, refused when other users may read them.

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
    // Like other Unix tools, end quietly when the reader goes away
    // (`netloom plan FILE | head`) instead of panicking in println!.
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let args = cli::Cli::parse();
    cli::run(args)
}
