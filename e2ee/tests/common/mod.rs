//! Shared harness: clients running the real [`Session`] against the server's own delivery
//! service (`veil_signaling::mls::Group`, verifying with `veil-ds`), in one process on a
//! virtual clock. Messages travel through an in-memory queue in order, as over one WebSocket
//! per client, so every run is the same; a test may hold messages back, drop them, or hand a
//! client messages the server never sent (a malicious server).
#![allow(dead_code)] // each test binary uses its own subset

use std::collections::VecDeque;

use veil_ds::Verifier;
use veil_e2ee::session::{Input, Output, Risk};
use veil_e2ee::{KeyRing, MediaKind, Member, Session};
use veil_proto::ParticipantId;
use veil_proto::RoomName;
use veil_proto::mls::DeliveryService;
use veil_proto::room::{Grants, RoomPolicy};
use veil_proto::signal::{ClientMessage, ParticipantInfo, ServerMessage};
use veil_signaling::mls::{Group, To};

/// One participant: its session, its media keys, and what it was told.
pub struct Client {
    pub id: ParticipantId,
    pub name: String,
    pub session: Session,
    pub ring: KeyRing,
    /// Every message this client sent to the server.
    pub sent: Vec<ClientMessage>,
    /// Problems the session reported.
    pub problems: Vec<String>,
    /// Chat messages the session handed on, in order.
    pub chats: Vec<Chat>,
    /// Ids of chat messages the session could not send, and why.
    pub unsent: Vec<(String, String)>,
    pub evicted: bool,
    /// When the session next wants time.
    pub deadline: u64,
    /// False: this client's commits never reach the server (a committer that stalls).
    pub commits: bool,
    /// Epochs whose keys this client installed, in order.
    pub epochs: Vec<u64>,
    /// The latest epoch and its SFrame secret (for tests of what a member could do with it).
    pub last_secret: Option<(u64, Vec<u8>)>,
}

/// A chat message as a session handed it on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chat {
    pub id: String,
    pub sender: ParticipantId,
    pub text: String,
    pub ttl_secs: u32,
    pub epoch: u64,
}

/// A room: the server's delivery service and its clients.
pub struct Room {
    pub ds: Verifier,
    pub group: Group,
    pub clients: Vec<Client>,
    /// Participants in the room now, in join order.
    pub present: Vec<ParticipantInfo>,
    pub now: u64,
    /// Server messages on their way to clients.
    pub wire: VecDeque<(ParticipantId, ServerMessage)>,
    /// Everything any client sent the server, as it travelled (for "what the server saw").
    pub server_saw: Vec<ClientMessage>,
    /// Refusals the server sent.
    pub refusals: Vec<(ParticipantId, String)>,
    /// Messages for participants without a session (see [`Room::join_raw`]).
    pub raw_inbox: Vec<(ParticipantId, ServerMessage)>,
    /// The MLS group id the server handed the latest joiner (base64).
    pub group_id: String,
    next_id: u32,
}

/// A participant driven by hand: a bare MLS member, for tests of what a malicious member
/// (or a broken client) sends.
pub struct RawPeer {
    pub id: ParticipantId,
    pub member: Member,
    pub joined: ServerMessage,
}

impl Default for Room {
    fn default() -> Self {
        Self::new()
    }
}

impl Room {
    pub fn new() -> Self {
        Self {
            ds: Verifier::generate().unwrap(),
            group: Group::default(),
            clients: Vec::new(),
            present: Vec::new(),
            now: 1_000,
            wire: VecDeque::new(),
            server_saw: Vec::new(),
            refusals: Vec::new(),
            raw_inbox: Vec::new(),
            group_id: String::new(),
            next_id: 1,
        }
    }

    /// A room where `names` joined in order and the group settled; clients are indexed as
    /// `names` is.
    pub fn settled(names: &[&str]) -> Self {
        let mut room = Self::new();
        for name in names {
            room.join(name);
        }
        room.advance(1_000);
        room
    }

    /// A participant joins (as the signaling server admits one) and its session starts.
    /// Returns its index. Nothing is delivered yet: call [`settle`](Self::settle).
    pub fn join(&mut self, name: &str) -> usize {
        let (id, joined) = self.admit(name);
        let session = Session::from_joined(&joined, name, self.now).unwrap();
        self.clients.push(Client {
            id,
            name: name.to_owned(),
            session,
            ring: KeyRing::new(),
            sent: Vec::new(),
            problems: Vec::new(),
            chats: Vec::new(),
            unsent: Vec::new(),
            evicted: false,
            deadline: u64::MAX,
            commits: true,
            epochs: Vec::new(),
            last_secret: None,
        });
        let i = self.clients.len() - 1;
        self.drain(i);
        i
    }

