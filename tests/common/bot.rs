//! A native participant: joins over the WebSocket, publishes synthetic Opus-sized audio and
//! VP8-framed video, answers the SFU's offers and counts what it receives per sender.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::format::Codec;
use str0m::media::{Direction, MediaKind, Mid};
use str0m::net::{Protocol, Receive};
use str0m::rtp::RtpWrite;
use str0m::{Candidate, Event, Rtc};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use veil_proto::ParticipantId;
use veil_proto::signal::{ClientMessage, Envelope, ErrorCode, ServerMessage};

use veil_e2ee::{self as e2ee, KeyRing};
use veil_loadtest::participant::secure::Secure;

/// A bot's end-to-end encryption: the MLS client load-test participants use, and the SFrame
/// key ring it feeds.
struct Keys {
    mls: Secure,
    ring: KeyRing,
}

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// Plaintext every frame a bot sends starts with, to search the wire for.
pub const KNOWN_PLAINTEXT: &[u8] = b"KNOWN-PLAINTEXT|";

pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// What a bot has seen so far.
#[derive(Debug, Default)]
pub struct Seen {
    pub connected: bool,
    /// Payload prefixes received, by the sender's participant id and kind.
    pub packets: HashMap<(String, MediaKind), Vec<Vec<u8>>>,
    pub participants: HashSet<ParticipantId>,
    pub errors: Vec<(ErrorCode, String)>,
    /// With encryption: RTP payloads exactly as the SFU forwarded them.
    pub wire: Vec<Vec<u8>>,
    /// With encryption: frames that failed to decrypt, and the MLS epoch and code we are at.
    pub decrypt_failures: u64,
    pub epoch: Option<u64>,
    pub code: Option<String>,
    /// (participant id, display name) of every MLS member, names as their credentials say.
    pub names: Vec<(String, String)>,
    pub failure_kinds: Vec<String>,
    pub distinct: HashSet<Vec<u8>>,
    pub duplicates: u64,
}

impl Seen {
    pub fn count(&self, from: &ParticipantId, kind: MediaKind) -> usize {
        self.packets.get(&(from.0.clone(), kind)).map_or(0, Vec::len)
    }
}

pub struct Bot {
    pub id: ParticipantId,
    pub seen: Arc<Mutex<Seen>>,
    leave: Option<mpsc::UnboundedSender<bool>>,
    task: tokio::task::JoinHandle<()>,
}

/// Connects and sends `join`; returns the server's first reply.
pub async fn connect(http: SocketAddr, room: &str, token: &str) -> (Ws, ServerMessage) {
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{http}/ws")).await.unwrap();
    let join = Envelope::new(ClientMessage::Join {
        room: veil_proto::RoomName::new(room).unwrap(),
        token: token.to_string(),
        min_version: Some(veil_proto::signal::MIN_PROTOCOL_VERSION),
    });
    ws.send(Message::text(serde_json::to_string(&join).unwrap())).await.unwrap();
    let reply = next_message(&mut ws).await.expect("a reply to join");
    (ws, reply)
}

