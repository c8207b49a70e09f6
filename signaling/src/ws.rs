//! One WebSocket connection: from `join` to leaving, as a small state machine.
//!
//! A connection is *waiting* until a valid `join` (at most [`JOIN_TIMEOUT`]), then *joined*
//! with a room membership and a media session, until it leaves, is dropped, or fails. One task
//! runs the state machine: it selects over the socket, the media session's events, the kick
//! signal and the heartbeat timer, and handles each input without awaiting anything else.
//! A second task (see [`crate::outbound`]) writes to the socket, so a slow client only ever
//! fills its own queue.
//!
//! Whatever ends the connection, [`Connection::finish`] runs once: it tells the client why (if
//! it can), removes the participant from the room (the others see `participant_left`) and
//! closes the media session.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade, close_code};
use axum::http::HeaderMap;
use axum::response::Response;
use futures_util::StreamExt;
use futures_util::stream::SplitStream;
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, MissedTickBehavior};
use tracing::Instrument;
use veil_proto::media::{MediaCommand, MediaEvent, SessionId, TileSize};
use veil_proto::room::Source;
use veil_proto::signal::{ClientMessage, ConnectionQuality, ErrorCode, ServerMessage};
use veil_proto::{ParticipantId, RoomName};

use crate::AppState;
use crate::actions;
use crate::audit::{AuditEvent, AuthFailure, LeaveReason};
use crate::cluster::{self, Home, RoomDirectory};
use crate::config::{JOIN_TIMEOUT, SOCKET_MESSAGE_LIMIT};
use crate::inbound::{self, Refusal};
use crate::outbound::{self, Kick, KickReason, Link, Outgoing, QUEUE_CAPACITY, encode};
use crate::rooms::{Admission, Admitted, Entered, Identity, MlsInput, fresh_participant_id};
use crate::token::{self, TokenError};

/// How long the writer may take to deliver the last messages (a fatal error, the close frame)
/// once the connection is over.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(2);

/// Quality reports closer together than this are ignored (clients send one every 10 s).
const MIN_REPORT_INTERVAL: Duration = Duration::from_secs(2);

/// `GET /ws`: upgrades to a WebSocket and runs the connection, or, with several nodes, relays
/// it to its room's node ([`cluster`]). A connection another node relayed here is served here.
pub(crate) async fn upgrade(
    State(state): State<AppState>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let relayed = headers.contains_key(cluster::RELAYED_HEADER);
    ws.max_message_size(SOCKET_MESSAGE_LIMIT)
        .max_frame_size(SOCKET_MESSAGE_LIMIT)
        .on_failed_upgrade(|e| tracing::debug!(error = %e, "websocket upgrade failed"))
        .on_upgrade(move |socket| {
            let session = state.next_session();
            let span = tracing::info_span!("ws", %session);
            route(state, socket, session, relayed).instrument(span)
        })
}

/// With a room directory, reads the first message: a `join` for a room that lives on another
/// node is relayed there; anything else is served here, starting with that message.
async fn route(state: AppState, mut socket: WebSocket, session: SessionId, relayed: bool) {
    let directory = if relayed { None } else { state.directory() };
    let Some(directory) = directory else {
        return run(state, socket, None, session).await;
    };
    let first = match tokio::time::timeout(JOIN_TIMEOUT, socket.recv()).await {
        Ok(Some(Ok(first))) => first,
        _ => return, // closed, failed or silent before saying anything
    };
    match home_elsewhere(&*directory, &first).await {
        Some(ws_url) => cluster::relay(socket, first, &ws_url).await,
        None => run(state, socket, Some(first), session).await,
    }
}

/// The address of the node `first` asks for, when it is a `join` for a room living elsewhere.
async fn home_elsewhere(directory: &dyn RoomDirectory, first: &Message) -> Option<String> {
    let Message::Text(text) = first else { return None };
    let Ok(ClientMessage::Join { room, .. }) = inbound::parse(text.as_str()) else {
        return None;
    };
    match directory.home_of(&room).await {
        Ok(Home::Here) => None,
        Ok(Home::There { ws_url }) => Some(ws_url),
        Err(e) => {
            tracing::warn!(error = %e, "serving the room on this node");
            None
        }
    }
}

