//! One participant's connection: its `Rtc`, what it publishes and what it receives.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use str0m::Rtc;
use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::format::PayloadParams;
use str0m::media::{Direction, KeyframeRequestKind, MediaKind, Mid, Pt, Rid};
use str0m::rtp::{RtpPacket, RtpWrite, Ssrc};
use veil_proto::media::{MediaGrants, SessionId, TileSize};
use veil_proto::room::Source;
use veil_proto::{ParticipantId, RoomName};

use super::VIDEO_RESEND_PACKETS;
use super::budget::LinkBudget;
use super::layers::{Layer, Target};
use super::publish;

use crate::forward::{Descriptor, VideoRewriter};

/// Why an offer was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OfferRefused {
    /// It publishes more than the grants allow.
    NotAllowed(String),
    /// str0m cannot use it.
    Unusable(String),
}

/// A published track: the publisher's session and the mid of its m-line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct TrackId {
    pub session: SessionId,
    pub mid: Mid,
}

/// Shortest spacing of keyframe requests sent to one layer of a publisher's track: however
/// many subscribers wait for it, the publisher is asked at most this often.
const KEYFRAME_REQUEST_INTERVAL: Duration = Duration::from_millis(500);

/// How old a forwarded video packet may be and still be resent (str0m's default).
const RESEND_MAX_AGE: Duration = Duration::from_secs(3);

/// Share of a stream's bytes that may be resends before str0m drops queued resends. Its
/// default, 15 %, is below what a link losing 10 % asks (each loss resent, some twice): on such
/// a link frames went missing for good. A third still keeps resends from swamping a link that
/// loses more because it is full.
const RESEND_RATIO_CAP: f32 = 0.35;

/// What a forwarded packet carries besides its payload on a subscriber's link: RTP header and
/// extensions, SRTP tag, UDP and IP headers. Audio packets are small, so this is a third of
/// what audio costs.
const PACKET_OVERHEAD: usize = 60;

/// A track this peer publishes.
#[derive(Debug)]
pub(crate) struct TrackIn {
    pub kind: MediaKind,
    pub source: Source,
    /// A host muted it: nothing of it is forwarded until the participant turns it on again.
    pub muted: bool,
    /// Its simulcast layers in the order the offer listed them (one without a rid when it is
    /// not simulcast).
    pub layers: Vec<Layer>,
    /// When it was published: until a moment after, every layer counts as sending.
    pub since: Instant,
}

impl TrackIn {
    pub fn layer_mut(&mut self, rid: Option<Rid>) -> Option<&mut Layer> {
        self.layers.iter_mut().find(|l| l.rid == rid)
    }

    /// Notes a packet of layer `rid` that arrived `at`; `keyframe` is `Some(height)` when it
    /// starts a keyframe (the height its header announces, if any). Returns whether the layers
    /// changed in a way that may change who gets which: a layer not seen before, or a new size.
    pub fn observe(
        &mut self,
        rid: Option<Rid>,
        at: Instant,
        bytes: usize,
        keyframe: Option<Option<u16>>,
    ) -> bool {
        let mut changed = false;
        let index = match self.layers.iter().position(|l| l.rid == rid) {
            Some(index) => index,
            None if keyframe.is_some() => {
                self.layers.push(Layer::new(rid));
                changed = true;
                self.layers.len() - 1
            }
            None => return false,
        };
        let layer = &mut self.layers[index];
        layer.last_packet = Some(at);
        layer.rate.add(at, bytes + PACKET_OVERHEAD);
        if let Some(Some(height)) = keyframe
            && layer.height != Some(height)
        {
            layer.height = Some(height);
            changed = true;
        }
        changed
    }
}

/// Where a subscription stands in SDP negotiation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OutState {
    /// Wanted; goes into the next offer.
    ToOpen,
    /// In an offer awaiting the answer.
    Negotiating(Mid),
    /// Negotiated; packets flow.
    Open(Mid),
    /// Being stopped in an offer awaiting the answer.
    Stopping(Mid),
}

