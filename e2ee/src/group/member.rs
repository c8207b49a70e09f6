//! [`Member`]: one participant's MLS state in one meeting.

use std::fmt;

use openmls::prelude::OpenMlsCrypto as _;
use openmls::prelude::{
    BasicCredential, CredentialWithKey, GroupId, KeyPackage, LeafNodeIndex, MlsGroup,
    MlsMessageBodyIn, MlsMessageOut, OpenMlsProvider, ProcessedMessageContent, Proposal,
    ProtocolMessage, Sender, StagedCommit, StagedWelcome,
};
use openmls_basic_credential::SignatureKeyPair;
use openmls_traits::signatures::Signer as _;
use zeroize::Zeroizing;

use super::commit::{CommitSummary, summarize};
use super::config::{create_config, join_config, operational, serialize, validate_key_package};
use super::storage::Provider;
use super::types::mls;
use super::{
    CommitBundle, ExternalSenderInfo, GroupError, MemberInfo, Processed, body_name, decode_message,
    encode_identity, fingerprint, participant_of, verification_code,
};
use crate::{MLS_CIPHERSUITE, SFRAME_EXPORTER_LABEL, frame::SECRET_LEN};

/// One participant's MLS client for one meeting: its signature key, its credential and, once
/// created or joined, the group. See the [module docs](super).
///
/// The credential names the participant id only. The server reads it (in key packages and in
/// the commits it verifies); display names travel in application messages instead.
pub struct Member {
    provider: Provider,
    signer: SignatureKeyPair,
    credential: CredentialWithKey,
    participant_id: String,
    group: Option<MlsGroup>,
}

/// Another member's commit, verified and read but not merged yet: the caller decides (against
/// the roster) whether to [merge](Member::merge_commit) it or drop it.
pub struct IncomingCommit {
    staged: Box<StagedCommit>,
    summary: CommitSummary,
}

impl IncomingCommit {
    /// What the commit adds and removes.
    pub fn summary(&self) -> &CommitSummary {
        &self.summary
    }
}

impl fmt::Debug for IncomingCommit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IncomingCommit").field("summary", &self.summary).finish_non_exhaustive()
    }
}

/// What merging another member's commit did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Merged {
    /// The epoch the commit created.
    pub epoch: u64,
    /// The commit removed this member: the group is gone and its keys must be dropped.
    pub evicted: bool,
}

impl fmt::Debug for Member {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Member")
            .field("participant_id", &self.participant_id)
            .field("fingerprint", &self.fingerprint())
            .field("epoch", &self.group.as_ref().map(|g| g.epoch().as_u64()))
            .field("keys", &"<redacted>")
            .finish()
    }
}

impl Member {
    /// A new participant with a fresh Ed25519 signature key and a credential naming
    /// `participant_id`.
    pub fn new(participant_id: &str) -> Result<Self, GroupError> {
        let identity = encode_identity(participant_id)?;
        let signer = SignatureKeyPair::new(MLS_CIPHERSUITE.signature_algorithm())
            .map_err(mls("generate signature key"))?;
        let credential = CredentialWithKey {
            credential: BasicCredential::new(identity).into(),
            signature_key: signer.to_public_vec().into(),
        };
        Ok(Self {
            provider: Provider::default(),
            signer,
            credential,
            participant_id: participant_id.to_owned(),
            group: None,
        })
    }

    // ---- getters ----

    /// The participant id in this member's credential.
    pub fn participant_id(&self) -> &str {
        &self.participant_id
    }

    /// This member's own key fingerprint, as others see it in [`members`](Self::members).
    pub fn fingerprint(&self) -> String {
        fingerprint(self.signer.public())
    }

    /// The group id, once in a group.
    pub fn group_id(&self) -> Option<Vec<u8>> {
        self.group.as_ref().map(|g| g.group_id().to_vec())
    }

    /// The current epoch.
    pub fn epoch(&self) -> Result<u64, GroupError> {
        Ok(self.group()?.epoch().as_u64())
    }

    /// This member's leaf index: the sender index of its SFrame KIDs.
    pub fn own_leaf(&self) -> Result<u32, GroupError> {
        Ok(self.group()?.own_leaf_index().u32())
    }

    /// Whether a staged commit awaits the server's verdict.
    pub fn has_pending_commit(&self) -> bool {
        self.group.as_ref().is_some_and(|g| g.pending_commit().is_some())
    }

