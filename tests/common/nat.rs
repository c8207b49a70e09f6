//! A UDP NAT on loopback: the address peers send to is one the server never binds.
//!
//! It listens on a "public" address and, like a real NAT, gives each peer (each source
//! address) its own mapping: a socket on the "inside" address that talks to the server. The
//! server thus sees every peer from a distinct inside address, none of them the peer's own,
//! and receives every datagram on an address that differs from the one the peer sent to.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

/// A running NAT; stops on drop.
pub struct Nat {
    pub public: SocketAddr,
    task: JoinHandle<()>,
}

impl Nat {
    /// Forwards datagrams sent to `public` to `server`, from one socket on `inside_ip` per
    /// peer, and the server's replies back to that peer from `public`.
    pub async fn start(public: SocketAddr, inside_ip: std::net::IpAddr, server: SocketAddr) -> Nat {
        let outside = Arc::new(UdpSocket::bind(public).await.expect("bind the NAT's public side"));
        let task = tokio::spawn(async move {
            let mut mappings: HashMap<SocketAddr, Mapping> = HashMap::new();
            let mut buf = vec![0u8; 2048];
            loop {
                let Ok((n, peer)) = outside.recv_from(&mut buf).await else { return };
                let inside = match mappings.get(&peer) {
                    Some(mapping) => mapping.inside.clone(),
                    None => {
                        let inside = Arc::new(
                            UdpSocket::bind(SocketAddr::new(inside_ip, 0)).await.expect("map"),
                        );
                        inside.connect(server).await.expect("connect the mapping");
                        let back = tokio::spawn(relay_back(inside.clone(), outside.clone(), peer));
                        mappings.insert(peer, Mapping { inside: inside.clone(), back });
                        inside
                    }
                };
                let _ = inside.send(&buf[..n]).await;
            }
        });
        Nat { public, task }
    }
}

/// One peer's mapping: its inside socket and the task relaying the server's replies.
struct Mapping {
    inside: Arc<UdpSocket>,
    back: JoinHandle<()>,
}

impl Drop for Mapping {
    fn drop(&mut self) {
        self.back.abort();
    }
}

async fn relay_back(inside: Arc<UdpSocket>, outside: Arc<UdpSocket>, peer: SocketAddr) {
    let mut buf = vec![0u8; 2048];
    while let Ok(n) = inside.recv(&mut buf).await {
        let _ = outside.send_to(&buf[..n], peer).await;
    }
}

impl Drop for Nat {
    fn drop(&mut self) {
        self.task.abort();
    }
}
