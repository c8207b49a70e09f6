use std::sync::Arc;

use tokio::sync::mpsc;

use super::*;
use crate::mls::tests::FakeDs;
use crate::outbound::{Kick, Outgoing};

/// What one connection's queue and kick signal saw.
struct Probe {
    rx: mpsc::Receiver<Outgoing>,
    kick: Arc<Kick>,
}

impl Probe {
    fn messages(&mut self) -> Vec<serde_json::Value> {
        let mut out = Vec::new();
        while let Ok(Outgoing::Text(t)) = self.rx.try_recv() {
            out.push(serde_json::from_str(t.as_str()).unwrap());
        }
        out
    }

    fn types(&mut self) -> Vec<String> {
        self.messages().iter().map(|v| v["type"].as_str().unwrap().to_owned()).collect()
    }

    fn kicked(&self) -> Option<KickReason> {
        self.kick.reason()
    }
}

fn registry() -> Registry {
    Registry::new(Revocations::default(), 100)
}

fn room() -> RoomName {
    RoomName::new("r").unwrap()
}

fn pid(session: u64) -> ParticipantId {
    ParticipantId(format!("p_{session}"))
}

fn admission(identity: Identity, session: u64, grants: Grants) -> (Admission, Probe) {
    let (tx, rx) = mpsc::channel(64);
    let kick = Arc::new(Kick::default());
    let a = Admission {
        room: room(),
        identity,
        participant: pid(session),
        session: SessionId(session),
        link: Link::new(tx, kick.clone()),
        grants,
        token_id: Some(format!("t_{session}")),
        token_exp: 10_000,
        ice_servers: Vec::new(),
    };
    (a, Probe { rx, kick })
}

fn enter(
    reg: &Registry,
    identity: Identity,
    session: u64,
    grants: Grants,
) -> (Result<Entered, Refusal>, Probe) {
    let (a, probe) = admission(identity, session, grants);
    (reg.enter(a, 100, &FakeDs), probe)
}

/// Enters and expects to be seated.
fn join(reg: &Registry, name: &str, session: u64, grants: Grants) -> (Admitted, Probe) {
    match enter(reg, Identity::Named(name.into()), session, grants) {
        (Ok(Entered::Joined(admitted)), probe) => (admitted, probe),
        (other, _) => panic!("{name} not seated: {other:?}"),
    }
}

fn host(reg: &Registry, session: u64) -> Probe {
    join(reg, &format!("host{session}"), session, Grants::host()).1
}

fn guest(reg: &Registry, session: u64) -> Probe {
    join(reg, &format!("guest{session}"), session, Grants::default()).1
}

fn lobby_policy() -> RoomPolicy {
    RoomPolicy { lobby: true, ..RoomPolicy::new(100) }
}

#[tokio::test]
async fn same_identity_replaces_and_others_see_leave_then_join() {
    let reg = registry();
    let (_, mut a) = join(&reg, "ada", 1, Grants::default());
    let (_, mut b) = join(&reg, "bob", 2, Grants::default());
    let (admitted, mut a2) = join(&reg, "ada", 3, Grants::default());
    assert_eq!(admitted.replaced, Some((SessionId(1), pid(1))));
    assert_eq!(a.kick.kicked().await, KickReason::Replaced);
    assert_eq!(a.types(), ["joined", "participant_joined"]);
    // Ada was to create the MLS group and is gone before doing so: Bob, waiting, is asked.
    assert_eq!(b.types(), ["joined", "participant_left", "mls_create_group", "participant_joined"]);
    assert_eq!(a2.types(), ["joined"]);
    assert_eq!(reg.participant_count(), 2);
    // The replaced connection's own leave is a no-op.
    assert!(!reg.leave(&room(), &pid(1)));
}

