//! A participant that talks to `veil serve` exactly as the browser does: `join` with a token
//! over the WebSocket, MLS key agreement through the delivery service, an SDP offer of its own
//! tracks, answers to the SFU's offers, and ICE/DTLS-SRTP with str0m in RTP mode on its own UDP
//! socket (a [`Link`]). Like the browser it reports how large it shows each video it receives
//! (its [`Layout`]) and pauses the simulcast layers the SFU says nobody needs.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::media::{Direction, MediaKind, Mid};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;
use veil_e2ee::KeyRing;
use veil_proto::signal::{ClientMessage, Envelope, ParticipantInfo, ServerMessage, TileSize};

use super::link::{Link, Local};
use super::secure::Secure;
use super::{Outcome, Plan, Shared, Tally, Target};
use crate::layout::{self, Layout, Shown};

/// How long a join may take before the participant gives up.
const JOIN_TIMEOUT: Duration = Duration::from_secs(30);

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

struct Peer {
    link: Link,
    ws: Ws,
    pending: Option<SdpPendingOffer>,
    secure: Secure,
    me: Local,
    layout: Option<Layout>,
    /// The speaker's participant id, once known.
    speaker: Option<String>,
    /// The last tile sizes reported.
    tiles: Vec<TileSize>,
}

/// The participant id of the speaker among `participants`, if there.
fn find_speaker<'a>(participants: impl IntoIterator<Item = &'a ParticipantInfo>) -> Option<String> {
    let speaker = crate::scenario::identity(crate::scenario::SPEAKER);
    participants.into_iter().find(|p| p.identity == speaker).map(|p| p.id.0.clone())
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
    let sending_layers = peer.me.source.sending_layers();
    let outcome = peer.me.tally.finish(plan.index, peer.me.source.schedule, result.err());
    Outcome { sending_layers, ..outcome }
}

