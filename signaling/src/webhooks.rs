//! Signed webhooks: JSON events about rooms, participants and tracks, POSTed to URLs the
//! operator configured, and the check a receiver runs on them ([`verify`]).
//!
//! # What is sent
//!
//! Six events: `room_started`, `room_finished`, `participant_joined`, `participant_left`,
//! `track_published` and `track_unpublished`. A body names a room by its opaque id (the one the
//! admin API lists), a participant by its [`ParticipantId`], a track by its kind and source;
//! never a room name, an identity, a display name, an address or a token, so a receiver
//! learns what happened without learning who or where.
//!
//! # Signing
//!
//! Each request carries `Veil-Webhook-Id` (the event's id, also in the body),
//! `Veil-Webhook-Timestamp` (Unix seconds) and `Veil-Webhook-Signature: v1=HEX`, the
//! HMAC-SHA256 of `"{timestamp}.{body}"` under the endpoint's secret. Signing the timestamp
//! lets receivers refuse old requests; the id inside the signed body lets them refuse a
//! request seen before ([`ReplayGuard`]). docs/webhooks.md has a receiver to copy.
//!
//! # Delivery
//!
//! [`Webhooks::emit`] only queues: it never waits, so the room code may call it at any moment
//! (it does so right after releasing the room registry's lock). Each endpoint has its own
//! bounded queue ([`QUEUE_CAPACITY`]; when full, the oldest event is dropped and counted) and
//! its own task, which POSTs one event at a time with a [`REQUEST_TIMEOUT`]. Anything but a
//! 2xx is retried after 1, 2, 4, 8 and 16 times the retry base (1 s by default), each attempt
//! signed afresh with the same id; then the event is given up with a warning. Delivery order
//! follows the queue, but a receiver should rely on each event's `time`, not on arrival.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use hyper::Uri;
use rand::Rng;
use serde::Serialize;
use sha2::Sha256;
use subtle::ConstantTimeEq;
use tokio::sync::Notify;
use veil_proto::ParticipantId;
use veil_proto::room::Source;
use zeroize::Zeroizing;

use crate::config::SignalingConfig;
use crate::oidc::http::HttpClient;

/// Events waiting for one endpoint; beyond this the oldest is dropped.
pub const QUEUE_CAPACITY: usize = 1024;

/// How long one delivery attempt may take, connecting included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Attempts after the first one; they wait 1, 2, 4, 8 and 16 times the retry base.
pub const RETRIES: u32 = 5;

/// The default retry base: retries after 1 s, 2 s, 4 s, 8 s and 16 s.
pub const DEFAULT_RETRY_BASE: Duration = Duration::from_secs(1);

/// How far a request's timestamp may be from the receiver's clock, either way, and how long
/// [`ReplayGuard`] remembers an id.
pub const TOLERANCE_SECS: u64 = 300;

/// The shortest secret accepted: 128 bits of a random string.
pub const MIN_SECRET_BYTES: usize = 16;

/// A URL that receives events, and the secret they are signed with.
#[derive(Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookEndpoint {
    /// `http://` or `https://`.
    pub url: String,
    /// Shared with the receiver; at least [`MIN_SECRET_BYTES`] bytes.
    pub secret: String,
}

impl std::fmt::Debug for WebhookEndpoint {
    /// Shows the URL, never the secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookEndpoint")
            .field("url", &self.url)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// A webhook endpoint that can't work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookConfigError {
    #[error("webhook URL {0:?} is not an http:// or https:// URL with a host")]
    Url(String),
    #[error(
        "the secret of webhook {url:?} is {len} bytes; it must be at least {MIN_SECRET_BYTES} \
         (e.g. `openssl rand -hex 32`)"
    )]
    ShortSecret { url: String, len: usize },
}

impl WebhookEndpoint {
    /// Checks the URL (http or https, with a host) and the secret's length.
    pub fn validate(&self) -> Result<(), WebhookConfigError> {
        self.uri()?;
        if self.secret.len() < MIN_SECRET_BYTES {
            let (url, len) = (self.url.clone(), self.secret.len());
            return Err(WebhookConfigError::ShortSecret { url, len });
        }
        Ok(())
    }

    fn uri(&self) -> Result<Uri, WebhookConfigError> {
        let bad = || WebhookConfigError::Url(self.url.clone());
        let uri: Uri = self.url.parse().map_err(|_| bad())?;
        let scheme_ok = matches!(uri.scheme_str(), Some("http" | "https"));
        if !scheme_ok || uri.host().is_none_or(str::is_empty) {
            return Err(bad());
        }
        Ok(uri)
    }
}

