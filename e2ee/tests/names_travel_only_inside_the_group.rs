//! Display names leave nothing the server reads: credentials carry only participant ids, and
//! each member sends its name to the others in an MLS application message. Names are cleaned
//! of control and bidi characters, and two members with one name are marked.

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use common::Room;
use veil_proto::signal::ClientMessage;

/// Everything the server could read in a message: its JSON and every base64 field decoded.
fn readable(message: &ClientMessage) -> Vec<String> {
    let json = serde_json::to_value(message).unwrap();
    let mut texts = vec![json.to_string()];
    for value in json.as_object().unwrap().values() {
        if let Some(bytes) = value.as_str().and_then(|s| B64.decode(s).ok()) {
            texts.push(String::from_utf8_lossy(&bytes).into_owned());
        }
    }
    texts
}

#[test]
fn members_learn_each_others_names_and_the_server_sees_none() {
    const NAMES: [&str; 4] = ["Ada Aardvark", "Bob Bumblebee", "Cyd Caraway", "Dan Dangerfield"];
    let mut room = Room::new();
    let first = room.join(NAMES[0]);
    room.settle();
    for name in &NAMES[1..] {
        room.join(name);
        room.advance(1_500);
    }
    room.advance(2_000);
    room.agreed();
    for c in &room.clients {
        let mut seen: Vec<String> =
            c.session.members().into_iter().map(|m| m.name.expect("every name arrived")).collect();
        seen.sort();
        assert_eq!(seen, NAMES, "{} sees every name", c.name);
    }
    // A leave and a rejoin do not put a name on the wire either.
    room.leave(first);
    room.join("Eve Everywhere");
    room.advance(5_000);
    assert!(!room.server_saw.is_empty());
    for message in &room.server_saw {
        for text in readable(message) {
            for name in NAMES.iter().chain(&["Eve Everywhere"]) {
                assert!(!text.contains(name), "the server could read {name:?} in {message:?}");
            }
        }
    }
    assert!(room.server_saw.iter().any(|m| matches!(m, ClientMessage::MlsApplication { .. })));
}

#[test]
fn bidi_overrides_are_cleaned_and_duplicates_marked() {
    let mut room = Room::new();
    let ada = room.join("Ada");
    room.settle();
    // "Ada" followed by a right-to-left override that would render "nhoj" as "john".
    room.join("Mallory\u{202E}nhoj\u{0007}");
    room.join("ada");
    room.advance(3_000);
    let members = room.clients[ada].session.members();
    let names: Vec<(String, bool)> =
        members.iter().map(|m| (m.name.clone().unwrap(), m.duplicate_name)).collect();
    assert_eq!(
        names,
        vec![("Ada".into(), true), ("Mallorynhoj".into(), false), ("ada".into(), true)]
    );
    // Identities come from the roster (the join token), beside the self-chosen names.
    assert!(members.iter().all(|m| m.identity.is_some()));
}

#[test]
fn a_member_cannot_rename_another_in_what_it_relays() {
    use veil_e2ee::session::app::{AppMessage, NameRecord};
    use veil_proto::signal::ServerMessage;

    let mut room = Room::settled(&["Ada", "Bob"]);
    // Mallory joins as a bare member and is added the honest way.
    let mut mallory = room.join_raw("Mallory");
    let kp = B64.encode(mallory.member.key_package().unwrap());
    room.send_as(&mallory.id.clone(), ClientMessage::MlsKeyPackage { key_package: kp });
    room.advance(1_000);
    let welcome = room
        .take_for(&mallory.id)
        .into_iter()
        .find_map(|m| match m {
            ServerMessage::MlsWelcome { welcome } => Some(welcome),
            _ => None,
        })
        .unwrap();
    mallory.member.join_from_welcome(&B64.decode(welcome).unwrap()).unwrap();
    room.advance(1_000);

    // She relays a record renaming Ada, signed with her own key, and one unsigned.
    let ada = room.clients[0].id.0.clone();
    let forged = vec![
        NameRecord {
            participant_id: ada.clone(),
            name: "Mallory's puppet".into(),
            signature: mallory.member.sign_name("Mallory's puppet").unwrap(),
        },
        NameRecord { participant_id: ada.clone(), name: "Nobody".into(), signature: vec![0; 64] },
    ];
    let message = mallory.member.send_application(&AppMessage::Names(forged).encode()).unwrap();
    let relayed =
        ServerMessage::MlsApplication { from: mallory.id.clone(), message: B64.encode(message) };
    room.deliver(1, &relayed);
    assert_eq!(room.clients[1].session.name_of(&ada), Some("Ada"), "Bob still knows Ada as Ada");
}
