//! TX checksum offload turned off on a device (veth ends under the
//! userspace datapath); nothing to undo, the device goes with its link.

use netloom_core::plan::Resource;

use crate::host::confine::{self, Refusal, TopologyName};
use crate::host::snapshot::Mapping;
use crate::host::{netns, nl, StepError};

pub fn create(netns: &str, dev: &str) -> Result<(), StepError> {
    let dev = dev.to_string();
    netns::run_in(netns, move || nl::tx_csum_off(&dev))??;
    Ok(())
}

/// The devices of the topology's namespaces whose offload reads off.
pub fn map(m: &Mapping) -> Vec<(String, Resource)> {
    let mut out = Vec::new();
    for (ns, v) in m.namespaces() {
        for (dev, on) in &v.tx_on {
            if !on {
                let r = Resource::TxOffloadOff {
                    netns: ns.to_string(),
                    dev: dev.clone(),
                };
                out.push((m.target(ns), r));
            }
        }
    }
    out
}

pub fn confine(t: &TopologyName, ns: &str, dev: &str) -> Result<(), Refusal> {
    confine::device_in(t, ns, dev).map(drop)
}
