//! `veil-loadtest impair`: a UDP relay that impairs each participant's path to an SFU.
//!
//! The kernel on the machines this runs on has no netem, so the impairment is done in user
//! space with the same model the SFU's scenario tests use ([`veil_netsim::Link`]). The SFU
//! advertises the relay's address as its ICE candidate (`veil serve --public-ip`); each client
//! address the relay hears from gets its own upstream socket (a NAT mapping) and its own pair of
//! links: `up` (client → SFU) and `down` (SFU → client).
//!
//! Protocol, one JSON object per line:
//! - stdout: `{"ready": true, "addr": "127.0.0.2:40000"}` once listening, then
//!   `{"client": 1, "addr": "127.0.0.1:51234"}` for each new client address (numbered from 1 in
//!   order of first datagram), and one reply per command (`{"ok": …}` or `{"error": "…"}`).
//! - stdin: `{"client": 2, "down": {"loss": 5}}`, `{"client": "all", "up": {"delay": 50,
//!   "jitter": 10}}`, `{"client": 1, "blackhole": true}`, `{"report": true}`. Fields of `up` and
//!   `down`: `loss` (%), `delay` and `jitter` (ms), `reorder`, `rate` (kbit/s, 0 = no cap),
//!   `burst` and `queue` (bytes), `blackhole`; those left out keep their value. A top-level
//!   `blackhole` sets both directions. `"all"` also applies to clients not yet seen.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use serde::Deserialize;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::time::Instant;
use veil_netsim::{Impairment, Link, LinkStats, Schedule};

#[derive(clap::Args, Debug)]
pub struct ImpairArgs {
    /// Where clients send to (the address `veil serve --public-ip` advertises, with its port).
    #[arg(long)]
    pub listen: SocketAddr,
    /// The SFU's real media address.
    #[arg(long)]
    pub upstream: SocketAddr,
    /// The local address of the per-client upstream sockets.
    #[arg(long, default_value = "127.0.0.1")]
    pub inside: IpAddr,
    /// Seed of the links' randomness (each link derives its own).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// Changes to one link; what is left out stays.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkPatch {
    pub loss: Option<f64>,
    pub delay: Option<f64>,
    pub jitter: Option<f64>,
    pub reorder: Option<bool>,
    pub rate: Option<u64>,
    pub burst: Option<usize>,
    pub queue: Option<usize>,
    pub blackhole: Option<bool>,
}

impl LinkPatch {
    pub fn apply(&self, to: &Impairment) -> Result<Impairment, String> {
        let mut out = to.clone();
        let ms = |v: f64, what: &str| {
            if v.is_finite() && v >= 0.0 {
                Ok(Duration::from_secs_f64(v / 1000.0))
            } else {
                Err(format!("{what} must be a number of milliseconds ≥ 0, not {v}"))
            }
        };
        if let Some(loss) = self.loss {
            if !(0.0..=100.0).contains(&loss) {
                return Err(format!("loss is a percentage (0–100), not {loss}"));
            }
            out.loss = loss;
        }
        if let Some(d) = self.delay {
            out.delay = ms(d, "delay")?;
        }
        if let Some(j) = self.jitter {
            out.jitter = ms(j, "jitter")?;
        }
        if let Some(r) = self.reorder {
            out.reorder = r;
        }
        if let Some(rate) = self.rate {
            out.rate_kbit = (rate > 0).then_some(rate);
        }
        if let Some(b) = self.burst {
            out.burst_bytes = b;
        }
        if let Some(q) = self.queue {
            out.queue_bytes = q;
        }
        if let Some(b) = self.blackhole {
            out.blackhole = b;
        }
        Ok(out)
    }
}

/// Which clients a command is for.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum Target {
    One(usize),
    All(AllTag),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "lowercase")]