/// Another participant's track as this peer receives it.
#[derive(Debug)]
struct TrackOut {
    kind: MediaKind,
    source: Source,
    /// The publisher's participant id: the `msid` stream id the browser groups tracks by.
    stream_id: String,
    state: OutState,
    /// The publisher went away; stop the m-line at the next negotiation.
    source_gone: bool,
    /// The layer to send ([`super::layers::choose`]).
    target: Target,
    /// The layer being sent. `None`: nothing yet, and video waits for a keyframe of the
    /// target so the decoder can start; a switch to another layer also waits for one.
    current: Option<Option<Rid>>,
    /// How high the subscriber shows it, as last reported (`None`: not reported).
    tile_height: Option<u32>,
    rewriter: VideoRewriter,
    /// Last (publisher pt, our pt) pair, to skip codec matching per packet.
    pt_map: Option<(Pt, Pt)>,
}

/// A track a peer receives, as [`Peer::subscriptions`] lists it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Subscription {
    pub track: TrackId,
    pub kind: MediaKind,
    pub source: Source,
    pub tile_height: Option<u32>,
    pub target: Target,
}

/// Result of offering a forwarded packet to a subscriber.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Forwarded {
    Written,
    /// Written, and the first packet of another layer than before.
    Switched,
    /// Nothing sent: the subscription waits for a keyframe of the packet's layer.
    NeedsKeyframe,
    Skipped,
}

/// One participant's connection.
pub(crate) struct Peer {
    pub participant: ParticipantId,
    pub room: RoomName,
    pub grants: MediaGrants,
    pub rtc: Rtc,
    /// Remote addresses this peer was seen at (for the demultiplexer's map).
    pub addrs: Vec<SocketAddr>,
    /// Set once DTLS is up: media can be sent.
    pub connected: bool,
    /// When `rtc` next wants `Input::Timeout`.
    pub next_timeout: Instant,
    /// When the last datagram from this peer arrived.
    pub last_heard: Instant,
    /// Queued for polling in the engine.
    pub dirty: bool,
    /// What the link to this peer carries, as its losses show.
    pub link: LinkBudget,
    /// Bytes sent to this peer at the last stats report, and when.
    bytes_sent: Option<(u64, Instant)>,
    /// What was sent to this peer per second between the last two stats reports.
    pub sent_bps: Option<u64>,
    /// The last round trip and the worst receiver-reported loss of its last report, for the
    /// operator's list of the worst links.
    pub rtt: Option<Duration>,
    pub loss: Option<f32>,
    /// When the stats snapshot `loss` comes from was taken.
    loss_at: Option<Instant>,
    /// NACKs received so far on each stream it receives (str0m reports running totals).
    nacks: HashMap<(Mid, Option<Rid>), u64>,
    /// The payload types of resends (RTX) in this peer's codec configuration: an outgoing RTP
    /// packet with one of them is a retransmission.
    rtx_pts: Vec<u8>,
    /// Whether a media packet has gone to or come from this peer yet.
    pub media_flowing: bool,
    /// The participant's first offer was answered; from then on the SFU may offer.
    negotiated: bool,
    pending: Option<SdpPendingOffer>,
    /// What the accepted offers said each sending m-line carries.
    offered_sources: HashMap<Mid, Source>,
    pub tracks_in: HashMap<Mid, TrackIn>,
    tracks_out: HashMap<TrackId, TrackOut>,
    /// Which m-line and layer each incoming SSRC is.
    ssrc_layer: HashMap<Ssrc, (Mid, Option<Rid>)>,
}

impl Peer {
    pub fn new(
        participant: ParticipantId,
        room: RoomName,
        grants: MediaGrants,
        rtc: Rtc,
        now: Instant,
    ) -> Self {
        let rtx_pts =
            rtc.codec_config().params().iter().filter_map(|p| p.resend()).map(|pt| *pt).collect();
        Self {
            participant,
            room,
            grants,
            rtc,
            addrs: Vec::new(),
            connected: false,
            next_timeout: now,
            last_heard: now,
            dirty: false,
            link: LinkBudget::default(),
            bytes_sent: None,
            sent_bps: None,
            rtt: None,
            loss: None,
            loss_at: None,
            nacks: HashMap::new(),
            rtx_pts,
            media_flowing: false,
            negotiated: false,
            pending: None,
            offered_sources: HashMap::new(),
            tracks_in: HashMap::new(),
            tracks_out: HashMap::new(),
            ssrc_layer: HashMap::new(),
        }
    }

