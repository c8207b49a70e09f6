//! The registry against a real redis-server: liveness by TTL, racing placements, failover of a
//! dead home, compare-and-delete release, what Redis stores, and Redis going away.

mod support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::RedisServer;
use tokio::sync::Barrier;
use tokio::task::JoinHandle;
use tokio::time::sleep;
use veil_cluster::{
    ClusterError, NodeId, NodeInfo, NodeLoad, NodeRegistry, Placement, Redis, RoomHasher,
    SharedRevocations, Timing,
};

/// A heartbeat every 100 ms, records living 300 ms, requests bounded by 150 ms.
const TIMING: Timing = Timing {
    heartbeat: Duration::from_millis(100),
    ttl: Duration::from_millis(300),
    op_timeout: Duration::from_millis(150),
};

/// Long enough for a record or claim nobody refreshes to have expired.
const PAST_TTL: Duration = Duration::from_millis(700);

const SECRET: &[u8] = b"the deployment's api secret";

struct Node {
    registry: Arc<NodeRegistry>,
    placement: Arc<Placement>,
}

impl Node {
    /// A node registered with `egress_pps` of 100,000 packets/s capacity.
    async fn start(server: &RedisServer, id: &str, egress_pps: f64) -> Node {
        let redis = Redis::connect(&server.url(), TIMING).await.expect("connect");
        let id = NodeId::new(id).unwrap();
        let url = format!("http://{id}.internal:8080");
        let registry = NodeRegistry::new(redis.clone(), id.clone(), url, TIMING);
        registry.register(load(egress_pps)).await.expect("register");
        let hasher = RoomHasher::new(SECRET).unwrap();
        let placement = Placement::new(redis, id, hasher, TIMING);
        Node { registry: Arc::new(registry), placement: Arc::new(placement) }
    }

    fn id(&self) -> &NodeId {
        self.registry.node()
    }

    /// Heartbeats and refreshes in the background, as `veil serve` will, until aborted.
    fn keep_alive(&self, egress_pps: f64) -> JoinHandle<()> {
        let (registry, placement) = (self.registry.clone(), self.placement.clone());
        tokio::spawn(async move {
            loop {
                let _ = registry.heartbeat(load(egress_pps)).await;
                let _ = placement.refresh().await;
                sleep(TIMING.heartbeat).await;
            }
        })
    }

    async fn live_ids(&self) -> BTreeSet<String> {
        let nodes = self.registry.live_nodes().await.expect("live nodes");
        nodes.iter().map(|node| node.id.to_string()).collect()
    }
}

fn load(egress_pps: f64) -> NodeLoad {
    NodeLoad { participants: 10, rooms: 2, egress_pps, capacity_pps: 100_000 }
}

fn ids(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|id| id.to_string()).collect()
}

fn id(text: &str) -> NodeId {
    NodeId::new(text).unwrap()
}

/// What a node with this load would look like in a listing: for candidate lists made up to
/// steer the choice.
fn candidate(node: &Node, egress_pps: f64) -> NodeInfo {
    NodeInfo { id: node.id().clone(), signaling_url: String::new(), load: load(egress_pps) }
}

/// What one node publishes, another reads, until it ends; then it is gone from Redis.
#[tokio::test]
async fn shared_revocations_are_in_force_until_they_end() {
    let server = RedisServer::start();
    let a = SharedRevocations::new(Redis::connect(&server.url(), TIMING).await.unwrap());
    let b = SharedRevocations::new(Redis::connect(&server.url(), TIMING).await.unwrap());
    a.publish(b"sealed-1", 1_000).await.unwrap();
    a.publish(b"sealed-2", 2_000).await.unwrap();
    a.publish(b"sealed-1", 1_000).await.unwrap();
    let both: BTreeSet<Vec<u8>> = b.in_force(500).await.unwrap().into_iter().collect();
    assert_eq!(both, [b"sealed-1".to_vec(), b"sealed-2".to_vec()].into());
    assert_eq!(b.in_force(1_000).await.unwrap(), vec![b"sealed-2".to_vec()]);
    assert_eq!(b.in_force(2_000).await.unwrap(), Vec::<Vec<u8>>::new());
    assert!(everything_stored(&server).iter().all(|line| !line.contains("sealed-1")));
}

