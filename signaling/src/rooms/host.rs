//! What hosts (and the operator) do to a room: the lobby, muting, removing, revoking, the
//! room's policy, ending the meeting. Every action is checked here, on the server: a
//! participant without the host grant gets `forbidden` and nothing happens. The operator
//! ([`Actor::Operator`], through the admin API) may do all but the lobby decisions.

use veil_proto::media::{MediaGrants, SessionId};
use veil_proto::room::{RoomPolicy, Source};
use veil_proto::signal::{ErrorCode, ServerMessage};
use veil_proto::{ParticipantId, RoomName};

use super::{Registry, Room, State};
use crate::audit::By;
use crate::inbound::Refusal;
use crate::mls::DeliveryService;
use crate::outbound::{KickReason, encode};
use crate::revocations::{IDENTITY_REVOCATION_SECS, Revocation, TOKEN_REVOCATION_SECS};
use crate::webhooks::Event;

/// What a host asked to revoke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Revoke {
    Identity(String),
    TokenId(String),
}

/// Who acts on a room: one of its hosts, over its WebSocket, or the operator, through the
/// admin API.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Actor<'a> {
    Host(&'a ParticipantId),
    Operator,
}

impl From<Actor<'_>> for By {
    /// How the audit log names the actor.
    fn from(actor: Actor<'_>) -> Self {
        match actor {
            Actor::Host(p) => By::from(p),
            Actor::Operator => By::Operator,
        }
    }
}

fn forbidden() -> Refusal {
    Refusal::soft(ErrorCode::Forbidden, "only a host of this meeting may do that")
}

fn unknown(who: &ParticipantId) -> Refusal {
    Refusal::soft(ErrorCode::UnknownParticipant, format!("nobody with id {who} is in this meeting"))
}

/// The room, if `actor` may run it: one of its hosts, or the operator (to whom a room nobody
/// is in does not exist).
fn authorised<'a>(
    state: &'a mut State,
    room: &RoomName,
    actor: Actor<'_>,
) -> Result<&'a mut Room, Refusal> {
    match actor {
        Actor::Host(actor) => {
            let room = state.rooms.get_mut(room).ok_or_else(forbidden)?;
            if !room.is_host(actor) {
                return Err(forbidden());
            }
            Ok(room)
        }
        Actor::Operator => state.rooms.get_mut(room).ok_or_else(|| {
            Refusal::soft(ErrorCode::UnknownRoom, "nobody is in that room (or waits in its lobby)")
        }),
    }
}

impl Registry {
    /// A host lets `target` in from the lobby: it joins (its connection is told through the
    /// lobby entry, and opens its media session).
    pub(crate) fn admit(
        &self,
        room_name: &RoomName,
        actor: Actor<'_>,
        target: &ParticipantId,
        ds: &dyn DeliveryService,
    ) -> Result<(), Refusal> {
        let mut state = self.lock();
        let room = authorised(&mut state, room_name, actor)?;
        let i = room.lobby.iter().position(|w| &w.admission.participant == target);
        let i = i.ok_or_else(|| unknown(target))?;
        if room.members.len() >= room.policy.max_participants as usize {
            let max = room.policy.max_participants;
            return Err(Refusal::soft(
                ErrorCode::RoomFull,
                format!(
                    "the meeting is full ({max} participants); raise the limit in the settings first"
                ),
            ));
        }
        let waiting = room.lobby.remove(i);
        let mut events = Vec::new();
        let admitted = room.seat(waiting.admission, waiting.identity, ds, &mut events);
        room.lobby_to_hosts();
        // The connection may have gone meanwhile; its leave then finds it seated and removes it.
        let _ = waiting.admit.send(admitted);
        drop(state);
        self.emit(events);
        Ok(())
    }

    /// A host turns `target` away from the lobby.
    pub(crate) fn deny(
        &self,
        room_name: &RoomName,
        actor: Actor<'_>,
        target: &ParticipantId,
    ) -> Result<(), Refusal> {
        let mut state = self.lock();
        let room = authorised(&mut state, room_name, actor)?;
        let i = room.lobby.iter().position(|w| &w.admission.participant == target);
        let waiting = room.lobby.remove(i.ok_or_else(|| unknown(target))?);
        waiting.admission.link.kick(KickReason::Denied);
        room.lobby_to_hosts();
        Ok(())
    }

