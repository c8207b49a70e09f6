//! No single member can stop key rotation: when the member the server names (and that sits at
//! the lowest leaf) commits nothing, the next member by leaf order commits the outstanding adds
//! and removals after `FALLBACK_MS`.

mod common;

use common::Room;
use veil_e2ee::session::FALLBACK_MS;

#[test]
fn a_committer_that_ignores_add_requests_is_replaced_within_the_fallback_interval() {
    let mut room = Room::settled(&["Ada", "Bob"]);
    let (ada, bob) = (0, 1);
    assert_eq!(room.agreed(), 1);
    // Ada, at the lowest leaf and named by the server, stops committing.
    room.clients[ada].commits = false;
    let asked_at = room.now;
    let cyd = room.join("Cyd");
    room.settle();
    assert!(!room.clients[cyd].session.is_member());
    room.advance(FALLBACK_MS - 1);
    assert!(!room.clients[cyd].session.is_member(), "Bob waits for Ada first");
    room.advance(500);
    assert!(room.clients[cyd].session.is_member(), "Bob committed the add");
    let added_at = room.now;
    assert!(added_at - asked_at <= FALLBACK_MS + 500);
    assert_eq!(room.agreed(), 2);
    let _ = bob;
}

#[test]
fn a_silent_committer_cannot_keep_a_leaver_in_the_group() {
    let mut room = Room::settled(&["Ada", "Bob", "Cyd"]);
    let (ada, bob, cyd) = (0, 1, 2);
    room.clients[ada].commits = false;
    room.leave(cyd);
    room.advance(FALLBACK_MS + 500);
    assert_eq!(room.clients[bob].session.members().len(), 2, "Bob committed the removal");
    assert_eq!(room.agreed(), 3);
}

#[test]
fn with_two_silent_members_the_third_commits_after_twice_the_interval() {
    let mut room = Room::settled(&["Ada", "Bob", "Cyd"]);
    let (ada, bob, cyd) = (0, 1, 2);
    room.clients[ada].commits = false;
    room.clients[bob].commits = false;
    let dan = room.join("Dan");
    room.advance(2 * FALLBACK_MS - 1);
    assert!(!room.clients[dan].session.is_member());
    room.advance(500);
    assert!(room.clients[dan].session.is_member(), "Cyd, third by leaf, committed");
    let _ = cyd;
}
