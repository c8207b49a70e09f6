//! How much a subscriber's link carries, learned from what it loses.
//!
//! Every second the subscriber's connection reports what the SFU sent it, what share of those
//! packets never arrived and the round trip (both from its transport-wide congestion
//! feedback, which names every packet received and when). A link is full when it loses
//! [`CONGESTED_LOSS`] or more, or when packets wait [`CONGESTED_QUEUE`] longer in it than they
//! did at best (a queue builds up before a router's buffer overflows). From then on the
//! subscriber's media must fit in a little less than the link delivered
//! ([`LinkBudget::limit`]), and [`super::allocate`] lowers layers to fit. Random loss below
//! that (a poor Wi-Fi) is repaired by resends and does not lower anything.
//!
//! After [`MIN_HOLD`] without signs of a full link the limit is raised by a quarter every
//! [`RAISE_INTERVAL`], which moves the subscriber up a layer when there is room; once it is
//! above everything the subscriber's tiles ask for, the link is unlimited again. A raise that
//! fills the link again lowers the limit again and doubles the hold before the next try (up to
//! [`MAX_HOLD`]), so a link at its capacity is tried ever more rarely.
//!
//! The send-side estimate str0m computes from the same feedback is not used: on links that
//! carry less than they could (an SFU forwarding a few small layers), it sinks toward what is
//! sent and below it without any loss or delay, so it cannot tell a full link from an idle one.

use std::time::{Duration, Instant};

/// Loss at which a link counts as full. Random loss up to 10 % (a poor Wi-Fi) is repaired by
/// resends and lowers nothing; a full router queue drops more, and its growing queue has
/// usually shown first ([`CONGESTED_QUEUE`]).
pub(crate) const CONGESTED_LOSS: f32 = 0.15;

/// Extra round trip over the shortest seen at which a link counts as full: its queue holds
/// that much ...
pub(crate) const CONGESTED_QUEUE: Duration = Duration::from_millis(400);

/// ... in this many of the last five reports. A busy machine at either end delays feedback now
/// and then by as much (three browsers on two cores: round trips of over a second on
/// loopback); a router's queue stays.
pub(crate) const QUEUED_REPORTS: u32 = 3;

/// Share of what was sent into a link whose queue grows that it is then given, in percent: it
/// delivered less than that, but how much less its feedback does not say.
const QUEUED_PERCENT: u64 = 70;

/// Loss under which the limit may be raised.
const CLEAR_LOSS: f32 = 0.02;

/// Share of what a full link delivered that its subscriber is then given, in percent: a
/// little less, so that its queue drains.
const DELIVERED_PERCENT: u64 = 90;

/// Loss at which a link is out (a network drop), not full: it says nothing of what the link
/// carries when it is back.
const OUTAGE_LOSS: f32 = 0.95;

/// The lowest limit: about audio and one small video.
pub(crate) const MIN_LIMIT: u64 = 100_000;

/// Wait after a loss before the first raise.
pub(crate) const MIN_HOLD: Duration = Duration::from_secs(4);

/// The longest wait after a loss before trying more.
pub(crate) const MAX_HOLD: Duration = Duration::from_secs(32);

/// Between raises while nothing is lost.
pub(crate) const RAISE_INTERVAL: Duration = Duration::from_secs(2);

/// A link full again this soon after a raise doubles the hold.
const RAISE_BLAMED_FOR: Duration = Duration::from_secs(5);

/// How long after a decrease the link is taken to drain its queue: signs of a full link then
/// lower nothing more.
const DRAIN_TIME: Duration = Duration::from_secs(3);

/// One subscriber's link, as its losses describe it.
#[derive(Debug, Clone)]
pub(crate) struct LinkBudget {
    /// What the subscriber's media must fit in, in bits per second (`None`: no loss seen, or
    /// none since the limit grew past what it wants).
    limit: Option<u64>,
    /// How long to wait after the next loss before raising.
    hold: Duration,
    last_decrease: Option<Instant>,
    last_raise: Option<Instant>,
    next_raise: Option<Instant>,
    /// The shortest round trip seen: the link with nothing queued.
    base_rtt: Option<Duration>,
    /// Loss averaged over recent reports (each report weighs half): random loss swings from
    /// second to second, a full link's stays.
    smoothed_loss: f32,
    /// Which of the last reports had a round trip [`CONGESTED_QUEUE`] over the shortest, one
    /// bit each, the newest lowest.
    long_rtts: u8,
}

