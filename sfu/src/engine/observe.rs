//! What the engine tells an operator, beyond its counters ([`super::Stats`]): a census of what it
//! holds ([`Census`]), and what each link's reports said ([`LinkSample`], [`LinkState`]).
//!
//! Nothing here names a participant, a room or an address: sessions appear by their opaque
//! number, tracks by kind and source. The shell turns these into Prometheus series
//! (`crate::metrics`); tests read them directly.

use std::time::Duration;

use str0m::media::MediaKind;
use veil_proto::media::SessionId;
use veil_proto::room::Source;

/// Tracks counted by kind and source.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TrackCounts([[u32; Source::ALL.len()]; 2]);

impl TrackCounts {
    pub(crate) fn add(&mut self, kind: MediaKind, source: Source) {
        self.0[kind_index(kind)][source_index(source)] += 1;
    }

    /// How many tracks of `kind` carry `source`.
    pub fn get(&self, kind: MediaKind, source: Source) -> u32 {
        self.0[kind_index(kind)][source_index(source)]
    }

    /// Every (kind, source) pair a track can be, with its count, zeros included, so a series
    /// that drops to zero is reported as zero rather than left at its last value.
    pub fn iter(&self) -> impl Iterator<Item = (MediaKind, Source, u32)> + '_ {
        [
            (MediaKind::Audio, Source::Microphone),
            (MediaKind::Audio, Source::ScreenAudio),
            (MediaKind::Video, Source::Camera),
            (MediaKind::Video, Source::Screen),
        ]
        .into_iter()
        .map(|(kind, source)| (kind, source, self.get(kind, source)))
    }

    /// All tracks, whatever their kind and source.
    pub fn total(&self) -> u32 {
        self.0.iter().flatten().sum()
    }
}

fn kind_index(kind: MediaKind) -> usize {
    match kind {
        MediaKind::Audio => 0,
        MediaKind::Video => 1,
    }
}

fn source_index(source: Source) -> usize {
    Source::ALL.iter().position(|s| *s == source).unwrap_or(0)
}

/// What the engine holds at one moment ([`super::Engine::census`]).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Census {
    /// Media sessions, connected or connecting.
    pub sessions: usize,
    /// Rooms with at least one session.
    pub rooms: usize,
    /// Tracks publishers send.
    pub published: TrackCounts,
    /// Tracks forwarded to subscribers: one per subscriber per track.
    pub subscribed: TrackCounts,
    /// Simulcast layers publishers were told nobody needs.
    pub paused_layers: usize,
}

/// One figure from one link's report, for the distributions an operator watches.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LinkSample {
    /// Once a second per subscriber: its link's limit where one was found, else what was sent.
    Bandwidth { bits_per_second: u64 },
    /// Once a second per participant: the round trip to it.
    RoundTrip(Duration),
    /// Per forwarded stream and receiver report: the share of packets the subscriber lost.
    Loss(f32),
    /// Per forwarded stream and receiver report: interarrival jitter at the subscriber.
    Jitter(Duration),
}

/// A session's latest link figures, to find the worst links on the node.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkState {
    pub session: SessionId,
    /// The largest loss its receiver reports gave for any stream, in the last report.
    pub loss: Option<f32>,
    pub rtt: Option<Duration>,
}

/// Samples kept for [`super::Engine::take_link_samples`] when nobody takes them: an engine
/// without an operator view (a test) must not grow.
pub(crate) const MAX_PENDING_SAMPLES: usize = 16_384;
