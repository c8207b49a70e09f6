//! `veil check`: diagnoses a deployment from the settings `veil serve` would run with (the same
//! `--config`, `VEIL_*` and flags, merged by the same code). Each check looks at one thing and
//! prints one line, `ok`, `warn` or `FAIL`, with what it found and what to do:
//!
//! | check | what |
//! |---|---|
//! | `config` | the settings merge and pass `veil serve`'s validation (else nothing more runs) |
//! | `public ip` | the media addresses browsers are given can be reached from other machines |
//! | `https` | browsers on other machines will open cameras (they need an https page) |
//! | `certificate` | `tls_cert`/`tls_key` parse, the key matches, and how long it is valid |
//! | `cert name` | the certificate names the host join links point at |
//! | `port …` | the HTTP, UDP, ICE-TCP and metrics addresses can be bound now |
//! | `node` | a veil already running there answers `/healthz` |
//! | `url` | `--url`'s `/healthz` answers, as from outside |
//! | `turn` | a real allocation on each TURN server, with a participant's credentials |
//! | `redis` | the fleet's Redis answers, and no other live node holds this node's id |
//!
//! The exit status is 1 if any line is `FAIL`. Looking (reading files, binding, probing) is
//! kept apart from deciding (functions from what was seen to a [`Finding`]) and from printing
//! ([`print`]).

mod stun;
mod turn;

use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;

use clap::Args;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsConnector;
use veil_signaling::turn::TurnConfig;
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

use crate::config::Config;
use crate::{ServeArgs, ServeSettings};
use turn::{TurnError, TurnUrl};

/// `veil check`'s flags: `veil serve`'s, and where to look from outside.
#[derive(Args)]
pub(crate) struct CheckArgs {
    #[command(flatten)]
    serve: ServeArgs,
    /// Also GET URL/healthz as a browser elsewhere would (e.g. https://meet.example.org,
    /// through the proxy if there is one): it must answer "ok".
    #[arg(long)]
    url: Option<String>,
}

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Level {
    Ok,
    Warn,
    Fail,
}

impl Level {
    fn label(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Warn => "warn",
            Self::Fail => "FAIL",
        }
    }
}

/// One check's outcome: one line of output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Finding {
    pub check: &'static str,
    pub level: Level,
    pub detail: String,
}

impl Finding {
    fn ok(check: &'static str, detail: impl Into<String>) -> Self {
        Self { check, level: Level::Ok, detail: detail.into() }
    }
    fn warn(check: &'static str, detail: impl Into<String>) -> Self {
        Self { check, level: Level::Warn, detail: detail.into() }
    }
    fn fail(check: &'static str, detail: impl Into<String>) -> Self {
        Self { check, level: Level::Fail, detail: detail.into() }
    }
}

/// Runs every check, prints them, and returns the exit status.
pub(crate) fn run(args: CheckArgs) -> i32 {
    let findings = gather(args);
    // A closed stdout changes nothing about the verdict.
    let _ = print(&findings, &mut io::stdout().lock());
    exit_code(&findings)
}

/// 0 without a FAIL, 1 with one.
fn exit_code(findings: &[Finding]) -> i32 {
    i32::from(findings.iter().any(|f| f.level == Level::Fail))
}

/// One line per finding, then a count.
fn print(findings: &[Finding], out: &mut impl Write) -> io::Result<()> {
    for finding in findings {
        writeln!(out, "{:<4}  {:<12}  {}", finding.level.label(), finding.check, finding.detail)?;
    }
    let count = |level| findings.iter().filter(|f| f.level == level).count();
    writeln!(
        out,
        "veil check: {} FAIL, {} warn, {} ok",
        count(Level::Fail),
        count(Level::Warn),
        count(Level::Ok)
    )
}

/// Looks at everything the settings name and decides each check.
fn gather(args: CheckArgs) -> Vec<Finding> {
    let file = args.serve.common.config.clone();
    let settings = args.serve.settings();
    let mut findings = vec![configuration(file.as_deref(), &settings)];
    let Ok(settings) = settings else {
        return findings;
    };
    let config = &settings.config;
    findings.push(public_ip(config));
    findings.push(https(config));
    if let (Some(cert), Some(key)) = (&config.tls_cert, &config.tls_key) {
        let chain = read_chain(cert);
        findings.push(certificate(cert, key, &chain, &read_key(key), now_unix()));
        if let Ok(chain) = &chain {
            findings.push(certificate_name(chain, &link_host(config)));
        }
    }
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            findings.push(Finding::fail("ports", format!("cannot start the async runtime: {e}")));
            return findings;
        }
    };
    runtime.block_on(async {
        findings.extend(ports(config).await);
        if let Some(url) = &args.url {
            let seen = match url_probe(url) {
                Ok(probe) => healthz(&probe).await,
                Err(e) => Err(e),
            };
            findings.push(reachable(url, &seen));
        }
        if let Some(turn) = &settings.turn {
            for url in &turn.urls {
                findings.push(turn_server(turn, url).await);
            }
        }
        if let Some(fleet) = &settings.fleet {
            findings.push(fleet_redis(fleet, &crate::fleet::live_nodes(fleet).await));
        }
    });
    findings
}

