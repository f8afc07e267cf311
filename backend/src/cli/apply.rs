//! `netloom apply FILE`: build the topology (sandbox hosts on this machine).

use std::process::ExitCode;

use crate::deploy::{self, lock, ApplyError, Event};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Topology file (`-` for standard input).
    pub file: String,
    /// Print every step as it completes.
    #[arg(short, long)]
    pub verbose: bool,
    /// Print the report (and, with --verbose, the events) as JSON lines.
    #[arg(long)]
    pub json: bool,
}

/// Print events as the executor reports them; failures, warnings (reality
/// differs from the model) and notes (`no lease (predicted)`) always.
pub fn printer(verbose: bool, json: bool) -> impl Fn(&Event) + Sync {
    move |e: &Event| {
        let said = e.note.is_some() || e.warning.is_some();
        if deploy::is_lock_wait(e) && !(json && verbose) {
            // Always said: otherwise a wait looks like a hang.
            eprintln!("{}", e.step);
        } else if json && (verbose || !e.ok || said) {
            println!("{}", serde_json::to_string(e).unwrap_or_default());
        } else if !e.ok {
            eprintln!(
                "{}: {} failed: {}",
                host(&e.target),
                e.step,
                e.error.as_deref().unwrap_or("")
            );
        } else if let Some(w) = &e.warning {
            eprintln!("{}: {}: warning: {w}", host(&e.target), e.step);
        } else if let Some(n) = &e.note {
            let ms = if verbose {
                format!(" ({:.1} ms)", e.ms)
            } else {
                String::new()
            };
            println!("{}: {}: {n}{ms}", host(&e.target), e.step);
        } else if verbose {
            println!("{}: {} ({:.1} ms)", host(&e.target), e.step, e.ms);
        }
    }
}

pub fn host(t: &str) -> &str {
    if t.is_empty() {
        "sandbox"
    } else {
        t
    }
}

/// Ctrl-C and SIGTERM cancel a wait for the topology's lock (see
/// `lock::cancel_waits_on_signals`); what to ask the executor.
pub fn cancel_on_signals() -> impl Fn() -> bool + Sync {
    lock::cancel_waits_on_signals();
    || lock::interrupted().is_some()
}

/// When a signal cancelled the wait for the lock: say so, and exit as the signal would.
pub fn cancelled(command: &str, e: &ApplyError) -> Option<ExitCode> {
    let sig = lock::interrupted()?;
    let io = e.interrupted()?;
    eprintln!("netloom {command}: {io}");
    Some(ExitCode::from(128 + sig as u8))
}

pub fn run(a: Args) -> ExitCode {
    let topo = match super::load_as_root(&a.file, "apply") {
        Ok(t) => t,
        Err(c) => return c,
    };
    let bar = super::progress::Bar::steps(a.json);
    let print = printer(a.verbose, a.json);
    let result = deploy::apply(
        &topo,
        &|e: &Event| bar.event(e, &print),
        &cancel_on_signals(),
    );
    bar.finish();
    match result {
        Ok(r) => {
            if a.json {
                println!("{}", serde_json::to_string(&r).unwrap_or_default());
            } else {
                println!(
                    "{}: applied {} steps in {:.3} s",
                    r.topology, r.steps, r.seconds
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            if let Some(c) = cancelled("apply", &e) {
                return c;
            }
            eprintln!("netloom apply: {e}");
            eprintln!(
                "(what was done stays; run apply again to converge, or destroy to remove it)"
            );
            ExitCode::from(3)
        }
    }
}
