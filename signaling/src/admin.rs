//! The operator's API under `/api`: what the operator does to rooms without being in them.
//!
//! Every request carries the deployment's admin key (`Authorization: Bearer HEX`), compared in
//! constant time; a join token, or the secret that signs them, is not it. A server started
//! without an admin key answers 404 to all of `/api`. Answers are JSON; refusals are
//! `{"error": {"code": "...", "message": "..."}}` with a stable code. Rooms are listed by
//! opaque id and counts only; wherever a path names a room, its id or its name will do. Nothing
//! here shows a display name: the server has none. docs/api.md has an example of every call.
//!
//! | route | what |
//! |---|---|
//! | `GET /api/rooms` | every room with somebody in it or its lobby: id and counts |
//! | `GET /api/rooms/{room}` | one room: counts and policy |
//! | `PATCH /api/rooms/{room}/policy` | change some of the room's policy |
//! | `POST /api/rooms/{room}/end` | end the meeting for everyone |
//! | `GET /api/rooms/{room}/participants` | who is in it and its lobby: ids and identities |
//! | `DELETE /api/rooms/{room}/participants/{id}` | remove a participant (its token cannot rejoin) |
//! | `POST /api/rooms/{room}/participants/{id}/mute` | turn off a participant's source |
//! | `POST /api/rooms/{room}/revocations` | revoke an identity or a token id in a room |

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use subtle::ConstantTimeEq;
use veil_proto::room::{RoomPolicy, ScreenSharePolicy, Source};
use veil_proto::signal::ErrorCode;
use veil_proto::{ParticipantId, RoomName};

use crate::audit::{AuditEvent, AuthFailure};
use crate::inbound::Refusal;
use crate::rooms::{Actor, Revoke};
use crate::{AppState, actions};

/// The admin routes, to nest under `/api`: every call goes to the audit log.
pub(crate) fn routes(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/rooms", get(list_rooms))
        .route("/rooms/{room}", get(show_room))
        .route("/rooms/{room}/policy", patch(change_policy))
        .route("/rooms/{room}/end", post(end_room))
        .route("/rooms/{room}/participants", get(list_participants))
        .route("/rooms/{room}/participants/{participant}", delete(remove_participant))
        .route("/rooms/{room}/participants/{participant}/mute", post(mute_participant))
        .route("/rooms/{room}/revocations", post(revoke))
        .layer(middleware::from_fn_with_state(state, audit_calls))
}

/// Records each call in the audit log: what was asked (method and path, never a body) and how
/// it ended, or that it came without the admin key.
async fn audit_calls(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let method = request.method().to_string();
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    let status = response.status().as_u16();
    let event = if response.status() == StatusCode::UNAUTHORIZED {
        AuditEvent::AuthFailed {
            what: AuthFailure::AdminUnauthorized,
            room: None,
            participant: None,
        }
    } else {
        AuditEvent::AdminCall { method, path, status }
    };
    state.audit().record(event);
    response
}

/// A refusal, as JSON with a stable code.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into() }
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    fn body(rejection: JsonRejection) -> Self {
        Self::bad_request(rejection.body_text())
    }
}

impl From<Refusal> for ApiError {
    /// The registry's refusals, as HTTP: who or what is not there is 404, a bad value 400.
    fn from(refusal: Refusal) -> Self {
        let status = match refusal.code {
            ErrorCode::UnknownRoom | ErrorCode::UnknownParticipant => StatusCode::NOT_FOUND,
            ErrorCode::BadMessage => StatusCode::BAD_REQUEST,
            _ => StatusCode::CONFLICT,
        };
        let code = match refusal.code {
            ErrorCode::BadMessage => "bad_request",
            other => other.as_str(),
        };
        Self::new(status, code, refusal.message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "error": { "code": self.code, "message": self.message } });
        (self.status, Json(body)).into_response()
    }
}

/// Checks the admin key. Without a configured key the admin API does not exist.
pub(crate) fn authorize(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
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

fn unknown_room() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "unknown_room",
        "no room by that id or name has anybody in it or its lobby",
    )
}

/// The live room a path names, by id or name.
fn live_room(state: &AppState, key: &str) -> Result<RoomName, ApiError> {
    state.rooms().resolve(key).ok_or_else(unknown_room)
}

/// A room name for a revocation, which may name a room nobody is in yet.
fn any_room(state: &AppState, key: &str) -> Result<RoomName, ApiError> {
    if let Some(room) = state.rooms().resolve(key) {
        return Ok(room);
    }
    RoomName::new(key)
        .map_err(|e| ApiError::new(StatusCode::NOT_FOUND, "unknown_room", e.to_string()))
}

fn participant(id: String) -> Result<ParticipantId, ApiError> {
    let valid = id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if valid && !id.is_empty() {
        Ok(ParticipantId(id))
    } else {
        Err(ApiError::new(StatusCode::NOT_FOUND, "unknown_participant", "not a participant id"))
    }
}

