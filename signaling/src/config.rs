//! What an operator can tune in the signaling service, with defaults that run on one machine.

use std::path::PathBuf;
use std::time::Duration;

use veil_proto::room::RoomPolicy;

use crate::turn::{TurnConfig, TurnConfigError};
use crate::webhooks::{self, WebhookConfigError, WebhookEndpoint};

/// Largest WebSocket message the socket layer itself will buffer. Messages between
/// [`SignalingConfig::max_message_bytes`] and this get a clear `message_too_large` error;
/// anything beyond this is cut off by the socket layer without one.
pub const SOCKET_MESSAGE_LIMIT: usize = 1024 * 1024;

/// How long a new connection has to send `join`.
pub const JOIN_TIMEOUT: Duration = Duration::from_secs(10);

/// A connection from which nothing (not even a pong) arrived for this many heartbeat intervals
/// is dropped.
pub const SILENT_INTERVALS: u32 = 3;

/// Settings of the signaling service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignalingConfig {
    /// The built browser client: `index.html` and an `assets/` folder.
    pub assets_dir: PathBuf,
    /// Largest signaling message accepted from a client, in bytes. An SDP offer is 2–10 KiB;
    /// an MLS commit that adds someone carries the Welcome with the group's whole ratchet tree,
    /// about 600 bytes per member once base64-encoded (92 KiB for 150 members).
    pub max_message_bytes: usize,
    /// Interval between WebSocket pings. A connection silent for
    /// [`SILENT_INTERVALS`] intervals is dropped.
    pub heartbeat: Duration,
    /// Where revocations (and a host's removals) are kept across restarts, normally
    /// `revocations.json` in the data directory. `None` keeps them in memory only.
    pub revocations_file: Option<PathBuf>,
    /// The most participants a new room holds (its hosts may lower or raise it up to
    /// [`RoomPolicy::MAX_PARTICIPANTS`](veil_proto::room::RoomPolicy::MAX_PARTICIPANTS)).
    pub max_participants: u32,
    /// Where signed events about rooms, participants and tracks are POSTed ([`webhooks`]).
    pub webhooks: Vec<WebhookEndpoint>,
    /// The first retry of a failed webhook waits this long, each further one twice as long
    /// (default 1 s: retries after 1, 2, 4, 8 and 16 s).
    pub webhook_retry_base: Duration,
    /// TURN relays handed to each participant with credentials of its own ([`crate::turn`]).
    pub turn: Option<TurnConfig>,
}

impl Default for SignalingConfig {
    fn default() -> Self {
        Self {
            assets_dir: PathBuf::from("client-js/dist"),
            max_message_bytes: 512 * 1024,
            heartbeat: Duration::from_secs(10),
            revocations_file: None,
            max_participants: 100,
            webhooks: Vec::new(),
            webhook_retry_base: webhooks::DEFAULT_RETRY_BASE,
            turn: None,
        }
    }
}

/// A setting that can't work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "max_message_bytes is {0}; it must be between 1024 and {SOCKET_MESSAGE_LIMIT} \
         (an MLS Welcome for a large room is hundreds of KiB; the default is 524288)"
    )]
    MessageLimit(usize),
    #[error("heartbeat is {0:?}; it must be between 100 ms and 5 min (the default is 10 s)")]
    Heartbeat(Duration),
    #[error("max_participants is {0}; it must be between 1 and {max} (the default is 100)", max = RoomPolicy::MAX_PARTICIPANTS)]
    MaxParticipants(u32),
    #[error(transparent)]
    Webhook(#[from] WebhookConfigError),
    #[error(transparent)]
    Turn(#[from] TurnConfigError),
    #[error("webhook_retry_base is {0:?}; it must be between 1 ms and 1 min (the default is 1 s)")]
    WebhookRetryBase(Duration),
}

impl SignalingConfig {
    /// Checks that the settings can work together.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(1024..=SOCKET_MESSAGE_LIMIT).contains(&self.max_message_bytes) {
            return Err(ConfigError::MessageLimit(self.max_message_bytes));
        }
        if !(Duration::from_millis(100)..=Duration::from_secs(300)).contains(&self.heartbeat) {
            return Err(ConfigError::Heartbeat(self.heartbeat));
        }
        if !(1..=RoomPolicy::MAX_PARTICIPANTS).contains(&self.max_participants) {
            return Err(ConfigError::MaxParticipants(self.max_participants));
        }
        for endpoint in &self.webhooks {
            endpoint.validate()?;
        }
        if let Some(turn) = &self.turn {
            turn.validate()?;
        }
        let base = self.webhook_retry_base;
        if !(Duration::from_millis(1)..=Duration::from_secs(60)).contains(&base) {
            return Err(ConfigError::WebhookRetryBase(base));
        }
        Ok(())
    }

    /// How long a connection may stay silent before it is dropped.
    pub fn silence_limit(&self) -> Duration {
        self.heartbeat * SILENT_INTERVALS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        let config = SignalingConfig::default();
        assert_eq!(config.validate(), Ok(()));
        assert_eq!(config.max_message_bytes, 524288);
        assert_eq!(config.silence_limit(), Duration::from_secs(30));
    }

    #[test]
    fn unworkable_settings_are_refused() {
        let tiny = SignalingConfig { max_message_bytes: 10, ..Default::default() };
        assert_eq!(tiny.validate(), Err(ConfigError::MessageLimit(10)));
        let huge = SignalingConfig { max_message_bytes: 2 << 20, ..Default::default() };
        assert!(huge.validate().is_err());
        let zero = SignalingConfig { heartbeat: Duration::ZERO, ..Default::default() };
        assert_eq!(zero.validate(), Err(ConfigError::Heartbeat(Duration::ZERO)));
        let empty = SignalingConfig { max_participants: 0, ..Default::default() };
        assert_eq!(empty.validate(), Err(ConfigError::MaxParticipants(0)));
        let hook = WebhookEndpoint { url: "gopher://x".into(), secret: "s".repeat(16) };
        let bad_hook = SignalingConfig { webhooks: vec![hook], ..Default::default() };
        assert!(matches!(bad_hook.validate(), Err(ConfigError::Webhook(_))));
    }
}
