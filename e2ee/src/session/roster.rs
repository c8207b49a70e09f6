//! The room's roster as the signaling server reports it, held against the MLS group.
//!
//! The server authenticates every participant with a join token and tells the others who is in
//! the room (`joined`, `participant_joined`, `participant_left`). It also relays the group's
//! key agreement, which it cannot read. A lying server could therefore slip a member of its own
//! into the group; what it cannot do is make that member invisible, because every member holds
//! the group against the roster:
//!
//! - a commit may add only participants the roster has shown, who are not members yet, each
//!   once ([`Roster::check_adds`]);
//! - a commit may remove only participants who left the room ([`Roster::check_removes`]);
//! - a group member the roster does not show, or a roster participant the group does not hold,
//!   is tolerated for [`MISMATCH_GRACE_MS`] (the time a join or leave takes to reach the
//!   group), then named as a risk ([`Roster::mismatches`]).

use std::collections::{BTreeMap, BTreeSet};

/// How long the group and the roster may disagree about one participant before the call is at
/// risk: long enough for a committer and its fallbacks to add or remove it.
pub const MISMATCH_GRACE_MS: u64 = 15_000;

/// A participant the roster and the group disagree about, for longer than the grace period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mismatch {
    /// In the encryption group, but not in the room: nobody can see who it is.
    NotInRoom(String),
    /// In the room, but never entered the encryption group: its media cannot be encrypted for
    /// us and it is not shown as encrypted.
    NotInGroup(String),
}

/// What the roster says about one participant.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    /// The authenticated identity from the join token, or a guest identity.
    identity: String,
    present: bool,
}

/// Participants the server has shown in this room, present or departed.
#[derive(Debug, Default, Clone)]
pub struct Roster {
    entries: BTreeMap<String, Entry>,
    /// Since when each disagreement has lasted, by participant.
    since: BTreeMap<String, u64>,
}

/// Why a commit does not fit the roster.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RosterError {
    #[error("the commit adds {0}, who is not in the room")]
    AddsOutsider(String),
    #[error("the commit adds {0}, who is already a member")]
    AddsMember(String),
    #[error("the commit adds {0} twice")]
    AddsTwice(String),
    #[error("the commit removes {0}, who is still in the room")]
    RemovesPresent(String),
}

impl RosterError {
    /// The participant the error is about.
    pub fn participant(&self) -> &str {
        match self {
            Self::AddsOutsider(p) | Self::AddsMember(p) | Self::AddsTwice(p) => p,
            Self::RemovesPresent(p) => p,
        }
    }
}

impl Roster {
    /// A participant is in the room (joined before or after us).
    pub fn arrived(&mut self, participant: &str, identity: &str) {
        let entry = Entry { identity: identity.to_owned(), present: true };
        self.entries.insert(participant.to_owned(), entry);
    }

    /// A participant left the room.
    pub fn departed(&mut self, participant: &str) {
        if let Some(entry) = self.entries.get_mut(participant) {
            entry.present = false;
        }
    }

    /// Whether the roster shows `participant` in the room now.
    pub fn is_present(&self, participant: &str) -> bool {
        self.entries.get(participant).is_some_and(|e| e.present)
    }

    /// The identity the server authenticated for `participant`, if it ever showed it.
    pub fn identity(&self, participant: &str) -> Option<&str> {
        self.entries.get(participant).map(|e| e.identity.as_str())
    }

    /// Participants in the room now.
    pub fn present(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().filter(|(_, e)| e.present).map(|(p, _)| p.as_str())
    }

