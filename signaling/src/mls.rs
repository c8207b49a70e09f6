//! The MLS delivery service: relays key packages, commits and welcomes it cannot read.
//!
//! Each room has one MLS group. The service holds no group secret; it knows the group id, the
//! current epoch, which participant sits at which leaf (as members report it), the key packages
//! of participants waiting to be added, and the leaves of members who left but are still in the
//! group. From that it:
//!
//! - asks the first participant of a room to create the group, and creates it anew (with a
//!   fresh group id) if every member left while others wait;
//! - forwards each waiting key package to the members as an add request, naming one committer
//!   (the longest-standing member) so that members don't race;
//! - keeps the first commit of each epoch and refuses the rest (`mls_stale_commit`): the
//!   refused member processes the accepted commit and tries again;
//! - proposes the removal of a member who left, as the group's external sender (RFC 9420
//!   §12.1.8.1), re-issuing the proposal for each new epoch until a commit removes the leaf.
//!
//! A lying service can at worst stall the group or add a ghost member, and members see the
//! member list and verification code change; it can never read media.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use rand::Rng;
use veil_proto::ParticipantId;
use veil_proto::signal::{E2eeSetup, ErrorCode, ExternalSenderKey, ServerMessage};

/// The server's MLS identity as external sender. Implemented with openmls by the `veil` binary;
/// signaling itself never parses MLS.
pub trait ExternalSender: Send + Sync + 'static {
    /// The public key and credential identity members list in `external_senders`.
    fn key(&self) -> ExternalSenderKey;
    /// A signed Remove proposal (an MLSMessage) for `leaf` in epoch `epoch` of `group_id`.
    fn remove_proposal(&self, group_id: &[u8], epoch: u64, leaf: u32) -> Result<Vec<u8>, String>;
}

/// Who a message is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum To {
    One(ParticipantId),
    /// Exactly these participants.
    List(Vec<ParticipantId>),
    /// Every group member, as the group stands when delivered.
    Members,
}

/// A message to deliver once the group's state has changed.
pub(crate) type Delivery = (To, ServerMessage);

/// Why an MLS message from a participant was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MlsRefusal {
    pub code: ErrorCode,
    pub message: String,
}

/// One room's group, as the delivery service sees it.
#[derive(Debug)]
pub(crate) struct Group {
    group_id: Vec<u8>,
    /// Current epoch; `None` until the creator reports the group exists.
    epoch: Option<u64>,
    /// Asked to create the group and not yet reported back.
    creator: Option<ParticipantId>,
    /// Members and their leaves, longest-standing first.
    leaves: Vec<(ParticipantId, u32)>,
    /// Key packages of participants waiting to be added.
    pending: Vec<(ParticipantId, String)>,
    /// Leaves of members who left and are not yet removed by a commit.
    departed: Vec<u32>,
}

impl Default for Group {
    fn default() -> Self {
        Self {
            group_id: fresh_group_id(),
            epoch: None,
            creator: None,
            leaves: Vec::new(),
            pending: Vec::new(),
            departed: Vec::new(),
        }
    }
}

fn fresh_group_id() -> Vec<u8> {
    rand::rng().random::<[u8; 16]>().to_vec()
}

impl Group {
    /// Whether `p` is a group member.
    pub(crate) fn is_member(&self, p: &ParticipantId) -> bool {
        self.leaves.iter().any(|(q, _)| q == p)
    }

    /// Members, longest-standing first.
    pub(crate) fn members(&self) -> impl Iterator<Item = &ParticipantId> {
        self.leaves.iter().map(|(p, _)| p)
    }

    /// Setup for a newcomer: the first one creates the group.
    pub(crate) fn on_join(&mut self, p: &ParticipantId, sender: &dyn ExternalSender) -> E2eeSetup {
        let create_group = self.leaves.is_empty() && self.creator.is_none();
        if create_group {
            self.creator = Some(p.clone());
        }
        E2eeSetup {
            group_id: B64.encode(&self.group_id),
            external_sender: sender.key(),
            create_group,
        }
    }

    /// A waiting participant's key package.
    pub(crate) fn on_key_package(
        &mut self,
        p: &ParticipantId,
        key_package: String,
    ) -> Result<Vec<Delivery>, MlsRefusal> {
        if self.is_member(p) {
            return Err(refusal(ErrorCode::BadMessage, "you are already a member of the group"));
        }
        self.pending.retain(|(q, _)| q != p);
        self.pending.push((p.clone(), key_package.clone()));
        let Some(committer) = self.committer() else {
            return Ok(Vec::new()); // Sent once the group exists.
        };
        let request =
            ServerMessage::MlsAddRequest { participant_id: p.clone(), key_package, committer };
        Ok(vec![(To::Members, request)])
    }

