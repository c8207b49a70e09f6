//! The SFU's Prometheus series (docs/metrics.md, "Media").
//!
//! The engine keeps plain counters and hands over link figures ([`crate::engine::observe`]); the
//! media thread publishes them here once a second ([`Publisher`]), so the packet path touches
//! no atomic. Forwarding delay and loop time are observed per wake-up into thread-local
//! histograms, flushed with the rest.

use std::sync::Arc;
use std::time::{Duration, Instant};

use prometheus::core::Collector;
use prometheus::local::LocalHistogram;
use prometheus::{
    Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
};
use str0m::media::MediaKind;
use veil_proto::media::{LinkSummary, WorstLinks};

use crate::engine::{Engine, LinkSample, Stats};

/// How often the media thread publishes.
pub const PUBLISH_INTERVAL: Duration = Duration::from_secs(1);

/// How many of the worst links the operator page lists.
const WORST_LINKS: usize = 10;

/// Seconds, from 25 µs to 250 ms: forwarding inside one process is well under a millisecond
/// when the node keeps up, and tens of milliseconds when it does not.
const DELAY_BUCKETS: &[f64] = &[
    0.000_025, 0.000_05, 0.000_1, 0.000_2, 0.000_5, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1,
    0.25,
];

/// The media series, registered once per process.
#[derive(Clone)]
pub struct SfuMetrics {
    sessions: IntGauge,
    published: IntGaugeVec,
    subscribed: IntGaugeVec,
    paused_layers: IntGauge,
    datagrams_received: IntCounter,
    bytes_received: IntCounter,
    datagrams_sent: IntCounter,
    bytes_sent: IntCounter,
    dropped: IntCounterVec,
    rtp_received: IntCounter,
    rtp_forwarded: IntCounter,
    nacks: IntCounter,
    retransmissions: IntCounter,
    keyframe_requests_received: IntCounter,
    keyframe_requests_sent: IntCounter,
    layer_switches: IntCounter,
    forwarding_delay: Histogram,
    engine_loop: Histogram,
    bandwidth: Histogram,
    loss: Histogram,
    jitter: Histogram,
    round_trip: Histogram,
    worst: WorstLinks,
}

fn counter(registry: &Registry, name: &str, help: &str) -> prometheus::Result<IntCounter> {
    register(registry, IntCounter::new(name, help)?)
}

fn histogram(
    registry: &Registry,
    name: &str,
    help: &str,
    buckets: Vec<f64>,
) -> prometheus::Result<Histogram> {
    register(registry, Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets))?)
}

fn register<C: Collector + Clone + 'static>(registry: &Registry, c: C) -> prometheus::Result<C> {
    registry.register(Box::new(c.clone()))?;
    Ok(c)
}

impl std::fmt::Debug for SfuMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SfuMetrics")
    }
}

