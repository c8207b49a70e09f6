//! `veil`: signaling and SFU in one process (`veil serve`), join links (`veil token`), and the
//! operator's commands on a running server (`veil rooms`, `veil kick`, `veil revoke`, …: see
//! `admin_cmd`).

mod admin_api;
mod admin_cmd;
mod audit_cmd;
mod check;
mod config;
mod fleet;
mod secret;
mod tls;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use tracing_subscriber::EnvFilter;
use veil_proto::RoomName;
use veil_proto::room::{Grants, Source};
use veil_sfu::{Sfu, SfuConfig};
use veil_signaling::oidc::{OidcSettings, SignIn};
use veil_signaling::token::{self, Claims};
use veil_signaling::webhooks::Webhooks;
use veil_signaling::{AppState, MetricsAccess, Secrets, SignalingConfig};

use crate::config::{Config, DEFAULT_HTTP, DEFAULT_UDP, FileConfig};

#[derive(Parser)]
#[command(name = "veil", version, about = "Video meetings whose server never sees the media")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run signaling and the SFU in one process and print a join link for a fresh room.
    Serve(ServeArgs),
    /// Print a join link for a room (the link is the last line of output).
    Token(TokenArgs),
    /// Diagnose a deployment from the settings `veil serve` would run with: configuration,
    /// public address, certificate, ports and TURN; exits 1 if anything fails.
    Check(check::CheckArgs),
    /// Check or read the audit log in the data directory.
    #[command(subcommand)]
    Audit(audit_cmd::AuditCommand),
    /// The operator's commands on a running server (its admin API).
    #[command(flatten)]
    Admin(admin_cmd::AdminCommand),
}

/// Settings both commands read, so they agree on the secret and the link address.
#[derive(Args)]
pub(crate) struct Common {
    /// TOML config file; every setting in it is optional.
    #[arg(long, env = "VEIL_CONFIG")]
    config: Option<PathBuf>,
    /// HTTP and WebSocket address.
    #[arg(long, env = "VEIL_HTTP")]
    http: Option<SocketAddr>,
    /// Directory for state such as the API secret.
    #[arg(long, env = "VEIL_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Base URL of join links when the server is reached through another name or a proxy.
    #[arg(long, env = "VEIL_PUBLIC_URL")]
    public_url: Option<String>,
    /// Address(es) browsers on other machines send media to, each an ICE candidate with the
    /// UDP port: needed when media is bound to 0.0.0.0 or [::], or behind NAT. Repeat the flag
    /// or separate with commas for several (e.g. one IPv4 and one IPv6).
    #[arg(long, env = "VEIL_PUBLIC_IP", value_delimiter = ',')]
    public_ip: Vec<IpAddr>,
}

#[derive(Args)]
struct ServeArgs {
    #[command(flatten)]
    common: Common,
    /// UDP address for all media.
    #[arg(long, env = "VEIL_UDP")]
    udp: Option<SocketAddr>,
    /// TCP address for media too (ICE-TCP, RFC 6544), for browsers whose network blocks UDP:
    /// offered as passive TCP candidates on the same public IPs. Off unless set.
    #[arg(long, env = "VEIL_TCP")]
    tcp: Option<SocketAddr>,
    /// The built browser client (index.html and assets/).
    #[arg(long, env = "VEIL_ASSETS")]
    assets: Option<PathBuf>,
    /// Serve HTTPS (and WSS) with this PEM certificate chain; needs --tls-key. Both files are
    /// reloaded when they change and on SIGHUP. Without them Veil speaks plain HTTP, for
    /// development on loopback or behind a TLS-terminating proxy.
    #[arg(long, env = "VEIL_TLS_CERT")]
    tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM).
    #[arg(long, env = "VEIL_TLS_KEY")]
    tls_key: Option<PathBuf>,
    /// OpenID Connect issuer for signing in on the start page (with --oidc-client-id and the
    /// client secret in VEIL_OIDC_CLIENT_SECRET; hosts are listed in the config file's [oidc]).
    #[arg(long, env = "VEIL_OIDC_ISSUER")]
    oidc_issuer: Option<String>,
    /// The client id Veil has at the OpenID provider.
    #[arg(long, env = "VEIL_OIDC_CLIENT_ID")]
    oidc_client_id: Option<String>,
    /// Serve Prometheus metrics (/metrics) on this address instead of the HTTP address, e.g. a
    /// private interface. Their bearer token, if any, is VEIL_METRICS_TOKEN or metrics_token.
    #[arg(long, env = "VEIL_METRICS_HTTP")]
    metrics_http: Option<SocketAddr>,
    /// A TURN server browsers may relay through when they cannot reach the node directly
    /// (`turn:host:3478?transport=udp`, `turns:host:443?transport=tcp`; repeat the flag or
    /// separate with commas). Each participant gets credentials of its own, minted from
    /// coturn's static-auth-secret in VEIL_TURN_SECRET or the file's [turn] secret.
    #[arg(long, env = "VEIL_TURN_URLS", value_delimiter = ',')]
    turn_url: Vec<String>,
    /// Share rooms with other nodes through this Redis (`redis://10.0.0.9:6379/0`): each room
    /// lives on one node, and a participant reaching any node is relayed to it.
    #[arg(long, env = "VEIL_REDIS_URL")]
    redis_url: Option<String>,
    /// This node's name among them (letters, digits, '.', '_', '-').
    #[arg(long, env = "VEIL_NODE_ID")]
    node_id: Option<String>,
    /// Where the other nodes reach this node's signaling (default: http:// + the HTTP address).
    #[arg(long, env = "VEIL_NODE_URL")]
    node_url: Option<String>,
    /// The media thread measures nothing: the SFU's series are absent from /metrics. For
    /// measuring what measuring costs (docs/metrics.md); signaling's series stay.
    #[arg(long, env = "VEIL_NO_MEDIA_METRICS")]
    no_media_metrics: bool,
}