    /// Accepts the participant's offer, if what it publishes (each sending m-line's source, by
    /// `labels` or by default) is within its grants. Any offer of ours in flight is rolled back
    /// by str0m; its changes go into the next one.
    pub fn accept_offer(
        &mut self,
        sdp: &str,
        labels: &BTreeMap<String, Source>,
    ) -> Result<String, OfferRefused> {
        let sources =
            publish::sources_of(sdp, labels, &self.grants).map_err(OfferRefused::NotAllowed)?;
        let offer = SdpOffer::from_sdp_string(sdp)
            .map_err(|e| OfferRefused::Unusable(format!("unreadable SDP offer: {e}")))?;
        for (mid, source) in sources {
            self.offered_sources.insert(Mid::from(mid.as_str()), source);
        }
        let answer = self.rtc.sdp_api().accept_offer(offer);
        if self.pending.take().is_some() {
            for out in self.tracks_out.values_mut() {
                out.state = match out.state {
                    OutState::Negotiating(_) => OutState::ToOpen,
                    OutState::Stopping(mid) => OutState::Open(mid),
                    s => s,
                };
            }
        }
        let answer =
            answer.map_err(|e| OfferRefused::Unusable(format!("SDP offer refused: {e}")))?;
        self.negotiated = true;
        Ok(answer.to_sdp_string())
    }

    /// Accepts the answer to our offer. Returns the publisher tracks that just opened here, for
    /// which a keyframe should be requested.
    pub fn accept_answer(&mut self, sdp: &str) -> Result<Vec<TrackId>, String> {
        let pending = self.pending.take().ok_or("an answer came, but no offer is outstanding")?;
        let answer =
            SdpAnswer::from_sdp_string(sdp).map_err(|e| format!("unreadable SDP answer: {e}"))?;
        self.rtc
            .sdp_api()
            .accept_answer(pending, answer)
            .map_err(|e| format!("SDP answer refused: {e}"))?;
        let mut opened = Vec::new();
        self.tracks_out.retain(|track, out| match out.state {
            OutState::Negotiating(mid) => {
                out.state = OutState::Open(mid);
                if out.kind == MediaKind::Video {
                    opened.push((*track, mid));
                }
                true
            }
            OutState::Stopping(_) => false,
            _ => true,
        });
        let mut api = self.rtc.direct_api();
        for (_, mid) in &opened {
            if let Some(stream) = api.stream_tx_by_mid(*mid, None) {
                let age = RESEND_MAX_AGE;
                stream.set_rtx_cache(VIDEO_RESEND_PACKETS, age, Some(RESEND_RATIO_CAP));
            }
        }
        Ok(opened.into_iter().map(|(track, _)| track).collect())
    }

    /// Builds an offer for subscriptions that changed, unless one is already in flight.
    pub fn negotiate(&mut self) -> Option<String> {
        if !self.negotiated || self.pending.is_some() {
            return None;
        }
        self.tracks_out.retain(|_, out| !(out.source_gone && out.state == OutState::ToOpen));
        let mut api = self.rtc.sdp_api();
        for (track, out) in self.tracks_out.iter_mut() {
            match out.state {
                OutState::ToOpen => {
                    // The browser's track id: publisher, source and m-line, so the client can
                    // lay out a screen apart (and check the source against the frames' keys).
                    let track_id =
                        format!("{}-{}-{}", out.stream_id, out.source.as_str(), track.mid);
                    let mid = api.add_media(
                        out.kind,
                        Direction::SendOnly,
                        Some(out.stream_id.clone()),
                        Some(track_id),
                        None,
                    );
                    out.state = OutState::Negotiating(mid);
                }
                OutState::Open(mid) if out.source_gone => {
                    api.stop_media(mid);
                    out.state = OutState::Stopping(mid);
                }
                _ => {}
            }
        }
        let (offer, pending) = api.apply()?;
        self.pending = Some(pending);
        Some(offer.to_sdp_string())
    }

