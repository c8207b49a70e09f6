//! Runs that compare: a scenario through the null forwarder, then through Veil, then through
//! Janus on the same workload ([`compare`]), the CI smoke set ([`smoke`]), and the standard set
//! behind `make bench`, written as docs/benchmarks.md tables and SVG plots ([`write_report`]).

use std::fmt::Write;
use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use crate::report::RunResult;
use crate::scenario::{self, RunConfig, Scenario};
use crate::server::{Server, ServerError};

/// Where the server and the generator run: `taskset` CPUs.
#[derive(Debug, Clone, Copy)]
pub struct Pinning {
    pub server_cpu: usize,
}

/// A scenario through Veil and its baselines: the null forwarder (the least any forwarder
/// does) and Janus (what a production SFU spends).
#[derive(Debug, Clone, Serialize)]
pub struct Pair {
    pub null: Option<RunResult>,
    pub veil: RunResult,
    pub janus: Option<RunResult>,
    /// Veil's CPU per egress packet over the null forwarder's.
    pub cpu_ratio_vs_null: Option<f64>,
    /// Veil's p99 one-way delay minus the null forwarder's, ms.
    pub added_p99_ms: Option<f64>,
    pub added_p50_ms: Option<f64>,
    /// Veil's CPU per egress packet over Janus's (below 1: Veil spends less).
    pub cpu_ratio_vs_janus: Option<f64>,
    /// Veil's p99 one-way delay over Janus's.
    pub p99_ratio_vs_janus: Option<f64>,
}

impl Pair {
    /// Ratios only against a baseline of the same workload: one that got a single layer where
    /// Veil's publishers sent three forwarded other streams.
    fn new(null: Option<RunResult>, veil: RunResult, janus: Option<RunResult>) -> Self {
        let alike = |r: &&RunResult| r.layers_published == veil.layers_published;
        let (same_null, same_janus) = (null.as_ref().filter(alike), janus.as_ref().filter(alike));
        let per = |r: &RunResult| r.server_cpu_us_per_egress_packet;
        let cpu_ratio_vs_null = same_null.and_then(|n| Some(per(&veil)? / per(n)?));
        let added = |f: fn(&RunResult) -> f64| same_null.map(|n| f(&veil) - f(n));
        let added_p99_ms = added(|r| r.latency_ms.p99);
        let added_p50_ms = added(|r| r.latency_ms.p50);
        let cpu_ratio_vs_janus = same_janus.and_then(|j| Some(per(&veil)? / per(j)?));
        let p99_ratio_vs_janus = same_janus
            .filter(|j| j.latency_ms.count > 0 && j.latency_ms.p99 > 0.0)
            .map(|j| veil.latency_ms.p99 / j.latency_ms.p99);
        Pair {
            null,
            veil,
            janus,
            cpu_ratio_vs_null,
            added_p99_ms,
            added_p50_ms,
            cpu_ratio_vs_janus,
            p99_ratio_vs_janus,
        }
    }
}

/// Runs `cfg` through Janus if it is installed and can be run; otherwise says why not.
async fn run_janus(cfg: &RunConfig, cpu: Option<usize>) -> Option<RunResult> {
    if cfg.scenario == Scenario::JoinStorm {
        eprintln!("  Janus skipped: join-storm measures Veil's own join milestones (MLS keying)\n");
        return None;
    }
    if crate::janus::executable().is_none() {
        eprintln!("  Janus skipped: not installed (scripts/setup-janus.sh installs it)\n");
        return None;
    }
    let run = async {
        let server = Server::start_janus(cpu)?;
        scenario::run(cfg, &server).await
    };
    match run.await {
        Ok(result) => {
            eprint!("{}", result.summary());
            Some(result)
        }
        Err(e) => {
            eprintln!("  Janus run failed: {e}\n");
            None
        }
    }
}

/// Runs `cfg` through the null forwarder (if `baseline`), then through `veil serve` from
/// `veil_bin`, then through Janus (if `janus`), each started fresh.
pub async fn compare(
    cfg: &RunConfig,
    veil_bin: &Path,
    pin: Option<Pinning>,
    baseline: bool,
    janus: bool,
) -> Result<Pair, ServerError> {
    let cpu = pin.map(|p| p.server_cpu);
    let null = if baseline && cfg.scenario != Scenario::JoinStorm {
        let server = Server::start_null(cpu)?;
        let result = scenario::run(cfg, &server).await?;
        eprint!("{}", result.summary());
        Some(result)
    } else {
        None
    };
    let server = Server::start_veil(veil_bin, cpu)?;
    let veil = scenario::run(cfg, &server).await?;
    drop(server);
    eprint!("{}", veil.summary());
    let janus = if janus { run_janus(cfg, cpu).await } else { None };
    let pair = Pair::new(null, veil, janus);
    if let Some(r) = pair.cpu_ratio_vs_null {
        eprintln!(
            "  Veil / null forwarder CPU per egress packet: {r:.2}×; added p99 {:.3} ms",
            pair.added_p99_ms.unwrap_or(0.0)
        );
    }
    if pair.janus.is_some() {
        eprintln!(
            "  Veil / Janus CPU per egress packet: {}×; p99 {}×",
            f(pair.cpu_ratio_vs_janus, 2),
            f(pair.p99_ratio_vs_janus, 2)
        );
    }
    eprintln!();
    Ok(pair)
}

