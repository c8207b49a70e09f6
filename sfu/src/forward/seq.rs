//! Sequence number rewriting for one forwarded stream.
//!
//! Each subscriber's copy of a track is its own RTP stream. It starts where the SFU starts
//! forwarding (for video, at a keyframe), not where the publisher started, so its sequence
//! numbers are rebased to begin at 1: a fresh SRTP stream then has rollover counter 0 on both
//! ends without signaling it. Gaps in the input stay gaps (the receiver NACKs them); packets
//! from before the start of forwarding are dropped. A restart (forwarding resumes after a pause,
//! or later a layer switch) continues right after the highest number sent, so the receiver
//! sees one continuous stream.

use str0m::rtp::SeqNo;

/// Maps a publisher's extended sequence numbers to one subscriber's.
#[derive(Debug, Clone, Default)]
pub struct SeqRewriter {
    /// `input - output`, fixed from the first packet after a (re)start.
    offset: Option<i64>,
    /// First output number of the current run; inputs mapping below it are stale.
    run_start: u64,
    /// Highest output number handed out so far (0 = none).
    highest: u64,
}

impl SeqRewriter {
    /// A rewriter that has forwarded nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts a new run: the next packet given to [`Self::rewrite`] follows the highest number
    /// sent so far without a gap.
    pub fn restart(&mut self) {
        self.offset = None;
    }

    /// The outgoing sequence number for `input`, or `None` for a packet older than the current
    /// run (a late retransmission or reordering from before forwarding started).
    pub fn rewrite(&mut self, input: SeqNo) -> Option<SeqNo> {
        let input = *input as i64;
        let offset = *self.offset.get_or_insert_with(|| {
            self.run_start = self.highest + 1;
            input - self.run_start as i64
        });
        let output = input - offset;
        if output < self.run_start as i64 {
            return None;
        }
        let output = output as u64;
        self.highest = self.highest.max(output);
        Some(output.into())
    }

    /// Highest sequence number sent so far (0 when nothing was sent).
    pub fn highest(&self) -> u64 {
        self.highest
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn run(rw: &mut SeqRewriter, inputs: &[u64]) -> Vec<Option<u64>> {
        inputs.iter().map(|&i| rw.rewrite(i.into()).map(|s| *s)).collect()
    }

    #[test]
    fn starts_at_one_and_keeps_gaps() {
        let mut rw = SeqRewriter::new();
        assert_eq!(
            run(&mut rw, &[70_000, 70_001, 70_003, 70_002]),
            vec![Some(1), Some(2), Some(4), Some(3)]
        );
    }

    #[test]
    fn drops_packets_from_before_the_start() {
        let mut rw = SeqRewriter::new();
        assert_eq!(run(&mut rw, &[500, 499, 501]), vec![Some(1), None, Some(2)]);
    }

    #[test]
    fn restart_continues_without_a_gap() {
        let mut rw = SeqRewriter::new();
        run(&mut rw, &[10, 11, 12]);
        rw.restart();
        assert_eq!(run(&mut rw, &[9_000, 9_001, 11]), vec![Some(4), Some(5), None]);
    }

    proptest! {
        /// Whatever the publisher's numbering, outputs are unique, never below 1, preserve the
        /// order and spacing of their inputs within a run, and never reuse a number across
        /// restarts.
        #[test]
        fn outputs_are_unique_ordered_and_never_reused(
            runs in prop::collection::vec(
                (0u64..1 << 40, prop::collection::vec(0u64..64, 1..40)),
                1..5,
            )
        ) {
            let mut rw = SeqRewriter::new();
            let mut seen = std::collections::HashSet::new();
            for (start, steps) in runs {
                rw.restart();
                let floor = rw.highest();
                let mut input = start;
                let mut last: Option<(u64, u64)> = None;
                for step in steps {
                    input += step;
                    let Some(out) = rw.rewrite(input.into()) else { continue };
                    let out = *out;
                    prop_assert!(out > floor);
                    if let Some((li, lo)) = last {
                        prop_assert_eq!(out - lo, input - li);
                    }
                    if step > 0 || last.is_none() {
                        prop_assert!(seen.insert(out), "reused {}", out);
                    }
                    last = Some((input, out));
                }
            }
        }
    }
}