async fn run(state: AppState, socket: WebSocket, first: Option<Message>, session: SessionId) {
    let (sink, mut stream) = socket.split();
    let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
    let kick = Arc::new(Kick::default());
    let mut writer = tokio::spawn(outbound::write_loop(sink, rx, kick.clone()));

    state.metrics().connection_opened();
    let mut conn = Connection {
        link: Link::new(tx, kick.clone()),
        kick,
        state,
        session,
        waiting: None,
        token_id: None,
        joined: None,
        token_checked: None,
        quality: None,
        last_report: None,
    };
    let first = first.map(|message| conn.on_frame(Some(Ok(message))));
    let end = match first {
        Some(Err(end)) => end,
        Some(Ok(())) | None => conn.drive(&mut stream).await,
    };
    let flush = conn.finish(end);
    conn.state.metrics().forget_quality(conn.quality);
    conn.state.metrics().connection_closed();
    drop(conn); // Our sender goes; the writer stops once it has drained the queue.

    if !flush || tokio::time::timeout(FLUSH_TIMEOUT, &mut writer).await.is_err() {
        writer.abort();
    }
}

/// A joined connection's place in the world.
struct Joined {
    room: RoomName,
    participant: ParticipantId,
    events: mpsc::UnboundedReceiver<MediaEvent>,
}

/// Why a connection ended.
#[derive(Debug)]
enum End {
    /// The client sent `leave`.
    Left,
    /// The socket closed or failed.
    Disconnected(&'static str),
    /// Nothing heard for too long.
    Silent,
    /// Dropped from outside.
    Kicked(KickReason),
    /// We refuse to go on: the client is told `code`. `why` is a short label for the log.
    Fatal { refusal: Refusal, why: &'static str },
}

impl End {
    fn fatal(code: ErrorCode, message: impl Into<String>, why: &'static str) -> Self {
        Self::Fatal { refusal: Refusal::fatal(code, message), why }
    }
}

struct Connection {
    state: AppState,
    session: SessionId,
    link: Link,
    kick: Arc<Kick>,
    /// In the lobby: admitted (or not) by a host.
    waiting: Option<Waiting>,
    /// The id of the token it joined with, for the audit log.
    token_id: Option<String>,
    joined: Option<Joined>,
    /// When its token was checked, until its first media packet (for the join time).
    token_checked: Option<std::time::Instant>,
    /// Its latest quality report's grade, and when the last counted report came.
    quality: Option<ConnectionQuality>,
    last_report: Option<std::time::Instant>,
}

/// A connection waiting in the room's lobby.
struct Waiting {
    room: RoomName,
    participant: ParticipantId,
    /// Fires when a host admits us; `None` once the lobby entry went without an admission.
    admitted: Option<oneshot::Receiver<Admitted>>,
}

impl Connection {
    /// Runs the state machine until the connection ends.
    async fn drive(&mut self, stream: &mut SplitStream<WebSocket>) -> End {
        let config = self.state.config();
        let silence_limit = config.silence_limit();
        let mut heartbeat =
            tokio::time::interval_at(Instant::now() + config.heartbeat, config.heartbeat);
        heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let join_deadline = tokio::time::sleep(JOIN_TIMEOUT);
        tokio::pin!(join_deadline);
        let mut last_heard = Instant::now();

        loop {
            let outcome = tokio::select! {
                frame = stream.next() => {
                    last_heard = Instant::now();
                    self.on_frame(frame)
                }
                event = next_event(&mut self.joined) => self.on_media(event),
                admitted = admission(&mut self.waiting) => self.on_admitted(admitted),
                reason = self.kick.kicked() => Err(End::Kicked(reason)),
                _ = heartbeat.tick() => {
                    if last_heard.elapsed() >= silence_limit {
                        Err(End::Silent)
                    } else {
                        self.link.push(Outgoing::Ping);
                        Ok(())
                    }
                }
                () = &mut join_deadline, if self.joined.is_none() && self.waiting.is_none() => Err(End::fatal(
                    ErrorCode::NotJoined,
                    format!("no `join` within {} s of connecting", JOIN_TIMEOUT.as_secs()),
                    "join timeout",
                )),
            };
            if let Err(end) = outcome {
                return end;
            }
        }
    }

    fn send(&self, msg: ServerMessage) {
        if let ServerMessage::Error { code, .. } = &msg {
            self.state.metrics().error_sent(*code);
        }
        self.link.deliver(encode(msg));
    }

    fn on_frame(&mut self, frame: Option<Result<Message, axum::Error>>) -> Result<(), End> {
        let max = self.state.config().max_message_bytes;
        let text = match frame {
            None => return Err(End::Disconnected("socket closed")),
            Some(Err(e)) => {
                tracing::debug!(error = %e, "socket read failed");
                return Err(End::Disconnected("read error"));
            }
            Some(Ok(Message::Close(_))) => return Err(End::Disconnected("client closed")),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => return Ok(()),
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Binary(data))) => {
                if data.len() > max {
                    return Err(too_large(data.len(), max));
                }
                return self.refuse(Refusal::soft(
                    ErrorCode::BadMessage,
                    "binary frames are not part of the protocol; send JSON in text frames",
                ));
            }
        };
        if text.len() > max {
            return Err(too_large(text.len(), max));
        }
        match inbound::parse(text.as_str()) {
            Ok(msg) => self.on_message(msg),
            Err(refusal) => self.refuse(refusal),
        }
    }