#[test]
fn guests_get_distinct_identities_and_empty_rooms_are_dropped() {
    let reg = registry();
    let (Ok(Entered::Joined(g1)), _p1) = enter(&reg, Identity::Guest, 1, Grants::default()) else {
        panic!()
    };
    let (Ok(Entered::Joined(g2)), _p2) = enter(&reg, Identity::Guest, 2, Grants::default()) else {
        panic!()
    };
    assert!(g1.identity.starts_with("guest-") && g1.identity.len() == 12);
    assert_ne!(g1.identity, g2.identity);
    assert!(reg.leave(&room(), &pid(1)));
    assert!(reg.leave(&room(), &pid(2)));
    assert_eq!(reg.room_count(), 0);
}

#[test]
fn participant_ids_look_right() {
    let id = fresh_participant_id();
    assert_eq!(id.0.len(), 18);
    assert!(id.0.starts_with("p_"));
    assert!(id.0[2..].bytes().all(|b| b.is_ascii_hexdigit()));
}

#[test]
fn the_joined_message_carries_grants_and_policy_and_media_gets_the_grants() {
    let reg = registry();
    let viewer = Grants { publish: vec![], subscribe: true, host: false, bypass_lobby: false };
    let (admitted, mut p) = join(&reg, "viewer", 1, viewer);
    assert_eq!(
        admitted.media,
        MediaGrants { publish: vec![], subscribe: true, speaker_detection: false }
    );
    let joined = &p.messages()[0];
    assert_eq!(joined["grants"]["publish"], serde_json::json!([]));
    assert_eq!(joined["grants"]["host"], false);
    assert_eq!(joined["policy"]["lobby"], false);
    assert_eq!(joined["policy"]["max_participants"], 100);
}

#[test]
fn host_actions_are_refused_to_non_hosts_and_change_nothing() {
    let reg = registry();
    let mut h = host(&reg, 1);
    let mut g = guest(&reg, 2);
    let now = 100;
    fn forbidden<T>(r: Result<T, Refusal>) -> bool {
        matches!(r, Err(Refusal { code: ErrorCode::Forbidden, .. }))
    }
    assert!(forbidden(reg.mute(&room(), Actor::Host(&pid(2)), &pid(1), Source::Microphone)));
    assert!(forbidden(reg.remove(&room(), Actor::Host(&pid(2)), &pid(1), now)));
    assert!(forbidden(reg.revoke(
        &room(),
        Actor::Host(&pid(2)),
        Revoke::Identity("host1".into()),
        now
    )));
    assert!(forbidden(reg.set_policy(&room(), Actor::Host(&pid(2)), lobby_policy())));
    assert!(forbidden(reg.end_meeting(&room(), Actor::Host(&pid(2)), now)));
    assert!(forbidden(reg.admit(&room(), Actor::Host(&pid(2)), &pid(9), &FakeDs)));
    assert!(forbidden(reg.deny(&room(), Actor::Host(&pid(2)), &pid(9))));
    // Nothing happened: nobody was kicked or told anything, and the host can still join again.
    assert_eq!(h.kicked(), None);
    assert_eq!(g.kicked(), None);
    h.types();
    assert!(g.types().iter().all(|t| t == "joined"));
    assert_eq!(reg.participant_count(), 2);
    // A host acting on somebody who is not there is told so.
    let unknown = reg.mute(&room(), Actor::Host(&pid(1)), &pid(9), Source::Camera);
    assert!(matches!(unknown, Err(Refusal { code: ErrorCode::UnknownParticipant, .. })));
}

#[test]
fn a_host_mutes_a_source_until_its_owner_turns_it_on_again() {
    let reg = registry();
    let _h = host(&reg, 1);
    let mut g = guest(&reg, 2);
    let on = |mic, cam| [(Source::Microphone, mic), (Source::Camera, cam), (Source::Screen, false)];
    reg.publish_state(&room(), &pid(2), on(true, true));
    g.types();
    assert_eq!(
        reg.mute(&room(), Actor::Host(&pid(1)), &pid(2), Source::Microphone).unwrap(),
        SessionId(2)
    );
    assert_eq!(g.types(), ["mute_requested"]);
    // Turning it on again is the participant's to do: the SFU is told to forward it again.
    assert_eq!(reg.publish_state(&room(), &pid(2), on(true, true)), [Source::Microphone]);
    assert!(reg.publish_state(&room(), &pid(2), on(true, true)).is_empty(), "only once");
}

