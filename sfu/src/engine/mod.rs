//! The sans-IO media engine.
//!
//! One [`Engine`] serves many peers on one UDP address. Inputs are commands from signaling
//! (open, offer, answer, close), datagrams and timeouts, each with the current time; outputs are
//! datagrams to send, events for signaling, and the next time the engine wants a
//! [`Input::Timeout`]. After every input, drain [`Engine::poll_output`] until it returns
//! [`Output::Timeout`].
//!
//! Datagrams are demultiplexed by source address; an address the engine has not seen is
//! claimed by the peer whose ICE credentials its STUN request carries (`Rtc::accepts`). Anything
//! else is dropped and counted in [`Stats`], so garbage on the port never reaches a peer.
//!
//! The addresses peers send to ([`EngineConfig::candidates`]) need not be addresses of this
//! machine: behind a 1:1 NAT, in a container with a port mapping or on a socket bound to
//! `0.0.0.0`, a datagram arrives on an address no peer was told about. The engine therefore
//! files each datagram under the candidate it was sent to when that is one of its own, and
//! otherwise under its first candidate of the source's address family (see
//! [`Engine::candidate_for`]); ICE then pairs it with that candidate as if it had arrived there.
//!
//! A peer's connection is drained right after each input it handles (str0m keeps only one
//! received RTP packet until polled). Peers that had forwarded packets written to them are
//! marked "dirty" and drained once before the engine next reports a timeout, so the work per
//! datagram grows with the fan-out of the packet, not with the number of peers.

mod allocate;
mod budget;
mod layers;
mod observe;
mod peer;
mod publish;
mod speakers;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use str0m::config::DtlsCert;
use str0m::format::Codec;
use str0m::media::MediaKind;
use str0m::net::{Protocol, Receive, TcpType};
use str0m::rtp::RtpPacket;
use str0m::{Candidate, Event, IceConnectionState, Rtc};
use tracing::{debug, info, warn};
use veil_proto::media::{MediaEvent, MediaGrants, SessionId, TileSize};
use veil_proto::room::Source;
use veil_proto::{ParticipantId, RoomName};

use crate::forward::Descriptor;
pub use observe::{Census, LinkSample, LinkState, TrackCounts};
use peer::{Forwarded, OfferRefused, Peer, TrackId};
use str0m::media::Rid;

/// How the engine presents itself to peers.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// The addresses peers send media to, each an ICE host candidate in every SDP answer: the
    /// node's public addresses (for example one IPv4 and one IPv6) with the media port. At
    /// least one.
    pub candidates: Vec<SocketAddr>,
    /// Passive ICE-TCP host candidates (RFC 6544), for browsers that cannot reach the UDP ones:
    /// the same public addresses with the TCP media port. Empty: UDP only.
    pub tcp_candidates: Vec<SocketAddr>,
}

impl EngineConfig {
    /// Peers send to `candidates` over UDP.
    pub fn new(candidates: Vec<SocketAddr>) -> Self {
        Self { candidates, tcp_candidates: Vec::new() }
    }

    /// Peers may also connect over TCP to `tcp_candidates`.
    pub fn with_tcp(mut self, tcp_candidates: Vec<SocketAddr>) -> Self {
        self.tcp_candidates = tcp_candidates;
        self
    }

    fn candidates_of(&self, transport: Transport) -> &[SocketAddr] {
        match transport {
            Transport::Udp => &self.candidates,
            Transport::Tcp => &self.tcp_candidates,
        }
    }
}

/// How a datagram travels: as a UDP datagram, or framed on a TCP connection (RFC 4571), where
/// the address is the connection's remote end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Transport {
    #[default]
    Udp,
    Tcp,
}

impl Transport {
    fn protocol(self) -> Protocol {
        match self {
            Self::Udp => Protocol::Udp,
            Self::Tcp => Protocol::Tcp,
        }
    }
}

/// Something for the engine to handle.
#[derive(Debug)]
pub enum Input<'a> {
    /// A participant joined `room`: create its connection.
    Open { session: SessionId, room: RoomName, participant: ParticipantId, grants: MediaGrants },
    /// The participant's SDP offer, with the source of each sending m-line by mid.
    Offer { session: SessionId, sdp: String, sources: BTreeMap<String, Source> },
    /// Stop (or resume) forwarding what the participant publishes of `source`.
    SetMuted { session: SessionId, source: Source, muted: bool },
    /// The participant's grants changed: what they no longer allow stops.
    SetGrants { session: SessionId, grants: MediaGrants },
    /// How large the participant shows each video it receives ([`TileSize`]).
    SetTileSizes { session: SessionId, tiles: Vec<TileSize> },
    /// The participant's answer to our offer.
    Answer { session: SessionId, sdp: String },
    /// The participant left; drop its connection without reporting back.
    Close { session: SessionId },
    /// A datagram arrived from `source` on `destination`: the local address it was received
    /// at (the socket's own address, which may be unspecified or private; see the module docs).
    Receive {
        transport: Transport,
        source: SocketAddr,
        destination: SocketAddr,
        contents: &'a [u8],
    },
    /// Time passed.
    Timeout,
}

