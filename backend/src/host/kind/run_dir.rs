//! netloom's directory of a topology, `/run/netloom/T`: pidfiles, sockets,
//! logs, leases and the DHCP client's script; root's only.

use std::path::Path;

use netloom_core::plan::{Resource, TargetInfo, SANDBOX};

use crate::host::confine::{clip, refuse, Refusal, TopologyName};
use crate::host::{procs, StepError};

pub fn create(path: &str) -> Result<(), StepError> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    // Root's only (the agents' token, pidfiles, leases), also when made before.
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)?;
    for d in Path::new(path).ancestors().take(2) {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o700))?;
    }
    std::fs::write(format!("{path}/udhcpc.script"), procs::UDHCPC_SCRIPT)?;
    std::fs::set_permissions(
        format!("{path}/udhcpc.script"),
        std::fs::Permissions::from_mode(0o755),
    )?;
    std::fs::create_dir_all(format!("{path}/leases"))?;
    std::fs::create_dir_all(format!("{path}/nft"))?;
    Ok(())
}

pub fn delete(path: &str) -> Result<(), StepError> {
    if Path::new(path).exists() {
        procs::stop_all_under(Path::new(path));
        std::fs::remove_dir_all(path)?;
    }
    // The parent is shared by topologies: remove it only when empty.
    let _ = std::fs::remove_dir("/run/netloom");
    Ok(())
}

/// The run directory `run`, if it is there, as the sandbox's and each real
/// host's: an agent observes its real host, whose run directory this is.
pub fn observe(run: &str, targets: &[TargetInfo]) -> Vec<(String, Resource)> {
    if !Path::new(run).exists() {
        return Vec::new();
    }
    std::iter::once(SANDBOX)
        .chain(
            targets
                .iter()
                .filter(|t| !t.emulated)
                .map(|t| t.name.as_str()),
        )
        .map(|t| {
            (
                t.to_string(),
                Resource::RunDir {
                    path: run.to_string(),
                },
            )
        })
        .collect()
}

pub fn confine(t: &TopologyName, path: &str) -> Result<(), Refusal> {
    if path == t.run_dir() {
        Ok(())
    } else {
        refuse(format!("{:?} is not {}", clip(path), t.run_dir()))
    }
}
