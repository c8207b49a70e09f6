//! The server under test: a `veil serve`, null forwarder or Janus this harness starts (and
//! stops when dropped), or a remote `veil serve` given by URL.
//!
//! A started server gets free loopback ports, a fresh API secret in `VEIL_API_SECRET` and a
//! throwaway data directory, and is optionally pinned to one CPU with `taskset` so the
//! generator and the server do not share a core. Its readiness line on stdout gives the ports.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use veil_proto::RoomName;
use veil_signaling::token::{self, ApiSecret, Claims};

/// Why the server could not be started or used.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(
        "cannot start {what}: {source} (build it first, e.g. `cargo build --release --bin veil`)"
    )]
    Spawn { what: String, source: std::io::Error },
    #[error("{what} exited before printing its ready line")]
    NotReady { what: String },
    #[error("cannot read {what}'s ready line {line:?}")]
    BadReadyLine { what: String, line: String },
    #[error("--server {0:?} is not an http://HOST:PORT URL")]
    BadUrl(String),
    #[error(
        "the API secret is not valid hex: {0}; pass the server's VEIL_API_SECRET with --secret"
    )]
    BadSecret(String),
    #[error("no API secret for the remote server: pass --secret (its VEIL_API_SECRET)")]
    NoSecret,
    #[error("room name {0:?} is not valid")]
    BadRoom(String),
    #[error("Janus: {0}")]
    Janus(String),
    #[error("{0}")]
    Unsupported(String),
}

/// Which server this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    Veil,
    NullForwarder,
    Janus,
}

/// A server to run participants against.
pub struct Server {
    child: Option<Child>,
    pub kind: Kind,
    /// The process to measure, when known.
    pub pid: Option<u32>,
    pub http: Option<SocketAddr>,
    pub udp: Option<SocketAddr>,
    /// Where participants reach Janus's API and which address they bind media to.
    pub janus: Option<crate::janus::Endpoint>,
    secret: Option<ApiSecret>,
    data_dir: Option<PathBuf>,
    /// Janus's namespace and socket defaults, undone once Janus has exited.
    janus_environment: Option<crate::janus::Environment>,
}

fn command(program: &Path, cpu: Option<usize>) -> Command {
    match cpu {
        Some(cpu) if Path::new("/usr/bin/taskset").exists() => {
            let mut c = Command::new("/usr/bin/taskset");
            c.arg("-c").arg(cpu.to_string()).arg(program);
            c
        }
        _ => Command::new(program),
    }
}

fn ready_line(child: &mut Child, what: &str) -> Result<String, ServerError> {
    let stdout = child.stdout.take().ok_or_else(|| ServerError::NotReady { what: what.into() })?;
    let mut lines = BufReader::new(stdout).lines();
    let line = loop {
        match lines.next() {
            Some(Ok(line)) if line.contains("ready") => break line,
            Some(Ok(_)) => {}
            _ => return Err(ServerError::NotReady { what: what.into() }),
        }
    };
    std::thread::spawn(move || for _ in lines {});
    Ok(line)
}

impl Server {
    /// Starts `veil serve` from `bin` on free loopback ports.
    pub fn start_veil(bin: &Path, cpu: Option<usize>) -> Result<Server, ServerError> {
        let what = bin.display().to_string();
        let secret = ApiSecret::generate();
        let data_dir = std::env::temp_dir().join(format!("veil-loadtest-{}", std::process::id()));
        // The largest room a policy allows, so that a run's size is what limits it, not the
        // default cap on participants.
        let config = data_dir.join("veil.toml");
        std::fs::create_dir_all(&data_dir)
            .and_then(|()| std::fs::write(&config, "max_participants = 1000\n"))
            .map_err(|source| ServerError::Spawn { what: what.clone(), source })?;
        let mut child = command(bin, cpu)
            .args(["serve", "--http", "127.0.0.1:0", "--udp", "127.0.0.1:0"])
            .arg("--config")
            .arg(&config)
            .env("VEIL_API_SECRET", secret.to_hex())
            .env("VEIL_DATA_DIR", &data_dir)
            .env("VEIL_LOG", std::env::var("VEIL_LOG").unwrap_or_else(|_| "warn".into()))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|source| ServerError::Spawn { what: what.clone(), source })?;
        let line = ready_line(&mut child, &what)?;
        let ready = ReadyLine::parse(&line)
            .ok_or_else(|| ServerError::BadReadyLine { what: what.clone(), line: line.clone() })?;
        let (http, udp) = (ready.http, ready.media[0]);
        Ok(Server {
            pid: Some(child.id()),
            child: Some(child),
            kind: Kind::Veil,
            http: Some(http),
            udp: Some(udp),
            janus: None,
            secret: Some(secret),
            data_dir: Some(data_dir),
            janus_environment: None,
        })
    }

    /// Starts this executable's `null-forwarder` subcommand on a free loopback port.
    pub fn start_null(cpu: Option<usize>) -> Result<Server, ServerError> {
        let what = "the null forwarder".to_string();
        let exe = std::env::current_exe()
            .map_err(|source| ServerError::Spawn { what: what.clone(), source })?;
        let exe = null_forwarder_exe(&exe);
        let mut child = command(&exe, cpu)
            .args(["null-forwarder", "--udp", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|source| ServerError::Spawn { what: what.clone(), source })?;
        let line = ready_line(&mut child, &what)?;
        let udp = line.rsplit(' ').next().and_then(|s| s.parse().ok());
        let udp = udp.ok_or_else(|| ServerError::BadReadyLine { what, line: line.clone() })?;
        Ok(Server {
            pid: Some(child.id()),
            child: Some(child),
            kind: Kind::NullForwarder,
            http: None,
            udp: Some(udp),
            janus: None,
            secret: None,
            data_dir: None,
            janus_environment: None,
        })
    }

    /// Starts Janus with only its VideoRoom plugin in a network namespace of its own (see
    /// [`crate::janus`]). Needs root, for the namespace.
    pub fn start_janus(cpu: Option<usize>) -> Result<Server, ServerError> {
        let started = crate::janus::start(cpu).map_err(ServerError::Janus)?;
        Ok(Server {
            pid: Some(started.child.id()),
            child: Some(started.child),
            kind: Kind::Janus,
            http: None,
            udp: None,
            janus: Some(started.endpoint),
            secret: None,
            data_dir: Some(started.conf_dir),
            janus_environment: Some(started.environment),
        })
    }

    /// A `veil serve` started elsewhere; its CPU is measured only if `pid` is given.
    pub fn remote(
        url: &str,
        secret: Option<&str>,
        pid: Option<u32>,
    ) -> Result<Server, ServerError> {
        let host = url.strip_prefix("http://").map(|s| s.trim_end_matches('/'));
        let http =
            host.and_then(|h| h.parse().ok()).ok_or_else(|| ServerError::BadUrl(url.into()))?;
        let secret = secret.ok_or(ServerError::NoSecret)?;
        let secret =
            ApiSecret::from_hex(secret).map_err(|e| ServerError::BadSecret(e.to_string()))?;
        Ok(Server {
            child: None,
            kind: Kind::Veil,
            pid,
            http: Some(http),
            udp: None,
            janus: None,
            secret: Some(secret),
            data_dir: None,
            janus_environment: None,
        })
    }

    /// A join token for `identity` in `room`.
    pub fn token(&self, room: &str, identity: &str) -> Result<String, ServerError> {
        let secret = self.secret.as_ref().ok_or(ServerError::NoSecret)?;
        let room_name = RoomName::new(room).map_err(|_| ServerError::BadRoom(room.into()))?;
        let mut claims = Claims::for_room(room_name, token::now_unix(), Duration::from_secs(3600));
        claims.sub = Some(identity.to_string());
        Ok(token::mint(secret, &claims))
    }
}

