//! `OvnCentral`: a topology's own OVN central on this machine (engine
//! `ovn`): the northbound and southbound ovsdb-servers and `ovn-northd`,
//! files and sockets in the topology's `_ovn` directory.

use netloom_core::names;
use netloom_core::plan::Resource;

use crate::host::confine::{own_dir, Refusal, TopologyName};
use crate::host::{procs, StepError};

pub fn create(dir: &str) -> Result<(), StepError> {
    procs::start_ovn_central(dir)?;
    Ok(())
}

pub fn delete(dir: &str) {
    procs::stop_ovn_central(dir);
}

/// The topology's central, when its three daemons run.
pub fn observe(topology: &str) -> Option<Resource> {
    let dir = names::ovn_dir(topology);
    procs::ovn_central_running(&dir)?;
    Some(Resource::OvnCentral { dir })
}

/// Only the topology's own directory: the step removes it whole.
pub fn confine(t: &TopologyName, dir: &str) -> Result<(), Refusal> {
    own_dir(dir, &names::ovn_dir(t.as_str()), "OVN directory")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_topologys_own_directory() {
        let t = TopologyName::parse("lab").unwrap();
        assert!(confine(&t, "/run/netloom/lab/_ovn").is_ok());
        for bad in [
            "/run/netloom/other/_ovn",
            "/run/netloom/lab",
            "/run/netloom/lab/_ovn/../../x",
            "/etc",
            "",
        ] {
            assert!(confine(&t, bad).is_err(), "{bad}");
        }
    }
}
