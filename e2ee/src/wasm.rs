//! JavaScript bindings (wasm-bindgen) over [`Session`] and [`KeyRing`], for the browser client.
//!
//! Thin by design: every method forwards to the native type, so the browser runs the same key
//! agreement and the same frame rules as every other client. Signaling messages cross as JSON
//! text (the server's messages in, ours out), bytes as `Uint8Array`s, epochs and times as
//! `Number`s (safe integers). A failure throws an `Error` whose `kind` property is the stable
//! code of the Rust error ([`FrameError::code`]), e.g. `"authentication-failed"`, so UI code
//! never parses messages.
//!
//! `WasmSession` lives where the signaling connection is (MLS messages are rare); `WasmKeyRing`
//! lives in the encoded-transform worker (every frame). The epoch secret and the leaf map cross
//! between them with `postMessage`.

use js_sys::{Array, Error, Object, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use zeroize::Zeroizing;

use crate::FrameError;
use crate::frame::codec::MediaKind;
use crate::frame::{KeyRing, rfc};
use crate::group::verification_code;
use crate::session::{Input, Output, Session};
use veil_proto::signal::ServerMessage;

fn throw(kind: &str, message: &str) -> JsValue {
    let error = Error::new(message);
    // Setting a property on a fresh Error object cannot fail.
    let _ = Reflect::set(&error, &"kind".into(), &kind.into());
    error.into()
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

/// A time in ms from `performance.now()`, which has a fraction.
fn millis(value: f64) -> Result<u64, JsValue> {
    integer(value.max(0.0).floor(), "nowMs")
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

fn media_kind(kind: &str) -> Result<MediaKind, JsValue> {
    match kind {
        "audio" => Ok(MediaKind::Audio),
        "video" => Ok(MediaKind::Video),
        _ => Err(throw("invalid-argument", "kind must be \"audio\" or \"video\"")),
    }
}

fn server_message(json: &str) -> Result<ServerMessage, JsValue> {
    // The envelope's `v` is the signaling layer's business; the session reads the message.
    serde_json::from_str(json)
        .map_err(|e| throw("bad-message", &format!("not a server message: {e}")))
}

/// One participant's key agreement (see `session::Session`).
#[wasm_bindgen]
pub struct WasmSession {
    inner: Session,
}

#[wasm_bindgen]
impl WasmSession {
    /// Starts from the server's `joined` message (JSON) with our display name.
    #[wasm_bindgen(constructor)]
    pub fn new(joined_json: &str, display_name: &str, now_ms: f64) -> Result<WasmSession, JsValue> {
        let joined = server_message(joined_json)?;
        Session::from_joined(&joined, display_name, millis(now_ms)?)
            .map(|inner| Self { inner })
            .map_err(|e| throw("start", &e.to_string()))
    }

    /// Hands the session a server message (JSON); unrelated messages are ignored.
    pub fn handle(&mut self, message_json: &str, now_ms: f64) -> Result<(), JsValue> {
        let message = server_message(message_json)?;
        self.inner.handle_input(millis(now_ms)?, Input::Server(&message));
        Ok(())
    }

    /// Time passed (call at the time the last `timeout` output named).
    pub fn tick(&mut self, now_ms: f64) -> Result<(), JsValue> {
        self.inner.handle_input(millis(now_ms)?, Input::Timeout);
        Ok(())
    }

    /// Sends a chat message to the group's current members (it goes out through `poll`);
    /// `ttlSecs` is how long the others should show it, 0 for the room's retention. Returns its
    /// id. Throws with `kind` `not-in-group` before we are in the group and `empty-message` when
    /// nothing printable is left.
    #[wasm_bindgen(js_name = sendChat)]
    pub fn send_chat(&mut self, text: &str, ttl_secs: u32, now_ms: f64) -> Result<String, JsValue> {
        self.inner
            .send_chat(millis(now_ms)?, text, ttl_secs)
            .map_err(|e| throw(e.code(), &e.to_string()))
    }

    /// The next output: `{ type: "send", message }` (JSON to send), `{ type: "epoch", epoch,
    /// leaf, secret, members: [{ leaf, participantId }] }`, `{ type: "changed" }`,
    /// `{ type: "evicted" }`, `{ type: "problem", message }`, `{ type: "chat", id, sender,
    /// text, ttlSecs, epoch }` (another member's message; `sender` is the participant id its
    /// leaf names), `{ type: "chat-unsent", id, reason }` (one of ours could not go out), or
    /// `{ type: "timeout", at }` (the last one: call `tick` then).
    pub fn poll(&mut self) -> Result<JsValue, JsValue> {
        Ok(match self.inner.poll_output() {
            Output::Send(message) => {
                let json = serde_json::to_string(&message)
                    .map_err(|e| throw("bad-message", &e.to_string()))?;
                object(&[("type", "send".into()), ("message", json.into())])
            }
            Output::Epoch(keys) => {
                let members: Array = keys
                    .members
                    .iter()
                    .map(|(leaf, p)| {
                        object(&[("leaf", (*leaf).into()), ("participantId", p.into())])
                    })
                    .collect();
                object(&[
                    ("type", "epoch".into()),
                    ("epoch", (keys.epoch as f64).into()),
                    ("leaf", keys.own_leaf.into()),
                    // Copied straight into a JS array; the session's copy is zeroized on drop.
                    ("secret", bytes(&keys.secret)),
                    ("members", members.into()),
                ])
            }
            Output::Changed => object(&[("type", "changed".into())]),
            Output::Evicted => object(&[("type", "evicted".into())]),
            Output::Problem(message) => {
                object(&[("type", "problem".into()), ("message", message.into())])
            }
            Output::Chat { id, sender, text, ttl_secs, epoch } => object(&[
                ("type", "chat".into()),
                ("id", id.into()),
                ("sender", sender.into()),
                ("text", text.into()),
                ("ttlSecs", ttl_secs.into()),
                ("epoch", (epoch as f64).into()),
            ]),
            Output::ChatUnsent { id, reason } => object(&[
                ("type", "chat-unsent".into()),
                ("id", id.into()),
                ("reason", reason.into()),
            ]),
            Output::Timeout(at) => {
                object(&[("type", "timeout".into()), ("at", (at as f64).into())])
            }
        })
    }

    /// The current epoch, or `undefined` before we are in the group.
    pub fn epoch(&self) -> Option<f64> {
        self.inner.epoch().map(|e| e as f64)
    }

    /// The epoch's verification code, `"dddd dddd dddd"`.
    pub fn code(&self) -> Option<String> {
        self.inner.code()
    }

    /// Our own key fingerprint.
    pub fn fingerprint(&self) -> String {
        self.inner.fingerprint()
    }

    /// Whether a commit removed us.
    #[wasm_bindgen(js_name = isEvicted)]
    pub fn is_evicted(&self) -> bool {
        self.inner.is_evicted()
    }

    /// `[{ leaf, participantId, identity, name, duplicateName, fingerprint }]`, by leaf;
    /// `identity` and `name` are `null` until known.
    pub fn members(&self) -> Array {
        let opt = |s: Option<String>| s.map_or(JsValue::NULL, JsValue::from);
        self.inner
            .members()
            .into_iter()
            .map(|m| {
                object(&[
                    ("leaf", m.leaf.into()),
                    ("participantId", m.participant_id.into()),
                    ("identity", opt(m.identity)),
                    ("name", opt(m.name)),
                    ("duplicateName", m.duplicate_name.into()),
                    ("fingerprint", m.fingerprint.into()),
                ])
            })
            .collect()
    }

    /// Why the call is at risk: `[{ kind, participantId, message }]`, empty while the group
    /// and the room agree. `kind` is `not-in-room`, `not-in-group` or `refused-commit`.
    pub fn risks(&self) -> Array {
        self.inner
            .risks()
            .iter()
            .map(|r| {
                object(&[
                    ("kind", r.kind().into()),
                    ("participantId", r.participant().into()),
                    ("message", r.to_string().into()),
                ])
            })
            .collect()
    }
}

/// A bare MLS member, without the session's rules: for tests that play a malicious member
/// against real browsers (a member who commits what an honest session never would). The
/// client never uses it.
#[wasm_bindgen]
pub struct WasmRawMember {
    inner: crate::group::Member,
}

#[wasm_bindgen]
impl WasmRawMember {
    #[wasm_bindgen(constructor)]
    pub fn new(participant_id: &str) -> Result<WasmRawMember, JsValue> {
        crate::group::Member::new(participant_id)
            .map(|inner| Self { inner })
            .map_err(|e| throw(e.code(), &e.to_string()))
    }

    /// A key package naming this member.
    #[wasm_bindgen(js_name = keyPackage)]
    pub fn key_package(&self) -> Result<Vec<u8>, JsValue> {
        self.inner.key_package().map_err(|e| throw(e.code(), &e.to_string()))
    }

    /// Joins from a Welcome.
    #[wasm_bindgen(js_name = joinFromWelcome)]
    pub fn join_from_welcome(&mut self, welcome: &[u8]) -> Result<(), JsValue> {
        self.inner.join_from_welcome(welcome).map_err(|e| throw(e.code(), &e.to_string()))
    }

    /// A commit adding whatever key packages it is given; returns `{ commit, epochBefore }`.
    #[wasm_bindgen(js_name = addMembers)]
    pub fn add_members(&mut self, key_packages: Array) -> Result<JsValue, JsValue> {
        let packages: Vec<Vec<u8>> =
            key_packages.iter().map(|kp| Uint8Array::new(&kp).to_vec()).collect();
        let bundle =
            self.inner.add_members(&packages).map_err(|e| throw(e.code(), &e.to_string()))?;
        Ok(object(&[
            ("commit", bytes(&bundle.commit)),
            ("epochBefore", (bundle.epoch_before as f64).into()),
        ]))
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

    /// Records who sits at which leaf in `epoch`: `members` is `[{ leaf, participantId }]`.
    #[wasm_bindgen(js_name = setMembers)]
    pub fn set_members(&mut self, epoch: f64, members: Array) -> Result<(), JsValue> {
        let mut list = Vec::with_capacity(members.length() as usize);
        for m in members.iter() {
            let leaf = Reflect::get(&m, &"leaf".into())?.as_f64();
            let participant = Reflect::get(&m, &"participantId".into())?.as_string();
            let (Some(leaf), Some(participant)) = (leaf, participant) else {
                return Err(throw("invalid-argument", "members are { leaf, participantId }"));
            };
            list.push((integer(leaf, "leaf")? as u32, participant));
        }
        self.inner.set_members(integer(epoch, "epoch")?, list).map_err(frame_error)
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

    /// Encrypts a media frame (`kind` is `"audio"` or `"video"`) of track `contextId`, keeping
    /// its codec header in the clear.
    #[wasm_bindgen(js_name = encryptMedia)]
    pub fn encrypt_media(
        &mut self,
        kind: &str,
        context_id: u8,
        frame: &[u8],
    ) -> Result<Vec<u8>, JsValue> {
        self.inner.encrypt_media(media_kind(kind)?, context_id, frame).map_err(frame_error)
    }

    /// Decrypts a media frame received on a track of `owner` (a participant id); refused unless
    /// its sender is that participant and, given `contextId` (the context of the source the
    /// track claims), unless it was sent for that source. Returns `{ plaintext, senderLeaf,
    /// epoch, contextId }`.
    #[wasm_bindgen(js_name = decryptFrom)]
    pub fn decrypt_from(
        &mut self,
        owner: &str,
        kind: &str,
        data: &[u8],
        context_id: Option<u8>,
    ) -> Result<JsValue, JsValue> {
        let kind = media_kind(kind)?;
        let d = match context_id {
            Some(context) => self.inner.decrypt_track(owner, context, kind, data),
            None => self.inner.decrypt_from(owner, kind, data),
        }
        .map_err(frame_error)?;
        Ok(object(&[
            ("plaintext", bytes(&d.plaintext)),
            ("senderLeaf", d.sender_leaf.into()),
            ("epoch", (d.epoch as f64).into()),
            ("contextId", d.context_id.into()),
        ]))
    }

    /// Failure counts: `{ notEncrypted, unknownEpoch, authenticationFailed, replayed, tooOld,
    /// wrongSender, wrongSource }`.
    pub fn failures(&self) -> JsValue {
        let f = self.inner.failures();
        object(&[
            ("notEncrypted", (f.not_encrypted as f64).into()),
            ("unknownEpoch", (f.unknown_epoch as f64).into()),
            ("authenticationFailed", (f.authentication_failed as f64).into()),
            ("replayed", (f.replayed as f64).into()),
            ("tooOld", (f.too_old as f64).into()),
            ("wrongSender", (f.wrong_sender as f64).into()),
            ("wrongSource", (f.wrong_source as f64).into()),
        ])
    }
}

/// How many leading bytes of a frame of `kind` stay in the clear (the one rule, for tests and
/// tools; the ring applies it itself).
#[wasm_bindgen(js_name = clearBytes)]
pub fn clear_bytes_js(kind: &str, frame: &[u8]) -> Result<usize, JsValue> {
    Ok(crate::frame::codec::clear_bytes(media_kind(kind)?, frame))
}

/// A chat text as the others will see it (the one cleaning rule, for showing our own messages).
#[wasm_bindgen(js_name = cleanChat)]
pub fn clean_chat_js(text: &str) -> String {
    crate::session::chat::clean_chat(text)
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
