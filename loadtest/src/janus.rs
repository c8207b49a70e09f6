//! Janus (Debian's `janus`, VideoRoom plugin) as a second same-run baseline: a widely deployed
//! SFU carrying the same workload as Veil, driven through its own API
//! ([`crate::participant::janus`]).
//!
//! Janus never gathers loopback ICE candidates, and a benchmark may only send to addresses it
//! made itself, so Janus runs in a network namespace this harness creates ([`Netns`]): a veth
//! pair with 10.77.X.1/30 on the host side (where the participants bind their media sockets)
//! and 10.77.X.2/30 inside, where Janus gathers its only candidates and serves its WebSocket
//! API. Deleting the namespace deletes the pair.
//!
//! Janus (libnice) never sizes its sockets, so they get the kernel's defaults
//! (`net.core.rmem_default`, `wmem_default`: 208 KiB here), while Veil's shell asks for 4 MiB
//! with `SO_RCVBUF`/`SO_SNDBUF`. With the defaults, an unpaced keyframe burst (a screen-share
//! keyframe is about 140 packets) overflows Janus's receive buffer; the publisher's
//! retransmissions then reach a subscriber that started meanwhile as packets older than its
//! first, which moves Janus's outgoing SRTP rollover counter ahead of the subscriber's and
//! leaves the stream undecryptable. Janus deployments raise those defaults, so while Janus runs
//! the harness sets them to what Veil's socket gets ([`SocketDefaults`]) and restores them
//! after; the participants size their own sockets (`participant::link::SOCKET_BUFFER_BYTES`),
//! so the generator is the same in every run. The originals are saved to a file first, so a run that dies before
//! restoring them is undone by the next one, which also deletes the namespaces (and ends the
//! Janus processes) of harness runs that are gone.
//!
//! The configuration is a copy of /etc/janus in a temporary directory with the three files that
//! matter rewritten: janus.jcfg (every plugin but the VideoRoom, every transport but
//! WebSockets, every logger and event handler disabled; no STUN/TURN, no mDNS, ICE only on
//! the namespace's veth; errors-only logging), the WebSocket transport bound to the namespace
//! address with the admin API off, and a VideoRoom configuration with no rooms (the harness
//! creates one per run). Everything else is Janus's default, including one event-loop thread
//! per PeerConnection.

use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Port of Janus's WebSocket API inside the namespace (its default).
pub const API_PORT: u16 = 8188;
/// Janus's log level: 2 = errors and fatal only, so logging costs nothing per packet.
/// `VEIL_LOADTEST_JANUS_DEBUG=N` overrides it (and passes Janus's whole log on) to debug a run.
const DEBUG_LEVEL: u8 = 2;
/// How long Janus may take to open its API port.
const START_TIMEOUT: Duration = Duration::from_secs(20);
const FALLBACK_LIB: &str = "/usr/lib/x86_64-linux-gnu/janus";

/// What Veil's shell asks for its socket's buffers.
const VEIL_SOCKET_BUFFER: u64 = veil_sfu::udp::SOCKET_BUFFER_BYTES as u64;
const RMEM_DEFAULT: &str = "/proc/sys/net/core/rmem_default";
const WMEM_DEFAULT: &str = "/proc/sys/net/core/wmem_default";
const RMEM_MAX: &str = "/proc/sys/net/core/rmem_max";
const WMEM_MAX: &str = "/proc/sys/net/core/wmem_max";
/// Prefix of the namespaces this harness creates; the harness's pid follows.
const NETNS_PREFIX: &str = "veil-bench-";

/// Where the participants reach a Janus started by [`start`].
#[derive(Debug, Clone, Copy)]
pub struct Endpoint {
    /// The WebSocket API (subprotocol `janus-protocol`).
    pub api: SocketAddr,
    /// The host side of the veth pair: the address participants bind their media sockets to.
    pub client_ip: IpAddr,
}

/// What Janus needs around it while it runs: its namespace and the raised socket defaults.
/// Dropping it undoes both; drop it only after Janus has exited.
pub struct Environment {
    _netns: Netns,
    _buffers: SocketDefaults,
}

/// A started Janus: the process, its environment and its configuration directory.
pub struct Started {
    pub child: Child,
    pub endpoint: Endpoint,
    pub environment: Environment,
    pub conf_dir: PathBuf,
}

/// The `janus` executable on the PATH, if installed (`scripts/setup-janus.sh`).
pub fn executable() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join("janus")).find(|p| p.is_file())
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run `ip`: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        Err(format!("`ip {}` failed: {}", args.join(" "), err.trim()))
    }
}

