//! `veil serve` settings: embedded defaults, an optional TOML file, `VEIL_*` environment
//! variables and command-line flags, in rising precedence.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use serde::Deserialize;
use veil_signaling::oidc::{self, OidcSettings};
use veil_signaling::turn::TurnConfig;

use crate::fleet::FleetSettings;
use veil_signaling::webhooks::WebhookEndpoint;

/// Settings as a TOML file spells them. Every field is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub http: Option<SocketAddr>,
    pub udp: Option<SocketAddr>,
    /// TCP address for ICE-TCP, for browsers whose network blocks UDP (default: none).
    pub tcp: Option<SocketAddr>,
    /// One address (`"203.0.113.7"`) or several (`["203.0.113.7", "2001:db8::7"]`).
    pub public_ip: Option<OneOrMany<IpAddr>>,
    pub public_url: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub assets_dir: Option<PathBuf>,
    pub max_message_bytes: Option<usize>,
    /// The most participants a new room holds (default 100).
    pub max_participants: Option<u32>,
    /// How many days the audit log keeps records (default 365); 0 keeps them forever.
    pub audit_retention_days: Option<u32>,
    /// Sign-in through an OpenID Connect provider.
    pub oidc: Option<OidcFile>,
    /// Serve HTTPS with this certificate chain (PEM) and `tls_key`; reloaded on change or SIGHUP.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Serve `/metrics` on this address instead of the main one (docs/metrics.md).
    pub metrics_http: Option<SocketAddr>,
    /// The bearer token `/metrics` requires (default: none, open to whoever reaches it).
    pub metrics_token: Option<String>,
    /// Where signed events go: `[[webhooks]]` tables, each with `url` and `secret`.
    #[serde(default)]
    pub webhooks: Vec<WebhookEndpoint>,
    /// TURN relays for networks that block direct media ([`TurnFile`]).
    pub turn: Option<TurnFile>,
    /// Several nodes sharing rooms: the Redis they share (`redis://host:6379/0`).
    pub redis_url: Option<String>,
    /// This node's name in the fleet (letters, digits, `.`, `_`, `-`).
    pub node_id: Option<String>,
    /// Where the other nodes reach this node's signaling (default: `http://` + the HTTP address).
    pub node_url: Option<String>,
}

/// The file's `[turn]` table: the relays browsers may use and coturn's shared secret, from
/// which each participant gets credentials of its own.
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TurnFile {
    /// `turn:` and `turns:` URLs.
    #[serde(default)]
    pub urls: Vec<String>,
    /// coturn's `static-auth-secret` (or `VEIL_TURN_SECRET`).
    pub secret: Option<String>,
    /// How long credentials last, in seconds (default a day).
    pub ttl_secs: Option<u64>,
}

/// The fleet settings: none without a Redis URL; with one, a node id is required, and the
/// node's own URL defaults to its HTTP address (which must then be one others can reach).
pub fn fleet(
    redis_url: Option<String>,
    node_id: Option<String>,
    node_url: Option<String>,
    http: SocketAddr,
) -> anyhow::Result<Option<FleetSettings>> {
    let Some(redis_url) = redis_url else {
        if node_id.is_some() || node_url.is_some() {
            bail!("node_id and node_url belong to a fleet: set redis_url (or --redis-url) too");
        }
        return Ok(None);
    };
    let Some(node_id) = node_id else {
        bail!("with redis_url, name this node: node_id (or --node-id), e.g. \"node-a\"");
    };
    let node_url = match node_url {
        Some(url) => url,
        None if http.ip().is_unspecified() => bail!(
            "the HTTP address {http} is not one other nodes can reach: set node_url (or \
             --node-url) to this node's internal address, e.g. http://10.0.0.2:7880"
        ),
        None => format!("http://{http}"),
    };
    if !(node_url.starts_with("http://") || node_url.starts_with("https://")) {
        bail!("node_url {node_url:?} must start with http:// or https://");
    }
    Ok(Some(FleetSettings { redis_url, node_id, node_url }))
}

