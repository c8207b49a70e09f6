//! Every join and leave starts a new epoch with new keys, agreed by every member through the
//! server's delivery service: a newcomer cannot read what was sent before it joined, and a
//! leaver cannot read what is sent after. A join costs one epoch.

mod common;

use common::Room;
use veil_e2ee::{FrameError, MediaKind};

#[test]
fn three_members_agree_on_one_epoch_and_code_with_one_epoch_per_join() {
    let mut room = Room::new();
    let ada = room.join("Ada Lovelace");
    room.settle();
    assert_eq!(room.agreed(), 0, "the creator alone, at epoch 0");
    room.join("Grace Hopper");
    room.settle();
    assert_eq!(room.agreed(), 1, "one epoch for the first join");
    room.join("Alan Turing");
    room.advance(1_000);
    assert_eq!(room.agreed(), 2, "and one for the second: names need no commit");
    // Each member installed each epoch's keys once, in order.
    assert_eq!(room.clients[ada].epochs, vec![0, 1, 2]);
    assert!(room.refusals.is_empty(), "{:?}", room.refusals);
}

#[test]
fn members_exchange_frames_and_learn_the_sender() {
    let mut room = Room::settled(&["Ada", "Bob"]);
    let (ada, bob) = (0, 1);
    room.agreed();
    let frame = room.frame_from(ada, "hello");
    let ada_id = room.clients[ada].id.0.clone();
    let opened = room.clients[bob].ring.decrypt_from(&ada_id, MediaKind::Video, &frame).unwrap();
    assert_eq!(&opened.plaintext[3..], b"hello");
    assert_eq!(opened.sender_leaf, room.clients[ada].session.own_leaf().unwrap());
}

#[test]
fn a_member_who_leaves_is_removed_and_cannot_read_later_frames() {
    let mut room = Room::settled(&["Ada", "Bob", "Cyd"]);
    let (ada, bob, cyd) = (0, 1, 2);
    let before = room.agreed();
    let cyd_ring_epoch = room.clients[cyd].ring.epoch();
    room.leave(cyd);
    room.advance(1_000);
    let after = room.agreed();
    assert_eq!(after, before + 1, "the server's removal is committed at once");
    assert_eq!(room.clients[ada].session.members().len(), 2);
    let frame = room.frame_from(ada, "after cyd left");
    let ada_id = room.clients[ada].id.0.clone();
    assert!(room.clients[bob].ring.decrypt_from(&ada_id, MediaKind::Video, &frame).is_ok());
    // Cyd holds the keys of the epoch it left in, not the new one.
    assert_eq!(room.clients[cyd].ring.epoch(), cyd_ring_epoch);
    let err = room.clients[cyd].ring.decrypt_from(&ada_id, MediaKind::Video, &frame).unwrap_err();
    assert!(matches!(err, FrameError::UnknownEpoch { .. }), "{err}");
}

#[test]
fn a_newcomer_cannot_read_frames_sent_before_it_joined() {
    let mut room = Room::new();
    let ada = room.join("Ada");
    room.join("Bob");
    room.advance(1_000);
    let early = room.frame_from(ada, "before cyd");
    let cyd = room.join("Cyd");
    room.advance(1_000);
    room.agreed();
    let ada_id = room.clients[ada].id.0.clone();
    let err = room.clients[cyd].ring.decrypt_from(&ada_id, MediaKind::Video, &early).unwrap_err();
    assert!(matches!(err, FrameError::UnknownEpoch { .. }), "{err}");
    let late = room.frame_from(ada, "after cyd");
    assert!(room.clients[cyd].ring.decrypt_from(&ada_id, MediaKind::Video, &late).is_ok());
}

#[test]
fn a_burst_of_joins_and_leaves_settles_on_one_group() {
    let mut room = Room::new();
    let first = room.join("Host");
    room.settle();
    let mut joined = Vec::new();
    for n in 0..8 {
        joined.push(room.join(&format!("Guest {n}")));
    }
    room.advance(500);
    room.leave(joined[2]);
    room.leave(joined[5]);
    room.advance(5_000);
    room.agreed();
    assert_eq!(room.clients[first].session.members().len(), 7);
    // Fewer epochs than joins and leaves: adds are batched, removals ride along.
    assert!(room.clients[first].session.epoch().unwrap() < 10);
}
