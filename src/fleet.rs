//! `veil serve --redis-url`: this node as one of several that share rooms through Redis.
//!
//! The registry and placement live in `veil-cluster`; this module puts them to work for one
//! node. It registers the node, then every heartbeat reports the node's load, keeps the claims
//! of the rooms that live here (and gives up those that ended), and answers signaling's
//! question of where a room lives ([`RoomDirectory`]): here, or on another node whose
//! signaling the connection is relayed to.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use veil_cluster::{
    ClusterError, NodeId, NodeInfo, NodeLoad, NodeRegistry, Placement, Redis, RoomHasher,
    SharedRevocations, Timing,
};
use veil_proto::RoomName;
use veil_signaling::AppState;
use veil_signaling::cluster::{DirectoryError, Home, RoomDirectory};
use veil_signaling::revocations::Revocation;

/// How often a node reports to Redis. A node that stops is noticed after three of these, and
/// its rooms are then placed again on their next join.
pub const HEARTBEAT: Duration = Duration::from_secs(1);

/// Egress packets per second one node takes before placement prefers others: about 70 % of
/// what one forwarding core saturates at (docs/cascading.md, docs/benchmarks.md).
pub const DEFAULT_CAPACITY_PPS: u64 = 60_000;

/// Where this node is in the fleet.
#[derive(Clone, Debug)]
pub struct FleetSettings {
    pub redis_url: String,
    pub node_id: String,
    /// Where the other nodes reach this node's signaling (`http://10.0.0.2:7880`).
    pub node_url: String,
}

/// This node's membership of the fleet.
pub struct Fleet {
    registry: NodeRegistry,
    placement: Placement,
    revocations: SharedRevocations,
    seal: Seal,
    node: NodeId,
}

impl std::fmt::Debug for Fleet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fleet").field("node", &self.node).finish_non_exhaustive()
    }
}

impl Fleet {
    /// Connects to Redis and registers this node. `deployment_secret` keys the room ids Redis
    /// sees (it never sees a room name); every node of a deployment has the same one.
    pub async fn join(
        settings: &FleetSettings,
        deployment_secret: &[u8],
    ) -> anyhow::Result<Arc<Self>> {
        let timing = Timing::from_heartbeat(HEARTBEAT);
        let node = NodeId::new(settings.node_id.clone())?;
        let redis = Redis::connect(&settings.redis_url, timing)
            .await
            .with_context(|| format!("cannot reach Redis at {}", redacted(&settings.redis_url)))?;
        let registry =
            NodeRegistry::new(redis.clone(), node.clone(), settings.node_url.clone(), timing);
        let hasher = RoomHasher::new(deployment_secret)?;
        let placement = Placement::new(redis.clone(), node.clone(), hasher, timing);
        let revocations = SharedRevocations::new(redis);
        let seal = Seal::new(deployment_secret);
        registry.register(idle()).await.context("cannot register this node in Redis")?;
        Ok(Arc::new(Fleet { registry, placement, revocations, seal, node }))
    }

    /// Reports this node's load and keeps its rooms' claims, every [`HEARTBEAT`], for as long
    /// as the process runs. Redis being away is logged, never fatal: the next heartbeat after
    /// it returns writes everything back.
    pub async fn heartbeats(self: Arc<Self>, state: AppState) {
        let mut tick = tokio::time::interval(HEARTBEAT);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut here: HashSet<RoomName> = HashSet::new();
        let mut shared: HashSet<Revocation> = HashSet::new();
        loop {
            tick.tick().await;
            let load = NodeLoad {
                participants: state.participant_count() as u32,
                rooms: state.room_count() as u32,
                egress_pps: state.metrics().packets_out_per_second(),
                capacity_pps: DEFAULT_CAPACITY_PPS,
            };
            if let Err(e) = self.beat(load, &state, &mut here).await {
                tracing::warn!(error = %e, "cannot reach the fleet's Redis; rooms stay where they are");
            }
            if let Err(e) = self.share_revocations(&state, &mut shared).await {
                tracing::warn!(error = %e, "cannot share revocations with the fleet");
            }
        }
    }

