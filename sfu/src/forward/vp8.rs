//! Reading and renumbering the VP8 bytes a sender leaves in the clear.
//!
//! An RTP packet of VP8 carries the payload descriptor (RFC 7741 §4.2), then the frame. The
//! descriptor is packetisation, added after the browser's encoded transform, so it is never
//! encrypted; of the frame itself the sender leaves its first bytes (the frame tag, and on a
//! keyframe the start code and the picture size) unencrypted, as authenticated SFrame
//! metadata. From those the SFU tells where a keyframe starts and how large a simulcast
//! layer's pictures are, and it renumbers the descriptor's picture ids when it switches a
//! subscriber between layers (see [`super::VideoRewriter`]).

/// Where the fields of a VP8 payload descriptor are, in one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Descriptor {
    /// Offset of the picture id, and whether it is 15 bits (two bytes) rather than 7.
    pub picture_id: Option<(usize, bool)>,
    /// Offset of TL0PICIDX.
    pub tl0picidx: Option<usize>,
    /// Offset of the frame's first byte (the frame tag when the packet starts the frame).
    pub frame: usize,
    /// Start of a partition (`S`) of partition 0: the packet starts a frame.
    pub starts_frame: bool,
}

impl Descriptor {
    /// Parses the descriptor at the front of `payload`; `None` when it is truncated.
    pub fn parse(payload: &[u8]) -> Option<Self> {
        let first = *payload.first()?;
        let starts_frame = first & 0x10 != 0 && first & 0x07 == 0;
        let mut d = Descriptor { picture_id: None, tl0picidx: None, frame: 1, starts_frame };
        if first & 0x80 == 0 {
            return Some(d);
        }
        let x = *payload.get(1)?;
        let mut at = 2;
        if x & 0x80 != 0 {
            let long = *payload.get(at)? & 0x80 != 0;
            payload.get(at + usize::from(long))?;
            d.picture_id = Some((at, long));
            at += if long { 2 } else { 1 };
        }
        if x & 0x40 != 0 {
            payload.get(at)?;
            d.tl0picidx = Some(at);
            at += 1;
        }
        if x & 0x30 != 0 {
            payload.get(at)?;
            at += 1;
        }
        d.frame = at;
        Some(d)
    }

    /// The picture id, 7 or 15 bits.
    pub fn picture_id(&self, payload: &[u8]) -> Option<u16> {
        let (at, long) = self.picture_id?;
        Some(if long {
            u16::from(payload[at] & 0x7f) << 8 | u16::from(payload[at + 1])
        } else {
            u16::from(payload[at] & 0x7f)
        })
    }

    /// Writes `id` as the picture id, in the width the packet already uses.
    pub fn set_picture_id(&self, payload: &mut [u8], id: u16) {
        if let Some((at, long)) = self.picture_id {
            if long {
                payload[at] = 0x80 | ((id >> 8) as u8 & 0x7f);
                payload[at + 1] = id as u8;
            } else {
                payload[at] = id as u8 & 0x7f;
            }
        }
    }

    pub fn tl0picidx(&self, payload: &[u8]) -> Option<u8> {
        self.tl0picidx.map(|at| payload[at])
    }

    pub fn set_tl0picidx(&self, payload: &mut [u8], value: u8) {
        if let Some(at) = self.tl0picidx {
            payload[at] = value;
        }
    }

    /// Whether the packet starts a keyframe: it starts the frame, and the frame tag's inverse
    /// keyframe bit (`P`) is 0.
    pub fn starts_keyframe(&self, payload: &[u8]) -> bool {
        self.starts_frame && matches!(payload.get(self.frame), Some(tag) if tag & 0x01 == 0)
    }

    /// The picture size a keyframe announces (width, height, without the scaling bits), from
    /// the start code and size that follow its frame tag; `None` for anything else.
    pub fn keyframe_size(&self, payload: &[u8]) -> Option<(u16, u16)> {
        if !self.starts_keyframe(payload) {
            return None;
        }
        let header = payload.get(self.frame..self.frame + 10)?;
        if header[3..6] != [0x9d, 0x01, 0x2a] {
            return None;
        }
        let width = u16::from_le_bytes([header[6], header[7]]) & 0x3fff;
        let height = u16::from_le_bytes([header[8], header[9]]) & 0x3fff;
        Some((width, height))
    }
}

/// True when `payload` is the first packet of a VP8 keyframe.
///
/// The packet must start a partition (`S` = 1) of partition 0 (`PID` = 0), and the frame tag's
/// inverse key frame bit (`P`) must be 0. Malformed or truncated descriptors yield `false`.
pub fn is_keyframe_start(payload: &[u8]) -> bool {
    Descriptor::parse(payload).is_some_and(|d| d.starts_keyframe(payload))
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

    #[test]
    fn reads_a_keyframes_size_and_rewrites_its_picture_ids() {
        // X=1, I=1 (15-bit picture id 0x0123), L=1 (TL0PICIDX 7), then a 640x360 keyframe.
        let mut p = vec![0x90, 0xC0, 0x81, 0x23, 0x07, 0x50, 0x02, 0x00, 0x9d, 0x01, 0x2a];
        p.extend_from_slice(&[0x80, 0x02, 0x68, 0x01, 0xAA]);
        let d = Descriptor::parse(&p).unwrap();
        assert_eq!((d.picture_id(&p), d.tl0picidx(&p)), (Some(0x0123), Some(7)));
        assert_eq!(d.keyframe_size(&p), Some((640, 360)));
        d.set_picture_id(&mut p, 0x7ffe);
        d.set_tl0picidx(&mut p, 200);
        assert_eq!((d.picture_id(&p), d.tl0picidx(&p)), (Some(0x7ffe), Some(200)));
        assert!(d.starts_keyframe(&p), "the frame is untouched");
        // A delta frame has no size, nor has a keyframe whose start code is wrong.
        let mut delta = p.clone();
        delta[5] |= 0x01;
        assert_eq!(Descriptor::parse(&delta).unwrap().keyframe_size(&delta), None);
        let mut bad = p.clone();
        bad[9] = 0;
        assert_eq!(Descriptor::parse(&bad).unwrap().keyframe_size(&bad), None);
        // A 7-bit picture id stays 7 bits.
        let mut short = vec![0x90, 0x80, 0x12, 0x31];
        let d = Descriptor::parse(&short).unwrap();
        d.set_picture_id(&mut short, 0x1ff);
        assert_eq!((short.len(), d.picture_id(&short)), (4, Some(0x7f)));
    }

    proptest! {
        #[test]
        fn never_panics(bytes in prop::collection::vec(any::<u8>(), 0..16)) {
            let _ = is_keyframe_start(&bytes);
            if let Some(d) = Descriptor::parse(&bytes) {
                let mut copy = bytes.clone();
                let _ = (d.picture_id(&bytes), d.tl0picidx(&bytes), d.keyframe_size(&bytes));
                d.set_picture_id(&mut copy, 0x7fff);
                d.set_tl0picidx(&mut copy, 1);
                prop_assert_eq!(copy.len(), bytes.len());
            }
        }
    }
}