/// Each scenario for a few seconds at small N against `veil_bin`, plus one null-forwarder run;
/// fails only if a run produced no data.
pub async fn smoke(veil_bin: &Path) -> Result<Vec<RunResult>, String> {
    let mut out = Vec::new();
    let runs = [
        (Scenario::Audio, 3),
        (Scenario::Meeting, 3),
        (Scenario::Webinar, 3),
        (Scenario::JoinStorm, 4),
    ];
    for (i, (scenario, n)) in runs.into_iter().enumerate() {
        let mut cfg = RunConfig::new(scenario, n);
        cfg.duration = Duration::from_secs(4);
        cfg.warmup = Duration::from_millis(500);
        cfg.rate = 10.0;
        cfg.ready_timeout = Duration::from_secs(15);
        let pair = compare(&cfg, veil_bin, None, i == 1, false).await.map_err(|e| e.to_string())?;
        for r in pair.null.into_iter().chain([pair.veil]) {
            let storm_ok = r.join_time_ms.as_ref().is_none_or(|j| j.reached_first_keyframe > 0);
            if r.egress_pps <= 0.0 || r.latency_ms.count == 0 || !storm_ok {
                return Err(format!(
                    "{:?} via {:?} produced no data:\n{}",
                    r.scenario,
                    r.server,
                    r.summary()
                ));
            }
            out.push(r);
        }
    }
    Ok(out)
}

/// The standard set: (scenario, N values, measured seconds).
pub const STANDARD: &[(Scenario, &[usize], u64)] = &[
    (Scenario::Audio, &[50, 100, 200], 20),
    (Scenario::Meeting, &[4, 6, 8, 10], 20),
    (Scenario::Webinar, &[25, 50, 100], 20),
    (Scenario::JoinStorm, &[200], 10),
];

/// Writes `benchmarks.md`'s generated section and the SVG plots into `dir`.
pub fn write_report(pairs: &[Pair], doc: &Path, svg_dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(svg_dir)?;
    let mut cdf = Vec::new();
    for p in pairs.iter().filter(|p| p.veil.scenario == Scenario::Meeting) {
        cdf.push((format!("veil meeting n={}", p.veil.n), p.veil.latency_cdf.clone()));
        if let Some(n) = &p.null {
            cdf.push((format!("null meeting n={}", n.n), n.latency_cdf.clone()));
        }
        if let Some(j) = &p.janus {
            cdf.push((format!("janus meeting n={}", j.n), j.latency_cdf.clone()));
        }
    }
    cdf.truncate(9);
    std::fs::write(
        svg_dir.join("latency-cdf.svg"),
        crate::svg::latency_cdf("One-way delay, meeting", &cdf),
    )?;
    for scenario in [Scenario::Audio, Scenario::Meeting, Scenario::Webinar] {
        let of = |f: fn(&RunResult) -> Option<f64>, run: Run| -> Vec<(f64, f64)> {
            pairs
                .iter()
                .filter(|p| p.veil.scenario == scenario)
                .filter_map(|p| {
                    let r = run(p)?;
                    Some((r.n as f64, f(r)?))
                })
                .collect()
        };
        let name = format!("{scenario:?}").to_lowercase();
        let per = |r: &RunResult| r.server_cpu_us_per_egress_packet;
        let cpu = [
            ("veil µs/egress pkt".to_string(), of(per, |p| Some(&p.veil))),
            ("null µs/egress pkt".to_string(), of(per, |p| p.null.as_ref())),
            ("janus µs/egress pkt".to_string(), of(per, |p| p.janus.as_ref())),
        ];
        std::fs::write(
            svg_dir.join(format!("{name}-cpu.svg")),
            crate::svg::versus_n(&format!("{name}: server CPU per egress packet"), "µs", &cpu),
        )?;
        let pps = [
            ("veil egress pps".to_string(), of(|r| Some(r.egress_pps), |p| Some(&p.veil))),
            (
                "veil server cores ×100k".to_string(),
                of(|r| r.server_cpu_cores.map(|c| c * 1e5), |p| Some(&p.veil)),
            ),
        ];
        std::fs::write(
            svg_dir.join(format!("{name}-throughput.svg")),
            crate::svg::versus_n(&format!("{name}: throughput and CPU"), "pps", &pps),
        )?;
    }
    let json = serde_json::to_string_pretty(pairs).unwrap_or_default();
    std::fs::write(svg_dir.join("results.json"), json)?;
    let existing = std::fs::read_to_string(doc).unwrap_or_default();
    let marker = "<!-- generated by make bench -->";
    let head = existing.split(marker).next().unwrap_or_default().trim_end().to_string();
    std::fs::write(doc, format!("{head}\n\n{marker}\n{}", markdown(pairs)))
}

/// Picks one run of a [`Pair`].
type Run = fn(&Pair) -> Option<&RunResult>;

