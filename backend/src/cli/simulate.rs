//! `netloom simulate FILE --from NODE --to ADDRESS|NODE [--proto P] [--size N] [--json] [--real] [--fix]`
//!
//! With `--fix`, a probe that fails is followed by the smallest edits that
//! make it succeed (the design's `expect:` kept), each proven by the simulator.

use std::process::ExitCode;

use netloom_core::fix;
use netloom_core::sim::{simulate, Probe};
use netloom_core::trace::Trace;
use serde::Serialize;

use super::{load_as_root, load_topology};
use crate::deploy::path::real_path;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Topology file (YAML or JSON); `-` reads standard input.
    #[arg(value_name = "FILE")]
    file: String,
    /// Sender: a vm (`vm1`, or `host/vm` when the name is on several hosts),
    /// a router or DHCP server (`host/name`), or an external network.
    #[arg(long, value_name = "NODE")]
    from: String,
    /// Destination: an IPv4 address, or a node (its first address). Not needed for dhcp.
    #[arg(long, value_name = "ADDRESS|NODE")]
    to: Option<String>,
    /// icmp (echo and reply), arp, tcp:PORT (handshake), udp:PORT, or dhcp.
    #[arg(long, value_name = "PROTO", default_value = "icmp")]
    proto: String,
    /// IPv4 length of the probe packet (icmp and udp; default 84 for icmp, as ping).
    #[arg(long, value_name = "BYTES")]
    size: Option<u16>,
    /// TTL of the request (1..255; default 64), as `ping -t`.
    #[arg(long, value_name = "HOPS")]
    ttl: Option<u16>,
    /// Print the trace as JSON instead of text (with --fix: `{"trace": ..., "fixes": [...]}`).
    #[arg(long)]
    json: bool,
    /// Also send the probe for real on the applied topology, capturing on
    /// every link the trace crosses (a real host's through its agent, which
    /// also sends an icmp probe from there), and show which predicted frames
    /// were seen (root).
    #[arg(long)]
    real: bool,
    /// When the probe fails, suggest the smallest edits that make it succeed.
    #[arg(long, conflicts_with = "real")]
    fix: bool,
}

/// `--fix --json`: the trace and the suggestions (keys in this order).
#[derive(Serialize)]
struct WithFixes<'a> {
    trace: &'a Trace,
    fixes: &'a [fix::Suggestion],
}

/// 0 with a trace (whatever its outcome), 1 for an invalid file or, with
/// `--real`, when reality differs; 2 for a bad probe or IO error.
pub fn run(args: Args) -> ExitCode {
    let loaded = if args.real {
        load_as_root(&args.file, "simulate --real")
    } else {
        load_topology(&args.file)
    };
    let topo = match loaded {
        Ok(t) => t,
        Err(code) => return code,
    };
    let to = match (&args.to, args.proto.as_str()) {
        (Some(t), _) => t.as_str(),
        (None, "dhcp") => "255.255.255.255",
        (None, _) => {
            eprintln!(
                "netloom simulate: --to is required for {} probes",
                args.proto
            );
            return ExitCode::from(2);
        }
    };
    let probe = match Probe::parse(&topo, &args.from, to, &args.proto, args.size)
        .and_then(|p| p.with_ttl(args.ttl))
    {
        Ok(p) => p,
        Err(e) => {
            eprintln!("netloom simulate: {e}");
            return ExitCode::from(2);
        }
    };
    let trace = simulate(&topo, &probe);
    if args.real {
        return real(&topo, &probe, &trace, args.json);
    }
    let fixes = if args.fix && !trace.disposition.is_delivered() {
        fix::for_probe(&topo, &probe)
    } else {
        Vec::new()
    };
    if args.json {
        let text = if args.fix {
            serde_json::to_string_pretty(&WithFixes {
                trace: &trace,
                fixes: &fixes,
            })
        } else {
            serde_json::to_string_pretty(&trace)
        };
        match text {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("netloom simulate: {e}");
                return ExitCode::from(2);
            }
        }
    } else {
        print!("{trace}");
        if args.fix && trace.disposition.is_delivered() {
            println!("\n--fix: the probe succeeds already");
        } else if args.fix {
            let what = format!("{} -> {} then succeeds", trace.probe.from, trace.probe.to);
            print!("\n{}", super::fix::render(&what, &fixes));
        }
    }
    ExitCode::SUCCESS
}

/// The trace, then the real path beside it.
fn real(
    topo: &netloom_core::Topology,
    probe: &Probe,
    trace: &netloom_core::trace::Trace,
    json: bool,
) -> ExitCode {
    let check = match real_path(topo, probe, trace) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("netloom simulate --real: {e}");
            return ExitCode::from(2);
        }
    };
    if json {
        let v = serde_json::json!({ "trace": trace, "real": check });
        println!("{v:#}");
    } else {
        print!("{trace}\n{check}");
    }
    if check.first_difference.is_some() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
