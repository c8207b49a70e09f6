//! The audit log: an append-only, hash-chained record of what happened to rooms and who did it,
//! in `audit.log` in the data directory. `veil audit verify` checks it.
//!
//! # What is recorded, and what never is
//!
//! Joins and leaves (participant ids and the identities tokens authenticated), the lobby and its
//! decisions, host actions, policy changes, revocations, admin API calls and failed
//! authentications: the [`AuditEvent`]s. Room names, participant ids, identities and token ids
//! are what an auditor needs, and the log holds them. IP addresses, display names (the server
//! has none), tokens, keys, SDP and MLS messages never reach it: no event has a field that could
//! carry them, and none has free-form text.
//!
//! # The format
//!
//! UTF-8 JSON, one record per `\n`-terminated line:
//!
//! ```text
//! {"seq":7,"time":1767225600123,"event":{"type":"joined",...},"prev":"<64 hex>","hash":"<64 hex>"}
//! ```
//!
//! - `seq` numbers records from 1, one more each time; pruning does not renumber them.
//! - `time` is when the record was written, in milliseconds since the Unix epoch.
//! - `event` is an [`AuditEvent`], or a `pruned` record the log writes itself (below).
//! - `prev` is the `hash` of the record before it; the first record's is 64 zeros ([`GENESIS`]).
//! - `hash` is the lowercase hex of `SHA-256(P ‖ C)`, where `P` is the 32 bytes `prev` spells
//!   and `C` the canonical JSON of the object `{"event": …, "seq": …, "time": …}`.
//!
//! Canonical JSON is JSON without whitespace, with the keys of every object in the order of
//! their UTF-8 bytes, integers in plain decimal (the log holds no other numbers), and strings
//! escaping only `"`, `\` and the control characters (`\b \t \n \f \r` by name, the others as
//! lowercase `\u00xx`). For these records it is RFC 8785, and what Python writes:
//!
//! ```text
//! import hashlib, json
//! def record_hash(r):
//!     body = {"event": r["event"], "seq": r["seq"], "time": r["time"]}
//!     c = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
//!     return hashlib.sha256(bytes.fromhex(r["prev"]) + c.encode()).hexdigest()
//! ```
//!
//! Verification derives `C` from the parsed record, not from Rust types, so it needs to know
//! no event and checks logs a later version wrote.
//!
//! # Pruning
//!
//! With a retention, [`AuditLog::prune`] drops the records older than it from the front of the
//! log (never from the middle) and rewrites the file, by write-then-rename, to start with an
//! anchor line naming the first kept record's seq and its `prev` (the last dropped record's
//! hash), and to end with a `pruned` record that names the same three values:
//!
//! ```text
//! {"anchor":{"seq":1041,"prev":"<64 hex>","pruned_at":1767225600123}}
//! ...records 1041 and on, unchanged...
//! {"seq":2310,"time":1767225600123,"event":{"type":"pruned","first_kept":1041,"prev":"<64 hex>","dropped":1040,"retention_secs":31536000},"prev":"…","hash":"…"}
//! ```
//!
//! A pruned log verifies from its anchor: the first record must carry the anchor's seq and
//! prev, and the last `pruned` record in the chain must name the anchor's seq, prev and time
//! (its own `time`), so every byte of the file is covered by the chain and the prune itself is
//! on record.
//!
//! # What the chain proves, and what it does not
//!
//! Changing, removing, inserting or reordering records in the middle of the log breaks the
//! chain at the first record touched, and [`verify`] names it. But the chain has no key: whoever
//! can write the file can rewrite every record after the one they change, cut records off the
//! end, or forge a prune of the front, and the result verifies. What catches that is a head
//! hash kept elsewhere: note what `veil audit verify` prints (the last seq and its hash)
//! somewhere the server cannot write, and check later that the record with that seq still has
//! that hash (`veil audit verify --head SEQ:HASH`).
//!
//! # Durability
//!
//! Each record is one `write` of one line to a file opened for appending, under a mutex, with
//! no `fsync`: a record is in the file once [`AuditLog::record`] returns and survives the
//! process crashing, but a crash of the machine may lose the last moments of the log (and
//! leave its last line cut short, which [`AuditLog::open`] drops, saying so). The log is
//! verifiable either way. [`AuditLog::sync`] flushes to disk on demand; `veil serve` calls it
//! every second. `examples/audit_append.rs` measures both: an `fsync` per record took 0.2 to
//! 3 ms on this project's machine, 60 to 900 times the record, and would be paid under the
//! mutex (`docs/benchmarks.md`).

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use veil_proto::room::{RoomPolicy, Source};
use veil_proto::{ParticipantId, RoomName};

/// The log's file name in the data directory.
pub const FILE_NAME: &str = "audit.log";

/// The `prev` of the first record of a log.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Something that happened to a room, as the audit log keeps it.
///
/// A participant id stands for one join; the identity behind it is in its [`Joined`] or
/// [`Lobby`] record, so the other events name participants by id alone.
///
/// [`Joined`]: AuditEvent::Joined
/// [`Lobby`]: AuditEvent::Lobby
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum AuditEvent {
    /// A participant took a seat in a room: straight away, or when a host admitted it.
    Joined {
        room: RoomName,
        participant: ParticipantId,
        /// The identity its token authenticated, or its fresh `guest-…` identity.
        identity: String,
        host: bool,
        /// The id of the token it joined with, which removals and revocations name.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token_id: Option<String>,
    },
    /// A participant left a room, or a lobby entry stopped waiting.
    Left { room: RoomName, participant: ParticipantId, reason: LeaveReason },
    /// A participant entered a room's lobby, to wait for a host.
    Lobby { room: RoomName, participant: ParticipantId, identity: String },
    /// A host let a participant in from the lobby.
    Admitted { room: RoomName, participant: ParticipantId, by: By },
    /// A host turned a participant in the lobby away.
    Denied { room: RoomName, participant: ParticipantId, by: By },
    /// A host or the operator acted on a room or one of its participants.
    HostAction {
        room: RoomName,
        by: By,
        action: HostAction,
        /// Whom it was done to; none for what is done to the whole room.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        target: Option<ParticipantId>,
        /// The source muted.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        source: Option<Source>,
    },
    /// A room's policy changed; `policy` is the whole new one.
    PolicyChanged { room: RoomName, by: By, policy: RoomPolicy },
    /// An identity or a token id was revoked in a room (one of the two is set).
    Revoked {
        room: RoomName,
        by: By,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        identity: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token_id: Option<String>,
    },
    /// The operator called the admin API with the admin key. `path` is the request's path
    /// without its query; `status` the HTTP status of the answer.
    AdminCall { method: String, path: String, status: u16 },
    /// Someone was refused for what they presented, or for asking what they may not.
    AuthFailed {
        what: AuthFailure,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<RoomName>,
        /// Who asked, when it was a participant already in the room.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        participant: Option<ParticipantId>,
    },
}

