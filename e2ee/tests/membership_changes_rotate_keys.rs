//! Every join and leave starts a new epoch with new SFrame keys: a newcomer cannot read what
//! was sent before it joined, a member who left or was removed cannot read what is sent after,
//! and everyone in an epoch sees the same verification code.

mod common;

use common::{Ds, GROUP, Peer, commit, three_member_room};
use veil_e2ee::{FrameError, GroupError, Processed};

#[test]
fn three_members_see_each_other_and_share_one_verification_code() {
    let mut ds = Ds::default();
    let (alice, bob, carol) = three_member_room(&mut ds);

    assert_eq!([alice.epoch(), bob.epoch(), carol.epoch()], [2, 2, 2]);
    assert_eq!(alice.code(), bob.code());
    assert_eq!(alice.code(), carol.code());
    assert_eq!(
        alice.member.epoch_authenticator().unwrap(),
        carol.member.epoch_authenticator().unwrap()
    );

    let members = carol.member.members().unwrap();
    let names: Vec<(u32, &str, &str)> = members
        .iter()
        .map(|m| (m.leaf, m.participant_id.as_str(), m.display_name.as_str()))
        .collect();
    // Bob and Carol joined from Welcomes and have not announced their names yet
    // (joiners_announce_their_names.rs): only the creator's name is in the tree.
    assert_eq!(names, [(0, "p-alice", "Alice"), (1, "p-bob", ""), (2, "p-carol", "")]);
    assert_eq!(members[0].fingerprint, alice.member.fingerprint());
    assert_eq!(members, alice.member.members().unwrap(), "everyone sees the same roster");
}

#[test]
fn members_exchange_frames_and_learn_the_sender() {
    let mut ds = Ds::default();
    let (mut alice, mut bob, mut carol) = three_member_room(&mut ds);

    let sealed = bob.send("hello from bob");
    assert_eq!(&sealed[..3], b"VP8", "the codec header stays readable for the SFU");
    for receiver in [&mut alice, &mut carol] {
        let opened = receiver.ring.decrypt(3, &sealed).unwrap();
        assert_eq!(opened.plaintext, b"VP8hello from bob");
        assert_eq!((opened.sender_leaf, opened.epoch, opened.context_id), (1, 2, 1));
    }
}

#[test]
fn a_member_who_leaves_via_the_servers_remove_proposal_cannot_read_later_frames() {
    let mut ds = Ds::default();
    let (mut alice, mut bob, mut carol) = three_member_room(&mut ds);
    let code_before = alice.code();
    let secret_before = alice.secret();

    // Bob leaves: the server proposes his removal as the group's external sender. Say his
    // client lingers and still receives everything the server relays.
    let proposal = ds.sender.remove_proposal(GROUP, 2, bob.leaf()).unwrap();
    for peer in [&mut alice, &mut bob, &mut carol] {
        let queued = peer.member.process_message(&proposal).unwrap();
        assert_eq!(queued, Processed::ProposalQueued { removes: 1, external: true });
    }
    // Carol happens to commit it.
    let bundle = carol.member.commit_pending_proposals().unwrap().expect("a queued proposal");
    assert!(bundle.welcome.is_none());
    commit(&mut ds, &mut carol, bundle.clone(), &mut [&mut alice], &mut [], 1_000);

    // The commit was made in Bob's last epoch: his client can process it, and learns it is out.
    assert_eq!(bob.member.process_message(&bundle.commit), Ok(Processed::Evicted { epoch: 3 }));
    assert_eq!(bob.member.sframe_epoch_secret().unwrap_err(), GroupError::Evicted);

    assert_ne!(alice.secret(), secret_before, "new epoch, new key");
    assert_ne!(alice.code(), code_before, "the code changes with the membership");
    assert_eq!(alice.code(), carol.code());
    assert_eq!(alice.member.members().unwrap().len(), 2);

    let after = alice.send("bob must not read this");
    assert!(carol.ring.decrypt(3, &after).is_ok());
    assert_eq!(
        bob.ring.decrypt(3, &after),
        Err(FrameError::UnknownEpoch { epoch_bits: 3, sender_leaf: 0 })
    );
}

#[test]
fn a_member_removed_by_a_host_cannot_read_later_frames() {
    let mut ds = Ds::default();
    let (mut alice, mut bob, mut carol) = three_member_room(&mut ds);

    let bundle = alice.member.remove_members(&[carol.leaf()]).unwrap();
    commit(&mut ds, &mut alice, bundle.clone(), &mut [&mut bob], &mut [], 1_000);
    assert_eq!(carol.member.process_message(&bundle.commit), Ok(Processed::Evicted { epoch: 3 }));

    let after = alice.send("carol must not read this");
    assert!(bob.ring.decrypt(3, &after).is_ok());
    assert!(carol.ring.decrypt(3, &after).is_err());
    // Even handed the other members' keys of her last epoch, she has nothing for epoch 3:
    // the frame names epoch 3 and she never derived its secret.
    assert_eq!(carol.ring.epochs(), [2]);
    assert_eq!(alice.code(), bob.code());
}

#[test]
fn a_newcomer_cannot_read_frames_sent_before_it_joined() {
    let mut ds = Ds::default();
    let (mut alice, mut bob, mut carol) = three_member_room(&mut ds);
    let before = alice.send("said before dave came");

    let mut dave = Peer::new("p-dave", "Dave");
    let bundle = bob.member.add_members(&[dave.member.key_package().unwrap()]).unwrap();
    commit(&mut ds, &mut bob, bundle, &mut [&mut alice, &mut carol], &mut [&mut dave], 2_000);

    assert_eq!(dave.epoch(), 3);
    assert_eq!(
        dave.ring.decrypt(3, &before),
        Err(FrameError::UnknownEpoch { epoch_bits: 2, sender_leaf: 0 })
    );
    // The old members still read the in-flight frame during the grace period...
    assert!(carol.ring.decrypt(3, &before).is_ok());
    // ...and everyone reads what is sent now.
    let now = alice.send("welcome dave");
    assert_eq!(dave.ring.decrypt(3, &now).unwrap().plaintext, b"VP8welcome dave");
    assert_eq!(dave.code(), alice.code());
}

#[test]
fn every_epoch_has_its_own_secret_and_code() {
    let mut ds = Ds::default();
    let (mut alice, mut bob, mut carol) = three_member_room(&mut ds);
    let mut secrets = vec![alice.secret()];
    let mut codes = vec![alice.code()];

    for name in ["Dave", "Erin"] {
        let mut newcomer = Peer::new(&format!("p-{name}"), name);
        let bundle = alice.member.add_members(&[newcomer.member.key_package().unwrap()]).unwrap();
        commit(&mut ds, &mut alice, bundle, &mut [&mut bob, &mut carol], &mut [&mut newcomer], 0);
        secrets.push(alice.secret());
        codes.push(alice.code());
        assert_eq!(newcomer.secret(), alice.secret());
    }
    let bundle = alice.member.remove_members(&[3, 4]).unwrap();
    commit(&mut ds, &mut alice, bundle, &mut [&mut bob, &mut carol], &mut [], 0);
    secrets.push(alice.secret());
    codes.push(alice.code());

    for list in [&secrets.iter().map(|s| format!("{s:?}")).collect::<Vec<_>>(), &codes] {
        let mut unique = list.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), list.len(), "no epoch repeats a secret or code: {list:?}");
    }
}
