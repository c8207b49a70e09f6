//! [`Member`]: one participant's MLS state in one meeting.

use std::fmt;

use openmls::prelude::{
    BasicCredential, CredentialWithKey, GroupId, KeyPackage, LeafNodeIndex, LeafNodeParameters,
    MlsGroup, MlsMessageBodyIn, MlsMessageOut, OpenMlsProvider, ProcessedMessageContent, Proposal,
    ProtocolMessage, Sender, StagedCommit, StagedWelcome,
};
use openmls_basic_credential::SignatureKeyPair;
use openmls_rust_crypto::OpenMlsRustCrypto;
use zeroize::Zeroizing;

use super::config::{
    create_config, hex, identity_of, join_config, operational, serialize, validate_key_package,
};
use super::identity::IdentityError;
use super::types::mls;
use super::{
    CommitBundle, ExternalSenderInfo, GroupError, MemberInfo, Processed, body_name, decode_message,
    encode_identity, fingerprint, verification_code,
};
use crate::{MLS_CIPHERSUITE, SFRAME_EXPORTER_LABEL, frame::SECRET_LEN};

/// One participant's MLS client for one meeting: its signature key, its credentials and, once
/// created or joined, the group. See the [module docs](super).
///
/// A member has two credentials with the same signature key: an *anonymous* one (participant
/// id, empty display name) for its key packages, which the server relays in the clear, and a
/// *named* one (participant id and display name) that it puts in its leaf only inside the group:
/// at [`create_group`](Self::create_group), or with [`announce_name`](Self::announce_name)
/// after joining from a Welcome.
pub struct Member {
    provider: OpenMlsRustCrypto,
    signer: SignatureKeyPair,
    /// Participant id and display name: only ever sent inside the group, encrypted.
    credential: CredentialWithKey,
    /// Participant id only: for key packages, which the server sees.
    anonymous: CredentialWithKey,
    participant_id: String,
    display_name: String,
    group: Option<MlsGroup>,
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
    /// A new participant with a fresh Ed25519 signature key, a credential naming
    /// `participant_id` and `display_name`, and an anonymous one naming only `participant_id`
    /// (for key packages).
    pub fn new(participant_id: &str, display_name: &str) -> Result<Self, GroupError> {
        let identity = encode_identity(participant_id, display_name)?;
        let anonymous_identity = encode_identity(participant_id, "")?;
        let signer = SignatureKeyPair::new(MLS_CIPHERSUITE.signature_algorithm())
            .map_err(mls("generate signature key"))?;
        let with_key = |identity: Vec<u8>| CredentialWithKey {
            credential: BasicCredential::new(identity).into(),
            signature_key: signer.to_public_vec().into(),
        };
        let (credential, anonymous) = (with_key(identity), with_key(anonymous_identity));
        Ok(Self {
            provider: OpenMlsRustCrypto::default(),
            signer,
            credential,
            anonymous,
            participant_id: participant_id.to_owned(),
            display_name: display_name.to_owned(),
            group: None,
        })
    }

    // ---- getters ----

    /// The participant id in this member's credential.
    pub fn participant_id(&self) -> &str {
        &self.participant_id
    }

