//! A node's record in Redis: written on register and on every heartbeat, expiring when the
//! heartbeats stop, deleted on a clean shutdown.

use std::sync::LazyLock;

use redis::Script;

use crate::node::FIELDS;
use crate::{ClusterError, NodeId, NodeInfo, NodeLoad, Redis, Timing, keys};

static LIVE_NODES: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("lua/live_nodes.lua")));

/// This node's entry in the registry, and the registry's list of live nodes.
#[derive(Debug)]
pub struct NodeRegistry {
    redis: Redis,
    node: NodeId,
    signaling_url: String,
    timing: Timing,
}

impl NodeRegistry {
    /// `signaling_url` is where the other nodes reach this node's signaling (an internal
    /// address, not the public one).
    pub fn new(
        redis: Redis,
        node: NodeId,
        signaling_url: impl Into<String>,
        timing: Timing,
    ) -> Self {
        NodeRegistry { redis, node, signaling_url: signaling_url.into(), timing }
    }

    pub fn node(&self) -> &NodeId {
        &self.node
    }

    /// Writes this node's first record. Refuses when a live node already holds this id with
    /// another signaling URL: two nodes sharing an id would overwrite each other's load and
    /// share each other's rooms. (The check and the write are two steps; it catches a
    /// misconfiguration, it is no lock.)
    pub async fn register(&self, load: NodeLoad) -> Result<(), ClusterError> {
        let url_cmd = redis::cmd("HGET").arg(keys::node(&self.node)).arg(FIELDS[0]).clone();
        let registered: Option<String> = self.redis.query(&url_cmd).await?;
        if let Some(url) = registered.filter(|url| *url != self.signaling_url) {
            return Err(ClusterError::DuplicateNodeId { node: self.node.to_string(), url });
        }
        self.heartbeat(load).await
    }

    /// Replaces this node's record with `load` and restarts its TTL. It also writes the record
    /// back after Redis lost it (a restart, or an outage longer than the TTL).
    pub async fn heartbeat(&self, load: NodeLoad) -> Result<(), ClusterError> {
        load.validate()?;
        let info =
            NodeInfo { id: self.node.clone(), signaling_url: self.signaling_url.clone(), load };
        let key = keys::node(&self.node);
        let mut write = redis::pipe();
        write
            .atomic()
            .hset_multiple(&key, &info.to_fields())
            .ignore()
            .pexpire(&key, self.ttl_ms())
            .ignore()
            .sadd(keys::NODE_INDEX, self.node.as_str())
            .ignore();
        self.redis.pipeline::<()>(&write).await
    }

    /// Every node whose record has not expired, this one included if it is registered, in no
    /// particular order. A record this version cannot read is left out, with a warning.
    pub async fn live_nodes(&self) -> Result<Vec<NodeInfo>, ClusterError> {
        let mut call = LIVE_NODES.key(keys::NODE_INDEX);
        call.arg(keys::NODE_PREFIX).arg(&FIELDS[..]);
        let records: Vec<Vec<Option<String>>> = self.redis.script(&call).await?;
        Ok(records.iter().filter_map(|record| parse_record(record)).collect())
    }

    /// Deletes this node's record at once, so that no room is placed here while the record
    /// would otherwise wait out its TTL. Release the rooms first ([`crate::Placement::release_all`]).
    pub async fn deregister(&self) -> Result<(), ClusterError> {
        let mut delete = redis::pipe();
        delete
            .atomic()
            .del(keys::node(&self.node))
            .ignore()
            .srem(keys::NODE_INDEX, self.node.as_str())
            .ignore();
        self.redis.pipeline::<()>(&delete).await
    }

    fn ttl_ms(&self) -> i64 {
        i64::try_from(self.timing.ttl_ms()).unwrap_or(i64::MAX)
    }
}

/// One record as the live-nodes script returns it: the id, then the values of [`FIELDS`].
fn parse_record(record: &[Option<String>]) -> Option<NodeInfo> {
    let (Some(Some(id)), Some(values)) = (record.first(), record.get(1..)) else {
        tracing::warn!("skipping a node record without an id");
        return None;
    };
    NodeInfo::from_fields(id, values)
        .inspect_err(|error| tracing::warn!(%error, "skipping a node record"))
        .ok()
}
