//! What a placement costs: each node's load, the relays between nodes, and the delay the relay
//! hop adds.
//!
//! A node pulls a publisher's track-layer from the publisher's node when some participant it
//! serves watches it there: one relay stream per (publisher, layer, receiving node), straight
//! from the publisher's node (a full mesh among the room's nodes; see docs/cascading.md for a
//! tree). A relay stream costs its sender one egress packet per packet, like a subscriber.
//!
//! A packet through a relay crosses one more SFU and one more network path: it is later by the
//! receiving node's forwarding delay plus half the round trip between the two nodes. The
//! forwarding delay is drawn from a log-normal distribution through the measured p50 and p99.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::place::{Cluster, Placement};
use super::rng::{Rng, Stream};
use super::workload::{Rates, Track, Workload};

/// The relay hop's inputs.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct DelayModel {
    /// The SFU's forwarding delay (datagram in to datagram out), ms.
    pub sfu_p50_ms: f64,
    pub sfu_p99_ms: f64,
    /// Round trip between two nodes of one datacentre, ms.
    pub rtt_ms: f64,
    /// Round trip between nodes in different regions, ms.
    pub far_rtt_ms: f64,
}

/// One track-layer of one publisher, sent from the publisher's node to another node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Relay {
    pub publisher: usize,
    pub track: Track,
    pub from: usize,
    pub to: usize,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Quantiles {
    pub p50: f64,
    pub p99: f64,
}

/// The delay the relay hop adds, ms, with the round trip of one datacentre and of two regions:
/// over the relayed streams, and over every stream received (those on one node gain nothing).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct AddedDelay {
    pub same_datacentre: Quantiles,
    pub cross_region: Quantiles,
    pub same_datacentre_all_streams: Quantiles,
    pub cross_region_all_streams: Quantiles,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Measures {
    /// Nodes serving at least one participant.
    pub nodes_used: usize,
    /// Each node's egress (to participants and relays) as % of its saturation.
    pub load_pct: Vec<f64>,
    pub max_load_pct: f64,
    /// Over all nodes, used or not.
    pub mean_load_pct: f64,
    /// Nodes above the placement target (the headroom factor).
    pub nodes_over_target: usize,
    /// Nodes above saturation: they would drop packets.
    pub nodes_saturated: usize,
    pub max_node_egress_mbps: f64,
    pub rooms_split: usize,
    /// The most nodes one room spans.
    pub widest_room_nodes: usize,
    pub relay_streams: usize,
    /// The most nodes one track-layer is relayed to from its publisher's node.
    pub widest_relay_fanout: usize,
    /// Inter-node traffic: every relay stream's bits, Mbit/s.
    pub relay_mbps: f64,
    /// Relay egress as % of all egress.
    pub relay_share_pct: f64,
    /// Streams participants receive, and of them those that came through a relay.
    pub streams_received: usize,
    pub streams_relayed: usize,
    /// Participants receiving at least one stream through a relay.
    pub participants_relayed: usize,
    /// Over relayed streams; none without relays.
    pub added_delay_ms: Option<AddedDelay>,
}

pub fn measure(
    workload: &Workload,
    placement: &Placement,
    cluster: &Cluster,
    delay: &DelayModel,
    seed: u64,
) -> Measures {
    let relays = relays(workload, placement);
    let egress = node_egress(workload, placement, &relays, cluster.nodes);
    let load_pct: Vec<f64> =
        egress.iter().map(|e| 100.0 * e.pps / cluster.saturation_pps).collect();
    let (rooms_split, widest_room_nodes) = rooms_split(workload, placement);
    let (streams_received, streams_relayed, participants_relayed) = crossings(workload, placement);
    let relay_rates = relay_rates(workload, &relays);
    let total_pps: f64 = egress.iter().map(|e| e.pps).sum();
    let target_pct = 100.0 * cluster.target_pps / cluster.saturation_pps;
    Measures {
        nodes_used: nodes_used(placement),
        max_load_pct: load_pct.iter().copied().fold(0.0, f64::max),
        mean_load_pct: load_pct.iter().sum::<f64>() / load_pct.len() as f64,
        nodes_over_target: load_pct.iter().filter(|&&l| l > target_pct).count(),
        nodes_saturated: load_pct.iter().filter(|&&l| l > 100.0).count(),
        max_node_egress_mbps: egress.iter().map(|e| e.bps / 1e6).fold(0.0, f64::max),
        load_pct,
        rooms_split,
        widest_room_nodes,
        relay_streams: relays.len(),
        widest_relay_fanout: widest_fanout(&relays),
        relay_mbps: relay_rates.bps / 1e6,
        relay_share_pct: if total_pps > 0.0 { 100.0 * relay_rates.pps / total_pps } else { 0.0 },
        streams_received,
        streams_relayed,
        participants_relayed,
        added_delay_ms: added_delay(streams_relayed, streams_received, delay, seed),
    }
}