    /// A participant became a member at `leaf` (created the group, or processed a Welcome).
    pub(crate) fn on_joined(
        &mut self,
        p: &ParticipantId,
        epoch: u64,
        leaf: u32,
        sender: &dyn ExternalSender,
    ) -> Result<Vec<Delivery>, MlsRefusal> {
        if self.creator.as_ref() == Some(p) && self.epoch.is_none() {
            if epoch != 0 {
                return Err(refusal(ErrorCode::BadMessage, "a new group starts at epoch 0"));
            }
            self.creator = None;
            self.epoch = Some(0);
            self.pending.retain(|(q, _)| q != p);
            self.leaves = vec![(p.clone(), leaf)];
            return Ok(self.reissue(sender));
        }
        if !self.is_member(p) {
            return Err(refusal(
                ErrorCode::MlsNotMember,
                "no accepted commit added you; send your key package and wait for a Welcome",
            ));
        }
        // The leaf was derived when the commit that added us was accepted; the member's own
        // word wins if the two disagree (it can only hurt itself by lying).
        if let Some(entry) = self.leaves.iter_mut().find(|(q, _)| q == p)
            && entry.1 != leaf
        {
            tracing::debug!(derived = entry.1, reported = leaf, epoch, "leaf differs from derived");
            entry.1 = leaf;
        }
        Ok(Vec::new())
    }

    /// A member's commit made in `epoch`; the first one per epoch wins.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn on_commit(
        &mut self,
        p: &ParticipantId,
        epoch: u64,
        commit: String,
        welcome: Option<String>,
        added: Vec<ParticipantId>,
        removed: &[u32],
        sender: &dyn ExternalSender,
    ) -> Result<Vec<Delivery>, MlsRefusal> {
        if !self.is_member(p) {
            return Err(refusal(ErrorCode::MlsNotMember, "only group members can commit"));
        }
        if self.epoch != Some(epoch) {
            return Err(refusal(
                ErrorCode::MlsStaleCommit,
                format!(
                    "epoch {epoch} already has a commit (the group is in epoch {:?}); process it \
                     and commit again if still needed",
                    self.epoch
                ),
            ));
        }
        let next = epoch + 1;
        self.epoch = Some(next);
        self.departed.retain(|l| !removed.contains(l));
        self.leaves.retain(|(_, l)| !removed.contains(l));
        // The commit goes to the members it was made among; those it adds get the Welcome.
        let others = self.members().filter(|q| *q != p).cloned().collect();
        let mut out = vec![
            (To::List(others), ServerMessage::MlsCommit { commit, epoch: next }),
            (To::One(p.clone()), ServerMessage::MlsCommitAccepted { epoch: next }),
        ];
        // Added members are members from this epoch on: they get every later commit (after
        // their Welcome) even before they report back. MLS puts each new member, in proposal
        // order, in the leftmost leaf not taken by a member or a departed-but-not-removed one.
        for a in added {
            let was_waiting = self.pending.iter().any(|(q, _)| *q == a);
            self.pending.retain(|(q, _)| *q != a);
            if !was_waiting || self.is_member(&a) {
                continue; // Left meanwhile, or a confused committer: nobody to welcome.
            }
            let leaf = self.leftmost_free_leaf();
            self.leaves.push((a.clone(), leaf));
            if let Some(welcome) = &welcome {
                out.push((To::One(a), ServerMessage::MlsWelcome { welcome: welcome.clone() }));
            }
        }
        out.extend(self.reissue(sender));
        Ok(out)
    }

    /// A participant left the room. Returns what to deliver to those who remain, given the
    /// room's remaining participants in join order.
    pub(crate) fn on_leave(
        &mut self,
        p: &ParticipantId,
        remaining: &[ParticipantId],
        sender: &dyn ExternalSender,
    ) -> Vec<Delivery> {
        self.pending.retain(|(q, _)| q != p);
        if self.creator.as_ref() == Some(p) {
            self.creator = None;
        }
        if let Some(i) = self.leaves.iter().position(|(q, _)| q == p) {
            let (_, leaf) = self.leaves.remove(i);
            self.departed.push(leaf);
        }
        if !self.leaves.is_empty() {
            return self.reissue(sender);
        }
        if self.creator.is_some() {
            return Vec::new();
        }
        // Nobody holds the group any more: start a new one with someone who is waiting.
        let Some(next) = remaining.first() else {
            return Vec::new();
        };
        *self = Group { pending: std::mem::take(&mut self.pending), ..Group::default() };
        self.pending.retain(|(q, _)| q != next);
        self.creator = Some(next.clone());
        let create = ServerMessage::MlsCreateGroup { group_id: B64.encode(&self.group_id) };
        vec![(To::One(next.clone()), create)]
    }

    fn leftmost_free_leaf(&self) -> u32 {
        let taken = |l: u32| self.leaves.iter().any(|(_, x)| *x == l) || self.departed.contains(&l);
        (0..).find(|&l| !taken(l)).unwrap_or(u32::MAX)
    }

    fn committer(&self) -> Option<ParticipantId> {
        self.epoch?;
        self.leaves.first().map(|(p, _)| p.clone())
    }

    /// Outstanding work for the current epoch: removals of departed leaves, then adds.
    fn reissue(&self, sender: &dyn ExternalSender) -> Vec<Delivery> {
        let (Some(epoch), Some(committer)) = (self.epoch, self.committer()) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for &leaf in &self.departed {
            match sender.remove_proposal(&self.group_id, epoch, leaf) {
                Ok(bytes) => out.push((
                    To::Members,
                    ServerMessage::MlsProposal {
                        proposal: B64.encode(bytes),
                        epoch,
                        committer: committer.clone(),
                    },
                )),
                Err(e) => tracing::warn!(leaf, "cannot make a remove proposal: {e}"),
            }
        }
        for (p, key_package) in &self.pending {
            out.push((
                To::Members,
                ServerMessage::MlsAddRequest {
                    participant_id: p.clone(),
                    key_package: key_package.clone(),
                    committer: committer.clone(),
                },
            ));
        }
        out
    }
}

