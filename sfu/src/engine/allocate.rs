//! Sharing one subscriber's link among the videos it receives.
//!
//! Each video a subscriber shows asks for a layer ([`super::layers::choose`]: the smallest that
//! fills its tile). When the subscriber's link has shown it cannot carry all of them
//! ([`super::budget`]), [`allocate`] gives less: audio is paid for first, then every video gets
//! its lowest layer in order of priority (screens, then larger tiles, which is where the client
//! puts the active speaker), then the videos are raised in that same order while the budget
//! lasts. A video that does not fit even at its lowest layer is paused rather than sent into a
//! link that drops it. Costs are the layers' rates as the SFU measures them arriving from
//! their publishers.
//!
//! Moving a video up needs [`UP_HEADROOM_PERCENT`] of the layer's rate, so that a budget that
//! wobbles around one layer's rate does not switch back and forth.

use str0m::media::Rid;

use super::layers::{Layer, Target};

/// What moving up to a layer asks of the budget, in percent of its rate: keyframes and rate
/// swings of the new layer must fit too.
pub(crate) const UP_HEADROOM_PERCENT: u64 = 125;

/// One video a subscriber receives.
#[derive(Debug, Clone)]
pub(crate) struct Demand<'a> {
    /// The publisher's layers, low to high.
    pub layers: &'a [Layer],
    /// The layer its tile asks for.
    pub wanted: Target,
    /// What the subscriber was given last time.
    pub current: Target,
    /// A shared screen: it comes before every camera.
    pub screen: bool,
    /// How high it is shown (`None`: not said, taken as large).
    pub tile_height: Option<u32>,
}

/// A layer's rid and what it costs.
#[derive(Debug, Clone, Copy)]
struct Step {
    rid: Option<Rid>,
    bps: u64,
}

/// The layers `demand` may be given, low to high, up to the one its tile asks for.
fn steps(demand: &Demand) -> Vec<Step> {
    let Target::Layer(wanted) = demand.wanted else {
        return Vec::new();
    };
    let any_live = demand.layers.iter().any(Layer::available);
    let mut steps = Vec::new();
    for layer in demand.layers {
        if layer.available() || !any_live {
            // A publisher's first second is not measured yet: it is sent as the tile asks.
            steps.push(Step { rid: layer.rid, bps: layer.rate.bps().unwrap_or(0) });
        }
        if layer.rid == wanted {
            return steps;
        }
    }
    // The tile's layer is unknown here (a track without layers yet): give what it asks.
    vec![Step { rid: wanted, bps: 0 }]
}

/// What giving `step` asks of the budget when the subscriber had `current`: its rate, with
/// headroom when it is above what the subscriber had.
fn needed(steps: &[Step], step: usize, current: Option<usize>) -> u64 {
    let bps = steps[step].bps;
    if current.is_some_and(|c| c >= step) { bps } else { bps * UP_HEADROOM_PERCENT / 100 }
}

/// What each of `demands` gets from a link limited to `limit` bits per second (`None`: no
/// limit, every video gets what its tile asks for) that also carries `audio_bps`.
pub(crate) fn allocate(limit: Option<u64>, audio_bps: u64, demands: &[Demand]) -> Vec<Target> {
    let Some(limit) = limit else {
        return demands.iter().map(|d| d.wanted).collect();
    };
    let mut remaining = limit.saturating_sub(audio_bps);
    let steps: Vec<Vec<Step>> = demands.iter().map(steps).collect();
    let current: Vec<Option<usize>> = demands
        .iter()
        .zip(&steps)
        .map(|(d, s)| match d.current {
            Target::Layer(rid) => s.iter().position(|step| step.rid == rid),
            Target::Paused => None,
        })
        .collect();
    let mut order: Vec<usize> = (0..demands.len()).collect();
    order.sort_by_key(|&i| {
        let d = &demands[i];
        (!d.screen, std::cmp::Reverse(d.tile_height.unwrap_or(u32::MAX)))
    });
    let mut level: Vec<Option<usize>> = vec![None; demands.len()];
    // Everyone's lowest layer first, then each raised as far as it goes, in order.
    for &i in &order {
        if !steps[i].is_empty() && needed(&steps[i], 0, current[i]) <= remaining {
            remaining -= steps[i][0].bps;
            level[i] = Some(0);
        }
    }
    for &i in &order {
        let Some(mut at) = level[i] else { continue };
        while at + 1 < steps[i].len() {
            let extra = needed(&steps[i], at + 1, current[i]).saturating_sub(steps[i][at].bps);
            if extra > remaining {
                break;
            }
            remaining -= steps[i][at + 1].bps.saturating_sub(steps[i][at].bps);
            at += 1;
        }
        level[i] = Some(at);
    }
    level
        .iter()
        .zip(&steps)
        .map(|(level, steps)| level.map_or(Target::Paused, |l| Target::Layer(steps[l].rid)))
        .collect()
}

