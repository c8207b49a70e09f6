//! Why a frame could not be encrypted or decrypted, and counters of decryption failures.
//!
//! Decryption failures are normal traffic around an epoch change or on a lossy path, so the
//! key ring counts them by [`FailureKind`]; a UI turns a rising count for a sender into
//! "decryption failing" and a stream of [`FrameError::NotEncrypted`] into "not encrypted".
//! The KID fields reported with an error come from an unauthenticated header: use them to
//! attribute failures, never to trust the frame.

/// An SFrame operation that failed, with what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// `encrypt` was called before any epoch key was installed.
    #[error("no epoch key installed: call set_epoch with the group's SFrame secret first")]
    NoEpoch,
    /// The epoch secret does not have the length of an SFrame suite 4 key.
    #[error("epoch secret is {len} bytes, expected {expected}")]
    BadSecretLength {
        /// Length that was given.
        len: usize,
        /// Length the suite requires.
        expected: usize,
    },
    /// The own leaf index does not fit the 16 index bits of a KID.
    #[error("leaf index {leaf} does not fit a KID (at most {max})")]
    LeafOutOfRange {
        /// The leaf index that was given.
        leaf: u32,
        /// The largest leaf index a KID carries.
        max: u32,
    },
    /// `set_epoch` was given an epoch older than the current one.
    #[error("epoch {given} is older than the current epoch {current}")]
    StaleEpoch {
        /// The epoch that was given.
        given: u64,
        /// The epoch already installed.
        current: u64,
    },
    /// `set_epoch` was given the current epoch with a different secret or leaf; reusing the
    /// epoch's counters under other keys would be a bug upstream, so it is refused.
    #[error("epoch {epoch} is already installed with another secret or leaf")]
    EpochConflict {
        /// The epoch installed twice.
        epoch: u64,
    },
    /// The caller asked for more metadata bytes than the frame has.
    #[error("metadata length {metadata_len} exceeds the frame length {frame_len}")]
    MetadataTooLong {
        /// Requested clear prefix.
        metadata_len: usize,
        /// Length of the whole frame.
        frame_len: usize,
    },
    /// The per-context counter ran out; never happens in practice (2^64 frames).
    #[error("frame counter of context {context_id} exhausted")]
    CounterExhausted {
        /// The context whose counter ran out.
        context_id: u8,
    },
    /// The bytes are not an SFrame ciphertext a Veil sender produces: too short for a header
    /// and tag, a header that does not parse, a KID outside the Veil layout, or a KID naming an
    /// epoch no group member can be in (see [`kid::plausible_epoch`](super::kid::plausible_epoch)).
    /// SFrame has no marker, so this is a structural judgement: a frame sent in the clear
    /// whose first bytes happen to read as a plausible header shows up as
    /// [`UnknownEpoch`](Self::UnknownEpoch) or [`AuthenticationFailed`](Self::AuthenticationFailed)
    /// instead (in a group at epoch 2, 48% of random frames; fewer once epochs pass 7, since
    /// then the one-byte headers, KIDs 0 to 7, name implausible epochs).
    #[error("frame is not SFrame-encrypted ({reason})")]
    NotEncrypted {
        /// Which structural check failed.
        reason: &'static str,
    },
    /// The KID names a plausible epoch this ring holds no key for: one the receiver has not
    /// reached yet, or one it retired.
    #[error("no key for epoch bits {epoch_bits} (sender leaf {sender_leaf})")]
    UnknownEpoch {
        /// Low bits of the epoch named by the KID.
        epoch_bits: u8,
        /// Leaf index named by the KID (unauthenticated).
        sender_leaf: u32,
    },
    /// The frame did not authenticate under the key its KID names: forged, tampered with, or
    /// from another group.
    #[error("frame from leaf {sender_leaf} in epoch {epoch} failed authentication")]
    AuthenticationFailed {
        /// Leaf index named by the KID (unauthenticated).
        sender_leaf: u32,
        /// The epoch the KID resolved to.
        epoch: u64,
    },
    /// The counter was already accepted for this KID.
    #[error("frame {counter} from leaf {sender_leaf} was replayed")]
    Replayed {
        /// Leaf index named by the KID (unauthenticated).
        sender_leaf: u32,
        /// The repeated counter.
        counter: u64,
    },
    /// The counter lies behind the replay window of this KID.
    #[error("frame {counter} from leaf {sender_leaf} is too old for the replay window")]
    TooOld {
        /// Leaf index named by the KID (unauthenticated).
        sender_leaf: u32,
        /// The counter that fell behind.
        counter: u64,
    },
    /// The frame arrived on another participant's track: its KID names a sender leaf that is
    /// not the track owner's in the frame's epoch (or the owner holds no leaf there). A member
    /// can mint frames under any member's KID, since the epoch's base key is shared; this check
    /// keeps its frames off other members' tiles and out of their replay windows.
    #[error("frame from leaf {sender_leaf} on the track of a participant at leaf {owner_leaf:?}")]
    WrongSender {
        /// Leaf index named by the KID (unauthenticated).
        sender_leaf: u32,
        /// The track owner's leaf in the frame's epoch, if it has one.
        owner_leaf: Option<u32>,
    },
    /// The frame's sender is the track's owner, but it was sent for another of the owner's
    /// tracks (its KID's context id is not the one of the source the track claims): a camera
    /// passed off as a screen share, say.
    #[error("frame of context {context_id} on a track of context {expected}")]
    WrongSource {
        /// Context id named by the KID.
        context_id: u8,
        /// The context of the source the track claims.
        expected: u8,
    },
    /// The SFrame library failed for a reason that is not the frame's fault.
    #[error("SFrame operation failed: {0}")]
    Crypto(String),
}

