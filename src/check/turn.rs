//! A TURN allocation tried for real, as a browser behind a strict firewall would ask for one
//! (RFC 5766/8656): Allocate without credentials, expect 401 with REALM and NONCE, Allocate
//! again with USERNAME, REALM, NONCE, MESSAGE-INTEGRITY and FINGERPRINT, expect the relayed
//! address, then free it with a Refresh of LIFETIME 0. Over UDP (retransmitting) or over TCP
//! (STUN messages directly on the stream, RFC 5766 §2.1). Every exchange is bounded by
//! [`TIMEOUT`].

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

use super::stun::{self, Message, attr, kind};

/// How long one exchange (or connecting) may take.
pub const TIMEOUT: Duration = Duration::from_secs(3);
/// How long UDP waits before sending a request again.
const RETRANSMIT: Duration = Duration::from_millis(500);

/// How a TURN URL's client reaches the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Udp => "UDP",
            Self::Tcp => "TCP",
        })
    }
}

/// A `turn:` or `turns:` URL taken apart (RFC 7065).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnUrl {
    /// `turns:`: TLS to the server.
    pub secure: bool,
    /// A name or an address (IPv6 without its brackets).
    pub host: String,
    pub port: u16,
    /// `?transport=`, lowercased: `udp` unless told for `turn:`, `tcp` for `turns:`.
    pub transport: String,
}

impl TurnUrl {
    pub fn parse(url: &str) -> Option<Self> {
        let (secure, rest) = match url.split_once(':')? {
            ("turn", rest) => (false, rest),
            ("turns", rest) => (true, rest),
            _ => return None,
        };
        let (authority, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (host, port) = match authority.strip_prefix('[') {
            Some(v6) => {
                let (host, after) = v6.split_once(']')?;
                (host, after.strip_prefix(':'))
            }
            None => match authority.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            },
        };
        let port = match port {
            Some(port) => port.parse().ok()?,
            None if secure => 5349,
            None => 3478,
        };
        let transport = query
            .split('&')
            .find_map(|pair| pair.strip_prefix("transport="))
            .map_or(if secure { "tcp" } else { "udp" }.to_string(), str::to_ascii_lowercase);
        (!host.is_empty()).then(|| Self { secure, host: host.to_string(), port, transport })
    }

    /// The transport `veil check` can try, if it is one.
    pub fn transport(&self) -> Option<Transport> {
        match self.transport.as_str() {
            "udp" => Some(Transport::Udp),
            "tcp" => Some(Transport::Tcp),
            _ => None,
        }
    }
}

/// A relay the server allocated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allocation {
    /// XOR-RELAYED-ADDRESS: where peers would send to reach the client.
    pub relayed: Option<SocketAddr>,
    /// The server allocated without asking for credentials.
    pub without_auth: bool,
    /// The Refresh with LIFETIME 0 that frees it succeeded.
    pub freed: bool,
}

/// Why no allocation.
#[derive(Debug)]
pub enum TurnError {
    /// TCP: nothing accepted the connection.
    Connect(std::io::Error),
    /// No answer within [`TIMEOUT`].
    Timeout,
    /// Sending or receiving failed (UDP: often an ICMP "port unreachable").
    Io(std::io::Error),
    /// 401 to the request with credentials: the server computes another password.
    Refused,
    /// Another error response.
    Rejected(u16, String),
    /// An answer that is not what a TURN server says.
    Protocol(String),
}

