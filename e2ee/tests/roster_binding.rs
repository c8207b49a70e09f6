//! The MLS group and the room's roster must agree, whatever the server says: members commit
//! adds only for participants the roster shows, refuse commits that add outsiders or add a
//! participant twice or remove someone still in the room, and name whoever is in one and not
//! the other once a short grace period has passed.

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use common::{RawPeer, Room};
use veil_e2ee::session::Risk;
use veil_e2ee::session::roster::MISMATCH_GRACE_MS;
use veil_e2ee::{CommitBundle, Member};
use veil_proto::ParticipantId;
use veil_proto::signal::{ClientMessage, ServerMessage};

fn b64(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

fn commits_sent(room: &Room, i: usize) -> usize {
    room.clients[i].sent.iter().filter(|m| matches!(m, ClientMessage::MlsCommit { .. })).count()
}

/// Ada and Bob (sessions) and Mallory, a member driven by hand, added the honest way.
fn room_with_mallory() -> (Room, usize, usize, RawPeer) {
    let mut room = Room::settled(&["Ada", "Bob"]);
    let (ada, bob) = (0, 1);
    let mut mallory = room.join_raw("Mallory");
    let kp = b64(&mallory.member.key_package().unwrap());
    room.send_as(&mallory.id.clone(), ClientMessage::MlsKeyPackage { key_package: kp });
    room.advance(1_000);
    let welcome = room
        .take_for(&mallory.id)
        .into_iter()
        .find_map(|m| match m {
            ServerMessage::MlsWelcome { welcome } => Some(welcome),
            _ => None,
        })
        .expect("Mallory is welcomed");
    mallory.member.join_from_welcome(&B64.decode(welcome).unwrap()).unwrap();
    room.advance(1_000);
    assert_eq!(room.clients[ada].session.members().len(), 3);
    (room, ada, bob, mallory)
}

/// Hands Mallory's commit to the honest members as if the server had accepted it.
fn force_through(room: &mut Room, bundle: &CommitBundle, to: &[usize]) {
    let commit =
        ServerMessage::MlsCommit { commit: b64(&bundle.commit), epoch: bundle.epoch_before + 1 };
    for &i in to {
        room.deliver(i, &commit);
    }
}

#[test]
fn an_add_request_for_someone_outside_the_room_is_never_committed() {
    let mut room = Room::settled(&["Ada", "Bob"]);
    let (ada, bob) = (0, 1);
    let before = (commits_sent(&room, ada), commits_sent(&room, bob));
    // A participant of another room; its key package is real and names it.
    let outsider = Member::new("p_elsewhere").unwrap();
    let request = ServerMessage::MlsAddRequest {
        participant_id: ParticipantId("p_elsewhere".into()),
        key_package: b64(&outsider.key_package().unwrap()),
        committer: room.clients[ada].id.clone(),
    };
    // And a request naming Bob with the outsider's key package.
    let swapped = ServerMessage::MlsAddRequest {
        participant_id: room.clients[bob].id.clone(),
        key_package: b64(&outsider.key_package().unwrap()),
        committer: room.clients[ada].id.clone(),
    };
    for i in [ada, bob] {
        room.deliver(i, &request);
        room.deliver(i, &swapped);
    }
    room.advance(10_000);
    assert_eq!((commits_sent(&room, ada), commits_sent(&room, bob)), before, "nobody committed");
    assert!(room.clients[ada].problems.iter().any(|p| p.contains("not in the room")));
    assert!(room.clients[ada].problems.iter().any(|p| p.contains("belongs to p_elsewhere")));
    assert_eq!(room.agreed(), 1);
}

#[test]
fn a_commit_adding_an_outsider_is_refused_and_the_call_is_at_risk_naming_them() {
    let (mut room, ada, bob, mut mallory) = room_with_mallory();
    let outsider = Member::new("p_ghost").unwrap();
    let bundle = mallory.member.add_members(&[outsider.key_package().unwrap()]).unwrap();
    // The honest server refuses it ...
    room.send_as(
        &mallory.id.clone(),
        ClientMessage::MlsCommit {
            epoch: bundle.epoch_before,
            commit: b64(&bundle.commit),
            welcome: None,
        },
    );
    assert!(
        room.refusals.iter().any(|(_, why)| why.contains("not waiting")),
        "{:?}",
        room.refusals
    );
    // ... a malicious one forces it through: every member refuses it and names the outsider.
    let epoch = room.clients[ada].session.epoch();
    force_through(&mut room, &bundle, &[ada, bob]);
    for i in [ada, bob] {
        assert_eq!(room.clients[i].session.epoch(), epoch, "not merged");
        let risks = room.risks(i);
        assert!(
            matches!(&risks[..], [Risk::RefusedCommit { participant, .. }] if participant == "p_ghost"),
            "{risks:?}"
        );
    }
}

#[test]
fn a_commit_adding_a_participant_twice_is_refused() {
    let (mut room, ada, bob, mut mallory) = room_with_mallory();
    // A second key package for Bob's participant id, from another key.
    let twin = Member::new(&room.clients[bob].id.0).unwrap();
    let bundle = mallory.member.add_members(&[twin.key_package().unwrap()]).unwrap();
    force_through(&mut room, &bundle, &[ada, bob]);
    let bob_id = room.clients[bob].id.0.clone();
    for i in [ada, bob] {
        assert!(matches!(&room.risks(i)[..],
            [Risk::RefusedCommit { participant, reason }] if *participant == bob_id && reason.contains("already a member")));
    }
}

#[test]
fn a_commit_removing_someone_still_in_the_room_is_refused() {
    let (mut room, ada, bob, mut mallory) = room_with_mallory();
    let bob_leaf = room.clients[bob].session.own_leaf().unwrap();
    let bundle = mallory.member.remove_members(&[bob_leaf]).unwrap();
    force_through(&mut room, &bundle, &[ada]);
    assert!(matches!(&room.risks(ada)[..],
        [Risk::RefusedCommit { reason, .. }] if reason.contains("still in the room")));
    assert_eq!(room.clients[ada].session.members().len(), 3, "Bob stays");
}

#[test]
fn a_member_the_room_no_longer_shows_is_named_after_the_grace_period() {
    let mut room = Room::settled(&["Ada", "Bob", "Cyd"]);
    let (ada, bob, cyd) = (0, 1, 2);
    // The server tells Ada and Bob that Cyd left, but never proposes Cyd's removal.
    let cyd_id = room.clients[cyd].id.clone();
    for i in [ada, bob] {
        room.deliver(i, &ServerMessage::ParticipantLeft { participant_id: cyd_id.clone() });
    }
    room.advance(MISMATCH_GRACE_MS / 2);
    assert!(room.risks(ada).is_empty(), "a leave takes a moment to reach the group");
    room.advance(MISMATCH_GRACE_MS);
    assert_eq!(room.risks(ada), vec![Risk::NotInRoom(cyd_id.0.clone())]);
    assert_eq!(room.risks(bob), vec![Risk::NotInRoom(cyd_id.0)]);
}

#[test]
fn a_participant_who_never_enters_the_group_is_named_after_the_grace_period() {
    let mut room = Room::new();
    let ada = room.join("Ada");
    room.advance(1_000);
    // Bob is in the room but never sends a key package.
    let bob = room.join_raw("Bob");
    room.advance(MISMATCH_GRACE_MS + 1_000);
    assert_eq!(room.risks(ada), vec![Risk::NotInGroup(bob.id.0)]);
}
