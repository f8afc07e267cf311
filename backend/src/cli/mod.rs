//! The command line. Exit codes: 0 success, 1 the input is wrong (problems
//! are printed), 2 usage or IO errors.

mod apply;
mod capture;
mod destroy;
mod doctor;
mod export;
mod fix;
mod plan;
mod progress;
mod reach;
mod schema;
mod serve;
mod simulate;
mod status;
mod validate;
mod verify;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use netloom_core::spec::Engine;

/// Design, simulate and deploy multi-host virtual networks (Open vSwitch,
/// VLANs, GRE/VXLAN tunnels, DHCP, NAT routers) from one topology file.
#[derive(Debug, Parser)]
#[command(name = "netloom", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Build the design with this engine (`ovs` or `ovn`) instead of its file's `engine`.
    #[arg(long, global = true, value_parser = ["ovs", "ovn"])]
    engine: Option<String>,
}

/// `--engine`, set once before the command runs: every file a command loads is read with it.
static ENGINE: std::sync::OnceLock<Engine> = std::sync::OnceLock::new();

impl Cli {
    /// Whether this command serves others (the server, the agent): a peer
    /// hanging up must fail a write there, not end the process (vectored
    /// writes raise SIGPIPE where `send` would not).
    pub fn serves(&self) -> bool {
        matches!(self.command, Command::Serve(_) | Command::Agent(_))
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check topology files against the format; print every problem as FILE: path: message.
    Validate(validate::Args),
    /// Print the JSON Schema of the topology format.
    Schema,
    /// Trace one packet through the topology, hop by hop.
    Simulate(simulate::Args),
    /// Predict the reachability report (every sender to every address).
    Reach(reach::Args),
    /// Show what apply would create, change and remove.
    Plan(plan::Args),
    /// Build the topology on its hosts (sandbox hosts: on this machine).
    Apply(apply::Args),
    /// Ping every pair for real and compare with the simulation.
    Verify(verify::Args),
    /// Show what is deployed and any drift.
    Status(status::Args),
    /// What each host has (datapath, modules, OVS, underlay, bridges) and what netloom will do about it.
    Doctor(doctor::Args),
    /// Listen on one link of an applied topology: packets as lines, or pcap.
    Capture(capture::Args),
    /// Remove everything netloom created for a topology.
    Destroy(destroy::Args),
    /// Print the equivalent shell script of ip/ovs-vsctl/nft/dnsmasq commands.
    Export(export::Args),
    /// Run the web app and its API on 127.0.0.1 (prints a login URL with a token).
    Serve(serve::Args),
    /// Run the per-host agent: executes its host's part of a plan for the controller.
    Agent(crate::agent::Args),
    /// Print the shell completion script (e.g. `netloom completions bash > /etc/bash_completion.d/netloom`).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

pub fn run(cli: Cli) -> ExitCode {
    if let Some(e) = &cli.engine {
        let _ = ENGINE.set(if e == "ovn" { Engine::Ovn } else { Engine::Ovs });
    }
    match cli.command {
        Command::Validate(a) => validate::run(a),
        Command::Schema => schema::run(),
        Command::Simulate(a) => simulate::run(a),
        Command::Reach(a) => reach::run(a),
        Command::Plan(a) => plan::run(a),
        Command::Apply(a) => apply::run(a),
        Command::Verify(a) => verify::run(a),
        Command::Status(a) => status::run(a),
        Command::Capture(a) => capture::run(a),
        Command::Doctor(a) => doctor::run(a),
        Command::Destroy(a) => destroy::run(a),
        Command::Export(a) => export::run(a),
        Command::Serve(a) => serve::run(a),
        Command::Agent(a) => agent(a),
        Command::Completions { shell } => {
            completions(shell, &mut std::io::stdout());
            ExitCode::SUCCESS
        }
    }
}

/// `netloom agent`: serve until killed.
fn agent(a: crate::agent::Args) -> ExitCode {
    if let Err(c) = require_root("agent") {
        return c;
    }
    match crate::agent::serve(&a) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("netloom agent: {e}");
            ExitCode::from(2)
        }
    }
}

/// Refuse commands that change the machine unless running as root.
/// The preamble of the commands that change or read the machine's network:
/// a valid topology, and root.
pub fn load_as_root(path: &str, command: &str) -> Result<netloom_core::Topology, ExitCode> {
    let topo = load_topology(path)?;
    require_root(command)?;
    Ok(topo)
}

pub fn require_root(command: &str) -> Result<(), ExitCode> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        Ok(())
    } else {
        eprintln!("netloom {command}: needs root (network namespaces, Open vSwitch)");
        Err(ExitCode::from(2))
    }
}

/// Read a topology file, or `-` for standard input.
pub fn read_input(path: &str) -> std::io::Result<String> {
    if path == "-" {
        std::io::read_to_string(std::io::stdin())
    } else {
        std::fs::read_to_string(path)
    }
}

/// Load and validate a file for a command that needs a valid topology;
/// on failure print the problems and return the exit code to use.
pub fn load_topology(path: &str) -> Result<netloom_core::Topology, ExitCode> {
    let text = read_input(path).map_err(|e| {
        eprintln!("{path}: {e}");
        ExitCode::from(2)
    })?;
    let loaded = match ENGINE.get() {
        Some(&e) => netloom_core::parse(&text)
            .map_err(|p| vec![p])
            .and_then(|mut spec| {
                spec.engine = Some(e);
                netloom_core::validate(&spec)
            }),
        None => netloom_core::load(&text),
    };
    match loaded {
        Ok(checked) => {
            for w in &checked.warnings {
                eprintln!("{path}: {w}");
            }
            Ok(checked.topology)
        }
        Err(problems) => {
            for p in &problems {
                eprintln!("{path}: {p}");
            }
            Err(ExitCode::from(1))
        }
    }
}

fn completions(shell: clap_complete::Shell, out: &mut dyn std::io::Write) {
    clap_complete::generate(shell, &mut Cli::command(), "netloom", out);
}

#[cfg(test)]
mod completion_tests {
    use super::*;

    #[test]
    fn the_bash_script_completes_every_subcommand() {
        let mut out = Vec::new();
        completions(clap_complete::Shell::Bash, &mut out);
        let script = String::from_utf8(out).unwrap();
        assert!(script.contains("complete -F _netloom"), "{script}");
        let names: Vec<String> = Cli::command()
            .get_subcommands()
            .map(|c| c.get_name().to_string())
            .collect();
        assert!(names.len() >= 13, "{names:?}");
        for name in ["apply", "verify", "destroy", "serve", "completions"] {
            assert!(names.iter().any(|n| n == name), "{name} in {names:?}");
        }
        // The words offered after `netloom`, and a case for each subcommand's own options.
        let top = script
            .lines()
            .find(|l| {
                l.trim()
                    .starts_with("opts=\"-h -V --engine --help --version ")
            })
            .expect("the top-level words");
        for name in &names {
            assert!(top.split([' ', '"']).any(|w| w == name), "{name}: {top}");
            assert!(script.contains(&format!("netloom,{name})")), "{name}");
        }
    }
}
