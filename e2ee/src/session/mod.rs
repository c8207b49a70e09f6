//! The one key-agreement state machine every Veil client runs: the browser (through wasm), the
//! native bots, `veil-loadtest` and the webrtc-rs peer.
//!
//! A [`Session`] is sans-IO, like the SFU's engine: signaling messages go in with
//! [`Session::handle_input`] and the time, then [`Session::poll_output`] yields messages to send,
//! epoch keys for the media path and notices that what the UI shows changed, until it returns
//! [`Output::Timeout`]: when to call again with [`Input::Timeout`]. It never reads a clock or
//! opens a socket; times are milliseconds of the caller's clock.
//!
//! ## What it enforces, whatever the server says
//!
//! - **Roster binding** ([`roster`]). The roster (who the server says is in the room, each
//!   authenticated by a join token) and the MLS group must agree. As committer, the session adds
//!   only key packages whose credential names a roster participant that is not a member yet
//!   and is the one the request names. As receiver, it refuses a commit that adds anyone
//!   outside the roster or twice, or removes someone still in the room; [`Member`] refuses, for
//!   every client, a commit that changes the group context. A refused commit leaves this member
//!   behind the group: the call is at risk and [`Session::risks`] names who the commit was
//!   about. A member the roster does not show, or the reverse, is tolerated for
//!   [`roster::MISMATCH_GRACE_MS`], then named as a risk too.
//! - **Names from their owners.** Credentials carry only the participant id. Each member signs
//!   its display name with the key in its leaf and sends the record in an MLS application
//!   message (encrypted for the group) when it joins; the member whose commit added newcomers
//!   sends them every record it knows, one message for all ([`app`]). Records are checked
//!   against the tree whoever relays them, so the server never sees a name and nobody can name
//!   another member. Names are cleaned ([`names::clean_name`]) and duplicates marked.
//! - **Chat from its sender, for the group of its epoch** ([`chat`]). Chat messages travel the
//!   same way, attributed to the leaf that signed them whatever the server says, and the
//!   session keeps none of them, so no later member can be sent what came before.
//! - **No single committer.** Outstanding adds and removals are committed at once by the member
//!   the server names and by the member at the lowest leaf; if nobody has committed them after
//!   [`FALLBACK_MS`], the next member by leaf order does, then the next, so no member can stop
//!   key rotation by staying silent.
//!
//! ## Epochs
//!
//! Each epoch change yields [`Output::Epoch`] with the SFrame base key and who sits at which
//! leaf: the key ring binds every received frame to the participant whose track it came on
//! ([`crate::KeyRing::decrypt_from`]).

pub mod app;
pub mod chat;
pub mod names;
pub mod roster;

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use openmls_rust_crypto::RustCrypto;
use veil_proto::ParticipantId;
use veil_proto::signal::{ClientMessage, E2eeSetup, ErrorCode, ServerMessage};
use zeroize::Zeroizing;

use crate::group::{ExternalSenderInfo, IncomingCommit, Member, Processed, key_package_owner};
use app::{AppMessage, NameRecord};
use names::{clean_name, same_name};
use roster::{Mismatch, Roster};

/// How long each member further down the leaf order waits, after work (an add or a removal)
/// became due, before it commits the work itself.
pub const FALLBACK_MS: u64 = 2_500;

/// After a commit that adds members, wait this long before the next one, so that a burst of
/// joins becomes one commit rather than a string of competing ones.
pub const ADD_SETTLE_MS: u64 = 150;

/// Names go out this long after they became due, so one message serves a burst of joins.
pub const NAME_DELAY_MS: u64 = 200;

/// After the server refuses our commit, wait this long before committing again.
pub const RETRY_MS: u64 = 1_000;

/// Something the session takes.
#[derive(Debug)]
pub enum Input<'a> {
    /// A message from the signaling server; those about neither the room's roster nor its MLS
    /// group are ignored.
    Server(&'a ServerMessage),
    /// Time passed.
    Timeout,
}