impl SfuMetrics {
    /// Registers every media series in `registry`; fails if one is there already.
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        let tracks = |name: &str, help: &str| {
            register(registry, IntGaugeVec::new(Opts::new(name, help), &["kind", "source"])?)
        };
        Ok(Self {
            sessions: register(
                registry,
                IntGauge::new("veil_media_sessions", "Participants' media connections")?,
            )?,
            published: tracks("veil_published_tracks", "Tracks publishers send")?,
            subscribed: tracks(
                "veil_subscribed_tracks",
                "Tracks forwarded to subscribers (one per subscriber per track)",
            )?,
            paused_layers: register(
                registry,
                IntGauge::new(
                    "veil_paused_layers",
                    "Simulcast layers publishers were told to stop: nobody needs them",
                )?,
            )?,
            datagrams_received: counter(
                registry,
                "veil_datagrams_received_total",
                "UDP datagrams the media socket received",
            )?,
            bytes_received: counter(
                registry,
                "veil_datagram_bytes_received_total",
                "Bytes of UDP datagrams the media socket received",
            )?,
            datagrams_sent: counter(
                registry,
                "veil_datagrams_sent_total",
                "UDP datagrams the media socket sent",
            )?,
            bytes_sent: counter(
                registry,
                "veil_datagram_bytes_sent_total",
                "Bytes of UDP datagrams the media socket sent",
            )?,
            dropped: register(
                registry,
                IntCounterVec::new(
                    Opts::new("veil_datagrams_dropped_total", "Datagrams no peer took"),
                    &["reason"],
                )?,
            )?,
            rtp_received: counter(
                registry,
                "veil_rtp_packets_received_total",
                "RTP packets received from publishers",
            )?,
            rtp_forwarded: counter(
                registry,
                "veil_rtp_packets_forwarded_total",
                "RTP packets handed to subscribers' connections",
            )?,
            nacks: counter(registry, "veil_nacks_received_total", "NACKs subscribers sent")?,
            retransmissions: counter(
                registry,
                "veil_retransmissions_sent_total",
                "Packets resent (RTX) for NACKs",
            )?,
            keyframe_requests_received: counter(
                registry,
                "veil_keyframe_requests_received_total",
                "PLI and FIR from subscribers",
            )?,
            keyframe_requests_sent: counter(
                registry,
                "veil_keyframe_requests_sent_total",
                "Keyframe requests the SFU sent publishers",
            )?,
            layer_switches: counter(
                registry,
                "veil_layer_switches_total",
                "Times a subscriber moved to another simulcast layer",
            )?,
            forwarding_delay: histogram(
                registry,
                "veil_forwarding_delay_seconds",
                "Datagram received to datagram sent, on the media thread's clock",
                DELAY_BUCKETS.to_vec(),
            )?,
            engine_loop: histogram(
                registry,
                "veil_engine_loop_seconds",
                "One wake-up of the media thread: its input and sending what came of it",
                DELAY_BUCKETS.to_vec(),
            )?,
            bandwidth: histogram(
                registry,
                "veil_subscriber_bandwidth_bits_per_second",
                "Per subscriber each second: its link's limit where one was found, else what \
                 the SFU sent it",
                prometheus::exponential_buckets(32_000.0, 2.0, 10)?,
            )?,
            loss: histogram(
                registry,
                "veil_receiver_loss_ratio",
                "Per forwarded stream and receiver report: the share of packets lost",
                vec![0.0, 0.005, 0.01, 0.02, 0.05, 0.08, 0.1, 0.2, 0.5],
            )?,
            jitter: histogram(
                registry,
                "veil_receiver_jitter_seconds",
                "Per forwarded stream and receiver report: interarrival jitter",
                vec![0.001, 0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2],
            )?,
            round_trip: histogram(
                registry,
                "veil_round_trip_seconds",
                "Per participant each second: the round trip to its browser",
                vec![0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0],
            )?,
            worst: WorstLinks::default(),
        })
    }

    /// The SFU's worst links, for the operator page.
    pub fn worst_links(&self) -> WorstLinks {
        Arc::clone(&self.worst)
    }
}

/// Publishes one engine's figures from the media thread.
pub(crate) struct Publisher {
    metrics: SfuMetrics,
    /// The engine's counters at the last publication.
    last: Stats,
    next: Instant,
    forwarding_delay: LocalHistogram,
    engine_loop: LocalHistogram,
    samples: Vec<LinkSample>,
}

impl Publisher {
    pub fn new(metrics: SfuMetrics, now: Instant) -> Self {
        Self {
            forwarding_delay: metrics.forwarding_delay.local(),
            engine_loop: metrics.engine_loop.local(),
            metrics,
            last: Stats::default(),
            next: now,
            samples: Vec::new(),
        }
    }

    /// One wake-up took `loop_time`; if it handled received datagrams, the `sent` datagrams it
    /// produced left `delay` after their batch was received.
    pub fn wake_up(&mut self, loop_time: Duration, forwarded: Option<(Duration, u64)>) {
        self.engine_loop.observe(loop_time.as_secs_f64());
        if let Some((delay, sent)) = forwarded {
            let seconds = delay.as_secs_f64();
            for _ in 0..sent {
                self.forwarding_delay.observe(seconds);
            }
        }
    }