/// What `demands` would cost if every one got what its tile asks for.
pub(crate) fn desired_bps(demands: &[Demand]) -> u64 {
    demands.iter().filter_map(|d| steps(d).last().map(|s| s.bps)).sum()
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    /// A layer that sent `bps` for a second.
    fn measured(rid: Option<&str>, bps: u64) -> Layer {
        let t0 = Instant::now();
        let mut layer = Layer::new(rid.map(Rid::from));
        for i in 0..=50 {
            layer.rate.add(t0 + Duration::from_millis(20 * i), (bps / 8 / 50) as usize);
        }
        layer
    }

    /// A camera in three layers sending 150, 500 and 1500 kbit/s, as measured.
    fn camera() -> Vec<Layer> {
        [("q", 150_000), ("h", 500_000), ("f", 1_500_000)]
            .into_iter()
            .map(|(rid, bps)| measured(Some(rid), bps))
            .collect()
    }

    fn f() -> Target {
        Target::Layer(Some(Rid::from("f")))
    }

    fn names(targets: &[Target]) -> Vec<String> {
        targets
            .iter()
            .map(|t| match t {
                Target::Paused => "paused".into(),
                Target::Layer(rid) => rid.map_or("-".into(), |r| r.to_string()),
            })
            .collect()
    }

    fn demand(layers: &[Layer], height: u32) -> Demand<'_> {
        Demand { layers, wanted: f(), current: f(), screen: false, tile_height: Some(height) }
    }

    #[test]
    fn an_ample_budget_gives_every_tile_what_it_asks() {
        let cam = camera();
        let d = [demand(&cam, 720), demand(&cam, 720)];
        assert_eq!(names(&allocate(None, 0, &d)), ["f", "f"]);
        assert_eq!(names(&allocate(Some(3_100_000), 50_000, &d)), ["f", "f"]);
        assert_eq!(desired_bps(&d), 3_000_000);
    }

    #[test]
    fn a_tight_budget_lowers_the_smaller_tiles_first() {
        let cam = camera();
        let d = [demand(&cam, 180), demand(&cam, 720), demand(&cam, 360)];
        // 2.2 Mbit/s: the large tile keeps 720p, the others share what is left.
        assert_eq!(names(&allocate(Some(2_200_000), 0, &d)), ["q", "f", "h"]);
        assert_eq!(names(&allocate(Some(1_900_000), 0, &d)), ["q", "f", "q"]);
        assert_eq!(names(&allocate(Some(900_000), 0, &d)), ["q", "h", "q"]);
        // Not even the lowest layers fit: the smallest tile is paused, not sent into loss.
        assert_eq!(names(&allocate(Some(320_000), 0, &d)), ["paused", "q", "q"]);
        assert_eq!(names(&allocate(Some(0), 0, &d)), ["paused", "paused", "paused"]);
    }

    #[test]
    fn audio_is_paid_for_first() {
        let cam = camera();
        let d = [demand(&cam, 720)];
        assert_eq!(names(&allocate(Some(700_000), 100_000, &d)), ["h"]);
        assert_eq!(names(&allocate(Some(700_000), 500_000, &d)), ["q"]);
        assert_eq!(names(&allocate(Some(700_000), 600_000, &d)), ["paused"]);
    }

    #[test]
    fn a_screen_comes_before_any_camera() {
        let cam = camera();
        let screen = vec![measured(None, 150_000)];
        let mut shared = demand(&screen, 360);
        (shared.screen, shared.wanted, shared.current) =
            (true, Target::Layer(None), Target::Layer(None));
        let d = [demand(&cam, 1080), shared];
        assert_eq!(names(&allocate(Some(200_000), 0, &d)), ["paused", "-"]);
        // 720p for the camera alone would fit, but the screen is paid for first.
        assert_eq!(names(&allocate(Some(1_550_000), 0, &d)), ["h", "-"]);
        assert_eq!(names(&allocate(Some(1_650_000), 0, &d)), ["f", "-"]);
    }

    #[test]
    fn moving_up_needs_headroom_and_staying_does_not() {
        let cam = camera();
        let mut d = demand(&cam, 720);
        d.current = Target::Layer(Some(Rid::from("h")));
        // 1.6 Mbit/s would carry 720p, but not with room to spare: stay at 360p.
        assert_eq!(names(&allocate(Some(1_600_000), 0, &[d.clone()])), ["h"]);
        assert_eq!(names(&allocate(Some(1_900_000), 0, &[d.clone()])), ["f"]);
        // Already on 720p, the same 1.6 Mbit/s keeps it.
        d.current = f();
        assert_eq!(names(&allocate(Some(1_600_000), 0, &[d.clone()])), ["f"]);
        assert_eq!(names(&allocate(Some(1_400_000), 0, &[d])), ["h"]);
    }

    #[test]
    fn a_publisher_not_measured_yet_is_sent_as_its_tile_asks() {
        let new = vec![Layer::new(Some(Rid::from("q"))), Layer::new(Some(Rid::from("f")))];
        assert_eq!(names(&allocate(Some(100_000), 0, &[demand(&new, 720)])), ["f"]);
    }

    #[test]
    fn a_tile_that_asks_for_less_never_gets_more() {
        let cam = camera();
        let mut d = demand(&cam, 180);
        d.wanted = Target::Layer(Some(Rid::from("q")));
        assert_eq!(names(&allocate(Some(10_000_000), 0, &[d.clone()])), ["q"]);
        d.wanted = Target::Paused;
        assert_eq!(names(&allocate(Some(10_000_000), 0, &[d])), ["paused"]);
    }
}
