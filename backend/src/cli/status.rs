//! `netloom status FILE [--json]`: per host, what is deployed (vms with
//! addresses and leases, routers, DHCP servers, processes) and the drift.

use std::process::ExitCode;

use crate::deploy::status;

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
    println!(
        "{}: {}",
        s.topology,
        if s.deployed {
            "deployed"
        } else {
            "not deployed"
        }
    );
    for h in &s.hosts {
        let procs: Vec<String> = h
            .processes
            .iter()
            .map(|p| format!("{} ({})", p.name, p.pid))
            .collect();
        println!(
            "host {} [{}]{} {}",
            h.name,
            h.netns,
            if h.present { "" } else { " absent" },
            procs.join(", ")
        );
        for (kind, list) in [("vm", &h.vms), ("router", &h.routers), ("dhcp", &h.dhcp)] {
            for g in list {
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
                let procs: Vec<String> = g
                    .processes
                    .iter()
                    .map(|p| format!("{} ({})", p.name, p.pid))
                    .collect();
                println!(
                    "  {kind} {} [{}]{}: {} {}",
                    g.name,
                    g.netns,
                    if g.present { "" } else { " absent" },
                    ifs.join("; "),
                    procs.join(", ")
                );
            }
        }
    }
    for e in &s.externals {
        println!(
            "external {} [{}]{}: upstream router {}",
            e.name,
            e.netns,
            if e.present { "" } else { " absent" },
            e.gateway
        );
    }
    if s.drift.is_empty() {
        println!("no drift");
    } else {
        println!("drift ({} steps would run):", s.drift.len());
        for d in &s.drift {
            println!("  {}: {}", super::apply::host(&d.host), d.step);
        }
    }
    ExitCode::SUCCESS
}
