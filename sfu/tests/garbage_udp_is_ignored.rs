//! Datagrams that are not WebRTC, or come from addresses no peer claimed, are counted and
//! dropped; the meeting carries on.

mod common;

use std::time::Duration;

use common::Net;
use str0m::media::MediaKind;
use veil_sfu::Input;

#[test]
fn garbage_from_strangers_and_from_a_peers_address_changes_nothing() {
    let mut net = Net::new();
    let a = net.join("r", "ada");
    let b = net.join("r", "bob");
    net.settle();
    net.run_with_media(Duration::from_secs(1));
    let received_before = net.clients[b].received.len();

    let sfu = net.sfu;
    let stranger = "10.9.9.9:1234".parse().unwrap();
    let ada_addr = net.clients[a].addr;
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for i in 0..2_000 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let len = (seed % 1400) as usize;
        let mut junk: Vec<u8> = (0..len).map(|k| (seed >> (k % 56)) as u8).collect();
        if i % 3 == 0 && !junk.is_empty() {
            junk[0] = 0x80; // looks like RTP/RTCP
        }
        let source = if i % 2 == 0 { stranger } else { ada_addr };
        net.engine.handle_input(
            net.now,
            Input::Receive {
                transport: veil_sfu::Transport::Udp,
                source,
                destination: sfu,
                contents: &junk,
            },
        );
    }
    let stats = net.engine.stats();
    assert!(
        stats.dropped_unparseable + stats.dropped_unknown_source + stats.dropped_by_peer > 1_000,
        "{stats:?}"
    );

    net.run_with_media(Duration::from_secs(1));
    let ada = net.clients[a].participant.clone();
    assert!(net.clients[b].received.len() > received_before + 40, "Bob still receives");
    assert!(net.clients[b].received_from(&ada, MediaKind::Video).len() > 40);
    assert_eq!(net.engine.peer_count(), 2);
}