impl AuditEvent {
    /// The event's `type`, which is all the server's own logs say of it.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Joined { .. } => "joined",
            Self::Left { .. } => "left",
            Self::Lobby { .. } => "lobby",
            Self::Admitted { .. } => "admitted",
            Self::Denied { .. } => "denied",
            Self::HostAction { .. } => "host_action",
            Self::PolicyChanged { .. } => "policy_changed",
            Self::Revoked { .. } => "revoked",
            Self::AdminCall { .. } => "admin_call",
            Self::AuthFailed { .. } => "auth_failed",
        }
    }
}

/// Why a participant left.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeaveReason {
    /// It said so (`leave`).
    Left,
    /// Its connection closed or went silent, it stopped reading, or its media was lost.
    Disconnected,
    /// The same identity joined from another connection.
    Replaced,
    /// A host or the operator removed it.
    Removed,
    /// Its identity or token was revoked.
    Revoked,
    /// A host or the operator ended the meeting.
    MeetingEnded,
}

/// What a host or the operator did, besides what has an event of its own (admitting, denying,
/// revoking, setting the policy).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HostAction {
    /// Turned off one of the target's sources (the event's `source`).
    Mute,
    /// Removed the target; its token cannot join again.
    Remove,
    /// Ended the meeting for everyone.
    EndMeeting,
}

/// What was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthFailure {
    /// A join with a malformed token, or one whose signature does not verify.
    InvalidToken,
    /// A join with an expired (or not yet valid) token.
    TokenExpired,
    /// A join with a token for another room.
    WrongRoom,
    /// A join with a revoked identity or token id, or the token of someone removed.
    Revoked,
    /// A host action asked by a participant without the host grant.
    Forbidden,
    /// An admin API call without the admin key.
    AdminUnauthorized,
}

/// Who acted on a room: one of its hosts, named by participant id, or the operator (the admin
/// API, `veil revoke`). Written as the participant id, or as `"operator"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum By {
    Participant(ParticipantId),
    Operator,
}

impl From<&ParticipantId> for By {
    fn from(participant: &ParticipantId) -> Self {
        Self::Participant(participant.clone())
    }
}

impl From<By> for String {
    fn from(by: By) -> String {
        match by {
            By::Participant(p) => p.0,
            By::Operator => "operator".into(),
        }
    }
}

impl TryFrom<String> for By {
    type Error = String;

    /// `"operator"`, or something shaped like a participant id.
    fn try_from(text: String) -> Result<Self, String> {
        let id_like = !text.is_empty()
            && text.len() <= 64
            && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        match text.as_str() {
            "operator" => Ok(Self::Operator),
            _ if id_like => Ok(Self::Participant(ParticipantId(text))),
            _ => Err(format!("{text:?} is neither a participant id nor \"operator\"")),
        }
    }
}

/// The log cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("cannot use the audit log {}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error(
        "the audit log {} does not verify: broken at {broken}; run `veil audit verify` with \
         this data directory to see it, keep the file as evidence, and move it aside to start \
         a new log",
        path.display()
    )]
    Broken { path: PathBuf, broken: Break },
    #[error(
        "the audit log {} is in use by another process (is another `veil serve` running on \
         this data directory?)",
        _0.display()
    )]
    InUse(PathBuf),
    #[error(
        "the audit log {} could not be repaired after a failed write and takes no more \
         records; restart `veil serve` to repair it",
        _0.display()
    )]
    Poisoned(PathBuf),
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> AuditError + '_ {
    move |source| AuditError::Io { path: path.to_path_buf(), source }
}

/// The append-only audit log. Cheap to share behind an `Arc`; every method takes `&self`.
#[derive(Debug)]
pub struct AuditLog {
    sink: Sink,
    retention: Option<Duration>,
    /// One prune at a time.
    pruning: Mutex<()>,
}

#[derive(Debug)]
enum Sink {
    Off,
    Memory(Mutex<Vec<AuditEvent>>),
    File { path: PathBuf, tail: Mutex<Tail> },
}

/// Where the file's chain ends, and the handle that appends to it.
#[derive(Debug)]
struct Tail {
    file: File,
    next_seq: u64,
    head: [u8; 32],
    /// The file's length: the end of its last whole record.
    len: u64,
    /// A failed write could not be undone: appending more would bury a broken line.
    poisoned: bool,
}

