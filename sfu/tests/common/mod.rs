//! A virtual network for engine scenarios: str0m client peers and one [`Engine`], all driven by
//! one virtual clock. Datagrams are delivered in memory; nothing opens a socket or reads the
//! system clock, so every run is the same.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::format::Codec;
use str0m::media::{Direction, MediaKind, Mid, Rid, Simulcast, SimulcastLayer};
use str0m::net::{Protocol, Receive};
use str0m::rtp::{ExtensionValues, RtpWrite};
use str0m::{Candidate, Event, Rtc};
use veil_proto::media::{MediaEvent, MediaGrants, SessionId, TileSize};
use veil_proto::room::Source;
use veil_proto::{ParticipantId, RoomName};
use veil_sfu::{Engine, EngineConfig, Input, Output};

pub const SFU: &str = "10.0.0.1:5000";

/// The simulcast layers a publisher sends with [`Net::join_simulcast`], low to high, as a
/// browser lists its encodings: rid and picture height.
pub const LAYERS: [(&str, u16); 3] = [("q", 180), ("h", 360), ("f", 720)];
pub const TICK: Duration = Duration::from_millis(5);

/// One received RTP packet, as a client saw it.
#[derive(Debug, Clone)]
pub struct Received {
    pub mid: Mid,
    pub payload: Vec<u8>,
    pub seq: u64,
}

pub struct Client {
    pub session: SessionId,
    pub participant: ParticipantId,
    pub rtc: Rtc,
    pub addr: SocketAddr,
    /// False: the network drops everything to and from this client.
    pub online: bool,
    /// The path from the engine to this client (a `veil_netsim` link): what it drops is lost,
    /// what it delays arrives on the tick after its time.
    pub downlink: Option<veil_netsim::Link>,
    /// Datagrams from the engine on their way through `downlink`.
    inbox: veil_netsim::Schedule<Vec<u8>>,
    /// Bytes of filler after each simulcast layer's frame, low to high, so that the layers
    /// cost what a browser's do (default: none).
    pub layer_filler: [usize; 3],
    pub pending: Option<SdpPendingOffer>,
    pub audio_mid: Option<Mid>,
    pub video_mid: Option<Mid>,
    pub screen_mid: Option<Mid>,
    pub received: Vec<Received>,
    pub keyframe_requests: usize,
    /// Keyframe requests by the layer (rid) they asked for.
    pub keyframe_requests_by_layer: std::collections::BTreeMap<String, usize>,
    /// Publishes its camera in the [`LAYERS`].
    pub simulcast: bool,
    /// Layers it has stopped sending on its own (as a browser drops its top layer when short
    /// of bandwidth or CPU).
    pub stopped_layers: Vec<&'static str>,
    /// Layers it paused because the SFU said nobody needs them.
    pub sfu_paused: Vec<&'static str>,
    /// The layers the SFU said it needs, each time it said so.
    pub layers_wanted: Vec<Vec<String>>,
    /// Layers that owe a keyframe (asked for one).
    layer_keyframe_due: Vec<String>,
    /// The tile sizes this client last reported.
    pub tiles: Vec<TileSize>,
    pub connected: bool,
    /// The level (negative dBov) its audio packets carry in the RFC 6464 header extension;
    /// `None` sends none.
    pub audio_level: Option<i8>,
    sent_frames: u64,
    keyframe_due: bool,
}

/// A VP8 packet as a browser sends it: a descriptor with a 15-bit picture id and TL0PICIDX,
/// the frame tag (and for a keyframe, start code and size), then `text`.
pub fn vp8_packet(picture_id: u16, key: bool, height: u16, text: &str) -> Vec<u8> {
    let mut p = vec![0x90, 0xC0, 0x80 | (picture_id >> 8) as u8 & 0x7f, picture_id as u8, 0];
    p.extend_from_slice(&[if key { 0x50 } else { 0x51 }, 0x02, 0x00]);
    if key {
        let width = height * 16 / 9;
        p.extend_from_slice(&[0x9d, 0x01, 0x2a]);
        p.extend_from_slice(&width.to_le_bytes());
        p.extend_from_slice(&height.to_le_bytes());
    }
    p.extend_from_slice(text.as_bytes());
    p
}

impl Received {
    /// The text after the VP8 header of a packet built by [`vp8_packet`].
    pub fn text(&self) -> String {
        let p = &self.payload;
        let key = p.len() > 5 && p[5] & 0x01 == 0;
        let text = String::from_utf8_lossy(&p[(if key { 18 } else { 8 }).min(p.len())..]);
        text.trim_end_matches('\0').to_string()
    }

