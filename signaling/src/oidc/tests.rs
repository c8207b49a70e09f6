use std::sync::Arc;

use axum::body::{Body, to_bytes};
use axum::http::Request;
use tower::ServiceExt;
use veil_proto::media::{MediaCommand, MediaPlane};

use super::*;
use crate::SignalingConfig;

fn settings() -> OidcSettings {
    OidcSettings {
        issuer: "https://idp.example.org".into(),
        client_id: "veil".into(),
        client_secret: "s3cret".into(),
        hosts: vec!["Alice@Example.org".into(), "user-7".into()],
        host_groups: vec!["veil-hosts".into()],
        groups_claim: DEFAULT_GROUPS_CLAIM.into(),
        groups_scope: None,
    }
}

fn pending(now: Instant, binding: &str) -> Pending {
    Pending {
        binding: binding.into(),
        verifier: PkceCodeVerifier::new("v".repeat(43)),
        nonce: Nonce::new("n".into()),
        room: RoomName::new("standup").unwrap(),
        expires: now + LOGIN_TTL,
    }
}

#[test]
fn listed_identities_and_groups_host_and_everyone_else_participates() {
    let s = settings();
    let host = |identity: Identity, groups: &[&str]| {
        let groups: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
        is_host(&identity, &groups, &s.hosts, &s.host_groups)
    };
    assert!(host(Identity::Email("alice@example.org".into()), &[]), "emails ignore case");
    assert!(host(Identity::Email("ALICE@EXAMPLE.ORG".into()), &[]));
    assert!(host(Identity::Subject("user-7".into()), &[]));
    assert!(!host(Identity::Subject("USER-7".into()), &[]), "a sub is compared exactly");
    assert!(
        !host(Identity::Subject("alice@example.org".into()), &[]),
        "a sub that looks like a host's email is not that email"
    );
    assert!(host(Identity::Email("bob@example.org".into()), &["staff", "veil-hosts"]));
    assert!(!host(Identity::Email("bob@example.org".into()), &["staff", "Veil-Hosts"]));
    assert!(!host(Identity::Email("bob@example.org".into()), &[]));
    assert!(!is_host(&Identity::Subject("x".into()), &[], &[], &[]), "no hosts configured");
}

#[test]
fn the_identity_is_a_verified_email_else_the_subject() {
    assert_eq!(
        identity_of(Some("a@example.org"), Some(true), "sub-1"),
        Identity::Email("a@example.org".into())
    );
    for verified in [Some(false), None] {
        assert_eq!(
            identity_of(Some("a@example.org"), verified, "sub-1"),
            Identity::Subject("sub-1".into()),
            "an unverified email ({verified:?}) is not an identity"
        );
    }
    assert_eq!(identity_of(None, Some(true), "sub-1"), Identity::Subject("sub-1".into()));
    assert_eq!(identity_of(Some(""), Some(true), "sub-1"), Identity::Subject("sub-1".into()));
}

#[test]
fn groups_come_from_the_configured_claim_as_a_list_or_one_string() {
    let claims = |v: serde_json::Value| v.as_object().unwrap().clone();
    let list = claims(json!({"groups": ["a", 7, "b", null], "roles": "admin"}));
    assert_eq!(groups_of(&list, "groups"), ["a", "b"]);
    assert_eq!(groups_of(&list, "roles"), ["admin"]);
    assert!(groups_of(&list, "missing").is_empty());
    assert!(groups_of(&claims(json!({"groups": {"a": 1}})), "groups").is_empty());
}

#[test]
fn a_state_is_used_once_and_only_by_the_browser_holding_its_cookie() {
    let now = Instant::now();
    let mut store = PendingLogins::default();
    store.insert(now, "s1".into(), pending(now, "cookie-1")).unwrap();
    store.insert(now, "s2".into(), pending(now, "cookie-2")).unwrap();

    assert!(matches!(store.take(now, "nope", Some("cookie-1")), Err(SignInError::UnknownState)));
    // Another browser's cookie, or none: refused, and the state is spent all the same.
    assert!(matches!(store.take(now, "s1", Some("cookie-2")), Err(SignInError::StateMismatch)));
    assert!(matches!(store.take(now, "s1", Some("cookie-1")), Err(SignInError::UnknownState)));
    assert!(matches!(store.take(now, "s2", None), Err(SignInError::StateMismatch)));
    assert_eq!(store.len(), 0);

    store.insert(now, "s3".into(), pending(now, "cookie-3")).unwrap();
    let taken = store.take(now, "s3", Some("cookie-3")).unwrap();
    assert_eq!(taken.room.as_str(), "standup");
    assert!(
        matches!(store.take(now, "s3", Some("cookie-3")), Err(SignInError::UnknownState)),
        "a replayed callback is refused"
    );
}