impl AuditLog {
    /// Opens (or creates) the log at `path` to append to it, after verifying it whole: a log
    /// that does not verify is refused rather than extended, so a break is never buried under
    /// new records. A last line cut short by a crash is dropped (with an error in the server's
    /// log), as it was never a whole record. The file is locked for as long as the log is open.
    ///
    /// `retention` is how long [`prune`](Self::prune) keeps records; `None` keeps them forever.
    pub fn open(path: impl Into<PathBuf>, retention: Option<Duration>) -> Result<Self, AuditError> {
        let path = path.into();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io_error(&path))?;
        }
        let file = open_append(&path)?;
        let (chain, broken) = scan(BufReader::new(&file), |_, _| {}).map_err(io_error(&path))?;
        match broken {
            None => {}
            Some(broken) if broken.why == Why::CutShort => {
                tracing::error!(
                    "the audit log {} ends in a record cut short at line {} (the machine \
                     crashed or the disk filled mid-write); dropping it",
                    path.display(),
                    broken.line
                );
                file.set_len(chain.end).map_err(io_error(&path))?;
            }
            Some(broken) => return Err(AuditError::Broken { path, broken }),
        }
        let mut len = chain.end;
        if !chain.ends_in_newline {
            // A whole last record whose newline was lost: end its line before the next.
            (&file).write_all(b"\n").map_err(io_error(&path))?;
            len += 1;
        }
        let tail = Tail { file, next_seq: chain.next_seq, head: chain.head, len, poisoned: false };
        Ok(Self {
            sink: Sink::File { path, tail: Mutex::new(tail) },
            retention,
            pruning: Mutex::default(),
        })
    }

    /// A log that keeps its events in memory, for tests: [`events`](Self::events) returns them.
    pub fn in_memory() -> Self {
        Self { sink: Sink::Memory(Mutex::default()), retention: None, pruning: Mutex::default() }
    }

    /// A log that records nothing.
    pub fn disabled() -> Self {
        Self { sink: Sink::Off, retention: None, pruning: Mutex::default() }
    }

    /// Where the log is kept, if in a file.
    pub fn path(&self) -> Option<&Path> {
        match &self.sink {
            Sink::File { path, .. } => Some(path),
            _ => None,
        }
    }

    /// How long [`prune`](Self::prune) keeps records; `None` is forever.
    pub fn retention(&self) -> Option<Duration> {
        self.retention
    }

    /// Appends `event`, stamped with the current time. A failure is logged with the event's
    /// type only (the server's logs carry no identities), and the caller goes on: an audit log
    /// that cannot be written does not stop meetings.
    ///
    /// It holds the log's own mutex for one `write`. A prune copies the log without it, and
    /// takes it only to copy what was recorded meanwhile and flush the new file.
    pub fn record(&self, event: AuditEvent) {
        let kind = event.kind();
        if let Err(e) = self.append(event, None) {
            tracing::error!("cannot record a {kind} event: {e}");
        }
    }

    /// Appends `event` stamped with `time`, and returns its seq (0 when not kept in a file).
    pub fn record_at(&self, event: AuditEvent, time: SystemTime) -> Result<u64, AuditError> {
        self.append(event, Some(time))
    }

    /// What an [`in_memory`](Self::in_memory) log holds; nothing for the others.
    pub fn events(&self) -> Vec<AuditEvent> {
        match &self.sink {
            Sink::Memory(events) => lock(events).clone(),
            _ => Vec::new(),
        }
    }

    /// Flushes what was recorded to the disk (`fdatasync`). The flush waits for the disk
    /// without the log's mutex, so records go on meanwhile.
    pub fn sync(&self) -> Result<(), AuditError> {
        let Sink::File { path, tail } = &self.sink else { return Ok(()) };
        let file = lock(tail).file.try_clone().map_err(io_error(path))?;
        file.sync_data().map_err(io_error(path))
    }

    fn append(&self, event: AuditEvent, time: Option<SystemTime>) -> Result<u64, AuditError> {
        let (path, tail) = match &self.sink {
            Sink::Off => return Ok(0),
            Sink::Memory(events) => {
                lock(events).push(event);
                return Ok(0);
            }
            Sink::File { path, tail } => (path, tail),
        };
        let event = serde_json::to_value(&event).expect("events serialize");
        let mut tail = lock(tail);
        if tail.poisoned {
            return Err(AuditError::Poisoned(path.clone()));
        }
        let time = unix_ms(time.unwrap_or_else(SystemTime::now));
        let (line, hash) = record_line(tail.next_seq, time, &event, &tail.head);
        tail.write_line(&line).map_err(|e| match e {
            Some(source) => AuditError::Io { path: path.clone(), source },
            None => AuditError::Poisoned(path.clone()),
        })?;
        tail.head = hash;
        tail.next_seq += 1;
        Ok(tail.next_seq - 1)
    }

    /// Drops the records older than the retention from the front of the log and returns how
    /// many (see the module docs). Does nothing without a retention, or when nothing is that
    /// old. A log that does not verify is not pruned: pruning would destroy the evidence.
    ///
    /// Most of the copying is done without the log's mutex, so records go on meanwhile.
    pub fn prune(&self, now: SystemTime) -> Result<u64, AuditError> {
        let (Some(retention), Sink::File { path, tail }) = (self.retention, &self.sink) else {
            return Ok(0);
        };
        let _one_at_a_time = lock(&self.pruning);
        let now = unix_ms(now);
        let cutoff = now.saturating_sub(u64::try_from(retention.as_millis()).unwrap_or(u64::MAX));
        let snapshot = {
            let tail = lock(tail);
            if tail.poisoned {
                return Err(AuditError::Poisoned(path.clone()));
            }
            tail.len
        };

        // The first record young enough to keep, and where its line starts.
        let mut keep: Option<(u64, u64, [u8; 32])> = None;
        let mut dropped = 0;
        let reader = BufReader::new(File::open(path).map_err(io_error(path))?.take(snapshot));
        let (chain, broken) = scan(reader, |offset, record| {
            if keep.is_none() {
                if record.time < cutoff {
                    dropped += 1;
                } else {
                    keep = Some((offset, record.seq, record.prev));
                }
            }
        })
        .map_err(io_error(path))?;
        if let Some(broken) = broken {
            return Err(AuditError::Broken { path: path.clone(), broken });
        }
        if dropped == 0 {
            return Ok(0);
        }
        let (offset, first_kept, prev) = keep.unwrap_or((snapshot, chain.next_seq, chain.head));
        let anchor = Anchor { seq: first_kept, prev: hex(&prev), pruned_at: now };
        let event = json!({
            "type": "pruned",
            "first_kept": first_kept,
            "prev": anchor.prev,
            "dropped": dropped,
            "retention_secs": retention.as_secs(),
        });

        let tmp = path.with_extension("log.tmp");
        let result = rewrite(path, &tmp, tail, &anchor, offset..snapshot, &event);
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result.map_err(io_error(path))?;
        Ok(dropped)
    }
}