/// The TURN settings from the file, with URLs from `--turn-url` and the secret from
/// `VEIL_TURN_SECRET` winning over it; none when no URL is named anywhere.
pub fn turn(
    file: Option<TurnFile>,
    urls: Vec<String>,
    secret: Option<String>,
) -> anyhow::Result<Option<TurnConfig>> {
    let file = file.unwrap_or_default();
    let urls = if urls.is_empty() { file.urls } else { urls };
    if urls.is_empty() {
        if file.secret.is_some() || secret.is_some() {
            bail!(
                "a TURN secret is set but no TURN server: name them in [turn] urls or --turn-url"
            );
        }
        return Ok(None);
    }
    let Some(secret) = secret.or(file.secret) else {
        bail!(
            "TURN servers are named but not their secret: set [turn] secret or VEIL_TURN_SECRET \
             to coturn's static-auth-secret"
        );
    };
    let ttl = file.ttl_secs.map_or(veil_signaling::turn::DEFAULT_TTL, Duration::from_secs);
    let turn = TurnConfig { urls, secret, ttl };
    turn.validate()?;
    Ok(Some(turn))
}

/// The file's `[oidc]` table: sign-in for hosts through an OpenID Connect provider. Sign-in is on
/// when the issuer, the client id and the client secret are all set (here, in `VEIL_OIDC_*` or
/// as flags).
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcFile {
    pub issuer: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    /// Identities (verified emails, else `sub`) that sign in as hosts.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Groups whose members sign in as hosts.
    #[serde(default)]
    pub host_groups: Vec<String>,
    /// The ID token claim listing the groups (default `groups`).
    pub groups_claim: Option<String>,
    /// The scope asked for to get that claim (default `groups`, when the provider lists it).
    pub groups_scope: Option<String>,
}

/// A file key that takes one value or a list of them.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

impl<T> OneOrMany<T> {
    pub fn into_vec(self) -> Vec<T> {
        match self {
            Self::One(one) => vec![one],
            Self::Many(many) => many,
        }
    }
}

impl FileConfig {
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the config file {}", path.display()))?;
        toml::from_str(&text)
            .with_context(|| format!("the config file {} is not valid", path.display()))
    }
}

/// Settings after merging, checked.
#[derive(Debug, Clone)]
pub struct Config {
    pub http: SocketAddr,
    pub udp: SocketAddr,
    /// ICE-TCP's address; none: media over UDP only.
    pub tcp: Option<SocketAddr>,
    /// Addresses browsers send media to, each an ICE candidate with the UDP port. Empty: the UDP
    /// address itself.
    pub public_ips: Vec<IpAddr>,
    /// Base of join links, e.g. `https://meet.example.org`; derived from `http` when unset.
    pub public_url: Option<String>,
    pub data_dir: PathBuf,
    pub assets_dir: PathBuf,
    pub max_message_bytes: usize,
    pub max_participants: u32,
    /// How many days the audit log keeps records; 0 keeps them forever.
    pub audit_retention_days: u32,
    /// The file's `[oidc]` table, which `veil serve` merges with its flags ([`sign_in`]).
    pub oidc: Option<OidcFile>,
    /// HTTPS: the certificate chain and key files, both or neither.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Where `/metrics` is served when not on `http`.
    pub metrics_http: Option<SocketAddr>,
    /// The bearer token `/metrics` requires.
    pub metrics_token: Option<String>,
    /// The file's `[[webhooks]]`: URLs that receive signed events (docs/webhooks.md).
    pub webhooks: Vec<WebhookEndpoint>,
    /// The file's `[turn]`, which `veil serve` merges with its flags ([`turn`]).
    pub turn: Option<TurnFile>,
    /// The fleet this node belongs to, as the file and flags say ([`fleet`]).
    pub redis_url: Option<String>,
    pub node_id: Option<String>,
    pub node_url: Option<String>,
}

pub const DEFAULT_HTTP: &str = "127.0.0.1:7880";
pub const DEFAULT_UDP: &str = "127.0.0.1:7882";
/// A year: long enough for most audits, short enough not to keep people's comings and
/// goings forever.
pub const DEFAULT_AUDIT_RETENTION_DAYS: u32 = 365;

