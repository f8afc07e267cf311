//! `netloom export --shell FILE`: the same deployment as a plain script of
//! `ip`, `ovs-vsctl`, `nft`, `dnsmasq` and `udhcpc` commands (from nothing).
//! `--host` keeps one host's commands, to run on that machine; under OVN
//! with them the design's northbound transaction, which only the first
//! host's script to send it makes.

use std::process::ExitCode;

use netloom_core::plan;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print a POSIX shell script (the only format so far).
    #[arg(long, required = true)]
    pub shell: bool,
    /// Only this host's commands (a real host's part, to run there).
    #[arg(long)]
    pub host: Option<String>,
    /// The real hosts' Open vSwitch datapath: `system` (the kernel module)
    /// or `netdev` (userspace). The export asks no agent, so it is told.
    #[arg(long, default_value = "netdev", value_parser = ["system", "netdev"])]
    pub datapath: String,
    /// Topology file (`-` for standard input).
    pub file: String,
}

pub fn run(a: Args) -> ExitCode {
    let topo = match super::load_topology(&a.file) {
        Ok(t) => t,
        Err(c) => return c,
    };
    let mut f = plan::Facts::default();
    if a.datapath == "system" {
        let real = topo.hosts.iter().filter(|h| h.agent.is_some());
        f.kernel_datapath.extend(real.map(|h| h.name.clone()));
    }
    let targets = plan::targets(&topo, &f);
    let mut p = plan::plan(
        &topo.name,
        &targets,
        &plan::desired(&topo, &f),
        &plan::State::default(),
    );
    if topo.engine == netloom_core::spec::Engine::Ovn {
        p.northbound = plan::northbound(&topo, &Default::default());
    }
    if let Some(h) = &a.host {
        let Some(hi) = topo.hosts.iter().position(|x| &x.name == h) else {
            eprintln!("netloom export: --host {h}: no such host in {}", a.file);
            return ExitCode::from(2);
        };
        // Each host's script sends the design's northbound transaction
        // (made once, by whichever runs first) and waits for its own chassis.
        if let Some(nb) = &mut p.northbound {
            nb.chassis = vec![netloom_core::ovn::system_id(&topo, hi)];
        }
        p.targets.retain(|t| &t.target.name == h);
    }
    print!("{}", plan::shell_script(&p));
    ExitCode::SUCCESS
}
