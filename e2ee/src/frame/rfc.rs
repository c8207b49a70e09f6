//! Bare RFC 9605 operations with an explicit base key, KID and counter.
//!
//! These exist to run the RFC 9605 Appendix C test vectors against the very SFrame code the
//! key ring uses, in both the native and the wasm build. Media never goes through here: a
//! caller choosing its own KID and counter can reuse a nonce, which [`KeyRing`](super::KeyRing)
//! makes impossible.

use sframe::CipherSuite;
use sframe::frame::{EncryptedFrameView, MediaFrameView, SingleUseCounter};
use sframe::header::SframeHeader;
use sframe::key::{DecryptionKey, EncryptionKey};

use super::FrameError;

/// The SFrame cipher suite with IANA value `id`, if the rust-crypto backend implements it.
pub fn cipher_suite(id: u16) -> Option<CipherSuite> {
    Some(match id {
        0x0001 => CipherSuite::AesCtr128HmacSha256_80,
        0x0002 => CipherSuite::AesCtr128HmacSha256_64,
        0x0003 => CipherSuite::AesCtr128HmacSha256_32,
        0x0004 => CipherSuite::AesGcm128Sha256,
        0x0005 => CipherSuite::AesGcm256Sha512,
        _ => return None,
    })
}

fn suite(id: u16) -> Result<CipherSuite, FrameError> {
    cipher_suite(id).ok_or_else(|| FrameError::Crypto(format!("unsupported cipher suite {id}")))
}

fn crypto(err: sframe::error::SframeError) -> FrameError {
    FrameError::Crypto(err.to_string())
}

/// Encrypts `plaintext` under `base_key` with the given KID and counter; returns the SFrame
/// ciphertext (header ‖ ciphertext ‖ tag) without the metadata, as the RFC vectors list it.
pub fn encrypt(
    suite_id: u16,
    kid: u64,
    ctr: u64,
    base_key: &[u8],
    metadata: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, FrameError> {
    let key = EncryptionKey::derive_from(suite(suite_id)?, kid, base_key).map_err(crypto)?;
    let mut counter = SingleUseCounter::new(ctr);
    let frame =
        MediaFrameView::try_with_meta_data(&mut counter, plaintext, metadata).map_err(crypto)?;
    let mut out = Vec::new();
    frame.encrypt_into(&key, &mut out).map_err(crypto)?;
    out.drain(..metadata.len());
    Ok(out)
}

/// Decrypts an SFrame ciphertext (header ‖ ciphertext ‖ tag) under `base_key`, deriving the
/// key for the KID its header carries; returns the plaintext payload.
pub fn decrypt(
    suite_id: u16,
    base_key: &[u8],
    metadata: &[u8],
    ciphertext: &[u8],
) -> Result<Vec<u8>, FrameError> {
    let frame = EncryptedFrameView::try_with_meta_data(ciphertext, metadata)
        .map_err(|_| FrameError::NotEncrypted { reason: "header does not parse" })?;
    let kid = frame.header().key_id();
    let key = DecryptionKey::derive_from(suite(suite_id)?, kid, base_key).map_err(crypto)?;
    let mut out = Vec::new();
    let view = frame
        .decrypt_into(&key, &mut out)
        .map_err(|_| FrameError::AuthenticationFailed { sender_leaf: 0, epoch: 0 })?;
    Ok(view.payload().to_vec())
}

/// Serializes an SFrame header (RFC 9605 §4.3).
pub fn encode_header(kid: u64, ctr: u64) -> Vec<u8> {
    let header = SframeHeader::new(kid, ctr);
    let mut out = vec![0; header.len()];
    // The buffer has exactly the header's length, which is all serialize needs.
    header.serialize(&mut out).expect("buffer sized by the header itself");
    out
}

/// Parses an SFrame header; returns `(kid, ctr, header length)`.
pub fn decode_header(bytes: &[u8]) -> Option<(u64, u64, usize)> {
    let header = SframeHeader::deserialize(bytes).ok()?;
    Some((header.key_id(), header.counter(), header.len()))
}