/// Asks `server` for a UDP relay over `transport` with these credentials, then frees it.
pub async fn allocate(
    server: SocketAddr,
    transport: Transport,
    username: &str,
    password: &str,
) -> Result<Allocation, TurnError> {
    let mut channel = Channel::open(server, transport).await?;
    let first = Message::new(kind::ALLOCATE_REQUEST, fresh_id())
        .with(attr::REQUESTED_TRANSPORT, stun::TRANSPORT_UDP);
    let (answer, _) = channel.transact(&first, None).await?;
    if answer.kind == kind::ALLOCATE_SUCCESS {
        let relayed = answer.xor_address(attr::XOR_RELAYED_ADDRESS);
        let freed = channel.refresh_to_zero(&[], None).await;
        return Ok(Allocation { relayed, without_auth: true, freed });
    }
    let (realm, mut nonce) = challenge(&answer)?;
    let key = stun::long_term_key(username, &realm, password);
    // One retry, for a nonce that went stale in between (438).
    for _ in 0..2 {
        let credentials = [
            (attr::USERNAME, username.as_bytes().to_vec()),
            (attr::REALM, realm.as_bytes().to_vec()),
            (attr::NONCE, nonce.clone()),
        ];
        let mut request = Message::new(kind::ALLOCATE_REQUEST, fresh_id())
            .with(attr::REQUESTED_TRANSPORT, stun::TRANSPORT_UDP);
        request.attributes.extend(credentials.iter().cloned());
        let (answer, bytes) = channel.transact(&request, Some(&key)).await?;
        match (answer.kind, answer.error_code()) {
            (kind::ALLOCATE_SUCCESS, _) => {
                if stun::integrity_holds(&bytes, &key) == Some(false) {
                    return Err(TurnError::Protocol(
                        "its success answer's MESSAGE-INTEGRITY does not verify".into(),
                    ));
                }
                let relayed = answer.xor_address(attr::XOR_RELAYED_ADDRESS);
                let freed = channel.refresh_to_zero(&credentials, Some(&key)).await;
                return Ok(Allocation { relayed, without_auth: false, freed });
            }
            (kind::ALLOCATE_ERROR, Some((438, _))) => {
                nonce = answer.get(attr::NONCE).map(<[u8]>::to_vec).unwrap_or(nonce);
            }
            (kind::ALLOCATE_ERROR, Some((401, _))) => return Err(TurnError::Refused),
            (kind::ALLOCATE_ERROR, Some((code, reason))) => {
                return Err(TurnError::Rejected(code, reason));
            }
            (other, _) => {
                return Err(TurnError::Protocol(format!("it answered with type {other:#06x}")));
            }
        }
    }
    Err(TurnError::Rejected(438, "Stale Nonce, twice".into()))
}

/// REALM and NONCE from the 401 a request without credentials gets.
fn challenge(answer: &Message) -> Result<(String, Vec<u8>), TurnError> {
    match (answer.kind, answer.error_code()) {
        (kind::ALLOCATE_ERROR, Some((401, _))) => {}
        (kind::ALLOCATE_ERROR, Some((code, reason))) => {
            return Err(TurnError::Rejected(code, reason));
        }
        (other, _) => {
            return Err(TurnError::Protocol(format!(
                "it answered Allocate with type {other:#06x}"
            )));
        }
    }
    let realm = answer.get(attr::REALM).map(|r| String::from_utf8_lossy(r).into_owned());
    match (realm, answer.get(attr::NONCE)) {
        (Some(realm), Some(nonce)) => Ok((realm, nonce.to_vec())),
        _ => Err(TurnError::Protocol("its 401 carries no REALM and NONCE".into())),
    }
}

/// A fresh transaction id, from the TLS stack's random source.
fn fresh_id() -> [u8; 12] {
    let mut id = [0; 12];
    rustls::crypto::aws_lc_rs::default_provider()
        .secure_random
        .fill(&mut id)
        .expect("the system's random source works");
    id
}

/// The connection to the TURN server, over which transactions run one at a time.
enum Channel {
    Udp(UdpSocket),
    Tcp(TcpStream),
}

