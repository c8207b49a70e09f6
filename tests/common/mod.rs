//! Runs the real `veil serve` binary and joins it with native bots: str0m peers over real UDP
//! on loopback, signaling over a real WebSocket, exactly the protocol a browser speaks.

#![allow(dead_code)]

pub mod bot;
pub mod nat;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use veil_loadtest::server::ReadyLine;
use veil_proto::RoomName;
use veil_signaling::token::{self, ApiSecret, Claims};

/// A `veil serve` process on free loopback ports; killed on drop.
pub struct Server {
    child: Child,
    pub http: SocketAddr,
    /// The first media address it offers peers.
    pub udp: SocketAddr,
    /// Every media address it offers peers (its ICE candidates).
    pub media: Vec<SocketAddr>,
    pub secret: ApiSecret,
    /// Its data directory (admin key, revocations).
    pub data_dir: std::path::PathBuf,
}

impl Server {
    pub fn start() -> Server {
        Self::start_with(&["--udp", "127.0.0.1:0"])
    }

    /// Starts `veil serve --http 127.0.0.1:0` with `args` added (which must set `--udp`).
    pub fn start_with(args: &[&str]) -> Server {
        let data_dir =
            std::env::temp_dir().join(format!("veil-it-{}-{}", std::process::id(), rand_u32()));
        Self::start_in(&data_dir, ApiSecret::generate(), args)
    }

    /// Starts it on `data_dir` (kept across restarts) and `secret`.
    pub fn start_in(data_dir: &std::path::Path, secret: ApiSecret, args: &[&str]) -> Server {
        let data_dir = data_dir.to_path_buf();
        let mut child = Command::new(env!("CARGO_BIN_EXE_veil"))
            .args(["serve", "--http", "127.0.0.1:0"])
            .args(args)
            .env("VEIL_API_SECRET", secret.to_hex())
            .env("VEIL_DATA_DIR", &data_dir)
            .env("VEIL_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start veil serve");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let line = lines.next().expect("a ready line").unwrap();
        let ready = ReadyLine::parse(&line).unwrap_or_else(|| panic!("not a ready line: {line}"));
        std::thread::spawn(move || for _ in lines {});
        Server {
            child,
            http: ready.http,
            udp: ready.media[0],
            media: ready.media,
            secret,
            data_dir,
        }
    }

    /// A token for `identity` in `room`, valid for `ttl`.
    pub fn token(&self, room: &str, identity: &str, ttl: Duration) -> String {
        let mut claims = Claims::for_room(RoomName::new(room).unwrap(), token::now_unix(), ttl);
        claims.sub = Some(identity.to_string());
        token::mint(&self.secret, &claims)
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `check` every 50 ms until it holds; fails the test after `patience`.
pub async fn wait_for(what: &str, patience: Duration, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + patience;
    while !check() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn rand_u32() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    std::collections::hash_map::RandomState::new().build_hasher().finish() as u32
}
