//! The controller's side: ask a configured agent ([`super::peers::Peer`]).
//!
//! Every answer is bounded: a line is at most [`MAX_ANSWER_LINE`] bytes, an
//! answer at most as many lines as the request can have (one per step, and
//! its end), and a request at most [`DEADLINE`] long.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpStream};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use ipnet::Ipv4Net;

use netloom_core::capture::HostLink;
use netloom_core::doctor::HostCheck;
use netloom_core::plan::{State, Step, TargetInfo, SYSTEM_OVSDB};

use super::peers::Peer;
use super::proto::{
    unknown_request, AgentError, Answer, EchoProbe, Envelope, HostFacts, Request, LISTEN_TICK,
};
use crate::host::capture::Frame;
use crate::host::probe::Connect;
use crate::host::ApplyError;
use crate::report::Progress;

/// Longest answer line (an observation of a large host is a few MB).
pub const MAX_ANSWER_LINE: u64 = 64 << 20;
/// Longest a request may take, a host's whole part of an apply included.
pub const DEADLINE: Duration = Duration::from_secs(900);
/// Frames one capture through an agent may bring at most.
const MAX_CAPTURE_LINES: u64 = 10_000_000;
/// Longest wait for one line.
const READ_TIMEOUT: Duration = Duration::from_secs(600);
/// Longest wait for an agent's TCP handshake: a host that drops it (down,
/// a wrong address, a firewall) would hold apply for the kernel's ~2 minutes
/// of SYN retries.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A connection, plain, TLS or an SSH session.
trait ReadWrite: io::Read + Write + Send {
    /// The request's answer was read whole (`buffered`: what was read past
    /// it): an SSH session may serve the next request; a socket just closes.
    fn answered(self: Box<Self>, _buffered: &[u8]) {}
}

impl ReadWrite for UnixStream {}
impl ReadWrite for TcpStream {}
impl ReadWrite for rustls::StreamOwned<rustls::ClientConnection, TcpStream> {}

impl ReadWrite for super::ssh::SshConn {
    fn answered(self: Box<Self>, buffered: &[u8]) {
        self.idle(buffered);
    }
}