/// Every track-layer a node pulls from another, once however many of its participants watch it.
pub fn relays(workload: &Workload, placement: &Placement) -> BTreeSet<Relay> {
    let node = |p: usize| placement.node_of[p];
    let mut relays = BTreeSet::new();
    for (s, participant) in workload.participants.iter().enumerate() {
        for r in &participant.receives {
            if node(r.publisher) != node(s) {
                let (from, to) = (node(r.publisher), node(s));
                relays.insert(Relay { publisher: r.publisher, track: r.track, from, to });
            }
        }
    }
    relays
}

/// What each node sends: to its participants, and to the nodes it relays to.
pub fn node_egress(
    workload: &Workload,
    placement: &Placement,
    relays: &BTreeSet<Relay>,
    nodes: usize,
) -> Vec<Rates> {
    let mut egress = vec![Rates::default(); nodes];
    for (p, participant) in workload.participants.iter().enumerate() {
        egress[placement.node_of[p]] += participant.load;
    }
    for relay in relays {
        egress[relay.from] += workload.costs.of(relay.track);
    }
    egress
}

fn relay_rates(workload: &Workload, relays: &BTreeSet<Relay>) -> Rates {
    let mut total = Rates::default();
    for relay in relays {
        total += workload.costs.of(relay.track);
    }
    total
}

fn nodes_used(placement: &Placement) -> usize {
    placement.node_of.iter().collect::<BTreeSet<_>>().len()
}

/// Rooms on more than one node, and the most nodes one room spans.
fn rooms_split(workload: &Workload, placement: &Placement) -> (usize, usize) {
    let spans = workload
        .rooms
        .iter()
        .map(|room| room.members().map(|m| placement.node_of[m]).collect::<BTreeSet<_>>().len());
    spans.fold((0, 0), |(split, widest), span| (split + usize::from(span > 1), widest.max(span)))
}

/// The most receiving nodes of one publisher's track-layer.
fn widest_fanout(relays: &BTreeSet<Relay>) -> usize {
    let mut fanout: BTreeMap<(usize, Track), usize> = BTreeMap::new();
    for relay in relays {
        *fanout.entry((relay.publisher, relay.track)).or_default() += 1;
    }
    fanout.into_values().max().unwrap_or(0)
}

/// Streams received, streams received through a relay, participants receiving any that way.
fn crossings(workload: &Workload, placement: &Placement) -> (usize, usize, usize) {
    let node = |p: usize| placement.node_of[p];
    let (mut received, mut relayed, mut participants) = (0, 0, 0);
    for (s, participant) in workload.participants.iter().enumerate() {
        let through_relay =
            participant.receives.iter().filter(|r| node(r.publisher) != node(s)).count();
        received += participant.receives.len();
        relayed += through_relay;
        participants += usize::from(through_relay > 0);
    }
    (received, relayed, participants)
}

/// The added delay of `relayed` of `received` streams: one forwarding-delay draw each, plus half
/// the round trip; the other streams gain nothing.
fn added_delay(
    relayed: usize,
    received: usize,
    model: &DelayModel,
    seed: u64,
) -> Option<AddedDelay> {
    if relayed == 0 {
        return None;
    }
    let sfu = forwarding_delays(relayed, model, seed);
    let unrelayed = received.saturating_sub(relayed);
    let over = |rtt: f64, zeros: usize| {
        let at = |q: f64| quantile_after_zeros(&sfu, zeros, q).map_or(0.0, |d| d + rtt / 2.0);
        Quantiles { p50: at(0.50), p99: at(0.99) }
    };
    Some(AddedDelay {
        same_datacentre: over(model.rtt_ms, 0),
        cross_region: over(model.far_rtt_ms, 0),
        same_datacentre_all_streams: over(model.rtt_ms, unrelayed),
        cross_region_all_streams: over(model.far_rtt_ms, unrelayed),
    })
}

/// `n` forwarding delays, ms, sorted: log-normal with the model's median and 99th percentile.
fn forwarding_delays(n: usize, model: &DelayModel, seed: u64) -> Vec<f64> {
    const Z99: f64 = 2.326_347_874;
    let mu = model.sfu_p50_ms.ln();
    let sigma = (model.sfu_p99_ms.ln() - mu) / Z99;
    let mut rng = Rng::new(seed, Stream::Delay);
    let mut delays: Vec<f64> = (0..n).map(|_| (mu + sigma * rng.normal()).exp()).collect();
    delays.sort_by(f64::total_cmp);
    delays
}

