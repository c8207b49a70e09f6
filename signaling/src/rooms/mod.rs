//! Who is in which room, and presence broadcasts.
//!
//! One [`Registry`] holds every room behind one `std::sync::Mutex`. Critical sections are short
//! and never await: they change the map and `try_send` pre-serialized messages into the
//! members' outbound queues (see [`crate::outbound`]). Because the change and the broadcast
//! happen under the same lock, every member sees joins, updates and leaves in one order, and a
//! newcomer's `joined` snapshot is consistent with the events that follow it.
//!
//! A room exists while somebody is in it: the first join creates it, the last leave drops it.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use rand::Rng;
use veil_proto::media::SessionId;
use veil_proto::signal::{ParticipantInfo, ServerMessage};
use veil_proto::{ParticipantId, RoomName};

use crate::mls::{Delivery, DeliveryService, Group, MlsRefusal, To};
use crate::outbound::{KickReason, Link, encode};

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
}

/// What a join did.
#[derive(Debug)]
pub(crate) struct Admitted {
    /// The identity the participant got (a generated one for guests).
    pub identity: String,
    /// The connection that had the same identity and was replaced, if any.
    pub replaced: Option<(SessionId, ParticipantId)>,
}

#[derive(Debug)]
struct Member {
    info: ParticipantInfo,
    session: SessionId,
    link: Link,
}

