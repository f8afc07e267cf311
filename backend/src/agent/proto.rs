//! The agent's wire protocol: one JSON request per connection, one line,
//! `{"token": T, "request": R}` (the token first: the agent reads it before
//! the rest), answered by JSON lines ([`Answer`]). `agent --stdio` (over
//! SSH) serves requests one after another, each answer followed by
//! [`STDIO_READY`].

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use netloom_core::capture::HostLink;
use netloom_core::plan::{State, Step, TargetInfo};

use crate::host::probe::Connect;
use crate::report::Event;

/// `agent --stdio`'s line once an answer is whole and it waits for the next
/// request (the SSH session's first line too, from the remote command).
pub const STDIO_READY: &str = "netloom-ready";

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
        /// Failure injection for tests (see `host::exec::fail_at`).
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
    /// What the agent's host has, for `netloom doctor` (its OVSDB's bridges,
    /// and the NIC holding `underlay`). Changes nothing.
    Checkup { underlay: Ipv4Addr },
    /// Capture on `device` inside `netns` (one of `topology`'s namespaces):
    /// `Frame`s as they come, a `Tick` each quiet second, then `Done` with
    /// the count. Ends after `seconds`, `count` frames, or when the
    /// controller hangs up.
    Capture {
        topology: String,
        netns: String,
        device: String,
        snaplen: u32,
        seconds: u32,
        count: Option<u64>,
    },
    /// `verify`'s listeners: a TCP port open in each namespace (all of them
    /// `topology`'s): `Listening` once they are, a `Tick` each
    /// [`LISTEN_TICK`], `Done` after `seconds`; closed then, or when the
    /// controller hangs up.
    Listen {
        topology: String,
        listeners: Vec<(String, u16)>,
        seconds: u32,
    },
    /// `verify`'s connection probes for the host's guests: from each
    /// namespace (all of them `topology`'s), a TCP handshake with each of
    /// its destinations.
    Connect {
        topology: String,
        connects: Vec<(String, Vec<SocketAddrV4>)>,
    },
    /// One echo request from one of `topology`'s namespaces, as the real
    /// path sends it (`ping -c 1`); answered `Done(0)` once it was sent and
    /// waited for. Agents older than this refuse it as a bad request.
    Echo { topology: String, echo: EchoProbe },
    /// Capture on a link of `topology` on the agent's host, as `Capture`
    /// answers: a guest's nic, a tunnel (on the underlay device holding its
    /// local address, only its own packets) or a whole bridge (through a
    /// mirror made for the capture and removed after it). The agent checks
    /// the link against its own OVSDB and devices. Agents older than this
    /// refuse it as a bad request.
    CaptureLink {
        topology: String,
        link: HostLink,
        snaplen: u32,
        seconds: u32,
        count: Option<u64>,
    },
}

/// How often a `Listen` says it is still open: a controller's hang-up
/// closes its listeners within two of these.
pub const LISTEN_TICK: Duration = Duration::from_millis(250);

impl Request {
    /// The topology a request is about (`None`: a question about the host).
    pub fn topology(&self) -> Option<&str> {
        match self {
            Request::Execute { topology, .. }
            | Request::Observe { topology, .. }
            | Request::Ping { topology, .. }
            | Request::Addrs { topology, .. }
            | Request::Capture { topology, .. }
            | Request::Listen { topology, .. }
            | Request::Connect { topology, .. }
            | Request::CaptureLink { topology, .. }
            | Request::Echo { topology, .. } => Some(topology),
            Request::Facts | Request::HostFacts | Request::Checkup { .. } => None,
        }
    }
}

/// One echo request: from namespace `netns` to `to`, an IPv4 packet of
/// `size` bytes with `ttl`, its answer waited for `wait` seconds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EchoProbe {
    pub netns: String,
    pub to: Ipv4Addr,
    pub size: u16,
    pub ttl: u8,
    pub wait: u32,
}

