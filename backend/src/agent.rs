//! The per-host agent: `netloom agent --listen ADDR --token-file FILE`.
//!
//! It executes its host's part of a plan and observes its host, for the
//! controller (`netloom apply`, the server's Apply button). Sandbox hosts run
//! the same agent inside their namespace, on a unix socket, so the sandbox
//! exercises the real path end to end.
//!
//! Protocol: one JSON request per connection, one line:
//! `{"token": T, "request": R}` with R one of `execute` (run steps; answers
//! `{"event": Event}` per step, then `{"done": N}` or `{"error": {"step": S,
//! "message": M}}`), `observe` (what exists), `facts` / `hostfacts` (kernel
//! datapath, OVSDB socket), `ping` (pings from the topology's namespaces
//! only) and `addrs` (addresses in the topology's namespaces only). Addresses:
//! `unix:/path` or `tcp:HOST:PORT`. Over TCP the agent speaks TLS when given
//! `--tls-cert/--tls-key`, and refuses to listen on anything but loopback
//! without them unless `--insecure`. The controller reaches `https://HOST:PORT`
//! agents over TLS, trusting the PEM file named by `NETLOOM_AGENT_CA`
//! (`tcp:` and `http://` are plain TCP).
//!
//! Defence in depth: the agent runs a step only on objects of the request's
//! topology ([`owned`]): its namespaces, its run directory, links and OVS
//! rows carrying its mark; a request with any other step is refused whole.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Component, Path};
use std::sync::Arc;
use std::time::Duration;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use netloom_core::plan::{State, Step, TargetInfo, TargetPlan, SYSTEM_OVSDB};

use crate::deploy::{self, ApplyError, Event, Progress};

/// Errors talking to an agent.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("agent {addr}: {source}")]
    Io { addr: String, source: io::Error },
    #[error("agent {addr}: bad answer: {message}")]
    Protocol { addr: String, message: String },
    #[error("agent {addr} refused: {message}")]
    Refused { addr: String, message: String },
}

/// What the controller asks.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Request {
    /// Run these steps of one target (one pass of a plan), in order.
    Execute {
        topology: String,
        target: TargetInfo,
        steps: Vec<Step>,
        /// Failure injection for tests (see `deploy::fail_at`).
        #[serde(default)]
        fail_at: Option<String>,
    },
    /// What the agent's host offers (the kernel OVS datapath or not); older
    /// controllers ask this.
    Facts,
    /// What the agent's host offers: the kernel OVS datapath or not, and
    /// where its OVSDB is. Agents older than this refuse it as a bad request.
    HostFacts,
    /// Observe topology `topology` on the agent's host.
    Observe {
        topology: String,
        targets: Vec<TargetInfo>,
        hint: State,
    },
    /// `verify` for the host's guests: ping each address from inside each
    /// namespace (all of them `topology`'s).
    Ping {
        topology: String,
        pings: Vec<(String, Ipv4Addr)>,
    },
    /// The IPv4 addresses in each of these namespaces (all of them
    /// `topology`'s): what DHCP gave the host's guests, for `verify` and `status`.
    Addrs {
        topology: String,
        netns: Vec<String>,
    },
}

#[derive(Debug, Serialize, Deserialize)]
struct Envelope {
    token: String,
    request: Request,
}

/// One line of an answer.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Answer {
    Event(Event),
    /// Execute: the number of steps run.
    Done(usize),
    Observed(State),
    /// Facts: true when the kernel has the Open vSwitch datapath module.
    KernelDatapath(bool),
    /// HostFacts.
    HostFacts(HostFacts),
    /// Ping: whether each ping got its echo reply, in the request's order.
    Pinged(Vec<bool>),
    /// Addrs: `(device, address)` pairs per namespace, in the request's order.
    Addrs(Vec<Vec<(String, Ipv4Net)>>),
    Error {
        target: String,
        step: String,
        message: String,
    },
}

