//! What the delivery service (the signaling server) does with MLS, holding no group secret.
//!
//! - [`ExternalSender`]: the server's signature key and credential. The server publishes
//!   [`ExternalSender::info`] to clients; the group creator lists it in the group context
//!   (`external_senders`, RFC 9420 §12.1.8.1), so members accept Remove proposals the server
//!   signs when someone leaves or a host removes someone. Members refuse any other proposal,
//!   so this key cannot add anyone.
//! - [`message_epoch`]: the clear framing header of a handshake message (group id, epoch,
//!   content type), visible in PublicMessage and PrivateMessage alike. The server keeps the
//!   first commit it sees for each `(group, epoch)` and refuses later ones.
//!
//! Neither needs, nor could use, the group's epoch secrets.

use std::fmt;

use openmls::prelude::{
    ContentType, ExternalProposal, GroupEpoch, GroupId, LeafNodeIndex, MlsMessageBodyIn,
    ProtocolMessage, SenderExtensionIndex,
};
use openmls_basic_credential::SignatureKeyPair;
use openmls_rust_crypto::OpenMlsRustCrypto;
use tls_codec::{Deserialize as _, Serialize as _};
use zeroize::Zeroizing;

use crate::MLS_CIPHERSUITE;
use crate::group::{ExternalSenderInfo, GroupError, decode_message, fingerprint};

/// The credential identity the server signs as unless told otherwise.
pub const DEFAULT_IDENTITY: &[u8] = b"veil delivery service";

/// The server's external-sender key pair and credential identity.
pub struct ExternalSender {
    signer: SignatureKeyPair,
    identity: Vec<u8>,
}

impl fmt::Debug for ExternalSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExternalSender")
            .field("identity", &String::from_utf8_lossy(&self.identity))
            .field("fingerprint", &fingerprint(self.signer.public()))
            .field("private_key", &"<redacted>")
            .finish()
    }
}

impl ExternalSender {
    /// A fresh Ed25519 key pair with the [`DEFAULT_IDENTITY`].
    pub fn generate() -> Result<Self, GroupError> {
        Self::generate_with_identity(DEFAULT_IDENTITY)
    }

    /// A fresh Ed25519 key pair with a credential naming `identity`.
    pub fn generate_with_identity(identity: &[u8]) -> Result<Self, GroupError> {
        let signer = SignatureKeyPair::new(MLS_CIPHERSUITE.signature_algorithm()).map_err(|e| {
            GroupError::Mls { op: "generate signature key", detail: format!("{e:?}") }
        })?;
        Ok(Self { signer, identity: identity.to_vec() })
    }

    /// What clients need to list this server as the group's external sender.
    pub fn info(&self) -> ExternalSenderInfo {
        ExternalSenderInfo {
            signature_key: self.signer.to_public_vec(),
            identity: self.identity.clone(),
        }
    }

    /// Serializes the key pair and identity, so every node of a deployment can sign as the
    /// same external sender. The bytes hold the private key: store them like a password.
    pub fn to_bytes(&self) -> Result<Zeroizing<Vec<u8>>, GroupError> {
        let keys =
            Zeroizing::new(self.signer.tls_serialize_detached().map_err(|e| GroupError::Mls {
                op: "serialize key pair",
                detail: e.to_string(),
            })?);
        let len = u16::try_from(self.identity.len()).map_err(|_| GroupError::Mls {
            op: "serialize key pair",
            detail: "identity too long".into(),
        })?;
        let mut out = Zeroizing::new(Vec::with_capacity(2 + self.identity.len() + keys.len()));
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&self.identity);
        out.extend_from_slice(&keys);
        Ok(out)
    }

    /// Restores what [`to_bytes`](Self::to_bytes) produced.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, GroupError> {
        let malformed =
            |detail: &str| GroupError::Decode { what: "external sender", detail: detail.into() };
        let (len, rest) = bytes.split_first_chunk::<2>().ok_or_else(|| malformed("too short"))?;
        let len = usize::from(u16::from_be_bytes(*len));
        if rest.len() < len {
            return Err(malformed("too short"));
        }
        let (identity, keys) = rest.split_at(len);
        let signer =
            SignatureKeyPair::tls_deserialize_exact(keys).map_err(|e| malformed(&e.to_string()))?;
        if signer.signature_scheme() != MLS_CIPHERSUITE.signature_algorithm() {
            return Err(malformed("not an Ed25519 key pair"));
        }
        Ok(Self { signer, identity: identity.to_vec() })
    }

    /// An MLS PublicMessage carrying a Remove proposal for `leaf`, for the group `group_id` at
    /// `epoch`, signed as external sender 0. Members queue it; one of them commits it.
    pub fn remove_proposal(
        &self,
        group_id: &[u8],
        epoch: u64,
        leaf: u32,
    ) -> Result<Vec<u8>, GroupError> {
        let message = ExternalProposal::new_remove::<OpenMlsRustCrypto>(
            LeafNodeIndex::new(leaf),
            GroupId::from_slice(group_id),
            GroupEpoch::from(epoch),
            &self.signer,
            SenderExtensionIndex::new(0),
        )
        .map_err(|e| GroupError::Mls { op: "create Remove proposal", detail: e.to_string() })?;
        message
            .tls_serialize_detached()
            .map_err(|e| GroupError::Mls { op: "serialize", detail: e.to_string() })
    }
}

/// The content type of a handshake or application message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentKind {
    /// An MLS application message (Veil sends none).
    Application,
    /// A standalone proposal.
    Proposal,
    /// A commit: the one per epoch the server must order.
    Commit,
}

/// The clear framing header of an MLS PublicMessage or PrivateMessage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageEpoch {
    /// The group (meeting) the message belongs to.
    pub group_id: Vec<u8>,
    /// The epoch the message was made in.
    pub epoch: u64,
    /// What the message carries.
    pub content: ContentKind,
}

/// Reads group id, epoch and content type of a serialized MLS message; `None` if the bytes
/// are not a PublicMessage or PrivateMessage (a Welcome, a KeyPackage, or garbage).
pub fn message_epoch(bytes: &[u8]) -> Option<MessageEpoch> {
    let message: ProtocolMessage = match decode_message(bytes).ok()?.extract() {
        MlsMessageBodyIn::PublicMessage(m) => m.into(),
        MlsMessageBodyIn::PrivateMessage(m) => m.into(),
        _ => return None,
    };
    let content = match message.content_type() {
        ContentType::Application => ContentKind::Application,
        ContentType::Proposal => ContentKind::Proposal,
        ContentType::Commit => ContentKind::Commit,
    };
    Some(MessageEpoch {
        group_id: message.group_id().to_vec(),
        epoch: message.epoch().as_u64(),
        content,
    })
}
