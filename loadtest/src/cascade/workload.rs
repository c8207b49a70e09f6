//! The simulated population: rooms, who publishes, and what each participant watches.
//!
//! Rooms come in three kinds, drawn until the participants are used up (the last room takes
//! what is left): many small meetings, some medium ones, and a few webinars with a handful of
//! publishers and hundreds of viewers. In a meeting everyone publishes a camera (three
//! simulcast layers) and a microphone; at most [`OPEN_MICS`] microphones of a room are open.
//!
//! Each participant watches up to [`MAX_TILES`] of the room's cameras: the active speaker
//! large (720 pixels: the `f` layer), the others in an equal grid of a 1080-pixel window,
//! each at the smallest layer that fills its cell, by the SFU's rule (`engine::layers::choose`:
//! a layer fills a tile when its height is at least 80 % of the tile's). What a participant
//! watches is what its node must send it, whatever node it sits on.

use std::ops::Range;

use serde::Serialize;

use super::rng::{Rng, Stream};
use crate::layout::{SPEAKER_HEIGHT, grid_height};
use crate::media::{AUDIO_INTERVAL, CAMERA_LAYERS, VideoProfile};

/// Cameras one participant shows at most; the rest of a large room is off screen and not sent.
pub const MAX_TILES: usize = 25;
/// Microphones open at once in one room; beyond that, people mute (as large meetings do).
pub const OPEN_MICS: usize = 6;
/// The active speaker of every room: its first member.
const SPEAKER: usize = 0;
/// Opus payload per 20 ms packet, as the load test sends it (`media.rs`): about 36 kbit/s.
const AUDIO_PAYLOAD_BYTES: f64 = 90.0;
/// IPv4 (20) + UDP (8) + RTP (12) + header extensions (12) + SRTP tag (16), per packet.
const PACKET_OVERHEAD_BYTES: f64 = 68.0;

/// What a subscriber gets of one publisher: its microphone, or one layer of its camera.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Track {
    Audio,
    /// 320×180 at 150 kbit/s.
    Q,
    /// 640×360 at 500 kbit/s.
    H,
    /// 1280×720 at 1.5 Mbit/s.
    F,
}

impl Track {
    const VIDEO: [Track; 3] = [Track::Q, Track::H, Track::F];
}

/// One stream on the wire.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Rates {
    pub pps: f64,
    pub bps: f64,
}

impl std::ops::AddAssign for Rates {
    fn add_assign(&mut self, other: Self) {
        self.pps += other.pps;
        self.bps += other.bps;
    }
}

/// What each kind of stream costs: packets and bits per second, headers included.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct MediaCosts {
    pub audio: Rates,
    /// The camera's layers q, h, f, as `CAMERA_LAYERS` sends them (the browser's caps in
    /// client-js/src/media.ts, the SFU's in sfu/src/engine/allocate.rs).
    pub video: [Rates; 3],
}

impl MediaCosts {
    pub fn of_the_load_test() -> Self {
        let pps = 1.0 / AUDIO_INTERVAL.as_secs_f64();
        let audio = Rates { pps, bps: pps * (AUDIO_PAYLOAD_BYTES + PACKET_OVERHEAD_BYTES) * 8.0 };
        Self { audio, video: CAMERA_LAYERS.map(|l| video_rates(&l.profile)) }
    }

    pub fn of(&self, track: Track) -> Rates {
        match track {
            Track::Audio => self.audio,
            Track::Q => self.video[0],
            Track::H => self.video[1],
            Track::F => self.video[2],
        }
    }
}

/// Packets and bits per second of a camera layer, frame by frame as `media.rs` sizes them: one
/// keyframe per interval at `keyframe_ratio` times a delta frame, each frame split into
/// payloads of at most `packet_payload` bytes.
fn video_rates(p: &VideoProfile) -> Rates {
    let interval = p.keyframe_interval.as_secs_f64();
    let frames = interval * f64::from(p.fps);
    let per_frame = p.bitrate_bps as f64 / 8.0 / f64::from(p.fps);
    let delta = frames * per_frame / (frames - 1.0 + p.keyframe_ratio);
    let packets = |bytes: f64| (bytes / p.packet_payload as f64).ceil();
    let pps = ((frames - 1.0) * packets(delta) + packets(delta * p.keyframe_ratio)) / interval;
    Rates { pps, bps: p.bitrate_bps as f64 + pps * PACKET_OVERHEAD_BYTES * 8.0 }
}

