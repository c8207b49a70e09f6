//! Oversized and malformed frames get clear errors; only the oversized one ends the
//! connection, and nobody else is affected.

mod common;

use common::Server;
use serde_json::json;

#[tokio::test]
async fn oversized_message_is_refused_with_message_too_large_and_the_server_still_serves() {
    let server = Server::start().await;
    let (mut ada, _) = server.joined("standup", Some("ada")).await;
    let (mut bob, bob_joined) = server.joined("standup", Some("bob")).await;
    ada.expect("participant_joined").await;

    let huge_sdp = "a".repeat(600 * 1024);
    bob.send(json!({"v": 2, "type": "offer", "sdp": huge_sdp})).await;
    let error = bob.expect_error("message_too_large", true).await;
    assert!(error["message"].as_str().unwrap().contains("524288"), "{error}");
    assert_eq!(bob.expect_close().await, Some(1009));

    let left = ada.expect("participant_left").await;
    assert_eq!(left["participant_id"], bob_joined["participant_id"]);
    ada.ping_pong().await;
    server.still_serves().await;
}

#[tokio::test]
async fn oversized_message_before_join_is_refused_too() {
    let server = Server::start().await;
    let mut client = server.client().await;
    client.send_raw("x".repeat(600 * 1024)).await;
    client.expect_error("message_too_large", true).await;
    assert_eq!(client.expect_close().await, Some(1009));
}

#[tokio::test]
async fn malformed_json_gets_bad_message_and_the_connection_still_works() {
    let server = Server::start().await;
    let (mut ada, _) = server.joined("standup", Some("ada")).await;

    ada.send_raw("{this is not json".into()).await;
    ada.expect_error("bad_message", false).await;
    ada.send(json!({"v": 2, "type": "explode"})).await;
    ada.expect_error("bad_message", false).await;
    ada.send(json!({"type": "ping"})).await;
    ada.expect_error("bad_message", false).await;
    ada.send_binary(vec![1, 2, 3]).await;
    ada.expect_error("bad_message", false).await;

    ada.ping_pong().await;
    ada.send(json!({"v": 2, "type": "offer", "sdp": "v=0"})).await;
    assert_eq!(ada.expect("answer").await["sdp"], "answer:v=0");
}
