//! What a meeting leaves in the audit log, driven over real WebSockets and the real admin API:
//! joins and leaves with identities, lobby decisions, host and operator actions, policy
//! changes, revocations, admin calls and refused authentications, and never a token, a display
//! name or an address.

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use common::{Client, Server};
use serde_json::{Value, json};
use tower::ServiceExt;
use veil_proto::room::Grants;
use veil_signaling::app;
use veil_signaling::audit::{AuditEvent, AuthFailure, By, HostAction, LeaveReason};

const ROOM: &str = "audit-room";

async fn until(c: &mut Client, ty: &str) -> Value {
    loop {
        let m = c.recv().await;
        if m["type"] == ty {
            return m;
        }
    }
}

async fn admin(
    server: &Server,
    method: Method,
    path: &str,
    key: Option<&str>,
    body: Option<Value>,
) -> StatusCode {
    let mut request = Request::builder().method(method).uri(path);
    if let Some(key) = key {
        request = request.header("authorization", format!("Bearer {key}"));
    }
    let body = match body {
        Some(b) => {
            request = request.header("content-type", "application/json");
            Body::from(b.to_string())
        }
        None => Body::empty(),
    };
    app(server.state.clone()).oneshot(request.body(body).unwrap()).await.unwrap().status()
}

/// Waits until the log holds an event matching `pred`.
async fn logged(server: &Server, what: &str, pred: impl Fn(&AuditEvent) -> bool) -> AuditEvent {
    let deadline = tokio::time::Instant::now() + common::PATIENCE;
    loop {
        if let Some(e) = server.audit.events().into_iter().find(&pred) {
            return e;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not in the audit log: {what}\n{:#?}",
            server.audit.events()
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn a_meeting_leaves_its_security_events_and_nothing_else() {
    let server = Server::start().await;
    let host_token = server.token_with(ROOM, Some("chair"), Grants::host());
    let mut host = server.client().await;
    let hj = host.join(ROOM, &host_token).await;
    let host_id = hj["participant_id"].as_str().unwrap().to_owned();
    let guest_token = server.token(ROOM, Some("member"));
    let mut guest = server.client().await;
    let gj = guest.join(ROOM, &guest_token).await;
    let guest_id = gj["participant_id"].as_str().unwrap().to_owned();

    let joined = logged(
        &server,
        "the guest's join",
        |e| matches!(e, AuditEvent::Joined { identity, .. } if identity == "member"),
    )
    .await;
    let AuditEvent::Joined { host: is_host, token_id, .. } = joined else { unreachable!() };
    assert!(!is_host && token_id.is_some());
    logged(
        &server,
        "the host's join",
        |e| matches!(e, AuditEvent::Joined { identity, host: true, .. } if identity == "chair"),
    )
    .await;

    // A guest tries a host action: refused, and recorded as such.
    guest.send(json!({"v": 2, "type": "end_meeting"})).await;
    guest.expect_error("forbidden", false).await;
    logged(&server, "the refused host action", |e| {
        matches!(e, AuditEvent::AuthFailed { what: AuthFailure::Forbidden, participant: Some(p), .. } if p.0 == guest_id)
    })
    .await;

    // The host mutes, changes the policy, and a newcomer waits and is denied.
    host.send(json!({"v": 2, "type": "mute", "participant_id": guest_id, "source": "camera"}))
        .await;
    logged(&server, "the mute", |e| matches!(e, AuditEvent::HostAction { action: HostAction::Mute, by: By::Participant(p), .. } if p.0 == host_id)).await;
    host.send(
        json!({"v": 2, "type": "set_policy", "policy": {"lobby": true, "max_participants": 10}}),
    )
    .await;
    logged(
        &server,
        "the policy",
        |e| matches!(e, AuditEvent::PolicyChanged { policy, .. } if policy.lobby),
    )
    .await;
    let mut eve = server.client().await;
    eve.send_join(ROOM, &server.token(ROOM, Some("eve"))).await;
    eve.expect("lobby").await;
    let waiting = until(&mut host, "lobby_updated").await;
    let eve_id = waiting["waiting"][0]["id"].as_str().unwrap().to_owned();
    logged(
        &server,
        "eve in the lobby",
        |e| matches!(e, AuditEvent::Lobby { identity, .. } if identity == "eve"),
    )
    .await;
    host.send(json!({"v": 2, "type": "deny", "participant_id": eve_id})).await;
    logged(
        &server,
        "the denial",
        |e| matches!(e, AuditEvent::Denied { participant, .. } if participant.0 == eve_id),
    )
    .await;

    // The operator: one call without the key, then a revocation with it.
    let revocations = format!("/api/rooms/{ROOM}/revocations");
    assert_eq!(
        admin(&server, Method::GET, "/api/rooms", None, None).await,
        StatusCode::UNAUTHORIZED
    );
    logged(&server, "the unauthorised admin call", |e| {
        matches!(e, AuditEvent::AuthFailed { what: AuthFailure::AdminUnauthorized, .. })
    })
    .await;
    let key = server.admin_key.to_hex();
    let status =
        admin(&server, Method::POST, &revocations, Some(&key), Some(json!({"identity": "member"})))
            .await;
    assert_eq!(status, StatusCode::OK);
    logged(&server, "the revocation", |e| matches!(e, AuditEvent::Revoked { by: By::Operator, identity: Some(i), .. } if i == "member")).await;
    logged(
        &server,
        "the admin call",
        |e| matches!(e, AuditEvent::AdminCall { method, status: 200, .. } if method == "POST"),
    )
    .await;
    logged(&server, "the guest's leave", |e| {
        matches!(e, AuditEvent::Left { participant, reason: LeaveReason::Revoked, .. } if participant.0 == guest_id)
    })
    .await;

    // Refused joins: a forged token, a token for another room, and the revoked identity again.
    let mut forged = server.client().await;
    forged.send_join(ROOM, "e30.e30.AAAA").await;
    forged.expect_error("invalid_token", true).await;
    let mut elsewhere = server.client().await;
    elsewhere.send_join(ROOM, &server.token("another-room", Some("x"))).await;
    elsewhere.expect_error("wrong_room", true).await;
    let mut again = server.client().await;
    again.send_join(ROOM, &server.token(ROOM, Some("member"))).await;
    again.expect_error("revoked", true).await;
    for what in [AuthFailure::InvalidToken, AuthFailure::WrongRoom, AuthFailure::Revoked] {
        logged(
            &server,
            "a refused join",
            |e| matches!(e, AuditEvent::AuthFailed { what: w, .. } if *w == what),
        )
        .await;
    }

    host.send(json!({"v": 2, "type": "leave"})).await;
    logged(&server, "the host's leave", |e| matches!(e, AuditEvent::Left { reason: LeaveReason::Left, participant, .. } if participant.0 == host_id)).await;

    // Nothing that must not be there: no token, no key, no address.
    let all = serde_json::to_string(&server.audit.events()).unwrap();
    for secret in [&host_token, &guest_token, &key, &server.secret.to_hex()] {
        assert!(!all.contains(secret.as_str()), "a secret in the audit log");
    }
    assert!(!all.contains("127.0.0.1"), "an address in the audit log: {all}");
}
