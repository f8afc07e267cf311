//! The per-host agent: `netloom agent --listen ADDR --token-file FILE`.
//!
//! It executes its host's part of a plan and observes its host, for the
//! controller (`netloom apply`, the server's Apply button). Sandbox hosts run
//! the same agent inside their namespace, on a unix socket, so the sandbox
//! exercises the real path end to end.
//!
//! Protocol: one JSON request per connection, one line:
//! `{"token": T, "request": {"execute": {...}} | {"observe": {...}}}`; the
//! agent answers with JSON lines: `{"event": Event}` per step, then
//! `{"done": ...}` or `{"error": {"step": S, "message": M}}`. Addresses:
//! `unix:/path` or `tcp:HOST:PORT` (plain TCP: run it on a trusted network or
//! behind a TLS tunnel; the token is the only check).

use std::io::{self, BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use netloom_core::plan::{State, Step, TargetInfo, TargetPlan};

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
    /// What the agent's host offers (the kernel OVS datapath or not).
    Facts,
    /// Observe topology `topology` on the agent's host.
    Observe {
        topology: String,
        targets: Vec<TargetInfo>,
        hint: State,
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
    Error {
        target: String,
        step: String,
        message: String,
    },
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
}

enum Listener {
    Unix(UnixListener),
    Tcp(TcpListener),
}

/// Run the agent until killed.
pub fn serve(a: &Args) -> io::Result<()> {
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
        Listener::Tcp(TcpListener::bind(addr)?)
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
            Listener::Tcp(l) => Box::new(l.accept()?.0),
        };
        let token = token.clone();
        std::thread::spawn(move || handle(conn, &token));
    }
}

trait ReadWrite: io::Read + Write + Send {
    fn split(&self) -> io::Result<Box<dyn Write + Send>>;
}

impl ReadWrite for UnixStream {
    fn split(&self) -> io::Result<Box<dyn Write + Send>> {
        Ok(Box::new(self.try_clone()?))
    }
}

impl ReadWrite for TcpStream {
    fn split(&self) -> io::Result<Box<dyn Write + Send>> {
        Ok(Box::new(self.try_clone()?))
    }
}

/// Compare without leaking where the first difference is.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn handle(conn: Box<dyn ReadWrite>, token: &str) {
    let Ok(out) = conn.split() else { return };
    let out = std::sync::Mutex::new(out);
    let send = |a: &Answer| {
        if let Ok(mut o) = out.lock() {
            let _ = writeln!(o, "{}", serde_json::to_string(a).unwrap_or_default());
        }
    };
    let mut line = String::new();
    // A request is at most a plan for one host; bound it anyway.
    if BufReader::new(conn)
        .take(64 << 20)
        .read_line(&mut line)
        .is_err()
    {
        return;
    }
    let env: Envelope = match serde_json::from_str(&line) {
        Ok(e) => e,
        Err(e) => {
            send(&Answer::Error {
                target: String::new(),
                step: "read the request".into(),
                message: format!("bad request: {e}"),
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
            let progress = |e: &Event| send(&Answer::Event(e.clone()));
            let tp = TargetPlan { target, steps };
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
        Request::Observe {
            topology,
            targets,
            hint,
        } => {
            send(&Answer::Observed(deploy::observe::observe(
                &topology, &targets, &hint,
            )));
        }
    }
}

use std::io::Read as _;

/// A connection to an agent at `unix:PATH`, `tcp:HOST:PORT`, or an `http(s)://HOST:PORT` URL (plain TCP).
fn connect(addr: &str) -> Result<(Box<dyn Write + Send>, Box<dyn BufRead + Send>), AgentError> {
    let io = |source| AgentError::Io {
        addr: addr.to_string(),
        source,
    };
    if let Some(p) = addr.strip_prefix("unix:") {
        let s = UnixStream::connect(p).map_err(io)?;
        let r = s.try_clone().map_err(io)?;
        Ok((Box::new(s), Box::new(BufReader::new(r))))
    } else {
        let hostport = addr
            .strip_prefix("tcp:")
            .or_else(|| addr.strip_prefix("https://"))
            .or_else(|| addr.strip_prefix("http://"))
            .unwrap_or(addr)
            .trim_end_matches('/');
        let s = TcpStream::connect(hostport).map_err(io)?;
        s.set_read_timeout(Some(Duration::from_secs(600)))
            .map_err(io)?;
        let r = s.try_clone().map_err(io)?;
        Ok((Box::new(s), Box::new(BufReader::new(r))))
    }
}

fn call(
    addr: &str,
    token: &str,
    request: Request,
    mut on: impl FnMut(Answer) -> bool,
) -> Result<(), AgentError> {
    let (mut w, r) = connect(addr)?;
    let line = serde_json::to_string(&Envelope {
        token: token.to_string(),
        request,
    })
    .unwrap_or_default();
    writeln!(w, "{line}").map_err(|source| AgentError::Io {
        addr: addr.to_string(),
        source,
    })?;
    for l in r.lines() {
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
        Answer::Observed(_) | Answer::KernelDatapath(_) => true,
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
    let mut out = None;
    let mut err = None;
    call(addr, token, req, |a| match a {
        Answer::Observed(s) => {
            out = Some(s);
            false
        }
        Answer::Error { message, .. } => {
            err = Some(message);
            false
        }
        _ => true,
    })?;
    match (out, err) {
        (Some(s), _) => Ok(s),
        (None, m) => Err(AgentError::Refused {
            addr: addr.to_string(),
            message: m.unwrap_or_default(),
        }),
    }
}

/// True when this kernel has the Open vSwitch datapath (module loaded or built in).
pub fn kernel_datapath() -> bool {
    Path::new("/sys/module/openvswitch").exists()
}

/// Ask an agent whether its host has the kernel datapath.
pub fn has_kernel_datapath(addr: &str, token: &str) -> Result<bool, AgentError> {
    let mut out = None;
    let mut err = None;
    call(addr, token, Request::Facts, |a| match a {
        Answer::KernelDatapath(b) => {
            out = Some(b);
            false
        }
        Answer::Error { message, .. } => {
            err = Some(message);
            false
        }
        _ => true,
    })?;
    out.ok_or_else(|| AgentError::Refused {
        addr: addr.to_string(),
        message: err.unwrap_or_default(),
    })
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
