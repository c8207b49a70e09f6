//! A host's messages, turned into what the registry and the SFU do. Every one is authorised by
//! the registry (the sender must be a host of the room); what it does to media (a muted source
//! stops at the SFU) is sent from here.

use veil_proto::ParticipantId;
use veil_proto::RoomName;
use veil_proto::media::MediaCommand;
use veil_proto::signal::{ClientMessage, ErrorCode};

use crate::AppState;
use crate::inbound::Refusal;
use crate::rooms::Revoke;
use crate::token;

/// Carries out a host action `message` sent by `actor` in `room`.
pub(crate) fn host_action(
    state: &AppState,
    room: &RoomName,
    actor: &ParticipantId,
    message: ClientMessage,
) -> Result<(), Refusal> {
    let rooms = state.rooms();
    let now = token::now_unix();
    match message {
        ClientMessage::Admit { participant_id } => {
            rooms.admit(room, actor, &participant_id, state.delivery())
        }
        ClientMessage::Deny { participant_id } => rooms.deny(room, actor, &participant_id),
        ClientMessage::Mute { participant_id, source } => {
            // Screen audio goes with the screen: muting either stops the share.
            let source = source.grant();
            let session = rooms.mute(room, actor, &participant_id, source)?;
            state.media().send(MediaCommand::SetMuted { session, source, muted: true });
            if source == veil_proto::room::Source::Screen {
                let source = veil_proto::room::Source::ScreenAudio;
                state.media().send(MediaCommand::SetMuted { session, source, muted: true });
            }
            Ok(())
        }
        ClientMessage::Remove { participant_id } => rooms.remove(room, actor, &participant_id, now),
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
            rooms.revoke(room, Some(actor), what, now).map(|_| ())
        }
        ClientMessage::SetPolicy { policy } => {
            for (session, grants) in rooms.set_policy(room, actor, policy)? {
                state.media().send(MediaCommand::SetGrants { session, grants });
            }
            Ok(())
        }
        ClientMessage::EndMeeting => rooms.end_meeting(room, actor, now),
        other => {
            Err(Refusal::soft(ErrorCode::BadMessage, format!("{other:?} is not a host action")))
        }
    }
}
