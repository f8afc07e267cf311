//! `/api/designs`: list, open, save, rename, delete stored designs.
//!
//! - `GET /designs` → `[{id, name, revision, updated}]`
//! - `POST /designs {name, text}` → 201 `{id, name, revision: 1, updated}`
//! - `GET /designs/{id}` → `{id, name, revision, updated, text}`
//! - `PUT /designs/{id} {revision, name?, text?}` → the new `{id, name, revision, updated}`;
//!   409 when `revision` is not the stored one (someone saved in between)
//! - `DELETE /designs/{id}` → 204
//!
//! A saved text must parse as a topology file (its shape), but may still have
//! problems: half-built designs are worth keeping.

use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use netloom_core::format::Refusal;
use serde::Deserialize;

use super::error::ApiError;
use super::store::{Design, DesignInfo, Store, StoreError};
use super::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/designs", get(list).post(create))
        .route("/designs/{id}", get(open).put(save).delete(remove))
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(_) => ApiError::not_found(e.to_string()),
            StoreError::Conflict { .. } => {
                ApiError::new(StatusCode::CONFLICT, "revision", e.to_string())
            }
            StoreError::Quota(_) => ApiError::over_limit("", e.to_string()),
            StoreError::Db(err) => ApiError::internal("the design database", err),
        }
    }
}

/// Run a store call off the async workers (SQLite blocks on the disk).
pub(super) async fn blocking<T: Send + 'static>(
    store: &Store,
    f: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, ApiError> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || f(&store))
        .await
        .map_err(|e| ApiError::internal("the design database", e))?
        .map_err(ApiError::from)
}

/// The id of the URL; a path that is not even UTF-8 is refused like any other bad id.
pub(super) fn parse_id(id: Result<Path<String>, PathRejection>) -> Result<i64, ApiError> {
    let Path(id) = id?;
    id.parse::<i64>()
        .map_err(|_| ApiError::not_found(format!("no design with id {id:?}: ids are numbers")))
}

fn check_name(name: &str) -> Result<(), ApiError> {
    let n = name.trim();
    if n.is_empty() || n.chars().count() > 100 || n.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "name",
            "a design name is 1 to 100 characters, without control characters",
        ));
    }
    Ok(())
}

fn check_text(text: &str) -> Result<(), ApiError> {
    netloom_core::format::try_parse(text)
        .map(|_| ())
        .map_err(|r| {
            let invalid = matches!(r, Refusal::Invalid(_));
            let mut e = ApiError::from(r);
            if invalid {
                e.body.error.message = format!(
                    "the design is not a topology file: {}",
                    e.body.error.message
                );
            }
            e
        })
}

