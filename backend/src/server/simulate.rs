//! The simulator over HTTP, for scripts and for clients without the wasm build.
//!
//! - `POST /api/simulate {text, from, to?, proto?, size?}` → the `Trace` of one
//!   probe, as `netloom simulate --json` prints it (`proto` defaults to icmp;
//!   `to` may be left out for dhcp). 200 whatever the probe's outcome.
//! - `POST /api/simulate/real {…the same}` → `{trace, real}`: the probe also
//!   sent for real on the applied design (a real host's part through its
//!   agent), frame by frame against the trace (`netloom simulate --real`);
//!   403 when the server is not root, 409 when the design is not applied.
//! - `POST /api/reach {text}` → the predicted reachability report, as `netloom
//!   reach --json`; 413 when it would hold more than
//!   [`netloom_core::limits::MAX_REACH_PAIRS`] pairs.
//!
//! An invalid topology is 422 with every problem; a probe that names no node,
//! an unknown protocol or a bad size is 400 with the field in `path`.

use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use netloom_core::api::RealPath;
use netloom_core::limits::MAX_REACH_PAIRS;
use netloom_core::sim::{simulate, Probe, Proto};
use netloom_core::Topology;
use serde::Deserialize;
use serde_json::Value;

use super::error::ApiError;
use super::{topology, wire, AppState, TextBody};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/simulate", post(simulate_one))
        .route("/simulate/real", post(simulate_real))
        .route("/reach", post(reach))
}

#[derive(Deserialize, schemars::JsonSchema)]
pub(super) struct SimulateBody {
    /// A topology file (YAML or JSON).
    #[schemars(example = super::openapi::EXAMPLE_LAB)]
    text: String,
    /// The sending node.
    #[schemars(example = &"vm1")]
    from: String,
    /// An address or a node; may be left out for `dhcp`.
    #[schemars(example = &"vm2")]
    to: Option<String>,
    /// `icmp` (the default), `arp`, `tcp:PORT`, `udp:PORT` or `dhcp`.
    #[serde(default = "icmp")]
    proto: String,
    size: Option<u16>,
    /// The request's TTL, 1..255 (default 64).
    ttl: Option<u16>,
}

fn icmp() -> String {
    "icmp".into()
}

/// The probe of a request, each mistake reported on its own field.
fn probe(topo: &Topology, b: &SimulateBody) -> Result<Probe, ApiError> {
    let proto: Proto = b
        .proto
        .parse()
        .map_err(|e: String| ApiError::bad_request("proto", e))?;
    topo.resolve_node(&b.from)
        .map_err(|e| ApiError::bad_request("from", e))?;
    let to = match (&b.to, proto) {
        (Some(t), _) => t.as_str(),
        (None, Proto::Dhcp) => "255.255.255.255",
        (None, _) => {
            return Err(ApiError::bad_request(
                "to",
                format!("`to` is required for {proto} probes"),
            ))
        }
    };
    let p = Probe::parse(topo, &b.from, to, &b.proto, b.size).map_err(|e| {
        // What is left to go wrong is the size or the destination.
        let field = if e.contains("size") { "size" } else { "to" };
        ApiError::bad_request(field, e)
    })?;
    p.with_ttl(b.ttl)
        .map_err(|e| ApiError::bad_request("ttl", e))
}

/// CPU-bound work off the async workers (a big lab's reach takes a while).
async fn compute(
    f: impl FnOnce() -> Result<Value, ApiError> + Send + 'static,
) -> Result<Json<Value>, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal("the simulator", e))?
        .map(Json)
}

fn to_json(v: impl serde::Serialize) -> Result<Value, ApiError> {
    serde_json::to_value(v).map_err(|e| ApiError::internal("the simulator's answer", e))
}

async fn simulate_one(
    body: Result<Json<SimulateBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(b) = body?;
    compute(move || {
        let topo = topology(&b.text)?;
        let p = probe(&topo, &b)?;
        to_json(simulate(&topo, &p))
    })
    .await
}

/// The trace, then the probe sent for real on the applied design
/// (`netloom simulate --real`): needs root, and the design applied.
async fn simulate_real(
    body: Result<Json<SimulateBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(b) = body?;
    super::jobs::need_root()?;
    // Parsing, the trace and the probes all block: none on the async workers.
    compute(move || {
        let topo = topology(&b.text)?;
        let p = probe(&topo, &b)?;
        let trace = simulate(&topo, &p);
        let real = crate::deploy::path::real_path(&topo, &p, &trace)
            .map_err(|e| ApiError::new(StatusCode::CONFLICT, "", e))?;
        Ok(wire(&RealPath { trace, real }))
    })
    .await
}

async fn reach(body: Result<Json<TextBody>, JsonRejection>) -> Result<Json<Value>, ApiError> {
    let Json(b) = body?;
    compute(move || {
        let topo = topology(&b.text)?;
        check_pairs(&topo)?;
        to_json(netloom_core::reach::reach(&topo))
    })
    .await
}