impl Config {
    /// Checks settings that only fail later, and less clearly, if left alone.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.udp.ip().is_unspecified() && self.public_ips.is_empty() {
            bail!(
                "media is bound to {} but no public IP is set, so browsers would not know where to \
                 send media; pass --public-ip with the address browsers reach this machine at \
                 (or set VEIL_PUBLIC_IP / public_ip)",
                self.udp
            );
        }
        let dual_stack = self.udp.ip() == IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED);
        for ip in &self.public_ips {
            if ip.is_unspecified() || ip.is_multicast() {
                bail!("public IP {ip} is not an address browsers can send media to");
            }
            if !dual_stack && ip.is_ipv4() != self.udp.is_ipv4() {
                bail!(
                    "public IP {ip} is of another address family than the UDP address {}; bind \
                     media to [::]:{} to serve IPv4 and IPv6",
                    self.udp,
                    self.udp.port()
                );
            }
        }
        match (&self.tls_cert, &self.tls_key) {
            (Some(_), None) | (None, Some(_)) => {
                bail!("HTTPS needs both --tls-cert and --tls-key (or tls_cert and tls_key)")
            }
            (Some(cert), Some(key)) => {
                for (what, path) in [("certificate", cert), ("key", key)] {
                    if !path.is_file() {
                        bail!("the TLS {what} {} is not a readable file", path.display());
                    }
                }
            }
            (None, None) => {}
        }
        if self.metrics_token.as_ref().is_some_and(|t| t.trim().len() < 16) {
            bail!("the metrics token must be at least 16 characters");
        }
        if self.metrics_http == Some(self.http) {
            bail!(
                "--metrics-http {} is the main HTTP address; leave it unset to serve /metrics there",
                self.http
            );
        }
        if let Some(url) = &self.public_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            bail!("public_url {url:?} must start with http:// or https://");
        }
        for endpoint in &self.webhooks {
            endpoint.validate()?;
        }
        Ok(())
    }

    /// The base URL join links point at, given the bound HTTP address.
    pub fn link_base(&self, bound_http: SocketAddr) -> String {
        if let Some(url) = &self.public_url {
            return url.trim_end_matches('/').to_string();
        }
        let ip = match (bound_http.ip(), self.public_ips.first().copied()) {
            (ip, Some(public)) if ip.is_unspecified() => public,
            (ip, _) if ip.is_unspecified() => IpAddr::from([127, 0, 0, 1]),
            (ip, _) => ip,
        };
        let scheme = if self.tls_cert.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", SocketAddr::new(ip, bound_http.port()))
    }

    /// How long the audit log keeps records; `None` is forever.
    pub fn audit_retention(&self) -> Option<Duration> {
        let days = u64::from(self.audit_retention_days);
        (days > 0).then(|| Duration::from_secs(days * 86_400))
    }
}

/// Sign-in settings from the file's `[oidc]` table, the `--oidc-issuer` and `--oidc-client-id`
/// flags (or `VEIL_OIDC_ISSUER`, `VEIL_OIDC_CLIENT_ID`) and `VEIL_OIDC_CLIENT_SECRET`, the later
/// winning. `None`: sign-in is off, as nothing of it is set. Some of it without the rest is an
/// error, as is anything [`OidcSettings::validate`] refuses.
pub fn sign_in(
    file: Option<OidcFile>,
    issuer: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
) -> anyhow::Result<Option<OidcSettings>> {
    let file = file.unwrap_or_default();
    let set = |v: Option<String>| v.filter(|v| !v.trim().is_empty());
    let issuer = set(issuer).or(set(file.issuer.clone()));
    let client_id = set(client_id).or(set(file.client_id.clone()));
    let client_secret = set(client_secret).or(set(file.client_secret.clone()));
    let (Some(issuer), Some(client_id), Some(client_secret)) =
        (&issuer, &client_id, &client_secret)
    else {
        let mut missing = Vec::new();
        if issuer.is_none() {
            missing.push("the issuer (--oidc-issuer, VEIL_OIDC_ISSUER or [oidc] issuer)");
        }
        if client_id.is_none() {
            missing
                .push("the client id (--oidc-client-id, VEIL_OIDC_CLIENT_ID or [oidc] client_id)");
        }
        if client_secret.is_none() {
            missing.push("the client secret (VEIL_OIDC_CLIENT_SECRET or [oidc] client_secret)");
        }
        if missing.len() == 3 && file == OidcFile::default() {
            return Ok(None);
        }
        bail!(
            "sign-in through an OpenID provider is half configured; it also needs {}",
            missing.join(", ")
        );
    };
    let settings = OidcSettings {
        issuer: issuer.clone(),
        client_id: client_id.clone(),
        client_secret: client_secret.clone(),
        hosts: file.hosts,
        host_groups: file.host_groups,
        groups_claim: file.groups_claim.unwrap_or_else(|| oidc::DEFAULT_GROUPS_CLAIM.into()),
        groups_scope: file.groups_scope,
    };
    settings.validate().context("the sign-in settings ([oidc]) are not valid")?;
    Ok(Some(settings))
}

