//! Hosts and guests over real WebSockets: every host action allowed for a host and refused to
//! everybody else, the lobby, grants reaching the media plane, removal and revocation (by a
//! host and through the operator's admin API) refusing the same token on rejoin.

mod common;

use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode};
use common::{Client, Cmd, Server};
use serde_json::{Value, json};
use tower::ServiceExt;
use veil_proto::media::{MediaEvent, MediaGrants};
use veil_proto::room::{Grants, Source};
use veil_signaling::app;

const ROOM: &str = "clinic";

fn msg(ty: &str, fields: Value) -> Value {
    let mut m = json!({"v": 2, "type": ty});
    m.as_object_mut().unwrap().extend(fields.as_object().unwrap().clone());
    m
}

async fn host(server: &Server, name: &str) -> (Client, Value) {
    let mut c = server.client().await;
    let joined = c.join(ROOM, &server.token_with(ROOM, Some(name), Grants::host())).await;
    (c, joined)
}

fn id(joined: &Value) -> String {
    joined["participant_id"].as_str().unwrap().to_owned()
}

/// Reads until a message of type `ty` (skipping presence and MLS traffic).
async fn until(c: &mut Client, ty: &str) -> Value {
    loop {
        let m = c.recv().await;
        if m["type"] == ty {
            return m;
        }
    }
}

/// Reads until the fatal error `code` and the close that follows it.
async fn closed_with(c: &mut Client, code: &str) {
    let e = until(c, "error").await;
    assert_eq!((e["code"].as_str(), e["fatal"].as_bool()), (Some(code), Some(true)), "{e}");
    assert_eq!(c.expect_close().await, Some(1008));
}

