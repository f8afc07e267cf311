//! `netloom doctor FILE [--json]`: what each host of the topology has
//! (datapath, kernel modules, Open vSwitch, underlay NIC and MTU, bridges
//! already there) and what netloom will do about each, in words. Emulated
//! hosts are this machine; a real host is asked through its agent (the
//! agents file, as for apply). Changes nothing; needs no root.

use std::process::ExitCode;

use netloom_core::doctor::{advise, Finding, HostCheck, Level};
use netloom_core::Topology;
use serde::Serialize;

use super::load_topology;
use crate::agent::{client, peers};
use crate::host::checkup::checkup;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Topology file (YAML or JSON); `-` reads standard input.
    #[arg(value_name = "FILE")]
    file: String,
    /// Print `[{host, check, findings}]` as JSON.
    #[arg(long)]
    json: bool,
}

/// One host's facts and findings; `check` is `None` when its agent did not answer.
#[derive(Serialize)]
struct HostReport {
    host: String,
    check: Option<HostCheck>,
    findings: Vec<Finding>,
}

/// 0 when no host has a problem, 1 when one has (or the file is invalid), 2 for usage errors.
pub fn run(args: Args) -> ExitCode {
    let topo = match load_topology(&args.file) {
        Ok(t) => t,
        Err(code) => return code,
    };
    // Every emulated host is this machine: its facts are read once.
    let here = topo
        .hosts
        .iter()
        .any(|h| h.agent.is_none())
        .then(|| checkup(None, None));
    let reports: Vec<HostReport> = (0..topo.hosts.len())
        .map(|h| report(&topo, h, here.as_ref()))
        .collect();
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&reports).unwrap_or_default()
        );
    } else {
        for r in &reports {
            println!("{}:", r.host);
            for f in &r.findings {
                let mark = match f.level {
                    Level::Ok => "ok     ",
                    Level::Note => "note   ",
                    Level::Problem => "PROBLEM",
                };
                println!("  {mark} {}\n          → {}", f.fact, f.action);
            }
        }
    }
    let problem = reports
        .iter()
        .flat_map(|r| &r.findings)
        .any(|f| f.level == Level::Problem);
    if problem {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn report(topo: &Topology, h: usize, here: Option<&HostCheck>) -> HostReport {
    let host = &topo.hosts[h];
    let measured = match &host.agent {
        None => Ok(here.cloned().unwrap_or_else(|| checkup(None, None))),
        Some(url) => peers::configured(url)
            .and_then(|p| client::checkup(&p, host.underlay_ip).map_err(|e| e.to_string())),
    };
    match measured {
        Ok(check) => HostReport {
            host: host.name.clone(),
            findings: advise(topo, h, &check),
            check: Some(check),
        },
        Err(e) => HostReport {
            host: host.name.clone(),
            check: None,
            findings: vec![Finding {
                level: Level::Problem,
                fact: format!("its agent did not answer: {e}"),
                action:
                    "start `netloom agent` there and list it in the agents file (docs/deploy.md)"
                        .into(),
            }],
        },
    }
}
