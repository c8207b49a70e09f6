//! Signaling messages: JSON text frames over the WebSocket at `/ws`.
//!
//! Each frame is one object with the protocol version `v` and a `type`, e.g.
//! `{"v":1,"type":"join","room":"standup","token":"eyJ…"}`. The full exchange is described in
//! `docs/protocol.md`.

use serde::{Deserialize, Serialize};

use std::collections::BTreeMap;

use crate::room::{Grants, RoomPolicy, Source};
use crate::{ParticipantId, RoomName};

/// The protocol version this build speaks. Version 2: handshake messages are MLS
/// PublicMessages the server verifies, display names travel only in MLS application messages.
pub const PROTOCOL_VERSION: u32 = 2;

/// The lowest protocol version this build accepts from a peer.
pub const MIN_PROTOCOL_VERSION: u32 = 2;

/// A message and its protocol version, as it travels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope<T> {
    /// Protocol version of the sender.
    pub v: u32,
    #[serde(flatten)]
    pub msg: T,
}

impl<T> Envelope<T> {
    /// Wraps `msg` with this build's version.
    pub fn new(msg: T) -> Self {
        Self { v: PROTOCOL_VERSION, msg }
    }
}

/// Browser (or bot) to server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMessage {
    /// First message on a connection: who and where. `min_version` is the lowest protocol
    /// version the client accepts; the server refuses to speak below it. No display name: it
    /// travels only inside the MLS group, encrypted.
    Join {
        room: RoomName,
        token: String,
        #[serde(default)]
        min_version: Option<u32>,
    },
    /// SDP offer for the client's own (sending) tracks. `sources` says what each sending
    /// m-line (by mid) carries; unnamed ones count as microphone (audio) and camera (video).
    /// The SFU refuses an offer that publishes more than the token grants.
    Offer {
        sdp: String,
        #[serde(default)]
        sources: BTreeMap<String, Source>,
    },
    /// SDP answer to a server [`ServerMessage::Offer`].
    Answer { sdp: String },
    /// Microphone, camera and screen share switched on or off (shown to the others). Turning a
    /// source on again after a host muted it is the participant unmuting itself.
    PublishState {
        microphone: bool,
        camera: bool,
        #[serde(default)]
        screen: bool,
    },
    /// How large this client shows each video it receives, by the receiving m-line's mid
    /// (height 0: not on screen). Sent when its layout changes; replaces the last report.
    TileSizes { tiles: Vec<TileSize> },
    /// Host: let a participant waiting in the lobby in.
    Admit { participant_id: ParticipantId },
    /// Host: turn a participant in the lobby away.
    Deny { participant_id: ParticipantId },
    /// Host: mute a participant's source (a screen: stop the share). Their client mutes, and
    /// the SFU forwards nothing of that source until they turn it on again themselves.
    Mute { participant_id: ParticipantId, source: Source },
    /// Host: remove a participant; the token it joined with cannot join again.
    Remove { participant_id: ParticipantId },
    /// Host: revoke an identity or a token id in this room; a participant holding it is
    /// disconnected and cannot join again while the token lives.
    Revoke {
        #[serde(default)]
        identity: Option<String>,
        #[serde(default)]
        token_id: Option<String>,
    },
    /// Host: change the room's policy.
    SetPolicy { policy: RoomPolicy },
    /// Host: end the meeting for everyone.
    EndMeeting,
    /// Application keepalive; answered by [`ServerMessage::Pong`].
    Ping,
    /// The participant leaves the meeting.
    Leave,
    /// MLS: a KeyPackage (base64 of an MLSMessage) so that a member adds us to the group.
    MlsKeyPackage { key_package: String },
    /// MLS: we created the room's group; `group_info` is its GroupInfo with the ratchet tree
    /// (base64 of an MLSMessage), from which the server tracks the group's public state.
    MlsGroupCreated { group_info: String },
    /// MLS: we joined from a Welcome and are at `leaf` in `epoch`. The server checks it against
    /// the leaf the commit that added us gave us.
    MlsJoined { epoch: u64, leaf: u32 },
    /// MLS: a commit made in `epoch` (base64 of an MLSMessage holding a PublicMessage), with
    /// the Welcome for the members it adds. The server verifies it and derives who it adds and
    /// removes from the commit itself.
    MlsCommit {
        epoch: u64,
        commit: String,
        #[serde(default)]
        welcome: Option<String>,
    },
    /// MLS: an application message (names, chat) made in `epoch`, encrypted for the group;
    /// relayed to the other members as it is.
    MlsApplication { epoch: u64, message: String },
    /// How the call went for this client since its last report (every 10 s or so): its worst
    /// connection-quality score, and the frames it could not decrypt. An aggregate for the
    /// operator's dashboard (docs/metrics.md); nothing per track or per participant.
    QualityReport {
        quality: ConnectionQuality,
        #[serde(default)]
        decrypt_failures: u32,
    },
}