/// A connection to an agent at `unix:PATH`, `tcp:HOST:PORT` or `http://HOST:PORT`
/// (plain TCP), or `https://HOST:PORT` (TLS, trusting the peer's certificate file).
fn connect(peer: &Peer) -> Result<Box<dyn ReadWrite>, AgentError> {
    let addr = &peer.addr;
    let io = |source| AgentError::Io {
        addr: addr.to_string(),
        source,
    };
    if let Some(dest) = netloom_core::ssh::parse(addr) {
        let dest = dest.map_err(|e| io(io::Error::new(io::ErrorKind::InvalidInput, e)))?;
        return Ok(Box::new(super::ssh::connect(&dest).map_err(io)?));
    }
    if let Some(p) = addr.strip_prefix("unix:") {
        let s = UnixStream::connect(p).map_err(io)?;
        s.set_read_timeout(Some(READ_TIMEOUT)).map_err(io)?;
        return Ok(Box::new(s));
    }
    let tls = addr.starts_with("https://");
    let hostport = addr
        .strip_prefix("tcp:")
        .or_else(|| addr.strip_prefix("https://"))
        .or_else(|| addr.strip_prefix("http://"))
        .unwrap_or(addr)
        .trim_end_matches('/');
    // Before connecting: a missing trust file is the user's to fix, not the network's.
    let cfg = match (tls, &peer.ca) {
        (false, _) => None,
        (true, None) => {
            return Err(io(io::Error::other(
                "an https agent needs the certificate (or CA) to trust in the agents file",
            )))
        }
        (true, Some(ca)) => {
            Some(crate::tls::client_config(ca).map_err(|e| io(io::Error::other(e)))?)
        }
    };
    let s = tcp_connect(hostport, CONNECT_TIMEOUT).map_err(io)?;
    s.set_read_timeout(Some(READ_TIMEOUT)).map_err(io)?;
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

/// `TcpStream::connect`, each address of `hostport` in turn, each for at
/// most `timeout`.
fn tcp_connect(hostport: &str, timeout: Duration) -> io::Result<TcpStream> {
    use std::net::ToSocketAddrs;
    let mut last = io::Error::new(io::ErrorKind::NotFound, format!("{hostport}: no address"));
    for a in hostport.to_socket_addrs()? {
        match TcpStream::connect_timeout(&a, timeout) {
            Ok(s) => return Ok(s),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Send `request`, hand each answer line to `on` until it returns false;
/// at most `max_lines` lines.
fn call(
    peer: &Peer,
    request: Request,
    max_lines: usize,
    mut on: impl FnMut(Answer) -> bool,
) -> Result<(), AgentError> {
    let addr = &peer.addr;
    let protocol = |message: String| AgentError::Protocol {
        addr: addr.to_string(),
        message,
    };
    let io = |source| AgentError::Io {
        addr: addr.to_string(),
        source,
    };
    let start = Instant::now();
    let mut conn = connect(peer)?;
    let line = serde_json::to_string(&Envelope {
        token: peer.token.clone(),
        request,
    })
    .unwrap_or_default();
    writeln!(conn, "{line}")
        .and_then(|()| conn.flush())
        .map_err(io)?;
    let mut reader = BufReader::new(conn);
    for _ in 0..max_lines {
        let mut l = Vec::new();
        let n = (&mut reader)
            .take(MAX_ANSWER_LINE)
            .read_until(b'\n', &mut l)
            .map_err(io)?;
        if n == 0 {
            return Err(protocol("connection closed before the answer".into()));
        }
        if l.last() != Some(&b'\n') && n as u64 == MAX_ANSWER_LINE {
            return Err(protocol(format!(
                "an answer line over {MAX_ANSWER_LINE} bytes"
            )));
        }
        let a: Answer = serde_json::from_slice(&l).map_err(|e| protocol(e.to_string()))?;
        // The agent's last line for this request (a one-line answer, or the end of a longer one).
        let last = max_lines == 1 || matches!(a, Answer::Done(_) | Answer::Error { .. });
        if !on(a) {
            if last {
                let buffered = reader.buffer().to_vec();
                reader.into_inner().answered(&buffered);
            }
            return Ok(());
        }
        if start.elapsed() > DEADLINE {
            return Err(protocol(format!(
                "no end of the answer in {} s",
                DEADLINE.as_secs()
            )));
        }
    }
    Err(protocol(format!("more than {max_lines} answer lines")))
}

/// Execute steps of one target on its agent, relaying its events.
pub fn execute(
    peer: &Peer,
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
    let r = call(peer, req, steps.len() + 1, |a| match a {
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
            let t = if t.is_empty() { target.name.clone() } else { t };
            result = Some(Err(ApplyError::other(t, step, message)));
            false
        }
        Answer::Observed(_)
        | Answer::KernelDatapath(_)
        | Answer::HostFacts(_)
        | Answer::Pinged(_)
        | Answer::Addrs(_)
        | Answer::Frame { .. }
        | Answer::Tick
        | Answer::Checkup(_)
        | Answer::Listening(_)
        | Answer::Connected(_) => true,
    });
    match (r, result) {
        (_, Some(res)) => res,
        (Err(e), None) => Err(ApplyError::other(&target.name, "reach the agent", e)),
        (Ok(()), None) => unreachable!("call returns Ok only after an answer"),
    }
}

/// Observe a host through its agent.
pub fn observe(
    peer: &Peer,
    topology: &str,
    targets: &[TargetInfo],
    hint: &State,
) -> Result<State, AgentError> {
    let req = Request::Observe {
        topology: topology.to_string(),
        targets: targets.to_vec(),
        hint: hint.clone(),
    };
    ask(peer, req, |a| match a {
        Answer::Observed(s) => Some(s),
        _ => None,
    })
}

/// One request, one answer: the answer `pick` accepts, or the agent's
/// error as a refusal.
fn ask<T>(peer: &Peer, req: Request, pick: impl Fn(Answer) -> Option<T>) -> Result<T, AgentError> {
    let mut out = None;
    let mut err = None;
    call(peer, req, 1, |a| match a {
        Answer::Error { message, .. } => {
            err = Some(message);
            false
        }
        a => {
            out = pick(a);
            false
        }
    })?;
    out.ok_or_else(|| AgentError::Refused {
        addr: peer.addr.clone(),
        message: err.unwrap_or_else(|| "an answer to another question".into()),
    })
}

/// Have an agent ping for its host's guests: `(namespace, address)` pairs,
/// answered in order.
pub fn ping(
    peer: &Peer,
    topology: &str,
    pings: &[(String, Ipv4Addr)],
) -> Result<Vec<bool>, AgentError> {
    let req = Request::Ping {
        topology: topology.to_string(),
        pings: pings.to_vec(),
    };
    let oks = ask(peer, req, |a| match a {
        Answer::Pinged(v) => Some(v),
        _ => None,
    })?;
    one_each(peer, oks, pings.len(), "pings")
}

/// An answer with one item per item asked (`what`), or a protocol error.
fn one_each<T>(peer: &Peer, v: Vec<T>, asked: usize, what: &str) -> Result<Vec<T>, AgentError> {
    if v.len() == asked {
        Ok(v)
    } else {
        Err(AgentError::Protocol {
            addr: peer.addr.clone(),
            message: format!("{} answers for {asked} {what}", v.len()),
        })
    }
}

/// The IPv4 addresses in each of these namespaces of an agent's host, in order.
pub fn addrs(
    peer: &Peer,
    topology: &str,
    netns: &[String],
) -> Result<Vec<Vec<(String, Ipv4Net)>>, AgentError> {
    let req = Request::Addrs {
        topology: topology.to_string(),
        netns: netns.to_vec(),
    };
    let v = ask(peer, req, |a| match a {
        Answer::Addrs(v) => Some(v),
        _ => None,
    })?;
    one_each(peer, v, netns.len(), "namespaces")
}

/// What a capture through an agent asks for (see `Request::CaptureLink`).
pub struct CaptureAsk<'a> {
    pub topology: &'a str,
    pub link: HostLink,
    pub snaplen: u32,
    pub seconds: u32,
    pub count: Option<u64>,
}

/// A capture on an agent's host: each frame to `on` until it returns false
/// (it is also asked, with no frame, each quiet second); the number of
/// frames. An agent older than `CaptureLink` is asked the old way for a
/// guest's nic, and said to be too old for the rest.
pub fn capture(
    peer: &Peer,
    ask: &CaptureAsk<'_>,
    mut on: impl FnMut(Option<Frame>) -> bool,
) -> Result<u64, AgentError> {
    let req = Request::CaptureLink {
        topology: ask.topology.to_string(),
        link: ask.link.clone(),
        snaplen: ask.snaplen,
        seconds: ask.seconds,
        count: ask.count,
    };
    match capture_as(peer, req, ask, &mut on) {
        Err(AgentError::Refused { addr, message }) if unknown_request(&message) => {
            let HostLink::Nic { netns, device } = &ask.link else {
                return Err(AgentError::Refused {
                    addr,
                    message: format!(
                        "this agent captures guests' nics only: update it to capture tunnels and bridges ({message})"
                    ),
                });
            };
            let old = Request::Capture {
                topology: ask.topology.to_string(),
                netns: netns.clone(),
                device: device.clone(),
                snaplen: ask.snaplen,
                seconds: ask.seconds,
                count: ask.count,
            };
            capture_as(peer, old, ask, &mut on)
        }
        r => r,
    }
}

fn capture_as(
    peer: &Peer,
    req: Request,
    ask: &CaptureAsk<'_>,
    on: &mut impl FnMut(Option<Frame>) -> bool,
) -> Result<u64, AgentError> {
    let refused = |message: String| AgentError::Refused {
        addr: peer.addr.clone(),
        message,
    };
    let (mut n, mut end) = (0, Ok(()));
    // A frame or a tick a second, for at most `seconds`, then the count.
    let lines =
        ask.count.unwrap_or(u64::MAX).min(MAX_CAPTURE_LINES) as usize + ask.seconds as usize + 1;
    call(peer, req, lines, |a| match a {
        Answer::Frame {
            ts_ns,
            orig_len,
            data,
        } => match BASE64.decode(data) {
            Ok(data) => {
                n += 1;
                on(Some(Frame {
                    data,
                    orig_len,
                    ts_ns,
                }))
            }
            Err(e) => {
                end = Err(refused(format!("a frame that is not base64: {e}")));
                false
            }
        },
        Answer::Tick => on(None),
        Answer::Error { message, .. } => {
            end = Err(refused(message));
            false
        }
        _ => false,
    })?;
    end.map(|()| n)
}

/// An agent's refusal of a request it does not know, said as an update to make.
fn too_old(e: AgentError) -> AgentError {
    match e {
        AgentError::Refused { addr, message } if unknown_request(&message) => AgentError::Refused {
            addr,
            message: format!("this agent makes no connection probes: update it ({message})"),
        },
        e => e,
    }
}

/// Listeners on an agent's host for `verify` (see `Request::Listen`):
/// `on` gets, once they are open, why each could not be (in order), then is
/// asked each [`LISTEN_TICK`] whether to keep them; they close when it says
/// no (the controller hangs up) or after `seconds`.
pub fn listen(
    peer: &Peer,
    topology: &str,
    listeners: &[(String, u16)],
    seconds: u32,
    mut on: impl FnMut(Option<Vec<Option<String>>>) -> bool,
) -> Result<(), AgentError> {
    let req = Request::Listen {
        topology: topology.to_string(),
        listeners: listeners.to_vec(),
        seconds,
    };
    let refused = |message: String| AgentError::Refused {
        addr: peer.addr.clone(),
        message,
    };
    let mut end = Err(refused("no answer about its listeners".into()));
    // Whether they opened, a tick each LISTEN_TICK for `seconds`, the end.
    let lines = (u128::from(seconds) * 1000 / LISTEN_TICK.as_millis()) as usize + 3;
    call(peer, req, lines, |a| match (a, &end) {
        (Answer::Listening(v), Err(_)) => {
            end = one_each(peer, v, listeners.len(), "listeners").map(|v| on(Some(v)));
            end.as_ref().is_ok_and(|&hold| hold)
        }
        (Answer::Tick, Ok(_)) => on(None),
        (Answer::Error { message, .. }, _) => {
            end = Err(refused(message));
            false
        }
        _ => false,
    })
    .and(end.map(drop))
    .map_err(too_old)
}

/// `verify`'s connection probes from an agent's host: per sender
/// namespace, the outcome of each of its destinations in order (or why it
/// made none).
pub fn connects(
    peer: &Peer,
    topology: &str,
    connects: &[(String, Vec<SocketAddrV4>)],
) -> Result<Vec<Result<Vec<Connect>, String>>, AgentError> {
    let req = Request::Connect {
        topology: topology.to_string(),
        connects: connects.to_vec(),
    };
    let v = ask(peer, req, |a| match a {
        Answer::Connected(v) => Some(v),
        _ => None,
    })
    .map_err(too_old)?;
    let v = one_each(peer, v, connects.len(), "senders")?;
    v.into_iter()
        .zip(connects)
        .map(|(r, (_, dests))| match r {
            Ok(c) => one_each(peer, c, dests.len(), "destinations").map(Ok),
            Err(e) => Ok(Err(e)),
        })
        .collect()
}

/// One echo request sent by an agent from one of its host's namespaces
/// (see `Request::Echo`).
pub fn echo(peer: &Peer, topology: &str, echo: EchoProbe) -> Result<(), AgentError> {
    let req = Request::Echo {
        topology: topology.to_string(),
        echo,
    };
    ask(peer, req, |a| match a {
        Answer::Done(_) => Some(()),
        _ => None,
    })
}

/// What an agent's host has, for `netloom doctor`.
pub fn checkup(peer: &Peer, underlay: Ipv4Addr) -> Result<HostCheck, AgentError> {
    ask(peer, Request::Checkup { underlay }, |a| match a {
        Answer::Checkup(c) => Some(c),
        _ => None,
    })
}

/// Ask an agent about its host. An agent older than `HostFacts` refuses it
/// as a bad request: then it is asked the old question, and its OVSDB is the system one.
pub fn host_facts(peer: &Peer) -> Result<HostFacts, AgentError> {
    let r = ask(peer, Request::HostFacts, |a| match a {
        Answer::HostFacts(f) => Some(f),
        _ => None,
    });
    match r {
        Err(AgentError::Refused { message, .. }) if unknown_request(&message) => {
            ask(peer, Request::Facts, |a| match a {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A listener whose queue is full drops new SYNs, as a host that is down
    /// or behind a firewall does: the connect gives up at its own timeout,
    /// not after the kernel's 2 minutes of SYN retries. On loopback.
    #[test]
    fn a_handshake_that_never_comes_gives_up_at_the_timeout() {
        use std::os::fd::AsRawFd;
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        // SAFETY: a valid listening socket; backlog 0 queues one connection.
        assert_eq!(unsafe { libc::listen(l.as_raw_fd(), 0) }, 0);
        let addr = l.local_addr().unwrap().to_string();
        // Never accepted: once the queue is full, later SYNs are dropped.
        let held: Vec<TcpStream> = (0..4)
            .filter_map(|_| tcp_connect(&addr, Duration::from_secs(1)).ok())
            .collect();
        assert!(!held.is_empty(), "the first is queued");
        let t0 = Instant::now();
        let e = tcp_connect(&addr, Duration::from_secs(1)).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut, "{e}");
        assert!(t0.elapsed() < Duration::from_secs(30), "{:?}", t0.elapsed());
    }
}
