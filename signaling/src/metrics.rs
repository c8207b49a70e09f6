//! What an operator watches (docs/metrics.md): the Prometheus series of signaling and the
//! process, `/metrics`, and the data behind the `/admin` dashboard.
//!
//! One [`Registry`] holds every series of the process: the SFU registers its own in it
//! (`veil_sfu::SfuMetrics`), signaling adds these. No label carries a name, an identity, an
//! address, a token or a room: only kinds, sources, error codes and quality grades, so the
//! number of series does not grow with rooms or participants.
//!
//! The dashboard reads the same registry: [`History`] samples it every
//! [`SAMPLE_INTERVAL`] and keeps ten minutes, turning counters into rates and the forwarding
//! delay histogram into percentiles over each interval.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use prometheus::proto::MetricFamily;
use prometheus::{
    Counter, Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec,
    Opts, Registry, TextEncoder,
};
use serde::Serialize;
use veil_proto::media::WorstLinks;
use veil_proto::signal::{ConnectionQuality, ErrorCode};

use crate::webhooks::Webhooks;

/// How often the dashboard's history is sampled.
pub const SAMPLE_INTERVAL: Duration = Duration::from_secs(2);
/// How much history the dashboard keeps: ten minutes.
const HISTORY_SAMPLES: usize = 300;
/// The most decryption failures one quality report counts: a client cannot inflate the
/// node's figure by more than this per report.
pub const MAX_REPORTED_FAILURES: u32 = 10_000;

/// Signaling's and the process's series, and the registry every series of the node is in.
pub struct Metrics {
    registry: Registry,
    rooms: IntGauge,
    participants: IntGauge,
    lobby: IntGauge,
    connections: IntGauge,
    errors: IntCounterVec,
    joins: IntCounter,
    join_seconds: Histogram,
    quality_reports: IntCounterVec,
    by_quality: IntGaugeVec,
    decrypt_failures: IntCounter,
    webhook_deliveries: IntCounterVec,
    /// The webhooks whose delivery counts `webhook_deliveries` follows, and the counts seen.
    webhooks: OnceLock<Arc<Webhooks>>,
    webhooks_seen: Mutex<(u64, u64, u64)>,
    process: Process,
    /// The SFU's worst links, when it shares them.
    worst_links: Option<WorstLinks>,
    history: Mutex<History>,
}

fn register<C: prometheus::core::Collector + Clone + 'static>(
    registry: &Registry,
    collector: C,
) -> prometheus::Result<C> {
    registry.register(Box::new(collector.clone()))?;
    Ok(collector)
}

