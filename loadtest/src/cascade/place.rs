//! Placement: which node each participant's media connection lands on.
//!
//! Three policies, compared on the same rooms:
//!
//! - **least loaded**: a room goes whole to the node with the least load, as a registry that
//!   knows every node's load (Redis, heartbeats) would place it, even past the node's target
//!   (eating into the headroom) as long as it stays under saturation. Only a room that alone
//!   exceeds one node's target, or that would saturate even the least-loaded node, is spread:
//!   it fills the least-loaded nodes in turn up to their target, publishers first (so they sit
//!   on the room's home node).
//! - **random**: every join goes to a random node, as a load balancer without room affinity
//!   sends it; rooms span nodes wherever their members land.
//! - **hash ring**: a room goes whole to the node its name hashes to on a consistent-hashing
//!   ring (64 points per node), without looking at load; a room too big for one node is spread
//!   along the ring as above.
//!
//! Placement sees rooms at their final size, in the order they were drawn (as if they started
//! in that order). A real registry sees a room grow, so it places by the expected size and
//! spills when the home node fills up; this is the best case of that.

use serde::Serialize;

use super::rng::{Rng, Stream, mix};
use super::workload::{Room, Workload};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Policy {
    LeastLoaded,
    Random,
    HashRing,
}

impl Policy {
    pub const ALL: [Policy; 3] = [Policy::LeastLoaded, Policy::Random, Policy::HashRing];

    pub fn label(self) -> &'static str {
        match self {
            Policy::LeastLoaded => "least loaded",
            Policy::Random => "random join",
            Policy::HashRing => "hash ring",
        }
    }
}

/// The nodes and what each carries, in egress packets per second.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Cluster {
    pub nodes: usize,
    /// Where a node's media cores are all busy.
    pub saturation_pps: f64,
    /// What placement fills a node to at most: the saturation times the headroom factor.
    pub target_pps: f64,
}

/// The node of every participant, by participant index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub node_of: Vec<usize>,
}

pub fn place(policy: Policy, workload: &Workload, cluster: &Cluster, seed: u64) -> Placement {
    match policy {
        Policy::LeastLoaded => least_loaded(workload, cluster),
        Policy::Random => random(workload, cluster, seed),
        Policy::HashRing => hash_ring(workload, cluster),
    }
}

fn least_loaded(workload: &Workload, cluster: &Cluster) -> Placement {
    let mut fill = Fill::new(workload, cluster.nodes);
    for room in &workload.rooms {
        let load = workload.room_load(room);
        let node = fill.least_loaded();
        if fits_one_node(load, cluster) && fill.load[node] + load <= cluster.saturation_pps {
            fill.put_room(room, node);
        } else {
            let order = fill.by_load();
            fill.spread_room(room, &order, cluster.target_pps);
        }
    }
    fill.placement()
}

/// Whether a room of `load` packets/s fits within one node's share: its target.
pub fn fits_one_node(load: f64, cluster: &Cluster) -> bool {
    load <= cluster.target_pps
}

fn random(workload: &Workload, cluster: &Cluster, seed: u64) -> Placement {
    let mut rng = Rng::new(seed, Stream::Placement);
    Placement { node_of: workload.participants.iter().map(|_| rng.below(cluster.nodes)).collect() }
}

fn hash_ring(workload: &Workload, cluster: &Cluster) -> Placement {
    let ring = Ring::new(cluster.nodes);
    let mut fill = Fill::new(workload, cluster.nodes);
    for room in &workload.rooms {
        let order = ring.successors(&room.name);
        if fits_one_node(workload.room_load(room), cluster) {
            fill.put_room(room, order[0]);
        } else {
            fill.spread_room(room, &order, cluster.target_pps);
        }
    }
    fill.placement()
}

/// Placement under way: each participant's node so far and each node's load.
struct Fill<'a> {
    workload: &'a Workload,
    node_of: Vec<Option<usize>>,
    load: Vec<f64>,
}

impl<'a> Fill<'a> {
    fn new(workload: &'a Workload, nodes: usize) -> Self {
        Self { workload, node_of: vec![None; workload.participants.len()], load: vec![0.0; nodes] }
    }

    fn put(&mut self, participant: usize, node: usize) {
        assert!(self.node_of[participant].is_none(), "participant {participant} placed twice");
        self.node_of[participant] = Some(node);
        self.load[node] += self.workload.participants[participant].load.pps;
    }

    fn put_room(&mut self, room: &Room, node: usize) {
        for m in room.members() {
            self.put(m, node);
        }
    }

    /// Fills the nodes of `order` in turn up to `target` with the room's members, publishers
    /// first. Members left when every node is full go together to whichever node is then the
    /// least loaded.
    fn spread_room(&mut self, room: &Room, order: &[usize], target: f64) {
        let mut with_room = order.iter().copied().peekable();
        let mut overflow = None;
        for m in room.members() {
            let load = self.workload.participants[m].load.pps;
            while with_room.next_if(|&n| self.load[n] + load > target).is_some() {}
            let node = match with_room.peek() {
                Some(&node) => node,
                None => *overflow.get_or_insert_with(|| self.least_loaded()),
            };
            self.put(m, node);
        }
    }

    fn least_loaded(&self) -> usize {
        self.by_load()[0]
    }

