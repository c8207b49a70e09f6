//! The whole path on real sockets: `veil serve`, WebSocket signaling, ICE-lite, DTLS-SRTP and
//! RTP forwarding over UDP on loopback, with native bots in place of browsers.

mod common;

use std::time::Duration;

use common::Server;
use common::bot::Bot;
use str0m::media::MediaKind;

async fn wait_for(what: &str, check: impl FnMut() -> bool) {
    common::wait_for(what, Duration::from_secs(15), check).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_bots_meet_and_a_leaver_disappears() {
    let server = Server::start();
    let ttl = Duration::from_secs(600);
    let ada = Bot::join(server.http, "standup", &server.token("standup", "ada", ttl)).await;
    let bob = Bot::join(server.http, "standup", &server.token("standup", "bob", ttl)).await;
    let cyd = Bot::join(server.http, "standup", &server.token("standup", "cyd", ttl)).await;
    let eve = Bot::join(server.http, "elsewhere", &server.token("elsewhere", "eve", ttl)).await;

    let bots = [&ada, &bob, &cyd];
    for me in bots {
        for other in bots.iter().filter(|o| o.id != me.id) {
            for kind in [MediaKind::Audio, MediaKind::Video] {
                wait_for(&format!("{} receiving {kind} from {}", me.id, other.id), || {
                    me.seen.lock().unwrap().count(&other.id, kind) > 25
                })
                .await;
            }
        }
    }
    // Payloads arrive exactly as sent.
    {
        let seen = ada.seen.lock().unwrap();
        let audio = &seen.packets[&(bob.id.0.clone(), MediaKind::Audio)];
        assert!(audio.iter().all(|p| p.starts_with(format!("audio|{}|", bob.id).as_bytes())));
        let video = &seen.packets[&(bob.id.0.clone(), MediaKind::Video)];
        assert!(video.iter().all(
            |p| p.len() == 1000 && p[2..].starts_with(format!("video|{}|", bob.id).as_bytes())
        ));
    }
    assert!(eve.seen.lock().unwrap().packets.is_empty(), "another room receives nothing");

    let cyd_id = cyd.id.clone();
    cyd.leave().await;
    for me in [&ada, &bob] {
        wait_for("the leaver to disappear", || {
            !me.seen.lock().unwrap().participants.contains(&cyd_id)
        })
        .await;
    }
    let before = ada.seen.lock().unwrap().count(&bob.id, MediaKind::Video);
    wait_for("media to keep flowing", || {
        ada.seen.lock().unwrap().count(&bob.id, MediaKind::Video) > before + 25
    })
    .await;
    ada.leave().await;
    bob.leave().await;
    eve.leave().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vanished_bot_is_dropped_and_garbage_udp_changes_nothing() {
    let mut server = Server::start();
    let ttl = Duration::from_secs(600);
    let ada = Bot::join(server.http, "r", &server.token("r", "ada", ttl)).await;
    let bob = Bot::join(server.http, "r", &server.token("r", "bob", ttl)).await;
    wait_for("media", || ada.seen.lock().unwrap().count(&bob.id, MediaKind::Video) > 10).await;

    // Garbage on the media port, from an address no peer uses.
    let junk = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    for i in 0..500u32 {
        let len = (i * 37 % 1300) as usize;
        let bytes: Vec<u8> = (0..len).map(|k| (k as u32 * 131 + i) as u8).collect();
        let _ = junk.send_to(&bytes, server.udp);
    }

    let bob_id = bob.id.clone();
    bob.vanish().await;
    wait_for("the vanished bot to be dropped", || {
        !ada.seen.lock().unwrap().participants.contains(&bob_id)
    })
    .await;
    assert!(server.is_running());

    // The server still takes new participants and forwards between them.
    let cyd = Bot::join(server.http, "r", &server.token("r", "cyd", ttl)).await;
    wait_for("media to the newcomer", || {
        cyd.seen.lock().unwrap().count(&ada.id, MediaKind::Video) > 10
    })
    .await;
    ada.leave().await;
    cyd.leave().await;
}