impl Channel {
    async fn open(server: SocketAddr, transport: Transport) -> Result<Self, TurnError> {
        match transport {
            Transport::Udp => {
                let any: SocketAddr =
                    if server.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }.parse().expect("valid");
                let socket = UdpSocket::bind(any).await.map_err(TurnError::Io)?;
                socket.connect(server).await.map_err(TurnError::Io)?;
                Ok(Self::Udp(socket))
            }
            Transport::Tcp => match tokio::time::timeout(TIMEOUT, TcpStream::connect(server)).await
            {
                Ok(Ok(stream)) => Ok(Self::Tcp(stream)),
                Ok(Err(e)) => Err(TurnError::Connect(e)),
                Err(_) => Err(TurnError::Timeout),
            },
        }
    }

    /// Sends `request` (signed with `key`, if any, and fingerprinted) and returns the answer to
    /// it, decoded and as received.
    async fn transact(
        &mut self,
        request: &Message,
        key: Option<&[u8]>,
    ) -> Result<(Message, Vec<u8>), TurnError> {
        let bytes = request.encode(key, true);
        let id = request.transaction;
        let exchange = async {
            match self {
                Self::Udp(socket) => loop {
                    socket.send(&bytes).await.map_err(TurnError::Io)?;
                    if let Ok(answer) =
                        tokio::time::timeout(RETRANSMIT, udp_answer(socket, id)).await
                    {
                        return answer;
                    }
                },
                Self::Tcp(stream) => {
                    stream.write_all(&bytes).await.map_err(TurnError::Io)?;
                    tcp_answer(stream, id).await
                }
            }
        };
        let answer =
            tokio::time::timeout(TIMEOUT, exchange).await.map_err(|_| TurnError::Timeout)??;
        if stun::fingerprint_holds(&answer) == Some(false) {
            return Err(TurnError::Protocol("its answer's FINGERPRINT does not match".into()));
        }
        let message = Message::decode(&answer).map_err(|e| TurnError::Protocol(e.to_string()))?;
        Ok((message, answer))
    }

    /// Frees the allocation (Refresh, LIFETIME 0); whether that worked.
    async fn refresh_to_zero(
        &mut self,
        credentials: &[(u16, Vec<u8>)],
        key: Option<&[u8]>,
    ) -> bool {
        let mut request = Message::new(kind::REFRESH_REQUEST, fresh_id())
            .with(attr::LIFETIME, 0u32.to_be_bytes());
        request.attributes.extend(credentials.iter().cloned());
        matches!(self.transact(&request, key).await, Ok((answer, _)) if answer.kind == kind::REFRESH_SUCCESS)
    }
}

/// The next datagram answering transaction `id` (others are dropped).
async fn udp_answer(socket: &UdpSocket, id: [u8; 12]) -> Result<Vec<u8>, TurnError> {
    let mut buf = vec![0; 2048];
    loop {
        let n = socket.recv(&mut buf).await.map_err(TurnError::Io)?;
        if answers(&buf[..n], id) {
            return Ok(buf[..n].to_vec());
        }
    }
}

/// The next message on the stream answering transaction `id` (others are skipped).
async fn tcp_answer(stream: &mut TcpStream, id: [u8; 12]) -> Result<Vec<u8>, TurnError> {
    loop {
        let mut header = [0; stun::HEADER_LEN];
        stream.read_exact(&mut header).await.map_err(TurnError::Io)?;
        let mut message = header.to_vec();
        message.resize(stun::message_len(&header), 0);
        stream.read_exact(&mut message[stun::HEADER_LEN..]).await.map_err(TurnError::Io)?;
        if answers(&message, id) {
            return Ok(message);
        }
    }
}

/// Whether `bytes` are a response (success or error) to transaction `id`.
fn answers(bytes: &[u8], id: [u8; 12]) -> bool {
    Message::decode(bytes).is_ok_and(|m| m.transaction == id && m.kind & 0x0100 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn turn_urls_are_taken_apart_with_rfc_7065_defaults() {
        let url = TurnUrl::parse("turn:turn.example.org").unwrap();
        assert_eq!((url.secure, url.host.as_str(), url.port), (false, "turn.example.org", 3478));
        assert_eq!(url.transport(), Some(Transport::Udp));
        let url = TurnUrl::parse("turn:203.0.113.7:3479?transport=TCP").unwrap();
        assert_eq!(
            (url.host.as_str(), url.port, url.transport()),
            ("203.0.113.7", 3479, Some(Transport::Tcp))
        );
        let url = TurnUrl::parse("turns:[2001:db8::7]?transport=tcp").unwrap();
        assert_eq!((url.secure, url.host.as_str(), url.port), (true, "2001:db8::7", 5349));
        assert_eq!(TurnUrl::parse("turn:x:3478?transport=sctp").unwrap().transport(), None);
        for bad in ["stun:x", "turn:", "turn:x:port", "https://x"] {
            assert_eq!(TurnUrl::parse(bad), None, "{bad}");
        }
    }
}
