//! JavaScript bindings (wasm-bindgen) over [`Member`] and [`KeyRing`], for the browser client.
//!
//! Thin by design: every method forwards to the native type. Bytes are `Uint8Array`s, epochs
//! and times are `Number`s (safe integers), and a failure throws an `Error` whose `kind`
//! property is the stable code of the Rust error ([`FrameError::code`], [`GroupError::code`]),
//! e.g. `"authentication-failed"` or `"not-encrypted"`, so UI code never parses messages.
//!
//! `WasmMember` lives where the signaling connection is (MLS messages are rare);
//! `WasmKeyRing` lives in the encoded-transform worker (every frame). The epoch secret crosses
//! between them with `postMessage`.

use js_sys::{Array, Error, Object, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use zeroize::Zeroizing;

use crate::frame::{KeyRing, rfc};
use crate::group::{CommitBundle, ExternalSenderInfo, Member, Processed, verification_code};
use crate::{FrameError, GroupError};

fn throw(kind: &str, message: &str) -> JsValue {
    let error = Error::new(message);
    // Setting a property on a fresh Error object cannot fail.
    let _ = Reflect::set(&error, &"kind".into(), &kind.into());
    error.into()
}

fn group_error(err: GroupError) -> JsValue {
    throw(err.code(), &err.to_string())
}

fn frame_error(err: FrameError) -> JsValue {
    throw(err.code(), &err.to_string())
}

/// A JavaScript number that must hold a non-negative safe integer.
fn integer(value: f64, what: &str) -> Result<u64, JsValue> {
    const MAX_SAFE: f64 = 9_007_199_254_740_991.0;
    if value.is_finite() && value >= 0.0 && value.fract() == 0.0 && value <= MAX_SAFE {
        Ok(value as u64)
    } else {
        Err(throw("invalid-argument", &format!("{what} must be a non-negative safe integer")))
    }
}

/// Builds a plain object from `(key, value)` pairs.
fn object(fields: &[(&str, JsValue)]) -> JsValue {
    let out = Object::new();
    for (key, value) in fields {
        let _ = Reflect::set(&out, &(*key).into(), value);
    }
    out.into()
}

fn bytes(data: &[u8]) -> JsValue {
    Uint8Array::from(data).into()
}

fn bundle(b: CommitBundle) -> JsValue {
    object(&[
        ("commit", bytes(&b.commit)),
        ("welcome", b.welcome.as_deref().map_or(JsValue::UNDEFINED, bytes)),
        ("epochBefore", (b.epoch_before as f64).into()),
        ("removed", b.removed.iter().map(|&leaf| JsValue::from(leaf)).collect::<Array>().into()),
    ])
}

/// One participant's MLS state (see `group::Member`).
#[wasm_bindgen]
pub struct WasmMember {
    inner: Member,
}

#[wasm_bindgen]
impl WasmMember {
    /// A member with a fresh signature key and a credential naming the participant.
    #[wasm_bindgen(constructor)]
    pub fn new(participant_id: &str, display_name: &str) -> Result<WasmMember, JsValue> {
        Member::new(participant_id, display_name).map(|inner| Self { inner }).map_err(group_error)
    }

    /// A fresh key package to hand to the server.
    #[wasm_bindgen(js_name = keyPackage)]
    pub fn key_package(&self) -> Result<Vec<u8>, JsValue> {
        self.inner.key_package().map_err(group_error)
    }

    /// Creates the group; pass the server's external-sender key and identity to let it
    /// propose removals.
    #[wasm_bindgen(js_name = createGroup)]
    pub fn create_group(
        &mut self,
        group_id: &[u8],
        external_signature_key: Option<Vec<u8>>,
        external_identity: Option<Vec<u8>>,
    ) -> Result<(), JsValue> {
        let external = external_signature_key.map(|signature_key| ExternalSenderInfo {
            signature_key,
            identity: external_identity.unwrap_or_default(),
        });
        self.inner.create_group(group_id, external).map_err(group_error)
    }

    /// Joins from a Welcome.
    #[wasm_bindgen(js_name = joinFromWelcome)]
    pub fn join_from_welcome(&mut self, welcome: &[u8]) -> Result<(), JsValue> {
        self.inner.join_from_welcome(welcome).map_err(group_error)
    }

    /// Stages a commit adding members; `keyPackages` is an array of `Uint8Array`s. Returns
    /// `{ commit, welcome, epochBefore, removed }` (`removed`: the leaves the commit removes,
    /// an array of numbers, as every bundle object has).
    #[wasm_bindgen(js_name = addMembers)]
    pub fn add_members(&mut self, key_packages: Array) -> Result<JsValue, JsValue> {
        let packages: Vec<Vec<u8>> =
            key_packages.iter().map(|kp| Uint8Array::new(&kp).to_vec()).collect();
        self.inner.add_members(&packages).map(bundle).map_err(group_error)
    }

    /// Stages a commit removing the members at the given leaves.
    #[wasm_bindgen(js_name = removeMembers)]
    pub fn remove_members(&mut self, leaves: Vec<u32>) -> Result<JsValue, JsValue> {
        self.inner.remove_members(&leaves).map(bundle).map_err(group_error)
    }

    /// Stages a commit of queued proposals; `undefined` when none are queued.
    #[wasm_bindgen(js_name = commitPendingProposals)]
    pub fn commit_pending_proposals(&mut self) -> Result<JsValue, JsValue> {
        let staged = self.inner.commit_pending_proposals().map_err(group_error)?;
        Ok(staged.map_or(JsValue::UNDEFINED, bundle))
    }

    /// Stages a commit putting this member's display name in its own leaf (call it after
    /// `joinFromWelcome`); `null` when the leaf already carries the name. Merge or discard it
    /// like any other commit.
    #[wasm_bindgen(js_name = announceName)]
    pub fn announce_name(&mut self) -> Result<JsValue, JsValue> {
        let staged = self.inner.announce_name().map_err(group_error)?;
        Ok(staged.map_or(JsValue::NULL, bundle))
    }

    /// Applies the staged commit the server accepted; returns the new epoch.
    #[wasm_bindgen(js_name = mergePendingCommit)]
    pub fn merge_pending_commit(&mut self) -> Result<f64, JsValue> {
        self.inner.merge_pending_commit().map(|e| e as f64).map_err(group_error)
    }

    /// Drops the staged commit the server refused.
    #[wasm_bindgen(js_name = discardPendingCommit)]
    pub fn discard_pending_commit(&mut self) -> Result<(), JsValue> {
        self.inner.discard_pending_commit().map_err(group_error)
    }

    /// Processes a relayed commit or proposal. Returns `{ type: "epoch-changed", epoch }`,
    /// `{ type: "proposal-queued", removes, external }`, `{ type: "own-message" }` or
    /// `{ type: "evicted", epoch }`.
    #[wasm_bindgen(js_name = processMessage)]
    pub fn process_message(&mut self, message: &[u8]) -> Result<JsValue, JsValue> {
        Ok(match self.inner.process_message(message).map_err(group_error)? {
            Processed::EpochChanged { epoch } => {
                object(&[("type", "epoch-changed".into()), ("epoch", (epoch as f64).into())])
            }
            Processed::ProposalQueued { removes, external } => object(&[
                ("type", "proposal-queued".into()),
                ("removes", removes.into()),
                ("external", external.into()),
            ]),
            Processed::OwnMessage => object(&[("type", "own-message".into())]),
            Processed::Evicted { epoch } => {
                object(&[("type", "evicted".into()), ("epoch", (epoch as f64).into())])
            }
        })
    }

    /// The current epoch.
    pub fn epoch(&self) -> Result<f64, JsValue> {
        self.inner.epoch().map(|e| e as f64).map_err(group_error)
    }

    /// This member's leaf index.
    #[wasm_bindgen(js_name = ownLeaf)]
    pub fn own_leaf(&self) -> Result<u32, JsValue> {
        self.inner.own_leaf().map_err(group_error)
    }

    /// Whether a staged commit awaits the server's verdict.
    #[wasm_bindgen(js_name = hasPendingCommit)]
    pub fn has_pending_commit(&self) -> bool {
        self.inner.has_pending_commit()
    }

    /// This member's own key fingerprint.
    pub fn fingerprint(&self) -> String {
        self.inner.fingerprint()
    }

    /// The MLS epoch authenticator.
    #[wasm_bindgen(js_name = epochAuthenticator)]
    pub fn epoch_authenticator(&self) -> Result<Vec<u8>, JsValue> {
        self.inner.epoch_authenticator().map_err(group_error)
    }

    /// The epoch's verification code, `"dddd dddd dddd"`.
    #[wasm_bindgen(js_name = verificationCode)]
    pub fn verification_code(&self) -> Result<String, JsValue> {
        self.inner.verification_code().map_err(group_error)
    }

    /// The epoch's SFrame secret, for `WasmKeyRing.setEpoch`. Post it to the worker and drop
    /// every other copy.
    #[wasm_bindgen(js_name = sframeEpochSecret)]
    pub fn sframe_epoch_secret(&self) -> Result<Uint8Array, JsValue> {
        // Copied straight into a JS array; the wasm-side copy is zeroized when dropped.
        let secret = self.inner.sframe_epoch_secret().map_err(group_error)?;
        Ok(Uint8Array::from(secret.as_slice()))
    }

    /// `[{ leaf, participantId, displayName, fingerprint }]`, by leaf. `displayName` is `""`
    /// for a member who joined and has not announced its name yet: show "joining…".
    pub fn members(&self) -> Result<Array, JsValue> {
        let members = self.inner.members().map_err(group_error)?;
        Ok(members
            .into_iter()
            .map(|m| {
                object(&[
                    ("leaf", m.leaf.into()),
                    ("participantId", m.participant_id.into()),
                    ("displayName", m.display_name.into()),
                    ("fingerprint", m.fingerprint.into()),
                ])
            })
            .collect())
    }
}

/// The SFrame keys of one participant (see `frame::KeyRing`).
#[wasm_bindgen]
pub struct WasmKeyRing {
    inner: KeyRing,
}

#[wasm_bindgen]
impl WasmKeyRing {
    /// An empty ring; superseded epochs stay readable for `graceMs` (default 10 000).
    #[wasm_bindgen(constructor)]
    pub fn new(grace_ms: Option<f64>) -> Result<WasmKeyRing, JsValue> {
        let inner = match grace_ms {
            Some(ms) => KeyRing::with_grace(integer(ms, "graceMs")?),
            None => KeyRing::new(),
        };
        Ok(Self { inner })
    }

    /// Installs an epoch's SFrame secret; sending switches to it at once.
    #[wasm_bindgen(js_name = setEpoch)]
    pub fn set_epoch(
        &mut self,
        epoch: f64,
        secret: Uint8Array,
        own_leaf: u32,
        now_ms: f64,
    ) -> Result<(), JsValue> {
        let (epoch, now) = (integer(epoch, "epoch")?, integer(now_ms, "nowMs")?);
        // Copied out of JS into memory that is zeroized on drop.
        let secret = Zeroizing::new(secret.to_vec());
        self.inner.set_epoch(epoch, &secret, own_leaf, now).map_err(frame_error)
    }

    /// Drops superseded epochs whose grace period has ended.
    pub fn expire(&mut self, now_ms: f64) -> Result<(), JsValue> {
        self.inner.expire(integer(now_ms, "nowMs")?);
        Ok(())
    }

    /// When to call `expire` next, or `undefined`.
    #[wasm_bindgen(js_name = nextExpiry)]
    pub fn next_expiry(&self) -> Option<f64> {
        self.inner.next_expiry().map(|t| t as f64)
    }

    /// The current epoch, or `undefined`.
    pub fn epoch(&self) -> Option<f64> {
        self.inner.epoch().map(|e| e as f64)
    }

    /// Encrypts a frame of track `contextId`, keeping its first `metadataLen` bytes clear.
    pub fn encrypt(
        &mut self,
        context_id: u8,
        metadata_len: usize,
        frame: &[u8],
    ) -> Result<Vec<u8>, JsValue> {
        self.inner.encrypt(context_id, metadata_len, frame).map_err(frame_error)
    }

    /// Decrypts a frame; returns the original frame (metadata and payload).
    pub fn decrypt(&mut self, metadata_len: usize, data: &[u8]) -> Result<Vec<u8>, JsValue> {
        self.inner.decrypt(metadata_len, data).map(|d| d.plaintext).map_err(frame_error)
    }

    /// Decrypts a frame; returns `{ plaintext, senderLeaf, epoch, contextId }`.
    #[wasm_bindgen(js_name = decryptFrame)]
    pub fn decrypt_frame(&mut self, metadata_len: usize, data: &[u8]) -> Result<JsValue, JsValue> {
        let d = self.inner.decrypt(metadata_len, data).map_err(frame_error)?;
        Ok(object(&[
            ("plaintext", bytes(&d.plaintext)),
            ("senderLeaf", d.sender_leaf.into()),
            ("epoch", (d.epoch as f64).into()),
            ("contextId", d.context_id.into()),
        ]))
    }

    /// Failure counts: `{ notEncrypted, unknownEpoch, authenticationFailed, replayed, tooOld }`.
    pub fn failures(&self) -> JsValue {
        let f = self.inner.failures();
        object(&[
            ("notEncrypted", (f.not_encrypted as f64).into()),
            ("unknownEpoch", (f.unknown_epoch as f64).into()),
            ("authenticationFailed", (f.authentication_failed as f64).into()),
            ("replayed", (f.replayed as f64).into()),
            ("tooOld", (f.too_old as f64).into()),
        ])
    }
}

/// The verification code of an epoch authenticator.
#[wasm_bindgen(js_name = verificationCode)]
pub fn verification_code_js(epoch_authenticator: &[u8]) -> String {
    verification_code(epoch_authenticator)
}

/// RFC 9605 vector check: SFrame-encrypts with an explicit KID and CTR (BigInts).
#[wasm_bindgen(js_name = sframeVectorEncrypt)]
pub fn sframe_vector_encrypt(
    suite: u16,
    kid: u64,
    ctr: u64,
    base_key: &[u8],
    metadata: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, JsValue> {
    rfc::encrypt(suite, kid, ctr, base_key, metadata, plaintext).map_err(frame_error)
}

/// RFC 9605 vector check: SFrame-decrypts with the key the header's KID selects.
#[wasm_bindgen(js_name = sframeVectorDecrypt)]
pub fn sframe_vector_decrypt(
    suite: u16,
    base_key: &[u8],
    metadata: &[u8],
    ciphertext: &[u8],
) -> Result<Vec<u8>, JsValue> {
    rfc::decrypt(suite, base_key, metadata, ciphertext).map_err(frame_error)
}

/// RFC 9605 vector check: serializes an SFrame header.
#[wasm_bindgen(js_name = sframeEncodeHeader)]
pub fn sframe_encode_header(kid: u64, ctr: u64) -> Vec<u8> {
    rfc::encode_header(kid, ctr)
}

/// RFC 9605 vector check: parses an SFrame header into `{ kid, ctr, length }` (BigInts and a
/// number), or `undefined`.
#[wasm_bindgen(js_name = sframeDecodeHeader)]
pub fn sframe_decode_header(data: &[u8]) -> JsValue {
    rfc::decode_header(data).map_or(JsValue::UNDEFINED, |(kid, ctr, len)| {
        object(&[("kid", kid.into()), ("ctr", ctr.into()), ("length", len.into())])
    })
}