#[tokio::test]
async fn two_registered_nodes_see_each_other_live() {
    let server = RedisServer::start();
    let a = Node::start(&server, "a", 1_000.0).await;
    let b = Node::start(&server, "b", 2_000.0).await;

    assert_eq!(a.live_ids().await, ids(&["a", "b"]));
    assert_eq!(b.live_ids().await, ids(&["a", "b"]));
    let nodes = a.registry.live_nodes().await.unwrap();
    let b_info = nodes.iter().find(|node| node.id == *b.id()).unwrap();
    assert_eq!(b_info.signaling_url, "http://b.internal:8080");
    assert_eq!(b_info.load, load(2_000.0));
}

#[tokio::test]
async fn a_node_that_stops_heartbeating_drops_out_after_the_ttl() {
    let server = RedisServer::start();
    let a = Node::start(&server, "a", 0.0).await;
    let b = Node::start(&server, "b", 0.0).await;
    let a_alive = a.keep_alive(0.0);

    assert_eq!(a.live_ids().await, ids(&["a", "b"]));
    sleep(PAST_TTL).await;
    assert_eq!(a.live_ids().await, ids(&["a"]), "b stopped heartbeating");
    let index: Vec<String> =
        redis::cmd("SMEMBERS").arg("veil:nodes").query(&mut server.client()).unwrap();
    assert_eq!(index, ["a"], "listing prunes the index");

    b.registry.heartbeat(load(0.0)).await.unwrap();
    assert_eq!(a.live_ids().await, ids(&["a", "b"]), "a heartbeat brings b back");
    a_alive.abort();
}

#[tokio::test]
async fn a_node_that_deregisters_drops_out_at_once_with_its_rooms() {
    let server = RedisServer::start();
    let a = Node::start(&server, "a", 0.0).await;
    let b = Node::start(&server, "b", 0.0).await;
    let home = b.placement.place("retro", &[candidate(&b, 0.0)]).await.unwrap();
    assert_eq!(home, *b.id());

    assert_eq!(b.placement.release_all().await.unwrap(), 1);
    b.registry.deregister().await.unwrap();
    assert_eq!(a.live_ids().await, ids(&["a"]));
    assert_eq!(a.placement.home_of("retro").await.unwrap(), None);
}

