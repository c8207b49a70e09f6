//! What every str0m-based participant shares, whatever server it talks to: one connection in
//! RTP mode on its own UDP socket ([`Link`]), and the participant's own media and receive state
//! around it ([`Local`]). A Veil participant has one link for everything; a Janus participant
//! has one per PeerConnection (publisher and subscriber), both feeding the same [`Local`].
//!
//! str0m keeps at most one received RTP packet until polled, so a link is drained after every
//! datagram; datagrams are read in batches of up to [`RECEIVE_BATCH`] per wake-up.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use str0m::change::SdpApi;
use str0m::format::Codec;
use str0m::media::{Direction, MediaKind, Mid, Pt, Rid, Simulcast, SimulcastLayer};
use str0m::net::{Protocol, Receive};
use str0m::rtp::{AbsCaptureTime, Extension, ExtensionMap, ExtensionValues, RtpWrite, Ssrc};
use str0m::{Candidate, Event, Rtc};
use tokio::net::UdpSocket;
use veil_e2ee::KeyRing;

use super::{Role, RtpIn, Shared, Tally};
use crate::media::{Frame, Source};

/// Datagrams read per wake-up.
pub const RECEIVE_BATCH: usize = 64;

/// A participant's own state, shared by all its links: the SFrame key ring, the media it
/// sends, what it received, and the run's shared counters.
pub struct Local {
    pub ring: KeyRing,
    pub source: Source,
    pub tally: Tally,
    pub shared: Arc<Shared>,
    frames: Vec<Frame>,
}

impl Local {
    pub fn new(ring: KeyRing, source: Source, tally: Tally, shared: Arc<Shared>) -> Self {
        Self { ring, source, tally, shared, frames: Vec::new() }
    }

    /// Records the "ICE+DTLS connected" milestone, once.
    pub fn mark_connected(&mut self) {
        if self.tally.join.connected_ns.is_none() {
            self.tally.join.connected_ns = Some(crate::now_ns());
            Shared::add(&self.shared.connected);
        }
    }
}

/// One str0m `Rtc` in RTP mode and the UDP socket it sends and receives on.
pub struct Link {
    pub rtc: Rtc,
    socket: UdpSocket,
    local: SocketAddr,
    /// The audio and video m-lines this link sends on, if any.
    mids: (Option<Mid>, Option<Mid>),
    /// Opus and VP8 payload types, once negotiated.
    pts: Option<(Pt, Pt)>,
    /// The last sequence number sent, per kind and simulcast layer.
    seqs: HashMap<(bool, Option<&'static str>), u64>,
    kinds: HashMap<Ssrc, MediaKind>,
    /// The video m-lines this link receives, in the order the server added them.
    pub received_videos: Vec<Mid>,
    /// Set when [`Link::received_videos`] changed; whoever reports tile sizes clears it.
    pub videos_changed: bool,
    /// ICE and DTLS are up.
    pub connected: bool,
}

/// Socket buffer bytes every participant asks for, whichever server it talks to. A keyframe
/// arrives as a burst of up to ~140 packets per publisher, and the kernel's default (208 KiB
/// here) let a generator socket overflow in webinars: loss that was the generator's, not the
/// server's. The kernel caps the request at `net.core.{r,w}mem_max`.
pub const SOCKET_BUFFER_BYTES: usize = 1 << 20;

/// Gives a participant's socket [`SOCKET_BUFFER_BYTES`] each way.
pub fn size_buffers(socket: &impl std::os::fd::AsFd) -> Result<(), String> {
    let socket = socket2::SockRef::from(socket);
    let set = socket
        .set_recv_buffer_size(SOCKET_BUFFER_BYTES)
        .and_then(|()| socket.set_send_buffer_size(SOCKET_BUFFER_BYTES));
    set.map_err(|e| format!("socket buffers: {e}"))
}

impl Link {
    /// A link on a fresh UDP socket on `ip`, offering that socket as its one host candidate.
    /// Every link also offers abs-capture-time, as a browser does.
    pub async fn bind(ip: IpAddr) -> Result<Link, String> {
        let socket = UdpSocket::bind((ip, 0)).await.map_err(|e| format!("UDP bind: {e}"))?;
        size_buffers(&socket)?;
        let local = socket.local_addr().map_err(|e| e.to_string())?;
        let mut exts = ExtensionMap::standard();
        exts.set(5, Extension::AbsoluteCaptureTime);
        let mut rtc =
            Rtc::builder().set_rtp_mode(true).set_extension_map(exts).build(Instant::now());
        let candidate = Candidate::host(local, "udp").map_err(|e| e.to_string())?;
        rtc.add_local_candidate(candidate);
        Ok(Link {
            rtc,
            socket,
            local,
            mids: (None, None),
            pts: None,
            seqs: HashMap::new(),
            kinds: HashMap::new(),
            received_videos: Vec::new(),
            videos_changed: false,
            connected: false,
        })
    }

