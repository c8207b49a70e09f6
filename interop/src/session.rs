//! One participant's run: signaling and MLS on the WebSocket, media on the webrtc-rs
//! connection, and the load test's media source and receive accounting between them.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use bytes::Bytes;
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use serde::Serialize;
use str0m::media::MediaKind;
use tokio::sync::mpsc;
use veil_e2ee::KeyRing;
use veil_loadtest::join::{Mark, stdin_marks};
use veil_loadtest::media::{Frame, SMALL_CAMERA, Source};
use veil_loadtest::participant::secure::Secure;
use veil_loadtest::participant::{Receiver, RtpIn, StreamCount, Window};
use veil_proto::signal::{ClientMessage, ServerMessage};
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::peer_connection::{PeerConnection, RTCSessionDescription};

use crate::connection::{self, Connection, Event, Outgoing};
use crate::signaling::{self, Ws};

/// What to join and for how long.
pub struct Options {
    pub http: SocketAddr,
    pub token: String,
    pub room: String,
    pub name: String,
    pub duration: Duration,
    pub stdin_control: bool,
    /// The address to gather the one host candidate on.
    pub bind: IpAddr,
}

/// The JSON line printed at the end.
#[derive(Debug, Serialize)]
pub struct Report {
    pub stack: &'static str,
    pub participant_id: String,
    pub epoch: Option<u64>,
    pub security_code: Option<String>,
    /// (participant id, display name) of every MLS member, as their credentials say.
    pub members: Vec<(String, String)>,
    /// RTP packets sent while counting.
    pub sent_packets: u64,
    pub packets: u64,
    pub frames: u64,
    pub decrypt_failures: u64,
    pub streams: Vec<StreamReport>,
}

/// One remote stream: who sent it (its msid stream id, the sender's participant id) and what
/// arrived and decrypted.
#[derive(Debug, Serialize)]
pub struct StreamReport {
    pub sender: Option<String>,
    #[serde(flatten)]
    pub count: StreamCount,
}

struct Session {
    ws: Ws,
    conn: Connection,
    secure: Secure,
    ring: KeyRing,
    source: Source,
    receiver: Receiver,
    window: Option<Window>,
    connected: bool,
    /// Extended sequence number of the last packet, and msid, per remote SSRC.
    remote: HashMap<u32, (u64, String)>,
    /// Negotiated payload types (Opus, VP8), read once connected.
    pts: Option<(u8, u8)>,
    timestamp_base: (u32, u32),
    sent_packets: u64,
    frames: Vec<Frame>,
}

/// Joins, publishes and receives until `duration` passes (or stdin says `end`), leaves, and
/// reports.
pub async fn run(opts: Options) -> anyhow::Result<Report> {
    let (mut ws, me, joined) = signaling::join(opts.http, &opts.room, &opts.token).await?;
    let mut ring = KeyRing::new();
    let (secure, first) =
        Secure::start(&joined, &opts.name, &mut ring).map_err(|e| anyhow!("MLS: {e}"))?;
    for msg in first {
        signaling::send(&mut ws, msg).await?;
    }
    let (conn, mut events) = connection::open(opts.bind).await?;
    let offer = conn.pc.create_offer(None).await.context("creating the offer")?;
    conn.pc.set_local_description(offer.clone()).await.context("applying our offer")?;
    signaling::send(&mut ws, ClientMessage::Offer { sdp: offer.sdp, sources: Default::default() })
        .await?;
    // As the browser does: the others show our camera and microphone once we announce them.
    let state = ClientMessage::PublishState { microphone: true, camera: true, screen: false };
    signaling::send(&mut ws, state).await?;
    let seed = u64::from(rand::random::<u32>());
    let mut marks = if opts.stdin_control { stdin_marks() } else { mpsc::unbounded_channel().1 };
    let now_ns = veil_loadtest::now_ns();
    let mut session = Session {
        ws,
        conn,
        secure,
        ring,
        source: Source::new(Instant::now(), true, Some(SMALL_CAMERA), seed),
        receiver: Receiver::default(),
        window: (!opts.stdin_control).then_some(Window { from: now_ns, to: u64::MAX }),
        connected: false,
        remote: HashMap::new(),
        pts: None,
        timestamp_base: rand::random(),
        sent_packets: 0,
        frames: Vec::new(),
    };
    let result = session.run(&mut events, &mut marks, Instant::now() + opts.duration).await;
    let _ = signaling::send(&mut session.ws, ClientMessage::Leave).await;
    let _ = session.ws.close(None).await;
    let _ = session.conn.pc.close().await;
    result?;
    Ok(session.report(me.0))
}