    /// A host mutes `target`'s `source` (a screen: stops the share). Returns the target's
    /// media session, whose source the SFU stops forwarding.
    pub(crate) fn mute(
        &self,
        room_name: &RoomName,
        actor: Actor<'_>,
        target: &ParticipantId,
        source: Source,
    ) -> Result<SessionId, Refusal> {
        // Screen audio goes with the screen: muting either stops the share.
        let source = source.grant();
        let mut state = self.lock();
        let room = authorised(&mut state, room_name, actor)?;
        let i = room.position(target).ok_or_else(|| unknown(target))?;
        let member = &mut room.members[i];
        let before = member.sources();
        member.muted.insert(source);
        if source == Source::Screen {
            member.muted.insert(Source::ScreenAudio);
        }
        match source {
            Source::Microphone => member.info.microphone = false,
            Source::Camera => member.info.camera = false,
            Source::Screen | Source::ScreenAudio => member.info.screen = false,
        }
        member.link.deliver(encode(ServerMessage::MuteRequested { source }));
        let session = member.session;
        let mut events = Vec::new();
        super::track_changes(&room.id, target, before, member.sources(), &mut events);
        let updated =
            encode(ServerMessage::ParticipantUpdated { participant: member.info.clone() });
        room.broadcast(&updated, target);
        drop(state);
        self.emit(events);
        Ok(session)
    }

    /// A host removes `target`: its connection closes, and the token it joined with (or, if
    /// the token has no id, its identity) cannot join this room again.
    pub(crate) fn remove(
        &self,
        room_name: &RoomName,
        actor: Actor<'_>,
        target: &ParticipantId,
        now: u64,
    ) -> Result<(), Refusal> {
        let mut state = self.lock();
        let room = authorised(&mut state, room_name, actor)?;
        let member = room.member(target).ok_or_else(|| unknown(target))?;
        let revocation = match &member.token_id {
            Some(id) => Revocation {
                room: room_name.clone(),
                identity: None,
                token_id: Some(id.clone()),
                until: member.token_exp,
            },
            None => Revocation {
                room: room_name.clone(),
                identity: Some(member.info.identity.clone()),
                token_id: None,
                until: member.token_exp,
            },
        };
        member.link.kick(KickReason::Removed);
        state.revocations.add(revocation, now);
        Ok(())
    }

    /// Revokes an identity or token id in a room, on a host's word (`actor`) or the operator's
    /// (`None`): live participants holding it are disconnected, and it cannot join again.
    /// Returns how many were disconnected.
    pub(crate) fn revoke(
        &self,
        room_name: &RoomName,
        actor: Actor<'_>,
        what: Revoke,
        now: u64,
    ) -> Result<usize, Refusal> {
        let mut state = self.lock();
        if let Actor::Host(_) = actor {
            authorised(&mut state, room_name, actor)?;
        }
        let bar = |identity: Option<String>, token_id: Option<String>, until: u64| Revocation {
            room: room_name.clone(),
            identity,
            token_id,
            until,
        };
        let mut revocations = vec![match &what {
            Revoke::Identity(i) => bar(Some(i.clone()), None, now + IDENTITY_REVOCATION_SECS),
            Revoke::TokenId(t) => bar(None, Some(t.clone()), now + TOKEN_REVOCATION_SECS),
        }];
        let mut cut = 0;
        if let Some(room) = state.rooms.get_mut(room_name) {
            let holders = room.members.iter().map(|m| Holder {
                identity: &m.info.identity,
                token: m.token_id.as_deref(),
                token_exp: m.token_exp,
                guest: m.guest,
                link: &m.link,
            });
            let waiting = room.lobby.iter().map(|w| Holder {
                identity: &w.identity,
                token: w.admission.token_id.as_deref(),
                token_exp: w.admission.token_exp,
                guest: w.admission.identity == super::Identity::Guest,
                link: &w.admission.link,
            });
            for h in holders.chain(waiting).filter(|h| h.holds(&what)) {
                h.link.kick(KickReason::Revoked);
                cut += 1;
                // A guest's identity is made up afresh on every join: what it holds is its
                // token. A live holder's token is barred until it expires, however long.
                if let Some(token) = h.token
                    && (h.guest || matches!(what, Revoke::TokenId(_)))
                {
                    let until = h.token_exp.max(now + IDENTITY_REVOCATION_SECS);
                    revocations.push(bar(None, Some(token.to_owned()), until));
                }
            }
        }
        for revocation in revocations {
            state.revocations.add(revocation, now);
        }
        Ok(cut)
    }

