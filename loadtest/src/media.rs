//! Synthetic media: frames on a real-time schedule with realistic sizes, SFrame-encrypted and
//! packetized the way a browser's encoded transform and VP8 packetizer would.
//!
//! A frame's plaintext is its clear metadata (the Opus TOC byte, or the VP8 frame header: 10
//! bytes on keyframes, 3 otherwise, which the SFU reads to find keyframes), zero filler up to
//! the frame's size, and last a stamp: a marker, the send time in ns since [`crate::start`] and
//! the frame number. The whole frame is encrypted once; video is then split into RTP payloads of
//! at most [`VideoProfile::packet_payload`] bytes, each led by a one-byte VP8 payload descriptor
//! (S=1 on the first). The SFU cannot see anything but the descriptor and frame header.
//!
//! Payloads are filler, not codec output: with SFrame the server sees ciphertext anyway, so
//! only sizes, timing and the clear metadata matter to it. A profile's filler can still be a
//! frame a real decoder accepts ([`VideoProfile::decodable`]), so a browser in the same meeting
//! renders these participants: a VP8 decoder reads a run of zero bytes as a frame with every
//! flag and probability update off and no coefficients (a flat grey picture), as long as the run
//! is longer than what the decoder reads ([`vp8_partition_len`]); the stamp sits after it, where
//! no decoder looks. An Opus decoder accepts any payload.
//!
//! A camera can also go out as simulcast layers ([`CAMERA_LAYERS`]), as the browser sends it:
//! one frame of every layer per capture tick, each encrypted on its own, each layer its own RTP
//! stream (by rid) whose keyframes announce the layer's own picture size. A keyframe request
//! names its layer; a layer the SFU says nobody needs pauses until it is wanted again
//! ([`Source::set_layers_wanted`]).

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
/// Marks the stamp, so frames from senders that do not stamp (a browser) are told apart.
const STAMP_MARKER: [u8; 4] = *b"VLts";
/// The stamp at the end of the plaintext: marker (4), send ns (8) and frame number (8).
const STAMP_LEN: usize = 20;

/// What one video track (or one simulcast layer) sends.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct VideoProfile {
    pub name: &'static str,
    /// The picture its VP8 keyframe headers announce (what the SFU learns a layer's size from).
    pub width: u16,
    pub height: u16,
    /// Every frame at least the zero run a VP8 decoder reads for this picture
    /// ([`vp8_partition_len`]), whatever the bitrate, so a browser can show it. Off, frames
    /// follow the bitrate alone; only a server reads them, and a decoder would find them short.
    pub decodable: bool,
    pub fps: u32,
    pub bitrate_bps: u64,
    pub keyframe_interval: Duration,
    /// Keyframe size over the average delta frame size.
    pub keyframe_ratio: f64,
    /// Largest RTP payload, VP8 descriptor included.
    pub packet_payload: usize,
}

/// A 720p camera as one layer (2.5 Mbit/s, ≈270 packets/s): what a publisher sends without
/// simulcast (`--layers 1`), and what the null forwarder and Janus runs always get.
pub const CAMERA_720P: VideoProfile = VideoProfile {
    name: "camera-720p",
    width: 1280,
    height: 720,
    decodable: false,
    fps: 30,
    bitrate_bps: 2_500_000,
    keyframe_interval: Duration::from_secs(3),
    keyframe_ratio: 5.0,
    packet_payload: 1150,
};

/// A screen share: few frames, small deltas, large keyframes.
pub const SCREEN: VideoProfile = VideoProfile {
    name: "screen",
    width: 320,
    height: 180,
    decodable: true,
    fps: 10,
    bitrate_bps: 1_500_000,
    keyframe_interval: Duration::from_secs(5),
    keyframe_ratio: 10.0,
    packet_payload: 1150,
};

/// A small camera (360p rates at 15 fps): for meetings shared with browsers on a test machine.
/// Its frames announce a 320×180 picture, so a decoder's work stays negligible.
pub const SMALL_CAMERA: VideoProfile = VideoProfile {
    name: "camera-360p",
    width: 320,
    height: 180,
    decodable: true,
    fps: 15,
    bitrate_bps: 500_000,
    keyframe_interval: Duration::from_secs(3),
    keyframe_ratio: 5.0,
    packet_payload: 1150,
};

/// One simulcast layer: its rid and what it sends.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Layer {
    pub rid: &'static str,
    pub profile: VideoProfile,
}

