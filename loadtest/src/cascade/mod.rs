//! # Cascading, simulated: rooms spanning several SFU nodes
//!
//! `veil-loadtest simulate-cascade` asks, without a network and in a second: if many rooms
//! share a fleet of nodes, and a room may span nodes by relaying tracks between them, how does
//! each way of placing rooms load the nodes, how many relays does it need, and how much delay
//! do they add? The design it informs is docs/cascading.md.
//!
//! ```text
//!   workload::generate   rooms (small, medium, webinar) and what each participant watches
//!        |
//!   place::place         a node for every participant, per policy
//!        |               (least loaded, random join, hash ring)
//!   measure::measure     node loads, relays, inter-node traffic, added delay
//!        |
//!   report::Report       a table, or JSON
//! ```
//!
//! A node's capacity comes from docs/benchmarks.md: server CPU per egress packet (20 µs in the
//! simulcast meeting run nearest the nominal rates; 10.7–12.1 µs at the highest single-layer
//! loads) times the media cores a node runs. Load is counted in egress packets, as there; a
//! relay stream costs its sending node one egress packet per packet. The relay hop's delay is
//! the SFU's forwarding delay (`veil_forwarding_delay_seconds`, p50 0.19 ms and p99 0.56 ms in
//! release builds) plus half the round trip between the nodes.
//!
//! Everything random comes from one seed ([`rng`]): the same arguments print the same figures.

mod measure;
mod place;
mod report;
mod rng;
mod workload;

pub use measure::{AddedDelay, DelayModel, Measures, Quantiles};
pub use place::{Cluster, Placement, Policy};
pub use report::{PolicyResult, Report};
pub use workload::{RoomKind, Workload};

/// `veil-loadtest simulate-cascade`: its arguments are the simulation's inputs.
#[derive(Debug, Clone, clap::Args, serde::Serialize)]
pub struct CascadeArgs {
    /// Participants, all in rooms at the same time.
    #[arg(long, default_value_t = 10_000)]
    pub participants: usize,
    /// SFU nodes.
    #[arg(long, default_value_t = 20)]
    pub nodes: usize,
    /// Seed of the rooms drawn, random placement and delay draws.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Media cores per node, one SFU engine each (the sharded shell of DESIGN.md; today's
    /// shell forwards on one). 16: the machine of LiveKit's published benchmark.
    #[arg(long, default_value_t = 16)]
    pub cores_per_node: u32,
    /// Server CPU per egress packet, µs (docs/benchmarks.md, "Simulcast from the load test").
    #[arg(long, default_value_t = 20.0)]
    pub us_per_packet: f64,
    /// Share of a node's saturation that placement fills it to at most.
    #[arg(long, default_value_t = 0.7)]
    pub headroom: f64,
    /// The SFU's forwarding delay, median, ms.
    #[arg(long, default_value_t = 0.19)]
    pub sfu_delay_p50_ms: f64,
    /// The SFU's forwarding delay, 99th percentile, ms.
    #[arg(long, default_value_t = 0.56)]
    pub sfu_delay_p99_ms: f64,
    /// Round trip between two nodes of one datacentre, ms.
    #[arg(long, default_value_t = 0.5)]
    pub rtt_ms: f64,
    /// Round trip between nodes in different regions, ms.
    #[arg(long, default_value_t = 20.0)]
    pub far_rtt_ms: f64,
    /// Print JSON instead of the table.
    #[arg(long)]
    #[serde(skip)]
    pub json: bool,
}

impl Default for CascadeArgs {
    fn default() -> Self {
        Self {
            participants: 10_000,
            nodes: 20,
            seed: 1,
            cores_per_node: 16,
            us_per_packet: 20.0,
            headroom: 0.7,
            sfu_delay_p50_ms: 0.19,
            sfu_delay_p99_ms: 0.56,
            rtt_ms: 0.5,
            far_rtt_ms: 20.0,
            json: false,
        }
    }
}

