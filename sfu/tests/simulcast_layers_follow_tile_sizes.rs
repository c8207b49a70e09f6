//! A publisher sends its camera in three simulcast layers; each subscriber receives the one
//! layer that fills the tile it shows it in, as one continuous stream across switches, and
//! nothing for a video it does not show.

mod common;

use std::time::Duration;

use common::{Net, Received};
use str0m::media::MediaKind;

/// The video `viewer` received from `publisher` since `from` packets.
fn video_since(net: &Net, viewer: usize, publisher: usize, from: usize) -> Vec<Received> {
    let who = net.clients[publisher].participant.clone();
    let all = net.clients[viewer].received_from(&who, MediaKind::Video);
    all.into_iter().skip(from).cloned().collect()
}

fn count(net: &Net, viewer: usize, publisher: usize) -> usize {
    video_since(net, viewer, publisher, 0).len()
}

/// The layers in `packets`, in order, each once per run.
fn runs(packets: &[Received]) -> Vec<String> {
    let mut runs: Vec<String> = Vec::new();
    for p in packets {
        if runs.last() != Some(&p.layer()) {
            runs.push(p.layer());
        }
    }
    runs
}

/// `packets` end on `layer`, reached in at most one switch, at a keyframe of it, and go on
/// there.
fn assert_switched_to(packets: &[Received], layer: &str) {
    let runs = runs(packets);
    assert!(runs.len() <= 2 && runs.last().map(String::as_str) == Some(layer), "runs {runs:?}");
    let first = packets.iter().position(|p| p.layer() == layer).unwrap();
    assert!(packets[first].is_key(), "the switch to {layer} is at its keyframe");
    assert!(packets.len() - first > 20, "{layer} flows ({} packets)", packets.len() - first);
}

/// Sequence numbers and picture ids go up by exactly one from packet to packet (one packet
/// per frame here), whatever layers they came from.
fn assert_continuous(packets: &[Received]) {
    for w in packets.windows(2) {
        assert_eq!(w[1].seq, w[0].seq + 1, "a gap in sequence numbers: {w:?}");
        let next = (w[0].picture_id() + 1) & 0x7fff;
        assert_eq!(w[1].picture_id(), next, "a jump in picture ids at {}", w[1].text());
    }
}

#[test]
fn each_subscriber_gets_the_layer_its_tile_needs() {
    let mut net = Net::new();
    let ada = net.join_simulcast("r", "ada");
    let bob = net.join("r", "bob");
    let cyd = net.join("r", "cyd");
    let dan = net.join("r", "dan");
    net.settle();
    net.run_with_media(Duration::from_secs(1));
    // Nobody said how large: the best layer for all.
    for viewer in [bob, cyd, dan] {
        let video = video_since(&net, viewer, ada, 0);
        assert!(video.len() > 20, "viewer {viewer} receives Ada's video");
        assert_eq!(runs(&video), ["f"], "viewer {viewer} gets the top layer");
    }

    net.show(bob, ada, 120); // a thumbnail
    net.show(cyd, ada, 400); // a medium tile
    net.show(dan, ada, 1080); // full screen
    let marks = [count(&net, bob, ada), count(&net, cyd, ada), count(&net, dan, ada)];
    net.run_with_media(Duration::from_secs(2));
    let bob_video = video_since(&net, bob, ada, marks[0]);
    let cyd_video = video_since(&net, cyd, ada, marks[1]);
    let dan_video = video_since(&net, dan, ada, marks[2]);
    assert_switched_to(&bob_video, "q"); // Bob switches down to 180p
    assert_switched_to(&cyd_video, "h"); // Cyd to 360p
    assert_eq!(runs(&dan_video), ["f"], "Dan stays on 720p");
    // Every viewer's stream is continuous from its first packet on, across the switch.
    for viewer in [bob, cyd, dan] {
        assert_continuous(&video_since(&net, viewer, ada, 0));
    }

    // Bob opens Ada full screen: back up to 720p, again without a gap.
    let mark = count(&net, bob, ada);
    net.show(bob, ada, 720);
    net.run_with_media(Duration::from_secs(1));
    assert_switched_to(&video_since(&net, bob, ada, mark), "f");
    assert_continuous(&video_since(&net, bob, ada, 0));
}