/// The new file of a prune: the anchor, the kept records (copied without the mutex up to
/// `kept.end`, then under it up to the end), the `pruned` record; then it replaces the log.
fn rewrite(
    path: &Path,
    tmp: &Path,
    tail: &Mutex<Tail>,
    anchor: &Anchor,
    kept: std::ops::Range<u64>,
    event: &Value,
) -> io::Result<()> {
    let mut out = new_file(tmp)?;
    out.write_all(anchor.line().as_bytes())?;
    let mut log = File::open(path)?;
    log.seek(SeekFrom::Start(kept.start))?;
    io::copy(&mut (&mut log).take(kept.end - kept.start), &mut out)?;
    // Synced before taking the mutex, so that the sync under it has little left to write.
    out.sync_data()?;

    let mut tail = lock(tail);
    if tail.poisoned {
        return Err(io::Error::other("the log broke during the prune"));
    }
    log.seek(SeekFrom::Start(kept.end))?;
    io::copy(&mut (&mut log).take(tail.len - kept.end), &mut out)?;
    let (line, hash) = record_line(tail.next_seq, anchor.pruned_at, event, &tail.head);
    out.write_all(&line)?;
    out.sync_all()?;
    let len = out.metadata()?.len();
    drop(out);
    std::fs::rename(tmp, path)?;
    // From here the log is the new file: if it cannot be appended to, take no more records
    // rather than write them to the old one, which is gone.
    let reopened = open_append(path).map_err(|e| match e {
        AuditError::Io { source, .. } => source,
        other => io::Error::other(other.to_string()),
    });
    let file = match reopened {
        Ok(file) => file,
        Err(e) => {
            tail.poisoned = true;
            return Err(e);
        }
    };
    sync_dir(path);
    *tail = Tail { file, next_seq: tail.next_seq + 1, head: hash, len, poisoned: false };
    Ok(())
}

impl Tail {
    /// Appends one line. If the write fails it cuts the file back to where it was; `Err(None)`
    /// when even that fails, and the log is then poisoned.
    fn write_line(&mut self, line: &[u8]) -> Result<(), Option<io::Error>> {
        match (&self.file).write_all(line) {
            Ok(()) => {
                self.len += line.len() as u64;
                Ok(())
            }
            Err(e) => {
                if self.file.set_len(self.len).is_err() {
                    self.poisoned = true;
                    tracing::error!("a failed audit write could not be undone: {e}");
                    return Err(None);
                }
                Err(Some(e))
            }
        }
    }
}

/// Opens the log for appending (creating it, readable by its owner only) and locks it.
fn open_append(path: &Path) -> Result<File, AuditError> {
    let mut options = OpenOptions::new();
    options.read(true).append(true).create(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options.open(path).map_err(io_error(path))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(AuditError::InUse(path.to_path_buf())),
        Err(std::fs::TryLockError::Error(e)) => Err(io_error(path)(e)),
    }
}

fn new_file(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

/// Makes a rename in `path`'s directory durable. Failing only weakens durability, so it is
/// logged, not returned.
fn sync_dir(path: &Path) {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if let Err(e) = File::open(dir).and_then(|d| d.sync_all()) {
        tracing::warn!("cannot sync the directory of the audit log {}: {e}", path.display());
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves nothing half-done worth refusing for: a line is
    // written whole or cut back.
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn unix_ms(time: SystemTime) -> u64 {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
}

/// One record's line, with its newline, and its hash.
fn record_line(seq: u64, time: u64, event: &Value, prev: &[u8; 32]) -> (Vec<u8>, [u8; 32]) {
    let mut event_json = Vec::with_capacity(256);
    canonical(event, &mut event_json);
    let hash = record_hash(prev, seq, time, &event_json);
    let mut line = Vec::with_capacity(event_json.len() + 200);
    write!(line, "{{\"seq\":{seq},\"time\":{time},\"event\":").expect("writes to a Vec");
    line.extend_from_slice(&event_json);
    writeln!(line, ",\"prev\":\"{}\",\"hash\":\"{}\"}}", hex(prev), hex(&hash))
        .expect("writes to a Vec");
    (line, hash)
}

/// `SHA-256(prev ‖ C)`, where `C` is the canonical JSON of `{"event","seq","time"}`: the keys
/// are already in canonical order, and `event_json` is canonical.
fn record_hash(prev: &[u8; 32], seq: u64, time: u64, event_json: &[u8]) -> [u8; 32] {
    let mut sha = Sha256::new();
    sha.update(prev);
    sha.update(b"{\"event\":");
    sha.update(event_json);
    sha.update(format!(",\"seq\":{seq},\"time\":{time}}}").as_bytes());
    sha.finalize().into()
}

/// Writes `value` as canonical JSON (see the module docs). Sorts keys itself rather than rely
/// on `serde_json`'s map order, which a feature elsewhere in a build can change.
fn canonical(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push(b'{');
            for (i, (key, value)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                serde_json::to_writer(&mut *out, key).expect("writes to a Vec");
                out.push(b':');
                canonical(value, out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                canonical(item, out);
            }
            out.push(b']');
        }
        scalar => serde_json::to_writer(&mut *out, scalar).expect("writes to a Vec"),
    }
}

fn hex(bytes: &[u8; 32]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(64);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

/// 64 lowercase hex digits as 32 bytes.
fn unhex(text: &str) -> Option<[u8; 32]> {
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let text = text.as_bytes();
    if text.len() != 64 {
        return None;
    }
    let mut out = [0; 32];
    for (byte, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
        *byte = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(out)
}

/// Where a pruned log starts: its first record's seq and prev, and when it was pruned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anchor {
    pub seq: u64,
    pub prev: String,
    /// Milliseconds since the Unix epoch.
    pub pruned_at: u64,
}

impl Anchor {
    fn line(&self) -> String {
        format!(
            "{{\"anchor\":{{\"seq\":{},\"prev\":\"{}\",\"pruned_at\":{}}}}}\n",
            self.seq, self.prev, self.pruned_at
        )
    }
}

/// A record as [`entries`] reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub seq: u64,
    /// Milliseconds since the Unix epoch.
    pub time: u64,
    /// The event as written: an [`AuditEvent`], or the log's own `pruned` record.
    pub event: Value,
    pub prev: String,
    pub hash: String,
}

/// One line of the log.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    Anchor(Anchor),
    Record(Record),
    /// A line that is no record; [`verify`] says why.
    Unreadable,
}

/// The lines of the log at `path`, read but not verified (that is [`verify`]'s job).
pub fn entries(path: &Path) -> io::Result<impl Iterator<Item = io::Result<Entry>>> {
    let reader = BufReader::new(File::open(path)?);
    Ok(reader.split(b'\n').map(|line| {
        Ok(match parse_line(&line?) {
            Ok(Line::Anchor(anchor)) => Entry::Anchor(anchor),
            Ok(Line::Record(r)) => Entry::Record(Record {
                seq: r.seq,
                time: r.time,
                event: r.event,
                prev: hex(&r.prev),
                hash: hex(&r.hash),
            }),
            Err(_) => Entry::Unreadable,
        })
    }))
}

/// What a log that verifies holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Records (an anchor is not one).
    pub records: u64,
    /// The first and last record's seq, if there is any record.
    pub seqs: Option<(u64, u64)>,
    /// The last record's hash ([`GENESIS`] for an empty log): note it elsewhere, and a later
    /// rewrite of the log shows.
    pub head: String,
    /// Where a pruned log starts.
    pub anchor: Option<Anchor>,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.seqs {
            Some((first, last)) => write!(f, "{} records (seq {first}..{last})", self.records)?,
            None => write!(f, "0 records")?,
        }
        write!(f, ", head {}", self.head)
    }
}

