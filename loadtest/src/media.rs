//! Synthetic media: frames on a real-time schedule with realistic sizes, SFrame-encrypted and
//! packetized the way a browser's encoded transform and VP8 packetizer would.
//!
//! A frame's plaintext is its clear metadata (the Opus TOC byte, or the VP8 frame tag: 10 bytes
//! on keyframes, 3 otherwise, which the SFU reads to find keyframes), then the send time in ns
//! since [`crate::start`], the frame number, and filler up to the frame's size. The whole frame
//! is encrypted once; video is then split into RTP payloads of at most
//! [`VideoProfile::packet_payload`] bytes, each led by a one-byte VP8 payload descriptor (S=1 on
//! the first). The SFU cannot see anything but the descriptor and frame tag.
//!
//! Payloads are filler, not codec output: with SFrame the server sees ciphertext anyway, so
//! only sizes, timing and the clear metadata matter to it.

use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use str0m::media::MediaKind;
use veil_e2ee::KeyRing;

/// Audio: Opus at 20 ms, about 36 kbit/s.
pub const AUDIO_INTERVAL: Duration = Duration::from_millis(20);
const AUDIO_FRAME_BYTES: usize = 90;
/// The Opus TOC byte left in the clear (SILK/CELT, 20 ms, mono).
const OPUS_TOC: u8 = 0x78;
/// SFrame context ids: one per track so counters never collide.
pub const AUDIO_CONTEXT: u8 = 0;
pub const VIDEO_CONTEXT: u8 = 1;
/// Bytes of the plaintext after the metadata: send ns (8) and frame number (8).
const STAMP_LEN: usize = 16;

/// What one video track sends.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct VideoProfile {
    pub name: &'static str,
    pub fps: u32,
    pub bitrate_bps: u64,
    pub keyframe_interval: Duration,
    /// Keyframe size over the average delta frame size.
    pub keyframe_ratio: f64,
    /// Largest RTP payload, VP8 descriptor included.
    pub packet_payload: usize,
}

/// A 720p camera, single layer: the SFU does not do simulcast yet, so publishers send only the
/// top layer (2.5 Mbit/s, ≈270 packets/s) instead of the ≈360 packets/s of three layers.
pub const CAMERA_720P: VideoProfile = VideoProfile {
    name: "camera-720p",
    fps: 30,
    bitrate_bps: 2_500_000,
    keyframe_interval: Duration::from_secs(3),
    keyframe_ratio: 5.0,
    packet_payload: 1150,
};

/// A screen share: few frames, small deltas, large keyframes.
pub const SCREEN: VideoProfile = VideoProfile {
    name: "screen",
    fps: 10,
    bitrate_bps: 1_500_000,
    keyframe_interval: Duration::from_secs(5),
    keyframe_ratio: 10.0,
    packet_payload: 1150,
};

/// One encrypted frame, ready to hand to RTP.
#[derive(Debug)]
pub struct Frame {
    pub kind: MediaKind,
    pub rtp_time: u32,
    pub keyframe: bool,
    /// RTP payloads in order; the last carries the marker bit.
    pub payloads: Vec<Vec<u8>>,
}

/// How well the generator kept to its schedule.
#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct Schedule {
    pub ticks: u64,
    /// Ticks served more than [`LATE`] after they were due.
    pub late: u64,
    /// Ticks dropped because the generator was more than a frame behind.
    pub skipped: u64,
    pub max_late_ns: u64,
}

/// Lateness past which a tick counts as late.
pub const LATE: Duration = Duration::from_millis(5);

impl Schedule {
    pub fn merge(&mut self, o: &Schedule) {
        self.ticks += o.ticks;
        self.late += o.late;
        self.skipped += o.skipped;
        self.max_late_ns = self.max_late_ns.max(o.max_late_ns);
    }

    fn tick(&mut self, due: Instant, now: Instant, interval: Duration) -> Instant {
        let late = now.saturating_duration_since(due);
        self.ticks += 1;
        self.max_late_ns = self.max_late_ns.max(late.as_nanos() as u64);
        if late > LATE {
            self.late += 1;
        }
        let mut next = due + interval;
        while next + interval <= now {
            next += interval;
            self.skipped += 1;
        }
        next
    }
}

/// A publisher's media clock: what is due when.
pub struct Source {
    audio: bool,
    video: Option<VideoProfile>,
    next_audio: Instant,
    next_video: Instant,
    audio_frames: u64,
    video_frames: u64,
    last_keyframe: Option<Instant>,
    keyframe_due: bool,
    rng: SmallRng,
    pub schedule: Schedule,
}

impl Source {
    /// Starts at a random offset within one frame, so publishers do not tick in lockstep.
    pub fn new(now: Instant, audio: bool, video: Option<VideoProfile>, seed: u64) -> Self {
        let mut rng = SmallRng::seed_from_u64(seed);
        let offset = Duration::from_micros(rng.random_range(0..20_000));
        Self {
            audio,
            video,
            next_audio: now + offset,
            next_video: now + offset,
            audio_frames: 0,
            video_frames: 0,
            last_keyframe: None,
            keyframe_due: true,
            rng,
            schedule: Schedule::default(),
        }
    }

