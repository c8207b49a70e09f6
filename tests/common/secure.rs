//! A bot's end-to-end encryption: the client side of the MLS delivery-service protocol
//! (docs/protocol.md) and SFrame on every frame, with the same `veil-e2ee` crate the browser
//! runs as wasm.

use std::time::Instant;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use veil_e2ee::{CommitBundle, ExternalSenderInfo, KeyRing, Member, Processed};
use veil_proto::ParticipantId;
use veil_proto::signal::{ClientMessage, E2eeSetup, ErrorCode, ServerMessage};

pub struct Secure {
    me: ParticipantId,
    member: Member,
    group_id: Vec<u8>,
    external: ExternalSenderInfo,
    pub ring: KeyRing,
    start: Instant,
    /// Adds asked of us while a commit of ours was in flight.
    queued: Vec<(ParticipantId, Vec<u8>)>,
    in_flight: Vec<ParticipantId>,
    /// Joined from a Welcome and the others don't know our display name yet.
    announce: bool,
}

fn b64(s: &str) -> Vec<u8> {
    B64.decode(s).expect("base64 from the server")
}

impl Secure {
    /// Sets up from `joined.e2ee`; returns the first MLS message to send.
    pub fn new(me: ParticipantId, setup: &E2eeSetup) -> (Secure, Vec<ClientMessage>) {
        let member = Member::new(&me.0, &format!("bot {}", me.0)).unwrap();
        let external = ExternalSenderInfo {
            signature_key: b64(&setup.external_sender.signature_key),
            identity: b64(&setup.external_sender.identity),
        };
        let mut secure = Secure {
            me,
            member,
            group_id: b64(&setup.group_id),
            external,
            ring: KeyRing::new(),
            start: Instant::now(),
            queued: Vec::new(),
            in_flight: Vec::new(),
            announce: false,
        };
        let first = if setup.create_group { secure.create() } else { secure.key_package() };
        (secure, first)
    }

    fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    fn create(&mut self) -> Vec<ClientMessage> {
        self.member.create_group(&self.group_id, Some(self.external.clone())).unwrap();
        self.rekey();
        vec![ClientMessage::MlsJoined { epoch: 0, leaf: self.member.own_leaf().unwrap() }]
    }

    fn key_package(&self) -> Vec<ClientMessage> {
        let key_package = B64.encode(self.member.key_package().unwrap());
        vec![ClientMessage::MlsKeyPackage { key_package }]
    }

    fn rekey(&mut self) {
        let epoch = self.member.epoch().unwrap();
        let secret = self.member.sframe_epoch_secret().unwrap();
        let leaf = self.member.own_leaf().unwrap();
        let now = self.now_ms();
        self.ring.set_epoch(epoch, &secret, leaf, now).unwrap();
    }

    /// The group's epoch, once we are in it.
    pub fn epoch(&self) -> Option<u64> {
        self.member.epoch().ok()
    }

    pub fn verification_code(&self) -> Option<String> {
        self.member.verification_code().ok()
    }

    /// Display names of the group's members as MLS says, by participant id.
    pub fn names(&self) -> Vec<(String, String)> {
        let members = self.member.members().unwrap_or_default();
        members.into_iter().map(|m| (m.participant_id, m.display_name)).collect()
    }

    /// Handles one MLS server message; returns what to send back.
    pub fn on_message(&mut self, message: &ServerMessage) -> Vec<ClientMessage> {
        let out = self.on_message_inner(message);
        if std::env::var_os("VEIL_BOT_TRACE").is_some() {
            let kind = |v: serde_json::Value| {
                format!(
                    "{}{}",
                    v["type"].as_str().unwrap_or("?"),
                    v.get("epoch").map(|e| format!("@{e}")).unwrap_or_default()
                )
            };
            eprintln!(
                "[{}] at {:?} pending={} <- {} -> {:?}",
                &self.me.0[2..6],
                self.epoch(),
                self.member.has_pending_commit(),
                kind(serde_json::to_value(message).unwrap()),
                out.iter().map(|m| kind(serde_json::to_value(m).unwrap())).collect::<Vec<_>>()
            );
        }
        out
    }

