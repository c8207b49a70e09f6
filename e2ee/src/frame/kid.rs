//! The SFrame key id (KID) layout for MLS senders, RFC 9605 §5.2.
//!
//! ```text
//!  64-S-E bits   S = 16 bits  E = 8 bits
//! +-------------+------------+----------+
//! | Context ID  | leaf index | epoch    |
//! +-------------+------------+----------+
//! ```
//!
//! - **Epoch**: the low 8 bits of the MLS epoch. A receiver therefore tells apart at most 256
//!   epochs at a time, far more than the one or two a grace period keeps.
//! - **Index**: the sender's MLS leaf index. `S` is fixed at 16 for every Veil session rather
//!   than derived from the current group size, so a KID can be parsed without knowing the size
//!   of the tree it was minted in; a group holds at most 65,536 leaves.
//! - **Context**: chosen by the sender, one per track (0 audio, 1 camera, 2 screen, ...), so no
//!   two of its tracks share a counter under one key. Veil uses 8 of the 40 available bits: a
//!   KID of 2^32 or more is not one a Veil sender mints, which lets a receiver tell such bytes
//!   from a frame it merely lacks the key for.
//!
//! The sframe crate's `MlsKeyId` does the bit packing; this module fixes the bit range and the
//! context limit.

use sframe::header::KeyId;
use sframe::mls::{MlsKeyId, MlsKeyIdBitRange};

/// Bits of the MLS epoch carried in a KID (`E`).
pub const EPOCH_BITS: u8 = 8;
/// Bits of the sender's leaf index carried in a KID (`S`).
pub const INDEX_BITS: u8 = 16;
/// The largest context id a Veil sender uses.
pub const MAX_CONTEXT_ID: u8 = u8::MAX;
/// The largest leaf index a KID can carry.
pub const MAX_LEAF_INDEX: u32 = (1 << INDEX_BITS) - 1;

const LAYOUT_BITS: u32 = EPOCH_BITS as u32 + INDEX_BITS as u32 + u8::BITS;

fn bit_range() -> MlsKeyIdBitRange {
    MlsKeyIdBitRange::new(EPOCH_BITS, INDEX_BITS)
}

/// Builds the KID of `context_id` sent by `leaf` in `epoch`; `None` if the leaf does not fit.
pub fn encode(context_id: u8, leaf: u32, epoch: u64) -> Option<KeyId> {
    MlsKeyId::try_new(context_id, epoch, leaf, bit_range()).ok().map(KeyId::from)
}

/// The fields of a KID a Veil sender could have minted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KidFields {
    /// The per-track context chosen by the sender.
    pub context_id: u8,
    /// The sender's MLS leaf index.
    pub leaf: u32,
    /// The low [`EPOCH_BITS`] bits of the MLS epoch.
    pub epoch_bits: u8,
}

/// Splits a KID into its fields; `None` for a KID outside the Veil layout.
pub fn decode(kid: KeyId) -> Option<KidFields> {
    if kid >> LAYOUT_BITS != 0 {
        return None;
    }
    let id = MlsKeyId::from_key_id(kid, bit_range());
    Some(KidFields {
        context_id: u8::try_from(id.context_id()).ok()?,
        leaf: u32::try_from(id.member_index()).ok()?,
        epoch_bits: u8::try_from(id.epoch_lsb()).ok()?,
    })
}

/// The low [`EPOCH_BITS`] bits of an epoch, as a KID carries them.
pub fn epoch_bits(epoch: u64) -> u8 {
    (epoch & ((1 << EPOCH_BITS) - 1)) as u8
}

/// How many epochs a genuine sender may be ahead of a receiver: it merged commits the receiver
/// has not processed yet.
pub const PLAUSIBLE_AHEAD: u8 = 4;
/// How many epochs a genuine sender may lag behind a receiver: it has not processed commits
/// yet, or the receiver already dropped the epoch after its grace period.
pub const PLAUSIBLE_BEHIND: u8 = 32;

/// Whether a frame naming `frame_bits` can come from a Veil sender in a group whose current
/// epoch has `current_bits`. Only the last 8 bits are known, so this is modular: a KID from
/// any other epoch is far more likely to be the first bytes of a frame sent in the clear.
pub fn plausible_epoch(current_bits: u8, frame_bits: u8) -> bool {
    let ahead = frame_bits.wrapping_sub(current_bits);
    let behind = current_bits.wrapping_sub(frame_bits);
    ahead <= PLAUSIBLE_AHEAD || behind <= PLAUSIBLE_BEHIND
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_field() {
        let kid = encode(2, 513, 0x1_2345).unwrap();
        assert_eq!(kid, (2 << 24) | (513 << 8) | 0x45);
        assert_eq!(decode(kid), Some(KidFields { context_id: 2, leaf: 513, epoch_bits: 0x45 }));
    }

    #[test]
    fn matches_the_rfc_example_layout() {
        // RFC 9605 §5.2 figure, with E = 8 instead of 4: context 0, index 3, epoch 14.
        assert_eq!(encode(0, 3, 14), Some(0x30e));
    }

    #[test]
    fn refuses_a_leaf_beyond_sixteen_bits() {
        assert_eq!(encode(0, MAX_LEAF_INDEX + 1, 1), None);
        assert!(encode(0, MAX_LEAF_INDEX, 1).is_some());
    }

    #[test]
    fn plausible_epochs_wrap_around() {
        assert!(plausible_epoch(10, 10));
        assert!(plausible_epoch(10, 14) && !plausible_epoch(10, 15));
        assert!(plausible_epoch(40, 8) && !plausible_epoch(40, 7));
        assert!(plausible_epoch(254, 2), "ahead across the wrap");
        assert!(plausible_epoch(3, 230) && !plausible_epoch(3, 226), "behind across the wrap");
    }

    #[test]
    fn refuses_kids_outside_the_layout() {
        assert_eq!(decode(1 << 32), None);
        assert_eq!(decode(u64::MAX), None);
        assert!(decode((1 << 32) - 1).is_some());
    }
}
