//! `netloom export --shell FILE`: the same deployment as a plain script of
//! `ip`, `ovs-vsctl`, `nft`, `dnsmasq` and `udhcpc` commands (from nothing).

use std::process::ExitCode;

use netloom_core::plan;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print a POSIX shell script (the only format so far).
    #[arg(long, required = true)]
    pub shell: bool,
    /// Topology file (`-` for standard input).
    pub file: String,
}

pub fn run(a: Args) -> ExitCode {
    let topo = match super::load_topology(&a.file) {
        Ok(t) => t,
        Err(c) => return c,
    };
    let f = plan::Facts::default();
    let targets = plan::targets(&topo, &f);
    let p = plan::plan(
        &topo.name,
        &targets,
        &plan::desired(&topo, &f),
        &plan::State::default(),
    );
    print!("{}", plan::shell_script(&p));
    ExitCode::SUCCESS
}
