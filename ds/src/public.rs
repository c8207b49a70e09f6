//! One meeting's group as public state: the ratchet tree and group context, no secret, every
//! commit verified before it counts.

use std::fmt;
use std::sync::Arc;

use openmls::prelude::{
    BasicCredential, Credential, ExternalSender as MlsExternalSender, GroupId, LeafNodeIndex,
    MlsMessageBodyIn, MlsMessageIn, ProcessedMessageContent, ProposalStore, ProtocolMessage,
    PublicGroup, Sender, SignaturePublicKey,
};
use openmls_rust_crypto::RustCrypto;
use tls_codec::Deserialize as _;
use veil_e2ee::group::{participant_of, summarize};
use veil_proto::ParticipantId;
use veil_proto::mls::{CommitEffect, PublicGroupState, Rejection};

use crate::storage::NoSnapshots;
use crate::{DsError, ExternalSender};

/// One group's public state. See the [crate docs](crate).
pub struct PublicState {
    group: PublicGroup,
    /// The crypto it verifies with.
    crypto: RustCrypto,
    sender: Arc<ExternalSender>,
}

impl fmt::Debug for PublicState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicState")
            .field("epoch", &self.group.group_context().epoch().as_u64())
            .field("leaves", &self.group.members().count())
            .finish()
    }
}

fn malformed(what: &str) -> impl Fn(tls_codec::Error) -> DsError + '_ {
    move |e| DsError::Malformed(format!("{what} does not parse: {e}"))
}

fn refused<E: fmt::Display>(what: &'static str) -> impl Fn(E) -> DsError {
    move |e| DsError::Refused(format!("{what}: {e}"))
}

impl PublicState {
    /// Starts tracking a group from its creator's GroupInfo, which must carry the ratchet tree:
    /// group `group_id` at epoch 0, `creator` its only member, and `sender` (this service) its
    /// only external sender. Anything else is refused: a group that does not list the server
    /// could never have its leavers removed.
    pub fn from_group_info(
        group_info: &[u8],
        group_id: &[u8],
        creator: &str,
        sender: Arc<ExternalSender>,
    ) -> Result<Self, DsError> {
        let info = match MlsMessageIn::tls_deserialize_exact(group_info)
            .map_err(malformed("the GroupInfo"))?
            .extract()
        {
            MlsMessageBodyIn::GroupInfo(info) => info,
            _ => return Err(DsError::Malformed("expected a GroupInfo".into())),
        };
        let tree = info
            .extensions()
            .ratchet_tree()
            .ok_or_else(|| DsError::Refused("the GroupInfo carries no ratchet tree".into()))?
            .ratchet_tree()
            .clone();
        let crypto = RustCrypto::default();
        let (group, _) =
            PublicGroup::from_external(&crypto, &NoSnapshots, tree, info, ProposalStore::new())
                .map_err(refused("the GroupInfo does not verify"))?;
        let state = Self { group, crypto, sender };
        if state.group.group_id() != &GroupId::from_slice(group_id) {
            return Err(DsError::Refused("the GroupInfo is of another group".into()));
        }
        if state.epoch() != 0 {
            return Err(DsError::Refused("a new group starts at epoch 0".into()));
        }
        let members = state.participants();
        if members.len() != 1 || members[0].1 != creator {
            return Err(DsError::Refused("a new group holds its creator alone".into()));
        }
        let info = state.sender.info();
        let expected = MlsExternalSender::new(
            SignaturePublicKey::from(info.signature_key),
            BasicCredential::new(info.identity).into(),
        );
        let listed = state.group.group_context().extensions().external_senders();
        if listed.map(Vec::as_slice) != Some(std::slice::from_ref(&expected)) {
            return Err(DsError::Refused(
                "the group must list this server, and only it, as external sender".into(),
            ));
        }
        Ok(state)
    }

    /// The current epoch.
    pub fn epoch(&self) -> u64 {
        self.group.group_context().epoch().as_u64()
    }

    /// Every leaf and the participant it holds.
    pub fn participants(&self) -> Vec<(u32, String)> {
        self.group
            .members()
            .map(|m| (m.index.u32(), participant_of(&m.credential).unwrap_or_default()))
            .collect()
    }

    fn credential_at(&self, leaf: LeafNodeIndex) -> Option<Credential> {
        self.group.leaf(leaf).map(|l| l.credential().clone())
    }

