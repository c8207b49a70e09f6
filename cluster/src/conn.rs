//! The connection to Redis: one multiplexed connection that reconnects by itself, and a bound
//! on every request so that an unreachable Redis costs a caller at most [`Timing::op_timeout`].

use std::fmt;
use std::future::Future;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Cmd, FromRedisValue, Pipeline, RedisResult, ScriptInvocation};

use crate::{ClusterError, Timing};

/// A handle on the deployment's Redis, cheap to clone; [`crate::NodeRegistry`] and
/// [`crate::Placement`] share one.
#[derive(Clone)]
pub struct Redis {
    connection: ConnectionManager,
    op_timeout: Duration,
}

impl Redis {
    /// Connects to `url` (`redis://[user:password@]host:port[/db]`) and checks that Redis
    /// answers. After this the connection heals by itself: a request made while Redis is
    /// unreachable fails, and starts a new connection attempt for the next one.
    pub async fn connect(url: &str, timing: Timing) -> Result<Self, ClusterError> {
        timing.validate()?;
        let client = redis::Client::open(url).map_err(ClusterError::InvalidUrl)?;
        let connection = ConnectionManager::new_lazy_with_config(client, config(&timing))
            .map_err(ClusterError::from_redis)?;
        let redis = Redis { connection, op_timeout: timing.op_timeout };
        redis.ping().await?;
        Ok(redis)
    }

    /// Checks that Redis answers now.
    pub async fn ping(&self) -> Result<(), ClusterError> {
        self.query::<String>(&redis::cmd("PING")).await.map(drop)
    }

    pub(crate) async fn query<T: FromRedisValue>(&self, cmd: &Cmd) -> Result<T, ClusterError> {
        let mut connection = self.connection.clone();
        self.bounded(cmd.query_async(&mut connection)).await
    }

    pub(crate) async fn pipeline<T: FromRedisValue>(
        &self,
        pipeline: &Pipeline,
    ) -> Result<T, ClusterError> {
        let mut connection = self.connection.clone();
        self.bounded(pipeline.query_async(&mut connection)).await
    }

    /// Runs a script by its hash, loading it first when Redis does not know it (as after a
    /// restart).
    pub(crate) async fn script<T: FromRedisValue>(
        &self,
        invocation: &ScriptInvocation<'_>,
    ) -> Result<T, ClusterError> {
        let mut connection = self.connection.clone();
        self.bounded(invocation.invoke_async(&mut connection)).await
    }

    async fn bounded<T>(
        &self,
        request: impl Future<Output = RedisResult<T>>,
    ) -> Result<T, ClusterError> {
        match tokio::time::timeout(self.op_timeout, request).await {
            // The client's own response timeout is the same bound, and may fire first.
            Ok(Err(error)) if error.is_timeout() => Err(ClusterError::Timeout(self.op_timeout)),
            Ok(result) => result.map_err(ClusterError::from_redis),
            Err(_elapsed) => Err(ClusterError::Timeout(self.op_timeout)),
        }
    }
}

/// One connection attempt per request, each bounded like a request: the heartbeat is the retry
/// loop, so a reconnect never outlives the request that started it by more than one attempt.
fn config(timing: &Timing) -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(Some(timing.op_timeout))
        .set_response_timeout(Some(timing.op_timeout))
        .set_number_of_retries(0)
}

impl fmt::Debug for Redis {
    /// Leaves the URL out: it may hold a password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redis").field("op_timeout", &self.op_timeout).finish_non_exhaustive()
    }
}
