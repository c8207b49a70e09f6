//! The simulation's result: a summary of the workload and, per placement policy, its
//! [`Measures`]; as JSON, or as a table for people.

use serde::Serialize;

use super::CascadeArgs;
use super::measure::{AddedDelay, Measures, Quantiles};
use super::place::{Cluster, Policy};
use super::workload::{MediaCosts, RoomKind, Workload};

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub inputs: CascadeArgs,
    pub media: MediaCosts,
    pub cluster: Cluster,
    pub workload: WorkloadSummary,
    pub policies: Vec<PolicyResult>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PolicyResult {
    pub policy: Policy,
    #[serde(flatten)]
    pub measures: Measures,
}

#[derive(Debug, Clone, Serialize)]
pub struct WorkloadSummary {
    pub rooms: usize,
    pub kinds: Vec<KindSummary>,
    /// Streams all participants receive together.
    pub streams: usize,
    /// What all nodes together send participants, whatever the placement.
    pub demand_pps: f64,
    pub demand_mbps: f64,
    /// The demand as % of every node's saturation together.
    pub demand_pct_of_fleet: f64,
    /// Nodes the demand needs at the placement target, if it could be divided freely.
    pub nodes_needed_at_target: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct KindSummary {
    pub kind: RoomKind,
    pub rooms: usize,
    pub participants: usize,
    pub publishers: usize,
    pub largest: usize,
}

impl WorkloadSummary {
    pub fn of(workload: &Workload, cluster: &Cluster) -> Self {
        let demand = workload.demand();
        let fleet = cluster.saturation_pps * cluster.nodes as f64;
        Self {
            rooms: workload.rooms.len(),
            kinds: RoomKind::ALL.iter().map(|&k| KindSummary::of(workload, k)).collect(),
            streams: workload.participants.iter().map(|p| p.receives.len()).sum(),
            demand_pps: demand.pps,
            demand_mbps: demand.bps / 1e6,
            demand_pct_of_fleet: 100.0 * demand.pps / fleet,
            nodes_needed_at_target: (demand.pps / cluster.target_pps).ceil() as usize,
        }
    }
}

impl KindSummary {
    fn of(workload: &Workload, kind: RoomKind) -> Self {
        let rooms = workload.rooms.iter().filter(|r| r.kind == kind);
        Self {
            kind,
            rooms: rooms.clone().count(),
            participants: rooms.clone().map(|r| r.size).sum(),
            publishers: rooms.clone().map(|r| r.publishers).sum(),
            largest: rooms.map(|r| r.size).max().unwrap_or(0),
        }
    }
}

impl Report {
    /// The report for people: what was simulated, then one column per policy.
    pub fn table(&self) -> String {
        let mut out = self.preamble();
        let rows = self.rows();
        let width = rows.iter().map(|(label, _)| label.len()).max().unwrap_or(0);
        let columns: Vec<&str> = self.policies.iter().map(|p| p.policy.label()).collect();
        out += &format!("\n{:width$}", "");
        for c in &columns {
            out += &format!("  {c:>16}");
        }
        out += "\n";
        for (label, cells) in rows {
            out += &format!("{label:width$}");
            for cell in cells {
                out += &format!("  {cell:>16}");
            }
            out += "\n";
        }
        out
    }