/// A network namespace with a veth pair to the root namespace; deleted when dropped.
pub struct Netns {
    pub name: String,
    /// The veth end inside the namespace: Janus's `ice_enforce_list`.
    pub inner_if: String,
    host_if: String,
    pub host_ip: Ipv4Addr,
    pub inner_ip: Ipv4Addr,
}

impl Netns {
    /// Creates `veil-bench-<pid>`, first removing any left by harness runs that are gone.
    pub fn create() -> Result<Netns, String> {
        let pid = std::process::id();
        remove_stale(pid);
        let name = format!("{NETNS_PREFIX}{pid}");
        let (host_if, inner_if) = (format!("vb{pid}h"), format!("vb{pid}n"));
        let x = free_subnet(pid)?;
        ip(&["netns", "add", &name]).map_err(|e| format!("{e} (Janus's namespace needs root)"))?;
        let ns = Netns {
            name,
            inner_if,
            host_if,
            host_ip: Ipv4Addr::new(10, 77, x, 1),
            inner_ip: Ipv4Addr::new(10, 77, x, 2),
        };
        ns.wire()?;
        Ok(ns)
    }

    fn wire(&self) -> Result<(), String> {
        let (n, h, i) = (self.name.as_str(), self.host_if.as_str(), self.inner_if.as_str());
        let (host, inner) = (format!("{}/30", self.host_ip), format!("{}/30", self.inner_ip));
        ip(&["link", "add", h, "type", "veth", "peer", "name", i, "netns", n])?;
        ip(&["addr", "add", &host, "dev", h])?;
        ip(&["link", "set", h, "up"])?;
        ip(&["-n", n, "addr", "add", &inner, "dev", i])?;
        ip(&["-n", n, "link", "set", i, "up"])?;
        ip(&["-n", n, "link", "set", "lo", "up"])
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Deleting the namespace deletes the veth pair; the second call covers a pair whose
        // inner end never made it into the namespace.
        let _ = ip(&["netns", "del", &self.name]);
        let _ = ip(&["link", "del", &self.host_if]);
    }
}

/// Deletes our own stale namespace and those of harness runs no longer running, ending the
/// processes (a Janus) still inside them first: a namespace outlives `ip netns del` while a
/// process is in it.
fn remove_stale(own: u32) {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else { return };
    let listing = String::from_utf8_lossy(&out.stdout).into_owned();
    for name in listing.lines().filter_map(|l| l.split_whitespace().next()) {
        let Some(pid) = name.strip_prefix(NETNS_PREFIX).and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if pid != own && Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        if let Ok(pids) = Command::new("ip").args(["netns", "pids", name]).output() {
            for inside in String::from_utf8_lossy(&pids.stdout).split_whitespace() {
                let _ = Command::new("kill").args(["-KILL", inside]).status();
            }
        }
        let _ = ip(&["netns", "del", name]);
        let _ = ip(&["link", "del", &format!("vb{pid}h")]);
    }
}

/// A third octet X whose 10.77.X.0/30 no interface in the root namespace uses yet.
fn free_subnet(pid: u32) -> Result<u8, String> {
    let out = Command::new("ip")
        .args(["-o", "-4", "addr", "show"])
        .output()
        .map_err(|e| format!("cannot run `ip`: {e}"))?;
    let used = String::from_utf8_lossy(&out.stdout).into_owned();
    (0..=255u32)
        .map(|i| ((pid + i) % 256) as u8)
        .find(|x| {
            !used.contains(&format!("10.77.{x}.1/")) && !used.contains(&format!("10.77.{x}.2/"))
        })
        .ok_or_else(|| "no free 10.77.X.0/30 subnet".to_string())
}

fn read_number(path: &str) -> Result<u64, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    text.trim().parse().map_err(|e| format!("{path}: {e}"))
}

fn write_number(path: &str, value: u64) -> Result<(), String> {
    std::fs::write(path, value.to_string()).map_err(|e| format!("{path}: {e}"))
}

/// The kernel's default socket buffer sizes, raised while Janus runs (see the module docs).
pub struct SocketDefaults {
    /// `rmem_default` and `wmem_default` before.
    original: (u64, u64),
}

impl SocketDefaults {
    /// Where the originals wait until restored.
    fn saved() -> PathBuf {
        std::env::temp_dir().join("veil-loadtest-janus-socket-defaults")
    }

