//! The way out of one connection: a bounded queue, the task that drains it into the socket,
//! and a "kick" signal for dropping the connection from elsewhere.
//!
//! Everything addressed to a client, its own replies and broadcasts from other connections
//! alike, goes through one queue, so the client sees messages in the order the room produced
//! them. Senders only ever `try_send`: nobody waits on somebody else's socket. The queue is
//! bounded at [`QUEUE_CAPACITY`] messages; a client that falls that far behind (its socket
//! buffers are already full) has vanished or can't keep up, so it is kicked and may rejoin,
//! getting a fresh room snapshot. This bounds memory per connection without ever slowing
//! the room down for one bad link.

use std::sync::{Arc, OnceLock};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::SinkExt;
use futures_util::stream::SplitSink;
use tokio::sync::{Notify, mpsc};
use veil_proto::signal::{Envelope, ServerMessage};

/// Messages a connection may have waiting before it is dropped as too slow.
///
/// Slots are allocated as used, so a large bound costs nothing for healthy connections; it only
/// has to absorb bursts (a big room joining at once) on top of the socket's own buffers.
pub(crate) const QUEUE_CAPACITY: usize = 1024;

/// One item for the writer task.
#[derive(Debug)]
pub(crate) enum Outgoing {
    /// A serialized [`ServerMessage`] (shared between recipients of a broadcast).
    Text(Utf8Bytes),
    /// A WebSocket ping (heartbeat).
    Ping,
    /// Send a close frame and stop.
    Close { code: u16, reason: &'static str },
}

/// Serializes a server message with this build's protocol version.
pub(crate) fn encode(msg: ServerMessage) -> Utf8Bytes {
    serde_json::to_string(&Envelope::new(msg)).expect("server messages always serialize").into()
}

/// Why a connection was dropped by somebody other than itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KickReason {
    /// The same identity joined the room from another connection.
    Replaced,
    /// The outbound queue was full: the client is not reading.
    Overflow,
    /// The writer task is gone (the socket failed).
    WriterGone,
    /// A host turned the participant away from the lobby.
    Denied,
    /// A host removed the participant.
    Removed,
    /// A host or the operator revoked the participant's identity or token.
    Revoked,
    /// A host ended the meeting.
    MeetingEnded,
}

/// A one-shot signal: the first reason wins, later ones are ignored.
#[derive(Debug, Default)]
pub(crate) struct Kick {
    reason: OnceLock<KickReason>,
    notify: Notify,
}

impl Kick {
    pub(crate) fn kick(&self, reason: KickReason) {
        if self.reason.set(reason).is_ok() {
            // `notify_one` keeps a permit if the connection isn't waiting right now.
            self.notify.notify_one();
        }
    }

    /// Why it was kicked, if it was.
    #[cfg(test)]
    pub(crate) fn reason(&self) -> Option<KickReason> {
        self.reason.get().copied()
    }

    /// Waits until kicked.
    pub(crate) async fn kicked(&self) -> KickReason {
        loop {
            if let Some(reason) = self.reason.get() {
                return *reason;
            }
            self.notify.notified().await;
        }
    }
}

/// How the room reaches one connection. Cheap to clone; never blocks.
#[derive(Debug, Clone)]
pub(crate) struct Link {
    tx: mpsc::Sender<Outgoing>,
    kick: Arc<Kick>,
}

impl Link {
    pub(crate) fn new(tx: mpsc::Sender<Outgoing>, kick: Arc<Kick>) -> Self {
        Self { tx, kick }
    }

    /// Queues `text` for the client, kicking the connection if it can't take it.
    pub(crate) fn deliver(&self, text: Utf8Bytes) {
        self.push(Outgoing::Text(text));
    }

    /// Queues a raw item, kicking the connection if it can't take it.
    pub(crate) fn push(&self, item: Outgoing) {
        match self.tx.try_send(item) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => self.kick.kick(KickReason::Overflow),
            Err(mpsc::error::TrySendError::Closed(_)) => self.kick.kick(KickReason::WriterGone),
        }
    }

    /// Drops the connection from outside.
    pub(crate) fn kick(&self, reason: KickReason) {
        self.kick.kick(reason);
    }
}

/// Drains `rx` into the socket until a close item, a send error, or every sender is gone.
pub(crate) async fn write_loop(
    mut sink: SplitSink<WebSocket, Message>,
    mut rx: mpsc::Receiver<Outgoing>,
    kick: Arc<Kick>,
) {
    while let Some(item) = rx.recv().await {
        let (msg, last) = match item {
            Outgoing::Text(text) => (Message::Text(text), false),
            Outgoing::Ping => (Message::Ping(Default::default()), false),
            Outgoing::Close { code, reason } => {
                let frame = CloseFrame { code, reason: Utf8Bytes::from_static(reason) };
                (Message::Close(Some(frame)), true)
            }
        };
        if let Err(e) = sink.send(msg).await {
            tracing::debug!(error = %e, "socket write failed");
            kick.kick(KickReason::WriterGone);
            return;
        }
        if last {
            break;
        }
    }
    // Stop taking messages before flushing, so senders see `Closed` rather than a full queue.
    rx.close();
    let _ = sink.close().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn first_kick_wins_and_is_not_lost_when_nobody_waits() {
        let kick = Kick::default();
        kick.kick(KickReason::Overflow);
        kick.kick(KickReason::Replaced);
        assert_eq!(kick.kicked().await, KickReason::Overflow);
    }

    #[tokio::test]
    async fn full_queue_kicks_instead_of_blocking() {
        let (tx, _rx) = mpsc::channel(1);
        let kick = Arc::new(Kick::default());
        let link = Link::new(tx, kick.clone());
        link.push(Outgoing::Ping);
        link.push(Outgoing::Ping);
        assert_eq!(kick.kicked().await, KickReason::Overflow);
    }

    #[test]
    fn encoded_messages_carry_the_version() {
        assert_eq!(encode(ServerMessage::Pong).as_str(), r#"{"v":2,"type":"pong"}"#);
    }
}
