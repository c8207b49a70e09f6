//! Simulcast layers: what a publisher sends of one track, and which layer each subscriber gets.
//!
//! A browser publishing simulcast sends its camera as several RTP streams (layers) of one
//! m-line, told apart by their rid. The SFU learns each layer's picture size from its
//! keyframes (the VP8 bytes left in the clear) and sends each subscriber the smallest layer
//! that fills the tile the subscriber shows it in: a thumbnail never pulls 720p. A track
//! without simulcast is one layer without a rid.

use std::time::{Duration, Instant};

/// A layer that sent nothing for this long has stopped (the browser dropped it for its own
/// bandwidth or CPU, or the camera's resolution is too low for it): it is not chosen.
pub(crate) const LAYER_STALE_AFTER: Duration = Duration::from_millis(1500);

use str0m::media::Rid;

/// One layer of a published track.
#[derive(Debug, Clone)]
pub(crate) struct Layer {
    pub rid: Option<Rid>,
    /// Picture height from the layer's last keyframe; unknown until one arrives.
    pub height: Option<u16>,
    /// When a keyframe was last asked of this layer (requests are spaced per layer).
    pub last_keyframe_request: Option<Instant>,
    /// When its last packet arrived.
    pub last_packet: Option<Instant>,
    /// Whether it counted as sending when layers were last chosen.
    pub live: bool,
    /// Whether the publisher was told some subscriber needs it (else it may pause it).
    pub wanted: bool,
    /// When it was last asked for again (or the track began): it gets time to start sending.
    pub wanted_since: Option<Instant>,
    /// Since when no subscriber has needed it, while it is still wanted.
    pub unneeded_since: Option<Instant>,
    /// What it sends, measured as it arrives: what forwarding it to a subscriber costs.
    pub rate: RateMeter,
}

/// A stream's bit rate, measured over windows of [`RATE_WINDOW`]. Once measured, the rate
/// stays when the stream stops (a paused layer costs what it cost when it last sent).
#[derive(Debug, Clone, Default)]
pub(crate) struct RateMeter {
    window_start: Option<Instant>,
    bytes: u64,
    bps: Option<u64>,
}

/// How long [`RateMeter`] counts before it updates: long enough to span a keyframe and the
/// smaller frames after it.
pub(crate) const RATE_WINDOW: Duration = Duration::from_secs(1);

impl RateMeter {
    /// Counts a packet of `bytes` arriving `at`.
    pub fn add(&mut self, at: Instant, bytes: usize) {
        let start = *self.window_start.get_or_insert(at);
        let elapsed = at.saturating_duration_since(start);
        if elapsed >= RATE_WINDOW {
            // A window the stream was silent through (paused, or stalled) says nothing of what
            // it costs while it sends.
            if elapsed < RATE_WINDOW * 2 {
                self.bps = Some(self.bytes * 8 * 1_000_000 / elapsed.as_micros() as u64);
            }
            self.window_start = Some(at);
            self.bytes = 0;
        }
        self.bytes += bytes as u64;
    }

    /// Bits per second over the last full window; `None` before one was counted.
    pub fn bps(&self) -> Option<u64> {
        self.bps
    }
}

impl Layer {
    pub fn new(rid: Option<Rid>) -> Self {
        Self {
            rid,
            height: None,
            last_keyframe_request: None,
            last_packet: None,
            live: true,
            wanted: true,
            wanted_since: None,
            unneeded_since: None,
            rate: RateMeter::default(),
        }
    }

    /// Whether the layer sends, at `now`, for a track that started sending at `since`: every
    /// layer does during the track's first moments, when not all have begun.
    pub fn sending(&self, since: Instant, now: Instant) -> bool {
        now < since + LAYER_STALE_AFTER
            || self.last_packet.is_some_and(|t| now < t + LAYER_STALE_AFTER)
            || self.wanted_since.is_some_and(|t| now < t + LAYER_STALE_AFTER)
    }

    /// Whether a subscriber may be given it: it sends, or the SFU paused it and can ask for it
    /// again.
    pub fn available(&self) -> bool {
        self.live || !self.wanted
    }
}

/// Marks which of `layers` send at `now`; true when that changed (layers are to be chosen
/// again).
pub(crate) fn update_live(layers: &mut [Layer], since: Instant, now: Instant) -> bool {
    let mut changed = false;
    for layer in layers.iter_mut() {
        let live = layer.sending(since, now);
        changed |= live != layer.live;
        layer.live = live;
    }
    changed
}