/// What an agent says about its host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostFacts {
    /// The kernel has the Open vSwitch datapath.
    pub kernel_datapath: bool,
    /// Path of the host's OVSDB unix socket.
    pub ovsdb: String,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where to listen: `unix:/path/agent.sock` or `tcp:ADDR:PORT`.
    #[arg(long)]
    pub listen: String,
    /// File holding the token every request must carry (keep it 0600).
    #[arg(long)]
    pub token_file: String,
    /// Write the agent's pid here once it listens.
    #[arg(long)]
    pub pidfile: Option<String>,
    /// Speak TLS on TCP with this certificate chain (PEM); needs --tls-key.
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<std::path::PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<std::path::PathBuf>,
    /// Allow plain TCP on a non-loopback address (token and plans in clear).
    #[arg(long)]
    pub insecure: bool,
    /// The host's Open vSwitch database, `unix:PATH` (OVS built from source:
    /// `unix:/usr/local/var/run/openvswitch/db.sock`).
    #[arg(long, default_value_t = format!("unix:{SYSTEM_OVSDB}"))]
    pub ovsdb: String,
}

/// The socket path of an `--ovsdb unix:PATH` argument.
fn ovsdb_path(arg: &str) -> Result<String, String> {
    match arg.strip_prefix("unix:") {
        Some(p) if Path::new(p).is_absolute() => Ok(p.to_string()),
        _ => Err(format!(
            "--ovsdb {arg:?}: expected unix:/absolute/path/to/db.sock"
        )),
    }
}

enum Listener {
    Unix(UnixListener),
    Tcp(TcpListener, Option<Arc<rustls::ServerConfig>>),
}

/// Whether a plain TCP listen on `addr` is allowed: loopback, or --insecure.
fn plain_tcp_ok(addr: &std::net::SocketAddr, insecure: bool) -> Result<(), String> {
    if addr.ip().is_loopback() || insecure {
        Ok(())
    } else {
        Err(format!(
            "listening on {addr} needs TLS (--tls-cert and --tls-key); pass --insecure for plain TCP on a network you trust"
        ))
    }
}

/// Run the agent until killed.
pub fn serve(a: &Args) -> io::Result<()> {
    let ovsdb = ovsdb_path(&a.ovsdb).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let token = std::fs::read_to_string(&a.token_file)?.trim().to_string();
    if token.len() < 16 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the token must be at least 16 characters",
        ));
    }
    let listener = if let Some(p) = a.listen.strip_prefix("unix:") {
        let _ = std::fs::remove_file(p);
        let l = UnixListener::bind(p)?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o600))?;
        Listener::Unix(l)
    } else if let Some(addr) = a.listen.strip_prefix("tcp:") {
        let l = TcpListener::bind(addr)?;
        let tls = match (&a.tls_cert, &a.tls_key) {
            (Some(c), Some(k)) => {
                Some(crate::tls::server_config(c, k, &[]).map_err(io::Error::other)?)
            }
            _ => {
                let at = l.local_addr()?;
                plain_tcp_ok(&at, a.insecure)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
                if !at.ip().is_loopback() {
                    eprintln!("netloom agent: WARNING: --insecure: plain TCP on {at}; the token and plans cross the network unencrypted");
                }
                None
            }
        };
        Listener::Tcp(l, tls)
    } else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "--listen takes unix:PATH or tcp:ADDR:PORT",
        ));
    };
    if let Some(p) = &a.pidfile {
        std::fs::write(p, format!("{}\n", std::process::id()))?;
    }
    loop {
        let conn: Box<dyn ReadWrite> = match &listener {
            Listener::Unix(l) => Box::new(l.accept()?.0),
            Listener::Tcp(l, tls) => {
                let (tcp, _) = l.accept()?;
                // A silent client (or a stalled handshake) must not keep its thread forever;
                // the request is read once, and answers are writes.
                tcp.set_read_timeout(Some(Duration::from_secs(30)))?;
                match tls {
                    None => Box::new(tcp),
                    Some(cfg) => match rustls::ServerConnection::new(cfg.clone()) {
                        Ok(c) => Box::new(rustls::StreamOwned::new(c, tcp)),
                        Err(_) => continue,
                    },
                }
            }
        };
        let token = token.clone();
        let ovsdb = ovsdb.clone();
        std::thread::spawn(move || handle(conn, &token, &ovsdb));
    }
}

/// A connection, plain or TLS.
trait ReadWrite: io::Read + Write + Send {}

impl<T: io::Read + Write + Send> ReadWrite for T {}

