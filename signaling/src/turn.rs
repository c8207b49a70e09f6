//! TURN credentials for browsers that cannot reach the SFU directly.
//!
//! Veil does not relay media itself: a TURN server (coturn) does, for the networks that block
//! both UDP and direct TCP to the node. The two share a secret (coturn's `use-auth-secret` with
//! `static-auth-secret`), and signaling mints each participant its own credentials from it, the
//! scheme coturn calls the TURN REST API: the username is `EXPIRY:ID` (Unix seconds, then an
//! opaque id), the password the base64 of HMAC-SHA1 over the username under the secret. coturn
//! checks the MAC and the expiry itself; nothing is stored anywhere, and a credential that
//! leaks opens the relay to nobody after it expires.
//!
//! The opaque id is the participant's id, which is also what Veil's logs name: coturn's log
//! then says which session used the relay, and nothing more (no identity, no room).

use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use veil_proto::signal::IceServer;

/// How long credentials last unless configured: a day, as the TURN REST API draft advises.
/// coturn checks the expiry on every refresh of an allocation, so a call relayed through TURN
/// ends when its credentials expire; a day covers any meeting.
pub const DEFAULT_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// The shortest and longest lifetimes accepted.
const TTL_RANGE: std::ops::RangeInclusive<Duration> =
    Duration::from_secs(60)..=Duration::from_secs(7 * 24 * 60 * 60);

/// The shortest secret accepted: coturn takes any, but a short one can be guessed offline from
/// one credential.
pub const MIN_SECRET_LEN: usize = 16;

/// The TURN servers a node hands out, and the secret it shares with them.
#[derive(Clone, PartialEq, Eq)]
pub struct TurnConfig {
    /// `turn:` and `turns:` URLs, as `RTCPeerConnection` takes them, e.g.
    /// `turn:turn.example.org:3478?transport=udp` or `turns:turn.example.org:443?transport=tcp`.
    pub urls: Vec<String>,
    /// coturn's `static-auth-secret`.
    pub secret: String,
    /// How long each credential lasts.
    pub ttl: Duration,
}

impl fmt::Debug for TurnConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TurnConfig")
            .field("urls", &self.urls)
            .field("secret", &"<redacted>")
            .field("ttl", &self.ttl)
            .finish()
    }
}

/// A TURN setting that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TurnConfigError {
    #[error("[turn] urls is empty; name at least one turn: or turns: URL")]
    NoUrls,
    #[error("[turn] url {0:?} is not a turn: or turns: URL (e.g. turn:turn.example.org:3478)")]
    BadUrl(String),
    #[error(
        "[turn] secret is shorter than {MIN_SECRET_LEN} characters; use coturn's static-auth-secret (e.g. `openssl rand -hex 32`)"
    )]
    ShortSecret,
    #[error("[turn] ttl_secs is {0}; it must be between 60 and 604800 (a week)")]
    Ttl(u64),
}

impl TurnConfig {
    /// Checks the URLs, the secret and the lifetime.
    pub fn validate(&self) -> Result<(), TurnConfigError> {
        if self.urls.is_empty() {
            return Err(TurnConfigError::NoUrls);
        }
        for url in &self.urls {
            let rest = url.strip_prefix("turn:").or_else(|| url.strip_prefix("turns:"));
            let host = rest.map(|r| r.split(['?', ':']).next().unwrap_or_default());
            if host.is_none_or(str::is_empty) || url.chars().any(char::is_whitespace) {
                return Err(TurnConfigError::BadUrl(url.clone()));
            }
        }
        if self.secret.len() < MIN_SECRET_LEN {
            return Err(TurnConfigError::ShortSecret);
        }
        if !TTL_RANGE.contains(&self.ttl) {
            return Err(TurnConfigError::Ttl(self.ttl.as_secs()));
        }
        Ok(())
    }

    /// Credentials for `id` (an opaque participant id), valid from `now` (Unix seconds) for the
    /// configured lifetime.
    pub fn credentials(&self, now: u64, id: &str) -> IceServer {
        let username = format!("{}:{id}", now + self.ttl.as_secs());
        IceServer {
            urls: self.urls.clone(),
            credential: password(self.secret.as_bytes(), &username),
            username,
        }
    }
}

/// The password coturn expects for `username`: base64 of HMAC-SHA1(secret, username).
pub fn password(secret: &[u8], username: &str) -> String {
    let mut mac = <Hmac<Sha1>>::new_from_slice(secret).expect("HMAC accepts any key length");
    mac.update(username.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> TurnConfig {
        TurnConfig {
            urls: vec!["turn:turn.example.org:3478?transport=udp".into()],
            secret: "north-wind-and-the-sun".into(),
            ttl: DEFAULT_TTL,
        }
    }

    /// The password is RFC 2104 HMAC-SHA1 over the username, base64: checked against a value
    /// computed independently (`printf %s 1700086400:p_abc | openssl dgst -sha1 -hmac
    /// north-wind-and-the-sun -binary | base64`).
    #[test]
    fn credentials_are_what_coturn_computes() {
        let server = config().credentials(1_700_000_000, "p_abc");
        assert_eq!(server.username, "1700086400:p_abc");
        assert_eq!(server.credential, "m0MumAJJq3tvaAKXXyVIBoKDob4=");
        assert_eq!(server.urls, config().urls);
    }

    /// Another secret, another participant or another moment gives another password.
    #[test]
    fn credentials_are_bound_to_secret_participant_and_expiry() {
        let base = config().credentials(1_700_000_000, "p_abc").credential;
        let other_secret = TurnConfig { secret: "south-wind-and-the-moon".into(), ..config() };
        assert_ne!(other_secret.credentials(1_700_000_000, "p_abc").credential, base);
        assert_ne!(config().credentials(1_700_000_000, "p_abd").credential, base);
        assert_ne!(config().credentials(1_700_000_001, "p_abc").credential, base);
    }

    #[test]
    fn unworkable_settings_are_refused() {
        assert_eq!(config().validate(), Ok(()));
        let turns = TurnConfig {
            urls: vec!["turns:relay.example.org:443?transport=tcp".into()],
            ..config()
        };
        assert_eq!(turns.validate(), Ok(()));
        assert_eq!(
            TurnConfig { urls: vec![], ..config() }.validate(),
            Err(TurnConfigError::NoUrls)
        );
        for bad in ["stun:x.example.org", "https://x.example.org", "turn:", "turn:a b", "x"] {
            let c = TurnConfig { urls: vec![bad.into()], ..config() };
            assert_eq!(c.validate(), Err(TurnConfigError::BadUrl(bad.into())), "{bad}");
        }
        let short = TurnConfig { secret: "short".into(), ..config() };
        assert_eq!(short.validate(), Err(TurnConfigError::ShortSecret));
        let fleeting = TurnConfig { ttl: Duration::from_secs(10), ..config() };
        assert_eq!(fleeting.validate(), Err(TurnConfigError::Ttl(10)));
    }

    #[test]
    fn the_secret_is_not_printed() {
        assert!(!format!("{:?}", config()).contains("north-wind"));
    }
}