/// The keys and leaves of an epoch, for the media path.
pub struct EpochKeys {
    pub epoch: u64,
    /// Our leaf: the sender index of our frames.
    pub own_leaf: u32,
    /// `MLS-Exporter("SFrame 1.0 Base Key", "", 16)` of the epoch.
    pub secret: Zeroizing<Vec<u8>>,
    /// Who sits at which leaf: received frames are bound to their owners with it.
    pub members: Vec<(u32, String)>,
}

impl std::fmt::Debug for EpochKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EpochKeys")
            .field("epoch", &self.epoch)
            .field("own_leaf", &self.own_leaf)
            .field("secret", &"<redacted>")
            .field("members", &self.members)
            .finish()
    }
}

/// What the session wants done.
#[derive(Debug)]
pub enum Output {
    /// Send this to the signaling server.
    Send(ClientMessage),
    /// A new epoch: install its keys in the key ring.
    Epoch(EpochKeys),
    /// Members, names, the code or the risks changed: read them again.
    Changed,
    /// A commit removed us: drop every key.
    Evicted,
    /// Something went wrong that the session survived (a refused message, a lost race).
    Problem(String),
    /// Another member's chat message: show it from now until the shorter of the room's chat
    /// retention and `ttl_secs` (when not 0) has passed, by this client's clock.
    Chat {
        /// Hex, as the sender's [`Session::send_chat`] returned it.
        id: String,
        /// The participant whose leaf signed the message.
        sender: String,
        /// Cleaned ([`chat::clean_chat`]).
        text: String,
        ttl_secs: u32,
        /// The epoch it was encrypted in: its members are the ones who could read it.
        epoch: u64,
    },
    /// A chat message [`Session::send_chat`] took could not go out after all.
    ChatUnsent { id: String, reason: String },
    /// Nothing more until this time (ms, the caller's clock) or the next input.
    Timeout(u64),
}

/// Why the call is at risk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Risk {
    /// A group member the room does not show, past the grace period.
    NotInRoom(String),
    /// A participant in the room who never entered the group, past the grace period.
    NotInGroup(String),
    /// We refused a commit that does not fit the roster; the group went on without us.
    RefusedCommit { participant: String, reason: String },
}

impl Risk {
    /// The participant the risk is about.
    pub fn participant(&self) -> &str {
        match self {
            Self::NotInRoom(p) | Self::NotInGroup(p) => p,
            Self::RefusedCommit { participant, .. } => participant,
        }
    }

    /// A stable name of the kind of risk.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::NotInRoom(_) => "not-in-room",
            Self::NotInGroup(_) => "not-in-group",
            Self::RefusedCommit { .. } => "refused-commit",
        }
    }
}

impl std::fmt::Display for Risk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotInRoom(p) => write!(f, "{p} is in the encryption group but not in the room"),
            Self::NotInGroup(p) => write!(f, "{p} is in the room but never joined encryption"),
            Self::RefusedCommit { reason, .. } => write!(f, "refused a group change: {reason}"),
        }
    }
}

/// One group member as the UI shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberView {
    pub leaf: u32,
    pub participant_id: String,
    /// The identity the server authenticated (join token), if the roster ever showed it.
    pub identity: Option<String>,
    /// The cleaned display name its owner sent, once it arrived.
    pub name: Option<String>,
    /// Another member shows the same name.
    pub duplicate_name: bool,
    /// Hex fingerprint of its signature key.
    pub fingerprint: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Our key package is out; waiting for a Welcome (or to be asked to create the group).
    Waiting,
    /// In the group.
    Member,
    /// A commit removed us.
    Evicted,
}