#[derive(Args)]
struct TokenArgs {
    #[command(flatten)]
    common: Common,
    /// Room the token opens.
    #[arg(long)]
    room: String,
    /// Identity of the participant; another join with the same identity replaces this one.
    #[arg(long, required_unless_present = "guest")]
    identity: Option<String>,
    /// A shareable link: everyone who opens it joins under a fresh guest identity. Its token
    /// lives an hour unless --ttl says otherwise, and cannot carry the host grant.
    #[arg(long, conflicts_with_all = ["identity", "host"])]
    guest: bool,
    /// A host of the room: admits from the lobby, mutes, removes, locks, ends the meeting;
    /// publishes microphone, camera and screen and skips the lobby unless told otherwise.
    #[arg(long)]
    host: bool,
    /// What the participant may publish, from microphone, camera and screen (default:
    /// microphone,camera; for a host all three). An empty value publishes nothing.
    #[arg(long, value_parser = parse_sources)]
    publish: Option<Sources>,
    /// The participant receives nobody's media.
    #[arg(long)]
    no_subscribe: bool,
    /// The participant skips the room's lobby.
    #[arg(long)]
    bypass_lobby: bool,
    /// The token's id, which a host's removal or `veil revoke --token-id` names (default: a
    /// fresh random one, printed on stderr).
    #[arg(long)]
    token_id: Option<String>,
    /// Display name suggested on the pre-join screen. It goes in the link's fragment, which
    /// browsers never send to the server, not in the token.
    #[arg(long)]
    name: Option<String>,
    /// How long the token is valid: e.g. 90s, 30m, 1h, 7d (default: 1h for a guest link,
    /// 12h otherwise).
    #[arg(long, value_parser = parse_ttl)]
    ttl: Option<Duration>,
    /// Base URL of the link (default: the configured public URL or HTTP address).
    #[arg(long)]
    url: Option<String>,
}

/// How long a guest link lives unless told.
const GUEST_TTL: Duration = Duration::from_secs(3600);
/// How long a named or host link lives unless told.
const NAMED_TTL: Duration = Duration::from_secs(12 * 3600);

/// What `--publish` lists, in order, without repeats.
#[derive(Debug, Clone)]
struct Sources(Vec<Source>);

fn parse_sources(text: &str) -> Result<Sources, String> {
    let mut sources = Vec::new();
    for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        match Source::parse(name) {
            Some(source @ (Source::Microphone | Source::Camera | Source::Screen)) => {
                if !sources.contains(&source) {
                    sources.push(source);
                }
            }
            _ => return Err(format!("{name:?} is not a source; use microphone, camera or screen")),
        }
    }
    Ok(Sources(sources))
}

