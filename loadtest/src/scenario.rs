//! Scenarios: who joins, when, publishing what; and one run of a scenario against a server.
//!
//! | scenario | publishers | subscribers |
//! |---|---|---|
//! | `audio` | 10 speakers, Opus only | N listeners (publish nothing) |
//! | `meeting` | N, audio + 720p camera (simulcast) | the same N (everyone sees everyone) |
//! | `webinar` | 1 presenter, audio + screen share | N viewers |
//! | `join-storm` | 1 presenter, audio + camera | N viewers joining at `rate`/s |
//!
//! A run joins everyone at `rate` per second, waits until every participant decrypts every
//! stream it expects (or [`RunConfig::ready_timeout`] passes), lets things settle for
//! `warmup`, then measures a window of `duration`: server and generator CPU from schedstat,
//! and every packet subscribers receive in it. A join storm measures from the first join.
//!
//! Meeting cameras go out as the browser sends them, in three simulcast layers, unless
//! [`RunConfig::layers`] is 1; every member reports tile sizes for its [`RunConfig::layout`],
//! whose speaker is the first participant ([`SPEAKER`]). Simulcast is Veil's alone: through the
//! null forwarder and Janus the camera stays one 720p layer.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::layout::Layout;
use crate::media::{CAMERA_720P, CAMERA_LAYERS, SCREEN};
use crate::participant::{Outcome, Plan, Role, Shared, Target};
use crate::procstat::{self, Sample};
use crate::report::RunResult;
use crate::server::{Kind, Server, ServerError};

/// The workloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    Audio,
    Meeting,
    Webinar,
    JoinStorm,
}

/// Speakers in the `audio` scenario.
pub const SPEAKERS: usize = 10;

/// The participant shown large in the speaker layout.
pub const SPEAKER: usize = 0;

/// The identity participant `index` joins with.
pub fn identity(index: usize) -> String {
    format!("load-{index}")
}

/// How to run a scenario.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub scenario: Scenario,
    pub n: usize,
    pub duration: Duration,
    pub warmup: Duration,
    /// Joins per second.
    pub rate: f64,
    /// How long to wait, after the last join, for everyone to decrypt everything.
    pub ready_timeout: Duration,
    /// Print a progress line every second.
    pub progress: bool,
    /// Simulcast layers of a meeting camera: 3 as the browser sends, 1 for the 720p layer alone
    /// (2: the top two).
    pub layers: usize,
    /// How meeting members show the videos they receive.
    pub layout: Layout,
}

impl RunConfig {
    pub fn new(scenario: Scenario, n: usize) -> Self {
        Self {
            scenario,
            n,
            duration: Duration::from_secs(20),
            warmup: Duration::from_secs(2),
            rate: 20.0,
            ready_timeout: Duration::from_secs(20),
            progress: true,
            layers: CAMERA_LAYERS.len(),
            layout: Layout::Grid,
        }
    }
}

/// The participants of a scenario, in join order.
pub fn roles(cfg: &RunConfig) -> Vec<Role> {
    let (scenario, n) = (cfg.scenario, cfg.n);
    let role = |audio, video, expect_streams| Role {
        audio,
        video,
        simulcast: None,
        layout: Some(cfg.layout),
        expect_streams,
    };
    let listener = |expect| role(false, None, expect);
    match scenario {
        Scenario::Audio => {
            let speaker = role(true, None, SPEAKERS - 1);
            let mut roles = vec![speaker; SPEAKERS];
            roles.extend(std::iter::repeat_n(listener(SPEAKERS), n));
            roles
        }
        Scenario::Meeting => {
            let top = CAMERA_LAYERS.len() - cfg.layers.min(CAMERA_LAYERS.len());
            let layers = (cfg.layers > 1).then_some(&CAMERA_LAYERS[top..]);
            let member = Role { simulcast: layers, ..role(true, Some(CAMERA_720P), 2 * (n - 1)) };
            vec![member; n]
        }
        Scenario::Webinar | Scenario::JoinStorm => {
            let video = if scenario == Scenario::Webinar { SCREEN } else { CAMERA_720P };
            let presenter = role(true, Some(video), 0);
            let mut roles = vec![presenter];
            roles.extend(std::iter::repeat_n(listener(2), n));
            roles
        }
    }
}

