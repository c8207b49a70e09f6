//! What members show each other: credential identities, key fingerprints, verification codes.
//!
//! ## Identity bytes
//!
//! A Veil member's MLS `BasicCredential` identity carries both the participant id the server
//! assigned and the display name the person chose:
//!
//! ```text
//! 0x01 ‖ u16 len ‖ participant id (UTF-8) ‖ u16 len ‖ display name (UTF-8)     (lengths big-endian)
//! ```
//!
//! Key packages, which the server relays in the clear, carry an *anonymous* identity with an
//! empty display name. A member puts its name in its leaf only inside the group (the creator
//! when creating it, a joiner with [`Member::announce_name`](super::Member::announce_name)), so
//! the name travels only in encrypted commits and Welcomes and the server never sees it.
//! A commit may change its sender's display name but never its participant id.
//!
//! ## Fingerprints and verification codes
//!
//! A member's fingerprint is the first 8 bytes of SHA-256 over its Ed25519 signature public key,
//! in hex: stable for as long as the member keeps its key, shown next to its name.
//!
//! The verification code of an epoch is derived from the MLS epoch authenticator, which every
//! member of the epoch computes identically and which a server splitting the group (a "ghost"
//! member, or two groups bridged by the server) cannot make equal on both sides. People read it
//! aloud or compare screens: 12 decimal digits in three groups of four, from SHA-256 over a label
//! and the authenticator (about 40 bits).

use sha2::{Digest, Sha256};

/// The version byte that starts every Veil identity.
const IDENTITY_VERSION: u8 = 1;
/// The longest participant id or display name accepted, in bytes.
pub const MAX_FIELD_LEN: usize = 256;

const CODE_LABEL: &[u8] = b"veil verification code v1";

/// Why identity bytes were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    /// The participant id is empty.
    #[error("participant id is empty")]
    EmptyParticipantId,
    /// A field is longer than [`MAX_FIELD_LEN`] bytes.
    #[error("{field} is {len} bytes, at most {MAX_FIELD_LEN} are allowed")]
    TooLong {
        /// Which field.
        field: &'static str,
        /// Its length in bytes.
        len: usize,
    },
    /// The bytes are not a Veil identity.
    #[error("credential identity is not a Veil identity: {0}")]
    Malformed(&'static str),
}

/// Encodes a participant id and display name as credential identity bytes.
pub fn encode(participant_id: &str, display_name: &str) -> Result<Vec<u8>, IdentityError> {
    if participant_id.is_empty() {
        return Err(IdentityError::EmptyParticipantId);
    }
    for (field, value) in [("participant id", participant_id), ("display name", display_name)] {
        if value.len() > MAX_FIELD_LEN {
            return Err(IdentityError::TooLong { field, len: value.len() });
        }
    }
    let mut out = Vec::with_capacity(5 + participant_id.len() + display_name.len());
    out.push(IDENTITY_VERSION);
    for value in [participant_id, display_name] {
        // Both fit: MAX_FIELD_LEN is far below u16::MAX.
        out.extend_from_slice(&(value.len() as u16).to_be_bytes());
        out.extend_from_slice(value.as_bytes());
    }
    Ok(out)
}

/// Decodes credential identity bytes into `(participant id, display name)`.
pub fn decode(bytes: &[u8]) -> Result<(String, String), IdentityError> {
    let (&version, mut rest) = bytes.split_first().ok_or(IdentityError::Malformed("empty"))?;
    if version != IDENTITY_VERSION {
        return Err(IdentityError::Malformed("unknown version"));
    }
    let mut field = || -> Result<String, IdentityError> {
        let (len, tail) = rest.split_first_chunk::<2>().ok_or(IdentityError::Malformed("short"))?;
        let len = usize::from(u16::from_be_bytes(*len));
        if len > MAX_FIELD_LEN || tail.len() < len {
            return Err(IdentityError::Malformed("bad length"));
        }
        let (value, tail) = tail.split_at(len);
        rest = tail;
        String::from_utf8(value.to_vec()).map_err(|_| IdentityError::Malformed("not UTF-8"))
    };
    let participant_id = field()?;
    let display_name = field()?;
    if !rest.is_empty() {
        return Err(IdentityError::Malformed("trailing bytes"));
    }
    if participant_id.is_empty() {
        return Err(IdentityError::EmptyParticipantId);
    }
    Ok((participant_id, display_name))
}

/// The fingerprint of a signature public key: 16 lowercase hex digits.
pub fn fingerprint(signature_key: &[u8]) -> String {
    let digest = Sha256::digest(signature_key);
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// The human-comparable code of an epoch: `"dddd dddd dddd"`, the same for every member of
/// the epoch whose `epoch_authenticator` is given.
pub fn verification_code(epoch_authenticator: &[u8]) -> String {
    let digest =
        Sha256::new().chain_update(CODE_LABEL).chain_update(epoch_authenticator).finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    // 2^64 / 10^12 ≈ 1.8e7: the modulo bias is below one in ten million.
    let n = u64::from_be_bytes(first) % 1_000_000_000_000;
    let digits = format!("{n:012}");
    format!("{} {} {}", &digits[..4], &digits[4..8], &digits[8..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_round_trips_unicode_names() {
        let bytes = encode("p-42", "Zoë Ångström 🎥").unwrap();
        assert_eq!(decode(&bytes).unwrap(), ("p-42".into(), "Zoë Ångström 🎥".into()));
    }

    #[test]
    fn identity_refuses_bad_input() {
        assert_eq!(encode("", "x"), Err(IdentityError::EmptyParticipantId));
        assert!(matches!(encode("p", &"x".repeat(257)), Err(IdentityError::TooLong { .. })));
        let good = encode("p", "n").unwrap();
        for bad in [
            &[][..],
            &[2, 0, 1, b'p', 0, 0],
            &good[..good.len() - 1],
            &[good.clone(), vec![0]].concat(),
        ] {
            assert!(decode(bad).is_err(), "{bad:?}");
        }
        assert!(decode(&[1, 0, 1, 0xff, 0, 0]).is_err(), "invalid UTF-8");
    }

    #[test]
    fn verification_code_is_three_groups_of_four_digits() {
        let code = verification_code(&[7; 32]);
        assert_eq!(code.len(), 14);
        let groups: Vec<&str> = code.split(' ').collect();
        assert_eq!(groups.len(), 3);
        assert!(groups.iter().all(|g| g.len() == 4 && g.bytes().all(|b| b.is_ascii_digit())));
        assert_eq!(code, verification_code(&[7; 32]));
        assert_ne!(code, verification_code(&[8; 32]));
    }

    #[test]
    fn fingerprint_is_sixteen_hex_digits() {
        let fp = fingerprint(b"some public key");
        assert_eq!(fp.len(), 16);
        assert!(fp.bytes().all(|b| b.is_ascii_hexdigit()));
    }
}
