//! The operator's admin API over real HTTP routing, beside real WebSocket participants: every
//! call works with the admin key and is refused without it, with a join token or with the
//! token-signing secret; malformed bodies get their stable codes; and what the operator does
//! reaches the participants and the media plane as a host's action would.

mod common;

use axum::body::{Body, to_bytes};
use axum::http::{Method, Request, StatusCode};
use common::{Client, Cmd, Server};
use serde_json::{Value, json};
use tower::ServiceExt;
use veil_proto::room::{Grants, Source};
use veil_signaling::app;

const ROOM: &str = "board-meeting";

/// One admin API request; `key` is the bearer token, if any.
async fn call(
    server: &Server,
    method: Method,
    path: &str,
    key: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = Request::builder().method(method).uri(path);
    if let Some(key) = key {
        request = request.header("authorization", format!("Bearer {key}"));
    }
    let body = match body {
        Some(body) => {
            request = request.header("content-type", "application/json");
            Body::from(body.to_string())
        }
        None => Body::empty(),
    };
    let response = app(server.state.clone()).oneshot(request.body(body).unwrap()).await.unwrap();
    let status = response.status();
    let bytes = to_bytes(response.into_body(), 1 << 16).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

/// A room with a host and a guest in it; returns them and the guest's participant id.
async fn meeting(server: &Server) -> (Client, Client, String) {
    let mut host = server.client().await;
    host.join(ROOM, &server.token_with(ROOM, Some("chair"), Grants::host())).await;
    let (guest, joined) = server.joined(ROOM, Some("member")).await;
    (host, guest, joined["participant_id"].as_str().unwrap().to_owned())
}

/// Reads until a message of type `ty`.
async fn until(c: &mut Client, ty: &str) -> Value {
    loop {
        let m = c.recv().await;
        if m["type"] == ty {
            return m;
        }
    }
}

#[tokio::test]
async fn every_call_needs_the_admin_key_and_nothing_else_opens_it() {
    let server = Server::start().await;
    let (_host, _guest, pid) = meeting(&server).await;
    let join_token = server.token(ROOM, Some("member"));
    let calls: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, "/api/rooms".into(), None),
        (Method::GET, format!("/api/rooms/{ROOM}"), None),
        (Method::PATCH, format!("/api/rooms/{ROOM}/policy"), Some(json!({"locked": true}))),
        (Method::POST, format!("/api/rooms/{ROOM}/end"), None),
        (Method::GET, format!("/api/rooms/{ROOM}/participants"), None),
        (Method::DELETE, format!("/api/rooms/{ROOM}/participants/{pid}"), None),
        (
            Method::POST,
            format!("/api/rooms/{ROOM}/participants/{pid}/mute"),
            Some(json!({"source": "camera"})),
        ),
        (
            Method::POST,
            format!("/api/rooms/{ROOM}/revocations"),
            Some(json!({"identity": "member"})),
        ),
    ];
    let api_secret = server.secret.to_hex();
    for (method, path, body) in &calls {
        for key in [None, Some(join_token.as_str()), Some(api_secret.as_str()), Some("00")] {
            let (status, e) = call(&server, method.clone(), path, key, body.clone()).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path} with {key:?}: {e}");
            assert_eq!(e["error"]["code"], "unauthorized");
        }
    }
    // Nothing happened: both are still in, the room unlocked.
    assert_eq!(server.state.participant_count(), 2);
    let key = server.admin_key.to_hex();
    let (status, room) =
        call(&server, Method::GET, &format!("/api/rooms/{ROOM}"), Some(&key), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(room["policy"]["locked"], false);
}

#[tokio::test]
async fn rooms_are_listed_by_opaque_id_and_counts_only() {
    let server = Server::start().await;
    let (_host, _guest, _) = meeting(&server).await;
    let key = server.admin_key.to_hex();
    let (status, list) = call(&server, Method::GET, "/api/rooms", Some(&key), None).await;
    assert_eq!(status, StatusCode::OK);
    let rooms = list["rooms"].as_array().unwrap();
    assert_eq!(rooms.len(), 1);
    let room = &rooms[0];
    assert_eq!(
        (room["participants"].as_u64(), room["hosts"].as_u64(), room["lobby"].as_u64()),
        (Some(2), Some(1), Some(0))
    );
    let id = room["id"].as_str().unwrap();
    assert!(id.starts_with("r_"), "{id}");
    assert!(!list.to_string().contains(ROOM), "the listing does not show room names: {list}");
    // The id works wherever a room is named, like the name itself.
    let (status, by_id) =
        call(&server, Method::GET, &format!("/api/rooms/{id}"), Some(&key), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(by_id["policy"]["max_participants"], 100);
    let (status, e) = call(&server, Method::GET, "/api/rooms/nobody-here", Some(&key), None).await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("unknown_room"))
    );
}

