//! `veil-loadtest`: synthetic participants against a Veil node. See the crate docs and
//! docs/benchmarks.md.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use veil_loadtest::bench::{self, Pinning};
use veil_loadtest::scenario::{self, RunConfig, Scenario};
use veil_loadtest::server::Server;

#[derive(Parser)]
#[command(version, about = "Load test and benchmarks for a Veil node")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run one scenario (against a veil serve started here unless --server is given).
    Run(RunArgs),
    /// Run the standard set and write docs/benchmarks.md tables and plots.
    Bench {
        #[arg(long, default_value = "target/release/veil")]
        veil_bin: PathBuf,
        #[arg(long, default_value = "docs/benchmarks.md")]
        doc: PathBuf,
        #[arg(long, default_value = "docs/benchmarks")]
        svg_dir: PathBuf,
        /// Shorter windows (5 s) for a quick look.
        #[arg(long)]
        quick: bool,
        /// Also run each scenario through Janus (VideoRoom), if installed.
        #[arg(long)]
        janus: bool,
    },
    /// Each scenario briefly at small N; exits non-zero if a run produced no data.
    Smoke {
        #[arg(long, default_value = "target/debug/veil")]
        veil_bin: PathBuf,
    },
    /// One publishing participant in a meeting shared with others (browsers, other WebRTC
    /// stacks); prints one JSON line of what it received per stream (see the `join` module).
    Join(veil_loadtest::join::JoinArgs),
    /// The null forwarder baseline (see the `null` module docs).
    NullForwarder {
        #[arg(long, default_value = "127.0.0.1:0")]
        udp: SocketAddr,
    },
    /// A UDP relay in front of an SFU that impairs each client's path (loss, delay, jitter,
    /// rate cap, blackhole), controlled by JSON lines on stdin (see docs/impairment.md).
    Impair(veil_loadtest::impair::ImpairArgs),
    /// Simulate rooms spanning several SFU nodes: placement, relays, added delay; no network
    /// (see docs/cascading.md).
    SimulateCascade(veil_loadtest::cascade::CascadeArgs),
}

#[derive(clap::Args)]
struct RunArgs {
    scenario: Scenario,
    /// Listeners (audio), participants (meeting), viewers (webinar, join-storm).
    #[arg(short, long, default_value_t = 10)]
    n: usize,
    /// Measured seconds.
    #[arg(long, default_value_t = 20)]
    duration: u64,
    /// Joins per second.
    #[arg(long, default_value_t = 20.0)]
    rate: f64,
    /// Simulcast layers of each meeting camera: 3 as the browser sends them (q, h, f), or 1
    /// for the 720p layer alone.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u8).range(1..=3))]
    layers: u8,
    /// How meeting members show the videos they receive, as reported to the SFU: an equal
    /// grid, or participant 0 large and the others as thumbnails.
    #[arg(long, value_enum, default_value_t = veil_loadtest::layout::Layout::Grid)]
    layout: veil_loadtest::layout::Layout,
    /// A running veil serve (http://HOST:PORT) instead of starting one.
    #[arg(long)]
    server: Option<String>,
    /// The remote server's API secret (hex), to mint tokens.
    #[arg(long, env = "VEIL_LOADTEST_SECRET")]
    secret: Option<String>,
    /// The remote server's PID, to measure its CPU and RSS.
    #[arg(long)]
    server_pid: Option<u32>,
    /// The veil binary to start.
    #[arg(long, default_value = "target/release/veil")]
    veil_bin: PathBuf,
    /// Skip the null-forwarder baseline.
    #[arg(long)]
    no_baseline: bool,
    /// After Veil, run the same workload through Janus (VideoRoom) in a network namespace of
    /// its own (needs root and scripts/setup-janus.sh).
    #[arg(long)]
    janus: bool,
    /// Pin the server to CPU 1 and the generator to CPU 0.
    #[arg(long, conflicts_with = "generator_threads")]
    pin: bool,
    /// Run the generator on this many worker threads instead of one. For runs whose generator
    /// work is not the server's to carry, such as a join storm, where every synthetic member
    /// processes every MLS commit: in a real meeting each member has its own device.
    #[arg(long, default_value_t = 1)]
    generator_threads: usize,
    #[arg(long)]
    json: Option<PathBuf>,
    /// Latency CDF plot.
    #[arg(long)]
    svg: Option<PathBuf>,
}

