//! A participant that talks to `veil serve` exactly as the browser does: `join` with a token
//! over the WebSocket, MLS key agreement through the delivery service, an SDP offer of its own
//! tracks, answers to the SFU's offers, and ICE/DTLS-SRTP with str0m in RTP mode on its own UDP
//! socket.
//!
//! str0m keeps at most one received RTP packet until polled, so the connection is drained after
//! every datagram; datagrams are read in batches of up to [`RECEIVE_BATCH`] per wake-up.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use futures_util::{SinkExt, StreamExt};
use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::format::Codec;
use str0m::media::{Direction, MediaKind, Mid, Pt};
use str0m::net::{Protocol, Receive};
use str0m::rtp::{AbsCaptureTime, Extension, ExtensionMap, ExtensionValues, RtpWrite, Ssrc};
use str0m::{Candidate, Event, Rtc};
use tokio::net::UdpSocket;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;
use veil_e2ee::KeyRing;
use veil_proto::signal::{ClientMessage, Envelope, ServerMessage};

use super::secure::Secure;
use super::{Outcome, Plan, RtpIn, Shared, Tally, Target};
use crate::media::{Frame, Source};

/// Datagrams read per wake-up.
pub const RECEIVE_BATCH: usize = 64;
/// How long a join may take before the participant gives up.
const JOIN_TIMEOUT: Duration = Duration::from_secs(30);

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

struct Peer {
    rtc: Rtc,
    socket: UdpSocket,
    local: SocketAddr,
    ws: Ws,
    pending: Option<SdpPendingOffer>,
    mids: (Option<Mid>, Option<Mid>),
    pts: Option<(Pt, Pt)>,
    seqs: (u64, u64),
    ring: KeyRing,
    secure: Secure,
    source: Source,
    kinds: HashMap<Ssrc, MediaKind>,
    tally: Tally,
    shared: Arc<Shared>,
    connected: bool,
    frames: Vec<Frame>,
}

/// Runs one participant until `stop` turns true.
pub async fn run(plan: Plan, shared: Arc<Shared>, stop: watch::Receiver<bool>) -> Outcome {
    let mut tally = Tally::new(plan.role.expect_streams);
    let peer = match join(&plan, &shared, &mut tally).await {
        Ok(peer) => peer,
        Err(e) => {
            Shared::add(&shared.failed);
            return tally.finish(plan.index, Default::default(), Some(e));
        }
    };
    let mut peer = *peer;
    let result = peer.run(stop).await;
    if result.is_err() {
        Shared::add(&shared.failed);
    }
    let _ = peer.send(ClientMessage::Leave).await;
    let _ = peer.ws.close(None).await;
    peer.tally.finish(plan.index, peer.source.schedule, result.err())
}

async fn join(plan: &Plan, shared: &Arc<Shared>, tally: &mut Tally) -> Result<Box<Peer>, String> {
    let Target::Veil { http, token } = &plan.target else {
        return Err("a veil participant needs a veil target".into());
    };
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{http}/ws"))
        .await
        .map_err(|e| format!("WebSocket to {http}: {e}"))?;
    let room = veil_proto::RoomName::new(plan.room.clone()).map_err(|e| format!("room: {e}"))?;
    let join = ClientMessage::Join { room, token: token.clone(), min_version: Some(1), name: None };
    send_ws(&mut ws, join).await?;
    let reply = tokio::time::timeout(JOIN_TIMEOUT, next_message(&mut ws))
        .await
        .map_err(|_| "no reply to join".to_string())??;
    let ServerMessage::Joined { participant_id, e2ee, .. } = reply else {
        return Err(format!("join refused: {reply:?}"));
    };
    tally.join.joined_ns = Some(crate::now_ns());
    Shared::add(&shared.joined);
    let mut ring = KeyRing::new();
    let (secure, first) =
        Secure::new(participant_id.clone(), &format!("load {participant_id}"), &e2ee, &mut ring)?;
    for msg in first {
        send_ws(&mut ws, msg).await?;
    }
    let socket = UdpSocket::bind("127.0.0.1:0").await.map_err(|e| format!("UDP bind: {e}"))?;
    let local = socket.local_addr().map_err(|e| e.to_string())?;
    let mut exts = ExtensionMap::standard();
    exts.set(5, Extension::AbsoluteCaptureTime);
    let mut rtc = Rtc::builder().set_rtp_mode(true).set_extension_map(exts).build(Instant::now());
    let candidate = Candidate::host(local, "udp").map_err(|e| e.to_string())?;
    rtc.add_local_candidate(candidate);
    let mut api = rtc.sdp_api();
    let role = plan.role;
    let audio =
        role.audio.then(|| api.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None));
    let video =
        role.video.map(|_| api.add_media(MediaKind::Video, Direction::SendOnly, None, None, None));
    if !role.publishes() {
        // A listener still offers one m-line so ICE and DTLS come up.
        api.add_media(MediaKind::Audio, Direction::RecvOnly, None, None, None);
    }
    let (offer, pending) = api.apply().ok_or("nothing to offer")?;
    send_ws(&mut ws, ClientMessage::Offer { sdp: offer.to_sdp_string() }).await?;
    let source = Source::new(Instant::now(), role.audio, role.video, plan.index as u64 + 1);
    let tally = std::mem::replace(tally, Tally::new(0));
    Ok(Box::new(Peer {
        rtc,
        socket,
        local,
        ws,
        pending: Some(pending),
        mids: (audio, video),
        pts: None,
        seqs: (0, 0),
        ring,
        secure,
        source,
        kinds: HashMap::new(),
        tally,
        shared: shared.clone(),
        connected: false,
        frames: Vec::new(),
    }))
}