fn parse_ttl(text: &str) -> Result<Duration, String> {
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 =
        number.parse().map_err(|_| format!("{text:?} is not a duration like 30m or 1h"))?;
    let seconds = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => return Err(format!("unknown unit {unit:?} in {text:?}; use s, m, h or d")),
    };
    if seconds == 0 {
        return Err("the TTL must be at least one second".into());
    }
    Ok(Duration::from_secs(seconds))
}

pub(crate) fn resolve(
    common: &Common,
    udp: Option<SocketAddr>,
    assets: Option<PathBuf>,
) -> anyhow::Result<Config> {
    let file = match &common.config {
        Some(path) => FileConfig::load(path)?,
        None => FileConfig::default(),
    };
    let config = Config {
        http: common.http.or(file.http).unwrap_or_else(|| DEFAULT_HTTP.parse().unwrap()),
        udp: udp.or(file.udp).unwrap_or_else(|| DEFAULT_UDP.parse().unwrap()),
        tcp: file.tcp,
        public_ips: if common.public_ip.is_empty() {
            file.public_ip.map(config::OneOrMany::into_vec).unwrap_or_default()
        } else {
            common.public_ip.clone()
        },
        public_url: common.public_url.clone().or(file.public_url),
        data_dir: common
            .data_dir
            .clone()
            .or(file.data_dir)
            .unwrap_or_else(config::default_data_dir),
        assets_dir: assets.or(file.assets_dir).unwrap_or_else(config::default_assets_dir),
        max_message_bytes: file
            .max_message_bytes
            .unwrap_or(SignalingConfig::default().max_message_bytes),
        max_participants: file
            .max_participants
            .unwrap_or(SignalingConfig::default().max_participants),
        audit_retention_days: file
            .audit_retention_days
            .unwrap_or(config::DEFAULT_AUDIT_RETENTION_DAYS),
        oidc: file.oidc,
        metrics_http: file.metrics_http,
        metrics_token: file.metrics_token,
        tls_cert: file.tls_cert,
        tls_key: file.tls_key,
        webhooks: file.webhooks,
        turn: file.turn,
        redis_url: file.redis_url,
        node_id: file.node_id,
        node_url: file.node_url,
    };
    config.validate()?;
    Ok(config)
}

/// `BASE/r/ROOM#token=JWT[&name=NAME]`: the token and the suggested name travel in the URL
/// fragment, which browsers keep to themselves.
fn join_link(base: &str, secret: &token::ApiSecret, claims: &Claims, name: Option<&str>) -> String {
    let mut link = format!("{base}/r/{}#token={}", claims.room, token::mint(secret, claims));
    if let Some(name) = name.filter(|n| !n.is_empty()) {
        link.push_str("&name=");
        link.push_str(&percent_encode(name));
    }
    link
}

/// Percent-encodes everything but unreserved URI characters (RFC 3986 §2.3).
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("VEIL_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Serve(args) => {
            let settings = args.settings()?;
            tokio::runtime::Runtime::new()?.block_on(serve(settings))
        }
        Command::Check(args) => std::process::exit(check::run(args)),
        Command::Token(args) => token_command(args),
        Command::Audit(command) => audit_cmd::run(command),
        Command::Admin(command) => admin_cmd::run(command),
    }
}

/// What `veil serve` runs with: its flags, the environment and the file merged and checked.
/// `veil check` diagnoses the same.
pub(crate) struct ServeSettings {
    pub(crate) config: Config,
    pub(crate) sign_in: Option<OidcSettings>,
    pub(crate) turn: Option<veil_signaling::turn::TurnConfig>,
    pub(crate) fleet: Option<fleet::FleetSettings>,
    pub(crate) media_metrics: bool,
}

impl ServeArgs {
    fn settings(self) -> anyhow::Result<ServeSettings> {
        let mut config = resolve(&self.common, self.udp, self.assets)?;
        config.metrics_http = self.metrics_http.or(config.metrics_http);
        config.tcp = self.tcp.or(config.tcp);
        config.tls_cert = self.tls_cert.or(config.tls_cert);
        config.tls_key = self.tls_key.or(config.tls_key);
        // Like the client secret below, the token is never on a command line.
        if let Ok(token) = std::env::var("VEIL_METRICS_TOKEN") {
            config.metrics_token = Some(token);
        }
        config.validate()?;
        // The client secret comes from the environment or the file, never a command line.
        let sign_in = config::sign_in(
            config.oidc.take(),
            self.oidc_issuer,
            self.oidc_client_id,
            std::env::var("VEIL_OIDC_CLIENT_SECRET").ok(),
        )?;
        let turn = config::turn(
            config.turn.take(),
            self.turn_url,
            std::env::var("VEIL_TURN_SECRET").ok(),
        )?;
        let fleet = config::fleet(
            self.redis_url.or(config.redis_url.take()),
            self.node_id.or(config.node_id.take()),
            self.node_url.or(config.node_url.take()),
            config.http,
        )?;
        let media_metrics = !self.no_media_metrics;
        Ok(ServeSettings { config, sign_in, turn, fleet, media_metrics })
    }
}

