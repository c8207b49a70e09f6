//! The subscriber side, independent of transport: reassembles frames from RTP payloads,
//! decrypts them, and accounts every packet inside the measured window.
//!
//! A video frame is the packets sharing an RTP timestamp, from the one whose descriptor has S=1
//! to the one with the marker bit. Only a frame with no gap decrypts; every packet of a
//! decrypted frame gets the frame's one-way delay (its receive time minus the send time in the
//! plaintext), so bursts of large keyframes weigh as much as they do on the wire. Frames from
//! senders that do not stamp them (a browser in the same meeting) count as decrypted, without a
//! delay.
//!
//! A video stream's picture height is the one its last decrypted keyframe announced: the SFU
//! forwards one simulcast layer per subscriber as one plain stream, so that header is where a
//! subscriber learns which layer it gets.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use str0m::media::MediaKind;
use veil_e2ee::{FrameError, KeyRing};

use crate::media::{metadata_len, read_stamp, vp8_descriptor_len, vp8_keyframe_size};
use crate::stats::{Histogram, StreamStats};

/// One received RTP packet, transport details removed.
#[derive(Debug)]
pub struct RtpIn<'a> {
    pub kind: MediaKind,
    pub ssrc: u32,
    pub seq: u64,
    pub rtp_time: u32,
    pub marker: bool,
    pub payload: &'a [u8],
    pub received_ns: u64,
}

/// The window during which packets are counted, ns since [`crate::start`].
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub from: u64,
    pub to: u64,
}

impl Window {
    pub fn contains(&self, ns: u64) -> bool {
        ns >= self.from && ns < self.to
    }
}

#[derive(Default)]
struct Assembly {
    rtp_time: u32,
    /// (seq, received ns, payload without descriptor, starts frame)
    packets: Packets,
}

struct Rx {
    kind: MediaKind,
    stats: StreamStats,
    assembly: Assembly,
    decrypting: bool,
    count: StreamCount,
}

/// One received stream's counts inside the window, and who sent it: what a check across
/// WebRTC stacks compares.
#[derive(Debug, Clone, Serialize)]
pub struct StreamCount {
    pub ssrc: u32,
    pub kind: &'static str,
    pub packets: u64,
    pub frames: u64,
    pub decrypt_failures: u64,
    /// The sender's MLS leaf, as the last frame that decrypted authenticated it.
    pub sender_leaf: Option<u32>,
    /// The picture height the last decrypted keyframe announced (video).
    pub height: Option<u16>,
}

/// What a subscriber saw, for the report.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Received {
    pub packets: u64,
    pub bytes: u64,
    pub frames: u64,
    pub frames_incomplete: u64,
    pub decrypt_failures: u64,
    /// Decrypted video frames in the window by the picture height their stream had then.
    pub frames_by_height: BTreeMap<u16, u64>,
    #[serde(skip)]
    pub latency: Histogram,
    pub streams: Vec<StreamStats>,
    /// The same packets, frames and failures per stream (left out of the load-test reports).
    #[serde(skip)]
    pub by_stream: Vec<StreamCount>,
}

type Packets = Vec<(u64, u64, Vec<u8>, bool)>;

/// The frame's bytes if its packets run without a gap from a frame start to the marker.
fn assemble(mut packets: Packets) -> Option<(Packets, Vec<u8>)> {
    packets.sort_unstable_by_key(|p| p.0);
    packets.dedup_by_key(|p| p.0);
    let first = packets.first()?;
    let last = packets.last()?;
    if !first.3 || last.0 - first.0 + 1 != packets.len() as u64 {
        return None;
    }
    let mut data = Vec::with_capacity(packets.iter().map(|p| p.2.len()).sum());
    for p in &mut packets {
        data.append(&mut p.2);
    }
    Some((packets, data))
}

/// A frame that named an epoch the ring had no key for, waiting for the ring's next epoch:
/// media from a member who merged a commit can arrive before the commit reaches us over
/// signaling.
struct Held {
    ssrc: u32,
    packets: Packets,
    data: Vec<u8>,
    counting: bool,
    received_ns: u64,
}

/// The most frames held for a new epoch, and for how long: a commit follows its first frames
/// within a round trip or two.
const MAX_HELD: usize = 256;
const HOLD_NS: u64 = 2_000_000_000;

/// Per-subscriber receive state.
#[derive(Default)]
pub struct Receiver {
    streams: HashMap<u32, Rx>,
    /// Frames of an epoch the ring did not know yet, and the ring's epoch when they came.
    held: Vec<Held>,
    held_epoch: Option<u64>,
    pub seen: Received,
    pub first_packet_ns: Option<u64>,
    pub first_keyframe_ns: Option<u64>,
    /// Streams that decrypted at least one frame (counted once each).
    pub decrypting_streams: usize,
}

