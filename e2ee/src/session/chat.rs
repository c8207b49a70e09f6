//! In-call chat: text members send each other in MLS application messages ([`super::app`],
//! kind 3), which the server relays as ciphertext and never stores.
//!
//! The session carries chat and keeps none of it. It encrypts what the user sends for the group
//! as it stands and hands on what the others send; the client shows both and drops each message
//! when its time is up, by its own clock from the message's arrival. Since nothing here holds
//! history, nothing can pass it on to a member who joins later, and MLS keeps earlier epochs'
//! messages from them.
//!
//! - **Who said it** is the member whose leaf signed the message, never the server's `from`: a
//!   message the server attributes to someone else is dropped, and the session says so.
//! - **Who can read it** is the group of the epoch it is encrypted in. A message sent while a
//!   leaver's removal waits to be committed waits for that commit, so the leaver cannot read
//!   it; if the group gained a member meanwhile, it is not sent at all
//!   ([`Output::ChatUnsent`]): it was written before they joined.
//! - **What it says** is cleaned by the rule names follow (no control, bidi or invisible
//!   characters), keeping line breaks, and cut to [`MAX_CHAT_CHARS`]. Receivers clean it again.

use std::collections::BTreeSet;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use openmls::prelude::{MlsMessageBodyIn, ProtocolMessage};
use openmls_traits::random::OpenMlsRand as _;
use veil_proto::ParticipantId;
use veil_proto::signal::ClientMessage;

use super::app::{AppMessage, ChatMessage};
use super::names::is_unshown;
use super::{Output, Phase, Session};
use crate::GroupError;

/// The longest chat message, in characters after cleaning.
pub const MAX_CHAT_CHARS: usize = 4_000;

/// Line breaks in a row kept in a message: one blank line.
const MAX_NEWLINES: usize = 2;

/// Why [`Session::send_chat`] refused a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChatError {
    #[error("not in the encryption group: chat opens once this device has joined it")]
    NotInGroup,
    #[error("the message is empty once characters that would not show are removed")]
    Empty,
    #[error("no random message id: {0}")]
    Random(String),
}

impl ChatError {
    /// A stable name of the error, for UI code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotInGroup => "not-in-group",
            Self::Empty => "empty-message",
            Self::Random(_) => "no-randomness",
        }
    }
}

/// A message the user sent that waits for a removal to be committed.
pub(super) struct Unsent {
    id: [u8; 16],
    payload: Vec<u8>,
    /// The group's members when the user sent it: the only ones who may read it.
    readers: BTreeSet<String>,
}

/// The text as members show it: control, bidi and invisible characters removed (line breaks
/// kept, at most [`MAX_NEWLINES`] in a row), other white space made plain spaces, trimmed, at
/// most [`MAX_CHAT_CHARS`] characters. Empty if nothing printable is left.
pub fn clean_chat(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len().min(4 * MAX_CHAT_CHARS));
    let (mut chars, mut newlines) = (0, 0);
    for c in raw.chars() {
        let c = match c {
            '\n' => '\n',
            '\r' => continue,
            c if c.is_whitespace() => ' ',
            c if is_unshown(c) => continue,
            c => c,
        };
        if c.is_whitespace() && out.is_empty() {
            continue;
        }
        if c == '\n' {
            newlines += 1;
            if newlines > MAX_NEWLINES {
                continue;
            }
        } else if c != ' ' {
            newlines = 0;
        }
        if chars == MAX_CHAT_CHARS {
            break;
        }
        out.push(c);
        chars += 1;
    }
    out.truncate(out.trim_end().len());
    out
}

fn hex(id: &[u8; 16]) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

/// The epoch an application message was encrypted in, from its framing. Messages of recent
/// epochs still decrypt after the group moved on, so the current epoch may be later.
fn framed_epoch(message: &[u8]) -> Option<u64> {
    match crate::group::decode_message(message).ok()?.extract() {
        MlsMessageBodyIn::PrivateMessage(m) => Some(ProtocolMessage::from(m).epoch().as_u64()),
        _ => None,
    }
}

