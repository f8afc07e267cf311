//! `netloom destroy FILE | --name NAME`: remove everything netloom created for
//! a topology (namespaces, interfaces, OVS rows, processes, files), nothing else.

use std::process::ExitCode;

use crate::deploy;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Topology file (`-` for standard input).
    #[arg(required_unless_present = "name", conflicts_with = "name")]
    pub file: Option<String>,
    /// Topology name, when the file is lost or changed.
    #[arg(long)]
    pub name: Option<String>,
    /// Print every step as it completes.
    #[arg(short, long)]
    pub verbose: bool,
}

pub fn run(a: Args) -> ExitCode {
    let topo = match &a.file {
        Some(f) => match super::load_topology(f) {
            Ok(t) => Some(t),
            Err(c) => return c,
        },
        None => None,
    };
    let name = match (&topo, &a.name) {
        (Some(t), _) => t.name.clone(),
        (None, Some(n)) => n.clone(),
        (None, None) => unreachable!("clap requires one"),
    };
    // The name prefixes paths and namespace names: accept only the file format's names.
    if !netloom_core::names::name_ok(&name) {
        eprintln!("netloom destroy: {name:?} is not a topology name ([a-z][a-z0-9-]{{0,11}})");
        return ExitCode::from(2);
    }
    if let Err(c) = super::require_root("destroy") {
        return c;
    }
    let bar = super::progress::Bar::steps(false);
    let print = super::apply::printer(a.verbose, false);
    let result = deploy::destroy(
        &name,
        topo.as_ref(),
        &|e: &deploy::Event| bar.event(e, &print),
        &super::apply::cancel_on_signals(),
    );
    bar.finish();
    match result {
        Ok(r) => {
            println!(
                "{}: destroyed ({} steps in {:.3} s)",
                r.topology, r.steps, r.seconds
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            if let Some(c) = super::apply::cancelled("destroy", &e) {
                return c;
            }
            eprintln!("netloom destroy: {e}");
            ExitCode::from(3)
        }
    }
}
