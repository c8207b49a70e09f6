//! # Veil load test
//!
//! Runs many synthetic participants in one process against a running `veil serve` and reports
//! what the node carries and how much delay it adds. The participants speak exactly the
//! protocol a browser speaks: a join token, WebSocket signaling, ICE, DTLS-SRTP (str0m in RTP
//! mode, one UDP socket each on 127.0.0.1), MLS key agreement and SFrame-encrypted frames
//! through `veil-e2ee`.
//!
//! ## The model
//!
//! ```text
//!   scenario  (audio | meeting | webinar | join-storm)
//!      |  plans: who joins, when, publishing what
//!      v
//!   participant tasks  (one tokio current-thread runtime; one task per participant)
//!      |  media::Source: frames on schedule (cameras in simulcast layers), SFrame-encrypted,
//!      |    packetized (~1150-byte RTP); layout: the tile sizes a subscriber reports
//!      |  receive::Receiver: reassemble, decrypt, per-stream seq/jitter/latency accounting,
//!      |    the picture height each video stream arrives at
//!      v
//!   server under test   veil serve  |  null forwarder (baseline)  |  Janus VideoRoom (baseline)
//!      |  procstat: sum of the server threads' schedstat run time, VmRSS
//!      v
//!   report: JSON, human summary, SVG plots, docs/benchmarks.md tables
//! ```
//!
//! Every frame carries the monotonic time it was sent (ns since [`start`]) inside its
//! encrypted payload. Publisher and subscriber share the clock, so receive time minus send time
//! is the one-way delay through the server plus both endpoints' stacks; running the same
//! workload through the [`null`] forwarder in the same run gives the part that is not the
//! server's routing, and running it through [`janus`] (a widely deployed SFU) gives a yardstick
//! for what a production forwarder spends on it.
//!
//! Runs are only as good as the generator: a run whose generator used more than
//! [`SATURATION_CPU`] of a core, or fell behind its send schedule, is marked void, never
//! hidden.

pub mod bench;
pub mod cascade;
pub mod impair;
pub mod janus;
pub mod join;
pub mod layout;
pub mod media;
pub mod null;
pub mod participant;
pub mod procstat;
pub mod report;
pub mod scenario;
pub mod server;
pub mod stats;
pub mod svg;

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

/// Generator CPU share of one core above which a run is void.
pub const SATURATION_CPU: f64 = 0.85;

static GENERATOR_THREADS: AtomicUsize = AtomicUsize::new(1);

/// Worker threads the generator runs on (1 unless `--generator-threads` says otherwise); a run
/// is void above [`SATURATION_CPU`] of that many cores.
pub fn generator_threads() -> usize {
    GENERATOR_THREADS.load(Ordering::Relaxed).max(1)
}

/// Records how many worker threads the generator's runtime has.
pub fn set_generator_threads(threads: usize) {
    GENERATOR_THREADS.store(threads.max(1), Ordering::Relaxed);
}

static START: OnceLock<Instant> = OnceLock::new();

/// The shared process start every send and receive timestamp counts from.
pub fn start() -> Instant {
    *START.get_or_init(Instant::now)
}

/// Nanoseconds from [`start`] to `at` (0 if `at` is earlier).
pub fn ns_at(at: Instant) -> u64 {
    at.saturating_duration_since(start()).as_nanos() as u64
}

/// Nanoseconds from [`start`] to now.
pub fn now_ns() -> u64 {
    ns_at(Instant::now())
}
