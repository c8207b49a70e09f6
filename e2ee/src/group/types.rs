//! The values [`Member`](super::Member) takes and returns, and its error type.

use std::fmt;

use super::identity::IdentityError;

/// The delivery service's external-sender entry, as the server publishes it: the group creator
/// lists it in the group context so members accept the server's Remove proposals.
#[derive(Clone, PartialEq, Eq)]
pub struct ExternalSenderInfo {
    /// The server's Ed25519 signature public key (32 bytes).
    pub signature_key: Vec<u8>,
    /// The identity of the server's basic credential.
    pub identity: Vec<u8>,
}

impl fmt::Debug for ExternalSenderInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExternalSenderInfo")
            .field("fingerprint", &super::identity::fingerprint(&self.signature_key))
            .field("identity", &String::from_utf8_lossy(&self.identity))
            .finish()
    }
}

/// A commit this member created and staged, for the delivery service to accept or refuse.
///
/// Send `commit` (and `welcome`, for the members it adds) to the server. When the server says
/// it kept this commit as the first of `epoch_before`, call
/// [`Member::merge_pending_commit`](super::Member::merge_pending_commit); when it refuses it
/// because another commit won, call
/// [`Member::discard_pending_commit`](super::Member::discard_pending_commit) and process the
/// winner.
#[derive(Clone, PartialEq, Eq)]
pub struct CommitBundle {
    /// The serialized MLS message carrying the commit (a PublicMessage).
    pub commit: Vec<u8>,
    /// The serialized Welcome for added members, if the commit adds any. It carries the ratchet
    /// tree, so joiners need nothing else.
    pub welcome: Option<Vec<u8>>,
    /// The epoch the commit was made in; merging it moves the group to `epoch_before + 1`.
    pub epoch_before: u64,
    /// The leaves the commit removes, ascending: those given to
    /// [`Member::remove_members`](super::Member::remove_members) and those of the queued Remove
    /// proposals it commits (any commit commits the queue).
    pub removed: Vec<u32>,
}

impl fmt::Debug for CommitBundle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CommitBundle")
            .field("commit", &format_args!("<{} bytes>", self.commit.len()))
            .field("welcome", &self.welcome.as_ref().map(|w| format!("<{} bytes>", w.len())))
            .field("epoch_before", &self.epoch_before)
            .field("removed", &self.removed)
            .finish()
    }
}

/// What processing a relayed message did.
#[derive(Debug)]
pub enum Processed {
    /// Another member's commit, verified and read: hold it against the roster, then
    /// [merge](super::Member::merge_commit) it (or drop it).
    Commit(super::IncomingCommit),
    /// A Remove proposal was queued; some member commits it with
    /// [`Member::commit_pending_proposals`](super::Member::commit_pending_proposals).
    ProposalQueued {
        /// The leaf the proposal removes.
        removes: u32,
        /// Whether the server (the group's external sender) proposed it.
        external: bool,
    },
    /// An application message, decrypted.
    Application {
        /// The participant id of the member whose leaf signed it.
        sender: String,
        payload: Vec<u8>,
    },
}

/// One member of the group as the MLS tree shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberInfo {
    /// The member's leaf index, the sender index in its SFrame KIDs.
    pub leaf: u32,
    /// The participant id from the member's credential.
    pub participant_id: String,
    /// Hex fingerprint of the member's signature key.
    pub fingerprint: String,
}

/// A group operation that failed, with what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GroupError {
    /// The participant id or display name cannot become a credential, or a member's
    /// credential is not a Veil identity.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// The operation needs a group: create one or join from a Welcome first.
    #[error("not in a group: create one or join from a Welcome first")]
    NoGroup,
    /// This member already belongs to a group; use a new `Member` for another meeting.
    #[error("already in a group: use a new Member for another group")]
    AlreadyInGroup,
    /// A commit removed this member; the group can no longer be used.
    #[error("this member was removed from the group")]
    Evicted,
    /// The bytes are not a well-formed MLS message.
    #[error("cannot decode {what}: {detail}")]
    Decode {
        /// What was expected.
        what: &'static str,
        /// The decoder's complaint.
        detail: String,
    },
    /// A well-formed MLS message of the wrong kind for this call.
    #[error("expected {expected}, got {got}")]
    UnexpectedMessage {
        /// What the call takes.
        expected: &'static str,
        /// What arrived.
        got: &'static str,
    },
    /// The message belongs to another group (another meeting).
    #[error("message belongs to another group")]
    WrongGroup,
    /// The message was made in another epoch: a commit that lost the race, or a message
    /// delivered late. Older ones can be ignored.
    #[error("message is from epoch {message}, the group is at epoch {group}")]
    WrongEpoch {
        /// The epoch in the message's header.
        message: u64,
        /// This member's epoch.
        group: u64,
    },
    /// A proposal Veil does not accept: only Remove proposals are, so that neither a member
    /// nor the server can slip a member in through a standalone proposal.
    #[error("proposal refused: {0}")]
    ProposalRefused(&'static str),
    /// A commit outside Veil's profile (see [`summarize`](super::summarize)).
    #[error("commit refused: {0}")]
    CommitRefused(String),
    /// A commit is staged: merge or discard it before creating another.
    #[error("a commit is pending: merge or discard it first")]
    PendingCommit,
    /// `merge_pending_commit` or `discard_pending_commit` without a staged commit.
    #[error("no commit is pending")]
    NoPendingCommit,
    /// No member sits at this leaf.
    #[error("no member at leaf {0}")]
    UnknownLeaf(u32),
    /// openmls refused the operation.
    #[error("MLS {op} failed: {detail}")]
    Mls {
        /// The operation.
        op: &'static str,
        /// openmls's error.
        detail: String,
    },
}

impl GroupError {
    /// A stable, kebab-case name for this error, the `kind` JavaScript sees.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Identity(_) => "identity",
            Self::NoGroup => "no-group",
            Self::AlreadyInGroup => "already-in-group",
            Self::Evicted => "evicted",
            Self::Decode { .. } => "decode",
            Self::UnexpectedMessage { .. } => "unexpected-message",
            Self::WrongGroup => "wrong-group",
            Self::WrongEpoch { .. } => "wrong-epoch",
            Self::ProposalRefused(_) => "proposal-refused",
            Self::CommitRefused(_) => "commit-refused",
            Self::PendingCommit => "pending-commit",
            Self::NoPendingCommit => "no-pending-commit",
            Self::UnknownLeaf(_) => "unknown-leaf",
            Self::Mls { .. } => "mls",
        }
    }
}

/// Wraps an openmls error of operation `op`.
pub(crate) fn mls<E: fmt::Display>(op: &'static str) -> impl FnOnce(E) -> GroupError {
    move |err| GroupError::Mls { op, detail: err.to_string() }
}