/// The key-agreement state of one participant in one meeting. See the module docs.
pub struct Session {
    me: String,
    name: String,
    member: Member,
    group_id: Vec<u8>,
    external: ExternalSenderInfo,
    roster: Roster,
    phase: Phase,
    /// Key packages we may commit, by participant, checked against the roster.
    queued_adds: BTreeMap<String, Vec<u8>>,
    /// Remove proposals processed in the current epoch (the server re-sends them).
    seen_proposals: BTreeSet<String>,
    /// Leaves whose Remove proposal sits in our proposal store.
    pending_removes: BTreeSet<u32>,
    /// Since when outstanding work (adds, removals) has waited for a committer.
    work_since: Option<u64>,
    /// The server named us committer of the outstanding work.
    named: bool,
    /// Our commit in flight added members.
    in_flight_adds: bool,
    hold_until: u64,
    /// Display names, by participant: as shown (cleaned) and the signed record as received.
    names: BTreeMap<String, (String, NameRecord)>,
    /// When to send our own name record (after joining from a Welcome).
    name_due: Option<u64>,
    /// When to send every record we know (after our commit added newcomers).
    directory_due: Option<u64>,
    /// Commits we refused; they stay risks for the rest of the meeting.
    refused: Vec<Risk>,
    risks: Vec<Risk>,
    /// When the risks must be looked at again even if nothing changed (a grace period ends).
    risks_due: u64,
    /// The group's members as of the current epoch, by leaf, and their participant ids: read
    /// on every input, so kept rather than rebuilt from the tree each time.
    group_members: Vec<crate::MemberInfo>,
    member_set: BTreeSet<String>,
    /// Chat messages waiting for a removal to be committed.
    outbox: VecDeque<chat::Unsent>,
    /// Draws chat message ids.
    rng: RustCrypto,
    changed: bool,
    now: u64,
    outputs: VecDeque<Output>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("me", &self.me)
            .field("phase", &self.phase)
            .field("epoch", &self.member.epoch().ok())
            .field("keys", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// Why a session could not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StartError {
    #[error("a session starts from the server's `joined` message")]
    NotJoined,
    #[error("the server's `joined` message is unusable: {0}")]
    BadSetup(String),
    #[error("MLS could not start: {0}")]
    Mls(String),
}

fn b64(what: &str, text: &str) -> Result<Vec<u8>, String> {
    B64.decode(text).map_err(|e| format!("{what} is not base64: {e}"))
}

impl Session {
    /// Starts from the server's `joined` message: who we are, who is in the room, and whether
    /// we create the group or ask to be added. `name` is our display name; it leaves this
    /// session only inside the group, encrypted. The first messages to send are in
    /// [`poll_output`](Self::poll_output).
    pub fn from_joined(
        joined: &ServerMessage,
        name: &str,
        now_ms: u64,
    ) -> Result<Self, StartError> {
        let ServerMessage::Joined { participant_id, identity, participants, e2ee, .. } = joined
        else {
            return Err(StartError::NotJoined);
        };
        let mut session = Self::new(participant_id, identity, name, e2ee, now_ms)?;
        for p in participants {
            session.roster.arrived(&p.id.0, &p.identity);
        }
        if e2ee.create_group {
            session.create_group().map_err(StartError::Mls)?;
        } else {
            session.send_key_package().map_err(StartError::Mls)?;
        }
        session.drive();
        Ok(session)
    }

    fn new(
        me: &ParticipantId,
        identity: &str,
        name: &str,
        setup: &E2eeSetup,
        now_ms: u64,
    ) -> Result<Self, StartError> {
        let bad = StartError::BadSetup;
        let member = Member::new(&me.0).map_err(|e| StartError::Mls(e.to_string()))?;
        let external = ExternalSenderInfo {
            signature_key: b64("the server's key", &setup.external_sender.signature_key)
                .map_err(bad)?,
            identity: b64("the server's identity", &setup.external_sender.identity).map_err(bad)?,
        };
        let group_id = b64("the group id", &setup.group_id).map_err(bad)?;
        let mut roster = Roster::default();
        roster.arrived(&me.0, identity);
        let name = clean_name(name);
        Ok(Self {
            me: me.0.clone(),
            name,
            member,
            group_id,
            external,
            roster,
            phase: Phase::Waiting,
            queued_adds: BTreeMap::new(),
            seen_proposals: BTreeSet::new(),
            pending_removes: BTreeSet::new(),
            work_since: None,
            named: false,
            in_flight_adds: false,
            hold_until: 0,
            names: BTreeMap::new(),
            name_due: None,
            directory_due: None,
            refused: Vec::new(),
            risks: Vec::new(),
            risks_due: 0,
            group_members: Vec::new(),
            member_set: BTreeSet::new(),
            outbox: VecDeque::new(),
            rng: RustCrypto::default(),
            changed: true,
            now: now_ms,
            outputs: VecDeque::new(),
        })
    }

