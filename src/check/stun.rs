//! Just enough STUN (RFC 5389/8489) for `veil check` to ask a TURN server (RFC 5766/8656) for
//! an allocation: messages as type, transaction id and attributes; MESSAGE-INTEGRITY (HMAC-SHA1)
//! and FINGERPRINT (CRC-32) on the way out and checked on the way in; the long-term credential
//! key; ERROR-CODE and XOR-…-ADDRESS read back. No retransmission or I/O here (`super::turn`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use sha1::Sha1;

/// The fixed second word of every STUN message.
pub const MAGIC_COOKIE: u32 = 0x2112_A442;
/// A message's header: type, length, cookie, transaction id.
pub const HEADER_LEN: usize = 20;

/// Message types (method and class) used here.
pub mod kind {
    pub const ALLOCATE_REQUEST: u16 = 0x0003;
    pub const ALLOCATE_SUCCESS: u16 = 0x0103;
    pub const ALLOCATE_ERROR: u16 = 0x0113;
    pub const REFRESH_REQUEST: u16 = 0x0004;
    pub const REFRESH_SUCCESS: u16 = 0x0104;
}

/// Attribute types used here.
pub mod attr {
    pub const USERNAME: u16 = 0x0006;
    pub const MESSAGE_INTEGRITY: u16 = 0x0008;
    pub const ERROR_CODE: u16 = 0x0009;
    pub const LIFETIME: u16 = 0x000D;
    pub const REALM: u16 = 0x0014;
    pub const NONCE: u16 = 0x0015;
    pub const XOR_RELAYED_ADDRESS: u16 = 0x0016;
    pub const REQUESTED_TRANSPORT: u16 = 0x0019;
    pub const FINGERPRINT: u16 = 0x8028;
}

/// REQUESTED-TRANSPORT's value for UDP relaying (protocol 17, then three reserved bytes).
pub const TRANSPORT_UDP: [u8; 4] = [17, 0, 0, 0];

const INTEGRITY_LEN: usize = 20;
const FINGERPRINT_XOR: u32 = 0x5354_554E;

/// A STUN message: its type, transaction id and attributes in order (values unpadded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub kind: u16,
    pub transaction: [u8; 12],
    pub attributes: Vec<(u16, Vec<u8>)>,
}

/// Why bytes are not a STUN message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    Short,
    NotStun,
    Length,
    Attribute,
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Short => "shorter than a STUN header",
            Self::NotStun => "not a STUN message (no magic cookie)",
            Self::Length => "its length field disagrees with its size",
            Self::Attribute => "an attribute runs past its end",
        })
    }
}

impl Message {
    pub fn new(kind: u16, transaction: [u8; 12]) -> Self {
        Self { kind, transaction, attributes: Vec::new() }
    }

    /// The same message with one more attribute.
    pub fn with(mut self, kind: u16, value: impl Into<Vec<u8>>) -> Self {
        self.attributes.push((kind, value.into()));
        self
    }

    /// The wire form, with MESSAGE-INTEGRITY under `integrity_key` (if any) and then FINGERPRINT
    /// (if asked), padding with zeros.
    pub fn encode(&self, integrity_key: Option<&[u8]>, fingerprint: bool) -> Vec<u8> {
        self.encode_padded(0, integrity_key, fingerprint)
    }

    /// [`Self::encode`] with padding bytes of `pad` (receivers ignore them, but the integrity
    /// covers them: RFC 5769's vectors pad with spaces).
    fn encode_padded(&self, pad: u8, integrity_key: Option<&[u8]>, fingerprint: bool) -> Vec<u8> {
        let mut out = Vec::with_capacity(128);
        out.extend_from_slice(&self.kind.to_be_bytes());
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
        out.extend_from_slice(&self.transaction);
        for (kind, value) in &self.attributes {
            push_attribute(&mut out, *kind, value, pad);
        }
        if let Some(key) = integrity_key {
            // The length covers the MESSAGE-INTEGRITY attribute, not what follows it.
            let total = out.len() + 4 + INTEGRITY_LEN;
            set_length(&mut out, total);
            let mac = hmac_sha1(key, &out);
            push_attribute(&mut out, attr::MESSAGE_INTEGRITY, &mac, pad);
        }
        if fingerprint {
            let total = out.len() + 8;
            set_length(&mut out, total);
            let crc = crc32(&out) ^ FINGERPRINT_XOR;
            push_attribute(&mut out, attr::FINGERPRINT, &crc.to_be_bytes(), pad);
        }
        let total = out.len();
        set_length(&mut out, total);
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let header: &[u8; HEADER_LEN] =
            bytes.get(..HEADER_LEN).and_then(|h| h.try_into().ok()).ok_or(DecodeError::Short)?;
        if header[0] & 0xC0 != 0 || header[4..8] != MAGIC_COOKIE.to_be_bytes() {
            return Err(DecodeError::NotStun);
        }
        if message_len(header) != bytes.len() || !bytes.len().is_multiple_of(4) {
            return Err(DecodeError::Length);
        }
        let mut message = Self::new(
            u16::from_be_bytes([header[0], header[1]]),
            header[8..20].try_into().expect("twelve bytes"),
        );
        for found in attributes(bytes)? {
            message.attributes.push((found.kind, found.value.to_vec()));
        }
        Ok(message)
    }