impl FrameError {
    /// The failure kind, for decryption errors; `None` for caller errors.
    pub fn kind(&self) -> Option<FailureKind> {
        Some(match self {
            Self::NotEncrypted { .. } => FailureKind::NotEncrypted,
            Self::UnknownEpoch { .. } => FailureKind::UnknownEpoch,
            Self::AuthenticationFailed { .. } => FailureKind::AuthenticationFailed,
            Self::Replayed { .. } => FailureKind::Replayed,
            Self::TooOld { .. } => FailureKind::TooOld,
            Self::WrongSender { .. } => FailureKind::WrongSender,
            Self::WrongSource { .. } => FailureKind::WrongSource,
            _ => return None,
        })
    }

    /// A stable, kebab-case name for this error, the `kind` JavaScript sees.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NoEpoch => "no-epoch",
            Self::BadSecretLength { .. } => "bad-secret-length",
            Self::LeafOutOfRange { .. } => "leaf-out-of-range",
            Self::StaleEpoch { .. } => "stale-epoch",
            Self::EpochConflict { .. } => "epoch-conflict",
            Self::MetadataTooLong { .. } => "metadata-too-long",
            Self::CounterExhausted { .. } => "counter-exhausted",
            Self::NotEncrypted { .. } => "not-encrypted",
            Self::UnknownEpoch { .. } => "unknown-epoch",
            Self::AuthenticationFailed { .. } => "authentication-failed",
            Self::Replayed { .. } => "replayed",
            Self::TooOld { .. } => "too-old",
            Self::WrongSender { .. } => "wrong-sender",
            Self::WrongSource { .. } => "wrong-source",
            Self::Crypto(_) => "crypto",
        }
    }
}

/// The kinds of decryption failure the key ring counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureKind {
    /// See [`FrameError::NotEncrypted`].
    NotEncrypted,
    /// See [`FrameError::UnknownEpoch`].
    UnknownEpoch,
    /// See [`FrameError::AuthenticationFailed`].
    AuthenticationFailed,
    /// See [`FrameError::Replayed`].
    Replayed,
    /// See [`FrameError::TooOld`].
    TooOld,
    /// See [`FrameError::WrongSender`].
    WrongSender,
    /// See [`FrameError::WrongSource`].
    WrongSource,
}

/// Decryption failures counted since the key ring was created.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FailureCounts {
    /// Frames that were not SFrame ciphertext.
    pub not_encrypted: u64,
    /// Frames naming an epoch without a key.
    pub unknown_epoch: u64,
    /// Frames that failed authentication.
    pub authentication_failed: u64,
    /// Frames whose counter was seen before.
    pub replayed: u64,
    /// Frames whose counter fell behind the replay window.
    pub too_old: u64,
    /// Frames on a track of another participant than their sender.
    pub wrong_sender: u64,
    /// Frames of the owner's other tracks (another source).
    pub wrong_source: u64,
}

impl FailureCounts {
    /// Adds one failure of `kind`.
    pub fn count(&mut self, kind: FailureKind) {
        let slot = match kind {
            FailureKind::NotEncrypted => &mut self.not_encrypted,
            FailureKind::UnknownEpoch => &mut self.unknown_epoch,
            FailureKind::AuthenticationFailed => &mut self.authentication_failed,
            FailureKind::Replayed => &mut self.replayed,
            FailureKind::TooOld => &mut self.too_old,
            FailureKind::WrongSender => &mut self.wrong_sender,
            FailureKind::WrongSource => &mut self.wrong_source,
        };
        *slot = slot.saturating_add(1);
    }

    /// All failures together.
    pub fn total(&self) -> u64 {
        self.not_encrypted
            .saturating_add(self.unknown_epoch)
            .saturating_add(self.authentication_failed)
            .saturating_add(self.replayed)
            .saturating_add(self.too_old)
            .saturating_add(self.wrong_sender)
            .saturating_add(self.wrong_source)
    }
}
