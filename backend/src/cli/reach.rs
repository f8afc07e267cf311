//! `netloom reach FILE [--json]`: the predicted reachability report.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::process::ExitCode;

use netloom_core::reach::{reach, ReachReport};

use super::load_topology;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Topology file (YAML or JSON); `-` reads standard input.
    #[arg(value_name = "FILE")]
    file: String,
    /// Print the report as JSON (the spec's reachability report shape).
    #[arg(long)]
    json: bool,
}

/// Matrices wider than this many addresses are summarised instead.
const MAX_COLUMNS: usize = 24;
/// Failed pairs listed one per line up to this many; beyond, counted by reason.
const MAX_LISTED: usize = 200;

/// 0 with a report, 1 for an invalid file, 2 for IO errors.
pub fn run(args: Args) -> ExitCode {
    let topo = match load_topology(&args.file) {
        Ok(t) => t,
        Err(code) => return code,
    };
    let report = reach(&topo);
    if args.json {
        match serde_json::to_string_pretty(&report) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("netloom reach: {e}");
                return ExitCode::from(2);
            }
        }
    } else {
        print!("{}", render(&report));
    }
    ExitCode::SUCCESS
}

/// Senders down, addresses across: `✓` (answers), `x` (fails), `-` (own address);
/// then the failures with their reasons.
fn render(report: &ReachReport) -> String {
    let mut out = String::new();
    let ok = report.results.iter().filter(|r| r.ok).count();
    let _ = writeln!(
        out,
        "reach {} ({}): {ok} of {} pairs answer ping",
        report.topology,
        match report.source {
            netloom_core::reach::Source::Simulation => "simulation",
            netloom_core::reach::Source::Real => "real",
        },
        report.results.len()
    );
    let mut senders: Vec<&str> = Vec::new();
    let mut targets: Vec<&str> = Vec::new();
    for r in &report.results {
        if !senders.contains(&r.from.as_str()) {
            senders.push(&r.from);
        }
        if !targets.contains(&r.to.as_str()) {
            targets.push(&r.to);
        }
    }
    // Addresses in numeric order (each sender skips its own, so first appearance would not do).
    targets.sort_by_key(|t| t.parse::<std::net::Ipv4Addr>().ok());
    let cell: BTreeMap<(&str, &str), bool> = report
        .results
        .iter()
        .map(|r| ((r.from.as_str(), r.to.as_str()), r.ok))
        .collect();
    if targets.len() <= MAX_COLUMNS {
        let w0 = senders.iter().map(|s| s.len()).max().unwrap_or(0).max(4);
        out.push('\n');
        // Addresses are long: number the columns, with a legend below.
        let _ = write!(out, "{:w0$} ", "");
        for n in 1..=targets.len() {
            let _ = write!(out, "{n:>3}");
        }
        out.push('\n');
        for s in &senders {
            let _ = write!(out, "{s:w0$} ");
            for t in &targets {
                let c = match cell.get(&(*s, *t)) {
                    Some(true) => '✓',
                    Some(false) => 'x',
                    None => '-',
                };
                let _ = write!(out, "  {c}");
            }
            out.push('\n');
        }
        out.push('\n');
        for (n, t) in targets.iter().enumerate() {
            let _ = writeln!(out, "{:>3}  {t}", n + 1);
        }
    }
    let failed: Vec<_> = report.results.iter().filter(|r| !r.ok).collect();
    if failed.is_empty() {
        return out;
    }
    out.push('\n');
    if failed.len() <= MAX_LISTED {
        for r in failed {
            let why = r
                .reason
                .map(|x| x.to_string())
                .unwrap_or_else(|| "failed".into());
            let _ = writeln!(out, "{} -> {}: {why}: {}", r.from, r.to, r.detail);
        }
    } else {
        let mut by_reason: BTreeMap<String, usize> = BTreeMap::new();
        for r in failed {
            *by_reason
                .entry(
                    r.reason
                        .map(|x| x.to_string())
                        .unwrap_or_else(|| "failed".into()),
                )
                .or_default() += 1;
        }
        for (why, n) in by_reason {
            let _ = writeln!(out, "{n:>8} pairs: {why}");
        }
        let _ = writeln!(out, "(--json lists every pair with its detail)");
    }
    out
}