    /// Starts an SDP change with a send-only m-line for each track `role` publishes (the
    /// camera with its simulcast layers, if it has any); the caller may add more before
    /// applying it.
    pub fn offer_tracks(&mut self, role: &Role) -> SdpApi<'_> {
        let mut api = self.rtc.sdp_api();
        let audio = role
            .audio
            .then(|| api.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None));
        let layers = role.simulcast.filter(|_| role.video.is_some()).map(|layers| {
            let mut s = Simulcast::new();
            for layer in layers {
                s.add_send_layer(SimulcastLayer::new(layer.rid));
            }
            s
        });
        let video = role
            .video
            .map(|_| api.add_media(MediaKind::Video, Direction::SendOnly, None, None, layers));
        self.mids = (audio, video);
        api
    }

    /// The m-line this link sends video on, if any.
    pub fn video_mid(&self) -> Option<Mid> {
        self.mids.1
    }

    pub async fn recv_from(&self, buf: &mut [u8]) -> std::io::Result<(usize, SocketAddr)> {
        self.socket.recv_from(buf).await
    }

    /// Feeds the datagram `buf[..first.0]` from `first.1`, then whatever else is already
    /// waiting (up to [`RECEIVE_BATCH`] in all), draining after each.
    pub async fn receive_batch(
        &mut self,
        first: (usize, SocketAddr),
        buf: &mut [u8],
        me: &mut Local,
    ) -> Result<(), String> {
        let (mut n, mut from) = first;
        for read in 1..=RECEIVE_BATCH {
            if let Ok(r) = Receive::new(Protocol::Udp, from, self.local, &buf[..n]) {
                let _ = self.rtc.handle_input(str0m::Input::Receive(Instant::now(), r));
            }
            self.drain(me).await?;
            if read == RECEIVE_BATCH {
                break;
            }
            match self.socket.try_recv_from(buf) {
                Ok(next) => (n, from) = next,
                Err(_) => break,
            }
        }
        Ok(())
    }

    /// Lets str0m act on time passing.
    pub fn timeout(&mut self, now: Instant) {
        let _ = self.rtc.handle_input(str0m::Input::Timeout(now));
    }

    /// Sends what str0m has queued and handles its events; returns its next timeout.
    pub async fn drain(&mut self, me: &mut Local) -> Result<Instant, String> {
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
                Ok(str0m::Output::Event(e)) => self.on_event(e, me),
                Err(e) => return Err(format!("str0m: {e}")),
            }
        }
    }

    fn on_event(&mut self, event: Event, me: &mut Local) {
        match event {
            Event::Connected => self.connected = true,
            Event::KeyframeRequest(r) => {
                me.source.request_keyframe(r.rid.map(|rid| rid.to_string()).as_deref())
            }
            Event::MediaAdded(m) if m.kind == MediaKind::Video && m.direction.is_receiving() => {
                self.received_videos.push(m.mid);
                self.videos_changed = true;
            }
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
                me.shared.packets.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                me.tally.receiver.on_rtp(&mut me.ring, rtp, me.shared.window());
                me.tally.after_receive(&me.shared);
            }
            _ => {}
        }
    }

    /// Writes the frames `me.source` has due at `now` to this link's send m-lines.
    pub fn send_media(&mut self, now: Instant, me: &mut Local) {
        let counting = me.shared.counting(crate::ns_at(now));
        let mut frames = std::mem::take(&mut me.frames);
        me.source.poll(now, &mut me.ring, counting, &mut frames);
        let (opus, vp8) = match self.pts {
            Some(pts) => pts,
            None => {
                let pt = |codec| {
                    self.rtc.codec_config().find(|p| p.spec().codec == codec).map(|p| p.pt())
                };
                let (Some(opus), Some(vp8)) = (pt(Codec::Opus), pt(Codec::Vp8)) else {
                    frames.clear();
                    me.frames = frames;
                    return;
                };
                *self.pts.insert((opus, vp8))
            }
        };
        let capture = AbsCaptureTime { capture_time: SystemTime::now(), clock_offset: None };
        let ext = ExtensionValues { abs_capture_time: Some(capture), ..Default::default() };
        for frame in frames.drain(..) {
            let (mid, pt, video) = match frame.kind {
                MediaKind::Audio => (self.mids.0, opus, false),
                MediaKind::Video => (self.mids.1, vp8, true),
            };
            let seq = self.seqs.entry((video, frame.rid)).or_default();
            let mut api = self.rtc.direct_api();
            let rid = frame.rid.map(Rid::from);
            let Some(tx) = mid.and_then(|mid| api.stream_tx_by_mid(mid, rid)) else {
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
                    me.tally.sent_packets += 1;
                }
            }
        }
        me.frames = frames;
    }
}

/// Receives on `link`, or waits forever if there is none (for optional `select!` branches).
pub async fn recv_on(link: Option<&Link>, buf: &mut [u8]) -> std::io::Result<(usize, SocketAddr)> {
    match link {
        Some(link) => link.recv_from(buf).await,
        None => std::future::pending().await,
    }
}