fn token_command(args: TokenArgs) -> anyhow::Result<()> {
    let config = resolve(&args.common, None, None)?;
    let room = RoomName::new(args.room.clone()).with_context(|| format!("room {:?}", args.room))?;
    if let Some(identity) = &args.identity
        && (identity.is_empty() || identity.len() > 128)
    {
        bail!("the identity must be 1 to 128 characters");
    }
    let secret = secret::load_or_create(&config.data_dir)?;
    let ttl = args.ttl.unwrap_or(if args.guest { GUEST_TTL } else { NAMED_TTL });
    let mut claims = Claims::for_room(room, token::now_unix(), ttl);
    claims.grants = grants_of(&args);
    claims.sub = args.identity;
    if let Some(id) = args.token_id {
        if id.is_empty() || id.len() > 128 {
            bail!("the token id must be 1 to 128 characters");
        }
        claims.jti = Some(id);
    }
    let base = match args.url {
        Some(url) => url.trim_end_matches('/').to_string(),
        None => config.link_base(config.http),
    };
    if let Some(id) = &claims.jti {
        eprintln!("token id: {id}");
    }
    println!("{}", join_link(&base, &secret, &claims, args.name.as_deref()));
    Ok(())
}

/// The grants `veil token`'s flags ask for.
fn grants_of(args: &TokenArgs) -> Grants {
    let mut grants = if args.host { Grants::host() } else { Grants::default() };
    if let Some(Sources(publish)) = &args.publish {
        grants.publish = publish.clone();
    }
    grants.subscribe = !args.no_subscribe;
    grants.bypass_lobby |= args.bypass_lobby;
    grants
}