/// The next server message, skipping pings; `None` when the socket closed.
pub async fn next_message(ws: &mut Ws) -> Option<ServerMessage> {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next()).await.ok()?? {
            Ok(Message::Text(text)) => {
                let env: Envelope<ServerMessage> = serde_json::from_str(&text).unwrap();
                return Some(env.msg);
            }
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

async fn send(ws: &mut Ws, msg: ClientMessage) {
    let _ = ws.send(Message::text(serde_json::to_string(&Envelope::new(msg)).unwrap())).await;
}

impl Bot {
    /// Joins `room` and starts publishing audio and video, in the clear.
    pub async fn join(http: SocketAddr, room: &str, token: &str) -> Bot {
        Self::join_with(http, room, token, false, LOOPBACK).await
    }

    /// Like [`Bot::join`], with media from a socket on `ip` (`::1` for IPv6, say).
    pub async fn join_from(http: SocketAddr, room: &str, token: &str, ip: IpAddr) -> Bot {
        Self::join_with(http, room, token, false, ip).await
    }

    /// Joins `room`, takes part in its MLS group and publishes SFrame-encrypted media.
    pub async fn join_secure(http: SocketAddr, room: &str, token: &str) -> Bot {
        Self::join_with(http, room, token, true, LOOPBACK).await
    }

    async fn join_with(http: SocketAddr, room: &str, token: &str, secure: bool, ip: IpAddr) -> Bot {
        let (mut ws, reply) = connect(http, room, token).await;
        let ServerMessage::Joined { participant_id, participants, .. } = &reply else {
            panic!("join refused: {reply:?}");
        };
        let (participant_id, participants) = (participant_id.clone(), participants.clone());
        let secure = if secure {
            let mut ring = KeyRing::new();
            let name = format!("bot {participant_id}");
            let (mls, first) = Secure::start(&reply, &name, &mut ring).unwrap();
            let secure = Keys { mls, ring };
            for msg in first {
                send(&mut ws, msg).await;
            }
            Some(secure)
        } else {
            None
        };
        let socket = UdpSocket::bind(SocketAddr::new(ip, 0)).await.unwrap();
        let local = socket.local_addr().unwrap();
        let mut rtc = Rtc::builder().set_rtp_mode(true).build(Instant::now());
        rtc.add_local_candidate(Candidate::host(local, "udp").unwrap());
        let mut api = rtc.sdp_api();
        let audio = api.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None);
        let video = api.add_media(MediaKind::Video, Direction::SendOnly, None, None, None);
        let (offer, pending) = api.apply().unwrap();
        send(
            &mut ws,
            ClientMessage::Offer { sdp: offer.to_sdp_string(), sources: Default::default() },
        )
        .await;

        let seen = Arc::new(Mutex::new(Seen::default()));
        seen.lock().unwrap().participants.extend(participants.into_iter().map(|p| p.id));
        let (leave, leave_rx) = mpsc::unbounded_channel();
        let peer = Peer {
            id: participant_id.clone(),
            rtc,
            socket,
            local,
            ws,
            pending: Some(pending),
            audio,
            video,
            seen: seen.clone(),
            frames: 0,
            keyframe_due: true,
            secure,
        };
        let task = tokio::spawn(peer.run(leave_rx));
        Bot { id: participant_id, seen, leave: Some(leave), task }
    }

    /// Sends `leave` and stops.
    pub async fn leave(mut self) {
        if let Some(leave) = self.leave.take() {
            let _ = leave.send(true);
        }
        let _ = (&mut self.task).await;
    }

    /// Stops without a word: the socket and WebSocket just go quiet.
    pub async fn vanish(mut self) {
        if let Some(leave) = self.leave.take() {
            let _ = leave.send(false);
        }
        let _ = (&mut self.task).await;
    }
}

struct Peer {
    id: ParticipantId,
    rtc: Rtc,
    socket: UdpSocket,
    local: SocketAddr,
    ws: Ws,
    pending: Option<SdpPendingOffer>,
    audio: Mid,
    video: Mid,
    seen: Arc<Mutex<Seen>>,
    frames: u64,
    keyframe_due: bool,
    secure: Option<Keys>,
}

