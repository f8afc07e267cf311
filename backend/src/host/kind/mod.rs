//! One module per resource kind: how a step makes and removes it, how it is
//! read back, and the checks that confine it to its topology. The
//! executor ([`super::exec`]), the observer ([`super::observe`]) and the
//! confinement ([`super::confine`]) dispatch here by kind; what spans kinds
//! (rank order, OVS transactions, reading a namespace once) stays with them.

pub mod addr;
pub mod agent;
pub mod dhcp_client;
pub mod dhcp_host;
pub mod dnsmasq;
pub mod namespace;
pub mod nft;
pub mod ovs;
pub mod ovs_daemons;
pub mod route;
pub mod run_dir;
pub mod segment;
pub mod sysctl;
pub mod tx_offload;
pub mod veth;
pub mod vxlan;

use super::{nl, StepError};

/// Removes link `name` of namespace `netns`: a segment, a veth pair (both
/// ends) or a VXLAN device, all the same way.
pub fn delete_link(netns: &str, name: &str) -> Result<(), StepError> {
    let name = name.to_string();
    nl::with_netlink(netns, move |n| n.del_link(&name))?;
    Ok(())
}
