//! Captured packets, read the way the simulator's inspector shows them.
//!
//! - [`decode`]: one Ethernet frame → the same [`Layer`](crate::trace::Layer)s a
//!   simulated hop carries, outermost first, through GRE and VXLAN.
//! - [`pcap`]: the classic pcap file format (what `tcpdump -w` writes and
//!   Wireshark reads), in and out.
//!
//! Pure like the rest of the core: the backend captures, the browser decodes.

pub mod decode;
pub mod pcap;

pub use decode::decode;
