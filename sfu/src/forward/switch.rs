//! One subscriber's outgoing video stream across simulcast layer switches.
//!
//! Each simulcast layer is its own RTP stream, with its own sequence numbers, its own random
//! timestamp base and, for VP8, its own picture ids. A subscriber receives one layer at a time
//! and must see one continuous stream whichever layer it gets: after a switch (always at a
//! keyframe of the new layer) sequence numbers continue right after the last one sent
//! ([`SeqRewriter`]), the timestamp advances from the last one sent by the time that passed
//! between the two packets' arrivals, and picture ids and TL0PICIDX continue one after the
//! last. Within a run, every field keeps its input's spacing, so the receiver's jitter buffer
//! and NACKs work as if the SFU were not there.

use std::time::Instant;

use str0m::rtp::SeqNo;

use super::SeqRewriter;
use super::vp8::Descriptor;

/// The RTP video clock: 90 kHz.
const VIDEO_CLOCK_HZ: u64 = 90_000;

/// Maps one layer's RTP timestamps onto a subscriber's continuous timeline.
#[derive(Debug, Clone, Default)]
pub struct TimestampRewriter {
    /// `output - input` (wrapping) for the current run.
    offset: Option<u32>,
    /// The last timestamp sent, and when its packet arrived.
    last: Option<(u32, Instant)>,
}

impl TimestampRewriter {
    /// The next packet starts a new run (a layer switch).
    pub fn restart(&mut self) {
        self.offset = None;
    }

    /// The outgoing timestamp for `input`, whose packet arrived at `arrival`.
    pub fn rewrite(&mut self, input: u32, arrival: Instant) -> u32 {
        let offset = *self.offset.get_or_insert_with(|| match self.last {
            // The first run keeps the publisher's timestamps: nothing to continue from.
            None => 0,
            // A new run starts after the last timestamp sent, by the time between arrivals
            // (at least one tick, so the new layer's first frame is never "the same frame").
            Some((last, at)) => {
                let elapsed = arrival.saturating_duration_since(at);
                let ticks = (elapsed.as_micros() as u64 * VIDEO_CLOCK_HZ / 1_000_000).max(1);
                last.wrapping_add(ticks as u32).wrapping_sub(input)
            }
        });
        let output = input.wrapping_add(offset);
        // Only forward movement (by RTP's half-range rule) moves the reference point.
        let ahead = self.last.is_none_or(|(last, _)| output.wrapping_sub(last) < 1 << 31);
        if ahead {
            self.last = Some((output, arrival));
        }
        output
    }
}

/// Continues a run of modular counters (VP8 picture ids, TL0PICIDX) across switches.
#[derive(Debug, Clone, Copy)]
struct Counter {
    modulus: u32,
    offset: Option<u32>,
    last: Option<u32>,
}

impl Counter {
    const fn new(bits: u32) -> Self {
        Self { modulus: 1 << bits, offset: None, last: None }
    }

    fn restart(&mut self) {
        self.offset = None;
    }

    fn rewrite(&mut self, input: u32) -> u32 {
        let m = self.modulus;
        let input = input % m;
        let offset = *self.offset.get_or_insert_with(|| match self.last {
            None => 0,
            Some(last) => (last + 1 + m - input) % m,
        });
        let output = (input + offset) % m;
        let ahead = self.last.is_none_or(|last| (output + m - last) % m < m / 2);
        if ahead {
            self.last = Some(output);
        }
        output
    }
}

/// Everything rewritten in one subscriber's copy of a video track.
#[derive(Debug, Clone)]
pub struct VideoRewriter {
    seq: SeqRewriter,
    timestamp: TimestampRewriter,
    /// 15-bit VP8 picture ids (7-bit ones are kept to their low bits).
    picture_id: Counter,
    tl0picidx: Counter,
}

impl Default for VideoRewriter {
    fn default() -> Self {
        Self {
            seq: SeqRewriter::new(),
            timestamp: TimestampRewriter::default(),
            picture_id: Counter::new(15),
            tl0picidx: Counter::new(8),
        }
    }
}

/// The rewritten header fields of one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rewritten {
    pub seq_no: SeqNo,
    pub timestamp: u32,
}

impl VideoRewriter {
    pub fn new() -> Self {
        Self::default()
    }

    /// The next packet starts a new run: a layer switch, or forwarding resumed after a pause.
    pub fn restart(&mut self) {
        self.seq.restart();
        self.timestamp.restart();
        self.picture_id.restart();
        self.tl0picidx.restart();
    }

    /// Rewrites one packet's header: its outgoing sequence number and timestamp. `None`: the
    /// packet is older than the current run, and is dropped.
    pub fn rewrite(
        &mut self,
        seq_no: SeqNo,
        timestamp: u32,
        arrival: Instant,
    ) -> Option<Rewritten> {
        let seq_no = self.seq.rewrite(seq_no)?;
        let timestamp = self.timestamp.rewrite(timestamp, arrival);
        Some(Rewritten { seq_no, timestamp })
    }

