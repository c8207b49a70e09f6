//! The multi-node registry: which Veil nodes are alive, how loaded each is, and which node is
//! the *home* of each room. Several `veil` nodes share one Redis; this crate is everything they
//! store there and every way they change it. docs/cascading.md gives the design: each room
//! lives whole on one node, the least loaded when the room starts.
//!
//! # The model
//!
//! - A node announces itself with [`NodeRegistry::register`] and then calls
//!   [`NodeRegistry::heartbeat`] every [`Timing::heartbeat`] with its current [`NodeLoad`].
//!   Its record expires [`Timing::ttl`] after the last heartbeat (3 heartbeats by default), so a
//!   node that dies or loses Redis drops out of [`NodeRegistry::live_nodes`] by itself.
//! - [`Placement::place`] gives a room its home: the least-loaded live node ([`choose_home`]),
//!   claimed atomically so that nodes racing for one room all get the same answer.
//!   [`Placement::home_of`] only looks the home up.
//! - The home keeps its claim alive by calling [`Placement::refresh`] on every heartbeat, right
//!   after [`NodeRegistry::heartbeat`], and gives it up with [`Placement::release`] when the
//!   room ends. A node that takes up a room another node placed on it calls [`Placement::hold`]
//!   first. A claim nobody refreshes expires after the same TTL as a node record, so a room
//!   placed on a node that never took it up, or whose home died, is placed afresh on its next
//!   join.
//! - On a clean shutdown: [`Placement::release_all`], then [`NodeRegistry::deregister`].
//!
//! ```no_run
//! # use veil_cluster::*;
//! # async fn node(secret: &[u8], load: NodeLoad) -> Result<(), ClusterError> {
//! let timing = Timing::default();
//! let redis = Redis::connect("redis://10.0.0.5:6379/", timing).await?;
//! let me = NodeId::new("node-1")?;
//! let registry = NodeRegistry::new(redis.clone(), me.clone(), "http://10.0.0.1:7880", timing);
//! let placement = Placement::new(redis, me, RoomHasher::new(secret)?, timing);
//! registry.register(load).await?;
//!
//! // On the first join of a room, wherever it arrives:
//! let home = match placement.home_of("standup").await? {
//!     Some(home) => home,
//!     None => placement.place("standup", &registry.live_nodes().await?).await?,
//! };
//!
//! // Every `timing.heartbeat`:
//! registry.heartbeat(load).await?;
//! let lost_rooms = placement.refresh().await?;
//! # Ok(()) }
//! ```
//!
//! # What Redis holds
//!
//! | key | type | value | expiry |
//! |---|---|---|---|
//! | `veil:nodes` | set | ids of nodes that have registered | none: pruned by [`NodeRegistry::live_nodes`] |
//! | `veil:node:<node id>` | hash | `url` (internal signaling URL), `participants`, `rooms`, `egress_pps`, `capacity_pps` | TTL after each heartbeat |
//! | `veil:room:<room id>` | string | the home's node id | TTL after each [`Placement::refresh`] |
//! | `veil:revocations` | sorted set | revocations sealed by the nodes (opaque here), scored by when each ends | members dropped when they end ([`SharedRevocations`]) |
//!
//! A `<room id>` is HMAC-SHA-256 of the room name, in hex, under a key derived from the
//! deployment's secret ([`RoomHasher`]). Room names are metadata (DESIGN.md decision 8): Redis
//! never sees one, and without the secret nobody who reads Redis can test a guessed name
//! against a key, as they could with a plain hash. Node ids, signaling URLs and load figures
//! are in the clear: they describe the deployment, not its users. Nothing else is stored: no
//! participant, no token, no address of a client.
//!
//! Liveness is the node record's own expiry, kept by Redis's clock, so the nodes' clocks never
//! need to agree. The `veil:nodes` set is only an index, so that listing nodes reads a handful
//! of keys instead of scanning the whole key space (`SCAN veil:node:*` walks every room key as
//! well: thousands of them in a busy fleet, on every placement). An id stays in the index after
//! its record expires until the next [`NodeRegistry::live_nodes`] drops it, in the same atomic
//! script that reads the records.
//!
//! # Failure
//!
//! Every call is bounded by [`Timing::op_timeout`]. When Redis is down, slow or unreachable the
//! call returns [`ClusterError::Timeout`] or [`ClusterError::Unavailable`]
//! ([`ClusterError::is_unavailable`]), never panics and never waits longer; the connection
//! reconnects by itself, and the next heartbeat after Redis returns writes the node back.
//! [`Placement::refresh`] also re-claims the rooms the node still holds if their keys have
//! vanished (a Redis restart without persistence), and reports the rooms another node has
//! claimed meanwhile, which this node then no longer owns.
//!
//! The atomic steps are Lua scripts (`src/lua/`); some read keys named in a value (a room's
//! home), so the registry needs one Redis (or a primary with replicas), not Redis Cluster.

mod choose;
mod conn;
mod error;
mod keys;
mod node;
mod placement;
mod registry;
mod room;
mod shared;
mod timing;

pub use choose::choose_home;
pub use conn::Redis;
pub use error::ClusterError;
pub use node::{NodeId, NodeInfo, NodeLoad};
pub use placement::Placement;
pub use registry::NodeRegistry;
pub use room::{RoomHasher, RoomId};
pub use shared::SharedRevocations;
pub use timing::Timing;