    /// Checks the participants a commit adds against the roster and the current `members`. A
    /// participant who joined and left again may still be added (its removal follows), but
    /// only one the roster has shown.
    pub fn check_adds<'a>(
        &self,
        adds: impl IntoIterator<Item = &'a str>,
        members: &BTreeSet<String>,
    ) -> Result<(), RosterError> {
        let mut seen = BTreeSet::new();
        for p in adds {
            if !self.entries.contains_key(p) {
                return Err(RosterError::AddsOutsider(p.to_owned()));
            }
            if members.contains(p) {
                return Err(RosterError::AddsMember(p.to_owned()));
            }
            if !seen.insert(p) {
                return Err(RosterError::AddsTwice(p.to_owned()));
            }
        }
        Ok(())
    }

    /// Checks the participants a commit removes: only those who left the room.
    pub fn check_removes<'a>(
        &self,
        removes: impl IntoIterator<Item = &'a str>,
        me: &str,
    ) -> Result<(), RosterError> {
        for p in removes {
            if p != me && self.is_present(p) {
                return Err(RosterError::RemovesPresent(p.to_owned()));
            }
        }
        Ok(())
    }

    /// Updates how long the group (`members`, us included) and the roster have disagreed at
    /// `now_ms`, and returns the disagreements older than [`MISMATCH_GRACE_MS`].
    pub fn mismatches(
        &mut self,
        members: &BTreeSet<String>,
        me: &str,
        now_ms: u64,
    ) -> Vec<Mismatch> {
        let mut current = BTreeMap::new();
        for m in members.iter().filter(|m| m.as_str() != me && !self.is_present(m)) {
            current.insert(m.clone(), Mismatch::NotInRoom(m.clone()));
        }
        for p in self.present().filter(|p| *p != me && !members.contains(*p)) {
            current.insert(p.to_owned(), Mismatch::NotInGroup(p.to_owned()));
        }
        self.since.retain(|p, _| current.contains_key(p));
        let mut out = Vec::new();
        for (p, mismatch) in current {
            let since = *self.since.entry(p).or_insert(now_ms);
            if now_ms.saturating_sub(since) >= MISMATCH_GRACE_MS {
                out.push(mismatch);
            }
        }
        out
    }

    /// When the oldest disagreement still inside its grace period turns into a mismatch.
    pub fn next_deadline(&self, now_ms: u64) -> Option<u64> {
        self.since.values().map(|since| since + MISMATCH_GRACE_MS).filter(|at| *at > now_ms).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(ids: &[&str]) -> BTreeSet<String> {
        ids.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn adds_must_come_from_the_roster_once_and_not_be_members() {
        let mut r = Roster::default();
        r.arrived("a", "ada");
        r.arrived("b", "bob");
        r.arrived("c", "cyd");
        r.departed("c");
        let m = members(&["a"]);
        assert_eq!(r.check_adds(["b"], &m), Ok(()));
        assert_eq!(r.check_adds(["c"], &m), Ok(()), "joined and left: its removal follows");
        assert_eq!(r.check_adds(["x"], &m), Err(RosterError::AddsOutsider("x".into())));
        assert_eq!(r.check_adds(["a"], &m), Err(RosterError::AddsMember("a".into())));
        assert_eq!(r.check_adds(["b", "b"], &m), Err(RosterError::AddsTwice("b".into())));
    }

    #[test]
    fn removes_must_be_of_participants_who_left() {
        let mut r = Roster::default();
        r.arrived("a", "ada");
        r.arrived("b", "bob");
        assert_eq!(r.check_removes(["b"], "a"), Err(RosterError::RemovesPresent("b".into())));
        r.departed("b");
        assert_eq!(r.check_removes(["b"], "a"), Ok(()));
        assert_eq!(r.check_removes(["a"], "a"), Ok(()), "our own removal is ours to suffer");
    }

    #[test]
    fn disagreements_become_mismatches_after_the_grace_period() {
        let mut r = Roster::default();
        r.arrived("a", "ada");
        r.arrived("b", "bob");
        let m = members(&["a", "ghost"]);
        assert!(r.mismatches(&m, "a", 1_000).is_empty());
        assert_eq!(r.next_deadline(1_000), Some(1_000 + MISMATCH_GRACE_MS));
        let late = r.mismatches(&m, "a", 1_000 + MISMATCH_GRACE_MS);
        assert_eq!(
            late,
            vec![Mismatch::NotInGroup("b".into()), Mismatch::NotInRoom("ghost".into())]
        );
        // Once they agree, the clock restarts.
        assert!(r.mismatches(&members(&["a", "b"]), "a", 100_000).is_empty());
        assert_eq!(r.next_deadline(100_000), None);
    }
}
