//! The client side of MLS (RFC 9420): one [`Member`] per participant and meeting, and the
//! reading of commits ([`summarize`]) that members and the delivery service share.
//!
//! ## Lifecycle
//!
//! ```text
//! creator:  Member::new ── create_group(id, Some(server)) ── group_info() ──> server tracks it
//! joiner:   Member::new ── key_package() ──(server relays)── add_members([kp]) by a member
//!                                                                               v
//!           server verifies and keeps the first commit of the epoch ── committer merge_pending_commit()
//!           Welcome ──> joiner join_from_welcome()        others process_message(commit) + merge_commit
//! ```
//!
//! Credentials carry the participant id only ([`identity`]); display names travel in
//! application messages ([`Member::send_application`]), never in anything the server reads.
//!
//! Every change of membership is a commit and starts a new epoch with a fresh
//! [`sframe_epoch_secret`](Member::sframe_epoch_secret): a newcomer cannot read what was sent
//! before it joined, and a removed member cannot read what is sent after.
//!
//! ## Commits and the delivery service
//!
//! The server keeps each group's public state and verifies every commit before relaying it; of
//! all valid commits made in one epoch it keeps the first and refuses the rest. A member that
//! commits therefore *stages* the commit ([`CommitBundle`]) and applies it only once the server
//! confirms ([`merge_pending_commit`](Member::merge_pending_commit)); if another commit won,
//! it drops its own ([`discard_pending_commit`](Member::discard_pending_commit)), processes the
//! winner, and commits again if it still needs to.
//!
//! Another member's commit comes out of [`process_message`](Member::process_message) read but
//! not merged ([`IncomingCommit`]): the caller holds what it adds and removes against the
//! room's roster (see [`crate::session`]) before [`merge_commit`](Member::merge_commit).
//!
//! When someone leaves, the server (listed in the group context as an external sender) sends
//! an MLS Remove proposal; members queue it ([`Processed::ProposalQueued`]) and one of them
//! commits it ([`commit_pending_proposals`](Member::commit_pending_proposals)). Only Remove
//! proposals are accepted: an Add always comes inside a member's commit, so the server cannot
//! add a member by proposal.
//!
//! ## Wire format
//!
//! Handshake messages are PublicMessages (the server verifies them; a PrivateMessage commit is
//! refused); application messages are PrivateMessages. Welcomes carry the ratchet tree.

mod commit;
mod config;
mod identity;
mod member;
mod storage;
mod types;

pub use commit::{CommitSummary, summarize};
pub use config::{key_package_owner, participant_of};
pub use identity::{IdentityError, MAX_FIELD_LEN, fingerprint, verification_code};
pub use member::{IncomingCommit, Member, Merged};
pub use types::{CommitBundle, ExternalSenderInfo, GroupError, MemberInfo, Processed};

pub(crate) use identity::{decode as decode_identity, encode as encode_identity};

use openmls::prelude::{MlsMessageBodyIn, MlsMessageIn};
use tls_codec::Deserialize as _;

/// Parses a serialized `MLSMessage`.
pub(crate) fn decode_message(bytes: &[u8]) -> Result<MlsMessageIn, GroupError> {
    MlsMessageIn::tls_deserialize_exact(bytes)
        .map_err(|e| GroupError::Decode { what: "MLS message", detail: e.to_string() })
}

/// A short name of an MLS message body, for error messages.
pub(crate) fn body_name(body: &MlsMessageBodyIn) -> &'static str {
    match body {
        MlsMessageBodyIn::PublicMessage(_) => "a PublicMessage",
        MlsMessageBodyIn::PrivateMessage(_) => "a PrivateMessage",
        MlsMessageBodyIn::Welcome(_) => "a Welcome",
        MlsMessageBodyIn::GroupInfo(_) => "a GroupInfo",
        MlsMessageBodyIn::KeyPackage(_) => "a KeyPackage",
    }
}
