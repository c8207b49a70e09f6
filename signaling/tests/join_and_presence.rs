//! A join is answered with the room as it is, and everybody else hears about every join,
//! mute change and leave.

mod common;

use common::{Client, Cmd, Server};
use serde_json::json;
use veil_proto::media::MediaGrants;
use veil_proto::room::Source;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_succeeds_and_others_are_told() {
    let server = Server::start().await;
    let (mut ada, joined) = server.joined("standup", Some("ada")).await;
    assert_eq!(joined["room"], "standup");
    assert_eq!(joined["identity"], "ada");
    assert!(joined.get("name").is_none(), "the server holds no display names: {joined}");
    assert_eq!(joined["participants"], json!([]));
    let ada_id = joined["participant_id"].as_str().unwrap().to_owned();
    assert!(ada_id.starts_with("p_") && ada_id.len() == 18, "{ada_id}");

    let mut bob = Client::connect(server.addr, None).await;
    let token = server.token("standup", Some("bob"));
    let joined = bob.join("standup", &token).await;
    let others = joined["participants"].as_array().unwrap();
    assert_eq!(others.len(), 1);
    assert_eq!(others[0]["id"], ada_id.as_str());
    assert_eq!(others[0]["identity"], "ada");

    let told = ada.expect("participant_joined").await;
    assert_eq!(told["participant"]["id"], joined["participant_id"]);
    assert!(told["participant"].get("name").is_none(), "{told}");
    assert_eq!(told["participant"]["microphone"], false);

    let session = server.plane.session_of(&ada_id).await;
    assert!(server.plane.commands().contains(&Cmd::Open {
        session,
        room: "standup".into(),
        participant: ada_id.clone(),
        // A token without grants: microphone and camera, and everybody else's media.
        grants: MediaGrants {
            publish: vec![Source::Microphone, Source::Camera],
            subscribe: true,
            speaker_detection: false,
        },
    }));
    assert_eq!(server.state.participant_count(), 2);
}