fn pin_self(cpu: usize) {
    let pid = std::process::id().to_string();
    let _ =
        std::process::Command::new("taskset").args(["-a", "-cp", &cpu.to_string(), &pid]).output();
}

fn main() -> anyhow::Result<()> {
    veil_loadtest::start();
    let cli = Cli::parse();
    if let Command::NullForwarder { udp } = cli.command {
        return veil_loadtest::null::serve(udp).context("null forwarder");
    }
    if let Command::SimulateCascade(args) = &cli.command {
        return veil_loadtest::cascade::run(args).map_err(anyhow::Error::msg);
    }
    let threads = match &cli.command {
        Command::Run(args) => args.generator_threads.max(1),
        _ => 1,
    };
    veil_loadtest::set_generator_threads(threads);
    let runtime = if threads == 1 {
        tokio::runtime::Builder::new_current_thread().enable_all().build()?
    } else {
        tokio::runtime::Builder::new_multi_thread().worker_threads(threads).enable_all().build()?
    };
    runtime.block_on(async_main(cli.command))
}

async fn async_main(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Run(args) => run(args).await,
        Command::Smoke { veil_bin } => {
            let results = bench::smoke(&veil_bin).await.map_err(anyhow::Error::msg)?;
            eprintln!("smoke: {} runs produced data", results.len());
            Ok(())
        }
        Command::Bench { veil_bin, doc, svg_dir, quick, janus } => {
            pin_self(0);
            let mut pairs = Vec::new();
            for (scenario, ns, secs) in bench::STANDARD {
                for &n in *ns {
                    let mut cfg = RunConfig::new(*scenario, n);
                    cfg.duration = Duration::from_secs(if quick { 5 } else { *secs });
                    // The baselines choose no layers: one layer keeps the workloads the same.
                    cfg.layers = 1;
                    let pin = Some(Pinning { server_cpu: 1 });
                    match bench::compare(&cfg, &veil_bin, pin, true, janus).await {
                        Ok(pair) => pairs.push(pair),
                        Err(e) => eprintln!("{scenario:?} n={n}: {e}"),
                    }
                }
            }
            bench::write_report(&pairs, &doc, &svg_dir).context("writing the report")?;
            eprintln!("wrote {} and {}", doc.display(), svg_dir.display());
            Ok(())
        }
        Command::Join(args) => {
            let cfg = args.config().map_err(anyhow::Error::msg)?;
            let report = veil_loadtest::join::run(cfg).await;
            println!("{}", serde_json::to_string(&report)?);
            match report.error {
                Some(e) => anyhow::bail!("the participant failed: {e}"),
                None => Ok(()),
            }
        }
        Command::Impair(args) => veil_loadtest::impair::run(args).await,
        Command::NullForwarder { .. } | Command::SimulateCascade(_) => {
            unreachable!("handled before the runtime starts")
        }
    }
}

async fn run(args: RunArgs) -> anyhow::Result<()> {
    let mut cfg = RunConfig::new(args.scenario, args.n);
    cfg.duration = Duration::from_secs(args.duration);
    cfg.rate = args.rate;
    cfg.layers = usize::from(args.layers);
    cfg.layout = args.layout;
    let pin = args.pin.then_some(Pinning { server_cpu: 1 });
    if args.pin {
        pin_self(0);
    }
    let value = if let Some(url) = &args.server {
        let server = Server::remote(url, args.secret.as_deref(), args.server_pid)?;
        let result = scenario::run(&cfg, &server).await?;
        eprint!("{}", result.summary());
        serde_json::to_value(&result)?
    } else {
        let pair = bench::compare(&cfg, &args.veil_bin, pin, !args.no_baseline, args.janus).await?;
        if let Some(svg) = &args.svg {
            let mut series = vec![("veil".to_string(), pair.veil.latency_cdf.clone())];
            if let Some(null) = &pair.null {
                series.push(("null forwarder".to_string(), null.latency_cdf.clone()));
            }
            if let Some(janus) = &pair.janus {
                series.push(("janus".to_string(), janus.latency_cdf.clone()));
            }
            std::fs::write(svg, veil_loadtest::svg::latency_cdf("One-way delay", &series))?;
        }
        serde_json::to_value(&pair)?
    };
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&value)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
