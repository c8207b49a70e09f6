//! Header-only forwarding helpers: sequence number, timestamp and picture id rewriting across
//! simulcast layer switches, and what the SFU reads of VP8 (keyframes and their size).

mod seq;
mod switch;
mod vp8;

pub use seq::SeqRewriter;
pub use switch::{Rewritten, TimestampRewriter, VideoRewriter};
pub use vp8::{Descriptor, is_keyframe_start};
