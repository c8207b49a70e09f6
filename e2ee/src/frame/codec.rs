//! What of a media frame stays in the clear: the one rule every Veil sender and receiver
//! applies, in the browser's transform worker (through wasm), the load test and the bots.
//!
//! The SFU forwards by RTP headers and needs two things from the payload: where a VP8 key frame
//! starts (to start a subscriber's stream, or switch layers, on one), and nothing from audio. So
//! a sender leaves the codec header of each frame in the clear as authenticated SFrame metadata
//! (RFC 9605 §4.4.3): it is not secret, but changing it breaks the frame's authentication.
//!
//! - VP8 (RFC 6386 §9.1): the 3-byte frame tag, plus on key frames the start code and
//!   dimensions, 10 bytes. Bit 0 of the first byte is 0 on key frames; sender and receiver read
//!   it from the frame itself, so they agree without trusting anything else.
//! - Opus: the TOC byte (RFC 6716 §3.1).
//!
//! A frame shorter than its header keeps all of it in the clear (an empty frame: nothing).

/// What a track carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaKind {
    /// Opus.
    Audio,
    /// VP8.
    Video,
}

/// VP8 frame header bytes kept in the clear on a key frame.
pub const VP8_KEY_FRAME_HEADER: usize = 10;
/// VP8 frame header bytes kept in the clear on a delta frame.
pub const VP8_DELTA_FRAME_HEADER: usize = 3;
/// Opus TOC bytes kept in the clear.
pub const OPUS_HEADER: usize = 1;

/// Whether a VP8 frame (as the encoder produced it, or as the receiver decrypted it) is a key
/// frame.
pub fn is_vp8_key_frame(frame: &[u8]) -> bool {
    frame.first().is_some_and(|b| b & 0x01 == 0)
}

/// How many leading bytes of `frame` stay in the clear.
pub fn clear_bytes(kind: MediaKind, frame: &[u8]) -> usize {
    let header = match kind {
        MediaKind::Audio => OPUS_HEADER,
        MediaKind::Video if is_vp8_key_frame(frame) => VP8_KEY_FRAME_HEADER,
        MediaKind::Video => VP8_DELTA_FRAME_HEADER,
    };
    header.min(frame.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vp8_keeps_its_frame_header_and_opus_its_toc_byte() {
        let key = [0x50, 0x42, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01, 0xff];
        let delta = [0x51, 0x42, 0x00, 0xff, 0xff];
        assert_eq!(clear_bytes(MediaKind::Video, &key), 10);
        assert_eq!(clear_bytes(MediaKind::Video, &delta), 3);
        assert_eq!(clear_bytes(MediaKind::Audio, &[0x78, 1, 2]), 1);
    }

    #[test]
    fn short_and_empty_frames_keep_what_they_have() {
        assert_eq!(clear_bytes(MediaKind::Video, &[0x50, 0x42]), 2);
        assert_eq!(clear_bytes(MediaKind::Video, &[]), 0);
        assert_eq!(clear_bytes(MediaKind::Audio, &[]), 0);
    }
}