// --- several nodes --------------------------------------------------------------------------

/// Whether the fleet's Redis answers, and what it says of this node's id: free, this node's
/// (running now, at the same URL), or another node's (two nodes would share one id).
fn fleet_redis(
    fleet: &crate::fleet::FleetSettings,
    seen: &Result<Vec<veil_cluster::NodeInfo>, String>,
) -> Finding {
    const CHECK: &str = "redis";
    let at = crate::fleet::redacted(&fleet.redis_url);
    let nodes = match seen {
        Ok(nodes) => nodes,
        Err(e) => {
            return Finding::fail(
                CHECK,
                format!("{at}: {e}; rooms cannot be shared until it answers"),
            );
        }
    };
    let ids: Vec<&str> = nodes.iter().map(|n| n.id.as_str()).collect();
    let listed = if ids.is_empty() { "none".to_string() } else { ids.join(", ") };
    match nodes.iter().find(|n| n.id.as_str() == fleet.node_id) {
        Some(same) if same.signaling_url != fleet.node_url => Finding::fail(
            CHECK,
            format!(
                "{at}: node id {:?} is live at {}, not at this node's {}: give each node its own node_id",
                fleet.node_id, same.signaling_url, fleet.node_url
            ),
        ),
        _ => Finding::ok(CHECK, format!("{at} answers; live nodes: {listed}")),
    }
}

// --- configuration, addresses, HTTPS ----------------------------------------------------------

fn configuration(file: Option<&Path>, settings: &anyhow::Result<ServeSettings>) -> Finding {
    const CHECK: &str = "config";
    let source = file.map_or("no config file (defaults, VEIL_* and flags)".to_string(), |p| {
        p.display().to_string()
    });
    let settings = match settings {
        Ok(settings) => settings,
        Err(e) => {
            return Finding::fail(
                CHECK,
                format!(
                    "{source}: {e:#}. `veil serve` would refuse to start; fix this and run \
                     `veil check` again"
                ),
            );
        }
    };
    let config = &settings.config;
    let tcp = config.tcp.map_or("off".to_string(), |a| a.to_string());
    let tls = if config.tls_cert.is_some() { "HTTPS" } else { "plain HTTP" };
    let turn = settings.turn.as_ref().map_or(0, |t| t.urls.len());
    let sign_in = if settings.sign_in.is_some() { "on" } else { "off" };
    Finding::ok(
        CHECK,
        format!(
            "{source}: valid (http {} {tls}, udp {}, tcp {tcp}, {turn} TURN URL(s), sign-in \
             {sign_in})",
            config.http, config.udp
        ),
    )
}

/// The host join links point browsers at: `public_url`'s, else the address veil derives.
fn link_host(config: &Config) -> String {
    let base = config.link_base(config.http);
    let host = base.parse::<hyper::Uri>().ok().and_then(|u| u.host().map(str::to_string));
    host.map_or(base, |h| h.trim_start_matches('[').trim_end_matches(']').to_string())
}

fn is_loopback_host(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Why browsers on other machines could not send to `ip`, if they could not.
fn unreachable_kind(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) if v4.is_loopback() => Some("loopback"),
        IpAddr::V4(v4) if v4.is_private() => Some("private (RFC 1918)"),
        IpAddr::V4(v4) if v4.is_link_local() => Some("link-local"),
        IpAddr::V4(v4) if v4.octets()[0] == 100 && v4.octets()[1] & 0xC0 == 64 => {
            Some("carrier-grade NAT space (RFC 6598)")
        }
        IpAddr::V6(v6) if v6.is_loopback() => Some("loopback"),
        IpAddr::V6(v6) if v6.segments()[0] & 0xFE00 == 0xFC00 => Some("unique local (ULA)"),
        IpAddr::V6(v6) if v6.segments()[0] & 0xFFC0 == 0xFE80 => Some("link-local"),
        IpAddr::V6(v6) => v6.to_ipv4_mapped().and_then(|v4| unreachable_kind(IpAddr::V4(v4))),
        IpAddr::V4(_) => None,
    }
}

/// The addresses browsers are told to send media to, and whether they can from elsewhere.
fn public_ip(config: &Config) -> Finding {
    const CHECK: &str = "public ip";
    let media: Vec<SocketAddr> = [Some(config.udp), config.tcp].into_iter().flatten().collect();
    if config.public_ips.is_empty()
        && let Some(wild) = media.iter().find(|a| a.ip().is_unspecified())
    {
        return Finding::fail(
            CHECK,
            format!(
                "media is bound to {wild} but public_ip is not set, so browsers would not know \
                 where to send it; set public_ip (--public-ip) to the address they reach this \
                 machine at"
            ),
        );
    }
    let candidates = if config.public_ips.is_empty() {
        vec![config.udp.ip()]
    } else {
        config.public_ips.clone()
    };
    let ports = match config.tcp {
        Some(tcp) => format!("UDP {}, TCP {}", config.udp.port(), tcp.port()),
        None => format!("UDP {}", config.udp.port()),
    };
    let listed = candidates.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
    let host = link_host(config);
    if is_loopback_host(&host) {
        return Finding::ok(
            CHECK,
            format!("media at {listed} ({ports}); join links point at this machine ({host})"),
        );
    }
    let unreachable: Vec<String> = candidates
        .iter()
        .filter_map(|ip| unreachable_kind(*ip).map(|kind| format!("{ip} is {kind}")))
        .collect();
    if unreachable.is_empty() {
        return Finding::ok(CHECK, format!("browsers send media to {listed} ({ports})"));
    }
    Finding::warn(
        CHECK,
        format!(
            "{}, but join links point at {host}: browsers elsewhere could not send media there; \
             set public_ip to the address they reach this machine at (behind NAT, the public \
             one, with {ports} forwarded unchanged)",
            unreachable.join(", ")
        ),
    )
}