    /// A participant joins with no session: the test drives its MLS member by hand
    /// ([`send_as`](Self::send_as), [`take_for`](Self::take_for)).
    pub fn join_raw(&mut self, name: &str) -> RawPeer {
        let (id, joined) = self.admit(name);
        RawPeer { member: Member::new(&id.0).unwrap(), id, joined }
    }

    /// The server admits a participant: `joined` for it, `participant_joined` for the others.
    fn admit(&mut self, name: &str) -> (ParticipantId, ServerMessage) {
        let id = ParticipantId(format!("p_{:016x}", self.next_id));
        self.next_id += 1;
        let info = ParticipantInfo {
            id: id.clone(),
            identity: name.to_lowercase().replace(' ', "-"),
            microphone: true,
            camera: true,
            screen: false,
            host: false,
        };
        let e2ee = self.group.on_join(&id, &self.ds);
        self.group_id = e2ee.group_id.clone();
        let joined = ServerMessage::Joined {
            participant_id: id.clone(),
            room: RoomName::new("room").unwrap(),
            identity: info.identity.clone(),
            grants: Grants::default(),
            policy: RoomPolicy::new(100),
            participants: self.present.clone(),
            e2ee,
            ice_servers: Vec::new(),
        };
        for other in &self.present {
            let told = ServerMessage::ParticipantJoined { participant: info.clone() };
            self.wire.push_back((other.id.clone(), told));
        }
        self.present.push(info);
        (id, joined)
    }

    /// The server receives `message` from `from` (a raw peer, or anyone the test speaks for).
    pub fn send_as(&mut self, from: &ParticipantId, message: ClientMessage) {
        self.server_saw.push(message.clone());
        self.server_handles(from, message);
    }

    /// Takes the messages the server sent to a raw peer so far (after settling the room).
    pub fn take_for(&mut self, id: &ParticipantId) -> Vec<ServerMessage> {
        self.settle();
        let (mine, rest) =
            std::mem::take(&mut self.raw_inbox).into_iter().partition(|(to, _)| to == id);
        self.raw_inbox = rest;
        mine.into_iter().map(|(_, m)| m).collect()
    }

    /// A participant leaves the room (its connection closes).
    pub fn leave(&mut self, i: usize) {
        let id = self.clients[i].id.clone();
        self.present.retain(|p| p.id != id);
        for other in &self.present {
            let left = ServerMessage::ParticipantLeft { participant_id: id.clone() };
            self.wire.push_back((other.id.clone(), left));
        }
        let remaining: Vec<ParticipantId> = self.present.iter().map(|p| p.id.clone()).collect();
        let out = self.group.on_leave(&id, &remaining);
        self.route(out);
        self.wire.retain(|(to, _)| *to != id);
    }

    pub fn index_of(&self, id: &ParticipantId) -> Option<usize> {
        self.clients.iter().position(|c| c.id == *id)
    }

    fn present(&self, id: &ParticipantId) -> bool {
        self.present.iter().any(|p| p.id == *id)
    }

    /// Hands a server message to client `i` (what the server, honest or not, sends).
    pub fn deliver(&mut self, i: usize, message: &ServerMessage) {
        let client = &mut self.clients[i];
        client.session.handle_input(self.now, Input::Server(message));
        self.drain(i);
    }

    /// Runs client `i`'s session outputs: messages go to the server, keys to the ring.
    fn drain(&mut self, i: usize) {
        loop {
            let output = self.clients[i].session.poll_output();
            match output {
                Output::Send(ClientMessage::MlsCommit { .. }) if !self.clients[i].commits => {}
                Output::Send(message) => {
                    self.clients[i].sent.push(message.clone());
                    self.server_saw.push(message.clone());
                    let from = self.clients[i].id.clone();
                    self.server_handles(&from, message);
                }
                Output::Epoch(keys) => {
                    let c = &mut self.clients[i];
                    c.ring.set_epoch(keys.epoch, &keys.secret, keys.own_leaf, self.now).unwrap();
                    c.ring.set_members(keys.epoch, keys.members).unwrap();
                    c.epochs.push(keys.epoch);
                    c.last_secret = Some((keys.epoch, keys.secret.to_vec()));
                }
                Output::Evicted => {
                    self.clients[i].evicted = true;
                    self.clients[i].ring.clear();
                }
                Output::Problem(p) => self.clients[i].problems.push(p),
                Output::Chat { id, sender, text, ttl_secs, epoch } => {
                    let sender = ParticipantId(sender);
                    self.clients[i].chats.push(Chat { id, sender, text, ttl_secs, epoch });
                }
                Output::ChatUnsent { id, reason } => self.clients[i].unsent.push((id, reason)),
                Output::Changed => {}
                Output::Timeout(at) => {
                    self.clients[i].deadline = at;
                    return;
                }
            }
        }
    }