#[test]
fn a_sign_in_expires_after_ten_minutes() {
    let now = Instant::now();
    let mut store = PendingLogins::default();
    store.insert(now, "s".into(), pending(now, "c")).unwrap();
    store.insert(now, "t".into(), pending(now, "c")).unwrap();
    let later = now + LOGIN_TTL - Duration::from_secs(1);
    assert!(store.take(later, "t", Some("c")).is_ok());
    assert!(matches!(store.take(now + LOGIN_TTL, "s", Some("c")), Err(SignInError::Expired)));
}

#[test]
fn sign_ins_under_way_are_capped_and_expired_ones_make_room() {
    let now = Instant::now();
    let mut store = PendingLogins::default();
    for i in 0..MAX_PENDING {
        store.insert(now, format!("s{i}"), pending(now, "c")).unwrap();
    }
    let err = store.insert(now, "one-more".into(), pending(now, "c")).unwrap_err();
    assert!(matches!(err, SignInError::Busy));
    assert_eq!(err.status(), StatusCode::SERVICE_UNAVAILABLE);
    let later = now + LOGIN_TTL;
    store.insert(later, "one-more".into(), pending(later, "c")).unwrap();
    assert_eq!(store.len(), 1, "the expired ones were dropped");
}

#[test]
fn settings_are_checked_before_the_provider_is_asked() {
    assert_eq!(settings().validate(), Ok(()));
    let with = |f: fn(&mut OidcSettings)| {
        let mut s = settings();
        f(&mut s);
        s.validate()
    };
    assert!(matches!(
        with(|s| s.issuer = "idp.example.org".into()),
        Err(OidcConfigError::IssuerNotUrl(_))
    ));
    for issuer in ["http://idp.example.org", "http://10.0.0.1:8080", "ftp://x", "https://idp?x=1"] {
        let mut s = settings();
        s.issuer = issuer.into();
        assert!(matches!(s.validate(), Err(OidcConfigError::IssuerInsecure(_))), "{issuer}");
    }
    for issuer in ["http://127.0.0.1:9000", "http://localhost:9000/realms/x", "http://[::1]:1"] {
        let mut s = settings();
        s.issuer = issuer.into();
        assert_eq!(s.validate(), Ok(()), "{issuer}: loopback http is for tests");
    }
    assert_eq!(with(|s| s.client_id = " ".into()), Err(OidcConfigError::Empty("client id")));
    assert_eq!(with(|s| s.client_secret.clear()), Err(OidcConfigError::Empty("client secret")));
    assert_eq!(with(|s| s.hosts.push(String::new())), Err(OidcConfigError::BadHost));
    assert_eq!(with(|s| s.hosts.push("x".repeat(129))), Err(OidcConfigError::BadHost));
    assert_eq!(with(|s| s.host_groups.push(String::new())), Err(OidcConfigError::BadGroup));
    assert!(!format!("{:?}", settings()).contains("s3cret"), "the secret never prints");
}

#[test]
fn the_cookie_is_read_from_any_cookie_header() {
    let mut headers = HeaderMap::new();
    headers.append(header::COOKIE, HeaderValue::from_static("a=1; veil_login_x=2"));
    assert_eq!(cookie_value(&headers, COOKIE), None);
    headers.append(header::COOKIE, HeaderValue::from_static("b=3;veil_login=abc-_; c=4"));
    assert_eq!(cookie_value(&headers, COOKIE), Some("abc-_"));
}