async fn join(plan: &Plan, shared: &Arc<Shared>, tally: &mut Tally) -> Result<Box<Peer>, String> {
    let Target::Veil { http, token } = &plan.target else {
        return Err("a veil participant needs a veil target".into());
    };
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{http}/ws"))
        .await
        .map_err(|e| format!("WebSocket to {http}: {e}"))?;
    let room = veil_proto::RoomName::new(plan.room.clone()).map_err(|e| format!("room: {e}"))?;
    let join = ClientMessage::Join {
        room,
        token: token.clone(),
        min_version: Some(veil_proto::signal::MIN_PROTOCOL_VERSION),
    };
    send_ws(&mut ws, join).await?;
    let reply = tokio::time::timeout(JOIN_TIMEOUT, next_message(&mut ws))
        .await
        .map_err(|_| "no reply to join".to_string())??;
    let ServerMessage::Joined { participant_id, participants, .. } = &reply else {
        return Err(format!("join refused: {reply:?}"));
    };
    let speaker = find_speaker(participants);
    tally.join.joined_ns = Some(crate::now_ns());
    Shared::add(&shared.joined);
    let mut ring = KeyRing::new();
    let (secure, first) = Secure::start(&reply, &format!("load {participant_id}"), &mut ring)?;
    for msg in first {
        send_ws(&mut ws, msg).await?;
    }
    let mut link = Link::bind(Ipv4Addr::LOCALHOST.into()).await?;
    let role = plan.role;
    let mut api = link.offer_tracks(&role);
    if !role.publishes() {
        // A listener still offers one m-line so ICE and DTLS come up.
        api.add_media(MediaKind::Audio, Direction::RecvOnly, None, None, None);
    }
    let (offer, pending) = api.apply().ok_or("nothing to offer")?;
    send_ws(
        &mut ws,
        ClientMessage::Offer { sdp: offer.to_sdp_string(), sources: Default::default() },
    )
    .await?;
    if role.publishes() {
        // As the browser does: the others show a camera or microphone only once announced.
        let (microphone, camera) = (role.audio, role.video.is_some());
        let state = ClientMessage::PublishState { microphone, camera, screen: false };
        send_ws(&mut ws, state).await?;
    }
    let source = role.source(Instant::now(), plan.index as u64 + 1);
    let tally = std::mem::replace(tally, Tally::new(0));
    let me = Local::new(ring, source, tally, shared.clone());
    let pending = Some(pending);
    let layout = role.layout;
    let tiles = Vec::new();
    Ok(Box::new(Peer { link, ws, pending, secure, me, layout, speaker, tiles }))
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
        let me = &mut self.me;
        me.tally.check_ready(&me.shared);
        if me.ring.epoch().is_some() {
            me.tally.join.keyed_ns = Some(crate::now_ns());
        }
        loop {
            let timeout = self.link.drain(&mut self.me).await?;
            if self.link.connected {
                self.me.mark_connected();
            }
            if self.link.videos_changed {
                self.report_tiles().await?;
            }
            let sending = self.link.connected && self.me.ring.epoch().is_some();
            let due = self.me.source.next_due().filter(|_| sending);
            let keys_due = self.secure.next_timeout();
            let deadline = due.map_or(timeout, |d| d.min(timeout)).min(keys_due);
            tokio::select! {
                _ = stop.changed() => return Ok(()),
                received = self.link.recv_from(&mut buf) => {
                    let first = received.map_err(|e| format!("UDP receive: {e}"))?;
                    self.link.receive_batch(first, &mut buf, &mut self.me).await?;
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
                self.link.timeout(now);
            }
            if now >= keys_due {
                for reply in self.secure.on_timeout(&mut self.me.ring)? {
                    self.send(reply).await?;
                }
            }
            if sending && due.is_some_and(|d| now >= d) {
                self.link.send_media(now, &mut self.me);
            }
        }
    }

    async fn send(&mut self, msg: ClientMessage) -> Result<(), String> {
        send_ws(&mut self.ws, msg).await
    }

    /// The videos this participant receives, as its layout sees them.
    fn shown(&self) -> Vec<Shown> {
        let speaker = self.speaker.as_deref();
        let is_speaker =
            |mid: Mid| self.link.rtc.media(mid).is_some_and(|m| Some(m.stream_id()) == speaker);
        let shown = |&mid: &Mid| Shown { mid: mid.to_string(), speaker: is_speaker(mid) };
        self.link.received_videos.iter().map(shown).collect()
    }

    /// Reports tile sizes for the videos received now, if the layout makes them differ from
    /// the last report.
    async fn report_tiles(&mut self) -> Result<(), String> {
        self.link.videos_changed = false;
        let Some(layout) = self.layout else { return Ok(()) };
        let tiles = layout::tile_sizes(layout, &self.shown());
        if tiles == self.tiles {
            return Ok(());
        }
        self.tiles = tiles.clone();
        self.send(ClientMessage::TileSizes { tiles }).await
    }

    async fn on_message(&mut self, message: ServerMessage) -> Result<(), String> {
        let had_key = self.me.ring.epoch().is_some();
        for reply in self.secure.on_message(&message, &mut self.me.ring)? {
            self.send(reply).await?;
        }
        if !had_key && self.me.ring.epoch().is_some() {
            self.me.tally.join.keyed_ns = Some(crate::now_ns());
        }
        match message {
            ServerMessage::Answer { sdp } => {
                let pending = self.pending.take().ok_or("an answer with no offer in flight")?;
                let answer = SdpAnswer::from_sdp_string(&sdp).map_err(|e| e.to_string())?;
                let api = self.link.rtc.sdp_api();
                api.accept_answer(pending, answer).map_err(|e| e.to_string())?;
            }
            ServerMessage::Offer { sdp } => {
                let offer = SdpOffer::from_sdp_string(&sdp).map_err(|e| e.to_string())?;
                let answer =
                    self.link.rtc.sdp_api().accept_offer(offer).map_err(|e| e.to_string())?;
                self.send(ClientMessage::Answer { sdp: answer.to_sdp_string() }).await?;
            }
            ServerMessage::LayersWanted { mid, rids }
                if self.link.video_mid().is_some_and(|m| m.to_string() == mid) =>
            {
                self.me.source.set_layers_wanted(&rids);
            }
            ServerMessage::ParticipantJoined { participant } if self.speaker.is_none() => {
                self.speaker = find_speaker([&participant]);
                self.link.videos_changed |= self.speaker.is_some();
            }
            ServerMessage::Error { code, message, fatal } if fatal => {
                return Err(format!("server error {code:?}: {message}"));
            }
            _ => {}
        }
        Ok(())
    }
}