/// What an event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventType {
    RoomStarted,
    RoomFinished,
    ParticipantJoined,
    ParticipantLeft,
    TrackPublished,
    TrackUnpublished,
}

impl EventType {
    /// The name in the body's `type`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RoomStarted => "room_started",
            Self::RoomFinished => "room_finished",
            Self::ParticipantJoined => "participant_joined",
            Self::ParticipantLeft => "participant_left",
            Self::TrackPublished => "track_published",
            Self::TrackUnpublished => "track_unpublished",
        }
    }
}

/// Audio or video.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TrackKind {
    Audio,
    Video,
}

/// A published track as events name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Track {
    pub kind: TrackKind,
    pub source: Source,
}

impl Track {
    /// The track a source sends: a microphone or a screen's audio is audio, the rest video.
    pub fn of(source: Source) -> Self {
        let kind = match source {
            Source::Microphone | Source::ScreenAudio => TrackKind::Audio,
            Source::Camera | Source::Screen => TrackKind::Video,
        };
        Self { kind, source }
    }
}

/// Something that happened, before it gets its id. The constructors stamp the time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub kind: EventType,
    /// The room's opaque id (as the admin API lists it), never its name.
    pub room: String,
    pub participant: Option<ParticipantId>,
    pub track: Option<Track>,
    /// Unix milliseconds.
    pub time_ms: u64,
}

impl Event {
    fn new(kind: EventType, room: &str) -> Self {
        Self { kind, room: room.to_owned(), participant: None, track: None, time_ms: now_ms() }
    }

    pub fn room_started(room: &str) -> Self {
        Self::new(EventType::RoomStarted, room)
    }

    pub fn room_finished(room: &str) -> Self {
        Self::new(EventType::RoomFinished, room)
    }

    pub fn participant_joined(room: &str, participant: &ParticipantId) -> Self {
        Self {
            participant: Some(participant.clone()),
            ..Self::new(EventType::ParticipantJoined, room)
        }
    }

    pub fn participant_left(room: &str, participant: &ParticipantId) -> Self {
        Self {
            participant: Some(participant.clone()),
            ..Self::new(EventType::ParticipantLeft, room)
        }
    }

    /// `source` turned on (`on`) or off.
    pub fn track(room: &str, participant: &ParticipantId, source: Source, on: bool) -> Self {
        let kind = if on { EventType::TrackPublished } else { EventType::TrackUnpublished };
        Self {
            participant: Some(participant.clone()),
            track: Some(Track::of(source)),
            ..Self::new(kind, room)
        }
    }
}

/// The JSON body of an event.
#[derive(Serialize)]
struct Body<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: EventType,
    time: u64,
    room: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    participant: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    track: Option<Track>,
}

/// An event with its id and body, ready to sign for any endpoint.
#[derive(Debug)]
struct Prepared {
    id: String,
    kind: EventType,
    body: hyper::body::Bytes,
}

impl Prepared {
    fn new(event: &Event) -> Self {
        let id = format!("{:032x}", rand::rng().random::<u128>());
        let body = Body {
            id: &id,
            kind: event.kind,
            time: event.time_ms,
            room: &event.room,
            participant: event.participant.as_ref().map(|p| p.0.as_str()),
            track: event.track,
        };
        // Serialising plain strings and numbers cannot fail.
        let body = serde_json::to_vec(&body).unwrap_or_default().into();
        Self { id, kind: event.kind, body }
    }
}

