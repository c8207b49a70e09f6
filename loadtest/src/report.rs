//! What a run found: the JSON record ([`RunResult`]), its one-screen human summary, and the
//! verdict on the generator (a saturated generator voids the run; the reasons are listed).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::participant::Outcome;
use crate::scenario::{RunConfig, Scenario};
use crate::server::Kind;
use crate::stats::{Histogram, StreamStats};

/// Share of schedule ticks that may be late before the generator counts as behind.
const LATE_TICKS_ALLOWED: f64 = 0.01;

/// Quantiles in milliseconds.
#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct Quantiles {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    pub count: u64,
}

impl Quantiles {
    pub fn of(h: &Histogram) -> Self {
        let ms = |q: f64| h.quantile(q) as f64 / 1e6;
        Self {
            p50: ms(0.5),
            p90: ms(0.9),
            p99: ms(0.99),
            p999: ms(0.999),
            max: ms(1.0),
            count: h.count(),
        }
    }
}

/// Join milestones of a join storm, ms after each participant started joining.
#[derive(Debug, Default, Clone, Serialize)]
pub struct JoinTimes {
    pub joined: Quantiles,
    pub keyed: Quantiles,
    pub connected: Quantiles,
    pub first_packet: Quantiles,
    pub first_keyframe: Quantiles,
    /// Joiners that decrypted a keyframe before the run ended.
    pub reached_first_keyframe: usize,
    pub joiners: usize,
}

impl JoinTimes {
    /// One line: how many reached a keyframe, then p50/p99 ms of each milestone.
    pub fn describe(&self) -> String {
        let q = |q: &Quantiles| format!("{:.0}/{:.0}", q.p50, q.p99);
        format!(
            "{}/{} reached a decrypted keyframe; ms p50/p99: joined {}, keyed (MLS) {}, \
             ICE+DTLS connected {}, first packet {}, first decrypted keyframe {}",
            self.reached_first_keyframe,
            self.joiners,
            q(&self.joined),
            q(&self.keyed),
            q(&self.connected),
            q(&self.first_packet),
            q(&self.first_keyframe),
        )
    }
}

/// How the generator itself fared.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Generator {
    pub cpu_cores: Option<f64>,
    pub ticks: u64,
    pub late_ticks: u64,
    pub skipped_ticks: u64,
    pub max_late_ms: f64,
    pub saturated: bool,
    pub reasons: Vec<String>,
}

/// How the received streams compare with one another: an overall figure can hide one stream
/// that lost packets or lagged behind the rest.
#[derive(Debug, Default, Clone, Serialize)]
pub struct PerStream {
    /// Streams that received anything in the window.
    pub streams: usize,
    pub streams_with_loss: usize,
    pub worst_loss_ratio: f64,
    /// Each stream's mean one-way delay: the median stream's and the worst stream's, ms.
    pub mean_latency_ms_median: f64,
    pub mean_latency_ms_worst: f64,
    /// The largest single delay of any stream, ms.
    pub max_latency_ms: f64,
}

impl PerStream {
    fn of<'a>(streams: impl Iterator<Item = &'a StreamStats>) -> Self {
        let mut out = PerStream::default();
        let mut means = Vec::new();
        for s in streams.filter(|s| s.received > 0) {
            out.streams += 1;
            let loss = s.lost as f64 / (s.received + s.lost) as f64;
            out.streams_with_loss += usize::from(s.lost > 0);
            out.worst_loss_ratio = out.worst_loss_ratio.max(loss);
            if s.timed > 0 {
                means.push(s.latency_sum_ns as f64 / s.timed as f64 / 1e6);
            }
            out.max_latency_ms = out.max_latency_ms.max(s.latency_max_ns as f64 / 1e6);
        }
        means.sort_by(f64::total_cmp);
        out.mean_latency_ms_median = means.get(means.len() / 2).copied().unwrap_or(0.0);
        out.mean_latency_ms_worst = means.last().copied().unwrap_or(0.0);
        out
    }

    fn describe(&self) -> String {
        format!(
            "{} streams, {} with loss (worst {:.5}); mean delay of the median stream {:.3} ms, of the worst {:.3} ms",
            self.streams,
            self.streams_with_loss,
            self.worst_loss_ratio,
            self.mean_latency_ms_median,
            self.mean_latency_ms_worst
        )
    }
}