/// Whether browsers on other machines get an https page, which cameras need.
fn https(config: &Config) -> Finding {
    const CHECK: &str = "https";
    let base = config.link_base(config.http);
    let https_links = base.starts_with("https://");
    if config.tls_cert.is_some() {
        if !https_links {
            return Finding::warn(
                CHECK,
                format!(
                    "veil serves HTTPS but join links are {base}: make public_url https://, or \
                     the links will not open"
                ),
            );
        }
        return Finding::ok(CHECK, format!("veil serves HTTPS itself; join links are {base}"));
    }
    if https_links {
        return Finding::ok(
            CHECK,
            format!("plain HTTP on {}, HTTPS at the proxy for {base}", config.http),
        );
    }
    if config.http.ip().is_loopback() && is_loopback_host(&link_host(config)) {
        return Finding::ok(
            CHECK,
            format!(
                "plain HTTP on loopback ({}): browsers on this machine open cameras on \
                 http://localhost and 127.0.0.1, others could not reach it",
                config.http
            ),
        );
    }
    Finding::warn(
        CHECK,
        format!(
            "plain HTTP on {} and join links are {base}: browsers on other machines will not \
             open cameras or microphones on an http:// page; set tls_cert and tls_key, or put a \
             TLS proxy in front and set public_url = \"https://…\"",
            config.http
        ),
    )
}

// --- the certificate --------------------------------------------------------------------------

/// Days before expiry from which the certificate check warns.
const RENEW_WARNING_DAYS: i64 = 14;

fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = std::fs::read(path).map_err(|e| format!("cannot read it: {e}"))?;
    let chain = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("it is not valid PEM: {e}"))?;
    if chain.is_empty() {
        return Err("it holds no CERTIFICATE block (tls_cert is the PEM chain, e.g. \
                    fullchain.pem)"
            .into());
    }
    Ok(chain)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    let pem = std::fs::read(path).map_err(|e| format!("cannot read it: {e}"))?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => {
            "it holds no PRIVATE KEY block (tls_key is the PEM key, e.g. privkey.pem)".into()
        }
        e => format!("it is not a PEM private key: {e}"),
    })
}

/// Builds the server configuration `veil serve` would (rustls refuses a key that is not the
/// certificate's).
fn pair_works(
    chain: &[CertificateDer<'static>],
    key: &PrivateKeyDer<'static>,
) -> Result<(), String> {
    rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(chain.to_vec(), key.clone_key())
        .map(drop)
        .map_err(|e| match e {
            rustls::Error::InconsistentKeys(_) => "the key is not the certificate's".to_string(),
            e => e.to_string(),
        })
}

/// The files parse, the key matches, the leaf is valid now, and for how long.
fn certificate(
    cert: &Path,
    key: &Path,
    chain: &Result<Vec<CertificateDer<'static>>, String>,
    key_der: &Result<PrivateKeyDer<'static>, String>,
    now: i64,
) -> Finding {
    const CHECK: &str = "certificate";
    let chain = match chain {
        Ok(chain) => chain,
        Err(e) => return Finding::fail(CHECK, format!("tls_cert {}: {e}", cert.display())),
    };
    let key_der = match key_der {
        Ok(key) => key,
        Err(e) => return Finding::fail(CHECK, format!("tls_key {}: {e}", key.display())),
    };
    if let Err(e) = pair_works(chain, key_der) {
        return Finding::fail(
            CHECK,
            format!(
                "{} with {}: {e}; `veil serve` would refuse the pair. Install the key the \
                 certificate was issued for (certbot: privkey.pem beside fullchain.pem)",
                cert.display(),
                key.display()
            ),
        );
    }
    let leaf = match X509Certificate::from_der(&chain[0]) {
        Ok((_, leaf)) => leaf,
        Err(e) => return Finding::fail(CHECK, format!("{}: cannot read it: {e}", cert.display())),
    };
    let (not_before, not_after) =
        (leaf.validity().not_before.timestamp(), leaf.validity().not_after.timestamp());
    if now < not_before {
        return Finding::fail(
            CHECK,
            format!(
                "{} is not valid before {}: check this machine's clock",
                cert.display(),
                date(not_before)
            ),
        );
    }
    if now >= not_after {
        return Finding::fail(
            CHECK,
            format!(
                "{} expired on {}: browsers refuse it; renew it (certbot renew)",
                cert.display(),
                date(not_after)
            ),
        );
    }
    let days = (not_after - now) / 86_400;
    let mut detail = format!(
        "{}: a chain of {}, the key matches, valid until {} ({days} day{})",
        cert.display(),
        chain.len(),
        date(not_after),
        if days == 1 { "" } else { "s" }
    );
    let mut level = Level::Ok;
    if days < RENEW_WARNING_DAYS {
        level = Level::Warn;
        detail.push_str(
            "; renew it now (certbot renews 30 days ahead: is its timer running, with the \
             deploy hook?)",
        );
    }
    if chain.len() == 1 && leaf.subject() == leaf.issuer() {
        level = Level::Warn;
        detail.push_str(
            "; it is self-signed: browsers refuse it unless every device trusts it; use one \
             from a CA such as Let's Encrypt",
        );
    }
    Finding { check: CHECK, level, detail }
}

/// The names a certificate is for: subjectAltName DNS names and addresses, and subject CNs.
#[derive(Debug, Default)]
struct CertNames {
    dns: Vec<String>,
    ips: Vec<IpAddr>,
    common: Vec<String>,
}

fn names_of(leaf: &X509Certificate<'_>) -> CertNames {
    let mut names = CertNames::default();
    if let Ok(Some(san)) = leaf.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(dns) => names.dns.push(dns.to_string()),
                GeneralName::IPAddress(bytes) => {
                    if let Ok(v4) = <[u8; 4]>::try_from(*bytes) {
                        names.ips.push(Ipv4Addr::from(v4).into());
                    } else if let Ok(v6) = <[u8; 16]>::try_from(*bytes) {
                        names.ips.push(Ipv6Addr::from(v6).into());
                    }
                }
                _ => {}
            }
        }
    }
    names.common = leaf
        .subject()
        .iter_common_name()
        .filter_map(|cn| cn.as_str().ok())
        .map(Into::into)
        .collect();
    names
}

