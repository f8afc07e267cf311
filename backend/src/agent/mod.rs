//! The per-host agent: `netloom agent --listen ADDR --token-file FILE`.
//!
//! It executes its host's part of a plan and observes its host, for the
//! controller (`netloom apply`, the server's Apply button). Sandbox hosts run
//! the same agent inside their namespace, on a unix socket, so the sandbox
//! exercises the real path end to end.
//!
//! - [`proto`]: the wire protocol (one JSON request line, JSON answer lines).
//! - [`grants`]: the agent's token file: which topologies each token may touch.
//! - [`server`]: listen, authenticate (token first, before the body), confine
//!   every field to the token's topology ([`crate::host::confine`]), answer.
//! - [`peers`]: the agents the controller is configured to talk to.
//! - [`client`]: the controller's requests, with bounded answers.
//! - [`ssh`]: agents reached over SSH (`ssh://`): `--stdio` sessions over a shared login.
//!
//! Addresses: `unix:/path` or `tcp:HOST:PORT`. Over TCP the agent speaks TLS
//! when given `--tls-cert/--tls-key`, and refuses to listen on anything but
//! loopback without them unless `--insecure`.

pub mod client;
pub mod grants;
pub mod peers;
pub mod proto;
pub mod server;
pub mod ssh;

use std::path::Path;

use netloom_core::names;

pub use client::{addrs, execute, host_facts, observe, ping};
pub use peers::Peer;
pub use server::{serve, Args};

/// True when this kernel has the Open vSwitch datapath (module loaded or built in).
pub fn kernel_datapath() -> bool {
    Path::new("/sys/module/openvswitch").exists()
}

/// A file holding tokens ([`crate::secret::read_token_file`]'s rule).
pub fn read_private(path: &Path) -> Result<String, String> {
    crate::secret::read_token_file(path).map_err(|e| e.to_string())
}

/// The peer of an emulated host's agent: its socket and the sandbox's token.
pub fn sandbox_peer(topology: &str, addr: &str) -> Result<Peer, String> {
    let text = read_private(Path::new(&names::sandbox_token_path(topology)))?;
    let token = text
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string();
    Ok(Peer {
        addr: addr.to_string(),
        token,
        ca: None,
    })
}