/// Compare without leaking where the first difference is.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// A real host's targets use the agent's own OVSDB, whatever the request says:
/// the agent knows where its host's Open vSwitch is.
fn own_ovsdb(mut t: TargetInfo, ovsdb: &str) -> TargetInfo {
    if !t.emulated {
        t.ovsdb = ovsdb.to_string();
    }
    t
}

fn handle(mut conn: Box<dyn ReadWrite>, token: &str, ovsdb: &str) {
    let mut line = String::new();
    // A request is at most a plan for one host; bound it anyway. Nothing follows
    // the request line, so the reader's buffer holds nothing of value after it.
    if BufReader::new((&mut conn).take(64 << 20))
        .read_line(&mut line)
        .is_err()
    {
        return;
    }
    let out = std::sync::Mutex::new(conn);
    let send = |a: &Answer| {
        if let Ok(mut o) = out.lock() {
            let _ = writeln!(o, "{}", serde_json::to_string(a).unwrap_or_default());
            let _ = o.flush();
        }
    };
    let env: Envelope = match serde_json::from_str(&line) {
        Ok(e) => e,
        Err(e) => {
            send(&Answer::Error {
                target: String::new(),
                step: "read the request".into(),
                message: bad_request(&e),
            });
            return;
        }
    };
    if !same(&env.token, token) {
        send(&Answer::Error {
            target: String::new(),
            step: "authenticate".into(),
            message: "wrong token".into(),
        });
        return;
    }
    match env.request {
        Request::Execute {
            topology,
            target,
            steps,
            fail_at,
        } => {
            if let Err((step, message)) = steps
                .iter()
                .try_for_each(|s| owned(&topology, s).map_err(|m| (s.to_string(), m)))
            {
                send(&Answer::Error {
                    target: target.name.clone(),
                    step,
                    message: format!("refused: {message}"),
                });
                return;
            }
            let progress = |e: &Event| send(&Answer::Event(e.clone()));
            let tp = TargetPlan {
                target: own_ovsdb(target, ovsdb),
                steps,
            };
            let refs: Vec<&Step> = tp.steps.iter().collect();
            match deploy::run_target(&topology, &tp, &refs, &progress, fail_at.as_deref()) {
                Ok(n) => send(&Answer::Done(n)),
                Err(e) => send(&Answer::Error {
                    target: e.target.clone(),
                    step: e.step.clone(),
                    message: e.source.to_string(),
                }),
            }
        }
        Request::Facts => {
            send(&Answer::KernelDatapath(kernel_datapath()));
        }
        Request::HostFacts => {
            send(&Answer::HostFacts(HostFacts {
                kernel_datapath: kernel_datapath(),
                ovsdb: ovsdb.to_string(),
            }));
        }
        Request::Observe {
            topology,
            targets,
            hint,
        } => {
            let targets: Vec<TargetInfo> =
                targets.into_iter().map(|t| own_ovsdb(t, ovsdb)).collect();
            send(&Answer::Observed(deploy::observe::observe(
                &topology, &targets, &hint,
            )));
        }
        Request::Ping { topology, pings } => {
            if let Some((ns, _)) = pings.iter().find(|(ns, _)| !topology_netns(&topology, ns)) {
                send(&foreign_netns(&topology, ns, "ping from"));
                return;
            }
            send(&Answer::Pinged(deploy::verify::ping_all(&pings)));
        }
        Request::Addrs { topology, netns } => {
            if let Some(ns) = netns.iter().find(|ns| !topology_netns(&topology, ns)) {
                send(&foreign_netns(&topology, ns, "read the addresses of"));
                return;
            }
            let addrs = netns
                .into_iter()
                .map(|ns| deploy::nl::with_netlink(&ns, |n| n.addrs()).unwrap_or_default())
                .collect();
            send(&Answer::Addrs(addrs));
        }
    }
}

/// The refusal of a request about a namespace that is not the topology's.
fn foreign_netns(topology: &str, ns: &str, what: &str) -> Answer {
    Answer::Error {
        target: String::new(),
        step: format!("{what} {ns}"),
        message: format!("refused: namespace {ns:?} is not topology {topology}'s"),
    }
}

/// Whether `ns` is one of topology `topology`'s namespaces (`nl-<topology>.*`).
fn topology_netns(topology: &str, ns: &str) -> bool {
    let prefix = netloom_core::names::netns_prefix(topology);
    ns.starts_with(&prefix) && ns.len() > prefix.len() && !ns.contains('/')
}