impl Session {
    async fn run(
        &mut self,
        events: &mut mpsc::UnboundedReceiver<Event>,
        marks: &mut mpsc::UnboundedReceiver<Mark>,
        deadline: Instant,
    ) -> anyhow::Result<()> {
        loop {
            let sending = self.connected && self.ring.epoch().is_some();
            let due = self.source.next_due().filter(|_| sending).unwrap_or(deadline);
            let keys_due = self.secure.next_timeout();
            tokio::select! {
                message = signaling::next(&mut self.ws) => match message? {
                    Some(message) => self.on_message(message).await?,
                    None => bail!("the server closed the WebSocket"),
                },
                event = events.recv() => match event {
                    Some(event) => self.on_event(event).await?,
                    None => bail!("the webrtc-rs connection stopped"),
                },
                Some(mark) = marks.recv() => {
                    let now = veil_loadtest::now_ns();
                    match mark {
                        Mark::Count => self.window = Some(Window { from: now, to: u64::MAX }),
                        Mark::End => {
                            self.close_window();
                            return self.check_joined();
                        }
                    }
                }
                _ = tokio::time::sleep_until(due.min(deadline).min(keys_due).into()) => {}
            }
            let now = Instant::now();
            if now >= keys_due {
                let replies =
                    self.secure.on_timeout(&mut self.ring).map_err(|e| anyhow!("MLS: {e}"))?;
                for reply in replies {
                    signaling::send(&mut self.ws, reply).await?;
                }
            }
            if now >= deadline {
                self.close_window();
                return self.check_joined();
            }
            if sending && self.source.next_due().is_some_and(|d| now >= d) {
                self.send_media(now).await;
            }
        }
    }

    /// A run that ends without media or keys did not take part in the meeting.
    fn check_joined(&self) -> anyhow::Result<()> {
        if !self.connected {
            bail!("the media connection to the SFU never came up");
        }
        if self.ring.epoch().is_none() {
            bail!("no MLS epoch key arrived: the group never added this participant");
        }
        Ok(())
    }

    fn close_window(&mut self) {
        if let Some(w) = &mut self.window {
            w.to = w.to.min(veil_loadtest::now_ns());
        }
    }

    fn counting(&self) -> bool {
        self.window.is_some_and(|w| w.contains(veil_loadtest::now_ns()))
    }

    async fn on_message(&mut self, message: ServerMessage) -> anyhow::Result<()> {
        let replies =
            self.secure.on_message(&message, &mut self.ring).map_err(|e| anyhow!("MLS: {e}"))?;
        for reply in replies {
            signaling::send(&mut self.ws, reply).await?;
        }
        let pc = &self.conn.pc;
        match message {
            ServerMessage::Answer { sdp } => {
                let answer = RTCSessionDescription::answer(sdp).context("the SFU's answer")?;
                pc.set_remote_description(answer).await.context("applying the SFU's answer")?;
            }
            // The SFU offers whenever other participants' tracks come or go.
            ServerMessage::Offer { sdp } => {
                let offer = RTCSessionDescription::offer(sdp).context("the SFU's offer")?;
                pc.set_remote_description(offer).await.context("applying the SFU's offer")?;
                let answer = pc.create_answer(None).await.context("creating an answer")?;
                pc.set_local_description(answer.clone()).await.context("applying our answer")?;
                signaling::send(&mut self.ws, ClientMessage::Answer { sdp: answer.sdp }).await?;
            }
            ServerMessage::Error { code, message, fatal: true } => {
                bail!("the server ended the session: {code:?}: {message}")
            }
            _ => {}
        }
        Ok(())
    }

    async fn on_event(&mut self, event: Event) -> anyhow::Result<()> {
        match event {
            Event::Connected => {
                self.connected = true;
                self.pts = Some((
                    negotiated_pt(&self.conn.pc, &self.conn.audio).await?,
                    negotiated_pt(&self.conn.pc, &self.conn.video).await?,
                ));
            }
            Event::Lost(state) => bail!("the media connection to the SFU is {state}"),
            Event::KeyframeRequest => self.source.request_keyframe(None),
            Event::Rtp { kind, stream, packet, received_ns } => {
                // Padding (bandwidth probes) carries no media.
                if packet.payload.is_empty() {
                    return Ok(());
                }
                let h = &packet.header;
                let entry = self.remote.entry(h.ssrc).or_insert((0, stream));
                entry.0 = extend_seq(entry.0, h.sequence_number);
                let rtp = RtpIn {
                    kind: if kind == RtpCodecKind::Audio {
                        MediaKind::Audio
                    } else {
                        MediaKind::Video
                    },
                    ssrc: h.ssrc,
                    seq: entry.0,
                    rtp_time: h.timestamp,
                    marker: h.marker,
                    payload: &packet.payload,
                    received_ns,
                };
                self.receiver.on_rtp(&mut self.ring, rtp, self.window);
            }
        }
        Ok(())
    }