fn f(v: Option<f64>, digits: usize) -> String {
    v.map_or("—".into(), |v| format!("{v:.digits$}"))
}

/// The tables: one row per run (null forwarder, Veil, Janus); the Veil row carries the ratios.
pub fn markdown(pairs: &[Pair]) -> String {
    let mut s = String::from(
        "| scenario | N | server | egress pps | server cores | µs/egress pkt | × null | × Janus | p50 ms | p99 ms | p99.9 ms | added p99 ms | p99 × Janus | loss | RSS MiB | KiB/track | gen CPU | void |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for p in pairs {
        for r in p.null.iter().chain([&p.veil]).chain(p.janus.iter()) {
            let veil = std::ptr::eq(r, &p.veil);
            let ratio = |v: Option<f64>, digits| f(v.filter(|_| veil), digits);
            let _ = writeln!(
                s,
                "| {:?} | {} | {:?} | {:.0} | {} | {} | {} | {} | {:.3} | {:.3} | {:.3} | {} | {} | {:.5} | {} | {} | {} | {} |",
                r.scenario,
                r.n,
                r.server,
                r.egress_pps,
                f(r.server_cpu_cores, 2),
                f(r.server_cpu_us_per_egress_packet, 2),
                ratio(p.cpu_ratio_vs_null, 2),
                ratio(p.cpu_ratio_vs_janus, 2),
                r.latency_ms.p50,
                r.latency_ms.p99,
                r.latency_ms.p999,
                ratio(p.added_p99_ms, 3),
                ratio(p.p99_ratio_vs_janus, 2),
                r.loss_ratio,
                f(r.server_rss_bytes.map(|b| b as f64 / 1048576.0), 1),
                f(r.rss_per_subscribed_track_bytes.map(|b| b / 1024.0), 1),
                f(r.generator.cpu_cores.map(|c| c * 100.0), 0),
                if r.generator_saturated { r.generator.reasons.join("; ") } else { String::new() },
            );
        }
    }
    for p in pairs {
        if let Some(j) = &p.veil.join_time_ms {
            let _ = writeln!(s, "\nJoin storm, N={}: {}.", p.veil.n, j.describe());
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Inputs;
    use crate::server::Kind;

    fn run(kind: Kind, us_per_packet: f64, p99_ms: f64) -> RunResult {
        let cfg = RunConfig::new(Scenario::Meeting, 4);
        let mut r = RunResult::build(Inputs {
            cfg: &cfg,
            kind,
            outcomes: Vec::new(),
            window_s: 10.0,
            ready: 4,
            server_cpu: None,
            server_threads: Vec::new(),
            generator_cores: None,
            rss_idle: None,
            rss: None,
            layers_published: 1,
            sfu_delay: None,
        });
        r.server_cpu_us_per_egress_packet = Some(us_per_packet);
        r.latency_ms.p99 = p99_ms;
        r.latency_ms.count = 100;
        r
    }

    #[test]
    fn ratios_against_janus_are_veil_over_janus() {
        let pair = Pair::new(
            Some(run(Kind::NullForwarder, 5.0, 1.0)),
            run(Kind::Veil, 10.0, 3.0),
            Some(run(Kind::Janus, 40.0, 2.0)),
        );
        assert_eq!(pair.cpu_ratio_vs_null, Some(2.0));
        assert_eq!(pair.cpu_ratio_vs_janus, Some(0.25));
        assert_eq!(pair.p99_ratio_vs_janus, Some(1.5));
        let json = serde_json::to_value(&pair).expect("a pair serializes");
        assert_eq!(json["cpu_ratio_vs_janus"], 0.25);
        assert_eq!(json["janus"]["server"], "janus");
    }

    #[test]
    fn no_ratios_against_a_baseline_that_got_other_layers() {
        let simulcast = RunResult { layers_published: 3, ..run(Kind::Veil, 20.0, 3.0) };
        let null = Some(run(Kind::NullForwarder, 5.0, 1.0));
        let pair = Pair::new(null, simulcast, Some(run(Kind::Janus, 40.0, 2.0)));
        assert_eq!((pair.cpu_ratio_vs_null, pair.added_p99_ms), (None, None));
        assert_eq!((pair.cpu_ratio_vs_janus, pair.p99_ratio_vs_janus), (None, None));
        assert!(pair.null.is_some(), "the baseline's own figures stay");
    }

    #[test]
    fn the_table_has_a_row_per_run_and_ratios_only_on_veil_rows() {
        let pair = Pair::new(None, run(Kind::Veil, 10.0, 3.0), Some(run(Kind::Janus, 40.0, 2.0)));
        let table = markdown(&[pair]);
        let rows: Vec<&str> = table.lines().filter(|l| l.starts_with("| Meeting")).collect();
        assert_eq!(rows.len(), 2);
        let columns = table.lines().next().expect("a header").matches('|').count();
        assert!(rows.iter().all(|r| r.matches('|').count() == columns));
        assert!(rows[0].contains("| Veil |") && rows[0].contains("| 0.25 |"));
        assert!(rows[0].contains("| 1.50 |"));
        assert!(rows[1].contains("| Janus |") && !rows[1].contains("0.25"));
    }
}
