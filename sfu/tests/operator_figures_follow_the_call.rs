//! What the engine tells an operator follows the call: the census counts tracks by kind and
//! source as peers come and go, the counters move with the media, each subscriber's link
//! reports give round trips and bandwidths, a layer switch is counted, and each session says
//! once when its media first flows.

mod common;

use std::time::Duration;

use common::Net;
use str0m::media::MediaKind;
use veil_proto::media::MediaEvent;
use veil_proto::room::Source;
use veil_sfu::Input;
use veil_sfu::engine::LinkSample;

#[test]
fn the_census_counts_tracks_by_kind_and_source() {
    let mut net = Net::new();
    let ada = net.join("standup", "ada");
    let _bob = net.join("standup", "bob");
    let _cyd = net.join("standup", "cyd");
    let _eve = net.join("other", "eve");
    net.settle();
    net.run_with_media(Duration::from_secs(2));

    let census = net.engine.census();
    assert_eq!((census.sessions, census.rooms), (4, 2));
    assert_eq!(census.published.get(MediaKind::Audio, Source::Microphone), 4);
    assert_eq!(census.published.get(MediaKind::Video, Source::Camera), 4);
    // Each of three in standup receives the other two's audio and video; eve nobody's.
    assert_eq!(census.subscribed.get(MediaKind::Audio, Source::Microphone), 6);
    assert_eq!(census.subscribed.get(MediaKind::Video, Source::Camera), 6);
    assert_eq!(census.subscribed.total(), 12);

    let session = net.clients[ada].session;
    net.engine.handle_input(net.now, Input::Close { session });
    net.run_with_media(Duration::from_secs(1));
    let census = net.engine.census();
    assert_eq!((census.sessions, census.rooms), (3, 2));
    assert_eq!(census.published.total(), 6);
    assert_eq!(census.subscribed.get(MediaKind::Video, Source::Camera), 2, "bob and cyd");
}

#[test]
fn counters_and_link_figures_move_with_the_media() {
    let mut net = Net::new();
    let a = net.join("r", "ada");
    let b = net.join("r", "bob");
    net.settle();
    net.run_with_media(Duration::from_secs(4));

    let stats = net.engine.stats();
    assert!(stats.rtp_in > 100 && stats.rtp_forwarded > 100, "{stats:?}");
    assert!(stats.datagrams_in > stats.rtp_in, "STUN, DTLS and RTCP count too: {stats:?}");
    assert!(stats.datagrams_out > stats.rtp_forwarded, "{stats:?}");
    assert!(stats.bytes_in > 100 * stats.datagrams_in / 2 && stats.bytes_out > 0, "{stats:?}");
    assert_eq!(stats.retransmissions_sent, 0, "nothing lost, nothing resent");

    let mut samples = Vec::new();
    net.engine.take_link_samples(&mut samples);
    let rtts = samples.iter().filter(|s| matches!(s, LinkSample::RoundTrip(_))).count();
    let bandwidths: Vec<u64> = samples
        .iter()
        .filter_map(|s| match s {
            LinkSample::Bandwidth { bits_per_second } => Some(*bits_per_second),
            _ => None,
        })
        .collect();
    // A report a second per peer, from the second report on.
    assert!(rtts >= 4, "round trips: {samples:?}");
    assert!(bandwidths.len() >= 4 && bandwidths.iter().all(|b| *b > 0), "{bandwidths:?}");
    let mut again = Vec::new();
    net.engine.take_link_samples(&mut again);
    assert!(again.is_empty(), "samples are handed over once");

    let states: Vec<_> = net.engine.link_states().collect();
    assert_eq!(states.len(), 2);
    assert!(states.iter().all(|s| s.rtt.is_some()), "{states:?}");

    // Each session said once that its media flows.
    for i in [a, b] {
        let session = net.clients[i].session;
        let flowing = net
            .events_for(session)
            .into_iter()
            .filter(|e| matches!(e, MediaEvent::MediaFlowing))
            .count();
        assert_eq!(flowing, 1, "session {session}");
    }
}

#[test]
fn a_layer_switch_is_counted() {
    let mut net = Net::new();
    let ada = net.join_simulcast("r", "ada");
    let bob = net.join("r", "bob");
    net.settle();
    net.run_with_media(Duration::from_secs(2));
    net.show(bob, ada, 180);
    net.run_with_media(Duration::from_secs(2));
    let before = net.engine.stats().layer_switches;
    net.show(bob, ada, 720);
    net.run_with_media(Duration::from_secs(2));
    assert_eq!(net.engine.stats().layer_switches, before + 1);
    assert!(net.engine.stats().keyframe_requests_sent > 0);
}