    /// The first attribute of type `kind`.
    pub fn get(&self, kind: u16) -> Option<&[u8]> {
        self.attributes.iter().find(|(k, _)| *k == kind).map(|(_, v)| v.as_slice())
    }

    /// ERROR-CODE as its number (e.g. 401) and reason phrase.
    pub fn error_code(&self) -> Option<(u16, String)> {
        let value = self.get(attr::ERROR_CODE)?;
        let (head, reason) = (value.get(..4)?, value.get(4..)?);
        let code = u16::from(head[2] & 0x07) * 100 + u16::from(head[3]);
        Some((code, String::from_utf8_lossy(reason).trim().to_string()))
    }

    /// An XOR-MAPPED-ADDRESS-style attribute (XOR-RELAYED-ADDRESS, …), un-XORed.
    pub fn xor_address(&self, kind: u16) -> Option<SocketAddr> {
        let value = self.get(kind)?;
        let port =
            u16::from_be_bytes([*value.get(2)?, *value.get(3)?]) ^ (MAGIC_COOKIE >> 16) as u16;
        let mut mask = [0u8; 16];
        mask[..4].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
        mask[4..].copy_from_slice(&self.transaction);
        let ip = match (value.get(1)?, value.get(4..)?) {
            (0x01, addr) if addr.len() == 4 => {
                let bytes: [u8; 4] = std::array::from_fn(|i| addr[i] ^ mask[i]);
                IpAddr::V4(Ipv4Addr::from(bytes))
            }
            (0x02, addr) if addr.len() == 16 => {
                let bytes: [u8; 16] = std::array::from_fn(|i| addr[i] ^ mask[i]);
                IpAddr::V6(Ipv6Addr::from(bytes))
            }
            _ => return None,
        };
        Some(SocketAddr::new(ip, port))
    }
}

/// The size of the whole message whose header this is (for reading one off a TCP stream).
pub fn message_len(header: &[u8; HEADER_LEN]) -> usize {
    HEADER_LEN + usize::from(u16::from_be_bytes([header[2], header[3]]))
}

/// The long-term credential key (RFC 5389 §15.4): MD5(username ":" realm ":" password).
pub fn long_term_key(username: &str, realm: &str, password: &str) -> [u8; 16] {
    Md5::digest(format!("{username}:{realm}:{password}")).into()
}

/// Whether `bytes` (a whole message) carry a MESSAGE-INTEGRITY that verifies under `key`;
/// `None` if they carry none.
pub fn integrity_holds(bytes: &[u8], key: &[u8]) -> Option<bool> {
    let found = find(bytes, attr::MESSAGE_INTEGRITY)?;
    let mut covered = bytes[..found.offset].to_vec();
    set_length(&mut covered, found.offset + 4 + INTEGRITY_LEN);
    Some(hmac_sha1(key, &covered).as_slice() == found.value)
}

/// Whether `bytes` end in a FINGERPRINT that matches them; `None` if they carry none.
pub fn fingerprint_holds(bytes: &[u8]) -> Option<bool> {
    let found = find(bytes, attr::FINGERPRINT)?;
    let mut covered = bytes[..found.offset].to_vec();
    set_length(&mut covered, found.offset + 8);
    Some((crc32(&covered) ^ FINGERPRINT_XOR).to_be_bytes().as_slice() == found.value)
}

