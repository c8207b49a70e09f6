//! Sign-in for hosts through the organisation's OpenID Connect provider.
//!
//! Off unless `veil serve` is given an issuer, a client id and a client secret. Then a visitor of
//! `/` may sign in at the provider (the authorization code flow with PKCE) and is sent on to a
//! room with a join token this server mints: with the host grant when the identity, or one of
//! the groups, the provider vouches for is among the configured hosts, as a participant
//! otherwise.
//!
//! | route | what |
//! |---|---|
//! | `GET /auth/status` | `{"sign_in": true}` when sign-in is configured, else `false` (always routed) |
//! | `GET /auth/login?room=NAME` | starts a sign-in for a room (a fresh `room-…` without one) |
//! | `GET /auth/callback?code=…&state=…` | the provider sends the browser back here |
//!
//! What protects the flow:
//!
//! - **state and a cookie**: each sign-in is a random `state` kept here (at most
//!   [`MAX_PENDING`], each for [`LOGIN_TTL`]) with a random binding the browser holds in an
//!   `HttpOnly`, `SameSite=Lax` cookie on `/auth`. The callback needs both, once: a state is
//!   gone as soon as a callback names it, and a callback from another browser (someone who
//!   sends you their own half-finished sign-in, to have you join as them) has no cookie for it.
//! - **PKCE** (S256): the code is worth nothing without the verifier kept here.
//! - **the ID token**, checked by `openidconnect`: its signature against the provider's keys
//!   (asymmetric algorithms only, keys fetched again once when a token names an unknown one),
//!   the issuer, this client as its audience (and no untrusted other audience), its expiry, the
//!   nonce of this sign-in, and here, its issue time.
//!
//! What is kept: nothing after the callback. The identity (the `email` claim when the provider
//! says it is verified, else `sub`) goes into the join token as its `sub`; no name, no email of
//! anyone else, no group enters the token, the link or the logs.

pub(crate) mod http;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use axum::Json;
use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreAuthenticationFlow, CoreErrorResponseType,
    CoreGenderClaim, CoreJsonWebKey, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
    CoreProviderMetadata, CoreRevocableToken, CoreRevocationErrorResponse,
    CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::url::Url;
use openidconnect::{
    AdditionalClaims, AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret,
    CsrfToken, EmptyExtraTokenFields, EndpointMaybeSet, EndpointNotSet, EndpointSet, IdToken,
    IssuerUrl, JsonWebKeySet, Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope,
    SignatureVerificationError, StandardErrorResponse, StandardTokenResponse, TokenResponse,
};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::json;
use subtle::ConstantTimeEq;
use veil_proto::RoomName;
use veil_proto::room::Grants;

use crate::AppState;
use crate::token::{self, Claims};

pub use http::HttpError;

/// How long a sign-in may take between `/auth/login` and the callback.
pub const LOGIN_TTL: Duration = Duration::from_secs(600);
/// Most sign-ins under way at once; more are refused (503) until some finish or expire.
pub const MAX_PENDING: usize = 10_000;
/// How long a host's join token lives (as `veil token --host`).
pub const HOST_TTL: Duration = Duration::from_secs(12 * 3600);
/// How long a participant's join token lives.
pub const PARTICIPANT_TTL: Duration = Duration::from_secs(3600);
/// How far an ID token's issue time may be from this server's clock.
const IAT_SKEW: Duration = Duration::from_secs(300);
/// The provider's keys are fetched again at most this often, when a token names an unknown key.
const KEY_REFRESH_INTERVAL: Duration = Duration::from_secs(60);
/// Longest identity a join token carries (as `veil token --identity`).
const MAX_IDENTITY_CHARS: usize = 128;
/// The cookie that binds a sign-in to the browser that started it.
const COOKIE: &str = "veil_login";

/// The sign-in settings, as the operator gave them.
#[derive(Clone, PartialEq, Eq)]
pub struct OidcSettings {
    /// The provider's issuer URL, exactly as its discovery document names it.
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    /// Identities that sign in as hosts: an email address (compared without regard to ASCII
    /// case) or a `sub`.
    pub hosts: Vec<String>,
    /// Groups whose members sign in as hosts, as the groups claim lists them.
    pub host_groups: Vec<String>,
    /// The ID token claim that lists the user's groups.
    pub groups_claim: String,
    /// The scope asked for to get the groups claim; `None`: `groups` when the provider lists
    /// it among its scopes. Asked for only when there are host groups.
    pub groups_scope: Option<String>,
}

