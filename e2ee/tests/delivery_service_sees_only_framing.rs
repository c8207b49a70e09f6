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
fn display_names_appear_in_no_message_the_server_sees() {
    const NAMES: [&str; 4] =
        ["Alice Aardvark", "Bob Bumblebee", "Carol Caraway", "Dave Dangerfield"];
    let mut ds = Ds::default();
    // Everything the server relays or makes: key packages, commits, Welcomes, proposals.
    let mut seen: Vec<Vec<u8>> = Vec::new();
    let mut alice = Peer::new("p-alice", NAMES[0]);
    let mut bob = Peer::new("p-bob", NAMES[1]);
    let mut carol = Peer::new("p-carol", NAMES[2]);
    let mut dave = Peer::new("p-dave", NAMES[3]);
    common::create_room(&ds, &mut alice);

    // Bob joins and announces his name.
    let kp = bob.member.key_package().unwrap();
    seen.push(kp.clone());
    let add = alice.member.add_members(&[kp]).unwrap();
    seen.extend([add.commit.clone(), add.welcome.clone().unwrap()]);
    commit(&mut ds, &mut alice, add, &mut [], &mut [&mut bob], 0);
    let named = bob.member.announce_name().unwrap().unwrap();
    seen.push(named.commit.clone());
    commit(&mut ds, &mut bob, named, &mut [&mut alice], &mut [], 0);

    // Carol and Dave join together (their Welcome carries Alice's and Bob's names), then
    // announce theirs.
    let kps = [carol.member.key_package().unwrap(), dave.member.key_package().unwrap()];
    seen.extend(kps.iter().cloned());
    let add = bob.member.add_members(&kps).unwrap();
    seen.extend([add.commit.clone(), add.welcome.clone().unwrap()]);
    commit(&mut ds, &mut bob, add, &mut [&mut alice], &mut [&mut carol, &mut dave], 0);
    let named = carol.member.announce_name().unwrap().unwrap();
    seen.push(named.commit.clone());
    commit(&mut ds, &mut carol, named, &mut [&mut alice, &mut bob, &mut dave], &mut [], 0);
    let named = dave.member.announce_name().unwrap().unwrap();
    seen.push(named.commit.clone());
    commit(&mut ds, &mut dave, named, &mut [&mut alice, &mut bob, &mut carol], &mut [], 0);

    // Carol leaves: the server's Remove proposal, and the commit of it.
    let proposal = ds.sender.remove_proposal(GROUP, 5, carol.leaf()).unwrap();
    seen.push(proposal.clone());
    for peer in [&mut alice, &mut bob, &mut dave] {
        peer.member.process_message(&proposal).unwrap();
    }
    let removal = alice.member.commit_pending_proposals().unwrap().unwrap();
    assert_eq!(removal.removed, [carol.leaf()]);
    seen.push(removal.commit.clone());
    commit(&mut ds, &mut alice, removal, &mut [&mut bob, &mut dave], &mut [], 0);

    // Every member knows every name...
    let shown: Vec<String> =
        dave.member.members().unwrap().into_iter().map(|m| m.display_name).collect();
    assert_eq!(shown, [NAMES[0], NAMES[1], NAMES[3]]);
    // ...and not one byte string the server handled contains any of them, nor any part of one.
    assert_eq!(seen.len(), 12);
    for name in NAMES {
        for word in name.split(' ') {
            for message in &seen {
                assert!(
                    !message.windows(word.len()).any(|w| w == word.as_bytes()),
                    "{word:?} in a message the server sees"
                );
            }
        }
    }
    // The participant ids the server assigned are what key packages carry instead.
    assert!(seen[0].windows(5).any(|w| w == b"p-bob"));
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