    /// Node indices from least to most loaded (ties: the lower index first).
    fn by_load(&self) -> Vec<usize> {
        let mut nodes: Vec<usize> = (0..self.load.len()).collect();
        nodes.sort_by(|&a, &b| self.load[a].total_cmp(&self.load[b]).then(a.cmp(&b)));
        nodes
    }

    fn placement(self) -> Placement {
        let node_of = self.node_of.into_iter().map(|n| n.expect("everyone placed")).collect();
        Placement { node_of }
    }
}

/// A consistent-hashing ring: each node at [`Ring::POINTS`] pseudo-random points.
struct Ring {
    points: Vec<(u64, usize)>,
    nodes: usize,
}

impl Ring {
    const POINTS: u64 = 64;

    fn new(nodes: usize) -> Self {
        let mut points: Vec<(u64, usize)> = (0..nodes)
            .flat_map(|n| (0..Self::POINTS).map(move |v| (mix(((n as u64) << 32) | v), n)))
            .collect();
        points.sort_unstable();
        Self { points, nodes }
    }

    /// Every node once, in ring order from where `key` hashes to.
    fn successors(&self, key: &str) -> Vec<usize> {
        let h = hash(key);
        let start = self.points.partition_point(|&(p, _)| p < h);
        let mut order = Vec::with_capacity(self.nodes);
        for i in 0..self.points.len() {
            let node = self.points[(start + i) % self.points.len()].1;
            if !order.contains(&node) {
                order.push(node);
            }
        }
        order
    }
}

/// FNV-1a over the bytes, then mixed (FNV alone leaves similar names close together).
fn hash(key: &str) -> u64 {
    let fnv = key.bytes().fold(0xCBF2_9CE4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01B3)
    });
    mix(fnv)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cascade::workload::{RoomKind, generate};

    fn room(name: &str, first: usize, size: usize, publishers: usize) -> Room {
        Room { name: name.into(), kind: RoomKind::Small, first, size, publishers }
    }

    fn nodes_of(p: &Placement, room: &Room) -> Vec<usize> {
        let mut nodes: Vec<usize> = room.members().map(|m| p.node_of[m]).collect();
        nodes.sort_unstable();
        nodes.dedup();
        nodes
    }

    #[test]
    fn every_policy_places_everyone_once_on_a_node_that_exists() {
        let w = generate(5_000, 11);
        let c = Cluster { nodes: 7, saturation_pps: 200_000.0, target_pps: 150_000.0 };
        for policy in Policy::ALL {
            let p = place(policy, &w, &c, 11);
            assert_eq!(p.node_of.len(), w.participants.len(), "{policy:?}");
            assert!(p.node_of.iter().all(|&n| n < c.nodes), "{policy:?}");
        }
    }

    #[test]
    fn least_loaded_never_splits_a_room_that_fits_one_node() {
        let w = generate(10_000, 1);
        // A target small enough that the webinars and the largest meetings do not fit one
        // node, and nodes many and large enough that the others always find one with room.
        let c = Cluster { nodes: 400, saturation_pps: 200_000.0, target_pps: 40_000.0 };
        let p = place(Policy::LeastLoaded, &w, &c, 1);
        let mut split = 0;
        for room in &w.rooms {
            let span = nodes_of(&p, room).len();
            if fits_one_node(w.room_load(room), &c) {
                assert_eq!(span, 1, "{} fits one node", room.name);
            } else {
                assert!(span > 1, "{} does not fit one node", room.name);
                split += 1;
            }
        }
        assert!(split > 0, "the case of a room too big for one node was tried");
    }

    #[test]
    fn least_loaded_spreads_a_room_that_would_saturate_every_node() {
        let rooms = vec![room("a", 0, 10, 10), room("b", 10, 10, 10), room("c", 20, 10, 10)];
        let w = Workload::of_rooms(rooms);
        let load = w.room_load(&w.rooms[0]);
        // Two nodes, each saturated by 1.6 rooms: the third room fits a node's target but
        // would saturate either node, so it is spread.
        let c = Cluster { nodes: 2, saturation_pps: 1.6 * load, target_pps: 1.25 * load };
        let p = place(Policy::LeastLoaded, &w, &c, 1);
        assert_eq!(nodes_of(&p, &w.rooms[0]), [0]);
        assert_eq!(nodes_of(&p, &w.rooms[1]), [1]);
        assert_eq!(nodes_of(&p, &w.rooms[2]), [0, 1]);
    }

    #[test]
    fn a_spread_room_keeps_its_publishers_on_its_home_node() {
        let w = generate(10_000, 1);
        let c = Cluster { nodes: 400, saturation_pps: 200_000.0, target_pps: 40_000.0 };
        let p = place(Policy::LeastLoaded, &w, &c, 1);
        let webinar = w.rooms.iter().find(|r| r.kind == RoomKind::Webinar).unwrap();
        assert!(nodes_of(&p, webinar).len() > 1);
        let home = p.node_of[webinar.first];
        assert!((0..webinar.publishers).all(|i| p.node_of[webinar.first + i] == home));
    }

    #[test]
    fn the_ring_lists_every_node_once_and_the_same_way_each_time() {
        let ring = Ring::new(20);
        let order = ring.successors("room-42");
        let mut sorted = order.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..20).collect::<Vec<_>>());
        assert_eq!(order, Ring::new(20).successors("room-42"));
        let homes: std::collections::BTreeSet<usize> =
            (0..200).map(|i| ring.successors(&format!("room-{i}"))[0]).collect();
        assert!(homes.len() > 15, "names spread over the ring: {homes:?}");
    }
}