/// The first attribute of type `kind` in a whole message.
fn find(bytes: &[u8], kind: u16) -> Option<Attribute<'_>> {
    attributes(bytes).ok()?.into_iter().find(|a| a.kind == kind)
}

/// One attribute where it sits in a message.
struct Attribute<'a> {
    /// Where its header starts.
    offset: usize,
    kind: u16,
    value: &'a [u8],
}

/// The attributes of a whole message, in order.
fn attributes(bytes: &[u8]) -> Result<Vec<Attribute<'_>>, DecodeError> {
    let mut found = Vec::new();
    let mut at = HEADER_LEN;
    while at < bytes.len() {
        let head = bytes.get(at..at + 4).ok_or(DecodeError::Attribute)?;
        let kind = u16::from_be_bytes([head[0], head[1]]);
        let len = usize::from(u16::from_be_bytes([head[2], head[3]]));
        let value = bytes.get(at + 4..at + 4 + len).ok_or(DecodeError::Attribute)?;
        found.push(Attribute { offset: at, kind, value });
        at += 4 + len.next_multiple_of(4);
    }
    Ok(found)
}

fn push_attribute(out: &mut Vec<u8>, kind: u16, value: &[u8], pad: u8) {
    let len = u16::try_from(value.len()).expect("STUN attributes are shorter than 64 KiB");
    out.extend_from_slice(&kind.to_be_bytes());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(value);
    out.resize(out.len().next_multiple_of(4), pad);
}

/// Sets the header's length field for a message `total` bytes long.
fn set_length(message: &mut [u8], total: usize) {
    let len = u16::try_from(total - HEADER_LEN).expect("STUN messages are shorter than 64 KiB");
    message[2..4].copy_from_slice(&len.to_be_bytes());
}

