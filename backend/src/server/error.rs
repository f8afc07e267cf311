//! The one error type of the API: every failure becomes a status code and an
//! [`ErrorBody`] `{"error": {"path", "message"}}`, so the browser and scripts
//! decode every answer alike.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use netloom_core::format::Refusal;
use netloom_core::{ErrorBody, Problem};

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: ErrorBody,
}

impl ApiError {
    pub fn new(status: StatusCode, path: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError {
            status,
            body: ErrorBody::new(path, message),
        }
    }

    pub fn bad_request(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, path, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "", message)
    }

    /// 422: the request was well formed but the topology has problems.
    pub fn problems(problems: Vec<Problem>) -> Self {
        ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            body: ErrorBody::from_problems(problems),
        }
    }

    /// 413: over a budget (a limit of the input, a quota, a number of pairs);
    /// the message names the limit.
    pub fn over_limit(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, path, message)
    }

    /// 429: the server already runs as many of these as it allows at once.
    pub fn busy(message: impl Into<String>) -> Self {
        Self::new(StatusCode::TOO_MANY_REQUESTS, "", message)
    }

    /// A server-side failure (database, IO): logged in full, reported briefly.
    pub fn internal(context: &str, err: impl std::fmt::Display) -> Self {
        eprintln!("netloom serve: {context}: {err}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "",
            format!("{context} failed on the server; see its log"),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}

/// A topology text over a limit is 413 naming it; an invalid one 422 with every problem.
impl From<Refusal> for ApiError {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::OverLimit(p) => Self::over_limit(p.path, p.message),
            Refusal::Invalid(problems) => Self::problems(problems),
        }
    }
}

impl From<axum::extract::rejection::JsonRejection> for ApiError {
    fn from(r: axum::extract::rejection::JsonRejection) -> Self {
        // serde's message names the field ("missing field `text` at line 1 column 2").
        ApiError::new(r.status(), "", r.body_text())
    }
}

impl From<axum::extract::rejection::PathRejection> for ApiError {
    fn from(r: axum::extract::rejection::PathRejection) -> Self {
        ApiError::new(r.status(), "", r.body_text())
    }
}

impl From<axum::extract::rejection::QueryRejection> for ApiError {
    fn from(r: axum::extract::rejection::QueryRejection) -> Self {
        ApiError::new(r.status(), "", r.body_text())
    }
}