    /// The layer a packet built by [`Client::send_media`] for a simulcast camera came from.
    pub fn layer(&self) -> String {
        self.text().rsplit('|').next().unwrap_or_default().to_string()
    }

    /// Whether it starts a keyframe.
    pub fn is_key(&self) -> bool {
        self.text().contains("|key|")
    }

    /// The VP8 picture id.
    pub fn picture_id(&self) -> u16 {
        u16::from(self.payload[2] & 0x7f) << 8 | u16::from(self.payload[3])
    }
}

impl Client {
    /// One frame of each simulcast layer, each its own stream: its own sequence numbers,
    /// timestamp base and picture ids, a keyframe where asked (or every 3 s, as encoders do).
    fn send_layers(&mut self, now: Instant, n: u64) {
        let Some(mid) = self.video_mid else { return };
        let pt = self.pt(Codec::Vp8);
        let name = self.participant.0.clone();
        for (i, (rid, height)) in LAYERS.iter().enumerate() {
            if self.stopped_layers.contains(rid) || self.sfu_paused.contains(rid) {
                continue;
            }
            let due = self.layer_keyframe_due.iter().any(|r| r == rid);
            let key = n == 0 || due || n.is_multiple_of(150);
            self.layer_keyframe_due.retain(|r| r != rid);
            let state = if key { "key" } else { "delta" };
            let text = format!("video|{name}|{n}|{state}|{rid}");
            let picture_id = ((n + 1000 * i as u64) & 0x7fff) as u16;
            let mut payload = vp8_packet(picture_id, key, *height, &text);
            payload.resize(payload.len() + self.layer_filler[i], 0);
            let seq = n + 1 + 10_000 * i as u64;
            let ts = (n * 3000) as u32 ^ (0x4000_0000 * i as u32);
            let mut api = self.rtc.direct_api();
            if let Some(tx) = api.stream_tx_by_mid(mid, Some(Rid::from(*rid))) {
                tx.write_rtp(
                    RtpWrite::new(pt, seq.into(), ts, now, payload).marker(true).nackable(true),
                );
            }
        }
    }

    /// Stream ids (participant ids) of the media this client receives, by mid.
    pub fn stream_of(&self, mid: Mid) -> Option<String> {
        self.rtc.media(mid).map(|m| m.stream_id().to_string())
    }

    /// Packets received from the participant with `stream_id`, of `kind`.
    pub fn received_from(&self, stream_id: &ParticipantId, kind: MediaKind) -> Vec<&Received> {
        self.received
            .iter()
            .filter(|r| {
                self.rtc
                    .media(r.mid)
                    .is_some_and(|m| m.stream_id() == stream_id.0 && m.kind() == kind)
            })
            .collect()
    }

    fn pt(&self, codec: Codec) -> str0m::media::Pt {
        self.rtc.codec_config().find(|p| p.spec().codec == codec).expect("codec configured").pt()
    }

    /// Sends one audio packet and, every other call, one video frame (a keyframe when one was
    /// asked for or none was sent yet). Payloads name the sender and a counter.
    pub fn send_media(&mut self, now: Instant) {
        let n = self.sent_frames;
        self.sent_frames += 1;
        let name = self.participant.0.clone();
        if let Some(mid) = self.audio_mid {
            let pt = self.pt(Codec::Opus);
            let payload = format!("audio|{name}|{n}").into_bytes();
            // str0m writes the level only with the voice-activity flag (RFC 6464 §3).
            let voice_activity = self.audio_level.map(|level| level > -60);
            let ext = ExtensionValues {
                audio_level: self.audio_level,
                voice_activity,
                ..Default::default()
            };
            let mut api = self.rtc.direct_api();
            if let Some(tx) = api.stream_tx_by_mid(mid, None) {
                let seq = (n + 1).into();
                tx.write_rtp(RtpWrite::new(pt, seq, (n * 960) as u32, now, payload).ext_vals(ext));
            }
        }
        let key = self.keyframe_due || n == 0;
        self.keyframe_due = false;
        if self.simulcast {
            self.send_layers(now, n);
            return;
        }
        for (mid, what) in [(self.video_mid, "video"), (self.screen_mid, "screen")] {
            let Some(mid) = mid else { continue };
            let pt = self.pt(Codec::Vp8);
            // VP8 payload descriptor with S=1, PID=0, then the frame tag (P=0 for keyframes).
            let mut payload = vec![0x10, if key { 0x00 } else { 0x01 }];
            payload.extend_from_slice(
                format!("{what}|{name}|{n}|{}", if key { "key" } else { "delta" }).as_bytes(),
            );
            let mut api = self.rtc.direct_api();
            if let Some(tx) = api.stream_tx_by_mid(mid, None) {
                tx.write_rtp(
                    RtpWrite::new(pt, (n + 1).into(), (n * 3000) as u32, now, payload)
                        .marker(true)
                        .nackable(true),
                );
            }
        }
    }
}