    /// One heartbeat: the load, the claims of the rooms here, and the release of those gone.
    async fn beat(
        &self,
        load: NodeLoad,
        state: &AppState,
        here: &mut HashSet<RoomName>,
    ) -> Result<(), ClusterError> {
        self.registry.heartbeat(load).await?;
        let now: HashSet<RoomName> = state.room_names().into_iter().collect();
        // Rooms another node placed here (a relayed join) are held from their first heartbeat.
        for room in &now {
            self.placement.hold(room.as_str());
        }
        let lost = self.placement.refresh().await?;
        if !lost.is_empty() {
            tracing::warn!(
                rooms = lost.len(),
                "rooms here were claimed by another node; their next joins go there"
            );
        }
        for gone in here.difference(&now) {
            self.placement.release(gone.as_str()).await?;
        }
        *here = now;
        Ok(())
    }

    /// Publishes the revocations made here that the fleet does not have yet, and learns those
    /// made elsewhere. `shared` is what is known to be in Redis already.
    async fn share_revocations(
        &self,
        state: &AppState,
        shared: &mut HashSet<Revocation>,
    ) -> Result<(), ClusterError> {
        for revocation in state.revocations() {
            if !shared.contains(&revocation) {
                self.revocations.publish(&self.seal.seal(&revocation), revocation.until).await?;
                shared.insert(revocation);
            }
        }
        let now = veil_signaling::token::now_unix();
        let learned: Vec<Revocation> = self
            .revocations
            .in_force(now)
            .await?
            .iter()
            .filter_map(|sealed| self.seal.open(sealed))
            .filter(|r| !shared.contains(r))
            .collect();
        if !learned.is_empty() {
            tracing::info!(count = learned.len(), "learned revocations made on other nodes");
            shared.extend(learned.iter().cloned());
            state.learn_revocations(learned);
        }
        shared.retain(|r| r.until > now);
        Ok(())
    }

    /// Gives up this node's rooms and record on a clean shutdown, so that they move at once
    /// instead of after the heartbeat TTL.
    pub async fn leave(&self) {
        if let Err(e) = self.placement.release_all().await {
            tracing::warn!(error = %e, "cannot release this node's rooms");
        }
        if let Err(e) = self.registry.deregister().await {
            tracing::warn!(error = %e, "cannot take this node out of the registry");
        }
    }

    async fn home(&self, room: &RoomName) -> Result<Home, ClusterError> {
        let nodes = self.registry.live_nodes().await?;
        let home = self.placement.place(room.as_str(), &nodes).await?;
        if home == self.node {
            return Ok(Home::Here);
        }
        let node = match nodes.iter().find(|n| n.id == home) {
            Some(node) => node.clone(),
            // Registered after our listing: list again.
            None => self
                .registry
                .live_nodes()
                .await?
                .into_iter()
                .find(|n| n.id == home)
                .ok_or(ClusterError::NoLiveNode)?,
        };
        Ok(Home::There { ws_url: ws_url(&node) })
    }
}

impl RoomDirectory for Fleet {
    fn home_of<'a>(&'a self, room: &'a RoomName) -> BoxFuture<'a, Result<Home, DirectoryError>> {
        async move { self.home(room).await.map_err(|e| DirectoryError(e.to_string())) }.boxed()
    }
}

/// Seals revocations for Redis: AES-256-GCM under a key derived from the deployment's secret,
/// a fresh nonce each, so that Redis holds neither room names nor identities, and a record
/// nobody with the secret made is not believed.
struct Seal {
    cipher: aes_gcm::Aes256Gcm,
}

impl Seal {
    const NONCE_LEN: usize = 12;

    fn new(deployment_secret: &[u8]) -> Self {
        use aes_gcm::KeyInit;
        use hmac::{Hmac, Mac};
        let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(deployment_secret)
            .expect("HMAC accepts any key length");
        mac.update(b"veil fleet revocations v1");
        let key = mac.finalize().into_bytes();
        Seal { cipher: aes_gcm::Aes256Gcm::new(&key) }
    }

    /// Nonce, then the ciphertext of the revocation's JSON.
    fn seal(&self, revocation: &Revocation) -> Vec<u8> {
        use aes_gcm::aead::Aead;
        let nonce: [u8; Self::NONCE_LEN] = rand::random();
        let plain = serde_json::to_vec(revocation).expect("a revocation serializes");
        let sealed = self.cipher.encrypt(&nonce.into(), plain.as_slice()).expect("AES-GCM seals");
        [nonce.as_slice(), &sealed].concat()
    }

