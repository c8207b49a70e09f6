//! Who may not join a room again: identities and token ids a host or the operator revoked, and
//! the tokens of participants a host removed.
//!
//! A revocation outlives the room (rooms vanish when they empty) and the process: it is kept in
//! `revocations.json` in the data directory, rewritten on every change. An identity stays
//! revoked for [`IDENTITY_REVOCATION_SECS`] (every token minted for it until then is refused); a
//! token id until the token expires when its holder was in the room (its expiry is known then),
//! else for [`TOKEN_REVOCATION_SECS`], longer than `veil` mints join links for by default.
//! Revoking a guest revokes its token: its identity is made up afresh on every join.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use veil_proto::RoomName;

/// How long a revoked identity stays revoked.
pub const IDENTITY_REVOCATION_SECS: u64 = 24 * 3600;

/// How long a token id stays revoked when nobody holding it was in the room (so its expiry is
/// not known).
pub const TOKEN_REVOCATION_SECS: u64 = 30 * 24 * 3600;

/// One revocation: an identity or a token id in a room, until a Unix time.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Revocation {
    pub room: RoomName,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_id: Option<String>,
    pub until: u64,
}

impl Revocation {
    /// Whether this revocation refuses a participant with `identity` and `token_id` in `room`.
    fn covers(&self, room: &RoomName, identity: &str, token_id: Option<&str>) -> bool {
        &self.room == room
            && (self.identity.as_deref() == Some(identity)
                || (self.token_id.is_some() && self.token_id.as_deref() == token_id))
    }
}

/// The revocation list on disk cannot be used; starting without it would let revoked people
/// back in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}; fix or delete it (deleting forgets every revocation)")]
pub struct LoadError(String);

/// Every live revocation, and where they are kept.
#[derive(Debug, Default)]
pub(crate) struct Revocations {
    entries: Vec<Revocation>,
    /// `revocations.json` in the data directory; `None` keeps them in memory only (tests).
    path: Option<PathBuf>,
}

impl Revocations {
    /// Reads what an earlier run kept at `path`; a missing file is an empty list. A file that
    /// cannot be read is an error: starting without it would let revoked people back in.
    pub(crate) fn load(path: PathBuf) -> Result<Self, LoadError> {
        let entries = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                LoadError(format!("{} is not a revocation list: {e}", path.display()))
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(LoadError(format!("cannot read {}: {e}", path.display()))),
        };
        Ok(Self { entries, path: Some(path) })
    }

    /// Adds `revocation`, drops expired ones and writes the list back.
    pub(crate) fn add(&mut self, revocation: Revocation, now: u64) {
        self.entries.retain(|r| r.until > now);
        if !self.entries.contains(&revocation) {
            self.entries.push(revocation);
        }
        self.save();
    }

    /// The revocations still in force at `now`.
    pub(crate) fn live(&self, now: u64) -> Vec<Revocation> {
        self.entries.iter().filter(|r| r.until > now).cloned().collect()
    }

    /// Adds the revocations another node made, when any is new; writes the list back then.
    pub(crate) fn learn(&mut self, revocations: impl IntoIterator<Item = Revocation>, now: u64) {
        let before = self.entries.len();
        for revocation in revocations {
            if revocation.until > now && !self.entries.contains(&revocation) {
                self.entries.push(revocation);
            }
        }
        if self.entries.len() != before {
            self.entries.retain(|r| r.until > now);
            self.save();
        }
    }

    /// Whether a participant with `identity` and `token_id` is refused in `room` at `now`.
    pub(crate) fn refuses(
        &self,
        room: &RoomName,
        identity: &str,
        token_id: Option<&str>,
        now: u64,
    ) -> bool {
        self.entries.iter().any(|r| r.until > now && r.covers(room, identity, token_id))
    }

    fn save(&self) {
        let Some(path) = &self.path else { return };
        let text = serde_json::to_vec_pretty(&self.entries).unwrap_or_default();
        let tmp = path.with_extension("json.tmp");
        // Write and rename, so a crash never leaves half a list behind.
        let written = std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, path));
        if let Err(e) = written {
            tracing::error!("cannot save the revocation list to {}: {e}", path.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room(name: &str) -> RoomName {
        RoomName::new(name).unwrap()
    }

    #[test]
    fn revocations_cover_their_room_identity_or_token_until_they_expire() {
        let mut r = Revocations::default();
        r.add(
            Revocation {
                room: room("a"),
                identity: Some("eve".into()),
                token_id: None,
                until: 100,
            },
            0,
        );
        r.add(
            Revocation { room: room("a"), identity: None, token_id: Some("t1".into()), until: 50 },
            0,
        );
        assert!(r.refuses(&room("a"), "eve", None, 10));
        assert!(!r.refuses(&room("b"), "eve", None, 10), "another room");
        assert!(r.refuses(&room("a"), "bob", Some("t1"), 10));
        assert!(!r.refuses(&room("a"), "bob", Some("t2"), 10));
        assert!(!r.refuses(&room("a"), "bob", None, 10), "no token id matches no token id");
        assert!(!r.refuses(&room("a"), "bob", Some("t1"), 60), "expired");
    }

    /// What another node revoked refuses here too; what already ended is not taken up, and
    /// what this node has already is not doubled.
    #[test]
    fn revocations_learned_from_other_nodes_refuse_joins_here() {
        let mut r = Revocations::default();
        let eve = Revocation {
            room: room("a"),
            identity: Some("eve".into()),
            token_id: None,
            until: 100,
        };
        let ended =
            Revocation { room: room("a"), identity: Some("old".into()), token_id: None, until: 5 };
        r.learn([eve.clone(), ended, eve.clone()], 10);
        assert!(r.refuses(&room("a"), "eve", None, 10));
        assert!(!r.refuses(&room("a"), "old", None, 10), "ended before it was learned");
        assert_eq!(r.live(10), vec![eve.clone()]);
        assert_eq!(r.live(100), vec![], "ends when it says");
    }

    #[test]
    fn revocations_survive_a_restart_and_a_broken_file_is_an_error() {
        let dir = std::env::temp_dir().join(format!("veil-revocations-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("revocations.json");
        let _ = std::fs::remove_file(&path);
        let mut r = Revocations::load(path.clone()).unwrap();
        r.add(
            Revocation {
                room: room("a"),
                identity: Some("eve".into()),
                token_id: None,
                until: u64::MAX,
            },
            0,
        );
        let again = Revocations::load(path.clone()).unwrap();
        assert!(again.refuses(&room("a"), "eve", None, 1));
        std::fs::write(&path, "{not json").unwrap();
        assert!(Revocations::load(path).is_err());
        let _ = std::fs::remove_dir_all(dir);
    }
}