/// The first place a log does not verify: the record (or anchor) at `line` (counted from 1),
/// with the seq it claims, or the seq expected there when it cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("record seq {seq} (line {line}): {why}")]
pub struct Break {
    pub line: u64,
    pub seq: u64,
    pub why: Why,
}

/// Why a record breaks the chain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Why {
    #[error("not a record: {0}")]
    Unreadable(String),
    #[error(
        "the last line is cut short, as a crash or a full disk mid-write leaves it; `veil \
         serve` drops it when it next opens the log"
    )]
    CutShort,
    #[error(
        "its hash does not match its contents, so it was changed after it was written (its \
         contents hash to {computed})"
    )]
    Altered { computed: String },
    #[error("seq {expected} was expected here: {}", out_of_sequence(*.expected, *.found))]
    OutOfSequence { expected: u64, found: u64 },
    #[error(
        "its prev is not the hash of the record before it, so it does not belong here: it \
         was inserted, or what came before it was changed or removed"
    )]
    NotChained,
    #[error("the anchor of the pruned log does not hold: {0}")]
    BadAnchor(String),
}

fn out_of_sequence(expected: u64, found: u64) -> String {
    if found > expected {
        let last = found - 1;
        let missing = if last == expected {
            format!("record {expected} is")
        } else {
            format!("records {expected}..{last} are")
        };
        format!("{missing} missing, or records were reordered")
    } else {
        "a record was inserted, repeated or moved here".into()
    }
}

/// Why [`verify`] gave no summary.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("cannot read the audit log: {0}")]
    Io(#[from] io::Error),
    #[error("broken at {0}")]
    Broken(Break),
}

/// Checks the whole log at `path` (see the module docs for the rules) and says what it holds,
/// or names the first record that breaks it.
pub fn verify(path: &Path) -> Result<Summary, VerifyError> {
    match scan(BufReader::new(File::open(path)?), |_, _| {})? {
        (chain, None) => Ok(chain.summary()),
        (_, Some(broken)) => Err(VerifyError::Broken(broken)),
    }
}

/// A record as parsed, before it is checked.
struct Parsed {
    seq: u64,
    time: u64,
    event: Value,
    prev: [u8; 32],
    hash: [u8; 32],
}

enum Line {
    Anchor(Anchor),
    Record(Parsed),
}

fn parse_line(bytes: &[u8]) -> Result<Line, String> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| format!("not JSON ({e})"))?;
    let Value::Object(mut fields) = value else { return Err("not a JSON object".into()) };
    if let Some(anchor) = fields.remove("anchor") {
        only(&fields, "an anchor line has nothing but the anchor")?;
        let Value::Object(mut anchor) = anchor else {
            return Err("the anchor is no object".into());
        };
        let seq = take_u64(&mut anchor, "seq")?;
        let prev = hex(&take_hash(&mut anchor, "prev")?);
        let pruned_at = take_u64(&mut anchor, "pruned_at")?;
        only(&anchor, "the anchor has a field no check covers")?;
        return Ok(Line::Anchor(Anchor { seq, prev, pruned_at }));
    }
    let seq = take_u64(&mut fields, "seq")?;
    let time = take_u64(&mut fields, "time")?;
    let prev = take_hash(&mut fields, "prev")?;
    let hash = take_hash(&mut fields, "hash")?;
    let event = fields.remove("event").ok_or("it has no event")?;
    if !event.get("type").is_some_and(Value::is_string) {
        return Err("its event has no type".into());
    }
    only(&fields, "it has a field the hash does not cover")?;
    Ok(Line::Record(Parsed { seq, time, event, prev, hash }))
}

fn take_u64(fields: &mut Map<String, Value>, key: &str) -> Result<u64, String> {
    fields.remove(key).and_then(|v| v.as_u64()).ok_or_else(|| format!("no whole number {key}"))
}

fn take_hash(fields: &mut Map<String, Value>, key: &str) -> Result<[u8; 32], String> {
    let text = fields.remove(key);
    text.as_ref()
        .and_then(Value::as_str)
        .and_then(unhex)
        .ok_or_else(|| format!("{key} is not a hash (64 lowercase hex digits)"))
}

fn only(rest: &Map<String, Value>, why: &str) -> Result<(), String> {
    match rest.keys().next() {
        Some(extra) => Err(format!("{why} ({extra:?})")),
        None => Ok(()),
    }
}

/// Where the chain stands after the lines read so far.
#[derive(Debug, Clone)]
struct Chain {
    anchor: Option<Anchor>,
    records: u64,
    first_seq: Option<u64>,
    next_seq: u64,
    head: [u8; 32],
    /// Lines read, and the bytes of them.
    lines: u64,
    end: u64,
    ends_in_newline: bool,
    /// The last `pruned` record: its seq and the anchor it names.
    last_pruned: Option<(u64, Anchor)>,
}