    /// The display name this member was created with. Others see it once it is in this
    /// member's leaf: from the start for the group's creator, after
    /// [`announce_name`](Self::announce_name) for a member who joined from a Welcome.
    pub fn display_name(&self) -> &str {
        &self.display_name
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
    /// (which this crate never creates) is listed with its raw identity as participant id.
    ///
    /// A member who joined from a Welcome and has not [announced its name](Self::announce_name)
    /// yet still carries its key package's anonymous credential: its `display_name` is empty,
    /// and UIs show it as "joining…" until the announcing commit arrives.
    pub fn members(&self) -> Result<Vec<MemberInfo>, GroupError> {
        Ok(self
            .group()?
            .members()
            .map(|m| {
                let (participant_id, display_name) = identity_of(&m.credential)
                    .unwrap_or_else(|_| (hex(m.credential.serialized_content()), String::new()));
                MemberInfo {
                    leaf: m.index.u32(),
                    participant_id,
                    display_name,
                    fingerprint: fingerprint(&m.signature_key),
                }
            })
            .collect())
    }

    // ---- joining ----

    /// A fresh key package (a serialized `MLSMessage`) for someone to add this member with.
    /// Its private keys stay in this member, ready for the Welcome.
    ///
    /// The server relays key packages in the clear, so its credential carries the participant
    /// id only, never the display name: after joining, publish the name inside the group with
    /// [`announce_name`](Self::announce_name).
    pub fn key_package(&self) -> Result<Vec<u8>, GroupError> {
        let bundle = KeyPackage::builder()
            .build(MLS_CIPHERSUITE, &self.provider, &self.signer, self.anonymous.clone())
            .map_err(mls("build key package"))?;
        serialize(&MlsMessageOut::from(bundle.key_package().clone()))
    }

    /// Creates the meeting's group with this member alone in it, at epoch 0. With
    /// `external_sender`, the server may propose removals. The creator's leaf carries its named
    /// credential from the start (creating a group sends nothing to the server), so it never
    /// needs [`announce_name`](Self::announce_name).
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

    /// Joins the group a Welcome (from another member's [`CommitBundle`]) invites to. The new
    /// leaf carries the key package's anonymous credential: call
    /// [`announce_name`](Self::announce_name) next so the others learn this member's name.
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

    /// Stages a commit adding the members whose key packages are given.
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

    /// Stages a commit removing the members at `leaves` (a host removing someone). Pending
    /// Remove proposals are committed along with them.
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

    /// Stages a commit of the queued proposals (e.g. the server's Remove proposal for someone
    /// who left); `None` if nothing is queued.
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

    /// Stages a commit that puts this member's display name in its own leaf, replacing the
    /// anonymous credential it joined with (same participant id, same signature key); `None` if
    /// the leaf already carries the name (the group's creator, or a member who announced it).
    ///
    /// Call it right after [`join_from_welcome`](Self::join_from_welcome). The commit is a
    /// PrivateMessage and later Welcomes encrypt the tree, so the name only travels encrypted.
    /// It is a commit like any other: send it, then
    /// [`merge_pending_commit`](Self::merge_pending_commit) once the server keeps it, or
    /// [`discard_pending_commit`](Self::discard_pending_commit) when another commit won the
    /// epoch, process the winner, and call this again. Queued Remove proposals are committed
    /// along with it (see [`CommitBundle::removed`]).
    pub fn announce_name(&mut self) -> Result<Option<CommitBundle>, GroupError> {
        let Self { provider, signer, credential, group, .. } = self;
        let group = operational(group)?;
        let own = group.own_leaf_node().ok_or(GroupError::NoGroup)?;
        if own.credential() == &credential.credential {
            return Ok(None);
        }
        let epoch_before = group.epoch().as_u64();
        let parameters =
            LeafNodeParameters::builder().with_credential_with_key(credential.clone()).build();
        let (commit, welcome, _) = group
            .self_update(provider, signer, parameters)
            .map_err(mls("announce name"))?
            .into_messages();
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

    // ---- incoming ----

    /// Processes a commit or proposal the server relayed: merges other members' commits,
    /// queues Remove proposals, refuses everything else.
    pub fn process_message(&mut self, bytes: &[u8]) -> Result<Processed, GroupError> {
        let message: ProtocolMessage = match decode_message(bytes)?.extract() {
            MlsMessageBodyIn::PublicMessage(m) => m.into(),
            MlsMessageBodyIn::PrivateMessage(m) => m.into(),
            other => {
                return Err(GroupError::UnexpectedMessage {
                    expected: "a commit or proposal",
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
        if message_epoch != group_epoch {
            return Err(GroupError::WrongEpoch { message: message_epoch, group: group_epoch });
        }
        let processed = group.process_message(provider, message).map_err(mls("process message"))?;
        let sender = processed.sender().clone();
        match processed.into_content() {
            ProcessedMessageContent::StagedCommitMessage(staged) => {
                check_committer_identity(group, &sender, &staged)?;
                let evicted = staged.self_removed();
                group.merge_staged_commit(provider, *staged).map_err(mls("merge commit"))?;
                let epoch = group.epoch().as_u64();
                Ok(if evicted {
                    Processed::Evicted { epoch }
                } else {
                    Processed::EpochChanged { epoch }
                })
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
            ProcessedMessageContent::OwnPendingCommit
            | ProcessedMessageContent::OwnPrivateMessage => Ok(Processed::OwnMessage),
            ProcessedMessageContent::ExternalJoinProposalMessage(_) => {
                Err(GroupError::ProposalRefused("external joins are not accepted"))
            }
            ProcessedMessageContent::ApplicationMessage(_) => Err(GroupError::UnexpectedMessage {
                expected: "a commit or proposal",
                got: "an application message",
            }),
        }
    }

    // ---- helpers ----

    fn group(&self) -> Result<&MlsGroup, GroupError> {
        self.group.as_ref().ok_or(GroupError::NoGroup)
    }
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

/// A committer may replace its own credential (to [announce its name](Member::announce_name)),
/// but only with a Veil identity naming the same participant: nobody may take over another
/// participant's id from inside the group.
fn check_committer_identity(
    group: &MlsGroup,
    sender: &Sender,
    staged: &StagedCommit,
) -> Result<(), GroupError> {
    let (Sender::Member(leaf), Some(new_leaf)) = (sender, staged.update_path_leaf_node()) else {
        return Ok(());
    };
    let old = group.member(*leaf).ok_or(GroupError::UnknownLeaf(leaf.u32()))?;
    if new_leaf.credential() == old {
        return Ok(());
    }
    let (old_id, _) = identity_of(old)?;
    let (new_id, _) = identity_of(new_leaf.credential())?;
    if old_id != new_id {
        return Err(GroupError::Identity(IdentityError::Malformed(
            "a commit changes its sender's participant id",
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_commit_that_changes_its_senders_participant_id_is_refused() {
        let mut alice = Member::new("p-alice", "Alice").unwrap();
        let mut mallory = Member::new("p-mallory", "Mallory").unwrap();
        alice.create_group(b"room", None).unwrap();
        let add = alice.add_members(&[mallory.key_package().unwrap()]).unwrap();
        alice.merge_pending_commit().unwrap();
        mallory.join_from_welcome(add.welcome.as_deref().unwrap()).unwrap();

        // Mallory "announces" a credential naming Alice's participant id, same signature key.
        mallory.credential.credential =
            BasicCredential::new(encode_identity("p-alice", "Alice").unwrap()).into();
        let forged = mallory.announce_name().unwrap().unwrap();
        assert!(matches!(alice.process_message(&forged.commit), Err(GroupError::Identity(_))));
        assert_eq!(alice.epoch(), Ok(1), "the forged commit was not merged");
        assert_eq!(alice.members().unwrap()[1].participant_id, "p-mallory");
    }
}
