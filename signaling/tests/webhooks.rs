//! Webhooks end to end: a real signaling server with WebSocket clients, and a real HTTP
//! receiver on a loopback port that checks every request with `webhooks::verify`. Deliveries
//! arrive signed and in order, a failing receiver gets the same event again, replays and
//! forgeries are refused, and no body says who or where.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Request, StatusCode};
use axum::routing::post;
use common::{Client, PATIENCE, Server};
use serde_json::{Value, json};
use tower::ServiceExt;
use veil_signaling::webhooks::{self, ReplayGuard, VerifyError, WebhookEndpoint, Webhooks};
use veil_signaling::{SignalingConfig, app};

const ROOM: &str = "hooks-room-name";
const IDENTITY: &str = "alice-identity";
const SECRET: &str = "test-secret-0123456789abcdef";

/// One request as the receiver saw it.
#[derive(Debug, Clone)]
struct Attempt {
    id: String,
    timestamp: String,
    signature: String,
    content_type: String,
    body: Vec<u8>,
    verified: Result<(), VerifyError>,
    status: StatusCode,
}

impl Attempt {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a webhook body is JSON")
    }
}

/// A webhook receiver: verifies each request, records it, and fails the first `fail_first`
/// verified ones with a 500 (forgetting their ids, as a receiver that could not handle an
/// event must, so that the retry is accepted).
#[derive(Clone)]
struct Receiver {
    url: String,
    fail_first: usize,
    attempts: Arc<Mutex<Vec<Attempt>>>,
    guard: Arc<Mutex<ReplayGuard>>,
}

fn header(headers: &HeaderMap, name: &str) -> String {
    headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
}

async fn hook(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let (id, timestamp, signature) = (
        header(&headers, "veil-webhook-id"),
        header(&headers, "veil-webhook-timestamp"),
        header(&headers, "veil-webhook-signature"),
    );
    let now = veil_signaling::token::now_unix();
    let mut guard = r.guard.lock().unwrap();
    let verified =
        webhooks::verify(SECRET.as_bytes(), &id, &timestamp, &signature, &body, now, &mut guard);
    let mut attempts = r.attempts.lock().unwrap();
    let status = match &verified {
        Err(_) => StatusCode::BAD_REQUEST,
        Ok(()) if attempts.iter().filter(|a| a.verified.is_ok()).count() < r.fail_first => {
            guard.forget(&id);
            StatusCode::INTERNAL_SERVER_ERROR
        }
        Ok(()) => StatusCode::NO_CONTENT,
    };
    attempts.push(Attempt {
        id,
        timestamp,
        signature,
        content_type: header(&headers, "content-type"),
        body: body.to_vec(),
        verified,
        status,
    });
    status
}

