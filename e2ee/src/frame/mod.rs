//! SFrame (RFC 9605) keyed per MLS epoch: the [`KeyRing`].
//!
//! ## Keys
//!
//! Each MLS epoch yields one secret, `MLS-Exporter("SFrame 1.0 Base Key", "", 16)`
//! ([`crate::group::Member::sframe_epoch_secret`]). RFC 9605 §5.2 uses it directly as the
//! SFrame `base_key` of every sender in the epoch; what sets senders (and a sender's tracks)
//! apart is the KID, which enters the key and salt derivation of §4.4.2:
//!
//! ```text
//! KID          = context_id << 24 | leaf_index << 8 | epoch mod 256      (see kid)
//! sframe_key   = HKDF-Expand(HKDF-Extract("", base_key), "SFrame 1.0 Secret key "  ‖ KID ‖ 0x0004, 16)
//! sframe_salt  = HKDF-Expand(HKDF-Extract("", base_key), "SFrame 1.0 Secret salt " ‖ KID ‖ 0x0004, 12)
//! nonce        = sframe_salt XOR CTR
//! ```
//!
//! ## Sending
//!
//! [`KeyRing::encrypt`] takes the track's context id and how many leading bytes of the frame
//! stay in the clear (the codec header the SFU reads: 10 or 3 bytes for VP8, 1 for Opus). Those
//! bytes are SFrame metadata: not encrypted, but authenticated. Every (epoch, context) has its
//! own counter from 0, so a (KID, CTR) pair, and with it a nonce, is never used twice. That
//! holds within one ring: a ring created anew (a restarted worker) must not send in an epoch a
//! previous ring already sent in; it waits for the next epoch.
//!
//! ## Receiving
//!
//! [`KeyRing::decrypt_from`] takes the participant whose track the frame arrived on. Every
//! member holds the epoch's base key and so can mint a frame under any member's KID; the ring
//! therefore first checks that the KID's sender leaf is the track owner's leaf in that epoch
//! ([`KeyRing::set_members`]), so a member's frames never play on another member's tile nor
//! touch another member's replay window. It then finds the epoch from the low KID bits, derives
//! (and, once a frame authenticates, caches) the sender's key, checks the counter against that
//! KID's replay window, and authenticates. [`KeyRing::decrypt`] does the same without the
//! owner check, for frames whose owner is not known (test vectors). When [`KeyRing::set_epoch`] installs a new epoch, the previous
//! one stays available for receiving until `now + grace`; [`KeyRing::expire`] drops it once its
//! time is up. The ring never reads a clock: callers pass `now_ms` from theirs.
//!
//! Failures are counted by kind ([`FailureCounts`]). SFrame carries no marker, so telling a
//! frame sent in the clear from one under a key not yet received is a structural judgement:
//! bytes too short for a header and tag, a header that does not parse, a KID outside the Veil
//! layout or naming an epoch no member can be in are [`FrameError::NotEncrypted`].

pub mod codec;
mod error;
pub mod kid;
mod replay;
pub mod rfc;

use std::collections::HashMap;
use std::fmt;

use sframe::frame::{EncryptedFrameView, MediaFrameView, SingleUseCounter};
use sframe::header::{KeyId, SframeHeader};
use sframe::key::{DecryptionKey, EncryptionKey};
use zeroize::Zeroizing;

use codec::{MediaKind, clear_bytes};
pub use error::{FailureCounts, FailureKind, FrameError};
use replay::{Rejection, ReplayWindow};

use crate::SFRAME_SUITE;

/// The track a frame arrived on: whose it is and, if known, the context of its source.
#[derive(Debug, Clone, Copy)]
struct Track<'a> {
    owner: &'a str,
    context_id: Option<u8>,
}

/// How long a superseded epoch stays usable for receiving, unless the ring is told otherwise.
pub const DEFAULT_GRACE_MS: u64 = 10_000;

/// The length of an SFrame suite 4 base key (`AEAD.Nk`).
pub const SECRET_LEN: usize = SFRAME_SUITE.key_len();

const TAG_LEN: usize = SFRAME_SUITE.auth_tag_len();

/// A frame that decrypted and authenticated.
#[derive(Clone, PartialEq, Eq)]
pub struct Decrypted {
    /// The frame as the sender passed it to `encrypt`: the clear metadata prefix followed by
    /// the decrypted payload.
    pub plaintext: Vec<u8>,
    /// The sender's MLS leaf index, authenticated by the frame's key.
    pub sender_leaf: u32,
    /// The full MLS epoch the frame was sent in.
    pub epoch: u64,
    /// The sender's per-track context id.
    pub context_id: u8,
}

