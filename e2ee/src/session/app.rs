//! What members say to each other inside MLS application messages: encrypted for the group,
//! signed by the sender's leaf, opaque to the server.
//!
//! ```text
//! 0x01 (version) ‖ kind ‖ fields
//!   kind 2, names:  u16 count ‖ count × (u16 len ‖ participant id ‖ u16 len ‖ name ‖
//!                                         u16 len ‖ signature)
//!   kind 3, chat:   16-byte message id ‖ u32 ttl (seconds, 0: the room's) ‖ u16 len ‖ text
//! ```
//!
//! A name record is signed by the named member's own signature key (the one in its leaf):
//! whoever relays it, a receiver checks the signature against the tree, so a member can pass on
//! everyone's names to a newcomer without being able to change any. A chat message needs no
//! signature of its own: MLS authenticates its sender's leaf, and nobody relays it but the
//! server. Lengths and numbers are big-endian. Unknown kinds are refused so later versions can
//! add kinds that older clients skip.

/// The version byte that starts every payload.
const VERSION: u8 = 1;
const KIND_NAMES: u8 = 2;
const KIND_CHAT: u8 = 3;

/// The longest name accepted in a record, in bytes (cleaning cuts names far shorter).
pub const MAX_NAME_BYTES: usize = 1024;
/// The most records one message may carry.
pub const MAX_RECORDS: usize = 4096;
/// The longest chat text accepted, in bytes: [`super::chat::MAX_CHAT_CHARS`] characters of
/// four bytes each.
pub const MAX_CHAT_BYTES: usize = 4 * super::chat::MAX_CHAT_CHARS;

/// A display name as its owner chose it, signed by the owner (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameRecord {
    pub participant_id: String,
    /// As chosen: receivers clean it before showing it.
    pub name: String,
    pub signature: Vec<u8>,
}

/// A line of in-call chat, as its sender wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatMessage {
    /// Random, so that it tells a later member nothing about what came before.
    pub id: [u8; 16],
    /// How long the sender wants it shown, in seconds; 0 leaves it to the room's retention.
    /// Receivers keep the shorter of the two, timed by their own clock from its arrival.
    pub ttl_secs: u32,
    /// As sent: receivers clean it before showing it.
    pub text: String,
}

/// One application payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppMessage {
    /// Signed display names: the sender's own when it joins, or every name it knows (from the
    /// member whose commit added newcomers, for them).
    Names(Vec<NameRecord>),
    /// A chat message for the members of the epoch it is encrypted in.
    Chat(ChatMessage),
}

/// Why a payload was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppError {
    #[error("application message is malformed: {0}")]
    Malformed(&'static str),
    #[error("application message of unknown version {0}")]
    UnknownVersion(u8),
    #[error("application message of unknown kind {0}")]
    UnknownKind(u8),
}

fn put(out: &mut Vec<u8>, field: &[u8]) {
    // Every field is bounded far below u16::MAX by its producer (names and chat text are cut,
    // ids and signatures are short).
    let field = &field[..field.len().min(usize::from(u16::MAX))];
    out.extend_from_slice(&(field.len() as u16).to_be_bytes());
    out.extend_from_slice(field);
}

fn take<'a>(rest: &mut &'a [u8], max: usize) -> Result<&'a [u8], AppError> {
    let (len, tail) = rest.split_first_chunk::<2>().ok_or(AppError::Malformed("short field"))?;
    let len = usize::from(u16::from_be_bytes(*len));
    if len > max || tail.len() < len {
        return Err(AppError::Malformed("bad field length"));
    }
    let (field, tail) = tail.split_at(len);
    *rest = tail;
    Ok(field)
}

fn text(bytes: &[u8]) -> Result<String, AppError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| AppError::Malformed("not UTF-8"))
}

impl AppMessage {
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Self::Names(records) => {
                let records = &records[..records.len().min(MAX_RECORDS)];
                let mut out = vec![VERSION, KIND_NAMES];
                out.extend_from_slice(&(records.len() as u16).to_be_bytes());
                for r in records {
                    put(&mut out, r.participant_id.as_bytes());
                    put(&mut out, truncate_utf8(&r.name, MAX_NAME_BYTES).as_bytes());
                    put(&mut out, &r.signature);
                }
                out
            }
            Self::Chat(chat) => {
                let mut out = vec![VERSION, KIND_CHAT];
                out.extend_from_slice(&chat.id);
                out.extend_from_slice(&chat.ttl_secs.to_be_bytes());
                put(&mut out, truncate_utf8(&chat.text, MAX_CHAT_BYTES).as_bytes());
                out
            }
        }
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, AppError> {
        let [version, kind, rest @ ..] = bytes else {
            return Err(AppError::Malformed("too short"));
        };
        if *version != VERSION {
            return Err(AppError::UnknownVersion(*version));
        }
        match *kind {
            KIND_NAMES => decode_names(rest),
            KIND_CHAT => decode_chat(rest),
            other => Err(AppError::UnknownKind(other)),
        }
    }
}

