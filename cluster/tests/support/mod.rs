//! A real `redis-server` for one test: started on a free loopback port in a temporary folder,
//! with no persistence, and killed when the guard drops, also when the test panics.
//!
//! Each test gets its own server rather than each file one: the tests of a file run at once
//! and would see each other's nodes, and a server kept in a `static` is never dropped, so its
//! process would outlive the test run. A server starts in a few milliseconds.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

const REDIS_SERVER: &str = "/usr/bin/redis-server";
const READY_WITHIN: Duration = Duration::from_secs(10);

pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
}

impl RedisServer {
    pub fn start() -> Self {
        let port = free_port();
        let dir =
            std::env::temp_dir().join(format!("veil-cluster-redis-{}-{port}", std::process::id()));
        fs::create_dir_all(&dir).expect("create the server's folder");
        let mut server = RedisServer { child: None, port, dir };
        server.restart();
        server
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Kills the server, as a crash or a power cut would.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port, empty (no persistence), and waits for PING.
    pub fn restart(&mut self) {
        self.stop();
        self.child = Some(spawn(self.port, &self.dir));
        wait_for_pong(self.port);
    }

    /// Freezes the server (SIGSTOP): it keeps its connections but answers nothing.
    pub fn pause(&self) {
        assert!(self.signal("-STOP"), "SIGSTOP redis-server");
    }

    pub fn resume(&self) {
        assert!(self.signal("-CONT"), "SIGCONT redis-server");
    }

    /// Every key in the server, through a plain client.
    pub fn keys(&self) -> Vec<String> {
        redis::cmd("KEYS").arg("*").query(&mut self.client()).expect("KEYS")
    }

    pub fn client(&self) -> redis::Connection {
        redis::Client::open(self.url()).and_then(|c| c.get_connection()).expect("plain client")
    }

    fn signal(&self, signal: &str) -> bool {
        let Some(child) = &self.child else { return false };
        let status = Command::new("kill").args([signal, &child.id().to_string()]).status();
        status.is_ok_and(|status| status.success())
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// A port the kernel just handed out: free unless another process takes it in the moment
/// before Redis binds it.
fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind a free port");
    listener.local_addr().expect("local address").port()
}

fn spawn(port: u16, dir: &PathBuf) -> Child {
    let log = File::create(dir.join("redis.log")).expect("create the server's log");
    Command::new(REDIS_SERVER)
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .arg("--dir")
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(Stdio::null())
        .spawn()
        .expect("start /usr/bin/redis-server")
}

fn wait_for_pong(port: u16) {
    let deadline = Instant::now() + READY_WITHIN;
    while Instant::now() < deadline {
        if pongs(port) {
            return;
        }
        sleep(Duration::from_millis(10));
    }
    panic!("redis-server on port {port} did not answer PING within {READY_WITHIN:?}");
}

fn pongs(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect((Ipv4Addr::LOCALHOST, port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    let mut reply = [0; 7];
    stream.write_all(b"PING\r\n").is_ok()
        && stream.read_exact(&mut reply).is_ok()
        && &reply == b"+PONG\r\n"
}
