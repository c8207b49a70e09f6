//! # Veil's MLS delivery service
//!
//! The signaling server relays each meeting's MLS key agreement. It must not be able to read
//! it, and it must not have to trust what members tell it either. This crate is everything MLS
//! the server runs, and it holds no group secret, only what a group makes public:
//!
//! - [`ExternalSender`]: the server's signature key. Group creators list it in the
//!   `external_senders` extension (RFC 9420 §12.1.8.1), so that members accept the Remove
//!   proposals the server signs for people who left. Members refuse every other proposal, so
//!   this key can remove a departed member's leaf and nothing else.
//! - [`PublicState`]: one group's public state (`openmls::PublicGroup`: the ratchet tree, the
//!   group context, the transcript), built from the creator's GroupInfo. Every commit is
//!   checked against it before it is relayed: an MLS PublicMessage of the current epoch,
//!   signed by the member at the sender's leaf, within Veil's profile (adds and removals only;
//!   the same reading of commits members apply, [`veil_e2ee::group::summarize`]). Who was added
//!   and removed, and who sits at which leaf, comes from the commit itself, never from what the
//!   sender declares.
//! - [`Verifier`]: the two together, as the [`veil_proto::mls::DeliveryService`] signaling
//!   asks, plus key-package checks and the clear header of application messages
//!   ([`framing`]).
//!
//! What the server sees of a group this way: participant ids (credentials carry nothing else),
//! public keys, the tree's shape and who commits when. Display names, chat and media keys
//! travel only inside encrypted application messages and Welcomes.

pub mod external;
pub mod framing;
pub mod public;
mod storage;

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use veil_proto::ParticipantId;
use veil_proto::mls::{DeliveryService, PublicGroupState, Rejection};
use veil_proto::signal::ExternalSenderKey;

pub use external::ExternalSender;
pub use public::PublicState;

/// Why the delivery service refused something.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DsError {
    /// The bytes are not the MLS message the call takes.
    #[error("{0}")]
    Malformed(String),
    /// A well-formed message that does not verify or does not fit the group.
    #[error("{0}")]
    Refused(String),
    /// openmls failed where it should not.
    #[error("MLS {op} failed: {detail}")]
    Mls { op: &'static str, detail: String },
}

impl From<DsError> for Rejection {
    fn from(e: DsError) -> Self {
        Rejection(e.to_string())
    }
}

/// The delivery service of one node: its external-sender key and the checks signaling asks
/// for. Cheap to share.
#[derive(Debug, Clone)]
pub struct Verifier {
    sender: Arc<ExternalSender>,
}

impl Verifier {
    /// A delivery service signing as `sender`.
    pub fn new(sender: ExternalSender) -> Self {
        Self { sender: Arc::new(sender) }
    }

    /// A delivery service with a fresh key.
    pub fn generate() -> Result<Self, DsError> {
        Ok(Self::new(ExternalSender::generate()?))
    }

    /// The external-sender key.
    pub fn sender(&self) -> &Arc<ExternalSender> {
        &self.sender
    }
}

impl DeliveryService for Verifier {
    fn external_sender(&self) -> ExternalSenderKey {
        let info = self.sender.info();
        ExternalSenderKey {
            signature_key: B64.encode(info.signature_key),
            identity: B64.encode(info.identity),
        }
    }

    fn key_package_owner(&self, key_package: &[u8]) -> Result<ParticipantId, Rejection> {
        let owner = veil_e2ee::group::key_package_owner(key_package)
            .map_err(|e| Rejection(format!("the key package is unusable: {e}")))?;
        Ok(ParticipantId(owner))
    }

    fn track_group(
        &self,
        group_id: &[u8],
        creator: &ParticipantId,
        group_info: &[u8],
    ) -> Result<Box<dyn PublicGroupState>, Rejection> {
        let state =
            PublicState::from_group_info(group_info, group_id, &creator.0, self.sender.clone())?;
        Ok(Box::new(state))
    }

    fn application_epoch(&self, group_id: &[u8], message: &[u8]) -> Result<u64, Rejection> {
        let header = framing::read(message)
            .ok_or_else(|| Rejection("not an MLS PublicMessage or PrivateMessage".into()))?;
        if header.group_id != group_id {
            return Err(Rejection("the message belongs to another group".into()));
        }
        if header.content != framing::ContentKind::Application {
            return Err(Rejection(
                "only application messages travel this way; commits go as mls_commit".into(),
            ));
        }
        Ok(header.epoch)
    }
}
