//! Batched UDP: many datagrams per system call (`recvmmsg`, `sendmmsg`).
//!
//! A forwarded packet costs one system call per subscriber when sent with `send_to`; on this
//! path the call's entry, exit and socket lookup are a large share of the kernel's work per
//! packet. [`Outbox`] queues the datagrams one engine pass produces and sends them up to
//! [`BATCH`] per call; [`Inbox`] reads up to [`BATCH`] per call. Both work on any non-blocking
//! socket's file descriptor and report `WouldBlock` like the single-datagram calls, so callers
//! keep their readiness handling (tokio's `try_io`, or a blocking socket for a simple loop).

use std::io::{self, IoSlice, IoSliceMut};
use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::RawFd;

use nix::errno::Errno;
use nix::sys::socket::{
    ControlMessage, MsgFlags, MultiHeaders, SockaddrStorage, recvmmsg, sendmmsg,
};

/// Datagrams per system call.
pub const BATCH: usize = 64;

/// Socket buffer bytes the SFU asks of the kernel for its media socket: keyframe bursts to
/// many peers need room. Baselines measured beside it ask for the same.
pub const SOCKET_BUFFER_BYTES: usize = 4 << 20;

/// Room for one datagram: more than any path MTU a peer will use.
pub const DATAGRAM_BYTES: usize = 2048;

/// Datagrams waiting to be sent, in order.
pub struct Outbox {
    queue: Vec<(SockaddrStorage, Vec<u8>)>,
    /// Queued datagrams before this index have been sent.
    sent: usize,
    headers: MultiHeaders<SockaddrStorage>,
    /// The socket is IPv6 (dual-stack): IPv4 destinations go out as v4-mapped addresses.
    ipv6_socket: bool,
}

impl Default for Outbox {
    fn default() -> Self {
        Self {
            queue: Vec::new(),
            sent: 0,
            headers: MultiHeaders::preallocate(BATCH, None),
            ipv6_socket: false,
        }
    }
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox").field("pending", &self.pending()).finish()
    }
}

impl Outbox {
    /// An outbox for a socket bound to `local`. A dual-stack IPv6 socket reports IPv4 peers
    /// as plain IPv4 addresses ([`Inbox`] unmaps them) and needs them mapped back to send.
    pub fn for_socket(local: SocketAddr) -> Self {
        Self { ipv6_socket: local.is_ipv6(), ..Self::default() }
    }

    /// Queues one datagram.
    pub fn push(&mut self, destination: SocketAddr, contents: Vec<u8>) {
        let destination = match destination {
            SocketAddr::V4(v4) if self.ipv6_socket => {
                SocketAddr::V6(SocketAddrV6::new(v4.ip().to_ipv6_mapped(), v4.port(), 0, 0))
            }
            other => other,
        };
        self.queue.push((SockaddrStorage::from(destination), contents));
    }

    /// Datagrams queued and not yet sent.
    pub fn pending(&self) -> usize {
        self.queue.len() - self.sent
    }