#[tokio::test]
async fn participants_are_listed_by_id_and_identity_never_by_name() {
    let server = Server::start().await;
    let (_host, _guest, pid) = meeting(&server).await;
    let key = server.admin_key.to_hex();
    let (status, people) =
        call(&server, Method::GET, &format!("/api/rooms/{ROOM}/participants"), Some(&key), None)
            .await;
    assert_eq!(status, StatusCode::OK);
    let list = people["participants"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    let member = list.iter().find(|p| p["participant_id"] == pid.as_str()).unwrap();
    assert_eq!(member["identity"], "member");
    assert_eq!(member["host"], false);
    assert!(member.get("name").is_none());
    assert_eq!(people["lobby"], json!([]));
}

#[tokio::test]
async fn the_operator_mutes_removes_changes_policy_and_ends_the_meeting() {
    let server = Server::start().await;
    let (mut host, mut guest, pid) = meeting(&server).await;
    let key = server.admin_key.to_hex();
    let session = server.plane.session_of(&pid).await;

    let (status, _) = call(
        &server,
        Method::POST,
        &format!("/api/rooms/{ROOM}/participants/{pid}/mute"),
        Some(&key),
        Some(json!({"source": "microphone"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(until(&mut guest, "mute_requested").await["source"], "microphone");
    let muted = Cmd::SetMuted { session, source: Source::Microphone, muted: true };
    server.plane.wait_for("muted at the SFU", |c| c == &muted).await;

    let (status, changed) = call(
        &server,
        Method::PATCH,
        &format!("/api/rooms/{ROOM}/policy"),
        Some(&key),
        Some(json!({"lobby": true, "chat_retention_secs": 60})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (changed["policy"]["lobby"].as_bool(), changed["policy"]["locked"].as_bool()),
        (Some(true), Some(false))
    );
    let told = until(&mut host, "policy_updated").await;
    assert_eq!(told["policy"]["chat_retention_secs"], 60);

    let (status, removed) = call(
        &server,
        Method::DELETE,
        &format!("/api/rooms/{ROOM}/participants/{pid}"),
        Some(&key),
        None,
    )
    .await;
    assert_eq!((status, removed["removed"].as_str()), (StatusCode::OK, Some(pid.as_str())));
    let e = until(&mut guest, "error").await;
    assert_eq!(e["code"], "removed");

    let (status, ended) =
        call(&server, Method::POST, &format!("/api/rooms/{ROOM}/end"), Some(&key), None).await;
    assert_eq!((status, ended["disconnected"].as_u64()), (StatusCode::OK, Some(1)));
    assert_eq!(until(&mut host, "error").await["code"], "meeting_ended");
}

#[tokio::test]
async fn malformed_and_impossible_requests_get_their_codes_and_change_nothing() {
    let server = Server::start().await;
    let (_host, _guest, pid) = meeting(&server).await;
    let key = server.admin_key.to_hex();
    let bad = [
        (
            Method::PATCH,
            format!("/api/rooms/{ROOM}/policy"),
            Some(json!({"lobby": "yes"})),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            Method::PATCH,
            format!("/api/rooms/{ROOM}/policy"),
            Some(json!({"colour": "red"})),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            Method::PATCH,
            format!("/api/rooms/{ROOM}/policy"),
            Some(json!({"max_participants": 0})),
            StatusCode::BAD_REQUEST,
            "invalid_policy",
        ),
        (
            Method::PATCH,
            format!("/api/rooms/{ROOM}/policy"),
            Some(json!({"chat_retention_secs": 1})),
            StatusCode::BAD_REQUEST,
            "invalid_policy",
        ),
        (
            Method::PATCH,
            format!("/api/rooms/{ROOM}/policy"),
            None,
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            Method::POST,
            format!("/api/rooms/{ROOM}/participants/{pid}/mute"),
            Some(json!({"source": "telepathy"})),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            Method::POST,
            format!("/api/rooms/{ROOM}/participants/p_0000000000000000/mute"),
            Some(json!({"source": "camera"})),
            StatusCode::NOT_FOUND,
            "unknown_participant",
        ),
        (
            Method::DELETE,
            format!("/api/rooms/{ROOM}/participants/..%2F..%2Fetc"),
            None,
            StatusCode::NOT_FOUND,
            "unknown_participant",
        ),
        (
            Method::POST,
            format!("/api/rooms/{ROOM}/revocations"),
            Some(json!({"identity": "a", "token_id": "b"})),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            Method::POST,
            format!("/api/rooms/{ROOM}/revocations"),
            Some(json!([1, 2])),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            Method::POST,
            "/api/rooms/Not%20A%20Room/revocations".into(),
            Some(json!({"identity": "a"})),
            StatusCode::NOT_FOUND,
            "unknown_room",
        ),
        (
            Method::POST,
            "/api/rooms/empty-room/end".into(),
            None,
            StatusCode::NOT_FOUND,
            "unknown_room",
        ),
    ];
    for (method, path, body, status, code) in bad {
        let (got, e) = call(&server, method.clone(), &path, Some(&key), body.clone()).await;
        assert_eq!(
            (got, e["error"]["code"].as_str()),
            (status, Some(code)),
            "{method} {path} {body:?}: {e}"
        );
        assert!(e["error"]["message"].as_str().is_some_and(|m| m.len() > 5), "{e}");
    }
    let (_, room) =
        call(&server, Method::GET, &format!("/api/rooms/{ROOM}"), Some(&key), None).await;
    assert_eq!(room["policy"]["lobby"], false);
    assert_eq!(room["participants"], 2);
    server.still_serves().await;
}