/// A report of `topo` (predicted, or measured by verify) stays within [`MAX_REACH_PAIRS`].
pub(super) fn check_pairs(topo: &Topology) -> Result<(), ApiError> {
    let pairs = netloom_core::reach::pairs(topo);
    if pairs > MAX_REACH_PAIRS {
        return Err(ApiError::over_limit(
            "",
            format!("the reachability report would hold {pairs} sender/address pairs; the limit is {MAX_REACH_PAIRS}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::tests::{call, state};
    use super::*;
    use axum::http::{Method, StatusCode};
    use serde_json::json;

    const SEEDLAB: &str = include_str!("../../../examples/seedlab-gre.yaml");

    #[tokio::test]
    async fn simulate_answers_a_trace() {
        let app = super::super::app(state());
        let (status, trace) = call(
            &app,
            Method::POST,
            "/api/simulate",
            Some(json!({"text": SEEDLAB, "from": "vm1", "to": "vm3"})),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{trace}");
        // The same trace the CLI prints with --json.
        let topo = topology(SEEDLAB).unwrap();
        let p = Probe::parse(&topo, "vm1", "vm3", "icmp", None).unwrap();
        assert_eq!(trace, to_json(simulate(&topo, &p)).unwrap());
        let (status, trace) = call(
            &app,
            Method::POST,
            "/api/simulate",
            Some(json!({"text": SEEDLAB, "from": "vm1", "to": "10.0.20.2", "proto": "udp:53", "size": 100})),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{trace}");
        assert_eq!(trace, {
            let p = Probe::parse(&topo, "vm1", "10.0.20.2", "udp:53", Some(100)).unwrap();
            to_json(simulate(&topo, &p)).unwrap()
        });
    }

    #[tokio::test]
    async fn user_errors_are_4xx_on_their_field() {
        let app = super::super::app(state());
        for (body, status, path) in [
            (
                json!({"text": SEEDLAB, "from": "nobody", "to": "vm3"}),
                400,
                "from",
            ),
            (
                json!({"text": SEEDLAB, "from": "vm1", "to": "vm3", "proto": "sctp"}),
                400,
                "proto",
            ),
            (
                json!({"text": SEEDLAB, "from": "vm1", "to": "nowhere"}),
                400,
                "to",
            ),
            (json!({"text": SEEDLAB, "from": "vm1"}), 400, "to"),
            (
                json!({"text": SEEDLAB, "from": "vm1", "to": "vm3", "size": 9000}),
                400,
                "size",
            ),
            (
                json!({"text": SEEDLAB, "from": "vm1", "to": "vm3", "proto": "arp", "size": 100}),
                400,
                "size",
            ),
            (
                json!({"text": "version: 1\nname: Bad\n", "from": "vm1", "to": "vm3"}),
                422,
                "name",
            ),
            (json!({"from": "vm1"}), 422, ""),
        ] {
            let (got, err) = call(&app, Method::POST, "/api/simulate", Some(body.clone())).await;
            assert_eq!(got.as_u16(), status, "{body}: {err}");
            assert_eq!(err["error"]["path"], path, "{body}: {err}");
            assert!(err["error"]["message"].is_string(), "{err}");
        }
    }

    #[tokio::test]
    async fn a_report_over_the_pair_limit_is_413() {
        // n vms with one address each: n * n pairs, just over the limit.
        let n = (MAX_REACH_PAIRS as f64).sqrt() as usize + 1;
        let vms: String = (0..n)
            .map(|i| {
                format!(
                    "      - {{name: v{i}, nics: [{{bridge: br, ip: 10.0.{}.{}/16}}]}}\n",
                    i / 250,
                    i % 250 + 1
                )
            })
            .collect();
        let text = format!(
            "version: 1\nname: wide\nhosts:\n  - name: node1\n    bridges: [{{name: br}}]\n    vms:\n{vms}"
        );
        let topo = topology(&text).unwrap();
        assert_eq!(netloom_core::reach::pairs(&topo), n * n);
        let app = super::super::app(state());
        let (status, e) = call(
            &app,
            Method::POST,
            "/api/reach",
            Some(json!({"text": text})),
        )
        .await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{e}");
        assert_eq!(
            e["error"]["message"],
            format!(
                "the reachability report would hold {} sender/address pairs; the limit is {MAX_REACH_PAIRS}",
                n * n
            )
        );
    }

    #[tokio::test]
    async fn reach_answers_the_report() {
        let app = super::super::app(state());
        let (status, report) = call(
            &app,
            Method::POST,
            "/api/reach",
            Some(json!({"text": SEEDLAB})),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{report}");
        let want = to_json(netloom_core::reach::reach(&topology(SEEDLAB).unwrap())).unwrap();
        assert_eq!(report, want);
        let (status, err) = call(
            &app,
            Method::POST,
            "/api/reach",
            Some(json!({"text": "x: ["})),
        )
        .await;
        assert!(status.is_client_error(), "{err}");
        assert!(err["error"]["message"].is_string(), "{err}");
    }
}
