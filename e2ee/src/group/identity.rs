//! What members show each other: credential identities, key fingerprints, verification codes.
//!
//! ## Identity bytes
//!
//! A Veil member's MLS `BasicCredential` identity carries the participant id the server
//! assigned, and nothing else:
//!
//! ```text
//! 0x02 ‖ u16 len ‖ participant id (UTF-8)     (length big-endian)
//! ```
//!
//! The server reads credentials (it verifies commits against the group's public state), so
//! they hold no display name: members send their names to each other in encrypted application
//! messages (see [`crate::session`]). Version 1 identities, which also carried a name, are not
//! accepted. A member's credential never changes inside the group.
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
const IDENTITY_VERSION: u8 = 2;
/// The longest participant id accepted, in bytes.
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

/// Encodes a participant id as credential identity bytes.
pub fn encode(participant_id: &str) -> Result<Vec<u8>, IdentityError> {
    if participant_id.is_empty() {
        return Err(IdentityError::EmptyParticipantId);
    }
    if participant_id.len() > MAX_FIELD_LEN {
        return Err(IdentityError::TooLong { field: "participant id", len: participant_id.len() });
    }
    let mut out = Vec::with_capacity(3 + participant_id.len());
    out.push(IDENTITY_VERSION);
    // Fits: MAX_FIELD_LEN is far below u16::MAX.
    out.extend_from_slice(&(participant_id.len() as u16).to_be_bytes());
    out.extend_from_slice(participant_id.as_bytes());
    Ok(out)
}

/// Decodes credential identity bytes into the participant id.
pub fn decode(bytes: &[u8]) -> Result<String, IdentityError> {
    let (&version, rest) = bytes.split_first().ok_or(IdentityError::Malformed("empty"))?;
    if version != IDENTITY_VERSION {
        return Err(IdentityError::Malformed("unknown version"));
    }
    let (len, tail) = rest.split_first_chunk::<2>().ok_or(IdentityError::Malformed("short"))?;
    let len = usize::from(u16::from_be_bytes(*len));
    if len > MAX_FIELD_LEN || tail.len() != len {
        return Err(IdentityError::Malformed("bad length"));
    }
    let participant_id =
        String::from_utf8(tail.to_vec()).map_err(|_| IdentityError::Malformed("not UTF-8"))?;
    if participant_id.is_empty() {
        return Err(IdentityError::EmptyParticipantId);
    }
    Ok(participant_id)
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
    fn identity_round_trips() {
        let bytes = encode("p_3f9a1c0d2b7e4a55").unwrap();
        assert_eq!(decode(&bytes).unwrap(), "p_3f9a1c0d2b7e4a55");
    }

    #[test]
    fn identity_refuses_bad_input() {
        assert_eq!(encode(""), Err(IdentityError::EmptyParticipantId));
        assert!(matches!(encode(&"x".repeat(257)), Err(IdentityError::TooLong { .. })));
        let good = encode("p").unwrap();
        for bad in [
            &[][..],
            &[1, 0, 1, b'p', 0, 0], // version 1 carried a display name
            &good[..good.len() - 1],
            &[good.clone(), vec![0]].concat(),
            &[2, 0, 0],
        ] {
            assert!(decode(bad).is_err(), "{bad:?}");
        }
        assert!(decode(&[2, 0, 1, 0xff]).is_err(), "invalid UTF-8");
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
