//! `netloom agent`: listen, authenticate, confine, answer.
//!
//! Each connection: the token is read from the request's first bytes and
//! checked before anything else is read; the request's topology must be one
//! the token may touch; every step, target, hint and namespace is confined
//! to that topology ([`crate::host::confine`]); then it runs. A bounded
//! number of connections is served at once; an error accepting one is
//! logged and the agent goes on.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddrV4, TcpListener};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;

use netloom_core::capture::{HostLink, Tap};
use netloom_core::limits::MAX_GUESTS;
use netloom_core::plan::{Step, TargetPlan, SYSTEM_OVSDB};

use super::grants::Grants;
use super::proto::{
    bad_request, Answer, EchoProbe, Envelope, HostFacts, Request, LISTEN_TICK, STDIO_READY,
};
use crate::host::capture::{Reading, Socket};
use crate::host::confine::{self, Refusal, TopologyName};
use crate::host::{checkup, exec, lock, nl, observe, ping, probe, tap};
use crate::report::Event;

/// Connections served at once; more are closed at once.
pub const MAX_CONNECTIONS: usize = 64;
/// A capture's bounds: whole frames, ten minutes (as `/api/designs/{id}/capture`).
const MAX_SNAPLEN: u32 = 262_144;
const MAX_CAPTURE_SECONDS: u32 = 600;
/// The longest an echo request waits for its answer (the real path's own).
const MAX_ECHO_WAIT: u32 = 5;
/// What is read of a request before its token is checked.
const MAX_UNAUTHENTICATED: u64 = 512;
/// A request is at most a plan for one host.
const MAX_REQUEST: u64 = 64 << 20;
/// A silent client (or a stalled handshake) must not keep its thread forever.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where to listen: `unix:/path/agent.sock` or `tcp:ADDR:PORT`.
    #[arg(long, required_unless_present = "stdio")]
    pub listen: Option<String>,
    /// File of tokens, each with the topologies it may touch: `TOKEN TOPOLOGY...`
    /// a line (0600; read on every request).
    #[arg(long, required_unless_present = "stdio")]
    pub token_file: Option<PathBuf>,
    /// Serve requests on standard input and output, one after another, until
    /// the input ends: the controller's `ssh://` agents run this, SSH having
    /// authenticated them.
    #[arg(long, conflicts_with_all = ["listen", "token_file", "pidfile", "tls_cert", "insecure"])]
    pub stdio: bool,
    /// Write the agent's pid here once it listens.
    #[arg(long)]
    pub pidfile: Option<String>,
    /// Speak TLS on TCP with this certificate chain (PEM); needs --tls-key.
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
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

/// A connection, plain or TLS.
trait ReadWrite: io::Read + Write + Send {}

impl<T: io::Read + Write + Send> ReadWrite for T {}

fn invalid(e: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, e.into())
}

