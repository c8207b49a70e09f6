//! The packaged deployment in `deploy/` against the `veil` it packages: the example config
//! names every setting `veil serve` accepts and starts a node with them in effect, the systemd
//! unit passes `systemd-analyze verify`, and the compose files hang together (their veil.toml
//! starts a node too). Nothing here runs a container: there is no container runtime in the
//! test environment.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(relative: &str) -> String {
    let path = repo().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn scratch(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("veil-deploy-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `veil` with none of the `VEIL_*` variables of whoever runs the tests.
fn veil() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_veil"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("VEIL_") {
            command.env_remove(name);
        }
    }
    command.env("RUST_BACKTRACE", "0").env("RUST_LIB_BACKTRACE", "0").env("NO_COLOR", "1");
    command
}

/// The keys `veil serve` accepts at the top of its config file (`header` None) or in the table
/// `header` names (`"[oidc]"`, `"[[webhooks]]"`), asked of the binary: it refuses unknown keys
/// and its error lists the ones it knows ("unknown field `x`, expected one of `a`, `b`" or
/// "expected `a` or `b`").
fn accepted_keys(header: Option<&str>) -> BTreeSet<String> {
    let dir = scratch(&format!("keys-{}", header.unwrap_or("top").replace(['[', ']'], "")));
    let probe = dir.join("probe.toml");
    let header = header.map(|h| format!("{h}\n")).unwrap_or_default();
    std::fs::write(&probe, format!("{header}zz_not_a_setting = 1\n")).unwrap();
    let out = veil().arg("serve").arg("--config").arg(&probe).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "veil accepted an unknown key:\n{stderr}");
    let line = stderr
        .lines()
        .find(|line| line.contains("unknown field `zz_not_a_setting`"))
        .unwrap_or_else(|| panic!("no list of known keys in veil's error:\n{stderr}"));
    let expected = line.split_once("expected").expect("the error lists the expected keys").1;
    let keys: BTreeSet<String> = expected.split('`').skip(1).step_by(2).map(String::from).collect();
    assert!(!keys.is_empty(), "no keys in {line:?}");
    let _ = std::fs::remove_dir_all(&dir);
    keys
}

fn keys_of(table: &toml::Table) -> BTreeSet<String> {
    table.keys().cloned().collect()
}

#[test]
fn the_example_config_names_every_setting() {
    let text = read("deploy/veil.example.toml");
    let example: toml::Table = text.parse().expect("deploy/veil.example.toml is TOML");

    let top = accepted_keys(None);
    assert_eq!(keys_of(&example), top, "top-level keys of the example vs. what veil accepts");
    for key in &top {
        match &example[key] {
            toml::Value::Table(table) => {
                let accepted = accepted_keys(Some(&format!("[{key}]")));
                assert_eq!(keys_of(table), accepted, "[{key}] in the example vs. veil");
            }
            toml::Value::Array(tables) => {
                let accepted = accepted_keys(Some(&format!("[[{key}]]")));
                for table in tables {
                    let table = table.as_table().expect("an array of tables");
                    assert_eq!(keys_of(table), accepted, "[[{key}]] in the example vs. veil");
                }
            }
            _ => {}
        }
    }

    // Every key and table has a comment right above it saying what it is.
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        assert!(
            i > 0 && lines[i - 1].trim().starts_with('#'),
            "no comment above `{line}` in deploy/veil.example.toml"
        );
    }
}

/// A free TCP port on loopback (free when this returns; the node binds it right after).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A self-signed certificate for localhost and its key, PEM, in `dir`.
fn self_signed(dir: &Path) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let out = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"])
        .args(["-nodes", "-subj", "/CN=localhost", "-days", "1", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("run openssl");
    assert!(out.status.success(), "openssl: {}", String::from_utf8_lossy(&out.stderr));
    (cert, key)
}

/// Answers OpenID discovery (and the key set it points at) on loopback, so a config's `[oidc]`
/// table can be used as it is with only the issuer moved here: there is no network.
fn fake_openid_provider() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let discovery = serde_json::json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": format!("{issuer}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "email", "groups"],
    })
    .to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = Vec::new();
            let mut buf = [0; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let request = String::from_utf8_lossy(&request);
            let body = if request.starts_with("GET /jwks ") {
                r#"{"keys":[]}"#.to_string()
            } else {
                discovery.clone()
            };
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
                 connection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    issuer
}

