//! Join tokens: HS256 JSON Web Tokens signed with the deployment's API secret.
//!
//! A token says who may join which room until when: `{"sub":"ada","room":"standup",
//! "iat":…,"exp":…}`. It carries no display name: the server must not learn names, so a join
//! link suggests one in its URL fragment, next to the token, where it stays in the browser. Only HS256 is accepted; the header's `alg` is checked
//! before anything else, so `none` and every other algorithm are refused whatever the payload
//! says. The MAC is compared in constant time, and the claims are parsed only once it matches.
//!
//! This is deliberately a small hand-written subset of JWT (RFC 7519): one algorithm, one key,
//! no key ids, no `crit` extensions. Claims other than the ones in [`Claims`] are ignored,
//! except `nbf`, which is honoured when present.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use veil_proto::RoomName;
use veil_proto::room::Grants;
use zeroize::Zeroizing;

type HmacSha256 = Hmac<Sha256>;

/// Longest token accepted, in bytes. Real tokens are a few hundred bytes.
pub const MAX_TOKEN_BYTES: usize = 4096;

/// Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds.
pub const LEEWAY_SECS: u64 = 10;

/// The header every token carries: `{"alg":"HS256","typ":"JWT"}`, base64url-encoded.
const HEADER_B64: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";

/// The deployment's API secret: the HMAC key that signs and checks join tokens.
///
/// Its `Debug` never shows the key, and the bytes are wiped when it is dropped.
#[derive(Clone)]
pub struct ApiSecret(Zeroizing<Vec<u8>>);

/// Why bytes were refused as an API secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error(
        "the API secret is {len} bytes, but it must be at least {min} random bytes \
         ({hex} hex characters); generate a new one",
        min = ApiSecret::MIN_LEN, hex = ApiSecret::MIN_LEN * 2
    )]
    TooShort { len: usize },
    #[error("the API secret is longer than {max} bytes; use 32 random bytes", max = ApiSecret::MAX_LEN)]
    TooLong,
    #[error("the API secret is not hexadecimal (expected characters 0-9 and a-f, an even count)")]
    NotHex,
}

impl ApiSecret {
    /// Shortest secret accepted, in bytes: HS256 needs 256 bits to be as strong as its hash.
    pub const MIN_LEN: usize = 32;
    /// Longest secret accepted, in bytes.
    pub const MAX_LEN: usize = 256;

    /// A fresh random 32-byte secret.
    pub fn generate() -> Self {
        let mut bytes = Zeroizing::new(vec![0u8; Self::MIN_LEN]);
        rand::rng().fill_bytes(&mut bytes);
        Self(bytes)
    }

    /// Wraps existing secret bytes (at least [`Self::MIN_LEN`]).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SecretError> {
        if bytes.len() < Self::MIN_LEN {
            return Err(SecretError::TooShort { len: bytes.len() });
        }
        if bytes.len() > Self::MAX_LEN {
            return Err(SecretError::TooLong);
        }
        Ok(Self(Zeroizing::new(bytes.to_vec())))
    }

    /// Parses a hex-encoded secret, as written by [`Self::to_hex`]. Surrounding whitespace (a
    /// trailing newline in a file) is ignored.
    pub fn from_hex(text: &str) -> Result<Self, SecretError> {
        let text = text.trim().as_bytes();
        if !text.len().is_multiple_of(2) {
            return Err(SecretError::NotHex);
        }
        let mut bytes = Zeroizing::new(Vec::with_capacity(text.len() / 2));
        for pair in text.chunks_exact(2) {
            let (Some(hi), Some(lo)) = (hex_value(pair[0]), hex_value(pair[1])) else {
                return Err(SecretError::NotHex);
            };
            bytes.push(hi << 4 | lo);
        }
        Self::from_bytes(&bytes)
    }

    /// The secret as lowercase hex, for storing it. The caller owns the copy: don't log it.
    pub fn to_hex(&self) -> String {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut out = String::with_capacity(self.0.len() * 2);
        for b in self.0.iter() {
            out.push(DIGITS[usize::from(b >> 4)] as char);
            out.push(DIGITS[usize::from(b & 0xf)] as char);
        }
        out
    }

    fn mac(&self) -> HmacSha256 {
        HmacSha256::new_from_slice(&self.0).expect("HMAC takes keys of any length")
    }
}