impl fmt::Debug for Decrypted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decrypted")
            .field("plaintext", &format_args!("<{} bytes>", self.plaintext.len()))
            .field("sender_leaf", &self.sender_leaf)
            .field("epoch", &self.epoch)
            .field("context_id", &self.context_id)
            .finish()
    }
}

struct Sender {
    key: EncryptionKey,
    next_counter: u64,
}

struct Receiver {
    key: DecryptionKey,
    window: ReplayWindow,
}

struct EpochKeys {
    epoch: u64,
    base_key: Zeroizing<Vec<u8>>,
    /// Who may send in this epoch, at which leaf (participant id → leaf).
    members: HashMap<String, u32>,
    receivers: HashMap<KeyId, Receiver>,
    /// When a superseded epoch stops being usable; `None` for the current epoch.
    retire_at_ms: Option<u64>,
}

/// The SFrame keys of one participant: the current epoch for sending and receiving, previous
/// epochs for receiving until their grace period ends. See the [module docs](self).
pub struct KeyRing {
    grace_ms: u64,
    own_leaf: u32,
    /// Newest last; the last entry is the current epoch.
    epochs: Vec<EpochKeys>,
    senders: HashMap<u8, Sender>,
    failures: FailureCounts,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let epochs: Vec<u64> = self.epochs.iter().map(|e| e.epoch).collect();
        f.debug_struct("KeyRing")
            .field("grace_ms", &self.grace_ms)
            .field("own_leaf", &self.own_leaf)
            .field("epochs", &epochs)
            .field("keys", &"<redacted>")
            .field("failures", &self.failures)
            .finish()
    }
}

impl Default for KeyRing {
    fn default() -> Self {
        Self::new()
    }
}

impl KeyRing {
    /// An empty ring keeping superseded epochs for [`DEFAULT_GRACE_MS`].
    pub fn new() -> Self {
        Self::with_grace(DEFAULT_GRACE_MS)
    }

    /// An empty ring keeping superseded epochs for `grace_ms`.
    pub fn with_grace(grace_ms: u64) -> Self {
        Self {
            grace_ms,
            own_leaf: 0,
            epochs: Vec::new(),
            senders: HashMap::new(),
            failures: FailureCounts::default(),
        }
    }

    /// The current epoch, if one is installed.
    pub fn epoch(&self) -> Option<u64> {
        self.epochs.last().map(|e| e.epoch)
    }

    /// Every epoch the ring can still decrypt, oldest first.
    pub fn epochs(&self) -> Vec<u64> {
        self.epochs.iter().map(|e| e.epoch).collect()
    }

    /// Decryption failures counted so far.
    pub fn failures(&self) -> FailureCounts {
        self.failures
    }

    /// When the next superseded epoch expires: the time to call [`expire`](Self::expire) next.
    pub fn next_expiry(&self) -> Option<u64> {
        self.epochs.iter().filter_map(|e| e.retire_at_ms).min()
    }

    /// Installs the SFrame secret of `epoch`, in which this participant sends as `own_leaf`.
    /// From now on frames are sent in `epoch`; the previous epoch stays available for
    /// receiving until `now_ms + grace`. Installing the current epoch again with the same
    /// secret and leaf changes nothing.
    pub fn set_epoch(
        &mut self,
        epoch: u64,
        epoch_secret: &[u8],
        own_leaf: u32,
        now_ms: u64,
    ) -> Result<(), FrameError> {
        if epoch_secret.len() != SECRET_LEN {
            return Err(FrameError::BadSecretLength {
                len: epoch_secret.len(),
                expected: SECRET_LEN,
            });
        }
        if own_leaf > kid::MAX_LEAF_INDEX {
            return Err(FrameError::LeafOutOfRange { leaf: own_leaf, max: kid::MAX_LEAF_INDEX });
        }
        if let Some(current) = self.epochs.last_mut() {
            if epoch < current.epoch {
                return Err(FrameError::StaleEpoch { given: epoch, current: current.epoch });
            }
            if epoch == current.epoch {
                let same = current.base_key.as_slice() == epoch_secret && self.own_leaf == own_leaf;
                return if same { Ok(()) } else { Err(FrameError::EpochConflict { epoch }) };
            }
            current.retire_at_ms = Some(now_ms.saturating_add(self.grace_ms));
        }
        // RFC 9605 §5.2: an epoch whose low bits a new epoch reuses must go.
        let bits = kid::epoch_bits(epoch);
        self.epochs.retain(|e| kid::epoch_bits(e.epoch) != bits);
        self.epochs.push(EpochKeys {
            epoch,
            base_key: Zeroizing::new(epoch_secret.to_vec()),
            members: HashMap::new(),
            receivers: HashMap::new(),
            retire_at_ms: None,
        });
        self.own_leaf = own_leaf;
        self.senders.clear();
        self.expire(now_ms);
        Ok(())
    }