/// The default groups claim.
pub const DEFAULT_GROUPS_CLAIM: &str = "groups";

impl std::fmt::Debug for OidcSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcSettings")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("hosts", &self.hosts.len())
            .field("host_groups", &self.host_groups.len())
            .field("groups_claim", &self.groups_claim)
            .field("groups_scope", &self.groups_scope)
            .finish()
    }
}

/// A sign-in setting that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OidcConfigError {
    #[error("the OIDC issuer {0:?} is not a URL")]
    IssuerNotUrl(String),
    #[error(
        "the OIDC issuer {0:?} must be an https:// URL (plain http only on this machine's \
         loopback address, for tests), without a query or fragment"
    )]
    IssuerInsecure(String),
    #[error("the OIDC {0} is empty")]
    Empty(&'static str),
    #[error("an OIDC host entry is empty or longer than {MAX_IDENTITY_CHARS} characters")]
    BadHost,
    #[error("an OIDC host group is empty")]
    BadGroup,
    #[error("the public URL {0:?} cannot carry the sign-in callback /auth/callback")]
    BadPublicUrl(String),
}

impl OidcSettings {
    /// Checks what can be checked before asking the provider.
    pub fn validate(&self) -> Result<(), OidcConfigError> {
        let url = Url::parse(&self.issuer)
            .map_err(|_| OidcConfigError::IssuerNotUrl(self.issuer.clone()))?;
        let secure = match url.scheme() {
            "https" => true,
            "http" => url.host_str().is_some_and(http::is_loopback_host),
            _ => false,
        };
        if !secure || url.query().is_some() || url.fragment().is_some() {
            return Err(OidcConfigError::IssuerInsecure(self.issuer.clone()));
        }
        if self.client_id.trim().is_empty() {
            return Err(OidcConfigError::Empty("client id"));
        }
        if self.client_secret.is_empty() {
            return Err(OidcConfigError::Empty("client secret"));
        }
        if self.groups_claim.is_empty() {
            return Err(OidcConfigError::Empty("groups claim"));
        }
        if self.groups_scope.as_deref().is_some_and(str::is_empty) {
            return Err(OidcConfigError::Empty("groups scope"));
        }
        if self.hosts.iter().any(|h| h.is_empty() || h.chars().count() > MAX_IDENTITY_CHARS) {
            return Err(OidcConfigError::BadHost);
        }
        if self.host_groups.iter().any(String::is_empty) {
            return Err(OidcConfigError::BadGroup);
        }
        Ok(())
    }
}

/// Why sign-in could not be set up at start.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    #[error(transparent)]
    Config(#[from] OidcConfigError),
    #[error(
        "cannot discover the OpenID provider at {issuer} (GET {issuer}/.well-known/openid-configuration): {reason}"
    )]
    Discovery { issuer: String, reason: String },
    #[error("the OpenID provider at {issuer} {problem}")]
    Provider { issuer: String, problem: String },
}

// The ID token's claims beyond the standard ones, for the groups claim, whose name is
// configured.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(transparent)]
struct OtherClaims(serde_json::Map<String, serde_json::Value>);

impl AdditionalClaims for OtherClaims {}

type IdTokenFields = openidconnect::IdTokenFields<
    OtherClaims,
    EmptyExtraTokenFields,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;
type OidcIdToken = IdToken<
    OtherClaims,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;
type OidcClient = openidconnect::Client<
    OtherClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    StandardTokenResponse<IdTokenFields, CoreTokenType>,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// Sign-in, set up: the provider as discovered at start, and the sign-ins under way.
pub struct SignIn {
    settings: OidcSettings,
    metadata: CoreProviderMetadata,
    /// Rebuilt with fresh keys when the provider rotates them.
    client: RwLock<Arc<OidcClient>>,
    http: http::HttpClient,
    redirect: RedirectUrl,
    /// Where sign-in sends the browser: `BASE/r/ROOM#token=…`.
    base: String,
    scopes: Vec<Scope>,
    /// ID token signature algorithms accepted: those the provider lists, without HMAC.
    algorithms: Vec<CoreJwsSigningAlgorithm>,
    cookie_path: String,
    cookie_secure: bool,
    pending: Mutex<PendingLogins>,
    last_key_refresh: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for SignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignIn")
            .field("settings", &self.settings)
            .field("redirect", &self.redirect.as_str())
            .finish_non_exhaustive()
    }
}

