//! `OvnController`: a real host's own `ovn-controller` (engine `ovn`, an
//! existing central), on the host's OVSDB, its files in the topology's
//! `_ovn-controller` directory. It goes with `exit`, so the chassis leaves
//! the central's southbound database.

use netloom_core::names;
use netloom_core::ovn::{tls_path_ok, Tls};
use netloom_core::plan::Resource;

use crate::host::confine::{clip, own_dir, refuse, Refusal, TopologyName};
use crate::host::{procs, StepError};

/// Start it, on a host whose chassis keys are the topology's (they come
/// first) and whose OVSDB no other `ovn-controller` serves: it would take
/// whatever chassis the keys name.
pub fn create(topology: &str, dir: &str, ovsdb: &str, tls: Option<&Tls>) -> Result<(), StepError> {
    let refused = |why: String| Err(StepError::Io(std::io::Error::other(why)));
    if !super::ovn_chassis::is_ours(ovsdb, topology)? {
        return refused(format!(
            "this host's Open vSwitch is not a chassis of topology {topology}'s: ovn-controller not started"
        ));
    }
    let own = procs::ovn_controller_running(dir);
    if let Some(pid) = procs::ovn_controllers_on(ovsdb)
        .into_iter()
        .find(|p| Some(*p) != own)
    {
        return refused(format!(
            "another ovn-controller (pid {pid}) already serves this host's OVSDB {ovsdb}"
        ));
    }
    procs::start_ovn_controller(dir, ovsdb, tls)?;
    Ok(())
}

/// Stop it: with `exit` while the chassis is still the topology's, so it
/// takes its own rows out of the southbound; otherwise as any daemon.
pub fn delete(topology: &str, dir: &str, ovsdb: &str) {
    let ours = super::ovn_chassis::is_ours(ovsdb, topology).unwrap_or(false);
    procs::stop_ovn_controller(dir, ours);
}

/// The topology's `ovn-controller` when it runs, with the TLS files it was given.
pub fn observe(topology: &str) -> Option<Resource> {
    let dir = names::ovn_controller_dir(topology);
    let pid = procs::ovn_controller_running(&dir)?;
    let args = procs::cmdline_args(pid);
    let arg = |k: &str| {
        args.iter()
            .find_map(|a| a.strip_prefix(&format!("--{k}=")).map(str::to_string))
    };
    let tls = match (arg("private-key"), arg("certificate"), arg("ca-cert")) {
        (Some(private_key), Some(certificate), Some(ca_certificate)) => Some(Tls {
            private_key,
            certificate,
            ca_certificate,
        }),
        _ => None,
    };
    Some(Resource::OvnController { dir, tls })
}

/// The topology's own directory: all a removal needs.
pub fn confine_dir(t: &TopologyName, dir: &str) -> Result<(), Refusal> {
    own_dir(
        dir,
        &names::ovn_controller_dir(t.as_str()),
        "ovn-controller directory",
    )
}

/// The topology's own directory, and TLS files that are plain files
/// (`ovn-controller` reads them as root), by their path and by where their
/// symbolic links lead.
pub fn confine(t: &TopologyName, dir: &str, tls: Option<&Tls>) -> Result<(), Refusal> {
    confine_dir(t, dir)?;
    let Some(tls) = tls else { return Ok(()) };
    for p in [&tls.private_key, &tls.certificate, &tls.ca_certificate] {
        tls_path_ok(p).or_else(|e| refuse(clip(&e)))?;
        let real = std::fs::canonicalize(p).ok();
        let real = real.as_ref().and_then(|r| r.to_str());
        match real {
            Some(r) if std::fs::metadata(r).is_ok_and(|m| m.is_file()) => {
                tls_path_ok(r).or_else(|e| refuse(clip(&e)))?
            }
            _ => return refuse(format!("{:?} is not a file on this host", clip(p))),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_topologys_directory_and_plain_files() {
        let t = TopologyName::parse("lab").unwrap();
        let dir = names::ovn_controller_dir("lab");
        let file = std::env::temp_dir().join("netloom-ovn-controller-confine.pem");
        std::fs::write(&file, "x").unwrap();
        let f = file.to_str().unwrap().to_string();
        let tls = |k: &str| Tls {
            private_key: k.into(),
            certificate: f.clone(),
            ca_certificate: f.clone(),
        };
        assert!(confine(&t, &dir, None).is_ok());
        assert!(confine(&t, &dir, Some(&tls(&f))).is_ok());
        for bad in [
            "/run/netloom/other/_ovn-controller",
            "/run/netloom/lab",
            "/etc",
        ] {
            assert!(confine(&t, bad, None).is_err(), "{bad}");
        }
        // A link to a file that never ends.
        let link = std::env::temp_dir().join("netloom-ovn-controller-confine-link.pem");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink("/proc/kcore", &link).unwrap();
        assert!(confine(&t, &dir, Some(&tls(link.to_str().unwrap()))).is_err());
        let _ = std::fs::remove_file(link);
        for bad in [
            "/dev/zero",
            "/proc/kcore",
            "/tmp",
            "relative.pem",
            "/no/such/file",
            "/tmp/../dev/zero",
        ] {
            assert!(confine(&t, &dir, Some(&tls(bad))).is_err(), "{bad}");
        }
        let _ = std::fs::remove_file(file);
    }
}