impl Session {
    /// Sends a chat message to the group's current members, at `now_ms`; the message goes out
    /// through [`poll_output`](Self::poll_output). `ttl_secs` is how long the others should
    /// show it (0: as long as the room keeps chat). Returns the message's id, as the others
    /// will see it in [`Output::Chat`]: the session keeps no copy, so the caller shows its own
    /// messages itself.
    pub fn send_chat(
        &mut self,
        now_ms: u64,
        text: &str,
        ttl_secs: u32,
    ) -> Result<String, ChatError> {
        self.now = self.now.max(now_ms);
        if self.phase != Phase::Member {
            return Err(ChatError::NotInGroup);
        }
        let text = clean_chat(text);
        if text.is_empty() {
            return Err(ChatError::Empty);
        }
        let id: [u8; 16] = self.rng.random_array().map_err(|e| ChatError::Random(e.to_string()))?;
        let payload = AppMessage::Chat(ChatMessage { id, ttl_secs, text }).encode();
        self.outbox.push_back(Unsent { id, payload, readers: self.member_set.clone() });
        self.drive();
        Ok(hex(&id))
    }

    /// Another member's chat message, decrypted: `sender` is the member its leaf names.
    pub(super) fn on_chat(
        &mut self,
        from: &ParticipantId,
        sender: String,
        chat: ChatMessage,
        message: &[u8],
    ) {
        if from.0 != sender {
            self.outputs.push_back(Output::Problem(format!(
                "dropped a chat message the server said came from {from}: {sender} sent it"
            )));
            return;
        }
        let text = clean_chat(&chat.text);
        if text.is_empty() {
            return;
        }
        let Some(epoch) = framed_epoch(message) else { return }; // It decrypted: it parses.
        let id = hex(&chat.id);
        self.outputs.push_back(Output::Chat { id, sender, text, ttl_secs: chat.ttl_secs, epoch });
    }

    /// Sends the messages the user wrote once no removal waits to be committed (MLS sends no
    /// application message then, and the leaver could read it), unless the group gained a
    /// member since.
    pub(super) fn send_chats_if_ready(&mut self) {
        if self.phase == Phase::Evicted {
            for unsent in std::mem::take(&mut self.outbox) {
                let reason = "this device was removed from the encryption group".to_owned();
                self.outputs.push_back(Output::ChatUnsent { id: hex(&unsent.id), reason });
            }
            return;
        }
        if self.phase != Phase::Member || self.member.has_pending_proposals() {
            return;
        }
        while let Some(unsent) = self.outbox.pop_front() {
            let id = hex(&unsent.id);
            if let Some(newcomer) = self.member_set.difference(&unsent.readers).next() {
                let reason = format!("{newcomer} joined the group before it could be sent");
                self.outputs.push_back(Output::ChatUnsent { id, reason });
                continue;
            }
            match self.encrypt_chat(&unsent.payload) {
                Ok(message) => self.send(message),
                Err(e) => {
                    let reason = format!("it could not be encrypted: {e}");
                    self.outputs.push_back(Output::ChatUnsent { id, reason });
                }
            }
        }
    }

    fn encrypt_chat(&mut self, payload: &[u8]) -> Result<ClientMessage, GroupError> {
        let message = self.member.send_application(payload)?;
        Ok(ClientMessage::MlsApplication {
            epoch: self.member.epoch()?,
            message: B64.encode(message),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_and_bidi_go_and_line_breaks_stay() {
        assert_eq!(clean_chat("see \u{202E}txt.exe\u{202C} now"), "see txt.exe now");
        assert_eq!(clean_chat("one\r\ntwo\n\n\n\n\nthree\u{0007}"), "one\ntwo\n\nthree");
        assert_eq!(clean_chat("\n\t  indented\tcode  \n"), "indented code");
        assert_eq!(clean_chat("a\u{200B}b\u{FEFF}c\u{E0041}"), "abc");
        assert_eq!(clean_chat("\u{202E}\u{200B} \n\n"), "");
    }

    #[test]
    fn long_messages_are_cut_at_a_character_boundary() {
        let cleaned = clean_chat(&"é".repeat(MAX_CHAT_CHARS + 10));
        assert_eq!(cleaned.chars().count(), MAX_CHAT_CHARS);
        assert_eq!(clean_chat(&"x".repeat(MAX_CHAT_CHARS)).len(), MAX_CHAT_CHARS);
    }
}
