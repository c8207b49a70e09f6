//! With end-to-end encryption the SFU forwards frames it cannot read: the RTP payloads that
//! reach a bot (exactly what the SFU sent it) hold none of the known plaintext the other bots
//! put in their frames, yet every one of them decrypts. When a member leaves, the group moves
//! to a new epoch, whose keys the others share and the leaver never holds.

mod common;

use std::time::Duration;

use common::Server;
use common::bot::{Bot, KNOWN_PLAINTEXT};
use str0m::media::MediaKind;

async fn wait_for(what: &str, check: impl FnMut() -> bool) {
    common::wait_for(what, Duration::from_secs(20), check).await
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sfu_forwards_ciphertext_that_every_member_decrypts() {
    let server = Server::start();
    let ttl = Duration::from_secs(600);
    let ada = Bot::join_secure(server.http, "r", &server.token("r", "ada", ttl)).await;
    let bob = Bot::join_secure(server.http, "r", &server.token("r", "bob", ttl)).await;
    let cyd = Bot::join_secure(server.http, "r", &server.token("r", "cyd", ttl)).await;
    let bots = [&ada, &bob, &cyd];

    // The group settles: creation, the adds, and each member's display name, which reaches
    // the others only in an MLS application message (bots call themselves "bot <id>").
    // Settled means everyone agrees on epoch, code and names, and nothing changed for a second.
    let epoch = |b: &Bot| b.seen.lock().unwrap().epoch;
    let view = |b: &Bot| {
        let seen = b.seen.lock().unwrap();
        (seen.epoch, seen.code.clone(), seen.names.clone())
    };
    let settled = || {
        let views: Vec<_> = bots.iter().map(|b| view(b)).collect();
        views.iter().all(|v| v == &views[0])
            && views[0].2.len() == 3
            && views[0].2.iter().all(|(id, name)| *name == format!("bot {id}"))
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut agreed: Option<(Option<u64>, tokio::time::Instant)> = None;
    while agreed.is_none_or(|(_, since)| since.elapsed() < Duration::from_secs(1)) {
        if tokio::time::Instant::now() > deadline {
            let views: Vec<_> = bots.iter().map(|b| (view(b).0, view(b).1)).collect();
            panic!("the group never settled: {views:?}");
        }
        let now = (settled(), epoch(&ada));
        agreed = match (now, agreed) {
            ((true, e), Some((was, since))) if e == was => Some((was, since)),
            ((true, e), _) => Some((e, tokio::time::Instant::now())),
            ((false, _), _) => None,
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let three = epoch(&ada).unwrap();
    // Frames sent before a bot was welcomed were under keys it never held; count from here.
    for b in bots {
        let mut seen = b.seen.lock().unwrap();
        seen.packets.clear();
        seen.wire.clear();
        seen.decrypt_failures = 0;
    }
    let code = ada.seen.lock().unwrap().code.clone().unwrap();
    for b in bots {
        assert_eq!(b.seen.lock().unwrap().code.as_ref(), Some(&code), "same verification code");
    }
    for me in bots {
        for other in bots.iter().filter(|o| o.id != me.id) {
            for kind in [MediaKind::Audio, MediaKind::Video] {
                wait_for(&format!("{} decrypting {kind} from {}", me.id, other.id), || {
                    me.seen.lock().unwrap().count(&other.id, kind) > 25
                })
                .await;
            }
        }
    }
    for me in bots {
        let seen = me.seen.lock().unwrap();
        assert!(seen.wire.len() > 100);
        let leaks = seen.wire.iter().filter(|p| contains(p, KNOWN_PLAINTEXT)).count();
        assert_eq!(
            leaks,
            0,
            "{} of {} forwarded payloads carried plaintext",
            leaks,
            seen.wire.len()
        );
        // Every decrypted frame is what its sender wrote.
        for ((from, kind), frames) in &seen.packets {
            let tag = if *kind == MediaKind::Audio { "audio" } else { "video" };
            let expected = [KNOWN_PLAINTEXT, format!("{tag}|{from}|").as_bytes()].concat();
            assert!(frames.iter().all(|f| contains(f, &expected)), "{tag} from {from} decrypts");
        }
        assert_eq!(
            seen.decrypt_failures, 0,
            "{}: every forwarded frame decrypts; failures: {:?}",
            me.id, seen.failure_kinds
        );
    }

    // Cyd leaves: the server proposes the removal, a member commits it, a new epoch begins.
    cyd.leave().await;
    wait_for("a new epoch without the leaver", || {
        epoch(&ada).is_some_and(|e| e > three) && epoch(&bob) == epoch(&ada)
    })
    .await;
    let new_code = ada.seen.lock().unwrap().code.clone().unwrap();
    assert_ne!(new_code, code, "the verification code changes with the membership");
    assert_eq!(bob.seen.lock().unwrap().code.as_ref(), Some(&new_code));
    let before = ada.seen.lock().unwrap().count(&bob.id, MediaKind::Video);
    wait_for("media under the new epoch", || {
        ada.seen.lock().unwrap().count(&bob.id, MediaKind::Video) > before + 25
    })
    .await;
    ada.leave().await;
    bob.leave().await;
}
