//! What members say to each other inside MLS application messages: encrypted for the group,
//! signed by the sender's leaf, opaque to the server.
//!
//! ```text
//! 0x01 (version) ‖ kind ‖ fields
//!   kind 2, names:  u16 count ‖ count × (u16 len ‖ participant id ‖ u16 len ‖ name ‖
//!                                         u16 len ‖ signature)
//! ```
//!
//! A name record is signed by the named member's own signature key (the one in its leaf):
//! whoever relays it, a receiver checks the signature against the tree, so a member can pass on
//! everyone's names to a newcomer without being able to change any. Lengths are big-endian.
//! Unknown kinds are refused so later versions can add kinds that older clients skip.

/// The version byte that starts every payload.
const VERSION: u8 = 1;
const KIND_NAMES: u8 = 2;

/// The longest name accepted in a record, in bytes (cleaning cuts names far shorter).
pub const MAX_NAME_BYTES: usize = 1024;
/// The most records one message may carry.
pub const MAX_RECORDS: usize = 4096;

/// A display name as its owner chose it, signed by the owner (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameRecord {
    pub participant_id: String,
    /// As chosen: receivers clean it before showing it.
    pub name: String,
    pub signature: Vec<u8>,
}

/// One application payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppMessage {
    /// Signed display names: the sender's own when it joins, or every name it knows (from the
    /// member whose commit added newcomers, for them).
    Names(Vec<NameRecord>),
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
    // Every field is bounded far below u16::MAX by its producer (names are cut, ids and
    // signatures are short).
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
        }
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, AppError> {
        let [version, kind, rest @ ..] = bytes else {
            return Err(AppError::Malformed("too short"));
        };
        if *version != VERSION {
            return Err(AppError::UnknownVersion(*version));
        }
        if *kind != KIND_NAMES {
            return Err(AppError::UnknownKind(*kind));
        }
        let (count, mut rest) =
            rest.split_first_chunk::<2>().ok_or(AppError::Malformed("no count"))?;
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
        Ok(Self::Names(records))
    }
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
        let AppMessage::Names(records) =
            AppMessage::decode(&AppMessage::Names(vec![record("p", &long)]).encode()).unwrap();
        assert!(
            records[0].name.len() <= MAX_NAME_BYTES && records[0].name.chars().all(|c| c == 'é')
        );
    }
}
