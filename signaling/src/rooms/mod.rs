//! Who is in which room, who waits in its lobby, and presence broadcasts.
//!
//! One [`Registry`] holds every room behind one `std::sync::Mutex`. Critical sections are short
//! and never await: they change the map and `try_send` pre-serialized messages into the
//! members' outbound queues (see [`crate::outbound`]). Because the change and the broadcast
//! happen under the same lock, every member sees joins, updates and leaves in one order, and a
//! newcomer's `joined` snapshot is consistent with the events that follow it.
//!
//! A room exists while somebody is in it or waits in its lobby: the first join creates it (with
//! the default policy), the last leave drops it. What must outlive a room lives beside the
//! rooms: revocations (also on disk) and rooms a host ended.
//!
//! Entering a room ([`Registry::enter`]) checks, in order: revocations, an ended meeting, a
//! locked room, a full room (hosts pass the last three), then the lobby: a participant without
//! the bypass grant in a room with a lobby waits there, receiving nothing of the room, until a
//! host admits or denies it ([`host`]).
//!
//! Webhook events ([`crate::webhooks`]) come from here, where the changes happen: a method
//! collects them while it holds the lock and emits them once it has released it.

mod host;

pub(crate) use host::{Actor, Revoke};

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use rand::Rng;
use tokio::sync::oneshot;
use veil_proto::media::{MediaGrants, SessionId};
use veil_proto::room::{Grants, RoomPolicy, ScreenSharePolicy, Source};
use veil_proto::signal::{ErrorCode, IceServer, LobbyEntry, ParticipantInfo, ServerMessage};
use veil_proto::{ParticipantId, RoomName};

use crate::inbound::Refusal;
use crate::mls::{Delivery, DeliveryService, Group, MlsRefusal, To};
use crate::outbound::{KickReason, Link, encode};
use crate::revocations::Revocations;
use crate::webhooks::{Event, Webhooks};

/// Who is joining: a named identity from the token, or a guest who gets a fresh one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Identity {
    Named(String),
    Guest,
}

/// Everything the registry needs to admit a participant.
#[derive(Debug)]
pub(crate) struct Admission {
    pub room: RoomName,
    pub identity: Identity,
    pub participant: ParticipantId,
    pub session: SessionId,
    pub link: Link,
    pub grants: Grants,
    /// The token's id (`jti`), if it has one.
    pub token_id: Option<String>,
    /// When the token expires (Unix seconds): a revocation of its id lasts that long.
    pub token_exp: u64,
    /// The TURN relays this participant may use, with its own credentials.
    pub ice_servers: Vec<IceServer>,
}

/// What a join did.
#[derive(Debug)]
pub(crate) struct Admitted {
    /// The identity the participant got (a generated one for guests).
    pub identity: String,
    /// The connection that had the same identity and was replaced, if any.
    pub replaced: Option<(SessionId, ParticipantId)>,
    /// What its media session may do (its grants after the room's policy).
    pub media: MediaGrants,
    /// A host of the room.
    pub host: bool,
}

/// How a participant entered.
#[derive(Debug)]
pub(crate) enum Entered {
    /// In the room: `joined` is on its way.
    Joined(Admitted),
    /// Waiting in the lobby: `lobby` is on its way; the receiver fires when a host admits it
    /// (a denial kicks the connection instead).
    Waiting {
        /// The identity it waits under (a generated one for guests).
        identity: String,
        admitted: oneshot::Receiver<Admitted>,
    },
}

#[derive(Debug)]
struct Member {
    info: ParticipantInfo,
    session: SessionId,
    link: Link,
    /// What the token grants; the room's policy may allow less ([`Room::effective`]).
    grants: Grants,
    token_id: Option<String>,
    token_exp: u64,
    /// Joined under a generated guest identity: revoking it means revoking its token.
    guest: bool,
    /// Sources a host muted and the participant has not turned on again since.
    muted: BTreeSet<Source>,
}

impl Member {
    /// What its microphone, camera and screen are.
    fn sources(&self) -> [(Source, bool); 3] {
        let info = &self.info;
        [
            (Source::Microphone, info.microphone),
            (Source::Camera, info.camera),
            (Source::Screen, info.screen),
        ]
    }