async fn send_ws(ws: &mut Ws, msg: ClientMessage) -> Result<(), String> {
    let text = serde_json::to_string(&Envelope::new(msg)).map_err(|e| e.to_string())?;
    ws.send(Message::text(text)).await.map_err(|e| format!("signaling send: {e}"))
}

async fn next_message(ws: &mut Ws) -> Result<ServerMessage, String> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(text))) => return parse(&text),
            Some(Ok(Message::Close(_))) | None => return Err("signaling closed".into()),
            Some(Err(e)) => return Err(format!("signaling: {e}")),
            Some(Ok(_)) => {}
        }
    }
}

fn parse(text: &str) -> Result<ServerMessage, String> {
    serde_json::from_str::<Envelope<ServerMessage>>(text)
        .map(|env| env.msg)
        .map_err(|e| format!("unreadable server message: {e}"))
}

impl Peer {
    async fn run(&mut self, mut stop: watch::Receiver<bool>) -> Result<(), String> {
        let mut buf = vec![0u8; 2048];
        self.tally.check_ready(&self.shared);
        if self.ring.epoch().is_some() {
            self.tally.join.keyed_ns = Some(crate::now_ns());
        }
        loop {
            let timeout = self.drain().await?;
            let sending = self.connected && self.ring.epoch().is_some();
            let due = self.source.next_due().filter(|_| sending);
            let deadline = due.map_or(timeout, |d| d.min(timeout));
            tokio::select! {
                _ = stop.changed() => return Ok(()),
                received = self.socket.recv_from(&mut buf) => {
                    let (n, from) = received.map_err(|e| format!("UDP receive: {e}"))?;
                    self.receive(from, &buf[..n]).await?;
                    for _ in 1..RECEIVE_BATCH {
                        let Ok((n, from)) = self.socket.try_recv_from(&mut buf) else { break };
                        self.receive(from, &buf[..n]).await?;
                    }
                }
                message = self.ws.next() => match message {
                    Some(Ok(Message::Text(text))) => self.on_message(parse(&text)?).await?,
                    Some(Ok(Message::Close(_))) | None => return Err("signaling closed".into()),
                    Some(Err(e)) => return Err(format!("signaling: {e}")),
                    Some(Ok(_)) => {}
                },
                _ = tokio::time::sleep_until(deadline.into()) => {}
            }
            let now = Instant::now();
            if now >= timeout {
                let _ = self.rtc.handle_input(str0m::Input::Timeout(now));
            }
            if sending && due.is_some_and(|d| now >= d) {
                self.send_media(now);
            }
        }
    }

    async fn receive(&mut self, from: SocketAddr, data: &[u8]) -> Result<(), String> {
        let now = Instant::now();
        if let Ok(r) = Receive::new(Protocol::Udp, from, self.local, data) {
            let _ = self.rtc.handle_input(str0m::Input::Receive(now, r));
        }
        self.drain().await.map(|_| ())
    }

    async fn send(&mut self, msg: ClientMessage) -> Result<(), String> {
        send_ws(&mut self.ws, msg).await
    }