/// A datagram to send from the engine's socket.
#[derive(Debug)]
pub struct Transmit {
    /// UDP from the media socket, or a frame on the TCP connection to `destination`.
    pub transport: Transport,
    pub destination: SocketAddr,
    pub contents: Vec<u8>,
}

/// What the engine wants done.
#[derive(Debug)]
pub enum Output {
    Transmit(Transmit),
    Event(SessionId, MediaEvent),
    /// Nothing more to do until this time (or the next input).
    Timeout(Instant),
}

/// Counters an operator (and a test) can read.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    /// Datagrams that were not STUN, DTLS, RTP or RTCP.
    pub dropped_unparseable: u64,
    /// Datagrams from an address no peer has claimed, that no peer's ICE accepted.
    pub dropped_unknown_source: u64,
    /// Datagrams from an address family no candidate serves (IPv6 to an IPv4-only node, say).
    pub dropped_no_candidate: u64,
    /// Datagrams a peer's connection refused (bad SRTP, replay, malformed RTCP, …).
    pub dropped_by_peer: u64,
    /// RTP packets received from publishers.
    pub rtp_in: u64,
    /// RTP packets handed to subscribers' connections.
    pub rtp_forwarded: u64,
    /// Datagrams handed to the engine, and their bytes.
    pub datagrams_in: u64,
    pub bytes_in: u64,
    /// Datagrams the engine produced to send, and their bytes.
    pub datagrams_out: u64,
    pub bytes_out: u64,
    /// NACKs subscribers sent, as their connections count them.
    pub nacks_received: u64,
    /// RTP packets resent (RTX), mostly for those NACKs.
    pub retransmissions_sent: u64,
    /// PLI/FIR from subscribers.
    pub keyframe_requests_received: u64,
    /// Keyframe requests sent to publishers (for subscribers, and for layer switches).
    pub keyframe_requests_sent: u64,
    /// Times a subscriber moved from one simulcast layer of a track to another.
    pub layer_switches: u64,
}

/// How long an idle engine sleeps when nothing is scheduled; also the period of the silence check.
const IDLE_TIMEOUT: Duration = Duration::from_secs(1);

/// A connected peer that sends nothing at all for this long has vanished. Browsers send RTCP
/// at least every few seconds and STUN consent checks every 5 s even when muted, so silence
/// means the peer's network is down. A network can come back (a Wi-Fi dead spot, a switch to
/// mobile data): until then the peer is kept, so that its browser resumes the same connection,
/// or restarts ICE on it, without a new join. This matches the browser's own 30 s consent
/// expiry and signaling's heartbeat; a browser that is gone for good is noticed sooner by its
/// WebSocket closing.
const SILENCE_TIMEOUT: Duration = Duration::from_secs(30);

/// Forwarded video packets each subscriber's connection keeps for retransmission (NACK):
/// about 1.5 s of a 720p camera (≈270 packets/s), longer for smaller layers and screens. Every
/// subscriber keeps its own copy, so this is most of the memory a subscribed video track costs:
/// with str0m's default (1000 packets, at most 3 s) a 10-person meeting's server held 79 MiB,
/// with this 44 MiB (`veil-loadtest run meeting -n 10`). Browsers ask for a resend within a
/// round trip, far sooner than this.
pub(crate) const VIDEO_RESEND_PACKETS: usize = 400;

/// How often each connection reports what it sent and lost ([`budget`]).
const LINK_REPORT_INTERVAL: Duration = Duration::from_secs(1);

/// How often the engine looks for simulcast layers that stopped or started sending.
const LAYER_CHECK_INTERVAL: Duration = Duration::from_millis(250);

/// The media engine. See the module docs.
pub struct Engine {
    config: EngineConfig,
    /// One DTLS certificate for every peer: generating a key pair per join costs milliseconds
    /// of CPU, which a burst of joins would pay on the packet thread.
    dtls_cert: Option<DtlsCert>,
    now: Instant,
    peers: HashMap<SessionId, Peer>,
    rooms: HashMap<RoomName, Vec<SessionId>>,
    by_addr: HashMap<SocketAddr, SessionId>,
    dirty: Vec<SessionId>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<(SessionId, MediaEvent)>,
    stats: Stats,
    /// Link figures not yet taken by [`Engine::take_link_samples`].
    link_samples: Vec<LinkSample>,
    /// When [`Engine::check_layers`] next runs.
    next_layer_check: Instant,
    /// Rooms whose policy turned server-side speaker detection on ([`speakers`]).
    speakers: HashMap<RoomName, speakers::Detector>,
}