#[test]
fn removed_and_revoked_participants_are_disconnected_and_refused_on_rejoin() {
    let reg = registry();
    let _h = host(&reg, 1);
    let g = guest(&reg, 2);
    let e = guest(&reg, 3);
    reg.remove(&room(), Actor::Host(&pid(1)), &pid(2), 100).unwrap();
    assert_eq!(g.kicked(), Some(KickReason::Removed));
    // The same token cannot come back (the registry forgets the member when its socket closes).
    reg.leave(&room(), &pid(2));
    let (again, _) = admission(Identity::Named("guest2".into()), 4, Grants::default());
    let again = Admission { token_id: Some("t_2".into()), ..again };
    assert!(matches!(
        reg.enter(again, 200, &FakeDs),
        Err(Refusal { code: ErrorCode::Revoked, .. })
    ));
    // A fresh token for the same person does (a removal is not a ban; revoking is).
    assert!(matches!(
        enter(&reg, Identity::Named("guest2".into()), 5, Grants::default()).0,
        Ok(Entered::Joined(_))
    ));

    assert_eq!(
        reg.revoke(&room(), Actor::Host(&pid(1)), Revoke::Identity("guest3".into()), 100).unwrap(),
        1
    );
    assert_eq!(e.kicked(), Some(KickReason::Revoked));
    reg.leave(&room(), &pid(3));
    assert!(matches!(
        enter(&reg, Identity::Named("guest3".into()), 6, Grants::default()).0,
        Err(Refusal { code: ErrorCode::Revoked, .. })
    ));
    // The operator revokes by token id, without being in the room.
    assert_eq!(
        reg.revoke(&room(), Actor::Operator, Revoke::TokenId("t_5".into()), 100).unwrap(),
        1
    );
    // In another room the identity is welcome.
    let (other, _) = admission(Identity::Named("guest3".into()), 7, Grants::default());
    let other = Admission { room: RoomName::new("elsewhere").unwrap(), ..other };
    assert!(matches!(reg.enter(other, 100, &FakeDs), Ok(Entered::Joined(_))));
}

#[test]
fn the_lobby_holds_guests_until_a_host_admits_or_denies_them() {
    let reg = registry();
    let mut h = host(&reg, 1);
    reg.set_policy(&room(), Actor::Host(&pid(1)), lobby_policy()).unwrap();
    assert_eq!(h.types(), ["joined", "policy_updated"]);
    let (entered, mut waiting) = enter(&reg, Identity::Named("guest".into()), 2, Grants::default());
    let Ok(Entered::Waiting { mut admitted, .. }) = entered else { panic!("{entered:?}") };
    // The guest hears only that it waits; the host sees it in the queue; nobody else hears of it.
    assert_eq!(waiting.types(), ["lobby"]);
    let lobby = h.messages();
    assert_eq!(lobby.len(), 1);
    assert_eq!(lobby[0]["type"], "lobby_updated");
    assert_eq!(lobby[0]["waiting"][0]["identity"], "guest");
    assert_eq!(reg.participant_count(), 1);
    // A guest with the bypass grant walks in.
    let bypass = Grants { bypass_lobby: true, ..Grants::default() };
    let (_, mut vip) = join(&reg, "vip", 3, bypass);
    assert_eq!(vip.types(), ["joined"]);
    assert!(admitted.try_recv().is_err(), "not admitted yet");

    reg.admit(&room(), Actor::Host(&pid(1)), &pid(2), &FakeDs).unwrap();
    assert_eq!(admitted.try_recv().unwrap().identity, "guest");
    assert_eq!(waiting.types(), ["joined"]);
    assert!(h.types().contains(&"lobby_updated".to_owned()));

    // The next one is denied, and told so by the kick.
    let (entered, denied) = enter(&reg, Identity::Named("eve".into()), 4, Grants::default());
    assert!(matches!(entered, Ok(Entered::Waiting { .. })));
    reg.deny(&room(), Actor::Host(&pid(1)), &pid(4)).unwrap();
    assert_eq!(denied.kicked(), Some(KickReason::Denied));
    assert_eq!(reg.participant_count(), 3);
}