    /// Tells the client about a refusal; a fatal one ends the connection.
    fn refuse(&self, refusal: Refusal) -> Result<(), End> {
        if refusal.fatal {
            let why = refusal.code.as_str();
            return Err(End::Fatal { refusal, why });
        }
        tracing::debug!(code = refusal.code.as_str(), message = %refusal.message, "refused message");
        self.send(ServerMessage::Error {
            code: refusal.code,
            message: refusal.message,
            fatal: false,
        });
        Ok(())
    }

    fn on_message(&mut self, msg: ClientMessage) -> Result<(), End> {
        let Some(joined) = &self.joined else {
            return match msg {
                ClientMessage::Join { room, token, .. } if self.waiting.is_none() => {
                    self.join(room, &token)
                }
                ClientMessage::Join { .. } => self.refuse(Refusal::soft(
                    ErrorCode::AlreadyJoined,
                    "this connection waits in the lobby already",
                )),
                ClientMessage::Ping => {
                    self.send(ServerMessage::Pong);
                    Ok(())
                }
                ClientMessage::Leave => Err(End::Left),
                _ if self.waiting.is_some() => self.refuse(Refusal::soft(
                    ErrorCode::NotJoined,
                    "you are waiting in the lobby until a host lets you in",
                )),
                _ => self.refuse(Refusal::soft(
                    ErrorCode::NotJoined,
                    "send `join` before anything else",
                )),
            };
        };
        let session = self.session;
        match msg {
            ClientMessage::Join { .. } => self.refuse(Refusal::soft(
                ErrorCode::AlreadyJoined,
                "this connection has already joined; open a new connection to join again",
            )),
            ClientMessage::Offer { sdp, sources } => {
                self.state.media().send(MediaCommand::Offer { session, sdp, sources });
                Ok(())
            }
            ClientMessage::Answer { sdp } => {
                self.state.media().send(MediaCommand::Answer { session, sdp });
                Ok(())
            }
            ClientMessage::PublishState { microphone, camera, screen } => {
                let on = [
                    (Source::Microphone, microphone),
                    (Source::Camera, camera),
                    (Source::Screen, screen),
                ];
                let unmuted =
                    self.state.rooms().publish_state(&joined.room, &joined.participant, on);
                for source in unmuted {
                    let muted = false;
                    self.state.media().send(MediaCommand::SetMuted { session, source, muted });
                }
                Ok(())
            }
            ClientMessage::TileSizes { tiles } => {
                if let Err(message) = TileSize::check_all(&tiles) {
                    return self.refuse(Refusal::soft(ErrorCode::BadMessage, message));
                }
                self.state.media().send(MediaCommand::SetTileSizes { session, tiles });
                Ok(())
            }
            ClientMessage::Ping => {
                self.send(ServerMessage::Pong);
                Ok(())
            }
            ClientMessage::Leave => Err(End::Left),
            ClientMessage::MlsKeyPackage { key_package } => {
                self.mls(MlsInput::KeyPackage(key_package))
            }
            ClientMessage::MlsGroupCreated { group_info } => {
                self.mls(MlsInput::GroupCreated { group_info })
            }
            ClientMessage::MlsJoined { leaf, .. } => self.mls(MlsInput::Joined { leaf }),
            ClientMessage::MlsCommit { epoch, commit, welcome } => {
                self.mls(MlsInput::Commit { epoch, commit, welcome })
            }
            ClientMessage::MlsApplication { epoch, message } => {
                self.mls(MlsInput::Application { epoch, message })
            }
            ClientMessage::QualityReport { quality, decrypt_failures } => {
                self.quality_report(quality, decrypt_failures);
                Ok(())
            }
            action => {
                let (room, actor) = (joined.room.clone(), joined.participant.clone());
                match actions::host_action(&self.state, &room, &actor, action) {
                    Ok(()) => Ok(()),
                    Err(refusal) => self.refuse(refusal),
                }
            }
        }
    }

