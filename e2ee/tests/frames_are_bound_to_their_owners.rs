//! Every member of an epoch holds its base key, so any member can mint a frame under another
//! member's KID. A receiver therefore plays a frame only on the tile of the participant whose
//! leaf sent it: frames on the wrong track fail as `wrong-sender`, before they can touch the
//! rightful owner's replay window.

mod common;

use common::Room;
use veil_e2ee::{FrameError, KeyRing, MediaKind};

/// A ring with `forger`'s epoch secret (every member has it) that sends as `victim`'s leaf:
/// what a malicious member can build.
fn impersonating_ring(room: &Room, victim: usize, forger: usize) -> KeyRing {
    let victim_leaf = room.clients[victim].session.own_leaf().unwrap();
    let (epoch, secret) = room.clients[forger].last_secret.clone().unwrap();
    let mut ring = KeyRing::new();
    ring.set_epoch(epoch, &secret, victim_leaf, room.now).unwrap();
    ring
}

#[test]
fn forged_high_counter_frames_on_another_track_do_not_silence_the_owner() {
    let mut room = Room::settled(&["Ada", "Bob", "Mallory"]);
    let (ada, bob, mallory) = (0, 1, 2);
    room.agreed();
    let ada_id = room.clients[ada].id.0.clone();
    let mallory_id = room.clients[mallory].id.0.clone();

    // Mallory mints 1,100 frames under Ada's KID, counters far ahead of Ada's, and sends them
    // on her own track.
    let mut forger = impersonating_ring(&room, ada, mallory);
    let mut forged = Vec::new();
    for i in 0..1_100 {
        forged
            .push(forger.encrypt_media(MediaKind::Video, 1, &[0x51, 0x42, 0x00, i as u8]).unwrap());
    }
    for frame in &forged[1_000..] {
        let err = room.clients[bob].ring.decrypt_from(&mallory_id, MediaKind::Video, frame);
        assert!(matches!(err, Err(FrameError::WrongSender { .. })), "{err:?}");
    }
    assert_eq!(room.clients[bob].ring.failures().wrong_sender, 100);
    // Ada's next genuine frame (her counter is far behind the forgeries) still plays.
    let genuine = room.frame_from(ada, "still me");
    let opened = room.clients[bob].ring.decrypt_from(&ada_id, MediaKind::Video, &genuine);
    assert_eq!(&opened.unwrap().plaintext[3..], b"still me");
    // All 1,100 went nowhere.
    for frame in &forged[..1_000] {
        assert!(room.clients[bob].ring.decrypt_from(&mallory_id, MediaKind::Video, frame).is_err());
    }
}

#[test]
fn swapped_tracks_fail_instead_of_showing_the_other_persons_media() {
    let mut room = Room::settled(&["Ada", "Bob", "Cyd"]);
    let (ada, bob, cyd) = (0, 1, 2);
    let (ada_id, bob_id) = (room.clients[ada].id.0.clone(), room.clients[bob].id.0.clone());
    // The server labels Ada's track as Bob's and Bob's as Ada's.
    let from_ada = room.frame_from(ada, "ada's face");
    let from_bob = room.frame_from(bob, "bob's face");
    let ring = &mut room.clients[cyd].ring;
    assert!(matches!(
        ring.decrypt_from(&bob_id, MediaKind::Video, &from_ada),
        Err(FrameError::WrongSender { .. })
    ));
    assert!(matches!(
        ring.decrypt_from(&ada_id, MediaKind::Video, &from_bob),
        Err(FrameError::WrongSender { .. })
    ));
    // On the right tiles they play.
    assert!(ring.decrypt_from(&ada_id, MediaKind::Video, &from_ada).is_ok());
    assert!(ring.decrypt_from(&bob_id, MediaKind::Video, &from_bob).is_ok());
}

#[test]
fn a_participant_outside_the_epoch_has_no_leaf_to_send_from() {
    let mut room = Room::settled(&["Ada", "Bob"]);
    let (ada, bob) = (0, 1);
    let frame = room.frame_from(ada, "x");
    let err =
        room.clients[bob].ring.decrypt_from("p_nobody", MediaKind::Video, &frame).unwrap_err();
    assert_eq!(err, FrameError::WrongSender { sender_leaf: 0, owner_leaf: None });
}

#[test]
fn a_camera_relabelled_as_a_screen_share_fails_as_wrong_source() {
    let mut room = Room::settled(&["Ada", "Bob"]);
    let (ada, bob) = (0, 1);
    let ada_id = room.clients[ada].id.0.clone();
    // Ada's camera frame (context 1) arrives on a track the server says is her screen
    // (context 2).
    let camera = room.frame_from(ada, "ada's face");
    let ring = &mut room.clients[bob].ring;
    let err = ring.decrypt_track(&ada_id, 2, MediaKind::Video, &camera).unwrap_err();
    assert_eq!(err, FrameError::WrongSource { context_id: 1, expected: 2 });
    assert_eq!(ring.failures().wrong_source, 1);
    // On her camera track it plays, and the refusal did not touch the replay window.
    assert!(ring.decrypt_track(&ada_id, 1, MediaKind::Video, &camera).is_ok());
}