    /// Starts receiving `track` (a `source` of participant `stream_id`), if this peer
    /// subscribes at all.
    pub fn subscribe(
        &mut self,
        track: TrackId,
        kind: MediaKind,
        source: Source,
        stream_id: &ParticipantId,
    ) {
        if !self.grants.subscribe {
            return;
        }
        self.tracks_out.entry(track).or_insert_with(|| TrackOut {
            kind,
            source,
            stream_id: stream_id.0.clone(),
            state: OutState::ToOpen,
            source_gone: false,
            target: Target::Layer(None),
            current: (kind == MediaKind::Audio).then_some(None),
            tile_height: None,
            rewriter: VideoRewriter::new(),
            pt_map: None,
        });
    }

    /// The publisher of everything from `session` left: stop those m-lines.
    pub fn unsubscribe_all_from(&mut self, session: SessionId) {
        for (track, out) in self.tracks_out.iter_mut() {
            if track.session == session {
                out.source_gone = true;
            }
        }
    }

    /// Records a new track this peer sends, with the rids of its simulcast layers (none: one
    /// layer); returns its source (as the accepted offer said).
    pub fn publish(&mut self, now: Instant, mid: Mid, kind: MediaKind, rids: Vec<Rid>) -> Source {
        let default = if kind == MediaKind::Audio { Source::Microphone } else { Source::Camera };
        let source = self.offered_sources.get(&mid).copied().unwrap_or(default);
        let layers = if rids.is_empty() || kind == MediaKind::Audio {
            vec![Layer::new(None)]
        } else {
            rids.into_iter().map(|rid| Layer::new(Some(rid))).collect()
        };
        self.tracks_in.insert(mid, TrackIn { kind, source, muted: false, layers, since: now });
        source
    }

    /// Mutes or unmutes what this peer publishes of `source`; returns the tracks that just
    /// came back (video: they need a keyframe). A source the grants no longer allow stays muted.
    pub fn set_muted(&mut self, source: Source, muted: bool) -> Vec<Mid> {
        let muted = muted || !self.grants.may_publish(source);
        let mut resumed = Vec::new();
        for (mid, track) in self.tracks_in.iter_mut().filter(|(_, t)| t.source == source) {
            if track.muted && !muted && track.kind == MediaKind::Video {
                resumed.push(*mid);
            }
            track.muted = muted;
        }
        resumed
    }

    /// New grants: later offers are checked against them, and what they no longer allow
    /// stops being forwarded.
    pub fn set_grants(&mut self, grants: MediaGrants) {
        for track in self.tracks_in.values_mut() {
            if !grants.may_publish(track.source) {
                track.muted = true;
            }
        }
        self.grants = grants;
    }

    /// Video subscriptions to `track` start again at a keyframe (after its publisher was muted).
    pub fn restart_track(&mut self, track: TrackId) {
        if let Some(out) = self.tracks_out.get_mut(&track)
            && out.kind == MediaKind::Video
        {
            out.current = None;
        }
    }

    /// The m-line and layer an incoming packet belongs to.
    pub fn layer_of(&mut self, packet: &RtpPacket) -> Option<(Mid, Option<Rid>)> {
        let ssrc = packet.header.ssrc;
        if let Some(layer) = self.ssrc_layer.get(&ssrc) {
            return Some(*layer);
        }
        let mut api = self.rtc.direct_api();
        let stream = api.stream_rx(&ssrc)?;
        let layer = (stream.mid(), stream.rid().or(packet.header.ext_vals.rid));
        self.ssrc_layer.insert(ssrc, layer);
        Some(layer)
    }

    /// Records the tile sizes this peer reported, by its receiving mids; returns the tracks
    /// whose size changed (their layer is to be chosen again). A video not named keeps no size.
    pub fn set_tile_sizes(&mut self, tiles: &[TileSize]) -> Vec<TrackId> {
        let mut changed = Vec::new();
        for (track, out) in self.tracks_out.iter_mut() {
            if out.kind != MediaKind::Video {
                continue;
            }
            let mid = match out.state {
                OutState::Open(mid) | OutState::Negotiating(mid) => mid,
                _ => continue,
            };
            let height = tiles.iter().find(|t| *t.mid == *mid).map(|t| t.height);
            if height != out.tile_height {
                out.tile_height = height;
                changed.push(*track);
            }
        }
        changed
    }

