//! The client side of MLS (RFC 9420): one [`Member`] per participant and meeting.
//!
//! ## Lifecycle
//!
//! ```text
//! creator:  Member::new ── create_group(id, Some(server)) ── add_members([kp]) ─┐
//! joiner:   Member::new ── key_package() ──(server relays)──────────────────────┤
//!                                                                               v
//!           server keeps the first commit of the epoch ── creator merge_pending_commit()
//!           Welcome ──> joiner join_from_welcome()        others process_message(commit)
//! ```
//!
//! A joiner's key package, which the server relays in the clear, names only its participant id.
//! Right after joining, it stages [`announce_name`](Member::announce_name), a commit that puts
//! its display name in its leaf; until that commit is merged, [`Member::members`] shows it with
//! an empty display name ("joining…"). The group's creator has its name in its leaf from the
//! start.
//!
//! Every change of membership is a commit and starts a new epoch with a fresh
//! [`sframe_epoch_secret`](Member::sframe_epoch_secret): a newcomer cannot read what was sent
//! before it joined, and a removed member cannot read what is sent after.
//!
//! ## Commits and the delivery service
//!
//! The server orders commits without reading them: of all commits made in one epoch it relays
//! the first and refuses the rest. A member that commits therefore *stages* the commit
//! ([`CommitBundle`]) and applies it only once the server confirms
//! ([`merge_pending_commit`](Member::merge_pending_commit)); if another commit won,
//! it drops its own ([`discard_pending_commit`](Member::discard_pending_commit)), processes the
//! winner, and commits again if it still needs to.
//!
//! When someone leaves or is removed by a host, the server (listed in the group context as an
//! external sender) sends an MLS Remove proposal; members queue it
//! ([`Processed::ProposalQueued`]) and one of them commits it
//! ([`commit_pending_proposals`](Member::commit_pending_proposals)). Only Remove proposals are
//! accepted, from anyone: an Add always comes inside a member's commit, so the server cannot
//! add a member by proposal.
//!
//! ## Wire format
//!
//! Members send handshake messages as PrivateMessage, which still shows the server the group
//! id, epoch and content type ([`crate::ds::message_epoch`]); they accept PublicMessage too,
//! the only framing an external sender can use. Welcomes carry the ratchet tree.

mod config;
mod identity;
mod member;
mod types;

pub use identity::{IdentityError, MAX_FIELD_LEN, fingerprint, verification_code};
pub use member::Member;
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