#[test]
fn hosts_get_a_host_token_for_twelve_hours_and_others_a_participants_for_one() {
    let secret = token::ApiSecret::generate();
    let now = 1_800_000_000;
    let room = RoomName::new("standup").unwrap();
    for (host, grants, ttl) in
        [(true, Grants::host(), HOST_TTL), (false, Grants::default(), PARTICIPANT_TTL)]
    {
        let identity = "alice@example.org".to_string();
        let link = join_link(
            &secret,
            "https://meet.example.org",
            room.clone(),
            SignedIn { identity, host },
            now,
        );
        let jwt = link.strip_prefix("https://meet.example.org/r/standup#token=").expect(&link);
        let claims = token::verify(&secret, jwt, now).unwrap();
        assert_eq!(claims.grants, grants);
        assert_eq!(claims.sub.as_deref(), Some("alice@example.org"));
        assert_eq!(claims.exp - claims.iat, ttl.as_secs());
        assert!(claims.jti.is_some());
        assert!(!link.contains("name="), "no display name in the link");
    }
}

#[test]
fn error_pages_carry_a_stable_code_and_no_input() {
    assert_eq!(
        escape_html(r#"<a href="x">'&'</a>"#),
        "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
    );
    for error in [SignInError::UnknownState, SignInError::StateMismatch, SignInError::Busy] {
        assert!(
            !error.code().is_empty()
                && error.code().bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
        );
    }
}

// The routes, in process, against a provider described by hand: everything short of the token
// endpoint (the browser test in client-js/tests/oidc.test.mjs covers the rest with a real one).

struct NoMedia;

impl MediaPlane for NoMedia {
    fn send(&self, _: MediaCommand) {}
}

fn metadata(issuer: &str) -> CoreProviderMetadata {
    serde_json::from_value(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/auth"),
        // Nothing listens on port 1: the code exchange fails as a provider that is down would.
        "token_endpoint": "http://127.0.0.1:1/token",
        "jwks_uri": format!("{issuer}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256", "HS256"],
        "scopes_supported": ["openid", "email", "groups"],
    }))
    .unwrap()
}

fn state(sign_in: Option<SignIn>) -> AppState {
    let state = AppState::new(
        SignalingConfig::default(),
        token::ApiSecret::generate(),
        Arc::new(NoMedia),
        Arc::new(veil_ds::Verifier::generate().unwrap()),
    )
    .unwrap();
    match sign_in {
        Some(sign_in) => state.with_sign_in(sign_in),
        None => state,
    }
}

fn sign_in() -> SignIn {
    let s = settings();
    let issuer = s.issuer.clone();
    SignIn::from_metadata(
        s,
        "http://127.0.0.1:7880/",
        metadata(&issuer),
        http::HttpClient::with_system_roots(),
    )
    .unwrap()
}

async fn get(state: &AppState, uri: &str, cookie: Option<&str>) -> (StatusCode, HeaderMap, String) {
    let mut request = Request::get(uri);
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    let response =
        crate::app(state.clone()).oneshot(request.body(Body::empty()).unwrap()).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = to_bytes(response.into_body(), 1 << 20).await.unwrap();
    (status, headers, String::from_utf8(body.to_vec()).unwrap())
}