/// Reads and checks every line, calling `each` with each good record and the offset its line
/// starts at. Returns the chain as it stood before the first broken line, and the break.
fn scan(
    mut reader: impl BufRead,
    mut each: impl FnMut(u64, &Parsed),
) -> io::Result<(Chain, Option<Break>)> {
    let mut chain = Chain {
        anchor: None,
        records: 0,
        first_seq: None,
        next_seq: 1,
        head: [0; 32],
        lines: 0,
        end: 0,
        ends_in_newline: true,
        last_pruned: None,
    };
    let mut line = Vec::with_capacity(512);
    let mut cut_short = None;
    loop {
        line.clear();
        let read = reader.read_until(b'\n', &mut line)?;
        if read == 0 {
            break;
        }
        let whole = line.last() == Some(&b'\n');
        let text = if whole { &line[..line.len() - 1] } else { &line[..] };
        let offset = chain.end;
        match chain.check(text, whole) {
            Ok(Some(record)) => each(offset, &record),
            Ok(None) => {}
            Err(broken) if broken.why == Why::CutShort => cut_short = Some(broken),
            Err(broken) => return Ok((chain, Some(broken))),
        }
        if cut_short.is_none() {
            chain.end += read as u64;
            chain.ends_in_newline = whole;
        }
    }
    // A bad anchor is on line 1, before any cut-short last line.
    let broken = chain.unconfirmed_anchor().or(cut_short);
    Ok((chain, broken))
}

impl Chain {
    /// Checks the next line (without its newline; `whole` if it had one) and moves on past it.
    fn check(&mut self, text: &[u8], whole: bool) -> Result<Option<Parsed>, Break> {
        let line = self.lines + 1;
        let broken = |seq, why| Break { line, seq, why };
        let parsed = match parse_line(text) {
            Ok(parsed) => parsed,
            Err(_) if !whole => return Err(broken(self.next_seq, Why::CutShort)),
            Err(e) => return Err(broken(self.next_seq, Why::Unreadable(e))),
        };
        let record = match parsed {
            Line::Anchor(anchor) => {
                if line != 1 {
                    let why = Why::BadAnchor("only the first line may be an anchor".into());
                    return Err(broken(anchor.seq, why));
                }
                self.next_seq = anchor.seq;
                self.head = unhex(&anchor.prev).expect("checked when parsed");
                self.anchor = Some(anchor);
                self.lines = line;
                return Ok(None);
            }
            Line::Record(record) => record,
        };
        let mut event_json = Vec::with_capacity(256);
        canonical(&record.event, &mut event_json);
        let computed = record_hash(&record.prev, record.seq, record.time, &event_json);
        if computed != record.hash {
            return Err(broken(record.seq, Why::Altered { computed: hex(&computed) }));
        }
        if let (Some(anchor), 0) = (&self.anchor, self.records)
            && (record.seq != anchor.seq || record.prev != self.head)
        {
            let why = Why::BadAnchor(format!(
                "it says the log goes on at seq {} after hash {}, but the first record is seq \
                 {} after {}",
                anchor.seq,
                anchor.prev,
                record.seq,
                hex(&record.prev)
            ));
            return Err(Break { line: 1, seq: anchor.seq, why });
        }
        if record.seq != self.next_seq {
            let why = Why::OutOfSequence { expected: self.next_seq, found: record.seq };
            return Err(broken(record.seq, why));
        }
        if record.prev != self.head {
            return Err(broken(record.seq, Why::NotChained));
        }
        if record.event["type"] == "pruned" {
            self.last_pruned = Some((record.seq, pruned_anchor(&record)));
        }
        self.records += 1;
        self.first_seq.get_or_insert(record.seq);
        self.next_seq = record.seq + 1;
        self.head = record.hash;
        self.lines = line;
        Ok(Some(record))
    }

    /// A pruned log's anchor must be what its last `pruned` record says it wrote.
    fn unconfirmed_anchor(&self) -> Option<Break> {
        let anchor = self.anchor.as_ref()?;
        let why = match &self.last_pruned {
            Some((_, named)) if named == anchor => return None,
            Some((seq, named)) => format!(
                "the last pruned record (seq {seq}) names seq {} after hash {} at {}, but the \
                 anchor says seq {} after {} at {}",
                named.seq, named.prev, named.pruned_at, anchor.seq, anchor.prev, anchor.pruned_at
            ),
            None => "no pruned record in the log confirms it".into(),
        };
        Some(Break { line: 1, seq: anchor.seq, why: Why::BadAnchor(why) })
    }

    fn summary(&self) -> Summary {
        Summary {
            records: self.records,
            seqs: self.first_seq.map(|first| (first, self.next_seq - 1)),
            head: hex(&self.head),
            anchor: self.anchor.clone(),
        }
    }
}

