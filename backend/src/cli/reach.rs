//! `netloom reach FILE [--json]`: the predicted reachability report.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufWriter, Write};
use std::process::ExitCode;

use netloom_core::reach::{Matrix, Pair};

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
    let report = Matrix::new(&topo);
    if args.json {
        if let Err(e) = write_json(&report) {
            eprintln!("netloom reach: {e}");
            return ExitCode::from(2);
        }
    } else {
        print!("{}", render(&report));
    }
    ExitCode::SUCCESS
}

/// The report as JSON, line by line: 10,000 vms make about 17 GB of it.
fn write_json(report: &Matrix) -> std::io::Result<()> {
    let mut out = BufWriter::new(std::io::stdout().lock());
    serde_json::to_writer_pretty(&mut out, report)?;
    writeln!(out)?;
    out.flush()
}

/// Senders down, addresses across: `✓` (answers), `x` (fails), `-` (own address);
/// then the failures with their reasons. One pass over the pairs, words made
/// only for the failures listed.
fn render(report: &Matrix) -> String {
    let (mut ok, mut pairs) = (0, 0);
    let mut senders: Vec<&str> = Vec::new();
    let mut last_sender = None;
    let mut targets: BTreeMap<usize, &str> = BTreeMap::new();
    let mut failed = Vec::new();
    let mut by_reason: BTreeMap<&str, usize> = BTreeMap::new();
    for p in report.pairs() {
        pairs += 1;
        // Pairs come sender by sender.
        if last_sender != Some(p.sender()) {
            last_sender = Some(p.sender());
            senders.push(p.from());
        }
        // Past MAX_COLUMNS only their number matters (no grid).
        if targets.len() <= MAX_COLUMNS {
            targets.entry(p.target()).or_insert(p.to());
        }
        if p.ok() {
            ok += 1;
            continue;
        }
        *by_reason.entry(why(&p)).or_default() += 1;
        if failed.len() <= MAX_LISTED {
            failed.push(p);
        }
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "reach {} (simulation): {ok} of {pairs} pairs answer ping",
        report.topology()
    );
    if targets.len() <= MAX_COLUMNS {
        let mut targets: Vec<&str> = targets.into_values().collect();
        // Addresses in numeric order (each sender skips its own, so first appearance would not do).
        targets.sort_by_key(|t| t.parse::<std::net::Ipv4Addr>().ok());
        grid(&mut out, report, &senders, &targets);
    }
    if failed.is_empty() {
        return out;
    }
    out.push('\n');
    if failed.len() <= MAX_LISTED {
        for p in failed {
            let _ = writeln!(
                out,
                "{} -> {}: {}: {}",
                p.from(),
                p.to(),
                why(&p),
                p.detail()
            );
        }
    } else {
        for (why, n) in by_reason {
            let _ = writeln!(out, "{n:>8} pairs: {why}");
        }
        let _ = writeln!(out, "(--json lists every pair with its detail)");
    }
    out
}

/// A failed pair's reason in words (a predicted failure always has one).
fn why(p: &Pair) -> &'static str {
    p.reason().map_or("failed", |r| r.as_str())
}

/// The matrix of a report with few addresses, and its legend.
fn grid(out: &mut String, report: &Matrix, senders: &[&str], targets: &[&str]) {
    let cell: BTreeMap<(&str, &str), bool> = report
        .pairs()
        .map(|p| ((p.from(), p.to()), p.ok()))
        .collect();
    let w0 = senders.iter().map(|s| s.len()).max().unwrap_or(0).max(4);
    out.push('\n');
    // Addresses are long: number the columns, with a legend below.
    let _ = write!(out, "{:w0$} ", "");
    for n in 1..=targets.len() {
        let _ = write!(out, "{n:>3}");
    }
    out.push('\n');
    for s in senders {
        let _ = write!(out, "{s:w0$} ");
        for t in targets {
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