/// Where Veil keeps its state when not told: `$XDG_DATA_HOME/veil`, else
/// `~/.local/share/veil`, else `./.veil-data`.
pub fn default_data_dir() -> PathBuf {
    if let Some(xdg) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(xdg).join("veil");
    }
    if let Some(home) = std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(home).join(".local/share/veil");
    }
    PathBuf::from(".veil-data")
}

/// The built browser client: `client-js/dist` under the working directory, else the one in the
/// source tree this binary was built from.
pub fn default_assets_dir() -> PathBuf {
    let local = PathBuf::from("client-js/dist");
    if local.join("index.html").exists() {
        return local;
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("client-js/dist")
}

/// Settings on their defaults, with made-up directories: what tests start from.
#[cfg(test)]
pub(crate) fn test_config() -> Config {
    Config {
        http: DEFAULT_HTTP.parse().unwrap(),
        udp: DEFAULT_UDP.parse().unwrap(),
        tcp: None,
        public_ips: Vec::new(),
        public_url: None,
        data_dir: PathBuf::from("/tmp/x"),
        assets_dir: PathBuf::from("/tmp/y"),
        max_message_bytes: 65536,
        max_participants: 100,
        audit_retention_days: 365,
        oidc: None,
        webhooks: Vec::new(),
        turn: None,
        redis_url: None,
        node_id: None,
        node_url: None,
        metrics_http: None,
        metrics_token: None,
        tls_cert: None,
        tls_key: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::test_config as config;

    #[test]
    fn tls_needs_both_files_and_makes_links_https() {
        let mut c = config();
        c.tls_cert = Some(PathBuf::from("/nonexistent/cert.pem"));
        assert!(c.validate().unwrap_err().to_string().contains("both"));
        c.tls_key = Some(PathBuf::from("/nonexistent/key.pem"));
        assert!(c.validate().unwrap_err().to_string().contains("not a readable file"));
        assert!(c.link_base("127.0.0.1:443".parse().unwrap()).starts_with("https://"));
    }

    #[test]
    fn metrics_settings_are_read_and_checked() {
        let file: FileConfig =
            toml::from_str("metrics_http = \"127.0.0.1:9100\"\nmetrics_token = \"t\"").unwrap();
        assert_eq!(file.metrics_http, Some("127.0.0.1:9100".parse().unwrap()));
        let mut c = config();
        c.metrics_token = Some("short".into());
        assert!(c.validate().unwrap_err().to_string().contains("at least 16"));
        c.metrics_token = Some("a-long-enough-metrics-token".into());
        c.metrics_http = Some(c.http);
        assert!(c.validate().unwrap_err().to_string().contains("main HTTP address"));
        c.metrics_http = Some("127.0.0.1:9100".parse().unwrap());
        c.validate().unwrap();
    }

    #[test]
    fn the_audit_retention_is_in_days_and_zero_keeps_records_forever() {
        let file: FileConfig = toml::from_str("audit_retention_days = 30").unwrap();
        assert_eq!(file.audit_retention_days, Some(30));
        let mut c = config();
        assert_eq!(c.audit_retention(), Some(Duration::from_secs(365 * 86_400)));
        c.audit_retention_days = 0;
        assert_eq!(c.audit_retention(), None);
    }

    #[test]
    fn webhooks_are_tables_with_a_url_and_a_secret_and_are_checked() {
        let file: FileConfig = toml::from_str(
            "[[webhooks]]\nurl = \"https://hooks.example.org/veil\"\n\
             secret = \"0123456789abcdef0123\"\n\
             [[webhooks]]\nurl = \"http://127.0.0.1:9000/\"\nsecret = \"fedcba9876543210\"\n",
        )
        .unwrap();
        assert_eq!(file.webhooks.len(), 2);
        assert_eq!(file.webhooks[0].url, "https://hooks.example.org/veil");
        let mut c = config();
        c.webhooks = file.webhooks;
        c.validate().unwrap();
        c.webhooks[1].url = "hooks.example.org".into();
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains("hooks.example.org") && err.contains("https://"), "{err}");
        c.webhooks[1].url = "https://hooks.example.org".into();
        c.webhooks[1].secret = "short".into();
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains("at least 16") && !err.contains("short\""), "{err}");
        assert!(toml::from_str::<FileConfig>("[[webhooks]]\nurl = \"https://x\"").is_err());
    }

    #[test]
    fn unknown_keys_in_the_file_are_refused() {
        let err = toml::from_str::<FileConfig>("htp = \"127.0.0.1:1\"").unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
    }

    #[test]
    fn media_on_all_interfaces_needs_a_public_ip() {
        let mut c = config();
        c.udp = "0.0.0.0:7882".parse().unwrap();
        assert!(c.validate().unwrap_err().to_string().contains("--public-ip"));
        c.public_ips = vec!["192.0.2.1".parse().unwrap()];
        assert!(c.validate().is_ok());
    }

    #[test]
    fn public_ips_must_be_of_a_family_the_socket_receives() {
        let mut c = config();
        c.udp = "0.0.0.0:7882".parse().unwrap();
        c.public_ips = vec!["2001:db8::7".parse().unwrap()];
        assert!(c.validate().unwrap_err().to_string().contains("[::]:7882"));
        c.udp = "[::]:7882".parse().unwrap();
        c.public_ips.push("203.0.113.7".parse().unwrap());
        assert!(c.validate().is_ok(), "a dual-stack socket serves both");
        c.public_ips = vec!["0.0.0.0".parse().unwrap()];
        assert!(c.validate().is_err());
    }

    #[test]
    fn the_file_takes_one_public_ip_or_a_list() {
        let one: FileConfig = toml::from_str("public_ip = \"203.0.113.7\"").unwrap();
        assert_eq!(
            one.public_ip.unwrap().into_vec(),
            vec!["203.0.113.7".parse::<IpAddr>().unwrap()]
        );
        let many: FileConfig =
            toml::from_str("public_ip = [\"203.0.113.7\", \"2001:db8::7\"]").unwrap();
        assert_eq!(many.public_ip.unwrap().into_vec().len(), 2);
        assert!(toml::from_str::<FileConfig>("public_ip = \"nope\"").is_err());
    }

    #[test]
    fn links_use_the_public_url_or_a_reachable_address() {
        let mut c = config();
        assert_eq!(c.link_base("127.0.0.1:7880".parse().unwrap()), "http://127.0.0.1:7880");
        assert_eq!(c.link_base("0.0.0.0:7880".parse().unwrap()), "http://127.0.0.1:7880");
        c.public_url = Some("https://meet.example.org/".into());
        assert_eq!(c.link_base("0.0.0.0:7880".parse().unwrap()), "https://meet.example.org");
    }

    #[test]
    fn sign_in_is_off_unless_issuer_client_id_and_secret_are_all_set() {
        assert_eq!(sign_in(None, None, None, None).unwrap(), None);
        let file: FileConfig = toml::from_str(
            "[oidc]\nissuer = \"https://idp.example.org\"\nclient_id = \"veil\"\n\
             hosts = [\"alice@example.org\"]\nhost_groups = [\"veil-hosts\"]\n",
        )
        .unwrap();
        let err = sign_in(file.oidc.clone(), None, None, None).unwrap_err().to_string();
        assert!(err.contains("VEIL_OIDC_CLIENT_SECRET") && !err.contains("issuer ("), "{err}");
        let settings = sign_in(file.oidc.clone(), None, None, Some("s".into())).unwrap().unwrap();
        assert_eq!(settings.hosts, ["alice@example.org"]);
        assert_eq!(settings.groups_claim, "groups");
        // Flags and the environment win over the file.
        let settings = sign_in(
            file.oidc,
            Some("http://127.0.0.1:9000".into()),
            Some("other".into()),
            Some("s".into()),
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            (settings.issuer.as_str(), settings.client_id.as_str()),
            ("http://127.0.0.1:9000", "other")
        );
        // Hosts without a provider are a mistake, not "off".
        let hosts = OidcFile { hosts: vec!["a".into()], ..OidcFile::default() };
        assert!(sign_in(Some(hosts), None, None, None).is_err());
    }

    #[test]
    fn sign_in_settings_are_validated_and_unknown_keys_refused() {
        let err = sign_in(
            None,
            Some("http://idp.example.org".into()),
            Some("v".into()),
            Some("s".into()),
        )
        .unwrap_err();
        assert!(format!("{err:#}").contains("https://"), "{err:#}");
        let err = toml::from_str::<FileConfig>("[oidc]\nhost = [\"a\"]").unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
    }

    #[test]
    fn turn_takes_urls_from_flags_and_the_secret_from_the_environment_over_the_file() {
        let file: FileConfig = toml::from_str(
            "[turn]\nurls = [\"turn:a.example.org:3478\"]\nsecret = \"file-secret-0123456789\"\nttl_secs = 600\n",
        )
        .unwrap();
        let from_file = turn(file.turn.clone(), vec![], None).unwrap().unwrap();
        assert_eq!(from_file.urls, ["turn:a.example.org:3478"]);
        assert_eq!(from_file.secret, "file-secret-0123456789");
        assert_eq!(from_file.ttl, Duration::from_secs(600));
        let flags = vec!["turns:b.example.org:443?transport=tcp".to_string()];
        let env = Some("env-secret-0123456789".to_string());
        let merged = turn(file.turn, flags.clone(), env.clone()).unwrap().unwrap();
        assert_eq!((merged.urls, merged.secret), (flags.clone(), env.clone().unwrap()));
        let defaults = turn(None, flags, env).unwrap().unwrap();
        assert_eq!(defaults.ttl, veil_signaling::turn::DEFAULT_TTL);
        assert_eq!(turn(None, vec![], None).unwrap(), None);
    }

    #[test]
    fn turn_without_its_secret_or_with_a_bad_url_is_refused() {
        let urls = vec!["turn:a.example.org:3478".to_string()];
        let err = turn(None, urls.clone(), None).unwrap_err().to_string();
        assert!(err.contains("VEIL_TURN_SECRET"), "{err}");
        let err = turn(None, vec![], Some("a-secret-0123456789".into())).unwrap_err().to_string();
        assert!(err.contains("no TURN server"), "{err}");
        let err = turn(None, vec!["http://a".into()], Some("a-secret-0123456789".into()));
        assert!(err.unwrap_err().to_string().contains("not a turn:"));
        let short = turn(None, urls, Some("short".into())).unwrap_err().to_string();
        assert!(short.contains("shorter than 16"), "{short}");
        assert!(toml::from_str::<FileConfig>("[turn]\nurl = \"turn:x\"\n").is_err());
    }

    #[test]
    fn a_fleet_needs_a_node_id_and_an_address_other_nodes_reach() {
        let http: SocketAddr = "10.0.0.2:7880".parse().unwrap();
        assert!(fleet(None, None, None, http).unwrap().is_none());
        let redis = Some("redis://10.0.0.9:6379/0".to_string());
        let settings = fleet(redis.clone(), Some("node-a".into()), None, http).unwrap().unwrap();
        assert_eq!(settings.node_url, "http://10.0.0.2:7880");
        let err = fleet(redis.clone(), None, None, http).unwrap_err().to_string();
        assert!(err.contains("node_id"), "{err}");
        let wildcard: SocketAddr = "0.0.0.0:7880".parse().unwrap();
        let err =
            fleet(redis.clone(), Some("node-a".into()), None, wildcard).unwrap_err().to_string();
        assert!(err.contains("node_url"), "{err}");
        let explicit = Some("http://10.0.0.2:7880".to_string());
        assert!(fleet(redis.clone(), Some("node-a".into()), explicit, wildcard).unwrap().is_some());
        let err = fleet(redis, Some("a".into()), Some("10.0.0.2:7880".into()), http).unwrap_err();
        assert!(err.to_string().contains("http://"), "{err}");
        let err = fleet(None, Some("node-a".into()), None, http).unwrap_err().to_string();
        assert!(err.contains("redis_url"), "{err}");
    }
}
