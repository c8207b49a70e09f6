//! What a join token grants, the SFU enforces on the media path itself: an offer that publishes
//! a source the participant may not (even hand-made, even unlabelled) is refused whole, a
//! participant without the subscribe grant receives nothing, and a source a host muted is not
//! forwarded until its publisher turns it on again.

mod common;

use std::time::Duration;

use common::Net;
use str0m::media::MediaKind;
use veil_proto::media::{MediaEvent, MediaGrants};
use veil_proto::room::Source;
use veil_sfu::Input;

fn grants(publish: &[Source], subscribe: bool) -> MediaGrants {
    MediaGrants { publish: publish.to_vec(), subscribe, speaker_detection: false }
}

const ALL: [Source; 3] = [Source::Microphone, Source::Camera, Source::Screen];

fn refused(net: &Net, who: usize) -> Option<String> {
    net.events_for(net.clients[who].session).into_iter().find_map(|e| match e {
        MediaEvent::Refused { message } => Some(message.clone()),
        _ => None,
    })
}

/// Packets `to` received from `from` whose payload starts with `what|`.
fn got(net: &Net, to: usize, from: usize, what: &str) -> usize {
    let sender = &net.clients[from].participant;
    let tag = format!("{what}|{sender}|");
    net.clients[to]
        .received
        .iter()
        .filter(|r| r.payload.windows(tag.len()).any(|w| w == tag.as_bytes()))
        .count()
}

#[test]
fn a_screen_is_published_only_with_the_screen_grant() {
    let mut net = Net::new();
    net.grants = grants(&ALL, true);
    let host = net.join_sources("r", "host", &ALL, true);
    net.grants = grants(&[Source::Microphone, Source::Camera], true);
    let viewer = net.join("r", "viewer");
    // A guest's hand-made offer with a screen, labelled or passed off as a second camera.
    let labelled = net.join_sources("r", "guest", &ALL, true);
    let unlabelled = net.join_sources("r", "sneaky", &ALL, false);
    net.settle();
    net.run_with_media(Duration::from_secs(2));

    assert!(
        refused(&net, labelled).is_some_and(|m| m.contains("screen")),
        "{:?}",
        refused(&net, labelled)
    );
    assert!(refused(&net, unlabelled).is_some_and(|m| m.contains("more than one camera")));
    assert_eq!(refused(&net, host), None);
    assert!(got(&net, viewer, host, "screen") > 20, "the host's screen reaches the viewer");
    assert!(got(&net, viewer, host, "video") > 20, "and its camera, on its own track");
    assert_eq!(got(&net, viewer, labelled, "screen") + got(&net, viewer, unlabelled, "screen"), 0);
    // The viewer tells the tracks apart by the track id the SFU gives them: publisher, source,
    // m-line.
    let v = &net.clients[viewer];
    let mut track_ids: Vec<String> = v
        .received
        .iter()
        .filter_map(|r| v.rtc.media(r.mid).map(|m| m.track_id().to_string()))
        .collect();
    track_ids.sort();
    track_ids.dedup();
    let host_id = &net.clients[host].participant.0;
    for source in ["microphone", "camera", "screen"] {
        let prefix = format!("{host_id}-{source}-");
        assert!(track_ids.iter().any(|t| t.starts_with(&prefix)), "{prefix} in {track_ids:?}");
    }
}

#[test]
fn without_the_subscribe_grant_nothing_is_received() {
    let mut net = Net::new();
    let ada = net.join("r", "ada");
    net.grants = grants(&[Source::Microphone], false);
    let lurker = net.join_sources("r", "lurker", &[Source::Microphone], true);
    net.settle();
    net.run_with_media(Duration::from_secs(2));
    assert!(net.clients[lurker].connected);
    assert!(net.clients[lurker].received.is_empty(), "nothing forwarded to a non-subscriber");
    assert!(
        net.clients[ada]
            .received_from(&net.clients[lurker].participant.clone(), MediaKind::Audio)
            .len()
            > 20
    );
}

#[test]
fn a_muted_source_is_not_forwarded_until_its_publisher_turns_it_on() {
    let mut net = Net::new();
    let ada = net.join("r", "ada");
    let bob = net.join("r", "bob");
    net.settle();
    net.run_with_media(Duration::from_secs(1));
    let session = net.clients[ada].session;
    net.engine.handle_input(
        net.now,
        Input::SetMuted { session, source: Source::Microphone, muted: true },
    );
    let before = (got(&net, bob, ada, "audio"), got(&net, bob, ada, "video"));
    net.run_with_media(Duration::from_secs(1));
    assert_eq!(got(&net, bob, ada, "audio"), before.0, "no audio while muted");
    assert!(got(&net, bob, ada, "video") > before.1 + 20, "the camera goes on");
    net.engine.handle_input(
        net.now,
        Input::SetMuted { session, source: Source::Microphone, muted: false },
    );
    net.run_with_media(Duration::from_secs(1));
    assert!(got(&net, bob, ada, "audio") > before.0 + 20, "audio again once unmuted");

    // A muted camera comes back at a keyframe.
    net.engine
        .handle_input(net.now, Input::SetMuted { session, source: Source::Camera, muted: true });
    net.run_with_media(Duration::from_secs(1));
    let requests = net.clients[ada].keyframe_requests;
    net.engine
        .handle_input(net.now, Input::SetMuted { session, source: Source::Camera, muted: false });
    net.run_with_media(Duration::from_secs(1));
    assert!(net.clients[ada].keyframe_requests > requests, "a keyframe was asked for");
}

#[test]
fn grants_taken_away_stop_the_source_and_bar_it_from_later_offers() {
    let mut net = Net::new();
    net.grants = grants(&ALL, true);
    let sharer = net.join_sources("r", "sharer", &ALL, true);
    net.grants = grants(&[Source::Microphone, Source::Camera], true);
    let viewer = net.join("r", "viewer");
    net.settle();
    net.run_with_media(Duration::from_secs(1));
    assert!(got(&net, viewer, sharer, "screen") > 20);

    // The room's policy now keeps screens for hosts, and the sharer is none.
    let session = net.clients[sharer].session;
    let fewer = grants(&[Source::Microphone, Source::Camera], true);
    net.engine.handle_input(net.now, Input::SetGrants { session, grants: fewer });
    net.run_with_media(Duration::from_millis(200));
    let (screen, camera) =
        (got(&net, viewer, sharer, "screen"), got(&net, viewer, sharer, "video"));
    net.run_with_media(Duration::from_secs(1));
    assert_eq!(got(&net, viewer, sharer, "screen"), screen, "the screen stopped");
    assert!(got(&net, viewer, sharer, "video") > camera + 20, "the camera goes on");
    // Turning it on again does nothing without the grant.
    net.engine
        .handle_input(net.now, Input::SetMuted { session, source: Source::Screen, muted: false });
    net.run_with_media(Duration::from_secs(1));
    assert_eq!(got(&net, viewer, sharer, "screen"), screen, "still stopped");
}
