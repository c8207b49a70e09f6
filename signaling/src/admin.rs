//! The operator's API under `/api`: what the operator does to rooms without being in them.
//!
//! Every request carries the deployment's admin key (`Authorization: Bearer HEX`), compared in
//! constant time; a server started without one answers 404 to all of `/api`. Answers are JSON;
//! refusals are `{"error": {"code": "...", "message": "..."}}` with a stable code.
//!
//! | route | what |
//! |---|---|
//! | `POST /api/rooms/{room}/revocations` | revoke `{"identity": ...}` or `{"token_id": ...}` in a room |

use axum::Json;
use axum::Router;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::{Deserialize, Serialize};
use serde_json::json;
use subtle::ConstantTimeEq;
use veil_proto::RoomName;

use crate::AppState;
use crate::rooms::Revoke;
use crate::token;

/// The admin routes, to nest under `/api`.
pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/rooms/{room}/revocations", post(revoke))
}

/// A refusal, as JSON with a stable code.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into() }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "error": { "code": self.code, "message": self.message } });
        (self.status, Json(body)).into_response()
    }
}

/// Checks the admin key. Without a configured key the admin API does not exist.
fn authorize(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(key) = state.admin_key() else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "this server has no admin API",
        ));
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .unwrap_or("");
    let expected = key.to_hex();
    if presented.as_bytes().ct_eq(expected.as_bytes()).into() {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "send the admin key as `Authorization: Bearer KEY` (it is in the data directory's \
             `admin_key` file)",
        ))
    }
}

fn room_name(room: String) -> Result<RoomName, ApiError> {
    RoomName::new(room)
        .map_err(|e| ApiError::new(StatusCode::NOT_FOUND, "unknown_room", e.to_string()))
}

/// What to revoke: exactly one of the two.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RevokeRequest {
    #[serde(default)]
    identity: Option<String>,
    #[serde(default)]
    token_id: Option<String>,
}

#[derive(Debug, Serialize)]
struct Revoked {
    /// Live participants (and lobby entries) disconnected by it.
    disconnected: usize,
}

async fn revoke(
    State(state): State<AppState>,
    Path(room): Path<String>,
    headers: HeaderMap,
    body: Result<Json<RevokeRequest>, JsonRejection>,
) -> Result<Json<Revoked>, ApiError> {
    authorize(&state, &headers)?;
    let room = room_name(room)?;
    let Json(request) =
        body.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_request", e.body_text()))?;
    let what = match (request.identity, request.token_id) {
        (Some(identity), None) if !identity.is_empty() => Revoke::Identity(identity),
        (None, Some(token_id)) if !token_id.is_empty() => Revoke::TokenId(token_id),
        _ => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_request",
                "name exactly one of `identity` and `token_id`",
            ));
        }
    };
    let disconnected = state
        .rooms()
        .revoke(&room, None, what, token::now_unix())
        .map_err(|r| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", r.message))?;
    tracing::info!(disconnected, "the operator revoked access to a room");
    Ok(Json(Revoked { disconnected }))
}
