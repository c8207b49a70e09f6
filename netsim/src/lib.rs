//! A sans-IO model of one impaired network path, shared by the SFU's scenario tests (on a
//! virtual clock) and `veil-loadtest impair` (a UDP relay on a real clock).
//!
//! A [`Link`] is one direction of one participant's path. Hand it each datagram's size and the
//! current time with [`Link::send`]; it answers with the datagram's [`Fate`]: when it arrives,
//! or why it never does. It never reads a clock or holds the datagrams themselves, so the same
//! model runs in memory or in front of a socket; [`Schedule`] is a small delivery queue for
//! callers that need one.
//!
//! What a link does to a datagram, in order, as `tc` with netem and tbf would:
//! 1. **blackhole**: everything is dropped (a cable pulled, a Wi-Fi dead zone), until switched off;
//! 2. **loss**: dropped at random with probability `loss` %;
//! 3. **rate cap**: a token bucket of `rate_kbit` kbit/s and `burst_bytes` feeding a FIFO of at
//!    most `queue_bytes`; a datagram that does not fit is dropped at the tail (tbf's `limit`);
//! 4. **delay and jitter**: `delay` plus a uniform offset in ±`jitter` after leaving the queue.
//!    Without `reorder`, a datagram never overtakes the one before it (it waits behind it, as
//!    in a FIFO); with it, jitter may reorder them, as netem's does.
//!
//! Randomness comes from a seeded generator: the same seed and inputs give the same fates.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::time::{Duration, Instant};

/// How a link impairs what crosses it. The default impairs nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct Impairment {
    /// Random loss, in percent (0–100).
    pub loss: f64,
    /// Fixed one-way delay added to every datagram.
    pub delay: Duration,
    /// Each datagram's delay varies uniformly within ±`jitter` (never below zero).
    pub jitter: Duration,
    /// Let jitter reorder datagrams (else each waits behind the one sent before it).
    pub reorder: bool,
    /// Rate cap in kbit/s (1 kbit = 1000 bits); `None` for no cap.
    pub rate_kbit: Option<u64>,
    /// Bytes the token bucket holds when full: what may leave back to back at line speed.
    pub burst_bytes: usize,
    /// Bytes that may wait for tokens; more are dropped at the tail.
    pub queue_bytes: usize,
    /// Drop everything.
    pub blackhole: bool,
}

impl Default for Impairment {
    fn default() -> Self {
        Self {
            loss: 0.0,
            delay: Duration::ZERO,
            jitter: Duration::ZERO,
            reorder: false,
            rate_kbit: None,
            burst_bytes: 16 * 1024,
            queue_bytes: 64 * 1024,
            blackhole: false,
        }
    }
}

/// What happens to one datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// It arrives at this time.
    Deliver(Instant),
    /// Random loss.
    Lost,
    /// The link is a blackhole.
    Blackholed,
    /// The rate cap's queue was full.
    QueueFull,
}

impl Fate {
    /// When the datagram arrives, if it does.
    pub fn delivered_at(self) -> Option<Instant> {
        match self {
            Fate::Deliver(at) => Some(at),
            _ => None,
        }
    }
}

/// What a link did so far.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct LinkStats {
    pub offered: u64,
    pub delivered: u64,
    pub lost: u64,
    pub blackholed: u64,
    pub queue_dropped: u64,
}

/// One direction of one path. See the crate docs.
#[derive(Debug, Clone)]
pub struct Link {
    config: Impairment,
    rng: SplitMix64,
    /// Token bucket content in bytes, as of `tokens_at`.
    tokens: f64,
    tokens_at: Option<Instant>,
    /// When the last datagram left the rate cap's queue.
    last_departure: Option<Instant>,
    /// (departure, bytes) of datagrams still waiting for tokens.
    queue: VecDeque<(Instant, usize)>,
    queued_bytes: usize,
    /// Arrival of the last delivered datagram (keeps order without `reorder`).
    last_delivery: Option<Instant>,
    stats: LinkStats,
}

impl Link {
    /// A link impaired by `config`, its randomness seeded by `seed`.
    pub fn new(config: Impairment, seed: u64) -> Self {
        let tokens = config.burst_bytes as f64;
        Self {
            config,
            rng: SplitMix64(seed),
            tokens,
            tokens_at: None,
            last_departure: None,
            queue: VecDeque::new(),
            queued_bytes: 0,
            last_delivery: None,
            stats: LinkStats::default(),
        }
    }

    /// A link that impairs nothing.
    pub fn clear(seed: u64) -> Self {
        Self::new(Impairment::default(), seed)
    }

    pub fn config(&self) -> &Impairment {
        &self.config
    }

    pub fn stats(&self) -> LinkStats {
        self.stats
    }

    /// Bytes waiting in the rate cap's queue at the last [`Link::send`].
    pub fn queued_bytes(&self) -> usize {
        self.queued_bytes
    }

