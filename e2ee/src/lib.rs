//! # Veil end-to-end encryption
//!
//! Every audio and video frame a Veil client sends is encrypted with SFrame (RFC 9605) under keys
//! that the meeting's participants agree among themselves with MLS (RFC 9420). The server relays
//! the MLS messages as opaque bytes and forwards the encrypted frames; it never holds a key that
//! opens either. This one crate is built natively (tests, bots, the delivery-service helpers of
//! the signaling server) and to `wasm32-unknown-unknown` for the browser, so the same code runs
//! on both sides of every test.
//!
//! ## The model
//!
//! ```text
//!   group::Member  (one per participant, holds the MLS group state)
//!        |  every commit (join, leave, removal) starts a new epoch
//!        v
//!   sframe_epoch_secret = MLS-Exporter("SFrame 1.0 Base Key", "", 16)      (RFC 9605 §5.2)
//!        |  handed to the media path (in the browser: posted to the transform worker)
//!        v
//!   frame::KeyRing  set_epoch(epoch, secret, own_leaf, now)
//!        |  KID = context | sender leaf | epoch low bits; key and salt per KID (§4.4.2)
//!        v
//!   encrypt(context, metadata_len, frame) -> metadata ‖ SFrame header ‖ ciphertext ‖ tag
//! ```
//!
//! - [`group`] is the client side of MLS: key packages, creating a group that names the server
//!   as an external sender, adding and removing members, processing the commits and proposals
//!   the server relays, and the verification data (epoch authenticator code, per-member
//!   fingerprints) that lets people catch a server lying about who is in the room.
//! - [`frame`] is SFrame: a key ring holding the current epoch for sending and receiving, and
//!   previous epochs for receiving during a grace period, with replay protection per key id and
//!   failure counters a UI can turn into "decryption failing" or "not encrypted".
//! - [`ds`] is what the server may do without any group secret: sign external Remove proposals
//!   and read the clear framing header (group, epoch, content type) of a handshake message so it
//!   can keep the first commit of each epoch.
//! - `wasm` (only on `wasm32`) wraps [`group::Member`] and [`frame::KeyRing`] for JavaScript.
//!
//! Nothing here reads a clock, opens a socket or logs: time enters as explicit `now_ms`
//! arguments, and every secret is zeroized on drop and redacted from `Debug`.
//!
//! ## Fixed choices
//!
//! - SFrame cipher suite `AES_128_GCM_SHA256_128` (0x0004): `Nk` = 16 bytes, 16-byte tag.
//! - MLS cipher suite `MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519` (0x0001).
//! - KID layout: 8 epoch bits, 16 sender-index bits, 8 context bits (see [`frame::kid`]).

pub mod ds;
pub mod frame;
pub mod group;

#[cfg(target_arch = "wasm32")]
mod wasm;

pub use frame::{Decrypted, FailureCounts, FailureKind, FrameError, KeyRing};
pub use group::{CommitBundle, ExternalSenderInfo, GroupError, Member, MemberInfo, Processed};

/// The MLS cipher suite every Veil group uses.
pub const MLS_CIPHERSUITE: openmls::prelude::Ciphersuite =
    openmls::prelude::Ciphersuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519;

/// The SFrame cipher suite every Veil frame uses (RFC 9605 `AES_128_GCM_SHA256_128`).
pub const SFRAME_SUITE: sframe::CipherSuite = sframe::CipherSuite::AesGcm128Sha256;

/// The MLS exporter label RFC 9605 §5.2 assigns to the SFrame base key.
pub const SFRAME_EXPORTER_LABEL: &str = "SFrame 1.0 Base Key";