impl Engine {
    /// An engine with no peers.
    pub fn new(config: EngineConfig, now: Instant) -> Self {
        let dtls_cert = str0m::crypto::from_feature_flags().dtls_provider.generate_certificate();
        Self {
            config,
            dtls_cert,
            now,
            peers: HashMap::new(),
            rooms: HashMap::new(),
            by_addr: HashMap::new(),
            dirty: Vec::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            stats: Stats::default(),
            link_samples: Vec::new(),
            next_layer_check: now,
            speakers: HashMap::new(),
        }
    }

    /// Counters since start.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Number of connected-or-connecting peers.
    pub fn peer_count(&self) -> usize {
        self.peers.len()
    }

    /// Number of rooms with at least one peer.
    pub fn room_count(&self) -> usize {
        self.rooms.len()
    }

    /// What the engine holds now: sessions, rooms, tracks by kind and source, paused layers.
    /// Walks every peer's tracks: for an operator's once-a-second look, not the packet path.
    pub fn census(&self) -> Census {
        let mut census =
            Census { sessions: self.peers.len(), rooms: self.rooms.len(), ..Census::default() };
        for peer in self.peers.values() {
            for track in peer.tracks_in.values() {
                census.published.add(track.kind, track.source);
                if track.layers.len() > 1 {
                    census.paused_layers += track.layers.iter().filter(|l| !l.wanted).count();
                }
            }
            for subscription in peer.subscriptions() {
                census.subscribed.add(subscription.kind, subscription.source);
            }
        }
        census
    }

    /// Moves the link figures reported since the last call into `out` ([`LinkSample`]).
    pub fn take_link_samples(&mut self, out: &mut Vec<LinkSample>) {
        out.append(&mut self.link_samples);
    }