/// A client's connection quality, as it scores it from its own WebRTC statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionQuality {
    Good,
    Fair,
    Poor,
    Lost,
}

impl ConnectionQuality {
    pub const ALL: [ConnectionQuality; 4] = [Self::Good, Self::Fair, Self::Poor, Self::Lost];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Good => "good",
            Self::Fair => "fair",
            Self::Poor => "poor",
            Self::Lost => "lost",
        }
    }
}

/// A relay for `RTCPeerConnection`'s `iceServers`: its URLs (`turn:` and `turns:`) and the
/// credentials it accepts until they expire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IceServer {
    pub urls: Vec<String>,
    pub username: String,
    pub credential: String,
}

/// Server to browser (or bot).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// The join succeeded. `participants` lists everybody else already in the room.
    Joined {
        participant_id: ParticipantId,
        room: RoomName,
        /// The identity the join token authenticated (or a fresh guest identity).
        identity: String,
        /// What the token allows (after the room's policy).
        grants: Grants,
        policy: RoomPolicy,
        participants: Vec<ParticipantInfo>,
        /// How this participant takes part in the room's MLS group.
        e2ee: E2eeSetup,
        /// TURN relays the browser may use when it cannot reach the SFU directly, each with
        /// short-lived credentials of this participant's own. Empty when the node names none.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        ice_servers: Vec<IceServer>,
    },
    /// Somebody joined after us.
    ParticipantJoined { participant: ParticipantInfo },
    /// Somebody changed their microphone or camera state.
    ParticipantUpdated { participant: ParticipantInfo },
    /// Somebody left, was dropped, or vanished.
    ParticipantLeft { participant_id: ParticipantId },
    /// The room has a lobby and we wait in it until a host admits us (then `joined` follows)
    /// or turns us away (a fatal `denied`). Nothing of the room reaches us meanwhile.
    Lobby { room: RoomName },
    /// Hosts: who waits in the lobby now.
    LobbyUpdated { waiting: Vec<LobbyEntry> },
    /// The room's policy changed, and with it perhaps what we may do (a room whose screen
    /// sharing is for hosts takes the screen grant from everyone else).
    PolicyUpdated { policy: RoomPolicy, grants: Grants },
    /// A host muted one of our sources (a screen: stopped our share). Turn it off; turning it
    /// on again is ours to do.
    MuteRequested { source: Source },
    /// Answer to the client's offer.
    Answer { sdp: String },
    /// The SFU renegotiates; the client replies with [`ClientMessage::Answer`].
    Offer { sdp: String },
    /// Only these simulcast layers (rids) of the client's sending m-line `mid` reach anyone:
    /// the client may pause the others (`active: false`) until a later message names them.
    LayersWanted { mid: String, rids: Vec<String> },
    /// The room's server-side speaker detection (its policy's `server_speaker_detection`) names
    /// the active speaker, or nobody (`null`) once that participant left. Clients believe it
    /// only for a current member of their encrypted group.
    ActiveSpeaker { participant: Option<ParticipantId> },
    /// Reply to [`ClientMessage::Ping`].
    Pong,
    /// MLS: nobody is in the group any more; create it anew (the joined participant was waiting).
    MlsCreateGroup { group_id: String },
    /// MLS: `participant_id` waits to be added. `committer` is the member asked to commit the
    /// Add; the others keep the request in case the committer goes away.
    MlsAddRequest { participant_id: ParticipantId, key_package: String, committer: ParticipantId },
    /// MLS: the server's Remove proposal (as external sender) for a member that left, valid in
    /// `epoch`. `committer` is the member asked to commit it.
    MlsProposal { proposal: String, epoch: u64, committer: ParticipantId },
    /// MLS: another member's commit, accepted as the one commit of `epoch`.
    MlsCommit { commit: String, epoch: u64 },
    /// MLS: our commit was accepted; the group is now in `epoch`.
    MlsCommitAccepted { epoch: u64 },
    /// MLS: another member's application message, as it sent it. `from` is who sent it to
    /// the server; members trust only the sender the message itself authenticates.
    MlsApplication { from: ParticipantId, message: String },
    /// MLS: the Welcome that adds us to the group.
    MlsWelcome { welcome: String },
    /// Something went wrong. `code` is stable and machine-readable; `message` is for people.
    /// The connection stays open unless the error says otherwise (`fatal`).
    Error { code: ErrorCode, message: String, fatal: bool },
}