impl SignIn {
    /// The origin of the provider's login page, where the start page's sign-in form ends up
    /// (through a redirect from `/auth/login`): the Content-Security-Policy's `form-action`
    /// must allow it.
    pub fn login_origin(&self) -> String {
        self.metadata.authorization_endpoint().url().origin().ascii_serialization()
    }

    /// Validates `settings`, asks the provider for its discovery document and keys, and sets up
    /// sign-in with the callback at `public_base/auth/callback`.
    pub async fn discover(
        settings: OidcSettings,
        public_base: &str,
    ) -> Result<Self, DiscoveryError> {
        settings.validate()?;
        let http = http::HttpClient::with_system_roots();
        let issuer = IssuerUrl::new(settings.issuer.clone())
            .map_err(|_| OidcConfigError::IssuerNotUrl(settings.issuer.clone()))?;
        let metadata = CoreProviderMetadata::discover_async(issuer, &http).await.map_err(|e| {
            DiscoveryError::Discovery {
                issuer: settings.issuer.trim_end_matches('/').to_string(),
                reason: describe_discovery_error(&e),
            }
        })?;
        Self::from_metadata(settings, public_base, metadata, http)
    }

    fn from_metadata(
        settings: OidcSettings,
        public_base: &str,
        metadata: CoreProviderMetadata,
        http: http::HttpClient,
    ) -> Result<Self, DiscoveryError> {
        settings.validate()?;
        let problem =
            |problem: String| DiscoveryError::Provider { issuer: settings.issuer.clone(), problem };
        let token_endpoint =
            metadata.token_endpoint().ok_or_else(|| problem("lists no token endpoint".into()))?;
        for (what, url) in [
            ("authorization endpoint", metadata.authorization_endpoint().url()),
            ("token endpoint", token_endpoint.url()),
            ("key set (jwks_uri)", metadata.jwks_uri().url()),
        ] {
            let secure = url.scheme() == "https"
                || (url.scheme() == "http" && url.host_str().is_some_and(http::is_loopback_host));
            if !secure {
                return Err(problem(format!("names a {what} that is not https: {url}")));
            }
        }
        let algorithms: Vec<CoreJwsSigningAlgorithm> = metadata
            .id_token_signing_alg_values_supported()
            .iter()
            .filter(|alg| !is_symmetric_or_none(alg))
            .cloned()
            .collect();
        if algorithms.is_empty() {
            return Err(problem(
                "signs ID tokens with no algorithm Veil accepts (it needs a public-key one, such \
                 as RS256 or ES256)"
                    .into(),
            ));
        }

        let base = public_base.trim_end_matches('/').to_string();
        let base_url =
            Url::parse(&base).map_err(|_| OidcConfigError::BadPublicUrl(base.clone()))?;
        let redirect = RedirectUrl::new(format!("{base}/auth/callback"))
            .map_err(|_| OidcConfigError::BadPublicUrl(base.clone()))?;
        let cookie_path = format!("{}/auth", base_url.path().trim_end_matches('/'));
        let cookie_secure = base_url.scheme() == "https";

        let mut scopes = vec![Scope::new("email".into())];
        if !settings.host_groups.is_empty() {
            let advertised = |name: &str| {
                metadata.scopes_supported().is_some_and(|s| s.iter().any(|s| s.as_str() == name))
            };
            match &settings.groups_scope {
                Some(scope) => scopes.push(Scope::new(scope.clone())),
                None if advertised("groups") => scopes.push(Scope::new("groups".into())),
                None => {}
            }
        }
        let client = Arc::new(build_client(&settings, &metadata, &redirect));
        Ok(Self {
            settings,
            metadata,
            client: RwLock::new(client),
            http,
            redirect,
            base,
            scopes,
            algorithms,
            cookie_path,
            cookie_secure,
            pending: Mutex::new(PendingLogins::default()),
            last_key_refresh: Mutex::new(None),
        })
    }