enum AllTag {
    All,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Command {
    client: Option<Target>,
    up: Option<LinkPatch>,
    down: Option<LinkPatch>,
    blackhole: Option<bool>,
    #[serde(default)]
    report: bool,
}

struct Client {
    addr: SocketAddr,
    socket: Arc<UdpSocket>,
    up: Link,
    down: Link,
}

enum Dir {
    Up,
    Down,
}

/// Runs the relay until stdin closes.
pub async fn run(args: ImpairArgs) -> anyhow::Result<()> {
    let outside = Arc::new(
        UdpSocket::bind(args.listen).await.with_context(|| format!("binding {}", args.listen))?,
    );
    println!("{}", json!({"ready": true, "addr": outside.local_addr()?.to_string()}));
    let (from_sfu, mut replies) = mpsc::unbounded_channel::<(usize, Vec<u8>)>();
    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    let mut clients: Vec<Client> = Vec::new();
    let mut by_addr: HashMap<SocketAddr, usize> = HashMap::new();
    let mut defaults = (Impairment::default(), Impairment::default());
    let mut schedule: Schedule<(Dir, usize, Vec<u8>)> = Schedule::new();
    let mut buf = vec![0u8; 65536];
    loop {
        let wake = schedule
            .next_at()
            .unwrap_or_else(|| Instant::now().into_std() + Duration::from_secs(3600));
        tokio::select! {
            received = outside.recv_from(&mut buf) => {
                let (len, from) = received.context("receiving from clients")?;
                let id = match by_addr.get(&from) {
                    Some(id) => *id,
                    None => {
                        let socket = Arc::new(UdpSocket::bind((args.inside, 0)).await
                            .with_context(|| format!("binding an upstream socket on {}", args.inside))?);
                        let id = clients.len() + 1;
                        let seed = args.seed.wrapping_mul(1_000_003).wrapping_add(2 * id as u64);
                        clients.push(Client {
                            addr: from,
                            socket: socket.clone(),
                            up: Link::new(defaults.0.clone(), seed),
                            down: Link::new(defaults.1.clone(), seed + 1),
                        });
                        by_addr.insert(from, id);
                        let tx = from_sfu.clone();
                        tokio::spawn(async move {
                            let mut buf = vec![0u8; 65536];
                            while let Ok(n) = socket.recv(&mut buf).await {
                                if tx.send((id, buf[..n].to_vec())).is_err() {
                                    break;
                                }
                            }
                        });
                        println!("{}", json!({"client": id, "addr": from.to_string()}));
                        id
                    }
                };
                let now = Instant::now().into_std();
                let client = &mut clients[id - 1];
                if let Some(at) = client.up.send(now, len).delivered_at() {
                    schedule.push(at, (Dir::Up, id, buf[..len].to_vec()));
                }
            }
            Some((id, data)) = replies.recv() => {
                let now = Instant::now().into_std();
                if let Some(at) = clients[id - 1].down.send(now, data.len()).delivered_at() {
                    schedule.push(at, (Dir::Down, id, data));
                }
            }
            line = stdin.next_line() => {
                let Some(line) = line.context("reading commands")? else { return Ok(()) };
                if line.trim().is_empty() {
                    continue;
                }
                let reply = command(&line, &mut clients, &mut defaults);
                println!("{reply}");
            }
            () = tokio::time::sleep_until(wake.into()) => {}
        }
        let now = Instant::now().into_std();
        while let Some((dir, id, data)) = schedule.pop_due(now) {
            let client = &clients[id - 1];
            // A full socket buffer or an unreachable peer is loss on the path, nothing more.
            let _ = match dir {
                Dir::Up => client.socket.send_to(&data, args.upstream).await,
                Dir::Down => outside.send_to(&data, client.addr).await,
            };
        }
    }
}

fn command(
    line: &str,
    clients: &mut [Client],
    defaults: &mut (Impairment, Impairment),
) -> serde_json::Value {
    let cmd: Command = match serde_json::from_str(line) {
        Ok(c) => c,
        Err(e) => return json!({"error": format!("not a command ({e}): {line}")}),
    };
    if cmd.report {
        let report: Vec<_> = clients
            .iter()
            .enumerate()
            .map(|(i, c)| {
                json!({"client": i + 1, "addr": c.addr.to_string(),
                       "up": stats_json(c.up.stats()), "down": stats_json(c.down.stats())})
            })
            .collect();
        return json!({"report": report});
    }
    let Some(target) = cmd.client else {
        return json!({"error": "say which client: a number from the mapping lines, or \"all\""});
    };
    let mut up = cmd.up.unwrap_or_default();
    let mut down = cmd.down.unwrap_or_default();
    if let Some(b) = cmd.blackhole {
        up.blackhole = Some(b);
        down.blackhole = Some(b);
    }
    let indices: Vec<usize> = match target {
        Target::One(n) if n >= 1 && n <= clients.len() => vec![n - 1],
        Target::One(n) => {
            return json!({"error": format!("no client {n}: {} mapped so far", clients.len())});
        }
        Target::All(_) => {
            match (up.apply(&defaults.0), down.apply(&defaults.1)) {
                (Ok(u), Ok(d)) => *defaults = (u, d),
                (Err(e), _) | (_, Err(e)) => return json!({"error": e}),
            }
            (0..clients.len()).collect()
        }
    };
    for i in &indices {
        let c = &mut clients[*i];
        match (up.apply(c.up.config()), down.apply(c.down.config())) {
            (Ok(u), Ok(d)) => {
                c.up.set_config(u);
                c.down.set_config(d);
            }
            (Err(e), _) | (_, Err(e)) => return json!({"error": e}),
        }
    }
    json!({"ok": indices.iter().map(|i| i + 1).collect::<Vec<_>>()})
}

fn stats_json(s: LinkStats) -> serde_json::Value {
    json!({"offered": s.offered, "delivered": s.delivered, "lost": s.lost,
           "blackholed": s.blackholed, "queue_dropped": s.queue_dropped})
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn client(seed: u64) -> Client {
        let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        Client {
            addr: "127.0.0.1:9".parse().unwrap(),
            socket,
            up: Link::clear(seed),
            down: Link::clear(seed + 1),
        }
    }

    #[tokio::test]
    async fn commands_change_only_what_they_name() {
        let mut clients = vec![client(1).await, client(3).await];
        let mut defaults = (Impairment::default(), Impairment::default());
        let reply = command(
            r#"{"client": 2, "down": {"loss": 5, "delay": 40}}"#,
            &mut clients,
            &mut defaults,
        );
        assert_eq!(reply, json!({"ok": [2]}));
        assert_eq!(clients[1].down.config().loss, 5.0);
        assert_eq!(clients[1].down.config().delay, Duration::from_millis(40));
        assert_eq!(clients[1].up.config(), &Impairment::default());
        assert_eq!(clients[0].down.config(), &Impairment::default());

        // A later change keeps what it does not name.
        command(r#"{"client": 2, "down": {"jitter": 10}}"#, &mut clients, &mut defaults);
        assert_eq!(clients[1].down.config().loss, 5.0);

        // A top-level blackhole closes both directions; "all" also sets what new clients get.
        let reply = command(r#"{"client": "all", "blackhole": true}"#, &mut clients, &mut defaults);
        assert_eq!(reply, json!({"ok": [1, 2]}));
        assert!(clients.iter().all(|c| c.up.config().blackhole && c.down.config().blackhole));
        assert!(defaults.0.blackhole && defaults.1.blackhole);

        // A rate of 0 lifts the cap.
        command(r#"{"client": 1, "up": {"rate": 300}}"#, &mut clients, &mut defaults);
        assert_eq!(clients[0].up.config().rate_kbit, Some(300));
        command(r#"{"client": 1, "up": {"rate": 0}}"#, &mut clients, &mut defaults);
        assert_eq!(clients[0].up.config().rate_kbit, None);
    }

    #[tokio::test]
    async fn bad_commands_are_refused_with_a_reason() {
        let mut clients = vec![client(1).await];
        let mut defaults = (Impairment::default(), Impairment::default());
        for (line, says) in [
            (r#"{"client": 3, "down": {"loss": 1}}"#, "no client 3"),
            (r#"{"client": 1, "down": {"loss": 120}}"#, "percentage"),
            (r#"{"client": 1, "down": {"delay": -1}}"#, "milliseconds"),
            (r#"{"client": 1, "down": {"lossy": 1}}"#, "not a command"),
            (r#"{"down": {"loss": 1}}"#, "say which client"),
        ] {
            let reply = command(line, &mut clients, &mut defaults);
            let error = reply["error"].as_str().unwrap_or_default();
            assert!(error.contains(says), "{line}: {reply}");
        }
        assert_eq!(clients[0].down.config(), &Impairment::default());
    }
}