#[test]
fn locked_full_and_ended_rooms_turn_non_hosts_away() {
    let reg = registry();
    let _h = host(&reg, 1);
    let refused =
        |r: Result<Entered, Refusal>, code| matches!(r, Err(Refusal { code: c, .. }) if c == code);
    let locked = RoomPolicy { locked: true, ..RoomPolicy::new(100) };
    reg.set_policy(&room(), Actor::Host(&pid(1)), locked).unwrap();
    assert!(refused(
        enter(&reg, Identity::Named("g".into()), 2, Grants::default()).0,
        ErrorCode::RoomLocked
    ));
    let (_, _h2) = join(&reg, "cohost", 3, Grants::host());

    reg.set_policy(&room(), Actor::Host(&pid(1)), RoomPolicy::new(2)).unwrap();
    assert!(refused(
        enter(&reg, Identity::Named("g".into()), 4, Grants::default()).0,
        ErrorCode::RoomFull
    ));

    let g = {
        reg.set_policy(&room(), Actor::Host(&pid(1)), RoomPolicy::new(10)).unwrap();
        guest(&reg, 5)
    };
    reg.end_meeting(&room(), Actor::Host(&pid(1)), 100).unwrap();
    assert_eq!(g.kicked(), Some(KickReason::MeetingEnded));
    for s in [1, 3, 5] {
        reg.leave(&room(), &pid(s));
    }
    assert!(refused(
        enter(&reg, Identity::Named("g".into()), 6, Grants::default()).0,
        ErrorCode::MeetingEnded
    ));
    // A host opens it again.
    let _h3 = host(&reg, 7);
    assert!(matches!(
        enter(&reg, Identity::Named("g".into()), 8, Grants::default()).0,
        Ok(Entered::Joined(_))
    ));
}

#[test]
fn a_policy_keeping_screens_for_hosts_stops_a_guests_share() {
    let reg = registry();
    let _h = host(&reg, 1);
    let presenter = Grants {
        publish: vec![Source::Microphone, Source::Camera, Source::Screen],
        ..Grants::default()
    };
    let (admitted, mut p) = join(&reg, "presenter", 2, presenter);
    assert!(admitted.media.may_publish(Source::Screen));
    let sharing = [(Source::Microphone, true), (Source::Camera, true), (Source::Screen, true)];
    reg.publish_state(&room(), &pid(2), sharing);
    p.types();
    let hosts_only = RoomPolicy { screen_share: ScreenSharePolicy::Hosts, ..RoomPolicy::new(100) };
    let changed = reg.set_policy(&room(), Actor::Host(&pid(1)), hosts_only).unwrap();
    assert_eq!(changed.len(), 1, "only the presenter's grants changed");
    assert_eq!(changed[0].0, SessionId(2));
    assert!(!changed[0].1.may_publish(Source::Screen));
    let told = p.messages();
    assert_eq!(told[0]["type"], "policy_updated");
    assert_eq!(told[0]["grants"]["publish"], serde_json::json!(["microphone", "camera"]));
    assert_eq!(told[1]["type"], "mute_requested");
    assert_eq!(told[1]["source"], "screen");
    // Turning the screen on again does not bring it back.
    assert!(reg.publish_state(&room(), &pid(2), sharing).is_empty());
}

#[test]
fn revoking_a_guest_bars_its_token_since_its_identity_is_new_on_every_join() {
    let reg = registry();
    let _h = host(&reg, 1);
    let (Ok(Entered::Joined(guest)), g) = enter(&reg, Identity::Guest, 2, Grants::default()) else {
        panic!()
    };
    reg.revoke(&room(), Actor::Host(&pid(1)), Revoke::Identity(guest.identity.clone()), 100)
        .unwrap();
    assert_eq!(g.kicked(), Some(KickReason::Revoked));
    reg.leave(&room(), &pid(2));
    let (again, _) = admission(Identity::Guest, 3, Grants::default());
    let again = Admission { token_id: Some("t_2".into()), ..again };
    assert!(matches!(
        reg.enter(again, 200, &FakeDs),
        Err(Refusal { code: ErrorCode::Revoked, .. })
    ));
}