    /// Sends what is queued, [`BATCH`] datagrams per call. Returns `Ok` once the queue is
    /// empty, or `WouldBlock` when the socket's buffer is full; the unsent rest stays queued
    /// for the next call. A datagram the kernel refuses for any other reason (an unreachable
    /// address, say) is skipped, as `send_to` would lose it.
    pub fn flush(&mut self, fd: RawFd) -> io::Result<()> {
        while self.sent < self.queue.len() {
            let end = self.queue.len().min(self.sent + BATCH);
            let chunk = &self.queue[self.sent..end];
            let slices: Vec<[IoSlice<'_>; 1]> =
                chunk.iter().map(|(_, data)| [IoSlice::new(data)]).collect();
            let addrs: Vec<Option<SockaddrStorage>> =
                chunk.iter().map(|(addr, _)| Some(*addr)).collect();
            let no_control: [ControlMessage<'_>; 0] = [];
            let result =
                sendmmsg(fd, &mut self.headers, &slices, addrs, no_control, MsgFlags::MSG_DONTWAIT);
            match result {
                Ok(results) => self.sent += results.count().max(1),
                Err(Errno::EAGAIN) => return Err(io::ErrorKind::WouldBlock.into()),
                Err(Errno::EINTR) => {}
                Err(_) => {
                    // sendmmsg reports an error only for the first datagram of the call.
                    self.sent += 1;
                }
            }
        }
        self.queue.clear();
        self.sent = 0;
        Ok(())
    }
}

/// Buffers for [`BATCH`] received datagrams.
pub struct Inbox {
    buffers: Vec<Vec<u8>>,
    received: Vec<(SocketAddr, usize)>,
    headers: MultiHeaders<SockaddrStorage>,
}

impl Default for Inbox {
    fn default() -> Self {
        Self {
            buffers: vec![vec![0; DATAGRAM_BYTES]; BATCH],
            received: Vec::with_capacity(BATCH),
            headers: MultiHeaders::preallocate(BATCH, None),
        }
    }
}

impl Inbox {
    /// Reads up to [`BATCH`] datagrams without waiting; `WouldBlock` if none is queued.
    /// Returns how many were read; [`Inbox::datagrams`] then yields them.
    pub fn receive(&mut self, fd: RawFd) -> io::Result<usize> {
        self.receive_with(fd, MsgFlags::MSG_DONTWAIT)
    }

    /// Like [`Inbox::receive`], but on a blocking socket waits for the first datagram.
    pub fn receive_waiting(&mut self, fd: RawFd) -> io::Result<usize> {
        self.receive_with(fd, MsgFlags::MSG_WAITFORONE)
    }

    fn receive_with(&mut self, fd: RawFd, flags: MsgFlags) -> io::Result<usize> {
        self.received.clear();
        let mut slices: Vec<[IoSliceMut<'_>; 1]> =
            self.buffers.iter_mut().map(|b| [IoSliceMut::new(b)]).collect();
        let results = recvmmsg(fd, &mut self.headers, slices.iter_mut(), flags, None)
            .map_err(io::Error::from)?;
        for message in results {
            if let Some(source) = message.address.as_ref().and_then(socket_addr) {
                self.received.push((source, message.bytes));
            }
        }
        Ok(self.received.len())
    }

    /// The datagrams the last [`Inbox::receive`] read: source and contents. An IPv4 peer of a
    /// dual-stack IPv6 socket appears with its plain IPv4 address, as it would to an IPv4 socket.
    pub fn datagrams(&self) -> impl Iterator<Item = (SocketAddr, &[u8])> {
        self.received
            .iter()
            .zip(&self.buffers)
            .map(|((source, len), buffer)| (*source, &buffer[..*len]))
    }
}

fn socket_addr(addr: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = addr.as_sockaddr_in() {
        return Some(SocketAddr::V4(SocketAddrV4::new(v4.ip(), v4.port())));
    }
    let v6 = addr.as_sockaddr_in6()?;
    if let Some(v4) = v6.ip().to_ipv4_mapped() {
        return Some(SocketAddr::V4(SocketAddrV4::new(v4, v6.port())));
    }
    Some(SocketAddr::V6(SocketAddrV6::new(v6.ip(), v6.port(), v6.flowinfo(), v6.scope_id())))
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsRawFd;

    use super::*;

    #[test]
    fn a_batch_arrives_whole_and_in_order() {
        let a = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        a.set_nonblocking(true).unwrap();
        b.set_nonblocking(true).unwrap();
        let to = b.local_addr().unwrap();
        let mut outbox = Outbox::default();
        for i in 0..(BATCH + 10) {
            outbox.push(to, vec![i as u8; 100 + i]);
        }
        outbox.flush(a.as_raw_fd()).unwrap();
        assert_eq!(outbox.pending(), 0);

        let mut inbox = Inbox::default();
        let mut got = Vec::new();
        while got.len() < BATCH + 10 {
            match inbox.receive(b.as_raw_fd()) {
                Ok(_) => got.extend(inbox.datagrams().map(|(from, d)| (from, d.to_vec()))),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::yield_now(),
                Err(e) => panic!("receive failed: {e}"),
            }
        }
        for (i, (from, data)) in got.iter().enumerate() {
            assert_eq!(*from, a.local_addr().unwrap());
            assert_eq!(data, &vec![i as u8; 100 + i]);
        }
        assert_eq!(inbox.receive(b.as_raw_fd()).unwrap_err().kind(), io::ErrorKind::WouldBlock);
    }

    #[test]
    fn a_dual_stack_socket_talks_to_ipv4_peers_by_their_ipv4_address() {
        let dual = socket2::Socket::new(socket2::Domain::IPV6, socket2::Type::DGRAM, None).unwrap();
        dual.set_only_v6(false).unwrap();
        dual.bind(&"[::]:0".parse::<SocketAddr>().unwrap().into()).unwrap();
        let dual: std::net::UdpSocket = dual.into();
        dual.set_nonblocking(true).unwrap();
        let v4 = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = dual.local_addr().unwrap().port();
        v4.send_to(b"ping", ("127.0.0.1", port)).unwrap();

        let mut inbox = Inbox::default();
        let from = loop {
            match inbox.receive(dual.as_raw_fd()) {
                Ok(_) => break inbox.datagrams().next().unwrap().0,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::yield_now(),
                Err(e) => panic!("receive failed: {e}"),
            }
        };
        assert_eq!(from, v4.local_addr().unwrap(), "unmapped to the peer's IPv4 address");

        let mut outbox = Outbox::for_socket(dual.local_addr().unwrap());
        outbox.push(from, b"pong".to_vec());
        outbox.flush(dual.as_raw_fd()).unwrap();
        let mut buf = [0u8; 8];
        v4.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
        let (n, _) = v4.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"pong");
    }

    #[test]
    fn an_empty_outbox_flushes_without_a_call() {
        let mut outbox = Outbox::default();
        assert!(outbox.flush(-1).is_ok());
    }
}