impl CascadeArgs {
    /// Refuses inputs the model has no meaning for, saying which.
    pub fn validate(&self) -> Result<(), String> {
        if self.participants == 0 || self.nodes == 0 || self.cores_per_node == 0 {
            return Err("--participants, --nodes and --cores-per-node must be at least 1".into());
        }
        let positive = |x: f64| x > 0.0; // false for NaN too
        if !positive(self.us_per_packet) {
            return Err(format!("--us-per-packet must be above 0, not {}", self.us_per_packet));
        }
        if !positive(self.headroom) || self.headroom > 1.0 {
            return Err(format!("--headroom must be in (0, 1], not {}", self.headroom));
        }
        if !positive(self.sfu_delay_p50_ms) || self.sfu_delay_p99_ms < self.sfu_delay_p50_ms {
            return Err("the SFU delay needs 0 < p50 <= p99".into());
        }
        if self.rtt_ms.is_nan()
            || self.far_rtt_ms.is_nan()
            || self.rtt_ms.min(self.far_rtt_ms) < 0.0
        {
            return Err("round trips cannot be negative".into());
        }
        Ok(())
    }

    pub fn cluster(&self) -> Cluster {
        let saturation_pps = f64::from(self.cores_per_node) * 1e6 / self.us_per_packet;
        Cluster { nodes: self.nodes, saturation_pps, target_pps: saturation_pps * self.headroom }
    }

    pub fn delay_model(&self) -> DelayModel {
        DelayModel {
            sfu_p50_ms: self.sfu_delay_p50_ms,
            sfu_p99_ms: self.sfu_delay_p99_ms,
            rtt_ms: self.rtt_ms,
            far_rtt_ms: self.far_rtt_ms,
        }
    }
}

/// Draws the rooms, places them by every policy and measures each placement.
pub fn simulate(args: &CascadeArgs) -> Report {
    let workload = workload::generate(args.participants, args.seed);
    let cluster = args.cluster();
    let delay = args.delay_model();
    let policies = Policy::ALL
        .iter()
        .map(|&policy| {
            let placement = place::place(policy, &workload, &cluster, args.seed);
            let measures = measure::measure(&workload, &placement, &cluster, &delay, args.seed);
            PolicyResult { policy, measures }
        })
        .collect();
    Report {
        inputs: args.clone(),
        media: workload.costs,
        cluster,
        workload: report::WorkloadSummary::of(&workload, &cluster),
        policies,
    }
}

/// The subcommand: simulate and print.
pub fn run(args: &CascadeArgs) -> Result<(), String> {
    args.validate()?;
    let report = simulate(args);
    if args.json {
        let json = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
        println!("{json}");
    } else {
        print!("{}", report.table());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small(seed: u64) -> CascadeArgs {
        CascadeArgs { participants: 3_000, nodes: 6, seed, ..CascadeArgs::default() }
    }

    fn json(report: &Report) -> String {
        serde_json::to_string(report).unwrap()
    }

    #[test]
    fn a_seed_gives_the_same_report_every_time() {
        assert_eq!(json(&simulate(&small(5))), json(&simulate(&small(5))));
        assert_ne!(json(&simulate(&small(5))), json(&simulate(&small(6))));
    }

    #[test]
    fn every_policy_accounts_for_every_participant_and_packet() {
        let args = small(2);
        let workload = workload::generate(args.participants, args.seed);
        let cluster = args.cluster();
        for policy in Policy::ALL {
            let placement = place::place(policy, &workload, &cluster, args.seed);
            let mut seated = vec![0usize; workload.participants.len()];
            for (p, &node) in placement.node_of.iter().enumerate() {
                assert!(node < cluster.nodes);
                seated[p] += 1;
            }
            assert!(seated.iter().all(|&n| n == 1), "{policy:?}: everyone exactly once");
            let relays = measure::relays(&workload, &placement);
            let egress = measure::node_egress(&workload, &placement, &relays, cluster.nodes);
            let relay_pps: f64 = relays.iter().map(|r| workload.costs.of(r.track).pps).sum();
            let total: f64 = egress.iter().map(|e| e.pps).sum();
            let expected = workload.demand().pps + relay_pps;
            assert!((total - expected).abs() <= 1e-9 * expected, "{policy:?}");
        }
    }

    #[test]
    fn the_table_names_every_policy_and_the_inputs() {
        let table = simulate(&small(1)).table();
        for needle in ["least loaded", "random join", "hash ring", "3000 participants", "seed 1"] {
            assert!(table.contains(needle), "{needle} in\n{table}");
        }
    }

    #[test]
    fn nonsense_inputs_are_refused() {
        assert!(CascadeArgs { nodes: 0, ..CascadeArgs::default() }.validate().is_err());
        assert!(CascadeArgs { headroom: 1.5, ..CascadeArgs::default() }.validate().is_err());
        assert!(
            CascadeArgs { us_per_packet: f64::NAN, ..CascadeArgs::default() }.validate().is_err()
        );
        assert!(CascadeArgs::default().validate().is_ok());
    }
}
