//! How Veil configures openmls, and small conversions [`Member`](super::Member) shares.

use openmls::prelude::{
    BasicCredential, Credential, Extension, Extensions, ExternalSender, KeyPackage, MlsGroup,
    MlsGroupCreateConfig, MlsGroupJoinConfig, MlsMessageBodyIn, MlsMessageOut, OpenMlsCrypto,
    PURE_PLAINTEXT_WIRE_FORMAT_POLICY, ProtocolVersion, SignaturePublicKey,
};
use tls_codec::Serialize as _;

use super::types::mls;
use super::{ExternalSenderInfo, GroupError, body_name, decode_identity, decode_message};

/// Handshake messages (commits, proposals) go as PublicMessages, so the delivery service can
/// verify every commit against the group's public state; a PrivateMessage commit is refused.
/// Application messages are always encrypted.
const WIRE_FORMAT: openmls::prelude::WireFormatPolicy = PURE_PLAINTEXT_WIRE_FORMAT_POLICY;

/// Application messages (names) of this many past epochs still decrypt: a member answering a
/// newcomer may be an epoch behind when a burst of joins moves the group on.
const PAST_EPOCHS: usize = 3;
use crate::MLS_CIPHERSUITE;

pub(super) fn serialize(message: &MlsMessageOut) -> Result<Vec<u8>, GroupError> {
    message.tls_serialize_detached().map_err(mls("serialize"))
}

pub(super) fn create_config(
    external_sender: Option<ExternalSenderInfo>,
) -> Result<MlsGroupCreateConfig, GroupError> {
    let mut builder = MlsGroupCreateConfig::builder()
        .ciphersuite(MLS_CIPHERSUITE)
        .use_ratchet_tree_extension(true)
        .max_past_epochs(PAST_EPOCHS)
        .wire_format_policy(WIRE_FORMAT);
    if let Some(info) = external_sender {
        let sender = ExternalSender::new(
            SignaturePublicKey::from(info.signature_key),
            BasicCredential::new(info.identity).into(),
        );
        let extensions = Extensions::single(Extension::ExternalSenders(vec![sender]))
            .map_err(mls("external senders extension"))?;
        builder = builder.with_group_context_extensions(extensions);
    }
    Ok(builder.build())
}

pub(super) fn join_config() -> MlsGroupJoinConfig {
    MlsGroupJoinConfig::builder()
        .use_ratchet_tree_extension(true)
        .max_past_epochs(PAST_EPOCHS)
        .wire_format_policy(WIRE_FORMAT)
        .build()
}

/// The participant id a credential names.
pub fn participant_of(credential: &Credential) -> Result<String, GroupError> {
    let basic = BasicCredential::try_from(credential.clone()).map_err(mls("read credential"))?;
    Ok(decode_identity(basic.identity())?)
}

/// Checks a serialized key package (well formed, self-signed, Veil's ciphersuite, a Veil
/// identity) and returns the participant id its credential names.
pub fn key_package_owner(bytes: &[u8]) -> Result<String, GroupError> {
    let crypto = openmls_rust_crypto::RustCrypto::default();
    let key_package = validate_key_package(&crypto, bytes)?;
    participant_of(key_package.leaf_node().credential())
}

/// Parses and verifies a serialized key package, refusing credentials without a Veil identity.
pub(super) fn validate_key_package(
    crypto: &impl OpenMlsCrypto,
    bytes: &[u8],
) -> Result<KeyPackage, GroupError> {
    let key_package = match decode_message(bytes)?.extract() {
        MlsMessageBodyIn::KeyPackage(kp) => {
            kp.validate(crypto, ProtocolVersion::Mls10).map_err(mls("validate key package"))?
        }
        other => {
            return Err(GroupError::UnexpectedMessage {
                expected: "a KeyPackage",
                got: body_name(&other),
            });
        }
    };
    if key_package.ciphersuite() != MLS_CIPHERSUITE {
        return Err(GroupError::Mls {
            op: "validate key package",
            detail: "not Veil's ciphersuite".into(),
        });
    }
    // Members must be able to show who joined.
    participant_of(key_package.leaf_node().credential())?;
    Ok(key_package)
}

/// The group, if it exists, this member is still in it, and no commit is pending.
pub(super) fn operational(group: &mut Option<MlsGroup>) -> Result<&mut MlsGroup, GroupError> {
    let group = group.as_mut().ok_or(GroupError::NoGroup)?;
    if !group.is_active() {
        return Err(GroupError::Evicted);
    }
    if group.pending_commit().is_some() {
        return Err(GroupError::PendingCommit);
    }
    Ok(group)
}