    /// Counts a client's quality report, unless it came too soon after the last one: a client
    /// cannot weigh more in the node's figures by reporting more often.
    fn quality_report(&mut self, quality: ConnectionQuality, decrypt_failures: u32) {
        let now = std::time::Instant::now();
        if self.last_report.is_some_and(|last| now < last + MIN_REPORT_INTERVAL) {
            return;
        }
        self.last_report = Some(now);
        let previous = self.quality.replace(quality);
        self.state.metrics().quality_report(quality, previous, decrypt_failures);
    }

    fn mls(&mut self, input: MlsInput) -> Result<(), End> {
        let Some(joined) = &self.joined else {
            return Ok(());
        };
        let state = &self.state;
        let result = state.rooms().mls(&joined.room, &joined.participant, input, state.delivery());
        match result {
            Ok(()) => Ok(()),
            Err(refusal) => {
                tracing::debug!(code = refusal.code.as_str(), "mls message refused");
                self.refuse(Refusal::soft(refusal.code, refusal.message))
            }
        }
    }

    fn join(&mut self, room: RoomName, token: &str) -> Result<(), End> {
        let claims = match token::verify(self.state.secret(), token, token::now_unix()) {
            Ok(claims) => claims,
            Err(e) => {
                let (code, what) = match e {
                    TokenError::Expired { .. } | TokenError::NotYetValid { .. } => {
                        (ErrorCode::TokenExpired, AuthFailure::TokenExpired)
                    }
                    _ => (ErrorCode::InvalidToken, AuthFailure::InvalidToken),
                };
                self.audit_refusal(what, &room);
                return Err(End::fatal(code, e.to_string(), e.kind()));
            }
        };
        if claims.room != room {
            self.audit_refusal(AuthFailure::WrongRoom, &room);
            return Err(End::fatal(
                ErrorCode::WrongRoom,
                "the join token is for another room; ask for a join link to this room",
                "token for another room",
            ));
        }

        self.state.metrics().joined();
        self.token_checked = Some(std::time::Instant::now());
        let participant = fresh_participant_id();
        self.token_id = claims.jti.clone();
        let admission = Admission {
            room: room.clone(),
            identity: claims.sub.map_or(Identity::Guest, Identity::Named),
            participant: participant.clone(),
            session: self.session,
            link: self.link.clone(),
            grants: claims.grants,
            token_id: claims.jti,
            token_exp: claims.exp,
            ice_servers: self.ice_servers(&participant),
        };
        let entered = self.state.rooms().enter(admission, token::now_unix(), self.state.delivery());
        match entered {
            Err(refusal) => {
                if refusal.code == ErrorCode::Revoked {
                    self.audit_refusal(AuthFailure::Revoked, &room);
                }
                let why = refusal.code.as_str();
                Err(End::Fatal { refusal, why })
            }
            Ok(Entered::Waiting { identity, admitted }) => {
                tracing::info!(%participant, "waiting in the lobby");
                let (room_name, participant_id) = (room.clone(), participant.clone());
                let event =
                    AuditEvent::Lobby { room: room_name, participant: participant_id, identity };
                self.state.audit().record(event);
                self.waiting = Some(Waiting { room, participant, admitted: Some(admitted) });
                Ok(())
            }
            Ok(Entered::Joined(admitted)) => {
                self.seated(room, participant, admitted);
                Ok(())
            }
        }
    }

    /// In the room: opens the media session.
    fn seated(&mut self, room: RoomName, participant: ParticipantId, admitted: Admitted) {
        if let Some((old_session, old_participant)) = admitted.replaced {
            tracing::info!(%participant, replaced_session = %old_session,
                replaced_participant = %old_participant, "joined, replacing the same identity");
        } else {
            tracing::info!(%participant, "joined");
        }
        tracing::debug!(%room, identity = %admitted.identity, "join details");
        self.state.audit().record(AuditEvent::Joined {
            room: room.clone(),
            participant: participant.clone(),
            identity: admitted.identity.clone(),
            host: admitted.host,
            token_id: self.token_id.clone(),
        });
        let (events_tx, events) = mpsc::unbounded_channel();
        self.state.media().send(MediaCommand::Open {
            session: self.session,
            room: room.clone(),
            participant: participant.clone(),
            grants: admitted.media,
            events: events_tx,
        });
        self.joined = Some(Joined { room, participant, events });
    }