/// Run the agent until killed (with `--stdio`: until its input ends).
pub fn serve(a: &Args) -> io::Result<()> {
    let ovsdb = ovsdb_path(&a.ovsdb).map_err(invalid)?;
    let (Some(listen), Some(token_file)) = (&a.listen, &a.token_file) else {
        return serve_stdio(&ovsdb);
    };
    // Refuse a bad token file now rather than at the first request.
    Grants::load(token_file).map_err(invalid)?;
    // SIGTERM or Ctrl-C ends the agent at once, unless captures run: then
    // they end first, and a bridge's mirror is removed (see `capture_request`).
    lock::cancel_waits_on_signals();
    let listener = if let Some(p) = listen.strip_prefix("unix:") {
        let _ = std::fs::remove_file(p);
        // The socket is 0600 from its first moment: no window for another user to connect.
        // SAFETY: umask only changes this process's file-creation mask.
        let old = unsafe { libc::umask(0o177) };
        let l = UnixListener::bind(p);
        // SAFETY: as above.
        unsafe { libc::umask(old) };
        Listener::Unix(l?)
    } else if let Some(addr) = listen.strip_prefix("tcp:") {
        let l = TcpListener::bind(addr)?;
        let tls = match (&a.tls_cert, &a.tls_key) {
            (Some(c), Some(k)) => {
                Some(crate::tls::server_config(c, k, &[]).map_err(io::Error::other)?)
            }
            _ => {
                let at = l.local_addr()?;
                plain_tcp_ok(&at, a.insecure).map_err(invalid)?;
                if !at.ip().is_loopback() {
                    eprintln!("netloom agent: WARNING: --insecure: plain TCP on {at}; the token and plans cross the network unencrypted");
                }
                None
            }
        };
        Listener::Tcp(l, tls)
    } else {
        return Err(invalid("--listen takes unix:PATH or tcp:ADDR:PORT"));
    };
    if let Some(p) = &a.pidfile {
        std::fs::write(p, format!("{}\n", std::process::id()))?;
    }
    let open = Arc::new(AtomicUsize::new(0));
    loop {
        let conn = match accept(&listener) {
            Ok(Some(c)) => c,
            Ok(None) => continue,
            Err(e) => {
                // Out of file descriptors, a connection reset before accept: the
                // agent stays; a short pause keeps a persistent error from spinning.
                eprintln!("netloom agent: accept: {e}");
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        if open.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
            open.fetch_sub(1, Ordering::SeqCst);
            eprintln!("netloom agent: {MAX_CONNECTIONS} connections open; one more closed");
            continue;
        }
        let (token_file, ovsdb, open) = (token_file.clone(), ovsdb.clone(), open.clone());
        std::thread::spawn(move || {
            handle(conn, &token_file, &ovsdb);
            open.fetch_sub(1, Ordering::SeqCst);
        });
    }
}

/// The next connection; `None` for one that could not be set up.
fn accept(listener: &Listener) -> io::Result<Option<Box<dyn ReadWrite>>> {
    Ok(match listener {
        Listener::Unix(l) => {
            let (s, _) = l.accept()?;
            s.set_read_timeout(Some(READ_TIMEOUT))?;
            Some(Box::new(s))
        }
        Listener::Tcp(l, tls) => {
            let (tcp, _) = l.accept()?;
            tcp.set_read_timeout(Some(READ_TIMEOUT))?;
            match tls {
                None => Some(Box::new(tcp)),
                Some(cfg) => rustls::ServerConnection::new(cfg.clone())
                    .ok()
                    .map(|c| Box::new(rustls::StreamOwned::new(c, tcp)) as Box<dyn ReadWrite>),
            }
        }
    })
}

/// The token at the start of a request line: `{"token":"TOKEN",`.
fn leading_token(head: &[u8]) -> Option<&str> {
    let rest = head.strip_prefix(br#"{"token":""#)?;
    let end = rest.iter().position(|&c| c == b'"')?;
    std::str::from_utf8(&rest[..end]).ok()
}

fn handle(mut conn: Box<dyn ReadWrite>, token_file: &Path, ovsdb: &str) {
    let mut line = Vec::new();
    // The token first, from a few hundred bytes at most: nothing more is read
    // for a client that does not have one.
    let mut reader = BufReader::new(&mut conn);
    let head_ok = (&mut reader)
        .take(MAX_UNAUTHENTICATED)
        .read_until(b',', &mut line)
        .is_ok();
    let grants = Grants::load(token_file);
    let granted = match (&grants, leading_token(&line)) {
        (Ok(g), Some(t)) if head_ok => g.of(t).cloned(),
        _ => None,
    };
    let mut rest_ok = false;
    if granted.is_some() {
        // Nothing follows the request line, so the reader's buffer holds nothing of value after it.
        rest_ok = (&mut reader)
            .take(MAX_REQUEST)
            .read_until(b'\n', &mut line)
            .is_ok();
    }
    drop(reader);
    let out = Replies(std::sync::Mutex::new(conn));
    let sent = |a: &Answer| out.sent(a);
    let refuse = |step: &str, message: String| out.refuse(step, message);
    let Some(granted) = granted else {
        let message = match grants {
            Err(e) => format!("the agent cannot read its tokens: {e}"),
            Ok(_) => "wrong token".into(),
        };
        return refuse("authenticate", message);
    };
    if !rest_ok {
        return refuse("read the request", "unreadable request".into());
    }
    let env: Envelope = match serde_json::from_slice(&line) {
        Ok(e) => e,
        Err(e) => return refuse("read the request", bad_request(&e)),
    };
    let topology = match env.request.topology().map(TopologyName::parse) {
        None => None,
        Some(Ok(t)) if granted.contains(&t) => Some(t),
        Some(Ok(t)) => {
            return refuse(
                "authenticate",
                format!("refused: this token may not touch topology {t}"),
            )
        }
        Some(Err(e)) => return refuse("read the request", e.to_string()),
    };
    answer(env.request, topology, ovsdb, &sent, &refuse);
}

/// Where a request's answers go, one JSON line each.
struct Replies<W>(std::sync::Mutex<W>);

impl<W: Write> Replies<W> {
    /// Whether the answer went out: a capture ends when its controller is gone.
    fn sent(&self, a: &Answer) -> bool {
        self.line(&serde_json::to_string(a).unwrap_or_default())
    }

    /// Whether `line` went out.
    fn line(&self, line: &str) -> bool {
        let Ok(mut o) = self.0.lock() else {
            return false;
        };
        writeln!(o, "{line}").and_then(|()| o.flush()).is_ok()
    }

    fn refuse(&self, step: &str, message: String) {
        self.sent(&Answer::Error {
            target: String::new(),
            step: step.into(),
            message,
        });
    }
}

/// Requests on standard input, one a line, until it ends; each one's answers
/// on standard output, then [`STDIO_READY`], so the controller's session
/// serves its next request to this host without starting another agent. No
/// token: whoever runs this logged in over SSH as a user who may run it, so
/// any topology may be named; every field is still confined to the one named.
fn serve_stdio(ovsdb: &str) -> io::Result<()> {
    let (input, output) = private_stdio()?;
    let mut input = BufReader::new(input);
    let out = Replies(std::sync::Mutex::new(output));
    let sent = |a: &Answer| out.sent(a);
    let refuse = |step: &str, message: String| out.refuse(step, message);
    loop {
        let mut line = Vec::new();
        if (&mut input)
            .take(MAX_REQUEST)
            .read_until(b'\n', &mut line)?
            == 0
        {
            return Ok(());
        }
        let env: Envelope = match serde_json::from_slice(&line) {
            Ok(e) => e,
            Err(e) => {
                // The rest of an unreadable line is no request: the session ends.
                refuse("read the request", bad_request(&e));
                return Ok(());
            }
        };
        match env.request.topology().map(TopologyName::parse) {
            Some(Err(e)) => refuse("read the request", e.to_string()),
            t => answer(env.request, t.and_then(Result::ok), ovsdb, &sent, &refuse),
        }
        if !out.line(STDIO_READY) {
            return Ok(());
        }
    }
}

/// Standard input and output moved to descriptors of this process's own,
/// with /dev/null in their place: the daemons an apply starts must not hold
/// the SSH session open, nor write into the answers.
fn private_stdio() -> io::Result<(std::fs::File, std::fs::File)> {
    use std::os::fd::{AsRawFd, FromRawFd};
    let null = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")?;
    let take = |fd: i32| -> io::Result<std::fs::File> {
        // SAFETY: fcntl/dup2 on descriptors this process owns; the copy is
        // close-on-exec and owned by the File made from it.
        let copy = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) };
        if copy < 0 || unsafe { libc::dup2(null.as_raw_fd(), fd) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(unsafe { std::fs::File::from_raw_fd(copy) })
    };
    let input = take(0)?;
    let output = take(1)?;
    Ok((input, output))
}

/// Carry out a request whose token was checked and whose topology (if it
/// names one) the token may touch; every field that reaches the system
/// goes through `confine` first.
fn answer(
    request: Request,
    topology: Option<TopologyName>,
    ovsdb: &str,
    sent: &(dyn Fn(&Answer) -> bool + Sync),
    refuse: &dyn Fn(&str, String),
) {
    let send = |a: &Answer| {
        sent(a);
    };
    match (request, topology) {
        (Request::Facts, _) => send(&Answer::KernelDatapath(super::kernel_datapath())),
        (Request::Checkup { underlay }, _) => send(&Answer::Checkup(checkup::checkup(
            Some(ovsdb),
            Some(underlay),
        ))),
        (Request::HostFacts, _) => send(&Answer::HostFacts(HostFacts {
            kernel_datapath: super::kernel_datapath(),
            ovsdb: ovsdb.to_string(),
        })),
        (
            Request::Execute {
                target,
                steps,
                fail_at,
                ..
            },
            Some(t),
        ) => execute(&t, target, steps, fail_at, ovsdb, &send),
        (Request::Observe { targets, hint, .. }, Some(t)) => {
            let targets = targets
                .into_iter()
                .map(|ti| confine::target(&t, ti, ovsdb))
                .collect::<Result<Vec<_>, _>>()
                .and_then(|ts| confine::hint(&t, &hint).map(|()| ts));
            match targets {
                Ok(ts) => send(&Answer::Observed(observe::observe(t.as_str(), &ts, &hint))),
                Err(e) => refuse("observe", e.to_string()),
            }
        }
        (Request::Ping { pings, .. }, Some(t)) => {
            match pings
                .iter()
                .try_for_each(|(ns, _)| confine::netns(&t, ns).map(drop))
            {
                Ok(()) => send(&Answer::Pinged(ping::ping_all(&pings))),
                Err(e) => refuse("ping", e.to_string()),
            }
        }
        (
            Request::Listen {
                listeners, seconds, ..
            },
            Some(t),
        ) => listen(&t, &listeners, seconds, sent, refuse),
        (Request::Connect { connects, .. }, Some(t)) => connect(&t, &connects, &send, refuse),
        (Request::Addrs { netns, .. }, Some(t)) => {
            match netns
                .iter()
                .try_for_each(|ns| confine::netns(&t, ns).map(drop))
            {
                Ok(()) => send(&Answer::Addrs(
                    netns
                        .into_iter()
                        .map(|ns| nl::with_netlink(&ns, |n| n.addrs()).unwrap_or_default())
                        .collect(),
                )),
                Err(e) => refuse("read addresses", e.to_string()),
            }
        }
        (Request::Echo { echo, .. }, Some(t)) => match echo_request(&t, &echo) {
            Ok(()) => send(&Answer::Done(0)),
            Err(e) => refuse("echo", e),
        },
        (r @ (Request::Capture { .. } | Request::CaptureLink { .. }), Some(t)) => {
            capture_request(&t, r, ovsdb, sent, refuse)
        }
        (_, None) => refuse("read the request", "a request without its topology".into()),
    }
}

/// The real path's probe, from one of the topology's namespaces, once its
/// bounds are checked.
fn echo_request(t: &TopologyName, echo: &EchoProbe) -> Result<(), String> {
    confine::netns(t, &echo.netns).map_err(|e| e.to_string())?;
    if echo.ttl == 0 || !(1..=MAX_ECHO_WAIT).contains(&echo.wait) {
        return Err(format!(
            "refused: an echo has a TTL of 1 or more and waits 1..{MAX_ECHO_WAIT} s"
        ));
    }
    ping::ping_once(&echo.netns, echo.to, echo.size, echo.ttl, echo.wait)
}

/// A capture, once its bounds and its link are checked.
fn capture_request(
    t: &TopologyName,
    r: Request,
    ovsdb: &str,
    sent: &(dyn Fn(&Answer) -> bool + Sync),
    refuse: &dyn Fn(&str, String),
) {
    let (link, snaplen, seconds, count) = match r {
        Request::Capture {
            netns,
            device,
            snaplen,
            seconds,
            count,
            ..
        } => (HostLink::Nic { netns, device }, snaplen, seconds, count),
        Request::CaptureLink {
            link,
            snaplen,
            seconds,
            count,
            ..
        } => (link, snaplen, seconds, count),
        _ => return,
    };
    let checked = reading(snaplen, seconds, count)
        .and_then(|r| tap::confine(t, link, ovsdb).map(|tap| (r, tap)));
    match checked {
        Ok((r, tap)) => {
            capture(t, tap, r, sent, refuse);
            // SIGTERM or Ctrl-C came during captures: once the last one has
            // removed its mirror, the agent ends as the signal asked.
            if let (Some(sig), 0) = (lock::interrupted(), lock::waiting()) {
                std::process::exit(128 + sig);
            }
        }
        Err(e) => refuse("capture", e.to_string()),
    }
}

/// A capture's bounds, as the server's API takes them.
fn reading(snaplen: u32, seconds: u32, count: Option<u64>) -> Result<Reading, Refusal> {
    if !(1..=MAX_SNAPLEN).contains(&snaplen) || !(1..=MAX_CAPTURE_SECONDS).contains(&seconds) {
        return Err(Refusal(format!(
            "a capture keeps 1..{MAX_SNAPLEN} bytes a frame for 1..{MAX_CAPTURE_SECONDS} s"
        )));
    }
    Ok(Reading {
        snaplen: snaplen as usize,
        until: Some(Instant::now() + Duration::from_secs(seconds.into())),
        count,
        tick: Duration::from_secs(1),
        tunnel: None,
    })
}

/// Frames as they come, a tick each quiet second, then their count. A
/// signal ends it like a controller hanging up (a mirror is removed).
fn capture(
    t: &TopologyName,
    tap: Tap,
    mut r: Reading,
    send: &(dyn Fn(&Answer) -> bool + Sync),
    refuse: &dyn Fn(&str, String),
) {
    let _live = lock::Waiting::start();
    let socket = match Socket::open_tap(&tap, t.as_str()) {
        Ok(s) => s,
        Err(e) => return refuse("capture", format!("{} {}: {e}", tap.netns, tap.device)),
    };
    // Open: the controller knows before the first frame.
    if !send(&Answer::Tick) {
        return;
    }
    r.tunnel = tap.tunnel;
    let read = socket.read(&r, |f| {
        let a = match f {
            Some(f) => Answer::Frame {
                ts_ns: f.ts_ns,
                orig_len: f.orig_len,
                data: BASE64.encode(&f.data),
            },
            None => Answer::Tick,
        };
        lock::interrupted().is_none() && send(&a)
    });
    match read {
        Ok(n) => {
            send(&Answer::Done(n as usize));
        }
        Err(e) => refuse("capture", e.to_string()),
    }
}

/// Run one target's steps, each confined to the topology first: a request
/// with any step outside it is refused whole, before anything runs.
fn execute(
    t: &TopologyName,
    target: netloom_core::plan::TargetInfo,
    steps: Vec<Step>,
    fail_at: Option<String>,
    ovsdb: &str,
    send: &(dyn Fn(&Answer) + Sync),
) {
    let target = match confine::target(t, target, ovsdb) {
        Ok(ti) => ti,
        Err(e) => {
            return send(&Answer::Error {
                target: String::new(),
                step: "execute".into(),
                message: e.to_string(),
            })
        }
    };
    let tp = TargetPlan { target, steps };
    let refs: Vec<&Step> = tp.steps.iter().collect();
    let confined = match confine::steps(t, &refs) {
        Ok(c) => c,
        Err((step, e)) => {
            return send(&Answer::Error {
                target: tp.target.name.clone(),
                step,
                message: e.to_string(),
            })
        }
    };
    let progress = |e: &Event| send(&Answer::Event(e.clone()));
    match exec::run_target(t, &tp, &confined, &progress, fail_at.as_deref()) {
        Ok(n) => send(&Answer::Done(n)),
        Err(e) => send(&Answer::Error {
            target: e.target.clone(),
            step: e.step.clone(),
            message: e.source.to_string(),
        }),
    }
}

/// Listeners one request opens at most, and how long they stay open at most.
const MAX_LISTENERS: usize = 4096;
const MAX_LISTEN_SECONDS: u32 = 120;
/// Destinations one connection request probes at most (a sender is a
/// guest: there are at most `MAX_GUESTS` of them, each on a thread).
const MAX_CONNECTS: usize = 65_536;

/// `verify`'s listeners: all of them checked before any is opened; open
/// until `seconds` pass or the controller hangs up.
fn listen(
    t: &TopologyName,
    listeners: &[(String, u16)],
    seconds: u32,
    sent: &(dyn Fn(&Answer) -> bool + Sync),
    refuse: &dyn Fn(&str, String),
) {
    let checked = if listeners.len() > MAX_LISTENERS || !(1..=MAX_LISTEN_SECONDS).contains(&seconds)
    {
        Err(Refusal(format!(
            "at most {MAX_LISTENERS} listeners, open 1..{MAX_LISTEN_SECONDS} s"
        )))
    } else {
        listeners.iter().try_for_each(|(ns, port)| {
            confine::netns(t, ns)?;
            confine::port(*port).map(drop)
        })
    };
    if let Err(e) = checked {
        return refuse("listen", e.to_string());
    }
    let open: Vec<_> = listeners
        .iter()
        .map(|(ns, port)| probe::listen(ns, *port).map_err(|e| e.to_string()))
        .collect();
    let until = Instant::now() + Duration::from_secs(seconds.into());
    if !sent(&Answer::Listening(
        open.iter().map(|r| r.as_ref().err().cloned()).collect(),
    )) {
        return;
    }
    while Instant::now() < until {
        std::thread::sleep(LISTEN_TICK.min(until.saturating_duration_since(Instant::now())));
        // A controller that hung up: its listeners close now.
        if !sent(&Answer::Tick) {
            return;
        }
    }
    sent(&Answer::Done(open.iter().flatten().flatten().count()));
}

/// `verify`'s connection probes, all of them checked before any is made;
/// every sender's at once, as `verify` makes them on its own machine.
fn connect(
    t: &TopologyName,
    connects: &[(String, Vec<SocketAddrV4>)],
    send: &(dyn Fn(&Answer) + Sync),
    refuse: &dyn Fn(&str, String),
) {
    let dests: usize = connects.iter().map(|(_, d)| d.len()).sum();
    let checked = if connects.len() > MAX_GUESTS || dests > MAX_CONNECTS {
        Err(Refusal(format!(
            "at most {MAX_GUESTS} senders and {MAX_CONNECTS} connections a request"
        )))
    } else {
        connects.iter().try_for_each(|(ns, dests)| {
            confine::netns(t, ns)?;
            dests
                .iter()
                .try_for_each(|d| confine::port(d.port()).map(drop))
        })
    };
    if let Err(e) = checked {
        return refuse("connect", e.to_string());
    }
    let outcomes = std::thread::scope(|sc| {
        let runs: Vec<_> = connects
            .iter()
            .map(|(ns, dests)| sc.spawn(move || probe::connect_all(ns, dests)))
            .collect();
        runs.into_iter()
            .map(|r| match r.join() {
                Ok(r) => r.map_err(|e| e.to_string()),
                Err(_) => Err("the probe failed".to_string()),
            })
            .collect()
    });
    send(&Answer::Connected(outcomes));
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn the_token_is_found_in_the_first_bytes_only_where_the_client_puts_it() {
        assert_eq!(leading_token(br#"{"token":"abc","#), Some("abc"));
        assert_eq!(leading_token(br#"{"request":"facts","token":"abc"}"#), None);
        assert_eq!(leading_token(br#"{"token":"abc"#), None);
        assert_eq!(leading_token(b""), None);
    }
}