impl Peer {
    async fn run(mut self, mut leave: mpsc::UnboundedReceiver<bool>) {
        let mut buf = vec![0u8; 2000];
        let mut next_media = Instant::now();
        loop {
            let keys_due = self.secure.as_ref().map(|s| s.mls.next_timeout());
            let deadline = self.drain().await.min(next_media).min(keys_due.unwrap_or(next_media));
            tokio::select! {
                polite = leave.recv() => {
                    if polite.unwrap_or(true) {
                        send(&mut self.ws, ClientMessage::Leave).await;
                        let _ = self.ws.close(None).await;
                    }
                    return;
                }
                received = self.socket.recv_from(&mut buf) => {
                    let Ok((n, source)) = received else { continue };
                    if let Ok(r) = Receive::new(Protocol::Udp, source, self.local, &buf[..n]) {
                        let _ = self.rtc.handle_input(str0m::Input::Receive(Instant::now(), r));
                    }
                }
                message = next_message(&mut self.ws) => match message {
                    Some(message) => self.on_message(message).await,
                    None => return,
                },
                _ = tokio::time::sleep_until(deadline.into()) => {
                    let now = Instant::now();
                    if keys_due.is_some_and(|due| now >= due) {
                        self.keys_timeout().await;
                    }
                    let _ = self.rtc.handle_input(str0m::Input::Timeout(now));
                    if now >= next_media {
                        next_media = now + Duration::from_millis(20);
                        if self.seen.lock().unwrap().connected {
                            self.send_media(now);
                        }
                    }
                }
            }
        }
    }

    async fn keys_timeout(&mut self) {
        if let Some(secure) = &mut self.secure {
            let replies = secure.mls.on_timeout(&mut secure.ring).unwrap();
            self.after_keys(replies).await;
        }
    }

    /// Records what the key agreement shows and sends its replies.
    async fn after_keys(&mut self, replies: Vec<ClientMessage>) {
        if let Some(secure) = &self.secure {
            let mut seen = self.seen.lock().unwrap();
            seen.epoch = secure.mls.epoch();
            seen.code = secure.mls.verification_code();
            seen.names = secure.mls.names();
        }
        for reply in replies {
            send(&mut self.ws, reply).await;
        }
    }

    async fn on_message(&mut self, message: ServerMessage) {
        if let Some(secure) = &mut self.secure {
            let replies = secure.mls.on_message(&message, &mut secure.ring).unwrap();
            self.after_keys(replies).await;
        }
        match message {
            ServerMessage::Answer { sdp } => {
                let pending = self.pending.take().expect("an offer in flight");
                let answer = SdpAnswer::from_sdp_string(&sdp).unwrap();
                self.rtc.sdp_api().accept_answer(pending, answer).unwrap();
            }
            ServerMessage::Offer { sdp } => {
                let offer = SdpOffer::from_sdp_string(&sdp).unwrap();
                let answer = self.rtc.sdp_api().accept_offer(offer).unwrap();
                send(&mut self.ws, ClientMessage::Answer { sdp: answer.to_sdp_string() }).await;
            }
            ServerMessage::ParticipantJoined { participant } => {
                self.seen.lock().unwrap().participants.insert(participant.id);
            }
            ServerMessage::ParticipantLeft { participant_id } => {
                self.seen.lock().unwrap().participants.remove(&participant_id);
            }
            ServerMessage::Error { code, message, .. } => {
                self.seen.lock().unwrap().errors.push((code, message));
            }
            _ => {}
        }
    }

    /// Sends what str0m has queued and handles its events; returns its next timeout.
    async fn drain(&mut self) -> Instant {
        loop {
            match self.rtc.poll_output() {
                Ok(str0m::Output::Transmit(t)) => {
                    let _ = self.socket.send_to(&t.contents, t.destination).await;
                }
                Ok(str0m::Output::Timeout(t)) => return t,
                Ok(str0m::Output::Event(e)) => self.on_event(e),
                Err(_) => return Instant::now() + Duration::from_secs(3600),
            }
        }
    }

