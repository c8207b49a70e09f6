//! Veil's signaling service: who may join which meeting, who is in it, and the SDP exchange
//! between each browser and the SFU.
//!
//! # The model
//!
//! A participant holds a **join token** ([`token`]): an HS256 JWT minted with the deployment's
//! [`token::ApiSecret`] that names a room, optionally an identity, and an expiry. A display
//! name never reaches the server: the join link carries a suggested one in its fragment, and
//! members exchange names inside the encrypted MLS group. The browser loads the client from `/r/{room}` ([`assets`]), reads the token from the
//! URL fragment (never sent to the server) and opens one WebSocket at `/ws`.
//!
//! Each WebSocket is a small state machine (`ws`): it must `join` within 10 s; the join is
//! checked (protocol version, token, room) and the participant gets a random
//! [`veil_proto::ParticipantId`] and a [`veil_proto::media::SessionId`]. The connection then
//! relays SDP between the client and the SFU through [`veil_proto::media::MediaPlane`], and
//! presence (joins, mute state, leaves) between the members of its room.
//!
//! Rooms live in one registry (`rooms`) behind a mutex that is never held across an `await`.
//! Every message to a client goes through that client's bounded outbound queue, drained by its
//! own writer task (`outbound`): a slow or vanished client fills only its own queue, and is
//! dropped when it is full, so it never holds up the room.
//!
//! What signaling never sees: media (that is the SFU's, and encrypted end to end anyway), media
//! keys, display names and chat. It verifies the rooms' MLS commits against each group's public
//! state through [`DeliveryService`] (`mls`), holding no group secret. What it keeps out of logs at `info`: IP addresses, tokens, identities, display
//! names and room names; session ids, participant ids and error codes are logged instead.
//!
//! # Routes
//!
//! | route | what |
//! |---|---|
//! | `GET /ws` | the signaling WebSocket (`docs/protocol.md`) |
//! | `GET /r/{room}` | the client's `index.html` (404 for an invalid room name) |
//! | `GET /` | the client's `index.html`, which asks for a join link |
//! | `GET /assets/*` | the client's files |
//! | `GET /healthz` | `ok` |
//! | `GET /auth/status`, `/auth/login`, `/auth/callback` | sign-in through an OpenID provider (`oidc`) |
//! | `POST /api/rooms/{room}/revocations` | the operator revokes an identity or token id (`admin`) |
//! | `GET /metrics` | Prometheus series, unless on an address of their own (`operator`) |
//! | `GET /admin`, `/admin/api/stats` | the operator's dashboard, behind the admin key (`operator`) |
//!
//! Signaling also calls out: signed webhooks about rooms, participants and tracks go to the
//! URLs in [`SignalingConfig::webhooks`] ([`webhooks`]).

mod admin;
pub mod assets;
pub mod audit;
pub mod cluster;
pub mod config;
pub mod revocations;
pub mod token;
pub mod turn;

mod actions;
mod inbound;
pub mod metrics;
pub mod mls;
pub mod oidc;
pub mod operator;
mod outbound;
mod rooms;
pub mod webhooks;
mod ws;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::http::{HeaderName, HeaderValue, header};
use axum::routing::get;
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;
use veil_proto::media::{MediaPlane, SessionId};

pub use config::SignalingConfig;
pub use metrics::Metrics;
pub use mls::DeliveryService;
pub use operator::{MetricsAccess, metrics_app, run_sampler};

use revocations::Revocations;
use rooms::Registry;

/// Everything the routes share. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Shared>,
    /// Sign-in through an OpenID provider, when configured ([`AppState::with_sign_in`]).
    sign_in: Option<Arc<oidc::SignIn>>,
    /// Where security-relevant events go ([`AppState::with_audit`]); none by default.
    audit: Arc<audit::AuditLog>,
    /// The node's series ([`AppState::with_metrics`]); a registry of its own by default.
    metrics: Arc<Metrics>,
    metrics_access: Arc<MetricsAccess>,
    /// Where rooms live when several nodes share them ([`AppState::with_directory`]).
    directory: Option<Arc<dyn cluster::RoomDirectory>>,
}

/// The keys signaling holds.
pub struct Secrets {
    /// Signs and checks join tokens.
    pub api: token::ApiSecret,
    /// Opens the admin API (`/api`); without one the admin API answers 404.
    pub admin: Option<token::ApiSecret>,
}

