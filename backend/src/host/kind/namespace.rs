//! A network namespace of the topology, `nl-<topology>.…`, with IPv6 off and
//! `lo` up (named `namespace` here: [`crate::host::netns`] holds the
//! primitives it is made with).

use netloom_core::names;
use netloom_core::plan::{Resource, State};

use crate::host::confine::{self, Refusal, TopologyName};
use crate::host::nl::{self, NlError};
use crate::host::snapshot::Mapping;
use crate::host::{netns, StepError};

pub fn create(name: &str) -> Result<(), StepError> {
    // A namespace deleted a moment ago may still be going: retry briefly.
    let mut tries = 0;
    loop {
        match nl::create_netns_then(name, |_| Ok(())) {
            Err(NlError::Io(e)) if e.kind() == std::io::ErrorKind::AlreadyExists && tries < 1 => {
                // A leftover placeholder or mount: clear it and try again.
                netns::delete(name)?;
                tries += 1;
            }
            r => break r?,
        }
    }
    Ok(())
}

pub fn delete(name: &str) -> Result<(), StepError> {
    netns::delete(name)?;
    Ok(())
}

/// The topology's namespaces on this machine. A namespace file that is not
/// mounted (its creator was killed in between) counts as absent when it is
/// wanted, so apply creates it again (clearing the file), and as present
/// otherwise, so destroy removes it.
pub fn observe(topology: &str, hint: &State) -> Vec<String> {
    netns::list(&names::netns_prefix(topology))
        .into_iter()
        .filter(|ns| netns::inode(ns).is_some() || !wanted(hint, ns))
        .collect()
}

/// The topology's namespaces the snapshot found, each as its target's.
pub fn map(m: &Mapping) -> Vec<(String, Resource)> {
    m.snap
        .own
        .iter()
        .map(|ns| (m.target(ns), Resource::Netns { name: ns.clone() }))
        .collect()
}

/// Whether the desired state holds namespace `ns`.
fn wanted(hint: &State, ns: &str) -> bool {
    hint.targets
        .values()
        .flat_map(|rs| rs.values())
        .any(|r| matches!(r, Resource::Netns { name } if name == ns))
}

pub fn confine(t: &TopologyName, name: &str) -> Result<(), Refusal> {
    confine::netns(t, name).map(drop)
}