/// `v1=` and the lowercase hex HMAC-SHA256 of `"{timestamp}.{body}"` under `secret`.
pub fn sign(secret: &[u8], timestamp: &str, body: &[u8]) -> String {
    let mac = mac(secret, timestamp, body);
    let mut out = String::with_capacity(3 + 64);
    out.push_str("v1=");
    for byte in mac {
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

fn mac(secret: &[u8], timestamp: &str, body: &[u8]) -> [u8; 32] {
    // HMAC takes a key of any length.
    let mut mac = <Hmac<Sha256>>::new_from_slice(secret).expect("HMAC accepts any key length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().into()
}

/// How deliveries went, since start.
#[derive(Debug, Default)]
struct Stats {
    delivered: AtomicU64,
    retried: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
}

/// One endpoint's queue.
#[derive(Debug, Default)]
struct Outbox {
    queue: Mutex<VecDeque<Arc<Prepared>>>,
    ready: Notify,
    closed: AtomicBool,
}

impl Outbox {
    /// Queues `event`; returns whether the oldest event had to go to make room.
    fn push(&self, event: Arc<Prepared>) -> Option<Arc<Prepared>> {
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        let dropped = if queue.len() >= QUEUE_CAPACITY { queue.pop_front() } else { None };
        queue.push_back(event);
        drop(queue);
        self.ready.notify_one();
        dropped
    }

    /// The next event, or `None` once the webhooks are shut down.
    async fn next(&self) -> Option<Arc<Prepared>> {
        loop {
            if self.closed.load(Ordering::Acquire) {
                return None;
            }
            let popped = self.queue.lock().unwrap_or_else(|e| e.into_inner()).pop_front();
            if let Some(event) = popped {
                return Some(event);
            }
            // `notify_one` stores a permit when nobody waits, so a push between the check
            // above and this await is not lost.
            self.ready.notified().await;
        }
    }
}

/// The configured endpoints and their delivery tasks. Dropping it stops each task once the
/// event it is on is delivered or given up; events still queued are not sent.
#[derive(Debug)]
pub struct Webhooks {
    outboxes: Vec<Arc<Outbox>>,
    stats: Arc<Stats>,
}

impl Webhooks {
    /// Starts one delivery task per endpoint in `config.webhooks`, retrying after multiples of
    /// `config.webhook_retry_base`. Call it inside the Tokio runtime, with a config that passed
    /// [`SignalingConfig::validate`] (an endpoint that does not is skipped with a warning).
    pub fn start(config: &SignalingConfig) -> Arc<Self> {
        let stats = Arc::new(Stats::default());
        let client =
            HttpClient::with_system_roots().with_timeout(REQUEST_TIMEOUT).allowing_plain_http();
        let mut outboxes = Vec::new();
        for endpoint in &config.webhooks {
            let uri = match endpoint.validate().and_then(|()| endpoint.uri()) {
                Ok(uri) => uri,
                Err(error) => {
                    tracing::warn!(%error, "webhook endpoint skipped");
                    continue;
                }
            };
            let outbox = Arc::new(Outbox::default());
            let target = Target {
                uri,
                secret: Zeroizing::new(endpoint.secret.as_bytes().to_vec()),
                client: client.clone(),
                retry_base: config.webhook_retry_base,
            };
            tokio::spawn(deliver_all(target, outbox.clone(), stats.clone()));
            outboxes.push(outbox);
        }
        Arc::new(Self { outboxes, stats })
    }

    /// Queues `event` for every endpoint; never waits.
    pub fn emit(&self, event: Event) {
        if self.outboxes.is_empty() {
            return;
        }
        let prepared = Arc::new(Prepared::new(&event));
        for outbox in &self.outboxes {
            if let Some(old) = outbox.push(prepared.clone()) {
                let dropped = self.stats.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                tracing::warn!(id = %old.id, r#type = old.kind.as_str(), dropped,
                    "webhook queue full: oldest event dropped");
            }
        }
    }

    /// Attempts `(delivered, retried, failed)` so far: events answered with a 2xx, retries
    /// made, and events given up after the last retry.
    pub fn deliveries(&self) -> (u64, u64, u64) {
        let s = &self.stats;
        let load = |n: &AtomicU64| n.load(Ordering::Relaxed);
        (load(&s.delivered), load(&s.retried), load(&s.failed))
    }

    /// Events dropped, unsent, from a full queue.
    pub fn dropped(&self) -> u64 {
        self.stats.dropped.load(Ordering::Relaxed)
    }
}

impl Drop for Webhooks {
    fn drop(&mut self) {
        for outbox in &self.outboxes {
            outbox.closed.store(true, Ordering::Release);
            outbox.ready.notify_one();
        }
    }
}

/// Where one endpoint's task delivers.
struct Target {
    uri: Uri,
    secret: Zeroizing<Vec<u8>>,
    client: HttpClient,
    retry_base: Duration,
}

/// One endpoint's task: delivers queued events one at a time until shut down.
async fn deliver_all(target: Target, outbox: Arc<Outbox>, stats: Arc<Stats>) {
    while let Some(event) = outbox.next().await {
        if deliver(&target, &event, &stats).await {
            stats.delivered.fetch_add(1, Ordering::Relaxed);
        } else {
            stats.failed.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(id = %event.id, r#type = event.kind.as_str(),
                "webhook not delivered after {RETRIES} retries; given up");
        }
    }
}

/// Tries to deliver `event` with retries; true once an attempt got a 2xx.
async fn deliver(target: &Target, event: &Prepared, stats: &Stats) -> bool {
    for attempt in 0..=RETRIES {
        if attempt > 0 {
            stats.retried.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(target.retry_base * (1 << (attempt - 1))).await;
        }
        match attempt_once(target, event).await {
            Ok(status) if status.is_success() => return true,
            Ok(status) => tracing::debug!(id = %event.id, attempt, %status, "webhook refused"),
            Err(error) => tracing::debug!(id = %event.id, attempt, %error, "webhook failed"),
        }
    }
    false
}

/// One signed POST of `event`.
async fn attempt_once(
    target: &Target,
    event: &Prepared,
) -> Result<hyper::StatusCode, crate::oidc::HttpError> {
    let timestamp = (now_ms() / 1000).to_string();
    let signature = sign(&target.secret, &timestamp, &event.body);
    let request = hyper::Request::post(target.uri.clone())
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .header(hyper::header::USER_AGENT, "veil-webhooks/1")
        .header("veil-webhook-id", &event.id)
        .header("veil-webhook-timestamp", &timestamp)
        .header("veil-webhook-signature", signature)
        .body(event.body.to_vec())?;
    Ok(target.client.send(request).await?.status())
}

fn now_ms() -> u64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
}

/// Why a receiver refuses a request ([`verify`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the timestamp is not a number of seconds")]
    BadTimestamp,
    #[error("the timestamp is more than {TOLERANCE_SECS} s from now")]
    Stale,
    #[error("no valid v1 signature")]
    BadSignature,
    #[error("the id header does not match the id in the signed body")]
    IdMismatch,
    #[error("this id was seen before: a replay, or a retry of an event already handled")]
    Replayed,
}

/// The ids a receiver has accepted recently. An id is forgotten once its timestamp is past the
/// tolerance: the timestamp check refuses that request by then anyway.
#[derive(Debug, Default)]
pub struct ReplayGuard {
    seen: HashMap<String, u64>,
}

impl ReplayGuard {
    pub fn new() -> Self {
        Self::default()
    }

    /// Forgets `id`: for a receiver that accepted an event but failed to handle it, so that
    /// Veil's retry of it is accepted.
    pub fn forget(&mut self, id: &str) {
        self.seen.remove(id);
    }

    /// Ids remembered now.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    /// Remembers `id` unless it is remembered already; forgets expired ids first.
    fn admit(&mut self, id: &str, timestamp: u64, now: u64) -> bool {
        self.seen.retain(|_, t| t.saturating_add(TOLERANCE_SECS) >= now);
        if self.seen.contains_key(id) {
            return false;
        }
        self.seen.insert(id.to_owned(), timestamp);
        true
    }
}

/// Checks a webhook request as a receiver: the timestamp within [`TOLERANCE_SECS`] of
/// `now_unix`, a `v1=` signature (several may be given, separated by spaces or commas) of
/// `"{timestamp}.{body}"` under `secret`, compared in constant time, the `id` header equal to
/// the signed body's id, and an id not seen within the tolerance (it is remembered in `seen`).
/// Nothing is remembered from a request that fails.
pub fn verify(
    secret: &[u8],
    id: &str,
    timestamp: &str,
    signature: &str,
    body: &[u8],
    now_unix: u64,
    seen: &mut ReplayGuard,
) -> Result<(), VerifyError> {
    let sent: u64 = timestamp
        .parse()
        .ok()
        .filter(|_| timestamp.bytes().all(|b| b.is_ascii_digit()))
        .ok_or(VerifyError::BadTimestamp)?;
    if sent.abs_diff(now_unix) > TOLERANCE_SECS {
        return Err(VerifyError::Stale);
    }
    let expected = mac(secret, timestamp, body);
    let valid = signature
        .split([' ', ','])
        .filter_map(|s| s.strip_prefix("v1="))
        .filter_map(decode_hex32)
        .fold(false, |any, given| any | bool::from(given.ct_eq(&expected)));
    if !valid {
        return Err(VerifyError::BadSignature);
    }
    #[derive(serde::Deserialize)]
    struct Id<'a> {
        #[serde(borrow)]
        id: std::borrow::Cow<'a, str>,
    }
    match serde_json::from_slice::<Id>(body) {
        Ok(signed) if signed.id == id => {}
        _ => return Err(VerifyError::IdMismatch),
    }
    if !seen.admit(id, sent, now_unix) {
        return Err(VerifyError::Replayed);
    }
    Ok(())
}