fn decode_names(rest: &[u8]) -> Result<AppMessage, AppError> {
    let (count, mut rest) = rest.split_first_chunk::<2>().ok_or(AppError::Malformed("no count"))?;
    let count = usize::from(u16::from_be_bytes(*count));
    if count > MAX_RECORDS {
        return Err(AppError::Malformed("too many records"));
    }
    let mut records = Vec::with_capacity(count);
    for _ in 0..count {
        let participant_id = text(take(&mut rest, 256)?)?;
        let name = text(take(&mut rest, MAX_NAME_BYTES)?)?;
        let signature = take(&mut rest, 256)?.to_vec();
        records.push(NameRecord { participant_id, name, signature });
    }
    if !rest.is_empty() {
        return Err(AppError::Malformed("trailing bytes"));
    }
    Ok(AppMessage::Names(records))
}

fn decode_chat(rest: &[u8]) -> Result<AppMessage, AppError> {
    let (id, rest) = rest.split_first_chunk::<16>().ok_or(AppError::Malformed("no message id"))?;
    let (ttl, mut rest) = rest.split_first_chunk::<4>().ok_or(AppError::Malformed("no ttl"))?;
    let text = text(take(&mut rest, MAX_CHAT_BYTES)?)?;
    if !rest.is_empty() {
        return Err(AppError::Malformed("trailing bytes"));
    }
    Ok(AppMessage::Chat(ChatMessage { id: *id, ttl_secs: u32::from_be_bytes(*ttl), text }))
}

fn truncate_utf8(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(p: &str, name: &str) -> NameRecord {
        NameRecord { participant_id: p.into(), name: name.into(), signature: vec![7; 64] }
    }

    #[test]
    fn names_round_trip() {
        let msg = AppMessage::Names(vec![record("p_a", "Zoë 🎥"), record("p_b", "")]);
        assert_eq!(AppMessage::decode(&msg.encode()), Ok(msg));
    }

    #[test]
    fn malformed_payloads_are_refused() {
        let good = AppMessage::Names(vec![record("p_a", "Ada")]).encode();
        assert!(AppMessage::decode(&good[..good.len() - 1]).is_err());
        assert!(AppMessage::decode(&[good.clone(), vec![0]].concat()).is_err());
        assert!(AppMessage::decode(&[]).is_err());
        assert_eq!(AppMessage::decode(&[2, 2, 0, 0]), Err(AppError::UnknownVersion(2)));
        assert_eq!(AppMessage::decode(&[1, 9]), Err(AppError::UnknownKind(9)));
        let mut bad_utf8 = good.clone();
        bad_utf8[8] = 0xff; // inside "Ada"
        assert!(AppMessage::decode(&bad_utf8).is_err());
    }

    #[test]
    fn overlong_names_are_cut_on_a_character_boundary() {
        let long = "é".repeat(MAX_NAME_BYTES);
        let Ok(AppMessage::Names(records)) =
            AppMessage::decode(&AppMessage::Names(vec![record("p", &long)]).encode())
        else {
            panic!("names come back as names");
        };
        assert!(
            records[0].name.len() <= MAX_NAME_BYTES && records[0].name.chars().all(|c| c == 'é')
        );
    }

    fn chat(text: &str) -> AppMessage {
        AppMessage::Chat(ChatMessage { id: *b"0123456789abcdef", ttl_secs: 600, text: text.into() })
    }

    #[test]
    fn chat_round_trips() {
        for msg in [chat("Bonjour, Zoë 🎥\nsecond line"), chat("")] {
            assert_eq!(AppMessage::decode(&msg.encode()), Ok(msg));
        }
        let max = chat(&"€".repeat(MAX_CHAT_BYTES / 3));
        assert_eq!(AppMessage::decode(&max.encode()), Ok(max));
    }

    #[test]
    fn malformed_chat_is_refused() {
        let good = chat("hi").encode();
        assert_eq!(good.len(), 2 + 16 + 4 + 2 + 2);
        for cut in 2..good.len() {
            assert!(AppMessage::decode(&good[..cut]).is_err(), "cut at {cut}");
        }
        assert!(AppMessage::decode(&[good.clone(), vec![0]].concat()).is_err());
        let mut bad_utf8 = good.clone();
        bad_utf8[24] = 0xc3; // "h" becomes the start of a two-byte character "i" cannot end
        assert_eq!(AppMessage::decode(&bad_utf8), Err(AppError::Malformed("not UTF-8")));
        let mut overlong = good[..22].to_vec();
        overlong.extend_from_slice(&((MAX_CHAT_BYTES + 1) as u16).to_be_bytes());
        overlong.resize(overlong.len() + MAX_CHAT_BYTES + 1, b'a');
        assert_eq!(AppMessage::decode(&overlong), Err(AppError::Malformed("bad field length")));
    }

    #[test]
    fn overlong_chat_is_cut_on_a_character_boundary() {
        let long = "é".repeat(MAX_CHAT_BYTES);
        let Ok(AppMessage::Chat(message)) = AppMessage::decode(&chat(&long).encode()) else {
            panic!("chat comes back as chat");
        };
        assert!(message.text.len() <= MAX_CHAT_BYTES && message.text.chars().all(|c| c == 'é'));
    }
}