#[test]
fn a_revoked_token_stays_revoked_until_it_expires() {
    let reg = registry();
    let _h = host(&reg, 1);
    let (a, _g) = admission(Identity::Named("long".into()), 2, Grants::default());
    // A week-long link.
    let week = 7 * 24 * 3600;
    assert!(matches!(
        reg.enter(Admission { token_exp: week, ..a }, 100, &FakeDs),
        Ok(Entered::Joined(_))
    ));
    reg.revoke(&room(), Actor::Operator, Revoke::TokenId("t_2".into()), 100).unwrap();
    reg.leave(&room(), &pid(2));
    let (again, _) = admission(Identity::Named("long".into()), 3, Grants::default());
    let again = Admission { token_id: Some("t_2".into()), token_exp: week, ..again };
    let six_days_later = 100 + 6 * 24 * 3600;
    assert!(matches!(
        reg.enter(again, six_days_later, &FakeDs),
        Err(Refusal { code: ErrorCode::Revoked, .. })
    ));
}

#[test]
fn a_full_room_refuses_admission_from_the_lobby_and_a_full_lobby_refuses_more() {
    let reg = registry();
    let mut h = host(&reg, 1);
    reg.set_policy(&room(), Actor::Host(&pid(1)), RoomPolicy { lobby: true, ..RoomPolicy::new(2) })
        .unwrap();
    h.types();
    let (w1, _p1) = enter(&reg, Identity::Named("w1".into()), 2, Grants::default());
    let (w2, _p2) = enter(&reg, Identity::Named("w2".into()), 3, Grants::default());
    assert!(matches!((w1, w2), (Ok(Entered::Waiting { .. }), Ok(Entered::Waiting { .. }))));
    // The lobby holds as many as the room.
    let (w3, _p3) = enter(&reg, Identity::Named("w3".into()), 4, Grants::default());
    assert!(matches!(w3, Err(Refusal { code: ErrorCode::RoomFull, .. })));
    reg.admit(&room(), Actor::Host(&pid(1)), &pid(2), &FakeDs).unwrap();
    // Now the room is full: the host is told, and nobody moves.
    let full = reg.admit(&room(), Actor::Host(&pid(1)), &pid(3), &FakeDs);
    assert!(matches!(full, Err(Refusal { code: ErrorCode::RoomFull, fatal: false, .. })));
    assert_eq!(reg.participant_count(), 2);
}

#[test]
fn muting_screen_audio_stops_the_whole_share() {
    let reg = registry();
    let _h = host(&reg, 1);
    let presenter = Grants {
        publish: vec![Source::Microphone, Source::Camera, Source::Screen],
        ..Grants::default()
    };
    let (_, mut p) = join(&reg, "presenter", 2, presenter);
    let sharing = [(Source::Microphone, true), (Source::Camera, true), (Source::Screen, true)];
    reg.publish_state(&room(), &pid(2), sharing);
    p.types();
    reg.mute(&room(), Actor::Host(&pid(1)), &pid(2), Source::ScreenAudio).unwrap();
    let told = p.messages();
    assert_eq!(told[0]["source"], "screen");
    // Sharing again brings back both.
    assert_eq!(reg.publish_state(&room(), &pid(2), sharing), [Source::Screen, Source::ScreenAudio]);
}

#[test]
fn presence_follows_the_grants_and_a_bad_policy_from_a_non_host_is_forbidden() {
    let reg = registry();
    let mut h = host(&reg, 1);
    let _g = guest(&reg, 2);
    h.types();
    // A guest without the screen grant claims to present: the others do not see it.
    reg.publish_state(
        &room(),
        &pid(2),
        [(Source::Microphone, true), (Source::Camera, true), (Source::Screen, true)],
    );
    let seen = h.messages();
    assert_eq!(seen[0]["participant"]["screen"], false);
    let bad = RoomPolicy::new(0);
    assert!(matches!(
        reg.set_policy(&room(), Actor::Host(&pid(2)), bad),
        Err(Refusal { code: ErrorCode::Forbidden, .. })
    ));
}