fn refusal(code: ErrorCode, message: impl Into<String>) -> MlsRefusal {
    MlsRefusal { code, message: message.into() }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Proposals that say what they would remove, for tests that do not read MLS.
    pub(crate) struct FakeSender;
    impl ExternalSender for FakeSender {
        fn key(&self) -> ExternalSenderKey {
            ExternalSenderKey { signature_key: "a2V5".into(), identity: "dmVpbA==".into() }
        }
        fn remove_proposal(&self, _: &[u8], epoch: u64, leaf: u32) -> Result<Vec<u8>, String> {
            Ok(format!("remove {leaf} at {epoch}").into_bytes())
        }
    }

    fn id(s: &str) -> ParticipantId {
        ParticipantId(s.into())
    }

    fn kinds(d: &[Delivery]) -> Vec<String> {
        d.iter()
            .map(|(to, m)| {
                let v = serde_json::to_value(m).unwrap();
                format!("{}->{:?}", v["type"].as_str().unwrap(), to)
            })
            .collect()
    }

    #[test]
    fn first_joiner_creates_and_waiting_key_packages_go_to_the_committer() {
        let s = FakeSender;
        let mut g = Group::default();
        assert!(g.on_join(&id("a"), &s).create_group);
        assert!(!g.on_join(&id("b"), &s).create_group);
        // b's key package waits until the group exists.
        assert!(g.on_key_package(&id("b"), "kpB".into()).unwrap().is_empty());
        let out = g.on_joined(&id("a"), 0, 0, &s).unwrap();
        assert_eq!(out.len(), 1);
        assert!(
            matches!(&out[0].1, ServerMessage::MlsAddRequest { committer, .. } if *committer == id("a"))
        );
    }

    #[test]
    fn only_the_first_commit_of_an_epoch_is_kept() {
        let s = FakeSender;
        let mut g = Group::default();
        g.on_join(&id("a"), &s);
        g.on_joined(&id("a"), 0, 0, &s).unwrap();
        g.on_key_package(&id("b"), "kpB".into()).unwrap();
        let out = g
            .on_commit(&id("a"), 0, "c1".into(), Some("w".into()), vec![id("b")], &[], &s)
            .unwrap();
        assert_eq!(
            kinds(&out),
            vec![
                "mls_commit->List([])",
                "mls_commit_accepted->One(ParticipantId(\"a\"))",
                "mls_welcome->One(ParticipantId(\"b\"))",
            ]
        );
        g.on_joined(&id("b"), 1, 1, &s).unwrap();
        let stale = g.on_commit(&id("b"), 0, "c2".into(), None, vec![], &[], &s).unwrap_err();
        assert_eq!(stale.code, ErrorCode::MlsStaleCommit);
        let outsider = g.on_commit(&id("z"), 1, "c3".into(), None, vec![], &[], &s).unwrap_err();
        assert_eq!(outsider.code, ErrorCode::MlsNotMember);
    }

    #[test]
    fn a_departed_member_is_proposed_for_removal_until_a_commit_removes_it() {
        let s = FakeSender;
        let mut g = Group::default();
        g.on_join(&id("a"), &s);
        g.on_joined(&id("a"), 0, 0, &s).unwrap();
        g.on_key_package(&id("b"), "kpB".into()).unwrap();
        g.on_commit(&id("a"), 0, "c".into(), Some("w".into()), vec![id("b")], &[], &s).unwrap();
        g.on_joined(&id("b"), 1, 1, &s).unwrap();
        g.on_key_package(&id("c"), "kpC".into()).unwrap();
        g.on_commit(&id("a"), 1, "c".into(), Some("w".into()), vec![id("c")], &[], &s).unwrap();
        g.on_joined(&id("c"), 2, 2, &s).unwrap();

        // a (the committer) leaves: b becomes committer and gets the proposal for leaf 0.
        let out = g.on_leave(&id("a"), &[id("b"), id("c")], &s);
        assert!(matches!(&out[0].1,
            ServerMessage::MlsProposal { epoch: 2, committer, proposal } if *committer == id("b")
                && B64.decode(proposal).unwrap() == b"remove 0 at 2"));
        // c commits something else first: the removal is proposed again for epoch 3.
        let out = g.on_commit(&id("c"), 2, "x".into(), None, vec![], &[], &s).unwrap();
        assert!(out.iter().any(|(_, m)| matches!(m, ServerMessage::MlsProposal { epoch: 3, .. })));
        // b commits the removal: nothing more is proposed.
        let out = g.on_commit(&id("b"), 3, "r".into(), None, vec![], &[0], &s).unwrap();
        assert!(!out.iter().any(|(_, m)| matches!(m, ServerMessage::MlsProposal { .. })));
        assert_eq!(g.members().cloned().collect::<Vec<_>>(), vec![id("b"), id("c")]);
    }

    #[test]
    fn added_members_get_later_commits_and_can_be_removed_before_reporting_back() {
        let s = FakeSender;
        let mut g = Group::default();
        g.on_join(&id("a"), &s);
        g.on_joined(&id("a"), 0, 0, &s).unwrap();
        g.on_key_package(&id("b"), "kpB".into()).unwrap();
        g.on_key_package(&id("c"), "kpC".into()).unwrap();
        let added = vec![id("b"), id("c")];
        g.on_commit(&id("a"), 0, "c1".into(), Some("w".into()), added, &[], &s).unwrap();
        // Another commit lands before b reports back: b still receives it.
        let out = g.on_commit(&id("a"), 1, "c2".into(), None, vec![], &[], &s).unwrap();
        let to_b = out.iter().any(|(to, m)| {
            matches!(to, To::List(ids) if ids.contains(&id("b")))
                && matches!(m, ServerMessage::MlsCommit { epoch: 2, .. })
        });
        assert!(to_b && g.is_member(&id("b")));
        // b reports late (epoch 1 < 2): accepted, not refused.
        assert!(g.on_joined(&id("b"), 1, 1, &s).unwrap().is_empty());
        // c leaves without ever reporting: its derived leaf (2) is proposed for removal.
        let out = g.on_leave(&id("c"), &[id("a"), id("b")], &s);
        assert!(out.iter().any(|(_, m)| matches!(m, ServerMessage::MlsProposal { proposal, .. }
            if B64.decode(proposal).unwrap() == b"remove 2 at 2")));
        // A new member takes no leaf that is still occupied or awaiting removal.
        g.on_key_package(&id("d"), "kpD".into()).unwrap();
        g.on_commit(&id("a"), 2, "c3".into(), Some("w".into()), vec![id("d")], &[], &s).unwrap();
        assert_eq!(g.leaves.last(), Some(&(id("d"), 3)));
    }

    #[test]
    fn when_every_member_left_a_waiting_participant_starts_a_new_group() {
        let s = FakeSender;
        let mut g = Group::default();
        g.on_join(&id("a"), &s);
        g.on_joined(&id("a"), 0, 0, &s).unwrap();
        g.on_join(&id("b"), &s);
        g.on_key_package(&id("b"), "kpB".into()).unwrap();
        g.on_join(&id("c"), &s);
        g.on_key_package(&id("c"), "kpC".into()).unwrap();
        let old_id = g.group_id.clone();
        let out = g.on_leave(&id("a"), &[id("b"), id("c")], &s);
        assert!(
            matches!(&out[0], (To::One(p), ServerMessage::MlsCreateGroup { .. }) if *p == id("b"))
        );
        assert_ne!(g.group_id, old_id);
        // Once b reports the new group, c's waiting key package is sent to b.
        let out = g.on_joined(&id("b"), 0, 0, &s).unwrap();
        assert!(
            matches!(&out[0].1, ServerMessage::MlsAddRequest { participant_id, .. } if *participant_id == id("c"))
        );
    }
}
