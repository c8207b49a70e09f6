//! The boundary between signaling and the SFU.
//!
//! Signaling owns participants, tokens and rooms; the SFU owns ICE, DTLS-SRTP and RTP. They talk
//! only through [`MediaPlane::send`] (signaling to SFU) and the per-session event channel handed
//! over in [`MediaCommand::Open`] (SFU to signaling). Every message is plain data, so an
//! implementation may forward it over a network instead of a channel.

use std::collections::BTreeMap;

use tokio::sync::mpsc;

use crate::room::Source;
pub use crate::signal::TileSize;
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
        /// What the participant may publish and whether it receives.
        grants: MediaGrants,
        events: mpsc::UnboundedSender<MediaEvent>,
    },
    /// The participant's SDP offer, with what each sending m-line (by mid) carries. Answered by
    /// [`MediaEvent::Answer`] or [`MediaEvent::Error`] (an offer that publishes more than the
    /// grants allow is refused whole).
    Offer { session: SessionId, sdp: String, sources: BTreeMap<String, Source> },
    /// The participant's SDP answer to a [`MediaEvent::Offer`].
    Answer { session: SessionId, sdp: String },
    /// Stop (or resume) forwarding the participant's `source`: a host muted it, or the
    /// participant turned it on again.
    SetMuted { session: SessionId, source: Source, muted: bool },
    /// The session's grants changed (a room's policy took the screen from non-hosts, or gave
    /// it back): later offers are checked against them, and sources no longer granted stop.
    SetGrants { session: SessionId, grants: MediaGrants },
    /// How large the participant shows each video it receives (its tiles), by the mid of the
    /// m-line it receives it on: the SFU sends the smallest simulcast layer that fills it, and
    /// nothing for a video that is not on screen. Replaces the previous report.
    SetTileSizes { session: SessionId, tiles: Vec<TileSize> },
    /// End the session: the participant left or signaling dropped it.
    Close { session: SessionId },
}

/// What a media session may do, from the join token's grants and the room's policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaGrants {
    /// Sources it may publish (screen covers screen audio).
    pub publish: Vec<Source>,
    /// Whether it receives the others' media.
    pub subscribe: bool,
    /// The room has server-side speaker detection on: the SFU reads the audio levels of this
    /// session's microphone and reports the room's active speaker to it
    /// ([`MediaEvent::ActiveSpeaker`]). Off, the SFU reads no audio level.
    pub speaker_detection: bool,
}

impl MediaGrants {
    /// Whether `source` may be published.
    pub fn may_publish(&self, source: Source) -> bool {
        self.publish.contains(&source.grant())
    }
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
    /// The first media packet came from the participant or went to it (once per session).
    MediaFlowing,
    /// Something the participant sent could not be used (e.g. an SDP the SFU refuses). The
    /// session goes on unless followed by [`MediaEvent::Closed`].
    Error { message: String },
    /// An offer published more than the session's grants allow; it was refused whole.
    Refused { message: String },
    /// The SFU needs only these simulcast layers (rids) of the participant's sending m-line
    /// `mid`; the others may pause until a later event names them again.
    LayersWanted { mid: String, rids: Vec<String> },
    /// With speaker detection on, the room's active speaker changed: the participant whose
    /// microphone was loudest lately, or nobody once that participant left.
    ActiveSpeaker { participant: Option<ParticipantId> },
    /// The session ended on the SFU side (ICE consent lost, DTLS closed, fatal error).
    Closed { reason: String },
}

/// The SFU as signaling sees it.
pub trait MediaPlane: Send + Sync + 'static {
    /// Hand a command to the SFU. Never blocks; replies arrive on the session's event channel.
    fn send(&self, command: MediaCommand);
}

/// One of the worst links on the SFU, for the operator's dashboard: a session by its opaque
/// number, with the worst loss its receiver reports gave and its round trip.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkSummary {
    pub session: SessionId,
    /// Share of packets lost, 0..1.
    pub loss: Option<f32>,
    pub rtt_ms: Option<f64>,
}

/// The SFU's current list of its worst links ([`LinkSummary`]), worst first; updated by the
/// SFU once a second, read by signaling's operator page.
pub type WorstLinks = std::sync::Arc<std::sync::Mutex<Vec<LinkSummary>>>;
