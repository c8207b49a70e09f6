//! `veil serve` where the address browsers send media to is not the address its socket is
//! bound to: bound to all interfaces with `--public-ip`, dual-stack with one IPv4 and one IPv6
//! public address, and behind a NAT whose public address the SFU never binds. Real binary,
//! real UDP on loopback, native bots in place of browsers.

mod common;

use std::net::{IpAddr, SocketAddr};
use std::process::Command;
use std::time::Duration;

use common::Server;
use common::bot::Bot;
use common::nat::Nat;
use str0m::media::MediaKind;

const TTL: Duration = Duration::from_secs(600);

/// Waits until every bot receives audio and video from every other one.
async fn everyone_receives_everyone(bots: &[&Bot]) {
    for me in bots {
        for other in bots.iter().filter(|o| o.id != me.id) {
            for kind in [MediaKind::Audio, MediaKind::Video] {
                common::wait_for(
                    &format!("{} receiving {kind} from {}", me.id, other.id),
                    Duration::from_secs(15),
                    || me.seen.lock().unwrap().count(&other.id, kind) > 25,
                )
                .await;
            }
        }
    }
}

/// No bot received a packet under another sender's name: each was told apart by its source.
fn payloads_match_their_senders(bots: &[&Bot]) {
    for me in bots {
        let seen = me.seen.lock().unwrap();
        for ((sender, kind), packets) in &seen.packets {
            let tag = format!("|{sender}|");
            let stray = packets.iter().filter(|p| !String::from_utf8_lossy(p).contains(&tag));
            assert_eq!(
                stray.count(),
                0,
                "{} got {kind} from {sender} that {sender} never sent",
                me.id
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bots_meet_when_media_is_bound_to_all_interfaces() {
    let server = Server::start_with(&["--udp", "0.0.0.0:0", "--public-ip", "127.0.0.1"]);
    assert_eq!(server.media.len(), 1);
    assert_eq!(server.udp.ip(), "127.0.0.1".parse::<IpAddr>().unwrap());
    let ada = Bot::join(server.http, "r", &server.token("r", "ada", TTL)).await;
    let bob = Bot::join(server.http, "r", &server.token("r", "bob", TTL)).await;
    everyone_receives_everyone(&[&ada, &bob]).await;
    payloads_match_their_senders(&[&ada, &bob]);
    ada.leave().await;
    bob.leave().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bots_on_ipv4_and_ipv6_meet_through_one_dual_stack_socket() {
    let server =
        Server::start_with(&["--udp", "[::]:0", "--public-ip", "127.0.0.1", "--public-ip", "::1"]);
    let families: Vec<bool> = server.media.iter().map(SocketAddr::is_ipv4).collect();
    assert_eq!(families, vec![true, false], "both addresses offered: {:?}", server.media);
    let v4 = Bot::join_from(
        server.http,
        "r",
        &server.token("r", "ada", TTL),
        "127.0.0.1".parse().unwrap(),
    )
    .await;
    let v6 =
        Bot::join_from(server.http, "r", &server.token("r", "bob", TTL), "::1".parse().unwrap())
            .await;
    everyone_receives_everyone(&[&v4, &v6]).await;
    payloads_match_their_senders(&[&v4, &v6]);
    v4.leave().await;
    v6.leave().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bots_meet_through_a_nat_whose_address_the_server_never_binds() {
    // The SFU binds 127.0.0.1 and advertises 127.0.0.2, where only the NAT listens; the NAT
    // talks to the SFU from a fresh 127.0.0.3 address per peer.
    let server = Server::start_with(&["--udp", "127.0.0.1:0", "--public-ip", "127.0.0.2"]);
    let port = server.udp.port();
    let bound = SocketAddr::new("127.0.0.1".parse().unwrap(), port);
    let _nat = Nat::start(server.udp, "127.0.0.3".parse().unwrap(), bound).await;

    let ada = Bot::join(server.http, "r", &server.token("r", "ada", TTL)).await;
    let bob = Bot::join(server.http, "r", &server.token("r", "bob", TTL)).await;
    let cyd = Bot::join(server.http, "r", &server.token("r", "cyd", TTL)).await;
    let bots = [&ada, &bob, &cyd];
    everyone_receives_everyone(&bots).await;
    payloads_match_their_senders(&bots);
    for bot in bots {
        assert!(bot.seen.lock().unwrap().errors.is_empty());
    }
    ada.leave().await;
    bob.leave().await;
    cyd.leave().await;
}

#[test]
fn all_interfaces_without_a_public_ip_is_refused_with_what_to_set() {
    let data_dir = std::env::temp_dir().join(format!("veil-nat-{}", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_veil"))
        .args(["serve", "--http", "127.0.0.1:0", "--udp", "0.0.0.0:0"])
        .env("VEIL_DATA_DIR", &data_dir)
        .env_remove("VEIL_PUBLIC_IP")
        .output()
        .unwrap();
    assert!(!out.status.success(), "it must not start");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--public-ip"), "says what to set: {stderr}");
    assert!(out.stdout.is_empty(), "no join link for a node nobody can reach");
}
