//! `GET /api/designs/{id}/capture?link=LINK[&seconds=S][&count=N][&snaplen=B]`:
//! a live capture on one link of a stored design that is applied on this
//! machine, streamed as pcap (`curl ... | wireshark -k -i -`; the browser
//! decodes it with `netloom_core::capture`).
//!
//! It ends after `seconds` (default 60, at most 600), after `count` packets,
//! when the link goes away (`destroy`), or when the client hangs up. A slow
//! reader loses packets rather than growing the server: at most
//! [`QUEUE`] packets wait; the rest are counted, and the count is logged.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use netloom_core::capture::{decode, pcap, Link, Tap};
use serde::Deserialize;
use tokio::sync::mpsc;

use super::designs::{blocking, parse_id};
use super::error::ApiError;
use super::jobs::{need_root, CaptureSlot};
use super::{topology, AppState};
use crate::host::capture::Socket;
use crate::host::netns;

/// Packets waiting for a slow reader before new ones are dropped.
pub const QUEUE: usize = 1024;
const DEFAULT_SECONDS: u32 = 60;
const MAX_SECONDS: u32 = 600;
const MAX_SNAPLEN: u32 = 262_144;
/// How often a quiet capture checks its deadline and its reader.
const TICK: Duration = Duration::from_millis(200);

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct CaptureQuery {
    /// `vm1:eth0`, `node1/r1:outside`, `tunnels[0]` or `node1/br-in`.
    link: String,
    /// Stop after this many seconds (1..600, default 60).
    seconds: Option<u32>,
    /// Stop after this many packets.
    count: Option<u64>,
    /// Bytes kept of each packet (1..262144, default all).
    snaplen: Option<u32>,
}

pub(super) async fn capture(
    State(s): State<AppState>,
    id: Result<Path<String>, PathRejection>,
    q: Result<Query<CaptureQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let id = parse_id(id)?;
    let Query(q) = q.map_err(|e| ApiError::bad_request("", e.body_text()))?;
    let (seconds, snaplen) = limits(&q)?;
    let design = blocking(&s.store, move |st| st.get(id)).await?;
    let topo = topology(&design.text)?;
    let link = Link::parse(&topo, &q.link).map_err(|e| ApiError::bad_request("link", e))?;
    let host = &topo.hosts[link.host(&topo)];
    if host.agent.is_some() {
        return Err(ApiError::bad_request(
            "link",
            format!(
                "{} is reached through an agent: capture works on sandbox hosts so far",
                host.name
            ),
        ));
    }
    need_root()?;
    let tap = link.sandbox_tap(&topo);
    if !netns::path(&tap.netns).exists() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "",
            format!("{} is not applied: apply it first", topo.name),
        ));
    }
    let slot = s.jobs.capture_slot()?;
    let (t, name) = (tap.clone(), topo.name.clone());
    let socket = tokio::task::spawn_blocking(move || Socket::open_tap(&t, &name))
        .await
        .map_err(|e| ApiError::internal("the capture", e))?
        .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "link", e))?;
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(QUEUE);
    let _ = tx.try_send(pcap::file_header(snaplen).to_vec());
    let run = Run {
        label: format!("{} {}", topo.name, link.label(&topo)),
        tap,
        deadline: Instant::now() + Duration::from_secs(seconds.into()),
        count: q.count,
        snaplen: snaplen as usize,
    };
    tokio::task::spawn_blocking(move || run.pump(&socket, &tx, slot));
    let stream = futures::stream::poll_fn(move |cx| {
        rx.poll_recv(cx)
            .map(|b| b.map(Ok::<_, std::convert::Infallible>))
    });
    Ok(pcap_answer(&topo.name, &q.link, Body::from_stream(stream)))
}

/// The query's seconds and snap length, defaulted and checked.
fn limits(q: &CaptureQuery) -> Result<(u32, u32), ApiError> {
    let seconds = q.seconds.unwrap_or(DEFAULT_SECONDS);
    if !(1..=MAX_SECONDS).contains(&seconds) {
        let e = format!("{seconds} is outside 1..{MAX_SECONDS}");
        return Err(ApiError::bad_request("seconds", e));
    }
    let snaplen = q.snaplen.unwrap_or(MAX_SNAPLEN);
    if !(1..=MAX_SNAPLEN).contains(&snaplen) {
        let e = format!("{snaplen} is outside 1..{MAX_SNAPLEN}");
        return Err(ApiError::bad_request("snaplen", e));
    }
    Ok((seconds, snaplen))
}

/// A pcap download named after the topology and the link.
fn pcap_answer(topology: &str, link: &str, body: Body) -> Response {
    let link = link.replace(|c: char| !c.is_ascii_alphanumeric(), "_");
    let disposition = format!("attachment; filename=\"{topology}-{link}.pcap\"");
    let headers = [
        (
            header::CONTENT_TYPE,
            "application/vnd.tcpdump.pcap".to_string(),
        ),
        (header::CONTENT_DISPOSITION, disposition),
    ];
    (headers, body).into_response()
}

/// One capture's limits, for its thread.
struct Run {
    label: String,
    tap: Tap,
    deadline: Instant,
    count: Option<u64>,
    snaplen: usize,
}

impl Run {
    /// Reads until a limit, the link's end or the reader's; queues pcap records.
    fn pump(self, socket: &Socket, tx: &mpsc::Sender<Vec<u8>>, _slot: CaptureSlot) {
        let (mut sent, mut dropped) = (0u64, 0u64);
        while self.count.is_none_or(|c| sent < c) && !tx.is_closed() {
            let Some(left) = self.deadline.checked_duration_since(Instant::now()) else {
                break;
            };
            let frame = match socket.next(self.snaplen, left.min(TICK)) {
                Ok(Some(f)) => f,
                Ok(None) => continue,
                Err(e) => {
                    eprintln!("capture {}: ended: {e}", self.label);
                    break;
                }
            };
            if self
                .tap
                .tunnel
                .is_some_and(|t| !t.keeps(&decode(&frame.data)))
            {
                continue;
            }
            let rec = frame.record();
            match tx.try_send(rec) {
                Ok(()) => sent += 1,
                Err(mpsc::error::TrySendError::Full(_)) => dropped += 1,
                Err(mpsc::error::TrySendError::Closed(_)) => break,
            }
        }
        if dropped > 0 {
            eprintln!(
                "capture {}: {dropped} packets dropped: the reader was slow",
                self.label
            );
        }
    }
}