impl Receiver {
    /// Handles one packet; `window` decides whether it is counted.
    pub fn on_rtp(&mut self, ring: &mut KeyRing, p: RtpIn<'_>, window: Option<Window>) {
        self.first_packet_ns.get_or_insert(p.received_ns);
        let counting = window.is_some_and(|w| w.contains(p.received_ns));
        let rx = self.streams.entry(p.ssrc).or_insert_with(|| Rx {
            kind: p.kind,
            stats: StreamStats::default(),
            assembly: Assembly::default(),
            decrypting: false,
            count: StreamCount {
                ssrc: p.ssrc,
                kind: if p.kind == MediaKind::Audio { "audio" } else { "video" },
                packets: 0,
                frames: 0,
                decrypt_failures: 0,
                sender_leaf: None,
                height: None,
            },
        });
        if counting {
            rx.stats.on_seq(p.seq);
            rx.count.packets += 1;
            self.seen.packets += 1;
            self.seen.bytes += p.payload.len() as u64;
        }
        let frame = match rx.kind {
            MediaKind::Audio => {
                Some((vec![(p.seq, p.received_ns, Vec::new(), true)], p.payload.to_vec()))
            }
            MediaKind::Video => {
                let a = &mut rx.assembly;
                if a.rtp_time != p.rtp_time && !a.packets.is_empty() {
                    if counting {
                        self.seen.frames_incomplete += 1;
                    }
                    a.packets.clear();
                }
                a.rtp_time = p.rtp_time;
                let start = p.payload.first().is_some_and(|d| d & 0x10 != 0);
                let descriptor = vp8_descriptor_len(p.payload).unwrap_or(p.payload.len());
                a.packets.push((
                    p.seq,
                    p.received_ns,
                    p.payload.get(descriptor..).unwrap_or(&[]).to_vec(),
                    start,
                ));
                if p.marker { assemble(std::mem::take(&mut a.packets)) } else { None }
            }
        };
        let Some((packets, data)) = frame else {
            if p.marker && counting {
                self.seen.frames_incomplete += 1;
            }
            return;
        };
        self.retry_held(ring, p.received_ns);
        let held = Held { ssrc: p.ssrc, packets, data, counting, received_ns: p.received_ns };
        self.on_frame(ring, held, true);
    }

    /// Frames held for a new epoch are tried again once the ring has moved on; those still
    /// undecryptable then, or held too long, are failures.
    fn retry_held(&mut self, ring: &mut KeyRing, now_ns: u64) {
        if self.held.is_empty() {
            return;
        }
        let moved = ring.epoch() != self.held_epoch;
        let (retry, keep): (Vec<Held>, Vec<Held>) = std::mem::take(&mut self.held)
            .into_iter()
            .partition(|h| moved || now_ns.saturating_sub(h.received_ns) > HOLD_NS);
        self.held = keep;
        for frame in retry {
            self.on_frame(ring, frame, false);
        }
    }

    /// Decrypts and counts one whole frame; with `may_hold`, a frame of an unknown epoch waits
    /// for the ring's next one instead of failing.
    fn on_frame(&mut self, ring: &mut KeyRing, frame: Held, may_hold: bool) {
        let Held { ssrc, packets, data, counting, .. } = frame;
        let Some(rx) = self.streams.get_mut(&ssrc) else { return };
        let meta = metadata_len(rx.kind, &data);
        // A generator: it measures the server, so frames are not bound to their owners here
        // (the bots and browsers do that); the clear-bytes rule is the one every client uses.
        let frame = match ring.decrypt(meta, &data) {
            Ok(frame) => frame,
            Err(FrameError::UnknownEpoch { .. }) if may_hold && self.held.len() < MAX_HELD => {
                self.held_epoch = ring.epoch();
                let received_ns = packets.last().map_or(0, |p| p.1);
                self.held.push(Held { ssrc, packets, data, counting, received_ns });
                return;
            }
            Err(_) => {
                if counting {
                    self.seen.decrypt_failures += 1;
                    rx.count.decrypt_failures += 1;
                }
                return;
            }
        };
        rx.count.sender_leaf = Some(frame.sender_leaf);
        let sent_ns = read_stamp(&frame.plaintext, meta).map(|(sent_ns, _)| sent_ns);
        if rx.kind == MediaKind::Video && meta == 10 {
            let received_ns = packets.last().map_or(0, |p| p.1);
            self.first_keyframe_ns.get_or_insert(received_ns);
            if let Some((_, height)) = vp8_keyframe_size(&frame.plaintext) {
                rx.count.height = Some(height);
            }
        }
        if !std::mem::replace(&mut rx.decrypting, true) {
            self.decrypting_streams += 1;
        }
        if counting {
            self.seen.frames += 1;
            rx.count.frames += 1;
            if let Some(height) = rx.count.height.filter(|_| rx.kind == MediaKind::Video) {
                *self.seen.frames_by_height.entry(height).or_default() += 1;
            }
            if let Some(sent_ns) = sent_ns {
                for (_, received_ns, _, _) in &packets {
                    rx.stats.on_transit(sent_ns, *received_ns);
                    self.seen.latency.record(received_ns.saturating_sub(sent_ns));
                }
            }
        }
    }