async fn list_rooms(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    authorize(&state, &headers)?;
    Ok(Json(json!({ "rooms": state.rooms().summaries() })))
}

async fn show_room(
    State(state): State<AppState>,
    Path(room): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    authorize(&state, &headers)?;
    let room = live_room(&state, &room)?;
    let detail = state.rooms().detail(&room).ok_or_else(unknown_room)?;
    Ok(Json(serde_json::to_value(detail).unwrap_or(Value::Null)))
}

/// A change to some of a room's policy: what is left out stays as it is.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyChange {
    lobby: Option<bool>,
    locked: Option<bool>,
    max_participants: Option<u32>,
    screen_share: Option<ScreenSharePolicy>,
    chat_retention_secs: Option<u32>,
    server_speaker_detection: Option<bool>,
}

impl PolicyChange {
    fn apply(self, mut policy: RoomPolicy) -> RoomPolicy {
        policy.lobby = self.lobby.unwrap_or(policy.lobby);
        policy.locked = self.locked.unwrap_or(policy.locked);
        policy.max_participants = self.max_participants.unwrap_or(policy.max_participants);
        policy.screen_share = self.screen_share.unwrap_or(policy.screen_share);
        policy.chat_retention_secs = self.chat_retention_secs.unwrap_or(policy.chat_retention_secs);
        policy.server_speaker_detection =
            self.server_speaker_detection.unwrap_or(policy.server_speaker_detection);
        policy
    }
}

async fn change_policy(
    State(state): State<AppState>,
    Path(room): Path<String>,
    headers: HeaderMap,
    body: Result<Json<PolicyChange>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    authorize(&state, &headers)?;
    let room = live_room(&state, &room)?;
    let Json(change) = body.map_err(ApiError::body)?;
    let current = state.rooms().detail(&room).map(|d| d.policy).ok_or_else(unknown_room)?;
    let policy = change.apply(current);
    policy.validate().map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_policy", e))?;
    actions::set_policy(&state, &room, Actor::Operator, policy.clone())?;
    Ok(Json(json!({ "policy": policy })))
}

#[derive(Debug, Serialize)]
struct Disconnected {
    /// Live participants (and lobby entries) disconnected.
    disconnected: usize,
}

async fn end_room(
    State(state): State<AppState>,
    Path(room): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Disconnected>, ApiError> {
    authorize(&state, &headers)?;
    let room = live_room(&state, &room)?;
    let disconnected = actions::end_meeting(&state, &room, Actor::Operator)?;
    Ok(Json(Disconnected { disconnected }))
}

async fn list_participants(
    State(state): State<AppState>,
    Path(room): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    authorize(&state, &headers)?;
    let room = live_room(&state, &room)?;
    let detail = state.rooms().detail(&room).ok_or_else(unknown_room)?;
    let participants: Vec<Value> = detail
        .participants
        .iter()
        .map(|p| {
            json!({
                "participant_id": p.id,
                "identity": p.identity,
                "host": p.host,
                "microphone": p.microphone,
                "camera": p.camera,
                "screen": p.screen,
            })
        })
        .collect();
    let lobby: Vec<Value> = detail
        .waiting
        .iter()
        .map(|w| json!({ "participant_id": w.id, "identity": w.identity }))
        .collect();
    Ok(Json(json!({ "participants": participants, "lobby": lobby })))
}

async fn remove_participant(
    State(state): State<AppState>,
    Path((room, who)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    authorize(&state, &headers)?;
    let room = live_room(&state, &room)?;
    let who = participant(who)?;
    actions::remove(&state, &room, Actor::Operator, &who)?;
    Ok(Json(json!({ "removed": who })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MuteRequest {
    source: Source,
}

async fn mute_participant(
    State(state): State<AppState>,
    Path((room, who)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Json<MuteRequest>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    authorize(&state, &headers)?;
    let room = live_room(&state, &room)?;
    let who = participant(who)?;
    let Json(request) = body.map_err(ApiError::body)?;
    actions::mute(&state, &room, Actor::Operator, &who, request.source)?;
    Ok(Json(json!({ "muted": who, "source": request.source.grant() })))
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

async fn revoke(
    State(state): State<AppState>,
    Path(room): Path<String>,
    headers: HeaderMap,
    body: Result<Json<RevokeRequest>, JsonRejection>,
) -> Result<Json<Disconnected>, ApiError> {
    authorize(&state, &headers)?;
    let room = any_room(&state, &room)?;
    let Json(request) = body.map_err(ApiError::body)?;
    let what = match (request.identity, request.token_id) {
        (Some(identity), None) if !identity.is_empty() => Revoke::Identity(identity),
        (None, Some(token_id)) if !token_id.is_empty() => Revoke::TokenId(token_id),
        _ => return Err(ApiError::bad_request("name exactly one of `identity` and `token_id`")),
    };
    let disconnected = actions::revoke(&state, &room, Actor::Operator, what)?;
    tracing::info!(disconnected, "the operator revoked access to a room");
    Ok(Json(Disconnected { disconnected }))
}