    /// The server handles a client message, as `rooms.rs` does.
    fn server_handles(&mut self, from: &ParticipantId, message: ClientMessage) {
        if !self.present(from) {
            return;
        }
        let ds: &dyn DeliveryService = &self.ds;
        let result = match message {
            ClientMessage::MlsKeyPackage { key_package } => {
                self.group.on_key_package(from, key_package, ds)
            }
            ClientMessage::MlsGroupCreated { group_info } => {
                self.group.on_group_created(from, &group_info, ds)
            }
            ClientMessage::MlsJoined { leaf, .. } => {
                self.group.on_joined(from, leaf).map(|()| Vec::new())
            }
            ClientMessage::MlsCommit { epoch, commit, welcome } => {
                self.group.on_commit(from, epoch, &commit, welcome)
            }
            ClientMessage::MlsApplication { epoch, message } => {
                self.group.on_application(from, epoch, message, ds)
            }
            _ => Ok(Vec::new()),
        };
        match result {
            Ok(out) => self.route(out),
            Err(refusal) => {
                self.refusals.push((from.clone(), refusal.message.clone()));
                let error = ServerMessage::Error {
                    code: refusal.code,
                    message: refusal.message,
                    fatal: false,
                };
                self.wire.push_back((from.clone(), error));
            }
        }
    }

    fn route(&mut self, out: Vec<(To, ServerMessage)>) {
        for (to, message) in out {
            let targets: Vec<ParticipantId> = match to {
                To::One(p) => vec![p],
                To::List(ps) => ps,
                To::Members => self.group.members().cloned().collect(),
                To::MembersExcept(except) => {
                    self.group.members().filter(|p| **p != except).cloned().collect()
                }
            };
            let present: Vec<ParticipantId> =
                targets.into_iter().filter(|p| self.present(p)).collect();
            for p in present {
                self.wire.push_back((p, message.clone()));
            }
        }
    }

    /// Delivers everything in flight until nobody has anything more to say.
    pub fn settle(&mut self) {
        for _ in 0..100_000 {
            let Some((to, message)) = self.wire.pop_front() else { return };
            match self.index_of(&to) {
                Some(i) => self.deliver(i, &message),
                None => self.raw_inbox.push((to, message)),
            }
        }
        panic!("the room never settled");
    }

    /// Lets `ms` of virtual time pass, handing each session its timeouts, delivering as it goes.
    pub fn advance(&mut self, ms: u64) {
        let end = self.now + ms;
        loop {
            self.settle();
            let next = self
                .clients
                .iter()
                .enumerate()
                .filter(|(_, c)| self.present(&c.id))
                .map(|(_, c)| c.deadline)
                .min()
                .unwrap_or(u64::MAX);
            if next > end {
                self.now = end;
                return;
            }
            self.now = self.now.max(next);
            for i in 0..self.clients.len() {
                if self.clients[i].deadline <= self.now && self.present(&self.clients[i].id) {
                    self.clients[i].session.handle_input(self.now, Input::Timeout);
                    self.drain(i);
                }
            }
        }
    }

    /// Clients still in the room.
    pub fn in_room(&self) -> Vec<usize> {
        (0..self.clients.len()).filter(|&i| self.present(&self.clients[i].id)).collect()
    }

    /// Asserts every client in the room is in the group, at one epoch with one code, and
    /// returns the epoch.
    pub fn agreed(&self) -> u64 {
        let clients = self.in_room();
        let first = &self.clients[clients[0]].session;
        for &i in &clients {
            let s = &self.clients[i].session;
            assert!(s.is_member(), "{} is in the group", self.clients[i].name);
            assert_eq!(s.epoch(), first.epoch(), "{} at the same epoch", self.clients[i].name);
            assert_eq!(s.code(), first.code(), "{} shows the same code", self.clients[i].name);
            let members = s.members().len();
            assert_eq!(members, clients.len(), "{} sees every member", self.clients[i].name);
        }
        first.epoch().unwrap()
    }

    /// Client `i` sends a chat message (delivered as the room settles); returns its id.
    pub fn chat(&mut self, i: usize, text: &str, ttl_secs: u32) -> String {
        let id = self.clients[i].session.send_chat(self.now, text, ttl_secs).unwrap();
        self.drain(i);
        id
    }

    /// The texts of the chat messages client `i` received, in order.
    pub fn chat_texts(&self, i: usize) -> Vec<&str> {
        self.clients[i].chats.iter().map(|c| c.text.as_str()).collect()
    }

    /// Encrypts a video frame from client `i` on its camera track.
    pub fn frame_from(&mut self, i: usize, text: &str) -> Vec<u8> {
        let frame = [&[0x51u8, 0x42, 0x00][..], text.as_bytes()].concat();
        self.clients[i].ring.encrypt_media(MediaKind::Video, 1, &frame).unwrap()
    }

    /// The risks client `i` shows.
    pub fn risks(&self, i: usize) -> Vec<Risk> {
        self.clients[i].session.risks().to_vec()
    }
}
