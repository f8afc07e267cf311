//! A DHCP reservation: one file `MAC,IP` in its server's hosts directory,
//! which dnsmasq watches.

use std::net::Ipv4Addr;
use std::path::Path;

use netloom_core::plan::{self, Resource};
use netloom_core::topology::Mac;

use crate::host::confine::{self, clip, refuse, Refusal, TopologyName};
use crate::host::{procs, StepError};

/// The pidfile of the server the reservation `path` belongs to.
fn server_pidfile(path: &str) -> Result<String, StepError> {
    plan::dhcp_host_pidfile(path)
        .ok_or_else(|| std::io::Error::other(format!("{path}: not a hosts file")).into())
}

// The directory stays while its dnsmasq runs: dnsmasq watches it from its
// start, and would not see a new one of the same name.

pub fn create(path: &str, mac: Mac, ip: Ipv4Addr) -> Result<(), StepError> {
    let pidfile = server_pidfile(path)?;
    let dir = Path::new(path).parent().unwrap_or(Path::new("/"));
    std::fs::create_dir_all(dir)?;
    // Whole or not at all: dnsmasq reads a new file as soon as it appears.
    // (A dot file: dnsmasq skips those.)
    let name = Path::new(path).file_name().unwrap_or_default();
    let tmp = dir.join(format!(".{}", name.to_string_lossy()));
    std::fs::write(&tmp, format!("{mac},{ip}\n"))?;
    std::fs::rename(&tmp, path)?;
    // dnsmasq reads a new file by itself, a changed one on SIGHUP; the
    // signal also covers a watch it lost.
    procs::hangup_dnsmasq(Path::new(&pidfile));
    Ok(())
}

pub fn delete(path: &str) -> Result<(), StepError> {
    let pidfile = server_pidfile(path)?;
    let _ = std::fs::remove_file(path);
    // Only a SIGHUP makes dnsmasq forget a reservation.
    procs::hangup_dnsmasq(Path::new(&pidfile));
    Ok(())
}

/// The reservations in a server's hosts directory `dir`.
pub fn observe(dir: &Path) -> Vec<Resource> {
    let mut out = Vec::new();
    for ent in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = ent.path();
        if ent.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let Some((mac, ip)) = text.trim().split_once(',') else {
            continue;
        };
        if let (Ok(mac), Ok(ip)) = (mac.parse(), ip.parse()) {
            out.push(Resource::DhcpHost {
                path: path.to_string_lossy().into_owned(),
                mac,
                ip,
            });
        }
    }
    out
}

pub fn confine(t: &TopologyName, path: &str) -> Result<(), Refusal> {
    confine::host_file(t, path)?;
    // Its signal goes to the pidfile of the server it belongs to: only a DHCP server's.
    if netloom_core::plan::dhcp_host_pidfile(path).is_some() {
        Ok(())
    } else {
        refuse(format!(
            "{:?} is not in a DHCP server's hosts directory",
            clip(path)
        ))
    }
}
