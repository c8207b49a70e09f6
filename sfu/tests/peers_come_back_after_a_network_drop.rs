//! A participant whose network drops for a while is kept: when packets come back on the same
//! address the connection simply resumes, and after a longer drop (or from a new address) the
//! participant's ICE restart is accepted on the same session. Either way nobody is told it left.

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use common::Net;
use str0m::Candidate;
use str0m::media::MediaKind;
use veil_proto::media::MediaEvent;
use veil_proto::room::Source;
use veil_sfu::Input;

/// Packets `to` received from `from` of `kind`, so far.
fn received(net: &Net, to: usize, from: usize, kind: MediaKind) -> usize {
    let from = net.clients[from].participant.clone();
    net.clients[to].received_from(&from, kind).len()
}

fn closed(net: &Net, i: usize) -> bool {
    let session = net.clients[i].session;
    net.events_for(session).iter().any(|e| matches!(e, MediaEvent::Closed { .. }))
}

/// Media flows again between `i` and everyone else: each of them gets at least `min` more
/// audio packets from the other within `within`.
fn flows_again(net: &mut Net, i: usize, within: Duration, min: usize) -> Duration {
    let others: Vec<usize> = (0..net.clients.len()).filter(|&j| j != i).collect();
    let mark: Vec<(usize, usize)> = others
        .iter()
        .map(|&j| (received(net, i, j, MediaKind::Audio), received(net, j, i, MediaKind::Audio)))
        .collect();
    let start = net.now;
    while net.now - start < within {
        net.run_with_media(Duration::from_millis(20));
        let ok = others.iter().zip(&mark).all(|(&j, &(into, out))| {
            received(net, i, j, MediaKind::Audio) >= into + min
                && received(net, j, i, MediaKind::Audio) >= out + min
        });
        if ok {
            return net.now - start;
        }
    }
    panic!("media did not flow both ways again within {within:?}");
}

/// Ada, Bob and Cyd in a call with media flowing; returns it with Ada's and Cyd's indexes.
fn meeting() -> (Net, usize, usize) {
    let mut net = Net::new();
    let a = net.join("r", "ada");
    net.join("r", "bob");
    let c = net.join("r", "cyd");
    net.settle();
    net.run_with_media(Duration::from_secs(2));
    (net, a, c)
}

#[test]
fn a_ten_second_drop_resumes_the_same_connection() {
    let (mut net, a, c) = meeting();
    let offers_before = net.events.len();

    net.clients[c].online = false;
    net.run_with_media(Duration::from_secs(10));
    net.clients[c].online = true;
    let took = flows_again(&mut net, c, Duration::from_secs(10), 10);

    assert!(!closed(&net, c), "the engine kept Cyd's session through the drop");
    assert_eq!(net.engine.peer_count(), 3);
    // No renegotiation: nobody was offered anything new.
    let renegotiated = net.events[offers_before..]
        .iter()
        .any(|(_, e)| matches!(e, MediaEvent::Offer { .. } | MediaEvent::Answer { .. }));
    assert!(!renegotiated, "the connection resumed as it was");
    // Video too: Ada sees Cyd's camera again.
    let video = received(&net, a, c, MediaKind::Video);
    net.run_with_media(Duration::from_secs(1));
    assert!(received(&net, a, c, MediaKind::Video) > video, "Cyd's video reaches Ada again");
    eprintln!("media flowed both ways {took:?} after a 10 s drop ended");
}

#[test]
fn an_ice_restart_from_a_new_address_is_accepted_on_the_same_session() {
    let (mut net, a, c) = meeting();
    let cyd = net.clients[c].session;

    // Longer than str0m's ICE-lite pair timeout (15 s): the engine's ICE agent gives up on
    // the old pair, but not on the participant.
    net.clients[c].online = false;
    net.run_with_media(Duration::from_secs(20));
    assert!(!closed(&net, c), "a 20 s drop does not end the session");

    // Cyd comes back on another network and restarts ICE through signaling.
    let moved: SocketAddr = "10.0.9.9:4100".parse().unwrap();
    let client = &mut net.clients[c];
    client.addr = moved;
    client.online = true;
    client.rtc.add_local_candidate(Candidate::host(moved, "udp").unwrap());
    let mut api = client.rtc.sdp_api();
    api.ice_restart(true);
    let (offer, pending) = api.apply().expect("an ICE restart makes an offer");
    client.pending = Some(pending);
    let mut sources = BTreeMap::new();
    for (mid, source) in
        [(client.audio_mid, Source::Microphone), (client.video_mid, Source::Camera)]
    {
        if let Some(mid) = mid {
            sources.insert(mid.to_string(), source);
        }
    }
    let sdp = offer.to_sdp_string();
    net.engine.handle_input(net.now, Input::Offer { session: cyd, sdp, sources });
    net.settle();

    let took = flows_again(&mut net, c, Duration::from_secs(10), 10);
    assert!(!closed(&net, c));
    assert_eq!(net.engine.peer_count(), 3);
    let video = received(&net, a, c, MediaKind::Video);
    net.run_with_media(Duration::from_secs(1));
    assert!(received(&net, a, c, MediaKind::Video) > video, "Cyd's video reaches Ada again");
    eprintln!("media flowed both ways {took:?} after the ICE restart");
}