    /// Every track this peer receives, for sharing its bandwidth among them.
    pub fn subscriptions(&self) -> Vec<Subscription> {
        let open =
            |out: &TrackOut| matches!(out.state, OutState::Open(_) | OutState::Negotiating(_));
        self.tracks_out
            .iter()
            .filter(|(_, out)| open(out))
            .map(|(track, out)| Subscription {
                track: *track,
                kind: out.kind,
                source: out.source,
                tile_height: out.tile_height,
                target: out.target,
            })
            .collect()
    }

    /// What the connection reports every second: the bytes sent to this peer so far, the
    /// share of packets its feedback says were lost and the last round trip. Returns whether
    /// its link's limit changed.
    pub fn link_report(
        &mut self,
        now: Instant,
        bytes_sent: u64,
        loss: Option<f32>,
        rtt: Option<Duration>,
    ) -> bool {
        let last = self.bytes_sent.replace((bytes_sent, now));
        let Some((last_bytes, last_at)) = last else {
            return false;
        };
        let elapsed = now.saturating_duration_since(last_at).as_micros().max(1) as u64;
        let sent_bps = bytes_sent.saturating_sub(last_bytes) * 8 * 1_000_000 / elapsed;
        self.sent_bps = Some(sent_bps);
        self.link.report(now, sent_bps, loss.unwrap_or(0.0), rtt)
    }

    /// Keeps the worst loss a stream of one stats snapshot (taken `at`) reported.
    pub fn report_loss(&mut self, at: Instant, loss: f32) {
        if self.loss_at != Some(at) {
            (self.loss, self.loss_at) = (None, Some(at));
        }
        self.loss = Some(self.loss.map_or(loss, |worst| worst.max(loss)));
    }

    /// NACKs received on the stream `(mid, rid)` since its last report, given its running total.
    pub fn new_nacks(&mut self, mid: Mid, rid: Option<Rid>, total: u64) -> u64 {
        let last = self.nacks.insert((mid, rid), total).unwrap_or(0);
        total.saturating_sub(last)
    }

    /// Whether `datagram`, about to be sent to this peer, is an RTP retransmission. The RTP
    /// header is not encrypted by SRTP, so its payload type says.
    pub fn is_resend(&self, datagram: &[u8]) -> bool {
        // RTP version 2; RTCP's packet types (192..=223) fall outside every dynamic PT.
        datagram.len() >= 12
            && datagram[0] >> 6 == 2
            && !(192..=223).contains(&datagram[1])
            && self.rtx_pts.contains(&(datagram[1] & 0x7f))
    }

    /// The layer this peer is to receive of `track`, if it receives it.
    pub fn target(&self, track: TrackId) -> Option<Target> {
        self.tracks_out.get(&track).map(|out| out.target)
    }

    /// Sets the layer this peer is to receive of `track`. Returns the layer that now needs a
    /// keyframe (a switch, or a start), if any.
    pub fn set_target(&mut self, track: TrackId, target: Target) -> Option<Option<Rid>> {
        let out = self.tracks_out.get_mut(&track)?;
        if out.kind != MediaKind::Video {
            return None;
        }
        out.target = target;
        if target == Target::Paused {
            out.current = None;
        }
        self.awaited_layer(track)
    }

    /// The publisher track forwarded on our m-line `mid`.
    pub fn source_of(&self, mid: Mid) -> Option<TrackId> {
        self.tracks_out
            .iter()
            .find(|(_, out)| out.state == OutState::Open(mid))
            .map(|(track, _)| *track)
    }

    /// Asks this peer (a publisher) for a keyframe of layer `rid` on `mid`, at most every
    /// 500 ms per layer.
    pub fn request_keyframe(&mut self, now: Instant, mid: Mid, rid: Option<Rid>) -> bool {
        let Some(layer) = self.tracks_in.get_mut(&mid).and_then(|t| t.layer_mut(rid)) else {
            return false;
        };
        if layer.last_keyframe_request.is_some_and(|t| now < t + KEYFRAME_REQUEST_INTERVAL) {
            return false;
        }
        let mut api = self.rtc.direct_api();
        let Some(stream) = api.stream_rx_by_mid(mid, rid) else {
            return false;
        };
        stream.request_keyframe(KeyframeRequestKind::Pli);
        layer.last_keyframe_request = Some(now);
        true
    }

