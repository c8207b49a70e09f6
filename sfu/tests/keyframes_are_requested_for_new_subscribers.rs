//! A subscriber that joins mid-stream gets video from the next keyframe on: the SFU asks the
//! publisher for one instead of forwarding frames the decoder cannot use.

mod common;

use std::time::Duration;

use common::Net;
use str0m::media::MediaKind;

#[test]
fn a_late_subscriber_triggers_a_keyframe_request_and_starts_on_a_keyframe() {
    let mut net = Net::new();
    let a = net.join("r", "ada");
    let b = net.join("r", "bob");
    net.settle();
    net.run_with_media(Duration::from_secs(2));
    let requests_before = net.clients[a].keyframe_requests;

    let c = net.join("r", "cyd");
    net.settle();
    net.run_with_media(Duration::from_secs(2));

    assert!(
        net.clients[a].keyframe_requests > requests_before,
        "the publisher was asked for a keyframe"
    );
    let ada = net.clients[a].participant.clone();
    let video = net.clients[c].received_from(&ada, MediaKind::Video);
    assert!(video.len() > 20, "the newcomer receives Ada's video");
    assert!(String::from_utf8_lossy(&video[0].payload).ends_with("key"));
    assert!(
        net.clients[b].received_from(&ada, MediaKind::Video).len() > 150,
        "Bob was not interrupted"
    );
}
