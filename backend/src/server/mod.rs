//! `netloom serve`: the browser app (Trunk's `dist`, static files) and its API.
//!
//! [`app`] builds the whole router from an [`AppState`]; tests drive it with
//! `tower::ServiceExt::oneshot`, `serve` puts it on a socket.
//!
//! - `GET /login?token=…` sets the session cookie ([`auth`]).
//! - `/api/*` needs the token; every error is a JSON `ErrorBody` ([`error`]).
//! - `/api/designs…`: designs stored in SQLite with revisions ([`designs`], [`store`]).
//! - `/api/plan`, `/api/status`, `/api/jobs…`: deploying, with progress over SSE ([`jobs`]).
//! - `/api/simulate`, `/api/reach`: the simulator ([`simulate`]).
//! - `/api/designs/{id}/capture`: a live capture on one link, as pcap ([`capture`]).
//! - `/api/openapi.json`: the OpenAPI document of all this ([`openapi`]).
//! - everything else: the static files of the app.
//!
//! Every answer carries [`security_headers`]: a Content-Security-Policy that
//! lets a page run only the app, no framing, no sniffing, no Referer; API
//! and login answers are never cached. A 304 carries no policy: the browser
//! keeps the one stored with what it revalidated.

pub mod auth;
mod capture;
mod designs;
pub mod error;
pub mod jobs;
mod openapi;
mod simulate;
pub mod store;

use std::path::{Path, PathBuf};

use axum::extract::DefaultBodyLimit;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{middleware, Json, Router};
use netloom_core::api::{Health, Validation};
use netloom_core::format::Refusal;
use netloom_core::limits::MAX_FILE_BYTES;
use netloom_core::Topology;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::services::{ServeDir, ServeFile};

use error::ApiError;
use store::Store;

/// Largest request body: a topology file at its size limit, JSON-escaped, plus room for the envelope.
pub const MAX_BODY_BYTES: usize = 2 * MAX_FILE_BYTES + 64 * 1024;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    /// The secret every API request must present.
    pub token: String,
    /// Served over TLS (sets `Secure` cookies and the expected Origin scheme).
    pub tls: bool,
    /// Trunk's output directory; `None` when the app is not built.
    pub dist: Option<PathBuf>,
    /// Deploy jobs, and which topologies are busy.
    pub jobs: jobs::Jobs,
}

/// The whole HTTP application.
pub fn app(state: AppState) -> Router {
    let api = Router::new()
        .route("/health", get(health))
        .route("/openapi.json", get(openapi::serve))
        .route("/validate", post(validate))
        .merge(designs::routes())
        .merge(jobs::routes())
        .merge(simulate::routes())
        .route("/designs/{id}/capture", get(capture::capture))
        .fallback(api_not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), auth::require));
    let router = Router::new()
        .nest("/api", api)
        .route("/login", get(auth::login))
        .with_state(state.clone());
    let router = match &state.dist {
        Some(dir) => router.fallback_service(
            ServeDir::new(dir).not_found_service(ServeFile::new(dir.join("index.html"))),
        ),
        None => router.fallback(not_built),
    };
    let dist = state.dist.clone();
    router
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(CatchPanicLayer::custom(panicked))
        .layer(middleware::from_fn(move |req: Request, next: Next| {
            security_headers(dist.clone(), req, next)
        }))
}

/// The canvas's own `<style>` (in the SVG, so an exported SVG looks the same).
const CANVAS_CSS: &str = include_str!("../../../frontend/src/canvas.css");

/// `'sha256-…'`: a CSP source allowing exactly this inline text.
fn csp_hash(text: &str) -> String {
    use base64::Engine;
    let d = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(d)
    )
}

/// The text of the inline `<script>`s of an HTML page (Trunk's loader of the wasm app).
fn inline_scripts(html: &str) -> Vec<&str> {
    html.split("<script")
        .skip(1)
        .filter_map(|rest| {
            let (tag, body) = rest.split_once('>')?;
            let (text, _) = body.split_once("</script>")?;
            (!tag.contains("src=")).then_some(text)
        })
        .collect()
}

