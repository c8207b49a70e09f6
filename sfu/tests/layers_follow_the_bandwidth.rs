//! A subscriber's link narrows under a rate cap: the SFU moves it to a lower layer instead of
//! pushing more into the link than it carries, and back up when the cap lifts, as one
//! continuous stream.

mod common;

use std::time::Duration;

use common::{Net, Received};
use str0m::media::MediaKind;
use veil_netsim::{Impairment, Link};

fn video(net: &Net, viewer: usize, publisher: usize) -> Vec<Received> {
    let who = net.clients[publisher].participant.clone();
    net.clients[viewer].received_from(&who, MediaKind::Video).into_iter().cloned().collect()
}

/// Runs with media until the last video `viewer` received from `publisher` is of `layer`
/// (or `not` it); returns how long that took.
fn until_layer(net: &mut Net, viewer: usize, publisher: usize, layer: &str, not: bool) -> Duration {
    let start = net.now;
    while net.now - start < Duration::from_secs(30) {
        net.run_with_media(Duration::from_millis(100));
        let last = video(net, viewer, publisher).last().map(Received::layer);
        if last.is_some_and(|l| (l == layer) != not) {
            return net.now - start;
        }
    }
    panic!("still {} {layer} after 30 s", if not { "on" } else { "not on" });
}

#[test]
fn a_rate_cap_moves_the_subscriber_down_a_layer_and_lifting_it_moves_it_back_up() {
    let mut net = Net::new();
    let ada = net.join_simulcast("r", "ada");
    let bob = net.join("r", "bob");
    // Layers of about 100, 220 and 490 kbit/s on the wire, at 50 frames a second.
    net.clients[ada].layer_filler = [150, 450, 1100];
    net.settle();
    net.run_with_media(Duration::from_millis(500));
    net.show(bob, ada, 720);
    net.run_with_media(Duration::from_secs(3));
    assert_eq!(video(&net, bob, ada).last().unwrap().layer(), "f", "Bob starts on 720p");

    // Bob's link drops to 400 kbit/s, with a router buffer of a second.
    let cap = Impairment { rate_kbit: Some(400), queue_bytes: 50_000, ..Default::default() };
    net.clients[bob].downlink = Some(Link::new(cap, 1));
    let down = until_layer(&mut net, bob, ada, "f", true);
    net.run_with_media(Duration::from_secs(10));
    let capped = video(&net, bob, ada);
    // The SFU tries 720p again now and then, and finds the link full each time.
    let capped = &capped[capped.len() - 500..];
    let full = capped.iter().filter(|r| r.layer() == "f").count();
    assert!(full < 250, "Bob spends most of the cap below 720p ({full} of 500 frames at 720p)");

    // The cap lifts.
    net.clients[bob].downlink = None;
    let up = until_layer(&mut net, bob, ada, "f", false);
    net.run_with_media(Duration::from_secs(2));

    // One stream: wherever the layer changes, sequence numbers and picture ids go on by one,
    // and the new layer starts at its keyframe.
    let mut packets = video(&net, bob, ada);
    packets.sort_by_key(|r| r.seq);
    packets.dedup_by_key(|r| r.seq);
    let mut switches = 0;
    for w in packets.windows(2) {
        if w[0].layer() != w[1].layer() {
            switches += 1;
            assert_eq!(w[1].seq, w[0].seq + 1, "a gap at a switch: {w:?}");
            assert_eq!(w[1].picture_id(), (w[0].picture_id() + 1) & 0x7fff);
            assert!(w[1].is_key(), "the switch to {} is at its keyframe", w[1].layer());
        }
    }
    assert!(switches >= 2, "down and back up ({switches} switches)");
    let span = packets.last().unwrap().seq - packets[0].seq + 1;
    let missing = span - packets.len() as u64;
    eprintln!(
        "switched down {down:?} after the cap, up {up:?} after it lifted; {full} of the last \
         500 capped frames at 720p; {switches} switches; {missing} of {span} video packets \
         never arrived"
    );
}
