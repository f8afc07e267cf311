//! Captured packets, read the way the simulator's inspector shows them.
//!
//! - [`decode`]: one Ethernet frame → the same [`Layer`](crate::trace::Layer)s a
//!   simulated hop carries, outermost first, through GRE and VXLAN.
//! - [`link`]: the link a capture listens on (`vm1:eth0`, `tunnels[0]`) and
//!   where an emulated host shows it, or what a real host's agent is asked for.
//! - [`path`]: the real path beside the predicted one: which of a trace's
//!   frames the links it crosses saw, and the first that none did.
//! - [`pcap`]: the classic pcap file format (what `tcpdump -w` writes and
//!   Wireshark reads), in and out.
//!
//! Pure like the rest of the core: the backend captures, the browser decodes.

pub mod decode;
pub mod link;
pub mod path;
pub mod pcap;

pub use decode::decode;
pub use link::{HostLink, Link, MirrorOn, Tap, TunnelFilter};
