//! A participant that leaves, or whose browser vanishes without a word, is removed: the engine
//! reports the vanished one to signaling, and everyone else's connection stops its tracks.

mod common;

use std::time::Duration;

use common::Net;
use str0m::media::MediaKind;
use veil_proto::media::MediaEvent;
use veil_sfu::Input;

#[test]
fn a_vanished_peer_is_closed_and_the_others_stop_receiving_it() {
    let mut net = Net::new();
    let a = net.join("r", "ada");
    let b = net.join("r", "bob");
    let c = net.join("r", "cyd");
    net.settle();
    net.run_with_media(Duration::from_secs(2));
    assert_eq!(net.engine.peer_count(), 3);

    // Cyd's network goes dark: no STUN consent, no media.
    net.clients[c].online = false;
    let gone_at = net.elapsed();
    let cyd = net.clients[c].session;
    let mut closed_after = None;
    for _ in 0..(60_000 / 5) {
        net.run_with_media(Duration::from_millis(5));
        if net.events_for(cyd).iter().any(|e| matches!(e, MediaEvent::Closed { .. })) {
            closed_after = Some(net.elapsed() - gone_at);
            break;
        }
    }
    let closed_after = closed_after.expect("the engine reports a vanished peer within a minute");
    // Kept for 30 s in case its network comes back (see peers_come_back_after_a_network_drop),
    // then reported; signaling usually notices a vanished browser sooner by its WebSocket.
    assert!(
        closed_after >= Duration::from_secs(25) && closed_after < Duration::from_secs(35),
        "reported after {closed_after:?}"
    );
    assert_eq!(net.engine.peer_count(), 2);

    // Ada and Bob keep exchanging media, and nothing more arrives from Cyd.
    let cyd_id = net.clients[c].participant.clone();
    let before: Vec<usize> = [a, b].iter().map(|&i| net.clients[i].received.len()).collect();
    let from_cyd_before = net.clients[a].received_from(&cyd_id, MediaKind::Audio).len();
    net.run_with_media(Duration::from_secs(1));
    for (k, &i) in [a, b].iter().enumerate() {
        assert!(net.clients[i].received.len() > before[k] + 40, "the meeting goes on");
    }
    assert_eq!(net.clients[a].received_from(&cyd_id, MediaKind::Audio).len(), from_cyd_before);

    // The others were sent an offer that stops Cyd's m-lines.
    let ada = net.clients[a].session;
    let last_offer = net
        .events_for(ada)
        .into_iter()
        .rev()
        .find_map(|e| match e {
            MediaEvent::Offer { sdp } => Some(sdp.clone()),
            _ => None,
        })
        .unwrap();
    let stopped =
        last_offer.split("m=").filter(|m| m.contains(&cyd_id.0) && m.contains(" 0 UDP")).count();
    let stopped = stopped
        + last_offer
            .split("m=")
            .filter(|m| m.starts_with("audio 0") || m.starts_with("video 0"))
            .count();
    assert!(stopped >= 2, "Cyd's audio and video m-lines are stopped:\n{last_offer}");
    eprintln!("vanished peer reported after {closed_after:?} of silence");
}

#[test]
fn a_peer_that_leaves_is_dropped_without_a_report() {
    let mut net = Net::new();
    let a = net.join("r", "ada");
    let b = net.join("r", "bob");
    net.settle();
    net.run_with_media(Duration::from_secs(1));
    let bob = net.clients[b].session;
    net.engine.handle_input(net.now, Input::Close { session: bob });
    net.clients[b].online = false;
    net.run_with_media(Duration::from_secs(1));
    assert_eq!(net.engine.peer_count(), 1);
    assert_eq!(net.engine.room_count(), 1);
    assert!(
        !net.events_for(bob).iter().any(|e| matches!(e, MediaEvent::Closed { .. })),
        "signaling closed it, so the engine does not report it back"
    );
    let ada = net.clients[a].session;
    net.engine.handle_input(net.now, Input::Close { session: ada });
    assert_eq!(net.engine.room_count(), 0, "an empty room is dropped");
}