pub struct Net {
    pub now: Instant,
    pub start: Instant,
    pub engine: Engine,
    pub clients: Vec<Client>,
    /// Events the engine reported, in order.
    pub events: Vec<(SessionId, MediaEvent)>,
    /// The engine's first candidate: where clients send to.
    pub sfu: SocketAddr,
    /// Every address the engine offers as a candidate.
    pub candidates: Vec<SocketAddr>,
    /// The address the engine's socket has: datagrams to any candidate arrive there, as they
    /// would through a 1:1 NAT or on a socket bound to a wildcard address.
    pub bound: SocketAddr,
    /// The grants the next participant to join gets (default: microphone and camera, subscribe).
    pub grants: MediaGrants,
    next_session: u64,
}

impl Net {
    pub fn new() -> Self {
        let sfu: SocketAddr = SFU.parse().unwrap();
        Self::behind_nat(vec![sfu], sfu)
    }

    /// An engine that offers `candidates` while its socket is bound to `bound`.
    pub fn behind_nat(candidates: Vec<SocketAddr>, bound: SocketAddr) -> Self {
        let now = Instant::now();
        Self {
            now,
            start: now,
            engine: Engine::new(EngineConfig::new(candidates.clone()), now),
            clients: Vec::new(),
            events: Vec::new(),
            sfu: candidates[0],
            candidates,
            bound,
            grants: MediaGrants {
                publish: vec![Source::Microphone, Source::Camera],
                subscribe: true,
                speaker_detection: false,
            },
            next_session: 1,
        }
    }

    /// The candidate a client at `addr` talks to: the first of its address family.
    fn candidate_for(&self, addr: SocketAddr) -> SocketAddr {
        *self.candidates.iter().find(|c| c.is_ipv4() == addr.is_ipv4()).unwrap_or(&self.sfu)
    }

    /// Elapsed virtual time.
    pub fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    /// A participant joins `room` publishing audio and video; returns its index.
    pub fn join(&mut self, room: &str, name: &str) -> usize {
        self.join_publishing(room, name, true, true)
    }

    /// A participant joins `room` publishing audio and its camera in the simulcast [`LAYERS`].
    pub fn join_simulcast(&mut self, room: &str, name: &str) -> usize {
        let (addr, sources) = (self.next_addr(), [Source::Microphone, Source::Camera]);
        self.join_with(room, name, addr, &sources, true, true)
    }

    /// Shows the video of `publisher` on `viewer`'s screen `height` pixels high (0: off
    /// screen), as the viewer's client reports it; every other video keeps its last size.
    pub fn show(&mut self, viewer: usize, publisher: usize, height: u32) {
        let from = self.clients[publisher].participant.clone();
        let v = &mut self.clients[viewer];
        let mid = v.received_from(&from, MediaKind::Video).first().map(|r| r.mid);
        let mid = mid.expect("the viewer received the publisher's video");
        v.tiles.retain(|t| t.mid != mid.to_string());
        v.tiles.push(TileSize { mid: mid.to_string(), height });
        let (session, tiles) = (v.session, v.tiles.clone());
        self.engine.handle_input(self.now, Input::SetTileSizes { session, tiles });
        self.settle();
    }

    /// A participant joins `room` publishing the tracks asked for; one that publishes nothing
    /// offers a receive-only audio m-line, as a listener does, so ICE and DTLS come up.
    pub fn join_publishing(&mut self, room: &str, name: &str, audio: bool, video: bool) -> usize {
        let addr = self.next_addr();
        self.join_at(room, name, addr, audio, video)
    }

    /// A participant at `addr` joins `room` publishing the tracks asked for.
    pub fn join_at(
        &mut self,
        room: &str,
        name: &str,
        addr: SocketAddr,
        audio: bool,
        video: bool,
    ) -> usize {
        let sources: Vec<Source> = [(audio, Source::Microphone), (video, Source::Camera)]
            .into_iter()
            .filter_map(|(on, s)| on.then_some(s))
            .collect();
        self.join_with(room, name, addr, &sources, true, false)
    }

    /// A participant joins `room` publishing `sources`, saying which m-line carries which
    /// (`labelled`) or leaving the SFU to assume (as a hand-made offer might).
    pub fn join_sources(
        &mut self,
        room: &str,
        name: &str,
        sources: &[Source],
        labelled: bool,
    ) -> usize {
        let addr = self.next_addr();
        self.join_with(room, name, addr, sources, labelled, false)
    }

