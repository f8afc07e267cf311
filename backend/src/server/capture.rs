//! `GET /api/designs/{id}/capture?link=LINK[&seconds=S][&count=N][&snaplen=B]`:
//! a live capture on one link of a stored, applied design (on this machine,
//! or a guest's nic through its host's agent), streamed as pcap (`curl ... | wireshark -k -i -`; the browser
//! decodes it with `netloom_core::capture`).
//!
//! It ends after `seconds` (default 60, at most 600), after `count` packets,
//! when the link goes away (`destroy`), or when the client hangs up. A slow
//! reader loses packets rather than growing the server: at most
//! [`QUEUE`] packets wait; the rest are counted, and the count is logged.

use axum::body::Body;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use netloom_core::capture::{pcap, Link};
use netloom_core::Topology;
use serde::Deserialize;
use tokio::sync::{mpsc, oneshot};

use super::designs::{blocking, parse_id};
use super::error::ApiError;
use super::jobs::{need_root, Slot, Use};
use super::{parsed, AppState};
use crate::deploy::capture::{self, Limits};
use crate::host::netns;

/// Packets waiting for a slow reader before new ones are dropped.
pub const QUEUE: usize = 1024;
const DEFAULT_SECONDS: u32 = 60;
const MAX_SECONDS: u32 = 600;
const MAX_SNAPLEN: u32 = 262_144;

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
    let topo = parsed(design.text).await?;
    let link = Link::parse(&topo, &q.link).map_err(|e| ApiError::bad_request("link", e))?;
    need_root()?;
    let tap = link.sandbox_tap(&topo);
    let here = topo.hosts[link.host(&topo)].agent.is_none();
    if here && !netns::path(&tap.netns).exists() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "",
            format!("{} is not applied: apply it first", topo.name),
        ));
    }
    let slot = s.jobs.slot(Use::Capture)?;
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(QUEUE);
    let _ = tx.try_send(pcap::file_header(snaplen).to_vec());
    let limits = Limits {
        snaplen,
        seconds: Some(seconds.into()),
        count: q.count,
    };
    let (opened, is_open) = oneshot::channel();
    let name = topo.name.clone();
    let mut task =
        tokio::task::spawn_blocking(move || pump(&topo, link, &limits, &tx, opened, slot));
    // The answer starts once the capture is open: what is sent from then on is in it.
    tokio::select! {
        _ = is_open => {}
        ended = &mut task => {
            let e = ended.map_err(|e| ApiError::internal("the capture", e))?.err();
            let message = e.unwrap_or_else(|| "the capture ended before it began".into());
            return Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "link", message));
        }
    }
    let stream = futures::stream::poll_fn(move |cx| {
        rx.poll_recv(cx)
            .map(|b| b.map(Ok::<_, std::convert::Infallible>))
    });
    Ok(pcap_answer(&name, &q.link, Body::from_stream(stream)))
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

/// Runs the capture, queueing pcap records until a limit, the link's end or
/// the reader's; says when it is open.
fn pump(
    topo: &Topology,
    link: Link,
    limits: &Limits,
    tx: &mpsc::Sender<Vec<u8>>,
    opened: oneshot::Sender<()>,
    _slot: Slot,
) -> Result<(), String> {
    let (mut opened, mut dropped) = (Some(opened), 0u64);
    let r = capture::run(topo, link, limits, |frame| {
        if let Some(o) = opened.take() {
            let _ = o.send(());
        }
        match frame.map(|f| tx.try_send(f.record())) {
            Some(Err(mpsc::error::TrySendError::Full(_))) => dropped += 1,
            Some(Err(mpsc::error::TrySendError::Closed(_))) => return false,
            _ => {}
        }
        !tx.is_closed()
    });
    let label = format!("{} {}", topo.name, link.label(topo));
    if dropped > 0 {
        eprintln!("capture {label}: {dropped} packets dropped: the reader was slow");
    }
    r.map(drop)
        .inspect_err(|e| eprintln!("capture {label}: ended: {e}"))
}