/// How long a layer nobody needs keeps being sent before the publisher is told it may pause it,
/// so that a tile resized back and forth does not pause and resume it each time.
pub(crate) const PAUSE_UNNEEDED_AFTER: Duration = Duration::from_secs(3);

/// Marks which of `layers` the publisher should send, given the rids some subscriber gets or
/// is switching to (`needed`): a needed layer at once, an unneeded one that sends after
/// [`PAUSE_UNNEEDED_AFTER`]. A layer the publisher stopped on its own (short of CPU or
/// bandwidth) stays wanted, so that it is used again as soon as it comes back. Returns the
/// rids to send when that changed.
pub(crate) fn update_wanted(
    layers: &mut [Layer],
    needed: &[Option<Rid>],
    now: Instant,
) -> Option<Vec<Rid>> {
    let mut changed = false;
    for layer in layers.iter_mut() {
        if needed.contains(&layer.rid) {
            layer.unneeded_since = None;
            if !layer.wanted {
                layer.wanted = true;
                layer.wanted_since = Some(now);
                changed = true;
            }
        } else if layer.wanted && !layer.live {
            layer.unneeded_since = None;
        } else if layer.wanted {
            let since = *layer.unneeded_since.get_or_insert(now);
            if now >= since + PAUSE_UNNEEDED_AFTER {
                layer.wanted = false;
                changed = true;
            }
        }
    }
    changed.then(|| layers.iter().filter(|l| l.wanted).filter_map(|l| l.rid).collect())
}

/// What a subscriber should receive of a track.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    /// Nothing: the video is not on the subscriber's screen.
    Paused,
    /// The layer with this rid (`None`: the track's only layer).
    Layer(Option<Rid>),
}