/// The policy of the app's pages: its own scripts and wasm, the loader in
/// `index.html` and the canvas's style by hash (read each time: a rebuilt
/// app needs no restart), requests to this server only. No `unsafe-inline`.
/// Images also from `blob:`: Export PNG draws the page's own SVG, made in
/// the page, into a bitmap.
fn app_policy(dist: Option<&Path>) -> String {
    let index = dist
        .and_then(|d| std::fs::read_to_string(d.join("index.html")).ok())
        .unwrap_or_default();
    let scripts: String = inline_scripts(&index)
        .into_iter()
        .map(|s| format!(" {}", csp_hash(s)))
        .collect();
    format!(
        "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'{scripts}; style-src 'self' {}; \
         img-src 'self' blob:; connect-src 'self'; worker-src 'self'; base-uri 'none'; form-action 'none'; \
         frame-ancestors 'none'",
        csp_hash(CANVAS_CSS)
    )
}

/// The policy of everything but HTML pages and the worker (JSON, scripts, images): nothing runs.
const NOTHING_POLICY: &str =
    "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The app's web worker script (Trunk's loader of the `netloom-worker` binary,
/// `WORKER_SCRIPT` in frontend/src/work.rs). A worker runs under the policy
/// its script is served with, not the page's.
const WORKER_SCRIPT: &str = "/netloom-worker_loader.js";

/// The worker's policy: it loads its own script and wasm from this server
/// and talks to nothing else (its answers go to the page by `postMessage`).
const WORKER_POLICY: &str = "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; \
     connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// See the module doc. `/login` is no-store too: its URL holds the token.
/// Answers that have a policy already are left alone, so a layer around
/// [`app`] (serve's Host check) can add them to its own answers.
pub async fn security_headers(dist: Option<PathBuf>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let private = path == "/api" || path.starts_with("/api/") || path == "/login";
    let worker = path == WORKER_SCRIPT;
    let mut r = next.run(req).await;
    if r.headers().contains_key(header::CONTENT_SECURITY_POLICY) {
        return r;
    }
    // A 304 has no type to choose a policy by, and the browser would put the
    // policy it carries over the one stored with the page: a reloaded app
    // would then run nothing. It keeps the policy of the answer it stored.
    let fresh = r.status() != StatusCode::NOT_MODIFIED;
    let html = r
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    let policy = if html {
        HeaderValue::from_str(&app_policy(dist.as_deref()))
            .unwrap_or(HeaderValue::from_static(NOTHING_POLICY))
    } else if worker {
        HeaderValue::from_static(WORKER_POLICY)
    } else {
        HeaderValue::from_static(NOTHING_POLICY)
    };
    let h = r.headers_mut();
    if fresh {
        h.insert(header::CONTENT_SECURITY_POLICY, policy);
    }
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if private {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    r
}

/// A wire type as JSON through a `Value`: its keys sorted, as the answers
/// built by hand had them, so the bytes on the wire stay the same.
fn wire(v: &impl serde::Serialize) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or_default()
}

async fn health() -> Json<serde_json::Value> {
    Json(wire(&Health {
        ok: true,
        version: env!("CARGO_PKG_VERSION").into(),
    }))
}

/// The body of the endpoints that take a topology text alone.
#[derive(serde::Deserialize, schemars::JsonSchema)]
struct TextBody {
    /// A topology file (YAML or JSON).
    #[schemars(example = openapi::EXAMPLE_LAB)]
    text: String,
}

/// `POST /api/validate {text}` → `{problems: [...]}` (warnings included); 200
/// even when the topology is invalid, since finding problems is the purpose;
/// 413 when the text is over a limit (it was not read, so nothing was found).
async fn validate(
    body: Result<Json<TextBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Json(body) = body?;
    let problems = match loaded(body.text).await? {
        Ok(c) => c.warnings,
        Err(Refusal::Invalid(p)) => p,
        Err(over) => return Err(over.into()),
    };
    Ok(Json(wire(&Validation { problems })))
}

/// The topology of a request's text: 413 over a limit, 422 with every problem when invalid.
fn topology(text: &str) -> Result<Topology, ApiError> {
    Ok(netloom_core::format::try_load(text)?.topology)
}