/// The anchor a `pruned` record says its prune wrote.
fn pruned_anchor(record: &Parsed) -> Anchor {
    Anchor {
        seq: record.event["first_kept"].as_u64().unwrap_or(0),
        prev: record.event["prev"].as_str().unwrap_or("").to_owned(),
        pruned_at: record.time,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room(name: &str) -> RoomName {
        RoomName::new(name).unwrap()
    }

    fn p(id: &str) -> ParticipantId {
        ParticipantId(id.into())
    }

    fn joined(n: u32) -> AuditEvent {
        AuditEvent::Joined {
            room: room("standup"),
            participant: p(&format!("p_{n:016x}")),
            identity: format!("ada-{n}"),
            host: n == 1,
            token_id: Some("t_55f4e74012cc71a7".into()),
        }
    }

    /// A fresh, empty scratch directory.
    fn scratch(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("veil-audit-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn at(ms: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(ms)
    }

    fn lines(path: &Path) -> Vec<String> {
        std::fs::read_to_string(path).unwrap().lines().map(String::from).collect()
    }

    fn write_lines(path: &Path, lines: &[String]) {
        std::fs::write(path, lines.iter().map(|l| format!("{l}\n")).collect::<String>()).unwrap();
    }

    fn broken(path: &Path) -> Break {
        match verify(path) {
            Err(VerifyError::Broken(b)) => b,
            other => panic!("expected a break, got {other:?}"),
        }
    }

    /// A log of `n` joins, a second apart from t = 1000 s.
    fn log_of(dir: &Path, n: u32, retention: Option<Duration>) -> (PathBuf, AuditLog) {
        let path = dir.join(FILE_NAME);
        let log = AuditLog::open(&path, retention).unwrap();
        for i in 1..=n {
            let seq = log.record_at(joined(i), at(1_000_000 + u64::from(i) * 1000)).unwrap();
            assert_eq!(seq, u64::from(i));
        }
        (path, log)
    }

    #[test]
    fn events_are_written_with_their_type_and_typed_fields_only() {
        let cases = [
            (
                joined(1),
                json!({"type": "joined", "room": "standup", "participant": "p_0000000000000001", "identity": "ada-1", "host": true, "token_id": "t_55f4e74012cc71a7"}),
            ),
            (
                AuditEvent::HostAction {
                    room: room("r"),
                    by: By::Operator,
                    action: HostAction::Mute,
                    target: Some(p("p_1")),
                    source: Some(Source::Camera),
                },
                json!({"type": "host_action", "room": "r", "by": "operator", "action": "mute", "target": "p_1", "source": "camera"}),
            ),
            (
                AuditEvent::Left {
                    room: room("r"),
                    participant: p("p_1"),
                    reason: LeaveReason::MeetingEnded,
                },
                json!({"type": "left", "room": "r", "participant": "p_1", "reason": "meeting_ended"}),
            ),
            (
                AuditEvent::AuthFailed {
                    what: AuthFailure::TokenExpired,
                    room: None,
                    participant: None,
                },
                json!({"type": "auth_failed", "what": "token_expired"}),
            ),
            (
                AuditEvent::Admitted {
                    room: room("r"),
                    participant: p("p_2"),
                    by: By::from(&p("p_1")),
                },
                json!({"type": "admitted", "room": "r", "participant": "p_2", "by": "p_1"}),
            ),
        ];
        for (event, expected) in cases {
            let value = serde_json::to_value(&event).unwrap();
            assert_eq!(value, expected);
            assert_eq!(value["type"], event.kind());
            assert_eq!(serde_json::from_value::<AuditEvent>(value).unwrap(), event);
        }
        let policy = AuditEvent::PolicyChanged {
            room: room("r"),
            by: By::Operator,
            policy: RoomPolicy::new(10),
        };
        let back: AuditEvent =
            serde_json::from_value(serde_json::to_value(&policy).unwrap()).unwrap();
        assert_eq!(back, policy);
        // Nothing but an id or "operator" passes for who acted.
        assert!(serde_json::from_value::<By>(json!("Ada Lovelace")).is_err());
        assert!(serde_json::from_value::<AuditEvent>(json!({"type": "lobby", "room": "r", "participant": "p_1", "identity": "x", "name": "Ada"})).is_err());
    }

    #[test]
    fn canonical_json_sorts_keys_and_escapes_like_rfc_8785() {
        let value = json!({"b": [1, {"z": null, "a": true}], "a": "tab\there \"quoted\" \\ \u{1} é ✓", "é": 0});
        let mut out = Vec::new();
        canonical(&value, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"a":"tab\there \"quoted\" \\ \u0001 é ✓","b":[1,{"a":true,"z":null}],"é":0}"#
        );
        // The hash input is the canonical JSON of {"event","seq","time"}.
        let event = json!({"type": "x", "room": "r"});
        let mut event_json = Vec::new();
        canonical(&event, &mut event_json);
        let mut body = Vec::new();
        canonical(&json!({"time": 5, "seq": 4, "event": event}), &mut body);
        let mut sha = Sha256::new();
        sha.update([7; 32]);
        sha.update(&body);
        assert_eq!(record_hash(&[7; 32], 4, 5, &event_json), <[u8; 32]>::from(sha.finalize()));
    }

    #[test]
    fn a_log_verifies_and_survives_a_reopen_appending_after_its_last_record() {
        let dir = scratch("reopen");
        let (path, log) = log_of(&dir, 3, None);
        drop(log);
        let before = verify(&path).unwrap();
        assert_eq!((before.records, before.seqs), (3, Some((1, 3))));
        let first: Value = serde_json::from_str(&lines(&path)[0]).unwrap();
        assert_eq!(first["prev"], GENESIS);

        let log = AuditLog::open(&path, None).unwrap();
        assert_eq!(log.record_at(joined(4), at(2_000_000)).unwrap(), 4);
        drop(log);
        let after = verify(&path).unwrap();
        assert_eq!((after.records, after.seqs), (4, Some((1, 4))));
        let fourth: Value = serde_json::from_str(&lines(&path)[3]).unwrap();
        assert_eq!(fourth["prev"], before.head.as_str(), "the chain goes on across the restart");
        assert_eq!(fourth["hash"], after.head.as_str());
    }

    #[test]
    fn an_empty_log_verifies_with_the_genesis_head() {
        let dir = scratch("empty");
        let (path, _log) = log_of(&dir, 0, None);
        let summary = verify(&path).unwrap();
        assert_eq!(summary.to_string(), format!("0 records, head {GENESIS}"));
    }

    #[test]
    fn every_kind_of_tampering_is_named_at_the_first_record_it_touches() {
        let dir = scratch("tamper");
        let (path, log) = log_of(&dir, 5, None);
        drop(log);
        let good = lines(&path);

        let mut edited = good.clone();
        edited[2] = edited[2].replace("ada-3", "eve");
        write_lines(&path, &edited);
        let b = broken(&path);
        assert_eq!((b.line, b.seq), (3, 3));
        assert!(matches!(b.why, Why::Altered { .. }), "{b}");

        let mut deleted = good.clone();
        deleted.remove(1);
        write_lines(&path, &deleted);
        let b = broken(&path);
        assert_eq!((b.line, b.seq), (2, 3));
        assert_eq!(b.why, Why::OutOfSequence { expected: 2, found: 3 });
        assert!(b.to_string().contains("record 2 is missing"), "{b}");

        let mut repeated = good.clone();
        repeated.insert(4, good[1].clone());
        write_lines(&path, &repeated);
        let b = broken(&path);
        assert_eq!((b.line, b.seq), (5, 2));
        assert!(b.to_string().contains("inserted, repeated or moved"), "{b}");

        let mut swapped = good.clone();
        swapped.swap(1, 2);
        write_lines(&path, &swapped);
        let b = broken(&path);
        assert_eq!((b.line, b.seq), (2, 3));

        let mut extra_field = good.clone();
        extra_field[0] = extra_field[0].replacen('{', "{\"note\":\"fine\",", 1);
        write_lines(&path, &extra_field);
        let b = broken(&path);
        assert_eq!((b.line, b.seq), (1, 1));
        assert!(matches!(b.why, Why::Unreadable(_)), "{b}");

        let mut front_cut = good.clone();
        front_cut.remove(0);
        write_lines(&path, &front_cut);
        let b = broken(&path);
        assert_eq!((b.line, b.seq, b.why), (1, 2, Why::OutOfSequence { expected: 1, found: 2 }));
    }

    #[test]
    fn a_line_cut_short_is_reported_and_dropped_when_the_log_is_opened() {
        let dir = scratch("cut");
        let (path, log) = log_of(&dir, 3, None);
        drop(log);
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, &text[..text.len() - 40]).unwrap();
        let b = broken(&path);
        assert_eq!((b.line, b.seq, b.why), (3, 3, Why::CutShort));

        let log = AuditLog::open(&path, None).unwrap();
        assert_eq!(log.record_at(joined(9), at(3_000_000)).unwrap(), 3, "seq 3 is written anew");
        drop(log);
        assert_eq!(verify(&path).unwrap().seqs, Some((1, 3)));

        // A whole last record that lost only its newline is kept, and its line ended.
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.trim_end()).unwrap();
        assert_eq!(verify(&path).unwrap().records, 3);
        let log = AuditLog::open(&path, None).unwrap();
        assert_eq!(log.record_at(joined(10), at(3_000_001)).unwrap(), 4);
        drop(log);
        assert_eq!(verify(&path).unwrap().records, 4);
    }

    #[test]
    fn a_log_that_does_not_verify_is_not_opened_and_an_open_one_not_opened_twice() {
        let dir = scratch("refuse");
        let (path, log) = log_of(&dir, 2, None);
        let twice = AuditLog::open(&path, None).unwrap_err();
        assert!(matches!(twice, AuditError::InUse(_)), "{twice}");
        drop(log);
        let mut tampered = lines(&path);
        tampered[0] = tampered[0].replace("ada-1", "eve");
        write_lines(&path, &tampered);
        let refused = AuditLog::open(&path, None).unwrap_err();
        assert!(matches!(refused, AuditError::Broken { .. }));
        assert!(refused.to_string().contains("veil audit verify"), "{refused}");
    }

    #[test]
    fn pruning_drops_old_records_from_the_front_and_what_remains_verifies() {
        let dir = scratch("prune");
        let retention = Duration::from_secs(10);
        let (path, log) = log_of(&dir, 20, Some(retention));
        let head = verify(&path).unwrap().head;
        // At t = 1000 + 20 + 5 s, the records of t ≤ 1015 s are older than 10 s.
        let now = at(1_025_000);
        assert_eq!(log.prune(now).unwrap(), 14);
        let summary = verify(&path).unwrap();
        assert_eq!(summary.seqs, Some((15, 21)), "records 15..20 and the pruned record");
        let anchor = summary.anchor.clone().unwrap();
        assert_eq!((anchor.seq, anchor.pruned_at), (15, 1_025_000));
        let text = lines(&path);
        let last: Value = serde_json::from_str(text.last().unwrap()).unwrap();
        assert_eq!(last["prev"], head.as_str(), "the pruned record follows the old head");
        assert_eq!(last["event"]["type"], "pruned");
        assert_eq!(last["event"]["dropped"], 14);

        // Records go on after a prune, and a later prune moves the anchor again.
        assert_eq!(log.record_at(joined(21), at(1_026_000)).unwrap(), 22);
        assert_eq!(log.prune(now).unwrap(), 0, "nothing more is old yet");
        assert_eq!(log.prune(at(1_100_000)).unwrap(), 8, "everything, the last prune too");
        drop(log);
        let summary = verify(&path).unwrap();
        assert_eq!((summary.records, summary.seqs), (1, Some((23, 23))));
        assert_eq!(summary.anchor.unwrap().seq, 23);
    }

    #[test]
    fn an_edited_or_forged_anchor_is_caught() {
        let dir = scratch("anchor");
        let (path, log) = log_of(&dir, 6, Some(Duration::from_secs(3)));
        assert_eq!(log.prune(at(1_007_500)).unwrap(), 4);
        drop(log);
        let good = lines(&path);
        assert!(good[0].starts_with("{\"anchor\":{\"seq\":5,"), "{}", good[0]);
        let edits = [
            good[0].replace("\"seq\":5", "\"seq\":4"),
            good[0].replace("\"pruned_at\":1007500", "\"pruned_at\":1007501"),
            {
                let prev = &good[0][good[0].find("\"prev\":\"").unwrap() + 8..][..64];
                good[0].replace(prev, GENESIS)
            },
        ];
        for anchor in edits {
            let mut edited = good.clone();
            edited[0] = anchor;
            write_lines(&path, &edited);
            let b = broken(&path);
            assert_eq!(b.line, 1, "{b}");
            assert!(matches!(b.why, Why::BadAnchor(_)), "{b}");
        }

        // Cutting more records off the front behind a forged anchor: no prune says so.
        let mut cut = good.clone();
        let second: Value = serde_json::from_str(&good[2]).unwrap();
        cut[0] =
            Anchor { seq: 6, prev: second["prev"].as_str().unwrap().into(), pruned_at: 1_007_500 }
                .line()
                .trim_end()
                .into();
        cut.remove(1);
        write_lines(&path, &cut);
        let b = broken(&path);
        assert!(b.to_string().contains("the last pruned record (seq 7) names seq 5"), "{b}");

        // An anchor anywhere but the first line.
        let mut moved = good.clone();
        moved.swap(0, 1);
        write_lines(&path, &moved);
        assert_eq!(broken(&path).line, 1, "the first record then follows no anchor");
    }

    #[test]
    fn a_broken_log_is_not_pruned() {
        let dir = scratch("prune-broken");
        let (path, log) = log_of(&dir, 4, Some(Duration::from_secs(1)));
        let mut tampered = lines(&path);
        tampered[3] = tampered[3].replace("ada-4", "eve");
        // Edit in place, as another process would, behind the open log's back.
        std::fs::write(&path, tampered.iter().map(|l| format!("{l}\n")).collect::<String>())
            .unwrap();
        assert!(matches!(log.prune(at(9_000_000)), Err(AuditError::Broken { .. })));
        assert_eq!(lines(&path).len(), 4, "the evidence is left as it was");
    }

    #[test]
    fn an_in_memory_log_keeps_its_events_and_a_disabled_one_nothing() {
        let memory = AuditLog::in_memory();
        memory.record(joined(1));
        assert_eq!(memory.events(), [joined(1)]);
        assert_eq!(memory.prune(SystemTime::now()).unwrap(), 0);
        let off = AuditLog::disabled();
        off.record(joined(1));
        assert!(off.events().is_empty() && off.path().is_none());
    }
}