fn query_param(url: &Url, name: &str) -> Option<String> {
    url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

#[tokio::test]
async fn without_configuration_only_the_status_route_exists_and_says_off() {
    let state = state(None);
    let (status, _, body) = get(&state, "/auth/status", None).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, r#"{"sign_in":false}"#));
    for uri in ["/auth/login", "/auth/callback?state=x&code=y"] {
        assert_eq!(get(&state, uri, None).await.0, StatusCode::NOT_FOUND, "{uri}");
    }
}

#[tokio::test]
async fn login_sends_the_browser_to_the_provider_with_pkce_state_nonce_and_a_bound_cookie() {
    let state = state(Some(sign_in()));
    let (status, _, body) = get(&state, "/auth/status", None).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, r#"{"sign_in":true}"#));

    let (status, headers, _) = get(&state, "/auth/login?room=standup", None).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let location = Url::parse(headers[header::LOCATION].to_str().unwrap()).unwrap();
    assert_eq!(location.as_str().split('?').next(), Some("https://idp.example.org/auth"));
    assert_eq!(query_param(&location, "response_type").as_deref(), Some("code"));
    assert_eq!(query_param(&location, "client_id").as_deref(), Some("veil"));
    assert_eq!(
        query_param(&location, "redirect_uri").as_deref(),
        Some("http://127.0.0.1:7880/auth/callback")
    );
    assert_eq!(query_param(&location, "scope").as_deref(), Some("openid email groups"));
    assert_eq!(query_param(&location, "code_challenge_method").as_deref(), Some("S256"));
    assert_eq!(query_param(&location, "code_challenge").map(|c| c.len()), Some(43));
    assert!(query_param(&location, "nonce").is_some_and(|n| n.len() >= 16));
    let state_param = query_param(&location, "state").unwrap();
    let cookie = headers[header::SET_COOKIE].to_str().unwrap();
    assert!(cookie.starts_with("veil_login="), "{cookie}");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/auth", "Max-Age=600"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    assert!(!cookie.contains("Secure"), "no Secure on a plain-http base");
    let binding = cookie.split(';').next().unwrap().to_string();
    assert!(!binding.contains(&state_param), "the cookie is not the state");

    // Another browser (no cookie, or another sign-in's) is refused, and the state is spent.
    let callback = format!("/auth/callback?state={state_param}&code=c");
    let (status, headers, body) = get(&state, &callback, Some("veil_login=forged")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains(r#"data-error-code="state_mismatch""#), "{body}");
    assert!(headers[header::SET_COOKIE].to_str().unwrap().contains("Max-Age=0"));
    let (_, _, body) = get(&state, &callback, Some(&binding)).await;
    assert!(body.contains(r#"data-error-code="unknown_state""#), "{body}");
}

#[tokio::test]
async fn a_refusal_by_the_provider_or_a_failed_exchange_spends_the_state() {
    let state = state(Some(sign_in()));
    let start = || async {
        let (_, headers, _) = get(&state, "/auth/login", None).await;
        let location = Url::parse(headers[header::LOCATION].to_str().unwrap()).unwrap();
        let cookie = headers[header::SET_COOKIE].to_str().unwrap();
        (query_param(&location, "state").unwrap(), cookie.split(';').next().unwrap().to_string())
    };
    let (s, cookie) = start().await;
    let refused = format!("/auth/callback?state={s}&error=access_denied&error_description=%3Cb%3E");
    let (status, _, body) = get(&state, &refused, Some(&cookie)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        body.contains(r#"data-error-code="provider_refused""#) && !body.contains("<b>"),
        "{body}"
    );
    let (_, _, body) =
        get(&state, &format!("/auth/callback?state={s}&code=c"), Some(&cookie)).await;
    assert!(body.contains("unknown_state"), "{body}");

    let (s, cookie) = start().await;
    let (status, _, body) =
        get(&state, &format!("/auth/callback?state={s}&code=c"), Some(&cookie)).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert!(body.contains("token_exchange_failed"), "{body}");
}

#[tokio::test]
async fn room_names_are_checked_and_never_echoed() {
    let state = state(Some(sign_in()));
    let (status, _, body) =
        get(&state, "/auth/login?room=%3Cscript%3Ealert(1)%3C/script%3E", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains(r#"data-error-code="invalid_room""#), "{body}");
    assert!(!body.contains("<script>") && !body.contains("alert"), "{body}");
    let (status, headers, _) = get(&state, "/auth/login?room=", None).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "an empty room is a fresh one");
    assert!(headers.contains_key(header::SET_COOKIE));
}

#[test]
fn hmac_and_none_are_never_accepted_for_id_tokens() {
    let sign_in = sign_in();
    assert_eq!(sign_in.algorithms, vec![CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256]);
    let mut only_hmac = metadata("https://idp.example.org");
    only_hmac = only_hmac
        .set_id_token_signing_alg_values_supported(vec![CoreJwsSigningAlgorithm::HmacSha256]);
    let err = SignIn::from_metadata(
        settings(),
        "http://x",
        only_hmac,
        http::HttpClient::with_system_roots(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("RS256"), "{err}");
}

#[test]
fn provider_endpoints_must_be_https_off_this_machine() {
    let mut plain = metadata("https://idp.example.org");
    plain = plain.set_jwks_uri(
        openidconnect::JsonWebKeySetUrl::new("http://idp.example.org/jwks".into()).unwrap(),
    );
    let err =
        SignIn::from_metadata(settings(), "http://x", plain, http::HttpClient::with_system_roots())
            .unwrap_err();
    assert!(err.to_string().contains("not https"), "{err}");
}