    fn on_event(&mut self, event: Event) {
        let mut seen = self.seen.lock().unwrap();
        match event {
            Event::Connected => seen.connected = true,
            Event::KeyframeRequest(_) => self.keyframe_due = true,
            Event::RtpPacket(p) => {
                let mid = self.rtc.direct_api().stream_rx(&p.header.ssrc).map(|s| s.mid());
                if let Some(media) = mid.and_then(|m| self.rtc.media(m)) {
                    let key = (media.stream_id().to_string(), media.kind());
                    let Some(secure) = &mut self.secure else {
                        seen.packets.entry(key).or_default().push(p.payload.to_vec());
                        return;
                    };
                    // A retransmission that arrives after its original is the same frame twice;
                    // the browser's jitter buffer drops such duplicates before decrypting.
                    if !seen.distinct.insert(p.payload.to_vec()) {
                        seen.duplicates += 1;
                        return;
                    }
                    seen.wire.push(p.payload.to_vec());
                    // Video keeps the VP8 payload descriptor (one byte here) outside the frame.
                    let (data, kind) = match media.kind() {
                        MediaKind::Video => {
                            (p.payload.get(1..).unwrap_or(&[]), e2ee::MediaKind::Video)
                        }
                        _ => (&p.payload[..], e2ee::MediaKind::Audio),
                    };
                    // Bound to the participant whose track it came on, as a browser does.
                    match secure.ring.decrypt_from(&key.0, kind, data) {
                        Ok(frame) => seen.packets.entry(key).or_default().push(frame.plaintext),
                        Err(e) => {
                            seen.decrypt_failures += 1;
                            seen.failure_kinds.push(e.code().to_string());
                        }
                    }
                }
            }
            _ => {}
        }
    }

    fn send_media(&mut self, now: Instant) {
        let n = self.frames;
        self.frames += 1;
        let pt =
            |rtc: &Rtc, codec| rtc.codec_config().find(|p| p.spec().codec == codec).unwrap().pt();
        let (opus, vp8) = (pt(&self.rtc, Codec::Opus), pt(&self.rtc, Codec::Vp8));
        let id = self.id.0.clone();
        let secure = self.secure.as_mut();
        if secure.as_ref().is_some_and(|s| s.ring.epoch().is_none()) {
            return; // Never send a frame before holding the epoch key.
        }
        let (mut audio, mut frame) = if secure.is_some() {
            // An Opus TOC byte, then the payload; a VP8 frame tag (10 header bytes on key
            // frames), then the payload. Both start with a pattern to search the wire for.
            let key = self.keyframe_due;
            let mut frame = vec![if key { 0x00 } else { 0x01 }, 0x9d, 0x01, 0x2a, 0, 0, 0, 0, 0, 0];
            frame.extend_from_slice(KNOWN_PLAINTEXT);
            frame.extend_from_slice(format!("video|{id}|{n}").as_bytes());
            let mut audio = vec![0x78];
            audio.extend_from_slice(KNOWN_PLAINTEXT);
            audio.extend_from_slice(format!("audio|{id}|{n}").as_bytes());
            (audio, frame)
        } else {
            let key = self.keyframe_due;
            let mut frame = vec![if key { 0x00 } else { 0x01 }];
            frame.extend_from_slice(format!("video|{id}|{n}").as_bytes());
            (format!("audio|{id}|{n}").into_bytes(), frame)
        };
        let _key = std::mem::take(&mut self.keyframe_due);
        if let Some(secure) = secure {
            frame.resize(900, 0x55);
            audio = secure.ring.encrypt_media(e2ee::MediaKind::Audio, 0, &audio).unwrap();
            frame = secure.ring.encrypt_media(e2ee::MediaKind::Video, 1, &frame).unwrap();
        }
        let mut payload = vec![0x10];
        payload.extend_from_slice(&frame);
        if self.secure.is_none() {
            payload.resize(1000, 0x55);
        }
        let mut api = self.rtc.direct_api();
        if let Some(tx) = api.stream_tx_by_mid(self.audio, None) {
            tx.write_rtp(RtpWrite::new(opus, (n + 1).into(), (n * 960) as u32, now, audio));
        }
        if let Some(tx) = api.stream_tx_by_mid(self.video, None) {
            let write = RtpWrite::new(vp8, (n + 1).into(), (n * 1800) as u32, now, payload);
            tx.write_rtp(write.marker(true).nackable(true));
        }
    }
}
