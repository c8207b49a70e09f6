//! With the room's speaker detection on, the SFU names the participant whose microphone is
//! loudest (from the RFC 6464 level in each packet's header) to every member; with it off, it
//! reads no level and names nobody, even when clients send levels.

mod common;

use std::time::Duration;

use common::Net;
use veil_proto::ParticipantId;
use veil_proto::media::MediaEvent;

/// Every active-speaker event the engine reported, by receiving client.
fn named(net: &Net, client: usize) -> Vec<Option<ParticipantId>> {
    net.events_for(net.clients[client].session)
        .into_iter()
        .filter_map(|e| match e {
            MediaEvent::ActiveSpeaker { participant } => Some(participant.clone()),
            _ => None,
        })
        .collect()
}

/// Ada murmurs, Bob speaks up, Cyd is silent: three participants in room "r".
fn meeting(detection: bool) -> (Net, [usize; 3]) {
    let mut net = Net::new();
    net.grants.speaker_detection = detection;
    let ada = net.join_publishing("r", "ada", true, false);
    let bob = net.join_publishing("r", "bob", true, false);
    let cyd = net.join_publishing("r", "cyd", true, false);
    net.settle();
    net.run(Duration::from_millis(200));
    net.clients[ada].audio_level = Some(-42);
    net.clients[bob].audio_level = Some(-18);
    net.clients[cyd].audio_level = Some(-127);
    (net, [ada, bob, cyd])
}

#[test]
fn the_louder_participant_is_named_to_everyone_when_the_room_opts_in() {
    let (mut net, [ada, bob, cyd]) = meeting(true);
    net.run_with_media(Duration::from_secs(2));
    let bob_id = net.clients[bob].participant.clone();
    for client in [ada, bob, cyd] {
        assert_eq!(
            named(&net, client),
            [Some(bob_id.clone())],
            "client {client} hears of Bob once"
        );
    }

    // Bob falls silent and Ada speaks on: after the hold, Ada is named.
    net.clients[bob].audio_level = Some(-127);
    net.clients[ada].audio_level = Some(-20);
    net.run_with_media(Duration::from_secs(2));
    let ada_id = net.clients[ada].participant.clone();
    assert_eq!(named(&net, cyd), [Some(bob_id), Some(ada_id)]);

    // Ada leaves: she is named no more.
    let session = net.clients[ada].session;
    net.engine.handle_input(net.now, veil_sfu::Input::Close { session });
    net.run(Duration::from_millis(200));
    assert_eq!(named(&net, cyd).last(), Some(&None));
}

#[test]
fn without_the_option_no_level_is_read_and_nobody_is_named() {
    let (mut net, [ada, bob, cyd]) = meeting(false);
    net.run_with_media(Duration::from_secs(3));
    for client in [ada, bob, cyd] {
        assert!(named(&net, client).is_empty(), "client {client} was told who speaks");
    }
}
