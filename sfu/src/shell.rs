//! The tokio shell around the [`Engine`]: one UDP socket, one timer, one command channel.
//!
//! The engine runs on its own thread with a single-threaded runtime, so media never queues
//! behind HTTP work and the packet path takes no lock. Signaling reaches it through
//! [`SfuHandle`], which implements [`MediaPlane`].

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::thread;
use std::time::Instant;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, error, info};
use veil_proto::media::{MediaCommand, MediaEvent, MediaPlane, SessionId};

use crate::engine::{Engine, EngineConfig, Input, Output, Transport};
use crate::metrics::{Publisher, SfuMetrics};
use crate::tcp::{Incoming, TcpMedia};
use crate::udp::{Inbox, Outbox, SOCKET_BUFFER_BYTES};

/// Where the SFU listens and what addresses it tells peers.
#[derive(Debug, Clone)]
pub struct SfuConfig {
    /// UDP address to bind. Port 0 picks a free port. `[::]` receives IPv4 as well.
    pub udp: SocketAddr,
    /// The addresses peers reach this machine at, when they differ from the bound one (bound
    /// to `0.0.0.0` or `[::]`, behind a 1:1 NAT, in a container with a port mapping). Each is
    /// offered as an ICE candidate with the bound port. Empty: the bound address itself.
    pub public_ips: Vec<IpAddr>,
    /// Where to publish the media series (docs/metrics.md); none: nothing is measured.
    pub metrics: Option<SfuMetrics>,
    /// TCP address for ICE-TCP (passive candidates on the public IPs with this port), for
    /// browsers whose network blocks UDP. None: UDP only.
    pub tcp: Option<SocketAddr>,
}

/// Why the SFU could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot bind the media socket on {addr}: {source}")]
    Bind { addr: SocketAddr, source: io::Error },
    #[error(
        "the media socket is bound to {0}, which peers cannot send to; \
         set the address peers should use with --public-ip (or VEIL_PUBLIC_IP)"
    )]
    NoCandidate(SocketAddr),
    #[error(
        "the public address {public} is IPv{}, but the media socket bound to {bound} receives \
         only IPv{}; bind the media socket to [::] to serve both families",
        if public.is_ipv4() { 4 } else { 6 }, if bound.is_ipv4() { 4 } else { 6 }
    )]
    WrongFamily { public: IpAddr, bound: SocketAddr },
    #[error("cannot start the media thread: {0}")]
    Thread(io::Error),
    #[error("cannot listen for media over TCP on {addr}: {source}")]
    BindTcp { addr: SocketAddr, source: io::Error },
}

/// Sends commands to the running SFU.
#[derive(Clone, Debug)]
pub struct SfuHandle {
    commands: mpsc::UnboundedSender<MediaCommand>,
}

impl MediaPlane for SfuHandle {
    fn send(&self, command: MediaCommand) {
        // If the media thread is gone (shutdown), tell the session so it does not wait forever.
        if let Err(mpsc::error::SendError(MediaCommand::Open { events, .. })) =
            self.commands.send(command)
        {
            let reason = "the SFU is shutting down".to_string();
            let _ = events.send(MediaEvent::Closed { reason });
        }
    }
}