    /// The events of its leaving `room`: its tracks go, then it does.
    fn departure(&self, room: &str, events: &mut Vec<Event>) {
        let id = &self.info.id;
        for (source, _) in self.sources().into_iter().filter(|(_, on)| *on) {
            events.push(Event::track(room, id, source, false));
        }
        events.push(Event::participant_left(room, id));
    }
}

/// Track events for the sources that differ between `before` and `after`.
fn track_changes(
    room: &str,
    participant: &ParticipantId,
    before: [(Source, bool); 3],
    after: [(Source, bool); 3],
    events: &mut Vec<Event>,
) {
    for ((source, was), (_, is)) in before.into_iter().zip(after) {
        if was != is {
            events.push(Event::track(room, participant, source, is));
        }
    }
}

/// A participant waiting in the lobby.
#[derive(Debug)]
struct Waiting {
    admission: Admission,
    identity: String,
    admit: oneshot::Sender<Admitted>,
}

/// Members in join order. Rooms are small (tens, a few hundred at most), so a vector beats a
/// map and keeps `joined` snapshots in a stable order.
#[derive(Debug)]
struct Room {
    /// An opaque id for the operator's listings, so that they need not show room names.
    id: String,
    members: Vec<Member>,
    lobby: Vec<Waiting>,
    policy: RoomPolicy,
    /// The room's MLS group as the delivery service tracks it.
    group: Group,
}

/// An MLS message from a participant, for the delivery service.
#[derive(Debug)]
pub(crate) enum MlsInput {
    KeyPackage(String),
    GroupCreated { group_info: String },
    Joined { leaf: u32 },
    Commit { epoch: u64, commit: String, welcome: Option<String> },
    Application { epoch: u64, message: String },
}

impl Room {
    fn new(policy: RoomPolicy) -> Self {
        Self {
            id: format!("r_{:016x}", rand::rng().random::<u64>()),
            members: Vec::new(),
            lobby: Vec::new(),
            policy,
            group: Group::default(),
        }
    }

    fn deliver(&self, deliveries: Vec<Delivery>) {
        for (to, msg) in deliveries {
            let text = encode(msg);
            let targets: Vec<&ParticipantId> = match &to {
                To::One(p) => vec![p],
                To::List(ids) => ids.iter().collect(),
                To::Members => self.group.members().collect(),
                To::MembersExcept(except) => {
                    self.group.members().filter(|p| *p != except).collect()
                }
            };
            for p in targets {
                if let Some(m) = self.members.iter().find(|m| &m.info.id == p) {
                    m.link.deliver(text.clone());
                }
            }
        }
    }

    fn ids(&self) -> Vec<ParticipantId> {
        self.members.iter().map(|m| m.info.id.clone()).collect()
    }

    fn broadcast(&self, text: &axum::extract::ws::Utf8Bytes, except: &ParticipantId) {
        for m in self.members.iter().filter(|m| &m.info.id != except) {
            m.link.deliver(text.clone());
        }
    }

    fn position(&self, id: &ParticipantId) -> Option<usize> {
        self.members.iter().position(|m| &m.info.id == id)
    }

    fn member(&self, id: &ParticipantId) -> Option<&Member> {
        self.members.iter().find(|m| &m.info.id == id)
    }

    fn is_host(&self, id: &ParticipantId) -> bool {
        self.member(id).is_some_and(|m| m.grants.host)
    }

    /// Tells the hosts who waits in the lobby.
    fn lobby_to_hosts(&self) {
        let waiting = self
            .lobby
            .iter()
            .map(|w| LobbyEntry {
                id: w.admission.participant.clone(),
                identity: w.identity.clone(),
            })
            .collect();
        let text = encode(ServerMessage::LobbyUpdated { waiting });
        for m in self.members.iter().filter(|m| m.grants.host) {
            m.link.deliver(text.clone());
        }
    }

    /// The grants a participant gets here: a room whose screen sharing is for hosts takes the
    /// screen away from everyone else.
    fn effective(&self, grants: &Grants) -> Grants {
        effective(&self.policy, grants)
    }

    fn identity_taken(&self, identity: &str) -> bool {
        self.members.iter().any(|m| m.info.identity == identity)
            || self.lobby.iter().any(|w| w.identity == identity)
    }