    fn preamble(&self) -> String {
        let (i, w, c, m) = (&self.inputs, &self.workload, &self.cluster, &self.media);
        let mut s = format!(
            "simulate-cascade: {} participants in {} rooms over {} nodes, seed {}\n",
            i.participants, w.rooms, c.nodes, i.seed
        );
        for k in &w.kinds {
            s += &format!(
                "  {:>5} {:<21} {:>5} participants, {:>5} publishing, largest {}\n",
                k.rooms,
                k.kind.label(),
                k.participants,
                k.publishers,
                k.largest
            );
        }
        s += &format!(
            "  media per stream (packets/s, kbit/s on the wire): audio {:.0}, {:.0}; camera q {:.1}, {:.0}; h {:.1}, {:.0}; f {:.1}, {:.0}\n",
            m.audio.pps,
            m.audio.bps / 1e3,
            m.video[0].pps,
            m.video[0].bps / 1e3,
            m.video[1].pps,
            m.video[1].bps / 1e3,
            m.video[2].pps,
            m.video[2].bps / 1e3,
        );
        s += &format!(
            "  participants receive {} streams: {:.2} M packets/s, {:.2} Gbit/s, {:.1} % of the fleet's saturation\n",
            w.streams,
            w.demand_pps / 1e6,
            w.demand_mbps / 1e3,
            w.demand_pct_of_fleet
        );
        s += &format!(
            "  at the placement target that needs at least {} nodes of these\n",
            w.nodes_needed_at_target
        );
        s += &format!(
            "  a node: {} media cores x {:.1} us per egress packet = {:.0} packets/s at saturation; placement target {:.0} % = {:.0} packets/s\n",
            i.cores_per_node,
            i.us_per_packet,
            c.saturation_pps,
            100.0 * i.headroom,
            c.target_pps
        );
        s += &format!(
            "  relay hop: SFU forwarding delay p50 {} ms, p99 {} ms (log-normal), plus RTT/2; RTT {} ms within a datacentre, {} ms across regions\n",
            i.sfu_delay_p50_ms, i.sfu_delay_p99_ms, i.rtt_ms, i.far_rtt_ms
        );
        s
    }

    /// Each row: a label and one cell per policy.
    fn rows(&self) -> Vec<(String, Vec<String>)> {
        let i = &self.inputs;
        let row = |label: String, cell: &dyn Fn(&Measures) -> String| {
            (label, self.policies.iter().map(|p| cell(&p.measures)).collect())
        };
        let delay = |pick: fn(&AddedDelay) -> Quantiles| {
            move |m: &Measures| match &m.added_delay_ms {
                Some(d) => format!("{:.2} / {:.2}", pick(d).p50, pick(d).p99),
                None => "-".to_string(),
            }
        };
        vec![
            row("nodes used".into(), &|m| m.nodes_used.to_string()),
            row("max node load, % of saturation".into(), &|m| format!("{:.1}", m.max_load_pct)),
            row("mean node load, %".into(), &|m| format!("{:.1}", m.mean_load_pct)),
            row(format!("nodes over the {:.0} % target", 100.0 * i.headroom), &|m| {
                m.nodes_over_target.to_string()
            }),
            row("nodes saturated (over 100 %)".into(), &|m| m.nodes_saturated.to_string()),
            row("max node egress, Mbit/s".into(), &|m| format!("{:.0}", m.max_node_egress_mbps)),
            row("rooms split across nodes".into(), &|m| m.rooms_split.to_string()),
            row("most nodes one room spans".into(), &|m| m.widest_room_nodes.to_string()),
            row("relay streams (track-layers)".into(), &|m| m.relay_streams.to_string()),
            row("widest fan-out of one relayed layer".into(), &|m| {
                m.widest_relay_fanout.to_string()
            }),
            row("inter-node traffic, Mbit/s".into(), &|m| format!("{:.1}", m.relay_mbps)),
            row("relay share of all egress, %".into(), &|m| format!("{:.2}", m.relay_share_pct)),
            row("streams received through a relay".into(), &|m| {
                let pct = 100.0 * m.streams_relayed as f64 / m.streams_received.max(1) as f64;
                format!("{} ({:.1} %)", m.streams_relayed, pct)
            }),
            row("participants receiving via a relay".into(), &|m| {
                m.participants_relayed.to_string()
            }),
            row(
                format!("added delay p50 / p99 ms, relayed streams, RTT {} ms", i.rtt_ms),
                &delay(|d| d.same_datacentre),
            ),
            row(
                format!("  the same, all streams, RTT {} ms", i.rtt_ms),
                &delay(|d| d.same_datacentre_all_streams),
            ),
            row(
                format!("added delay p50 / p99 ms, relayed streams, RTT {} ms", i.far_rtt_ms),
                &delay(|d| d.cross_region),
            ),
            row(
                format!("  the same, all streams, RTT {} ms", i.far_rtt_ms),
                &delay(|d| d.cross_region_all_streams),
            ),
        ]
    }
}