async fn list(State(s): State<AppState>) -> Result<Json<Vec<DesignInfo>>, ApiError> {
    Ok(Json(blocking(&s.store, |st| st.list()).await?))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewDesign {
    name: String,
    text: String,
}

async fn create(
    State(s): State<AppState>,
    body: Result<Json<NewDesign>, JsonRejection>,
) -> Result<(StatusCode, Json<DesignInfo>), ApiError> {
    let Json(d) = body?;
    check_name(&d.name)?;
    check_text(&d.text)?;
    let info = blocking(&s.store, move |st| st.create(d.name.trim(), &d.text)).await?;
    Ok((StatusCode::CREATED, Json(info)))
}

async fn open(
    State(s): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<Design>, ApiError> {
    let id = parse_id(id)?;
    Ok(Json(blocking(&s.store, move |st| st.get(id)).await?))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Save {
    /// The revision this save is based on.
    revision: i64,
    name: Option<String>,
    text: Option<String>,
}

async fn save(
    State(s): State<AppState>,
    id: Result<Path<String>, PathRejection>,
    body: Result<Json<Save>, JsonRejection>,
) -> Result<Json<DesignInfo>, ApiError> {
    let id = parse_id(id)?;
    let Json(b) = body?;
    if let Some(n) = &b.name {
        check_name(n)?;
    }
    if let Some(t) = &b.text {
        check_text(t)?;
    }
    let info = blocking(&s.store, move |st| {
        st.update(
            id,
            b.revision,
            b.name.as_deref().map(str::trim),
            b.text.as_deref(),
        )
    })
    .await?;
    Ok(Json(info))
}

async fn remove(
    State(s): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let id = parse_id(id)?;
    blocking(&s.store, move |st| st.delete(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::super::app;
    use super::super::tests::{call, state};
    use axum::http::{Method, StatusCode};
    use serde_json::json;

    const LAB: &str = "version: 1\nname: lab\n";

    #[tokio::test]
    async fn saves_over_the_quota_are_413_and_change_nothing() {
        let mut st = state();
        st.store = st.store.with_quota(super::super::store::Quota {
            designs: 1,
            bytes: 1 << 20,
        });
        let app = app(st);
        let (status, d) = call(
            &app,
            Method::POST,
            "/api/designs",
            Some(json!({"name": "a", "text": LAB})),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{d}");
        let uri = format!("/api/designs/{}", d["id"]);
        let big = format!("{LAB}#{}\n", "x".repeat(1 << 20));
        for (method, at, body, limit) in [
            (
                Method::POST,
                "/api/designs",
                json!({"name": "b", "text": LAB}),
                "1 designs; the limit is 1".to_string(),
            ),
            (
                Method::PUT,
                uri.as_str(),
                json!({"revision": 1, "text": big}),
                format!("the limit is {}", 1 << 20),
            ),
        ] {
            let (status, e) = call(&app, method, at, Some(body)).await;
            assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{e}");
            assert!(
                e["error"]["message"].as_str().unwrap().contains(&limit),
                "{e}"
            );
        }
        let (_, kept) = call(&app, Method::GET, &uri, None).await;
        assert_eq!(
            (kept["revision"].as_i64(), kept["text"].as_str()),
            (Some(1), Some(LAB))
        );
        let (_, list) = call(&app, Method::GET, "/api/designs", None).await;
        assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    }

    #[tokio::test]
    async fn create_open_save_rename_delete() {
        let app = app(state());
        let (st, d) = call(
            &app,
            Method::POST,
            "/api/designs",
            Some(json!({"name": "My lab", "text": LAB})),
        )
        .await;
        assert_eq!(st, StatusCode::CREATED);
        let id = d["id"].as_i64().unwrap();
        let uri = format!("/api/designs/{id}");
        let (st, got) = call(&app, Method::GET, &uri, None).await;
        assert_eq!(
            (st, got["text"].as_str(), got["revision"].as_i64()),
            (StatusCode::OK, Some(LAB), Some(1))
        );

        let text2 = "version: 1\nname: lab2\n";
        let (st, saved) = call(
            &app,
            Method::PUT,
            &uri,
            Some(json!({"revision": 1, "text": text2})),
        )
        .await;
        assert_eq!((st, saved["revision"].as_i64()), (StatusCode::OK, Some(2)));

        // Another tab still holding revision 1 is refused, and nothing is lost.
        let (st, err) = call(
            &app,
            Method::PUT,
            &uri,
            Some(json!({"revision": 1, "text": LAB})),
        )
        .await;
        assert_eq!(st, StatusCode::CONFLICT);
        assert!(err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("saved elsewhere"));
        assert_eq!(call(&app, Method::GET, &uri, None).await.1["text"], text2);

        let (st, renamed) = call(
            &app,
            Method::PUT,
            &uri,
            Some(json!({"revision": 2, "name": "Other"})),
        )
        .await;
        assert_eq!(
            (st, renamed["name"].as_str()),
            (StatusCode::OK, Some("Other"))
        );
        let (_, list) = call(&app, Method::GET, "/api/designs", None).await;
        assert_eq!(list[0]["name"], "Other");

        assert_eq!(
            call(&app, Method::DELETE, &uri, None).await.0,
            StatusCode::NO_CONTENT
        );
        assert_eq!(
            call(&app, Method::GET, &uri, None).await.0,
            StatusCode::NOT_FOUND
        );
    }

    #[tokio::test]
    async fn invalid_input_is_refused_with_error_body() {
        let app = app(state());
        let cases = [
            (
                Method::POST,
                "/api/designs".to_string(),
                Some(json!({"name": "", "text": LAB})),
                StatusCode::BAD_REQUEST,
            ),
            (
                Method::POST,
                "/api/designs".to_string(),
                Some(json!({"name": "x", "text": "version: [1"})),
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            (
                Method::POST,
                "/api/designs".to_string(),
                Some(json!({"name": "x"})),
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            (
                Method::GET,
                "/api/designs/abc".to_string(),
                None,
                StatusCode::NOT_FOUND,
            ),
            (
                Method::GET,
                "/api/designs/99".to_string(),
                None,
                StatusCode::NOT_FOUND,
            ),
            (
                Method::PUT,
                "/api/designs/99".to_string(),
                Some(json!({"revision": 1})),
                StatusCode::NOT_FOUND,
            ),
            (
                Method::PUT,
                "/api/designs/1".to_string(),
                Some(json!({"text": LAB})),
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
        ];
        for (m, uri, body, want) in cases {
            let (st, err) = call(&app, m.clone(), &uri, body.clone()).await;
            assert_eq!(st, want, "{m} {uri} {body:?}: {err}");
            assert!(err["error"]["message"].is_string(), "{m} {uri}: {err}");
        }
    }
}