/// Members in join order. Rooms are small (tens, a few hundred at most), so a vector beats a
/// map and keeps `joined` snapshots in a stable order.
#[derive(Debug, Default)]
struct Room {
    members: Vec<Member>,
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
    fn deliver(&self, deliveries: Vec<Delivery>) {
        for (to, msg) in deliveries {
            let text = encode(msg);
            match to {
                To::One(p) => {
                    if let Some(m) = self.members.iter().find(|m| m.info.id == p) {
                        m.link.deliver(text);
                    }
                }
                To::List(ids) => {
                    for m in self.members.iter().filter(|m| ids.contains(&m.info.id)) {
                        m.link.deliver(text.clone());
                    }
                }
                To::Members => {
                    for p in self.group.members() {
                        if let Some(m) = self.members.iter().find(|m| &m.info.id == p) {
                            m.link.deliver(text.clone());
                        }
                    }
                }
                To::MembersExcept(except) => {
                    for p in self.group.members().filter(|p| **p != except) {
                        if let Some(m) = self.members.iter().find(|m| &m.info.id == p) {
                            m.link.deliver(text.clone());
                        }
                    }
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
}

/// All rooms of this node.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    rooms: Mutex<HashMap<RoomName, Room>>,
}

impl Registry {
    fn lock(&self) -> MutexGuard<'_, HashMap<RoomName, Room>> {
        // A panic while holding the lock leaves the map consistent (each change is one
        // push/remove), so a poisoned lock is still usable.
        self.rooms.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Number of rooms with somebody in them.
    pub(crate) fn room_count(&self) -> usize {
        self.lock().len()
    }

    /// Number of participants across all rooms.
    pub(crate) fn participant_count(&self) -> usize {
        self.lock().values().map(|r| r.members.len()).sum()
    }

    /// Adds a participant: replaces a connection with the same identity (it is kicked and the
    /// others see it leave), queues `joined` for the newcomer and `participant_joined` for the
    /// others.
    pub(crate) fn join(&self, a: Admission, ds: &dyn DeliveryService) -> Admitted {
        let mut rooms = self.lock();
        let room = rooms.entry(a.room.clone()).or_default();

        let identity = match a.identity {
            Identity::Named(identity) => identity,
            Identity::Guest => fresh_guest_identity(room),
        };
        let mut replaced = None;
        if let Some(i) = room.members.iter().position(|m| m.info.identity == identity) {
            let old = room.members.remove(i);
            old.link.kick(KickReason::Replaced);
            let left =
                encode(ServerMessage::ParticipantLeft { participant_id: old.info.id.clone() });
            room.broadcast(&left, &old.info.id);
            let out = room.group.on_leave(&old.info.id, &room.ids());
            room.deliver(out);
            replaced = Some((old.session, old.info.id));
        }

        let info = ParticipantInfo {
            id: a.participant.clone(),
            identity: identity.clone(),
            // Nothing is published until the client says so with `publish_state`.
            microphone: false,
            camera: false,
        };
        let e2ee = room.group.on_join(&a.participant, ds);
        a.link.deliver(encode(ServerMessage::Joined {
            participant_id: a.participant.clone(),
            room: a.room,
            identity: identity.clone(),
            participants: room.members.iter().map(|m| m.info.clone()).collect(),
            e2ee,
        }));
        room.broadcast(
            &encode(ServerMessage::ParticipantJoined { participant: info.clone() }),
            &a.participant,
        );
        room.members.push(Member { info, session: a.session, link: a.link });
        Admitted { identity, replaced }
    }

    /// Removes a participant and tells the others. Returns false if it was not there (already
    /// replaced, or never admitted). Drops the room when it empties.
    pub(crate) fn leave(&self, room_name: &RoomName, participant: &ParticipantId) -> bool {
        let mut rooms = self.lock();
        let Some((room, i)) = find(&mut rooms, room_name, participant) else {
            return false;
        };
        room.members.remove(i);
        if room.members.is_empty() {
            rooms.remove(room_name);
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
        let mut rooms = self.lock();
        let Some((room, _)) = find(&mut rooms, room_name, participant) else {
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

    /// Records a participant's microphone and camera state and tells the others.
    pub(crate) fn publish_state(
        &self,
        room_name: &RoomName,
        participant: &ParticipantId,
        microphone: bool,
        camera: bool,
    ) -> bool {
        let mut rooms = self.lock();
        let Some((room, i)) = find(&mut rooms, room_name, participant) else {
            return false;
        };
        let info = &mut room.members[i].info;
        if (info.microphone, info.camera) == (microphone, camera) {
            return true;
        }
        info.microphone = microphone;
        info.camera = camera;
        let updated = encode(ServerMessage::ParticipantUpdated { participant: info.clone() });
        room.broadcast(&updated, participant);
        true
    }
}

/// The room `participant` is in, and its place among the members.
fn find<'a>(
    rooms: &'a mut HashMap<RoomName, Room>,
    room_name: &RoomName,
    participant: &ParticipantId,
) -> Option<(&'a mut Room, usize)> {
    let room = rooms.get_mut(room_name)?;
    let i = room.position(participant)?;
    Some((room, i))
}

/// A guest identity not used in `room`: `guest-` and six hex digits.
fn fresh_guest_identity(room: &Room) -> String {
    let mut rng = rand::rng();
    loop {
        let candidate = format!("guest-{:06x}", rng.random_range(0..0x100_0000u32));
        if !room.members.iter().any(|m| m.info.identity == candidate) {
            return candidate;
        }
    }
}

/// A fresh random participant id: `p_` and 16 hex digits.
pub(crate) fn fresh_participant_id() -> ParticipantId {
    ParticipantId(format!("p_{:016x}", rand::rng().random::<u64>()))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::mls::tests::FakeDs;

    use tokio::sync::mpsc;

    use super::*;
    use crate::outbound::{Kick, Outgoing};

    struct Probe {
        rx: mpsc::Receiver<Outgoing>,
        kick: Arc<Kick>,
    }

    impl Probe {
        fn types(&mut self) -> Vec<String> {
            let mut out = Vec::new();
            while let Ok(Outgoing::Text(t)) = self.rx.try_recv() {
                let v: serde_json::Value = serde_json::from_str(t.as_str()).unwrap();
                out.push(v["type"].as_str().unwrap().to_owned());
            }
            out
        }
    }

    fn admit(reg: &Registry, room: &str, identity: Identity, session: u64) -> (Admitted, Probe) {
        let (tx, rx) = mpsc::channel(16);
        let kick = Arc::new(Kick::default());
        let admitted = reg.join(
            Admission {
                room: RoomName::new(room).unwrap(),
                identity,
                participant: ParticipantId(format!("p_{session}")),
                session: SessionId(session),
                link: Link::new(tx, kick.clone()),
            },
            &FakeDs,
        );
        (admitted, Probe { rx, kick })
    }

    #[tokio::test]
    async fn same_identity_replaces_and_others_see_leave_then_join() {
        let reg = Registry::default();
        let (_, mut a) = admit(&reg, "r", Identity::Named("ada".into()), 1);
        let (_, mut b) = admit(&reg, "r", Identity::Named("bob".into()), 2);
        let (admitted, mut a2) = admit(&reg, "r", Identity::Named("ada".into()), 3);
        assert_eq!(admitted.replaced, Some((SessionId(1), ParticipantId("p_1".into()))));
        assert_eq!(a.kick.kicked().await, KickReason::Replaced);
        assert_eq!(a.types(), ["joined", "participant_joined"]);
        // Ada was to create the MLS group and is gone before doing so: Bob, waiting, is asked.
        assert_eq!(
            b.types(),
            ["joined", "participant_left", "mls_create_group", "participant_joined"]
        );
        assert_eq!(a2.types(), ["joined"]);
        assert_eq!(reg.participant_count(), 2);
        // The replaced connection's own leave is a no-op.
        assert!(!reg.leave(&RoomName::new("r").unwrap(), &ParticipantId("p_1".into())));
    }

    #[test]
    fn guests_get_distinct_identities_and_empty_rooms_are_dropped() {
        let reg = Registry::default();
        let (g1, _p1) = admit(&reg, "r", Identity::Guest, 1);
        let (g2, _p2) = admit(&reg, "r", Identity::Guest, 2);
        assert!(g1.identity.starts_with("guest-") && g1.identity.len() == 12);
        assert_ne!(g1.identity, g2.identity);
        let room = RoomName::new("r").unwrap();
        assert!(reg.leave(&room, &ParticipantId("p_1".into())));
        assert!(reg.leave(&room, &ParticipantId("p_2".into())));
        assert_eq!(reg.room_count(), 0);
    }

    #[test]
    fn participant_ids_look_right() {
        let id = fresh_participant_id();
        assert_eq!(id.0.len(), 18);
        assert!(id.0.starts_with("p_"));
        assert!(id.0[2..].bytes().all(|b| b.is_ascii_hexdigit()));
    }
}
