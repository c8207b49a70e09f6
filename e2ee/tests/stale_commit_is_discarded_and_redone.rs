//! Two members commit in the same epoch; the server keeps the first. The loser discards its
//! staged commit, processes the winner, and commits again in the new epoch.

mod common;

use common::{Ds, Peer, commit, three_member_room};
use veil_e2ee::{GroupError, Processed};

#[test]
fn the_losing_commit_is_discarded_processed_over_and_redone() {
    let mut ds = Ds::default();
    let (mut alice, mut bob, mut carol) = three_member_room(&mut ds);
    let (mut dave, mut erin) = (Peer::new("p-dave", "Dave"), Peer::new("p-erin", "Erin"));

    // Bob adds Dave while Carol adds Erin, both in epoch 2.
    let bobs = bob.member.add_members(&[dave.member.key_package().unwrap()]).unwrap();
    let carols = carol.member.add_members(&[erin.member.key_package().unwrap()]).unwrap();
    assert_eq!((bobs.epoch_before, carols.epoch_before), (2, 2));

    // The server sees Bob's first.
    assert!(ds.submit(&bobs.commit));
    assert!(!ds.submit(&carols.commit), "the second commit of epoch 2 is refused");

    // A member cannot stage another commit while one is pending.
    assert_eq!(carol.member.remove_members(&[0]).unwrap_err(), GroupError::PendingCommit);

    // Carol drops hers and follows Bob's.
    carol.member.discard_pending_commit().unwrap();
    assert!(!carol.member.has_pending_commit());
    assert_eq!(
        carol.member.process_message(&bobs.commit),
        Ok(Processed::EpochChanged { epoch: 3 })
    );
    carol.install(0);

    // Bob's commit is applied everywhere else; Dave joins.
    assert_eq!(bob.member.merge_pending_commit(), Ok(3));
    bob.install(0);
    assert_eq!(
        alice.member.process_message(&bobs.commit),
        Ok(Processed::EpochChanged { epoch: 3 })
    );
    alice.install(0);
    dave.member.join_from_welcome(bobs.welcome.as_ref().unwrap()).unwrap();
    dave.install(0);

    // The server must not relay the refused commit's Welcome: whoever used it would land in a
    // fork of the group that nobody else is in, and its verification code would not match.
    erin.member.join_from_welcome(carols.welcome.as_ref().unwrap()).unwrap();
    assert_eq!(erin.epoch(), 3);
    assert_ne!(erin.code(), alice.code());
    assert_ne!(erin.secret(), alice.secret());
    // Carol's refused commit is from a past epoch now.
    assert_eq!(
        alice.member.process_message(&carols.commit),
        Err(GroupError::WrongEpoch { message: 2, group: 3 })
    );

    // Carol commits again in epoch 3 with a fresh key package from Erin.
    let mut erin = Peer::new("p-erin", "Erin");
    let again = carol.member.add_members(&[erin.member.key_package().unwrap()]).unwrap();
    assert_eq!(again.epoch_before, 3);
    let epoch = commit(
        &mut ds,
        &mut carol,
        again,
        &mut [&mut alice, &mut bob, &mut dave],
        &mut [&mut erin],
        0,
    );
    assert_eq!(epoch, 4);

    let code = alice.code();
    for peer in [&bob, &carol, &dave, &erin] {
        assert_eq!(peer.code(), code);
        assert_eq!(peer.secret(), alice.secret());
    }
    let frame = erin.send("hi all");
    assert_eq!(dave.ring.decrypt(3, &frame).unwrap().sender_leaf, erin.leaf());
}

#[test]
fn the_author_recognises_its_own_commit_when_the_server_echoes_it() {
    let mut ds = Ds::default();
    let (mut alice, mut bob, _carol) = three_member_room(&mut ds);
    let bundle = bob.member.remove_members(&[2]).unwrap();
    assert!(ds.submit(&bundle.commit));

    assert_eq!(bob.member.process_message(&bundle.commit), Ok(Processed::OwnMessage));
    assert_eq!(bob.member.merge_pending_commit(), Ok(3));
    assert_eq!(
        alice.member.process_message(&bundle.commit),
        Ok(Processed::EpochChanged { epoch: 3 })
    );
    assert_eq!(alice.code(), bob.code());
}

#[test]
fn a_remove_proposal_committed_by_two_members_is_applied_once() {
    let mut ds = Ds::default();
    let (mut alice, mut bob, _carol) = three_member_room(&mut ds);
    let proposal = ds.sender.remove_proposal(common::GROUP, 2, 2).unwrap();
    for peer in [&mut alice, &mut bob] {
        peer.member.process_message(&proposal).unwrap();
    }
    let alices = alice.member.commit_pending_proposals().unwrap().unwrap();
    let bobs = bob.member.commit_pending_proposals().unwrap().unwrap();
    assert!(ds.submit(&bobs.commit));
    assert!(!ds.submit(&alices.commit));

    alice.member.discard_pending_commit().unwrap();
    assert_eq!(
        alice.member.process_message(&bobs.commit),
        Ok(Processed::EpochChanged { epoch: 3 })
    );
    bob.member.merge_pending_commit().unwrap();
    assert_eq!(alice.member.members().unwrap().len(), 2);
    // The proposal was for epoch 2 and is spent: nothing is left to commit in epoch 3.
    assert!(alice.member.commit_pending_proposals().unwrap().is_none());
    assert_eq!(alice.member.discard_pending_commit(), Err(GroupError::NoPendingCommit));
}