impl From<token::ApiSecret> for Secrets {
    /// Join tokens only, no admin API.
    fn from(api: token::ApiSecret) -> Self {
        Self { api, admin: None }
    }
}

struct Shared {
    config: SignalingConfig,
    secret: token::ApiSecret,
    admin_key: Option<token::ApiSecret>,
    media: Arc<dyn MediaPlane>,
    delivery: Arc<dyn DeliveryService>,
    rooms: Registry,
    next_session: AtomicU64,
}

impl AppState {
    /// State for [`app`]. Call [`SignalingConfig::validate`] first: a config that can't work is
    /// used as given. Fails only when the revocation list on disk cannot be read.
    pub fn new(
        config: SignalingConfig,
        secrets: impl Into<Secrets>,
        media: Arc<dyn MediaPlane>,
        delivery: Arc<dyn DeliveryService>,
    ) -> Result<Self, revocations::LoadError> {
        let Secrets { api, admin } = secrets.into();
        let revocations = match &config.revocations_file {
            Some(path) => Revocations::load(path.clone())?,
            None => Revocations::default(),
        };
        let rooms = Registry::new(revocations, config.max_participants);
        Ok(Self {
            inner: Arc::new(Shared {
                config,
                secret: api,
                admin_key: admin,
                media,
                delivery,
                rooms,
                next_session: AtomicU64::new(1),
            }),
            sign_in: None,
            audit: Arc::new(audit::AuditLog::disabled()),
            metrics: Arc::new(Metrics::standalone()),
            metrics_access: Arc::new(MetricsAccess::default()),
            directory: None,
        })
    }

    /// Counts into `metrics` (whose registry also holds the SFU's series) and serves them on
    /// `/metrics` as `access` says ([`operator`]).
    pub fn with_metrics(mut self, metrics: Arc<Metrics>, access: MetricsAccess) -> Self {
        self.metrics = metrics;
        self.metrics_access = Arc::new(access);
        self
    }

    /// The node's series.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub(crate) fn metrics_access(&self) -> &MetricsAccess {
        &self.metrics_access
    }

    /// Records joins, leaves, lobby decisions, host and operator actions, policy changes,
    /// revocations, admin API calls and refusals in `log` ([`audit`]).
    pub fn with_audit(mut self, log: Arc<audit::AuditLog>) -> Self {
        self.audit = log;
        self
    }

    /// Sends signed events about rooms, participants and tracks to the endpoints `webhooks`
    /// was started with ([`webhooks::Webhooks::start`]). Only the first call counts.
    pub fn with_webhooks(self, webhooks: Arc<webhooks::Webhooks>) -> Self {
        if !self.inner.rooms.set_webhooks(webhooks) {
            tracing::warn!("webhooks were set already; the second set is ignored");
        }
        self
    }

    /// The audit log (one that records nothing unless [`with_audit`](Self::with_audit) gave one).
    pub fn audit(&self) -> &audit::AuditLog {
        &self.audit
    }

    /// Shares rooms with other nodes: a join for a room that lives on another node is relayed
    /// there ([`cluster`]).
    pub fn with_directory(mut self, directory: Arc<dyn cluster::RoomDirectory>) -> Self {
        self.directory = Some(directory);
        self
    }

    pub(crate) fn directory(&self) -> Option<Arc<dyn cluster::RoomDirectory>> {
        self.directory.clone()
    }

    /// The revocations and removals in force on this node, for the other nodes of a fleet.
    pub fn revocations(&self) -> Vec<revocations::Revocation> {
        self.inner.rooms.revocations(token::now_unix())
    }

    /// Revocations and removals another node of the fleet made; they refuse joins here too.
    pub fn learn_revocations(&self, learned: Vec<revocations::Revocation>) {
        self.inner.rooms.learn_revocations(learned, token::now_unix());
    }

    /// The rooms with at least one participant or someone waiting, on this node.
    pub fn room_names(&self) -> Vec<veil_proto::RoomName> {
        self.inner.rooms.room_names()
    }

    /// Offers sign-in through an OpenID provider on `/auth` ([`oidc`]).
    pub fn with_sign_in(mut self, sign_in: oidc::SignIn) -> Self {
        self.sign_in = Some(Arc::new(sign_in));
        self
    }

    pub(crate) fn sign_in(&self) -> Option<&oidc::SignIn> {
        self.sign_in.as_deref()
    }

    /// The settings in use.
    pub fn config(&self) -> &SignalingConfig {
        &self.inner.config
    }

    /// Rooms with at least one participant.
    pub fn room_count(&self) -> usize {
        self.inner.rooms.room_count()
    }

    /// Participants across all rooms.
    pub fn participant_count(&self) -> usize {
        self.inner.rooms.participant_count()
    }

    pub(crate) fn secret(&self) -> &token::ApiSecret {
        &self.inner.secret
    }

    pub(crate) fn admin_key(&self) -> Option<&token::ApiSecret> {
        self.inner.admin_key.as_ref()
    }

    pub(crate) fn media(&self) -> &dyn MediaPlane {
        &*self.inner.media
    }

    pub(crate) fn delivery(&self) -> &dyn DeliveryService {
        &*self.inner.delivery
    }

    pub(crate) fn rooms(&self) -> &Registry {
        &self.inner.rooms
    }

    pub(crate) fn next_session(&self) -> SessionId {
        SessionId(self.inner.next_session.fetch_add(1, Ordering::Relaxed))
    }
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("config", &self.inner.config)
            .field("rooms", &self.room_count())
            .finish_non_exhaustive()
    }
}