/// Defence in depth: whether step `s` touches only objects of `topology` —
/// its namespaces (`nl-<topology>.*`) and run directory; in the host's own
/// namespace, only links carrying its mark may be removed; dnsmasq only with
/// the options netloom gives it (its files in the run directory). The
/// controller's plans never ask for more; a request that does is refused.
pub fn owned(topology: &str, s: &Step) -> Result<(), String> {
    use netloom_core::names;
    use netloom_core::plan::{Action, Resource};
    let b = topology.as_bytes();
    let name_ok = b.first().is_some_and(u8::is_ascii_lowercase)
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-');
    if !name_ok {
        return Err(format!("{topology:?} is not a topology name"));
    }
    let run = names::run_dir(topology);
    let ours = |ns: &str| topology_netns(topology, ns);
    // The host's own namespace ("") is allowed for links only.
    let ns_ok = |ns: &str| {
        if ours(ns) {
            Ok(())
        } else {
            Err(format!("namespace {ns:?} is not topology {topology}'s"))
        }
    };
    let in_run = |p: &str| {
        Path::new(p)
            .strip_prefix(&run)
            .is_ok_and(|rest| rest.components().all(|c| matches!(c, Component::Normal(_))))
    };
    let dir_ok = |d: &str| {
        if in_run(d) {
            Ok(())
        } else {
            Err(format!("{d} is outside {run}"))
        }
    };
    let link_ok = |ns: &str, name: &str| -> Result<(), String> {
        if !ns.is_empty() {
            return ns_ok(ns);
        }
        if s.action == Action::Create {
            return Ok(());
        }
        // An existing link of the host itself: it must carry the topology's mark.
        let mark = crate::deploy::link_mark(topology);
        let n = name.to_string();
        let alias = crate::deploy::nl::with_netlink("", move |nl| {
            Ok(nl
                .links()?
                .into_iter()
                .find(|l| l.name == n)
                .map(|l| l.alias))
        })
        .map_err(|e| e.to_string())?;
        match alias {
            // Already gone: removing it is a no-op.
            None => Ok(()),
            Some(Some(a)) if a == mark => Ok(()),
            Some(_) => Err(format!(
                "link {name} is not marked as topology {topology}'s"
            )),
        }
    };
    match &s.resource {
        Resource::RunDir { path } if *path == run => Ok(()),
        Resource::RunDir { path } => Err(format!("{path} is not {run}")),
        Resource::Netns { name } => ns_ok(name),
        Resource::Agent { netns, dir } | Resource::OvsDaemons { netns, dir } => {
            ns_ok(netns)?;
            dir_ok(dir)
        }
        Resource::Segment { netns, name, .. } | Resource::VxlanLink { netns, name, .. } => {
            link_ok(netns, name)
        }
        Resource::Veth {
            netns,
            name,
            peer_netns,
            ..
        } => {
            link_ok(netns, name)?;
            if peer_netns.is_empty() {
                Ok(())
            } else {
                ns_ok(peer_netns)
            }
        }
        Resource::TxOffloadOff { netns, dev } => link_ok(netns, dev),
        Resource::Sysctl { netns, .. }
        | Resource::Addr { netns, .. }
        | Resource::Route { netns, .. }
        | Resource::Nft { netns, .. }
        | Resource::DhcpClient { netns, .. } => ns_ok(netns),
        Resource::Dnsmasq { netns, args, .. } => {
            ns_ok(netns)?;
            args.iter().try_for_each(|a| dnsmasq_arg_ok(a, &in_run))
        }
        Resource::DhcpHost { path, .. } => {
            dir_ok(path)?;
            if netloom_core::plan::dhcp_host_pidfile(path).is_some() {
                Ok(())
            } else {
                Err(format!("{path} is not in a dnsmasq hosts directory"))
            }
        }
        // Rows of an OVSDB: the host's own rows are told apart by their owner mark
        // when the transaction is built.
        Resource::OvsBridge { .. } | Resource::OvsPort { .. } => Ok(()),
    }
}

