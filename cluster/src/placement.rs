//! Room homes: which node owns each room, claimed in Redis so that every node agrees.
//!
//! A claim is `veil:room:<room id>` → the home's node id, with the registry's TTL. It is made
//! by whichever node places the room (often not the home itself), kept alive by the home's
//! [`Placement::refresh`], and deleted by the home's [`Placement::release`]. A claim whose home
//! no longer has a node record counts as no claim: the room is placed again on its next join,
//! without waiting for the claim itself to expire.

use std::collections::HashMap;
use std::fmt;
use std::sync::{LazyLock, Mutex, MutexGuard};

use redis::Script;

use crate::node::{EGRESS_FIELD, ROOMS_FIELD};
use crate::{ClusterError, NodeId, NodeInfo, Redis, RoomHasher, Timing, choose_home, keys};

static HOME: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/home.lua")));
static CLAIM: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/claim.lua")));
static REFRESH: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/refresh.lua")));
static RELEASE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/release.lua")));

/// One node's view of room placement: it places rooms on any node, and keeps the claims of
/// the rooms it is home to.
pub struct Placement {
    redis: Redis,
    node: NodeId,
    hasher: RoomHasher,
    timing: Timing,
    /// The rooms this node is home to, by room key, with their names (names stay on the node).
    held: Mutex<HashMap<String, String>>,
}

/// What the claim script answered.
enum Claim {
    /// The room has a live home, or has just been given one.
    Home(NodeId),
    /// The chosen node's record expired before the claim: choose again without it.
    CandidateGone,
}

impl Placement {
    /// The load a room is expected to add to its home until the home's next heartbeat reports
    /// it: a meeting of about five people with cameras in a grid (docs/cascading.md, "Media"),
    /// 5 × (4 cameras × 187 + 4 microphones × 50) packets/s.
    pub const DEFAULT_ROOM_RESERVATION_PPS: f64 = 4_740.0;

    pub fn new(redis: Redis, node: NodeId, hasher: RoomHasher, timing: Timing) -> Self {
        Placement { redis, node, hasher, timing, held: Mutex::new(HashMap::new()) }
    }

    /// The room's home, if it has a live one.
    pub async fn home_of(&self, room: &str) -> Result<Option<NodeId>, ClusterError> {
        let mut call = HOME.key(self.room_key(room));
        call.arg(keys::NODE_PREFIX);
        let home: Option<String> = self.redis.script(&call).await?;
        home.map(NodeId::new).transpose()
    }

    /// The room's home: the one it has, or else the least-loaded of `candidates`
    /// ([`choose_home`]), claimed for it atomically. Nodes that race to place one room all
    /// return the same home. Pass fresh [`crate::NodeRegistry::live_nodes`]: the claim reserves
    /// [`Placement::DEFAULT_ROOM_RESERVATION_PPS`] on the chosen node, which the next listing
    /// shows. When the home is this node, this node starts holding the room (see
    /// [`Placement::hold`]).
    pub async fn place(&self, room: &str, candidates: &[NodeInfo]) -> Result<NodeId, ClusterError> {
        self.place_expecting(room, candidates, Self::DEFAULT_ROOM_RESERVATION_PPS).await
    }

    /// [`Placement::place`] for a room whose expected load is known, such as a webinar sized by
    /// its `max_participants`.
    pub async fn place_expecting(
        &self,
        room: &str,
        candidates: &[NodeInfo],
        expected_pps: f64,
    ) -> Result<NodeId, ClusterError> {
        if !expected_pps.is_finite() || expected_pps < 0.0 {
            return Err(ClusterError::InvalidLoad { field: "expected_pps", value: expected_pps });
        }
        let key = self.room_key(room);
        let mut remaining = candidates.to_vec();
        let home = loop {
            let Some(choice) = choose_home(&remaining) else {
                break self.home_of(room).await?.ok_or(ClusterError::NoLiveNode)?;
            };
            match self.claim(&key, &choice, expected_pps).await? {
                Claim::Home(home) => break home,
                Claim::CandidateGone => remaining.retain(|node| node.id != choice),
            }
        };
        if home == self.node {
            self.held().insert(key, room.to_owned());
        }
        Ok(home)
    }