/// 64 hex digits as 32 bytes.
fn decode_hex32(hex: &str) -> Option<[u8; 32]> {
    let hex = hex.as_bytes();
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        let digits = std::str::from_utf8(pair).ok()?;
        *byte = u8::from_str_radix(digits, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123";

    fn signed(now: u64) -> (String, String, String, Vec<u8>) {
        let p = Prepared::new(&Event::participant_joined("r_1", &ParticipantId("p_1".into())));
        let ts = now.to_string();
        let sig = sign(SECRET, &ts, &p.body);
        (p.id, ts, sig, p.body.to_vec())
    }

    #[test]
    fn a_signed_event_verifies_once() {
        let now = 1_700_000_000;
        let (id, ts, sig, body) = signed(now);
        let mut guard = ReplayGuard::new();
        assert_eq!(verify(SECRET, &id, &ts, &sig, &body, now + 10, &mut guard), Ok(()));
        let again = verify(SECRET, &id, &ts, &sig, &body, now + 11, &mut guard);
        assert_eq!(again, Err(VerifyError::Replayed));
        guard.forget(&id);
        assert_eq!(verify(SECRET, &id, &ts, &sig, &body, now + 12, &mut guard), Ok(()));
    }

    #[test]
    fn tampering_fails() {
        let now = 1_700_000_000;
        let (id, ts, sig, body) = signed(now);
        let mut guard = ReplayGuard::new();
        let wrong = b"another secret, long enough";
        assert_eq!(
            verify(wrong, &id, &ts, &sig, &body, now, &mut guard),
            Err(VerifyError::BadSignature)
        );
        let mut changed = body.clone();
        let n = changed.len();
        changed[n - 2] ^= 1;
        assert_eq!(
            verify(SECRET, &id, &ts, &sig, &changed, now, &mut guard),
            Err(VerifyError::BadSignature)
        );
        let later = (now + 1).to_string();
        assert_eq!(
            verify(SECRET, &id, &later, &sig, &body, now, &mut guard),
            Err(VerifyError::BadSignature)
        );
        assert_eq!(
            verify(SECRET, &id, &ts, &sig, &body, now + TOLERANCE_SECS + 1, &mut guard),
            Err(VerifyError::Stale)
        );
        assert_eq!(
            verify(SECRET, "other", &ts, &sig, &body, now, &mut guard),
            Err(VerifyError::IdMismatch)
        );
        assert_eq!(
            verify(SECRET, &id, "+1", &sig, &body, now, &mut guard),
            Err(VerifyError::BadTimestamp)
        );
        assert!(guard.is_empty(), "failures are not remembered");
    }

    #[test]
    fn the_signature_is_the_documented_hmac() {
        // Computed independently (Python's hmac), as docs/webhooks.md describes it.
        let sig = sign(SECRET, "1764547200", br#"{"id":"x"}"#);
        assert_eq!(sig, "v1=783f511cc26533c24224b8d4eb8338c94e10770c33d0403754741edb2187d714");
        let mut guard = ReplayGuard::new();
        let several = format!("v1=00, {sig}");
        let result =
            verify(SECRET, "x", "1764547200", &several, br#"{"id":"x"}"#, 1764547200, &mut guard);
        assert_eq!(result, Ok(()), "any of several signatures will do");
    }

    #[test]
    fn expired_ids_are_forgotten() {
        let mut guard = ReplayGuard::new();
        assert!(guard.admit("a", 100, 100));
        assert!(guard.admit("b", 350, 350));
        assert!(!guard.admit("a", 100, 400));
        assert!(guard.admit("c", 401, 401));
        assert_eq!(guard.len(), 2, "a is past the tolerance");
    }

    #[test]
    fn bodies_carry_ids_only() {
        let mut event = Event::track("r_1", &ParticipantId("p_1".into()), Source::Screen, true);
        event.time_ms = 5;
        let p = Prepared::new(&event);
        let body: serde_json::Value = serde_json::from_slice(&p.body).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"id": p.id, "type": "track_published", "time": 5, "room": "r_1",
                "participant": "p_1", "track": {"kind": "video", "source": "screen"}})
        );
        assert_eq!(p.id.len(), 32);
    }

    #[test]
    fn endpoints_are_checked() {
        let ok = WebhookEndpoint {
            url: "https://hooks.example.org/veil".into(),
            secret: "x".repeat(16),
        };
        assert_eq!(ok.validate(), Ok(()));
        for url in ["ftp://example.org/", "example.org/hook", "http:///x", ""] {
            let bad = WebhookEndpoint { url: url.into(), ..ok.clone() };
            assert_eq!(bad.validate(), Err(WebhookConfigError::Url(url.into())), "{url}");
        }
        let short = WebhookEndpoint { secret: "short".into(), ..ok.clone() };
        assert!(matches!(short.validate(), Err(WebhookConfigError::ShortSecret { len: 5, .. })));
        assert!(!format!("{ok:?}").contains("xxxx"), "the secret stays out of Debug");
    }
}
