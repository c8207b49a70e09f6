//! What members say to each other inside MLS application messages: encrypted for the group,
//! signed by the sender's leaf, opaque to the server.
//!
//! ```text
//! 0x01 (version) ‖ kind ‖ fields
//!   kind 1, name:  u16 len ‖ UTF-8 display name
//! ```
//!
//! Lengths are big-endian. Unknown kinds are skipped by receivers so later versions can add
//! kinds without breaking older clients.

/// The version byte that starts every payload.
const VERSION: u8 = 1;
const KIND_NAME: u8 = 1;

/// The longest name payload accepted, in bytes (cleaning cuts names far shorter).
pub const MAX_NAME_BYTES: usize = 1024;

/// One application payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppMessage {
    /// The sender's display name, as it chose it (receivers clean it).
    Name(String),
}

/// Why a payload was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppError {
    #[error("application message is malformed: {0}")]
    Malformed(&'static str),
    #[error("application message of unknown version {0}")]
    UnknownVersion(u8),
    #[error("application message of unknown kind {0}")]
    UnknownKind(u8),
}

impl AppMessage {
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Self::Name(name) => {
                let bytes = truncate_utf8(name, MAX_NAME_BYTES).as_bytes();
                let mut out = Vec::with_capacity(4 + bytes.len());
                out.extend_from_slice(&[VERSION, KIND_NAME]);
                // Fits: truncated to MAX_NAME_BYTES, far below u16::MAX.
                out.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
                out.extend_from_slice(bytes);
                out
            }
        }
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, AppError> {
        let [version, kind, rest @ ..] = bytes else {
            return Err(AppError::Malformed("too short"));
        };
        if *version != VERSION {
            return Err(AppError::UnknownVersion(*version));
        }
        match *kind {
            KIND_NAME => {
                let (len, text) =
                    rest.split_first_chunk::<2>().ok_or(AppError::Malformed("short name"))?;
                let len = usize::from(u16::from_be_bytes(*len));
                if len > MAX_NAME_BYTES || text.len() != len {
                    return Err(AppError::Malformed("bad name length"));
                }
                let name =
                    std::str::from_utf8(text).map_err(|_| AppError::Malformed("not UTF-8"))?;
                Ok(Self::Name(name.to_owned()))
            }
            other => Err(AppError::UnknownKind(other)),
        }
    }
}

fn truncate_utf8(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        let msg = AppMessage::Name("Zoë 🎥".into());
        assert_eq!(AppMessage::decode(&msg.encode()), Ok(msg));
    }

    #[test]
    fn malformed_payloads_are_refused() {
        let good = AppMessage::Name("Ada".into()).encode();
        assert!(AppMessage::decode(&good[..good.len() - 1]).is_err());
        assert!(AppMessage::decode(&[]).is_err());
        assert_eq!(AppMessage::decode(&[2, 1, 0, 0]), Err(AppError::UnknownVersion(2)));
        assert_eq!(AppMessage::decode(&[1, 9]), Err(AppError::UnknownKind(9)));
        assert!(AppMessage::decode(&[1, 1, 0, 1, 0xff]).is_err(), "invalid UTF-8");
    }

    #[test]
    fn overlong_names_are_cut_on_a_character_boundary() {
        let long = "é".repeat(MAX_NAME_BYTES);
        let AppMessage::Name(name) = AppMessage::decode(&AppMessage::Name(long).encode()).unwrap();
        assert!(name.len() <= MAX_NAME_BYTES && name.chars().all(|c| c == 'é'));
    }
}
