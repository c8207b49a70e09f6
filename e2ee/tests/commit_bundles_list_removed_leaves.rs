//! `CommitBundle::removed` names the leaves a commit removes, so the delivery service can stop
//! re-proposing a departed member's removal (`mls_commit.removed`).

mod common;

use common::{Ds, GROUP, Peer, commit, three_member_room};

#[test]
fn adds_remove_nobody() {
    let mut ds = Ds::default();
    let (mut alice, _bob, _carol) = three_member_room(&mut ds);
    let dave = Peer::new("p-dave", "Dave");
    let bundle = alice.member.add_members(&[dave.member.key_package().unwrap()]).unwrap();
    assert!(bundle.removed.is_empty());
}

#[test]
fn remove_members_lists_the_given_leaves() {
    let mut ds = Ds::default();
    let (mut alice, mut bob, mut carol) = three_member_room(&mut ds);
    let mut dave = Peer::new("p-dave", "Dave");
    let add = alice.member.add_members(&[dave.member.key_package().unwrap()]).unwrap();
    commit(&mut ds, &mut alice, add, &mut [&mut bob, &mut carol], &mut [&mut dave], 0);

    let bundle = alice.member.remove_members(&[3, 1]).unwrap();
    assert_eq!(bundle.removed, [1, 3]);
    assert!(format!("{bundle:?}").contains("removed: [1, 3]"));
    commit(&mut ds, &mut alice, bundle, &mut [&mut carol], &mut [], 0);
    let leaves: Vec<u32> = carol.member.members().unwrap().iter().map(|m| m.leaf).collect();
    assert_eq!(leaves, [0, 2]);
}

#[test]
fn commit_pending_proposals_lists_the_removals_it_commits() {
    let mut ds = Ds::default();
    let (mut alice, mut bob, _carol) = three_member_room(&mut ds);
    let proposal = ds.sender.remove_proposal(GROUP, 2, 2).unwrap();
    for peer in [&mut alice, &mut bob] {
        peer.member.process_message(&proposal).unwrap();
    }
    let bundle = bob.member.commit_pending_proposals().unwrap().unwrap();
    assert_eq!(bundle.removed, [2]);
    commit(&mut ds, &mut bob, bundle, &mut [&mut alice], &mut [], 0);
}

#[test]
fn a_host_removal_also_lists_the_queued_removals_it_commits() {
    let mut ds = Ds::default();
    let (mut alice, mut bob, _carol) = three_member_room(&mut ds);
    let proposal = ds.sender.remove_proposal(GROUP, 2, 2).unwrap();
    alice.member.process_message(&proposal).unwrap();
    bob.member.process_message(&proposal).unwrap();
    // Alice removes Bob while Carol's removal is queued: one commit removes both.
    let bundle = alice.member.remove_members(&[1]).unwrap();
    assert_eq!(bundle.removed, [1, 2]);
    commit(&mut ds, &mut alice, bundle, &mut [], &mut [], 0);
    assert_eq!(alice.member.members().unwrap().len(), 1);
}