/// Which simulcast layers subscribers got: the picture height of every received video stream,
/// read from the keyframe headers subscribers decrypted (the SFU forwards one layer per stream).
#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct LayerMix {
    /// Subscriber video streams by the height they were receiving when the run ended.
    pub streams_by_height: BTreeMap<u16, usize>,
    /// Video streams with no decrypted keyframe, so no known height.
    pub streams_unknown: usize,
    /// Decrypted video frames in the window by the height of their stream.
    pub frames_by_height: BTreeMap<u16, u64>,
    /// Simulcast publishers still sending each layer (by rid) when the run ended.
    pub publishers_sending: BTreeMap<&'static str, usize>,
}

impl LayerMix {
    pub fn of<'a>(outcomes: impl Iterator<Item = &'a Outcome>) -> Self {
        let mut mix = LayerMix::default();
        for o in outcomes {
            for rid in &o.sending_layers {
                *mix.publishers_sending.entry(rid).or_default() += 1;
            }
            let r = &o.received;
            for s in r.by_stream.iter().filter(|s| s.kind == "video") {
                match s.height {
                    Some(h) => *mix.streams_by_height.entry(h).or_default() += 1,
                    None => mix.streams_unknown += 1,
                }
            }
            for (h, frames) in &r.frames_by_height {
                *mix.frames_by_height.entry(*h).or_default() += frames;
            }
        }
        mix
    }

    /// "720p 33 %, 180p 67 %": each height's share of `counts`, tallest first.
    fn shares<T: Copy + Into<f64>>(counts: &BTreeMap<u16, T>) -> String {
        let total: f64 = counts.values().map(|&c| c.into()).sum();
        let share = |(h, c): (&u16, &T)| format!("{h}p {:.0} %", (*c).into() / total * 100.0);
        counts.iter().rev().map(share).collect::<Vec<_>>().join(", ")
    }

    /// One line, or `None` when no video was received.
    pub fn describe(&self) -> Option<String> {
        let streams: usize = self.streams_by_height.values().sum::<usize>() + self.streams_unknown;
        if streams == 0 {
            return None;
        }
        let counts: BTreeMap<u16, f64> =
            self.streams_by_height.iter().map(|(h, c)| (*h, *c as f64)).collect();
        let frames: BTreeMap<u16, f64> =
            self.frames_by_height.iter().map(|(h, c)| (*h, *c as f64)).collect();
        let mut s = format!(
            "layers received: {} of {streams} subscriber video streams at the end",
            Self::shares(&counts)
        );
        if self.streams_unknown > 0 {
            s += &format!(" ({} without a keyframe)", self.streams_unknown);
        }
        s += &format!("; frames in the window: {}", Self::shares(&frames));
        if !self.publishers_sending.is_empty() {
            let by_rid: Vec<_> =
                self.publishers_sending.iter().map(|(rid, n)| format!("{rid} {n}")).collect();
            s += &format!("; publishers still sending: {}", by_rid.join(", "));
        }
        Some(s)
    }
}

/// One run, as written to JSON.
#[derive(Debug, Clone, Serialize)]
pub struct RunResult {
    pub scenario: Scenario,
    pub server: Kind,
    pub n: usize,
    pub participants: usize,
    pub ready: usize,
    pub failed: usize,
    pub window_s: f64,
    pub egress_pps: f64,
    pub egress_mbps: f64,
    pub ingress_pps: f64,
    pub server_cpu_cores: Option<f64>,
    pub server_cpu_us_per_egress_packet: Option<f64>,
    pub server_threads: Vec<(String, f64)>,
    pub server_rss_bytes: Option<u64>,
    pub server_rss_idle_bytes: Option<u64>,
    pub subscribed_tracks: usize,
    pub rss_per_subscribed_track_bytes: Option<f64>,
    pub latency_ms: Quantiles,
    /// The SFU's own share of that latency: its `veil_forwarding_delay_seconds` over the
    /// window, read from its `/metrics` (Veil only).
    pub sfu_forwarding_delay_ms: Option<SfuDelay>,
    pub jitter_ms_mean: f64,
    pub jitter_ms_max: f64,
    pub per_stream: PerStream,
    /// Simulcast layers per subscriber stream, and the meeting's settings that chose them.
    pub layers_published: usize,
    pub layout: crate::layout::Layout,
    pub layer_mix: LayerMix,
    pub loss_ratio: f64,
    pub lost: u64,
    pub reordered: u64,
    pub duplicates: u64,
    pub late: u64,
    pub frames: u64,
    pub frames_incomplete: u64,
    pub decrypt_failures: u64,
    pub join_time_ms: Option<JoinTimes>,
    pub generator_saturated: bool,
    pub generator: Generator,
    pub errors: Vec<String>,
    /// (ms, cumulative fraction), for plotting.
    pub latency_cdf: Vec<(f64, f64)>,
}