    /// Each session's latest round trip and receiver-reported loss.
    pub fn link_states(&self) -> impl Iterator<Item = LinkState> + '_ {
        self.peers.iter().map(|(session, peer)| LinkState {
            session: *session,
            loss: peer.loss,
            rtt: peer.rtt,
        })
    }

    fn sample(&mut self, sample: LinkSample) {
        if self.link_samples.len() < observe::MAX_PENDING_SAMPLES {
            self.link_samples.push(sample);
        }
    }

    /// Handles one input at time `now`.
    pub fn handle_input(&mut self, now: Instant, input: Input<'_>) {
        self.now = self.now.max(now);
        match input {
            Input::Open { session, room, participant, grants } => {
                self.open(session, room, participant, grants)
            }
            Input::Offer { session, sdp, sources } => self.offer(session, &sdp, &sources),
            Input::SetMuted { session, source, muted } => self.set_muted(session, source, muted),
            Input::SetGrants { session, grants } => {
                if let Some(peer) = self.peers.get_mut(&session) {
                    peer.set_grants(grants);
                }
            }
            Input::SetTileSizes { session, tiles } => self.set_tile_sizes(session, &tiles),
            Input::Answer { session, sdp } => self.answer(session, &sdp),
            Input::Close { session } => self.close(session, None),
            Input::Receive { transport, source, destination, contents } => {
                self.receive(transport, source, destination, contents)
            }
            Input::Timeout => self.timeout(),
        }
    }

    /// The next thing to do. Call until it returns [`Output::Timeout`].
    pub fn poll_output(&mut self) -> Output {
        loop {
            if let Some(t) = self.transmits.pop_front() {
                return Output::Transmit(t);
            }
            if let Some((session, event)) = self.events.pop_front() {
                return Output::Event(session, event);
            }
            if let Some(session) = self.dirty.pop() {
                // str0m releases written packets on its next timeout; giving it one now sends
                // forwarded packets in this pass instead of on the next timer tick.
                if let Some(peer) = self.peers.get_mut(&session)
                    && let Err(e) = peer.rtc.handle_input(str0m::Input::Timeout(self.now))
                {
                    debug!(%session, "timeout handling failed: {e}");
                }
                self.drain_peer(session);
                continue;
            }
            return Output::Timeout(self.next_timeout());
        }
    }

    fn next_timeout(&self) -> Instant {
        let idle = self.now + IDLE_TIMEOUT;
        self.peers.values().map(|p| p.next_timeout).min().map_or(idle, |t| t.min(idle))
    }

    fn mark_dirty(dirty: &mut Vec<SessionId>, session: SessionId, peer: &mut Peer) {
        if !peer.dirty {
            peer.dirty = true;
            dirty.push(session);
        }
    }

    fn touch(&mut self, session: SessionId) {
        if let Some(peer) = self.peers.get_mut(&session) {
            Self::mark_dirty(&mut self.dirty, session, peer);
        }
    }

    fn open(
        &mut self,
        session: SessionId,
        room: RoomName,
        participant: ParticipantId,
        grants: MediaGrants,
    ) {
        if self.peers.contains_key(&session) {
            self.events.push_back((session, error("this media session is already open")));
            return;
        }
        let mut builder = Rtc::builder();
        if let Some(cert) = &self.dtls_cert {
            builder = builder.set_dtls_cert(cert.clone());
        }
        let mut rtc = builder
            .set_ice_lite(true)
            .set_rtp_mode(true)
            .clear_codecs()
            .enable_opus(true, false)
            .enable_vp8(true)
            .set_send_buffer_video(VIDEO_RESEND_PACKETS)
            .set_stats_interval(Some(LINK_REPORT_INTERVAL))
            .build(self.now);
        let udp = self.config.candidates.iter().map(|a| Candidate::host(*a, "udp"));
        let tcp = self
            .config
            .tcp_candidates
            .iter()
            .map(|a| Candidate::builder().tcp().host(*a).tcptype(TcpType::Passive).build());
        let addrs = self.config.candidates.iter().chain(&self.config.tcp_candidates);
        for (addr, candidate) in addrs.zip(udp.chain(tcp)) {
            match candidate {
                Ok(candidate) => {
                    rtc.add_local_candidate(candidate);
                }
                Err(e) => {
                    warn!(%session, "cannot use {addr} as ICE candidate: {e}");
                    let reason = "the SFU's media address is not usable".to_string();
                    self.events.push_back((session, MediaEvent::Closed { reason }));
                    return;
                }
            }
        }
        let mut peer = Peer::new(participant, room.clone(), grants, rtc, self.now);
        // Everything already published in the room is offered once the first exchange is done.
        let members = self.rooms.entry(room).or_default();
        for other in members.iter() {
            if let Some(publisher) = self.peers.get(other) {
                for (mid, track) in &publisher.tracks_in {
                    let id = TrackId { session: *other, mid: *mid };
                    peer.subscribe(id, track.kind, track.source, &publisher.participant);
                    peer.set_target(id, layers::choose(&track.layers, None));
                }
            }
        }
        members.push(session);
        debug!(%session, "media session opened");
        self.peers.insert(session, peer);
        self.touch(session);
    }

    fn offer(&mut self, session: SessionId, sdp: &str, sources: &BTreeMap<String, Source>) {
        let Some(peer) = self.peers.get_mut(&session) else {
            self.events.push_back((session, error("no media session is open")));
            return;
        };
        let event = match peer.accept_offer(sdp, sources) {
            Ok(sdp) => MediaEvent::Answer { sdp },
            Err(OfferRefused::NotAllowed(message)) => {
                info!(%session, "offer refused by the grants: {message}");
                MediaEvent::Refused { message }
            }
            Err(OfferRefused::Unusable(message)) => {
                info!(%session, "offer refused: {message}");
                MediaEvent::Error { message }
            }
        };
        self.events.push_back((session, event));
        self.touch(session);
    }

    fn answer(&mut self, session: SessionId, sdp: &str) {
        let Some(peer) = self.peers.get_mut(&session) else {
            self.events.push_back((session, error("no media session is open")));
            return;
        };
        match peer.accept_answer(sdp) {
            Ok(opened) => {
                for track in opened {
                    let awaited = self.peers.get(&session).and_then(|p| p.awaited_layer(track));
                    if let Some(rid) = awaited {
                        self.request_keyframe(track, rid);
                    }
                }
            }
            Err(message) => {
                info!(%session, "answer refused: {message}");
                self.events.push_back((session, MediaEvent::Error { message }));
            }
        }
        self.touch(session);
    }

    /// Stops (or resumes) forwarding `source` of `session`; resumed video restarts at a keyframe.
    fn set_muted(&mut self, session: SessionId, source: Source, muted: bool) {
        let Some(peer) = self.peers.get_mut(&session) else {
            return;
        };
        let resumed = peer.set_muted(source, muted);
        let Some(members) = self.rooms.get(&peer.room).cloned() else {
            return;
        };
        for mid in resumed {
            let track = TrackId { session, mid };
            for other in members.iter().filter(|s| **s != session) {
                if let Some(subscriber) = self.peers.get_mut(other) {
                    subscriber.restart_track(track);
                }
            }
            // Every subscriber now waits for a keyframe of its layer: ask for each once.
            self.retarget(track, None);
        }
    }

    /// `session` reported how large it shows each video: choose its layers again.
    fn set_tile_sizes(&mut self, session: SessionId, tiles: &[TileSize]) {
        let Some(peer) = self.peers.get_mut(&session) else {
            return;
        };
        for track in peer.set_tile_sizes(tiles) {
            self.retarget(track, Some(session));
        }
        self.touch(session);
    }

    /// Chooses again the layer of `track` that each of its subscribers (or only `only`) gets,
    /// and asks the publisher for a keyframe of each layer a subscriber now waits for.
    fn retarget(&mut self, track: TrackId, only: Option<SessionId>) {
        let Some(publisher) = self.peers.get(&track.session) else {
            return;
        };
        let Some(members) = self.rooms.get(&publisher.room).cloned() else {
            return;
        };
        let subscribers = members.into_iter().filter(|s| *s != track.session);
        let mut awaited: Vec<Option<Rid>> = Vec::new();
        for subscriber in subscribers.filter(|s| only.is_none_or(|o| o == *s)) {
            self.allocate(subscriber);
            let rid = self.peers.get(&subscriber).and_then(|p| p.awaited_layer(track));
            if let Some(rid) = rid
                && !awaited.contains(&rid)
            {
                awaited.push(rid);
            }
        }
        for rid in awaited {
            self.request_keyframe(track, rid);
        }
        self.update_wanted(track);
    }

    /// Chooses the layer of every video `session` receives: what its tile asks for
    /// ([`layers::choose`]), within what the subscriber's link carries
    /// ([`allocate::allocate`]). A video that switches asks its publisher for a keyframe of
    /// the new layer.
    fn allocate(&mut self, session: SessionId) {
        let Some(subscriber) = self.peers.get(&session) else {
            return;
        };
        let subscriptions = subscriber.subscriptions();
        let mut audio_bps = 0;
        let mut videos = Vec::new();
        let mut demands = Vec::new();
        for sub in &subscriptions {
            let publisher = self.peers.get(&sub.track.session);
            let Some(track_in) = publisher.and_then(|p| p.tracks_in.get(&sub.track.mid)) else {
                continue;
            };
            if sub.kind == MediaKind::Audio {
                audio_bps += track_in.layers.iter().filter_map(|l| l.rate.bps()).sum::<u64>();
                continue;
            }
            let wanted = if track_in.muted {
                layers::Target::Paused
            } else {
                layers::choose(&track_in.layers, sub.tile_height)
            };
            videos.push(sub.track);
            demands.push(allocate::Demand {
                layers: &track_in.layers,
                wanted,
                current: sub.target,
                screen: sub.source == Source::Screen,
                tile_height: sub.tile_height,
            });
        }
        let desired = allocate::desired_bps(&demands) + audio_bps;
        // A limit above everything the tiles ask for limits nothing.
        let limit = subscriber.link.limit().filter(|l| *l <= desired);
        let targets = allocate::allocate(limit, audio_bps, &demands);
        drop(demands);
        let Some(subscriber) = self.peers.get_mut(&session) else {
            return;
        };
        subscriber.link.release_above(desired);
        let mut switched = Vec::new();
        for (track, target) in videos.into_iter().zip(targets) {
            if subscriber.target(track) != Some(target) {
                switched.push((track, subscriber.set_target(track, target)));
            }
        }
        for (track, awaited) in switched {
            if let Some(rid) = awaited {
                self.request_keyframe(track, rid);
            }
            self.update_wanted(track);
        }
    }

    /// Tells the publisher of `track` which of its simulcast layers anyone needs, when that
    /// changed: a layer nobody gets or is switching to may pause ([`layers::update_wanted`]).
    fn update_wanted(&mut self, track: TrackId) {
        let now = self.now;
        let Some(publisher) = self.peers.get(&track.session) else {
            return;
        };
        let Some(members) = self.rooms.get(&publisher.room) else {
            return;
        };
        let mut needed = Vec::new();
        for other in members.iter().filter(|s| **s != track.session) {
            if let Some(subscriber) = self.peers.get(other) {
                subscriber.needed_layers(track, &mut needed);
            }
        }
        let Some(publisher) = self.peers.get_mut(&track.session) else {
            return;
        };
        let Some(track_in) = publisher.tracks_in.get_mut(&track.mid) else {
            return;
        };
        if track_in.layers.len() < 2 {
            return;
        }
        if let Some(rids) = layers::update_wanted(&mut track_in.layers, &needed, now) {
            let rids = rids.iter().map(|r| r.to_string()).collect();
            let event = MediaEvent::LayersWanted { mid: track.mid.to_string(), rids };
            self.events.push_back((track.session, event));
        }
    }

    /// Removes a peer. `reason` is reported to signaling when the engine, not signaling, ended it.
    fn close(&mut self, session: SessionId, reason: Option<String>) {
        let Some(mut peer) = self.peers.remove(&session) else {
            return;
        };
        peer.rtc.disconnect();
        for addr in &peer.addrs {
            self.by_addr.remove(addr);
        }
        if let Some(members) = self.rooms.get_mut(&peer.room) {
            members.retain(|s| *s != session);
            for other in members.iter() {
                if let Some(subscriber) = self.peers.get_mut(other) {
                    subscriber.unsubscribe_all_from(session);
                    Self::mark_dirty(&mut self.dirty, *other, subscriber);
                }
            }
            if members.is_empty() {
                self.rooms.remove(&peer.room);
            }
        }
        debug!(%session, "media session closed");
        if let Some(reason) = reason {
            self.events.push_back((session, MediaEvent::Closed { reason }));
        }
    }

    /// The candidate a datagram from `source`, received at `destination`, was sent to: the
    /// destination itself when it is one of ours, else our first candidate of the source's
    /// address family. Peers only ever learn our candidates, so whatever address the datagram
    /// arrived at on this machine (a wildcard, a private address behind NAT), the peer sent it
    /// to one of them; when several of one family exist, any one serves, since ICE-lite answers
    /// from the socket the datagram came in on.
    pub fn candidate_for(
        &self,
        transport: Transport,
        source: SocketAddr,
        destination: SocketAddr,
    ) -> Option<SocketAddr> {
        let candidates = self.config.candidates_of(transport);
        if candidates.contains(&destination) {
            return Some(destination);
        }
        candidates.iter().find(|c| c.is_ipv4() == source.is_ipv4()).copied()
    }

    fn receive(
        &mut self,
        transport: Transport,
        source: SocketAddr,
        destination: SocketAddr,
        contents: &[u8],
    ) {
        self.stats.datagrams_in += 1;
        self.stats.bytes_in += contents.len() as u64;
        let Some(destination) = self.candidate_for(transport, source, destination) else {
            self.stats.dropped_no_candidate += 1;
            return;
        };
        let Ok(receive) = Receive::new(transport.protocol(), source, destination, contents) else {
            self.stats.dropped_unparseable += 1;
            return;
        };
        let input = str0m::Input::Receive(self.now, receive);
        let session = match self.by_addr.get(&source) {
            Some(session) => *session,
            None => {
                let claimed = self.peers.iter().find(|(_, p)| p.rtc.accepts(&input));
                let Some((session, _)) = claimed else {
                    self.stats.dropped_unknown_source += 1;
                    return;
                };
                let session = *session;
                self.by_addr.insert(source, session);
                if let Some(peer) = self.peers.get_mut(&session) {
                    peer.addrs.push(source);
                }
                session
            }
        };
        let Some(peer) = self.peers.get_mut(&session) else {
            return;
        };
        peer.last_heard = self.now;
        if let Err(e) = peer.rtc.handle_input(input) {
            self.stats.dropped_by_peer += 1;
            debug!(%session, "datagram refused: {e}");
        }
        // str0m holds at most one received RTP packet until polled: drain before the next input.
        self.drain_peer(session);
    }

    fn timeout(&mut self) {
        let now = self.now;
        let due: Vec<SessionId> =
            self.peers.iter().filter(|(_, p)| p.next_timeout <= now).map(|(s, _)| *s).collect();
        for session in due {
            if let Some(peer) = self.peers.get_mut(&session) {
                if let Err(e) = peer.rtc.handle_input(str0m::Input::Timeout(now)) {
                    debug!(%session, "timeout handling failed: {e}");
                }
                self.drain_peer(session);
            }
        }
        self.check_layers();
        self.check_speakers();
        let silent: Vec<SessionId> = self
            .peers
            .iter()
            .filter(|(_, p)| p.connected && now >= p.last_heard + SILENCE_TIMEOUT)
            .map(|(s, _)| *s)
            .collect();
        for session in silent {
            info!(%session, "peer silent for {SILENCE_TIMEOUT:?}; closing");
            let reason =
                format!("no packets from the participant for {} s", SILENCE_TIMEOUT.as_secs());
            self.close(session, Some(reason));
        }
    }

    /// Chooses layers again for every simulcast track whose set of sending layers changed, and
    /// shares every limited link again; runs every [`LAYER_CHECK_INTERVAL`], not on every
    /// timeout.
    fn check_layers(&mut self) {
        let now = self.now;
        if now < self.next_layer_check {
            return;
        }
        self.next_layer_check = now + LAYER_CHECK_INTERVAL;
        let mut changed = Vec::new();
        let mut simulcast = Vec::new();
        for (session, peer) in self.peers.iter_mut() {
            for (mid, track) in peer.tracks_in.iter_mut().filter(|(_, t)| t.layers.len() > 1) {
                let id = TrackId { session: *session, mid: *mid };
                if layers::update_live(&mut track.layers, track.since, now) {
                    changed.push(id);
                }
                simulcast.push(id);
            }
        }
        for track in changed {
            self.retarget(track, None);
        }
        // Layer rates move: share each limited link again.
        let limited: Vec<SessionId> =
            self.peers.iter().filter(|(_, p)| p.link.limit().is_some()).map(|(s, _)| *s).collect();
        for session in limited {
            self.allocate(session);
        }
        // Layers that stopped being needed pause once their grace is over.
        for track in simulcast {
            self.update_wanted(track);
        }
    }

    /// Polls one peer's connection until it has nothing more to say.
    fn drain_peer(&mut self, session: SessionId) {
        let Some(peer) = self.peers.get_mut(&session) else {
            return;
        };
        peer.dirty = false;
        if let Some(sdp) = peer.negotiate() {
            self.events.push_back((session, MediaEvent::Offer { sdp }));
        }
        loop {
            let Some(peer) = self.peers.get_mut(&session) else {
                return;
            };
            if !peer.rtc.is_alive() {
                self.close(session, Some("the media connection closed".into()));
                return;
            }
            match peer.rtc.poll_output() {
                Ok(str0m::Output::Transmit(t)) => {
                    self.stats.datagrams_out += 1;
                    self.stats.bytes_out += t.contents.len() as u64;
                    if peer.is_resend(&t.contents) {
                        self.stats.retransmissions_sent += 1;
                    }
                    let transport =
                        if t.proto == Protocol::Udp { Transport::Udp } else { Transport::Tcp };
                    self.transmits.push_back(Transmit {
                        transport,
                        destination: t.destination,
                        contents: t.contents.into(),
                    })
                }
                Ok(str0m::Output::Timeout(t)) => {
                    peer.next_timeout = t;
                    return;
                }
                Ok(str0m::Output::Event(event)) => self.handle_event(session, event),
                Err(e) => {
                    warn!(%session, "media connection failed: {e}");
                    self.close(session, Some(format!("the media connection failed: {e}")));
                    return;
                }
            }
        }
    }

    fn handle_event(&mut self, session: SessionId, event: Event) {
        match event {
            Event::Connected => {
                let Some(peer) = self.peers.get_mut(&session) else {
                    return;
                };
                peer.connected = true;
                for (track, rid) in peer.restart_video() {
                    self.request_keyframe(track, rid);
                }
                self.events.push_back((session, MediaEvent::Connected));
            }
            // str0m's ICE-lite agent drops a pair after 15 s without a binding request. That is
            // not the end: the browser's checks on the same address make a new pair, and an ICE
            // restart (a new offer) brings new credentials. Silence ends the peer, not this.
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                info!(%session, "ICE disconnected; waiting for the peer to come back");
            }
            Event::MediaAdded(added) if added.direction.is_receiving() => {
                let rids = added.simulcast.map_or_else(Vec::new, |s| {
                    let layers = if s.recv.is_empty() { s.send } else { s.recv };
                    layers.into_iter().map(|l| l.rid).collect()
                });
                self.publish(session, added.mid, added.kind, rids);
            }
            Event::RtpPacket(packet) => self.forward(session, packet),
            Event::PeerStats(stats) => {
                let Some(peer) = self.peers.get_mut(&session) else {
                    return;
                };
                let (sent, loss) = (stats.peer_bytes_tx, stats.egress_loss_fraction);
                let limit_changed = peer.link_report(self.now, sent, loss, stats.rtt);
                peer.rtt = stats.rtt;
                // What this subscriber's link carries: its limit once one was found, else what
                // went to it (a lower bound: the SFU sends no more than the tiles ask for).
                let bandwidth = peer.link.limit().or(peer.sent_bps);
                if let Some(bits_per_second) = bandwidth.filter(|_| peer.grants.subscribe) {
                    self.sample(LinkSample::Bandwidth { bits_per_second });
                }
                if let Some(rtt) = stats.rtt {
                    self.sample(LinkSample::RoundTrip(rtt));
                }
                if limit_changed {
                    let limit = self.peers.get(&session).and_then(|p| p.link.limit());
                    debug!(%session, ?limit, ?loss, rtt = ?stats.rtt, "link limit");
                    self.allocate(session);
                }
            }
            Event::MediaEgressStats(stats) => {
                let Some(peer) = self.peers.get_mut(&session) else {
                    return;
                };
                self.stats.nacks_received += peer.new_nacks(stats.mid, stats.rid, stats.nacks);
                let clock_rate = match peer.rtc.media(stats.mid).map(|m| m.kind()) {
                    Some(MediaKind::Audio) => 48_000,
                    _ => 90_000,
                };
                if let Some(loss) = stats.loss {
                    peer.report_loss(stats.timestamp, loss);
                    self.sample(LinkSample::Loss(loss));
                }
                if let Some(remote) = stats.remote {
                    let jitter =
                        Duration::from_secs_f64(f64::from(remote.jitter) / clock_rate as f64);
                    self.sample(LinkSample::Jitter(jitter));
                }
            }
            Event::KeyframeRequest(request) => {
                self.stats.keyframe_requests_received += 1;
                // A subscriber lost its picture: ask for a keyframe of the layer it gets.
                let Some(peer) = self.peers.get(&session) else {
                    return;
                };
                if let Some(track) = peer.source_of(request.mid)
                    && let Some(rid) = peer.current_layer(track)
                {
                    self.request_keyframe(track, rid);
                }
            }
            _ => {}
        }
    }

    /// `session` publishes a new track (in simulcast layers `rids`, or one layer): every other
    /// member of its room subscribes.
    fn publish(
        &mut self,
        session: SessionId,
        mid: str0m::media::Mid,
        kind: MediaKind,
        rids: Vec<Rid>,
    ) {
        let Some(peer) = self.peers.get_mut(&session) else {
            return;
        };
        debug!(%session, %mid, ?rids, "publishes");
        let source = peer.publish(self.now, mid, kind, rids);
        let layers = peer.tracks_in.get(&mid).map(|t| t.layers.clone()).unwrap_or_default();
        let participant = peer.participant.clone();
        let Some(members) = self.rooms.get(&peer.room) else {
            return;
        };
        let track = TrackId { session, mid };
        for other in members.iter().filter(|s| **s != session) {
            if let Some(subscriber) = self.peers.get_mut(other) {
                subscriber.subscribe(track, kind, source, &participant);
                subscriber.set_target(track, layers::choose(&layers, None));
                Self::mark_dirty(&mut self.dirty, *other, subscriber);
            }
        }
    }

    fn forward(&mut self, session: SessionId, mut packet: RtpPacket) {
        self.stats.rtp_in += 1;
        let Some(publisher) = self.peers.get_mut(&session) else {
            return;
        };
        if !publisher.media_flowing {
            publisher.media_flowing = true;
            self.events.push_back((session, MediaEvent::MediaFlowing));
        }
        let Some((mid, rid)) = publisher.layer_of(&packet) else {
            return;
        };
        let pt = packet.header.payload_type;
        let Some(params) = publisher.rtc.codec_config().find(|p| p.pt() == pt).copied() else {
            return;
        };
        let Some(track_in) = publisher.tracks_in.get_mut(&mid) else {
            return;
        };
        // A host muted this source: nothing of it leaves the SFU until its publisher unmutes.
        if track_in.muted {
            return;
        }
        let heard = Self::level_to_hear(publisher.grants.speaker_detection, track_in, &packet);
        let payload = &packet.payload;
        let vp8 = if params.spec().codec == Codec::Vp8 { Descriptor::parse(payload) } else { None };
        let keyframe_start = vp8.is_some_and(|d| d.starts_keyframe(payload));
        let keyframe =
            keyframe_start.then(|| vp8.and_then(|d| d.keyframe_size(payload)).map(|s| s.1));
        let track = TrackId { session, mid };
        // A new layer or a new size may change who gets which.
        if track_in.observe(rid, packet.timestamp, packet.payload.len(), keyframe) {
            self.retarget(track, None);
        }
        // Subscribers receive one plain stream each: the publisher's layer ids stay here.
        let ext = &mut packet.header.ext_vals;
        (ext.rid, ext.rid_repair) = (None, None);
        let Some(members) = self.peers.get(&session).and_then(|p| self.rooms.get(&p.room)) else {
            return;
        };
        let mut wants_keyframe = false;
        for other in members.iter().filter(|s| **s != session) {
            let Some(subscriber) = self.peers.get_mut(other) else {
                continue;
            };
            match subscriber.forward(track, rid, &packet, &params, vp8.as_ref(), keyframe_start) {
                written @ (Forwarded::Written | Forwarded::Switched) => {
                    self.stats.rtp_forwarded += 1;
                    if written == Forwarded::Switched {
                        self.stats.layer_switches += 1;
                    }
                    if !subscriber.media_flowing {
                        subscriber.media_flowing = true;
                        self.events.push_back((*other, MediaEvent::MediaFlowing));
                    }
                    Self::mark_dirty(&mut self.dirty, *other, subscriber);
                }
                Forwarded::NeedsKeyframe => wants_keyframe = true,
                Forwarded::Skipped => {}
            }
        }
        if wants_keyframe {
            self.request_keyframe(track, rid);
        }
        if let Some(level) = heard {
            self.hear(session, level);
        }
    }

    /// Asks the publisher of `track` for a keyframe of layer `rid` (spaced per layer).
    fn request_keyframe(&mut self, track: TrackId, rid: Option<Rid>) {
        let now = self.now;
        if let Some(publisher) = self.peers.get_mut(&track.session)
            && publisher.request_keyframe(now, track.mid, rid)
        {
            self.stats.keyframe_requests_sent += 1;
            Self::mark_dirty(&mut self.dirty, track.session, publisher);
        }
    }
}

fn error(message: &str) -> MediaEvent {
    MediaEvent::Error { message: message.to_string() }
}