    // ---- getters ----

    /// Our participant id.
    pub fn participant_id(&self) -> &str {
        &self.me
    }

    /// Whether we are in the group.
    pub fn is_member(&self) -> bool {
        self.phase == Phase::Member
    }

    /// Whether a commit removed us.
    pub fn is_evicted(&self) -> bool {
        self.phase == Phase::Evicted
    }

    /// The current epoch, once in the group.
    pub fn epoch(&self) -> Option<u64> {
        self.is_member().then(|| self.member.epoch().ok()).flatten()
    }

    /// Our leaf, once in the group.
    pub fn own_leaf(&self) -> Option<u32> {
        self.is_member().then(|| self.member.own_leaf().ok()).flatten()
    }

    /// The epoch's verification code, the same for every member of the epoch.
    pub fn code(&self) -> Option<String> {
        self.is_member().then(|| self.member.verification_code().ok()).flatten()
    }

    /// Our own key fingerprint.
    pub fn fingerprint(&self) -> String {
        self.member.fingerprint()
    }

    /// The group's members, by leaf, with what the roster and their own messages say.
    pub fn members(&self) -> Vec<MemberView> {
        if !self.is_member() {
            return Vec::new();
        }
        let members = &self.group_members;
        let names: Vec<Option<&String>> =
            members.iter().map(|m| self.names.get(&m.participant_id).map(|(n, _)| n)).collect();
        members
            .iter()
            .zip(&names)
            .map(|(m, name)| MemberView {
                leaf: m.leaf,
                participant_id: m.participant_id.clone(),
                identity: self.roster.identity(&m.participant_id).map(str::to_owned),
                name: name.cloned(),
                duplicate_name: name.is_some_and(|n| {
                    names.iter().filter(|o| o.is_some_and(|o| same_name(o, n))).count() > 1
                }),
                fingerprint: m.fingerprint.clone(),
            })
            .collect()
    }

    /// Why the call is at risk; empty while the group and the roster agree.
    pub fn risks(&self) -> &[Risk] {
        &self.risks
    }

    /// The display name `participant` sent, cleaned.
    pub fn name_of(&self, participant: &str) -> Option<&str> {
        self.names.get(participant).map(|(n, _)| n.as_str())
    }

    // ---- input ----

    /// Handles one input at `now_ms`.
    pub fn handle_input(&mut self, now_ms: u64, input: Input<'_>) {
        self.now = self.now.max(now_ms);
        if let Input::Server(message) = input
            && let Err(problem) = self.on_server(message)
        {
            self.outputs.push_back(Output::Problem(problem));
        }
        self.drive();
    }

    // ---- output ----

    /// The next thing to do. Call until it returns [`Output::Timeout`].
    pub fn poll_output(&mut self) -> Output {
        if let Some(out) = self.outputs.pop_front() {
            return out;
        }
        Output::Timeout(self.next_timeout())
    }

    // ---- the state machine ----