fn hmac_sha1(key: &[u8], data: &[u8]) -> [u8; INTEGRITY_LEN] {
    let mut mac = <Hmac<Sha1>>::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// CRC-32 as ISO 3309 / ITU-T V.42 (and zlib) compute it, which FINGERPRINT uses.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0xEDB8_8320 & (crc & 1).wrapping_neg());
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Attributes of RFC 5769's vectors that TURN allocation does not use.
    const SOFTWARE: u16 = 0x8022;
    const XOR_MAPPED_ADDRESS: u16 = 0x0020;

    /// RFC 5769 §2.1: a Binding request with a short-term credential.
    const SAMPLE_REQUEST: [u8; 108] = [
        0x00, 0x01, 0x00, 0x58, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6,
        0x86, 0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x10, 0x53, 0x54, 0x55, 0x4e, 0x20, 0x74,
        0x65, 0x73, 0x74, 0x20, 0x63, 0x6c, 0x69, 0x65, 0x6e, 0x74, 0x00, 0x24, 0x00, 0x04, 0x6e,
        0x00, 0x01, 0xff, 0x80, 0x29, 0x00, 0x08, 0x93, 0x2f, 0xf9, 0xb1, 0x51, 0x26, 0x3b, 0x36,
        0x00, 0x06, 0x00, 0x09, 0x65, 0x76, 0x74, 0x6a, 0x3a, 0x68, 0x36, 0x76, 0x59, 0x20, 0x20,
        0x20, 0x00, 0x08, 0x00, 0x14, 0x9a, 0xea, 0xa7, 0x0c, 0xbf, 0xd8, 0xcb, 0x56, 0x78, 0x1e,
        0xf2, 0xb5, 0xb2, 0xd3, 0xf2, 0x49, 0xc1, 0xb5, 0x71, 0xa2, 0x80, 0x28, 0x00, 0x04, 0xe5,
        0x7a, 0x3b, 0xcf,
    ];
    const SHORT_TERM_PASSWORD: &[u8] = b"VOkJxbRl1RmTxUk/WvJxBt";
    const TRANSACTION: [u8; 12] =
        [0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae];

    /// RFC 5769 §2.2: its IPv4 response, XOR-MAPPED-ADDRESS 192.0.2.1:32853.
    const SAMPLE_IPV4_RESPONSE: [u8; 80] = [
        0x01, 0x01, 0x00, 0x3c, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6,
        0x86, 0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x0b, 0x74, 0x65, 0x73, 0x74, 0x20, 0x76,
        0x65, 0x63, 0x74, 0x6f, 0x72, 0x20, 0x00, 0x20, 0x00, 0x08, 0x00, 0x01, 0xa1, 0x47, 0xe1,
        0x12, 0xa6, 0x43, 0x00, 0x08, 0x00, 0x14, 0x2b, 0x91, 0xf5, 0x99, 0xfd, 0x9e, 0x90, 0xc3,
        0x8c, 0x74, 0x89, 0xf9, 0x2a, 0xf9, 0xba, 0x53, 0xf0, 0x6b, 0xe7, 0xd7, 0x80, 0x28, 0x00,
        0x04, 0xc0, 0x7d, 0x4c, 0x96,
    ];

    /// RFC 5769 §2.3: the IPv6 response, 2001:db8:1234:5678:11:2233:4455:6677 port 32853.
    const SAMPLE_IPV6_RESPONSE: [u8; 92] = [
        0x01, 0x01, 0x00, 0x48, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6,
        0x86, 0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x0b, 0x74, 0x65, 0x73, 0x74, 0x20, 0x76,
        0x65, 0x63, 0x74, 0x6f, 0x72, 0x20, 0x00, 0x20, 0x00, 0x14, 0x00, 0x02, 0xa1, 0x47, 0x01,
        0x13, 0xa9, 0xfa, 0xa5, 0xd3, 0xf1, 0x79, 0xbc, 0x25, 0xf4, 0xb5, 0xbe, 0xd2, 0xb9, 0xd9,
        0x00, 0x08, 0x00, 0x14, 0xa3, 0x82, 0x95, 0x4e, 0x4b, 0xe6, 0x7b, 0xf1, 0x17, 0x84, 0xc9,
        0x7c, 0x82, 0x92, 0xc2, 0x75, 0xbf, 0xe3, 0xed, 0x41, 0x80, 0x28, 0x00, 0x04, 0xc8, 0xfb,
        0x0b, 0x4c,
    ];

    /// RFC 5769 §2.4: a request with a long-term credential (user マトリックス, realm
    /// example.org, password TheMatrIX after SASLprep).
    const SAMPLE_LONG_TERM_REQUEST: [u8; 116] = [
        0x00, 0x01, 0x00, 0x60, 0x21, 0x12, 0xa4, 0x42, 0x78, 0xad, 0x34, 0x33, 0xc6, 0xad, 0x72,
        0xc0, 0x29, 0xda, 0x41, 0x2e, 0x00, 0x06, 0x00, 0x12, 0xe3, 0x83, 0x9e, 0xe3, 0x83, 0x88,
        0xe3, 0x83, 0xaa, 0xe3, 0x83, 0x83, 0xe3, 0x82, 0xaf, 0xe3, 0x82, 0xb9, 0x00, 0x00, 0x00,
        0x15, 0x00, 0x1c, 0x66, 0x2f, 0x2f, 0x34, 0x39, 0x39, 0x6b, 0x39, 0x35, 0x34, 0x64, 0x36,
        0x4f, 0x4c, 0x33, 0x34, 0x6f, 0x4c, 0x39, 0x46, 0x53, 0x54, 0x76, 0x79, 0x36, 0x34, 0x73,
        0x41, 0x00, 0x14, 0x00, 0x0b, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x2e, 0x6f, 0x72,
        0x67, 0x00, 0x00, 0x08, 0x00, 0x14, 0xf6, 0x70, 0x24, 0x65, 0x6d, 0xd6, 0x4a, 0x3e, 0x02,
        0xb8, 0xe0, 0x71, 0x2e, 0x85, 0xc9, 0xa2, 0x8c, 0xa8, 0x96, 0x66,
    ];

    #[test]
    fn crc32_is_the_zlib_one() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn the_sample_request_encodes_to_the_rfc_5769_bytes() {
        let request = Message::new(0x0001, TRANSACTION)
            .with(SOFTWARE, "STUN test client")
            .with(0x0024, [0x6e, 0x00, 0x01, 0xff]) // PRIORITY
            .with(0x8029, [0x93, 0x2f, 0xf9, 0xb1, 0x51, 0x26, 0x3b, 0x36]) // ICE-CONTROLLED
            .with(attr::USERNAME, "evtj:h6vY");
        // Its padding is spaces, which MESSAGE-INTEGRITY covers.
        let encoded = request.encode_padded(b' ', Some(SHORT_TERM_PASSWORD), true);
        assert_eq!(encoded, SAMPLE_REQUEST);
        assert_eq!(integrity_holds(&SAMPLE_REQUEST, SHORT_TERM_PASSWORD), Some(true));
        assert_eq!(fingerprint_holds(&SAMPLE_REQUEST), Some(true));
        let decoded = Message::decode(&SAMPLE_REQUEST).unwrap();
        assert_eq!(decoded.get(attr::USERNAME), Some(&b"evtj:h6vY"[..]));
        assert_eq!(decoded.transaction, TRANSACTION);
    }

    #[test]
    fn the_sample_responses_verify_and_carry_their_mapped_addresses() {
        for (bytes, address) in [
            (&SAMPLE_IPV4_RESPONSE[..], "192.0.2.1:32853"),
            (&SAMPLE_IPV6_RESPONSE[..], "[2001:db8:1234:5678:11:2233:4455:6677]:32853"),
        ] {
            assert_eq!(integrity_holds(bytes, SHORT_TERM_PASSWORD), Some(true), "{address}");
            assert_eq!(fingerprint_holds(bytes), Some(true), "{address}");
            let response = Message::decode(bytes).unwrap();
            assert_eq!(response.kind, 0x0101);
            assert_eq!(response.xor_address(XOR_MAPPED_ADDRESS), Some(address.parse().unwrap()));
            assert_eq!(response.get(SOFTWARE), Some(&b"test vector"[..]));
            // Re-encoded with the same space padding, it is the same message.
            let again = Message {
                attributes: response
                    .attributes
                    .iter()
                    .filter(|(k, _)| ![attr::MESSAGE_INTEGRITY, attr::FINGERPRINT].contains(k))
                    .cloned()
                    .collect(),
                ..response.clone()
            };
            assert_eq!(again.encode_padded(b' ', Some(SHORT_TERM_PASSWORD), true), bytes);
        }
    }

    #[test]
    fn the_long_term_sample_request_encodes_to_the_rfc_5769_bytes() {
        let key = long_term_key("マトリックス", "example.org", "TheMatrIX");
        let transaction = SAMPLE_LONG_TERM_REQUEST[8..20].try_into().unwrap();
        let request = Message::new(0x0001, transaction)
            .with(attr::USERNAME, "マトリックス")
            .with(attr::NONCE, "f//499k954d6OL34oL9FSTvy64sA")
            .with(attr::REALM, "example.org");
        assert_eq!(request.encode(Some(&key), false), SAMPLE_LONG_TERM_REQUEST);
        assert_eq!(integrity_holds(&SAMPLE_LONG_TERM_REQUEST, &key), Some(true));
        assert_eq!(fingerprint_holds(&SAMPLE_LONG_TERM_REQUEST), None);
        let other = long_term_key("マトリックス", "example.org", "TheMatrix");
        assert_eq!(integrity_holds(&SAMPLE_LONG_TERM_REQUEST, &other), Some(false));
    }

    #[test]
    fn a_changed_byte_breaks_integrity_and_fingerprint() {
        let mut bytes = SAMPLE_REQUEST;
        bytes[30] ^= 1;
        assert_eq!(integrity_holds(&bytes, SHORT_TERM_PASSWORD), Some(false));
        assert_eq!(fingerprint_holds(&bytes), Some(false));
    }

    #[test]
    fn error_codes_and_malformed_messages() {
        let mut value = vec![0, 0, 4, 1];
        value.extend_from_slice(b"Unauthorized");
        let error = Message::new(kind::ALLOCATE_ERROR, [7; 12]).with(attr::ERROR_CODE, value);
        let bytes = error.encode(None, true);
        let decoded = Message::decode(&bytes).unwrap();
        assert_eq!(decoded.error_code(), Some((401, "Unauthorized".into())));
        assert_eq!(message_len(bytes[..HEADER_LEN].try_into().unwrap()), bytes.len());
        assert_eq!(Message::decode(&bytes[..10]), Err(DecodeError::Short));
        assert_eq!(Message::decode(&bytes[..bytes.len() - 4]), Err(DecodeError::Length));
        let mut not_stun = bytes.clone();
        not_stun[4] = 0;
        assert_eq!(Message::decode(&not_stun), Err(DecodeError::NotStun));
    }
}