/// MLS setup for a newly joined participant. All byte strings are standard base64.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct E2eeSetup {
    /// The MLS group id of this room's group.
    pub group_id: String,
    /// The server's external-sender signature public key and credential identity, which the
    /// group's creator lists in the `external_senders` extension so the server can propose
    /// removals.
    pub external_sender: ExternalSenderKey,
    /// True for the first participant of a room: create the group rather than wait for a Welcome.
    pub create_group: bool,
}

/// The delivery service's external-sender identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExternalSenderKey {
    pub signature_key: String,
    pub identity: String,
}

/// One participant as the others see them. Media tracks carry `id` as their `msid` stream id
/// and `ID-SOURCE-MID` as their track id. No display name: members learn names from each
/// other inside the MLS group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParticipantInfo {
    pub id: ParticipantId,
    /// The identity the join token authenticated, or a `guest-…` identity.
    pub identity: String,
    pub microphone: bool,
    pub camera: bool,
    /// Sharing a screen now.
    #[serde(default)]
    pub screen: bool,
    /// A host of the room.
    #[serde(default)]
    pub host: bool,
}

/// Someone waiting in the lobby, as hosts see them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LobbyEntry {
    pub id: ParticipantId,
    /// The identity the join token authenticated, or a `guest-…` identity.
    pub identity: String,
}

/// Stable error codes sent to clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Not valid JSON, or not a message of this protocol.
    BadMessage,
    /// The message is larger than the server accepts.
    MessageTooLarge,
    /// The protocol version is outside what the server speaks.
    UnsupportedVersion,
    /// The token is malformed or its signature does not verify.
    InvalidToken,
    /// The token has expired (or is not valid yet).
    TokenExpired,
    /// The token is for another room.
    WrongRoom,
    /// The room does not exist or its name is not acceptable.
    UnknownRoom,
    /// A message that needs a joined participant came before `join`.
    NotJoined,
    /// `join` was sent twice on one connection.
    AlreadyJoined,
    /// The same identity joined from elsewhere; this connection is closed.
    Replaced,
    /// The SFU refused the SDP or could not set up media.
    MediaError,
    /// The media connection was lost (no ICE consent); the client should rejoin.
    MediaTimeout,
    /// The server is shutting down or failed internally.
    Internal,
    /// Only a host may do that.
    Forbidden,
    /// The token does not grant that (publishing a source, say).
    NotAllowed,
    /// No participant or lobby entry with that id.
    UnknownParticipant,
    /// A host turned us away from the lobby.
    Denied,
    /// A host removed us; this token cannot join again.
    Removed,
    /// Our identity or token was revoked for this room.
    Revoked,
    /// A host ended the meeting.
    MeetingEnded,
    /// The room is locked: only hosts may join.
    RoomLocked,
    /// The room holds as many participants as its policy allows.
    RoomFull,
    /// An MLS commit for an epoch that already has one; process the other commit, then retry.
    MlsStaleCommit,
    /// An MLS message that needs group membership came from a participant that is not a member.
    MlsNotMember,
    /// An MLS commit that does not verify against the group's public state or does not fit
    /// the room (signed by another leaf, adds someone not waiting, removes someone present, a
    /// proposal outside Veil's profile). It was not relayed; the group goes on without it.
    MlsInvalidCommit,
    /// Another MLS message that does not verify or does not fit (a key package of someone
    /// else, a GroupInfo that is not the room's new group, a leaf that is not ours).
    MlsInvalidMessage,
}