    fn on_server(&mut self, message: &ServerMessage) -> Result<(), String> {
        match message {
            ServerMessage::ParticipantJoined { participant } => {
                self.roster.arrived(&participant.id.0, &participant.identity);
                self.changed = true;
            }
            ServerMessage::ParticipantLeft { participant_id } => {
                self.roster.departed(&participant_id.0);
                self.queued_adds.remove(&participant_id.0);
                self.changed = true;
            }
            ServerMessage::MlsCreateGroup { group_id } => {
                if self.phase != Phase::Waiting {
                    return Err("the server asked us to create a group while in one".into());
                }
                self.group_id = b64("the group id", group_id)?;
                self.create_group()?;
            }
            ServerMessage::MlsWelcome { welcome } => {
                self.on_welcome(&b64("a Welcome", welcome)?)?
            }
            ServerMessage::MlsAddRequest { participant_id, key_package, committer } => {
                self.on_add_request(participant_id, key_package, committer)?;
            }
            ServerMessage::MlsProposal { proposal, epoch, committer } => {
                self.on_proposal(proposal, *epoch, committer)?;
            }
            ServerMessage::MlsCommit { commit, epoch } => {
                self.on_commit(&b64("a commit", commit)?, *epoch)?;
            }
            ServerMessage::MlsCommitAccepted { .. } => self.on_accepted()?,
            ServerMessage::MlsApplication { from, message } => {
                self.on_application(from, &b64("an application message", message)?);
            }
            ServerMessage::Error { code: ErrorCode::MlsStaleCommit, .. } => self.on_stale()?,
            ServerMessage::Error { code: ErrorCode::MlsInvalidCommit, message, .. } => {
                self.on_refused_commit()?;
                return Err(format!("the server refused our commit: {message}"));
            }
            ServerMessage::Error {
                code: code @ (ErrorCode::MlsNotMember | ErrorCode::MlsInvalidMessage),
                message,
                ..
            } => {
                return Err(format!(
                    "the server refused an MLS message ({}): {message}",
                    code.as_str()
                ));
            }
            _ => {}
        }
        Ok(())
    }

    fn create_group(&mut self) -> Result<(), String> {
        let group_id = self.group_id.clone();
        self.member
            .create_group(&group_id, Some(self.external.clone()))
            .map_err(|e| format!("cannot create the group: {e}"))?;
        let group_info = self.member.group_info().map_err(|e| format!("group info: {e}"))?;
        self.send(ClientMessage::MlsGroupCreated { group_info: B64.encode(group_info) });
        self.phase = Phase::Member;
        self.sign_own_name()?;
        self.new_epoch();
        Ok(())
    }

    fn send_key_package(&mut self) -> Result<(), String> {
        let key_package = self.member.key_package().map_err(|e| format!("key package: {e}"))?;
        self.send(ClientMessage::MlsKeyPackage { key_package: B64.encode(key_package) });
        Ok(())
    }

    fn on_welcome(&mut self, welcome: &[u8]) -> Result<(), String> {
        if self.phase != Phase::Waiting {
            return Err("ignored a Welcome: already in the group".into());
        }
        self.member.join_from_welcome(welcome).map_err(|e| format!("cannot join: {e}"))?;
        self.phase = Phase::Member;
        let (epoch, leaf) = (self.member.epoch(), self.member.own_leaf());
        if let (Ok(epoch), Ok(leaf)) = (epoch, leaf) {
            self.send(ClientMessage::MlsJoined { epoch, leaf });
        }
        // Everyone in the group learns our name; the member who added us sends us theirs.
        self.sign_own_name()?;
        self.name_due = Some(self.now + NAME_DELAY_MS);
        self.new_epoch();
        Ok(())
    }

    fn on_add_request(
        &mut self,
        participant: &ParticipantId,
        key_package: &str,
        committer: &ParticipantId,
    ) -> Result<(), String> {
        if self.phase != Phase::Member || participant.0 == self.me {
            return Ok(());
        }
        let bytes = b64("a key package", key_package)?;
        let owner = key_package_owner(&bytes).map_err(|e| {
            format!("refused to add {participant}: its key package is unusable ({e})")
        })?;
        if owner != participant.0 {
            return Err(format!(
                "refused to add {participant}: the key package belongs to {owner}"
            ));
        }
        if !self.roster.is_present(&owner) {
            return Err(format!("refused to add {owner}: not in the room"));
        }
        if self.member_ids().contains(&owner) {
            return Ok(()); // Added meanwhile.
        }
        self.queued_adds.insert(owner, bytes);
        self.named |= committer.0 == self.me;
        self.work_since.get_or_insert(self.now);
        Ok(())
    }