    /// Records who sits at which leaf in `epoch` (an installed one), for
    /// [`decrypt_from`](Self::decrypt_from). Replaces what was recorded for it.
    pub fn set_members<I, S>(&mut self, epoch: u64, members: I) -> Result<(), FrameError>
    where
        I: IntoIterator<Item = (u32, S)>,
        S: Into<String>,
    {
        let keys = self.epochs.iter_mut().find(|e| e.epoch == epoch).ok_or(FrameError::NoEpoch)?;
        keys.members = members.into_iter().map(|(leaf, p)| (p.into(), leaf)).collect();
        Ok(())
    }

    /// Drops superseded epochs whose grace period ended at or before `now_ms`.
    pub fn expire(&mut self, now_ms: u64) {
        self.epochs.retain(|e| e.retire_at_ms.is_none_or(|at| at > now_ms));
    }

    /// Forgets every key, e.g. when leaving a meeting or joining another group. Failure counts
    /// are kept.
    pub fn clear(&mut self) {
        self.epochs.clear();
        self.senders.clear();
    }

    /// Encrypts one media frame of track `context_id`, keeping its codec header in the clear as
    /// [`codec::clear_bytes`] says.
    pub fn encrypt_media(
        &mut self,
        kind: MediaKind,
        context_id: u8,
        frame: &[u8],
    ) -> Result<Vec<u8>, FrameError> {
        self.encrypt(context_id, clear_bytes(kind, frame), frame)
    }

    /// Decrypts a media frame that arrived on a track of participant `owner`: refused as
    /// [`FrameError::WrongSender`] unless its sender leaf is `owner`'s in the frame's epoch.
    /// Every failure is counted by kind.
    pub fn decrypt_from(
        &mut self,
        owner: &str,
        kind: MediaKind,
        data: &[u8],
    ) -> Result<Decrypted, FrameError> {
        let track = Track { owner, context_id: None };
        let result = self.try_decrypt(Some(track), clear_bytes(kind, data), data);
        self.count(result)
    }

    /// Decrypts a media frame that arrived on `owner`'s track of context `context_id` (the
    /// source the track claims to be): as [`decrypt_from`](Self::decrypt_from), and refused as
    /// [`FrameError::WrongSource`] unless the sender encrypted it for that context.
    pub fn decrypt_track(
        &mut self,
        owner: &str,
        context_id: u8,
        kind: MediaKind,
        data: &[u8],
    ) -> Result<Decrypted, FrameError> {
        let track = Track { owner, context_id: Some(context_id) };
        let result = self.try_decrypt(Some(track), clear_bytes(kind, data), data);
        self.count(result)
    }

    /// Encrypts one frame of track `context_id`. The first `metadata_len` bytes of `frame` stay
    /// in the clear, authenticated; returns `metadata ‖ SFrame header ‖ ciphertext ‖ tag`.
    pub fn encrypt(
        &mut self,
        context_id: u8,
        metadata_len: usize,
        frame: &[u8],
    ) -> Result<Vec<u8>, FrameError> {
        if metadata_len > frame.len() {
            return Err(FrameError::MetadataTooLong { metadata_len, frame_len: frame.len() });
        }
        let current = self.epochs.last().ok_or(FrameError::NoEpoch)?;
        let sender = match self.senders.entry(context_id) {
            std::collections::hash_map::Entry::Occupied(slot) => slot.into_mut(),
            std::collections::hash_map::Entry::Vacant(slot) => {
                let kid = kid::encode(context_id, self.own_leaf, current.epoch).ok_or(
                    FrameError::LeafOutOfRange { leaf: self.own_leaf, max: kid::MAX_LEAF_INDEX },
                )?;
                let key =
                    EncryptionKey::derive_from(SFRAME_SUITE, kid, current.base_key.as_slice())
                        .map_err(|e| FrameError::Crypto(e.to_string()))?;
                slot.insert(Sender { key, next_counter: 0 })
            }
        };
        let counter = sender.next_counter;
        let next = counter.checked_add(1).ok_or(FrameError::CounterExhausted { context_id })?;
        let (metadata, payload) = frame.split_at(metadata_len);
        let media = MediaFrameView::try_with_meta_data(
            &mut SingleUseCounter::new(counter),
            payload,
            metadata,
        )
        .map_err(|e| FrameError::Crypto(e.to_string()))?;
        let mut out = Vec::with_capacity(frame.len() + SframeHeader::new(0, counter).len() + 24);
        media.encrypt_into(&sender.key, &mut out).map_err(|e| FrameError::Crypto(e.to_string()))?;
        sender.next_counter = next;
        Ok(out)
    }

