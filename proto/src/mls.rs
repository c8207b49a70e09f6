//! The boundary between signaling and the MLS delivery service's verification.
//!
//! Signaling relays each room's key agreement and decides who may do what (who is waiting to be
//! added, who left); it holds no MLS code. What it needs verified it asks through
//! [`DeliveryService`], implemented with openmls by `veil-ds`: key packages, the group's public
//! state (ratchet tree, epoch, who sits at which leaf) and every commit against it, and the
//! server's own Remove proposals as the group's external sender. None of it needs a group
//! secret, and the implementation holds none.

use std::fmt;

use crate::ParticipantId;
use crate::signal::ExternalSenderKey;

/// Why the delivery service refused an MLS message. The text says what was wrong, for the
/// participant who sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection(pub String);

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Rejection {}

/// What a verified commit did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitEffect {
    /// The epoch the commit was made in; the group is now one further.
    pub epoch_before: u64,
    /// Who the commit added, in its order ([`PublicGroupState::members`] says at which leaf).
    pub added: Vec<ParticipantId>,
    /// Which leaves it removed, and who held them.
    pub removed: Vec<(u32, ParticipantId)>,
}

/// The delivery service's MLS verification, for every room of a node.
pub trait DeliveryService: Send + Sync + 'static {
    /// The key and credential members list as the group's external sender.
    fn external_sender(&self) -> ExternalSenderKey;

    /// Checks a key package (well formed, signed by its own key, Veil's ciphersuite) and
    /// returns the participant id its credential names.
    fn key_package_owner(&self, key_package: &[u8]) -> Result<ParticipantId, Rejection>;

    /// Starts tracking a room's group from its creator's GroupInfo (with the ratchet tree):
    /// it must be group `group_id` at epoch 0, with `creator` its only member and this
    /// service as its external sender.
    fn track_group(
        &self,
        group_id: &[u8],
        creator: &ParticipantId,
        group_info: &[u8],
    ) -> Result<Box<dyn PublicGroupState>, Rejection>;

    /// The epoch an application message of group `group_id` was sent in, read from its clear
    /// header; refused if it is not an application message of that group.
    fn application_epoch(&self, group_id: &[u8], message: &[u8]) -> Result<u64, Rejection>;
}

/// One room's group, as public state: no secret, every commit verified.
pub trait PublicGroupState: Send + fmt::Debug {
    /// The current epoch.
    fn epoch(&self) -> u64;

    /// Every leaf of the tree and the participant it holds.
    fn members(&self) -> Vec<(u32, ParticipantId)>;

    /// Verifies `commit`: an MLS PublicMessage for the current epoch, signed by the member at
    /// `sender`'s leaf, within Veil's profile (only adds and removals). `allow` then decides
    /// whether what it does is acceptable (the roster's say). Only a commit that passes both is
    /// applied; otherwise nothing changes.
    fn commit(
        &mut self,
        sender: &ParticipantId,
        commit: &[u8],
        allow: &mut dyn FnMut(&CommitEffect) -> Result<(), String>,
    ) -> Result<CommitEffect, Rejection>;

    /// A Remove proposal for `leaf` in the current epoch, signed as the external sender and
    /// kept so that a commit may include it by reference.
    fn propose_remove(&mut self, leaf: u32) -> Result<Vec<u8>, Rejection>;
}