impl Default for LinkBudget {
    fn default() -> Self {
        Self {
            limit: None,
            hold: MIN_HOLD,
            last_decrease: None,
            last_raise: None,
            next_raise: None,
            base_rtt: None,
            long_rtts: 0,
            smoothed_loss: 0.0,
        }
    }
}

impl LinkBudget {
    /// What the subscriber's media must fit in (`None`: no limit).
    pub fn limit(&self) -> Option<u64> {
        self.limit
    }

    /// Over the last second the link was sent `sent_bps` and lost `loss` (0 to 1) of its
    /// packets; the last round trip took `rtt`. Returns whether the limit changed.
    pub fn report(
        &mut self,
        now: Instant,
        sent_bps: u64,
        loss: f32,
        rtt: Option<Duration>,
    ) -> bool {
        let before = self.limit;
        if loss >= OUTAGE_LOSS {
            return false;
        }
        let base = match (self.base_rtt, rtt) {
            (Some(base), Some(rtt)) => base.min(rtt),
            (base, rtt) => base.or(rtt).unwrap_or_default(),
        };
        self.base_rtt = Some(base);
        let long = rtt.is_some_and(|rtt| rtt >= base + CONGESTED_QUEUE);
        self.long_rtts = (self.long_rtts << 1 | u8::from(long)) & 0b1_1111;
        let queued = self.long_rtts.count_ones() >= QUEUED_REPORTS;
        self.smoothed_loss = (self.smoothed_loss + loss) / 2.0;
        let lossy = self.smoothed_loss >= CONGESTED_LOSS;
        if lossy || queued {
            // Right after a decrease the link is still draining what was queued before it.
            let draining = self.last_decrease.is_some_and(|t| now < t + DRAIN_TIME);
            if !draining {
                let delivered = (sent_bps as f64 * f64::from(1.0 - loss)) as u64;
                let limit = if lossy {
                    delivered * DELIVERED_PERCENT / 100
                } else {
                    sent_bps * QUEUED_PERCENT / 100
                };
                let limit = limit.max(MIN_LIMIT);
                self.limit = Some(self.limit.map_or(limit, |l| l.min(limit)));
                // Full again soon after a raise: that raise was too much, try later next time.
                let raised = self.last_raise.is_some_and(|t| now < t + RAISE_BLAMED_FOR);
                self.hold = if raised { (self.hold * 2).min(MAX_HOLD) } else { MIN_HOLD };
                self.last_decrease = Some(now);
            }
            self.next_raise = Some(now + self.hold);
        } else if let Some(limit) = self.limit
            && loss < CLEAR_LOSS
            && self.next_raise.is_none_or(|t| now >= t)
        {
            self.limit = Some(limit + limit / 4);
            self.last_raise = Some(now);
            self.next_raise = Some(now + RAISE_INTERVAL);
        }
        self.limit != before
    }