impl fmt::Debug for ApiSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiSecret(<redacted>)")
    }
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// What a token grants: joining `room` as `sub` (a fresh guest identity when absent) between
/// `iat` and `exp` (Unix seconds), with `grants` (publish microphone and camera and subscribe,
/// when absent).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The participant's identity; two connections with one identity can't be in a room at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// The only room this token opens.
    pub room: RoomName,
    /// The token's id: what a host's removal or an operator's revocation names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    #[serde(default)]
    pub grants: Grants,
    /// Issued at, Unix seconds.
    pub iat: u64,
    /// Expires at, Unix seconds.
    pub exp: u64,
}

impl Claims {
    /// Claims for a guest link to `room`, valid for `ttl` from `now_unix`.
    pub fn for_room(room: RoomName, now_unix: u64, ttl: Duration) -> Self {
        Self {
            sub: None,
            room,
            jti: Some(fresh_token_id()),
            grants: Grants::default(),
            iat: now_unix,
            exp: now_unix.saturating_add(ttl.as_secs()),
        }
    }
}

/// Why a token was refused. Each message says what was wrong and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error(
        "the join token is malformed ({reason}); use the join link exactly as it was given, \
         or ask for a new one"
    )]
    Malformed { reason: String },
    #[error(
        "the join token is signed with {alg:?}, but this server accepts only HS256; \
         mint tokens with this deployment's `veil token`"
    )]
    UnsupportedAlgorithm { alg: String },
    #[error(
        "the join token's signature does not match this server's API secret (it was minted \
         for another deployment or with an old secret); ask for a new join link"
    )]
    BadSignature,
    #[error("the join token expired {ago} s ago; ask for a new join link")]
    Expired { ago: u64 },
    #[error(
        "the join token is not valid for another {wait} s; check the clock of the machine \
         that minted it, or wait"
    )]
    NotYetValid { wait: u64 },
}

impl TokenError {
    /// A short stable label for logs (the message may be long).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Malformed { .. } => "malformed",
            Self::UnsupportedAlgorithm { .. } => "unsupported_algorithm",
            Self::BadSignature => "bad_signature",
            Self::Expired { .. } => "expired",
            Self::NotYetValid { .. } => "not_yet_valid",
        }
    }

    fn malformed(reason: impl Into<String>) -> Self {
        Self::Malformed { reason: reason.into() }
    }
}

/// Signs `claims` into a compact HS256 JWT.
pub fn mint(secret: &ApiSecret, claims: &Claims) -> String {
    let payload = serde_json::to_vec(claims).expect("claims are plain strings and numbers");
    let mut token = format!("{HEADER_B64}.{}", URL_SAFE_NO_PAD.encode(payload));
    let mut mac = secret.mac();
    mac.update(token.as_bytes());
    let tag = mac.finalize().into_bytes();
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(tag));
    token
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    crit: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
struct NotBefore {
    #[serde(default)]
    nbf: Option<u64>,
}

/// Checks `token` against `secret` at time `now_unix` and returns its claims.
pub fn verify(secret: &ApiSecret, token: &str, now_unix: u64) -> Result<Claims, TokenError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(TokenError::malformed(format!("longer than {MAX_TOKEN_BYTES} bytes")));
    }
    let mut parts = token.split('.');
    let (Some(header_b64), Some(payload_b64), Some(sig_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::malformed("expected three base64url parts separated by '.'"));
    };

    let header = URL_SAFE_NO_PAD
        .decode(header_b64)
        .map_err(|_| TokenError::malformed("the header is not base64url"))?;
    let header: Header = serde_json::from_slice(&header)
        .map_err(|_| TokenError::malformed("the header is not a JSON object with `alg`"))?;
    if header.alg != "HS256" {
        return Err(TokenError::UnsupportedAlgorithm { alg: header.alg });
    }
    if header.crit.is_some() {
        return Err(TokenError::malformed(
            "the header lists critical extensions this server does not support",
        ));
    }

    let sig = URL_SAFE_NO_PAD
        .decode(sig_b64)
        .map_err(|_| TokenError::malformed("the signature is not base64url"))?;
    let signed_len = header_b64.len() + 1 + payload_b64.len();
    let mut mac = secret.mac();
    mac.update(&token.as_bytes()[..signed_len]);
    mac.verify_slice(&sig).map_err(|_| TokenError::BadSignature)?;

    // Only now, with the signature checked, is the payload worth reading.
    let payload = URL_SAFE_NO_PAD
        .decode(payload_b64)
        .map_err(|_| TokenError::malformed("the payload is not base64url"))?;
    let claims: Claims = serde_json::from_slice(&payload)
        .map_err(|e| TokenError::malformed(format!("bad claims: {e}")))?;
    let NotBefore { nbf } = serde_json::from_slice(&payload)
        .map_err(|e| TokenError::malformed(format!("bad claims: {e}")))?;
    if claims.sub.as_deref().is_some_and(str::is_empty) {
        return Err(TokenError::malformed("`sub` is empty"));
    }

    if now_unix > claims.exp.saturating_add(LEEWAY_SECS) {
        return Err(TokenError::Expired { ago: now_unix - claims.exp });
    }
    let not_before = nbf.unwrap_or(0).max(claims.iat);
    if not_before > now_unix.saturating_add(LEEWAY_SECS) {
        return Err(TokenError::NotYetValid { wait: not_before - now_unix });
    }
    Ok(claims)
}