    /// Whether proposals wait to be committed (MLS sends no application message until then).
    pub fn has_pending_proposals(&self) -> bool {
        self.group.as_ref().is_some_and(MlsGroup::has_pending_proposals)
    }

    /// The MLS epoch authenticator, the same for every member of the epoch.
    pub fn epoch_authenticator(&self) -> Result<Vec<u8>, GroupError> {
        Ok(self.group()?.epoch_authenticator().as_slice().to_vec())
    }

    /// The epoch's verification code (see [`verification_code`]).
    pub fn verification_code(&self) -> Result<String, GroupError> {
        Ok(verification_code(self.group()?.epoch_authenticator().as_slice()))
    }

    /// `MLS-Exporter("SFrame 1.0 Base Key", "", 16)` of the current epoch: the SFrame base key
    /// to install with [`KeyRing::set_epoch`](crate::frame::KeyRing::set_epoch).
    pub fn sframe_epoch_secret(&self) -> Result<Zeroizing<Vec<u8>>, GroupError> {
        let group = self.group()?;
        if !group.is_active() {
            return Err(GroupError::Evicted);
        }
        let secret = group
            .export_secret(self.provider.crypto(), SFRAME_EXPORTER_LABEL, &[], SECRET_LEN)
            .map_err(mls("export SFrame secret"))?;
        Ok(Zeroizing::new(secret))
    }

    /// Everyone in the group, by leaf index. A member whose credential is not a Veil identity
    /// (which no Veil client creates, and which members refuse to add) is listed with its raw
    /// identity in hex.
    pub fn members(&self) -> Result<Vec<MemberInfo>, GroupError> {
        Ok(self
            .group()?
            .members()
            .map(|m| MemberInfo {
                leaf: m.index.u32(),
                participant_id: participant_of(&m.credential)
                    .unwrap_or_else(|_| hex(m.credential.serialized_content())),
                fingerprint: fingerprint(&m.signature_key),
            })
            .collect())
    }

    // ---- joining ----

    /// A fresh key package (a serialized `MLSMessage`) for someone to add this member with.
    /// Its private keys stay in this member, ready for the Welcome.
    pub fn key_package(&self) -> Result<Vec<u8>, GroupError> {
        let bundle = KeyPackage::builder()
            .build(MLS_CIPHERSUITE, &self.provider, &self.signer, self.credential.clone())
            .map_err(mls("build key package"))?;
        serialize(&MlsMessageOut::from(bundle.key_package().clone()))
    }

    /// Creates the meeting's group with this member alone in it, at epoch 0. With
    /// `external_sender`, the server may propose removals.
    pub fn create_group(
        &mut self,
        group_id: &[u8],
        external_sender: Option<ExternalSenderInfo>,
    ) -> Result<(), GroupError> {
        if self.group.is_some() {
            return Err(GroupError::AlreadyInGroup);
        }
        let group = MlsGroup::new_with_group_id(
            &self.provider,
            &self.signer,
            &create_config(external_sender)?,
            GroupId::from_slice(group_id),
            self.credential.clone(),
        )
        .map_err(mls("create group"))?;
        self.group = Some(group);
        Ok(())
    }

    /// The group's signed GroupInfo with the ratchet tree (a serialized `MLSMessage`): what the
    /// delivery service tracks the group's public state from.
    pub fn group_info(&self) -> Result<Vec<u8>, GroupError> {
        let info = self
            .group()?
            .export_group_info(self.provider.crypto(), &self.signer, true)
            .map_err(mls("export group info"))?;
        serialize(&info)
    }

    /// Joins the group a Welcome (from another member's [`CommitBundle`]) invites to.
    pub fn join_from_welcome(&mut self, welcome: &[u8]) -> Result<(), GroupError> {
        if self.group.is_some() {
            return Err(GroupError::AlreadyInGroup);
        }
        let welcome = match decode_message(welcome)?.extract() {
            MlsMessageBodyIn::Welcome(welcome) => welcome,
            other => {
                return Err(GroupError::UnexpectedMessage {
                    expected: "a Welcome",
                    got: body_name(&other),
                });
            }
        };
        let group = StagedWelcome::new_from_welcome(&self.provider, &join_config(), welcome, None)
            .and_then(|staged| staged.into_group(&self.provider))
            .map_err(mls("join from Welcome"))?;
        self.group = Some(group);
        Ok(())
    }

