//! The plain HTTP routes, called in-process with `oneshot`.

use std::path::PathBuf;
use std::sync::Arc;

use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode, header};
use tower::ServiceExt;
use veil_proto::media::{MediaCommand, MediaPlane};
use veil_signaling::token::ApiSecret;
use veil_signaling::{AppState, SignalingConfig, app};

struct NoMedia;

impl MediaPlane for NoMedia {
    fn send(&self, _: MediaCommand) {}
}

/// A temporary assets directory, removed on drop.
struct Assets(PathBuf);

impl Assets {
    fn new(with_index: bool) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "veil-signaling-test-{}-{}",
            std::process::id(),
            rand_suffix()
        ));
        std::fs::create_dir_all(dir.join("assets")).unwrap();
        if with_index {
            std::fs::write(dir.join("index.html"), "<!doctype html><title>Veil</title>").unwrap();
        }
        std::fs::write(dir.join("assets/app.js"), "console.log('veil')").unwrap();
        Self(dir)
    }
}

impl Drop for Assets {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::SystemTime::now())
}

async fn get(assets: &Assets, uri: &str) -> (StatusCode, String, axum::http::HeaderMap) {
    let config = SignalingConfig { assets_dir: assets.0.clone(), ..Default::default() };
    let state = AppState::new(
        config,
        ApiSecret::generate(),
        Arc::new(NoMedia),
        Arc::new(veil_ds::Verifier::generate().unwrap()),
    )
    .unwrap();
    let request = Request::get(uri).body(Body::empty()).unwrap();
    let response = app(state).oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = to_bytes(response.into_body(), 1 << 20).await.unwrap();
    (status, String::from_utf8(body.to_vec()).unwrap(), headers)
}

#[tokio::test]
async fn healthz_answers_ok() {
    let assets = Assets::new(false);
    let (status, body, _) = get(&assets, "/healthz").await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "ok"));
}

#[tokio::test]
async fn room_page_serves_index_html() {
    let assets = Assets::new(true);
    for uri in ["/r/standup", "/r/team.q4_sync-2", "/"] {
        let (status, body, headers) = get(&assets, uri).await;
        assert_eq!(status, StatusCode::OK, "{uri}");
        assert!(body.contains("<title>Veil</title>"), "{uri}: {body}");
        assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
        assert_eq!(headers[header::REFERRER_POLICY], "no-referrer");
    }
}

#[tokio::test]
async fn room_page_with_invalid_name_is_404() {
    let assets = Assets::new(true);
    let long = format!("/r/{}", "x".repeat(65));
    for uri in ["/r/bad%20name", "/r/..", "/r/%C3%A9t%C3%A9", "/r/a%2Fb", long.as_str()] {
        let (status, body, _) = get(&assets, uri).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{uri}");
        assert!(body.contains("room name is not valid"), "{uri}: {body}");
    }
}

#[tokio::test]
async fn missing_client_build_is_503_with_instructions() {
    let assets = Assets::new(false);
    let (status, body, _) = get(&assets, "/r/standup").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body.contains("make client"), "{body}");
    assert!(!body.contains(assets.0.to_str().unwrap()), "no server paths for visitors");
}

#[tokio::test]
async fn assets_are_served_and_unknown_paths_are_404() {
    let assets = Assets::new(true);
    let (status, body, headers) = get(&assets, "/assets/app.js").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "console.log('veil')");
    assert!(headers[header::CONTENT_TYPE].to_str().unwrap().contains("javascript"));
    assert_eq!(headers["x-content-type-options"], "nosniff");

    for uri in ["/assets/missing.js", "/assets/../index.html", "/nothing-here"] {
        let (status, _, _) = get(&assets, uri).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{uri}");
    }
}