    /// The address the next participant to join sends from.
    fn next_addr(&self) -> SocketAddr {
        format!("10.0.1.{}:4000", self.next_session).parse().unwrap()
    }

    fn join_with(
        &mut self,
        room: &str,
        name: &str,
        addr: SocketAddr,
        sources: &[Source],
        labelled: bool,
        simulcast: bool,
    ) -> usize {
        let session = SessionId(self.next_session);
        self.next_session += 1;
        let participant = ParticipantId(format!("p_{name}"));
        let mut rtc = Rtc::builder().set_rtp_mode(true).build(self.now);
        rtc.add_local_candidate(Candidate::host(addr, "udp").unwrap());
        let mut api = rtc.sdp_api();
        let mut mids = std::collections::BTreeMap::new();
        let mut labels = std::collections::BTreeMap::new();
        for &source in sources {
            let kind = if source.is_audio() { MediaKind::Audio } else { MediaKind::Video };
            let layers = (simulcast && source == Source::Camera).then(|| {
                let mut s = Simulcast::new();
                for (rid, _) in LAYERS {
                    s.add_send_layer(SimulcastLayer::new(rid));
                }
                s
            });
            let mid = api.add_media(kind, Direction::SendOnly, None, None, layers);
            mids.insert(source, mid);
            if labelled {
                labels.insert(mid.to_string(), source);
            }
        }
        if sources.is_empty() {
            api.add_media(MediaKind::Audio, Direction::RecvOnly, None, None, None);
        }
        let (audio_mid, video_mid, screen_mid) = (
            mids.get(&Source::Microphone).copied(),
            mids.get(&Source::Camera).copied(),
            mids.get(&Source::Screen).copied(),
        );
        let (offer, pending) = api.apply().unwrap();
        self.engine.handle_input(
            self.now,
            Input::Open {
                session,
                room: RoomName::new(room).unwrap(),
                participant: participant.clone(),
                grants: self.grants.clone(),
            },
        );
        let sdp = offer.to_sdp_string();
        self.engine.handle_input(self.now, Input::Offer { session, sdp, sources: labels });
        self.clients.push(Client {
            session,
            participant,
            rtc,
            addr,
            online: true,
            downlink: None,
            inbox: veil_netsim::Schedule::new(),
            layer_filler: [0; 3],
            pending: Some(pending),
            audio_mid,
            video_mid,
            screen_mid,
            received: Vec::new(),
            keyframe_requests: 0,
            keyframe_requests_by_layer: Default::default(),
            simulcast,
            stopped_layers: Vec::new(),
            sfu_paused: Vec::new(),
            layers_wanted: Vec::new(),
            layer_keyframe_due: Vec::new(),
            tiles: Vec::new(),
            connected: false,
            audio_level: None,
            sent_frames: 0,
            keyframe_due: false,
        });
        self.clients.len() - 1
    }

    fn client_by_session(&mut self, session: SessionId) -> Option<&mut Client> {
        self.clients.iter_mut().find(|c| c.session == session)
    }

    /// Delivers everything in flight until nobody has anything more to say.
    pub fn settle(&mut self) {
        for _ in 0..10_000 {
            let mut busy = false;
            loop {
                match self.engine.poll_output() {
                    Output::Transmit(t) => {
                        busy = true;
                        let now = self.now;
                        let Some(i) = self.clients.iter().position(|c| c.addr == t.destination)
                        else {
                            continue;
                        };
                        let c = &mut self.clients[i];
                        if !c.online {
                            continue;
                        }
                        let at = match &mut c.downlink {
                            Some(link) => link.send(now, t.contents.len()).delivered_at(),
                            None => Some(now),
                        };
                        match at {
                            Some(at) if at <= now => self.deliver(i, &t.contents),
                            Some(at) => c.inbox.push(at, t.contents),
                            None => {}
                        }
                    }
                    Output::Event(session, event) => {
                        busy = true;
                        self.on_engine_event(session, event);
                    }
                    Output::Timeout(_) => break,
                }
            }
            for i in 0..self.clients.len() {
                busy |= self.drain_client(i);
            }
            if !busy {
                return;
            }
        }
        panic!("the virtual network never settled");
    }

    /// Hands client `i` a datagram from the engine, and lets it answer.
    fn deliver(&mut self, i: usize, contents: &[u8]) {
        let sfu = self.candidate_for(self.clients[i].addr);
        let c = &mut self.clients[i];
        let recv = Receive::new(Protocol::Udp, sfu, c.addr, contents).unwrap();
        let _ = c.rtc.handle_input(str0m::Input::Receive(self.now, recv));
        // Like the engine, a client is polled after every input.
        self.drain_client(i);
    }