    fn on_proposal(
        &mut self,
        proposal: &str,
        epoch: u64,
        committer: &ParticipantId,
    ) -> Result<(), String> {
        if self.phase != Phase::Member || self.member.epoch().ok() != Some(epoch) {
            return Ok(()); // Stale: the server re-issues it for the new epoch.
        }
        if self.seen_proposals.insert(proposal.to_owned()) {
            let bytes = b64("a proposal", proposal)?;
            match self.member.process_message(&bytes) {
                Ok(Processed::ProposalQueued { removes, .. }) => {
                    self.pending_removes.insert(removes);
                }
                Ok(_) => return Err("a proposal message carried something else".into()),
                Err(e) => return Err(format!("refused a proposal: {e}")),
            }
        }
        self.named |= committer.0 == self.me;
        self.work_since.get_or_insert(self.now);
        Ok(())
    }

    fn on_commit(&mut self, commit: &[u8], epoch: u64) -> Result<(), String> {
        if self.phase != Phase::Member {
            return Ok(());
        }
        let current = self.member.epoch().map_err(|e| e.to_string())?;
        if epoch <= current {
            return Ok(()); // Already there.
        }
        // Another commit won the epoch: ours, if any, lost. Its work stays queued.
        if self.member.has_pending_commit() {
            self.member.discard_pending_commit().map_err(|e| e.to_string())?;
            self.in_flight_adds = false;
        }
        let incoming = match self.member.process_message(commit) {
            Ok(Processed::Commit(incoming)) => incoming,
            Ok(_) => return Err("a commit message carried something else".into()),
            Err(e) => return Err(format!("cannot process a commit for epoch {epoch}: {e}")),
        };
        if let Err(risk) = self.check_commit(&incoming) {
            let problem = risk.to_string();
            self.refused.push(risk);
            self.changed = true;
            return Err(problem);
        }
        match self.member.merge_commit(incoming) {
            Ok(merged) if merged.evicted => {
                self.phase = Phase::Evicted;
                self.changed = true;
                self.outputs.push_back(Output::Evicted);
            }
            Ok(_) => self.new_epoch(),
            Err(e) => return Err(format!("cannot merge a commit: {e}")),
        }
        Ok(())
    }

    /// Roster binding: what a commit adds and removes must fit the roster.
    fn check_commit(&self, incoming: &IncomingCommit) -> Result<(), Risk> {
        let summary = incoming.summary();
        let members = self.member_ids();
        let refuse = |e: roster::RosterError| Risk::RefusedCommit {
            participant: e.participant().to_owned(),
            reason: e.to_string(),
        };
        self.roster
            .check_adds(summary.adds.iter().map(String::as_str), &members)
            .map_err(refuse)?;
        let removed = summary.removes.iter().map(|(_, p)| p.as_str());
        self.roster.check_removes(removed, &self.me).map_err(refuse)
    }

    fn on_accepted(&mut self) -> Result<(), String> {
        if !self.member.has_pending_commit() {
            return Ok(()); // Nothing of ours in flight (a duplicate answer).
        }
        let adds = std::mem::take(&mut self.in_flight_adds);
        self.member.merge_pending_commit().map_err(|e| format!("cannot merge our commit: {e}"))?;
        if adds {
            self.hold_until = self.now + ADD_SETTLE_MS;
            // We added newcomers: they learn everyone's name from us.
            self.directory_due = Some(self.now + NAME_DELAY_MS);
        }
        self.new_epoch();
        Ok(())
    }

    /// Our commit lost the epoch to one the server relayed to us first (which already dropped
    /// ours), or the group moved on before it arrived. Its work stays queued.
    fn on_stale(&mut self) -> Result<(), String> {
        Ok(())
    }

    /// The server refused our commit as invalid: drop it, and give the server a moment to say
    /// what is still outstanding (it re-sends add requests and proposals every epoch).
    fn on_refused_commit(&mut self) -> Result<(), String> {
        if self.member.has_pending_commit() {
            self.member.discard_pending_commit().map_err(|e| e.to_string())?;
        }
        self.in_flight_adds = false;
        self.queued_adds.clear();
        self.hold_until = self.now + RETRY_MS;
        Ok(())
    }