/// The `q` quantile (nearest rank) of `zeros` streams that gain nothing followed by the sorted,
/// non-empty `delays`: `None` when it falls among the zeros.
fn quantile_after_zeros(delays: &[f64], zeros: usize, q: f64) -> Option<f64> {
    let n = zeros + delays.len();
    let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
    rank.checked_sub(zeros + 1).map(|i| delays[i])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cascade::workload::{Room, RoomKind, generate};

    const DELAY: DelayModel =
        DelayModel { sfu_p50_ms: 0.19, sfu_p99_ms: 0.56, rtt_ms: 0.5, far_rtt_ms: 20.0 };

    fn cluster(nodes: usize) -> Cluster {
        Cluster { nodes, saturation_pps: 400_000.0, target_pps: 280_000.0 }
    }

    /// One room of `size`, everyone publishing.
    fn one_room(size: usize) -> Workload {
        let room =
            Room { name: "r".into(), kind: RoomKind::Small, first: 0, size, publishers: size };
        Workload::of_rooms(vec![room])
    }

    #[test]
    fn node_loads_add_up_to_what_participants_receive_plus_the_relays() {
        let w = generate(3_000, 2);
        let placement = Placement { node_of: (0..3_000).map(|p| p % 4).collect() };
        let relays = relays(&w, &placement);
        let egress = node_egress(&w, &placement, &relays, 4);
        let total: f64 = egress.iter().map(|e| e.pps).sum();
        let expected = w.demand().pps + relay_rates(&w, &relays).pps;
        assert!((total - expected).abs() < 1e-6 * expected, "{total} vs {expected}");
        assert!(!relays.is_empty());
    }

    #[test]
    fn one_node_needs_no_relay_and_adds_no_delay() {
        let w = generate(500, 4);
        let placement = Placement { node_of: vec![0; 500] };
        let m = measure(&w, &placement, &cluster(3), &DELAY, 4);
        assert_eq!((m.relay_streams, m.streams_relayed, m.participants_relayed), (0, 0, 0));
        assert_eq!((m.rooms_split, m.widest_room_nodes, m.nodes_used), (0, 1, 1));
        assert_eq!(m.added_delay_ms, None);
        let demand = 100.0 * w.demand().pps / cluster(3).saturation_pps;
        assert!((m.load_pct[0] - demand).abs() < 1e-9);
    }

    #[test]
    fn a_node_pulls_each_watched_layer_once_and_only_those() {
        let w = one_room(2);
        // Two people, one on each node: each pulls the other's audio and the layer it shows.
        let placement = Placement { node_of: vec![0, 1] };
        let relays = relays(&w, &placement);
        let tracks: Vec<(usize, Track, usize)> =
            relays.iter().map(|r| (r.publisher, r.track, r.to)).collect();
        assert_eq!(
            tracks,
            [(0, Track::Audio, 1), (0, Track::F, 1), (1, Track::Audio, 0), (1, Track::F, 0)]
        );
        let m = measure(&w, &placement, &cluster(2), &DELAY, 1);
        assert_eq!((m.rooms_split, m.participants_relayed, m.widest_relay_fanout), (1, 2, 1));
    }

    #[test]
    fn the_added_delay_is_the_forwarding_delay_plus_half_the_round_trip() {
        let d = added_delay(100_000, 100_000, &DELAY, 9).unwrap();
        assert!((d.same_datacentre.p50 - (0.19 + 0.25)).abs() < 0.01, "{d:?}");
        assert!((d.same_datacentre.p99 - (0.56 + 0.25)).abs() < 0.03, "{d:?}");
        assert!((d.cross_region.p50 - (0.19 + 10.0)).abs() < 0.01, "{d:?}");
        assert_eq!(d.same_datacentre_all_streams, d.same_datacentre, "every stream relayed");
    }

    #[test]
    fn streams_on_one_node_count_as_no_added_delay() {
        // 5 % of the streams relayed: the median stream gains nothing, the 99th percentile
        // is a relayed one.
        let d = added_delay(5_000, 100_000, &DELAY, 9).unwrap();
        assert_eq!(d.same_datacentre_all_streams.p50, 0.0);
        assert!(d.same_datacentre_all_streams.p99 > 0.25, "{d:?}");
        assert_eq!(added_delay(0, 100, &DELAY, 9), None);
        assert_eq!(quantile_after_zeros(&[1.0, 2.0], 2, 0.5), None);
        assert_eq!(quantile_after_zeros(&[1.0, 2.0], 2, 0.75), Some(1.0));
        assert_eq!(quantile_after_zeros(&[1.0, 2.0], 2, 1.0), Some(2.0));
    }
}
