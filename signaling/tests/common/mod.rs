//! Shared harness: a real server on 127.0.0.1:0, WebSocket clients, and a media plane that
//! records commands and answers every offer.

#![allow(dead_code)] // Each test binary uses a different part of the harness.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use veil_proto::RoomName;
use veil_proto::media::{MediaCommand, MediaEvent, MediaGrants, MediaPlane, SessionId};
use veil_proto::room::{Grants, Source};
use veil_signaling::audit::AuditLog;
use veil_signaling::token::{self, ApiSecret, Claims};
use veil_signaling::{AppState, Secrets, SignalingConfig, app};

/// How long any single expected thing may take before a test fails.
pub const PATIENCE: Duration = Duration::from_secs(5);

/// A media command as recorded (the event sender of `Open` is kept aside).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cmd {
    Open { session: SessionId, room: String, participant: String, grants: MediaGrants },
    Offer { session: SessionId, sdp: String },
    Answer { session: SessionId, sdp: String },
    SetMuted { session: SessionId, source: Source, muted: bool },
    SetGrants { session: SessionId, grants: MediaGrants },
    Close { session: SessionId },
    SetTileSizes { session: SessionId, tiles: Vec<veil_proto::media::TileSize> },
}

/// Stands in for the SFU: records commands, answers offers with `answer:<offer sdp>`.
#[derive(Default)]
pub struct TestPlane {
    log: Mutex<Vec<Cmd>>,
    sessions: Mutex<HashMap<SessionId, mpsc::UnboundedSender<MediaEvent>>>,
}

impl MediaPlane for TestPlane {
    fn send(&self, command: MediaCommand) {
        let cmd = match command {
            MediaCommand::Open { session, room, participant, grants, events } => {
                self.sessions.lock().unwrap().insert(session, events);
                Cmd::Open { session, room: room.to_string(), participant: participant.0, grants }
            }
            MediaCommand::SetMuted { session, source, muted } => {
                Cmd::SetMuted { session, source, muted }
            }
            MediaCommand::SetGrants { session, grants } => Cmd::SetGrants { session, grants },
            MediaCommand::Offer { session, sdp, .. } => {
                self.emit(session, MediaEvent::Answer { sdp: format!("answer:{sdp}") });
                Cmd::Offer { session, sdp }
            }
            MediaCommand::Answer { session, sdp } => Cmd::Answer { session, sdp },
            MediaCommand::SetTileSizes { session, tiles } => Cmd::SetTileSizes { session, tiles },
            MediaCommand::Close { session } => {
                self.sessions.lock().unwrap().remove(&session);
                Cmd::Close { session }
            }
        };
        self.log.lock().unwrap().push(cmd);
    }
}

impl TestPlane {
    pub fn commands(&self) -> Vec<Cmd> {
        self.log.lock().unwrap().clone()
    }

    /// Sends an event on a session's channel, as the SFU would.
    pub fn emit(&self, session: SessionId, event: MediaEvent) {
        if let Some(tx) = self.sessions.lock().unwrap().get(&session) {
            let _ = tx.send(event);
        }
    }