    // ---- commits ----

    /// Stages a commit adding the members whose key packages are given. Queued proposals (the
    /// server's removals) are committed along with them.
    pub fn add_members<B: AsRef<[u8]>>(
        &mut self,
        key_packages: &[B],
    ) -> Result<CommitBundle, GroupError> {
        let packages = key_packages
            .iter()
            .map(|bytes| validate_key_package(self.provider.crypto(), bytes.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        let Self { provider, signer, group, .. } = self;
        let group = operational(group)?;
        let epoch_before = group.epoch().as_u64();
        let (commit, welcome, _) =
            group.add_members(provider, signer, &packages).map_err(mls("add members"))?;
        Ok(CommitBundle {
            commit: serialize(&commit)?,
            welcome: Some(serialize(&welcome)?),
            epoch_before,
            removed: removed_by(group.pending_commit()),
        })
    }

    /// Stages a commit removing the members at `leaves`. Veil's clients commit only the
    /// server's Remove proposals (see [`commit_pending_proposals`](Self::commit_pending_proposals));
    /// this is for tests of what receivers and the server accept.
    pub fn remove_members(&mut self, leaves: &[u32]) -> Result<CommitBundle, GroupError> {
        let Self { provider, signer, group, .. } = self;
        let group = operational(group)?;
        for &leaf in leaves {
            if group.member(LeafNodeIndex::new(leaf)).is_none() {
                return Err(GroupError::UnknownLeaf(leaf));
            }
        }
        let epoch_before = group.epoch().as_u64();
        let indexes: Vec<LeafNodeIndex> = leaves.iter().map(|&l| LeafNodeIndex::new(l)).collect();
        let (commit, welcome, _) =
            group.remove_members(provider, signer, &indexes).map_err(mls("remove members"))?;
        Ok(CommitBundle {
            commit: serialize(&commit)?,
            welcome: welcome.as_ref().map(serialize).transpose()?,
            epoch_before,
            removed: removed_by(group.pending_commit()),
        })
    }

    /// Stages a commit of the queued proposals (the server's Remove proposals for members who
    /// left); `None` if nothing is queued.
    pub fn commit_pending_proposals(&mut self) -> Result<Option<CommitBundle>, GroupError> {
        let Self { provider, signer, group, .. } = self;
        let group = operational(group)?;
        if !group.has_pending_proposals() {
            return Ok(None);
        }
        let epoch_before = group.epoch().as_u64();
        let (commit, welcome, _) = group
            .commit_to_pending_proposals(provider, signer)
            .map_err(mls("commit pending proposals"))?;
        Ok(Some(CommitBundle {
            commit: serialize(&commit)?,
            welcome: welcome.as_ref().map(serialize).transpose()?,
            epoch_before,
            removed: removed_by(group.pending_commit()),
        }))
    }

    /// Applies this member's staged commit once the server accepted it; returns the new epoch.
    pub fn merge_pending_commit(&mut self) -> Result<u64, GroupError> {
        let Self { provider, group, .. } = self;
        let group = group.as_mut().ok_or(GroupError::NoGroup)?;
        if group.pending_commit().is_none() {
            return Err(GroupError::NoPendingCommit);
        }
        group.merge_pending_commit(provider).map_err(mls("merge pending commit"))?;
        Ok(group.epoch().as_u64())
    }

    /// Drops this member's staged commit after the server refused it. Queued proposals stay
    /// queued, so they can be committed again in the next epoch if still valid.
    pub fn discard_pending_commit(&mut self) -> Result<(), GroupError> {
        let Self { provider, group, .. } = self;
        let group = group.as_mut().ok_or(GroupError::NoGroup)?;
        if group.pending_commit().is_none() {
            return Err(GroupError::NoPendingCommit);
        }
        group.clear_pending_commit(provider.storage()).map_err(mls("discard pending commit"))
    }

    // ---- application messages ----

    /// Encrypts `payload` for the group as an MLS application message (a PrivateMessage signed
    /// by this member's leaf). MLS refuses while proposals or a commit are pending.
    pub fn send_application(&mut self, payload: &[u8]) -> Result<Vec<u8>, GroupError> {
        let Self { provider, signer, group, .. } = self;
        let group = operational(group)?;
        let message =
            group.create_message(provider, signer, payload).map_err(mls("create message"))?;
        serialize(&message)
    }

    // ---- display names ----

    /// Signs `name` as this member's display name in this group. Anyone may relay the record;
    /// [`verify_name`](Self::verify_name) checks it against the key in this member's leaf.
    pub fn sign_name(&self, name: &str) -> Result<Vec<u8>, GroupError> {
        let tbs = name_tbs(self.group()?.group_id().as_slice(), &self.participant_id, name);
        self.signer
            .sign(&tbs)
            .map_err(|e| GroupError::Mls { op: "sign name", detail: format!("{e:?}") })
    }

    /// Whether `signature` is the signature of `participant` (a current member) over `name` in
    /// this group, by the key in its leaf.
    pub fn verify_name(&self, participant: &str, name: &str, signature: &[u8]) -> bool {
        let Ok(group) = self.group() else { return false };
        let Some(member) =
            group.members().find(|m| participant_of(&m.credential).is_ok_and(|p| p == participant))
        else {
            return false;
        };
        let tbs = name_tbs(group.group_id().as_slice(), participant, name);
        let scheme = MLS_CIPHERSUITE.signature_algorithm();
        self.provider
            .crypto()
            .verify_signature(scheme, &tbs, &member.signature_key, signature)
            .is_ok()
    }

    // ---- incoming ----

    /// Processes a message the server relayed. Another member's commit comes back verified and
    /// read but not merged ([`Processed::Commit`]); a Remove proposal is queued; an
    /// application message is decrypted and attributed to its sender's participant id.
    /// Everything else is refused.
    pub fn process_message(&mut self, bytes: &[u8]) -> Result<Processed, GroupError> {
        let message: ProtocolMessage = match decode_message(bytes)?.extract() {
            MlsMessageBodyIn::PublicMessage(m) => m.into(),
            MlsMessageBodyIn::PrivateMessage(m) => m.into(),
            other => {
                return Err(GroupError::UnexpectedMessage {
                    expected: "a commit, proposal or application message",
                    got: body_name(&other),
                });
            }
        };
        let Self { provider, group, .. } = self;
        let group = group.as_mut().ok_or(GroupError::NoGroup)?;
        if !group.is_active() {
            return Err(GroupError::Evicted);
        }
        if message.group_id() != group.group_id() {
            return Err(GroupError::WrongGroup);
        }
        let (message_epoch, group_epoch) = (message.epoch().as_u64(), group.epoch().as_u64());
        let application = message.content_type() == openmls::prelude::ContentType::Application;
        // Application messages of the last few epochs still decrypt (see `config`); handshake
        // messages must be of this epoch.
        if message_epoch != group_epoch && !application {
            return Err(GroupError::WrongEpoch { message: message_epoch, group: group_epoch });
        }
        let processed = group.process_message(provider, message).map_err(mls("process message"))?;
        let sender = processed.sender().clone();
        match processed.into_content() {
            ProcessedMessageContent::StagedCommitMessage(staged) => {
                let summary = summarize(&staged, &sender, |leaf| group.member(leaf).cloned())?;
                Ok(Processed::Commit(IncomingCommit { staged, summary }))
            }
            ProcessedMessageContent::ProposalMessage(queued) => {
                let Proposal::Remove(remove) = queued.proposal() else {
                    return Err(GroupError::ProposalRefused("only Remove proposals are accepted"));
                };
                let removes = remove.removed().u32();
                let external = matches!(queued.sender(), Sender::External(_));
                group
                    .store_pending_proposal(provider.storage(), *queued)
                    .map_err(mls("queue proposal"))?;
                Ok(Processed::ProposalQueued { removes, external })
            }
            ProcessedMessageContent::ApplicationMessage(message) => {
                let Sender::Member(leaf) = sender else {
                    return Err(GroupError::ProposalRefused("application data from a non-member"));
                };
                let credential = group.member(leaf).ok_or(GroupError::UnknownLeaf(leaf.u32()))?;
                Ok(Processed::Application {
                    sender: participant_of(credential)?,
                    payload: message.into_bytes(),
                })
            }
            ProcessedMessageContent::ExternalJoinProposalMessage(_) => {
                Err(GroupError::ProposalRefused("external joins are not accepted"))
            }
            ProcessedMessageContent::OwnPendingCommit
            | ProcessedMessageContent::OwnPrivateMessage => Err(GroupError::UnexpectedMessage {
                expected: "another member's message",
                got: "our own",
            }),
        }
    }

    /// Merges a commit [`process_message`](Self::process_message) returned, once the caller
    /// accepted what it does.
    pub fn merge_commit(&mut self, incoming: IncomingCommit) -> Result<Merged, GroupError> {
        let Self { provider, group, .. } = self;
        let group = group.as_mut().ok_or(GroupError::NoGroup)?;
        let evicted = incoming.staged.self_removed();
        group.merge_staged_commit(provider, *incoming.staged).map_err(mls("merge commit"))?;
        Ok(Merged { epoch: group.epoch().as_u64(), evicted })
    }

    // ---- helpers ----

    fn group(&self) -> Result<&MlsGroup, GroupError> {
        self.group.as_ref().ok_or(GroupError::NoGroup)
    }
}

/// What a display-name signature covers: a label, the group, the participant and the name, each
/// length-prefixed, so a record signed for one group or participant is worthless elsewhere.
fn name_tbs(group_id: &[u8], participant: &str, name: &str) -> Vec<u8> {
    const LABEL: &[u8] = b"veil display name v1";
    let mut tbs =
        Vec::with_capacity(LABEL.len() + 6 + group_id.len() + participant.len() + name.len());
    tbs.extend_from_slice(LABEL);
    for field in [group_id, participant.as_bytes(), name.as_bytes()] {
        tbs.extend_from_slice(&(field.len().min(usize::from(u16::MAX)) as u16).to_be_bytes());
        tbs.extend_from_slice(field);
    }
    tbs
}

/// The leaves a staged commit removes, ascending.
fn removed_by(staged: Option<&StagedCommit>) -> Vec<u32> {
    let mut leaves: Vec<u32> = staged
        .into_iter()
        .flat_map(|s| s.remove_proposals())
        .map(|r| r.remove_proposal().removed().u32())
        .collect();
    leaves.sort_unstable();
    leaves.dedup();
    leaves
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use openmls::prelude::{Extension, Extensions, ExternalSender, SignaturePublicKey};

    use super::*;

    fn pair() -> (Member, Member) {
        let mut alice = Member::new("p-alice").unwrap();
        let mut bob = Member::new("p-bob").unwrap();
        let server =
            ExternalSenderInfo { signature_key: vec![7; 32], identity: b"server".to_vec() };
        alice.create_group(b"room", Some(server)).unwrap();
        let add = alice.add_members(&[bob.key_package().unwrap()]).unwrap();
        alice.merge_pending_commit().unwrap();
        bob.join_from_welcome(add.welcome.as_deref().unwrap()).unwrap();
        (alice, bob)
    }

    #[test]
    fn a_commit_that_swaps_the_external_senders_is_refused() {
        let (mut alice, mut bob) = pair();
        // Alice names another key as the group's external sender: it could then propose
        // removals (and, in a group that accepted it, more).
        let other = ExternalSender::new(
            SignaturePublicKey::from(vec![9; 32]),
            BasicCredential::new(b"not the server".to_vec()).into(),
        );
        let extensions = Extensions::single(Extension::ExternalSenders(vec![other])).unwrap();
        let Member { provider, signer, group, .. } = &mut alice;
        let (commit, _, _) = group
            .as_mut()
            .unwrap()
            .update_group_context_extensions(provider, extensions, signer)
            .unwrap();
        let err = bob.process_message(&serialize(&commit).unwrap()).unwrap_err();
        assert!(
            matches!(&err, GroupError::CommitRefused(why) if why.contains("GroupContextExtensions")),
            "{err}"
        );
        assert_eq!(bob.epoch(), Ok(1), "not merged");
    }

    #[test]
    fn commits_travel_as_public_messages_and_no_data_goes_with_a_commit_pending() {
        let (mut alice, _bob) = pair();
        let bundle = alice.remove_members(&[1]).unwrap();
        let message = decode_message(&bundle.commit).unwrap();
        assert!(matches!(message.extract(), MlsMessageBodyIn::PublicMessage(_)));
        let application = alice.send_application(b"hello");
        assert!(application.is_err(), "no application data with a commit pending");
    }
}