    /// Makes `a` a member: replaces a connection with the same identity (it is kicked and the
    /// others see it leave), queues `joined` for the newcomer and `participant_joined` for the
    /// others. Adds the webhook events of that to `events`.
    fn seat(
        &mut self,
        a: Admission,
        identity: String,
        ds: &dyn DeliveryService,
        events: &mut Vec<Event>,
    ) -> Admitted {
        let mut replaced = None;
        if let Some(i) = self.members.iter().position(|m| m.info.identity == identity) {
            let old = self.members.remove(i);
            old.departure(&self.id, events);
            old.link.kick(KickReason::Replaced);
            let left =
                encode(ServerMessage::ParticipantLeft { participant_id: old.info.id.clone() });
            self.broadcast(&left, &old.info.id);
            let out = self.group.on_leave(&old.info.id, &self.ids());
            self.deliver(out);
            replaced = Some((old.session, old.info.id));
        }
        let grants = self.effective(&a.grants);
        let info = ParticipantInfo {
            id: a.participant.clone(),
            identity: identity.clone(),
            // Nothing is published until the client says so with `publish_state`.
            microphone: false,
            camera: false,
            screen: false,
            host: grants.host,
        };
        let e2ee = self.group.on_join(&a.participant, ds);
        a.link.deliver(encode(ServerMessage::Joined {
            participant_id: a.participant.clone(),
            room: a.room,
            identity: identity.clone(),
            grants: grants.clone(),
            policy: self.policy.clone(),
            participants: self.members.iter().map(|m| m.info.clone()).collect(),
            e2ee,
            ice_servers: a.ice_servers,
        }));
        self.broadcast(
            &encode(ServerMessage::ParticipantJoined { participant: info.clone() }),
            &a.participant,
        );
        let media = media_grants(&self.policy, &grants);
        let host = grants.host;
        events.push(Event::participant_joined(&self.id, &a.participant));
        self.members.push(Member {
            info,
            session: a.session,
            link: a.link,
            grants: a.grants,
            token_id: a.token_id,
            token_exp: a.token_exp,
            guest: a.identity == Identity::Guest,
            muted: BTreeSet::new(),
        });
        if host && !self.lobby.is_empty() {
            self.lobby_to_hosts();
        }
        Admitted { identity, replaced, media, host }
    }
}

/// All rooms of this node, and what outlives them.
#[derive(Debug)]
pub(crate) struct Registry {
    state: Mutex<State>,
    /// Where webhook events go, once [`Registry::set_webhooks`] gave somewhere.
    webhooks: OnceLock<Arc<Webhooks>>,
}

#[derive(Debug, Default)]
struct State {
    rooms: HashMap<RoomName, Room>,
    revocations: Revocations,
    /// Rooms a host ended, until when (Unix seconds) non-hosts are turned away.
    ended: HashMap<RoomName, u64>,
    /// The most participants a new room holds.
    max_participants: u32,
}

/// How long an ended meeting turns non-hosts away (unless a host opens it again).
const ENDED_FOR_SECS: u64 = 3600;

impl Registry {
    /// A registry keeping its revocations in `revocations` (in the data directory), and
    /// opening rooms with `max_participants`.
    pub(crate) fn new(revocations: Revocations, max_participants: u32) -> Self {
        let state = State { revocations, max_participants, ..State::default() };
        Self { state: Mutex::new(state), webhooks: OnceLock::new() }
    }

    /// Sends webhook events to `webhooks` from now on. Only the first call counts.
    pub(crate) fn set_webhooks(&self, webhooks: Arc<Webhooks>) -> bool {
        self.webhooks.set(webhooks).is_ok()
    }

