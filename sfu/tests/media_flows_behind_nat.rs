//! The addresses the SFU offers peers need not be addresses its socket is bound to: behind a
//! 1:1 NAT, in a container with a port mapping, or on a socket bound to `0.0.0.0` or `[::]`,
//! every datagram arrives on an address no peer was told about. Media must flow all the same,
//! every candidate must be offered, and each peer must still be told apart by its own source.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::Net;
use str0m::media::MediaKind;
use veil_proto::media::MediaEvent;
use veil_sfu::Input;

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// Every participant receives audio and video from every other one.
fn assert_everyone_hears_everyone(net: &Net) {
    for me in &net.clients {
        for other in net.clients.iter().filter(|o| o.session != me.session) {
            for kind in [MediaKind::Audio, MediaKind::Video] {
                let got = me.received_from(&other.participant, kind).len();
                assert!(
                    got > 20,
                    "{} got {got} {kind} packets from {}",
                    me.participant,
                    other.participant
                );
            }
        }
    }
}

/// The candidates the engine's SDP answer to `session` lists, as `addr:port`.
fn answered_candidates(net: &Net, session: veil_proto::media::SessionId) -> Vec<String> {
    let sdp = net
        .events_for(session)
        .into_iter()
        .find_map(|e| match e {
            MediaEvent::Answer { sdp } => Some(sdp.clone()),
            _ => None,
        })
        .expect("an answer");
    sdp.lines()
        .filter_map(|l| l.strip_prefix("a=candidate:"))
        .map(|c| {
            let f: Vec<&str> = c.split_whitespace().collect();
            format!("{} {}", f[4], f[5])
        })
        .collect()
}

#[test]
fn a_socket_bound_to_all_interfaces_serves_its_public_address() {
    let mut net = Net::behind_nat(vec![addr("203.0.113.7:7882")], addr("0.0.0.0:7882"));
    let ada = net.join("r", "ada");
    let bob = net.join("r", "bob");
    net.settle();
    net.run_with_media(Duration::from_secs(2));
    assert_everyone_hears_everyone(&net);
    assert_eq!(answered_candidates(&net, net.clients[ada].session), vec!["203.0.113.7 7882"]);
    assert!(net.clients[bob].connected);
    assert_eq!(net.engine.stats().dropped_unknown_source, 0);
}

#[test]
fn behind_a_nat_each_peer_is_told_apart_by_its_own_source() {
    // The public address is no address of the machine; the socket has a private one.
    let mut net = Net::behind_nat(vec![addr("203.0.113.7:7882")], addr("10.0.0.5:7882"));
    for name in ["ada", "bob", "cyd"] {
        net.join("r", name);
    }
    net.settle();
    net.run_with_media(Duration::from_secs(2));
    assert_everyone_hears_everyone(&net);
    // Payloads name their sender: nobody got anybody else's packets under a third's name.
    for me in &net.clients {
        for r in &me.received {
            let from = me.stream_of(r.mid).unwrap();
            let text = String::from_utf8_lossy(&r.payload);
            assert!(
                text.contains(&format!("|{from}|")),
                "{} got {text:?} as {from}",
                me.participant
            );
        }
    }
}

#[test]
fn every_public_address_is_offered_and_each_family_meets() {
    let candidates = vec![addr("203.0.113.7:7882"), addr("[2001:db8::7]:7882")];
    let mut net = Net::behind_nat(candidates, addr("[::]:7882"));
    let v4 = net.join_at("r", "ada", addr("198.51.100.1:4000"), true, true);
    let v6 = net.join_at("r", "bob", addr("[2001:db8:1::2]:4000"), true, true);
    net.settle();
    net.run_with_media(Duration::from_secs(2));
    assert_everyone_hears_everyone(&net);
    for who in [v4, v6] {
        assert_eq!(
            answered_candidates(&net, net.clients[who].session),
            vec!["203.0.113.7 7882", "2001:db8::7 7882"]
        );
    }
}

#[test]
fn a_family_no_candidate_serves_is_dropped_and_counted() {
    let mut net = Net::behind_nat(vec![addr("203.0.113.7:7882")], addr("0.0.0.0:7882"));
    net.join("r", "ada");
    net.settle();
    let (now, bound) = (net.now, net.bound);
    let source = addr("[2001:db8:1::9]:4000");
    let transport = veil_sfu::Transport::Udp;
    net.engine.handle_input(
        now,
        Input::Receive { transport, source, destination: bound, contents: &[0; 40] },
    );
    assert_eq!(net.engine.stats().dropped_no_candidate, 1);
    assert_eq!(net.engine.peer_count(), 1);
}