/// A request line. `token` stays the first field: the agent checks it
/// before it reads the (possibly large) rest.
#[derive(Debug, Serialize, Deserialize)]
pub struct Envelope {
    pub token: String,
    pub request: Request,
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
    /// Capture: one frame (`data` in base64).
    Frame {
        ts_ns: u64,
        orig_len: u32,
        data: String,
    },
    /// Capture: nothing came for a second; the controller may hang up.
    Tick,
    /// Checkup.
    Checkup(netloom_core::doctor::HostCheck),
    /// Listen: why each listener could not be opened (`None`: open, or
    /// something listens there already), in the request's order.
    Listening(Vec<Option<String>>),
    /// Connect: each sender's outcomes, one per destination in order, or
    /// why it made none; in the request's order.
    Connected(Vec<Result<Vec<Connect>, String>>),
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

/// How an agent refuses a request it cannot read.
pub fn bad_request(e: &serde_json::Error) -> String {
    format!("bad request: {e}")
}

/// True for an agent's refusal of a request it does not know (an older agent's).
pub fn unknown_request(message: &str) -> bool {
    message.starts_with("bad request: unknown variant")
}

#[cfg(test)]
mod tests {
    use super::*;
    use netloom_core::plan::SYSTEM_OVSDB;

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

    /// Verify's listen and connect requests and their answers, as the docs
    /// (docs/deploy.md, "Agents") spell them.
    #[test]
    fn listen_and_connect_read_as_documented() {
        let r: Request = serde_json::from_str(
            r#"{"listen":{"topology":"t","listeners":[["nl-t.h1.vm1",80]],"seconds":120}}"#,
        )
        .unwrap();
        assert!(
            matches!(r, Request::Listen { ref listeners, seconds: 120, .. }
            if listeners == &[("nl-t.h1.vm1".to_string(), 80)])
        );
        let r: Request = serde_json::from_str(
            r#"{"connect":{"topology":"t","connects":[["nl-t.h1.vm9",["198.51.100.2:8080"]]]}}"#,
        )
        .unwrap();
        assert_eq!(r.topology(), Some("t"));
        let a = Answer::Connected(vec![
            Ok(vec![Connect::Established(1.5), Connect::Refused]),
            Err("no namespace".into()),
        ]);
        let line = serde_json::to_string(&a).unwrap();
        assert_eq!(
            line,
            r#"{"connected":[{"Ok":[{"established":1.5},"refused"]},{"Err":"no namespace"}]}"#
        );
        assert_eq!(
            serde_json::to_string(&Answer::Listening(vec![None])).unwrap(),
            r#"{"listening":[null]}"#
        );
    }

    /// A capture of a tunnel or a bridge is a request of its own, which an
    /// agent older than it refuses as unknown (rather than reading a nic's
    /// fields into it); a nic's old request still reads.
    #[test]
    fn a_capture_of_a_link_is_a_request_older_agents_refuse() {
        let line = serde_json::to_string(&Request::CaptureLink {
            topology: "t".into(),
            link: HostLink::Bridge {
                bridge: "nl1234b0".into(),
            },
            snaplen: 100,
            seconds: 1,
            count: None,
        })
        .unwrap();
        assert_eq!(
            line,
            r#"{"capturelink":{"topology":"t","link":{"bridge":{"bridge":"nl1234b0"}},"snaplen":100,"seconds":1,"count":null}}"#
        );
        /// The requests of an agent that predates `CaptureLink`, as far as captures go.
        #[derive(Debug, Deserialize)]
        #[serde(rename_all = "lowercase")]
        #[allow(dead_code)]
        enum OldRequest {
            Capture(serde::de::IgnoredAny),
        }
        let refusal = serde_json::from_str::<OldRequest>(&line).unwrap_err();
        assert!(unknown_request(&bad_request(&refusal)), "{refusal}");
        let old = r#"{"capture":{"topology":"t","netns":"nl-t.h.vm1","device":"eth0","snaplen":100,"seconds":1,"count":1}}"#;
        assert!(matches!(
            serde_json::from_str::<Request>(old),
            Ok(Request::Capture { .. })
        ));
    }

    /// The agent reads the token before the rest: it must come first on the wire.
    #[test]
    fn the_token_comes_first() {
        let line = serde_json::to_string(&Envelope {
            token: "abc".into(),
            request: Request::Facts,
        })
        .unwrap();
        assert!(line.starts_with(r#"{"token":"abc","#), "{line}");
    }
}