    /// Writes the frames due now as RTP: the payloads are packetized already, so each one
    /// becomes a packet with the track's SSRC, the negotiated payload type, the next sequence
    /// number, the frame's timestamp, and the marker on a video frame's last packet.
    async fn send_media(&mut self, now: Instant) {
        let counting = self.counting();
        let mut frames = std::mem::take(&mut self.frames);
        self.source.poll(now, &mut self.ring, counting, &mut frames);
        let Some((opus, vp8)) = self.pts else {
            frames.clear();
            self.frames = frames;
            return;
        };
        for frame in frames.drain(..) {
            let (out, pt, base, video) = match frame.kind {
                MediaKind::Audio => (&mut self.conn.audio, opus, self.timestamp_base.0, false),
                MediaKind::Video => (&mut self.conn.video, vp8, self.timestamp_base.1, true),
            };
            let count = frame.payloads.len();
            for (i, payload) in frame.payloads.into_iter().enumerate() {
                out.seq = out.seq.wrapping_add(1);
                let header = rtc::rtp::header::Header {
                    version: 2,
                    marker: video && i + 1 == count,
                    payload_type: pt,
                    sequence_number: out.seq,
                    timestamp: base.wrapping_add(frame.rtp_time),
                    ssrc: out.ssrc,
                    ..Default::default()
                };
                let packet = rtc::rtp::Packet { header, payload: Bytes::from(payload) };
                if let Err(e) = write(out, packet).await {
                    eprintln!("veil-webrtc-peer: writing RTP failed: {e}");
                } else if counting {
                    self.sent_packets += 1;
                }
            }
        }
        self.frames = frames;
    }

    fn report(self, participant_id: String) -> Report {
        let received = self.receiver.finish();
        let streams = received
            .by_stream
            .into_iter()
            .map(|count| StreamReport {
                sender: self.remote.get(&count.ssrc).map(|(_, stream)| stream.clone()),
                count,
            })
            .collect();
        Report {
            stack: "webrtc-rs",
            participant_id,
            epoch: self.secure.epoch(),
            security_code: self.secure.verification_code(),
            members: self.secure.names(),
            sent_packets: self.sent_packets,
            packets: received.packets,
            frames: received.frames,
            decrypt_failures: received.decrypt_failures,
            streams,
        }
    }
}

async fn write(out: &Outgoing, packet: rtc::rtp::Packet) -> webrtc::error::Result<()> {
    out.track.write_rtp(packet).await
}

/// The payload type the answer settled for `out`'s sender: webrtc-rs drops packets whose
/// payload type is not negotiated on their sender.
async fn negotiated_pt(pc: &Arc<dyn PeerConnection>, out: &Outgoing) -> anyhow::Result<u8> {
    for sender in pc.get_senders().await {
        let params = sender.get_parameters().await?;
        let ours = params.encodings.iter().any(|e| e.rtp_coding_parameters.ssrc == Some(out.ssrc));
        if let (true, Some(codec)) = (ours, params.rtp_parameters.codecs.first()) {
            return Ok(codec.payload_type);
        }
    }
    bail!("no payload type was negotiated for SSRC {}", out.ssrc)
}

/// Extends a 16-bit RTP sequence number to the 64-bit one closest to `last` (the previous
/// extended number, 0 before the first packet), so frames spanning a wrap still assemble.
fn extend_seq(last: u64, seq: u16) -> u64 {
    if last == 0 {
        return (1 << 16) + u64::from(seq);
    }
    let candidate = (last & !0xffff) | u64::from(seq);
    if candidate + 0x8000 < last {
        candidate + 0x1_0000
    } else if candidate > last + 0x8000 {
        candidate - 0x1_0000
    } else {
        candidate
    }
}

#[cfg(test)]
mod tests {
    use super::extend_seq;

    #[test]
    fn sequence_numbers_extend_across_wraps_both_ways() {
        let first = extend_seq(0, 65_535);
        let next = extend_seq(first, 0);
        assert_eq!(next, first + 1);
        assert_eq!(extend_seq(next, 65_535), first, "a late packet from before the wrap");
        assert_eq!(extend_seq(next, 5), next + 5);
    }
}