    fn on_engine_event(&mut self, session: SessionId, event: MediaEvent) {
        self.events.push((session, event.clone()));
        let now = self.now;
        match event {
            MediaEvent::Answer { sdp } => {
                let c = self.client_by_session(session).expect("client");
                let pending = c.pending.take().expect("an offer in flight");
                let answer = SdpAnswer::from_sdp_string(&sdp).unwrap();
                c.rtc.sdp_api().accept_answer(pending, answer).unwrap();
            }
            MediaEvent::LayersWanted { rids, .. } => {
                // As a browser does: the encodings not named pause until named again.
                let c = self.client_by_session(session).expect("client");
                c.sfu_paused = LAYERS
                    .iter()
                    .map(|(rid, _)| *rid)
                    .filter(|r| !rids.iter().any(|w| w == r))
                    .collect();
                c.layers_wanted.push(rids);
            }
            MediaEvent::Offer { sdp } => {
                let Some(c) = self.client_by_session(session) else { return };
                let offer = SdpOffer::from_sdp_string(&sdp).unwrap();
                let answer = c.rtc.sdp_api().accept_offer(offer).unwrap();
                self.engine
                    .handle_input(now, Input::Answer { session, sdp: answer.to_sdp_string() });
            }
            _ => {}
        }
    }

    fn drain_client(&mut self, i: usize) -> bool {
        let mut busy = false;
        loop {
            let c = &mut self.clients[i];
            match c.rtc.poll_output() {
                Ok(str0m::Output::Transmit(t)) => {
                    busy = true;
                    if c.online {
                        // Whatever candidate the client sent to, the engine's socket gets it.
                        let destination = if self.candidates.contains(&t.destination) {
                            self.bound
                        } else {
                            t.destination
                        };
                        let input = Input::Receive {
                            transport: veil_sfu::Transport::Udp,
                            source: c.addr,
                            destination,
                            contents: &t.contents,
                        };
                        self.engine.handle_input(self.now, input);
                    }
                }
                Ok(str0m::Output::Event(e)) => {
                    busy = true;
                    match e {
                        Event::Connected => c.connected = true,
                        Event::RtpPacket(p) => {
                            let mid = c.rtc.direct_api().stream_rx(&p.header.ssrc).map(|s| s.mid());
                            if let Some(mid) = mid {
                                c.received.push(Received {
                                    mid,
                                    payload: p.payload.to_vec(),
                                    seq: *p.seq_no,
                                });
                            }
                        }
                        Event::KeyframeRequest(r) => {
                            c.keyframe_requests += 1;
                            c.keyframe_due = true;
                            let rid = r.rid.map(|r| r.to_string()).unwrap_or_default();
                            *c.keyframe_requests_by_layer.entry(rid.clone()).or_default() += 1;
                            c.layer_keyframe_due.push(rid);
                        }
                        _ => {}
                    }
                }
                Ok(str0m::Output::Timeout(_)) => return busy,
                Err(e) => panic!("client {i} failed: {e}"),
            }
        }
    }

    /// Advances the clock by one tick and lets everyone handle it.
    pub fn tick(&mut self) {
        self.now += TICK;
        self.engine.handle_input(self.now, Input::Timeout);
        for i in 0..self.clients.len() {
            while let Some(datagram) = self.clients[i].inbox.pop_due(self.now) {
                if self.clients[i].online {
                    self.deliver(i, &datagram);
                }
            }
            let _ = self.clients[i].rtc.handle_input(str0m::Input::Timeout(self.now));
            self.drain_client(i);
        }
        self.settle();
    }

    /// Runs for `duration`, every online client sending media every 20 ms.
    pub fn run_with_media(&mut self, duration: Duration) {
        let end = self.now + duration;
        let mut next_media = self.now;
        while self.now < end {
            if self.now >= next_media {
                next_media = self.now + Duration::from_millis(20);
                let now = self.now;
                for c in self.clients.iter_mut().filter(|c| c.online && c.connected) {
                    c.send_media(now);
                }
            }
            self.tick();
        }
    }

    /// Runs without new media.
    pub fn run(&mut self, duration: Duration) {
        let end = self.now + duration;
        while self.now < end {
            self.tick();
        }
    }

    /// Engine events for `session`.
    pub fn events_for(&self, session: SessionId) -> Vec<&MediaEvent> {
        self.events.iter().filter(|(s, _)| *s == session).map(|(_, e)| e).collect()
    }
}
