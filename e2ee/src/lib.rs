//! # Veil end-to-end encryption
//!
//! Every audio and video frame a Veil client sends is encrypted with SFrame (RFC 9605) under keys
//! that the meeting's participants agree among themselves with MLS (RFC 9420). The server relays
//! the MLS messages and forwards the encrypted frames; it never holds a key that opens either.
//! This one crate is the client side, built natively (bots, the load test, the webrtc-rs peer)
//! and to `wasm32-unknown-unknown` for the browser, so the same rules run in every client. The
//! server's side (the group's public state, its external-sender key) is the `veil-ds` crate.
//!
//! ## The model
//!
//! ```text
//!   session::Session  (one per participant: roster binding, committing, names, risks)
//!        |  drives group::Member (the MLS group state); every join and leave is a new epoch
//!        v
//!   sframe_epoch_secret = MLS-Exporter("SFrame 1.0 Base Key", "", 16)      (RFC 9605 §5.2)
//!        |  with who sits at which leaf; in the browser, posted to the transform worker
//!        v
//!   frame::KeyRing  set_epoch(epoch, secret, own_leaf, now), set_members(epoch, leaves)
//!        |  KID = context | sender leaf | epoch low bits; key and salt per KID (§4.4.2)
//!        v
//!   encrypt_media(kind, context, frame) -> codec header ‖ SFrame header ‖ ciphertext ‖ tag
//!   decrypt_from(owner, kind, data): only frames whose sender leaf is the track owner's
//! ```
//!
//! - [`session`] is the key-agreement state machine every client runs: it holds the MLS group
//!   against the room's roster, commits adds and removals (with fallbacks when the designated
//!   committer stays silent), exchanges display names inside the group, and says when the call
//!   is at risk.
//! - [`group`] is MLS itself: key packages, creating and joining the group, commits, and the
//!   verification data (epoch authenticator code, per-member fingerprints).
//! - [`frame`] is SFrame: a key ring holding the current epoch for sending and receiving, and
//!   previous epochs for receiving during a grace period, with replay protection per key id,
//!   frames bound to the participant whose track they arrive on, and failure counters a UI can
//!   turn into "decryption failing" or "not encrypted". [`frame::codec`] is the one rule of
//!   what a frame keeps in the clear for the SFU.
//! - `wasm` (only on `wasm32`) wraps [`session::Session`] and [`frame::KeyRing`] for JavaScript.
//!
//! Nothing here reads a clock, opens a socket or logs: time enters as explicit `now_ms`
//! arguments, and every secret is zeroized on drop and redacted from `Debug`.
//!
//! ## Fixed choices
//!
//! - SFrame cipher suite `AES_128_GCM_SHA256_128` (0x0004): `Nk` = 16 bytes, 16-byte tag.
//! - MLS cipher suite `MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519` (0x0001).
//! - KID layout: 8 epoch bits, 16 sender-index bits, 8 context bits (see [`frame::kid`]).

pub mod frame;
pub mod group;
pub mod session;

#[cfg(target_arch = "wasm32")]
mod wasm;

pub use frame::codec::{MediaKind, clear_bytes};
pub use frame::{Decrypted, FailureCounts, FailureKind, FrameError, KeyRing};
pub use group::{CommitBundle, ExternalSenderInfo, GroupError, Member, MemberInfo, Processed};
pub use session::Session;

/// The MLS cipher suite every Veil group uses.
pub const MLS_CIPHERSUITE: openmls::prelude::Ciphersuite =
    openmls::prelude::Ciphersuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519;

/// The SFrame cipher suite every Veil frame uses (RFC 9605 `AES_128_GCM_SHA256_128`).
pub const SFRAME_SUITE: sframe::CipherSuite = sframe::CipherSuite::AesGcm128Sha256;

/// The MLS exporter label RFC 9605 §5.2 assigns to the SFrame base key.
pub const SFRAME_EXPORTER_LABEL: &str = "SFrame 1.0 Base Key";