impl ErrorCode {
    /// Every code, for those that must show each one (a metric's zero series).
    pub const ALL: [ErrorCode; 26] = [
        Self::BadMessage,
        Self::MessageTooLarge,
        Self::UnsupportedVersion,
        Self::InvalidToken,
        Self::TokenExpired,
        Self::WrongRoom,
        Self::UnknownRoom,
        Self::NotJoined,
        Self::AlreadyJoined,
        Self::Replaced,
        Self::MediaError,
        Self::MediaTimeout,
        Self::Internal,
        Self::Forbidden,
        Self::NotAllowed,
        Self::UnknownParticipant,
        Self::Denied,
        Self::Removed,
        Self::Revoked,
        Self::MeetingEnded,
        Self::RoomLocked,
        Self::RoomFull,
        Self::MlsStaleCommit,
        Self::MlsNotMember,
        Self::MlsInvalidCommit,
        Self::MlsInvalidMessage,
    ];

    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadMessage => "bad_message",
            Self::MessageTooLarge => "message_too_large",
            Self::UnsupportedVersion => "unsupported_version",
            Self::InvalidToken => "invalid_token",
            Self::TokenExpired => "token_expired",
            Self::WrongRoom => "wrong_room",
            Self::UnknownRoom => "unknown_room",
            Self::NotJoined => "not_joined",
            Self::AlreadyJoined => "already_joined",
            Self::Replaced => "replaced",
            Self::MediaError => "media_error",
            Self::MediaTimeout => "media_timeout",
            Self::Internal => "internal",
            Self::Forbidden => "forbidden",
            Self::NotAllowed => "not_allowed",
            Self::UnknownParticipant => "unknown_participant",
            Self::Denied => "denied",
            Self::Removed => "removed",
            Self::Revoked => "revoked",
            Self::MeetingEnded => "meeting_ended",
            Self::RoomLocked => "room_locked",
            Self::RoomFull => "room_full",
            Self::MlsStaleCommit => "mls_stale_commit",
            Self::MlsNotMember => "mls_not_member",
            Self::MlsInvalidCommit => "mls_invalid_commit",
            Self::MlsInvalidMessage => "mls_invalid_message",
        }
    }
}

/// How large one received video is shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TileSize {
    /// The receiving m-line's mid (the transceiver's `mid` in the browser).
    pub mid: String,
    /// Height in device pixels; 0 when the video is not on screen.
    pub height: u32,
}

impl TileSize {
    /// The most tiles one report may name.
    pub const MAX_TILES: usize = 256;
    /// The tallest tile worth asking for (8K).
    pub const MAX_HEIGHT: u32 = 4320;

    /// Checks a whole report: how many tiles, and each mid and height.
    pub fn check_all(tiles: &[TileSize]) -> Result<(), String> {
        if tiles.len() > Self::MAX_TILES {
            return Err(format!("at most {} tile sizes, not {}", Self::MAX_TILES, tiles.len()));
        }
        for tile in tiles {
            let mid_ok = !tile.mid.is_empty()
                && tile.mid.len() <= 16
                && tile.mid.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !mid_ok {
                return Err("a tile's mid must be 1 to 16 letters, digits, - or _".into());
            }
            if tile.height > Self::MAX_HEIGHT {
                return Err(format!("a tile is at most {} pixels high", Self::MAX_HEIGHT));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_code_is_listed_once_under_its_wire_name() {
        let names: std::collections::BTreeSet<&str> =
            ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(names.len(), ErrorCode::ALL.len());
        for code in ErrorCode::ALL {
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
        }
    }

    #[test]
    fn join_round_trips_with_version() {
        let text = r#"{"v":2,"type":"join","room":"standup","token":"abc"}"#;
        let env: Envelope<ClientMessage> = serde_json::from_str(text).unwrap();
        assert_eq!(env.v, 2);
        assert_eq!(
            env.msg,
            ClientMessage::Join {
                room: RoomName::new("standup").unwrap(),
                token: "abc".into(),
                min_version: None,
            }
        );
        // A display name has no place in anything the server receives.
        let named = r#"{"v":2,"type":"join","room":"standup","token":"abc","name":"Ada"}"#;
        assert!(serde_json::from_str::<Envelope<ClientMessage>>(named).is_err());
    }

    #[test]
    fn server_messages_carry_version_and_type() {
        let text = serde_json::to_string(&Envelope::new(ServerMessage::Pong)).unwrap();
        assert_eq!(text, r#"{"v":2,"type":"pong"}"#);
        let err =
            ServerMessage::Error { code: ErrorCode::WrongRoom, message: "x".into(), fatal: true };
        let text = serde_json::to_string(&Envelope::new(err)).unwrap();
        assert!(text.contains(r#""code":"wrong_room""#), "{text}");
    }

    #[test]
    fn bad_room_names_and_unknown_types_are_refused() {
        let bad_room = r#"{"v":1,"type":"join","room":"../etc","token":"abc"}"#;
        assert!(serde_json::from_str::<Envelope<ClientMessage>>(bad_room).is_err());
        let unknown = r#"{"v":1,"type":"explode"}"#;
        assert!(serde_json::from_str::<Envelope<ClientMessage>>(unknown).is_err());
    }
}
