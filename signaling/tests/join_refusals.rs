//! Joins that must not succeed are refused with their own code, the connection is closed, and
//! the server goes on serving everybody else.

mod common;

use std::time::Duration;

use common::{Client, Server};
use serde_json::json;
use veil_proto::RoomName;
use veil_signaling::token::{self, ApiSecret, Claims};

async fn refused(server: &Server, room: &str, token: &str, code: &str) {
    let mut client = server.client().await;
    client.send_join(room, token).await;
    client.expect_error(code, true).await;
    assert_eq!(client.expect_close().await, Some(1008));
    assert_eq!(server.state.participant_count(), 0);
    server.still_serves().await;
}

#[tokio::test]
async fn expired_token_is_refused_and_the_server_still_serves() {
    let server = Server::start().await;
    let now = token::now_unix();
    let claims = Claims {
        sub: Some("ada".into()),
        room: RoomName::new("standup").unwrap(),
        jti: None,
        grants: Default::default(),
        iat: now - 3600,
        exp: now - 60,
    };
    refused(&server, "standup", &token::mint(&server.secret, &claims), "token_expired").await;
}

#[tokio::test]
async fn token_signed_with_another_secret_is_refused_and_the_server_still_serves() {
    let server = Server::start().await;
    let claims = Claims::for_room(
        RoomName::new("standup").unwrap(),
        token::now_unix(),
        Duration::from_secs(600),
    );
    let foreign = token::mint(&ApiSecret::generate(), &claims);
    refused(&server, "standup", &foreign, "invalid_token").await;
    refused(&server, "standup", "not-a-token", "invalid_token").await;
}

#[tokio::test]
async fn token_for_room_a_used_on_room_b_is_refused_and_the_server_still_serves() {
    let server = Server::start().await;
    let token_for_a = server.token("room-a", Some("ada"));
    refused(&server, "room-b", &token_for_a, "wrong_room").await;
}

#[tokio::test]
async fn unsupported_versions_are_refused() {
    let server = Server::start().await;
    let token = server.token("standup", Some("ada"));

    let mut future_client = server.client().await;
    future_client.send(json!({"v": 3, "type": "join", "room": "standup", "token": token})).await;
    future_client.expect_error("unsupported_version", true).await;
    assert_eq!(future_client.expect_close().await, Some(1008));

    // Version 1 clients trusted the server with names and unverified commits: not spoken any more.
    let mut old_client = server.client().await;
    old_client.send(json!({"v": 1, "type": "join", "room": "standup", "token": token})).await;
    old_client.expect_error("unsupported_version", true).await;
    assert_eq!(old_client.expect_close().await, Some(1008));

    let mut picky_client = server.client().await;
    let join = json!({"v": 2, "type": "join", "room": "standup", "token": token, "min_version": 3});
    picky_client.send(join).await;
    picky_client.expect_error("unsupported_version", true).await;
    assert_eq!(picky_client.expect_close().await, Some(1008));
    server.still_serves().await;
}

#[tokio::test]
async fn invalid_room_name_in_join_is_refused() {
    let server = Server::start().await;
    let mut client = server.client().await;
    let token = server.token("standup", None);
    client.send_join("../etc", &token).await;
    client.expect_error("unknown_room", true).await;
    client.expect_close().await;
}

#[tokio::test]
async fn messages_before_join_get_not_joined_and_the_connection_goes_on() {
    let server = Server::start().await;
    let mut client = server.client().await;
    client.send(json!({"v": 2, "type": "offer", "sdp": "v=0"})).await;
    client.expect_error("not_joined", false).await;
    let joined = client.join("standup", &server.token("standup", None)).await;
    assert!(joined["identity"].as_str().unwrap().starts_with("guest-"));
}

#[tokio::test]
async fn second_join_on_one_connection_gets_already_joined() {
    let server = Server::start().await;
    let (mut client, _) = server.joined("standup", Some("ada")).await;
    client.send_join("standup", &server.token("standup", Some("ada"))).await;
    client.expect_error("already_joined", false).await;
    client.ping_pong().await;
    assert_eq!(server.state.participant_count(), 1);
}

#[tokio::test]
async fn client_that_never_joins_is_dropped_after_ten_seconds() {
    let server = Server::start().await;
    let mut client = Client::connect(server.addr, None).await;
    // Let the virtual clock jump to the deadline instead of waiting ten real seconds.
    tokio::time::pause();
    let error = client.recv_within(Duration::from_secs(60)).await;
    assert_eq!(error["code"], "not_joined");
    assert_eq!(error["fatal"], true);
    tokio::time::resume();
    assert_eq!(client.expect_close().await, Some(1008));
}
