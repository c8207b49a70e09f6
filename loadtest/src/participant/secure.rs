//! The client side of the MLS delivery-service protocol (docs/protocol.md), feeding the SFrame
//! key ring: the same `veil-e2ee` calls the browser makes through wasm.
//!
//! Errors are returned, not panicked on: in a load test a participant that fails to key is a
//! figure to report. The integration tests' bots use it too, so there is one native client.

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
    /// Adds the server asked us to commit, not yet committed.
    queued: Vec<(ParticipantId, Vec<u8>)>,
    /// Joined from a Welcome and the others don't know our display name yet.
    announce: bool,
}

type Result<T> = std::result::Result<T, String>;

fn b64(s: &str) -> Result<Vec<u8>> {
    B64.decode(s).map_err(|e| format!("bad base64 from the server: {e}"))
}

fn err(what: &str) -> impl Fn(veil_e2ee::GroupError) -> String + '_ {
    move |e| format!("{what}: {e}")
}

impl Secure {
    /// Sets up from `joined.e2ee`; returns the first MLS message to send. `name` travels only
    /// inside MLS: a joiner announces it with a self-update commit once it is in the group.
    pub fn new(
        me: ParticipantId,
        name: &str,
        setup: &E2eeSetup,
        ring: &mut KeyRing,
    ) -> Result<(Secure, Vec<ClientMessage>)> {
        let member = Member::new(&me.0, name).map_err(err("new member"))?;
        let external = ExternalSenderInfo {
            signature_key: b64(&setup.external_sender.signature_key)?,
            identity: b64(&setup.external_sender.identity)?,
        };
        let group_id = b64(&setup.group_id)?;
        let mut secure =
            Secure { me, member, group_id, external, queued: Vec::new(), announce: false };
        let first = if setup.create_group {
            secure.create(ring)?
        } else {
            let key_package = B64.encode(secure.member.key_package().map_err(err("key package"))?);
            vec![ClientMessage::MlsKeyPackage { key_package }]
        };
        Ok((secure, first))
    }

    fn create(&mut self, ring: &mut KeyRing) -> Result<Vec<ClientMessage>> {
        self.member
            .create_group(&self.group_id, Some(self.external.clone()))
            .map_err(err("create group"))?;
        self.rekey(ring)?;
        Ok(vec![ClientMessage::MlsJoined { epoch: 0, leaf: self.leaf()? }])
    }

    /// The group's epoch, once we are in it.
    pub fn epoch(&self) -> Option<u64> {
        self.member.epoch().ok()
    }

    /// The code members compare to verify they share the epoch.
    pub fn verification_code(&self) -> Option<String> {
        self.member.verification_code().ok()
    }

    /// (participant id, display name) of every member, names as their credentials say.
    pub fn names(&self) -> Vec<(String, String)> {
        let members = self.member.members().unwrap_or_default();
        members.into_iter().map(|m| (m.participant_id, m.display_name)).collect()
    }

    fn leaf(&self) -> Result<u32> {
        self.member.own_leaf().map_err(err("own leaf"))
    }

    fn rekey(&mut self, ring: &mut KeyRing) -> Result<()> {
        let epoch = self.member.epoch().map_err(err("epoch"))?;
        let secret = self.member.sframe_epoch_secret().map_err(err("epoch secret"))?;
        let now_ms = crate::now_ns() / 1_000_000;
        ring.set_epoch(epoch, &secret, self.leaf()?, now_ms).map_err(|e| format!("set epoch: {e}"))
    }

    /// Handles one server message; returns what to send back.
    pub fn on_message(
        &mut self,
        message: &ServerMessage,
        ring: &mut KeyRing,
    ) -> Result<Vec<ClientMessage>> {
        match message {
            ServerMessage::MlsWelcome { welcome } => {
                self.member.join_from_welcome(&b64(welcome)?).map_err(err("welcome"))?;
                self.rekey(ring)?;
                self.announce = true;
                let epoch = self.member.epoch().map_err(err("epoch"))?;
                let mut out = vec![ClientMessage::MlsJoined { epoch, leaf: self.leaf()? }];
                out.extend(self.commit_queued()?);
                Ok(out)
            }
            ServerMessage::MlsCreateGroup { group_id } => {
                self.group_id = b64(group_id)?;
                self.create(ring)
            }
            ServerMessage::MlsAddRequest { participant_id, key_package, committer } => {
                if *committer == self.me {
                    self.queued.retain(|(p, _)| p != participant_id);
                    self.queued.push((participant_id.clone(), b64(key_package)?));
                }
                self.commit_queued()
            }
            ServerMessage::MlsCommitAccepted { .. } => {
                self.member.merge_pending_commit().map_err(err("merge commit"))?;
                self.rekey(ring)?;
                self.commit_queued()
            }
            // Our commit lost to one the server relayed to us first as `mls_commit`, which
            // dropped ours; this error may arrive after we made a newer commit, so it must not
            // touch the pending one. The server re-sends whatever is still outstanding.
            ServerMessage::Error { code: ErrorCode::MlsStaleCommit, .. } => Ok(Vec::new()),
            ServerMessage::MlsCommit { commit, .. } => {
                // Another member's commit won this epoch: ours, if any, lost.
                if self.member.has_pending_commit() {
                    self.member.discard_pending_commit().map_err(err("discard commit"))?;
                }
                if let Ok(Processed::EpochChanged { .. }) =
                    self.member.process_message(&b64(commit)?)
                {
                    self.rekey(ring)?;
                }
                self.commit_queued()
            }
            ServerMessage::MlsProposal { proposal, committer, .. } => {
                let _ = self.member.process_message(&b64(proposal)?);
                if *committer != self.me || self.member.has_pending_commit() {
                    return Ok(Vec::new());
                }
                let bundle =
                    self.member.commit_pending_proposals().map_err(err("commit proposals"))?;
                Ok(bundle.iter().map(|b| commit_message(b, Vec::new())).collect())
            }
            _ => Ok(Vec::new()),
        }
    }

    fn commit_queued(&mut self) -> Result<Vec<ClientMessage>> {
        if self.member.has_pending_commit() || self.member.epoch().is_err() {
            return Ok(Vec::new());
        }
        if self.announce {
            match self.member.announce_name().map_err(err("announce name"))? {
                Some(bundle) => return Ok(vec![commit_message(&bundle, Vec::new())]),
                None => self.announce = false,
            }
        }
        if self.queued.is_empty() {
            return Ok(Vec::new());
        }
        let members: Vec<String> = self
            .member
            .members()
            .map_err(err("members"))?
            .into_iter()
            .map(|m| m.participant_id)
            .collect();
        let wanted: Vec<(ParticipantId, Vec<u8>)> =
            self.queued.drain(..).filter(|(p, _)| !members.contains(&p.0)).collect();
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let packages: Vec<&Vec<u8>> = wanted.iter().map(|(_, kp)| kp).collect();
        let bundle = self.member.add_members(&packages).map_err(err("add members"))?;
        Ok(vec![commit_message(&bundle, wanted.into_iter().map(|(p, _)| p).collect())])
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