/// A POST to the admin API, with `key` as the bearer token.
async fn admin(server: &Server, path: &str, key: Option<&str>, body: Value) -> (StatusCode, Value) {
    let mut request = Request::post(path).header("content-type", "application/json");
    if let Some(key) = key {
        request = request.header("authorization", format!("Bearer {key}"));
    }
    let request = request.body(Body::from(body.to_string())).unwrap();
    let response = app(server.state.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    let body = to_bytes(response.into_body(), 1 << 16).await.unwrap();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_non_host_gets_forbidden_for_every_host_action_and_nothing_happens() {
    let server = Server::start().await;
    let (mut h, hj) = host(&server, "dr-ada").await;
    let (mut g, _) = server.joined(ROOM, Some("patient")).await;
    let target = id(&hj);
    let actions = [
        msg("mute", json!({"participant_id": target, "source": "microphone"})),
        msg("remove", json!({"participant_id": target})),
        msg("revoke", json!({"identity": "dr-ada"})),
        msg(
            "set_policy",
            json!({"policy": {"lobby": true, "locked": true, "max_participants": 2}}),
        ),
        msg("end_meeting", json!({})),
        msg("admit", json!({"participant_id": "p_0000000000000000"})),
        msg("deny", json!({"participant_id": "p_0000000000000000"})),
    ];
    for action in actions {
        g.send(action.clone()).await;
        g.expect_error("forbidden", false).await;
    }
    g.ping_pong().await;
    // The host was neither muted, removed nor told anything; the room is as it was.
    h.expect("participant_joined").await;
    h.ping_pong().await;
    assert_eq!(server.state.participant_count(), 2);
    let (_late, late) = server.joined(ROOM, Some("late")).await;
    assert_eq!(late["policy"]["lobby"], false);
    assert_eq!(late["policy"]["locked"], false);
    assert!(!server.plane.commands().iter().any(|c| matches!(c, Cmd::SetMuted { .. })));
}

#[tokio::test]
async fn grants_reach_the_joined_message_and_the_media_plane() {
    let server = Server::start().await;
    let (_h, hj) = host(&server, "dr-ada").await;
    assert_eq!(hj["grants"]["host"], true);
    let viewer = Grants { publish: vec![], subscribe: true, ..Grants::default() };
    let mut v = server.client().await;
    let vj = v.join(ROOM, &server.token_with(ROOM, Some("viewer"), viewer)).await;
    assert_eq!(vj["grants"]["publish"], json!([]));
    let session = server.plane.session_of(&id(&vj)).await;
    let open = server
        .plane
        .commands()
        .into_iter()
        .find(|c| matches!(c, Cmd::Open { session: s, .. } if *s == session));
    let Some(Cmd::Open { grants, .. }) = open else { panic!() };
    assert_eq!(grants, MediaGrants { publish: vec![], subscribe: true, speaker_detection: false });
    // The participants list tells who hosts.
    assert_eq!(vj["participants"][0]["host"], true);

    // An offer the SFU refuses for its grants comes back as `not_allowed`, and the connection
    // goes on.
    server.plane.emit(
        session,
        MediaEvent::Refused { message: "this participant may not publish a camera".into() },
    );
    v.expect_error("not_allowed", false).await;
    v.ping_pong().await;
}

#[tokio::test]
async fn a_host_mutes_and_only_the_participant_unmutes() {
    let server = Server::start().await;
    let (mut h, _) = host(&server, "dr-ada").await;
    let (mut g, gj) = server.joined(ROOM, Some("patient")).await;
    let session = server.plane.session_of(&id(&gj)).await;
    g.send(msg("publish_state", json!({"microphone": true, "camera": true}))).await;
    until(&mut h, "participant_updated").await;

    h.send(msg("mute", json!({"participant_id": id(&gj), "source": "microphone"}))).await;
    assert_eq!(until(&mut g, "mute_requested").await["source"], "microphone");
    let seen = until(&mut h, "participant_updated").await;
    assert_eq!(seen["participant"]["microphone"], false);
    let muted = Cmd::SetMuted { session, source: Source::Microphone, muted: true };
    server.plane.wait_for("muted at the SFU", |c| c == &muted).await;

    g.send(msg("publish_state", json!({"microphone": true, "camera": true}))).await;
    let unmuted = Cmd::SetMuted { session, source: Source::Microphone, muted: false };
    server.plane.wait_for("unmuted at the SFU", |c| c == &unmuted).await;
    assert_eq!(until(&mut h, "participant_updated").await["participant"]["microphone"], true);
}

#[tokio::test]
async fn a_removed_participant_is_disconnected_and_its_token_cannot_rejoin() {
    let server = Server::start().await;
    let (mut h, _) = host(&server, "dr-ada").await;
    let token = server.token(ROOM, Some("patient"));
    let mut g = server.client().await;
    let gj = g.join(ROOM, &token).await;
    until(&mut h, "participant_joined").await;

    h.send(msg("remove", json!({"participant_id": id(&gj)}))).await;
    closed_with(&mut g, "removed").await;
    assert_eq!(until(&mut h, "participant_left").await["participant_id"], id(&gj).as_str());

    let mut again = server.client().await;
    again.send_join(ROOM, &token).await;
    closed_with(&mut again, "revoked").await;
    server.still_serves().await;
}

#[tokio::test]
async fn a_host_revokes_an_identity_and_every_token_for_it_is_refused() {
    let server = Server::start().await;
    let (mut h, _) = host(&server, "dr-ada").await;
    let (mut g, _) = server.joined(ROOM, Some("mallory")).await;
    h.send(msg("revoke", json!({"identity": "mallory"}))).await;
    closed_with(&mut g, "revoked").await;
    // A fresh token for the same identity is refused too, in this room only.
    let mut again = server.client().await;
    again.send_join(ROOM, &server.token(ROOM, Some("mallory"))).await;
    closed_with(&mut again, "revoked").await;
    let (_elsewhere, joined) = server.joined("another-room", Some("mallory")).await;
    assert_eq!(joined["identity"], "mallory");
    // A revoke naming both or neither is a bad message.
    h.send(msg("revoke", json!({}))).await;
    until(&mut h, "error").await;
}

#[tokio::test]
async fn the_operator_revokes_through_the_admin_api_with_the_admin_key_only() {
    let server = Server::start().await;
    let claims = server.claims(ROOM, None, Grants::default());
    let token_id = claims.jti.clone().unwrap();
    let mut g = server.client().await;
    g.join(ROOM, &veil_signaling::token::mint(&server.secret, &claims)).await;
    let path = format!("/api/rooms/{ROOM}/revocations");
    let body = json!({"token_id": token_id});

    let (status, e) = admin(&server, &path, None, body.clone()).await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("unauthorized"))
    );
    // The API secret that signs tokens is not the admin key.
    let (status, _) = admin(&server, &path, Some(&server.secret.to_hex()), body.clone()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let key = server.admin_key.to_hex();
    let (status, e) =
        admin(&server, &path, Some(&key), json!({"identity": "a", "token_id": "b"})).await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("bad_request"))
    );
    let (status, _) = admin(&server, &path, Some(&key), json!("not an object")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) =
        admin(&server, "/api/rooms/Not%20A%20Room/revocations", Some(&key), body.clone()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    g.ping_pong().await; // Nothing happened yet.

    let (status, done) = admin(&server, &path, Some(&key), body).await;
    assert_eq!((status, done["disconnected"].as_u64()), (StatusCode::OK, Some(1)));
    closed_with(&mut g, "revoked").await;
    let mut again = server.client().await;
    again.send_join(ROOM, &veil_signaling::token::mint(&server.secret, &claims)).await;
    closed_with(&mut again, "revoked").await;
}

