//! Counting what subscribers receive: a log-linear latency histogram, and per-stream sequence
//! accounting (loss, reordering, duplicates) with RFC 3550 jitter of the transit time.
//!
//! Loss is decided after a reordering window of [`REORDER_WINDOW`] packets: a sequence number
//! that has not arrived by the time the stream is that far ahead counts as lost; one that then
//! arrives anyway (a retransmission, say) counts as late. Sequence numbers still inside the
//! window when a run ends are neither, so the tail of a run never shows as loss.

use serde::Serialize;

/// How far (in packets) a stream may run ahead before a missing packet counts as lost.
pub const REORDER_WINDOW: u64 = 128;

const SUB_BITS: u32 = 5;
const SUB: usize = 1 << SUB_BITS;
const LINEAR: u64 = 2 * SUB as u64;
const BUCKETS: usize = LINEAR as usize + (64 - SUB_BITS as usize - 1) * SUB;

/// Nanosecond values in log-linear buckets: exact below 64 ns, then 32 buckets per power of
/// two (about 3 % resolution). Merging is adding counts.
#[derive(Clone)]
pub struct Histogram {
    counts: Box<[u64]>,
    total: u64,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self { counts: vec![0; BUCKETS].into_boxed_slice(), total: 0, max: 0 }
    }
}

impl std::fmt::Debug for Histogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Histogram({} values, max {} ns)", self.total, self.max)
    }
}

fn bucket_of(v: u64) -> usize {
    if v < LINEAR {
        return v as usize;
    }
    let exp = 63 - v.leading_zeros(); // >= SUB_BITS + 1
    let sub = ((v >> (exp - SUB_BITS)) as usize) & (SUB - 1);
    LINEAR as usize + (exp - SUB_BITS - 1) as usize * SUB + sub
}

fn bucket_mid(i: usize) -> u64 {
    if i < LINEAR as usize {
        return i as u64;
    }
    let j = i - LINEAR as usize;
    let exp = (j / SUB) as u32 + SUB_BITS + 1;
    let sub = (j % SUB) as u64;
    let low = (1u64 << exp) + (sub << (exp - SUB_BITS));
    low + (1u64 << (exp - SUB_BITS)) / 2
}

impl Histogram {
    pub fn record(&mut self, v: u64) {
        self.counts[bucket_of(v)] += 1;
        self.total += 1;
        self.max = self.max.max(v);
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(other.counts.iter()) {
            *a += b;
        }
        self.total += other.total;
        self.max = self.max.max(other.max);
    }

    pub fn count(&self) -> u64 {
        self.total
    }

    /// The value at quantile `q` (0..=1), or 0 when empty.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        if rank == self.total {
            return self.max;
        }
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return bucket_mid(i).min(self.max);
            }
        }
        self.max
    }

    /// (value, cumulative fraction) at every non-empty bucket: the CDF to plot.
    pub fn cdf(&self) -> Vec<(u64, f64)> {
        let mut seen = 0;
        let mut out = Vec::new();
        for (i, c) in self.counts.iter().enumerate().filter(|(_, c)| **c > 0) {
            seen += c;
            out.push((bucket_mid(i).min(self.max), seen as f64 / self.total as f64));
        }
        out
    }
}

/// Sequence and transit accounting for one received stream.
#[derive(Debug, Default, Clone, Serialize)]
pub struct StreamStats {
    pub received: u64,
    pub lost: u64,
    pub reordered: u64,
    pub duplicates: u64,
    pub late: u64,
    /// RFC 3550 interarrival jitter of transit time, in ns.
    pub jitter_ns: f64,
    /// Packets whose frame decrypted, so their latency is known.
    pub timed: u64,
    pub latency_sum_ns: u64,
    pub latency_max_ns: u64,
    #[serde(skip)]
    seq: SeqWindow,
    #[serde(skip)]
    last_transit: Option<i64>,
}

#[derive(Debug, Default, Clone)]
struct SeqWindow {
    first: Option<u64>,
    highest: u64,
    /// Bit i set: `highest - i` arrived (or lies before the first packet).
    bits: u128,
}

impl StreamStats {
    /// Accounts one arriving extended sequence number.
    pub fn on_seq(&mut self, seq: u64) {
        let w = &mut self.seq;
        let Some(first) = w.first else {
            *w = SeqWindow { first: Some(seq), highest: seq, bits: u128::MAX };
            self.received += 1;
            return;
        };
        if seq < first {
            self.late += 1;
            return;
        }
        if seq > w.highest {
            let d = seq - w.highest;
            let leaving = if d >= 128 { w.bits } else { w.bits >> (128 - d) };
            self.lost += d.min(128) - u64::from(leaving.count_ones()) + d.saturating_sub(128);
            w.bits = if d >= 128 { 1 } else { (w.bits << d) | 1 };
            w.highest = seq;
            self.received += 1;
            return;
        }
        let back = w.highest - seq;
        if back >= REORDER_WINDOW {
            self.late += 1;
        } else if w.bits & (1u128 << back) != 0 {
            self.duplicates += 1;
        } else {
            w.bits |= 1u128 << back;
            self.reordered += 1;
            self.received += 1;
        }
    }

    /// Accounts one packet's one-way delay (`received - sent`, ns) and updates the jitter.
    pub fn on_transit(&mut self, sent_ns: u64, received_ns: u64) {
        let transit = received_ns as i64 - sent_ns as i64;
        if let Some(last) = self.last_transit {
            let d = (transit - last).unsigned_abs() as f64;
            self.jitter_ns += (d - self.jitter_ns) / 16.0;
        }
        self.last_transit = Some(transit);
        let latency = transit.max(0) as u64;
        self.timed += 1;
        self.latency_sum_ns += latency;
        self.latency_max_ns = self.latency_max_ns.max(latency);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_within_a_few_percent() {
        let mut h = Histogram::default();
        for v in 1..=100_000u64 {
            h.record(v * 1000);
        }
        let p50 = h.quantile(0.5) as f64;
        assert!((p50 / 50_000_000.0 - 1.0).abs() < 0.04, "{p50}");
        assert_eq!(h.quantile(1.0), 100_000_000);
        assert_eq!(Histogram::default().quantile(0.5), 0);
    }

    #[test]
    fn counts_loss_reordering_and_duplicates() {
        let mut s = StreamStats::default();
        for seq in [10, 11, 13, 12, 12, 14] {
            s.on_seq(seq);
        }
        assert_eq!((s.received, s.reordered, s.duplicates, s.lost), (5, 1, 1, 0));
        s.on_seq(14 + 200); // 199 never came: those beyond the window count at once
        assert_eq!(s.lost, 199 - 127);
        for seq in 215..400 {
            s.on_seq(seq);
        }
        assert_eq!(s.lost, 199);
        s.on_seq(15); // far behind: late, already counted lost
        assert_eq!(s.late, 1);
    }

    #[test]
    fn packets_before_the_first_are_not_loss() {
        let mut s = StreamStats::default();
        for seq in 1000..1300 {
            s.on_seq(seq);
        }
        assert_eq!(s.lost, 0);
        assert_eq!(s.received, 300);
    }
}
