//! What a commit does, read from the staged commit before anyone merges it: the one reading of
//! commits that members and the delivery service share.
//!
//! Veil's MLS profile allows a commit only two kinds of proposal: Add (a newcomer, by its key
//! package) and Remove (someone who left, proposed by the server as external sender, or by the
//! committer). Everything else is refused, for every client and the server alike:
//!
//! - GroupContextExtensions: it could swap the `external_senders` list (letting another key
//!   propose removals) or the required capabilities;
//! - PreSharedKey, ReInit, ExternalInit, SelfRemove and custom proposals: Veil never makes them,
//!   and each changes the group in a way nobody would see;
//! - Update proposals: a member changes its own leaf only in its commit's path.
//!
//! A committer's new leaf (in its path) must keep its credential: the participant id a member
//! has cannot change inside the group.

use openmls::prelude::{Credential, LeafNodeIndex, Proposal, ProposalType, Sender, StagedCommit};

use super::{GroupError, participant_of};

/// What a commit adds and removes, by participant id.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CommitSummary {
    /// The committer's leaf, for a member's commit.
    pub committer: Option<u32>,
    /// Participants whose key packages the commit adds, in the commit's order.
    pub adds: Vec<String>,
    /// Leaves the commit removes, with the participant each held, ascending.
    pub removes: Vec<(u32, String)>,
}

/// A short name of a proposal type, for errors.
fn proposal_name(proposal: &Proposal) -> &'static str {
    match proposal.proposal_type() {
        ProposalType::Add => "Add",
        ProposalType::Update => "Update",
        ProposalType::Remove => "Remove",
        ProposalType::PreSharedKey => "PreSharedKey",
        ProposalType::Reinit => "ReInit",
        ProposalType::ExternalInit => "ExternalInit",
        ProposalType::GroupContextExtensions => "GroupContextExtensions",
        ProposalType::SelfRemove => "SelfRemove",
        _ => "an unknown proposal",
    }
}

/// Reads a staged commit against the group it applies to: `member_at` gives the credential of
/// the member at a leaf before the commit. Refuses what Veil's profile does not allow (see the
/// module docs).
pub fn summarize(
    staged: &StagedCommit,
    sender: &Sender,
    member_at: impl Fn(LeafNodeIndex) -> Option<Credential>,
) -> Result<CommitSummary, GroupError> {
    let mut summary = CommitSummary::default();
    for queued in staged.queued_proposals() {
        match queued.proposal() {
            Proposal::Add(add) => {
                summary.adds.push(participant_of(add.key_package().leaf_node().credential())?);
            }
            Proposal::Remove(remove) => {
                let leaf = remove.removed();
                let credential = member_at(leaf).ok_or(GroupError::UnknownLeaf(leaf.u32()))?;
                summary.removes.push((leaf.u32(), participant_of(&credential)?));
            }
            other => {
                return Err(GroupError::CommitRefused(format!(
                    "it carries a {} proposal; Veil commits only adds and removals",
                    proposal_name(other)
                )));
            }
        }
    }
    summary.removes.sort_unstable();
    summary.removes.dedup();
    let Sender::Member(leaf) = sender else {
        return Err(GroupError::CommitRefused(
            "only members commit; external commits are refused".into(),
        ));
    };
    summary.committer = Some(leaf.u32());
    if let Some(new_leaf) = staged.update_path_leaf_node() {
        let old = member_at(*leaf).ok_or(GroupError::UnknownLeaf(leaf.u32()))?;
        if new_leaf.credential() != &old {
            return Err(GroupError::CommitRefused("it changes its sender's credential".into()));
        }
    }
    Ok(summary)
}
