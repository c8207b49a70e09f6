//! Finding VP8 keyframes from the bytes a sender leaves in the clear.
//!
//! An RTP packet of VP8 carries the payload descriptor (RFC 7741 §4.2), then the frame. With
//! end-to-end encryption the sender leaves the descriptor and the first bytes of the frame (the
//! VP8 frame tag) unencrypted, as authenticated SFrame metadata, so the SFU can still tell where
//! a keyframe starts.

/// True when `payload` is the first packet of a VP8 keyframe.
///
/// The packet must start a partition (`S` = 1) of partition 0 (`PID` = 0), and the frame tag's
/// inverse key frame bit (`P`) must be 0. Malformed or truncated descriptors yield `false`.
pub fn is_keyframe_start(payload: &[u8]) -> bool {
    let Some(&first) = payload.first() else {
        return false;
    };
    let extended = first & 0x80 != 0;
    let start_of_partition = first & 0x10 != 0;
    let partition_id = first & 0x07;
    if !start_of_partition || partition_id != 0 {
        return false;
    }
    let mut at = 1;
    if extended {
        let Some(&x) = payload.get(at) else {
            return false;
        };
        at += 1;
        if x & 0x80 != 0 {
            // I: picture id, one byte or two when its M bit is set.
            let Some(&pic) = payload.get(at) else {
                return false;
            };
            at += if pic & 0x80 != 0 { 2 } else { 1 };
        }
        if x & 0x40 != 0 {
            at += 1; // L: TL0PICIDX
        }
        if x & 0x30 != 0 {
            at += 1; // T or K: TID/Y/KEYIDX
        }
    }
    matches!(payload.get(at), Some(tag) if tag & 0x01 == 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn finds_keyframes_with_and_without_extensions() {
        // S=1, PID=0, then a frame tag with P=0 (keyframe).
        assert!(is_keyframe_start(&[0x10, 0x50, 0x02, 0x00]));
        // Same, but P=1 (interframe).
        assert!(!is_keyframe_start(&[0x10, 0x51, 0x02, 0x00]));
        // X=1, I=1 with a 15-bit picture id, L=1, T=1, then a keyframe tag.
        assert!(is_keyframe_start(&[0x90, 0xE0, 0x81, 0x23, 0x07, 0x20, 0x50]));
        // X=1, I=1 with a 7-bit picture id, then an interframe tag.
        assert!(!is_keyframe_start(&[0x90, 0x80, 0x12, 0x31]));
    }

    #[test]
    fn continuation_packets_are_not_keyframe_starts() {
        assert!(!is_keyframe_start(&[0x00, 0x50]));
        assert!(!is_keyframe_start(&[0x11, 0x50]));
    }

    #[test]
    fn truncated_descriptors_are_not_keyframes() {
        for bad in [&[][..], &[0x10], &[0x90], &[0x90, 0x80], &[0x90, 0x80, 0x81, 0x00]] {
            assert!(!is_keyframe_start(bad), "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn never_panics(bytes in prop::collection::vec(any::<u8>(), 0..16)) {
            let _ = is_keyframe_start(&bytes);
        }
    }
}