/// `pattern` (a DNS name, maybe `*.` and a domain) covers `host`.
fn dns_matches(pattern: &str, host: &str) -> bool {
    let (pattern, host) = (pattern.to_ascii_lowercase(), host.to_ascii_lowercase());
    let host = host.trim_end_matches('.');
    match pattern.strip_prefix("*.") {
        Some(domain) => {
            host.split_once('.').is_some_and(|(label, rest)| !label.is_empty() && rest == domain)
        }
        None => pattern == host,
    }
}

/// The certificate is for the host join links point at, as browsers judge it (the
/// subjectAltName; they ignore the CN).
fn certificate_name(chain: &[CertificateDer<'static>], host: &str) -> Finding {
    const CHECK: &str = "cert name";
    let Ok((_, leaf)) = X509Certificate::from_der(&chain[0]) else {
        return Finding::fail(CHECK, "the certificate cannot be read");
    };
    let names = names_of(&leaf);
    let covered = match host.parse::<IpAddr>() {
        Ok(ip) => names.ips.contains(&ip),
        Err(_) => names.dns.iter().any(|pattern| dns_matches(pattern, host)),
    };
    if covered {
        return Finding::ok(CHECK, format!("the certificate names {host}, where join links point"));
    }
    let in_cn = names.common.iter().any(|cn| dns_matches(cn, host) || cn == host);
    if in_cn && names.dns.is_empty() && names.ips.is_empty() {
        return Finding::warn(
            CHECK,
            format!(
                "the certificate names {host} only in its subject CN, which browsers ignore: \
                 it needs a subjectAltName for {host}"
            ),
        );
    }
    let mut named: Vec<String> = names.dns.clone();
    named.extend(names.ips.iter().map(ToString::to_string));
    if named.is_empty() {
        named.extend(names.common.iter().map(|cn| format!("CN {cn}")));
    }
    let named = if named.is_empty() { "nothing".to_string() } else { named.join(", ") };
    Finding::warn(
        CHECK,
        format!(
            "the certificate does not name {host}, where join links point (it names {named}): \
             browsers will refuse it; get one for {host}, or set public_url to a name it covers"
        ),
    )
}

/// A Unix time as its UTC date, YYYY-MM-DD.
fn date(unix: i64) -> String {
    // Howard Hinnant's days-to-civil.
    let z = unix.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

fn now_unix() -> i64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    since.map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

// --- ports and the running node ---------------------------------------------------------------

fn bind_tcp(addr: SocketAddr) -> io::Result<()> {
    std::net::TcpListener::bind(addr).map(drop)
}

fn bind_udp(addr: SocketAddr) -> io::Result<()> {
    std::net::UdpSocket::bind(addr).map(drop)
}

fn in_use(bound: &io::Result<()>) -> bool {
    matches!(bound, Err(e) if e.kind() == io::ErrorKind::AddrInUse)
}

/// Binding failed in a way that leaves open whether veil listens there.
fn maybe_veil(bound: &io::Result<()>) -> bool {
    in_use(bound) || matches!(bound, Err(e) if e.kind() == io::ErrorKind::PermissionDenied)
}

/// Binds each address `veil serve` would listen on; when the HTTP one is taken (or needs a
/// privilege this user lacks), asks it for `/healthz` to tell a running veil from something else.
async fn ports(config: &Config) -> Vec<Finding> {
    let http = bind_tcp(config.http);
    let probe = local_probe(config);
    let node = if maybe_veil(&http) { Some(healthz(&probe).await) } else { None };
    let running = matches!(node, Some(Ok(())));
    let mut findings = vec![http_port(config.http, &http, node.as_ref())];
    if running {
        findings.push(Finding::ok(
            "node",
            format!("a veil node is running: GET {} answered ok", probe.url),
        ));
    }
    findings.push(media_port("port udp", "UDP media", config.udp, &bind_udp(config.udp), running));
    if let Some(tcp) = config.tcp {
        findings.push(media_port("port tcp", "ICE-TCP", tcp, &bind_tcp(tcp), running));
    }
    if let Some(metrics) = config.metrics_http {
        findings.push(media_port("port metrics", "metrics", metrics, &bind_tcp(metrics), running));
    }
    findings
}

/// What binding failed with, when it is not "in use".
fn bind_error(check: &'static str, what: &str, addr: SocketAddr, e: &io::Error) -> Finding {
    match e.kind() {
        io::ErrorKind::AddrNotAvailable => Finding::fail(
            check,
            format!(
                "{what} {addr}: {} is not an address of this machine; bind 0.0.0.0 (or [::]) \
                 and put the public address in public_ip",
                addr.ip()
            ),
        ),
        io::ErrorKind::PermissionDenied => Finding::warn(
            check,
            format!(
                "{what} {addr}: binding port {} needs privilege (root, or CAP_NET_BIND_SERVICE \
                 as the systemd unit grants); run `veil check` as root to test it",
                addr.port()
            ),
        ),
        _ => Finding::fail(check, format!("{what} {addr}: cannot bind it: {e}")),
    }
}

fn http_port(
    addr: SocketAddr,
    bound: &io::Result<()>,
    node: Option<&Result<(), ProbeError>>,
) -> Finding {
    const CHECK: &str = "port http";
    match (bound, node) {
        (Ok(()), _) => Finding::ok(CHECK, format!("HTTP {addr} is free for `veil serve`")),
        (Err(e), Some(Ok(()))) if e.kind() == io::ErrorKind::AddrInUse => Finding::warn(
            CHECK,
            format!(
                "HTTP {addr} is in use — is veil already running? A veil node answers there; \
                 `veil serve` cannot start beside it"
            ),
        ),
        (Err(e), Some(Err(why))) if e.kind() == io::ErrorKind::AddrInUse => Finding::fail(
            CHECK,
            format!(
                "HTTP {addr} is in use by something that is not veil (GET /healthz: {why}); \
                 stop it or choose another http address (`ss -ltnp` shows who listens)"
            ),
        ),
        (Err(e), _) => bind_error(CHECK, "HTTP", addr, e),
    }
}

fn media_port(
    check: &'static str,
    what: &str,
    addr: SocketAddr,
    bound: &io::Result<()>,
    veil_running: bool,
) -> Finding {
    match bound {
        Ok(()) => Finding::ok(check, format!("{what} {addr} is free for `veil serve`")),
        Err(_) if in_use(bound) && veil_running => Finding::warn(
            check,
            format!("{what} {addr} is in use, presumably by the veil node running here"),
        ),
        Err(_) if in_use(bound) => Finding::fail(
            check,
            format!(
                "{what} {addr} is in use by another program, and no veil answers on the HTTP \
                 address; stop it or choose another address (`ss -lntup` shows who has it)"
            ),
        ),
        Err(e) => bind_error(check, what, addr, e),
    }
}

// --- /healthz over HTTP(S) --------------------------------------------------------------------

/// Where and how to ask for `/healthz`.
struct Probe {
    /// What the findings call it.
    url: String,
    host: String,
    port: u16,
    /// The Host header.
    authority: String,
    path: String,
    tls: Option<(TlsConnector, ServerName<'static>)>,
}

/// The node on this machine, at its HTTP address (loopback when bound to all interfaces),
/// over TLS when it serves HTTPS. Its certificate is not judged here: [`certificate`] does.
fn local_probe(config: &Config) -> Probe {
    let ip = match config.http.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    let addr = SocketAddr::new(ip, config.http.port());
    let tls =
        config.tls_cert.is_some().then(|| (unverified_tls(), ServerName::IpAddress(ip.into())));
    let scheme = if tls.is_some() { "https" } else { "http" };
    Probe {
        url: format!("{scheme}://{addr}/healthz"),
        host: ip.to_string(),
        port: addr.port(),
        authority: addr.to_string(),
        path: "/healthz".into(),
        tls,
    }
}

/// `URL/healthz` as a browser elsewhere would reach it: https verified against this machine's
/// trusted roots.
fn url_probe(url: &str) -> Result<Probe, ProbeError> {
    url_probe_parts(url).map_err(ProbeError::Unreachable)
}

fn url_probe_parts(url: &str) -> Result<Probe, String> {
    let full = format!("{}/healthz", url.trim_end_matches('/'));
    let uri: hyper::Uri = full.parse().map_err(|e| format!("{url} is not a URL: {e}"))?;
    let host = uri.host().ok_or_else(|| format!("{url} has no host"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']').to_string();
    let secure = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        _ => return Err(format!("{url} is neither http:// nor https://")),
    };
    let tls = if secure {
        let name = ServerName::try_from(host.clone()).map_err(|e| format!("{host}: {e}"))?;
        Some((verified_tls()?, name))
    } else {
        None
    };
    Ok(Probe {
        url: full,
        port: uri.port_u16().unwrap_or(if secure { 443 } else { 80 }),
        authority: uri.authority().map_or(host.clone(), |a| a.to_string()),
        path: uri.path_and_query().map_or("/healthz".into(), |p| p.to_string()),
        host,
        tls,
    })
}

/// Why `/healthz` did not answer "ok".
#[derive(Debug, Clone, PartialEq, Eq)]
enum ProbeError {
    /// Not even a connection (or no answer in time, or a URL that cannot be asked).
    Unreachable(String),
    /// TLS failed: for a verified probe, browsers would refuse the certificate too.
    Tls(String),
    /// Something answered, but not veil's "ok".
    Answer(String),
}

impl std::fmt::Display for ProbeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unreachable(why) | Self::Answer(why) => f.write_str(why),
            Self::Tls(why) => write!(f, "TLS failed: {why}"),
        }
    }
}