    /// When the next frame is due, if this source sends anything.
    pub fn next_due(&self) -> Option<Instant> {
        let audio = self.audio.then_some(self.next_audio);
        let video = self.video.map(|_| self.next_video);
        audio.into_iter().chain(video).min()
    }

    /// A receiver asked for a keyframe (PLI/FIR): the next video frame is one.
    pub fn request_keyframe(&mut self) {
        self.keyframe_due = true;
    }

    /// Frames due at `now`, encrypted with `ring`'s current epoch. `counting` says whether the
    /// schedule counts (only during the measured window).
    pub fn poll(&mut self, now: Instant, ring: &mut KeyRing, counting: bool, out: &mut Vec<Frame>) {
        let mut schedule = Schedule::default();
        if self.audio && now >= self.next_audio {
            self.next_audio = schedule.tick(self.next_audio, now, AUDIO_INTERVAL);
            let n = self.audio_frames;
            self.audio_frames += 1;
            let plain = stamped(&[OPUS_TOC], n, AUDIO_FRAME_BYTES);
            if let Ok(data) = ring.encrypt(AUDIO_CONTEXT, 1, &plain) {
                let rtp_time = (n * 960) as u32;
                out.push(Frame {
                    kind: MediaKind::Audio,
                    rtp_time,
                    keyframe: false,
                    payloads: vec![data],
                });
            }
        }
        if let Some(profile) = self.video
            && now >= self.next_video
        {
            let interval = Duration::from_secs(1) / profile.fps;
            self.next_video = schedule.tick(self.next_video, now, interval);
            let n = self.video_frames;
            self.video_frames += 1;
            let key = self.keyframe_due
                || self.last_keyframe.is_none_or(|t| now >= t + profile.keyframe_interval);
            if key {
                self.keyframe_due = false;
                self.last_keyframe = Some(now);
            }
            let size = self.frame_size(&profile, key);
            let tag: &[u8] = if key {
                &[0x00, 0x9d, 0x01, 0x2a, 0x00, 0x05, 0xd0, 0x02, 0x00, 0x00]
            } else {
                &[0x01, 0x00, 0x00]
            };
            let plain = stamped(tag, n, size);
            if let Ok(data) = ring.encrypt(VIDEO_CONTEXT, tag.len(), &plain) {
                let rtp_time = (n * 90_000 / u64::from(profile.fps)) as u32;
                let payloads = packetize(&data, profile.packet_payload);
                out.push(Frame { kind: MediaKind::Video, rtp_time, keyframe: key, payloads });
            }
        }
        if counting {
            self.schedule.merge(&schedule);
        }
    }

    fn frame_size(&mut self, p: &VideoProfile, key: bool) -> usize {
        let per_frame = p.bitrate_bps as f64 / 8.0 / f64::from(p.fps);
        let frames = p.keyframe_interval.as_secs_f64() * f64::from(p.fps);
        let delta = frames * per_frame / (frames - 1.0 + p.keyframe_ratio);
        let size =
            if key { delta * p.keyframe_ratio } else { delta * self.rng.random_range(0.75..1.25) };
        size as usize
    }
}

/// `metadata`, then the send time and frame number, then filler up to `size` bytes.
fn stamped(metadata: &[u8], frame: u64, size: usize) -> Vec<u8> {
    let mut plain = Vec::with_capacity(size.max(metadata.len() + STAMP_LEN));
    plain.extend_from_slice(metadata);
    plain.extend_from_slice(&crate::now_ns().to_le_bytes());
    plain.extend_from_slice(&frame.to_le_bytes());
    plain.resize(size.max(plain.len()), 0x55);
    plain
}

/// Splits an encrypted frame into RTP payloads with a one-byte VP8 descriptor each.
pub fn packetize(frame: &[u8], packet_payload: usize) -> Vec<Vec<u8>> {
    frame
        .chunks(packet_payload - 1)
        .enumerate()
        .map(|(i, chunk)| {
            let mut p = Vec::with_capacity(chunk.len() + 1);
            p.push(if i == 0 { 0x10 } else { 0x00 });
            p.extend_from_slice(chunk);
            p
        })
        .collect()
}

/// Clear metadata length of a received frame: 1 for audio, the VP8 frame tag for video.
pub fn metadata_len(kind: MediaKind, frame: &[u8]) -> usize {
    match kind {
        MediaKind::Audio => 1,
        MediaKind::Video if frame.first().is_some_and(|b| b & 0x01 == 0) => 10,
        MediaKind::Video => 3,
    }
}

/// The send time and frame number of a decrypted frame's plaintext.
pub fn read_stamp(plaintext: &[u8], metadata_len: usize) -> Option<(u64, u64)> {
    let stamp = plaintext.get(metadata_len..metadata_len + STAMP_LEN)?;
    let sent = u64::from_le_bytes(stamp[..8].try_into().ok()?);
    let frame = u64::from_le_bytes(stamp[8..].try_into().ok()?);
    Some((sent, frame))
}
