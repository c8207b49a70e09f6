//! What hosts and the operator do to a room, turned into what the registry and the SFU do. The
//! registry authorises each one (a host of the room, or the operator through the admin API);
//! what an action does to media (a muted source, narrower grants) is sent to the SFU from
//! here, so the WebSocket and the admin API share one path.

use veil_proto::media::MediaCommand;
use veil_proto::room::{RoomPolicy, Source};
use veil_proto::signal::{ClientMessage, ErrorCode};
use veil_proto::{ParticipantId, RoomName};

use crate::AppState;
use crate::inbound::Refusal;
use crate::rooms::{Actor, Revoke};
use crate::token;

/// Mutes `target`'s `source` (screen audio goes with the screen: muting either stops the
/// share); the SFU stops forwarding it until the participant turns it on again.
pub(crate) fn mute(
    state: &AppState,
    room: &RoomName,
    actor: Actor<'_>,
    target: &ParticipantId,
    source: Source,
) -> Result<(), Refusal> {
    let source = source.grant();
    let session = state.rooms().mute(room, actor, target, source)?;
    state.media().send(MediaCommand::SetMuted { session, source, muted: true });
    if source == Source::Screen {
        let source = Source::ScreenAudio;
        state.media().send(MediaCommand::SetMuted { session, source, muted: true });
    }
    Ok(())
}

/// Sets the room's policy; sessions whose grants it changed get them at the SFU.
pub(crate) fn set_policy(
    state: &AppState,
    room: &RoomName,
    actor: Actor<'_>,
    policy: RoomPolicy,
) -> Result<(), Refusal> {
    for (session, grants) in state.rooms().set_policy(room, actor, policy)? {
        state.media().send(MediaCommand::SetGrants { session, grants });
    }
    Ok(())
}

/// Carries out a host action `message` sent over the WebSocket by `actor` in `room`.
pub(crate) fn host_action(
    state: &AppState,
    room: &RoomName,
    actor: &ParticipantId,
    message: ClientMessage,
) -> Result<(), Refusal> {
    let rooms = state.rooms();
    let now = token::now_unix();
    let host = Actor::Host(actor);
    match message {
        ClientMessage::Admit { participant_id } => {
            rooms.admit(room, host, &participant_id, state.delivery())
        }
        ClientMessage::Deny { participant_id } => rooms.deny(room, host, &participant_id),
        ClientMessage::Mute { participant_id, source } => {
            mute(state, room, host, &participant_id, source)
        }
        ClientMessage::Remove { participant_id } => rooms.remove(room, host, &participant_id, now),
        ClientMessage::Revoke { identity, token_id } => {
            let what = match (identity, token_id) {
                (Some(identity), None) => Revoke::Identity(identity),
                (None, Some(token_id)) => Revoke::TokenId(token_id),
                _ => {
                    return Err(Refusal::soft(
                        ErrorCode::BadMessage,
                        "revoke names exactly one of `identity` and `token_id`",
                    ));
                }
            };
            rooms.revoke(room, host, what, now).map(|_| ())
        }
        ClientMessage::SetPolicy { policy } => set_policy(state, room, host, policy),
        ClientMessage::EndMeeting => rooms.end_meeting(room, host, now).map(|_| ()),
        other => {
            Err(Refusal::soft(ErrorCode::BadMessage, format!("{other:?} is not a host action")))
        }
    }
}
