//! One error type for the registry. [`ClusterError::is_unavailable`] separates "Redis cannot be
//! reached now" (retry on the next heartbeat, keep serving the rooms already held) from
//! mistakes that retrying will not fix.

use std::time::Duration;

use redis::{ErrorKind, RedisError, ServerErrorKind};

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// Redis did not answer in time: it is down, overloaded or cut off.
    #[error(
        "Redis did not answer within {0:?}: check that it is running and reachable from this node"
    )]
    Timeout(Duration),
    /// The connection to Redis failed or broke.
    #[error("Redis is unreachable ({0}): check that it is running and that the URL is right")]
    Unavailable(RedisError),
    /// Redis answered with an error (permissions, a wrong key type, a failed script).
    #[error("Redis refused a registry request: {0}")]
    Redis(RedisError),
    #[error("invalid Redis URL: {0}")]
    InvalidUrl(RedisError),
    #[error(
        "invalid node id {0:?}: use 1 to {max} characters from A-Z, a-z, 0-9, '.', '_' and '-'",
        max = crate::NodeId::MAX_LEN
    )]
    InvalidNodeId(String),
    /// A live node already uses this id with another signaling URL.
    #[error(
        "node id {node} is already registered by a live node at {url}: give each node an id of its own"
    )]
    DuplicateNodeId { node: String, url: String },
    /// A load figure that cannot be compared: negative, infinite or NaN.
    #[error("invalid load figure {field} = {value}: it must be finite and not negative")]
    InvalidLoad { field: &'static str, value: f64 },
    /// A node record in Redis that this version cannot read.
    #[error("node {node} has a malformed record in Redis: {reason}")]
    MalformedRecord { node: String, reason: String },
    /// A script answered something this version does not expect.
    #[error(
        "the {script} script answered {reply:?}: is another Veil version writing the registry?"
    )]
    UnexpectedReply { script: &'static str, reply: String },
    /// No live node with capacity could take a room.
    #[error("no live node can take the room: none is registered with capacity")]
    NoLiveNode,
    #[error("invalid cluster timing: {0}")]
    InvalidTiming(&'static str),
    #[error("the room-key secret is empty: derive it from the deployment's API secret")]
    EmptySecret,
}

impl ClusterError {
    /// True when Redis could not be reached or did not answer: the caller may retry later.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, ClusterError::Timeout(_) | ClusterError::Unavailable(_))
    }

    /// Sorts an error from the Redis client into unreachable or refused.
    pub(crate) fn from_redis(error: RedisError) -> Self {
        if is_connection_failure(&error) {
            ClusterError::Unavailable(error)
        } else {
            ClusterError::Redis(error)
        }
    }
}

fn is_connection_failure(error: &RedisError) -> bool {
    error.is_io_error()
        || error.is_connection_dropped()
        || error.is_connection_refusal()
        || error.is_timeout()
        || matches!(error.kind(), ErrorKind::Server(ServerErrorKind::BusyLoading))
}