impl Receiver {
    async fn start(fail_first: usize) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let receiver = Self {
            url,
            fail_first,
            attempts: Arc::default(),
            guard: Arc::new(Mutex::new(ReplayGuard::new())),
        };
        let routes = axum::Router::new().route("/hook", post(hook)).with_state(receiver.clone());
        tokio::spawn(axum::serve(listener, routes).into_future());
        receiver
    }

    fn attempts(&self) -> Vec<Attempt> {
        self.attempts.lock().unwrap().clone()
    }

    /// Waits for `n` requests and returns all so far.
    async fn wait_for(&self, n: usize) -> Vec<Attempt> {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let attempts = self.attempts();
            if attempts.len() >= n {
                return attempts;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "expected {n} webhook requests, got {}: {:#?}",
                attempts.len(),
                attempts.iter().map(Attempt::json).collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// A server whose webhooks go to `receiver`, retrying after multiples of `retry_base`.
async fn server_for(receiver: &Receiver, retry_base: Duration) -> (Server, Arc<Webhooks>) {
    let endpoint = WebhookEndpoint { url: receiver.url.clone(), secret: SECRET.into() };
    let config = SignalingConfig {
        webhooks: vec![endpoint],
        webhook_retry_base: retry_base,
        ..SignalingConfig::default()
    };
    config.validate().expect("the test's config is valid");
    let hooks = Webhooks::start(&config);
    let server = Server::with_config(config).await;
    let _ = server.state.clone().with_webhooks(hooks.clone());
    (server, hooks)
}

/// The opaque ids of the rooms, as the admin API lists them.
async fn room_ids(server: &Server) -> Vec<String> {
    let request = Request::get("/api/rooms")
        .header("authorization", format!("Bearer {}", server.admin_key.to_hex()))
        .body(Body::empty())
        .unwrap();
    let response = app(server.state.clone()).oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
    let listed: Value = serde_json::from_slice(&body).unwrap();
    let rooms = listed["rooms"].as_array().expect("a list of rooms").clone();
    rooms.iter().map(|r| r["id"].as_str().unwrap().to_owned()).collect()
}

fn publish(microphone: bool) -> Value {
    json!({"v": 2, "type": "publish_state", "microphone": microphone, "camera": false,
        "screen": false})
}

#[tokio::test]
async fn a_meeting_is_told_in_signed_events_that_name_nobody() {
    let receiver = Receiver::start(0).await;
    let (server, hooks) = server_for(&receiver, Duration::from_millis(50)).await;
    let token = server.token(ROOM, Some(IDENTITY));
    let mut client = Client::connect(server.addr, None).await;
    let joined = client.join(ROOM, &token).await;
    let participant = joined["participant_id"].as_str().unwrap().to_owned();
    let rooms = room_ids(&server).await;
    assert_eq!(rooms.len(), 1);
    let room = rooms[0].clone();

    receiver.wait_for(2).await;
    client.send(publish(true)).await;
    receiver.wait_for(3).await;
    client.send(publish(false)).await;
    receiver.wait_for(4).await;
    client.send(publish(true)).await;
    receiver.wait_for(5).await;
    client.leave().await;
    let attempts = receiver.wait_for(8).await;

    let track = json!({"kind": "audio", "source": "microphone"});
    let expected = [
        ("room_started", None, None),
        ("participant_joined", Some(&participant), None),
        ("track_published", Some(&participant), Some(&track)),
        ("track_unpublished", Some(&participant), Some(&track)),
        ("track_published", Some(&participant), Some(&track)),
        // Leaving takes the microphone with it.
        ("track_unpublished", Some(&participant), Some(&track)),
        ("participant_left", Some(&participant), None),
        ("room_finished", None, None),
    ];
    assert_eq!(attempts.len(), expected.len(), "nothing more than that");
    let mut last_time = 0;
    for (attempt, (ty, who, what)) in attempts.iter().zip(expected) {
        assert_eq!(attempt.verified, Ok(()), "{attempt:?}");
        assert_eq!(attempt.status, StatusCode::NO_CONTENT);
        assert_eq!(attempt.content_type, "application/json");
        assert!(attempt.signature.starts_with("v1=") && attempt.signature.len() == 67);
        let body = attempt.json();
        assert_eq!(body["type"], ty, "{body}");
        assert_eq!(body["id"], attempt.id.as_str());
        assert_eq!(attempt.id.len(), 32);
        assert_eq!(body["room"], room.as_str(), "the room by its opaque id: {body}");
        assert_eq!(body["participant"].as_str(), who.map(String::as_str), "{body}");
        assert_eq!(body.get("track"), what, "{body}");
        let time = body["time"].as_u64().expect("a time in ms");
        assert!(time >= last_time && time > 1_600_000_000_000, "{body}");
        last_time = time;
        let fields: Vec<&String> = body.as_object().unwrap().keys().collect();
        assert!(fields.len() <= 6, "{body}");

        let text = String::from_utf8(attempt.body.clone()).unwrap();
        for secret in [ROOM, IDENTITY, "127.0.0.1", token.as_str(), SECRET] {
            assert!(!text.contains(secret), "{secret:?} in a webhook body: {text}");
        }
    }
    assert_eq!(hooks.deliveries(), (8, 0, 0));
    assert_eq!(hooks.dropped(), 0);
}

#[tokio::test]
async fn a_failing_receiver_gets_the_same_event_again() {
    let receiver = Receiver::start(2).await;
    let (server, hooks) = server_for(&receiver, Duration::from_millis(50)).await;
    let (client, _) = server.joined(ROOM, Some(IDENTITY)).await;
    let attempts = receiver.wait_for(3).await;

    let first = &attempts[0];
    assert_eq!(first.json()["type"], "room_started");
    for (n, attempt) in attempts[..3].iter().enumerate() {
        assert_eq!(attempt.verified, Ok(()), "attempt {n} is signed: {attempt:?}");
        assert_eq!(attempt.id, first.id, "attempt {n} is the same event");
        assert_eq!(attempt.body, first.body, "attempt {n} carries the same body");
    }
    let statuses: Vec<u16> = attempts[..3].iter().map(|a| a.status.as_u16()).collect();
    assert_eq!(statuses, [500, 500, 204]);

    // Then the next event, delivered at once.
    let attempts = receiver.wait_for(4).await;
    assert_eq!(attempts[3].json()["type"], "participant_joined");
    assert_eq!(attempts[3].status, StatusCode::NO_CONTENT);
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while hooks.deliveries() != (2, 2, 0) {
        assert!(tokio::time::Instant::now() < deadline, "{:?}", hooks.deliveries());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    drop(client);
}

#[tokio::test]
async fn a_receiver_that_never_accepts_makes_the_server_give_up() {
    let receiver = Receiver::start(usize::MAX).await;
    let (server, hooks) = server_for(&receiver, Duration::from_millis(1)).await;
    let (_client, _) = server.joined(ROOM, Some(IDENTITY)).await;
    // Two events, each tried once and retried five times.
    let attempts = receiver.wait_for(12).await;
    assert!(attempts.iter().all(|a| a.status == StatusCode::INTERNAL_SERVER_ERROR));
    assert_eq!(attempts.iter().filter(|a| a.id == attempts[0].id).count(), 6);
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while hooks.deliveries() != (0, 10, 2) {
        assert!(tokio::time::Instant::now() < deadline, "{:?}", hooks.deliveries());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(receiver.attempts().len(), 12, "nothing after giving up");
}

#[tokio::test]
async fn replays_forgeries_and_stale_requests_are_refused() {
    let receiver = Receiver::start(0).await;
    let (server, _hooks) = server_for(&receiver, Duration::from_millis(50)).await;
    let (_client, _) = server.joined(ROOM, Some(IDENTITY)).await;
    let captured = receiver.wait_for(1).await[0].clone();
    assert_eq!(captured.verified, Ok(()));
    let now = veil_signaling::token::now_unix();
    let check = |secret: &str, id: &str, ts: &str, sig: &str, body: &[u8], now: u64| {
        let mut guard = receiver.guard.lock().unwrap();
        webhooks::verify(secret.as_bytes(), id, ts, sig, body, now, &mut guard)
    };
    let (id, ts, sig, body) =
        (&captured.id, &captured.timestamp, &captured.signature, &captured.body[..]);

    // The very same request again: a replay.
    assert_eq!(check(SECRET, id, ts, sig, body, now), Err(VerifyError::Replayed));
    // Replayed under another id header: the signed body still names the first id.
    assert_eq!(
        check(SECRET, "00000000000000000000000000000000", ts, sig, body, now),
        Err(VerifyError::IdMismatch)
    );
    // Forged: a signature of our own making, a wrong secret, a changed body or timestamp.
    let forged = format!("v1={}", "ab".repeat(32));
    assert_eq!(check(SECRET, id, ts, &forged, body, now), Err(VerifyError::BadSignature));
    let wrong = "another-secret-0123456789";
    assert_eq!(check(wrong, id, ts, sig, body, now), Err(VerifyError::BadSignature));
    let changed =
        String::from_utf8(body.to_vec()).unwrap().replace("room_started", "room_finished");
    assert_eq!(check(SECRET, id, ts, sig, changed.as_bytes(), now), Err(VerifyError::BadSignature));
    let later = (ts.parse::<u64>().unwrap() + 1).to_string();
    assert_eq!(check(SECRET, id, &later, sig, body, now), Err(VerifyError::BadSignature));
    // Stale: the same request six minutes on, even to a receiver that forgot the id.
    let mut fresh = ReplayGuard::new();
    let stale = webhooks::verify(SECRET.as_bytes(), id, ts, sig, body, now + 360, &mut fresh);
    assert_eq!(stale, Err(VerifyError::Stale));
    // Re-signed properly, it is fine for a receiver that has not seen it.
    let resigned = webhooks::sign(SECRET.as_bytes(), ts, body);
    assert_eq!(&resigned, sig);
    assert_eq!(webhooks::verify(SECRET.as_bytes(), id, ts, sig, body, now, &mut fresh), Ok(()));
}

#[tokio::test]
async fn a_host_mute_and_a_replaced_connection_are_told_too() {
    let receiver = Receiver::start(0).await;
    let (server, _hooks) = server_for(&receiver, Duration::from_millis(50)).await;
    let host_token = server.token_with(ROOM, Some("chair"), veil_proto::room::Grants::host());
    let mut host = Client::connect(server.addr, None).await;
    let host_id = host.join(ROOM, &host_token).await["participant_id"].as_str().unwrap().to_owned();
    let (mut guest, joined) = server.joined(ROOM, Some(IDENTITY)).await;
    let guest_id = joined["participant_id"].as_str().unwrap().to_owned();
    receiver.wait_for(3).await;
    guest.send(publish(true)).await;
    receiver.wait_for(4).await;
    let mute = json!({"v": 2, "type": "mute", "participant_id": guest_id, "source": "microphone"});
    host.send(mute).await;
    receiver.wait_for(5).await;
    // The same identity again: the first connection is replaced.
    let (_again, rejoined) = server.joined(ROOM, Some(IDENTITY)).await;
    let again_id = rejoined["participant_id"].as_str().unwrap().to_owned();
    let attempts = receiver.wait_for(7).await;

    let seen: Vec<(String, String)> = attempts
        .iter()
        .map(|a| {
            assert_eq!(a.verified, Ok(()));
            let body = a.json();
            let who = body["participant"].as_str().unwrap_or("-").to_owned();
            (body["type"].as_str().unwrap().to_owned(), who)
        })
        .collect();
    let expected = [
        ("room_started", "-"),
        ("participant_joined", host_id.as_str()),
        ("participant_joined", guest_id.as_str()),
        ("track_published", guest_id.as_str()),
        ("track_unpublished", guest_id.as_str()),
        ("participant_left", guest_id.as_str()),
        ("participant_joined", again_id.as_str()),
    ];
    let expected: Vec<(String, String)> =
        expected.iter().map(|(t, p)| (t.to_string(), p.to_string())).collect();
    assert_eq!(seen, expected);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(receiver.attempts().len(), 7, "the replaced connection leaves only once");
}