/// GET /healthz within [`turn::TIMEOUT`]: `Ok` if it answered 200 "ok".
async fn healthz(probe: &Probe) -> Result<(), ProbeError> {
    let ask = async {
        let tcp = tokio::net::TcpStream::connect((probe.host.as_str(), probe.port))
            .await
            .map_err(|e| ProbeError::Unreachable(format!("cannot connect: {e}")))?;
        let (status, body) = match &probe.tls {
            None => get(tcp, probe).await?,
            Some((tls, name)) => {
                let stream = tls
                    .connect(name.clone(), tcp)
                    .await
                    .map_err(|e| ProbeError::Tls(e.to_string()))?;
                get(stream, probe).await?
            }
        };
        let body = String::from_utf8_lossy(&body);
        if status == 200 && body.trim() == "ok" {
            Ok(())
        } else {
            let start = body.chars().take(60).collect::<String>();
            Err(ProbeError::Answer(format!("it answered {status} {start:?}")))
        }
    };
    tokio::time::timeout(turn::TIMEOUT, ask).await.unwrap_or_else(|_| {
        let within = turn::TIMEOUT.as_secs();
        Err(ProbeError::Unreachable(format!("no answer within {within} s")))
    })
}

/// One HTTP/1.1 GET on `stream`: the status and up to 64 KiB of body.
async fn get<S>(stream: S, probe: &Probe) -> Result<(u16, Bytes), ProbeError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let answer = |e: &dyn std::fmt::Display| ProbeError::Answer(format!("HTTP failed: {e}"));
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| answer(&e))?;
    tokio::spawn(connection);
    let request = hyper::Request::get(probe.path.as_str())
        .header(hyper::header::HOST, probe.authority.as_str())
        .header(hyper::header::USER_AGENT, "veil-check")
        .body(Empty::<Bytes>::new())
        .map_err(|e| ProbeError::Unreachable(e.to_string()))?;
    let response = sender.send_request(request).await.map_err(|e| answer(&e))?;
    let status = response.status().as_u16();
    let body = Limited::new(response.into_body(), 64 * 1024)
        .collect()
        .await
        .map_err(|e| answer(&e))?
        .to_bytes();
    Ok((status, body))
}