/// The camera layer a tile `height` pixels high gets: the smallest that fills it.
pub fn layer_for_tile(height: u32) -> Track {
    CAMERA_LAYERS
        .iter()
        .position(|l| u32::from(l.profile.height) * 5 >= height * 4)
        .map_or(Track::F, |i| Track::VIDEO[i])
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RoomKind {
    /// 2–10 people, everyone on camera.
    Small,
    /// 11–50 people, everyone on camera.
    Medium,
    /// 100–1000 people, 1–4 of them publishing.
    Webinar,
}

impl RoomKind {
    pub const ALL: [RoomKind; 3] = [RoomKind::Small, RoomKind::Medium, RoomKind::Webinar];
    /// Of every 1000 rooms: 870 small, 125 medium, 5 webinars. By participants that is about
    /// 45 %, 35 % and 20 %.
    const MIX: [f64; 3] = [870.0, 125.0, 5.0];

    pub fn label(self) -> &'static str {
        match self {
            RoomKind::Small => "meetings of 2-10",
            RoomKind::Medium => "meetings of 11-50",
            RoomKind::Webinar => "webinars of 100-1000",
        }
    }

    /// A size and a number of publishers for a room of this kind.
    fn draw(self, rng: &mut Rng) -> (usize, usize) {
        match self {
            RoomKind::Small => everyone_publishes(inverse_weighted(2, 10, rng)),
            RoomKind::Medium => everyone_publishes(inverse_weighted(11, 50, rng)),
            RoomKind::Webinar => (log_uniform(100, 1000, rng), 1 + rng.below(4)),
        }
    }
}

fn everyone_publishes(size: usize) -> (usize, usize) {
    (size, size)
}

/// A size in lo..=hi, each in proportion to 1/size: small meetings are the most common.
fn inverse_weighted(lo: usize, hi: usize, rng: &mut Rng) -> usize {
    let weights: Vec<f64> = (lo..=hi).map(|k| 1.0 / k as f64).collect();
    lo + rng.weighted(&weights)
}

/// A size in lo..=hi whose logarithm is uniform.
fn log_uniform(lo: usize, hi: usize, rng: &mut Rng) -> usize {
    let (a, b) = ((lo as f64).ln(), (hi as f64).ln());
    ((a + rng.unit() * (b - a)).exp().round() as usize).clamp(lo, hi)
}

/// One room: its members are the participants `first..first + size`, the first `publishers`
/// of them publishing, the very first the active speaker.
#[derive(Debug, Clone, Serialize)]
pub struct Room {
    pub name: String,
    pub kind: RoomKind,
    pub first: usize,
    pub size: usize,
    pub publishers: usize,
}

impl Room {
    pub fn members(&self) -> Range<usize> {
        self.first..self.first + self.size
    }
}

/// One stream a participant receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Receive {
    /// The publishing participant.
    pub publisher: usize,
    pub track: Track,
}

#[derive(Debug, Clone)]
pub struct Participant {
    pub room: usize,
    pub receives: Vec<Receive>,
    /// What its node sends it: the sum of what it receives.
    pub load: Rates,
}

/// The whole population.
#[derive(Debug, Clone)]
pub struct Workload {
    pub rooms: Vec<Room>,
    pub participants: Vec<Participant>,
    pub costs: MediaCosts,
}

impl Workload {
    /// Packets per second the room's members receive together.
    pub fn room_load(&self, room: &Room) -> f64 {
        room.members().map(|m| self.participants[m].load.pps).sum()
    }

    /// What every node together sends participants, wherever they sit.
    pub fn demand(&self) -> Rates {
        let mut total = Rates::default();
        for p in &self.participants {
            total += p.load;
        }
        total
    }
}

/// Rooms for exactly `participants` people, the same for the same seed.
pub fn generate(participants: usize, seed: u64) -> Workload {
    let mut rng = Rng::new(seed, Stream::Rooms);
    Workload::of_rooms(draw_rooms(participants, &mut rng))
}

impl Workload {
    /// The participants of `rooms` (whose members must be numbered 0, 1, … in room order) and
    /// what each watches.
    pub fn of_rooms(rooms: Vec<Room>) -> Self {
        let costs = MediaCosts::of_the_load_test();
        let participants = rooms
            .iter()
            .enumerate()
            .flat_map(|(r, room)| room.members().map(move |m| (r, room, m - room.first)))
            .map(|(r, room, member)| participant(r, room, member, &costs))
            .collect();
        Workload { rooms, participants, costs }
    }
}