    fn on_message_inner(&mut self, message: &ServerMessage) -> Vec<ClientMessage> {
        match message {
            ServerMessage::MlsWelcome { welcome } => {
                self.member.join_from_welcome(&b64(welcome)).unwrap();
                self.rekey();
                self.announce = true;
                let (epoch, leaf) = (self.member.epoch().unwrap(), self.member.own_leaf().unwrap());
                let mut out = vec![ClientMessage::MlsJoined { epoch, leaf }];
                out.extend(self.commit_queued());
                out
            }
            ServerMessage::MlsCreateGroup { group_id } => {
                self.group_id = b64(group_id);
                self.create()
            }
            ServerMessage::MlsAddRequest { participant_id, key_package, committer } => {
                if *committer == self.me {
                    self.queued.retain(|(p, _)| p != participant_id);
                    self.queued.push((participant_id.clone(), b64(key_package)));
                }
                self.commit_queued()
            }
            ServerMessage::MlsCommitAccepted { .. } => {
                self.member.merge_pending_commit().unwrap();
                self.in_flight.clear();
                self.rekey();
                self.commit_queued()
            }
            // A refused commit of ours always lost to one the server relays to us as
            // `mls_commit`, which discards ours; the error itself may arrive after we already
            // made a newer commit, so it must not touch the pending one.
            ServerMessage::Error { code: ErrorCode::MlsStaleCommit, .. } => Vec::new(),
            ServerMessage::MlsCommit { commit, .. } => {
                // Another member's commit won this epoch: ours, if any, lost.
                if self.member.has_pending_commit() {
                    self.member.discard_pending_commit().unwrap();
                    self.in_flight.clear();
                }
                if let Ok(Processed::EpochChanged { .. }) =
                    self.member.process_message(&b64(commit))
                {
                    self.rekey();
                }
                self.commit_queued()
            }
            ServerMessage::MlsProposal { proposal, committer, .. } => {
                let _ = self.member.process_message(&b64(proposal));
                if *committer != self.me || self.member.has_pending_commit() {
                    return Vec::new();
                }
                match self.member.commit_pending_proposals().unwrap() {
                    Some(bundle) => vec![commit_message(&bundle, Vec::new())],
                    None => Vec::new(),
                }
            }
            _ => Vec::new(),
        }
    }

    fn commit_queued(&mut self) -> Vec<ClientMessage> {
        if self.member.has_pending_commit() || self.epoch().is_none() {
            return Vec::new();
        }
        if self.announce {
            // Our name travels only inside MLS: a self-update with the named credential.
            if let Some(bundle) = self.member.announce_name().unwrap() {
                return vec![commit_message(&bundle, Vec::new())];
            }
            self.announce = false;
        }
        if self.queued.is_empty() {
            return Vec::new();
        }
        let members: Vec<String> =
            self.member.members().unwrap().into_iter().map(|m| m.participant_id).collect();
        let wanted: Vec<(ParticipantId, Vec<u8>)> =
            self.queued.drain(..).filter(|(p, _)| !members.contains(&p.0)).collect();
        if wanted.is_empty() {
            return Vec::new();
        }
        let packages: Vec<&Vec<u8>> = wanted.iter().map(|(_, kp)| kp).collect();
        let bundle = self.member.add_members(&packages).unwrap();
        self.in_flight = wanted.iter().map(|(p, _)| p.clone()).collect();
        vec![commit_message(&bundle, self.in_flight.clone())]
    }
}

fn commit_message(bundle: &CommitBundle, added: Vec<ParticipantId>) -> ClientMessage {
    ClientMessage::MlsCommit {
        epoch: bundle.epoch_before,
        commit: B64.encode(&bundle.commit),
        welcome: bundle.welcome.as_ref().map(|w| B64.encode(w)),
        added,
        removed: bundle.removed.clone(),
    }
}