    /// Renumbers the picture id and TL0PICIDX of a VP8 packet's descriptor `d`: a copy of
    /// `payload` when they change, `None` when they stay as they are (before any switch), so
    /// that the common case forwards the publisher's bytes without copying them.
    pub fn renumber_vp8(&mut self, d: &Descriptor, payload: &[u8]) -> Option<Vec<u8>> {
        let picture_id = d.picture_id(payload).map(|id| {
            let out = self.picture_id.rewrite(u32::from(id)) as u16;
            (id, out)
        });
        let tl0 = d.tl0picidx(payload).map(|v| (v, self.tl0picidx.rewrite(u32::from(v)) as u8));
        let same = picture_id.is_none_or(|(a, b)| a == b) && tl0.is_none_or(|(a, b)| a == b);
        if same {
            return None;
        }
        let mut copy = payload.to_vec();
        if let Some((_, id)) = picture_id {
            d.set_picture_id(&mut copy, id);
        }
        if let Some((_, v)) = tl0 {
            d.set_tl0picidx(&mut copy, v);
        }
        Some(copy)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use proptest::prelude::*;

    use super::*;

    /// A VP8 packet with a 15-bit picture id and a TL0PICIDX.
    fn vp8(picture_id: u16, tl0: u8) -> Vec<u8> {
        vec![0x90, 0xC0, 0x80 | (picture_id >> 8) as u8, picture_id as u8, tl0, 0x51]
    }

    fn fields(p: &[u8]) -> (u16, u8) {
        let d = Descriptor::parse(p).unwrap();
        (d.picture_id(p).unwrap(), d.tl0picidx(p).unwrap())
    }

    /// Rewrites header and descriptor as the engine does; `p` becomes what is sent.
    fn send(
        rw: &mut VideoRewriter,
        seq: u64,
        ts: u32,
        at: Instant,
        p: &mut Vec<u8>,
    ) -> Option<Rewritten> {
        let out = rw.rewrite(seq.into(), ts, at)?;
        if let Some(copy) = rw.renumber_vp8(&Descriptor::parse(p).unwrap(), p) {
            *p = copy;
        }
        Some(out)
    }

    #[test]
    fn a_switch_continues_every_field_from_the_last_packet_sent() {
        let t0 = Instant::now();
        let mut rw = VideoRewriter::new();
        // The high layer: seq 1000.., timestamps near the top of the range, picture id 0x7ffe.
        for i in 0..3u32 {
            let mut p = vp8((0x7ffe + i as u16) & 0x7fff, 250 + i as u8);
            let at = t0 + Duration::from_millis(33 * u64::from(i));
            let out = send(&mut rw, 1000 + u64::from(i), u32::MAX - 6000 + i * 3000, at, &mut p);
            assert_eq!(*out.unwrap().seq_no, 1 + u64::from(i));
            assert_eq!(fields(&p), ((0x7ffe + i as u16) & 0x7fff, 250 + i as u8));
        }
        // The low layer, 50 ms after the last high packet: everything continues.
        rw.restart();
        let mut p = vp8(17, 3);
        let at = t0 + Duration::from_millis(66 + 50);
        let out = send(&mut rw, 77_000, 123_456, at, &mut p).unwrap();
        assert_eq!(*out.seq_no, 4);
        assert_eq!(out.timestamp, (u32::MAX - 6000 + 6000).wrapping_add(50 * 90));
        assert_eq!(fields(&p), (1, 253), "picture id wraps past 0x7fff; TL0PICIDX continues");
        // ...and keeps the new layer's spacing.
        let mut p = vp8(18, 4);
        let out = send(&mut rw, 77_001, 126_456, at + Duration::from_millis(33), &mut p);
        assert_eq!((*out.unwrap().seq_no, fields(&p)), (5, (2, 254)));
    }

    #[test]
    fn packets_from_before_a_switch_are_dropped() {
        let t0 = Instant::now();
        let mut rw = VideoRewriter::new();
        let mut p = vp8(1, 1);
        send(&mut rw, 10, 0, t0, &mut p).unwrap();
        rw.restart();
        send(&mut rw, 500, 9_000, t0, &mut p).unwrap();
        assert!(send(&mut rw, 499, 6_000, t0, &mut p).is_none());
    }

    proptest! {
        /// Across any sequence of layer switches, with any timestamp bases (wrapping included):
        /// within a run, outgoing timestamps keep their inputs' spacing; the first timestamp
        /// of a run is ahead of the last one sent (never the same, never behind); picture ids
        /// and TL0PICIDX likewise continue by exactly one.
        #[test]
        fn every_run_continues_the_last(
            runs in prop::collection::vec(
                (any::<u32>(), 0u16..0x8000, any::<u8>(), 0u64..500, prop::collection::vec(0u32..6000, 1..20)),
                1..6,
            )
        ) {
            let mut rw = VideoRewriter::new();
            let mut now = Instant::now();
            let mut seq = 0u64;
            let mut last: Option<(u32, u16, u8)> = None;
            for (base, pid, tl0, gap_ms, steps) in runs {
                rw.restart();
                now += Duration::from_millis(gap_ms);
                let (mut ts, mut first, mut prev) = (base, true, None::<(u32, u32)>);
                for (i, step) in steps.iter().enumerate() {
                    ts = ts.wrapping_add(*step);
                    seq += 1;
                    let in_pid = pid.wrapping_add(i as u16) & 0x7fff;
                    let in_tl0 = tl0.wrapping_add(i as u8);
                    let mut p = vp8(in_pid, in_tl0);
                    let out = send(&mut rw, seq + 1000, ts, now, &mut p).unwrap();
                    let (out_pid, out_tl0) = fields(&p);
                    if first {
                        if let Some((lt, lp, l0)) = last {
                            let ahead = out.timestamp.wrapping_sub(lt);
                            prop_assert!((1..1 << 31).contains(&ahead), "ts {} after {}", out.timestamp, lt);
                            prop_assert_eq!(out_pid, (lp + 1) & 0x7fff);
                            prop_assert_eq!(out_tl0, l0.wrapping_add(1));
                        }
                        first = false;
                    }
                    if let Some((pin, pout)) = prev {
                        prop_assert_eq!(out.timestamp.wrapping_sub(pout), ts.wrapping_sub(pin));
                    }
                    prev = Some((ts, out.timestamp));
                    last = Some((out.timestamp, out_pid, out_tl0));
                }
            }
        }
    }
}