/// Creates the run's VideoRoom on a Janus server (the others need no setup); returns its id.
async fn prepare(cfg: &RunConfig, server: &Server) -> Result<Option<u64>, ServerError> {
    let Some(janus) = &server.janus else { return Ok(None) };
    if cfg.scenario == Scenario::JoinStorm {
        return Err(ServerError::Unsupported(
            "join-storm is not run against Janus: its milestones (MLS keying) are Veil's own"
                .into(),
        ));
    }
    let room = u64::from(std::process::id()) * 1000 + crate::now_ns() % 1000;
    let publishers = roles(cfg).iter().filter(|r| r.publishes()).count();
    crate::participant::janus::create_room(janus.api, room, publishers)
        .await
        .map_err(ServerError::Janus)?;
    Ok(Some(room))
}

fn plans(
    cfg: &RunConfig,
    server: &Server,
    janus_room: Option<u64>,
) -> Result<Vec<Plan>, ServerError> {
    let room = format!("load-{}-{}", std::process::id(), crate::now_ns() % 1_000_000);
    let mut plans = Vec::new();
    for (index, mut role) in roles(cfg).into_iter().enumerate() {
        if server.kind != Kind::Veil {
            role.simulcast = None;
        }
        let target = match (server.kind, server.janus, janus_room) {
            (Kind::Veil, ..) => Target::Veil {
                http: server.http.ok_or(ServerError::NoSecret)?,
                token: server.token(&room, &identity(index))?,
            },
            (Kind::NullForwarder, ..) => {
                Target::Null { udp: server.udp.ok_or(ServerError::NoSecret)? }
            }
            (Kind::Janus, Some(janus), Some(room)) => {
                Target::Janus { api: janus.api, room, bind: janus.client_ip }
            }
            (Kind::Janus, ..) => return Err(ServerError::Janus("no room to join".into())),
        };
        plans.push(Plan { index, room: room.clone(), role, target });
    }
    Ok(plans)
}

fn spawn(
    plan: Plan,
    kind: Kind,
    shared: &Arc<Shared>,
    stop: &watch::Receiver<bool>,
) -> tokio::task::JoinHandle<Outcome> {
    let (shared, stop) = (shared.clone(), stop.clone());
    match kind {
        Kind::Veil => tokio::spawn(crate::participant::veil::run(plan, shared, stop)),
        Kind::NullForwarder => tokio::spawn(crate::null::run_client(plan, shared, stop)),
        Kind::Janus => tokio::spawn(crate::participant::janus::run(plan, shared, stop)),
    }
}

/// Prints a progress line once a second while `until` has not passed or `done` says stop.
struct Progress {
    label: String,
    total: usize,
    last: (Instant, u64, Option<Sample>, Option<Sample>),
    enabled: bool,
}

impl Progress {
    fn tick(&mut self, shared: &Shared, server_pid: Option<u32>, phase: &str) {
        if !self.enabled {
            return;
        }
        let now = Instant::now();
        let packets = shared.packets.load(std::sync::atomic::Ordering::Relaxed);
        let srv = server_pid.and_then(Sample::take);
        let gen_ = Sample::take(std::process::id());
        let secs = now.duration_since(self.last.0).as_secs_f64().max(1e-3);
        let pps = (packets - self.last.1) as f64 / secs;
        let cores = |a: Option<Sample>, b: Option<Sample>| match (a, b) {
            (Some(a), Some(b)) => format!("{:3.0}%", a.cores_until(&b) * 100.0),
            _ => "  - ".into(),
        };
        eprintln!(
            "[{}] {phase:9} joined {}/{} connected {} ready {} failed {} | rx {:7.0} pps | server {} gen {}",
            self.label,
            Shared::get(&shared.joined),
            self.total,
            Shared::get(&shared.connected),
            Shared::get(&shared.ready),
            Shared::get(&shared.failed),
            pps,
            cores(self.last.2, srv),
            cores(self.last.3, gen_),
        );
        self.last = (now, packets, srv, gen_);
    }
}