/// The signaling service's HTTP routes (see the module docs).
pub fn app(state: AppState) -> Router {
    let files = ServeDir::new(state.config().assets_dir.join("assets"));
    let login = state.sign_in().map(oidc::SignIn::login_origin);
    let policy = HeaderValue::from_str(&content_security_policy(login.as_deref()))
        .expect("an origin is a valid header value");
    Router::new()
        .route("/", get(assets::index))
        .route("/r/{room}", get(assets::room_page))
        .route("/ws", get(ws::upgrade))
        .route("/healthz", get(|| async { "ok" }))
        .route("/auth/status", get(oidc::status))
        .merge(operator::routes(&state))
        .merge(if state.sign_in().is_some() { oidc::routes() } else { Router::new() })
        .nest("/api", admin::routes(state.clone()))
        .nest_service("/assets", files)
        .fallback(assets::not_found)
        .with_state(state)
        // Join links carry the token in the fragment, which is never sent anywhere; the page's
        // address still should not leak to other sites through the Referer header.
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static("x-content-type-options"),
            HeaderValue::from_static("nosniff"),
        ))
        // A page that holds the camera and the call's keys runs Veil's own scripts and wasm
        // only, talks only to its own origin, and is never framed (clickjacking a "share
        // screen" click).
        .layer(SetResponseHeaderLayer::overriding(header::CONTENT_SECURITY_POLICY, policy))
}

/// Veil's pages load their scripts, styles, worker and wasm from `/assets`; the wasm needs
/// `'wasm-unsafe-eval'` to compile. `connect-src 'self'` covers the page's WebSocket. Forms
/// post to Veil itself, and, with sign-in, end up at the provider's login page at
/// `login_origin` (browsers hold a form's redirects to `form-action` too).
pub fn content_security_policy(login_origin: Option<&str>) -> String {
    let form_action = match login_origin {
        Some(origin) => format!("'self' {origin}"),
        None => "'self'".to_string(),
    };
    format!(
        "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; \
         connect-src 'self'; img-src 'self' data:; style-src 'self'; object-src 'none'; \
         base-uri 'none'; form-action {form_action}; frame-ancestors 'none'"
    )
}

#[cfg(test)]
mod tests {
    use super::content_security_policy;

    /// Sign-in widens where forms may go by the provider's origin, and nothing else.
    #[test]
    fn the_provider_login_page_is_the_only_form_target_besides_veil() {
        let plain = content_security_policy(None);
        assert!(plain.contains("form-action 'self';"), "{plain}");
        let with_sign_in = content_security_policy(Some("https://idp.example.org"));
        assert!(with_sign_in.contains("form-action 'self' https://idp.example.org;"));
        assert_eq!(with_sign_in.replace(" https://idp.example.org", ""), plain);
        for policy in [plain, with_sign_in] {
            assert!(
                policy.contains("frame-ancestors 'none'")
                    && policy.contains("script-src 'self' 'wasm-unsafe-eval';")
            );
        }
    }
}
