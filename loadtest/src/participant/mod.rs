//! One synthetic participant: a [`Plan`] in, an [`Outcome`] out.
//!
//! Three transports share the media and receive logic: [`veil`] speaks the browser's protocol
//! to `veil serve` (WebSocket signaling, str0m ICE/DTLS-SRTP in RTP mode, MLS keys), [`janus`]
//! publishes and subscribes through a Janus VideoRoom with the same str0m [`link`]s, and
//! [`crate::null`] sends fixed-key SRTP to the null forwarder. Where there is no MLS (Janus and
//! the null forwarder) every participant keys SFrame with one fixed epoch secret
//! ([`fixed_key_ring`]), so frames are encrypted exactly as often. Progress goes to a [`Shared`] of
//! atomics the scenario prints once a second; the measured window is set there too, so every
//! participant counts exactly the same span of time without locks.

pub mod janus;
pub mod link;
mod receive;
pub mod secure;
pub mod veil;

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use serde::Serialize;
use veil_e2ee::KeyRing;

pub use receive::{Received, Receiver, RtpIn, StreamCount, Window};

use crate::layout::Layout;
use crate::media::{Layer, Schedule, Source, VideoProfile};

/// What a participant publishes, how it shows what it receives, and how many streams it should
/// end up decrypting.
#[derive(Debug, Clone, Copy)]
pub struct Role {
    pub audio: bool,
    pub video: Option<VideoProfile>,
    /// Send the video as these simulcast layers instead of as `video` alone (Veil only).
    pub simulcast: Option<&'static [Layer]>,
    /// The tile sizes it reports for the videos it receives (Veil only); `None` reports none,
    /// and the SFU sends every video's top layer.
    pub layout: Option<Layout>,
    pub expect_streams: usize,
}

impl Role {
    pub fn publishes(&self) -> bool {
        self.audio || self.video.is_some()
    }

    /// The media clock of what it publishes, starting at `now`.
    pub fn source(&self, now: std::time::Instant, seed: u64) -> Source {
        match self.simulcast {
            Some(layers) if self.video.is_some() => {
                Source::simulcast(now, self.audio, layers, seed)
            }
            _ => Source::new(now, self.audio, self.video, seed),
        }
    }
}

/// Where a participant connects.
#[derive(Debug, Clone)]
pub enum Target {
    /// `veil serve` at this HTTP address, with a join token.
    Veil { http: SocketAddr, token: String },
    /// The null forwarder's UDP address.
    Null { udp: SocketAddr },
    /// A Janus VideoRoom: Janus's WebSocket API at `api`, the room the harness created, the
    /// address to bind media sockets to (the only one Janus's ICE can reach) and the receive
    /// and send buffer bytes those sockets keep (see [`crate::janus`]).
    Janus { api: SocketAddr, room: u64, bind: IpAddr },
}

/// The SFrame epoch secret participants share where there is no MLS. Benchmarking only.
const FIXED_EPOCH_SECRET: [u8; 16] = [7; 16];

/// A key ring holding [`FIXED_EPOCH_SECRET`] as epoch 0, sending as leaf `index`: every
/// participant of a run can decrypt every other's frames without a key exchange.
pub fn fixed_key_ring(index: usize) -> KeyRing {
    let mut ring = KeyRing::new();
    let _ = ring.set_epoch(0, &FIXED_EPOCH_SECRET, index as u32, 0);
    ring
}

/// One participant to run.
#[derive(Debug, Clone)]
pub struct Plan {
    pub index: usize,
    pub room: String,
    pub role: Role,
    pub target: Target,
}

/// Join milestones, ns since [`crate::start`].
#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct JoinTimes {
    pub start_ns: u64,
    pub joined_ns: Option<u64>,
    pub keyed_ns: Option<u64>,
    pub connected_ns: Option<u64>,
    pub first_packet_ns: Option<u64>,
    pub first_keyframe_ns: Option<u64>,
}

/// What a participant reports when it stops.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub index: usize,
    pub join: JoinTimes,
    pub received: Received,
    pub schedule: Schedule,
    /// RTP packets written during the window.
    pub sent_packets: u64,
    /// The simulcast layers it was still sending when it stopped (the others paused because
    /// the SFU said nobody needed them).
    pub sending_layers: Vec<&'static str>,
    pub error: Option<String>,
}

/// Counters and the measured window, shared by every participant and the scenario.
#[derive(Debug, Default)]
pub struct Shared {
    pub joined: AtomicUsize,
    pub connected: AtomicUsize,
    /// Participants decrypting every stream they expect.
    pub ready: AtomicUsize,
    pub failed: AtomicUsize,
    pub packets: AtomicU64,
    window_from: AtomicU64,
    window_to: AtomicU64,
}

impl Shared {
    /// Starts counting at `from_ns`.
    pub fn open_window(&self, from_ns: u64) {
        self.window_to.store(u64::MAX, Ordering::Relaxed);
        self.window_from.store(from_ns.max(1), Ordering::Relaxed);
    }

    /// Stops counting at `to_ns`.
    pub fn close_window(&self, to_ns: u64) {
        self.window_to.store(to_ns, Ordering::Relaxed);
    }

    /// The window, once opened.
    pub fn window(&self) -> Option<Window> {
        let from = self.window_from.load(Ordering::Relaxed);
        (from != 0).then(|| Window { from, to: self.window_to.load(Ordering::Relaxed) })
    }

    pub fn counting(&self, ns: u64) -> bool {
        self.window().is_some_and(|w| w.contains(ns))
    }

    pub fn add(counter: &AtomicUsize) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn get(counter: &AtomicUsize) -> usize {
        counter.load(Ordering::Relaxed)
    }
}

/// Bookkeeping both transports do around the receiver.
pub struct Tally {
    pub join: JoinTimes,
    pub receiver: Receiver,
    pub sent_packets: u64,
    ready: bool,
    expect_streams: usize,
}

impl Tally {
    pub fn new(expect_streams: usize) -> Self {
        let join = JoinTimes { start_ns: crate::now_ns(), ..JoinTimes::default() };
        Self { join, receiver: Receiver::default(), sent_packets: 0, ready: false, expect_streams }
    }

    /// After each received packet: milestones and the ready count.
    pub fn after_receive(&mut self, shared: &Shared) {
        self.join.first_packet_ns = self.receiver.first_packet_ns;
        self.join.first_keyframe_ns = self.receiver.first_keyframe_ns;
        if !self.ready && self.receiver.decrypting_streams >= self.expect_streams {
            self.ready = true;
            Shared::add(&shared.ready);
        }
    }

    /// Marks readiness for participants that expect nothing.
    pub fn check_ready(&mut self, shared: &Shared) {
        if !self.ready && self.expect_streams == 0 {
            self.ready = true;
            Shared::add(&shared.ready);
        }
    }

    pub fn finish(self, index: usize, schedule: Schedule, error: Option<String>) -> Outcome {
        let received = self.receiver.finish();
        Outcome {
            index,
            join: self.join,
            received,
            schedule,
            sent_packets: self.sent_packets,
            sending_layers: Vec::new(),
            error,
        }
    }
}