impl Metrics {
    /// Registers signaling's and the process's series in `registry`, beside whatever is
    /// there (the SFU's). `worst_links` is the SFU's list for the dashboard.
    pub fn new(registry: Registry, worst_links: Option<WorstLinks>) -> prometheus::Result<Self> {
        let r = &registry;
        let gauge = |name: &str, help: &str| register(r, IntGauge::new(name, help)?);
        let quality = |name: &str, help: &str| Opts::new(name, help);
        let metrics = Self {
            rooms: gauge("veil_rooms", "Rooms with somebody in them or their lobby")?,
            participants: gauge("veil_participants", "Participants in rooms, not in a lobby")?,
            lobby: gauge("veil_lobby_waiting", "Participants waiting in a lobby")?,
            connections: gauge("veil_signaling_connections", "Open signaling WebSockets")?,
            errors: register(
                r,
                IntCounterVec::new(
                    Opts::new("veil_signaling_errors_total", "Errors sent to clients, by code"),
                    &["code"],
                )?,
            )?,
            joins: register(
                r,
                IntCounter::new("veil_joins_total", "Joins accepted (token checked)")?,
            )?,
            join_seconds: register(
                r,
                Histogram::with_opts(
                    HistogramOpts::new(
                        "veil_join_seconds",
                        "Token checked to the participant's first media packet through the SFU",
                    )
                    .buckets(vec![0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0]),
                )?,
            )?,
            quality_reports: register(
                r,
                IntCounterVec::new(
                    quality("veil_quality_reports_total", "Clients' connection-quality reports"),
                    &["quality"],
                )?,
            )?,
            by_quality: register(
                r,
                IntGaugeVec::new(
                    quality("veil_participants_by_quality", "Participants by their latest report"),
                    &["quality"],
                )?,
            )?,
            decrypt_failures: register(
                r,
                IntCounter::new(
                    "veil_client_decrypt_failures_total",
                    "Frames clients could not decrypt, as they reported",
                )?,
            )?,
            webhook_deliveries: register(
                r,
                IntCounterVec::new(
                    Opts::new("veil_webhook_deliveries_total", "Webhook delivery attempts"),
                    &["result"],
                )?,
            )?,
            webhooks: OnceLock::new(),
            webhooks_seen: Mutex::new((0, 0, 0)),
            process: Process::register(r)?,
            worst_links,
            history: Mutex::new(History::default()),
            registry,
        };
        // Every grade is a series from the start, so a dashboard shows zeros, not gaps.
        for q in ConnectionQuality::ALL {
            metrics.by_quality.with_label_values(&[q.as_str()]).set(0);
            metrics.quality_reports.with_label_values(&[q.as_str()]);
        }
        for code in ErrorCode::ALL {
            metrics.errors.with_label_values(&[code.as_str()]);
        }
        for result in ["delivered", "retried", "failed"] {
            metrics.webhook_deliveries.with_label_values(&[result]);
        }
        Ok(metrics)
    }

    /// Metrics in a registry of their own: for a server nobody scrapes (tests).
    pub fn standalone() -> Self {
        Self::new(Registry::new(), None).expect("a fresh registry has none of these series")
    }

    /// The registry with every series of the node.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    pub(crate) fn connection_opened(&self) {
        self.connections.inc();
    }

    pub(crate) fn connection_closed(&self) {
        self.connections.dec();
    }

    pub(crate) fn error_sent(&self, code: ErrorCode) {
        self.errors.with_label_values(&[code.as_str()]).inc();
    }

    pub(crate) fn joined(&self) {
        self.joins.inc();
    }

    /// The first media packet of a participant whose token was checked `since`.
    pub(crate) fn media_flowing(&self, since: Instant) {
        self.join_seconds.observe(since.elapsed().as_secs_f64());
    }

    /// A client's report; `previous` is its last report's grade, which this one replaces.
    pub(crate) fn quality_report(
        &self,
        quality: ConnectionQuality,
        previous: Option<ConnectionQuality>,
        decrypt_failures: u32,
    ) {
        self.quality_reports.with_label_values(&[quality.as_str()]).inc();
        self.decrypt_failures.inc_by(u64::from(decrypt_failures.min(MAX_REPORTED_FAILURES)));
        if previous != Some(quality) {
            self.forget_quality(previous);
            self.by_quality.with_label_values(&[quality.as_str()]).inc();
        }
    }

    /// A client whose last report was `previous` left.
    pub(crate) fn forget_quality(&self, previous: Option<ConnectionQuality>) {
        if let Some(previous) = previous {
            self.by_quality.with_label_values(&[previous.as_str()]).dec();
        }
    }

    /// Follows `webhooks`' delivery counts in `veil_webhook_deliveries_total`.
    pub fn watch_webhooks(&self, webhooks: Arc<Webhooks>) {
        let _ = self.webhooks.set(webhooks);
    }

    fn refresh_webhooks(&self) {
        let (Some(webhooks), Ok(mut seen)) = (self.webhooks.get(), self.webhooks_seen.lock())
        else {
            return;
        };
        let now = webhooks.deliveries();
        let counts =
            [("delivered", now.0, seen.0), ("retried", now.1, seen.1), ("failed", now.2, seen.2)];
        for (result, now, before) in counts {
            self.webhook_deliveries.with_label_values(&[result]).inc_by(now.saturating_sub(before));
        }
        *seen = now;
    }

    /// Brings the gauges read from elsewhere up to date: rooms and participants (from the
    /// registry of rooms) and the process.
    pub(crate) fn refresh(&self, rooms: usize, participants: usize, lobby: usize) {
        self.rooms.set(rooms as i64);
        self.participants.set(participants as i64);
        self.lobby.set(lobby as i64);
        self.process.refresh();
        self.refresh_webhooks();
    }

    /// Every series in the Prometheus text format.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::error!("cannot encode the metrics: {e}");
        }
        out
    }

    /// Takes a dashboard sample (call every [`SAMPLE_INTERVAL`], after [`Metrics::refresh`]).
    pub(crate) fn sample(&self, now_ms: u64) {
        let families = self.registry.gather();
        if let Ok(mut history) = self.history.lock() {
            history.push(now_ms, Reading::from_families(&families));
        }
    }

    /// The SFU's egress rate at the latest sample (0 before the first two): what a node of a
    /// fleet reports as its load.
    pub fn packets_out_per_second(&self) -> f64 {
        let history = self.history.lock();
        history.ok().and_then(|h| h.samples.back().map(|s| s.packets_out_per_second)).unwrap_or(0.0)
    }

    /// The dashboard's data: the history and the worst links now.
    pub(crate) fn dashboard(&self) -> Dashboard {
        let samples =
            self.history.lock().map(|h| h.samples.iter().cloned().collect()).unwrap_or_default();
        let worst_subscribers = self
            .worst_links
            .as_ref()
            .and_then(|w| w.lock().ok().map(|links| links.clone()))
            .unwrap_or_default()
            .into_iter()
            .map(|l| WorstSubscriber { session: l.session.0, loss: l.loss, rtt_ms: l.rtt_ms })
            .collect();
        Dashboard { interval_ms: SAMPLE_INTERVAL.as_millis() as u64, samples, worst_subscribers }
    }
}