    /// The callback URL to register at the provider.
    pub fn redirect_uri(&self) -> &str {
        self.redirect.as_str()
    }

    fn client(&self) -> Arc<OidcClient> {
        self.client.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, PendingLogins> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `Set-Cookie` for a sign-in's binding (`None`: clear it).
    fn cookie(&self, binding: Option<&str>) -> HeaderValue {
        let (value, age) = match binding {
            Some(binding) => (binding, LOGIN_TTL.as_secs()),
            None => ("", 0),
        };
        let secure = if self.cookie_secure { "; Secure" } else { "" };
        let cookie = format!(
            "{COOKIE}={value}; Max-Age={age}; Path={}; HttpOnly; SameSite=Lax{secure}",
            self.cookie_path
        );
        HeaderValue::from_str(&cookie).expect("the cookie is URL-safe base64 and a URL path")
    }

    /// Checks the ID token, fetching the provider's keys again once if it names an unknown key
    /// (the provider rotated them since start).
    async fn verify(&self, id_token: &OidcIdToken, nonce: &Nonce) -> Result<SignedIn, SignInError> {
        let first = self.signed_in(&self.client(), id_token, nonce);
        let Err(SignInError::InvalidIdToken(ClaimsVerificationError::SignatureVerification(
            SignatureVerificationError::NoMatchingKey,
        ))) = &first
        else {
            return first;
        };
        if !self.refresh_keys().await {
            return first;
        }
        self.signed_in(&self.client(), id_token, nonce)
    }

    fn signed_in(
        &self,
        client: &OidcClient,
        id_token: &OidcIdToken,
        nonce: &Nonce,
    ) -> Result<SignedIn, SignInError> {
        let verifier = client
            .id_token_verifier()
            .set_allowed_algs(self.algorithms.iter().cloned())
            .set_issue_time_verifier_fn(|iat| {
                let now = i64::try_from(token::now_unix()).unwrap_or(i64::MAX);
                let skew = iat.timestamp().abs_diff(now);
                if skew <= IAT_SKEW.as_secs() {
                    Ok(())
                } else {
                    Err(format!("issued {skew} s away from this server's clock"))
                }
            });
        let claims = id_token.claims(&verifier, nonce).map_err(SignInError::InvalidIdToken)?;
        let email = claims.email().map(|e| e.as_str());
        let identity = identity_of(email, claims.email_verified(), claims.subject().as_str());
        if identity.as_str().chars().count() > MAX_IDENTITY_CHARS {
            return Err(SignInError::IdentityTooLong);
        }
        let groups = groups_of(&claims.additional_claims().0, &self.settings.groups_claim);
        let host = is_host(&identity, &groups, &self.settings.hosts, &self.settings.host_groups);
        Ok(SignedIn { identity: identity.into_string(), host })
    }

    /// Fetches the provider's keys again, at most once a [`KEY_REFRESH_INTERVAL`]. Whether new
    /// keys were fetched.
    async fn refresh_keys(&self) -> bool {
        {
            let mut last = self.last_key_refresh.lock().unwrap_or_else(PoisonError::into_inner);
            if last.is_some_and(|t| t.elapsed() < KEY_REFRESH_INTERVAL) {
                return false;
            }
            *last = Some(Instant::now());
        }
        match JsonWebKeySet::fetch_async(self.metadata.jwks_uri(), &self.http).await {
            Ok(keys) => {
                let metadata = self.metadata.clone().set_jwks(keys);
                let client = Arc::new(build_client(&self.settings, &metadata, &self.redirect));
                *self.client.write().unwrap_or_else(PoisonError::into_inner) = client;
                tracing::info!("fetched the OpenID provider's keys again");
                true
            }
            Err(error) => {
                tracing::warn!(error = %describe_discovery_error(&error), "cannot fetch the OpenID provider's keys");
                false
            }
        }
    }
}

fn build_client(
    settings: &OidcSettings,
    metadata: &CoreProviderMetadata,
    redirect: &RedirectUrl,
) -> OidcClient {
    OidcClient::from_provider_metadata(
        metadata.clone(),
        ClientId::new(settings.client_id.clone()),
        Some(ClientSecret::new(settings.client_secret.clone())),
    )
    .set_redirect_uri(redirect.clone())
}

fn is_symmetric_or_none(alg: &CoreJwsSigningAlgorithm) -> bool {
    matches!(
        alg,
        CoreJwsSigningAlgorithm::HmacSha256
            | CoreJwsSigningAlgorithm::HmacSha384
            | CoreJwsSigningAlgorithm::HmacSha512
            | CoreJwsSigningAlgorithm::None
    )
}

/// A discovery failure in one line, with its causes.
fn describe_discovery_error<E: std::error::Error>(error: &E) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        // Most messages here already quote their cause.
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Who the provider vouched for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Identity {
    /// A verified email address.
    Email(String),
    /// The provider's subject identifier.
    Subject(String),
}

impl Identity {
    fn as_str(&self) -> &str {
        match self {
            Self::Email(s) | Self::Subject(s) => s,
        }
    }

