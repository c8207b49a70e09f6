//! The operator's HTTP routes: `/metrics` for Prometheus, and the `/admin` dashboard with its
//! data (docs/metrics.md). What they serve is in [`crate::metrics`].

use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use subtle::ConstantTimeEq;

use crate::AppState;
use crate::admin::authorize;
use crate::assets::{self, PageError};
use crate::audit::{AuditEvent, AuthFailure};
use crate::metrics::SAMPLE_INTERVAL;

/// Who may read `/metrics`, and where.
#[derive(Clone, Default)]
pub struct MetricsAccess {
    /// The bearer token a scrape must present; none: anyone who reaches the address.
    pub token: Option<String>,
    /// `/metrics` is served on an address of its own ([`metrics_app`]), not the main one.
    pub separate_address: bool,
}

impl std::fmt::Debug for MetricsAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsAccess")
            .field("token", &self.token.as_ref().map(|_| "…"))
            .field("separate_address", &self.separate_address)
            .finish()
    }
}

/// The routes on the main address: `/admin`, its data, and `/metrics` unless it has an address
/// of its own.
pub(crate) fn routes(state: &AppState) -> Router<AppState> {
    let router =
        Router::new().route("/admin", get(admin_page)).route("/admin/api/stats", get(admin_stats));
    if state.metrics_access().separate_address {
        router
    } else {
        router.route("/metrics", get(metrics))
    }
}

/// `/metrics` alone, for its own address (`--metrics-http`).
pub fn metrics_app(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .fallback(|| async { StatusCode::NOT_FOUND })
        .with_state(state)
}

/// `GET /metrics`: every series in the Prometheus text format.
async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(token) = &state.metrics_access().token {
        let presented = bearer(&headers);
        if !bool::from(presented.as_bytes().ct_eq(token.as_bytes())) {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                "send the metrics token as `Authorization: Bearer TOKEN`\n",
            )
                .into_response();
        }
    }
    refresh(&state);
    let body = state.metrics().encode();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body).into_response()
}

fn bearer(headers: &HeaderMap) -> &str {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .unwrap_or("")
}

/// Brings the gauges that are read from elsewhere up to date.
fn refresh(state: &AppState) {
    let (rooms, participants, lobby) = state.rooms().census();
    state.metrics().refresh(rooms, participants, lobby);
}

/// `GET /admin`: the dashboard page, which asks for the admin key itself. A server without an
/// admin key has no dashboard.
async fn admin_page(State(state): State<AppState>) -> Result<Response, PageError> {
    if state.admin_key().is_none() {
        return Err(PageError::NotFound);
    }
    assets::serve_page(&state.config().assets_dir, "admin.html").await
}

/// `GET /admin/api/stats`: the dashboard's data, for the admin key only.
async fn admin_stats(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(refusal) = authorize(&state, &headers) {
        if state.admin_key().is_some() {
            let what = AuthFailure::AdminUnauthorized;
            state.audit().record(AuditEvent::AuthFailed { what, room: None, participant: None });
        }
        return refusal.into_response();
    }
    Json(state.metrics().dashboard()).into_response()
}

/// Samples the dashboard's history every [`SAMPLE_INTERVAL`] until the runtime stops.
pub async fn run_sampler(state: AppState) {
    let mut tick = tokio::time::interval(SAMPLE_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        refresh(&state);
        let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_millis();
        state.metrics().sample(now_ms as u64);
    }
}
