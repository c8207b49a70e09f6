//! How often nodes write to Redis, how long what they write lives, and how long a request may
//! take.

use std::time::Duration;

use crate::ClusterError;

/// The registry's clock settings. Every node of a deployment should use the same.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    /// How often a node calls [`crate::NodeRegistry::heartbeat`] and
    /// [`crate::Placement::refresh`].
    pub heartbeat: Duration,
    /// How long a node record or a room claim lives without a refresh: how long a dead node
    /// stays listed and keeps its rooms.
    pub ttl: Duration,
    /// The longest any one Redis request may take, connecting included.
    pub op_timeout: Duration,
}

impl Timing {
    /// Heartbeats a node may miss before it counts as dead.
    pub const MISSED_HEARTBEATS: u32 = 3;

    /// A TTL of [`Timing::MISSED_HEARTBEATS`] heartbeats, and requests bounded by half a
    /// heartbeat so that a slow Redis never delays the next one.
    pub fn from_heartbeat(heartbeat: Duration) -> Self {
        Timing { heartbeat, ttl: heartbeat * Self::MISSED_HEARTBEATS, op_timeout: heartbeat / 2 }
    }

    pub fn validate(&self) -> Result<(), ClusterError> {
        if self.heartbeat.is_zero() || self.op_timeout.is_zero() {
            return Err(ClusterError::InvalidTiming("heartbeat and op_timeout must be above zero"));
        }
        if self.ttl <= self.heartbeat + self.op_timeout {
            return Err(ClusterError::InvalidTiming(
                "ttl must exceed one heartbeat plus op_timeout, or live nodes would flicker out",
            ));
        }
        Ok(())
    }

    /// The TTL in whole milliseconds, as Redis's PX and PEXPIRE take it (at least 1).
    pub(crate) fn ttl_ms(&self) -> u64 {
        u64::try_from(self.ttl.as_millis()).unwrap_or(u64::MAX).max(1)
    }
}

impl Default for Timing {
    /// A heartbeat every 2 s and a TTL of 6 s, as docs/cascading.md plans.
    fn default() -> Self {
        Timing::from_heartbeat(Duration::from_secs(2))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_two_second_heartbeats_living_six_seconds() {
        let timing = Timing::default();
        assert_eq!(timing.ttl, Duration::from_secs(6));
        assert_eq!(timing.op_timeout, Duration::from_secs(1));
        timing.validate().unwrap();
    }

    #[test]
    fn a_ttl_shorter_than_a_heartbeat_is_refused() {
        let timing = Timing { ttl: Duration::from_secs(1), ..Timing::default() };
        assert!(matches!(timing.validate(), Err(ClusterError::InvalidTiming(_))));
    }

    #[test]
    fn ttl_ms_is_never_zero() {
        let timing = Timing { ttl: Duration::from_micros(10), ..Timing::default() };
        assert_eq!(timing.ttl_ms(), 1);
    }
}