    /// Decrypts `metadata ‖ SFrame header ‖ ciphertext ‖ tag`, where the first `metadata_len`
    /// bytes are the sender's clear metadata. Every failure is counted by kind.
    ///
    /// This does not check whose track the frame came on; receivers of media use
    /// [`decrypt_from`](Self::decrypt_from).
    pub fn decrypt(&mut self, metadata_len: usize, data: &[u8]) -> Result<Decrypted, FrameError> {
        let result = self.try_decrypt(None, metadata_len, data);
        self.count(result)
    }

    fn count(&mut self, result: Result<Decrypted, FrameError>) -> Result<Decrypted, FrameError> {
        if let Err(err) = &result
            && let Some(kind) = err.kind()
        {
            self.failures.count(kind);
        }
        result
    }

    fn try_decrypt(
        &mut self,
        track: Option<Track<'_>>,
        metadata_len: usize,
        data: &[u8],
    ) -> Result<Decrypted, FrameError> {
        if metadata_len > data.len() {
            return Err(FrameError::NotEncrypted { reason: "shorter than its metadata" });
        }
        let (metadata, sframe) = data.split_at(metadata_len);
        let frame = EncryptedFrameView::try_with_meta_data(sframe, metadata)
            .map_err(|_| FrameError::NotEncrypted { reason: "header does not parse" })?;
        let header = *frame.header();
        if sframe.len() < header.len() + TAG_LEN {
            return Err(FrameError::NotEncrypted { reason: "too short for header and tag" });
        }
        let fields = kid::decode(header.key_id())
            .ok_or(FrameError::NotEncrypted { reason: "KID outside the Veil layout" })?;
        let sender_leaf = fields.leaf;
        let current_bits = self.epochs.last().map(|e| kid::epoch_bits(e.epoch));
        let Some(epoch_keys) =
            self.epochs.iter_mut().find(|e| kid::epoch_bits(e.epoch) == fields.epoch_bits)
        else {
            if let Some(current) = current_bits
                && !kid::plausible_epoch(current, fields.epoch_bits)
            {
                return Err(FrameError::NotEncrypted { reason: "KID names an implausible epoch" });
            }
            return Err(FrameError::UnknownEpoch { epoch_bits: fields.epoch_bits, sender_leaf });
        };
        let epoch = epoch_keys.epoch;
        // Before the counter or the key: a frame on someone else's track, or on another of
        // the owner's tracks, goes nowhere.
        if let Some(track) = track {
            let owner_leaf = epoch_keys.members.get(track.owner).copied();
            if owner_leaf != Some(sender_leaf) {
                return Err(FrameError::WrongSender { sender_leaf, owner_leaf });
            }
            if let Some(expected) = track.context_id
                && expected != fields.context_id
            {
                return Err(FrameError::WrongSource { context_id: fields.context_id, expected });
            }
        }

        let kid = header.key_id();
        let counter = header.counter();
        let cached = epoch_keys.receivers.get(&kid);
        if let Some(receiver) = cached {
            receiver.window.check(counter).map_err(|rejection| match rejection {
                Rejection::Replayed => FrameError::Replayed { sender_leaf, counter },
                Rejection::TooOld => FrameError::TooOld { sender_leaf, counter },
            })?;
        }
        // A key is derived for an unknown KID but cached only once a frame authenticates
        // under it, so forged KIDs cannot grow the cache.
        let mut derived = None;
        let key = match cached {
            Some(receiver) => &receiver.key,
            None => &*derived.insert(
                DecryptionKey::derive_from(SFRAME_SUITE, kid, epoch_keys.base_key.as_slice())
                    .map_err(|e| FrameError::Crypto(e.to_string()))?,
            ),
        };
        let mut out = Vec::with_capacity(data.len());
        frame
            .decrypt_into(key, &mut out)
            .map_err(|_| FrameError::AuthenticationFailed { sender_leaf, epoch })?;

        match derived {
            Some(key) => {
                let mut window = ReplayWindow::default();
                window.record(counter);
                epoch_keys.receivers.insert(kid, Receiver { key, window });
            }
            None => {
                if let Some(receiver) = epoch_keys.receivers.get_mut(&kid) {
                    receiver.window.record(counter);
                }
            }
        }
        Ok(Decrypted { plaintext: out, sender_leaf, epoch, context_id: fields.context_id })
    }
}

#[cfg(test)]
mod tests;
