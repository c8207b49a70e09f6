//! Key packages name only the participant id; a joiner publishes its display name inside the
//! group with a self-update commit, which the server relays as an opaque PrivateMessage.

mod common;

use common::{Ds, Peer, announce, commit, names, three_member_room};
use veil_e2ee::{GroupError, Processed};

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|&(id, name)| (id.to_owned(), name.to_owned())).collect()
}

#[test]
fn a_joiner_announces_its_name_and_everyone_including_later_joiners_sees_it() {
    let mut ds = Ds::default();
    let (mut alice, mut bob, mut carol) = three_member_room(&mut ds);

    // Joined from Welcomes: only the creator's name is known so far.
    let unnamed = pairs(&[("p-alice", "Alice"), ("p-bob", ""), ("p-carol", "")]);
    for peer in [&alice, &bob, &carol] {
        assert_eq!(names(peer), unnamed);
    }
    // The creator's leaf carries its name from the start.
    assert_eq!(alice.member.announce_name(), Ok(None));

    // Bob announces: a commit like any other, with a new epoch and new keys.
    let secret_before = alice.secret();
    let bundle = bob.member.announce_name().unwrap().unwrap();
    assert_eq!(bundle.epoch_before, 2);
    assert!(bundle.removed.is_empty() && bundle.welcome.is_none());
    assert_eq!(commit(&mut ds, &mut bob, bundle, &mut [&mut alice, &mut carol], &mut [], 0), 3);
    assert_ne!(alice.secret(), secret_before);
    assert_eq!(alice.code(), carol.code());
    let bob_named = pairs(&[("p-alice", "Alice"), ("p-bob", "Bob"), ("p-carol", "")]);
    for peer in [&alice, &bob, &carol] {
        assert_eq!(names(peer), bob_named);
    }
    // Nothing more to announce; fingerprints are unchanged (same signature key).
    assert_eq!(bob.member.announce_name(), Ok(None));
    assert_eq!(alice.member.members().unwrap()[1].fingerprint, bob.member.fingerprint());

    // Dave joins later and reads Bob's name from his Welcome, then announces his own.
    let mut dave = Peer::new("p-dave", "Dave");
    let add = alice.member.add_members(&[dave.member.key_package().unwrap()]).unwrap();
    commit(&mut ds, &mut alice, add, &mut [&mut bob, &mut carol], &mut [&mut dave], 0);
    assert_eq!(
        names(&dave),
        pairs(&[("p-alice", "Alice"), ("p-bob", "Bob"), ("p-carol", ""), ("p-dave", "")])
    );
    announce(&mut ds, &mut dave, &mut [&mut alice, &mut bob, &mut carol]);
    announce(&mut ds, &mut carol, &mut [&mut alice, &mut bob, &mut dave]);
    let all =
        pairs(&[("p-alice", "Alice"), ("p-bob", "Bob"), ("p-carol", "Carol"), ("p-dave", "Dave")]);
    for peer in [&alice, &bob, &carol, &dave] {
        assert_eq!(names(peer), all);
        assert_eq!(peer.code(), alice.code());
    }
}

#[test]
fn a_stale_announcement_is_discarded_and_redone() {
    let mut ds = Ds::default();
    let (mut alice, mut bob, mut carol) = three_member_room(&mut ds);
    let mut dave = Peer::new("p-dave", "Dave");

    // Carol announces while Alice adds Dave, both in epoch 2; the server keeps Alice's.
    let alices = alice.member.add_members(&[dave.member.key_package().unwrap()]).unwrap();
    let carols = carol.member.announce_name().unwrap().unwrap();
    assert_eq!((alices.epoch_before, carols.epoch_before), (2, 2));
    assert!(ds.submit(&alices.commit));
    assert!(!ds.submit(&carols.commit));
    assert_eq!(carol.member.announce_name().unwrap_err(), GroupError::PendingCommit);

    carol.member.discard_pending_commit().unwrap();
    assert_eq!(
        carol.member.process_message(&alices.commit),
        Ok(Processed::EpochChanged { epoch: 3 })
    );
    alice.member.merge_pending_commit().unwrap();
    bob.member.process_message(&alices.commit).unwrap();
    dave.member.join_from_welcome(alices.welcome.as_ref().unwrap()).unwrap();
    // The refused announcement changed nothing anywhere.
    for peer in [&alice, &bob, &carol, &dave] {
        assert_eq!(names(peer)[2], ("p-carol".to_owned(), String::new()));
    }
    assert_eq!(
        bob.member.process_message(&carols.commit),
        Err(GroupError::WrongEpoch { message: 2, group: 3 })
    );

    // Carol announces again in epoch 3.
    let again = carol.member.announce_name().unwrap().unwrap();
    assert_eq!(again.epoch_before, 3);
    commit(&mut ds, &mut carol, again, &mut [&mut alice, &mut bob, &mut dave], &mut [], 0);
    for peer in [&alice, &bob, &carol, &dave] {
        assert_eq!(names(peer)[2], ("p-carol".to_owned(), "Carol".to_owned()));
        assert_eq!(peer.code(), alice.code());
    }
}

#[test]
fn an_announcement_commits_queued_removals_and_lists_them() {
    let mut ds = Ds::default();
    let (mut alice, mut bob, mut carol) = three_member_room(&mut ds);
    // Carol leaves; the server proposes her removal and Bob announces before anyone commits it.
    let proposal = ds.sender.remove_proposal(common::GROUP, 2, carol.leaf()).unwrap();
    for peer in [&mut alice, &mut bob, &mut carol] {
        peer.member.process_message(&proposal).unwrap();
    }
    let bundle = bob.member.announce_name().unwrap().unwrap();
    assert_eq!(bundle.removed, [2]);
    commit(&mut ds, &mut bob, bundle.clone(), &mut [&mut alice], &mut [], 0);
    assert_eq!(carol.member.process_message(&bundle.commit), Ok(Processed::Evicted { epoch: 3 }));
    assert_eq!(names(&alice), pairs(&[("p-alice", "Alice"), ("p-bob", "Bob")]));
    assert!(alice.member.commit_pending_proposals().unwrap().is_none());
}