    async fn on_message(&mut self, message: ServerMessage) -> Result<(), String> {
        let had_key = self.ring.epoch().is_some();
        for reply in self.secure.on_message(&message, &mut self.ring)? {
            self.send(reply).await?;
        }
        if !had_key && self.ring.epoch().is_some() {
            self.tally.join.keyed_ns = Some(crate::now_ns());
        }
        match message {
            ServerMessage::Answer { sdp } => {
                let pending = self.pending.take().ok_or("an answer with no offer in flight")?;
                let answer = SdpAnswer::from_sdp_string(&sdp).map_err(|e| e.to_string())?;
                self.rtc.sdp_api().accept_answer(pending, answer).map_err(|e| e.to_string())?;
            }
            ServerMessage::Offer { sdp } => {
                let offer = SdpOffer::from_sdp_string(&sdp).map_err(|e| e.to_string())?;
                let answer = self.rtc.sdp_api().accept_offer(offer).map_err(|e| e.to_string())?;
                self.send(ClientMessage::Answer { sdp: answer.to_sdp_string() }).await?;
            }
            ServerMessage::Error { code, message, fatal } if fatal => {
                return Err(format!("server error {code:?}: {message}"));
            }
            _ => {}
        }
        Ok(())
    }

    /// Sends what str0m has queued and handles its events; returns its next timeout.
    async fn drain(&mut self) -> Result<Instant, String> {
        loop {
            match self.rtc.poll_output() {
                Ok(str0m::Output::Transmit(t)) => {
                    if let Err(e) = self.socket.try_send_to(&t.contents, t.destination) {
                        if e.kind() != std::io::ErrorKind::WouldBlock {
                            return Err(format!("UDP send: {e}"));
                        }
                        let _ = self.socket.send_to(&t.contents, t.destination).await;
                    }
                }
                Ok(str0m::Output::Timeout(t)) => return Ok(t),
                Ok(str0m::Output::Event(e)) => self.on_event(e),
                Err(e) => return Err(format!("str0m: {e}")),
            }
        }
    }

    fn on_event(&mut self, event: Event) {
        match event {
            Event::Connected => {
                self.connected = true;
                self.tally.join.connected_ns = Some(crate::now_ns());
                Shared::add(&self.shared.connected);
            }
            Event::KeyframeRequest(_) => self.source.request_keyframe(),
            Event::RtpPacket(p) => {
                let ssrc = p.header.ssrc;
                let kind = match self.kinds.get(&ssrc) {
                    Some(kind) => *kind,
                    None => {
                        let mid = self.rtc.direct_api().stream_rx(&ssrc).map(|s| s.mid());
                        let Some(kind) = mid.and_then(|m| self.rtc.media(m)).map(|m| m.kind())
                        else {
                            return;
                        };
                        self.kinds.insert(ssrc, kind);
                        kind
                    }
                };
                let rtp = RtpIn {
                    kind,
                    ssrc: *ssrc,
                    seq: *p.seq_no,
                    rtp_time: p.header.timestamp,
                    marker: p.header.marker,
                    payload: &p.payload,
                    received_ns: crate::ns_at(p.timestamp),
                };
                self.shared.packets.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                self.tally.receiver.on_rtp(&mut self.ring, rtp, self.shared.window());
                self.tally.after_receive(&self.shared);
            }
            _ => {}
        }
    }

    fn send_media(&mut self, now: Instant) {
        let counting = self.shared.counting(crate::ns_at(now));
        let mut frames = std::mem::take(&mut self.frames);
        self.source.poll(now, &mut self.ring, counting, &mut frames);
        let (opus, vp8) = match self.pts {
            Some(pts) => pts,
            None => {
                let pt = |codec| {
                    self.rtc.codec_config().find(|p| p.spec().codec == codec).map(|p| p.pt())
                };
                let (Some(opus), Some(vp8)) = (pt(Codec::Opus), pt(Codec::Vp8)) else {
                    frames.clear();
                    self.frames = frames;
                    return;
                };
                *self.pts.insert((opus, vp8))
            }
        };
        let capture = AbsCaptureTime { capture_time: SystemTime::now(), clock_offset: None };
        let ext = ExtensionValues { abs_capture_time: Some(capture), ..Default::default() };
        for frame in frames.drain(..) {
            let (mid, pt, seq, video) = match frame.kind {
                MediaKind::Audio => (self.mids.0, opus, &mut self.seqs.0, false),
                MediaKind::Video => (self.mids.1, vp8, &mut self.seqs.1, true),
            };
            let mut api = self.rtc.direct_api();
            let Some(tx) = mid.and_then(|mid| api.stream_tx_by_mid(mid, None)) else {
                continue;
            };
            let count = frame.payloads.len();
            for (i, payload) in frame.payloads.into_iter().enumerate() {
                *seq += 1;
                let write = RtpWrite::new(pt, (*seq).into(), frame.rtp_time, now, payload)
                    .marker(video && i + 1 == count)
                    .nackable(video)
                    .ext_vals(ext.clone());
                tx.write_rtp(write);
                if counting {
                    self.tally.sent_packets += 1;
                }
            }
        }
        self.frames = frames;
    }
}
