//! What hosts and the operator do to a room, turned into what the registry and the SFU do. The
//! registry authorises each one (a host of the room, or the operator through the admin API);
//! what an action does to media (a muted source, narrower grants) is sent to the SFU from
//! here, and what it did, or that a participant asked without the right, goes to the audit
//! log from here, so the WebSocket and the admin API share one path.

use veil_proto::media::MediaCommand;
use veil_proto::room::{RoomPolicy, Source};
use veil_proto::signal::{ClientMessage, ErrorCode};
use veil_proto::{ParticipantId, RoomName};

use crate::AppState;
use crate::audit::{AuditEvent, AuthFailure, HostAction};
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
    let session = audited(state, room, actor, state.rooms().mute(room, actor, target, source))?;
    state.media().send(MediaCommand::SetMuted { session, source, muted: true });
    if source == Source::Screen {
        let source = Source::ScreenAudio;
        state.media().send(MediaCommand::SetMuted { session, source, muted: true });
    }
    let target = Some(target.clone());
    let action = HostAction::Mute;
    state.audit().record(AuditEvent::HostAction {
        room: room.clone(),
        by: actor.into(),
        action,
        target,
        source: Some(source),
    });
    Ok(())
}

/// Sets the room's policy; sessions whose grants it changed get them at the SFU.
pub(crate) fn set_policy(
    state: &AppState,
    room: &RoomName,
    actor: Actor<'_>,
    policy: RoomPolicy,
) -> Result<(), Refusal> {
    let changed = state.rooms().set_policy(room, actor, policy.clone());
    for (session, grants) in audited(state, room, actor, changed)? {
        state.media().send(MediaCommand::SetGrants { session, grants });
    }
    state.audit().record(AuditEvent::PolicyChanged {
        room: room.clone(),
        by: actor.into(),
        policy,
    });
    Ok(())
}

/// Removes `target`: disconnected, and its token cannot join the room again.
pub(crate) fn remove(
    state: &AppState,
    room: &RoomName,
    actor: Actor<'_>,
    target: &ParticipantId,
) -> Result<(), Refusal> {
    let removed = state.rooms().remove(room, actor, target, token::now_unix());
    audited(state, room, actor, removed)?;
    let (action, target) = (HostAction::Remove, Some(target.clone()));
    state.audit().record(AuditEvent::HostAction {
        room: room.clone(),
        by: actor.into(),
        action,
        target,
        source: None,
    });
    Ok(())
}

/// Revokes an identity or a token id in the room; returns how many were disconnected.
pub(crate) fn revoke(
    state: &AppState,
    room: &RoomName,
    actor: Actor<'_>,
    what: Revoke,
) -> Result<usize, Refusal> {
    let (identity, token_id) = match &what {
        Revoke::Identity(i) => (Some(i.clone()), None),
        Revoke::TokenId(t) => (None, Some(t.clone())),
    };
    let cut = state.rooms().revoke(room, actor, what, token::now_unix());
    let cut = audited(state, room, actor, cut)?;
    state.audit().record(AuditEvent::Revoked {
        room: room.clone(),
        by: actor.into(),
        identity,
        token_id,
    });
    Ok(cut)
}

/// Ends the meeting for everyone; returns how many were disconnected.
pub(crate) fn end_meeting(
    state: &AppState,
    room: &RoomName,
    actor: Actor<'_>,
) -> Result<usize, Refusal> {
    let ended = state.rooms().end_meeting(room, actor, token::now_unix());
    let disconnected = audited(state, room, actor, ended)?;
    let action = HostAction::EndMeeting;
    state.audit().record(AuditEvent::HostAction {
        room: room.clone(),
        by: actor.into(),
        action,
        target: None,
        source: None,
    });
    Ok(disconnected)
}

/// Passes `result` on, recording a participant's attempt at a host action it may not take.
fn audited<T>(
    state: &AppState,
    room: &RoomName,
    actor: Actor<'_>,
    result: Result<T, Refusal>,
) -> Result<T, Refusal> {
    if let (Err(refusal), Actor::Host(participant)) = (&result, actor)
        && refusal.code == ErrorCode::Forbidden
    {
        state.audit().record(AuditEvent::AuthFailed {
            what: AuthFailure::Forbidden,
            room: Some(room.clone()),
            participant: Some(participant.clone()),
        });
    }
    result
}

/// Carries out a host action `message` sent over the WebSocket by `actor` in `room`.
pub(crate) fn host_action(
    state: &AppState,
    room: &RoomName,
    actor: &ParticipantId,
    message: ClientMessage,
) -> Result<(), Refusal> {
    let rooms = state.rooms();
    let host = Actor::Host(actor);
    let by = || host.into();
    match message {
        ClientMessage::Admit { participant_id } => {
            audited(state, room, host, rooms.admit(room, host, &participant_id, state.delivery()))?;
            state.audit().record(AuditEvent::Admitted {
                room: room.clone(),
                participant: participant_id,
                by: by(),
            });
            Ok(())
        }
        ClientMessage::Deny { participant_id } => {
            audited(state, room, host, rooms.deny(room, host, &participant_id))?;
            state.audit().record(AuditEvent::Denied {
                room: room.clone(),
                participant: participant_id,
                by: by(),
            });
            Ok(())
        }
        ClientMessage::Mute { participant_id, source } => {
            mute(state, room, host, &participant_id, source)
        }
        ClientMessage::Remove { participant_id } => remove(state, room, host, &participant_id),
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
            revoke(state, room, host, what).map(|_| ())
        }
        ClientMessage::SetPolicy { policy } => set_policy(state, room, host, policy),
        ClientMessage::EndMeeting => end_meeting(state, room, host).map(|_| ()),
        other => {
            Err(Refusal::soft(ErrorCode::BadMessage, format!("{other:?} is not a host action")))
        }
    }
}
