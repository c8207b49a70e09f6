//! ICE-TCP for the shell: the listener behind the engine's passive TCP candidates (RFC 6544).
//!
//! A browser that cannot send UDP to the SFU connects here instead. Each connection carries
//! the same datagrams the UDP socket would, framed as RFC 4571 says: a two-byte big-endian
//! length, then the datagram. Reading and writing happen in two small tasks per connection on
//! the media thread's runtime; datagrams reach the engine through one bounded channel, tagged
//! with the connection's remote address, which is what the engine knows the peer by.
//!
//! A slow connection does not hold up the others: its outgoing queue is bounded and frames
//! beyond it are dropped, as a congested UDP path would drop them (NACK and keyframe requests
//! repair video). A connection silent for [`IDLE_TIMEOUT`] is closed: browsers send STUN
//! consent checks every few seconds.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tracing::debug;

/// The most TCP media connections at once; more are refused.
pub const MAX_CONNECTIONS: usize = 4096;
/// A connection that sends nothing for this long is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Frames queued towards one connection before more are dropped.
const OUTGOING_FRAMES: usize = 512;
/// Frames from all connections waiting for the engine.
const INCOMING_FRAMES: usize = 4096;

/// The TCP side of the media thread: the listener, and a sender per open connection.
pub(crate) struct TcpMedia {
    listener: TcpListener,
    pub local_addr: SocketAddr,
    connections: HashMap<SocketAddr, mpsc::Sender<Vec<u8>>>,
    incoming_tx: mpsc::Sender<Incoming>,
    incoming: mpsc::Receiver<Incoming>,
}

/// What connections tell the media thread.
pub(crate) enum Incoming {
    Frame(SocketAddr, Vec<u8>),
    Closed(SocketAddr),
}

impl TcpMedia {
    pub fn new(listener: TcpListener) -> io::Result<Self> {
        let local_addr = listener.local_addr()?;
        let (incoming_tx, incoming) = mpsc::channel(INCOMING_FRAMES);
        Ok(Self { listener, local_addr, connections: HashMap::new(), incoming_tx, incoming })
    }

    /// The next thing to handle: a frame, a connection that closed, or a new connection
    /// (which this serves at once).
    pub async fn next(&mut self) -> Option<Incoming> {
        loop {
            tokio::select! {
                incoming = self.incoming.recv() => return incoming,
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, remote)) => self.open(stream, remote),
                    Err(e) => debug!("media TCP accept failed: {e}"),
                },
            }
        }
    }

    /// Starts serving an accepted connection, unless there are too many.
    fn open(&mut self, stream: TcpStream, remote: SocketAddr) {
        if self.connections.len() >= MAX_CONNECTIONS {
            debug!("refusing a media TCP connection: {MAX_CONNECTIONS} are open");
            return;
        }
        let _ = stream.set_nodelay(true);
        let (reader, writer) = stream.into_split();
        let (outgoing_tx, outgoing) = mpsc::channel(OUTGOING_FRAMES);
        self.connections.insert(remote, outgoing_tx);
        tokio::spawn(read_frames(reader, remote, self.incoming_tx.clone()));
        tokio::spawn(write_frames(writer, outgoing));
    }

    /// Forgets a connection that closed.
    pub fn closed(&mut self, remote: SocketAddr) {
        self.connections.remove(&remote);
    }

    /// Queues `datagram` for the connection from `remote`; dropped if it is gone or backed up.
    pub fn send(&self, remote: SocketAddr, datagram: Vec<u8>) {
        if datagram.len() > usize::from(u16::MAX) {
            return;
        }
        if let Some(connection) = self.connections.get(&remote) {
            let _ = connection.try_send(datagram);
        }
    }
}