#[tokio::test]
async fn registering_an_id_a_live_node_uses_elsewhere_is_refused() {
    let server = RedisServer::start();
    let _a = Node::start(&server, "a", 0.0).await;
    let redis = Redis::connect(&server.url(), TIMING).await.unwrap();
    let impostor = NodeRegistry::new(redis, id("a"), "http://elsewhere:8080", TIMING);
    let error = impostor.register(load(0.0)).await.unwrap_err();
    assert!(matches!(error, ClusterError::DuplicateNodeId { .. }), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_racing_to_place_a_room_agree_on_one_home() {
    const ROOMS: usize = 25;
    const ATTEMPTS_PER_NODE: usize = 8;
    let server = RedisServer::start();
    let nodes = [
        Node::start(&server, "a", 0.0).await,
        Node::start(&server, "b", 0.0).await,
        Node::start(&server, "c", 0.0).await,
    ];
    for room in 0..ROOMS {
        let room = format!("race-{room}");
        let racers = nodes.len() * ATTEMPTS_PER_NODE;
        let start = Arc::new(Barrier::new(racers));
        let mut attempts = Vec::new();
        for node in &nodes {
            // Each node believes itself the least loaded, so without an atomic claim each
            // would make itself the home.
            let candidates: Vec<NodeInfo> = nodes
                .iter()
                .map(|other| candidate(other, if other.id() == node.id() { 0.0 } else { 50_000.0 }))
                .collect();
            for _ in 0..ATTEMPTS_PER_NODE {
                let (placement, start) = (node.placement.clone(), start.clone());
                let (room, candidates) = (room.clone(), candidates.clone());
                attempts.push(tokio::spawn(async move {
                    start.wait().await;
                    placement.place(&room, &candidates).await.expect("place")
                }));
            }
        }
        let mut homes = BTreeSet::new();
        for attempt in attempts {
            homes.insert(attempt.await.unwrap());
        }
        assert_eq!(homes.len(), 1, "{room}: {racers} attempts gave homes {homes:?}");
        let home = nodes[0].placement.home_of(&room).await.unwrap();
        assert_eq!(home.as_ref(), homes.first());
    }
}

#[tokio::test]
async fn a_claim_reserves_load_so_the_next_room_goes_elsewhere() {
    let server = RedisServer::start();
    let a = Node::start(&server, "a", 10_000.0).await;
    let _b = Node::start(&server, "b", 10_000.0).await;

    let first = a.placement.place("first", &a.registry.live_nodes().await.unwrap()).await.unwrap();
    assert_eq!(first, id("a"), "a tie goes to the smaller id");
    let second =
        a.placement.place("second", &a.registry.live_nodes().await.unwrap()).await.unwrap();
    assert_eq!(second, id("b"), "a carries the first room's reservation");

    let nodes = a.registry.live_nodes().await.unwrap();
    let a_load = nodes.iter().find(|node| node.id == id("a")).unwrap().load;
    assert_eq!(a_load.egress_pps, 10_000.0 + Placement::DEFAULT_ROOM_RESERVATION_PPS);
    assert_eq!(a_load.rooms, 3);
}

#[tokio::test]
async fn placing_passes_over_a_candidate_whose_record_expired() {
    let server = RedisServer::start();
    let a = Node::start(&server, "a", 50_000.0).await;
    let dead = Node::start(&server, "dead", 0.0).await;
    let candidates = a.registry.live_nodes().await.unwrap();
    let a_alive = a.keep_alive(50_000.0);
    sleep(PAST_TTL).await;

    // The stale list still shows "dead" as the least loaded.
    let home = a.placement.place("standup", &candidates).await.unwrap();
    assert_eq!(home, *a.id());
    assert_eq!(dead.placement.home_of("standup").await.unwrap(), Some(id("a")));
    a_alive.abort();
}

#[tokio::test]
async fn the_home_keeps_its_room_past_the_ttl_only_by_refreshing() {
    let server = RedisServer::start();
    let a = Node::start(&server, "a", 0.0).await;
    assert_eq!(a.placement.place("standup", &[candidate(&a, 0.0)]).await.unwrap(), *a.id());
    assert_eq!(a.placement.held_rooms(), 1);

    let a_alive = a.keep_alive(0.0);
    sleep(PAST_TTL).await;
    assert_eq!(a.placement.home_of("standup").await.unwrap(), Some(id("a")));
    a_alive.abort();

    // Only the node record is kept alive now, not the claim.
    a.placement.release("standup").await.unwrap();
    a.placement.place("standup", &[candidate(&a, 0.0)]).await.unwrap();
    let registry = a.registry.clone();
    let heartbeats = tokio::spawn(async move {
        loop {
            let _ = registry.heartbeat(load(0.0)).await;
            sleep(TIMING.heartbeat).await;
        }
    });
    sleep(PAST_TTL).await;
    assert_eq!(a.placement.home_of("standup").await.unwrap(), None);
    heartbeats.abort();
}

#[tokio::test]
async fn a_room_whose_home_died_is_placed_again_on_a_live_node() {
    let server = RedisServer::start();
    let a = Node::start(&server, "a", 50_000.0).await;
    let b = Node::start(&server, "b", 0.0).await;
    let placed = a.placement.place("standup", &a.registry.live_nodes().await.unwrap()).await;
    assert_eq!(placed.unwrap(), *b.id(), "b is the least loaded");

    // b dies: no more heartbeats, no refresh of its claim.
    drop(b);
    let a_alive = a.keep_alive(50_000.0);
    sleep(PAST_TTL).await;
    assert_eq!(a.placement.home_of("standup").await.unwrap(), None);
    let live = a.registry.live_nodes().await.unwrap();
    assert_eq!(a.placement.place("standup", &live).await.unwrap(), *a.id());
    a_alive.abort();
}

#[tokio::test]
async fn a_dead_homes_claim_is_taken_over_before_the_claim_itself_expires() {
    let server = RedisServer::start();
    let a = Node::start(&server, "a", 50_000.0).await;
    let b = Node::start(&server, "b", 0.0).await;
    assert_eq!(b.placement.place("standup", &[candidate(&b, 0.0)]).await.unwrap(), *b.id());

    // b's record goes (a crash caught by an operator's `deregister`, say) but its claim stays.
    b.registry.deregister().await.unwrap();
    assert_eq!(server.keys().iter().filter(|key| key.starts_with("veil:room:")).count(), 1);
    let live = a.registry.live_nodes().await.unwrap();
    assert_eq!(a.placement.place("standup", &live).await.unwrap(), *a.id());
}

#[tokio::test]
async fn release_by_a_node_that_is_not_the_home_does_nothing() {
    let server = RedisServer::start();
    let a = Node::start(&server, "a", 0.0).await;
    let b = Node::start(&server, "b", 0.0).await;
    assert_eq!(a.placement.place("standup", &[candidate(&a, 0.0)]).await.unwrap(), *a.id());

    assert!(!b.placement.release("standup").await.unwrap());
    assert_eq!(b.placement.home_of("standup").await.unwrap(), Some(id("a")));
    assert!(a.placement.release("standup").await.unwrap());
    assert_eq!(b.placement.home_of("standup").await.unwrap(), None);
}

#[tokio::test]
async fn a_home_that_lost_its_claim_to_another_node_learns_it_on_refresh() {
    let server = RedisServer::start();
    let a = Node::start(&server, "a", 0.0).await;
    let b = Node::start(&server, "b", 0.0).await;
    a.placement.place("standup", &[candidate(&a, 0.0)]).await.unwrap();

    // a is cut off past the TTL; meanwhile b takes the room.
    b.registry.heartbeat(load(0.0)).await.unwrap();
    let b_alive = b.keep_alive(0.0);
    sleep(PAST_TTL).await;
    assert_eq!(b.placement.place("standup", &[candidate(&b, 0.0)]).await.unwrap(), *b.id());

    assert_eq!(a.placement.refresh().await.unwrap(), ["standup"]);
    assert_eq!(a.placement.held_rooms(), 0);
    assert_eq!(a.placement.home_of("standup").await.unwrap(), Some(id("b")));
    b_alive.abort();
}

#[tokio::test]
async fn redis_holds_no_room_name() {
    let server = RedisServer::start();
    let a = Node::start(&server, "a", 0.0).await;
    let b = Node::start(&server, "b", 10.0).await;
    let rooms = ["quarterly-board-meeting", "Patient Intake 4711", "standup"];
    for room in rooms {
        let live = a.registry.live_nodes().await.unwrap();
        a.placement.place(room, &live).await.unwrap();
    }
    b.placement.hold("standup");
    b.placement.refresh().await.unwrap();

    let stored = everything_stored(&server);
    let room_keys: Vec<&String> = server_keys_with(&stored, "veil:room:");
    assert_eq!(room_keys.len(), rooms.len());
    for key in room_keys {
        let id = key.trim_start_matches("veil:room:");
        assert!(id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()), "{key}");
    }
    for room in rooms {
        let room_lower = room.to_lowercase();
        for text in &stored {
            assert!(!text.to_lowercase().contains(&room_lower), "{room:?} is stored in {text:?}");
        }
    }
}

/// Every key of the server and every value in it, as text.
fn everything_stored(server: &RedisServer) -> Vec<String> {
    let mut client = server.client();
    let mut stored = Vec::new();
    for key in server.keys() {
        let kind: String = redis::cmd("TYPE").arg(&key).query(&mut client).unwrap();
        let values: Vec<String> = match kind.as_str() {
            "string" => vec![redis::cmd("GET").arg(&key).query(&mut client).unwrap()],
            "hash" => redis::cmd("HGETALL").arg(&key).query(&mut client).unwrap(),
            "set" => redis::cmd("SMEMBERS").arg(&key).query(&mut client).unwrap(),
            other => panic!("unexpected {other} at {key}"),
        };
        stored.push(key);
        stored.extend(values);
    }
    stored
}

fn server_keys_with<'a>(stored: &'a [String], prefix: &str) -> Vec<&'a String> {
    stored.iter().filter(|text| text.starts_with(prefix)).collect()
}

