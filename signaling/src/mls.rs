//! The MLS delivery service: relays each room's key agreement, verifying every commit against
//! the group's public state and holding no group secret.
//!
//! Each room has one MLS group. The service knows the group id; once the creator reports the
//! group (its GroupInfo), the group's public state ([`PublicGroupState`], verified by
//! `veil-ds` through [`DeliveryService`]); the key packages of participants waiting to be
//! added; and the leaves of members who left but are still in the tree. From that it:
//!
//! - asks the first participant of a room to create the group, and creates it anew (with a
//!   fresh group id) if every member left while others wait;
//! - checks each key package (it must be the sender's own) and forwards it to the members as
//!   an add request, naming one committer (the member at the lowest leaf) so that members
//!   don't race; members fall back to committing themselves if it stays silent;
//! - verifies each commit: an MLS PublicMessage of the current epoch, signed by the sender's
//!   own leaf, adding only participants waiting to be added and removing only leaves of
//!   members who left. The first valid commit of an epoch wins; a later one is refused as
//!   `mls_stale_commit`, an invalid one as `mls_invalid_commit`, and neither is relayed.
//!   Who was added and removed, and who sits at which leaf, comes from the commit itself;
//! - proposes the removal of a member who left, as the group's external sender (RFC 9420
//!   §12.1.8.1), re-issuing the proposal for each new epoch until a commit removes the leaf;
//! - relays application messages (display names, chat) it cannot read to the other members.
//!
//! A lying service can still stall the group or slip in a member of its own; members hold the
//! group against the roster (see `veil-e2ee`'s session) and show the call at risk. It can
//! never read media or names.
//!
//! [`Group`] is a plain state machine (messages in, deliveries out, no I/O), public so that the
//! E2EE crate's session tests run clients against the very logic the server runs.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use rand::Rng;
use veil_proto::ParticipantId;
use veil_proto::mls::{CommitEffect, PublicGroupState};
use veil_proto::signal::{E2eeSetup, ErrorCode, ServerMessage};

pub use veil_proto::mls::DeliveryService;

/// Who a message is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum To {
    One(ParticipantId),
    /// Exactly these participants.
    List(Vec<ParticipantId>),
    /// Every group member, as the group stands when delivered.
    Members,
    /// Every group member but one (the sender).
    MembersExcept(ParticipantId),
}

/// A message to deliver once the group's state has changed.
pub type Delivery = (To, ServerMessage);

/// Why an MLS message from a participant was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MlsRefusal {
    pub code: ErrorCode,
    pub message: String,
}

/// One room's group, as the delivery service sees it.
#[derive(Debug)]
pub struct Group {
    group_id: Vec<u8>,
    /// The group's public state, once its creator reported it.
    state: Option<Box<dyn PublicGroupState>>,
    /// Asked to create the group and not yet reported back.
    creator: Option<ParticipantId>,
    /// Members and their leaves (the tree without departed leaves), by leaf.
    leaves: Vec<(ParticipantId, u32)>,
    /// Key packages (base64) of participants waiting to be added.
    pending: Vec<(ParticipantId, String)>,
    /// Leaves of members who left and are not yet removed by a commit.
    departed: Vec<u32>,
}

