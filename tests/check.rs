//! `veil check` against real parts: a real coturn for the TURN allocation (right and wrong
//! secret, over UDP and TCP), certificates made by openssl, ports held by other programs, and a
//! running `veil serve`.

mod common;

use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SECRET: &str = "check-test-secret-0123456789";

fn scratch(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("veil-check-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `veil check` with `args`: its exit status and its output.
fn check(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_veil"))
        .arg("check")
        .args(args)
        .env("VEIL_LOG", "warn")
        .env_remove("VEIL_CONFIG")
        .output()
        .expect("run veil check");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    eprintln!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    (out.status.code().expect("an exit status"), stdout)
}

/// The lines of `output` for `check` at `level` (`ok`, `warn`, `FAIL`).
fn lines<'a>(output: &'a str, level: &str, check: &str) -> Vec<&'a str> {
    let start = format!("{level:<4}  {check:<12}  ");
    output.lines().filter(|line| line.starts_with(&start)).collect()
}

fn write_config(dir: &Path, body: &str) -> String {
    let path = dir.join("veil.toml");
    std::fs::write(&path, body).unwrap();
    path.to_str().unwrap().to_string()
}

/// A port free for TCP and UDP on loopback right now.
fn free_port() -> u16 {
    loop {
        let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = tcp.local_addr().unwrap().port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// A real coturn with `use-auth-secret`, on loopback; killed on drop.
struct Coturn {
    child: Child,
    port: u16,
}

impl Coturn {
    fn start(dir: &Path) -> Coturn {
        let port = free_port();
        let child = Command::new("turnserver")
            .args(["-n", "--no-cli", "--no-tls", "--no-dtls", "--simple-log"])
            .args(["--log-file=stdout", "--listening-ip=127.0.0.1", "--relay-ip=127.0.0.1"])
            .arg(format!("--listening-port={port}"))
            .args(["--use-auth-secret", &format!("--static-auth-secret={SECRET}")])
            .args(["--realm=veil.test", "--min-port=49152", "--max-port=49407", "--fingerprint"])
            .arg(format!("--pidfile={}", dir.join("turnserver.pid").display()))
            .arg(format!("--userdb={}", dir.join("turndb").display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start turnserver (coturn)");
        let coturn = Coturn { child, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "coturn did not listen on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        coturn
    }
}

impl Drop for Coturn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn turn_config(dir: &Path, port: u16, secret: &str) -> String {
    write_config(
        dir,
        &format!(
            "http = \"127.0.0.1:0\"\nudp = \"127.0.0.1:0\"\n\n[turn]\nurls = [\
             \"turn:127.0.0.1:{port}?transport=udp\", \"turn:127.0.0.1:{port}?transport=tcp\"]\n\
             secret = \"{secret}\"\n"
        ),
    )
}

#[test]
fn turn_allocates_with_coturns_secret_and_is_refused_with_another() {
    let dir = scratch("turn");
    let coturn = Coturn::start(&dir);

    let config = turn_config(&dir, coturn.port, SECRET);
    let (status, out) = check(&["--config", &config]);
    assert_eq!(status, 0, "{out}");
    let ok = lines(&out, "ok", "turn");
    assert_eq!(ok.len(), 2, "{out}");
    for (line, transport) in ok.iter().zip(["udp", "tcp"]) {
        assert!(line.contains(&format!("transport={transport}")), "{line}");
        assert!(line.contains("relayed address 127.0.0.1:"), "{line}");
        assert!(!line.contains("freeing it failed"), "the Refresh to lifetime 0 works: {line}");
        let relayed = line.split("relayed address ").nth(1).unwrap().split(' ').next().unwrap();
        let port = relayed.parse::<SocketAddr>().unwrap().port();
        assert!((49152..=49407).contains(&port), "{line}");
    }

    let config = turn_config(&dir, coturn.port, "not-coturns-secret-0123456789");
    let (status, out) = check(&["--config", &config]);
    assert_eq!(status, 1, "{out}");
    let failed = lines(&out, "FAIL", "turn");
    assert_eq!(failed.len(), 2, "{out}");
    for line in failed {
        assert!(line.contains("coturn refused the credentials"), "{line}");
        assert!(line.contains("static-auth-secret"), "{line}");
    }
}

/// An openssl self-signed P-256 certificate for `cn`, valid a day: (cert, key).
fn openssl_cert(dir: &Path, name: &str, cn: &str) -> (String, String) {
    let (cert, key) = (dir.join(format!("{name}.crt")), dir.join(format!("{name}.key")));
    let out = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"])
        .args(["-nodes", "-subj", &format!("/CN={cn}"), "-days", "1", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("run openssl");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    (cert.to_str().unwrap().into(), key.to_str().unwrap().into())
}

#[test]
fn a_certificate_for_another_name_warns_and_a_foreign_key_fails() {
    let dir = scratch("cert");
    let (cert, key) = openssl_cert(&dir, "other", "other.example");
    let (_, foreign_key) = openssl_cert(&dir, "foreign", "other.example");
    let config = write_config(
        &dir,
        &format!(
            "http = \"127.0.0.1:0\"\nudp = \"127.0.0.1:0\"\npublic_url = \
             \"https://meet.example.org\"\ntls_cert = \"{cert}\"\ntls_key = \"{key}\"\n"
        ),
    );

    let (status, out) = check(&["--config", &config]);
    assert_eq!(status, 0, "warnings only: {out}");
    let name = lines(&out, "warn", "cert name");
    assert_eq!(name.len(), 1, "{out}");
    assert!(name[0].contains("does not name meet.example.org"), "{out}");
    assert!(name[0].contains("other.example"), "{out}");
    let validity = lines(&out, "warn", "certificate");
    assert_eq!(validity.len(), 1, "{out}");
    assert!(validity[0].contains("the key matches"), "{out}");
    assert!(validity[0].contains("renew it now") && validity[0].contains("self-signed"), "{out}");

    // The flag wins over the file, as for `veil serve`.
    let (status, out) = check(&["--config", &config, "--tls-key", &foreign_key]);
    assert_eq!(status, 1, "{out}");
    let failed = lines(&out, "FAIL", "certificate");
    assert_eq!(failed.len(), 1, "{out}");
    assert!(failed[0].contains("the key is not the certificate's"), "{out}");
}

#[test]
fn ports_held_by_other_programs_fail() {
    let dir = scratch("ports");
    // Something that is not veil: it accepts and hangs up at once, answering no /healthz.
    let http = TcpListener::bind("127.0.0.1:0").unwrap();
    let http_addr = http.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in http.incoming() {
            drop(stream);
        }
    });
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let config = write_config(
        &dir,
        &format!("http = \"{http_addr}\"\nudp = \"{}\"\n", udp.local_addr().unwrap()),
    );

    let (status, out) = check(&["--config", &config]);
    assert_eq!(status, 1, "{out}");
    let http_line = lines(&out, "FAIL", "port http");
    assert_eq!(http_line.len(), 1, "{out}");
    assert!(http_line[0].contains("in use by something that is not veil"), "{out}");
    let udp_line = lines(&out, "FAIL", "port udp");
    assert_eq!(udp_line.len(), 1, "{out}");
    assert!(udp_line[0].contains("in use by another program"), "{out}");
    assert!(lines(&out, "ok", "node").is_empty(), "{out}");
}

#[test]
fn a_running_node_is_told_apart_and_reached_through_its_url() {
    let server = common::Server::start();
    let (http, udp) = (server.http.to_string(), server.udp.to_string());
    let url = format!("http://{http}/");
    let (status, out) = check(&["--http", &http, "--udp", &udp, "--url", &url]);
    assert_eq!(status, 0, "{out}");
    let port = lines(&out, "warn", "port http");
    assert_eq!(port.len(), 1, "{out}");
    assert!(port[0].contains("is veil already running?"), "{out}");
    assert_eq!(lines(&out, "ok", "node").len(), 1, "{out}");
    assert_eq!(lines(&out, "warn", "port udp").len(), 1, "{out}");
    let reached = lines(&out, "ok", "url");
    assert_eq!(reached.len(), 1, "{out}");
    assert!(reached[0].contains(&format!("GET http://{http}/healthz answered ok")), "{out}");

    drop(server);
    let (status, out) = check(&["--http", &http, "--udp", &udp, "--url", &url]);
    assert_eq!(status, 1, "{out}");
    assert_eq!(lines(&out, "ok", "port http").len(), 1, "{out}");
    assert!(lines(&out, "FAIL", "url")[0].contains("cannot connect"), "{out}");
}