#[test]
fn a_video_off_screen_is_not_sent_and_comes_back_on_a_keyframe() {
    let mut net = Net::new();
    let ada = net.join_simulcast("r", "ada");
    let bob = net.join("r", "bob");
    net.settle();
    net.run_with_media(Duration::from_secs(1));
    let who = net.clients[ada].participant.clone();

    net.show(bob, ada, 0);
    let (video, audio) =
        (count(&net, bob, ada), net.clients[bob].received_from(&who, MediaKind::Audio).len());
    net.run_with_media(Duration::from_secs(2));
    assert!(count(&net, bob, ada) <= video + 1, "no video while it is off screen");
    let audio_now = net.clients[bob].received_from(&who, MediaKind::Audio).len();
    assert!(audio_now > audio + 80, "audio goes on ({} packets)", audio_now - audio);

    net.show(bob, ada, 180);
    net.run_with_media(Duration::from_secs(1));
    let back = video_since(&net, bob, ada, video + 1);
    assert!(back.len() > 30, "the video is back");
    assert!(back[0].is_key() && back[0].layer() == "q", "on a keyframe of the 180p layer");
    assert_continuous(&video_since(&net, bob, ada, 0));
}

#[test]
fn many_subscribers_switching_at_once_cost_the_publisher_one_keyframe_request_per_layer() {
    let mut net = Net::new();
    let ada = net.join_simulcast("r", "ada");
    let viewers: Vec<usize> = (0..6).map(|i| net.join("r", &format!("v{i}"))).collect();
    net.settle();
    net.run_with_media(Duration::from_secs(1));
    let before = net.clients[ada].keyframe_requests_by_layer.clone();

    for &v in &viewers {
        net.show(v, ada, 150);
    }
    net.run_with_media(Duration::from_millis(400));
    let after = &net.clients[ada].keyframe_requests_by_layer;
    let asked = |rid: &str| after.get(rid).unwrap_or(&0) - before.get(rid).unwrap_or(&0);
    assert_eq!(asked("q"), 1, "six subscribers waiting for the 180p layer: one request");
    assert_eq!(asked("f"), 0, "nobody waits for 720p: no request");
    for &v in &viewers {
        let video = video_since(&net, v, ada, 0);
        assert_eq!(video.last().unwrap().layer(), "q", "viewer {v} switched");
        assert_continuous(&video);
    }
}

#[test]
fn when_the_publisher_stops_its_top_layer_subscribers_move_to_the_next() {
    let mut net = Net::new();
    let ada = net.join_simulcast("r", "ada");
    let bob = net.join("r", "bob");
    net.settle();
    net.run_with_media(Duration::from_secs(2));
    assert_eq!(video_since(&net, bob, ada, 0).last().unwrap().layer(), "f");

    net.clients[ada].stopped_layers.push("f");
    let mark = count(&net, bob, ada);
    net.run_with_media(Duration::from_secs(4));
    let after = video_since(&net, bob, ada, mark);
    assert_switched_to(&after, "h");
    assert_continuous(&video_since(&net, bob, ada, 0));

    // It comes back: so does Bob, who never said he wanted less.
    net.clients[ada].stopped_layers.clear();
    let mark = count(&net, bob, ada);
    net.run_with_media(Duration::from_secs(4));
    assert_switched_to(&video_since(&net, bob, ada, mark), "f");
}

#[test]
fn layers_nobody_watches_pause_at_the_publisher_and_resume_when_a_tile_grows() {
    let mut net = Net::new();
    let ada = net.join_simulcast("r", "ada");
    let bob = net.join("r", "bob");
    let cyd = net.join("r", "cyd");
    net.settle();
    net.run_with_media(Duration::from_secs(1));
    net.show(bob, ada, 120);
    net.show(cyd, ada, 150);
    net.run_with_media(Duration::from_secs(2));
    assert!(net.clients[ada].layers_wanted.is_empty(), "nothing pauses before the grace is over");

    net.run_with_media(Duration::from_secs(2));
    assert_eq!(net.clients[ada].layers_wanted.last().unwrap(), &["q"], "only 180p is needed");
    assert_eq!(net.clients[ada].sfu_paused, ["h", "f"]);
    let mark = count(&net, bob, ada);
    net.run_with_media(Duration::from_secs(1));
    assert_eq!(runs(&video_since(&net, bob, ada, mark)), ["q"], "Bob's picture goes on");

    // Bob opens Ada full screen: 720p is asked for at once, and he switches to it.
    net.show(bob, ada, 720);
    assert_eq!(net.clients[ada].layers_wanted.last().unwrap(), &["q", "f"]);
    let mark = count(&net, bob, ada);
    net.run_with_media(Duration::from_secs(1));
    assert_switched_to(&video_since(&net, bob, ada, mark), "f");
    assert_continuous(&video_since(&net, bob, ada, 0));
}
