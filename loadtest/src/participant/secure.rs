//! A native client's end-to-end encryption: the key-agreement [`Session`] every Veil client
//! runs (the browser through wasm), feeding an SFrame key ring. The load test's participants,
//! the integration tests' bots and the webrtc-rs peer all use this one adapter.
//!
//! Errors are returned, not panicked on: in a load test a participant that fails to key is a
//! figure to report.

use std::time::{Duration, Instant};

use veil_e2ee::KeyRing;
use veil_e2ee::session::{Input, MemberView, Output, Risk, Session};
use veil_proto::signal::{ClientMessage, ServerMessage};

/// The session, with what it last said.
pub struct Secure {
    session: Session,
    /// When the session next wants time, in its clock (ms since [`crate::start`]).
    deadline_ms: u64,
    /// Problems the session reported (refused messages, lost races), newest last.
    pub problems: Vec<String>,
    /// A commit removed us.
    pub evicted: bool,
}

type Result<T> = std::result::Result<T, String>;

/// The session's clock: ms since the process's start.
fn now_ms() -> u64 {
    crate::now_ns() / 1_000_000
}

impl Secure {
    /// Starts from the server's `joined` message; returns the first MLS messages to send.
    /// `name` travels only inside the group, encrypted.
    pub fn start(
        joined: &ServerMessage,
        name: &str,
        ring: &mut KeyRing,
    ) -> Result<(Secure, Vec<ClientMessage>)> {
        let session = Session::from_joined(joined, name, now_ms()).map_err(|e| e.to_string())?;
        let mut secure = Secure { session, deadline_ms: 0, problems: Vec::new(), evicted: false };
        let out = secure.drain(ring)?;
        Ok((secure, out))
    }

    /// Handles one server message; returns what to send back.
    pub fn on_message(
        &mut self,
        message: &ServerMessage,
        ring: &mut KeyRing,
    ) -> Result<Vec<ClientMessage>> {
        self.session.handle_input(now_ms(), Input::Server(message));
        self.drain(ring)
    }

    /// Lets time pass (call at [`next_timeout`](Self::next_timeout)); returns what to send.
    pub fn on_timeout(&mut self, ring: &mut KeyRing) -> Result<Vec<ClientMessage>> {
        self.session.handle_input(now_ms(), Input::Timeout);
        self.drain(ring)
    }

    /// When the session next wants [`on_timeout`](Self::on_timeout).
    pub fn next_timeout(&self) -> Instant {
        let wait = self.deadline_ms.saturating_sub(now_ms());
        Instant::now() + Duration::from_millis(wait)
    }

    fn drain(&mut self, ring: &mut KeyRing) -> Result<Vec<ClientMessage>> {
        let mut out = Vec::new();
        loop {
            match self.session.poll_output() {
                Output::Send(message) => out.push(message),
                Output::Epoch(keys) => {
                    ring.set_epoch(keys.epoch, &keys.secret, keys.own_leaf, now_ms())
                        .map_err(|e| format!("set epoch: {e}"))?;
                    ring.set_members(keys.epoch, keys.members).map_err(|e| e.to_string())?;
                }
                Output::Evicted => {
                    self.evicted = true;
                    ring.clear();
                }
                Output::Problem(problem) => self.problems.push(problem),
                // Synthetic participants neither show nor send chat.
                Output::Changed | Output::Chat { .. } | Output::ChatUnsent { .. } => {}
                Output::Timeout(at) => {
                    self.deadline_ms = at;
                    return Ok(out);
                }
            }
        }
    }

    /// The group's epoch, once we are in it.
    pub fn epoch(&self) -> Option<u64> {
        self.session.epoch()
    }

    /// The code members compare to verify they share the epoch.
    pub fn verification_code(&self) -> Option<String> {
        self.session.code()
    }

    /// (participant id, display name) of every member; the name is empty until it arrived.
    pub fn names(&self) -> Vec<(String, String)> {
        self.members().into_iter().map(|m| (m.participant_id, m.name.unwrap_or_default())).collect()
    }

    /// The members as the session shows them.
    pub fn members(&self) -> Vec<MemberView> {
        self.session.members()
    }

    /// Why the call is at risk, if it is.
    pub fn risks(&self) -> Vec<Risk> {
        self.session.risks().to_vec()
    }
}