/// `GET /admin/api/stats` (docs/metrics.md).
#[derive(Debug, Serialize)]
pub(crate) struct Dashboard {
    interval_ms: u64,
    samples: Vec<Sample>,
    worst_subscribers: Vec<WorstSubscriber>,
}

#[derive(Debug, Serialize)]
struct WorstSubscriber {
    session: u64,
    loss: Option<f32>,
    rtt_ms: Option<f64>,
}

/// One point of the dashboard's history.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Sample {
    time: u64,
    rooms: f64,
    participants: f64,
    lobby: f64,
    quality: QualityCounts,
    forwarding_delay_ms: Option<Percentiles>,
    bits_in_per_second: f64,
    bits_out_per_second: f64,
    packets_out_per_second: f64,
    cpu_cores: f64,
    memory_bytes: f64,
}

#[derive(Debug, Clone, Default, Serialize)]
struct QualityCounts {
    good: f64,
    fair: f64,
    poor: f64,
    lost: f64,
}

#[derive(Debug, Clone, Copy, Serialize)]
struct Percentiles {
    p50: f64,
    p90: f64,
    p99: f64,
}

/// The registry's values the dashboard needs, at one moment.
#[derive(Debug, Clone, Default)]
struct Reading {
    rooms: f64,
    participants: f64,
    lobby: f64,
    quality: QualityCounts,
    bytes_in: f64,
    bytes_out: f64,
    packets_out: f64,
    cpu_seconds: f64,
    memory_bytes: f64,
    delay: Buckets,
}