/// A random token id: `t_` and 16 hex digits.
pub fn fresh_token_id() -> String {
    let mut bytes = [0u8; 8];
    rand::rng().fill_bytes(&mut bytes);
    format!("t_{}", bytes.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

/// The current time in Unix seconds, as [`verify`] wants it.
pub fn now_unix() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000;

    fn claims() -> Claims {
        Claims {
            sub: Some("ada".into()),
            room: RoomName::new("standup").unwrap(),
            jti: Some("t_1".into()),
            grants: Grants::default(),
            iat: NOW,
            exp: NOW + 600,
        }
    }

    /// Builds a token from raw parts, signed (or not) with `secret`.
    fn forge(secret: Option<&ApiSecret>, header: &str, payload: &str) -> String {
        let signed =
            format!("{}.{}", URL_SAFE_NO_PAD.encode(header), URL_SAFE_NO_PAD.encode(payload));
        let sig = secret.map_or(Vec::new(), |s| {
            let mut mac = s.mac();
            mac.update(signed.as_bytes());
            mac.finalize().into_bytes().to_vec()
        });
        format!("{signed}.{}", URL_SAFE_NO_PAD.encode(sig))
    }

    #[test]
    fn minted_token_round_trips() {
        let secret = ApiSecret::generate();
        let token = mint(&secret, &claims());
        assert!(token.starts_with(HEADER_B64));
        assert_eq!(verify(&secret, &token, NOW + 5), Ok(claims()));
    }

    #[test]
    fn header_constant_is_hs256_jwt() {
        let header = URL_SAFE_NO_PAD.decode(HEADER_B64).unwrap();
        assert_eq!(header, br#"{"alg":"HS256","typ":"JWT"}"#);
    }

    #[test]
    fn tampered_payload_is_refused() {
        let secret = ApiSecret::generate();
        let token = mint(&secret, &claims());
        let mut parts: Vec<&str> = token.split('.').collect();
        let mut evil = claims();
        evil.room = RoomName::new("board").unwrap();
        let evil = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&evil).unwrap());
        parts[1] = &evil;
        let err = verify(&secret, &parts.join("."), NOW).unwrap_err();
        assert_eq!(err, TokenError::BadSignature);
    }

    #[test]
    fn token_signed_with_another_secret_is_refused() {
        let token = mint(&ApiSecret::generate(), &claims());
        let err = verify(&ApiSecret::generate(), &token, NOW).unwrap_err();
        assert_eq!(err, TokenError::BadSignature);
    }

    #[test]
    fn alg_none_and_other_algorithms_are_refused() {
        let secret = ApiSecret::generate();
        let payload = serde_json::to_string(&claims()).unwrap();
        for alg in ["none", "HS384", "RS256", "hs256"] {
            let header = format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#);
            // Even correctly MACed with our key, a foreign alg is refused.
            for key in [None, Some(&secret)] {
                let err = verify(&secret, &forge(key, &header, &payload), NOW).unwrap_err();
                assert_eq!(err, TokenError::UnsupportedAlgorithm { alg: alg.into() });
            }
        }
        let crit = forge(Some(&secret), r#"{"alg":"HS256","crit":["b64"]}"#, &payload);
        assert!(matches!(verify(&secret, &crit, NOW), Err(TokenError::Malformed { .. })));
    }

    #[test]
    fn expiry_and_issue_time_are_checked_with_leeway() {
        let secret = ApiSecret::generate();
        let token = mint(&secret, &claims());
        let exp = claims().exp;
        assert!(verify(&secret, &token, exp + LEEWAY_SECS).is_ok());
        let err = verify(&secret, &token, exp + LEEWAY_SECS + 1).unwrap_err();
        assert_eq!(err, TokenError::Expired { ago: LEEWAY_SECS + 1 });
        assert!(err.to_string().contains("new join link"), "{err}");

        assert!(verify(&secret, &token, NOW - LEEWAY_SECS).is_ok());
        let err = verify(&secret, &token, NOW - LEEWAY_SECS - 1).unwrap_err();
        assert_eq!(err, TokenError::NotYetValid { wait: LEEWAY_SECS + 1 });

        let payload = r#"{"room":"standup","iat":1,"exp":1900000000,"nbf":1850000000}"#;
        let early = forge(Some(&secret), r#"{"alg":"HS256"}"#, payload);
        assert!(matches!(verify(&secret, &early, NOW), Err(TokenError::NotYetValid { .. })));
    }

    #[test]
    fn wrong_structure_is_malformed() {
        let secret = ApiSecret::generate();
        let good = mint(&secret, &claims());
        let too_long = format!("{good}{}", "A".repeat(MAX_TOKEN_BYTES));
        let bad_claims = forge(Some(&secret), r#"{"alg":"HS256"}"#, r#"{"room":"../x"}"#);
        let empty_sub = forge(
            Some(&secret),
            r#"{"alg":"HS256"}"#,
            r#"{"sub":"","room":"a","iat":1800000000,"exp":1800000100}"#,
        );
        for bad in [
            "",
            "abc",
            "a.b",
            "a.b.c.d",
            "!!!.e30.AAAA",
            &format!("{}.e30.AAAA", URL_SAFE_NO_PAD.encode("not json")),
            &format!("{good}.extra"),
            &too_long,
            &bad_claims,
            &empty_sub,
        ] {
            let err = verify(&secret, bad, NOW).unwrap_err();
            assert!(matches!(err, TokenError::Malformed { .. }), "{bad:?}: {err:?}");
        }
    }

    #[test]
    fn unknown_claims_are_ignored_and_sub_is_optional() {
        let secret = ApiSecret::generate();
        // Older links carried a `name` claim: it is ignored, never used or repeated.
        let payload =
            r#"{"room":"standup","iat":1800000000,"exp":1800000600,"extra":{"x":1},"name":"Ada"}"#;
        let token = forge(Some(&secret), r#"{"alg":"HS256","typ":"JWT","kid":"k"}"#, payload);
        let claims = verify(&secret, &token, NOW).unwrap();
        assert_eq!(claims.sub, None);
        assert!(!serde_json::to_string(&claims).unwrap().contains("Ada"));
        assert_eq!(
            claims.grants,
            Grants::default(),
            "no grants claim: microphone, camera, subscribe"
        );
        // A grant this server does not know could be a restriction it would fail to apply.
        let payload = r#"{"room":"standup","iat":1800000000,"exp":1800000600,"grants":{"x":1}}"#;
        let token = forge(Some(&secret), r#"{"alg":"HS256","typ":"JWT"}"#, payload);
        assert!(matches!(verify(&secret, &token, NOW), Err(TokenError::Malformed { .. })));
    }

    #[test]
    fn secrets_round_trip_through_hex_and_never_print() {
        let secret = ApiSecret::generate();
        let hex = secret.to_hex();
        assert_eq!(hex.len(), 64);
        let again = ApiSecret::from_hex(&format!("  {}\n", hex.to_uppercase())).unwrap();
        assert_eq!(again.to_hex(), hex);
        assert_eq!(format!("{secret:?}"), "ApiSecret(<redacted>)");
        assert_eq!(ApiSecret::from_hex("abcd").unwrap_err(), SecretError::TooShort { len: 2 });
        assert_eq!(ApiSecret::from_hex("xyz0").unwrap_err(), SecretError::NotHex);
        assert_eq!(ApiSecret::from_hex("abc").unwrap_err(), SecretError::NotHex);
        assert!(ApiSecret::from_bytes(&[7; 300]).is_err());
    }
}