#[tokio::test]
async fn guests_without_identity_get_distinct_guest_identities() {
    let server = Server::start().await;
    let (_a, a) = server.joined("open-house", None).await;
    let (_b, b) = server.joined("open-house", None).await;
    for joined in [&a, &b] {
        let identity = joined["identity"].as_str().unwrap();
        assert!(identity.starts_with("guest-") && identity.len() == 12, "{identity}");
    }
    assert_ne!(a["identity"], b["identity"], "guests must not replace each other");
    assert_eq!(b["participants"].as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leave_tells_the_others_and_closes_media() {
    let server = Server::start().await;
    let (mut ada, _) = server.joined("standup", Some("ada")).await;
    let (bob, bob_joined) = server.joined("standup", Some("bob")).await;
    ada.expect("participant_joined").await;
    let bob_id = bob_joined["participant_id"].as_str().unwrap();
    let bob_session = server.plane.session_of(bob_id).await;

    bob.leave().await;
    let left = ada.expect("participant_left").await;
    assert_eq!(left["participant_id"], bob_id);
    server.plane.wait_for("close", |c| c == &Cmd::Close { session: bob_session }).await;

    ada.leave().await;
    server
        .plane
        .wait_for(
            "second close",
            |c| matches!(c, Cmd::Close { session } if *session != bob_session),
        )
        .await;
    assert_eq!(server.state.room_count(), 0, "an empty room is dropped");
}

#[tokio::test]
async fn abrupt_disconnect_tells_the_others() {
    let server = Server::start().await;
    let (mut ada, _) = server.joined("standup", Some("ada")).await;
    let (bob, bob_joined) = server.joined("standup", Some("bob")).await;
    ada.expect("participant_joined").await;

    drop(bob); // No close frame: the TCP connection just goes away.
    let left = ada.expect("participant_left").await;
    assert_eq!(left["participant_id"], bob_joined["participant_id"]);
    assert_eq!(server.state.participant_count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_identity_replaces_the_old_connection() {
    let server = Server::start().await;
    let (mut ada_laptop, first) = server.joined("standup", Some("ada")).await;
    let (mut bob, _) = server.joined("standup", Some("bob")).await;
    ada_laptop.expect("participant_joined").await;

    let (_ada_phone, second) = server.joined("standup", Some("ada")).await;
    let others = second["participants"].as_array().unwrap();
    assert_eq!(others.len(), 1, "only bob is left besides the new connection");
    assert_eq!(others[0]["identity"], "bob");

    ada_laptop.expect_error("replaced", true).await;
    assert_eq!(ada_laptop.expect_close().await, Some(1008));

    let left = bob.expect("participant_left").await;
    assert_eq!(left["participant_id"], first["participant_id"]);
    // The first Ada was to create the MLS group; Bob, waiting to be added, is asked instead.
    bob.expect("mls_create_group").await;
    let joined = bob.expect("participant_joined").await;
    assert_eq!(joined["participant"]["id"], second["participant_id"]);

    let old_session = server.plane.session_of(first["participant_id"].as_str().unwrap()).await;
    server
        .plane
        .wait_for("old session closed", |c| c == &Cmd::Close { session: old_session })
        .await;
    assert_eq!(server.state.participant_count(), 2);
}

#[tokio::test]
async fn publish_state_is_broadcast_to_the_others() {
    let server = Server::start().await;
    let (mut ada, ada_joined) = server.joined("standup", Some("ada")).await;
    let (mut bob, _) = server.joined("standup", Some("bob")).await;
    ada.expect("participant_joined").await;

    ada.send(json!({"v": 2, "type": "publish_state", "microphone": true, "camera": false})).await;
    let updated = bob.expect("participant_updated").await;
    assert_eq!(updated["participant"]["id"], ada_joined["participant_id"]);
    assert_eq!(updated["participant"]["microphone"], true);
    assert_eq!(updated["participant"]["camera"], false);
    ada.ping_pong().await; // Ada is not told about her own change.

    let (_carol, carol_joined) = server.joined("standup", Some("carol")).await;
    let ada_seen = &carol_joined["participants"][0];
    assert_eq!(ada_seen["microphone"], true, "newcomers see the current state");
}

#[tokio::test]
async fn offers_reach_the_media_plane_and_answers_come_back() {
    let server = Server::start().await;
    let (mut ada, joined) = server.joined("standup", Some("ada")).await;
    let session = server.plane.session_of(joined["participant_id"].as_str().unwrap()).await;

    ada.send(json!({"v": 2, "type": "offer", "sdp": "v=0 ada"})).await;
    let answer = ada.expect("answer").await;
    assert_eq!(answer["sdp"], "answer:v=0 ada");

    server.plane.emit(session, veil_proto::media::MediaEvent::Offer { sdp: "v=0 sfu".into() });
    assert_eq!(ada.expect("offer").await["sdp"], "v=0 sfu");
    ada.send(json!({"v": 2, "type": "answer", "sdp": "v=0 reply"})).await;
    server
        .plane
        .wait_for("answer", |c| c == &Cmd::Answer { session, sdp: "v=0 reply".into() })
        .await;
    ada.ping_pong().await;
}

/// A node that names TURN relays hands each participant credentials of its own, which coturn
/// would accept (HMAC-SHA1 over `expiry:participant` under the shared secret) until they
/// expire; a node without TURN sends none.
#[tokio::test]
async fn joined_carries_turn_credentials_of_the_participant_own() {
    use std::time::{Duration, SystemTime, UNIX_EPOCH};
    use veil_signaling::SignalingConfig;
    use veil_signaling::turn::{TurnConfig, password};

    let secret = "a-secret-shared-with-coturn";
    let turn = TurnConfig {
        urls: vec!["turn:turn.example.org:3478?transport=tcp".into()],
        secret: secret.into(),
        ttl: Duration::from_secs(600),
    };
    let server =
        Server::with_config(SignalingConfig { turn: Some(turn), ..Default::default() }).await;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let (_ada, ada) = server.joined("standup", Some("ada")).await;
    let (_bob, bob) = server.joined("standup", Some("bob")).await;
    let mut usernames = Vec::new();
    for joined in [&ada, &bob] {
        let servers = joined["ice_servers"].as_array().expect("ice_servers");
        assert_eq!(servers.len(), 1, "{joined}");
        let relay = &servers[0];
        assert_eq!(relay["urls"], json!(["turn:turn.example.org:3478?transport=tcp"]));
        let username = relay["username"].as_str().unwrap();
        let (expiry, who) = username.split_once(':').unwrap();
        assert_eq!(who, joined["participant_id"].as_str().unwrap(), "named by the opaque id only");
        let expiry: u64 = expiry.parse().unwrap();
        assert!((now + 600..=now + 602).contains(&expiry), "expires in the ttl: {expiry} vs {now}");
        assert_eq!(relay["credential"], password(secret.as_bytes(), username));
        assert_ne!(relay["credential"], password(b"another-secret-entirely", username));
        usernames.push(username.to_owned());
    }
    assert_ne!(usernames[0], usernames[1]);

    let plain = Server::start().await;
    let (_cy, joined) = plain.joined("standup", Some("cy")).await;
    assert!(joined.get("ice_servers").is_none(), "{joined}");
}