    /// Waits until a command matching `pred` was recorded.
    pub async fn wait_for(&self, what: &str, pred: impl Fn(&Cmd) -> bool) -> Cmd {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            if let Some(cmd) = self.commands().into_iter().find(&pred) {
                return cmd;
            }
            assert!(tokio::time::Instant::now() < deadline, "no media command: {what}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// The session opened for `participant_id`.
    pub async fn session_of(&self, participant_id: &str) -> SessionId {
        let cmd = self
            .wait_for(
                "open",
                |c| matches!(c, Cmd::Open { participant, .. } if participant == participant_id),
            )
            .await;
        let Cmd::Open { session, .. } = cmd else { unreachable!() };
        session
    }
}

/// A signaling server listening on a loopback port.
pub struct Server {
    pub addr: SocketAddr,
    pub secret: ApiSecret,
    /// Opens the admin API.
    pub admin_key: ApiSecret,
    pub plane: Arc<TestPlane>,
    pub state: AppState,
    /// What the server recorded in its audit log.
    pub audit: Arc<AuditLog>,
}

impl Server {
    pub async fn start() -> Self {
        Self::with_config(SignalingConfig::default()).await
    }

    pub async fn with_config(config: SignalingConfig) -> Self {
        let secret = ApiSecret::generate();
        let admin_key = ApiSecret::generate();
        let plane = Arc::new(TestPlane::default());
        // The real delivery service: commits in these tests are real MLS.
        let delivery = Arc::new(veil_ds::Verifier::generate().unwrap());
        let secrets = Secrets { api: secret.clone(), admin: Some(admin_key.clone()) };
        let audit = Arc::new(AuditLog::in_memory());
        let state = AppState::new(config, secrets, plane.clone(), delivery)
            .unwrap()
            .with_audit(audit.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(axum::serve(listener, app(state.clone())).into_future());
        Self { addr, secret, admin_key, plane, state, audit }
    }

    /// A token for `room`, valid for ten minutes, as `sub` (a guest when `None`).
    pub fn token(&self, room: &str, sub: Option<&str>) -> String {
        self.token_with(room, sub, Grants::default())
    }

    /// A token for `room` as `sub` with `grants`.
    pub fn token_with(&self, room: &str, sub: Option<&str>, grants: Grants) -> String {
        token::mint(&self.secret, &self.claims(room, sub, grants))
    }

    /// The claims of a ten-minute token for `room`.
    pub fn claims(&self, room: &str, sub: Option<&str>, grants: Grants) -> Claims {
        let mut claims = Claims::for_room(
            RoomName::new(room).unwrap(),
            token::now_unix(),
            Duration::from_secs(600),
        );
        claims.sub = sub.map(str::to_owned);
        claims.grants = grants;
        claims
    }

    pub async fn client(&self) -> Client {
        Client::connect(self.addr, None).await
    }

    /// A client joined to `room` as `sub`; returns it with its `joined` message.
    pub async fn joined(&self, room: &str, sub: Option<&str>) -> (Client, Value) {
        let mut client = self.client().await;
        let joined = client.join(room, &self.token(room, sub)).await;
        (client, joined)
    }

    /// Proves the server still admits a good client.
    pub async fn still_serves(&self) {
        let (mut c, joined) = self.joined("still-serving", Some("probe")).await;
        assert_eq!(joined["identity"], "probe");
        c.send(json!({"v": 2, "type": "leave"})).await;
    }
}

/// A WebSocket client speaking the signaling protocol.
pub struct Client {
    ws: WebSocketStream<TcpStream>,
}

impl Client {
    /// Connects to `/ws`, optionally with a small receive buffer (for slow-reader tests).
    pub async fn connect(addr: SocketAddr, recv_buffer: Option<u32>) -> Self {
        let socket = TcpSocket::new_v4().unwrap();
        if let Some(size) = recv_buffer {
            socket.set_recv_buffer_size(size).unwrap();
        }
        let stream = socket.connect(addr).await.unwrap();
        let url = format!("ws://{addr}/ws");
        let (ws, _) = tokio_tungstenite::client_async(url, stream).await.unwrap();
        Self { ws }
    }

    pub async fn send(&mut self, msg: Value) {
        self.send_raw(msg.to_string()).await;
    }

    pub async fn send_raw(&mut self, text: String) {
        self.ws.send(Message::text(text)).await.unwrap();
    }

    pub async fn send_binary(&mut self, data: Vec<u8>) {
        self.ws.send(Message::binary(data)).await.unwrap();
    }

    /// Sends `join` and expects `joined`.
    pub async fn join(&mut self, room: &str, token: &str) -> Value {
        self.send_join(room, token).await;
        self.expect("joined").await
    }

    pub async fn send_join(&mut self, room: &str, token: &str) {
        let msg = json!({"v": 2, "type": "join", "room": room, "token": token, "min_version": 2});
        self.send(msg).await;
    }

    /// The next JSON message (pings and pongs skipped). Panics on close or silence.
    pub async fn recv(&mut self) -> Value {
        self.recv_within(PATIENCE).await
    }

    pub async fn recv_within(&mut self, patience: Duration) -> Value {
        loop {
            let frame =
                tokio::time::timeout(patience, self.ws.next()).await.expect("no message in time");
            match frame {
                Some(Ok(Message::Text(text))) => {
                    let value: Value = serde_json::from_str(text.as_str()).unwrap();
                    assert_eq!(value["v"], 2, "every message carries the version: {value}");
                    return value;
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                other => panic!("expected a message, got {other:?}"),
            }
        }
    }

    /// The next message, which must be of type `ty`.
    pub async fn expect(&mut self, ty: &str) -> Value {
        let msg = self.recv().await;
        assert_eq!(msg["type"], ty, "unexpected message: {msg}");
        msg
    }

    /// The next message, which must be an error with `code`.
    pub async fn expect_error(&mut self, code: &str, fatal: bool) -> Value {
        let msg = self.expect("error").await;
        assert_eq!(msg["code"], code, "{msg}");
        assert_eq!(msg["fatal"], fatal, "{msg}");
        assert!(msg["message"].as_str().is_some_and(|m| m.len() > 10), "{msg}");
        msg
    }

    /// Reads until the server closes; returns the close code it sent, if any.
    pub async fn expect_close(&mut self) -> Option<u16> {
        loop {
            let frame = tokio::time::timeout(PATIENCE, self.ws.next())
                .await
                .expect("the server did not close the connection");
            match frame {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                Some(Ok(other)) => panic!("expected close, got {other:?}"),
                Some(Err(_)) | None => return None,
            }
        }
    }

    /// Checks the connection still works: `ping` is answered by `pong`.
    pub async fn ping_pong(&mut self) {
        self.send(json!({"v": 2, "type": "ping"})).await;
        self.expect("pong").await;
    }

    /// Sends `leave` and waits for the server's close.
    pub async fn leave(mut self) {
        self.send(json!({"v": 2, "type": "leave"})).await;
        assert_eq!(self.expect_close().await, Some(1000));
    }
}