/// `format::try_load` off the async workers: a text at the size limit takes
/// a while to parse and validate, and every other request would wait.
async fn loaded(
    text: String,
) -> Result<Result<netloom_core::validate::Checked, Refusal>, ApiError> {
    tokio::task::spawn_blocking(move || netloom_core::format::try_load(&text))
        .await
        .map_err(|e| ApiError::internal("reading the topology", e))
}

/// [`topology`], off the async workers ([`loaded`]).
async fn parsed(text: String) -> Result<Topology, ApiError> {
    Ok(loaded(text).await??.topology)
}

async fn api_not_found(uri: Uri) -> ApiError {
    ApiError::not_found(format!("no API endpoint {}", uri.path()))
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "",
        "this endpoint does not take that method",
    )
}

async fn not_built() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Html("<!doctype html><title>netloom</title><p>The web app is not built: run <code>trunk build --release</code> in the netloom source tree (or <code>make run</code>), or pass <code>--dist DIR</code>.</p>"),
    )
        .into_response()
}

fn panicked(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let mut r = ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "",
        "internal error in netloom serve (a bug: please report it)",
    )
    .into_response();
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    r
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::{Method, Request};
    use tower::ServiceExt;

    pub const TOKEN: &str = "t0ken";

    pub fn state() -> AppState {
        AppState {
            store: Store::in_memory(),
            token: TOKEN.into(),
            tls: false,
            dist: None,
            jobs: Default::default(),
        }
    }

    /// Send one request as the app in a browser would (token cookie, same origin).
    pub async fn call(
        app: &Router,
        method: Method,
        uri: &str,
        body: Option<serde_json::Value>,
    ) -> (StatusCode, serde_json::Value) {
        let mut req = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::HOST, "127.0.0.1:7310")
            .header(header::ORIGIN, "http://127.0.0.1:7310")
            .header(header::COOKIE, format!("{}={TOKEN}", auth::COOKIE));
        let body = match body {
            Some(v) => {
                req = req.header(header::CONTENT_TYPE, "application/json");
                Body::from(v.to_string())
            }
            None => Body::empty(),
        };
        send(app, req.body(body).unwrap()).await
    }

    /// A request as a script sends it: the token as a bearer, no cookie, no Origin.
    pub fn scripted(method: Method, uri: &str) -> axum::http::request::Builder {
        Request::builder()
            .method(method)
            .uri(uri)
            .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
    }

    pub async fn send(app: &Router, req: Request<Body>) -> (StatusCode, serde_json::Value) {
        let resp = app.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
        (status, json)
    }

    #[tokio::test]
    async fn api_needs_the_token() {
        let app = app(state());
        let req = Request::get("/api/designs").body(Body::empty()).unwrap();
        let (status, body) = send(&app, req).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(body["error"]["message"].as_str().unwrap().contains("token"));
        let req = scripted(Method::GET, "/api/health")
            .body(Body::empty())
            .unwrap();
        assert_eq!(send(&app, req).await.0, StatusCode::OK);
    }

    #[tokio::test]
    async fn writes_from_another_origin_are_refused() {
        let app = app(state());
        let req = scripted(Method::POST, "/api/validate")
            .header(header::HOST, "127.0.0.1:7310")
            .header(header::ORIGIN, "http://evil.example")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(r#"{"text":"version: 1"}"#))
            .unwrap();
        let (status, body) = send(&app, req).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(body["error"]["message"].is_string());
    }

    /// A GET carries no Origin, so a page on another port of this host could
    /// start a capture or an event stream with an <img>, the cookie going
    /// along (same site); its Sec-Fetch-Site gives it away.
    #[tokio::test]
    async fn streams_started_from_another_page_are_refused() {
        let app = app(state());
        let get = |uri: &str, site: Option<&str>| {
            let mut r = Request::get(uri)
                .header(header::HOST, "127.0.0.1:7310")
                .header(header::COOKIE, format!("{}={TOKEN}", auth::COOKIE));
            if let Some(site) = site {
                r = r.header("sec-fetch-site", site);
            }
            r.body(Body::empty()).unwrap()
        };
        for uri in ["/api/jobs/1/events", "/api/designs/1/capture?link=vm1"] {
            for site in ["same-site", "cross-site"] {
                let (status, body) = send(&app, get(uri, Some(site))).await;
                assert_eq!(status, StatusCode::FORBIDDEN, "{uri} {site}: {body}");
            }
            // The app's own, a typed URL, or a client that is no browser: on
            // to the handler (no such job or design here).
            for site in [Some("same-origin"), Some("none"), None] {
                let (status, body) = send(&app, get(uri, site)).await;
                assert_eq!(status, StatusCode::NOT_FOUND, "{uri} {site:?}: {body}");
            }
        }
    }

    #[tokio::test]
    async fn login_sets_the_cookie() {
        let app = app(state());
        let resp = app
            .clone()
            .oneshot(
                Request::get(format!("/login?token={TOKEN}"))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::SEE_OTHER);
        let cookie = resp.headers()[header::SET_COOKIE].to_str().unwrap();
        assert!(cookie.starts_with("netloom_token=t0ken;") && cookie.contains("HttpOnly"));
        let (status, _) = send(
            &app,
            Request::get("/login?token=nope")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }

    #[tokio::test]
    async fn bad_input_is_4xx_json() {
        let app = app(state());
        for (m, uri, body) in [
            (
                Method::POST,
                "/api/validate",
                Some(serde_json::json!({"txt": 1})),
            ),
            (Method::GET, "/api/nothing", None),
            (Method::DELETE, "/api/validate", None),
        ] {
            let (status, body) = call(&app, m, uri, body).await;
            assert!(status.is_client_error(), "{uri}: {status}");
            assert!(body["error"]["message"].is_string(), "{uri}: {body}");
        }
        let req = scripted(Method::POST, "/api/validate")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(vec![b' '; MAX_BODY_BYTES + 1]))
            .unwrap();
        let (status, body) = send(&app, req).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert!(body["error"]["message"].is_string());
    }

    /// Every endpoint that reads a topology refuses one over a limit with a
    /// 413 naming it, before any work, and stores nothing.
    #[tokio::test]
    async fn texts_over_a_limit_are_413_naming_it() {
        use netloom_core::limits::MAX_HOSTS;
        let app = app(state());
        let hosts: String = (0..=MAX_HOSTS)
            .map(|h| format!("  - name: h{h}\n"))
            .collect();
        let text = format!("version: 1\nname: big\nhosts:\n{hosts}");
        for (uri, body) in [
            ("/api/validate", serde_json::json!({"text": text})),
            (
                "/api/simulate",
                serde_json::json!({"text": text, "from": "vm1", "to": "vm2"}),
            ),
            ("/api/reach", serde_json::json!({"text": text})),
            ("/api/plan", serde_json::json!({"text": text})),
            (
                "/api/jobs",
                serde_json::json!({"action": "apply", "text": text}),
            ),
            (
                "/api/designs",
                serde_json::json!({"name": "big", "text": text}),
            ),
        ] {
            let (status, e) = call(&app, Method::POST, uri, Some(body)).await;
            assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{uri}: {e}");
            assert_eq!(e["error"]["path"], "hosts", "{uri}: {e}");
            assert_eq!(
                e["error"]["message"],
                format!("{} hosts; the limit is {MAX_HOSTS}", MAX_HOSTS + 1),
                "{uri}: {e}"
            );
        }
        let (_, list) = call(&app, Method::GET, "/api/designs", None).await;
        assert_eq!(list, serde_json::json!([]));
    }

    /// A dist directory `netloom-NAME-PID` with a page that loads `/app.js`
    /// by a module script, another script, and the worker's script.
    fn headers_dist(name: &str) -> std::path::PathBuf {
        let dist = std::env::temp_dir().join(format!("netloom-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dist).unwrap();
        std::fs::write(
            dist.join("index.html"),
            "<html><head><link rel=\"modulepreload\" href=\"/app.js\"><script type=\"module\">import init from '/app.js'; init();</script>\
             <script src=\"/other.js\"></script></head><body></body></html>",
        )
        .unwrap();
        std::fs::write(dist.join("app.js"), "export default function init() {}").unwrap();
        std::fs::write(
            dist.join(WORKER_SCRIPT.trim_start_matches('/')),
            "importScripts(\"./netloom-worker.js\");",
        )
        .unwrap();
        dist
    }

    #[tokio::test]
    async fn every_answer_carries_the_security_headers() {
        let dist = headers_dist("headers");
        let app = app(AppState {
            dist: Some(dist.clone()),
            ..state()
        });
        for (uri, auth, html, private) in [
            ("/", false, true, false),
            ("/", false, true, false),
            ("/some/page", false, true, false),
            ("/app.js", false, false, false),
            ("/api/health", true, false, true),
            ("/api/health", false, false, true),
            ("/api/nothing", true, false, true),
            ("/login?token=t0ken", false, false, true),
            ("/login?token=nope", false, false, true),
        ] {
            let req = match auth {
                true => scripted(Method::GET, uri),
                false => Request::get(uri),
            };
            let resp = app
                .clone()
                .oneshot(req.body(Body::empty()).unwrap())
                .await
                .unwrap();
            assert_security_headers(uri, resp.headers(), html, private);
        }
        let _ = std::fs::remove_dir_all(&dist);
    }

    /// The headers every answer to `uri` carries; a page's policy lets its
    /// loader script, the canvas style and the worker run (`html`), anything
    /// else's lets nothing run; a `private` answer is never cached.
    fn assert_security_headers(uri: &str, h: &header::HeaderMap, html: bool, private: bool) {
        let get = |name: header::HeaderName| {
            h.get(&name)
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_else(|| panic!("{uri}: no {name}"))
        };
        let csp = get(header::CONTENT_SECURITY_POLICY);
        assert!(csp.contains("frame-ancestors 'none'"), "{uri}: {csp}");
        assert!(csp.starts_with("default-src 'none';"), "{uri}: {csp}");
        assert!(
            !csp.contains("unsafe-inline") && !csp.contains('*'),
            "{uri}: {csp}"
        );
        assert_eq!(get(header::X_CONTENT_TYPE_OPTIONS), "nosniff", "{uri}");
        assert_eq!(get(header::REFERRER_POLICY), "no-referrer", "{uri}");
        assert_eq!(get(header::X_FRAME_OPTIONS), "DENY", "{uri}");
        if private {
            assert_eq!(get(header::CACHE_CONTROL), "no-store", "{uri}");
        }
        if html {
            // The loader script by its SHA-256 (computed apart: Python's hashlib).
            assert!(
                csp.contains("script-src 'self' 'wasm-unsafe-eval' 'sha256-WN3FHuG6vmV+0abH/qaNAU0XcODQuncbcPlsPt0rWSU=';"),
                "{uri}: {csp}"
            );
            assert!(
                csp.contains(&format!("style-src 'self' {};", csp_hash(CANVAS_CSS))),
                "{csp}"
            );
            assert!(csp.contains("connect-src 'self';"), "{csp}");
            assert!(csp.contains("worker-src 'self';"), "{csp}");
        } else {
            assert!(!csp.contains("script-src"), "{uri}: nothing runs: {csp}");
        }
    }

    /// The worker's script alone may run this server's scripts and wasm.
    #[tokio::test]
    async fn the_worker_script_may_run_scripts_and_wasm() {
        let dist = headers_dist("worker-headers");
        let app = app(AppState {
            dist: Some(dist.clone()),
            ..state()
        });
        let resp = app
            .oneshot(Request::get(WORKER_SCRIPT).body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let csp = resp.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .to_string();
        assert!(
            csp.starts_with("default-src 'none';")
                && csp.contains("script-src 'self' 'wasm-unsafe-eval';")
                && csp.contains("connect-src 'self';")
                && csp.contains("frame-ancestors 'none'")
                && !csp.contains("unsafe-inline")
                && !csp.contains('*'),
            "{csp}"
        );
        let _ = std::fs::remove_dir_all(&dist);
    }

    /// A reload asks with `If-Modified-Since`: the 304 must not carry a
    /// policy, which the browser would put over the page's (blank page).
    #[tokio::test]
    async fn a_not_modified_page_keeps_its_policy() {
        let dist = std::env::temp_dir().join(format!("netloom-304-{}", std::process::id()));
        std::fs::create_dir_all(&dist).unwrap();
        std::fs::write(dist.join("index.html"), "<html><body></body></html>").unwrap();
        let app = app(AppState {
            dist: Some(dist.clone()),
            ..state()
        });
        let get = |since: Option<String>| {
            let mut req = Request::get("/");
            if let Some(t) = since {
                req = req.header(header::IF_MODIFIED_SINCE, t);
            }
            app.clone().oneshot(req.body(Body::empty()).unwrap())
        };
        let first = get(None).await.unwrap();
        assert_eq!(first.status(), StatusCode::OK);
        assert!(first.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .contains("script-src 'self'"));
        let modified = first.headers()[header::LAST_MODIFIED]
            .to_str()
            .unwrap()
            .to_string();
        let again = get(Some(modified)).await.unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        assert!(
            !again
                .headers()
                .contains_key(header::CONTENT_SECURITY_POLICY),
            "{:?}",
            again.headers()
        );
        assert_eq!(again.headers()[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        let _ = std::fs::remove_dir_all(&dist);
    }

    /// `body` decodes into the wire type `T` and encodes back to the same
    /// JSON: no field of the answer is unknown to the browser's type, none renamed.
    #[track_caller]
    pub fn round_trips<T: serde::de::DeserializeOwned + serde::Serialize>(
        what: &str,
        body: &serde_json::Value,
    ) -> T {
        let typed: T =
            serde_json::from_value(body.clone()).unwrap_or_else(|e| panic!("{what}: {e}: {body}"));
        assert_eq!(&wire(&typed), body, "{what}");
        typed
    }

    #[tokio::test]
    async fn answers_decode_into_the_wire_types() {
        use netloom_core::api::*;
        let app = app(state());
        let seedlab = include_str!("../../../examples/seedlab-gre.yaml");
        let (_, b) = call(&app, Method::GET, "/api/health", None).await;
        round_trips::<Health>("health", &b);
        let (_, b) = call(
            &app,
            Method::POST,
            "/api/validate",
            Some(serde_json::json!({"text": "version: 1\nname: Bad\n"})),
        )
        .await;
        assert!(!round_trips::<Validation>("validate", &b)
            .problems
            .is_empty());
        let (status, b) = call(
            &app,
            Method::POST,
            "/api/designs",
            Some(serde_json::json!({"name": "lab", "text": seedlab})),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED);
        let info = round_trips::<DesignInfo>("create", &b);
        let uri = format!("/api/designs/{}", info.id);
        let (_, b) = call(&app, Method::GET, &uri, None).await;
        assert_eq!(round_trips::<Design>("open", &b).text, seedlab);
        let (_, b) = call(
            &app,
            Method::PUT,
            &uri,
            Some(serde_json::json!({"revision": 1, "name": "lab2"})),
        )
        .await;
        assert_eq!(round_trips::<DesignInfo>("save", &b).revision, 2);
        let (_, b) = call(&app, Method::GET, "/api/designs", None).await;
        assert_eq!(round_trips::<Vec<DesignInfo>>("list", &b).len(), 1);
        let (_, b) = call(
            &app,
            Method::POST,
            "/api/simulate",
            Some(serde_json::json!({"text": seedlab, "from": "vm1", "to": "vm3"})),
        )
        .await;
        round_trips::<netloom_core::trace::Trace>("simulate", &b);
        let (_, b) = call(
            &app,
            Method::POST,
            "/api/reach",
            Some(serde_json::json!({"text": seedlab})),
        )
        .await;
        round_trips::<netloom_core::reach::ReachReport>("reach", &b);
        let (status, b) = call(&app, Method::GET, "/api/nothing", None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        round_trips::<netloom_core::ErrorBody>("error", &b);
    }

    #[tokio::test]
    async fn validate_lists_problems() {
        let app = app(state());
        let text = "version: 1\nname: Bad\n";
        let (status, body) = call(
            &app,
            Method::POST,
            "/api/validate",
            Some(serde_json::json!({"text": text})),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["problems"][0]["path"], "name");
    }
}