/// dnsmasq runs as root: only the options netloom's plans use, files in the run directory.
fn dnsmasq_arg_ok(arg: &str, in_run: &dyn Fn(&str) -> bool) -> Result<(), String> {
    let (opt, value) = arg.split_once('=').unwrap_or((arg, ""));
    let ok = match opt {
        "--conf-file" => value == "/dev/null",
        "--user" => value == "root",
        "--dhcp-leasefile" | "--pid-file" | "--log-facility" | "--dhcp-hostsdir" => in_run(value),
        "--no-resolv"
        | "--no-hosts"
        | "--port"
        | "--interface"
        | "--bind-interfaces"
        | "--dhcp-range"
        | "--dhcp-sequential-ip"
        | "--no-ping"
        | "--dhcp-authoritative"
        | "--dhcp-option"
        | "--log-dhcp" => true,
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("dnsmasq option {arg:?} is not one netloom gives"))
    }
}

use std::io::Read as _;

/// The file of certificates the controller trusts for `https://` agents.
pub const CA_ENV: &str = "NETLOOM_AGENT_CA";

/// A connection to an agent at `unix:PATH`, `tcp:HOST:PORT` or `http://HOST:PORT`
/// (plain TCP), or `https://HOST:PORT` (TLS, trusting [`CA_ENV`]).
fn connect(addr: &str) -> Result<Box<dyn ReadWrite>, AgentError> {
    let io = |source| AgentError::Io {
        addr: addr.to_string(),
        source,
    };
    if let Some(p) = addr.strip_prefix("unix:") {
        return Ok(Box::new(UnixStream::connect(p).map_err(io)?));
    }
    let tls = addr.starts_with("https://");
    let hostport = addr
        .strip_prefix("tcp:")
        .or_else(|| addr.strip_prefix("https://"))
        .or_else(|| addr.strip_prefix("http://"))
        .unwrap_or(addr)
        .trim_end_matches('/');
    // Before connecting: a missing trust file is the user's to fix, not the network's.
    let cfg = if tls {
        let ca = std::env::var_os(CA_ENV).ok_or_else(|| {
            io(io::Error::other(format!(
                "set {CA_ENV} to the PEM file of the certificate (or CA) to trust for https agents"
            )))
        })?;
        Some(crate::tls::client_config(Path::new(&ca)).map_err(|e| io(io::Error::other(e)))?)
    } else {
        None
    };
    let s = TcpStream::connect(hostport).map_err(io)?;
    s.set_read_timeout(Some(Duration::from_secs(600)))
        .map_err(io)?;
    let Some(cfg) = cfg else {
        return Ok(Box::new(s));
    };
    let host = match hostport.rsplit_once(':') {
        Some((h, _)) => h.trim_start_matches('[').trim_end_matches(']'),
        None => hostport,
    };
    let name = rustls::pki_types::ServerName::try_from(host.to_string())
        .map_err(|e| io(io::Error::new(io::ErrorKind::InvalidInput, e.to_string())))?;
    let conn = rustls::ClientConnection::new(cfg, name).map_err(|e| io(io::Error::other(e)))?;
    Ok(Box::new(rustls::StreamOwned::new(conn, s)))
}

fn call(
    addr: &str,
    token: &str,
    request: Request,
    mut on: impl FnMut(Answer) -> bool,
) -> Result<(), AgentError> {
    let mut conn = connect(addr)?;
    let line = serde_json::to_string(&Envelope {
        token: token.to_string(),
        request,
    })
    .unwrap_or_default();
    writeln!(conn, "{line}")
        .and_then(|()| conn.flush())
        .map_err(|source| AgentError::Io {
            addr: addr.to_string(),
            source,
        })?;
    for l in BufReader::new(conn).lines() {
        let l = l.map_err(|source| AgentError::Io {
            addr: addr.to_string(),
            source,
        })?;
        let a: Answer = serde_json::from_str(&l).map_err(|e| AgentError::Protocol {
            addr: addr.to_string(),
            message: e.to_string(),
        })?;
        if !on(a) {
            return Ok(());
        }
    }
    Err(AgentError::Protocol {
        addr: addr.to_string(),
        message: "connection closed before the answer".into(),
    })
}

