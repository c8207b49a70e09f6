//! The `veil` commands as an operator types them: `veil token` with grant flags, and
//! `veil revoke` cutting a live participant of a running server, whose revocation outlives a
//! restart.

mod common;

use std::process::{Command, Output};
use std::time::Duration;

use common::Server;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use veil_proto::room::{Grants, Source};
use veil_signaling::token::{self, ApiSecret, Claims};

fn veil(args: &[&str], data_dir: &std::path::Path, secret: &ApiSecret) -> Output {
    Command::new(env!("CARGO_BIN_EXE_veil"))
        .args(args)
        .env("VEIL_DATA_DIR", data_dir)
        .env("VEIL_API_SECRET", secret.to_hex())
        .env("VEIL_LOG", "warn")
        .output()
        .expect("run veil")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The claims of the join link `veil token` printed last.
fn minted(out: &Output, secret: &ApiSecret) -> Claims {
    assert!(out.status.success(), "veil token failed: {}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let link = stdout.lines().last().unwrap();
    let jwt = link.split("#token=").nth(1).unwrap().split('&').next().unwrap();
    token::verify(secret, jwt, token::now_unix()).unwrap()
}

fn scratch(tag: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("veil-cli-{tag}-{}", std::process::id()))
}

#[test]
fn token_flags_become_grants() {
    let (dir, secret) = (scratch("token"), ApiSecret::generate());
    let plain =
        minted(&veil(&["token", "--room", "r", "--identity", "ada"], &dir, &secret), &secret);
    assert_eq!(plain.grants, Grants::default(), "no flags: microphone and camera, subscribe");
    assert!(plain.jti.is_some());
    assert!(plain.exp - plain.iat >= 12 * 3600);

    let host = minted(
        &veil(&["token", "--room", "r", "--identity", "dr", "--host"], &dir, &secret),
        &secret,
    );
    assert!(host.grants.host && host.grants.bypass_lobby);
    assert!(host.grants.may_publish(Source::Screen));

    let args = [
        "token",
        "--room",
        "r",
        "--identity",
        "viewer",
        "--publish",
        "microphone,screen",
        "--no-subscribe",
        "--bypass-lobby",
        "--token-id",
        "t_front-desk",
    ];
    let out = veil(&args, &dir, &secret);
    let viewer = minted(&out, &secret);
    assert_eq!(viewer.grants.publish, [Source::Microphone, Source::Screen]);
    assert!(!viewer.grants.subscribe && viewer.grants.bypass_lobby && !viewer.grants.host);
    assert_eq!(viewer.jti.as_deref(), Some("t_front-desk"));
    assert!(text(&out.stderr).contains("token id: t_front-desk"));

    let silent = minted(
        &veil(&["token", "--room", "r", "--identity", "x", "--publish", ""], &dir, &secret),
        &secret,
    );
    assert!(silent.grants.publish.is_empty());

    // A guest link: short-lived, and no host grant to be had.
    let guest = minted(&veil(&["token", "--room", "r", "--guest"], &dir, &secret), &secret);
    assert_eq!(guest.exp - guest.iat, 3600);
    assert!(!guest.grants.host && guest.sub.is_none());
    let refused = veil(&["token", "--room", "r", "--guest", "--host"], &dir, &secret);
    assert!(!refused.status.success());
    let refused =
        veil(&["token", "--room", "r", "--identity", "x", "--publish", "telepathy"], &dir, &secret);
    assert!(!refused.status.success());
    assert!(text(&refused.stderr).contains("not a source"), "{}", text(&refused.stderr));
    let _ = std::fs::remove_dir_all(dir);
}

async fn join(server: &Server, claims: &Claims) -> common::bot::Ws {
    let (mut ws, _) =
        tokio_tungstenite::connect_async(format!("ws://{}/ws", server.http)).await.unwrap();
    let join = json!({"v": 2, "type": "join", "room": claims.room, "token": token::mint(&server.secret, claims)});
    ws.send(Message::text(join.to_string())).await.unwrap();
    ws
}

/// The next message of `ty` (others skipped).
async fn until(ws: &mut common::bot::Ws, ty: &str) -> Value {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(5), ws.next()).await.expect("in time");
        if let Some(Ok(Message::Text(t))) = frame {
            let v: Value = serde_json::from_str(t.as_str()).unwrap();
            if v["type"] == ty {
                return v;
            }
        }
    }
}

