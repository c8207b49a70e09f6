//! Types shared across Veil's parts.
//!
//! - [`signal`]: the JSON messages a browser (or a bot) and the signaling service exchange over
//!   the WebSocket. Every message carries the protocol version `v`.
//! - [`media`]: the boundary between signaling and the SFU. Signaling drives media sessions only
//!   through [`media::MediaPlane`], with messages that could as well cross a network, so that
//!   signaling and the SFU can later run on different machines (feature `media`, on by
//!   default; the browser's wasm build of the E2EE crate reads [`signal`] without it).
//! - [`mls`]: the boundary between signaling and the MLS delivery service's verification.
//! - [`room`]: grants, media sources and room policy.

#[cfg(feature = "media")]
pub mod media;
pub mod mls;
pub mod room;
pub mod signal;

use std::fmt;

use serde::{Deserialize, Serialize};

/// Opaque id of one participant in one meeting, e.g. `p_3f9a1c0d2b7e4a55`.
///
/// It is random per join and says nothing about who the participant is; it is what the SFU and
/// the SDP (`msid` stream id) see. Identities and display names stay in signaling.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ParticipantId(pub String);

impl fmt::Display for ParticipantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A validated room name: 1–64 characters of `A-Z a-z 0-9 - _ .`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct RoomName(String);

/// Why a room name was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidRoomName;

impl fmt::Display for InvalidRoomName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("room names are 1 to 64 characters of letters, digits, '-', '_' and '.'")
    }
}

impl std::error::Error for InvalidRoomName {}

impl RoomName {
    /// Longest accepted room name, in bytes.
    pub const MAX_LEN: usize = 64;

    /// Checks `name` and wraps it.
    pub fn new(name: impl Into<String>) -> Result<Self, InvalidRoomName> {
        let name = name.into();
        let ok = !name.is_empty()
            && name.len() <= Self::MAX_LEN
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            && name != "."
            && name != "..";
        if ok { Ok(Self(name)) } else { Err(InvalidRoomName) }
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RoomName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for RoomName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        RoomName::new(s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_names_are_checked() {
        assert!(RoomName::new("standup-2026.q4_a").is_ok());
        for bad in ["", "..", "a/b", "a b", "é", &"x".repeat(65)] {
            assert_eq!(RoomName::new(bad), Err(InvalidRoomName), "{bad:?}");
        }
    }
}