    fn on_application(&mut self, from: &ParticipantId, message: &[u8]) {
        if self.phase != Phase::Member {
            return;
        }
        // Messages that do not decrypt (sent before we joined, or too old) are not ours to read.
        let Ok(Processed::Application { sender, payload }) = self.member.process_message(message)
        else {
            return;
        };
        match AppMessage::decode(&payload) {
            // Records carry their own signatures; the relaying member vouches for nothing.
            Ok(AppMessage::Names(records)) => self.on_names(records),
            Ok(AppMessage::Chat(chat)) => self.on_chat(from, sender, chat, message),
            Err(_) => {}
        }
    }

    fn on_names(&mut self, records: Vec<NameRecord>) {
        for record in records {
            if self.names.get(&record.participant_id).is_some_and(|(_, known)| *known == record) {
                continue; // Already checked.
            }
            if !self.member.verify_name(&record.participant_id, &record.name, &record.signature) {
                continue;
            }
            let shown = clean_name(&record.name);
            self.names.insert(record.participant_id.clone(), (shown, record));
            self.changed = true;
        }
    }

    /// Signs our own name record, once we are in the group (the signature covers its id).
    fn sign_own_name(&mut self) -> Result<(), String> {
        if self.name.is_empty() {
            return Ok(());
        }
        let signature =
            self.member.sign_name(&self.name).map_err(|e| format!("cannot sign our name: {e}"))?;
        let record =
            NameRecord { participant_id: self.me.clone(), name: self.name.clone(), signature };
        self.names.insert(self.me.clone(), (self.name.clone(), record));
        Ok(())
    }

    /// After every epoch change: fresh per-epoch state and keys for the media path.
    fn new_epoch(&mut self) {
        self.group_members = self.member.members().unwrap_or_default();
        self.member_set = self.group_members.iter().map(|m| m.participant_id.clone()).collect();
        self.seen_proposals.clear();
        self.pending_removes.clear();
        self.named = false;
        let members = self.member_ids();
        self.queued_adds.retain(|p, _| !members.contains(p));
        self.work_since = (!self.queued_adds.is_empty()).then_some(self.now);
        self.changed = true;
        match self.epoch_keys() {
            Ok(keys) => self.outputs.push_back(Output::Epoch(keys)),
            Err(e) => {
                self.outputs.push_back(Output::Problem(format!("no keys for the epoch: {e}")))
            }
        }
    }

    fn epoch_keys(&self) -> Result<EpochKeys, crate::GroupError> {
        Ok(EpochKeys {
            epoch: self.member.epoch()?,
            own_leaf: self.member.own_leaf()?,
            secret: self.member.sframe_epoch_secret()?,
            members: self
                .group_members
                .iter()
                .map(|m| (m.leaf, m.participant_id.clone()))
                .collect(),
        })
    }

    /// Commits what is due, sends our name and chat when due, and updates the risks.
    fn drive(&mut self) {
        if let Err(problem) = self.commit_if_due() {
            self.outputs.push_back(Output::Problem(problem));
        }
        if let Err(problem) = self.send_names_if_due() {
            self.outputs.push_back(Output::Problem(problem));
        }
        self.send_chats_if_ready();
        self.update_risks();
        if std::mem::take(&mut self.changed) {
            self.outputs.push_back(Output::Changed);
        }
    }

    /// When this member should commit the outstanding work, if any.
    fn commit_due(&self) -> Option<u64> {
        if self.phase != Phase::Member || self.member.has_pending_commit() {
            return None;
        }
        let since = self.work_since?;
        let rank = if self.named { 0 } else { self.rank() };
        Some((since + rank * FALLBACK_MS).max(self.hold_until))
    }

    /// Our place in the committing order: by leaf, lowest first.
    fn rank(&self) -> u64 {
        let own = self.member.own_leaf().unwrap_or(u32::MAX);
        self.group_members.iter().filter(|m| m.leaf < own).count() as u64
    }

