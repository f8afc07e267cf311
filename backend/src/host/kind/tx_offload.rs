//! TX checksum offload turned off on a device (veth ends under the
//! userspace datapath); nothing to undo, the device goes with its link.

use netloom_core::plan::Resource;

use crate::host::confine::{self, Refusal, TopologyName};
use crate::host::{netns, nl, StepError};

pub fn create(netns: &str, dev: &str) -> Result<(), StepError> {
    let dev = dev.to_string();
    netns::run_in(netns, move || nl::tx_csum_off(&dev))??;
    Ok(())
}

/// Device `dev` of namespace `ns`, whose offload reads `on`.
pub fn observe(ns: &str, dev: &str, on: bool) -> Option<Resource> {
    (!on).then(|| Resource::TxOffloadOff {
        netns: ns.to_string(),
        dev: dev.to_string(),
    })
}

pub fn confine(t: &TopologyName, ns: &str, dev: &str) -> Result<(), Refusal> {
    confine::device_in(t, ns, dev).map(drop)
}