    fn protocol_message(bytes: &[u8]) -> Result<ProtocolMessage, DsError> {
        match MlsMessageIn::tls_deserialize_exact(bytes)
            .map_err(malformed("the message"))?
            .extract()
        {
            MlsMessageBodyIn::PublicMessage(m) => Ok(m.into()),
            MlsMessageBodyIn::PrivateMessage(_) => Err(DsError::Refused(
                "handshake messages must be PublicMessages, which the server can verify".into(),
            )),
            _ => Err(DsError::Malformed("expected an MLS PublicMessage".into())),
        }
    }

    /// Verifies and applies a commit from `sender` (see [`PublicGroupState::commit`]).
    pub fn apply_commit(
        &mut self,
        sender: &str,
        bytes: &[u8],
        allow: &mut dyn FnMut(&CommitEffect) -> Result<(), String>,
    ) -> Result<CommitEffect, DsError> {
        let message = Self::protocol_message(bytes)?;
        let epoch_before = self.epoch();
        if message.epoch().as_u64() != epoch_before {
            return Err(DsError::Refused(format!(
                "the commit is for epoch {}, the group is at {epoch_before}",
                message.epoch().as_u64()
            )));
        }
        let processed = self
            .group
            .process_message(&self.crypto, message)
            .map_err(refused("the commit does not verify"))?;
        let from = processed.sender().clone();
        let Sender::Member(leaf) = from else {
            return Err(DsError::Refused("only members commit".into()));
        };
        let signer = self.credential_at(leaf).map(|c| participant_of(&c));
        if !matches!(signer, Some(Ok(ref p)) if p == sender) {
            return Err(DsError::Refused("the commit is signed by another member's leaf".into()));
        }
        let ProcessedMessageContent::StagedCommitMessage(staged) = processed.into_content() else {
            return Err(DsError::Refused("expected a commit".into()));
        };
        let summary = summarize(&staged, &from, |l| self.credential_at(l))
            .map_err(refused("the commit is outside Veil's profile"))?;
        let effect = CommitEffect {
            epoch_before,
            added: summary.adds.into_iter().map(ParticipantId).collect(),
            removed: summary.removes.into_iter().map(|(l, p)| (l, ParticipantId(p))).collect(),
        };
        allow(&effect).map_err(DsError::Refused)?;
        self.group
            .merge_commit(&NoSnapshots, *staged)
            .map_err(|e| DsError::Mls { op: "merge commit", detail: e.to_string() })?;
        Ok(effect)
    }

    /// A Remove proposal for `leaf` in the current epoch, signed as external sender, and queued
    /// here so a commit may include it by reference.
    pub fn propose_remove(&mut self, leaf: u32) -> Result<Vec<u8>, DsError> {
        if self.group.leaf(LeafNodeIndex::new(leaf)).is_none() {
            return Err(DsError::Refused(format!("no member at leaf {leaf}")));
        }
        let group_id = self.group.group_id().as_slice().to_vec();
        let bytes = self.sender.remove_proposal(&group_id, self.epoch(), leaf)?;
        let message = Self::protocol_message(&bytes)?;
        let processed = self
            .group
            .process_message(&self.crypto, message)
            .map_err(|e| DsError::Mls { op: "process own proposal", detail: e.to_string() })?;
        let ProcessedMessageContent::ProposalMessage(queued) = processed.into_content() else {
            return Err(DsError::Mls {
                op: "process own proposal",
                detail: "not a proposal".into(),
            });
        };
        self.group
            .add_proposal(&NoSnapshots, *queued)
            .map_err(|e| DsError::Mls { op: "queue proposal", detail: e.to_string() })?;
        Ok(bytes)
    }
}

impl PublicGroupState for PublicState {
    fn epoch(&self) -> u64 {
        PublicState::epoch(self)
    }

    fn members(&self) -> Vec<(u32, ParticipantId)> {
        self.participants().into_iter().map(|(l, p)| (l, ParticipantId(p))).collect()
    }

    fn commit(
        &mut self,
        sender: &ParticipantId,
        commit: &[u8],
        allow: &mut dyn FnMut(&CommitEffect) -> Result<(), String>,
    ) -> Result<CommitEffect, Rejection> {
        Ok(self.apply_commit(&sender.0, commit, allow)?)
    }

    fn propose_remove(&mut self, leaf: u32) -> Result<Vec<u8>, Rejection> {
        Ok(PublicState::propose_remove(self, leaf)?)
    }
}