fn reachable(url: &str, seen: &Result<(), ProbeError>) -> Finding {
    const CHECK: &str = "url";
    let url = url.trim_end_matches('/');
    let hint = match seen {
        Ok(()) => return Finding::ok(CHECK, format!("GET {url}/healthz answered ok")),
        Err(ProbeError::Unreachable(_)) => {
            "check the name's DNS record, the firewall and the proxy in front, if any"
        }
        Err(ProbeError::Tls(_)) => {
            "browsers elsewhere would refuse it too: serve a certificate from a CA for that name"
        }
        Err(ProbeError::Answer(_)) => {
            "something other than veil answers there: check where the proxy forwards"
        }
    };
    let why = seen.as_ref().err().map(ToString::to_string).unwrap_or_default();
    Finding::fail(CHECK, format!("GET {url}/healthz: {why}; {hint}"))
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// TLS trusting this machine's roots, as browsers do theirs.
fn verified_tls() -> Result<TlsConnector, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    if roots.is_empty() {
        return Err("no trusted root certificates on this machine to check https with".into());
    }
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}

/// TLS to this machine's own node, whatever its certificate: the probe asks only whether a
/// veil answers, and sends nothing secret.
fn unverified_tls() -> TlsConnector {
    let provider = provider();
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("the aws-lc-rs provider supports the default TLS versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
        .with_no_client_auth();
    TlsConnector::from(Arc::new(config))
}

/// Accepts any certificate, still checking that the handshake is signed by its key.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.0.signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, cert, dss, algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.0.signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, cert, dss, algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

// --- TURN -------------------------------------------------------------------------------------

/// The opaque id in the credentials `veil check` mints, which coturn's log then shows.
const TURN_CHECK_ID: &str = "veil-check";

/// One `[turn]` URL: a real allocation with credentials minted as for a participant.
async fn turn_server(turn: &TurnConfig, url: &str) -> Finding {
    const CHECK: &str = "turn";
    let Some(parsed) = TurnUrl::parse(url) else {
        return Finding::fail(CHECK, format!("{url}: not a turn: or turns: URL"));
    };
    if parsed.secure {
        return Finding::warn(
            CHECK,
            format!(
                "{url}: not checked (turns: is TLS to the relay, which veil check does not \
                 speak; a turn: URL on the same coturn checks its secret)"
            ),
        );
    }
    let Some(transport) = parsed.transport() else {
        return Finding::warn(
            CHECK,
            format!("{url}: not checked (transport {} is neither udp nor tcp)", parsed.transport),
        );
    };
    let lookup = tokio::net::lookup_host((parsed.host.as_str(), parsed.port));
    let server = match tokio::time::timeout(turn::TIMEOUT, lookup).await {
        Ok(Ok(mut addrs)) => addrs.next(),
        Ok(Err(e)) => {
            return Finding::fail(CHECK, format!("{url}: cannot resolve {}: {e}", parsed.host));
        }
        Err(_) => None,
    };
    let Some(server) = server else {
        return Finding::fail(CHECK, format!("{url}: {} does not resolve", parsed.host));
    };
    let credentials = turn.credentials(now_unix().max(0).unsigned_abs(), TURN_CHECK_ID);
    let result =
        turn::allocate(server, transport, &credentials.username, &credentials.credential).await;
    turn_finding(url, server, transport, &result)
}

fn turn_finding(
    url: &str,
    server: SocketAddr,
    transport: turn::Transport,
    result: &Result<turn::Allocation, TurnError>,
) -> Finding {
    const CHECK: &str = "turn";
    let allocation = match result {
        Ok(allocation) => allocation,
        Err(TurnError::Refused) => {
            return Finding::fail(
                CHECK,
                format!(
                    "{url}: coturn refused the credentials: [turn] secret differs from coturn's \
                     static-auth-secret (or coturn lacks use-auth-secret); set the same value in \
                     both"
                ),
            );
        }
        Err(TurnError::Timeout) => {
            return Finding::fail(
                CHECK,
                format!(
                    "{url}: no answer from {server} over {transport} within {} s: is coturn \
                     running there, and {transport} {} open in the firewall?",
                    turn::TIMEOUT.as_secs(),
                    server.port()
                ),
            );
        }
        Err(TurnError::Connect(e) | TurnError::Io(e)) => {
            return Finding::fail(
                CHECK,
                format!("{url}: {server} over {transport}: {e}; is coturn listening there?"),
            );
        }
        Err(TurnError::Rejected(code, reason)) => {
            return Finding::fail(
                CHECK,
                format!("{url}: coturn refused the allocation: {code} {reason}"),
            );
        }
        Err(TurnError::Protocol(why)) => {
            return Finding::fail(
                CHECK,
                format!("{url}: {server} does not answer like a TURN server: {why}"),
            );
        }
    };
    let relayed = allocation.relayed.map_or("no address".to_string(), |a| a.to_string());
    let freed = if allocation.freed { "" } else { " (freeing it failed; it expires by itself)" };
    if allocation.without_auth {
        return Finding::warn(
            CHECK,
            format!(
                "{url}: relayed address {relayed} allocated without any credentials: anyone can \
                 relay through it; set use-auth-secret and static-auth-secret in coturn{freed}"
            ),
        );
    }
    Finding::ok(
        CHECK,
        format!(
            "{url}: relayed address {relayed} allocated over {transport} with a participant's \
             credentials{freed}"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::config::test_config as config;

    #[test]
    fn a_private_public_ip_warns_only_when_links_leave_this_machine() {
        let mut c = config();
        assert_eq!(public_ip(&c).level, Level::Ok, "all on loopback: development");
        c.udp = "0.0.0.0:7882".parse().unwrap();
        c.public_ips = vec!["10.0.0.5".parse().unwrap()];
        c.public_url = Some("https://meet.example.org".into());
        let finding = public_ip(&c);
        assert_eq!(finding.level, Level::Warn);
        assert!(finding.detail.contains("10.0.0.5 is private"), "{}", finding.detail);
        c.public_ips = vec!["203.0.113.7".parse().unwrap(), "fd00::7".parse().unwrap()];
        c.udp = "[::]:7882".parse().unwrap();
        assert!(public_ip(&c).detail.contains("fd00::7 is unique local"));
        c.public_ips.truncate(1);
        assert_eq!(public_ip(&c).level, Level::Ok);
        // ICE-TCP on all interfaces needs a public IP as much as UDP does.
        c.public_ips.clear();
        c.udp = "192.0.2.1:7882".parse().unwrap();
        c.tcp = Some("0.0.0.0:7881".parse().unwrap());
        assert_eq!(public_ip(&c).level, Level::Fail);
    }

    #[test]
    fn plain_http_for_other_machines_warns() {
        let mut c = config();
        assert_eq!(https(&c).level, Level::Ok);
        c.http = "0.0.0.0:7880".parse().unwrap();
        c.public_ips = vec!["203.0.113.7".parse().unwrap()];
        c.udp = "0.0.0.0:7882".parse().unwrap();
        assert_eq!(https(&c).level, Level::Warn, "{}", https(&c).detail);
        c.public_url = Some("https://meet.example.org".into());
        assert_eq!(https(&c).level, Level::Ok, "TLS at a proxy");
        c.tls_cert = Some("/c".into());
        c.public_url = Some("http://meet.example.org".into());
        assert_eq!(https(&c).level, Level::Warn, "HTTPS served, http links");
    }

    #[test]
    fn wildcards_cover_one_label() {
        assert!(dns_matches("meet.example.org", "MEET.example.org."));
        assert!(dns_matches("*.example.org", "meet.example.org"));
        assert!(!dns_matches("*.example.org", "example.org"));
        assert!(!dns_matches("*.example.org", "a.meet.example.org"));
        assert!(!dns_matches("other.example", "meet.example.org"));
    }

    #[test]
    fn dates_are_utc_calendar_days() {
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(date(951_782_400), "2000-02-29");
        assert_eq!(date(1_767_225_599), "2025-12-31");
    }

    #[test]
    fn a_port_in_use_is_a_running_veil_or_a_failure() {
        let addr: SocketAddr = "127.0.0.1:7880".parse().unwrap();
        let taken = || Err(io::Error::from(io::ErrorKind::AddrInUse));
        assert_eq!(http_port(addr, &Ok(()), None).level, Level::Ok);
        let veil = http_port(addr, &taken(), Some(&Ok(())));
        assert_eq!(veil.level, Level::Warn);
        assert!(veil.detail.contains("is veil already running?"));
        let refused = Err(ProbeError::Unreachable("refused".into()));
        assert_eq!(http_port(addr, &taken(), Some(&refused)).level, Level::Fail);
        assert_eq!(media_port("port udp", "UDP media", addr, &taken(), true).level, Level::Warn);
        assert_eq!(media_port("port udp", "UDP media", addr, &taken(), false).level, Level::Fail);
        let elsewhere = Err(io::Error::from(io::ErrorKind::AddrNotAvailable));
        assert!(
            media_port("port udp", "UDP media", addr, &elsewhere, false)
                .detail
                .contains("public_ip")
        );
    }

    #[test]
    fn the_printer_counts_and_the_status_follows_failures() {
        let findings = vec![
            Finding::ok("config", "fine"),
            Finding::warn("https", "plain"),
            Finding::fail("turn", "refused"),
        ];
        let mut out = Vec::new();
        print(&findings, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with("ok    config        fine\nwarn  https         plain\nFAIL  turn "),
            "{text}"
        );
        assert!(text.ends_with("veil check: 1 FAIL, 1 warn, 1 ok\n"), "{text}");
        assert_eq!(exit_code(&findings), 1);
        assert_eq!(exit_code(&findings[..2]), 0);
    }

    #[test]
    fn refused_credentials_name_the_secret() {
        let server = "127.0.0.1:3478".parse().unwrap();
        let finding =
            turn_finding("turn:x", server, turn::Transport::Udp, &Err(TurnError::Refused));
        assert_eq!(finding.level, Level::Fail);
        assert!(finding.detail.contains("static-auth-secret"));
    }

    #[test]
    fn the_fleet_check_names_redis_without_its_password_and_a_shared_node_id() {
        let fleet = crate::fleet::FleetSettings {
            redis_url: "redis://:hunter2@10.0.0.9:6379/0".into(),
            node_id: "node-a".into(),
            node_url: "http://10.0.0.2:7880".into(),
        };
        let node = |id: &str, url: &str| veil_cluster::NodeInfo {
            id: veil_cluster::NodeId::new(id).unwrap(),
            signaling_url: url.into(),
            load: veil_cluster::NodeLoad::default(),
        };
        let down = fleet_redis(&fleet, &Err("Redis is unreachable".into()));
        assert_eq!(down.level, Level::Fail);
        assert!(!down.detail.contains("hunter2"), "{}", down.detail);
        let fine = fleet_redis(&fleet, &Ok(vec![node("node-b", "http://10.0.0.3:7880")]));
        assert_eq!(fine.level, Level::Ok);
        assert!(
            fine.detail.contains("node-b") && !fine.detail.contains("hunter2"),
            "{}",
            fine.detail
        );
        let itself = fleet_redis(&fleet, &Ok(vec![node("node-a", "http://10.0.0.2:7880")]));
        assert_eq!(itself.level, Level::Ok, "this node, running: {}", itself.detail);
        let twin = fleet_redis(&fleet, &Ok(vec![node("node-a", "http://10.0.0.7:7880")]));
        assert_eq!(twin.level, Level::Fail);
        assert!(twin.detail.contains("its own node_id"), "{}", twin.detail);
    }
}