impl Reading {
    fn from_families(families: &[MetricFamily]) -> Self {
        let find = |name: &str| families.iter().find(|f| f.name() == name);
        let value = |name: &str| {
            find(name).map_or(0.0, |f| {
                let counter = f.get_field_type() == prometheus::proto::MetricType::COUNTER;
                f.get_metric()
                    .iter()
                    .map(|m| {
                        if counter {
                            m.get_counter().get_value()
                        } else {
                            m.get_gauge().get_value()
                        }
                    })
                    .sum()
            })
        };
        let mut quality = QualityCounts::default();
        if let Some(family) = find("veil_participants_by_quality") {
            for metric in family.get_metric() {
                let grade = metric.get_label().iter().find(|l| l.name() == "quality");
                let n = metric.get_gauge().get_value();
                match grade.map(|l| l.value()) {
                    Some("good") => quality.good = n,
                    Some("fair") => quality.fair = n,
                    Some("poor") => quality.poor = n,
                    Some("lost") => quality.lost = n,
                    _ => {}
                }
            }
        }
        let delay = find("veil_forwarding_delay_seconds")
            .and_then(|f| f.get_metric().first())
            .map(|m| {
                let h = m.get_histogram();
                let bounds = h.get_bucket().iter().map(|b| b.upper_bound()).collect();
                let counts = h.get_bucket().iter().map(|b| b.cumulative_count()).collect();
                Buckets { bounds, counts, total: h.get_sample_count() }
            })
            .unwrap_or_default();
        Self {
            rooms: value("veil_rooms"),
            participants: value("veil_participants"),
            lobby: value("veil_lobby_waiting"),
            quality,
            bytes_in: value("veil_datagram_bytes_received_total"),
            bytes_out: value("veil_datagram_bytes_sent_total"),
            packets_out: value("veil_datagrams_sent_total"),
            cpu_seconds: value("process_cpu_seconds_total"),
            memory_bytes: value("process_resident_memory_bytes"),
            delay,
        }
    }
}

/// A histogram's cumulative bucket counts ([`quantile`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Buckets {
    /// Upper bounds, ascending; the implicit `+Inf` bucket is `total`.
    pub bounds: Vec<f64>,
    /// Observations at or below each bound.
    pub counts: Vec<u64>,
    pub total: u64,
}

impl Buckets {
    /// The observations made between `earlier` and `self` (same bounds).
    pub fn since(&self, earlier: &Buckets) -> Buckets {
        if earlier.bounds != self.bounds {
            return self.clone();
        }
        let counts =
            self.counts.iter().zip(&earlier.counts).map(|(a, b)| a.saturating_sub(*b)).collect();
        Buckets {
            bounds: self.bounds.clone(),
            counts,
            total: self.total.saturating_sub(earlier.total),
        }
    }

    /// The `q` quantile (0..1), interpolated linearly within its bucket as Prometheus's
    /// `histogram_quantile` does; `None` without observations. Past the last bound it is the
    /// last bound: all a histogram can say.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if self.total == 0 {
            return None;
        }
        let rank = q * self.total as f64;
        let mut below = (0.0, 0u64);
        for (bound, count) in self.bounds.iter().zip(&self.counts) {
            if *count as f64 >= rank {
                let (lower, lower_count) = below;
                let in_bucket = (*count - lower_count) as f64;
                let share =
                    if in_bucket > 0.0 { (rank - lower_count as f64) / in_bucket } else { 1.0 };
                return Some(lower + (bound - lower) * share);
            }
            below = (*bound, *count);
        }
        self.bounds.last().copied()
    }

    /// The histogram `name` in a Prometheus text exposition (its `_bucket`, `_count` lines).
    pub fn parse(text: &str, name: &str) -> Option<Buckets> {
        let bucket = format!("{name}_bucket{{");
        let mut pairs: Vec<(f64, u64)> = Vec::new();
        let mut total = None;
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix(&bucket) {
                let le = rest.split("le=\"").nth(1)?.split('"').next()?;
                let count = rest.rsplit(' ').next()?.parse::<f64>().ok()? as u64;
                if le != "+Inf" {
                    pairs.push((le.parse().ok()?, count));
                }
            } else if let Some(rest) = line.strip_prefix(&format!("{name}_count ")) {
                total = Some(rest.trim().parse::<f64>().ok()? as u64);
            }
        }
        pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
        Some(Buckets {
            bounds: pairs.iter().map(|p| p.0).collect(),
            counts: pairs.iter().map(|p| p.1).collect(),
            total: total?,
        })
    }
}