    /// Emits `events`; call it after releasing the lock ([`Webhooks::emit`] does not wait, but
    /// nothing needs to happen under the lock that can happen after it).
    fn emit(&self, events: Vec<Event>) {
        if let Some(webhooks) = self.webhooks.get() {
            for event in events {
                webhooks.emit(event);
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves the state consistent (each change is one
        // push/remove), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Number of rooms with somebody in them.
    pub(crate) fn room_count(&self) -> usize {
        self.lock().rooms.len()
    }

    /// The revocations in force at `now`, for other nodes to learn.
    pub(crate) fn revocations(&self, now: u64) -> Vec<crate::revocations::Revocation> {
        self.lock().revocations.live(now)
    }

    /// Revocations other nodes made: joins here are refused by them too.
    pub(crate) fn learn_revocations(
        &self,
        revocations: Vec<crate::revocations::Revocation>,
        now: u64,
    ) {
        self.lock().revocations.learn(revocations, now);
    }

    /// The rooms that exist now (someone in them or waiting in their lobby).
    pub(crate) fn room_names(&self) -> Vec<RoomName> {
        self.lock().rooms.keys().cloned().collect()
    }

    /// Number of participants across all rooms (not counting lobbies).
    pub(crate) fn participant_count(&self) -> usize {
        self.lock().rooms.values().map(|r| r.members.len()).sum()
    }

    /// Rooms, participants in them and participants in their lobbies, in one look.
    pub(crate) fn census(&self) -> (usize, usize, usize) {
        let registry = self.lock();
        let rooms = registry.rooms.values();
        let (members, waiting) =
            rooms.fold((0, 0), |(m, w), r| (m + r.members.len(), w + r.lobby.len()));
        (registry.rooms.len(), members, waiting)
    }

    /// Lets a participant in, into the lobby, or refuses it (see the module docs).
    pub(crate) fn enter(
        &self,
        a: Admission,
        now: u64,
        ds: &dyn DeliveryService,
    ) -> Result<Entered, Refusal> {
        let mut events = Vec::new();
        let entered = self.enter_locked(a, now, ds, &mut events);
        if entered.is_ok() {
            self.emit(events);
        }
        entered
    }

    /// [`Registry::enter`] under the lock, collecting its webhook events.
    fn enter_locked(
        &self,
        a: Admission,
        now: u64,
        ds: &dyn DeliveryService,
        events: &mut Vec<Event>,
    ) -> Result<Entered, Refusal> {
        let mut state = self.lock();
        let State { rooms, revocations, ended, max_participants } = &mut *state;
        let host = a.grants.host;
        // A guest has no identity to revoke, only its token id.
        let named = match &a.identity {
            Identity::Named(identity) => identity.as_str(),
            Identity::Guest => "",
        };
        if revocations.refuses(&a.room, named, a.token_id.as_deref(), now) {
            return Err(Refusal::fatal(
                ErrorCode::Revoked,
                "your access to this meeting was revoked; ask the host for a new link",
            ));
        }
        if host {
            ended.remove(&a.room);
        } else if ended.get(&a.room).is_some_and(|until| *until > now) {
            return Err(Refusal::fatal(ErrorCode::MeetingEnded, "the host ended this meeting"));
        }
        let room = rooms.entry(a.room.clone()).or_insert_with(|| {
            let room = Room::new(RoomPolicy::new(*max_participants));
            events.push(Event::room_started(&room.id));
            room
        });
        if !host && room.policy.locked {
            return Err(Refusal::fatal(
                ErrorCode::RoomLocked,
                "the meeting is locked; ask the host to unlock it",
            ));
        }
        if !host && room.members.len() >= room.policy.max_participants as usize {
            return Err(Refusal::fatal(
                ErrorCode::RoomFull,
                format!("the meeting is full ({} participants)", room.policy.max_participants),
            ));
        }
        let identity = match &a.identity {
            Identity::Named(identity) => identity.clone(),
            Identity::Guest => fresh_guest_identity(room),
        };
        if room.policy.lobby && !a.grants.skips_lobby() {
            if room.lobby.len() >= room.policy.max_participants as usize {
                return Err(Refusal::fatal(
                    ErrorCode::RoomFull,
                    "the meeting's lobby is full; try again later",
                ));
            }
            a.link.deliver(encode(ServerMessage::Lobby { room: a.room.clone() }));
            let (admit, admitted) = oneshot::channel();
            let waiting_as = identity.clone();
            room.lobby.push(Waiting { admission: a, identity, admit });
            room.lobby_to_hosts();
            return Ok(Entered::Waiting { identity: waiting_as, admitted });
        }
        Ok(Entered::Joined(room.seat(a, identity, ds, events)))
    }

    /// Removes a participant and tells the others. Returns false if it was not there (already
    /// replaced, or never admitted). Drops the room when nobody is left in it or its lobby.
    pub(crate) fn leave(&self, room_name: &RoomName, participant: &ParticipantId) -> bool {
        let mut events = Vec::new();
        let left = self.leave_locked(room_name, participant, &mut events);
        self.emit(events);
        left
    }

    /// [`Registry::leave`] under the lock, collecting its webhook events.
    fn leave_locked(
        &self,
        room_name: &RoomName,
        participant: &ParticipantId,
        events: &mut Vec<Event>,
    ) -> bool {
        let mut state = self.lock();
        let Some(room) = state.rooms.get_mut(room_name) else {
            return false;
        };
        if let Some(i) = room.lobby.iter().position(|w| &w.admission.participant == participant) {
            room.lobby.remove(i);
            room.lobby_to_hosts();
            if room.members.is_empty() && room.lobby.is_empty() {
                events.push(Event::room_finished(&room.id));
                state.rooms.remove(room_name);
            }
            return true;
        }
        let Some(i) = room.position(participant) else {
            return false;
        };
        let gone = room.members.remove(i);
        gone.departure(&room.id, events);
        if room.members.is_empty() && room.lobby.is_empty() {
            events.push(Event::room_finished(&room.id));
            state.rooms.remove(room_name);
        } else {
            let left =
                encode(ServerMessage::ParticipantLeft { participant_id: participant.clone() });
            room.broadcast(&left, participant);
            let out = room.group.on_leave(participant, &room.ids());
            room.deliver(out);
        }
        true
    }

    /// Hands an MLS message to the room's delivery service and delivers what follows.
    pub(crate) fn mls(
        &self,
        room_name: &RoomName,
        participant: &ParticipantId,
        input: MlsInput,
        ds: &dyn DeliveryService,
    ) -> Result<(), MlsRefusal> {
        let mut state = self.lock();
        let Some(room) = member_room(&mut state.rooms, room_name, participant) else {
            return Ok(()); // Already gone: nothing to do.
        };
        let group = &mut room.group;
        let out = match input {
            MlsInput::KeyPackage(kp) => group.on_key_package(participant, kp, ds)?,
            MlsInput::GroupCreated { group_info } => {
                group.on_group_created(participant, &group_info, ds)?
            }
            MlsInput::Joined { leaf } => {
                group.on_joined(participant, leaf)?;
                Vec::new()
            }
            MlsInput::Commit { epoch, commit, welcome } => {
                group.on_commit(participant, epoch, &commit, welcome)?
            }
            MlsInput::Application { epoch, message } => {
                group.on_application(participant, epoch, message, ds)?
            }
        };
        room.deliver(out);
        Ok(())
    }

    /// Records a participant's microphone, camera and screen state and tells the others.
    /// Returns the sources a host had muted that the participant turned on again: the SFU
    /// forwards them again.
    pub(crate) fn publish_state(
        &self,
        room_name: &RoomName,
        participant: &ParticipantId,
        on: [(Source, bool); 3],
    ) -> Vec<Source> {
        let mut events = Vec::new();
        let unmuted = self.publish_state_locked(room_name, participant, on, &mut events);
        self.emit(events);
        unmuted
    }

    /// [`Registry::publish_state`] under the lock, collecting its webhook events.
    fn publish_state_locked(
        &self,
        room_name: &RoomName,
        participant: &ParticipantId,
        on: [(Source, bool); 3],
        events: &mut Vec<Event>,
    ) -> Vec<Source> {
        let mut state = self.lock();
        let Some(room) = member_room(&mut state.rooms, room_name, participant) else {
            return Vec::new();
        };
        let Some(i) = room.position(participant) else { return Vec::new() };
        let granted = room.effective(&room.members[i].grants);
        // Presence follows the grants: a screen the SFU would not forward is not "presenting".
        let on = on.map(|(source, on)| (source, on && granted.may_publish(source)));
        let member = &mut room.members[i];
        let mut unmuted = Vec::new();
        for (source, on) in on {
            if on && granted.may_publish(source) && member.muted.remove(&source) {
                unmuted.push(source);
                if source == Source::Screen {
                    unmuted.push(Source::ScreenAudio);
                }
            }
        }
        track_changes(&room.id, participant, member.sources(), on, events);
        let info = &mut member.info;
        let new = (on[0].1, on[1].1, on[2].1);
        if (info.microphone, info.camera, info.screen) != new {
            (info.microphone, info.camera, info.screen) = new;
            let updated = encode(ServerMessage::ParticipantUpdated { participant: info.clone() });
            room.broadcast(&updated, participant);
        }
        unmuted
    }
}

/// What `grants` allow under `policy`.
fn effective(policy: &RoomPolicy, grants: &Grants) -> Grants {
    let mut grants = grants.clone();
    if policy.screen_share == ScreenSharePolicy::Hosts && !grants.host {
        grants.publish.retain(|s| *s != Source::Screen);
    }
    grants
}

/// What the SFU may do with a member's media: its effective `grants`, and whether the room's
/// `policy` lets the SFU read its audio levels.
fn media_grants(policy: &RoomPolicy, grants: &Grants) -> MediaGrants {
    MediaGrants {
        publish: grants.publish.clone(),
        subscribe: grants.subscribe,
        speaker_detection: policy.server_speaker_detection,
    }
}

/// A room as the operator's listing shows it: counts, no names.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(crate) struct RoomSummary {
    pub id: String,
    pub participants: usize,
    pub hosts: usize,
    pub lobby: usize,
}

/// One room in detail: its summary, policy, and who is in it and its lobby (ids and
/// identities, never names: the server has none).
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct RoomDetail {
    #[serde(flatten)]
    pub summary: RoomSummary,
    pub policy: RoomPolicy,
    #[serde(skip)]
    pub participants: Vec<ParticipantInfo>,
    #[serde(skip)]
    pub waiting: Vec<LobbyEntry>,
}

impl Room {
    fn summary(&self) -> RoomSummary {
        RoomSummary {
            id: self.id.clone(),
            participants: self.members.len(),
            hosts: self.members.iter().filter(|m| m.grants.host).count(),
            lobby: self.lobby.len(),
        }
    }
}

impl Registry {
    /// Every room with somebody in it or its lobby, by opaque id.
    pub(crate) fn summaries(&self) -> Vec<RoomSummary> {
        let mut rooms: Vec<RoomSummary> = self.lock().rooms.values().map(Room::summary).collect();
        rooms.sort_by(|a, b| a.id.cmp(&b.id));
        rooms
    }

    /// The room that `key` names: its opaque id, or its name. `None` when nobody is in it.
    pub(crate) fn resolve(&self, key: &str) -> Option<RoomName> {
        let state = self.lock();
        if let Some((name, _)) = state.rooms.iter().find(|(_, r)| r.id == key) {
            return Some(name.clone());
        }
        let name = RoomName::new(key).ok()?;
        state.rooms.contains_key(&name).then_some(name)
    }

    /// The room in detail.
    pub(crate) fn detail(&self, name: &RoomName) -> Option<RoomDetail> {
        let state = self.lock();
        let room = state.rooms.get(name)?;
        Some(RoomDetail {
            summary: room.summary(),
            policy: room.policy.clone(),
            participants: room.members.iter().map(|m| m.info.clone()).collect(),
            waiting: room
                .lobby
                .iter()
                .map(|w| LobbyEntry {
                    id: w.admission.participant.clone(),
                    identity: w.identity.clone(),
                })
                .collect(),
        })
    }
}

/// The room `participant` is a member of.
fn member_room<'a>(
    rooms: &'a mut HashMap<RoomName, Room>,
    room_name: &RoomName,
    participant: &ParticipantId,
) -> Option<&'a mut Room> {
    let room = rooms.get_mut(room_name)?;
    room.position(participant)?;
    Some(room)
}

/// A guest identity not used in `room`: `guest-` and six hex digits.
fn fresh_guest_identity(room: &Room) -> String {
    let mut rng = rand::rng();
    loop {
        let candidate = format!("guest-{:06x}", rng.random_range(0..0x100_0000u32));
        if !room.identity_taken(&candidate) {
            return candidate;
        }
    }
}

/// A fresh random participant id: `p_` and 16 hex digits.
pub(crate) fn fresh_participant_id() -> ParticipantId {
    ParticipantId(format!("p_{:016x}", rand::rng().random::<u64>()))
}

#[cfg(test)]
mod tests;
