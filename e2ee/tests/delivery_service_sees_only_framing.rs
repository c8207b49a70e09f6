//! The server's side holds no group secret: it reads the clear framing header of handshake
//! messages to order commits, and signs Remove proposals as the group's external sender.

mod common;

use common::{Ds, GROUP, Peer, commit, three_member_room};
use veil_e2ee::Processed;
use veil_e2ee::ds::{ContentKind, ExternalSender, MessageEpoch, message_epoch};

#[test]
fn commits_and_proposals_show_group_epoch_and_kind_in_the_clear() {
    let mut ds = Ds::default();
    let (mut alice, _bob, _carol) = three_member_room(&mut ds);

    let bundle = alice.member.remove_members(&[1]).unwrap();
    assert_eq!(
        message_epoch(&bundle.commit),
        Some(MessageEpoch { group_id: GROUP.to_vec(), epoch: 2, content: ContentKind::Commit })
    );
    let proposal = ds.sender.remove_proposal(GROUP, 2, 2).unwrap();
    assert_eq!(
        message_epoch(&proposal),
        Some(MessageEpoch { group_id: GROUP.to_vec(), epoch: 2, content: ContentKind::Proposal })
    );
}

#[test]
fn welcomes_key_packages_and_garbage_have_no_epoch_header() {
    let mut ds = Ds::default();
    let mut alice = Peer::new("p-alice", "Alice");
    common::create_room(&ds, &mut alice);
    let bob = Peer::new("p-bob", "Bob");
    let key_package = bob.member.key_package().unwrap();
    let bundle = alice.member.add_members(std::slice::from_ref(&key_package)).unwrap();
    assert!(ds.submit(&bundle.commit));

    assert_eq!(message_epoch(&key_package), None);
    assert_eq!(message_epoch(bundle.welcome.as_ref().unwrap()), None);
    assert_eq!(message_epoch(b""), None);
    assert_eq!(message_epoch(&[0x00, 0x01, 0x00, 0x01, 0xff]), None);
    let mut truncated = bundle.commit.clone();
    truncated.truncate(truncated.len() / 2);
    assert_eq!(message_epoch(&truncated), None);
}

#[test]
fn commits_and_welcomes_do_not_show_display_names_to_the_server() {
    let mut ds = Ds::default();
    let (mut alice, _bob, _carol) = three_member_room(&mut ds);
    let mut dave = Peer::new("p-dave", "Dave Dangerfield");
    let key_package = dave.member.key_package().unwrap();
    // Known gap: a key package is public by design (RFC 9420 §10), so the server relaying it
    // reads the display name in its credential. Flip this once names leave key packages.
    assert!(key_package.windows(11).any(|w| w == b"Dangerfield"));
    let bundle = alice.member.add_members(&[key_package]).unwrap();
    // The commit is a PrivateMessage: the new member's display name is not in it in the clear.
    assert!(!bundle.commit.windows(11).any(|w| w == b"Dangerfield"));
    // The Welcome is encrypted to Dave's key package.
    assert!(!bundle.welcome.as_ref().unwrap().windows(11).any(|w| w == b"Dangerfield"));
    commit(&mut ds, &mut alice, bundle, &mut [], &mut [&mut dave], 0);
    assert!(dave.member.members().unwrap().iter().any(|m| m.display_name == "Carol"));
}

#[test]
fn the_external_sender_key_survives_a_round_trip_through_storage() {
    let mut ds = Ds::default();
    let (mut alice, mut bob, _carol) = three_member_room(&mut ds);

    let stored = ds.sender.to_bytes().unwrap();
    let restored = ExternalSender::from_bytes(&stored).unwrap();
    assert_eq!(restored.info(), ds.sender.info());

    // Another node of the deployment, holding the restored key, proposes Carol's removal.
    let proposal = restored.remove_proposal(GROUP, 2, 2).unwrap();
    assert_eq!(
        bob.member.process_message(&proposal),
        Ok(Processed::ProposalQueued { removes: 2, external: true })
    );
    alice.member.process_message(&proposal).unwrap();
    let bundle = bob.member.commit_pending_proposals().unwrap().unwrap();
    commit(&mut ds, &mut bob, bundle, &mut [&mut alice], &mut [], 0);
    assert_eq!(alice.member.members().unwrap().len(), 2);

    assert!(ExternalSender::from_bytes(&stored[..stored.len() - 1]).is_err());
    assert!(ExternalSender::from_bytes(b"").is_err());
}

#[test]
fn debug_output_never_shows_private_keys() {
    let sender = ExternalSender::generate().unwrap();
    let stored = sender.to_bytes().unwrap();
    let shown = format!("{sender:?} {:?}", sender.info());
    // The private key is the 32 bytes after the identity and a length prefix; none of its
    // hex or decimal forms may appear.
    let private = &stored[2 + veil_e2ee::ds::DEFAULT_IDENTITY.len() + 1..][..32];
    let hex: String = private.iter().map(|b| format!("{b:02x}")).collect();
    assert!(!shown.contains(&hex[..16]), "{shown}");
    assert!(shown.contains("redacted"), "{shown}");

    let alice = Peer::new("p-alice", "Alice");
    let shown = format!("{:?}", alice.member);
    assert!(shown.contains("redacted") && shown.contains("p-alice"), "{shown}");
}