#[tokio::test]
async fn redis_going_away_is_an_error_not_a_hang_and_the_registry_comes_back() {
    let mut server = RedisServer::start();
    let a = Node::start(&server, "a", 0.0).await;
    assert_eq!(a.placement.place("standup", &[candidate(&a, 0.0)]).await.unwrap(), *a.id());

    server.stop();
    assert_unavailable_quickly("heartbeat", a.registry.heartbeat(load(0.0))).await;
    assert_unavailable_quickly("live_nodes", a.registry.live_nodes()).await;
    assert_unavailable_quickly("home_of", a.placement.home_of("standup")).await;
    assert_unavailable_quickly("place", a.placement.place("other", &[candidate(&a, 0.0)])).await;
    assert_unavailable_quickly("refresh", a.placement.refresh()).await;

    // Back, on the same port, empty: the next heartbeats write the node and its room again.
    server.restart();
    let attempts = heartbeat_until_ok(&a).await;
    println!("registry back after {attempts} heartbeat(s)");
    assert!(a.placement.refresh().await.unwrap().is_empty(), "nothing lost");
    assert_eq!(a.live_ids().await, ids(&["a"]));
    assert_eq!(a.placement.home_of("standup").await.unwrap(), Some(id("a")));
}

#[tokio::test]
async fn a_stalled_redis_times_out_and_the_registry_comes_back() {
    let server = RedisServer::start();
    let a = Node::start(&server, "a", 0.0).await;

    server.pause();
    let error = assert_unavailable_quickly("heartbeat", a.registry.heartbeat(load(0.0))).await;
    assert!(matches!(error, ClusterError::Timeout(_)), "{error}");
    assert_unavailable_quickly("live_nodes", a.registry.live_nodes()).await;

    server.resume();
    let attempts = heartbeat_until_ok(&a).await;
    println!("registry back after {attempts} heartbeat(s)");
    assert_eq!(a.live_ids().await, ids(&["a"]));
}

