//! Revocations every node must know: a host's removal or an operator's revocation made on one
//! node refuses joins on all of them, including after the room moved to another node.
//!
//! Redis keeps them as opaque blobs the caller seals (`veil` encrypts each under a key derived
//! from the deployment's secret: revocations name rooms and identities, which Redis must not
//! see), in one sorted set scored by the Unix time each revocation ends. Reading drops the
//! ended ones first, so the set holds only what is in force.

use crate::{ClusterError, Redis, keys};

/// The fleet's shared revocations.
#[derive(Clone)]
pub struct SharedRevocations {
    redis: Redis,
}

impl SharedRevocations {
    pub fn new(redis: Redis) -> Self {
        SharedRevocations { redis }
    }

    /// Publishes one sealed revocation, in force until `until` (Unix seconds).
    pub async fn publish(&self, sealed: &[u8], until: u64) -> Result<(), ClusterError> {
        let cmd = redis::cmd("ZADD").arg(keys::REVOCATIONS).arg(until).arg(sealed).clone();
        self.redis.query::<i64>(&cmd).await.map(drop)
    }

    /// Every sealed revocation still in force at `now` (Unix seconds); drops the ended ones.
    pub async fn in_force(&self, now: u64) -> Result<Vec<Vec<u8>>, ClusterError> {
        let mut pipeline = redis::pipe();
        pipeline.atomic();
        pipeline.cmd("ZREMRANGEBYSCORE").arg(keys::REVOCATIONS).arg("-inf").arg(now).ignore();
        pipeline.cmd("ZRANGE").arg(keys::REVOCATIONS).arg(0).arg(-1);
        let (sealed,): (Vec<Vec<u8>>,) = self.redis.pipeline(&pipeline).await?;
        Ok(sealed)
    }
}
