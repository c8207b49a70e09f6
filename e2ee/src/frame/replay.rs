//! Replay protection for one KID: a sliding window over SFrame counters.
//!
//! A receiver accepts a counter it has not seen that is newer than the highest accepted counter
//! minus [`WINDOW`]. The window is sized for reordering, not loss: a camera sending three
//! simulcast layers under one context spends about 90 counters a second, so 1,024 counters
//! cover several seconds of reordering, far beyond what a jitter buffer tolerates.
//!
//! The check and the update are separate steps because a counter is unauthenticated until its
//! frame decrypts: recording it earlier would let a forged frame advance the window and make
//! genuine frames look old.

/// How many counters behind the newest accepted one are still accepted.
pub const WINDOW: u64 = 1024;

const WORDS: usize = (WINDOW / 64) as usize;

/// Why a counter was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// The counter was already accepted once.
    Replayed,
    /// The counter lies behind the window.
    TooOld,
}

/// Seen counters within [`WINDOW`] of the newest; bit `c % WINDOW` stands for counter `c`.
#[derive(Debug, Clone)]
pub struct ReplayWindow {
    newest: Option<u64>,
    seen: [u64; WORDS],
}

impl Default for ReplayWindow {
    fn default() -> Self {
        Self { newest: None, seen: [0; WORDS] }
    }
}

impl ReplayWindow {
    /// Whether `counter` may be accepted; leaves the window untouched.
    pub fn check(&self, counter: u64) -> Result<(), Rejection> {
        let Some(newest) = self.newest else { return Ok(()) };
        if counter > newest {
            return Ok(());
        }
        if newest - counter >= WINDOW {
            return Err(Rejection::TooOld);
        }
        if self.is_set(counter) { Err(Rejection::Replayed) } else { Ok(()) }
    }

    /// Records `counter` as accepted. Call only after [`check`](Self::check) passed and the
    /// frame authenticated.
    pub fn record(&mut self, counter: u64) {
        match self.newest {
            Some(newest) if counter <= newest => {}
            Some(newest) => {
                // Slots between the old and the new newest now stand for fresh counters.
                let advance = counter - newest;
                if advance >= WINDOW {
                    self.seen = [0; WORDS];
                } else {
                    for c in newest + 1..counter {
                        self.clear(c);
                    }
                }
                self.newest = Some(counter);
            }
            None => self.newest = Some(counter),
        }
        self.set(counter);
    }

    fn slot(counter: u64) -> (usize, u64) {
        let bit = counter % WINDOW;
        ((bit / 64) as usize, 1 << (bit % 64))
    }

    fn is_set(&self, counter: u64) -> bool {
        let (word, mask) = Self::slot(counter);
        self.seen[word] & mask != 0
    }

    fn set(&mut self, counter: u64) {
        let (word, mask) = Self::slot(counter);
        self.seen[word] |= mask;
    }

    fn clear(&mut self, counter: u64) {
        let (word, mask) = Self::slot(counter);
        self.seen[word] &= !mask;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(window: &mut ReplayWindow, counter: u64) -> Result<(), Rejection> {
        window.check(counter)?;
        window.record(counter);
        Ok(())
    }

    #[test]
    fn accepts_each_counter_once() {
        let mut w = ReplayWindow::default();
        for c in [0, 1, 5, 3, 2, 4] {
            assert_eq!(accept(&mut w, c), Ok(()), "counter {c}");
        }
        for c in 0..=5 {
            assert_eq!(accept(&mut w, c), Err(Rejection::Replayed), "counter {c}");
        }
    }

    #[test]
    fn refuses_counters_behind_the_window() {
        let mut w = ReplayWindow::default();
        accept(&mut w, 10).unwrap();
        accept(&mut w, 10 + WINDOW).unwrap();
        assert_eq!(w.check(10), Err(Rejection::TooOld));
        assert_eq!(w.check(11), Ok(()));
    }

    #[test]
    fn a_jump_forward_frees_the_reused_slots() {
        let mut w = ReplayWindow::default();
        accept(&mut w, 5).unwrap();
        // 5 + WINDOW maps onto the slot of 5: it must not look replayed.
        assert_eq!(accept(&mut w, 5 + WINDOW), Ok(()));
        // A small step forward reuses the slot of 6, which was never seen.
        accept(&mut w, 7).unwrap();
        assert_eq!(accept(&mut w, 6 + WINDOW), Ok(()));
        assert_eq!(accept(&mut w, 6 + WINDOW), Err(Rejection::Replayed));
    }

    #[test]
    fn a_long_jump_clears_everything() {
        let mut w = ReplayWindow::default();
        for c in 0..100 {
            accept(&mut w, c).unwrap();
        }
        accept(&mut w, 100 * WINDOW).unwrap();
        assert_eq!(accept(&mut w, 100 * WINDOW - 1), Ok(()));
        assert_eq!(w.check(50), Err(Rejection::TooOld));
    }

    #[test]
    fn checking_alone_records_nothing() {
        let mut w = ReplayWindow::default();
        assert_eq!(w.check(3), Ok(()));
        assert_eq!(w.check(3), Ok(()));
        w.record(3);
        assert_eq!(w.check(3), Err(Rejection::Replayed));
    }
}