    /// A host let us in from the lobby (or the registry dropped us: then we were kicked too).
    fn on_admitted(
        &mut self,
        admitted: Result<Admitted, oneshot::error::RecvError>,
    ) -> Result<(), End> {
        let Some(waiting) = self.waiting.take() else { return Ok(()) };
        match admitted {
            Ok(admitted) => {
                self.seated(waiting.room, waiting.participant, admitted);
                Ok(())
            }
            // The entry went without an admission: a denial or an ended meeting, whose kick
            // ends this connection right after.
            Err(_) => {
                self.waiting = Some(Waiting { admitted: None, ..waiting });
                Ok(())
            }
        }
    }

    fn on_media(&mut self, event: Option<MediaEvent>) -> Result<(), End> {
        let lost = "the media connection was lost; rejoin the meeting";
        match event {
            None => Err(End::fatal(ErrorCode::MediaTimeout, lost, "media session gone")),
            Some(MediaEvent::Closed { reason }) => {
                tracing::debug!(%reason, "media session closed by the SFU");
                Err(End::fatal(ErrorCode::MediaTimeout, lost, "media closed"))
            }
            Some(MediaEvent::Answer { sdp }) => {
                self.send(ServerMessage::Answer { sdp });
                Ok(())
            }
            Some(MediaEvent::Offer { sdp }) => {
                self.send(ServerMessage::Offer { sdp });
                Ok(())
            }
            Some(MediaEvent::LayersWanted { mid, rids }) => {
                self.send(ServerMessage::LayersWanted { mid, rids });
                Ok(())
            }
            Some(MediaEvent::ActiveSpeaker { participant }) => {
                self.send(ServerMessage::ActiveSpeaker { participant });
                Ok(())
            }
            Some(MediaEvent::Connected) => {
                tracing::debug!("media connected");
                Ok(())
            }
            Some(MediaEvent::MediaFlowing) => {
                if let Some(since) = self.token_checked.take() {
                    self.state.metrics().media_flowing(since);
                }
                Ok(())
            }
            Some(MediaEvent::Refused { message }) => {
                tracing::info!(%message, "offer refused by the grants");
                self.send(ServerMessage::Error {
                    code: ErrorCode::NotAllowed,
                    message: format!("your join link does not allow that: {message}"),
                    fatal: false,
                });
                Ok(())
            }
            Some(MediaEvent::Error { message }) => {
                tracing::debug!(%message, "media error");
                self.send(ServerMessage::Error {
                    code: ErrorCode::MediaError,
                    message: format!("the media server could not use that: {message}"),
                    fatal: false,
                });
                Ok(())
            }
        }
    }