impl Default for Group {
    fn default() -> Self {
        Self {
            group_id: fresh_group_id(),
            state: None,
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

fn decode(what: &str, text: &str) -> Result<Vec<u8>, MlsRefusal> {
    B64.decode(text).map_err(|_| refusal(ErrorCode::BadMessage, format!("{what} is not base64")))
}

impl Group {
    /// Whether `p` is a group member.
    pub fn is_member(&self, p: &ParticipantId) -> bool {
        self.leaves.iter().any(|(q, _)| q == p)
    }

    /// Members, by leaf.
    pub fn members(&self) -> impl Iterator<Item = &ParticipantId> {
        self.leaves.iter().map(|(p, _)| p)
    }

    /// The current epoch, once the group exists.
    pub fn epoch(&self) -> Option<u64> {
        self.state.as_ref().map(|s| s.epoch())
    }

    /// Setup for a newcomer: the first one creates the group.
    pub fn on_join(&mut self, p: &ParticipantId, ds: &dyn DeliveryService) -> E2eeSetup {
        let create_group = self.state.is_none() && self.creator.is_none();
        if create_group {
            self.creator = Some(p.clone());
        }
        E2eeSetup {
            group_id: B64.encode(&self.group_id),
            external_sender: ds.external_sender(),
            create_group,
        }
    }

    /// A waiting participant's key package; it must name the participant itself.
    pub fn on_key_package(
        &mut self,
        p: &ParticipantId,
        key_package: String,
        ds: &dyn DeliveryService,
    ) -> Result<Vec<Delivery>, MlsRefusal> {
        if self.is_member(p) {
            return Err(refusal(ErrorCode::BadMessage, "you are already a member of the group"));
        }
        let owner = ds
            .key_package_owner(&decode("the key package", &key_package)?)
            .map_err(|e| refusal(ErrorCode::MlsInvalidMessage, e.0))?;
        if owner != *p {
            return Err(refusal(
                ErrorCode::MlsInvalidMessage,
                "the key package names another participant; send your own",
            ));
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

    /// The creator reports the group it created, with its GroupInfo.
    pub fn on_group_created(
        &mut self,
        p: &ParticipantId,
        group_info: &str,
        ds: &dyn DeliveryService,
    ) -> Result<Vec<Delivery>, MlsRefusal> {
        if self.creator.as_ref() != Some(p) || self.state.is_some() {
            return Err(refusal(
                ErrorCode::MlsInvalidMessage,
                "you were not asked to create this room's group",
            ));
        }
        let bytes = decode("the group info", group_info)?;
        let state = ds
            .track_group(&self.group_id, p, &bytes)
            .map_err(|e| refusal(ErrorCode::MlsInvalidMessage, e.0))?;
        self.creator = None;
        self.state = Some(state);
        self.pending.retain(|(q, _)| q != p);
        self.refresh_leaves();
        Ok(self.reissue())
    }

    /// A member reports it joined from a Welcome at `leaf`; the leaf must be the one the
    /// commit that added it gave it.
    pub fn on_joined(&mut self, p: &ParticipantId, leaf: u32) -> Result<(), MlsRefusal> {
        let Some((_, own)) = self.leaves.iter().find(|(q, _)| q == p) else {
            return Err(refusal(
                ErrorCode::MlsNotMember,
                "no accepted commit added you; send your key package and wait for a Welcome",
            ));
        };
        if *own != leaf {
            return Err(refusal(
                ErrorCode::MlsInvalidMessage,
                format!("you are at leaf {own} of the group, not {leaf}"),
            ));
        }
        Ok(())
    }

    /// A member's commit made in `epoch`; the first valid one per epoch wins.
    pub fn on_commit(
        &mut self,
        p: &ParticipantId,
        epoch: u64,
        commit: &str,
        welcome: Option<String>,
    ) -> Result<Vec<Delivery>, MlsRefusal> {
        if !self.is_member(p) {
            return Err(refusal(ErrorCode::MlsNotMember, "only group members can commit"));
        }
        let current = self.epoch();
        if current != Some(epoch) {
            return Err(refusal(
                ErrorCode::MlsStaleCommit,
                format!(
                    "epoch {epoch} already has a commit (the group is in epoch {current:?}); \
                     process it and commit again if still needed"
                ),
            ));
        }
        let bytes = decode("the commit", commit)?;
        let (pending, departed) = (&self.pending, &self.departed);
        let mut allow = |effect: &CommitEffect| -> Result<(), String> {
            if let Some(a) = effect.added.iter().find(|a| !pending.iter().any(|(q, _)| q == *a)) {
                return Err(format!("it adds {a}, who is not waiting to be added"));
            }
            if let Some((leaf, q)) = effect.removed.iter().find(|(l, _)| !departed.contains(l)) {
                return Err(format!("it removes {q} at leaf {leaf}, who has not left"));
            }
            Ok(())
        };
        let Some(state) = self.state.as_mut() else {
            return Err(refusal(ErrorCode::MlsNotMember, "the group does not exist yet"));
        };
        let effect = state.commit(p, &bytes, &mut allow).map_err(|e| {
            refusal(ErrorCode::MlsInvalidCommit, format!("the commit was refused: {e}"))
        })?;
        let next = state.epoch();
        // The commit goes to the members it was made among; those it adds get the Welcome.
        let others = self.members().filter(|q| *q != p).cloned().collect();
        let mut out = vec![
            (To::List(others), ServerMessage::MlsCommit { commit: commit.to_owned(), epoch: next }),
            (To::One(p.clone()), ServerMessage::MlsCommitAccepted { epoch: next }),
        ];
        self.pending.retain(|(q, _)| !effect.added.contains(q));
        self.departed.retain(|l| !effect.removed.iter().any(|(r, _)| r == l));
        self.refresh_leaves();
        if let Some(welcome) = welcome {
            for added in effect.added.iter().filter(|a| self.is_member(a)) {
                let message = ServerMessage::MlsWelcome { welcome: welcome.clone() };
                out.push((To::One(added.clone()), message));
            }
        }
        out.extend(self.reissue());
        Ok(out)
    }

    /// A member's application message: relayed as it is to the other members.
    pub fn on_application(
        &mut self,
        p: &ParticipantId,
        epoch: u64,
        message: String,
        ds: &dyn DeliveryService,
    ) -> Result<Vec<Delivery>, MlsRefusal> {
        if !self.is_member(p) {
            return Err(refusal(ErrorCode::MlsNotMember, "only group members send to the group"));
        }
        let framed = ds
            .application_epoch(&self.group_id, &decode("the message", &message)?)
            .map_err(|e| refusal(ErrorCode::MlsInvalidMessage, e.0))?;
        if framed != epoch || self.epoch().is_none_or(|current| epoch > current) {
            return Err(refusal(
                ErrorCode::MlsInvalidMessage,
                "the message's epoch is not the one declared, or is ahead of the group",
            ));
        }
        let relayed = ServerMessage::MlsApplication { from: p.clone(), message };
        Ok(vec![(To::MembersExcept(p.clone()), relayed)])
    }

    /// A participant left the room. Returns what to deliver to those who remain, given the
    /// room's remaining participants in join order.
    pub fn on_leave(&mut self, p: &ParticipantId, remaining: &[ParticipantId]) -> Vec<Delivery> {
        self.pending.retain(|(q, _)| q != p);
        if self.creator.as_ref() == Some(p) {
            self.creator = None;
        }
        if let Some(i) = self.leaves.iter().position(|(q, _)| q == p) {
            let (_, leaf) = self.leaves.remove(i);
            self.departed.push(leaf);
        }
        if !self.leaves.is_empty() {
            return self.reissue();
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

    /// Members from the public state, without leaves of members who left.
    fn refresh_leaves(&mut self) {
        let Some(state) = &self.state else { return };
        let mut leaves: Vec<(ParticipantId, u32)> = state
            .members()
            .into_iter()
            .filter(|(leaf, _)| !self.departed.contains(leaf))
            .map(|(leaf, p)| (p, leaf))
            .collect();
        leaves.sort_by_key(|(_, leaf)| *leaf);
        self.leaves = leaves;
    }

    /// The member asked to commit outstanding work: the one at the lowest leaf, which every
    /// member can tell from the group itself (their fallback order starts there too).
    fn committer(&self) -> Option<ParticipantId> {
        self.state.as_ref()?;
        self.leaves.first().map(|(p, _)| p.clone())
    }

    /// Outstanding work for the current epoch: removals of departed leaves, then adds.
    fn reissue(&mut self) -> Vec<Delivery> {
        let Some(committer) = self.committer() else {
            return Vec::new();
        };
        let Some(state) = self.state.as_mut() else {
            return Vec::new();
        };
        let epoch = state.epoch();
        let mut out = Vec::new();
        for &leaf in &self.departed {
            match state.propose_remove(leaf) {
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
    //! The state machine against a fake delivery service whose "MLS" is readable text, so the
    //! tests speak about routing and ordering; `veil-ds` has the real verification and its
    //! tests, and `tests/mls_delivery_service.rs` runs both together over WebSockets.

    use super::*;
    use veil_proto::mls::Rejection;
    use veil_proto::signal::ExternalSenderKey;

    /// Key packages are `kp:<participant>`, GroupInfos `info:<creator>`, commits
    /// `add:<p>,<p>;remove:<leaf>,<leaf>`, application messages `app:<epoch>`.
    pub(crate) struct FakeDs;

    #[derive(Debug)]
    struct FakeState {
        epoch: u64,
        /// Leaf → participant; `None` for a blank leaf.
        tree: Vec<Option<ParticipantId>>,
    }

    fn text(bytes: &[u8]) -> Result<&str, Rejection> {
        std::str::from_utf8(bytes).map_err(|_| Rejection("not text".into()))
    }

    impl DeliveryService for FakeDs {
        fn external_sender(&self) -> ExternalSenderKey {
            ExternalSenderKey { signature_key: "a2V5".into(), identity: "dmVpbA==".into() }
        }
        fn key_package_owner(&self, kp: &[u8]) -> Result<ParticipantId, Rejection> {
            let owner =
                text(kp)?.strip_prefix("kp:").ok_or(Rejection("not a key package".into()))?;
            Ok(ParticipantId(owner.into()))
        }
        fn track_group(
            &self,
            _: &[u8],
            creator: &ParticipantId,
            info: &[u8],
        ) -> Result<Box<dyn PublicGroupState>, Rejection> {
            if text(info)? != format!("info:{creator}") {
                return Err(Rejection("not the creator's group".into()));
            }
            Ok(Box::new(FakeState { epoch: 0, tree: vec![Some(creator.clone())] }))
        }
        fn application_epoch(&self, _: &[u8], message: &[u8]) -> Result<u64, Rejection> {
            let epoch = text(message)?.strip_prefix("app:").ok_or(Rejection("not app".into()))?;
            epoch.parse().map_err(|_| Rejection("bad epoch".into()))
        }
    }

    impl PublicGroupState for FakeState {
        fn epoch(&self) -> u64 {
            self.epoch
        }
        fn members(&self) -> Vec<(u32, ParticipantId)> {
            let leaves = self.tree.iter().enumerate();
            leaves.filter_map(|(l, p)| p.clone().map(|p| (l as u32, p))).collect()
        }
        fn commit(
            &mut self,
            sender: &ParticipantId,
            commit: &[u8],
            allow: &mut dyn FnMut(&CommitEffect) -> Result<(), String>,
        ) -> Result<CommitEffect, Rejection> {
            if !self.tree.contains(&Some(sender.clone())) {
                return Err(Rejection("not signed by a member".into()));
            }
            let (mut added, mut removed) = (Vec::new(), Vec::new());
            for part in text(commit)?.split(';') {
                match part.split_once(':') {
                    Some(("add", ps)) => added.extend(
                        ps.split(',').filter(|p| !p.is_empty()).map(|p| ParticipantId(p.into())),
                    ),
                    Some(("remove", ls)) => {
                        for l in ls.split(',').filter(|l| !l.is_empty()) {
                            let leaf: u32 = l.parse().map_err(|_| Rejection("bad leaf".into()))?;
                            let p = self.tree.get(leaf as usize).cloned().flatten();
                            removed.push((leaf, p.ok_or(Rejection("blank leaf".into()))?));
                        }
                    }
                    _ => return Err(Rejection("garbage".into())),
                }
            }
            let effect = CommitEffect { epoch_before: self.epoch, added, removed };
            allow(&effect).map_err(Rejection)?;
            for (leaf, _) in &effect.removed {
                self.tree[*leaf as usize] = None;
            }
            for a in &effect.added {
                match self.tree.iter().position(Option::is_none) {
                    Some(free) => self.tree[free] = Some(a.clone()),
                    None => self.tree.push(Some(a.clone())),
                }
            }
            self.epoch += 1;
            Ok(effect)
        }
        fn propose_remove(&mut self, leaf: u32) -> Result<Vec<u8>, Rejection> {
            Ok(format!("remove {leaf} at {}", self.epoch).into_bytes())
        }
    }

    fn id(s: &str) -> ParticipantId {
        ParticipantId(s.into())
    }

    fn b64(s: &str) -> String {
        B64.encode(s)
    }

    fn kinds(d: &[Delivery]) -> Vec<String> {
        d.iter()
            .map(|(to, m)| {
                let v = serde_json::to_value(m).unwrap();
                format!("{}->{:?}", v["type"].as_str().unwrap(), to)
            })
            .collect()
    }

    /// a creates the group; b and c are added in one commit (epoch 1).
    fn group_of_three() -> Group {
        let mut g = Group::default();
        assert!(g.on_join(&id("a"), &FakeDs).create_group);
        g.on_group_created(&id("a"), &b64("info:a"), &FakeDs).unwrap();
        for p in ["b", "c"] {
            assert!(!g.on_join(&id(p), &FakeDs).create_group);
            g.on_key_package(&id(p), b64(&format!("kp:{p}")), &FakeDs).unwrap();
        }
        g.on_commit(&id("a"), 0, &b64("add:b,c"), Some("w".into())).unwrap();
        g
    }

    #[test]
    fn first_joiner_creates_and_waiting_key_packages_go_to_the_committer() {
        let mut g = Group::default();
        assert!(g.on_join(&id("a"), &FakeDs).create_group);
        assert!(!g.on_join(&id("b"), &FakeDs).create_group);
        // b's key package waits until the group exists.
        assert!(g.on_key_package(&id("b"), b64("kp:b"), &FakeDs).unwrap().is_empty());
        let out = g.on_group_created(&id("a"), &b64("info:a"), &FakeDs).unwrap();
        assert_eq!(out.len(), 1);
        assert!(
            matches!(&out[0].1, ServerMessage::MlsAddRequest { committer, .. } if *committer == id("a"))
        );
    }

    #[test]
    fn only_the_creator_reports_the_group_and_only_its_own_key_package_counts() {
        let mut g = Group::default();
        g.on_join(&id("a"), &FakeDs);
        g.on_join(&id("b"), &FakeDs);
        let err = g.on_group_created(&id("b"), &b64("info:b"), &FakeDs).unwrap_err();
        assert_eq!(err.code, ErrorCode::MlsInvalidMessage);
        let err = g.on_key_package(&id("b"), b64("kp:a"), &FakeDs).unwrap_err();
        assert_eq!(err.code, ErrorCode::MlsInvalidMessage, "a key package of someone else");
        let err = g.on_key_package(&id("b"), "%%%".into(), &FakeDs).unwrap_err();
        assert_eq!(err.code, ErrorCode::BadMessage);
    }

    #[test]
    fn the_first_valid_commit_of_an_epoch_wins_and_invalid_ones_change_nothing() {
        let mut g = group_of_three();
        assert_eq!(g.epoch(), Some(1));
        assert_eq!(g.leaves, vec![(id("a"), 0), (id("b"), 1), (id("c"), 2)]);
        // Garbage, a commit adding someone not waiting, one removing someone present: refused,
        // and the epoch stays where it was.
        for bad in ["garbage", "add:x", "remove:1"] {
            let err = g.on_commit(&id("b"), 1, &b64(bad), None).unwrap_err();
            assert_eq!(err.code, ErrorCode::MlsInvalidCommit, "{bad}");
        }
        assert_eq!(g.epoch(), Some(1));
        let out = g.on_commit(&id("b"), 1, &b64("add:"), None).unwrap();
        assert_eq!(
            kinds(&out),
            vec![
                "mls_commit->List([ParticipantId(\"a\"), ParticipantId(\"c\")])",
                "mls_commit_accepted->One(ParticipantId(\"b\"))",
            ]
        );
        let stale = g.on_commit(&id("c"), 1, &b64("add:"), None).unwrap_err();
        assert_eq!(stale.code, ErrorCode::MlsStaleCommit);
        let outsider = g.on_commit(&id("z"), 2, &b64("add:"), None).unwrap_err();
        assert_eq!(outsider.code, ErrorCode::MlsNotMember);
    }

    #[test]
    fn welcomes_go_to_whom_the_commit_adds_whatever_the_committer_says() {
        let mut g = Group::default();
        g.on_join(&id("a"), &FakeDs);
        g.on_group_created(&id("a"), &b64("info:a"), &FakeDs).unwrap();
        g.on_join(&id("b"), &FakeDs);
        g.on_key_package(&id("b"), b64("kp:b"), &FakeDs).unwrap();
        let out = g.on_commit(&id("a"), 0, &b64("add:b"), Some("w".into())).unwrap();
        assert!(kinds(&out).contains(&"mls_welcome->One(ParticipantId(\"b\"))".to_string()));
        assert!(g.is_member(&id("b")));
    }

    #[test]
    fn a_member_claiming_another_leaf_is_refused() {
        let mut g = group_of_three();
        assert!(g.on_joined(&id("b"), 1).is_ok());
        let err = g.on_joined(&id("c"), 1).unwrap_err();
        assert_eq!(err.code, ErrorCode::MlsInvalidMessage);
        // b keeps its leaf: c leaving proposes c's leaf, not b's.
        let out = g.on_leave(&id("c"), &[id("a"), id("b")]);
        assert!(out.iter().any(|(_, m)| matches!(m, ServerMessage::MlsProposal { proposal, .. }
            if B64.decode(proposal).unwrap() == b"remove 2 at 1")));
    }

    #[test]
    fn a_departed_member_is_proposed_for_removal_until_a_commit_removes_it() {
        let mut g = group_of_three();
        // a (the committer) leaves: b becomes committer and gets the proposal for leaf 0.
        let out = g.on_leave(&id("a"), &[id("b"), id("c")]);
        assert!(matches!(&out[0].1,
            ServerMessage::MlsProposal { epoch: 1, committer, proposal } if *committer == id("b")
                && B64.decode(proposal).unwrap() == b"remove 0 at 1"));
        // c commits something else first: the removal is proposed again for epoch 2.
        let out = g.on_commit(&id("c"), 1, &b64("add:"), None).unwrap();
        assert!(out.iter().any(|(_, m)| matches!(m, ServerMessage::MlsProposal { epoch: 2, .. })));
        // b commits the removal: nothing more is proposed.
        let out = g.on_commit(&id("b"), 2, &b64("remove:0"), None).unwrap();
        assert!(!out.iter().any(|(_, m)| matches!(m, ServerMessage::MlsProposal { .. })));
        assert_eq!(g.members().cloned().collect::<Vec<_>>(), vec![id("b"), id("c")]);
    }

    #[test]
    fn application_messages_go_to_the_other_members_as_sent() {
        let mut g = group_of_three();
        let out = g.on_application(&id("b"), 1, b64("app:1"), &FakeDs).unwrap();
        assert!(
            matches!(&out[..], [(To::MembersExcept(p), ServerMessage::MlsApplication { from, .. })]
            if *p == id("b") && *from == id("b"))
        );
        let ahead = g.on_application(&id("b"), 5, b64("app:5"), &FakeDs).unwrap_err();
        assert_eq!(ahead.code, ErrorCode::MlsInvalidMessage);
        let lying = g.on_application(&id("b"), 1, b64("app:0"), &FakeDs).unwrap_err();
        assert_eq!(lying.code, ErrorCode::MlsInvalidMessage);
        g.on_join(&id("d"), &FakeDs);
        let outsider = g.on_application(&id("d"), 1, b64("app:1"), &FakeDs).unwrap_err();
        assert_eq!(outsider.code, ErrorCode::MlsNotMember);
    }

    #[test]
    fn when_every_member_left_a_waiting_participant_starts_a_new_group() {
        let mut g = Group::default();
        g.on_join(&id("a"), &FakeDs);
        g.on_group_created(&id("a"), &b64("info:a"), &FakeDs).unwrap();
        g.on_join(&id("b"), &FakeDs);
        g.on_key_package(&id("b"), b64("kp:b"), &FakeDs).unwrap();
        g.on_join(&id("c"), &FakeDs);
        g.on_key_package(&id("c"), b64("kp:c"), &FakeDs).unwrap();
        let old_id = g.group_id.clone();
        let out = g.on_leave(&id("a"), &[id("b"), id("c")]);
        assert!(
            matches!(&out[0], (To::One(p), ServerMessage::MlsCreateGroup { .. }) if *p == id("b"))
        );
        assert_ne!(g.group_id, old_id);
        // Once b reports the new group, c's waiting key package is sent to b.
        let out = g.on_group_created(&id("b"), &b64("info:b"), &FakeDs).unwrap();
        assert!(
            matches!(&out[0].1, ServerMessage::MlsAddRequest { participant_id, .. } if *participant_id == id("c"))
        );
    }
}