/// What [`RunResult::build`] needs.
pub struct Inputs<'a> {
    pub cfg: &'a RunConfig,
    pub kind: Kind,
    pub outcomes: Vec<Outcome>,
    pub window_s: f64,
    pub ready: usize,
    /// (ns of CPU, cores) over the window.
    pub server_cpu: Option<(u64, f64)>,
    pub server_threads: Vec<(String, f64)>,
    pub generator_cores: Option<f64>,
    pub rss_idle: Option<u64>,
    pub rss: Option<u64>,
    /// Simulcast layers each camera went out in.
    pub layers_published: usize,
    /// The SFU's forwarding-delay histogram over the window.
    pub sfu_delay: Option<veil_signaling::metrics::Buckets>,
}

/// Percentiles of the SFU's forwarding delay as it measures it (datagram received to sent).
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct SfuDelay {
    pub p50: f64,
    pub p99: f64,
    /// Datagrams it measured.
    pub datagrams: u64,
}

impl SfuDelay {
    fn from_buckets(b: &veil_signaling::metrics::Buckets) -> Option<Self> {
        let ms = |q| b.quantile(q).map(|s| s * 1000.0);
        Some(Self { p50: ms(0.5)?, p99: ms(0.99)?, datagrams: b.total })
    }
}

fn since(start: u64, at: Option<u64>, h: &mut Histogram) {
    if let Some(at) = at {
        h.record(at.saturating_sub(start));
    }
}