/// Rooms of drawn kinds and sizes until `total` people are seated; the last room is cut to fit.
fn draw_rooms(total: usize, rng: &mut Rng) -> Vec<Room> {
    let mut rooms = Vec::new();
    let mut seated = 0;
    while seated < total {
        let kind = RoomKind::ALL[rng.weighted(&RoomKind::MIX)];
        let (size, publishers) = kind.draw(rng);
        let size = size.min(total - seated);
        let name = format!("room-{}", rooms.len());
        rooms.push(Room { name, kind, first: seated, size, publishers: publishers.min(size) });
        seated += size;
    }
    rooms
}

fn participant(room_index: usize, room: &Room, member: usize, costs: &MediaCosts) -> Participant {
    let receives = watch(room, member);
    let mut load = Rates::default();
    for r in &receives {
        load += costs.of(r.track);
    }
    Participant { room: room_index, receives, load }
}

/// The streams `member` (an index within the room) receives: every open microphone but its
/// own, and up to [`MAX_TILES`] cameras, the speaker's large and the rest in a grid.
fn watch(room: &Room, member: usize) -> Vec<Receive> {
    let not_mine = |&p: &usize| p != member;
    let cameras: Vec<usize> = (0..room.publishers).filter(not_mine).take(MAX_TILES).collect();
    let grid = layer_for_tile(grid_height(cameras.len()));
    let open_mics = 0..room.publishers.min(OPEN_MICS);
    let audio = open_mics.filter(not_mine).map(|p| (p, Track::Audio));
    let video = cameras.iter().map(|&p| (p, if p == SPEAKER { speaker_layer() } else { grid }));
    audio.chain(video).map(|(p, track)| Receive { publisher: room.first + p, track }).collect()
}

fn speaker_layer() -> Track {
    layer_for_tile(SPEAKER_HEIGHT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_get_the_smallest_layer_that_fills_them() {
        assert_eq!(layer_for_tile(135), Track::Q);
        assert_eq!(layer_for_tile(216), Track::Q);
        assert_eq!(layer_for_tile(270), Track::H);
        assert_eq!(layer_for_tile(360), Track::H);
        assert_eq!(layer_for_tile(540), Track::F);
        assert_eq!(layer_for_tile(1080), Track::F);
    }

    #[test]
    fn layer_rates_follow_the_camera_profiles() {
        let c = MediaCosts::of_the_load_test();
        assert_eq!(c.audio.pps, 50.0);
        let pps: Vec<f64> = c.video.iter().map(|r| r.pps).collect();
        assert!(pps[0] > 30.0 && pps[0] < 32.0, "q: one packet a frame, three a keyframe");
        assert!(pps[1] > 60.0 && pps[1] < 64.0, "h: {pps:?}");
        assert!(pps[2] > 180.0 && pps[2] < 190.0, "f: {pps:?}");
        assert!(c.video[2].bps > 1_500_000.0 && c.video[2].bps < 1_650_000.0);
    }

    #[test]
    fn the_rooms_seat_exactly_everyone_once() {
        let w = generate(10_000, 3);
        assert_eq!(w.participants.len(), 10_000);
        let mut next = 0;
        for (i, room) in w.rooms.iter().enumerate() {
            assert_eq!(room.first, next);
            assert!(room.size >= 1 && room.publishers <= room.size);
            assert!(room.members().all(|m| w.participants[m].room == i));
            next += room.size;
        }
        assert_eq!(next, 10_000);
        for kind in RoomKind::ALL {
            assert!(w.rooms.iter().any(|r| r.kind == kind), "{kind:?} drawn");
        }
    }

    #[test]
    fn a_member_watches_its_room_and_never_itself() {
        let w = generate(2_000, 5);
        for (i, p) in w.participants.iter().enumerate() {
            let room = &w.rooms[p.room];
            for r in &p.receives {
                assert!(room.members().contains(&r.publisher));
                assert!(r.publisher - room.first < room.publishers, "from a publisher");
                assert_ne!(r.publisher, i);
            }
            let cameras = p.receives.iter().filter(|r| r.track != Track::Audio).count();
            assert!(cameras <= MAX_TILES);
        }
    }

    #[test]
    fn a_six_person_meeting_shows_the_speaker_large_and_the_rest_at_360p() {
        let room =
            Room { name: "r".into(), kind: RoomKind::Small, first: 10, size: 6, publishers: 6 };
        let seen = watch(&room, 3);
        let track_of = |p: usize| seen.iter().find(|r| r.publisher == p && r.track != Track::Audio);
        assert_eq!(track_of(10).map(|r| r.track), Some(Track::F), "the speaker");
        assert_eq!(track_of(11).map(|r| r.track), Some(Track::H));
        assert!(track_of(13).is_none(), "not its own");
        assert_eq!(seen.iter().filter(|r| r.track == Track::Audio).count(), 5);
    }
}
