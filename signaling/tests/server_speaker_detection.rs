//! A host turns the room's server-side speaker detection on: everyone is told, every media
//! session (and every later one) lets the SFU read its audio levels, and the SFU's active
//! speaker reaches the members. Nobody else may turn it on, and it is off by default.

mod common;

use common::{Client, Cmd, Server};
use serde_json::{Value, json};
use veil_proto::ParticipantId;
use veil_proto::media::MediaEvent;
use veil_proto::room::Grants;

const ROOM: &str = "town-hall";

fn msg(ty: &str, fields: Value) -> Value {
    let mut m = json!({"v": 2, "type": ty});
    m.as_object_mut().unwrap().extend(fields.as_object().unwrap().clone());
    m
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

fn detection(on: bool) -> Value {
    json!({"policy": {"max_participants": 50, "server_speaker_detection": on}})
}

#[tokio::test]
async fn hosts_turn_server_speaker_detection_on_and_members_hear_who_speaks() {
    let server = Server::start().await;
    let mut h = server.client().await;
    let hj = h.join(ROOM, &server.token_with(ROOM, Some("chair"), Grants::host())).await;
    assert_eq!(hj["policy"]["server_speaker_detection"], false, "off by default");
    let (mut g, gj) = server.joined(ROOM, Some("speaker")).await;
    let (hid, gid) =
        (hj["participant_id"].as_str().unwrap(), gj["participant_id"].as_str().unwrap());
    let (hs, gs) = (server.plane.session_of(hid).await, server.plane.session_of(gid).await);
    for c in server.plane.commands() {
        if let Cmd::Open { grants, .. } = c {
            assert!(!grants.speaker_detection, "the SFU reads no level by default");
        }
    }

    // Only a host may turn it on, and only with a yes or a no.
    g.send(msg("set_policy", detection(true))).await;
    g.expect_error("forbidden", false).await;
    let bad = json!({"policy": {"max_participants": 50, "server_speaker_detection": "yes"}});
    h.send(msg("set_policy", bad)).await;
    until(&mut h, "error").await;
    assert!(!server.plane.commands().iter().any(|c| matches!(c, Cmd::SetGrants { .. })));

    h.send(msg("set_policy", detection(true))).await;
    for c in [&mut h, &mut g] {
        let updated = until(c, "policy_updated").await;
        assert_eq!(updated["policy"]["server_speaker_detection"], true);
    }
    for session in [hs, gs] {
        server
            .plane
            .wait_for("the SFU may read levels", |c| {
                matches!(c, Cmd::SetGrants { session: s, grants } if *s == session && grants.speaker_detection)
            })
            .await;
    }
    let (_late, lj) = server.joined(ROOM, Some("late")).await;
    assert_eq!(lj["policy"]["server_speaker_detection"], true);
    let late_id = lj["participant_id"].as_str().unwrap().to_owned();
    server
        .plane
        .wait_for("a later session reads levels too", |c| {
            matches!(c, Cmd::Open { participant, grants, .. } if *participant == late_id && grants.speaker_detection)
        })
        .await;

    // The SFU names the guest: each member's client is told.
    let named = Some(ParticipantId(gid.to_owned()));
    for session in [hs, gs] {
        server.plane.emit(session, MediaEvent::ActiveSpeaker { participant: named.clone() });
    }
    for c in [&mut h, &mut g] {
        let speaker = until(c, "active_speaker").await;
        assert_eq!(speaker["participant"], gid);
    }
    server.plane.emit(hs, MediaEvent::ActiveSpeaker { participant: None });
    assert_eq!(until(&mut h, "active_speaker").await["participant"], Value::Null);

    // Off again: the SFU is told to stop reading levels.
    h.send(msg("set_policy", detection(false))).await;
    server
        .plane
        .wait_for("the SFU stops reading levels", |c| {
            matches!(c, Cmd::SetGrants { session, grants } if *session == gs && !grants.speaker_detection)
        })
        .await;
    server.still_serves().await;
}