impl RunResult {
    pub fn build(i: Inputs<'_>) -> Self {
        let mut latency = Histogram::default();
        let (mut packets, mut bytes, mut sent, mut frames, mut incomplete, mut failures) =
            (0, 0, 0, 0, 0, 0);
        let (mut lost, mut reordered, mut duplicates, mut late) = (0, 0, 0, 0);
        let (mut jitter_sum, mut jitter_max, mut streams) = (0.0, 0.0f64, 0usize);
        let mut generator = Generator { cpu_cores: i.generator_cores, ..Generator::default() };
        let mut schedule = crate::media::Schedule::default();
        let mut joins: [Histogram; 5] = Default::default();
        let mut reached = 0;
        let mut errors = Vec::new();
        let storm = i.cfg.scenario == Scenario::JoinStorm;
        let subscribed_tracks: usize =
            crate::scenario::roles(i.cfg).iter().map(|r| r.expect_streams).sum();
        for o in &i.outcomes {
            let r = &o.received;
            latency.merge(&r.latency);
            packets += r.packets;
            bytes += r.bytes;
            frames += r.frames;
            incomplete += r.frames_incomplete;
            failures += r.decrypt_failures;
            sent += o.sent_packets;
            for s in &r.streams {
                lost += s.lost;
                reordered += s.reordered;
                duplicates += s.duplicates;
                late += s.late;
                if s.received > 0 {
                    jitter_sum += s.jitter_ns;
                    jitter_max = jitter_max.max(s.jitter_ns);
                    streams += 1;
                }
            }
            schedule.merge(&o.schedule);
            if let Some(e) = &o.error {
                errors.push(format!("participant {}: {e}", o.index));
            }
            if storm && o.index > 0 {
                let j = &o.join;
                since(j.start_ns, j.joined_ns, &mut joins[0]);
                since(j.start_ns, j.keyed_ns, &mut joins[1]);
                since(j.start_ns, j.connected_ns, &mut joins[2]);
                since(j.start_ns, j.first_packet_ns, &mut joins[3]);
                since(j.start_ns, j.first_keyframe_ns, &mut joins[4]);
                reached += usize::from(j.first_keyframe_ns.is_some());
            }
        }
        errors.truncate(10);
        let window = i.window_s.max(1e-9);
        let egress_pps = packets as f64 / window;
        generator.ticks = schedule.ticks;
        generator.late_ticks = schedule.late;
        generator.skipped_ticks = schedule.skipped;
        generator.max_late_ms = schedule.max_late_ns as f64 / 1e6;
        let threads = crate::generator_threads();
        let limit = crate::SATURATION_CPU * threads as f64;
        if let Some(cores) = i.generator_cores.filter(|c| *c > limit) {
            let of = if threads == 1 { "a core".to_string() } else { format!("{threads} cores") };
            generator.reasons.push(format!("generator used {:.0}% of {of}", cores * 100.0));
        }
        if schedule.ticks > 0 && schedule.late as f64 / schedule.ticks as f64 > LATE_TICKS_ALLOWED {
            generator.reasons.push(format!(
                "{} of {} send ticks were late by over 5 ms",
                schedule.late, schedule.ticks
            ));
        }
        if schedule.skipped > 0 {
            generator.reasons.push(format!(
                "{} send ticks skipped: the generator fell behind",
                schedule.skipped
            ));
        }
        generator.saturated = !generator.reasons.is_empty();
        let cdf = latency.cdf();
        let step = (cdf.len() / 200).max(1);
        let latency_cdf = cdf.iter().step_by(step).map(|(v, f)| (*v as f64 / 1e6, *f)).collect();
        let rss_per_track = match (i.rss, i.rss_idle) {
            (Some(rss), Some(idle)) if subscribed_tracks > 0 => {
                Some(rss.saturating_sub(idle) as f64 / subscribed_tracks as f64)
            }
            _ => None,
        };
        RunResult {
            scenario: i.cfg.scenario,
            server: i.kind,
            n: i.cfg.n,
            participants: i.outcomes.len(),
            ready: i.ready,
            failed: i.outcomes.iter().filter(|o| o.error.is_some()).count(),
            window_s: i.window_s,
            egress_pps,
            egress_mbps: bytes as f64 * 8.0 / window / 1e6,
            ingress_pps: sent as f64 / window,
            server_cpu_cores: i.server_cpu.map(|(_, c)| c),
            server_cpu_us_per_egress_packet: i
                .server_cpu
                .filter(|_| packets > 0)
                .map(|(ns, _)| ns as f64 / 1e3 / packets as f64),
            server_threads: i.server_threads,
            server_rss_bytes: i.rss,
            server_rss_idle_bytes: i.rss_idle,
            subscribed_tracks,
            rss_per_subscribed_track_bytes: rss_per_track,
            latency_ms: Quantiles::of(&latency),
            sfu_forwarding_delay_ms: i.sfu_delay.as_ref().and_then(SfuDelay::from_buckets),
            jitter_ms_mean: if streams > 0 { jitter_sum / streams as f64 / 1e6 } else { 0.0 },
            jitter_ms_max: jitter_max / 1e6,
            per_stream: PerStream::of(i.outcomes.iter().flat_map(|o| &o.received.streams)),
            layers_published: i.layers_published,
            layout: i.cfg.layout,
            layer_mix: LayerMix::of(i.outcomes.iter()),
            loss_ratio: if packets + lost > 0 {
                lost as f64 / (packets + lost) as f64
            } else {
                0.0
            },
            lost,
            reordered,
            duplicates,
            late,
            frames,
            frames_incomplete: incomplete,
            decrypt_failures: failures,
            join_time_ms: storm.then(|| {
                let [joined, keyed, connected, first_packet, first_keyframe] =
                    joins.each_ref().map(Quantiles::of);
                JoinTimes {
                    joined,
                    keyed,
                    connected,
                    first_packet,
                    first_keyframe,
                    reached_first_keyframe: reached,
                    joiners: i.cfg.n,
                }
            }),
            generator_saturated: generator.saturated,
            generator,
            errors,
            latency_cdf,
        }
    }