#[tokio::test]
async fn veil_revoke_cuts_a_live_participant_and_survives_a_restart() {
    let dir = scratch("revoke");
    let _ = std::fs::remove_dir_all(&dir);
    let secret = ApiSecret::generate();
    let mut server = Server::start_in(&dir, secret.clone(), &["--udp", "127.0.0.1:0"]);
    let room = veil_proto::RoomName::new("ward-7").unwrap();
    let claims = Claims::for_room(room, token::now_unix(), Duration::from_secs(600));
    let token_id = claims.jti.clone().unwrap();
    let mut ws = join(&server, &claims).await;
    until(&mut ws, "joined").await;

    let url = format!("http://{}", server.http);
    let out = veil(
        &["revoke", "--room", "ward-7", "--token-id", &token_id, "--url", &url],
        &dir,
        &secret,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("1 live participant"), "{}", text(&out.stdout));
    let error = until(&mut ws, "error").await;
    assert_eq!(error["code"], "revoked");

    // The server restarts; the revocation is still there.
    drop(server);
    server = Server::start_in(&dir, secret.clone(), &["--udp", "127.0.0.1:0"]);
    let mut again = join(&server, &claims).await;
    assert_eq!(until(&mut again, "error").await["code"], "revoked");
    let mut other = join(
        &server,
        &Claims::for_room(claims.room.clone(), token::now_unix(), Duration::from_secs(60)),
    )
    .await;
    until(&mut other, "joined").await;

    // Without the right admin key, or naming nothing, nothing is revoked.
    let url = format!("http://{}", server.http);
    let elsewhere = scratch("elsewhere");
    let args = ["revoke", "--room", "ward-7", "--identity", "x", "--url", &url];
    let none = veil(&args, &elsewhere, &secret);
    assert!(!none.status.success());
    assert!(text(&none.stderr).contains("no admin_key"), "{}", text(&none.stderr));
    assert!(!elsewhere.join("admin_key").exists(), "no stray key is made");
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::write(elsewhere.join("admin_key"), ApiSecret::generate().to_hex()).unwrap();
    let wrong = veil(&args, &elsewhere, &secret);
    assert!(!wrong.status.success());
    assert!(text(&wrong.stderr).contains("unauthorized"), "{}", text(&wrong.stderr));
    let nothing = veil(&["revoke", "--room", "ward-7", "--url", &url], &dir, &secret);
    assert!(!nothing.status.success());
    assert!(server.is_running());
    let _ = std::fs::remove_dir_all(dir);
    let _ = std::fs::remove_dir_all(scratch("elsewhere"));
}

#[tokio::test]
async fn the_operator_runs_a_room_from_the_command_line() {
    let dir = scratch("admin");
    let _ = std::fs::remove_dir_all(&dir);
    let secret = ApiSecret::generate();
    let server = Server::start_in(&dir, secret.clone(), &["--udp", "127.0.0.1:0"]);
    let url = format!("http://{}", server.http);
    let room = veil_proto::RoomName::new("ops-review").unwrap();
    let mut host_claims =
        Claims::for_room(room.clone(), token::now_unix(), Duration::from_secs(600));
    host_claims.sub = Some("chair".into());
    host_claims.grants = Grants::host();
    let mut host = join(&server, &host_claims).await;
    until(&mut host, "joined").await;
    let mut guest_claims =
        Claims::for_room(room.clone(), token::now_unix(), Duration::from_secs(600));
    guest_claims.sub = Some("member".into());
    let mut guest = join(&server, &guest_claims).await;
    let guest_id = until(&mut guest, "joined").await["participant_id"].as_str().unwrap().to_owned();
    let admin = |args: &[&str]| {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--url", &url]);
        let out = veil(&all, &dir, &secret);
        assert!(out.status.success(), "veil {args:?}: {}", text(&out.stderr));
        text(&out.stdout)
    };

    let rooms = admin(&["rooms"]);
    assert!(rooms.contains("2 participant(s), 1 host(s), 0 waiting"), "{rooms}");
    assert!(!rooms.contains("ops-review"), "rooms are listed by id: {rooms}");
    let id = rooms.split_whitespace().next().unwrap().to_owned();
    let people = admin(&["participants", "--room", &id]);
    assert!(
        people.contains(&format!("{guest_id}  member")) && people.contains("chair  host"),
        "{people}"
    );
    let policy =
        admin(&["policy", "--room", "ops-review", "--locked", "on", "--chat-retention", "120"]);
    assert!(
        policy.contains("\"locked\": true") && policy.contains("\"chat_retention_secs\": 120"),
        "{policy}"
    );
    assert_eq!(until(&mut guest, "policy_updated").await["policy"]["locked"], true);
    admin(&["mute", "--room", "ops-review", "--participant", &guest_id, "--source", "camera"]);
    assert_eq!(until(&mut guest, "mute_requested").await["source"], "camera");
    admin(&["kick", "--room", "ops-review", "--participant", &guest_id]);
    assert_eq!(until(&mut guest, "error").await["code"], "removed");
    let ended = admin(&["end", "--room", "ops-review"]);
    assert!(ended.contains("ended; 1 disconnected"), "{ended}");
    assert_eq!(until(&mut host, "error").await["code"], "meeting_ended");

    // A room nobody is in, and an unusable room argument, are clear errors.
    let gone = veil(&["room", "--room", "ops-review", "--url", &url], &dir, &secret);
    assert!(
        !gone.status.success() && text(&gone.stderr).contains("unknown_room"),
        "{}",
        text(&gone.stderr)
    );
    let odd = veil(&["room", "--room", "../etc", "--url", &url], &dir, &secret);
    assert!(
        !odd.status.success() && text(&odd.stderr).contains("not a valid room"),
        "{}",
        text(&odd.stderr)
    );
    let _ = std::fs::remove_dir_all(dir);
}