    fn into_string(self) -> String {
        match self {
            Self::Email(s) | Self::Subject(s) => s,
        }
    }
}

/// The identity a sign-in joins as: the email when the provider says it is verified, else
/// `sub`. An unverified address could be anyone's, so it never counts.
pub(crate) fn identity_of(email: Option<&str>, verified: Option<bool>, sub: &str) -> Identity {
    match email {
        Some(email) if verified == Some(true) && !email.is_empty() => {
            Identity::Email(email.to_string())
        }
        _ => Identity::Subject(sub.to_string()),
    }
}

/// The groups in claim `name`: a list of strings, or one string. Anything else is no group.
pub(crate) fn groups_of(
    claims: &serde_json::Map<String, serde_json::Value>,
    name: &str,
) -> Vec<String> {
    match claims.get(name) {
        Some(serde_json::Value::String(group)) => vec![group.clone()],
        Some(serde_json::Value::Array(groups)) => {
            groups.iter().filter_map(|g| g.as_str().map(str::to_string)).collect()
        }
        _ => Vec::new(),
    }
}

/// Whether a sign-in is a host's: its identity is listed (an email without regard to ASCII case,
/// a `sub` exactly), or one of its groups is.
pub(crate) fn is_host(
    identity: &Identity,
    groups: &[String],
    hosts: &[String],
    host_groups: &[String],
) -> bool {
    let listed = match identity {
        Identity::Email(email) => hosts.iter().any(|h| h.eq_ignore_ascii_case(email)),
        Identity::Subject(sub) => hosts.iter().any(|h| h == sub),
    };
    listed || groups.iter().any(|g| host_groups.contains(g))
}

/// The outcome of a callback.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SignedIn {
    identity: String,
    host: bool,
}

/// A sign-in under way, from `/auth/login` to the callback.
struct Pending {
    /// The cookie value the browser that started it holds.
    binding: String,
    verifier: PkceCodeVerifier,
    nonce: Nonce,
    room: RoomName,
    expires: Instant,
}

/// The sign-ins under way, by `state`: bounded, each used once.
#[derive(Default)]
pub(crate) struct PendingLogins {
    by_state: HashMap<String, Pending>,
}

impl PendingLogins {
    /// Keeps a sign-in under `state`, unless [`MAX_PENDING`] are under way (expired ones are
    /// dropped first).
    fn insert(&mut self, now: Instant, state: String, pending: Pending) -> Result<(), SignInError> {
        if self.by_state.len() >= MAX_PENDING {
            self.by_state.retain(|_, p| p.expires > now);
        }
        if self.by_state.len() >= MAX_PENDING {
            return Err(SignInError::Busy);
        }
        self.by_state.insert(state, pending);
        Ok(())
    }

    /// Takes the sign-in `state` names out, whatever comes of it: a state is used once. It must
    /// not have expired, and `cookie` must be its binding.
    fn take(
        &mut self,
        now: Instant,
        state: &str,
        cookie: Option<&str>,
    ) -> Result<Pending, SignInError> {
        let pending = self.by_state.remove(state).ok_or(SignInError::UnknownState)?;
        if pending.expires <= now {
            return Err(SignInError::Expired);
        }
        let matches =
            cookie.is_some_and(|c| bool::from(c.as_bytes().ct_eq(pending.binding.as_bytes())));
        if !matches {
            return Err(SignInError::StateMismatch);
        }
        Ok(pending)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.by_state.len()
    }
}