    /// Restores defaults a run that died left raised.
    fn restore_saved() {
        let Ok(text) = std::fs::read_to_string(Self::saved()) else { return };
        let mut values = text.split_whitespace().filter_map(|v| v.parse::<u64>().ok());
        if let (Some(rmem), Some(wmem)) = (values.next(), values.next()) {
            let _ = write_number(RMEM_DEFAULT, rmem);
            let _ = write_number(WMEM_DEFAULT, wmem);
        }
        let _ = std::fs::remove_file(Self::saved());
    }

    /// Sets both defaults to the buffer Veil's socket gets: what it asks for, capped at the
    /// maximum, doubled (the kernel doubles `SO_RCVBUF`/`SO_SNDBUF` requests).
    fn raise() -> Result<SocketDefaults, String> {
        Self::restore_saved();
        let original = (read_number(RMEM_DEFAULT)?, read_number(WMEM_DEFAULT)?);
        let (rmem_max, wmem_max) = (read_number(RMEM_MAX)?, read_number(WMEM_MAX)?);
        std::fs::write(Self::saved(), format!("{} {}", original.0, original.1))
            .map_err(|e| format!("saving the socket defaults: {e}"))?;
        let defaults = SocketDefaults { original };
        write_number(RMEM_DEFAULT, 2 * VEIL_SOCKET_BUFFER.min(rmem_max))?;
        write_number(WMEM_DEFAULT, 2 * VEIL_SOCKET_BUFFER.min(wmem_max))?;
        Ok(defaults)
    }
}

impl Drop for SocketDefaults {
    fn drop(&mut self) {
        let _ = write_number(RMEM_DEFAULT, self.original.0);
        let _ = write_number(WMEM_DEFAULT, self.original.1);
        let _ = std::fs::remove_file(Self::saved());
    }
}

/// The quoted value of `key = "..."` in a jcfg file, if set (not commented out).
fn setting(jcfg: &str, key: &str) -> Option<String> {
    jcfg.lines()
        .map(str::trim)
        .filter(|l| l.starts_with(key))
        .find_map(|l| l.split('"').nth(1))
        .map(str::to_string)
}

/// Every module in `folder` except `keep`, as a jcfg `disable` list.
fn all_but(folder: &str, keep: &str) -> String {
    let mut names: Vec<String> = std::fs::read_dir(folder)
        .map(|dir| {
            dir.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".so") && n != keep)
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names.join(",")
}

/// Copies /etc/janus to `dir` and rewrites the files that matter (see the module docs).
fn write_config(dir: &Path, ns: &Netns) -> Result<(), String> {
    let io = |e: std::io::Error| format!("Janus configuration in {}: {e}", dir.display());
    std::fs::create_dir_all(dir).map_err(io)?;
    let system = Path::new("/etc/janus");
    for entry in std::fs::read_dir(system).map_err(io)?.flatten() {
        if entry.path().is_file() {
            std::fs::copy(entry.path(), dir.join(entry.file_name())).map_err(io)?;
        }
    }
    let original = std::fs::read_to_string(system.join("janus.jcfg")).unwrap_or_default();
    let folder = |key: &str, sub: &str| {
        setting(&original, key).unwrap_or_else(|| format!("{FALLBACK_LIB}/{sub}"))
    };
    let (plugins, transports) =
        (folder("plugins_folder", "plugins"), folder("transports_folder", "transports"));
    let (events, loggers) =
        (folder("events_folder", "events"), folder("loggers_folder", "loggers"));
    let main = format!(
        r#"general: {{
	configs_folder = "{conf}"
	plugins_folder = "{plugins}"
	transports_folder = "{transports}"
	events_folder = "{events}"
	loggers_folder = "{loggers}"
	debug_level = {debug_level}
	session_timeout = 60
}}
certificates: {{
}}
media: {{
}}
nat: {{
	nice_debug = false
	ignore_mdns = true
	ice_enforce_list = "{iface}"
}}
plugins: {{
	disable = "{no_plugins}"
}}
transports: {{
	disable = "{no_transports}"
}}
loggers: {{
	disable = "{no_loggers}"
}}
events: {{
	broadcast = false
	disable = "{no_events}"
}}
"#,
        conf = dir.display(),
        debug_level = debug_level(),
        iface = ns.inner_if,
        no_plugins = all_but(&plugins, "libjanus_videoroom.so"),
        no_transports = all_but(&transports, "libjanus_websockets.so"),
        no_loggers = all_but(&loggers, ""),
        no_events = all_but(&events, ""),
    );
    let websockets = format!(
        r#"general: {{
	json = "compact"
	ws = true
	ws_port = {API_PORT}
	ws_ip = "{ip}"
	wss = false
}}
admin: {{
	admin_ws = false
	admin_wss = false
}}
"#,
        ip = ns.inner_ip,
    );
    let files = [
        ("janus.jcfg", main),
        ("janus.transport.websockets.jcfg", websockets),
        ("janus.plugin.videoroom.jcfg", "general: {\n}\n".to_string()),
    ];
    for (name, text) in files {
        std::fs::write(dir.join(name), text).map_err(io)?;
    }
    Ok(())
}