    fn commit_if_due(&mut self) -> Result<(), String> {
        let present = |p: &String| self.roster.is_present(p);
        self.queued_adds.retain(|p, _| present(p));
        if self.queued_adds.is_empty() && self.pending_removes.is_empty() {
            self.work_since = None;
            return Ok(());
        }
        if self.commit_due().is_none_or(|due| self.now < due) {
            return Ok(());
        }
        let adds = !self.queued_adds.is_empty();
        let bundle = if adds {
            let packages: Vec<&Vec<u8>> = self.queued_adds.values().collect();
            self.member.add_members(&packages).map_err(|e| format!("cannot add members: {e}"))?
        } else {
            match self.member.commit_pending_proposals() {
                Ok(Some(bundle)) => bundle,
                Ok(None) => {
                    self.pending_removes.clear();
                    return Ok(());
                }
                Err(e) => return Err(format!("cannot commit removals: {e}")),
            }
        };
        self.in_flight_adds = adds;
        self.send(ClientMessage::MlsCommit {
            epoch: bundle.epoch_before,
            commit: B64.encode(&bundle.commit),
            welcome: bundle.welcome.as_ref().map(|w| B64.encode(w)),
        });
        Ok(())
    }

    /// Sends every name record we know for the current members (after our commit added
    /// newcomers), or just our own (after we joined), once it is due.
    fn send_names_if_due(&mut self) -> Result<(), String> {
        let due = |at: Option<u64>| at.is_some_and(|at| self.now >= at);
        let (directory, own) = (due(self.directory_due), due(self.name_due));
        if !(directory || own) || self.phase != Phase::Member {
            return Ok(());
        }
        // MLS sends no application message with a commit or proposals outstanding: wait for
        // the next epoch; the names stay due.
        if self.member.has_pending_commit() || self.member.has_pending_proposals() {
            return Ok(());
        }
        let members = self.member_ids();
        let records: Vec<NameRecord> = if directory {
            let known = self.names.iter().filter(|(p, _)| members.contains(*p));
            known.map(|(_, (_, record))| record.clone()).collect()
        } else {
            self.names.get(&self.me).map(|(_, record)| record.clone()).into_iter().collect()
        };
        self.directory_due = None;
        self.name_due = None;
        if records.is_empty() || members.len() < 2 {
            return Ok(()); // Nothing to say, or nobody to tell.
        }
        let payload = AppMessage::Names(records).encode();
        let message = self
            .member
            .send_application(&payload)
            .map_err(|e| format!("cannot send names: {e}"))?;
        let epoch = self.member.epoch().map_err(|e| e.to_string())?;
        self.send(ClientMessage::MlsApplication { epoch, message: B64.encode(message) });
        Ok(())
    }

    /// Looks at the risks again when the roster or the group changed, or a grace period ended.
    fn update_risks(&mut self) {
        if !self.changed && self.now < self.risks_due {
            return;
        }
        let mut risks = self.refused.clone();
        if self.phase == Phase::Member {
            let members = &self.member_set;
            for mismatch in self.roster.mismatches(members, &self.me, self.now) {
                risks.push(match mismatch {
                    Mismatch::NotInRoom(p) => Risk::NotInRoom(p),
                    Mismatch::NotInGroup(p) => Risk::NotInGroup(p),
                });
            }
        }
        self.risks_due = self.roster.next_deadline(self.now).unwrap_or(u64::MAX);
        if risks != self.risks {
            self.risks = risks;
            self.changed = true;
        }
    }

    fn next_timeout(&self) -> u64 {
        let idle = self.now + 60_000;
        let commit = self.commit_due().filter(|_| self.work_pending());
        let names = [self.name_due, self.directory_due].into_iter().flatten().min();
        let roster = self.roster.next_deadline(self.now);
        [commit, names, roster].into_iter().flatten().map(|t| t.max(self.now)).min().unwrap_or(idle)
    }

    fn work_pending(&self) -> bool {
        !self.queued_adds.is_empty() || !self.pending_removes.is_empty()
    }

    fn member_ids(&self) -> BTreeSet<String> {
        self.member_set.clone()
    }

    fn send(&mut self, message: ClientMessage) {
        self.outputs.push_back(Output::Send(message));
    }
}