    /// Ends the run: per-stream figures move into [`Received::streams`]; frames still held
    /// for an epoch that never came are failures.
    pub fn finish(mut self) -> Received {
        for held in std::mem::take(&mut self.held) {
            if let (true, Some(rx)) = (held.counting, self.streams.get_mut(&held.ssrc)) {
                self.seen.decrypt_failures += 1;
                rx.count.decrypt_failures += 1;
            }
        }
        for rx in self.streams.into_values() {
            self.seen.streams.push(rx.stats);
            self.seen.by_stream.push(rx.count);
        }
        self.seen
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::media::{CAMERA_LAYERS, Frame, Source};
    use crate::participant::fixed_key_ring;

    /// Feeds `frames` as RTP on one SSRC, as the SFU forwards one layer: one stream whatever
    /// layer each frame came from.
    fn forward(receiver: &mut Receiver, ring: &mut KeyRing, frames: &[Frame], seq: &mut u64) {
        let window = Some(Window { from: 0, to: u64::MAX });
        for frame in frames {
            for (i, payload) in frame.payloads.iter().enumerate() {
                *seq += 1;
                let rtp = RtpIn {
                    kind: MediaKind::Video,
                    ssrc: 7,
                    seq: *seq,
                    rtp_time: frame.rtp_time,
                    marker: i + 1 == frame.payloads.len(),
                    payload,
                    received_ns: crate::now_ns(),
                };
                receiver.on_rtp(ring, rtp, window);
            }
        }
    }

    #[test]
    fn a_stream_takes_the_height_of_its_last_keyframe() {
        crate::start();
        let mut sender = fixed_key_ring(1);
        let mut ring = fixed_key_ring(0);
        let mut now = Instant::now();
        let mut source = Source::simulcast(now, false, &CAMERA_LAYERS, 1);
        let mut receiver = Receiver::default();
        let mut seq = 0;
        let mut layer = |rid: &str, source: &mut Source, now: &mut Instant| {
            *now += Duration::from_millis(34);
            let mut frames = Vec::new();
            source.poll(*now, &mut sender, true, &mut frames);
            frames.retain(|f| f.rid == Some(rid));
            frames
        };
        for _ in 0..3 {
            let f = layer("f", &mut source, &mut now);
            forward(&mut receiver, &mut ring, &f, &mut seq);
        }
        source.request_keyframe(Some("q"));
        for _ in 0..2 {
            let q = layer("q", &mut source, &mut now);
            forward(&mut receiver, &mut ring, &q, &mut seq);
        }
        let seen = receiver.finish();
        assert_eq!(seen.by_stream.len(), 1);
        assert_eq!(seen.by_stream[0].height, Some(180), "switched to q at its keyframe");
        assert_eq!(seen.frames_by_height, BTreeMap::from([(720, 3), (180, 2)]));
    }

    /// Frames of `sender`'s camera at 720p, `n` of them.
    fn camera_frames(sender: &mut KeyRing, now: &mut Instant, n: usize) -> Vec<Frame> {
        let mut source = Source::simulcast(*now, false, &CAMERA_LAYERS, 1);
        let mut out = Vec::new();
        while out.len() < n {
            *now += Duration::from_millis(34);
            let mut frames = Vec::new();
            source.poll(*now, sender, true, &mut frames);
            out.extend(frames.into_iter().filter(|f| f.rid == Some("f")));
        }
        out
    }

    #[test]
    fn frames_of_an_epoch_not_yet_reached_wait_for_it() {
        crate::start();
        let secret = [9u8; 16];
        let mut sender = fixed_key_ring(1);
        sender.set_epoch(1, &secret, 1, 0).unwrap();
        let mut ring = fixed_key_ring(0);
        let mut now = Instant::now();
        let mut receiver = Receiver::default();
        let mut seq = 0;
        // The sender merged the commit to epoch 1 before we did: its frames wait ...
        let early = camera_frames(&mut sender, &mut now, 3);
        forward(&mut receiver, &mut ring, &early, &mut seq);
        assert_eq!((receiver.seen.frames, receiver.held.len()), (0, 3));
        // ... until we reach epoch 1, and then decrypt.
        ring.set_epoch(1, &secret, 0, 0).unwrap();
        let later = camera_frames(&mut sender, &mut now, 2);
        forward(&mut receiver, &mut ring, &later, &mut seq);
        let seen = receiver.finish();
        assert_eq!((seen.frames, seen.decrypt_failures), (5, 0));
    }

    #[test]
    fn frames_of_an_epoch_that_never_comes_are_failures() {
        crate::start();
        let mut sender = fixed_key_ring(1);
        sender.set_epoch(1, &[9u8; 16], 1, 0).unwrap();
        let mut ring = fixed_key_ring(0);
        let (mut now, mut receiver, mut seq) = (Instant::now(), Receiver::default(), 0);
        let frames = camera_frames(&mut sender, &mut now, 3);
        forward(&mut receiver, &mut ring, &frames, &mut seq);
        let seen = receiver.finish();
        assert_eq!((seen.frames, seen.decrypt_failures), (0, 3));
    }
}
