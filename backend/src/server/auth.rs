//! Access control, designed like Jupyter's: a random token printed in a login
//! URL. The login link sets an HttpOnly cookie; scripts send
//! `Authorization: Bearer <token>`. Every `/api` request needs one of them.
//! State-changing requests and event streams must also come from the app's
//! own origin, so another site open in the same browser cannot drive the API.

use axum::extract::{Query, Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::error::ApiError;
use super::AppState;

pub const COOKIE: &str = "netloom_token";

/// A new random token: 32 bytes from the kernel, hex.
pub fn random_token() -> std::io::Result<String> {
    use std::io::Read;
    let mut b = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut b)?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// Compare without leaking, through timing, how much of the token matched.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn presented(headers: &HeaderMap) -> Option<String> {
    if let Some(v) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        if let Some(t) = v.strip_prefix("Bearer ") {
            return Some(t.trim().to_string());
        }
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_string())
}

/// The Origin a browser sends for the app itself: the scheme plus the Host it asked for.
fn origin_ok(headers: &HeaderMap, tls: bool) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        // A browser sends no Origin on a plain GET (an <img> on a page of
        // another port of this host, whose cookie SameSite lets through),
        // but says where it came from in Sec-Fetch-Site ("none": the user
        // typed it). Other clients send neither; they still need the token.
        return headers
            .get("sec-fetch-site")
            .is_none_or(|s| s == "same-origin" || s == "none");
    };
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let scheme = if tls { "https" } else { "http" };
    match (origin.to_str(), host) {
        (Ok(o), Some(h)) => o == format!("{scheme}://{h}"),
        _ => false,
    }
}

/// Job events and live captures: long-lived answers another site must not start.
fn is_event_stream(req: &Request) -> bool {
    let path = req.uri().path();
    path.ends_with("/events") || path.ends_with("/capture")
}

/// Middleware on `/api`: token first, then Origin for writes and streams.
pub async fn require(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let ok = presented(req.headers()).is_some_and(|t| same(&t, &state.token));
    if !ok {
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            "",
            "missing or wrong token: open the login URL that `netloom serve` printed, or send `Authorization: Bearer <token>`",
        )
        .into_response();
    }
    let writes = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if (writes || is_event_stream(&req)) && !origin_ok(req.headers(), state.tls) {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "",
            "request from another origin refused: use the app served by netloom itself",
        )
        .into_response();
    }
    next.run(req).await
}

#[derive(Deserialize)]
pub struct Login {
    token: Option<String>,
}

/// `GET /login?token=...`: set the cookie and go to the app.
pub async fn login(
    State(state): State<AppState>,
    q: Result<Query<Login>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let token = q.ok().and_then(|Query(l)| l.token).unwrap_or_default();
    if !same(&token, &state.token) {
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            "token",
            "wrong or missing token: use the login URL that `netloom serve` printed",
        )
        .into_response();
    }
    let secure = if state.tls { "; Secure" } else { "" };
    let cookie = format!("{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/{secure}");
    ([(header::SET_COOKIE, cookie)], Redirect::to("/")).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_and_bearer_are_read() {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, "a=b; netloom_token=xyz".parse().unwrap());
        assert_eq!(presented(&h).as_deref(), Some("xyz"));
        h.insert(header::AUTHORIZATION, "Bearer tok".parse().unwrap());
        assert_eq!(presented(&h).as_deref(), Some("tok"));
    }

    #[test]
    fn origin_must_match_host() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, "127.0.0.1:7310".parse().unwrap());
        assert!(origin_ok(&h, false));
        h.insert(header::ORIGIN, "http://127.0.0.1:7310".parse().unwrap());
        assert!(origin_ok(&h, false));
        assert!(!origin_ok(&h, true));
        h.insert(header::ORIGIN, "http://evil.example".parse().unwrap());
        assert!(!origin_ok(&h, false));
    }

    #[test]
    fn tokens_are_random_hex() {
        let (a, b) = (random_token().unwrap(), random_token().unwrap());
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        assert!(same(&a, &a.clone()) && !same(&a, &b));
    }
}
