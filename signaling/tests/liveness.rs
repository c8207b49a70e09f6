//! Participants who vanish are noticed: by heartbeat, by a full outbound queue, or because the
//! SFU lost their media. Media errors that are not fatal leave the connection alone.

mod common;

use std::time::Duration;

use common::{Client, Cmd, PATIENCE, Server};
use serde_json::json;
use veil_proto::media::MediaEvent;
use veil_signaling::SignalingConfig;

#[tokio::test]
async fn silent_connection_is_dropped_after_three_heartbeats() {
    let config = SignalingConfig { heartbeat: Duration::from_millis(200), ..Default::default() };
    let server = Server::with_config(config).await;
    let (mut ada, _) = server.joined("standup", Some("ada")).await;
    // Bob joins, then stops reading: his client never answers the server's pings.
    let (_bob, bob_joined) = server.joined("standup", Some("bob")).await;
    ada.expect("participant_joined").await;

    // Ada keeps reading (and so answering pings) for a while; Bob is dropped, she is not.
    let left = ada.recv_within(Duration::from_secs(3)).await;
    assert_eq!(left["type"], "participant_left");
    assert_eq!(left["participant_id"], bob_joined["participant_id"]);
    // Ada, still reading, outlives several more silence limits.
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        ada.ping_pong().await;
    }
    assert_eq!(server.state.participant_count(), 1);
}

#[tokio::test]
async fn client_that_stops_reading_is_dropped_without_holding_up_the_room() {
    let server = Server::start().await;
    // A tiny receive buffer makes the slow client's socket fill up quickly.
    let mut slow = Client::connect(server.addr, Some(4096)).await;
    let slow_joined = slow.join("standup", &server.token("standup", Some("slow"))).await;
    let (mut busy, _) = server.joined("standup", Some("busy")).await;
    slow.expect("participant_joined").await;
    // From here on `slow` reads nothing.

    let started = tokio::time::Instant::now();
    let mut sent = 0u32;
    loop {
        for _ in 0..500 {
            let on = sent.is_multiple_of(2);
            busy.send(json!({"v": 2, "type": "publish_state", "microphone": on, "camera": on}))
                .await;
            sent += 1;
        }
        // The busy client is never slowed down by the slow one.
        busy.ping_pong().await;
        if server.state.participant_count() == 1 {
            break;
        }
        assert!(started.elapsed() < PATIENCE * 6, "slow client not dropped after {sent} updates");
    }
    let left = busy.expect("participant_left").await;
    assert_eq!(left["participant_id"], slow_joined["participant_id"]);
    eprintln!("slow client dropped after {sent} updates in {:?}", started.elapsed());
}

#[tokio::test]
async fn media_closed_ends_the_connection_with_media_timeout() {
    let server = Server::start().await;
    let (mut ada, _) = server.joined("standup", Some("ada")).await;
    let (mut bob, bob_joined) = server.joined("standup", Some("bob")).await;
    ada.expect("participant_joined").await;
    let bob_id = bob_joined["participant_id"].as_str().unwrap();
    let session = server.plane.session_of(bob_id).await;

    server.plane.emit(session, MediaEvent::Connected);
    server.plane.emit(session, MediaEvent::Closed { reason: "ICE consent lost".into() });
    bob.expect_error("media_timeout", true).await;
    assert_eq!(bob.expect_close().await, Some(1008));
    assert_eq!(ada.expect("participant_left").await["participant_id"], bob_id);
    server.plane.wait_for("close", |c| c == &Cmd::Close { session }).await;
}

#[tokio::test]
async fn media_error_is_reported_and_the_connection_goes_on() {
    let server = Server::start().await;
    let (mut ada, joined) = server.joined("standup", Some("ada")).await;
    let session = server.plane.session_of(joined["participant_id"].as_str().unwrap()).await;

    server.plane.emit(session, MediaEvent::Error { message: "no usable codec".into() });
    let error = ada.expect_error("media_error", false).await;
    assert!(error["message"].as_str().unwrap().contains("no usable codec"));
    ada.ping_pong().await;
}