/// The `veil-loadtest` binary: this one, or (from a test binary in target/*/deps) the one
/// Cargo built beside it.
fn null_forwarder_exe(exe: &Path) -> PathBuf {
    if let Ok(bin) = std::env::var("VEIL_LOADTEST_BIN") {
        return PathBuf::from(bin);
    }
    let is_ours = exe.file_name().is_some_and(|n| n.to_string_lossy().starts_with("veil-loadtest"));
    match exe.parent().and_then(Path::parent) {
        Some(dir) if !is_ours => dir.join("veil-loadtest"),
        _ => exe.to_path_buf(),
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(dir) = &self.data_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
        // After the process is gone: a namespace with a process in it outlives `ip netns del`.
        drop(self.janus_environment.take());
    }
}

/// What `veil serve` prints once it listens:
/// `veil ready: http://127.0.0.1:PORT (media udp 127.0.0.1:PORT[, [::1]:PORT…])`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadyLine {
    pub http: SocketAddr,
    /// The media addresses (ICE candidates) it offers, the first one first; never empty.
    pub media: Vec<SocketAddr>,
}

impl ReadyLine {
    pub fn parse(line: &str) -> Option<ReadyLine> {
        let rest = line.strip_prefix("veil ready: http://")?;
        let http = rest.split([' ', '/']).next()?.parse().ok()?;
        let media = rest.split("(media udp ").nth(1)?.strip_suffix(')')?;
        let media: Vec<SocketAddr> =
            media.split(", ").map(str::parse).collect::<Result<_, _>>().ok()?;
        (!media.is_empty()).then_some(ReadyLine { http, media })
    }
}

/// What the SFU's own `veil_forwarding_delay_seconds` histogram held at one moment (from its
/// `/metrics`; the token in `VEIL_METRICS_TOKEN` if the server wants one). `None` for a server
/// without one (the null forwarder, Janus) or one that cannot be read.
pub async fn forwarding_delay(server: &Server) -> Option<veil_signaling::metrics::Buckets> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    if server.kind != Kind::Veil {
        return None;
    }
    let http = server.http?;
    let token = std::env::var("VEIL_METRICS_TOKEN").ok();
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let request =
        format!("GET /metrics HTTP/1.1\r\nHost: {http}\r\n{auth}Connection: close\r\n\r\n");
    let read = async {
        let mut stream = tokio::net::TcpStream::connect(http).await.ok()?;
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.ok()?;
        String::from_utf8(response).ok()
    };
    let response = tokio::time::timeout(std::time::Duration::from_secs(5), read).await.ok()??;
    let (head, body) = response.split_once("\r\n\r\n")?;
    if !head.starts_with("HTTP/1.1 200") {
        return None;
    }
    veil_signaling::metrics::Buckets::parse(body, "veil_forwarding_delay_seconds")
}

#[cfg(test)]
mod ready_line_tests {
    use super::ReadyLine;

    #[test]
    fn one_or_several_media_addresses() {
        let one = ReadyLine::parse("veil ready: http://127.0.0.1:7880 (media udp 127.0.0.1:7882)")
            .unwrap();
        assert_eq!(one.http.port(), 7880);
        assert_eq!(one.media, vec!["127.0.0.1:7882".parse().unwrap()]);
        let two = ReadyLine::parse(
            "veil ready: http://127.0.0.1:7880 (media udp 203.0.113.7:7882, [2001:db8::7]:7882)",
        )
        .unwrap();
        assert_eq!(two.media.len(), 2);
        assert!(ReadyLine::parse("veil ready: http://127.0.0.1:7880 (media udp )").is_none());
    }
}