    /// A host changes the room's policy; everybody is told, with what they may do now.
    /// Returns the media sessions whose grants changed: a screen no longer granted is stopped
    /// (as if a host had muted it) and the SFU is told the new grants, which also say whether
    /// it may read the session's audio levels (server-side speaker detection).
    pub(crate) fn set_policy(
        &self,
        room_name: &RoomName,
        actor: Actor<'_>,
        policy: RoomPolicy,
    ) -> Result<Vec<(SessionId, MediaGrants)>, Refusal> {
        let mut state = self.lock();
        let room = authorised(&mut state, room_name, actor)?;
        policy.validate().map_err(|e| Refusal::soft(ErrorCode::BadMessage, e))?;
        let old = room.policy.clone();
        room.policy = policy.clone();
        let mut changed = Vec::new();
        let mut updated = Vec::new();
        let mut events = Vec::new();
        for m in &mut room.members {
            let (before, after) =
                (super::effective(&old, &m.grants), super::effective(&policy, &m.grants));
            m.link.deliver(encode(ServerMessage::PolicyUpdated {
                policy: policy.clone(),
                grants: after.clone(),
            }));
            let media = super::media_grants(&policy, &after);
            if media == super::media_grants(&old, &before) {
                continue;
            }
            changed.push((m.session, media));
            if before.publish == after.publish {
                continue;
            }
            if !after.may_publish(Source::Screen) {
                m.muted.extend([Source::Screen, Source::ScreenAudio]);
                if m.info.screen {
                    m.info.screen = false;
                    events.push(Event::track(&room.id, &m.info.id, Source::Screen, false));
                    m.link.deliver(encode(ServerMessage::MuteRequested { source: Source::Screen }));
                }
            }
            updated.push(m.session);
        }
        for session in &updated {
            if let Some(m) = room.members.iter().find(|m| m.session == *session) {
                let updated =
                    encode(ServerMessage::ParticipantUpdated { participant: m.info.clone() });
                room.broadcast(&updated, &m.info.id);
            }
        }
        drop(state);
        self.emit(events);
        Ok(changed)
    }

    /// A host (or the operator) ends the meeting: everybody, in the room and in its lobby, is
    /// disconnected, and non-hosts are turned away for a while unless a host opens it again.
    /// Returns how many were disconnected.
    pub(crate) fn end_meeting(
        &self,
        room_name: &RoomName,
        actor: Actor<'_>,
        now: u64,
    ) -> Result<usize, Refusal> {
        let mut state = self.lock();
        let room = authorised(&mut state, room_name, actor)?;
        for m in &room.members {
            m.link.kick(KickReason::MeetingEnded);
        }
        for w in &room.lobby {
            w.admission.link.kick(KickReason::MeetingEnded);
        }
        let disconnected = room.members.len() + room.lobby.len();
        state.ended.insert(room_name.clone(), now + super::ENDED_FOR_SECS);
        Ok(disconnected)
    }
}

/// Someone in a room or its lobby, as a revocation sees them.
struct Holder<'a> {
    identity: &'a str,
    token: Option<&'a str>,
    token_exp: u64,
    guest: bool,
    link: &'a crate::outbound::Link,
}

impl Holder<'_> {
    fn holds(&self, what: &Revoke) -> bool {
        match what {
            Revoke::Identity(i) => self.identity == i,
            Revoke::TokenId(t) => self.token == Some(t.as_str()),
        }
    }
}