/// Why a sign-in failed: a small page with a stable code.
#[derive(Debug)]
enum SignInError {
    NotConfigured,
    BadRequest,
    InvalidRoom,
    Busy,
    UnknownState,
    Expired,
    StateMismatch,
    Refused,
    Exchange,
    InvalidIdToken(ClaimsVerificationError),
    IdentityTooLong,
}

impl SignInError {
    fn code(&self) -> &'static str {
        match self {
            Self::NotConfigured => "sign_in_off",
            Self::BadRequest => "bad_request",
            Self::InvalidRoom => "invalid_room",
            Self::Busy => "busy",
            Self::UnknownState => "unknown_state",
            Self::Expired => "sign_in_expired",
            Self::StateMismatch => "state_mismatch",
            Self::Refused => "provider_refused",
            Self::Exchange => "token_exchange_failed",
            Self::InvalidIdToken(_) => "invalid_id_token",
            Self::IdentityTooLong => "identity_too_long",
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            Self::NotConfigured => StatusCode::NOT_FOUND,
            Self::Busy => StatusCode::SERVICE_UNAVAILABLE,
            Self::Exchange => StatusCode::BAD_GATEWAY,
            Self::Refused => StatusCode::FORBIDDEN,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    fn message(&self) -> &'static str {
        match self {
            Self::NotConfigured => "Sign-in is not set up on this server.",
            Self::BadRequest => "The sign-in address is not valid.",
            Self::InvalidRoom => {
                "Room names are 1 to 64 letters, digits, '-', '_' or '.'. Choose another name."
            }
            Self::Busy => "Too many sign-ins are under way right now. Try again in a few minutes.",
            Self::UnknownState => {
                "This sign-in is unknown or was already used. Start again from the start page."
            }
            Self::Expired => "This sign-in took too long. Start again from the start page.",
            Self::StateMismatch => {
                "This sign-in was started in another browser (or its cookie was lost). Start \
                 again from the start page, in this browser."
            }
            Self::Refused => "The sign-in provider did not sign you in.",
            Self::Exchange => {
                "The sign-in provider did not confirm the sign-in. Try again; if it keeps \
                 failing, tell the operator."
            }
            Self::InvalidIdToken(_) => {
                "The sign-in provider's answer could not be verified. Try again; if it keeps \
                 failing, tell the operator."
            }
            Self::IdentityTooLong => "Your account's identity is too long for Veil.",
        }
    }
}

impl IntoResponse for SignInError {
    fn into_response(self) -> Response {
        let code = self.code();
        let page = format!(
            "<!doctype html>\n<html lang=\"en\"><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width\">\
             <link rel=\"icon\" href=\"data:,\">\
             <title>Sign-in failed - Veil</title>\n<main data-error-code=\"{code}\">\
             <h1>Sign-in failed</h1>\n<p>{}</p>\n<p><small>Error code: {code}</small></p>\n\
             <p><a href=\"/\">Start page</a></p></main>\n</html>\n",
            escape_html(self.message())
        );
        (self.status(), [(header::CACHE_CONTROL, "no-store")], Html(page)).into_response()
    }
}

/// Escapes text for HTML element content and attribute values.
fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The value of cookie `name` in the request's `Cookie` headers.
fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// The routes under `/auth` beyond `/auth/status`, for a server with sign-in.
pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/auth/login", get(login)).route("/auth/callback", get(callback))
}

/// `GET /auth/status`: whether the start page offers sign-in.
pub(crate) async fn status(State(state): State<AppState>) -> Response {
    let on = state.sign_in().is_some();
    ([(header::CACHE_CONTROL, "no-store")], Json(json!({ "sign_in": on }))).into_response()
}

#[derive(Debug, Deserialize)]
struct LoginQuery {
    room: Option<String>,
}