    /// Publishes everything if [`PUBLISH_INTERVAL`] has passed since the last time.
    pub fn maybe_publish(&mut self, now: Instant, engine: &mut Engine) {
        if now < self.next {
            return;
        }
        self.next = now + PUBLISH_INTERVAL;
        self.publish_counters(engine.stats());
        self.publish_census(engine);
        self.publish_links(engine);
        self.forwarding_delay.flush();
        self.engine_loop.flush();
    }

    fn publish_counters(&mut self, now: Stats) {
        let (m, last) = (&self.metrics, std::mem::replace(&mut self.last, now));
        let add = |c: &IntCounter, now: u64, last: u64| c.inc_by(now.saturating_sub(last));
        add(&m.datagrams_received, now.datagrams_in, last.datagrams_in);
        add(&m.bytes_received, now.bytes_in, last.bytes_in);
        add(&m.datagrams_sent, now.datagrams_out, last.datagrams_out);
        add(&m.bytes_sent, now.bytes_out, last.bytes_out);
        add(&m.rtp_received, now.rtp_in, last.rtp_in);
        add(&m.rtp_forwarded, now.rtp_forwarded, last.rtp_forwarded);
        add(&m.nacks, now.nacks_received, last.nacks_received);
        add(&m.retransmissions, now.retransmissions_sent, last.retransmissions_sent);
        let (kf_in, kf_out) = (&m.keyframe_requests_received, &m.keyframe_requests_sent);
        add(kf_in, now.keyframe_requests_received, last.keyframe_requests_received);
        add(kf_out, now.keyframe_requests_sent, last.keyframe_requests_sent);
        add(&m.layer_switches, now.layer_switches, last.layer_switches);
        for (reason, now, last) in [
            ("unparseable", now.dropped_unparseable, last.dropped_unparseable),
            ("unknown_source", now.dropped_unknown_source, last.dropped_unknown_source),
            ("no_candidate", now.dropped_no_candidate, last.dropped_no_candidate),
            ("refused", now.dropped_by_peer, last.dropped_by_peer),
        ] {
            add(&m.dropped.with_label_values(&[reason]), now, last);
        }
    }

    fn publish_census(&self, engine: &Engine) {
        let census = engine.census();
        let m = &self.metrics;
        m.sessions.set(census.sessions as i64);
        m.paused_layers.set(census.paused_layers as i64);
        for (gauge, counts) in
            [(&m.published, census.published), (&m.subscribed, census.subscribed)]
        {
            for (kind, source, n) in counts.iter() {
                let kind = match kind {
                    MediaKind::Audio => "audio",
                    MediaKind::Video => "video",
                };
                gauge.with_label_values(&[kind, source.as_str()]).set(i64::from(n));
            }
        }
    }

    fn publish_links(&mut self, engine: &mut Engine) {
        engine.take_link_samples(&mut self.samples);
        let m = &self.metrics;
        for sample in self.samples.drain(..) {
            match sample {
                LinkSample::Bandwidth { bits_per_second } => {
                    m.bandwidth.observe(bits_per_second as f64)
                }
                LinkSample::RoundTrip(rtt) => m.round_trip.observe(rtt.as_secs_f64()),
                LinkSample::Loss(loss) => m.loss.observe(f64::from(loss)),
                LinkSample::Jitter(jitter) => m.jitter.observe(jitter.as_secs_f64()),
            }
        }
        let mut links: Vec<LinkSummary> = engine
            .link_states()
            .filter(|l| l.loss.is_some() || l.rtt.is_some())
            .map(|l| LinkSummary {
                session: l.session,
                loss: l.loss,
                rtt_ms: l.rtt.map(|r| r.as_secs_f64() * 1000.0),
            })
            .collect();
        // Most loss first, then the longest round trip.
        links.sort_by(|a, b| {
            let key = |l: &LinkSummary| (l.loss.unwrap_or(0.0) as f64, l.rtt_ms.unwrap_or(0.0));
            key(b).partial_cmp(&key(a)).unwrap_or(std::cmp::Ordering::Equal)
        });
        links.truncate(WORST_LINKS);
        if let Ok(mut worst) = m.worst.lock() {
            *worst = links;
        }
    }
}