/// Starts Janus in a fresh namespace, optionally on CPU `cpu`; returns once its API port
/// accepts connections and the process to measure is Janus itself.
pub fn start(cpu: Option<usize>) -> Result<Started, String> {
    let janus = executable().ok_or("janus is not installed (scripts/setup-janus.sh)")?;
    let netns = Netns::create()?;
    let buffers = SocketDefaults::raise()?;
    let conf_dir = std::env::temp_dir().join(format!("veil-loadtest-janus-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&conf_dir);
    let started =
        write_config(&conf_dir, &netns).and_then(|()| spawn(&janus, &netns, &conf_dir, cpu));
    let child = match started {
        Ok(child) => child,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&conf_dir);
            return Err(e);
        }
    };
    let endpoint = Endpoint {
        api: SocketAddr::new(netns.inner_ip.into(), API_PORT),
        client_ip: netns.host_ip.into(),
    };
    let environment = Environment { _netns: netns, _buffers: buffers };
    let mut started = Started { child, endpoint, environment, conf_dir };
    if let Err(e) = wait_ready(&mut started) {
        let _ = started.child.kill();
        let _ = started.child.wait();
        let _ = std::fs::remove_dir_all(&started.conf_dir);
        return Err(e);
    }
    Ok(started)
}

/// `ip netns exec NS [taskset -c CPU] janus …`: both wrappers exec in place, so the child's
/// pid is Janus's own ([`wait_ready`] checks).
fn spawn(janus: &Path, ns: &Netns, conf: &Path, cpu: Option<usize>) -> Result<Child, String> {
    let mut command = Command::new("ip");
    command.args(["netns", "exec", &ns.name]);
    if let Some(cpu) = cpu {
        command.args(["taskset", "-c", &cpu.to_string()]);
    }
    let mut child = command
        .arg(janus)
        .arg("-F")
        .arg(conf)
        .arg("-C")
        .arg(conf.join("janus.jcfg"))
        .arg("-o")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start Janus: {e}"))?;
    if let Some(stdout) = child.stdout.take() {
        std::thread::spawn(move || pass_errors(stdout));
    }
    Ok(child)
}

fn debug_level() -> u8 {
    let set = std::env::var("VEIL_LOADTEST_JANUS_DEBUG").ok().and_then(|v| v.parse().ok());
    set.unwrap_or(DEBUG_LEVEL)
}

/// Janus logs to stdout, banner and all, whatever its level: pass on only its errors, unless
/// a higher level was asked for.
fn pass_errors(stdout: std::process::ChildStdout) {
    let all = debug_level() > DEBUG_LEVEL;
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        if all || line.contains("[ERR]") || line.contains("[FATAL]") {
            eprintln!("janus: {line}");
        }
    }
}

fn wait_ready(s: &mut Started) -> Result<(), String> {
    let deadline = Instant::now() + START_TIMEOUT;
    let pid = s.child.id();
    loop {
        if let Ok(Some(status)) = s.child.try_wait() {
            return Err(format!("Janus exited during startup ({status})"));
        }
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        let is_janus = comm.trim() == "janus";
        if is_janus && api_answers(s.endpoint.api) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(if is_janus {
                format!("Janus did not open {} within {START_TIMEOUT:?}", s.endpoint.api)
            } else {
                format!(
                    "process {pid} is {:?}, not janus: its CPU would not be Janus's",
                    comm.trim()
                )
            });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether Janus's API port accepts connections.
fn api_answers(api: SocketAddr) -> bool {
    TcpStream::connect_timeout(&api, Duration::from_millis(200)).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_read_from_uncommented_lines_only() {
        let jcfg = "general: {\n\t#plugins_folder = \"/old\"\n\tplugins_folder = \"/usr/lib/janus/plugins\"\t\t# Plugins\n}\n";
        assert_eq!(setting(jcfg, "plugins_folder").as_deref(), Some("/usr/lib/janus/plugins"));
        assert_eq!(setting(jcfg, "events_folder"), None);
    }
}