/// A running SFU. Dropping it stops the media thread.
pub struct Sfu {
    handle: SfuHandle,
    local_addr: SocketAddr,
    candidates: Vec<SocketAddr>,
    tcp_candidates: Vec<SocketAddr>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Sfu {
    /// Binds the media socket and starts the media thread.
    pub fn start(config: SfuConfig) -> Result<Sfu, StartError> {
        let socket =
            bind(config.udp).map_err(|source| StartError::Bind { addr: config.udp, source })?;
        let local_addr =
            socket.local_addr().map_err(|source| StartError::Bind { addr: config.udp, source })?;
        let candidates = candidates(local_addr, &config.public_ips)?;
        let tcp = match config.tcp {
            Some(addr) => {
                let listener = std::net::TcpListener::bind(addr)
                    .and_then(|l| l.set_nonblocking(true).map(|()| l))
                    .map_err(|source| StartError::BindTcp { addr, source })?;
                Some(listener)
            }
            None => None,
        };
        let tcp_candidates = match &tcp {
            Some(listener) => {
                let bound = listener.local_addr().map_err(|source| StartError::BindTcp {
                    addr: config.tcp.unwrap_or(local_addr),
                    source,
                })?;
                self::candidates(bound, &config.public_ips)?
            }
            None => Vec::new(),
        };
        let (commands, receiver) = mpsc::unbounded_channel();
        let (stop, stopped) = oneshot::channel();
        let engine_config = EngineConfig::new(candidates.clone()).with_tcp(tcp_candidates.clone());
        let engine = Engine::new(engine_config, Instant::now());
        let metrics = config.metrics;
        let thread = thread::Builder::new()
            .name("veil-sfu".into())
            .spawn(move || {
                let runtime =
                    match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                        Ok(rt) => rt,
                        Err(e) => return error!("cannot start the media runtime: {e}"),
                    };
                runtime.block_on(async move {
                    match UdpSocket::from_std(socket) {
                        Ok(socket) => {
                            let mut driver = Driver::new(engine, socket, local_addr);
                            driver.publisher = metrics.map(|m| Publisher::new(m, Instant::now()));
                            let tcp = tcp.map(tokio::net::TcpListener::from_std);
                            match tcp.transpose().and_then(|l| l.map(TcpMedia::new).transpose()) {
                                Ok(tcp) => driver.tcp = tcp,
                                Err(e) => return error!("cannot register the TCP listener: {e}"),
                            }
                            driver.run(receiver, stopped).await
                        }
                        Err(e) => error!("cannot register the media socket: {e}"),
                    }
                });
            })
            .map_err(StartError::Thread)?;
        info!(%local_addr, ?candidates, ?tcp_candidates, "SFU listening");
        Ok(Sfu {
            handle: SfuHandle { commands },
            local_addr,
            candidates,
            tcp_candidates,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// A handle for signaling.
    pub fn handle(&self) -> SfuHandle {
        self.handle.clone()
    }

    /// The bound UDP address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The addresses advertised to peers as ICE candidates, the first one first.
    pub fn candidates(&self) -> &[SocketAddr] {
        &self.candidates
    }

    /// The addresses advertised as passive ICE-TCP candidates (empty without `tcp`).
    pub fn tcp_candidates(&self) -> &[SocketAddr] {
        &self.tcp_candidates
    }
}

/// The ICE candidates for a socket bound to `bound`: each public IP with the bound port, or the
/// bound address itself when no public IP is given and peers can send to it.
fn candidates(bound: SocketAddr, public_ips: &[IpAddr]) -> Result<Vec<SocketAddr>, StartError> {
    if public_ips.is_empty() {
        if bound.ip().is_unspecified() {
            return Err(StartError::NoCandidate(bound));
        }
        return Ok(vec![bound]);
    }
    // A socket bound to [::] is dual-stack (see `bind`); any other receives one family.
    let dual_stack = bound.ip() == IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED);
    let mut out = Vec::new();
    for &ip in public_ips {
        if !dual_stack && ip.is_ipv4() != bound.is_ipv4() {
            return Err(StartError::WrongFamily { public: ip, bound });
        }
        let addr = SocketAddr::new(ip, bound.port());
        if !out.contains(&addr) {
            out.push(addr);
        }
    }
    Ok(out)
}

impl Drop for Sfu {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn bind(addr: SocketAddr) -> io::Result<std::net::UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() && addr.ip().is_unspecified() {
        // `[::]` takes IPv4 too (as v4-mapped addresses), whatever net.ipv6.bindv6only says.
        socket.set_only_v6(false)?;
    }
    // Best effort: the kernel caps these at net.core.{r,w}mem_max.
    let _ = socket.set_recv_buffer_size(SOCKET_BUFFER_BYTES);
    let _ = socket.set_send_buffer_size(SOCKET_BUFFER_BYTES);
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

/// Owns the engine, the socket and the per-session event channels.
///
/// Each wake-up reads one batch of datagrams (`recvmmsg`), hands them to the engine one by one,
/// then sends everything the engine produced in batches (`sendmmsg`).
struct Driver {
    engine: Engine,
    socket: UdpSocket,
    local_addr: SocketAddr,
    inbox: Inbox,
    outbox: Outbox,
    sessions: HashMap<SessionId, mpsc::UnboundedSender<MediaEvent>>,
    /// Publishes the engine's figures, when the SFU is measured.
    publisher: Option<Publisher>,
    /// ICE-TCP connections, when the SFU listens for them.
    tcp: Option<TcpMedia>,
}

impl Driver {
    fn new(engine: Engine, socket: UdpSocket, local_addr: SocketAddr) -> Self {
        let (inbox, outbox) = (Inbox::default(), Outbox::for_socket(local_addr));
        let sessions = HashMap::new();
        Self { engine, socket, local_addr, inbox, outbox, sessions, publisher: None, tcp: None }
    }

    async fn run(
        mut self,
        mut commands: mpsc::UnboundedReceiver<MediaCommand>,
        mut stop: oneshot::Receiver<()>,
    ) {
        let mut woke = Instant::now();
        let mut received_at = None;
        loop {
            let sent_before = self.engine.stats().datagrams_out;
            let deadline = self.drain().await;
            if let Some(publisher) = &mut self.publisher {
                // Measured on this thread's clock: wake-up (or the receive batch) to sent.
                let done = Instant::now();
                let sent = self.engine.stats().datagrams_out - sent_before;
                let forwarded = received_at.map(|at: Instant| (done - at, sent));
                publisher.wake_up(done - woke, forwarded);
                publisher.maybe_publish(done, &mut self.engine);
            }
            received_at = None;
            tokio::select! {
                _ = &mut stop => break,
                command = commands.recv() => match command {
                    Some(command) => self.command(command),
                    None => break,
                },
                readable = self.socket.readable() => match readable {
                    Ok(()) => received_at = self.receive_batch(),
                    Err(e) => debug!("media socket failed: {e}"),
                },
                _ = tokio::time::sleep_until(deadline.into()) => {
                    self.engine.handle_input(Instant::now(), Input::Timeout);
                }
                Some(incoming) = next_tcp(self.tcp.as_mut()) => {
                    received_at = self.receive_tcp(incoming);
                }
            }
            woke = Instant::now();
        }
        debug!("media thread stopped");
    }

    /// Reads one batch of queued datagrams into the engine; returns when it was received.
    fn receive_batch(&mut self) -> Option<Instant> {
        let fd = self.socket.as_raw_fd();
        let inbox = &mut self.inbox;
        match self.socket.try_io(Interest::READABLE, || inbox.receive(fd)) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return None,
            Err(e) => {
                debug!("media socket receive failed: {e}");
                return None;
            }
        }
        let now = Instant::now();
        // The engine maps the bound address to the candidate each datagram was sent to.
        let destination = self.local_addr;
        for (source, contents) in self.inbox.datagrams() {
            let transport = Transport::Udp;
            self.engine
                .handle_input(now, Input::Receive { transport, source, destination, contents });
        }
        Some(now)
    }

    /// Hands a frame from an ICE-TCP connection to the engine, or forgets a closed one.
    fn receive_tcp(&mut self, incoming: Incoming) -> Option<Instant> {
        let tcp = self.tcp.as_mut()?;
        match incoming {
            Incoming::Frame(source, contents) => {
                let now = Instant::now();
                let destination = tcp.local_addr;
                let (transport, contents) = (Transport::Tcp, &contents[..]);
                let input = Input::Receive { transport, source, destination, contents };
                self.engine.handle_input(now, input);
                Some(now)
            }
            Incoming::Closed(remote) => {
                tcp.closed(remote);
                None
            }
        }
    }

    fn command(&mut self, command: MediaCommand) {
        let now = Instant::now();
        let input = match command {
            MediaCommand::Open { session, room, participant, grants, events } => {
                self.sessions.insert(session, events);
                Input::Open { session, room, participant, grants }
            }
            MediaCommand::Offer { session, sdp, sources } => Input::Offer { session, sdp, sources },
            MediaCommand::SetMuted { session, source, muted } => {
                Input::SetMuted { session, source, muted }
            }
            MediaCommand::SetGrants { session, grants } => Input::SetGrants { session, grants },
            MediaCommand::SetTileSizes { session, tiles } => Input::SetTileSizes { session, tiles },
            MediaCommand::Answer { session, sdp } => Input::Answer { session, sdp },
            MediaCommand::Close { session } => {
                self.sessions.remove(&session);
                Input::Close { session }
            }
        };
        self.engine.handle_input(now, input);
    }

    /// Sends and reports everything the engine has; returns when it next wants time.
    async fn drain(&mut self) -> Instant {
        let deadline = loop {
            match self.engine.poll_output() {
                Output::Transmit(t) => match (t.transport, &self.tcp) {
                    (Transport::Tcp, Some(tcp)) => tcp.send(t.destination, t.contents),
                    (Transport::Tcp, None) => {}
                    (Transport::Udp, _) => self.outbox.push(t.destination, t.contents),
                },
                Output::Event(session, event) => {
                    let closed = matches!(event, MediaEvent::Closed { .. });
                    if let Some(events) = self.sessions.get(&session) {
                        let _ = events.send(event);
                    }
                    if closed {
                        self.sessions.remove(&session);
                    }
                }
                Output::Timeout(at) => break at,
            }
        };
        self.send_all().await;
        deadline
    }

    /// Sends the outbox, waiting for room in the socket's buffer when it is full.
    async fn send_all(&mut self) {
        let fd = self.socket.as_raw_fd();
        while self.outbox.pending() > 0 {
            let outbox = &mut self.outbox;
            match self.socket.try_io(Interest::WRITABLE, || outbox.flush(fd)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if let Err(e) = self.socket.writable().await {
                        return debug!("media socket failed: {e}");
                    }
                }
                Err(e) => return debug!("media send failed: {e}"),
            }
        }
    }
}

/// The next frame or closing from ICE-TCP connections, or never without a listener.
async fn next_tcp(tcp: Option<&mut TcpMedia>) -> Option<Incoming> {
    match tcp {
        Some(tcp) => tcp.next().await,
        None => std::future::pending().await,
    }
}