/// `GET /auth/login?room=NAME`: keeps a new sign-in and sends the browser to the provider.
async fn login(
    State(state): State<AppState>,
    query: Result<Query<LoginQuery>, QueryRejection>,
) -> Result<Response, SignInError> {
    let sign_in = state.sign_in().ok_or(SignInError::NotConfigured)?;
    let Query(query) = query.map_err(|_| SignInError::BadRequest)?;
    let room = match query.room.as_deref().map(str::trim).filter(|r| !r.is_empty()) {
        Some(name) => RoomName::new(name).map_err(|_| SignInError::InvalidRoom)?,
        None => fresh_room(),
    };
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let state_token = CsrfToken::new_random();
    let nonce = Nonce::new_random();
    let binding = random_token(32);
    let client = sign_in.client();
    let (url, _, _) = {
        let (state_for_url, nonce_for_url) = (state_token.clone(), nonce.clone());
        client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                move || state_for_url,
                move || nonce_for_url,
            )
            .add_scopes(sign_in.scopes.iter().cloned())
            .set_pkce_challenge(challenge)
            .url()
    };
    let pending = Pending {
        binding: binding.clone(),
        verifier,
        nonce,
        room,
        expires: Instant::now() + LOGIN_TTL,
    };
    sign_in.pending().insert(Instant::now(), state_token.secret().clone(), pending)?;
    let mut response = Redirect::to(url.as_str()).into_response();
    let headers = response.headers_mut();
    headers.insert(header::SET_COOKIE, sign_in.cookie(Some(&binding)));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

fn fresh_room() -> RoomName {
    RoomName::new(format!("room-{:08x}", rand::rng().next_u32())).expect("a valid room name")
}

#[derive(Debug, Deserialize)]
struct CallbackQuery {
    state: Option<String>,
    code: Option<String>,
    error: Option<String>,
}

/// `GET /auth/callback?code=…&state=…`: checks the sign-in, and sends the browser to its room
/// with a join token.
async fn callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<CallbackQuery>, QueryRejection>,
) -> Response {
    let Some(sign_in) = state.sign_in() else {
        return SignInError::NotConfigured.into_response();
    };
    let outcome = finish(&state, sign_in, &headers, query).await;
    let mut response = match outcome {
        Ok(location) => Redirect::to(&location).into_response(),
        Err(error) => {
            let detail = match &error {
                SignInError::InvalidIdToken(e) => e.to_string(),
                _ => String::new(),
            };
            tracing::warn!(code = error.code(), %detail, "sign-in refused");
            error.into_response()
        }
    };
    let headers = response.headers_mut();
    headers.insert(header::SET_COOKIE, sign_in.cookie(None));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

async fn finish(
    state: &AppState,
    sign_in: &SignIn,
    headers: &HeaderMap,
    query: Result<Query<CallbackQuery>, QueryRejection>,
) -> Result<String, SignInError> {
    let Query(query) = query.map_err(|_| SignInError::BadRequest)?;
    let state_token = query.state.ok_or(SignInError::BadRequest)?;
    let pending =
        sign_in.pending().take(Instant::now(), &state_token, cookie_value(headers, COOKIE))?;
    if query.error.is_some() {
        return Err(SignInError::Refused);
    }
    let code = query.code.filter(|c| !c.is_empty()).ok_or(SignInError::BadRequest)?;
    let client = sign_in.client();
    let response = client
        .exchange_code(AuthorizationCode::new(code))
        .map_err(|_| SignInError::Exchange)?
        .set_pkce_verifier(pending.verifier)
        .request_async(&sign_in.http)
        .await
        .map_err(|e| {
            tracing::warn!(error = %describe_discovery_error(&e), "the token endpoint refused the code");
            SignInError::Exchange
        })?;
    let id_token = response.id_token().ok_or(SignInError::Exchange)?;
    let signed_in = sign_in.verify(id_token, &pending.nonce).await?;
    tracing::info!(host = signed_in.host, "signed in through the OpenID provider");
    Ok(join_link(state.secret(), &sign_in.base, pending.room, signed_in, token::now_unix()))
}

/// `BASE/r/ROOM#token=JWT` for whoever signed in: a host's token for 12 hours, a participant's
/// for one, with the identity as `sub` and nothing else of the sign-in.
fn join_link(
    secret: &token::ApiSecret,
    base: &str,
    room: RoomName,
    signed_in: SignedIn,
    now_unix: u64,
) -> String {
    let (grants, ttl) = if signed_in.host {
        (Grants::host(), HOST_TTL)
    } else {
        (Grants::default(), PARTICIPANT_TTL)
    };
    let mut claims = Claims::for_room(room, now_unix, ttl);
    claims.sub = Some(signed_in.identity);
    claims.grants = grants;
    format!("{base}/r/{}#token={}", claims.room, token::mint(secret, &claims))
}

#[cfg(test)]
mod tests;
