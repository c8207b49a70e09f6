//! What an operator reads (docs/metrics.md), over real HTTP routing beside real WebSocket
//! participants: `/metrics` follows joins, errors, quality reports and first media; its bearer
//! token and its own address are honoured; the dashboard's data needs the admin key; and no
//! series names a room, an identity, an address or a token.

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode};
use common::Server;
use serde_json::{Value, json};
use tower::ServiceExt;
use veil_proto::media::MediaEvent;
use veil_signaling::{Metrics, MetricsAccess, app, metrics_app};

const ROOM: &str = "quarterly-review";

async fn get(router: axum::Router, path: &str, bearer: Option<&str>) -> (StatusCode, String) {
    let mut request = Request::builder().uri(path);
    if let Some(key) = bearer {
        request = request.header("authorization", format!("Bearer {key}"));
    }
    let response = router.oneshot(request.body(Body::empty()).unwrap()).await.unwrap();
    let status = response.status();
    let bytes = to_bytes(response.into_body(), 1 << 22).await.unwrap();
    (status, String::from_utf8(bytes.to_vec()).unwrap())
}

/// The value of the series `name` (with its labels, as exposed) in a scrape.
fn value(scrape: &str, series: &str) -> f64 {
    scrape
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {series} in the scrape"))
}

/// Scrapes until `series` reads `want` (figures follow the WebSocket tasks a moment later).
async fn until(server: &Server, series: &str, want: f64) -> String {
    for _ in 0..100 {
        let (status, scrape) = get(app(server.state.clone()), "/metrics", None).await;
        assert_eq!(status, StatusCode::OK);
        if value(&scrape, series) == want {
            return scrape;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{series} never reached {want}");
}

#[tokio::test]
async fn metrics_follow_joins_errors_reports_and_first_media() {
    let server = Server::start().await;
    let (mut ada, joined) = server.joined(ROOM, Some("ada@example.org")).await;
    let (mut bob, _) = server.joined(ROOM, Some("bob@example.org")).await;
    ada.expect("participant_joined").await;
    until(&server, "veil_participants", 2.0).await;

    // Both report; ada's second report, too soon after her first, does not count.
    let report = |quality: &str, failures: u32| json!({"v": 2, "type": "quality_report", "quality": quality, "decrypt_failures": failures});
    ada.send(report("poor", 3)).await;
    ada.send(report("good", 1000)).await;
    bob.send(report("good", 0)).await;
    // A message the server refuses counts under its code.
    bob.send_raw("{not json".into()).await;
    bob.expect_error("bad_message", false).await;
    // The SFU says ada's media flows: her join time is measured once.
    let session = server.plane.session_of(joined["participant_id"].as_str().unwrap()).await;
    server.plane.emit(session, MediaEvent::MediaFlowing);
    server.plane.emit(session, MediaEvent::MediaFlowing);

    let scrape = until(&server, r#"veil_participants_by_quality{quality="good"}"#, 1.0).await;
    assert_eq!(value(&scrape, r#"veil_participants_by_quality{quality="poor"}"#), 1.0);
    assert_eq!(value(&scrape, r#"veil_quality_reports_total{quality="poor"}"#), 1.0);
    assert_eq!(value(&scrape, r#"veil_quality_reports_total{quality="good"}"#), 1.0);
    assert_eq!(value(&scrape, "veil_client_decrypt_failures_total"), 3.0);
    assert_eq!(value(&scrape, r#"veil_signaling_errors_total{code="bad_message"}"#), 1.0);
    assert_eq!(value(&scrape, "veil_signaling_connections"), 2.0);
    assert_eq!(value(&scrape, "veil_joins_total"), 2.0);
    assert_eq!(value(&scrape, "veil_rooms"), 1.0);
    let scrape = until(&server, "veil_join_seconds_count", 1.0).await;
    assert!(value(&scrape, "process_resident_memory_bytes") > 1e6);
    assert!(value(&scrape, "process_open_fds") > 0.0);

    // No series names the room, an identity, an address or a token.
    for secret in [ROOM, "ada@example.org", "bob@example.org", "127.0.0.1"] {
        assert!(!scrape.contains(secret), "the scrape names {secret}");
    }
    assert!(!scrape.contains(&server.token(ROOM, Some("ada@example.org"))[..20]));

    // A participant who leaves no longer counts under its grade.
    ada.leave().await;
    until(&server, r#"veil_participants_by_quality{quality="poor"}"#, 0.0).await;
    until(&server, "veil_signaling_connections", 1.0).await;
}

#[tokio::test]
async fn a_metrics_token_is_required_when_set() {
    let server = Server::start().await;
    let token = "scrape-token-0123456789";
    let access = MetricsAccess { token: Some(token.into()), separate_address: false };
    let state = server.state.clone().with_metrics(Arc::new(Metrics::standalone()), access);
    let (status, _) = get(app(state.clone()), "/metrics", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = get(app(state.clone()), "/metrics", Some("scrape-token-wrong-456789")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Neither the admin key nor the join-token secret is the metrics token.
    let (status, _) = get(app(state.clone()), "/metrics", Some(&server.admin_key.to_hex())).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = get(app(state), "/metrics", Some(token)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("# TYPE veil_signaling_connections gauge"), "{body}");
}

#[tokio::test]
async fn metrics_on_their_own_address_leave_the_main_one() {
    let server = Server::start().await;
    let access = MetricsAccess { token: None, separate_address: true };
    let state = server.state.clone().with_metrics(Arc::new(Metrics::standalone()), access);
    let (status, _) = get(app(state.clone()), "/metrics", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = get(metrics_app(state.clone()), "/metrics", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("veil_participants "), "{body}");
    // The metrics address serves nothing else.
    let (status, _) = get(metrics_app(state), "/admin/api/stats", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_dashboard_data_needs_the_admin_key() {
    let server = Server::start().await;
    let (_ada, _) = server.joined(ROOM, Some("ada")).await;
    let stats = "/admin/api/stats";
    let (status, _) = get(app(server.state.clone()), stats, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = get(app(server.state.clone()), stats, Some(&server.secret.to_hex())).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the token-signing secret is not the admin key");
    let token = server.token(ROOM, Some("ada"));
    let (status, _) = get(app(server.state.clone()), stats, Some(&token)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a join token is not the admin key");
    let refusals = server.audit.events().iter().filter(|e| e.kind() == "auth_failed").count();
    assert_eq!(refusals, 3, "each refusal is in the audit log");

    let (status, body) =
        get(app(server.state.clone()), stats, Some(&server.admin_key.to_hex())).await;
    assert_eq!(status, StatusCode::OK);
    let data: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(data["interval_ms"], 2000);
    assert!(data["samples"].is_array() && data["worst_subscribers"].is_array(), "{data}");
}
