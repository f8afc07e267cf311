//! `netloom status FILE [--json]`: per host, what is deployed (vms with
//! addresses and leases, routers, DHCP servers, processes) and the drift.

use std::process::ExitCode;

use crate::deploy::status::{self, DriftItem, GuestStatus, Process, Status};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Topology file (`-` for standard input).
    pub file: String,
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: Args) -> ExitCode {
    let topo = match super::load_as_root(&a.file, "status") {
        Ok(t) => t,
        Err(c) => return c,
    };
    let s = match status::status(&topo) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("netloom status: {e}");
            return ExitCode::from(3);
        }
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&s).unwrap_or_default());
        return ExitCode::SUCCESS;
    }
    print!("{}", text(&s));
    ExitCode::SUCCESS
}

/// The status as text, one line per host, guest and external, then the drift.
fn text(s: &Status) -> String {
    let mut out = format!(
        "{}: {}\n",
        s.topology,
        if s.deployed {
            "deployed"
        } else {
            "not deployed"
        }
    );
    for h in &s.hosts {
        out += &format!(
            "host {} [{}]{} {}\n",
            h.name,
            h.netns,
            absent(h.present),
            processes(&h.processes)
        );
        for (kind, list) in [("vm", &h.vms), ("router", &h.routers), ("dhcp", &h.dhcp)] {
            for g in list {
                out += &guest(kind, g);
            }
        }
    }
    for e in &s.externals {
        out += &format!(
            "external {} [{}]{}: upstream router {}\n",
            e.name,
            e.netns,
            absent(e.present),
            e.gateway
        );
    }
    out + &drift(&s.drift)
}

fn absent(present: bool) -> &'static str {
    if present {
        ""
    } else {
        " absent"
    }
}

fn processes(ps: &[Process]) -> String {
    let ps: Vec<String> = ps
        .iter()
        .map(|p| format!("{} ({})", p.name, p.pid))
        .collect();
    ps.join(", ")
}

/// A guest's line: its interfaces with their addresses and leases, its processes.
fn guest(kind: &str, g: &GuestStatus) -> String {
    let ifs: Vec<String> = g
        .interfaces
        .iter()
        .map(|i| {
            let lease = match (i.lease.is_some(), i.no_lease_predicted) {
                (true, false) => " (lease)",
                (true, true) => " (lease, none predicted)",
                (false, true) => " (no lease, predicted)",
                (false, false) => "",
            };
            format!("{} {}{lease}", i.name, i.addresses.join(","))
        })
        .collect();
    format!(
        "  {kind} {} [{}]{}: {} {}\n",
        g.name,
        g.netns,
        absent(g.present),
        ifs.join("; "),
        processes(&g.processes)
    )
}

fn drift(drift: &[DriftItem]) -> String {
    if drift.is_empty() {
        return "no drift\n".into();
    }
    let mut out = format!("drift ({} steps would run):\n", drift.len());
    for d in drift {
        out += &format!("  {}: {}\n", super::apply::host(&d.host), d.step);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::status::{ExternalStatus, HostStatus, IfaceStatus};

    #[test]
    fn the_text_names_hosts_guests_leases_and_drift() {
        let iface = |name: &str, lease: bool, predicted: bool| IfaceStatus {
            name: name.into(),
            addresses: vec!["10.0.0.5/24".into()],
            lease: lease.then(|| "10.0.0.5/24".into()),
            no_lease_predicted: predicted,
            up: Some(true),
        };
        let udhcpc = Process {
            name: "udhcpc".into(),
            pid: 42,
        };
        let vm = GuestStatus {
            name: "vm1".into(),
            netns: "nl-t.h1.vm1".into(),
            present: true,
            interfaces: vec![iface("eth0", true, false), iface("eth1", false, true)],
            processes: vec![udhcpc],
        };
        let s = Status {
            topology: "t".into(),
            deployed: true,
            hosts: vec![HostStatus {
                name: "h1".into(),
                netns: "nl-t.h1".into(),
                emulated: true,
                present: false,
                processes: Vec::new(),
                vms: vec![vm],
                routers: Vec::new(),
                dhcp: Vec::new(),
            }],
            externals: vec![ExternalStatus {
                name: "up".into(),
                netns: "up0".into(),
                gateway: "192.0.2.1".into(),
                present: true,
            }],
            drift: vec![DriftItem {
                host: String::new(),
                step: "create netns x".into(),
            }],
        };
        assert_eq!(
            text(&s),
            "t: deployed\n\
             host h1 [nl-t.h1] absent \n  \
             vm vm1 [nl-t.h1.vm1]: eth0 10.0.0.5/24 (lease); eth1 10.0.0.5/24 (no lease, predicted) udhcpc (42)\n\
             external up [up0]: upstream router 192.0.2.1\n\
             drift (1 steps would run):\n  \
             sandbox: create netns x\n"
        );
    }
}
