//! The MLS delivery service over real WebSockets: key packages reach the committer, the first
//! commit of an epoch wins, Welcomes reach only the added, and a member who leaves is proposed
//! for removal by the server as external sender. The server never needs to read MLS.

mod common;

use common::Server;
use serde_json::json;

#[tokio::test]
async fn commits_are_ordered_welcomes_routed_and_leavers_proposed_for_removal() {
    let server = Server::start().await;
    let (mut ada, ada_joined) = server.joined("r", Some("ada")).await;
    assert_eq!(ada_joined["e2ee"]["create_group"], true);
    assert_eq!(ada_joined["e2ee"]["external_sender"]["identity"], "dmVpbA==");
    let ada_id = ada_joined["participant_id"].clone();
    ada.send(json!({"v":1,"type":"mls_joined","epoch":0,"leaf":0})).await;

    let (mut bob, bob_joined) = server.joined("r", Some("bob")).await;
    assert_eq!(bob_joined["e2ee"]["create_group"], false);
    assert_eq!(bob_joined["e2ee"]["group_id"], ada_joined["e2ee"]["group_id"]);
    let bob_id = bob_joined["participant_id"].clone();
    ada.expect("participant_joined").await;
    bob.send(json!({"v":1,"type":"mls_key_package","key_package":"S1BC"})).await;

    let request = ada.expect("mls_add_request").await;
    assert_eq!(request["participant_id"], bob_id);
    assert_eq!(request["key_package"], "S1BC");
    assert_eq!(request["committer"], ada_id);

    ada.send(json!({"v":1,"type":"mls_commit","epoch":0,"commit":"QzE=","welcome":"VzE=","added":[bob_id]}))
        .await;
    assert_eq!(ada.expect("mls_commit_accepted").await["epoch"], 1);
    assert_eq!(bob.expect("mls_welcome").await["welcome"], "VzE=");
    bob.send(json!({"v":1,"type":"mls_joined","epoch":1,"leaf":1})).await;

    // Carl joins; Ada and Bob both try to add him in epoch 1. The first commit wins.
    let (mut carl, carl_joined) = server.joined("r", Some("carl")).await;
    let carl_id = carl_joined["participant_id"].clone();
    carl.send(json!({"v":1,"type":"mls_key_package","key_package":"S1BD"})).await;
    ada.expect("participant_joined").await;
    bob.expect("participant_joined").await;
    ada.expect("mls_add_request").await;
    bob.expect("mls_add_request").await;
    bob.send(json!({"v":1,"type":"mls_commit","epoch":1,"commit":"QjI=","welcome":"VzI=","added":[carl_id]}))
        .await;
    assert_eq!(bob.expect("mls_commit_accepted").await["epoch"], 2);
    ada.send(json!({"v":1,"type":"mls_commit","epoch":1,"commit":"QTI=","welcome":"VzM=","added":[carl_id]}))
        .await;
    let relayed = ada.expect("mls_commit").await;
    assert_eq!((relayed["commit"].as_str(), relayed["epoch"].as_u64()), (Some("QjI="), Some(2)));
    ada.expect_error("mls_stale_commit", false).await;
    assert_eq!(carl.expect("mls_welcome").await["welcome"], "VzI=", "only the winner's Welcome");
    carl.send(json!({"v":1,"type":"mls_joined","epoch":2,"leaf":2})).await;

    // Bob leaves: the others get the server's Remove proposal for his leaf in epoch 2.
    bob.send(json!({"v":1,"type":"leave"})).await;
    for member in [&mut ada, &mut carl] {
        member.expect("participant_left").await;
        let proposal = member.expect("mls_proposal").await;
        assert_eq!(proposal["epoch"], 2);
        assert_eq!(proposal["committer"], ada_id);
        assert_eq!(proposal["proposal"], "cmVtb3ZlIDEgYXQgMg==", "remove 1 at 2");
    }
    ada.send(json!({"v":1,"type":"mls_commit","epoch":2,"commit":"UjE=","removed":[1]})).await;
    assert_eq!(carl.expect("mls_commit").await["epoch"], 3);
    assert_eq!(ada.expect("mls_commit_accepted").await["epoch"], 3);

    // Someone outside the group cannot commit.
    let (mut eve, _) = server.joined("r", Some("eve")).await;
    eve.send(json!({"v":1,"type":"mls_commit","epoch":3,"commit":"WA=="})).await;
    eve.expect_error("mls_not_member", false).await;
    server.still_serves().await;
}

/// A Welcome carries the whole ratchet tree, about 600 bytes per member: joining a room of a
/// few hundred means a commit of a few hundred KiB, which must reach the newcomer whole.
#[tokio::test]
async fn a_welcome_for_a_large_room_is_relayed_whole() {
    let server = Server::start().await;
    let (mut ada, _) = server.joined("big", Some("ada")).await;
    ada.send(json!({"v":1,"type":"mls_joined","epoch":0,"leaf":0})).await;
    let (mut bob, bob_joined) = server.joined("big", Some("bob")).await;
    ada.expect("participant_joined").await;
    bob.send(json!({"v":1,"type":"mls_key_package","key_package":"S1BC"})).await;
    ada.expect("mls_add_request").await;

    let welcome = "V".repeat(300 * 600 * 4 / 3);
    let bob_id = bob_joined["participant_id"].clone();
    ada.send(json!({"v":1,"type":"mls_commit","epoch":0,"commit":"QzE=","welcome":welcome,"added":[bob_id]}))
        .await;
    assert_eq!(ada.expect("mls_commit_accepted").await["epoch"], 1);
    assert_eq!(
        bob.expect("mls_welcome").await["welcome"].as_str().map(str::len),
        Some(welcome.len())
    );
}
