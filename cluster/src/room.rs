//! Room names never reach Redis: each becomes an opaque [`RoomId`], a keyed hash under the
//! deployment's secret (docs/cascading.md, "Room placement"; DESIGN.md decision 8).
//!
//! A plain SHA-256 would hide a random room name but not a guessable one ("standup",
//! "board-2025-q3"): anyone who reads Redis could hash guesses and compare. Keyed with
//! HMAC-SHA-256 under a key that every node derives from the shared API secret, the ids are
//! the same on every node and useless without the secret.

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::ClusterError;

type HmacSha256 = Hmac<Sha256>;

/// What the room key is derived with, so the API secret itself never keys room ids and a
/// future scheme can change the label.
const ROOM_KEY_LABEL: &[u8] = b"veil-cluster room id v1";

/// Turns room names into [`RoomId`]s. Holds a key derived from the deployment's secret, never
/// the secret itself; its `Debug` shows neither.
#[derive(Clone)]
pub struct RoomHasher {
    keyed: HmacSha256,
}

impl RoomHasher {
    /// Derives the room-id key from the deployment's shared secret (the API secret): every node
    /// given the same secret maps a room to the same id.
    pub fn new(deployment_secret: &[u8]) -> Result<Self, ClusterError> {
        if deployment_secret.is_empty() {
            return Err(ClusterError::EmptySecret);
        }
        let room_key = hmac_sha256(&new_mac(deployment_secret), ROOM_KEY_LABEL);
        Ok(RoomHasher { keyed: new_mac(&room_key) })
    }

    pub fn id(&self, room: &str) -> RoomId {
        RoomId(hex(&hmac_sha256(&self.keyed, room.as_bytes())))
    }
}

impl fmt::Debug for RoomHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RoomHasher(<redacted>)")
    }
}

/// A room as Redis knows it: 64 hex digits, HMAC-SHA-256 of its name.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RoomId(String);

impl RoomId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RoomId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn new_mac(key: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length; `new_from_slice` fails only for fixed-size-key MACs.
    HmacSha256::new_from_slice(key).expect("HMAC accepts any key length")
}

fn hmac_sha256(keyed: &HmacSha256, message: &[u8]) -> [u8; 32] {
    let mut mac = keyed.clone();
    mac.update(message);
    mac.finalize().into_bytes().into()
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(DIGITS[usize::from(byte >> 4)] as char);
        text.push(DIGITS[usize::from(byte & 0xf)] as char);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_secret_same_id_on_every_node() {
        let a = RoomHasher::new(b"deployment secret").unwrap();
        let b = RoomHasher::new(b"deployment secret").unwrap();
        assert_eq!(a.id("standup"), b.id("standup"));
        assert_ne!(a.id("standup"), a.id("standup2"));
    }

    #[test]
    fn another_secret_gives_other_ids() {
        let a = RoomHasher::new(b"one secret").unwrap();
        let b = RoomHasher::new(b"another secret").unwrap();
        assert_ne!(a.id("standup"), b.id("standup"));
    }

    #[test]
    fn ids_are_64_hex_digits_without_the_name() {
        let id = RoomHasher::new(b"s").unwrap().id("standup");
        assert_eq!(id.as_str().len(), 64);
        assert!(id.as_str().bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert!(!id.as_str().contains("standup"));
    }

    #[test]
    fn the_secret_is_neither_required_empty_nor_shown() {
        assert!(matches!(RoomHasher::new(b""), Err(ClusterError::EmptySecret)));
        let debug = format!("{:?}", RoomHasher::new(b"hunter2").unwrap());
        assert!(!debug.contains("hunter2"));
    }

    #[test]
    fn hex_matches_a_known_value() {
        assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
    }
}