async fn serve(settings: ServeSettings) -> anyhow::Result<()> {
    let ServeSettings { config, sign_in, turn, fleet, media_metrics } = settings;
    let secret = secret::load_or_create(&config.data_dir)?;
    let admin_key = secret::load_or_create_named(&config.data_dir, secret::ADMIN_KEY)?;
    // The audit log, verified before anything is served (audit_cmd::open_for_serve).
    let audit = audit_cmd::open_for_serve(&config)?;
    // One registry for the whole node: the SFU's series and signaling's (docs/metrics.md).
    let registry = prometheus::Registry::new();
    let sfu_metrics =
        if media_metrics { Some(veil_sfu::SfuMetrics::register(&registry)?) } else { None };
    let worst_links = sfu_metrics.as_ref().map(veil_sfu::SfuMetrics::worst_links);
    let metrics = Arc::new(veil_signaling::Metrics::new(registry, worst_links)?);
    let sfu = Sfu::start(SfuConfig {
        udp: config.udp,
        public_ips: config.public_ips.clone(),
        metrics: sfu_metrics,
        tcp: config.tcp,
    })?;
    let signaling = SignalingConfig {
        assets_dir: config.assets_dir.clone(),
        max_message_bytes: config.max_message_bytes,
        revocations_file: Some(config.data_dir.join("revocations.json")),
        max_participants: config.max_participants,
        webhooks: config.webhooks.clone(),
        turn,
        ..SignalingConfig::default()
    };
    signaling.validate()?;
    let webhooks = Webhooks::start(&signaling);
    metrics.watch_webhooks(webhooks.clone());
    if !signaling.webhooks.is_empty() {
        tracing::info!(endpoints = signaling.webhooks.len(), "webhooks on");
    }
    if !config.assets_dir.join("index.html").exists() {
        tracing::warn!(
            "no browser client at {}; build it with `make client` (join links will show an error page)",
            config.assets_dir.display()
        );
    }
    let listener = tokio::net::TcpListener::bind(config.http)
        .await
        .with_context(|| format!("cannot listen for HTTP on {}", config.http))?;
    let bound = listener.local_addr()?;
    let base = config.link_base(bound);
    let sign_in = match sign_in {
        Some(settings) => Some(start_sign_in(settings, &base).await?),
        None => None,
    };

    let room = RoomName::new(format!("room-{}", random_suffix()))?;
    let now = token::now_unix();
    let mut host = Claims::for_room(room.clone(), now, NAMED_TTL);
    host.sub = Some("host".into());
    host.grants = Grants::host();
    let guests = Claims::for_room(room, now, NAMED_TTL);
    let media: Vec<String> = sfu.candidates().iter().map(ToString::to_string).collect();
    println!("veil ready: {base} (media udp {})", media.join(", "));
    if !sfu.tcp_candidates().is_empty() {
        let tcp: Vec<String> = sfu.tcp_candidates().iter().map(ToString::to_string).collect();
        println!("media tcp: {}", tcp.join(", "));
    }
    println!("host link: {}", join_link(&base, &secret, &host, None));
    println!("join link: {}", join_link(&base, &secret, &guests, None));

    // The MLS delivery service's key: fresh per process, since groups live only as long as
    // their rooms, which a restart ends anyway.
    let delivery = veil_ds::Verifier::generate().context("cannot create the MLS delivery key")?;
    let state_secret_hex = secret.to_hex();
    let secrets = Secrets { api: secret, admin: Some(admin_key) };
    let access = MetricsAccess {
        token: config.metrics_token.clone(),
        separate_address: config.metrics_http.is_some(),
    };
    let mut state = AppState::new(signaling, secrets, Arc::new(sfu.handle()), Arc::new(delivery))?
        .with_audit(audit)
        .with_metrics(metrics, access)
        .with_webhooks(webhooks);
    if let Some(sign_in) = sign_in {
        state = state.with_sign_in(sign_in);
    }
    // Every node of a fleet has the same API secret (its links work on any node); it also
    // keys the room ids Redis sees.
    let fleet = match &fleet {
        Some(settings) => {
            let fleet = fleet::Fleet::join(settings, state_secret_hex.as_bytes()).await?;
            state = state.with_directory(fleet.clone());
            tokio::spawn(fleet.clone().heartbeats(state.clone()));
            tracing::info!(node = %settings.node_id, "sharing rooms with the fleet in Redis");
            Some(fleet)
        }
        None => None,
    };
    tokio::spawn(veil_signaling::run_sampler(state.clone()));
    if let Some(addr) = config.metrics_http {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen for metrics on {addr}"))?;
        tracing::info!("metrics on http://{}/metrics", listener.local_addr()?);
        let app = veil_signaling::metrics_app(state.clone());
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!("the metrics server failed: {e}");
            }
        });
    }
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down");
    };
    let app = veil_signaling::app(state);
    match (config.tls_cert.clone(), config.tls_key.clone()) {
        (Some(cert), Some(key)) => {
            tls::serve(listener, app, tls::TlsFiles { cert, key }, shutdown).await?
        }
        _ => axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
            .context("the HTTP server failed")?,
    }
    if let Some(fleet) = fleet {
        fleet.leave().await;
    }
    drop(sfu);
    Ok(())
}

/// Discovers the OpenID provider; `veil serve` refuses to start without it.
async fn start_sign_in(settings: OidcSettings, base: &str) -> anyhow::Result<SignIn> {
    if settings.hosts.is_empty() && settings.host_groups.is_empty() {
        tracing::warn!(
            "sign-in names no hosts or host groups: everyone who signs in joins as a participant"
        );
    }
    let sign_in = SignIn::discover(settings, base)
        .await
        .context("cannot set up sign-in through the OpenID provider")?;
    tracing::info!(
        callback = sign_in.redirect_uri(),
        "sign-in through the OpenID provider is on (register this callback there)"
    );
    Ok(sign_in)
}

fn random_suffix() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    format!("{:08x}", hasher.finish() as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_in_links_are_percent_encoded_in_the_fragment() {
        let secret = token::ApiSecret::generate();
        let claims = Claims::for_room(RoomName::new("r").unwrap(), 0, Duration::from_secs(60));
        let link = join_link("http://x", &secret, &claims, Some("Zoë & Ada"));
        let (_, fragment) = link.split_once('#').unwrap();
        assert!(fragment.starts_with("token="));
        assert!(fragment.ends_with("&name=Zo%C3%AB%20%26%20Ada"), "{link}");
        assert!(!join_link("http://x", &secret, &claims, None).contains("name="));
    }
}