    /// Starts refreshing the room's claim on each [`Placement::refresh`]: call it when this
    /// node takes up a room another node placed here. Holding a room whose claim names another
    /// node does nothing but report it as lost at the next refresh.
    pub fn hold(&self, room: &str) {
        self.held().insert(self.room_key(room), room.to_owned());
    }

    /// How many rooms this node holds.
    pub fn held_rooms(&self) -> usize {
        self.held().len()
    }

    /// Extends the claims of the rooms this node holds; call it on every heartbeat. Claims
    /// that vanished (Redis restarted, or was unreachable past the TTL) are made again. Returns
    /// the rooms another node claimed meanwhile, which this node no longer holds: their next
    /// joins go to the other home.
    pub async fn refresh(&self) -> Result<Vec<String>, ClusterError> {
        let held: Vec<String> = self.held().keys().cloned().collect();
        if held.is_empty() {
            return Ok(Vec::new());
        }
        // A room released while this runs may be claimed again here; nobody refreshes that
        // claim, so it lapses after one TTL, and meanwhile sends the room to a live node.
        let mut call = REFRESH.prepare_invoke();
        call.key(&held).arg(self.node.as_str()).arg(self.timing.ttl_ms());
        let lost_keys: Vec<String> = self.redis.script(&call).await?;
        Ok(self.forget(&lost_keys))
    }

    /// Gives up the room's claim when the room ends here. Only the home's own claim is
    /// deleted: a claim another node holds is left alone. Returns whether a claim was deleted.
    pub async fn release(&self, room: &str) -> Result<bool, ClusterError> {
        let key = self.room_key(room);
        self.held().remove(&key);
        Ok(self.release_keys(&[key]).await? > 0)
    }

    /// Gives up every claim this node holds, on a clean shutdown. Returns how many were
    /// deleted.
    pub async fn release_all(&self) -> Result<usize, ClusterError> {
        let held: Vec<String> = self.held().drain().map(|(key, _)| key).collect();
        if held.is_empty() {
            return Ok(0);
        }
        self.release_keys(&held).await
    }

    async fn claim(
        &self,
        room_key: &str,
        choice: &NodeId,
        expected_pps: f64,
    ) -> Result<Claim, ClusterError> {
        let mut call = CLAIM.key(room_key);
        call.key(keys::node(choice))
            .arg(choice.as_str())
            .arg(self.timing.ttl_ms())
            .arg(keys::NODE_PREFIX)
            .arg(expected_pps)
            .arg(EGRESS_FIELD)
            .arg(ROOMS_FIELD);
        let answer: Vec<String> = self.redis.script(&call).await?;
        match answer.as_slice() {
            [outcome, home] if outcome == "home" || outcome == "claimed" => {
                Ok(Claim::Home(NodeId::new(home.as_str())?))
            }
            [outcome] if outcome == "gone" => Ok(Claim::CandidateGone),
            _ => Err(ClusterError::UnexpectedReply { script: "claim", reply: answer.join(" ") }),
        }
    }

    async fn release_keys(&self, room_keys: &[String]) -> Result<usize, ClusterError> {
        let mut call = RELEASE.prepare_invoke();
        call.key(room_keys).arg(self.node.as_str());
        self.redis.script(&call).await
    }

    /// Stops holding the rooms under `room_keys`, and returns their names.
    fn forget(&self, room_keys: &[String]) -> Vec<String> {
        let mut held = self.held();
        let lost: Vec<String> = room_keys.iter().filter_map(|key| held.remove(key)).collect();
        if !lost.is_empty() {
            // Counts only: room names stay out of logs.
            tracing::warn!(rooms = lost.len(), "rooms claimed by another node meanwhile");
        }
        lost
    }

    fn room_key(&self, room: &str) -> String {
        keys::room(&self.hasher.id(room))
    }

    fn held(&self) -> MutexGuard<'_, HashMap<String, String>> {
        // The map stays consistent even if a holder panicked: every change is one call.
        self.held.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl fmt::Debug for Placement {
    /// Counts the rooms held, never names them: a `Debug` line may end up in a log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Placement")
            .field("node", &self.node)
            .field("held_rooms", &self.held_rooms())
            .field("timing", &self.timing)
            .finish_non_exhaustive()
    }
}