/// A deployment's config made runnable here, every other setting left as it is: addresses on
/// loopback (HTTP on the returned free port, the rest on port 0), data and assets in `dir`,
/// a fresh self-signed certificate if the config has one, the OpenID issuer on loopback. The
/// public URL goes, so that the ready line shows what veil itself serves (http or https).
fn runnable_here(config: &toml::Table, dir: &Path) -> (toml::Table, u16) {
    let mut config = config.clone();
    let port = free_port();
    let mut set = |key: &str, value: toml::Value| {
        assert!(config.contains_key(key), "the config has no {key}");
        config.insert(key.to_string(), value);
    };
    let path = |p: PathBuf| toml::Value::String(p.to_string_lossy().into_owned());
    set("http", format!("127.0.0.1:{port}").into());
    set("udp", "127.0.0.1:0".into());
    set("public_ip", "127.0.0.1".into());
    set("data_dir", path(dir.join("data")));
    set("assets_dir", path(dir.join("assets")));
    for key in ["tcp", "metrics_http"] {
        if config.contains_key(key) {
            config.insert(key.into(), "127.0.0.1:0".into());
        }
    }
    if config.contains_key("tls_cert") {
        let (cert, key) = self_signed(dir);
        config.insert("tls_cert".into(), path(cert));
        config.insert("tls_key".into(), path(key));
    }
    if let Some(oidc) = config.get_mut("oidc").and_then(toml::Value::as_table_mut) {
        oidc.insert("issuer".into(), fake_openid_provider().into());
    }
    config.remove("public_url");
    (config, port)
}

/// A real redis-server on a free loopback port, keeping nothing on disk; killed on drop.
struct RedisServer {
    child: Child,
    port: u16,
}

impl RedisServer {
    fn start(dir: &Path) -> Self {
        let port = free_port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", ""])
            .args(["--appendonly", "no", "--dir"])
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("run redis-server (scripts/setup.sh test installs it)");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(10), "redis-server did not listen");
            std::thread::sleep(Duration::from_millis(20));
        }
        RedisServer { child, port }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running `veil serve`: its stdout and stderr, line by line.
struct Node {
    child: Child,
    stdout: Receiver<String>,
    stderr: Receiver<String>,
    log: Vec<String>,
}