    /// Video subscriptions that need a keyframe now that media can flow, with their layer.
    pub fn restart_video(&mut self) -> Vec<(TrackId, Option<Rid>)> {
        let mut wanted = Vec::new();
        for (track, out) in self.tracks_out.iter_mut() {
            if out.kind == MediaKind::Video && matches!(out.state, OutState::Open(_)) {
                out.current = None;
                if let Target::Layer(rid) = out.target {
                    wanted.push((*track, rid));
                }
            }
        }
        wanted
    }

    /// Adds to `needed` the layers of `track` this peer needs: the one it gets and the one it
    /// is switching to.
    pub fn needed_layers(&self, track: TrackId, needed: &mut Vec<Option<Rid>>) {
        let Some(out) = self.tracks_out.get(&track) else {
            return;
        };
        let target = match out.target {
            Target::Layer(rid) => Some(rid),
            Target::Paused => None,
        };
        for rid in target.into_iter().chain(out.current) {
            if !needed.contains(&rid) {
                needed.push(rid);
            }
        }
    }

    /// The layer this peer receives of `track`, if any.
    pub fn current_layer(&self, track: TrackId) -> Option<Option<Rid>> {
        self.tracks_out.get(&track).and_then(|out| out.current)
    }

    /// The layer this peer waits for a keyframe of on `track`, if it waits.
    pub fn awaited_layer(&self, track: TrackId) -> Option<Option<Rid>> {
        let out = self.tracks_out.get(&track)?;
        match out.target {
            Target::Layer(rid) if out.current != Some(rid) => Some(rid),
            _ => None,
        }
    }

    /// Sends a copy of `packet` (from layer `rid` of `track`, codec `params`, with its VP8
    /// descriptor `vp8` when it is VP8) on the matching m-line, if it is of the layer this peer
    /// receives; switches to the target layer at its keyframe.
    pub fn forward(
        &mut self,
        track: TrackId,
        rid: Option<Rid>,
        packet: &RtpPacket,
        params: &PayloadParams,
        vp8: Option<&Descriptor>,
        keyframe_start: bool,
    ) -> Forwarded {
        if !self.connected {
            return Forwarded::Skipped;
        }
        let Some(out) = self.tracks_out.get_mut(&track) else {
            return Forwarded::Skipped;
        };
        let OutState::Open(mid) = out.state else {
            return Forwarded::Skipped;
        };
        let Target::Layer(target) = out.target else {
            return Forwarded::Skipped;
        };
        let mut switched = false;
        if out.current != Some(rid) {
            if rid != target {
                return Forwarded::Skipped;
            }
            if !keyframe_start {
                // Until the target's keyframe comes, the layer being sent goes on.
                return Forwarded::NeedsKeyframe;
            }
            switched = out.current.is_some();
            out.current = Some(rid);
            out.rewriter.restart();
        }
        let pt = match out.pt_map {
            Some((from, to)) if from == params.pt() => to,
            _ => {
                let Some(local) = self.rtc.codec_config().match_params(*params) else {
                    return Forwarded::Skipped;
                };
                out.pt_map = Some((params.pt(), local.pt()));
                local.pt()
            }
        };
        let arrival = packet.timestamp;
        let header = &packet.header;
        let Some(rewritten) = out.rewriter.rewrite(packet.seq_no, header.timestamp, arrival) else {
            return Forwarded::Skipped;
        };
        let payload = match vp8.and_then(|d| out.rewriter.renumber_vp8(d, &packet.payload)) {
            Some(renumbered) => renumbered.into(),
            None => packet.payload.clone(),
        };
        let nackable = out.kind == MediaKind::Video;
        let mut api = self.rtc.direct_api();
        let Some(stream) = api.stream_tx_by_mid(mid, None) else {
            return Forwarded::Skipped;
        };
        stream.write_rtp(
            RtpWrite::new(pt, rewritten.seq_no, rewritten.timestamp, arrival, payload)
                .marker(header.marker)
                .ext_vals(header.ext_vals.clone())
                .nackable(nackable),
        );
        if switched { Forwarded::Switched } else { Forwarded::Written }
    }
}