/// The dashboard's last ten minutes.
#[derive(Debug, Default)]
struct History {
    last: Option<(u64, Reading)>,
    samples: VecDeque<Sample>,
}

impl History {
    fn push(&mut self, time: u64, now: Reading) {
        let Some((then, before)) = self.last.replace((time, now.clone())) else {
            return;
        };
        let seconds = (time.saturating_sub(then) as f64 / 1000.0).max(0.001);
        let rate = |now: f64, before: f64| (now - before).max(0.0) / seconds;
        let delay = now.delay.since(&before.delay);
        let ms = |q| delay.quantile(q).map(|s| s * 1000.0);
        let forwarding_delay_ms = match (ms(0.5), ms(0.9), ms(0.99)) {
            (Some(p50), Some(p90), Some(p99)) => Some(Percentiles { p50, p90, p99 }),
            _ => None,
        };
        self.samples.push_back(Sample {
            time,
            rooms: now.rooms,
            participants: now.participants,
            lobby: now.lobby,
            quality: now.quality.clone(),
            forwarding_delay_ms,
            bits_in_per_second: 8.0 * rate(now.bytes_in, before.bytes_in),
            bits_out_per_second: 8.0 * rate(now.bytes_out, before.bytes_out),
            packets_out_per_second: rate(now.packets_out, before.packets_out),
            cpu_cores: rate(now.cpu_seconds, before.cpu_seconds),
            memory_bytes: now.memory_bytes,
        });
        while self.samples.len() > HISTORY_SAMPLES {
            self.samples.pop_front();
        }
    }
}

/// The process's series, from `/proc/self` (Linux; elsewhere they stay at zero).
struct Process {
    cpu: Counter,
    cpu_seen: Mutex<f64>,
    resident: IntGauge,
    fds: IntGauge,
    threads: IntGauge,
}

impl Process {
    fn register(r: &Registry) -> prometheus::Result<Self> {
        let gauge = |name: &str, help: &str| register(r, IntGauge::new(name, help)?);
        let start = register(
            r,
            prometheus::Gauge::new(
                "process_start_time_seconds",
                "Start time of the process since the Unix epoch, in seconds",
            )?,
        )?;
        let since_epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        start.set(since_epoch - process_age().unwrap_or(0.0));
        Ok(Self {
            cpu: register(
                r,
                Counter::new("process_cpu_seconds_total", "User and system CPU time, in seconds")?,
            )?,
            cpu_seen: Mutex::new(0.0),
            resident: gauge("process_resident_memory_bytes", "Resident set size, in bytes")?,
            fds: gauge("process_open_fds", "Open file descriptors")?,
            threads: gauge("process_threads", "Threads")?,
        })
    }

    fn refresh(&self) {
        let Some(stat) = ProcStat::read() else { return };
        if let Ok(mut seen) = self.cpu_seen.lock() {
            self.cpu.inc_by((stat.cpu_seconds - *seen).max(0.0));
            *seen = seen.max(stat.cpu_seconds);
        }
        self.resident.set(stat.resident_bytes as i64);
        self.threads.set(stat.threads as i64);
        if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
            self.fds.set(dir.count() as i64);
        }
    }
}

/// What `/proc/self/stat` says of the process.
struct ProcStat {
    cpu_seconds: f64,
    threads: u64,
    resident_bytes: u64,
    /// Since boot, in clock ticks.
    start_ticks: u64,
}

/// Clock ticks per second in `/proc` (`sysconf(_SC_CLK_TCK)`, 100 on every Linux in use).
const TICKS_PER_SECOND: f64 = 100.0;
const PAGE_BYTES: u64 = 4096;