impl Node {
    fn start(config: &toml::Table, dir: &Path) -> Node {
        let file = dir.join("veil.toml");
        std::fs::write(&file, toml::to_string(config).unwrap()).unwrap();
        let mut child = veil()
            .arg("serve")
            .arg("--config")
            .arg(&file)
            .env("VEIL_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run veil serve");
        let lines = |pipe: Box<dyn Read + Send>| {
            let (tx, rx) = mpsc::channel();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    let _ = tx.send(line);
                }
            });
            rx
        };
        let stdout = lines(Box::new(child.stdout.take().unwrap()));
        let stderr = lines(Box::new(child.stderr.take().unwrap()));
        Node { child, stdout, stderr, log: Vec::new() }
    }

    /// The next line on stdout, or a panic with the log.
    fn stdout_line(&mut self) -> String {
        match self.stdout.recv_timeout(Duration::from_secs(60)) {
            Ok(line) => line,
            Err(_) => self.fail("no line on stdout"),
        }
    }

    /// Waits for a log line containing `text`.
    fn await_log(&mut self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(line) = self.stderr.recv_timeout(Duration::from_millis(100)) {
                let found = line.contains(text);
                self.log.push(line);
                if found {
                    return;
                }
            }
        }
        self.fail(&format!("no {text:?} in the log"));
    }

    fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success(), "kill -{name}");
    }

    /// SIGINT, the stop signal of the systemd unit and the container: veil must be gone
    /// within 10 s.
    fn stop(mut self) {
        self.signal("INT");
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.running() {
            if Instant::now() > deadline {
                self.fail("still running 10 s after SIGINT");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn fail(&mut self, why: &str) -> ! {
        let _ = self.child.kill();
        let _ = self.child.wait();
        while let Ok(line) = self.stderr.recv_timeout(Duration::from_secs(1)) {
            self.log.push(line);
        }
        panic!("veil serve: {why}; its log:\n{}", self.log.join("\n"));
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP request over TLS with `openssl s_client` (it does not check the self-signed
/// certificate): the response's head, lowercased.
fn https_head(port: u16) -> String {
    let mut client = Command::new("openssl")
        .args(["s_client", "-quiet", "-connect", &format!("127.0.0.1:{port}")])
        .args(["-servername", "localhost"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run openssl s_client");
    let request = "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    client.stdin.take().unwrap().write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    let _ = client.stdout.take().unwrap().read_to_string(&mut response);
    let _ = client.wait();
    let head = response.split("\r\n\r\n").next().unwrap_or_default();
    head.to_ascii_lowercase()
}

/// `veil serve --config` with the example, made runnable here: it starts, and what the example
/// sets is in effect: HTTPS with its certificate (reloaded on SIGHUP, which the systemd unit's
/// ExecReload sends, without stopping), ICE-TCP, sign-in.
#[test]
fn the_example_config_starts_a_node() {
    let dir = scratch("example");
    let example: toml::Table = read("deploy/veil.example.toml").parse().unwrap();
    let (mut config, port) = runnable_here(&example, &dir);
    // The fleet's Redis: a real one on loopback, reached by this node as the example says.
    let redis = RedisServer::start(&dir);
    config.insert("redis_url".into(), redis.url().into());
    config.insert("node_url".into(), format!("http://127.0.0.1:{port}").into());
    let mut node = Node::start(&config, &dir);

    let ready = node.stdout_line();
    let want = format!("veil ready: https://127.0.0.1:{port} (media udp 127.0.0.1:");
    assert!(ready.starts_with(&want), "{ready}");
    let tcp = node.stdout_line();
    assert!(tcp.starts_with("media tcp: 127.0.0.1:"), "{tcp}");
    node.await_log("sign-in through the OpenID provider is on");
    node.await_log("sharing rooms with the fleet in Redis");

    let head = https_head(port);
    assert!(head.starts_with("http/1.1 "), "no HTTP answer over TLS: {head:?}");
    assert!(head.contains("\r\nstrict-transport-security: "), "{head}");

    node.signal("HUP");
    node.await_log("TLS certificate reloaded (SIGHUP)");
    assert!(node.running(), "SIGHUP ended veil");

    node.stop();
    let data = dir.join("data");
    assert!(data.join("api_secret").exists() && data.join("admin_key").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_systemd_unit_verifies() {
    let unit = read("deploy/systemd/veil.service");
    let exec_start = "ExecStart=/usr/local/bin/veil serve --config %d/veil.toml";
    for setting in [
        exec_start,
        "LoadCredential=veil.toml:/etc/veil/veil.toml",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "KillSignal=SIGINT",
        "DynamicUser=yes",
        "StateDirectory=veil",
        "Environment=VEIL_DATA_DIR=%S/veil",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "CapabilityBoundingSet=CAP_NET_BIND_SERVICE",
        "Restart=on-failure",
    ] {
        assert!(unit.lines().any(|line| line == setting), "the unit lacks {setting}");
    }
    // `systemd-analyze verify` fails a unit whose ExecStart binary does not exist, and
    // /usr/local/bin/veil is not installed here: check a copy that runs the veil just built.
    // (LoadCredential's source need not exist for verify.)
    let dir = scratch("systemd");
    let copy = dir.join("veil.service");
    let built = format!("ExecStart={} serve --config %d/veil.toml", env!("CARGO_BIN_EXE_veil"));
    std::fs::write(&copy, unit.replace(exec_start, &built)).unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&copy)
        .output()
        .expect("run systemd-analyze (scripts/setup.sh test installs systemd)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "systemd-analyze verify failed:\n{stderr}");
    // Unknown or misspelt settings are only warnings ("Unknown key name …, ignoring").
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.contains("veil.service")).collect();
    assert!(warnings.is_empty(), "systemd-analyze verify warns:\n{}", warnings.join("\n"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// The services of a compose file, by its layout (no YAML parser here): the names indented by
/// two spaces under the top-level `services:`, each with the lines indented deeper below it.
fn compose_services(yaml: &str) -> Vec<(String, Vec<String>)> {
    assert!(!yaml.contains('\t'), "tabs in compose.yaml");
    let mut services: Vec<(String, Vec<String>)> = Vec::new();
    let mut in_services = false;
    for line in yaml.lines() {
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        if !line.starts_with(' ') {
            in_services = line == "services:";
            continue;
        }
        if !in_services {
            continue;
        }
        if let Some(name) = line.strip_prefix("  ").and_then(|l| l.strip_suffix(':'))
            && !name.starts_with(' ')
        {
            services.push((name.to_string(), Vec::new()));
        } else {
            assert!(line.starts_with("    "), "compose.yaml: unexpected line {line:?}");
            services.last_mut().expect("a line before the first service").1.push(line.into());
        }
    }
    services
}

/// compose.yaml starts veil, coturn, redis and prometheus on a plain `up`; the veil.toml it
/// mounts starts a node; veil, coturn and prometheus agree on the secret and the addresses.
#[test]
fn the_compose_files_fit_together() {
    let yaml = read("deploy/compose/compose.yaml");
    let services = compose_services(&yaml);
    let names: BTreeSet<&str> = services.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names, BTreeSet::from(["coturn", "prometheus", "redis", "veil"]));
    for (name, lines) in &services {
        let has = |key: &str| lines.iter().any(|l| l.trim_start().starts_with(key));
        assert!(has("image:") || has("build:"), "service {name} has no image");
        assert!(!has("profiles:"), "service {name} only starts with a profile");
    }
    let veil_service = &services.iter().find(|(name, _)| name == "veil").unwrap().1;
    assert!(veil_service.iter().any(|l| l.contains("veil serve --config /etc/veil/veil.toml")));
    let mount = |target: &str| {
        veil_service.iter().find_map(|l| {
            let (source, rest) = l.trim().strip_prefix("- ./")?.split_once(':')?;
            rest.strip_prefix(target).filter(|r| r.is_empty() || r.starts_with(':'))?;
            Some(source.to_string())
        })
    };
    let source = mount("/etc/veil/veil.toml").expect("compose.yaml mounts a veil.toml");
    let config: toml::Table = read(&format!("deploy/compose/{source}")).parse().unwrap();
    for key in ["tls_cert", "tls_key"] {
        let path = Path::new(config[key].as_str().unwrap());
        let dir = path.parent().unwrap().to_str().unwrap();
        assert!(mount(dir).is_some(), "{key} is in {dir}, which compose.yaml does not mount");
    }

    let dir = scratch("compose");
    let (runnable, port) = runnable_here(&config, &dir);
    let mut node = Node::start(&runnable, &dir);
    let ready = node.stdout_line();
    assert!(ready.starts_with(&format!("veil ready: https://127.0.0.1:{port} ")), "{ready}");
    node.stop();
    let _ = std::fs::remove_dir_all(&dir);

    // Prometheus (deploy/prometheus/prometheus.yml) scrapes where veil serves metrics.
    let metrics = config["metrics_http"].as_str().unwrap();
    let prometheus = read("deploy/prometheus/prometheus.yml");
    assert!(
        prometheus.contains(&format!("'{metrics}'")),
        "prometheus.yml does not scrape {metrics}"
    );

    // turnserver.conf: `option` or `option=value` lines, with the settings the docs promise.
    let turn = read("deploy/compose/turnserver.conf");
    let options: Vec<&str> =
        turn.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).collect();
    for line in &options {
        let name = line.split('=').next().unwrap();
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_'),
            "turnserver.conf: not an option line: {line}"
        );
    }
    for wanted in [
        "listening-port=3478",
        "tls-listening-port=5349",
        "use-auth-secret",
        "no-cli",
        "no-multicast-peers",
        "denied-peer-ip=10.0.0.0-10.255.255.255",
        "denied-peer-ip=127.0.0.0-127.255.255.255",
    ] {
        assert!(options.contains(&wanted), "turnserver.conf lacks {wanted}");
    }
    for prefix in ["realm=", "min-port=", "max-port=", "cert=", "pkey="] {
        assert!(options.iter().any(|l| l.starts_with(prefix)), "turnserver.conf lacks {prefix}");
    }
    // One TURN secret: coturn's static-auth-secret is veil's [turn] secret.
    let secret = options.iter().find_map(|l| l.strip_prefix("static-auth-secret="));
    if let Some(turn) = config.get("turn") {
        assert_eq!(turn["secret"].as_str(), secret, "[turn] secret vs. static-auth-secret");
    }
}