/// Runs `cfg` against `server`. Call from a current-thread tokio runtime: the generator's CPU
/// share is then its one thread's.
pub async fn run(cfg: &RunConfig, server: &Server) -> Result<RunResult, ServerError> {
    let janus_room = prepare(cfg, server).await?;
    let plans = plans(cfg, server, janus_room)?;
    let total = plans.len();
    let layers_published =
        plans.iter().filter_map(|p| p.role.simulcast.map(<[_]>::len)).max().unwrap_or(1);
    let shared = Arc::new(Shared::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    let pid = server.pid;
    let rss_idle = pid.and_then(procstat::rss_bytes);
    let label = format!("{:?} n={} {:?}", cfg.scenario, cfg.n, server.kind).to_lowercase();
    let mut progress =
        Progress { label, total, last: (Instant::now(), 0, None, None), enabled: cfg.progress };
    let storm = cfg.scenario == Scenario::JoinStorm;
    let start = Instant::now();
    let mut window_start = None;
    let mut delay_start = None;
    if storm {
        shared.open_window(crate::now_ns());
        window_start = Some((pid.and_then(Sample::take), Sample::take(std::process::id())));
        delay_start = crate::server::forwarding_delay(server).await;
    }
    let mut handles = Vec::with_capacity(total);
    let interval = Duration::from_secs_f64(1.0 / cfg.rate.max(0.1));
    let mut next_progress = start + Duration::from_secs(1);
    for (i, plan) in plans.into_iter().enumerate() {
        // Publishers first; everyone at `rate` per second.
        let at = start + interval * i as u32;
        while Instant::now() < at {
            tokio::time::sleep_until(at.min(next_progress).into()).await;
            if Instant::now() >= next_progress {
                progress.tick(&shared, pid, "joining");
                next_progress += Duration::from_secs(1);
            }
        }
        handles.push(spawn(plan, server.kind, &shared, &stop_rx));
    }
    let ready_by = Instant::now() + cfg.ready_timeout;
    while Shared::get(&shared.ready) + Shared::get(&shared.failed) < total
        && Instant::now() < ready_by
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if Instant::now() >= next_progress {
            progress.tick(&shared, pid, "settling");
            next_progress += Duration::from_secs(1);
        }
    }
    let ready = Shared::get(&shared.ready);
    if !storm {
        tokio::time::sleep(cfg.warmup).await;
        shared.open_window(crate::now_ns());
        window_start = Some((pid.and_then(Sample::take), Sample::take(std::process::id())));
        delay_start = crate::server::forwarding_delay(server).await;
    }
    let threads_before = pid.map(procstat::cpu_ns_by_thread).unwrap_or_default();
    let end = Instant::now() + cfg.duration;
    while Instant::now() < end {
        tokio::time::sleep_until(end.min(next_progress).into()).await;
        if Instant::now() >= next_progress {
            progress.tick(&shared, pid, "measuring");
            next_progress += Duration::from_secs(1);
        }
    }
    let window_end_ns = crate::now_ns();
    shared.close_window(window_end_ns);
    let (server_end, gen_end) = (pid.and_then(Sample::take), Sample::take(std::process::id()));
    let threads_after = pid.map(procstat::cpu_ns_by_thread).unwrap_or_default();
    let rss = pid.and_then(procstat::rss_bytes);
    let delay_end = crate::server::forwarding_delay(server).await;
    let _ = stop_tx.send(true);
    let mut outcomes = Vec::with_capacity(total);
    for handle in handles {
        if let Ok(outcome) = handle.await {
            outcomes.push(outcome);
        }
    }
    let (server_start, gen_start) = window_start.unwrap_or((None, None));
    let window =
        shared.window().map(|w| (w.to.min(window_end_ns) - w.from) as f64 / 1e9).unwrap_or(0.0);
    let threads = threads_after
        .iter()
        .map(|(name, after)| {
            let before = threads_before.iter().find(|(n, _)| n == name).map_or(0, |(_, b)| *b);
            (name.clone(), after.saturating_sub(before) as f64 / 1e9 / cfg.duration.as_secs_f64())
        })
        .filter(|(_, cores)| *cores > 0.001)
        .collect();
    Ok(RunResult::build(crate::report::Inputs {
        cfg,
        kind: server.kind,
        outcomes,
        window_s: window,
        ready,
        server_cpu: server_start
            .zip(server_end)
            .map(|(a, b)| (b.cpu_ns - a.cpu_ns, a.cores_until(&b))),
        server_threads: threads,
        generator_cores: gen_start.zip(gen_end).map(|(a, b)| a.cores_until(&b)),
        rss_idle,
        rss,
        layers_published,
        sfu_delay: delay_end.zip(delay_start).map(|(end, start)| end.since(&start)),
    }))
}
