//! Header-only forwarding helpers: sequence number rewriting and keyframe detection.

mod seq;
mod vp8;

pub use seq::SeqRewriter;
pub use vp8::is_keyframe_start;