impl ProcStat {
    fn read() -> Option<Self> {
        let text = std::fs::read_to_string("/proc/self/stat").ok()?;
        // The command name may hold spaces and parentheses: fields start after the last ')'.
        let fields: Vec<&str> = text.rsplit_once(')')?.1.split_whitespace().collect();
        // After the name: state is field 3, so field N is at index N - 3.
        let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok());
        let (utime, stime) = (field(14)?, field(15)?);
        Some(Self {
            cpu_seconds: (utime + stime) as f64 / TICKS_PER_SECOND,
            threads: field(20)?,
            start_ticks: field(22)?,
            resident_bytes: field(24)? * PAGE_BYTES,
        })
    }
}

/// How long the process has run, in seconds.
fn process_age() -> Option<f64> {
    let uptime: f64 =
        std::fs::read_to_string("/proc/uptime").ok()?.split_whitespace().next()?.parse().ok()?;
    Some(uptime - ProcStat::read()?.start_ticks as f64 / TICKS_PER_SECOND)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate_within_buckets() {
        let b = Buckets { bounds: vec![1.0, 2.0, 4.0], counts: vec![50, 90, 100], total: 100 };
        assert_eq!(b.quantile(0.5), Some(1.0));
        assert_eq!(b.quantile(0.25), Some(0.5));
        assert_eq!(b.quantile(0.7), Some(1.5));
        assert_eq!(b.quantile(0.99), Some(3.8));
        let empty = Buckets { total: 0, ..b.clone() };
        assert_eq!(empty.quantile(0.5), None);
        // Observations past the last bound: the last bound is all a histogram can say.
        let over = Buckets { bounds: vec![1.0], counts: vec![1], total: 10 };
        assert_eq!(over.quantile(0.99), Some(1.0));
    }

    #[test]
    fn the_delay_histogram_is_read_back_from_the_exposition() {
        let metrics = Metrics::standalone();
        let h = Histogram::with_opts(
            HistogramOpts::new("veil_forwarding_delay_seconds", "test").buckets(vec![0.001, 0.01]),
        )
        .unwrap();
        metrics.registry().register(Box::new(h.clone())).unwrap();
        for s in [0.0005, 0.0005, 0.005, 0.5] {
            h.observe(s);
        }
        let text = String::from_utf8(metrics.encode()).unwrap();
        let b = Buckets::parse(&text, "veil_forwarding_delay_seconds").unwrap();
        assert_eq!(b, Buckets { bounds: vec![0.001, 0.01], counts: vec![2, 3], total: 4 });
        let earlier = Buckets { bounds: vec![0.001, 0.01], counts: vec![1, 1], total: 1 };
        assert_eq!(b.since(&earlier).counts, vec![1, 2]);
    }

    #[test]
    fn a_participant_counts_once_under_its_latest_grade() {
        let m = Metrics::standalone();
        let grade = |q: ConnectionQuality| m.by_quality.with_label_values(&[q.as_str()]).get();
        m.quality_report(ConnectionQuality::Good, None, 3);
        m.quality_report(ConnectionQuality::Poor, Some(ConnectionQuality::Good), 2);
        m.quality_report(ConnectionQuality::Good, None, u32::MAX);
        assert_eq!(grade(ConnectionQuality::Good), 1);
        assert_eq!(grade(ConnectionQuality::Poor), 1);
        m.forget_quality(Some(ConnectionQuality::Poor));
        assert_eq!(grade(ConnectionQuality::Poor), 0);
        assert_eq!(m.decrypt_failures.get(), 5 + u64::from(MAX_REPORTED_FAILURES));
    }

    #[test]
    fn process_figures_are_read() {
        let stat = ProcStat::read().expect("/proc/self/stat");
        assert!(stat.resident_bytes > 0 && stat.threads >= 1);
        let age = process_age().expect("/proc/uptime");
        assert!((0.0..86_400.0 * 365.0).contains(&age), "{age}");
    }
}