/// The layer for a tile `tile_height` pixels high (`None`: the subscriber has not said, so the
/// best there is). Layers are taken in the order the publisher listed them, low to high, as
/// browsers list their encodings: the first whose known size is at least 80 % of the tile's
/// height (so a slightly larger tile does not pull the next layer up), else the last. A layer
/// whose size is not known yet (no keyframe seen) is never chosen to fill a tile but stays the
/// best, so the first keyframes of a starting publisher do not bounce subscribers between
/// layers. Layers that stopped sending are passed over while any other sends.
pub(crate) fn choose(layers: &[Layer], tile_height: Option<u32>) -> Target {
    if tile_height == Some(0) {
        return Target::Paused;
    }
    let any_live = layers.iter().any(Layer::available);
    let candidates = || layers.iter().filter(move |l| l.available() || !any_live);
    let best = candidates().next_back().and_then(|l| l.rid);
    let Some(tile) = tile_height else {
        return Target::Layer(best);
    };
    let fills = candidates().find(|l| l.height.is_some_and(|h| u32::from(h) * 5 >= tile * 4));
    Target::Layer(fills.map_or(best, |l| l.rid))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layers(sizes: &[(&str, Option<u16>)]) -> Vec<Layer> {
        sizes
            .iter()
            .map(|(rid, h)| Layer { height: *h, ..Layer::new(Some(Rid::from(*rid))) })
            .collect()
    }

    fn rid(target: Target) -> String {
        match target {
            Target::Paused => "paused".into(),
            Target::Layer(rid) => rid.map_or("-".into(), |r| r.to_string()),
        }
    }

    #[test]
    fn a_tile_gets_the_smallest_layer_that_fills_it() {
        let l = layers(&[("q", Some(180)), ("h", Some(360)), ("f", Some(720))]);
        assert_eq!(rid(choose(&l, Some(120))), "q");
        assert_eq!(rid(choose(&l, Some(180))), "q");
        assert_eq!(rid(choose(&l, Some(220))), "q", "within 80 %");
        assert_eq!(rid(choose(&l, Some(300))), "h");
        assert_eq!(rid(choose(&l, Some(720))), "f");
        assert_eq!(rid(choose(&l, Some(2160))), "f", "nothing larger: the tallest");
        assert_eq!(rid(choose(&l, None)), "f", "not said: the best");
        assert_eq!(rid(choose(&l, Some(0))), "paused", "off screen: nothing");
    }

    #[test]
    fn a_layer_of_unknown_size_fills_no_tile_but_stays_the_best() {
        let l = layers(&[("q", None), ("h", None), ("f", None)]);
        assert_eq!(rid(choose(&l, Some(100))), "f");
        // The low layer's keyframe came first: a thumbnail takes it, the rest stay on top.
        let l = layers(&[("q", Some(180)), ("h", None), ("f", None)]);
        assert_eq!(rid(choose(&l, Some(100))), "q");
        assert_eq!(rid(choose(&l, Some(720))), "f");
        assert_eq!(rid(choose(&l, None)), "f");
    }

    #[test]
    fn a_layer_that_stopped_sending_is_passed_over() {
        let t0 = Instant::now();
        let mut l = layers(&[("q", Some(180)), ("h", Some(360)), ("f", Some(720))]);
        for layer in &mut l {
            layer.last_packet = Some(t0);
        }
        l[2].last_packet = None; // f never sent
        // At first every layer counts; once the start is over, f does not.
        assert!(!update_live(&mut l, t0, t0 + Duration::from_millis(100)));
        assert_eq!(rid(choose(&l, None)), "f");
        l[0].last_packet = Some(t0 + Duration::from_secs(2));
        l[1].last_packet = Some(t0 + Duration::from_secs(2));
        assert!(update_live(&mut l, t0, t0 + Duration::from_secs(2)));
        assert_eq!(rid(choose(&l, None)), "h");
        assert_eq!(rid(choose(&l, Some(720))), "h");
        assert_eq!(rid(choose(&l, Some(100))), "q");
        // Nothing sends at all: choose as if all did.
        assert!(update_live(&mut l, t0, t0 + Duration::from_secs(9)));
        assert_eq!(rid(choose(&l, None)), "f");
    }

    #[test]
    fn unneeded_layers_pause_after_a_grace_and_come_back_at_once() {
        let t0 = Instant::now();
        let mut l = layers(&[("q", Some(180)), ("h", Some(360)), ("f", Some(720))]);
        let q = Some(Rid::from("q"));
        let f = Some(Rid::from("f"));
        assert_eq!(update_wanted(&mut l, &[q], t0), None, "not before the grace is over");
        let later = t0 + PAUSE_UNNEEDED_AFTER;
        let wanted = update_wanted(&mut l, &[q], later).unwrap();
        assert_eq!(wanted, [Rid::from("q")]);
        assert_eq!(update_wanted(&mut l, &[q], later), None, "said once");
        // A paused layer may be chosen (the SFU can ask for it again), and is asked for at once.
        assert_eq!(rid(choose(&l, None)), "f");
        let wanted = update_wanted(&mut l, &[q, f], later).unwrap();
        assert_eq!(wanted, [Rid::from("q"), Rid::from("f")]);
        assert!(l[2].sending(t0, later), "it gets time to start again");
        // A layer the publisher dropped on its own stays wanted.
        l[1].wanted = true;
        l[1].live = false;
        let much_later = later + PAUSE_UNNEEDED_AFTER * 2;
        l[0].live = true;
        l[2].live = true;
        update_wanted(&mut l, &[q, f], later);
        assert_eq!(update_wanted(&mut l, &[q, f], much_later), None);
        assert!(l[1].wanted);
    }

    #[test]
    fn a_rate_is_measured_over_whole_windows_and_kept_when_the_stream_stops() {
        let t0 = Instant::now();
        let mut meter = RateMeter::default();
        for i in 0..50 {
            meter.add(t0 + Duration::from_millis(20 * i), 1000);
        }
        assert_eq!(meter.bps(), None, "no full window yet");
        meter.add(t0 + Duration::from_secs(1), 1000);
        assert_eq!(meter.bps(), Some(400_000), "50 kB in a second");
        // Paused for a while, then sending again: the silence does not count.
        meter.add(t0 + Duration::from_secs(9), 1000);
        assert_eq!(meter.bps(), Some(400_000), "a silent window is not a slow one");
    }

    #[test]
    fn a_track_without_simulcast_is_its_one_layer() {
        let l = vec![Layer::new(None)];
        assert_eq!(choose(&l, Some(90)), Target::Layer(None));
        assert_eq!(choose(&l, Some(0)), Target::Paused);
        assert_eq!(choose(&[], None), Target::Layer(None));
    }
}