/// Execute steps of one target on its agent, relaying its events.
pub fn execute(
    addr: &str,
    token: &str,
    topology: &str,
    target: &TargetInfo,
    steps: &[&Step],
    progress: Progress,
    fail_at: Option<&str>,
) -> Result<usize, ApplyError> {
    let req = Request::Execute {
        topology: topology.to_string(),
        target: target.clone(),
        steps: steps.iter().map(|s| (*s).clone()).collect(),
        fail_at: fail_at.map(str::to_string),
    };
    let mut result: Option<Result<usize, ApplyError>> = None;
    let r = call(addr, token, req, |a| match a {
        Answer::Event(e) => {
            progress(&e);
            true
        }
        Answer::Done(n) => {
            result = Some(Ok(n));
            false
        }
        Answer::Error {
            target: t,
            step,
            message,
        } => {
            result = Some(Err(ApplyError {
                target: if t.is_empty() { target.name.clone() } else { t },
                step,
                source: deploy::StepError::Io(io::Error::other(message)),
            }));
            false
        }
        Answer::Observed(_)
        | Answer::KernelDatapath(_)
        | Answer::HostFacts(_)
        | Answer::Pinged(_)
        | Answer::Addrs(_) => true,
    });
    match (r, result) {
        (_, Some(res)) => res,
        (Err(e), None) => Err(ApplyError {
            target: target.name.clone(),
            step: "reach the agent".into(),
            source: deploy::StepError::Io(io::Error::other(e.to_string())),
        }),
        (Ok(()), None) => unreachable!("call returns Ok only after an answer"),
    }
}

/// Observe a host through its agent.
pub fn observe(
    addr: &str,
    token: &str,
    topology: &str,
    targets: &[TargetInfo],
    hint: &State,
) -> Result<State, AgentError> {
    let req = Request::Observe {
        topology: topology.to_string(),
        targets: targets.to_vec(),
        hint: hint.clone(),
    };
    ask(addr, token, req, |a| match a {
        Answer::Observed(s) => Some(s),
        _ => None,
    })
}

/// One request, one answer: the first answer `pick` accepts, or the agent's
/// error as a refusal.
fn ask<T>(
    addr: &str,
    token: &str,
    req: Request,
    pick: impl Fn(Answer) -> Option<T>,
) -> Result<T, AgentError> {
    let mut out = None;
    let mut err = None;
    call(addr, token, req, |a| match a {
        Answer::Error { message, .. } => {
            err = Some(message);
            false
        }
        a => {
            out = pick(a);
            out.is_none()
        }
    })?;
    out.ok_or_else(|| AgentError::Refused {
        addr: addr.to_string(),
        message: err.unwrap_or_default(),
    })
}

/// True when this kernel has the Open vSwitch datapath (module loaded or built in).
pub fn kernel_datapath() -> bool {
    Path::new("/sys/module/openvswitch").exists()
}

/// Have an agent ping for its host's guests: `(namespace, address)` pairs,
/// answered in order.
pub fn ping(
    addr: &str,
    token: &str,
    topology: &str,
    pings: &[(String, Ipv4Addr)],
) -> Result<Vec<bool>, AgentError> {
    let req = Request::Ping {
        topology: topology.to_string(),
        pings: pings.to_vec(),
    };
    let oks = ask(addr, token, req, |a| match a {
        Answer::Pinged(v) => Some(v),
        _ => None,
    })?;
    if oks.len() != pings.len() {
        return Err(AgentError::Protocol {
            addr: addr.to_string(),
            message: format!("{} ping results for {} pings", oks.len(), pings.len()),
        });
    }
    Ok(oks)
}

/// The IPv4 addresses in each of these namespaces of an agent's host, in order.
pub fn addrs(
    addr: &str,
    token: &str,
    topology: &str,
    netns: &[String],
) -> Result<Vec<Vec<(String, Ipv4Net)>>, AgentError> {
    let req = Request::Addrs {
        topology: topology.to_string(),
        netns: netns.to_vec(),
    };
    let v = ask(addr, token, req, |a| match a {
        Answer::Addrs(v) => Some(v),
        _ => None,
    })?;
    if v.len() != netns.len() {
        return Err(AgentError::Protocol {
            addr: addr.to_string(),
            message: format!("addresses of {} namespaces for {}", v.len(), netns.len()),
        });
    }
    Ok(v)
}

/// How an agent refuses a request it cannot read.
fn bad_request(e: &serde_json::Error) -> String {
    format!("bad request: {e}")
}

/// True for an agent's refusal of a request it does not know (an older agent's).
fn unknown_request(message: &str) -> bool {
    message.starts_with("bad request: unknown variant")
}

