//! Shared harness: participants with an MLS member and an SFrame key ring each, and a delivery
//! service that relays opaque bytes and keeps the first commit of every epoch, as the
//! signaling server does.
#![allow(dead_code)] // each test binary uses its own subset

use std::collections::HashMap;

use veil_e2ee::ds::{ContentKind, ExternalSender, message_epoch};
use veil_e2ee::{CommitBundle, KeyRing, Member, Processed};

pub const GROUP: &[u8] = b"room-42";

/// One participant: its MLS state and its media keys.
pub struct Peer {
    pub member: Member,
    pub ring: KeyRing,
}

impl Peer {
    pub fn new(id: &str, name: &str) -> Self {
        Self { member: Member::new(id, name).unwrap(), ring: KeyRing::new() }
    }

    /// Installs the member's current epoch secret in its key ring, as a client does after
    /// every epoch change.
    pub fn install(&mut self, now_ms: u64) {
        let secret = self.member.sframe_epoch_secret().unwrap();
        let epoch = self.member.epoch().unwrap();
        let leaf = self.member.own_leaf().unwrap();
        self.ring.set_epoch(epoch, &secret, leaf, now_ms).unwrap();
    }

    pub fn leaf(&self) -> u32 {
        self.member.own_leaf().unwrap()
    }

    pub fn epoch(&self) -> u64 {
        self.member.epoch().unwrap()
    }

    pub fn code(&self) -> String {
        self.member.verification_code().unwrap()
    }

    pub fn secret(&self) -> Vec<u8> {
        self.member.sframe_epoch_secret().unwrap().to_vec()
    }

    /// Encrypts a video frame with a 3-byte clear VP8 header on the camera context.
    pub fn send(&mut self, text: &str) -> Vec<u8> {
        let frame = [b"VP8".as_slice(), text.as_bytes()].concat();
        self.ring.encrypt(1, 3, &frame).unwrap()
    }
}

/// The delivery service: no group secret, only the clear framing header.
pub struct Ds {
    pub sender: ExternalSender,
    first_commit: HashMap<(Vec<u8>, u64), Vec<u8>>,
}

impl Default for Ds {
    fn default() -> Self {
        Self { sender: ExternalSender::generate().unwrap(), first_commit: HashMap::new() }
    }
}

impl Ds {
    /// Whether the server keeps this commit: true for the first commit of its epoch (and for
    /// the same bytes again), false for any later one.
    pub fn submit(&mut self, commit: &[u8]) -> bool {
        let header = message_epoch(commit).expect("a commit has a clear framing header");
        assert_eq!(header.content, ContentKind::Commit);
        let kept =
            self.first_commit.entry((header.group_id, header.epoch)).or_insert(commit.to_vec());
        kept == commit
    }
}

/// Creates the room: `creator` makes the group, naming the server as external sender.
pub fn create_room(ds: &Ds, creator: &mut Peer) {
    creator.member.create_group(GROUP, Some(ds.sender.info())).unwrap();
    creator.install(0);
}

/// Runs a commit through the server and everyone: the author merges it once the server keeps
/// it, `others` process it, joiners (from `welcome`) join. Every participant installs its keys.
pub fn commit(
    ds: &mut Ds,
    author: &mut Peer,
    bundle: CommitBundle,
    others: &mut [&mut Peer],
    joiners: &mut [&mut Peer],
    now_ms: u64,
) -> u64 {
    assert!(ds.submit(&bundle.commit), "the server keeps the first commit of the epoch");
    let epoch = author.member.merge_pending_commit().unwrap();
    assert_eq!(epoch, bundle.epoch_before + 1);
    author.install(now_ms);
    for peer in others.iter_mut() {
        let processed = peer.member.process_message(&bundle.commit).unwrap();
        assert_eq!(processed, Processed::EpochChanged { epoch });
        peer.install(now_ms);
    }
    for joiner in joiners.iter_mut() {
        joiner.member.join_from_welcome(bundle.welcome.as_ref().unwrap()).unwrap();
        assert_eq!(joiner.epoch(), epoch);
        joiner.install(now_ms);
    }
    epoch
}

/// `peer` announces its display name; `others` process the commit. Returns the new epoch.
pub fn announce(ds: &mut Ds, peer: &mut Peer, others: &mut [&mut Peer]) -> u64 {
    let bundle = peer.member.announce_name().unwrap().expect("a name to announce");
    assert!(bundle.welcome.is_none());
    commit(ds, peer, bundle, others, &mut [], 0)
}

/// The `(participant id, display name)` of every member, as `peer` sees them.
pub fn names(peer: &Peer) -> Vec<(String, String)> {
    peer.member.members().unwrap().into_iter().map(|m| (m.participant_id, m.display_name)).collect()
}

/// Alice creates the room and adds Bob, then Carol (epochs 1 and 2).
pub fn three_member_room(ds: &mut Ds) -> (Peer, Peer, Peer) {
    let (mut alice, mut bob, mut carol) =
        (Peer::new("p-alice", "Alice"), Peer::new("p-bob", "Bob"), Peer::new("p-carol", "Carol"));
    create_room(ds, &mut alice);
    let add_bob = alice.member.add_members(&[bob.member.key_package().unwrap()]).unwrap();
    commit(ds, &mut alice, add_bob, &mut [], &mut [&mut bob], 0);
    let add_carol = alice.member.add_members(&[carol.member.key_package().unwrap()]).unwrap();
    commit(ds, &mut alice, add_carol, &mut [&mut bob], &mut [&mut carol], 0);
    (alice, bob, carol)
}
