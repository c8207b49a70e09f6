//! The server's signature key as the group's external sender (RFC 9420 §12.1.8.1).
//!
//! Group creators list [`ExternalSender::info`] in the `external_senders` extension, so members
//! accept the Remove proposals this key signs when someone leaves. Members refuse every other
//! proposal, so the key can remove a departed member's leaf and nothing else.

use std::fmt;

use openmls::prelude::{
    ExternalProposal, GroupEpoch, GroupId, LeafNodeIndex, SenderExtensionIndex,
};
use openmls_basic_credential::SignatureKeyPair;
use openmls_rust_crypto::OpenMlsRustCrypto;
use tls_codec::{Deserialize as _, Serialize as _};
use veil_e2ee::MLS_CIPHERSUITE;
use veil_e2ee::group::{ExternalSenderInfo, fingerprint};
use zeroize::Zeroizing;

use crate::DsError;

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
    pub fn generate() -> Result<Self, DsError> {
        Self::generate_with_identity(DEFAULT_IDENTITY)
    }

    /// A fresh Ed25519 key pair with a credential naming `identity`.
    pub fn generate_with_identity(identity: &[u8]) -> Result<Self, DsError> {
        let signer = SignatureKeyPair::new(MLS_CIPHERSUITE.signature_algorithm())
            .map_err(|e| DsError::Mls { op: "generate signature key", detail: format!("{e:?}") })?;
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
    pub fn to_bytes(&self) -> Result<Zeroizing<Vec<u8>>, DsError> {
        let keys = Zeroizing::new(
            self.signer
                .tls_serialize_detached()
                .map_err(|e| DsError::Mls { op: "serialize key pair", detail: e.to_string() })?,
        );
        let len = u16::try_from(self.identity.len()).map_err(|_| DsError::Mls {
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
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DsError> {
        let malformed = |detail: &str| DsError::Malformed(format!("external sender key: {detail}"));
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
    ) -> Result<Vec<u8>, DsError> {
        let message = ExternalProposal::new_remove::<OpenMlsRustCrypto>(
            LeafNodeIndex::new(leaf),
            GroupId::from_slice(group_id),
            GroupEpoch::from(epoch),
            &self.signer,
            SenderExtensionIndex::new(0),
        )
        .map_err(|e| DsError::Mls { op: "create Remove proposal", detail: e.to_string() })?;
        message
            .tls_serialize_detached()
            .map_err(|e| DsError::Mls { op: "serialize", detail: e.to_string() })
    }
}
