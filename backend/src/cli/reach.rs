//! `netloom reach FILE [--json] [--fix]`: the predicted reachability report,
//! the design's intent (`expect:`) judged, and with `--fix` the smallest
//! edits that make the intent hold (or, without one, the first failed pairs
//! reach), each proven by the simulator.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufWriter, Write};
use std::process::ExitCode;

use netloom_core::fix::{self, Suggestion};
use netloom_core::reach::{Matrix, Pair};
use netloom_core::sim::Probe;
use netloom_core::Topology;
use serde::Serialize;

use super::load_topology;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Topology file (YAML or JSON); `-` reads standard input.
    #[arg(value_name = "FILE")]
    file: String,
    /// Print the report as JSON (the spec's reachability report shape;
    /// with --fix: `{"report": ..., "fixes": [...]}`).
    #[arg(long)]
    json: bool,
    /// Suggest the smallest edits that make the design's intent hold; without
    /// an `expect:` section, that make each of the first failed pairs reach.
    #[arg(long)]
    fix: bool,
}

/// Failed pairs given suggestions when the design states no intent.
const MAX_FIX_PAIRS: usize = 5;

/// Suggestions for the intent (`for`: `intent`) or for one failed pair
/// (`for`: `vm1 -> 10.0.20.2`).
#[derive(Serialize)]
struct Fixes {
    #[serde(rename = "for")]
    target: String,
    suggestions: Vec<Suggestion>,
}

/// `--fix --json`: the report and the suggestions.
#[derive(Serialize)]
struct WithFixes<'a> {
    report: &'a Matrix<'a>,
    fixes: &'a [Fixes],
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
    let fixes = if args.fix {
        fixes(&topo, &report)
    } else {
        Vec::new()
    };
    if args.json {
        let written = if args.fix {
            write_json(&WithFixes {
                report: &report,
                fixes: &fixes,
            })
        } else {
            write_json(&report)
        };
        if let Err(e) = written {
            eprintln!("netloom reach: {e}");
            return ExitCode::from(2);
        }
        return ExitCode::SUCCESS;
    }
    print!("{}", render(&report));
    print!("{}", intent(&report));
    if args.fix && topo.expect.is_empty() {
        println!(
            "\n--fix: the design has no `expect:` section; suggestions for the first failed pairs:"
        );
    }
    for f in &fixes {
        if f.target == "intent" && report.intent.iter().all(|r| r.holds) {
            println!("\n--fix: the intent holds already");
            continue;
        }
        let what = if f.target == "intent" {
            "\nintent: ".to_string()
        } else {
            format!("\n{}: ", f.target)
        };
        let then = if f.target == "intent" {
            "the intent then holds".to_string()
        } else {
            format!("{} then reaches", f.target)
        };
        print!("{what}{}", super::fix::render(&then, &f.suggestions));
    }
    ExitCode::SUCCESS
}

/// Suggestions for the intent when the design has one, else for each of
/// the first failed pairs.
fn fixes(topo: &Topology, report: &Matrix) -> Vec<Fixes> {
    if !topo.expect.is_empty() {
        let suggestions = if report.intent.iter().all(|r| r.holds) {
            Vec::new()
        } else {
            fix::for_intent(topo)
        };
        return vec![Fixes {
            target: "intent".into(),
            suggestions,
        }];
    }
    let failed = report.pairs().filter(|p| !p.ok()).take(MAX_FIX_PAIRS);
    failed
        .filter_map(|p| {
            let probe = Probe::parse(topo, p.from(), p.to(), "icmp", None).ok()?;
            Some(Fixes {
                target: format!("{} -> {}", p.from(), p.to()),
                suggestions: fix::for_probe(topo, &probe),
            })
        })
        .collect()
}

/// Each expectation of the intent, violated ones marked; nothing without one.
fn intent(report: &Matrix) -> String {
    if report.intent.is_empty() {
        return String::new();
    }
    let holding = report.intent.iter().filter(|r| r.holds).count();
    let mut out = format!(
        "\nintent: {holding} of {} expectations hold\n",
        report.intent.len()
    );
    for r in &report.intent {
        let _ = writeln!(out, "  {}", r.line());
    }
    out
}

/// The report as JSON, line by line: 10,000 vms make about 17 GB of it.
fn write_json(report: &impl Serialize) -> std::io::Result<()> {
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