#[tokio::test]
async fn connecting_to_no_redis_fails_within_the_timeout() {
    let server = RedisServer::start();
    let url = server.url();
    drop(server);
    let started = Instant::now();
    let error = Redis::connect(&url, TIMING).await.unwrap_err();
    assert!(error.is_unavailable(), "{error}");
    assert!(started.elapsed() < TIMING.op_timeout * 2, "took {:?}", started.elapsed());
}

/// Runs `request` against an unreachable Redis: it must fail as unavailable within the
/// request bound (with slack for a busy machine), not hang and not panic.
async fn assert_unavailable_quickly<T: std::fmt::Debug>(
    what: &str,
    request: impl Future<Output = Result<T, ClusterError>>,
) -> ClusterError {
    let started = Instant::now();
    let error = request.await.expect_err(what);
    let took = started.elapsed();
    assert!(error.is_unavailable(), "{what}: {error}");
    assert!(took < TIMING.op_timeout * 2, "{what} took {took:?}");
    println!("{what}: {error} after {took:?}");
    error
}

/// Heartbeats every heartbeat interval until one succeeds; returns how many it took.
async fn heartbeat_until_ok(node: &Node) -> usize {
    for attempt in 1..=30 {
        match node.registry.heartbeat(load(0.0)).await {
            Ok(()) => return attempt,
            Err(error) => assert!(error.is_unavailable(), "{error}"),
        }
        sleep(TIMING.heartbeat).await;
    }
    panic!("the registry did not come back within 30 heartbeats");
}