    /// The subscriber's tiles ask for `desired_bps` in all: a limit above it limits nothing,
    /// and is dropped.
    pub fn release_above(&mut self, desired_bps: u64) {
        if self.limit.is_some_and(|l| l > desired_bps) {
            self.limit = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn a_link_that_loses_nothing_has_no_limit() {
        let t0 = Instant::now();
        let mut link = LinkBudget::default();
        assert!(!link.report(t0, 2_000_000, 0.0, None));
        assert!(!link.report(t0 + S, 2_000_000, 0.10, None), "random loss of 10 % is repaired");
        assert!(!link.report(t0 + 2 * S, 2_000_000, 1.0, None), "a drop is not a full link");
        assert_eq!(link.limit(), None);
    }

    #[test]
    fn a_full_link_limits_to_a_little_under_what_it_delivered() {
        let t0 = Instant::now();
        let mut link = LinkBudget::default();
        assert!(link.report(t0, 1_000_000, 0.5, None));
        assert_eq!(link.limit(), Some(450_000));
        assert!(!link.report(t0 + S, 600_000, 0.2, None), "the queue is still draining");
        // Still losing once it has drained: lower again, never up.
        assert!(link.report(t0 + DRAIN_TIME, 600_000, 0.2, None));
        assert_eq!(link.limit(), Some(432_000));
        let later = t0 + DRAIN_TIME * 2;
        assert!(!link.report(later, 700_000, 0.16, None), "a higher reading does not raise it");
        assert!(link.report(later + DRAIN_TIME, 100_000, 0.5, None));
        assert_eq!(link.limit(), Some(MIN_LIMIT), "never so low that raising it cannot help");
    }

    #[test]
    fn the_limit_rises_after_a_quiet_hold_and_is_dropped_above_what_is_wanted() {
        let t0 = Instant::now();
        let mut link = LinkBudget::default();
        link.report(t0, 1_000_000, 0.5, None);
        assert!(!link.report(t0 + S, 400_000, 0.0, None), "not before the hold is over");
        assert!(link.report(t0 + MIN_HOLD, 400_000, 0.0, None));
        assert_eq!(link.limit(), Some(562_500));
        assert!(!link.report(t0 + MIN_HOLD + S, 600_000, 0.0, None), "one raise per interval");
        assert!(link.report(t0 + MIN_HOLD + RAISE_INTERVAL, 600_000, 0.0, None));
        link.release_above(700_000);
        assert_eq!(link.limit(), None, "703 kbit/s is more than the tiles ask");
    }

    #[test]
    fn a_queue_building_up_is_a_full_link_before_anything_is_lost() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut link = LinkBudget::default();
        assert!(!link.report(t0, 500_000, 0.0, Some(ms(40))));
        assert!(!link.report(t0 + S, 500_000, 0.0, Some(ms(1200))), "a busy moment");
        for i in 2..7 {
            assert!(!link.report(t0 + i * S, 500_000, 0.0, Some(ms(50))));
        }
        assert!(!link.report(t0 + 7 * S, 500_000, 0.0, Some(ms(600))));
        assert!(!link.report(t0 + 8 * S, 500_000, 0.0, Some(ms(800))));
        assert!(!link.report(t0 + 9 * S, 500_000, 0.0, Some(ms(60))), "a moment's respite");
        assert!(link.report(t0 + 10 * S, 500_000, 0.0, Some(ms(900))), "a queue that stays");
        assert_eq!(link.limit(), Some(350_000), "it delivered less than was sent");
        let t1 = t0 + 10 * S + DRAIN_TIME;
        assert!(link.report(t1, 300_000, 0.0, Some(ms(700))), "still queued once drained");
        assert_eq!(link.limit(), Some(210_000));
        // Three of the last five still long: the hold starts again, then runs out.
        for i in 1..5 {
            assert!(!link.report(t1 + i * S, 250_000, 0.0, Some(ms(50))));
        }
        assert!(link.report(t1 + S + MIN_HOLD, 250_000, 0.0, Some(ms(50))));
    }

    #[test]
    fn a_link_full_again_right_after_a_raise_is_tried_later_next_time() {
        let t0 = Instant::now();
        let mut link = LinkBudget::default();
        link.report(t0, 1_000_000, 0.5, None);
        link.report(t0 + MIN_HOLD, 400_000, 0.0, None); // raised
        let t1 = t0 + MIN_HOLD + S;
        link.report(t1, 700_000, 0.3, None); // the raise was too much
        assert!(!link.report(t1 + MIN_HOLD, 400_000, 0.0, None), "the hold is longer now");
        assert!(link.report(t1 + MIN_HOLD * 2, 400_000, 0.0, None));
        // Full again long after the last raise: the shortest hold again.
        let t2 = t1 + MIN_HOLD * 2 + RAISE_BLAMED_FOR * 2;
        link.report(t2, 1_000_000, 0.5, None);
        assert!(link.report(t2 + MIN_HOLD, 400_000, 0.0, None));
    }
}