/// A simulcast layer of the 720p camera at 30 fps.
const fn camera_layer(rid: &'static str, width: u16, height: u16, bitrate_bps: u64) -> Layer {
    let profile = VideoProfile {
        name: rid,
        width,
        height,
        decodable: false,
        fps: 30,
        bitrate_bps,
        keyframe_interval: Duration::from_secs(3),
        keyframe_ratio: 5.0,
        packet_payload: 1150,
    };
    Layer { rid, profile }
}

/// The browser's camera layers, low to high: a quarter, half and full 720p, at the browser's
/// bitrate caps.
pub const CAMERA_LAYERS: [Layer; 3] = [
    camera_layer("q", 320, 180, 150_000),
    camera_layer("h", 640, 360, 500_000),
    camera_layer("f", 1280, 720, 1_500_000),
];

/// One encrypted frame, ready to hand to RTP.
#[derive(Debug)]
pub struct Frame {
    pub kind: MediaKind,
    /// The simulcast layer it belongs to; `None` for audio and single-layer video.
    pub rid: Option<&'static str>,
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

/// One video stream of a [`Source`]: the single camera or screen track, or one simulcast layer.
#[derive(Debug)]
struct Track {
    rid: Option<&'static str>,
    profile: VideoProfile,
    last_keyframe: Option<Instant>,
    keyframe_due: bool,
    /// The SFU said nobody needs this layer.
    paused: bool,
}

impl Track {
    fn new(rid: Option<&'static str>, profile: VideoProfile) -> Self {
        Self { rid, profile, last_keyframe: None, keyframe_due: true, paused: false }
    }

    /// Whether the frame sent at `now` is a keyframe (asked for, or the interval is up).
    fn take_keyframe(&mut self, now: Instant) -> bool {
        let interval = self.profile.keyframe_interval;
        let key = self.keyframe_due || self.last_keyframe.is_none_or(|t| now >= t + interval);
        if key {
            self.keyframe_due = false;
            self.last_keyframe = Some(now);
        }
        key
    }
}

/// A publisher's media clock: what is due when.
pub struct Source {
    audio: bool,
    /// Every video stream, ticking together as one capture's encodings do.
    video: Vec<Track>,
    next_audio: Instant,
    next_video: Instant,
    audio_frames: u64,
    video_frames: u64,
    rng: SmallRng,
    pub schedule: Schedule,
}

impl Source {
    /// Audio if `audio`, and `video` as one track. Starts at a random offset within one frame,
    /// so publishers do not tick in lockstep.
    pub fn new(now: Instant, audio: bool, video: Option<VideoProfile>, seed: u64) -> Self {
        let tracks = video.map(|p| Track::new(None, p)).into_iter().collect();
        Self::with_tracks(now, audio, tracks, seed)
    }

    /// Audio if `audio`, and a camera in the simulcast `layers` (which share one frame rate).
    pub fn simulcast(now: Instant, audio: bool, layers: &[Layer], seed: u64) -> Self {
        let tracks = layers.iter().map(|l| Track::new(Some(l.rid), l.profile)).collect();
        Self::with_tracks(now, audio, tracks, seed)
    }

    fn with_tracks(now: Instant, audio: bool, video: Vec<Track>, seed: u64) -> Self {
        let mut rng = SmallRng::seed_from_u64(seed);
        let offset = Duration::from_micros(rng.random_range(0..20_000));
        Self {
            audio,
            video,
            next_audio: now + offset,
            next_video: now + offset,
            audio_frames: 0,
            video_frames: 0,
            rng,
            schedule: Schedule::default(),
        }
    }

    /// When the next frame is due, if this source sends anything.
    pub fn next_due(&self) -> Option<Instant> {
        let audio = self.audio.then_some(self.next_audio);
        let video = (!self.video.is_empty()).then_some(self.next_video);
        audio.into_iter().chain(video).min()
    }

    /// A receiver asked for a keyframe (PLI/FIR) of layer `rid`, or of the video (`None`):
    /// that layer's next frame is one.
    pub fn request_keyframe(&mut self, rid: Option<&str>) {
        for t in self.video.iter_mut().filter(|t| rid.is_none() || t.rid == rid) {
            t.keyframe_due = true;
        }
    }

    /// The SFU forwards only the layers `rids`: pause the others, and resume any of these that
    /// was paused, starting with a keyframe as an encoder does. Single-layer video ignores it.
    pub fn set_layers_wanted(&mut self, rids: &[String]) {
        for t in &mut self.video {
            let Some(rid) = t.rid else { continue };
            let wanted = rids.iter().any(|r| r == rid);
            if wanted && t.paused {
                t.keyframe_due = true;
            }
            t.paused = !wanted;
        }
    }

