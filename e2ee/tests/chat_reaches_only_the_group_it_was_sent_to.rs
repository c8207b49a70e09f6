//! In-call chat travels as MLS application messages: each member reads what the others send,
//! attributed to the member whose leaf signed it whatever the server says, and only the group of
//! the epoch a message was sent in can read it: not a member added later, not a member who left.

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use common::Room;
use veil_e2ee::session::FALLBACK_MS;
use veil_proto::ParticipantId;
use veil_proto::signal::{ClientMessage, ServerMessage};

/// The application messages client `i` sent, in order.
fn applications(room: &Room, i: usize) -> Vec<String> {
    let sent = room.clients[i].sent.iter();
    sent.filter_map(|m| match m {
        ClientMessage::MlsApplication { message, .. } => Some(message.clone()),
        _ => None,
    })
    .collect()
}

/// The server relaying `message` as if `from` had sent it.
fn relayed(from: &ParticipantId, message: &str) -> ServerMessage {
    ServerMessage::MlsApplication { from: from.clone(), message: message.to_owned() }
}

#[test]
fn three_members_chat_and_each_message_names_its_signer() {
    let mut room = Room::settled(&["Ada", "Bob", "Cyd"]);
    let epoch = room.agreed();
    let from_ada = room.chat(0, "Hello from Ada", 0);
    let from_bob = room.chat(1, "Bob here\nsecond line", 60);
    room.settle();

    let (ada, bob) = (room.clients[0].id.clone(), room.clients[1].id.clone());
    assert_eq!(room.chat_texts(0), ["Bob here\nsecond line"], "Ada reads Bob, not herself");
    assert_eq!(room.chat_texts(1), ["Hello from Ada"]);
    assert_eq!(room.chat_texts(2), ["Hello from Ada", "Bob here\nsecond line"]);
    let cyd_got = &room.clients[2].chats;
    assert_eq!((&cyd_got[0].id, &cyd_got[0].sender, cyd_got[0].ttl_secs), (&from_ada, &ada, 0));
    assert_eq!((&cyd_got[1].id, &cyd_got[1].sender, cyd_got[1].ttl_secs), (&from_bob, &bob, 60));
    assert!(cyd_got.iter().all(|c| c.epoch == epoch));
    assert_ne!(from_ada, from_bob);

    // The server relayed ciphertext: no text in anything it was sent, base64 decoded or not.
    assert!(room.clients.iter().all(|c| c.problems.is_empty()));
    for message in &room.server_saw {
        let json = serde_json::to_string(message).unwrap();
        let ClientMessage::MlsApplication { message: bytes, .. } = message else { continue };
        let bytes = String::from_utf8_lossy(&B64.decode(bytes).unwrap()).into_owned();
        for text in [json, bytes] {
            assert!(!text.contains("Hello from") && !text.contains("second line"), "{text}");
        }
    }
}

#[test]
fn a_message_the_server_relays_under_another_members_name_is_dropped() {
    let mut room = Room::settled(&["Ada", "Bob", "Cyd"]);
    room.chat(0, "It was me, Ada", 0);
    // The server tells Cyd that Bob said it; Bob it tells the truth.
    let (bob, cyd) = (room.clients[1].id.clone(), room.clients[2].id.clone());
    for (to, message) in room.wire.iter_mut() {
        if let ServerMessage::MlsApplication { from, .. } = message
            && *to == cyd
        {
            *from = bob.clone();
        }
    }
    room.settle();

    assert_eq!(room.clients[1].chats[0].sender, room.clients[0].id);
    assert!(room.chat_texts(2).is_empty(), "Cyd shows nothing in Bob's name");
    let problems = &room.clients[2].problems;
    assert!(problems.iter().any(|p| p.contains("dropped a chat message")), "{problems:?}");
}

#[test]
fn a_member_added_after_a_message_cannot_read_it() {
    let mut room = Room::settled(&["Ada", "Bob"]);
    room.chat(0, "Before Dan came", 0);
    room.settle();
    let earlier = applications(&room, 0).pop().unwrap();
    assert_eq!(room.chat_texts(1), ["Before Dan came"]);

    let dan = room.join("Dan");
    room.advance(3_000);
    room.agreed();
    assert!(room.chat_texts(dan).is_empty(), "nothing from before reached Dan as he joined");
    // Handed the earlier message anyway (a server replaying history), Dan cannot open it.
    let ada = room.clients[0].id.clone();
    room.deliver(dan, &relayed(&ada, &earlier));
    assert!(room.chat_texts(dan).is_empty());

    room.chat(0, "Welcome, Dan", 0);
    room.settle();
    assert_eq!(room.chat_texts(dan), ["Welcome, Dan"]);
    assert_eq!(room.chat_texts(1), ["Before Dan came", "Welcome, Dan"]);
}

#[test]
fn a_message_sent_while_a_leaver_awaits_removal_waits_and_the_leaver_cannot_read_it() {
    let mut room = Room::settled(&["Ada", "Bob", "Cyd"]);
    let before = room.agreed();
    room.clients[0].commits = false; // Ada, the named committer, stalls: Bob falls back.
    room.leave(2);
    room.settle();
    let sent_before = applications(&room, 1).len(); // his name
    room.chat(1, "Now that Cyd is gone", 0);
    room.settle();
    assert_eq!(applications(&room, 1).len(), sent_before, "Bob waits for the removal");

    room.advance(FALLBACK_MS + 1_000);
    let after = room.agreed();
    assert!(after > before);
    assert_eq!(room.chat_texts(0), ["Now that Cyd is gone"]);
    assert_eq!(room.clients[0].chats[0].epoch, after, "sent in the epoch without Cyd");
    let message = applications(&room, 1).pop().unwrap();
    let bob = room.clients[1].id.clone();
    room.deliver(2, &relayed(&bob, &message));
    assert!(room.chat_texts(2).is_empty(), "Cyd cannot read it");
}

#[test]
fn a_message_that_waited_while_someone_joined_is_not_sent() {
    let mut room = Room::settled(&["Ada", "Bob", "Cyd"]);
    room.clients[0].commits = false;
    room.leave(2);
    room.settle();
    let id = room.chat(1, "Just between us", 0);
    // Dan arrives before anyone committed Cyd's removal: the commit that does adds him too.
    let dan = room.join("Dan");
    room.advance(FALLBACK_MS + 1_000);
    room.agreed();

    let dan_id = &room.clients[dan].id.0;
    let unsent = &room.clients[1].unsent;
    assert!(matches!(&unsent[..], [(i, why)] if *i == id && why.contains(dan_id)), "{unsent:?}");
    assert!(room.chat_texts(0).is_empty() && room.chat_texts(dan).is_empty(), "nobody read it");
}