#[tokio::test]
async fn the_lobby_admits_and_denies_and_nothing_reaches_a_waiting_guest() {
    let server = Server::start().await;
    let (mut h, _) = host(&server, "dr-ada").await;
    h.send(msg("set_policy", json!({"policy": {"lobby": true, "max_participants": 10}}))).await;
    let policy = until(&mut h, "policy_updated").await;
    assert_eq!(policy["policy"]["lobby"], true);

    let mut g = server.client().await;
    g.send_join(ROOM, &server.token(ROOM, Some("patient"))).await;
    g.expect("lobby").await;
    let queue = until(&mut h, "lobby_updated").await;
    assert_eq!(queue["waiting"][0]["identity"], "patient");
    let waiting_id = queue["waiting"][0]["id"].as_str().unwrap().to_owned();
    // A waiting guest can do nothing but wait (or leave), and is told nothing of the room.
    g.send(msg("offer", json!({"sdp": "v=0"}))).await;
    g.expect_error("not_joined", false).await;
    g.send(msg("mls_key_package", json!({"key_package": "AAAA"}))).await;
    g.expect_error("not_joined", false).await;
    // Another guest waits too; one with the bypass grant walks in.
    let mut bob = server.client().await;
    bob.send_join(ROOM, &server.token(ROOM, Some("bob"))).await;
    bob.expect("lobby").await;
    let bypass = Grants { bypass_lobby: true, ..Grants::default() };
    let mut nurse = server.client().await;
    nurse.join(ROOM, &server.token_with(ROOM, Some("nurse"), bypass)).await;
    assert_eq!(server.state.participant_count(), 2);
    g.ping_pong().await;

    h.send(msg("admit", json!({"participant_id": waiting_id}))).await;
    let joined = g.expect("joined").await;
    assert_eq!(joined["participant_id"], waiting_id.as_str());
    server.plane.session_of(&waiting_id).await;

    let mut eve = server.client().await;
    eve.send_join(ROOM, &server.token(ROOM, Some("eve"))).await;
    eve.expect("lobby").await;
    let queue = loop {
        let q = until(&mut h, "lobby_updated").await;
        if q["waiting"].as_array().unwrap().iter().any(|w| w["identity"] == "eve") {
            break q;
        }
    };
    let eve_id =
        queue["waiting"].as_array().unwrap().iter().find(|w| w["identity"] == "eve").unwrap()["id"]
            .clone();
    h.send(msg("deny", json!({"participant_id": eve_id}))).await;
    closed_with(&mut eve, "denied").await;
}

#[tokio::test]
async fn locking_and_ending_the_meeting_turn_people_away() {
    let server = Server::start().await;
    let (mut h, _) = host(&server, "dr-ada").await;
    let (mut g, _) = server.joined(ROOM, Some("patient")).await;
    h.send(msg("set_policy", json!({"policy": {"locked": true, "max_participants": 10}}))).await;
    until(&mut g, "policy_updated").await;
    let mut late = server.client().await;
    late.send_join(ROOM, &server.token(ROOM, Some("late"))).await;
    closed_with(&mut late, "room_locked").await;
    // A bad policy is refused and changes nothing.
    h.send(msg("set_policy", json!({"policy": {"max_participants": 0}}))).await;
    until(&mut h, "error").await;

    h.send(msg("end_meeting", json!({}))).await;
    closed_with(&mut g, "meeting_ended").await;
    closed_with(&mut h, "meeting_ended").await;
    let mut again = server.client().await;
    again.send_join(ROOM, &server.token(ROOM, Some("patient"))).await;
    closed_with(&mut again, "meeting_ended").await;
}

#[tokio::test]
async fn keeping_screens_for_hosts_takes_the_grant_away_at_the_sfu() {
    let server = Server::start().await;
    let (mut h, _) = host(&server, "dr-ada").await;
    let presenter = Grants {
        publish: vec![Source::Microphone, Source::Camera, Source::Screen],
        ..Grants::default()
    };
    let mut p = server.client().await;
    let pj = p.join(ROOM, &server.token_with(ROOM, Some("presenter"), presenter)).await;
    assert_eq!(pj["grants"]["publish"], json!(["microphone", "camera", "screen"]));
    let session = server.plane.session_of(&id(&pj)).await;
    h.send(msg("set_policy", json!({"policy": {"max_participants": 10, "screen_share": "hosts"}})))
        .await;
    let updated = until(&mut p, "policy_updated").await;
    assert_eq!(updated["grants"]["publish"], json!(["microphone", "camera"]));
    let fewer = MediaGrants {
        publish: vec![Source::Microphone, Source::Camera],
        subscribe: true,
        speaker_detection: false,
    };
    server
        .plane
        .wait_for("grants at the SFU", |c| c == &Cmd::SetGrants { session, grants: fewer.clone() })
        .await;
}
