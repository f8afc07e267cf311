//! `netloom verify FILE [-v] [--json]`: ping every pair for real inside the
//! namespaces, print the report (`"source": "real"`), then every pair where
//! reality and `reach` disagree, then the design's intent (`expect:`)
//! judged on the measured pings, beside the simulation's verdict. Exit 0
//! when reality and `reach` agree, 1 when not. With `-v`, each pair is also
//! printed to stderr as its ping ends.

use std::process::ExitCode;

use serde_json::json;

use netloom_core::intent::IntentResult;

use crate::deploy::{verify, Event};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Topology file (`-` for standard input).
    pub file: String,
    /// Print every pair to stderr as its ping ends (stdout keeps only the report).
    #[arg(short, long)]
    pub verbose: bool,
    /// Print `{"report": ..., "disagreements": [...]}` as JSON (the report's
    /// `intent`: the design's `expect:` judged on the real pings).
    #[arg(long)]
    pub json: bool,
}

/// `node1/vm1 -> 10.0.10.2 (node2/vm3): reply 0.12 ms [3/12]`, per probe.
fn printer(verbose: bool) -> impl Fn(&Event) + Sync {
    move |e: &Event| {
        let Some(p) = e.probe.as_ref().filter(|_| verbose) else {
            return;
        };
        let to = match &p.owner {
            Some(o) => format!("{} ({o})", p.to),
            None => p.to.clone(),
        };
        let verdict = match (p.ok, p.rtt_ms, &p.proto) {
            (true, Some(rtt), None) => format!("reply {rtt:.2} ms"),
            (true, None, None) => format!("reply (probe {:.0} ms)", p.ms),
            (false, _, None) => format!("no reply in {:.0} ms", p.ms),
            (true, _, Some(proto)) => format!("{proto} connected"),
            (false, _, Some(proto)) => format!("{proto} {}", p.result().detail),
        };
        eprintln!("{} -> {to}: {verdict} [{}/{}]", p.from, p.done, p.total);
    }
}

pub fn run(a: Args) -> ExitCode {
    let topo = match super::load_as_root(&a.file, "verify") {
        Ok(t) => t,
        Err(c) => return c,
    };
    let bar = super::progress::Bar::pairs(a.json);
    let print = printer(a.verbose);
    let real = verify::measure(&topo, &|e: &Event| bar.event(e, &print));
    bar.finish();
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
        for r in &real.ports {
            let verdict = if r.ok { "connected" } else { &r.detail };
            println!("{:<14} -> {:<16} {} {verdict}", r.from, r.to, r.proto);
        }
        let ok = real.results.iter().filter(|r| r.ok).count();
        println!(
            "{}: {} pairs, {} reachable (real)",
            real.topology,
            real.results.len(),
            ok
        );
        if !real.ports.is_empty() {
            let connected = real.ports.iter().filter(|r| r.ok).count();
            println!(
                "{}: {} connection probes, {connected} connected (real)",
                real.topology,
                real.ports.len()
            );
        }
        print_disagreements(&diff);
        print!("{}", intent_lines(&real.intent, &predicted.intent));
    }
    if diff.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// Every pair where reality and the simulation disagree, or that they agree.
fn print_disagreements(diff: &[verify::Disagreement]) {
    if diff.is_empty() {
        println!("reality agrees with the simulation on every pair");
    } else {
        println!("{} pairs disagree with the simulation:", diff.len());
        let show = |v: Option<bool>| match v {
            Some(true) => "ok",
            Some(false) => "no reply",
            None => "absent",
        };
        for d in diff {
            let proto = d
                .proto
                .as_deref()
                .map_or(String::new(), |p| format!(" {p}"));
            println!(
                "  {} -> {}{proto}: real {}, simulation {} {}",
                d.from,
                d.to,
                show(d.real),
                show(d.simulation),
                d.simulation_detail
            );
        }
    }
}

/// The intent judged on the measured pings, each with the simulation's verdict.
fn intent_lines(real: &[IntentResult], simulated: &[IntentResult]) -> String {
    if real.is_empty() {
        return String::new();
    }
    let holding = real.iter().filter(|r| r.holds).count();
    let mut out = format!(
        "intent: {holding} of {} expectations hold (real)\n",
        real.len()
    );
    for (r, s) in real.iter().zip(simulated) {
        let word = |holds: bool| if holds { "holds" } else { "VIOLATED" };
        let must = if r.reach {
            "must reach"
        } else {
            "must not reach"
        };
        out += &format!(
            "  {}: {} -> {} {must}: real {}, simulation {}\n",
            r.path,
            r.from,
            r.to,
            word(r.holds),
            word(s.holds)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_measured_intent_is_shown_beside_the_simulated_one() {
        let r = |holds: bool| IntentResult {
            path: "expect.reach[0]".into(),
            from: "vm1".into(),
            to: "10.0.10.2".into(),
            reach: true,
            holds,
            detail: String::new(),
            reason: None,
        };
        assert_eq!(intent_lines(&[], &[]), "");
        assert_eq!(
            intent_lines(&[r(false)], &[r(true)]),
            "intent: 0 of 1 expectations hold (real)\n  expect.reach[0]: vm1 -> 10.0.10.2 must reach: real VIOLATED, simulation holds\n"
        );
    }
}