    /// The simulcast layers being sent (not paused), low to high.
    pub fn sending_layers(&self) -> Vec<&'static str> {
        self.video.iter().filter(|t| !t.paused).filter_map(|t| t.rid).collect()
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
            if let Ok(data) = ring.encrypt_media(veil_e2ee::MediaKind::Audio, AUDIO_CONTEXT, &plain)
            {
                let rtp_time = (n * 960) as u32;
                out.push(Frame {
                    kind: MediaKind::Audio,
                    rid: None,
                    rtp_time,
                    keyframe: false,
                    payloads: vec![data],
                });
            }
        }
        if let Some(fps) = self.video.first().map(|t| t.profile.fps)
            && now >= self.next_video
        {
            self.next_video = schedule.tick(self.next_video, now, Duration::from_secs(1) / fps);
            let n = self.video_frames;
            self.video_frames += 1;
            for i in 0..self.video.len() {
                if !self.video[i].paused {
                    out.extend(self.video_frame(i, n, now, ring));
                }
            }
        }
        if counting {
            self.schedule.merge(&schedule);
        }
    }

    /// Frame `n` of video track `i`, encrypted.
    fn video_frame(&mut self, i: usize, n: u64, now: Instant, ring: &mut KeyRing) -> Option<Frame> {
        let key = self.video[i].take_keyframe(now);
        let (rid, profile) = (self.video[i].rid, self.video[i].profile);
        let size = self.frame_size(&profile, key);
        let tag = vp8_header(key, profile.width, profile.height);
        let least = if profile.decodable {
            tag.len() + 2 * vp8_partition_len(profile.width, profile.height) + STAMP_LEN
        } else {
            0
        };
        let plain = stamped(&tag, n, size.max(least));
        let data = ring.encrypt_media(veil_e2ee::MediaKind::Video, VIDEO_CONTEXT, &plain).ok()?;
        let rtp_time = (n * 90_000 / u64::from(profile.fps)) as u32;
        let payloads = packetize(&data, profile.packet_payload);
        Some(Frame { kind: MediaKind::Video, rid, rtp_time, keyframe: key, payloads })
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

/// `metadata`, zero filler, then the stamp (marker, send time, frame number): `size` bytes, or
/// just enough for the metadata and the stamp.
fn stamped(metadata: &[u8], frame: u64, size: usize) -> Vec<u8> {
    let mut plain = Vec::with_capacity(size.max(metadata.len() + STAMP_LEN));
    plain.extend_from_slice(metadata);
    plain.resize(size.max(metadata.len() + STAMP_LEN) - STAMP_LEN, 0);
    plain.extend_from_slice(&STAMP_MARKER);
    plain.extend_from_slice(&crate::now_ns().to_le_bytes());
    plain.extend_from_slice(&frame.to_le_bytes());
    plain
}

/// Bytes of zeros that outlast what a VP8 decoder reads from one partition of a
/// `width`×`height` frame. From zeros its bool decoder reads every value as 0; that costs at
/// most 8 input bits (a probability of 0: the inter frames' intra flag, whose probability is
/// itself read as 0) and well under one for the usual probabilities. A macroblock reads at most
/// one such flag and a few modes or end-of-block tokens, under 16 bits; the frame header needs
/// a few hundred bits more.
pub fn vp8_partition_len(width: u16, height: u16) -> usize {
    let macroblocks = usize::from(width.div_ceil(16)) * usize::from(height.div_ceil(16));
    64 + 2 * macroblocks
}

/// The clear VP8 frame header (RFC 6386 §9.1): the 3-byte frame tag (key frame or not, version
/// 0, shown, first partition [`vp8_partition_len`] bytes) and, on keyframes, the start code and
/// the picture size.
pub fn vp8_header(key: bool, width: u16, height: u16) -> Vec<u8> {
    let first_partition = vp8_partition_len(width, height) as u32;
    let tag = u32::from(!key) | 0x10 | (first_partition << 5);
    let mut header = tag.to_le_bytes()[..3].to_vec();
    if key {
        header.extend_from_slice(&[0x9d, 0x01, 0x2a]);
        header.extend_from_slice(&width.to_le_bytes());
        header.extend_from_slice(&height.to_le_bytes());
    }
    header
}

/// The picture size a VP8 keyframe header announces (its first 10 bytes); `None` for a delta
/// frame or a header without the start code.
pub fn vp8_keyframe_size(header: &[u8]) -> Option<(u16, u16)> {
    let header = header.get(..10)?;
    if header[0] & 0x01 != 0 || header[3..6] != [0x9d, 0x01, 0x2a] {
        return None;
    }
    let width = u16::from_le_bytes([header[6], header[7]]) & 0x3fff;
    let height = u16::from_le_bytes([header[8], header[9]]) & 0x3fff;
    Some((width, height))
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

/// The length of the VP8 payload descriptor leading an RTP payload (RFC 7741 §4.2): one byte,
/// or more when its X bit announces picture id, TL0PICIDX or TID/KEYIDX fields, as browsers
/// send them. `None` if the payload is shorter than its descriptor.
pub fn vp8_descriptor_len(payload: &[u8]) -> Option<usize> {
    let first = *payload.first()?;
    if first & 0x80 == 0 {
        return Some(1);
    }
    let x = *payload.get(1)?;
    let mut len = 2;
    if x & 0x80 != 0 {
        // Picture id: 7 bits, or 15 when its M bit is set.
        len += if payload.get(len)? & 0x80 != 0 { 2 } else { 1 };
    }
    if x & 0x40 != 0 {
        len += 1;
    }
    if x & 0x30 != 0 {
        len += 1;
    }
    (payload.len() >= len).then_some(len)
}

/// Clear metadata length of a frame: the rule every Veil client applies
/// ([`veil_e2ee::clear_bytes`]).
pub fn metadata_len(kind: MediaKind, frame: &[u8]) -> usize {
    let kind = match kind {
        MediaKind::Audio => veil_e2ee::MediaKind::Audio,
        MediaKind::Video => veil_e2ee::MediaKind::Video,
    };
    veil_e2ee::clear_bytes(kind, frame)
}

/// The send time and frame number of a decrypted frame's plaintext; `None` for a frame without
/// a stamp (from a sender other than [`Source`]).
pub fn read_stamp(plaintext: &[u8], metadata_len: usize) -> Option<(u64, u64)> {
    let from = plaintext.len().checked_sub(STAMP_LEN).filter(|&at| at >= metadata_len)?;
    let stamp = &plaintext[from..];
    if stamp[..4] != STAMP_MARKER {
        return None;
    }
    let sent = u64::from_le_bytes(stamp[4..12].try_into().ok()?);
    let frame = u64::from_le_bytes(stamp[12..].try_into().ok()?);
    Some((sent, frame))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_sit_at_the_end_behind_zero_filler() {
        let plain = stamped(&[0x78], 7, 90);
        assert_eq!(plain.len(), 90);
        assert!(plain[1..70].iter().all(|&b| b == 0));
        assert_eq!(read_stamp(&plain, 1).map(|(_, frame)| frame), Some(7));
        assert_eq!(read_stamp(&[0x78; 90], 1), None, "no marker, no stamp");
        assert_eq!(read_stamp(&plain[..10], 1), None);
    }

    #[test]
    fn vp8_headers_announce_the_first_partition_and_the_picture() {
        let key = vp8_header(true, 320, 180);
        assert_eq!(key.len(), 10);
        assert_eq!(key[0] & 0x01, 0, "key frame");
        assert_eq!(key[0] & 0x10, 0x10, "shown");
        let first = (u32::from(key[0]) | u32::from(key[1]) << 8 | u32::from(key[2]) << 16) >> 5;
        assert_eq!(first as usize, vp8_partition_len(320, 180));
        assert_eq!(&key[3..6], &[0x9d, 0x01, 0x2a]);
        assert_eq!(vp8_keyframe_size(&key), Some((320, 180)));
        let delta = vp8_header(false, 320, 180);
        assert_eq!(delta.len(), 3);
        assert_eq!(vp8_keyframe_size(&delta), None);
        assert_eq!(metadata_len(MediaKind::Video, &delta), 3);
        assert_eq!(metadata_len(MediaKind::Video, &key), 10);
    }

    /// Decrypts `frame` and reads the picture size its keyframe header announces.
    fn announced(frame: &Frame, ring: &mut KeyRing) -> Option<(u16, u16)> {
        let data: Vec<u8> = frame.payloads.iter().flat_map(|p| p[1..].to_vec()).collect();
        let meta = metadata_len(MediaKind::Video, &data);
        let plain = ring.decrypt(meta, &data).expect("decrypts").plaintext;
        vp8_keyframe_size(&plain)
    }

    /// Polls `source` one video tick after `now`; returns the video frames by rid.
    fn tick(source: &mut Source, now: &mut Instant, ring: &mut KeyRing) -> Vec<Frame> {
        *now += Duration::from_millis(34);
        let mut out = Vec::new();
        source.poll(*now, ring, true, &mut out);
        out.retain(|f| f.kind == MediaKind::Video);
        out
    }

    fn rids(frames: &[Frame]) -> Vec<&'static str> {
        frames.iter().filter_map(|f| f.rid).collect()
    }

    #[test]
    fn each_layer_is_encrypted_on_its_own_and_its_keyframes_announce_its_size() {
        let mut ring = crate::participant::fixed_key_ring(0);
        let mut now = Instant::now();
        let mut source = Source::simulcast(now, true, &CAMERA_LAYERS, 1);
        let first = tick(&mut source, &mut now, &mut ring);
        assert_eq!(rids(&first), ["q", "h", "f"]);
        let sizes: Vec<_> = first.iter().map(|f| announced(f, &mut ring)).collect();
        assert_eq!(sizes, [Some((320, 180)), Some((640, 360)), Some((1280, 720))]);
        assert!(first[0].payloads.len() < first[2].payloads.len(), "f is the largest");
        let next = tick(&mut source, &mut now, &mut ring);
        assert!(next.iter().all(|f| !f.keyframe), "keyframes only at the start");
        source.request_keyframe(Some("h"));
        let asked = tick(&mut source, &mut now, &mut ring);
        let keys: Vec<_> = asked.iter().map(|f| (f.rid, f.keyframe)).collect();
        assert_eq!(keys, [(Some("q"), false), (Some("h"), true), (Some("f"), false)]);
    }

    #[test]
    fn layers_nobody_wants_pause_and_resume_with_a_keyframe() {
        let mut ring = crate::participant::fixed_key_ring(0);
        let mut now = Instant::now();
        let mut source = Source::simulcast(now, false, &CAMERA_LAYERS, 1);
        tick(&mut source, &mut now, &mut ring);
        source.set_layers_wanted(&["q".to_string()]);
        assert_eq!(source.sending_layers(), ["q"]);
        let paused = tick(&mut source, &mut now, &mut ring);
        assert_eq!(rids(&paused), ["q"]);
        source.set_layers_wanted(&["q".to_string(), "f".to_string()]);
        let resumed = tick(&mut source, &mut now, &mut ring);
        let keys: Vec<_> = resumed.iter().map(|f| (f.rid, f.keyframe)).collect();
        assert_eq!(keys, [(Some("q"), false), (Some("f"), true)]);
        assert_eq!(announced(&resumed[1], &mut ring), Some((1280, 720)));
    }

    #[test]
    fn one_layer_video_ignores_layer_messages() {
        let mut ring = crate::participant::fixed_key_ring(0);
        let mut now = Instant::now();
        let mut source = Source::new(now, false, Some(CAMERA_720P), 1);
        tick(&mut source, &mut now, &mut ring);
        source.set_layers_wanted(&[]);
        source.request_keyframe(None);
        let frames = tick(&mut source, &mut now, &mut ring);
        assert_eq!(frames.len(), 1);
        assert!(frames[0].rid.is_none() && frames[0].keyframe);
        assert_eq!(announced(&frames[0], &mut ring), Some((1280, 720)));
    }

    #[test]
    fn decodable_frames_outlast_what_a_decoder_reads() {
        let mut ring = crate::participant::fixed_key_ring(0);
        let mut now = Instant::now();
        let mut source = Source::new(now, false, Some(SMALL_CAMERA), 1);
        for _ in 0..10 {
            for f in tick(&mut source, &mut now, &mut ring) {
                let bytes: usize = f.payloads.iter().map(|p| p.len() - 1).sum();
                assert!(bytes > 2 * vp8_partition_len(320, 180), "{bytes} bytes");
            }
        }
    }

    #[test]
    fn descriptors_of_every_length_are_skipped() {
        assert_eq!(vp8_descriptor_len(&[0x10, 0xaa]), Some(1));
        // X, I with a 15-bit picture id: what browsers send.
        assert_eq!(vp8_descriptor_len(&[0x90, 0x80, 0x81, 0x23, 0xaa]), Some(4));
        // X, I (7-bit), L and T.
        assert_eq!(vp8_descriptor_len(&[0x90, 0xe0, 0x05, 0x01, 0x40, 0xaa]), Some(5));
        assert_eq!(vp8_descriptor_len(&[0x90, 0x80]), None);
        assert_eq!(vp8_descriptor_len(&[]), None);
    }
}
