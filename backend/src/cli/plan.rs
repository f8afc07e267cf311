//! `netloom plan FILE [--json]`: what apply would create, change and remove.

use std::process::ExitCode;

use netloom_core::plan::SANDBOX;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Topology file (`-` for standard input).
    pub file: String,
    /// Print the plan as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: Args) -> ExitCode {
    let topo = match super::load_topology(&a.file) {
        Ok(t) => t,
        Err(c) => return c,
    };
    let p = match crate::deploy::plan_for(&topo) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("netloom plan: {e}");
            return ExitCode::from(3);
        }
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&p).unwrap_or_default());
        return ExitCode::SUCCESS;
    }
    if p.is_empty() {
        println!(
            "{}: nothing to do, the deployment matches the file",
            topo.name
        );
        return ExitCode::SUCCESS;
    }
    for t in &p.targets {
        if t.steps.is_empty() {
            continue;
        }
        let name = if t.target.name == SANDBOX {
            "sandbox (segments, host namespaces)".to_string()
        } else {
            format!("host {}", t.target.name)
        };
        println!("{name}:");
        for s in &t.steps {
            println!("  {s}");
        }
    }
    if !p.northbound.is_empty() {
        println!("northbound (OVN), one transaction:");
        for (what, n) in northbound_summary(&p.northbound) {
            println!("  {what} {n}");
        }
    }
    println!("{} steps", p.len());
    ExitCode::SUCCESS
}

/// A northbound transaction's operations counted by verb and table (`insert Logical_Switch 2`).
fn northbound_summary(ops: &[serde_json::Value]) -> std::collections::BTreeMap<String, usize> {
    let mut out = std::collections::BTreeMap::new();
    for o in ops {
        let what = format!(
            "{} {}",
            o["op"].as_str().unwrap_or("?"),
            o["table"].as_str().unwrap_or("?")
        );
        *out.entry(what).or_insert(0) += 1;
    }
    out
}
