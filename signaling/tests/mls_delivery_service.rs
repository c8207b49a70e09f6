//! The MLS delivery service over real WebSockets, with real MLS members and the real
//! verification (`veil-ds`): key packages reach the committer, commits are verified before the
//! first of an epoch wins, Welcomes reach only the added, garbage and forgeries are refused
//! while the group goes on, and a member who leaves is proposed for removal by the server.

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use common::{Client, Server};
use serde_json::{Value, json};
use veil_e2ee::group::{CommitBundle, ExternalSenderInfo, Member, Processed};

/// A participant: its signaling connection and its MLS member.
struct Peer {
    client: Client,
    member: Member,
    id: String,
    joined: Value,
}

fn b64(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

fn unb64(v: &Value) -> Vec<u8> {
    B64.decode(v.as_str().expect("a base64 string")).expect("base64")
}

fn external(joined: &Value) -> ExternalSenderInfo {
    let key = &joined["e2ee"]["external_sender"];
    ExternalSenderInfo {
        signature_key: unb64(&key["signature_key"]),
        identity: unb64(&key["identity"]),
    }
}

fn commit_message(bundle: &CommitBundle) -> Value {
    let mut msg = json!({"v":2,"type":"mls_commit","epoch":bundle.epoch_before,
        "commit":b64(&bundle.commit)});
    if let Some(welcome) = &bundle.welcome {
        msg["welcome"] = json!(b64(welcome));
    }
    msg
}

impl Peer {
    async fn join(server: &Server, room: &str, who: &str) -> Peer {
        let (client, joined) = server.joined(room, Some(who)).await;
        let id = joined["participant_id"].as_str().unwrap().to_owned();
        Peer { client, member: Member::new(&id).unwrap(), id, joined }
    }

    /// Creates the room's group and reports it with its GroupInfo.
    async fn create_group(&mut self) {
        assert_eq!(self.joined["e2ee"]["create_group"], true);
        let group_id = unb64(&self.joined["e2ee"]["group_id"]);
        self.member.create_group(&group_id, Some(external(&self.joined))).unwrap();
        let info = b64(&self.member.group_info().unwrap());
        self.client.send(json!({"v":2,"type":"mls_group_created","group_info":info})).await;
    }

    async fn send_key_package(&mut self) {
        let kp = b64(&self.member.key_package().unwrap());
        self.client.send(json!({"v":2,"type":"mls_key_package","key_package":kp})).await;
    }

    async fn send_commit(&mut self, bundle: &CommitBundle) {
        self.client.send(commit_message(bundle)).await;
    }

    /// Expects an add request and commits it.
    async fn commit_add_request(&mut self) -> Value {
        let request = self.client.expect("mls_add_request").await;
        let bundle = self.member.add_members(&[unb64(&request["key_package"])]).unwrap();
        self.send_commit(&bundle).await;
        request
    }

    /// Expects the server to accept our commit, and merges it.
    async fn accepted(&mut self) -> u64 {
        let epoch = self.client.expect("mls_commit_accepted").await["epoch"].as_u64().unwrap();
        assert_eq!(self.member.merge_pending_commit().unwrap(), epoch);
        epoch
    }

    async fn welcomed(&mut self) {
        let welcome = self.client.expect("mls_welcome").await;
        self.member.join_from_welcome(&unb64(&welcome["welcome"])).unwrap();
        let (epoch, leaf) = (self.member.epoch().unwrap(), self.member.own_leaf().unwrap());
        self.client.send(json!({"v":2,"type":"mls_joined","epoch":epoch,"leaf":leaf})).await;
    }

    /// Expects another member's commit and merges it.
    async fn follow(&mut self) -> u64 {
        let relayed = self.client.expect("mls_commit").await;
        self.merge_relayed(&relayed)
    }

    fn merge_relayed(&mut self, relayed: &Value) -> u64 {
        let processed = self.member.process_message(&unb64(&relayed["commit"])).unwrap();
        let Processed::Commit(incoming) = processed else { panic!("not a commit") };
        let merged = self.member.merge_commit(incoming).unwrap();
        assert_eq!(Some(merged.epoch), relayed["epoch"].as_u64());
        merged.epoch
    }

    /// Expects the server's Remove proposal and queues it; returns the leaf it removes.
    async fn queue_proposal(&mut self) -> u32 {
        let proposal = self.client.expect("mls_proposal").await;
        match self.member.process_message(&unb64(&proposal["proposal"])).unwrap() {
            Processed::ProposalQueued { removes, external: true } => removes,
            other => panic!("not the server's proposal: {other:?}"),
        }
    }
}

/// Ada creates the room's group and adds Bob (epoch 1); Carl joins, Bob and Ada both add
/// him, Bob first (epoch 2).
async fn room_of_three(server: &Server, room: &str) -> (Peer, Peer, Peer) {
    let mut ada = Peer::join(server, room, "ada").await;
    ada.create_group().await;
    let mut bob = Peer::join(server, room, "bob").await;
    assert_eq!(bob.joined["e2ee"]["create_group"], false);
    assert_eq!(bob.joined["e2ee"]["group_id"], ada.joined["e2ee"]["group_id"]);
    ada.client.expect("participant_joined").await;
    bob.send_key_package().await;
    let request = ada.commit_add_request().await;
    assert_eq!(request["participant_id"].as_str(), Some(bob.id.as_str()));
    assert_eq!(request["committer"].as_str(), Some(ada.id.as_str()));
    assert_eq!(ada.accepted().await, 1);
    bob.welcomed().await;

    let mut carl = Peer::join(server, room, "carl").await;
    ada.client.expect("participant_joined").await;
    bob.client.expect("participant_joined").await;
    carl.send_key_package().await;
    bob.commit_add_request().await;
    assert_eq!(bob.accepted().await, 2);
    carl.welcomed().await;
    // Ada commits the same add in epoch 1, too late: Bob's commit reached her first, hers is
    // refused as stale and never relayed; she drops it and follows Bob's.
    ada.commit_add_request().await;
    let relayed = ada.client.expect("mls_commit").await;
    ada.client.expect_error("mls_stale_commit", false).await;
    ada.member.discard_pending_commit().unwrap();
    assert_eq!(ada.merge_relayed(&relayed), 2);
    (ada, bob, carl)
}

#[tokio::test]
async fn commits_are_verified_ordered_and_welcomes_routed() {
    let server = Server::start().await;
    let (mut ada, mut bob, mut carl) = room_of_three(&server, "r").await;
    // Only the winner's Welcome reached Carl: all three share the epoch.
    for p in [&ada, &bob] {
        assert_eq!(p.member.verification_code(), carl.member.verification_code());
    }
    assert_eq!(carl.member.epoch().unwrap(), 2);

    // Someone outside the group cannot commit, even a well-formed commit of its own group.
    let mut eve = Peer::join(&server, "r", "eve").await;
    for p in [&mut ada, &mut bob, &mut carl] {
        p.client.expect("participant_joined").await;
    }
    let mut stranger = Member::new(&eve.id).unwrap();
    stranger.create_group(&unb64(&eve.joined["e2ee"]["group_id"]), None).unwrap();
    let outsider = Member::new("p_outsider").unwrap();
    let forged = stranger.add_members(&[outsider.key_package().unwrap()]).unwrap();
    eve.send_commit(&forged).await;
    eve.client.expect_error("mls_not_member", false).await;
    server.still_serves().await;
}

#[tokio::test]
async fn garbage_and_forged_commits_are_refused_and_the_group_goes_on() {
    let server = Server::start().await;
    let (mut ada, mut bob, mut carl) = room_of_three(&server, "forge").await;

    // Garbage at the current epoch.
    let garbage = json!({"v":2,"type":"mls_commit","epoch":2,"commit":b64(b"not a commit at all")});
    bob.client.send(garbage).await;
    bob.client.expect_error("mls_invalid_commit", false).await;

    // A real commit with one byte of its signature changed.
    let mut tampered = carl.member.remove_members(&[0]).unwrap();
    carl.member.discard_pending_commit().unwrap();
    let at = tampered.commit.len() - 10;
    tampered.commit[at] ^= 0x01;
    carl.send_commit(&tampered).await;
    carl.client.expect_error("mls_invalid_commit", false).await;

    // Bob's commit, sent by Carl: signed by another member's leaf.
    let bobs = bob.member.remove_members(&[0]).unwrap();
    bob.member.discard_pending_commit().unwrap();
    carl.send_commit(&bobs).await;
    let error = carl.client.expect_error("mls_invalid_commit", false).await;
    assert!(error["message"].as_str().unwrap().contains("another member"), "{error}");

    // Bob's own commit, removing Ada who is still in the room.
    bob.send_commit(&bobs).await;
    let error = bob.client.expect_error("mls_invalid_commit", false).await;
    assert!(error["message"].as_str().unwrap().contains("has not left"), "{error}");

    // None of it moved the group: Carl leaves, the server proposes his removal in epoch 2,
    // Ada commits it and Bob follows.
    carl.client.leave().await;
    for p in [&mut ada, &mut bob] {
        p.client.expect("participant_left").await;
        assert_eq!(p.queue_proposal().await, 2, "Carl's leaf");
    }
    let removal = ada.member.commit_pending_proposals().unwrap().unwrap();
    assert_eq!(removal.removed, vec![2]);
    ada.send_commit(&removal).await;
    assert_eq!(ada.accepted().await, 3);
    assert_eq!(bob.follow().await, 3);
    assert_eq!(ada.member.members().unwrap().len(), 2);
    assert_eq!(ada.member.verification_code(), bob.member.verification_code());
}

#[tokio::test]
async fn a_member_claiming_another_members_leaf_is_refused_and_the_victim_stays() {
    let server = Server::start().await;
    let (mut ada, mut bob, mut carl) = room_of_three(&server, "claim").await;
    let bobs_leaf = bob.member.own_leaf().unwrap();
    carl.client.send(json!({"v":2,"type":"mls_joined","epoch":2,"leaf":bobs_leaf})).await;
    carl.client.expect_error("mls_invalid_message", false).await;
    // When Carl leaves, the server proposes Carl's leaf for removal, never Bob's.
    carl.client.leave().await;
    for p in [&mut ada, &mut bob] {
        p.client.expect("participant_left").await;
        assert_eq!(p.queue_proposal().await, 2);
    }
    let removal = ada.member.commit_pending_proposals().unwrap().unwrap();
    ada.send_commit(&removal).await;
    ada.accepted().await;
    bob.follow().await;
    let members: Vec<String> =
        ada.member.members().unwrap().into_iter().map(|m| m.participant_id).collect();
    assert_eq!(members, vec![ada.id.clone(), bob.id.clone()]);
}

#[tokio::test]
async fn a_commit_adding_someone_not_waiting_is_refused() {
    let server = Server::start().await;
    let mut ada = Peer::join(&server, "r", "ada").await;
    ada.create_group().await;
    // Dave waits in another room; his key package is real and names him.
    let dave = Peer::join(&server, "elsewhere", "dave").await;
    let smuggled = ada.member.add_members(&[dave.member.key_package().unwrap()]).unwrap();
    ada.send_commit(&smuggled).await;
    let error = ada.client.expect_error("mls_invalid_commit", false).await;
    assert!(error["message"].as_str().unwrap().contains("not waiting"), "{error}");
    ada.member.discard_pending_commit().unwrap();
    // The group goes on: a real newcomer is added.
    let mut bob = Peer::join(&server, "r", "bob").await;
    ada.client.expect("participant_joined").await;
    bob.send_key_package().await;
    ada.commit_add_request().await;
    assert_eq!(ada.accepted().await, 1);
    bob.welcomed().await;
}

#[tokio::test]
async fn application_messages_reach_the_other_members_as_sent() {
    let server = Server::start().await;
    let (mut ada, mut bob, mut carl) = room_of_three(&server, "chat").await;
    let message = b64(&ada.member.send_application(b"only for members").unwrap());
    ada.client.send(json!({"v":2,"type":"mls_application","epoch":2,"message":message})).await;
    for p in [&mut bob, &mut carl] {
        let relayed = p.client.expect("mls_application").await;
        assert_eq!(relayed["from"].as_str(), Some(ada.id.as_str()));
        match p.member.process_message(&unb64(&relayed["message"])).unwrap() {
            Processed::Application { sender, payload } => {
                assert_eq!(
                    (sender.as_str(), &payload[..]),
                    (ada.id.as_str(), &b"only for members"[..])
                );
            }
            other => panic!("{other:?}"),
        }
    }
    // A declared epoch that is not the message's own is refused.
    let lying = json!({"v":2,"type":"mls_application","epoch":1,"message":message});
    ada.client.send(lying).await;
    ada.client.expect_error("mls_invalid_message", false).await;
}

/// A Welcome carries the whole ratchet tree, about 600 bytes per member: joining a room of a
/// few hundred means a commit of a few hundred KiB, which must reach the newcomer whole.
#[tokio::test]
async fn a_welcome_for_a_large_room_is_relayed_whole() {
    let server = Server::start().await;
    let mut ada = Peer::join(&server, "big", "ada").await;
    ada.create_group().await;
    let mut bob = Peer::join(&server, "big", "bob").await;
    ada.client.expect("participant_joined").await;
    bob.send_key_package().await;
    let request = ada.client.expect("mls_add_request").await;
    let bundle = ada.member.add_members(&[unb64(&request["key_package"])]).unwrap();
    let welcome = "V".repeat(300 * 600 * 4 / 3);
    let mut msg = commit_message(&bundle);
    msg["welcome"] = json!(welcome);
    ada.client.send(msg).await;
    assert_eq!(ada.accepted().await, 1);
    assert_eq!(
        bob.client.expect("mls_welcome").await["welcome"].as_str().map(str::len),
        Some(welcome.len())
    );
}