    /// A few lines for a person.
    pub fn summary(&self) -> String {
        let opt =
            |v: Option<f64>, unit: &str| v.map_or("n/a".to_string(), |v| format!("{v:.2}{unit}"));
        let mut s = format!(
            "{:?} n={} via {:?}: {} participants ({} ready, {} failed), window {:.1} s\n",
            self.scenario,
            self.n,
            self.server,
            self.participants,
            self.ready,
            self.failed,
            self.window_s
        );
        s += &format!(
            "  egress {:.0} pps ({:.1} Mbit/s), ingress {:.0} pps; server CPU {} cores, {} per egress packet; RSS {}\n",
            self.egress_pps,
            self.egress_mbps,
            self.ingress_pps,
            opt(self.server_cpu_cores, ""),
            opt(self.server_cpu_us_per_egress_packet, " µs"),
            self.server_rss_bytes
                .map_or("n/a".into(), |b| format!("{:.1} MiB", b as f64 / 1048576.0)),
        );
        let l = &self.latency_ms;
        s += &format!(
            "  latency p50 {:.3} p99 {:.3} p99.9 {:.3} max {:.3} ms; jitter mean {:.3} ms; loss {:.5} ({} lost, {} reordered, {} dup, {} late); frames {} ({} incomplete, {} undecryptable)\n",
            l.p50,
            l.p99,
            l.p999,
            l.max,
            self.jitter_ms_mean,
            self.loss_ratio,
            self.lost,
            self.reordered,
            self.duplicates,
            self.late,
            self.frames,
            self.frames_incomplete,
            self.decrypt_failures
        );
        if let Some(d) = &self.sfu_forwarding_delay_ms {
            s += &format!(
                "  SFU forwarding delay (its own clock, {} datagrams): p50 {:.3} p99 {:.3} ms; the rest of the latency above is the generator's and the kernel's\n",
                d.datagrams, d.p50, d.p99
            );
        }
        s += &format!("  per stream: {}\n", self.per_stream.describe());
        if let Some(mix) = self.layer_mix.describe() {
            s += &format!(
                "  {mix} ({} published layer(s), {:?} layout)\n",
                self.layers_published, self.layout
            );
        }
        if let Some(j) = &self.join_time_ms {
            s += &format!("  joins: {}\n", j.describe());
        }
        let g = &self.generator;
        s += &format!("  generator CPU {}", opt(g.cpu_cores.map(|c| c * 100.0), "%"));
        if g.saturated {
            s += &format!(" — VOID: {}", g.reasons.join("; "));
        }
        s.push('\n');
        for e in self.errors.iter().take(3) {
            s += &format!("  error: {e}\n");
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::participant::Received;

    fn stream(seqs: impl IntoIterator<Item = u64>, delay_ms: u64) -> StreamStats {
        let mut s = StreamStats::default();
        for seq in seqs {
            s.on_seq(seq);
            s.on_transit(seq * 20_000_000, seq * 20_000_000 + delay_ms * 1_000_000);
        }
        s
    }

    fn video(height: Option<u16>) -> crate::participant::StreamCount {
        crate::participant::StreamCount {
            ssrc: 1,
            kind: "video",
            packets: 10,
            frames: 10,
            decrypt_failures: 0,
            sender_leaf: Some(0),
            height,
        }
    }

    fn outcome(received: Received, sending_layers: Vec<&'static str>) -> Outcome {
        Outcome {
            index: 0,
            join: Default::default(),
            received,
            schedule: Default::default(),
            sent_packets: 0,
            sending_layers,
            error: None,
        }
    }

    #[test]
    fn the_layer_mix_counts_video_streams_by_their_last_height() {
        let audio = crate::participant::StreamCount { kind: "audio", ..video(None) };
        let speaker = Received {
            by_stream: vec![video(Some(180)), video(Some(180)), audio.clone()],
            frames_by_height: BTreeMap::from([(180, 60), (720, 20)]),
            ..Received::default()
        };
        let member = Received {
            by_stream: vec![video(Some(720)), video(None), audio],
            frames_by_height: BTreeMap::from([(720, 20)]),
            ..Received::default()
        };
        let outcomes = [outcome(speaker, vec!["f"]), outcome(member, vec!["q"])];
        let mix = LayerMix::of(outcomes.iter());
        assert_eq!(mix.streams_by_height, BTreeMap::from([(180, 2), (720, 1)]));
        assert_eq!(mix.streams_unknown, 1);
        assert_eq!(mix.frames_by_height, BTreeMap::from([(180, 60), (720, 40)]));
        assert_eq!(
            mix.describe().unwrap(),
            "layers received: 720p 33 %, 180p 67 % of 4 subscriber video streams at the end \
             (1 without a keyframe); frames in the window: 720p 40 %, 180p 60 %; \
             publishers still sending: f 1, q 1"
        );
        assert_eq!(LayerMix::default().describe(), None, "no video, no line");
    }

    #[test]
    fn one_lossy_slow_stream_stands_out() {
        let clean = stream(0..1000, 1);
        let lossy = stream((0..1000).filter(|s| s % 100 != 7), 9);
        let silent = StreamStats::default();
        let per = PerStream::of([&clean, &clean, &lossy, &silent].into_iter());
        assert_eq!(per.streams, 3);
        assert_eq!(per.streams_with_loss, 1);
        assert!((per.worst_loss_ratio - 0.01).abs() < 0.002, "{per:?}");
        assert!((per.mean_latency_ms_median - 1.0).abs() < 1e-9, "{per:?}");
        assert!((per.mean_latency_ms_worst - 9.0).abs() < 1e-9, "{per:?}");
    }
}