    /// The revocation in `sealed`, or none if it was not sealed under this deployment's key.
    fn open(&self, sealed: &[u8]) -> Option<Revocation> {
        use aes_gcm::aead::Aead;
        if sealed.len() < Self::NONCE_LEN {
            return None;
        }
        let (nonce, ciphertext) = sealed.split_at(Self::NONCE_LEN);
        let plain = self.cipher.decrypt(nonce.into(), ciphertext).ok()?;
        serde_json::from_slice(&plain).ok()
    }
}

/// The nodes live in the fleet's Redis now, as `veil check` asks without registering; a
/// message on failure.
pub async fn live_nodes(settings: &FleetSettings) -> Result<Vec<NodeInfo>, String> {
    let timing = Timing::from_heartbeat(HEARTBEAT);
    let node = NodeId::new(settings.node_id.clone()).map_err(|e| e.to_string())?;
    let redis = Redis::connect(&settings.redis_url, timing).await.map_err(|e| e.to_string())?;
    let registry = NodeRegistry::new(redis, node, settings.node_url.clone(), timing);
    registry.live_nodes().await.map_err(|e| e.to_string())
}

/// A node's signaling WebSocket from its registered URL: `http://h:p` → `ws://h:p/ws`.
fn ws_url(node: &NodeInfo) -> String {
    let base = node.signaling_url.trim_end_matches('/');
    let base = match base.split_once("://") {
        Some(("https", rest)) => format!("wss://{rest}"),
        Some((_, rest)) => format!("ws://{rest}"),
        None => format!("ws://{base}"),
    };
    format!("{base}/ws")
}

/// A Redis URL without its password, for messages.
pub fn redacted(url: &str) -> String {
    match (url.split_once("://"), url.rfind('@')) {
        (Some((scheme, _)), Some(at)) => format!("{scheme}://…{}", &url[at..]),
        _ => url.to_string(),
    }
}

/// The load of a node with nobody on it.
fn idle() -> NodeLoad {
    NodeLoad { capacity_pps: DEFAULT_CAPACITY_PPS, ..NodeLoad::default() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_are_reached_at_their_signaling_websocket() {
        let node = |url: &str| NodeInfo {
            id: NodeId::new("a").unwrap(),
            signaling_url: url.into(),
            load: NodeLoad::default(),
        };
        assert_eq!(ws_url(&node("http://10.0.0.2:7880")), "ws://10.0.0.2:7880/ws");
        assert_eq!(ws_url(&node("https://a.internal/")), "wss://a.internal/ws");
        assert_eq!(ws_url(&node("10.0.0.2:7880")), "ws://10.0.0.2:7880/ws");
    }

    /// What one node seals, another with the same secret opens; Redis sees no name, and a
    /// record sealed under another deployment's secret, or altered, is not believed.
    #[test]
    fn revocations_travel_sealed() {
        let revocation = Revocation {
            room: RoomName::new("board-meeting").unwrap(),
            identity: Some("mallory".into()),
            token_id: None,
            until: 1_900_000_000,
        };
        let (a, b) = (Seal::new(b"deployment secret"), Seal::new(b"deployment secret"));
        let sealed = a.seal(&revocation);
        assert_eq!(b.open(&sealed), Some(revocation.clone()));
        let text = String::from_utf8_lossy(&sealed);
        assert!(!text.contains("board-meeting") && !text.contains("mallory"));
        assert_ne!(a.seal(&revocation), sealed, "a fresh nonce each time");
        assert_eq!(Seal::new(b"another deployment").open(&sealed), None);
        let mut altered = sealed.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert_eq!(b.open(&altered), None);
        assert_eq!(b.open(&sealed[..5]), None);
    }

    #[test]
    fn redis_passwords_stay_out_of_messages() {
        assert_eq!(redacted("redis://:hunter2@10.0.0.9:6379/0"), "redis://…@10.0.0.9:6379/0");
        assert_eq!(redacted("redis://10.0.0.9:6379"), "redis://10.0.0.9:6379");
    }
}