/// Reads frames until the connection closes, fails, sends a frame that cannot be one, or
/// falls silent; then tells the media thread.
async fn read_frames(mut reader: OwnedReadHalf, remote: SocketAddr, to: mpsc::Sender<Incoming>) {
    let why = loop {
        let frame = tokio::time::timeout(IDLE_TIMEOUT, read_frame(&mut reader)).await;
        match frame {
            Err(_) => break "silent".to_string(),
            Ok(Err(e)) => break e.to_string(),
            Ok(Ok(frame)) => {
                if to.send(Incoming::Frame(remote, frame)).await.is_err() {
                    return;
                }
            }
        }
    };
    debug!("media TCP connection closed: {why}");
    let _ = to.send(Incoming::Closed(remote)).await;
}

/// One RFC 4571 frame. A zero length is no datagram at all: the peer is not speaking ICE-TCP.
async fn read_frame(reader: &mut OwnedReadHalf) -> io::Result<Vec<u8>> {
    let len = usize::from(reader.read_u16().await?);
    if len == 0 {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "an empty frame"));
    }
    let mut frame = vec![0; len];
    reader.read_exact(&mut frame).await?;
    Ok(frame)
}

/// Writes queued frames, flushing whenever the queue runs dry; ends when the media thread
/// forgets the connection or the connection fails.
async fn write_frames(writer: OwnedWriteHalf, mut outgoing: mpsc::Receiver<Vec<u8>>) {
    let mut writer = BufWriter::new(writer);
    while let Some(mut datagram) = outgoing.recv().await {
        loop {
            let len = datagram.len() as u16;
            if writer.write_all(&len.to_be_bytes()).await.is_err()
                || writer.write_all(&datagram).await.is_err()
            {
                return;
            }
            match outgoing.try_recv() {
                Ok(next) => datagram = next,
                Err(_) => break,
            }
        }
        if writer.flush().await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn media() -> (TcpMedia, SocketAddr) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let media = TcpMedia::new(listener).unwrap();
        let addr = media.local_addr;
        (media, addr)
    }

    /// Frames arrive whole and tagged with the connection they came on, however the bytes
    /// were split; what the engine sends back is framed the same way.
    #[tokio::test]
    async fn frames_travel_both_ways() {
        let (mut media, addr) = media().await;
        let mut client = TcpStream::connect(addr).await.unwrap();
        let local = client.local_addr().unwrap();
        // Two frames, the second written in two pieces.
        client.write_all(&[0, 3, 1, 2, 3, 0, 2, 9]).await.unwrap();
        client.flush().await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        client.write_all(&[8]).await.unwrap();
        for want in [vec![1, 2, 3], vec![9, 8]] {
            match media.next().await {
                Some(Incoming::Frame(from, frame)) => assert_eq!((from, frame), (local, want)),
                _ => panic!("expected a frame"),
            }
        }
        media.send(local, vec![7, 7, 7, 7]);
        let mut back = [0; 6];
        client.read_exact(&mut back).await.unwrap();
        assert_eq!(back, [0, 4, 7, 7, 7, 7]);
    }

    /// A peer that is not speaking RFC 4571 (a zero length) is cut off and forgotten, and the
    /// listener goes on serving others.
    #[tokio::test]
    async fn a_connection_that_is_not_ice_tcp_is_closed() {
        let (mut media, addr) = media().await;
        let mut garbage = TcpStream::connect(addr).await.unwrap();
        let garbage_addr = garbage.local_addr().unwrap();
        garbage.write_all(&[0, 0, 0xff]).await.unwrap();
        match media.next().await {
            Some(Incoming::Closed(from)) => {
                assert_eq!(from, garbage_addr);
                media.closed(from);
            }
            _ => panic!("expected the connection to close"),
        }
        assert!(media.connections.is_empty());
        let mut good = TcpStream::connect(addr).await.unwrap();
        good.write_all(&[0, 1, 42]).await.unwrap();
        match media.next().await {
            Some(Incoming::Frame(_, frame)) => assert_eq!(frame, vec![42]),
            _ => panic!("expected a frame"),
        }
    }
}
