//! `netloom verify FILE [--json]`: ping every pair for real inside the
//! namespaces, print the report (`"source": "real"`), then every pair where
//! reality and `reach` disagree. Exit 0 when they agree, 1 when not.

use std::process::ExitCode;

use serde_json::json;

use crate::deploy::verify;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Topology file (`-` for standard input).
    pub file: String,
    /// Print `{"report": ..., "disagreements": [...]}` as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: Args) -> ExitCode {
    let topo = match super::load_as_root(&a.file, "verify") {
        Ok(t) => t,
        Err(c) => return c,
    };
    let real = verify::measure(&topo);
    let predicted = netloom_core::reach::reach(&topo);
    let diff = verify::compare(&real, &predicted);
    if a.json {
        println!("{}", json!({"report": real, "disagreements": diff}));
    } else {
        for r in &real.results {
            println!(
                "{:<14} -> {:<16} {}",
                r.from,
                r.to,
                if r.ok { "ok" } else { "no reply" }
            );
        }
        let ok = real.results.iter().filter(|r| r.ok).count();
        println!(
            "{}: {} pairs, {} reachable (real)",
            real.topology,
            real.results.len(),
            ok
        );
        if diff.is_empty() {
            println!("reality agrees with the simulation on every pair");
        } else {
            println!("{} pairs disagree with the simulation:", diff.len());
            let show = |v: Option<bool>| match v {
                Some(true) => "ok",
                Some(false) => "no reply",
                None => "absent",
            };
            for d in &diff {
                println!(
                    "  {} -> {}: real {}, simulation {} {}",
                    d.from,
                    d.to,
                    show(d.real),
                    show(d.simulation),
                    d.simulation_detail
                );
            }
        }
    }
    if diff.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
