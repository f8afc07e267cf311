//! The netloom agent of an emulated host: a process in the host's
//! namespace, listening on `dir/agent.sock`.

use std::path::Path;

use netloom_core::plan::Resource;

use crate::host::confine::{self, Refusal, TopologyName};
use crate::host::{procs, StepError};

pub fn create(topology: &str, netns: &str, dir: &str) -> Result<(), StepError> {
    procs::start_agent(topology, netns, dir)?;
    Ok(())
}

pub fn delete(dir: &str) {
    procs::stop_agent(&Path::new(dir).join("agent.pid"));
    for f in ["agent.sock", "agent.log"] {
        let _ = std::fs::remove_file(Path::new(dir).join(f));
    }
}

/// The agent of host directory `dir` if it runs and answers; `home` names
/// the namespace of a process.
pub fn observe(dir: &str, home: impl Fn(i32) -> String) -> Option<Resource> {
    let pid = procs::alive_pid(&Path::new(dir).join("agent.pid"))?;
    procs::alive(&format!("{dir}/agent.sock")).then(|| Resource::Agent {
        netns: home(pid),
        dir: dir.to_string(),
    })
}

pub fn confine(t: &TopologyName, ns: &str, dir: &str) -> Result<(), Refusal> {
    confine::host_daemon(t, ns, dir)
}
