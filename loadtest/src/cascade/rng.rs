//! A small seeded random generator (SplitMix64).
//!
//! Written out here rather than taken from `rand` so that a seed names the same run on every
//! machine and with every version of the dependencies: docs/cascading.md quotes the output of
//! one seed.

/// SplitMix64 (Steele, Lea and Flood, 2014): one 64-bit state, a fixed increment and a mixing
/// function. Plenty for drawing room sizes and placements; not for anything secret.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

/// Independent streams of one seed, so that drawing more of one thing (say, delay samples)
/// never shifts another (the rooms).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Stream {
    Rooms = 1,
    Placement = 2,
    Delay = 3,
}

impl Rng {
    pub fn new(seed: u64, stream: Stream) -> Self {
        Self(mix(seed ^ mix(stream as u64)))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in 0..n (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.unit() * n as f64) as usize % n
    }

    /// An index into `weights`, each drawn in proportion to its weight.
    pub fn weighted(&mut self, weights: &[f64]) -> usize {
        let mut left = self.unit() * weights.iter().sum::<f64>();
        for (i, w) in weights.iter().enumerate() {
            if left < *w {
                return i;
            }
            left -= w;
        }
        weights.len() - 1
    }

    /// A standard normal draw (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.unit(); // in (0, 1]: ln is finite
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

/// SplitMix64's finaliser: spreads every input bit over the output. Also the hash of the
/// consistent-hashing ring.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_and_stream_give_one_sequence() {
        let draw = |seed, stream| {
            let mut r = Rng::new(seed, stream);
            (0..4).map(|_| r.next_u64()).collect::<Vec<_>>()
        };
        assert_eq!(draw(7, Stream::Rooms), draw(7, Stream::Rooms));
        assert_ne!(draw(7, Stream::Rooms), draw(8, Stream::Rooms));
        assert_ne!(draw(7, Stream::Rooms), draw(7, Stream::Placement));
    }

    #[test]
    fn draws_stay_in_range() {
        let mut r = Rng::new(1, Stream::Rooms);
        for _ in 0..10_000 {
            assert!((0.0..1.0).contains(&r.unit()));
            assert!(r.below(3) < 3);
            assert!(r.weighted(&[0.0, 1.0, 0.0]) == 1);
        }
    }
}