/// Ask an agent about its host. An agent older than `HostFacts` refuses it
/// as a bad request: then it is asked the old question, and its OVSDB is the system one.
pub fn host_facts(addr: &str, token: &str) -> Result<HostFacts, AgentError> {
    let r = ask(addr, token, Request::HostFacts, |a| match a {
        Answer::HostFacts(f) => Some(f),
        _ => None,
    });
    match r {
        Err(AgentError::Refused { message, .. }) if unknown_request(&message) => {
            ask(addr, token, Request::Facts, |a| match a {
                Answer::KernelDatapath(b) => Some(HostFacts {
                    kernel_datapath: b,
                    ovsdb: SYSTEM_OVSDB.to_string(),
                }),
                _ => None,
            })
        }
        r => r,
    }
}

/// A fresh random token (hex of 16 bytes from the kernel's CSPRNG).
pub fn new_token() -> io::Result<String> {
    let mut b = [0u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut b)?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// Token of a topology's sandbox agents (created with the run directory).
pub fn sandbox_token(topology: &str) -> io::Result<String> {
    Ok(std::fs::read_to_string(sandbox_token_path(topology))?
        .trim()
        .to_string())
}

pub fn sandbox_token_path(topology: &str) -> String {
    format!("{}/agent.token", netloom_core::names::run_dir(topology))
}

/// True when a sandbox agent answers on its socket.
pub fn alive(socket: &str) -> bool {
    Path::new(socket).exists() && UnixStream::connect(socket).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use netloom_core::plan::{self, Action, Facts, Resource};

    fn step(action: Action, resource: Resource) -> Step {
        Step {
            action,
            resource,
            was: None,
        }
    }

    /// Every step of the plans of the example labs, built from nothing and torn
    /// down again, is the topology's own: the check refuses no real plan.
    #[test]
    fn every_step_of_the_example_plans_is_owned() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples");
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let text = std::fs::read_to_string(e.path()).unwrap();
            let topo = netloom_core::load(&text).unwrap().topology;
            let f = Facts::default();
            let targets = plan::targets(&topo, &f);
            let want = plan::desired(&topo, &f);
            let empty = State::default();
            for p in [
                plan::plan(&topo.name, &targets, &want, &empty),
                plan::plan(&topo.name, &targets, &empty, &want),
            ] {
                for s in p.targets.iter().flat_map(|t| &t.steps) {
                    assert_eq!(owned(&topo.name, s), Ok(()), "{}: {s}", topo.name);
                }
            }
        }
    }

    #[test]
    fn pings_run_only_from_the_topologys_namespaces() {
        assert!(topology_netns("t", "nl-t.h1.vm1"));
        for ns in ["", "nl-t.", "nl-tt.h1", "victim", "nl-t./../x"] {
            assert!(!topology_netns("t", ns), "{ns}");
        }
    }

    #[test]
    fn ovsdb_takes_an_absolute_unix_path() {
        assert_eq!(
            ovsdb_path("unix:/usr/local/var/run/openvswitch/db.sock"),
            Ok("/usr/local/var/run/openvswitch/db.sock".to_string())
        );
        for bad in [
            "/var/run/openvswitch/db.sock",
            "unix:db.sock",
            "tcp:127.0.0.1:6640",
        ] {
            let e = ovsdb_path(bad).unwrap_err();
            assert!(e.contains("--ovsdb") && e.contains(bad), "{e}");
        }
    }

    #[test]
    fn a_real_target_uses_the_agents_ovsdb_and_an_emulated_one_its_own() {
        let t = |emulated| TargetInfo {
            name: "h".into(),
            agent: None,
            emulated,
            netns: String::new(),
            ovsdb: "/elsewhere/db.sock".into(),
            datapath: "netdev".into(),
        };
        assert_eq!(own_ovsdb(t(false), "/mine/db.sock").ovsdb, "/mine/db.sock");
        assert_eq!(
            own_ovsdb(t(true), "/mine/db.sock").ovsdb,
            "/elsewhere/db.sock"
        );
    }

    /// The facts question of an older controller still gets its old answer,
    /// and an older agent's refusal of the new one reads as expected.
    #[test]
    fn facts_protocol_stays_compatible() {
        let old: Request = serde_json::from_str("\"facts\"").unwrap();
        assert!(matches!(old, Request::Facts));
        let e = serde_json::from_str::<Envelope>(r#"{"token":"t","request":"hostfacts"}"#);
        assert!(e.is_ok());
        /// The requests of an agent that predates `HostFacts`, as far as facts go.
        #[derive(Debug, Deserialize)]
        #[serde(rename_all = "lowercase")]
        #[allow(dead_code)]
        enum OldRequest {
            Facts,
        }
        // An old agent's refusal, worded as this agent words it, is recognised.
        let refusal = serde_json::from_str::<OldRequest>("\"hostfacts\"").unwrap_err();
        assert!(unknown_request(&bad_request(&refusal)), "{refusal}");
        let today =
            serde_json::from_str::<Envelope>(r#"{"token":"t","request":"later"}"#).unwrap_err();
        assert!(unknown_request(&bad_request(&today)), "{today}");
        let broken = serde_json::from_str::<Envelope>("{").unwrap_err();
        assert!(!unknown_request(&bad_request(&broken)), "{broken}");
        let a = serde_json::to_string(&Answer::HostFacts(HostFacts {
            kernel_datapath: false,
            ovsdb: SYSTEM_OVSDB.into(),
        }))
        .unwrap();
        assert_eq!(
            a,
            r#"{"host_facts":{"kernel_datapath":false,"ovsdb":"/var/run/openvswitch/db.sock"}}"#
        );
    }

    /// A DHCP reservation step on the file at `path`.
    fn hosts_file(action: Action, path: &str) -> Step {
        step(
            action,
            Resource::DhcpHost {
                path: path.to_string(),
                mac: "02:00:00:00:00:01".parse().unwrap(),
                ip: "10.0.0.1".parse().unwrap(),
            },
        )
    }

    #[test]
    fn steps_on_other_objects_are_refused() {
        let ns = |n: &str| n.to_string();
        for (topology, s) in [
            (
                "t",
                step(Action::Delete, Resource::Netns { name: ns("victim") }),
            ),
            (
                "t",
                step(
                    Action::Delete,
                    Resource::Netns {
                        name: ns("nl-other.h1"),
                    },
                ),
            ),
            (
                "t",
                step(Action::Delete, Resource::RunDir { path: ns("/etc") }),
            ),
            (
                "../etc",
                step(
                    Action::Delete,
                    Resource::RunDir {
                        path: ns("/run/netloom/../etc"),
                    },
                ),
            ),
            (
                "t",
                step(
                    Action::Delete,
                    Resource::Agent {
                        netns: ns("nl-t.h1"),
                        dir: ns("/run/netloom/t/../../../etc"),
                    },
                ),
            ),
            (
                "t",
                step(
                    Action::Create,
                    Resource::Nft {
                        netns: ns(""),
                        ruleset: ns("{}"),
                    },
                ),
            ),
            (
                "t",
                step(
                    Action::Create,
                    Resource::Dnsmasq {
                        netns: ns("nl-t.h1"),
                        name: ns("d"),
                        args: vec![ns("--dhcp-script=/tmp/evil")],
                    },
                ),
            ),
            (
                "t",
                step(
                    Action::Create,
                    Resource::Dnsmasq {
                        netns: ns("nl-t.h1"),
                        name: ns("d"),
                        args: vec![ns("--pid-file=/etc/passwd")],
                    },
                ),
            ),
            (
                "t",
                hosts_file(Action::Create, "/etc/dnsmasq.d/x.hosts/evil"),
            ),
            // A hosts directory, but not a DHCP server's: SIGHUP would stop that daemon.
            (
                "t",
                hosts_file(Action::Delete, "/run/netloom/t/h1/vswitchd.hosts/x"),
            ),
            // In the run directory but not a hosts directory: no pidfile to signal.
            (
                "t",
                hosts_file(Action::Delete, "/run/netloom/t/agent.token"),
            ),
            // The host's own loopback carries no netloom mark.
            (
                "t",
                step(
                    Action::Delete,
                    Resource::Segment {
                        netns: ns(""),
                        name: ns("lo"),
                        mac: None,
                    },
                ),
            ),
        ] {
            assert!(owned(topology, &s).is_err(), "{topology}: {s}");
        }
    }
}
