//! Reading client messages: version negotiation first, then the message itself.
//!
//! A frame is looked at in two passes. The first reads only `v`, `type`, `min_version` and
//! `room`, so that a client speaking another protocol version is told `unsupported_version`
//! (rather than a confusing `bad_message` about fields this version doesn't know), and a join
//! to an unacceptable room name gets `unknown_room`. The second pass parses the full
//! [`ClientMessage`] (unknown fields are refused, except on field-less messages).

use serde::Deserialize;
use serde_json::Value;
use veil_proto::RoomName;
use veil_proto::signal::{
    ClientMessage, Envelope, ErrorCode, MIN_PROTOCOL_VERSION, PROTOCOL_VERSION,
};

/// A message that can't be used, and what to tell the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub code: ErrorCode,
    pub message: String,
    /// The connection is closed after telling the client.
    pub fatal: bool,
}

impl Refusal {
    pub(crate) fn fatal(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), fatal: true }
    }

    pub(crate) fn soft(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), fatal: false }
    }
}

/// The few fields needed to decide whether the rest is worth parsing.
#[derive(Deserialize)]
struct Probe {
    v: Option<Value>,
    #[serde(rename = "type")]
    kind: Option<Value>,
    min_version: Option<Value>,
    room: Option<Value>,
}

/// Parses one text frame from a client.
pub(crate) fn parse(text: &str) -> Result<ClientMessage, Refusal> {
    let probe: Probe = serde_json::from_str(text).map_err(|_| {
        Refusal::soft(
            ErrorCode::BadMessage,
            "the message is not a JSON object; send one JSON object per text frame",
        )
    })?;
    match probe.v {
        None => {
            return Err(Refusal::soft(
                ErrorCode::BadMessage,
                "the message has no protocol version `v`",
            ));
        }
        Some(Value::Number(v)) => {
            let supported = u64::from(MIN_PROTOCOL_VERSION)..=u64::from(PROTOCOL_VERSION);
            if !v.as_u64().is_some_and(|v| supported.contains(&v)) {
                return Err(Refusal::fatal(
                    ErrorCode::UnsupportedVersion,
                    format!(
                        "this server speaks signaling protocol versions {MIN_PROTOCOL_VERSION} to \
                         {PROTOCOL_VERSION}, and the client sent version {v}; reload the page \
                         to get a client that matches the server"
                    ),
                ));
            }
        }
        Some(_) => {
            return Err(Refusal::soft(
                ErrorCode::BadMessage,
                "the protocol version `v` must be a number",
            ));
        }
    }

    if probe.kind.as_ref().and_then(Value::as_str) == Some("join") {
        if let Some(min) = probe.min_version.as_ref().and_then(Value::as_u64)
            && min > u64::from(PROTOCOL_VERSION)
        {
            return Err(Refusal::fatal(
                ErrorCode::UnsupportedVersion,
                format!(
                    "the client accepts protocol version {min} or later, but this server speaks \
                     at most version {PROTOCOL_VERSION}; the server needs an upgrade"
                ),
            ));
        }
        if let Some(room) = probe.room.as_ref().and_then(Value::as_str)
            && let Err(e) = RoomName::new(room)
        {
            return Err(Refusal::fatal(
                ErrorCode::UnknownRoom,
                format!("the room name is not valid: {e}; check the join link"),
            ));
        }
    }

    serde_json::from_str::<Envelope<ClientMessage>>(text).map(|env| env.msg).map_err(|e| {
        Refusal::soft(
            ErrorCode::BadMessage,
            format!("not a message of signaling protocol version {PROTOCOL_VERSION}: {e}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(text: &str) -> (ErrorCode, bool) {
        let r = parse(text).unwrap_err();
        (r.code, r.fatal)
    }

    #[test]
    fn good_messages_parse() {
        assert_eq!(parse(r#"{"v":2,"type":"ping"}"#), Ok(ClientMessage::Ping));
        let join = r#"{"v":2,"type":"join","room":"a","token":"t","min_version":2}"#;
        assert!(matches!(parse(join), Ok(ClientMessage::Join { .. })));
        // Through the envelope's `flatten`, serde refuses unknown fields of messages with
        // fields but not of field-less ones (`ping`, `leave`); either way nothing is misread.
        assert_eq!(parse(r#"{"v":2,"type":"ping","extra":1}"#), Ok(ClientMessage::Ping));
        let join_extra = r#"{"v":2,"type":"join","room":"a","token":"t","extra":1}"#;
        assert_eq!(code(join_extra), (ErrorCode::BadMessage, false));
    }

    #[test]
    fn versions_outside_ours_are_fatal() {
        let fatal = (ErrorCode::UnsupportedVersion, true);
        assert_eq!(code(r#"{"v":3,"type":"ping"}"#), fatal);
        assert_eq!(code(r#"{"v":1,"type":"ping"}"#), fatal, "version 1 is no longer spoken");
        assert_eq!(code(r#"{"v":0,"type":"ping"}"#), fatal);
        assert_eq!(code(r#"{"v":-1,"type":"ping"}"#), fatal);
        assert_eq!(code(r#"{"v":99,"type":"join","future_field":1}"#), fatal);
        let too_new = r#"{"v":2,"type":"join","room":"a","token":"t","min_version":3}"#;
        assert_eq!(code(too_new), fatal);
    }

    #[test]
    fn garbage_is_a_soft_bad_message() {
        let soft = (ErrorCode::BadMessage, false);
        for text in [
            "{",
            "[]",
            "null",
            r#"{"type":"ping"}"#,
            r#"{"v":"2","type":"ping"}"#,
            r#"{"v":2,"type":"explode"}"#,
            r#"{"v":2,"type":"publish_state","microphone":"yes","camera":true}"#,
        ] {
            assert_eq!(code(text), soft, "{text}");
        }
    }

    #[test]
    fn join_to_an_invalid_room_is_unknown_room() {
        let text = r#"{"v":2,"type":"join","room":"../etc","token":"t"}"#;
        assert_eq!(code(text), (ErrorCode::UnknownRoom, true));
    }
}