    /// Changes the impairment from now on. Datagrams already given a fate keep it; the queue
    /// and token bucket carry over (clamped to the new burst).
    pub fn set_config(&mut self, config: Impairment) {
        self.tokens = self.tokens.min(config.burst_bytes as f64);
        if config.rate_kbit.is_none() {
            self.queue.clear();
            self.queued_bytes = 0;
        }
        self.config = config;
    }

    /// Switches the blackhole on or off, leaving the rest of the impairment as it is.
    pub fn set_blackhole(&mut self, on: bool) {
        self.config.blackhole = on;
    }

    /// The fate of a datagram of `len` bytes sent into the link at `now`. Calls must come in
    /// time order.
    pub fn send(&mut self, now: Instant, len: usize) -> Fate {
        self.stats.offered += 1;
        if self.config.blackhole {
            self.stats.blackholed += 1;
            return Fate::Blackholed;
        }
        if self.config.loss > 0.0 && self.rng.next_f64() * 100.0 < self.config.loss {
            self.stats.lost += 1;
            return Fate::Lost;
        }
        let departure = match self.config.rate_kbit {
            Some(kbit) => match self.shape(now, len, kbit) {
                Some(at) => at,
                None => {
                    self.stats.queue_dropped += 1;
                    return Fate::QueueFull;
                }
            },
            None => now,
        };
        let mut delay = self.config.delay;
        if !self.config.jitter.is_zero() {
            let jitter = self.config.jitter.as_secs_f64();
            let offset = (self.rng.next_f64() * 2.0 - 1.0) * jitter;
            delay = Duration::from_secs_f64((delay.as_secs_f64() + offset).max(0.0));
        }
        let mut arrival = departure + delay;
        if !self.config.reorder
            && let Some(last) = self.last_delivery
        {
            arrival = arrival.max(last);
        }
        self.last_delivery = Some(self.last_delivery.map_or(arrival, |l| l.max(arrival)));
        self.stats.delivered += 1;
        Fate::Deliver(arrival)
    }

    /// Passes `len` bytes through the token bucket: when they leave its queue, or `None` when
    /// the queue is full.
    fn shape(&mut self, now: Instant, len: usize, kbit: u64) -> Option<Instant> {
        while let Some(&(at, bytes)) = self.queue.front() {
            if at > now {
                break;
            }
            self.queue.pop_front();
            self.queued_bytes -= bytes;
        }
        if self.queued_bytes + len > self.config.queue_bytes {
            return None;
        }
        let bytes_per_sec = (kbit.max(1) * 1000) as f64 / 8.0;
        let start = self.last_departure.map_or(now, |l| l.max(now));
        let since =
            self.tokens_at.map_or(0.0, |t| start.saturating_duration_since(t).as_secs_f64());
        let burst = self.config.burst_bytes as f64;
        self.tokens = (self.tokens + since * bytes_per_sec).min(burst);
        let mut departure = start;
        if self.tokens < len as f64 {
            let wait = (len as f64 - self.tokens) / bytes_per_sec;
            departure = start + Duration::from_secs_f64(wait);
            self.tokens = len as f64;
        }
        self.tokens -= len as f64;
        self.tokens_at = Some(departure);
        self.last_departure = Some(departure);
        if departure > now {
            self.queue.push_back((departure, len));
            self.queued_bytes += len;
        }
        Some(departure)
    }
}

/// Datagrams in flight, delivered in order of arrival time (then of sending).
#[derive(Debug)]
pub struct Schedule<T> {
    heap: BinaryHeap<Reverse<(Instant, u64, Slot<T>)>>,
    next: u64,
}

/// Keeps `T` out of the heap's ordering.
#[derive(Debug)]
struct Slot<T>(T);

impl<T> PartialEq for Slot<T> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl<T> Eq for Slot<T> {}
impl<T> PartialOrd for Slot<T> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl<T> Ord for Slot<T> {
    fn cmp(&self, _: &Self) -> std::cmp::Ordering {
        std::cmp::Ordering::Equal
    }
}

impl<T> Default for Schedule<T> {
    fn default() -> Self {
        Self { heap: BinaryHeap::new(), next: 0 }
    }
}

impl<T> Schedule<T> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Holds `item` until `at`.
    pub fn push(&mut self, at: Instant, item: T) {
        self.heap.push(Reverse((at, self.next, Slot(item))));
        self.next += 1;
    }

    /// The next item due at or before `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<T> {
        if self.heap.peek()?.0.0 > now {
            return None;
        }
        self.heap.pop().map(|Reverse((_, _, Slot(item)))| item)
    }

    /// When the next item is due.
    pub fn next_at(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _, _))| *at)
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

/// SplitMix64: small, fast, and good enough for drawing loss and jitter.
#[derive(Debug, Clone)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests;
