//! The boundary between signaling and the SFU.
//!
//! Signaling owns participants, tokens and rooms; the SFU owns ICE, DTLS-SRTP and RTP. They talk
//! only through [`MediaPlane::send`] (signaling to SFU) and the per-session event channel handed
//! over in [`MediaCommand::Open`] (SFU to signaling). Every message is plain data, so an
//! implementation may forward it over a network instead of a channel.

use tokio::sync::mpsc;

use crate::{ParticipantId, RoomName};

/// One participant's media session: one per joined WebSocket connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(pub u64);

impl std::fmt::Display for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "s{}", self.0)
    }
}

/// What signaling asks of the SFU.
#[derive(Debug)]
pub enum MediaCommand {
    /// Start a media session for `participant` in `room`. The SFU reports on `events` until it
    /// sends [`MediaEvent::Closed`] or the session is closed by [`MediaCommand::Close`].
    Open {
        session: SessionId,
        room: RoomName,
        participant: ParticipantId,
        events: mpsc::UnboundedSender<MediaEvent>,
    },
    /// The participant's SDP offer. Answered by [`MediaEvent::Answer`] or [`MediaEvent::Error`].
    Offer { session: SessionId, sdp: String },
    /// The participant's SDP answer to a [`MediaEvent::Offer`].
    Answer { session: SessionId, sdp: String },
    /// End the session: the participant left or signaling dropped it.
    Close { session: SessionId },
}

/// What the SFU tells signaling about one session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaEvent {
    /// Answer to the participant's offer.
    Answer { sdp: String },
    /// The SFU renegotiates (tracks of others came or went); the participant answers.
    Offer { sdp: String },
    /// ICE and DTLS are up: media can flow.
    Connected,
    /// Something the participant sent could not be used (e.g. an SDP the SFU refuses). The
    /// session goes on unless followed by [`MediaEvent::Closed`].
    Error { message: String },
    /// The session ended on the SFU side (ICE consent lost, DTLS closed, fatal error).
    Closed { reason: String },
}

/// The SFU as signaling sees it.
pub trait MediaPlane: Send + Sync + 'static {
    /// Hand a command to the SFU. Never blocks; replies arrive on the session's event channel.
    fn send(&self, command: MediaCommand);
}
