//! Video lost on a subscriber's downlink is resent from the SFU's copy when the subscriber
//! asks (NACK), so every frame arrives at 1, 5 and 10 % loss; audio is not resent.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::Net;
use str0m::media::MediaKind;
use veil_netsim::{Impairment, Link};

/// The frame counters of `kind` packets `to` received from `from` (payloads `kind|name|n|…`).
fn counters(net: &Net, to: usize, from: usize, kind: MediaKind) -> BTreeSet<u64> {
    let id = net.clients[from].participant.clone();
    net.clients[to]
        .received_from(&id, kind)
        .iter()
        .filter_map(|r| String::from_utf8_lossy(&r.payload).split('|').nth(2)?.parse().ok())
        .collect()
}

/// Runs a call with `percent` random loss on one subscriber's downlink for 10 s.
fn video_lost_at(percent: f64) {
    let mut net = Net::new();
    let a = net.join("r", "ada");
    let c = net.join("r", "cyd");
    net.settle();
    net.run_with_media(Duration::from_secs(1));
    let first = counters(&net, c, a, MediaKind::Video).last().copied().unwrap_or(0);

    let loss = Impairment { loss: percent, ..Default::default() };
    net.clients[c].downlink = Some(Link::new(loss, 5));
    net.run_with_media(Duration::from_secs(10));
    // The last frames may still be waiting for their resend.
    net.clients[c].downlink = None;
    net.run_with_media(Duration::from_secs(1));

    let video = counters(&net, c, a, MediaKind::Video);
    let audio = counters(&net, c, a, MediaKind::Audio);
    let last = *video.last().unwrap();
    let range = first + 1..last;
    let missing_video: Vec<u64> = range.clone().filter(|n| !video.contains(n)).collect();
    let missing_audio = range.clone().filter(|n| !audio.contains(n)).count();
    assert!(missing_audio > 0, "the link did lose packets ({missing_audio} audio packets)");
    assert!(missing_video.is_empty(), "video frames never arrived: {missing_video:?}");
    let stats = net.engine.stats();
    assert!(stats.nacks_received > 0, "the subscriber asked for resends: {stats:?}");
    assert!(stats.retransmissions_sent > 0, "the SFU resent: {stats:?}");
    eprintln!(
        "at {percent} % loss {} video frames all arrived; {missing_audio} audio packets lost",
        range.count()
    );
}

#[test]
fn video_lost_at_1_percent_is_resent() {
    video_lost_at(1.0);
}

#[test]
fn video_lost_at_5_percent_is_resent() {
    video_lost_at(5.0);
}

#[test]
fn video_lost_at_10_percent_is_resent() {
    video_lost_at(10.0);
}