    /// Says goodbye, leaves the room and closes the media session. Returns whether the writer
    /// is worth waiting for.
    fn finish(&mut self, end: End) -> bool {
        let mut flush = true;
        let reason = leave_reason(&end);
        match end {
            End::Left => {
                tracing::info!("left");
                self.link.push(close(close_code::NORMAL, "left"));
            }
            End::Disconnected(why) => tracing::info!(why, "disconnected"),
            End::Silent => {
                tracing::info!(
                    silent_for = ?self.state.config().silence_limit(),
                    "dropped: no heartbeat"
                );
                self.link.push(close(close_code::POLICY, "heartbeat timeout"));
            }
            End::Kicked(KickReason::Replaced) => {
                tracing::info!("replaced by a newer connection of the same identity");
                self.send(ServerMessage::Error {
                    code: ErrorCode::Replaced,
                    message: "you joined this meeting from somewhere else; this connection is \
                              closed"
                        .into(),
                    fatal: true,
                });
                self.link.push(close(close_code::POLICY, ErrorCode::Replaced.as_str()));
            }
            End::Kicked(KickReason::Overflow) => {
                tracing::info!(queued = QUEUE_CAPACITY, "dropped: client is not reading");
                flush = false;
            }
            End::Kicked(KickReason::WriterGone) => {
                tracing::info!(why = "write error", "disconnected");
                flush = false;
            }
            End::Kicked(
                reason @ (KickReason::Denied
                | KickReason::Removed
                | KickReason::Revoked
                | KickReason::MeetingEnded),
            ) => {
                let (code, message) = match reason {
                    KickReason::Denied => {
                        (ErrorCode::Denied, "a host did not let you into this meeting")
                    }
                    KickReason::Removed => {
                        (ErrorCode::Removed, "a host removed you from this meeting")
                    }
                    KickReason::Revoked => {
                        (ErrorCode::Revoked, "your access to this meeting was revoked")
                    }
                    _ => (ErrorCode::MeetingEnded, "the host ended this meeting"),
                };
                tracing::info!(code = code.as_str(), "closing on a host's word");
                self.send(ServerMessage::Error { code, message: message.into(), fatal: true });
                self.link.push(close(close_code::POLICY, code.as_str()));
            }
            End::Fatal { refusal, why } => {
                tracing::info!(code = refusal.code.as_str(), why, "closing: fatal error");
                let code = match refusal.code {
                    ErrorCode::MessageTooLarge => close_code::SIZE,
                    ErrorCode::Internal => close_code::ERROR,
                    _ => close_code::POLICY,
                };
                let reason = refusal.code.as_str();
                self.send(ServerMessage::Error {
                    code: refusal.code,
                    message: refusal.message,
                    fatal: true,
                });
                self.link.push(close(code, reason));
            }
        }
        let seat = match (self.waiting.take(), self.joined.take()) {
            (_, Some(joined)) => {
                self.state.media().send(MediaCommand::Close { session: self.session });
                Some((joined.room, joined.participant))
            }
            (Some(waiting), None) => Some((waiting.room, waiting.participant)),
            (None, None) => None,
        };
        if let Some((room, participant)) = seat {
            let left = self.state.rooms().leave(&room, &participant);
            // A replaced connection's seat went with the replacement; a denied one's lobby
            // entry with the denial, which the audit log has already.
            if let Some(reason) = reason
                && (left || reason == LeaveReason::Replaced)
            {
                self.state.audit().record(AuditEvent::Left { room, participant, reason });
            }
        }
        flush
    }

    /// The node's TURN relays with credentials of `participant`'s own, if it names any.
    fn ice_servers(&self, participant: &ParticipantId) -> Vec<veil_proto::signal::IceServer> {
        let turn = self.state.config().turn.as_ref();
        turn.map(|t| vec![t.credentials(token::now_unix(), &participant.to_string())])
            .unwrap_or_default()
    }

    /// Records a join refused for what it presented.
    fn audit_refusal(&self, what: AuthFailure, room: &RoomName) {
        let event = AuditEvent::AuthFailed { what, room: Some(room.clone()), participant: None };
        self.state.audit().record(event);
    }
}

/// Why a participant left, as the audit log says it; `None` for a lobby entry turned away.
fn leave_reason(end: &End) -> Option<LeaveReason> {
    Some(match end {
        End::Left => LeaveReason::Left,
        End::Kicked(KickReason::Replaced) => LeaveReason::Replaced,
        End::Kicked(KickReason::Removed) => LeaveReason::Removed,
        End::Kicked(KickReason::Revoked) => LeaveReason::Revoked,
        End::Kicked(KickReason::MeetingEnded) => LeaveReason::MeetingEnded,
        End::Kicked(KickReason::Denied) => return None,
        End::Disconnected(_)
        | End::Silent
        | End::Kicked(KickReason::Overflow | KickReason::WriterGone)
        | End::Fatal { .. } => LeaveReason::Disconnected,
    })
}

fn close(code: u16, reason: &'static str) -> Outgoing {
    Outgoing::Close { code, reason }
}

fn too_large(len: usize, max: usize) -> End {
    End::fatal(
        ErrorCode::MessageTooLarge,
        format!("the message is {len} bytes; this server accepts at most {max}"),
        "message too large",
    )
}

/// The next media event, or never while not joined.
/// A host's admission of this connection, if it waits in a lobby.
async fn admission(waiting: &mut Option<Waiting>) -> Result<Admitted, oneshot::error::RecvError> {
    match waiting.as_mut().and_then(|w| w.admitted.as_mut()) {
        Some(admitted) => admitted.await,
        None => std::future::pending().await,
    }
}

async fn next_event(joined: &mut Option<Joined>) -> Option<MediaEvent> {
    match joined {
        Some(joined) => joined.events.recv().await,
        None => std::future::pending().await,
    }
}
