//! `veil audit verify` as an auditor runs it, on logs written through the library
//! (`veil_signaling::audit`) into a data directory: every way of tampering with records is
//! caught and the record named, a last line cut short by a crash is reported and then dropped
//! by the next open, pruning keeps the rest verifiable, and the chain goes on across restarts.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, SystemTime};

use serde_json::Value;
use veil_proto::room::{RoomPolicy, Source};
use veil_proto::{ParticipantId, RoomName};
use veil_signaling::audit::{self, AuditEvent, AuditLog, AuthFailure, By, HostAction, LeaveReason};

fn scratch(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("veil-audit-it-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn veil(args: &[&str], data_dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_veil"))
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env("VEIL_LOG", "warn")
        .output()
        .expect("run veil")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `veil audit verify` on `dir`: its first line, having checked that it succeeded.
fn verifies(dir: &Path) -> String {
    let out = veil(&["audit", "verify"], dir);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "verify failed: {stdout}{}", text(&out.stderr));
    stdout.lines().next().unwrap().to_owned()
}

/// `veil audit verify` on `dir`, which must fail: the seq and line it names, and why.
fn broken(dir: &Path) -> (u64, u64, String) {
    let out = veil(&["audit", "verify"], dir);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "verify should fail: {stdout}{}", text(&out.stderr));
    let rest = stdout.trim().strip_prefix("audit log broken at record seq ").expect(&stdout);
    let (seq, rest) = rest.split_once(" (line ").unwrap();
    let (line, why) = rest.split_once("): ").unwrap();
    (seq.parse().unwrap(), line.parse().unwrap(), why.to_owned())
}

fn room() -> RoomName {
    RoomName::new("ward-7").unwrap()
}

fn p(id: &str) -> ParticipantId {
    ParticipantId(id.into())
}

/// A short meeting: a host, a guest through the lobby, a mute, a removal, a revocation.
fn meeting() -> Vec<AuditEvent> {
    let room = room();
    let (host, guest) = (p("p_3f9a1c0d2b7e4a55"), p("p_0b7e4a553f9a1c0d"));
    vec![
        AuditEvent::AuthFailed {
            what: AuthFailure::TokenExpired,
            room: Some(room.clone()),
            participant: None,
        },
        AuditEvent::Joined {
            room: room.clone(),
            participant: host.clone(),
            identity: "dr.quinn".into(),
            host: true,
            token_id: Some("t_host".into()),
        },
        AuditEvent::PolicyChanged {
            room: room.clone(),
            by: By::from(&host),
            policy: RoomPolicy { lobby: true, ..RoomPolicy::new(100) },
        },
        AuditEvent::Lobby {
            room: room.clone(),
            participant: guest.clone(),
            identity: "mallory".into(),
        },
        AuditEvent::Admitted {
            room: room.clone(),
            participant: guest.clone(),
            by: By::from(&host),
        },
        AuditEvent::HostAction {
            room: room.clone(),
            by: By::from(&host),
            action: HostAction::Mute,
            target: Some(guest.clone()),
            source: Some(Source::Camera),
        },
        AuditEvent::Revoked {
            room: room.clone(),
            by: By::Operator,
            identity: Some("mallory".into()),
            token_id: None,
        },
        AuditEvent::Left { room, participant: guest, reason: LeaveReason::Revoked },
    ]
}

/// `dir` with an audit log of [`meeting`], written as `veil serve` writes it.
fn logged(dir: &Path) -> PathBuf {
    let path = dir.join(audit::FILE_NAME);
    let log = AuditLog::open(&path, None).unwrap();
    for event in meeting() {
        log.record(event);
    }
    path
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path).unwrap().lines().map(String::from).collect()
}

fn write_lines(path: &Path, lines: &[String]) {
    std::fs::write(path, lines.iter().map(|l| format!("{l}\n")).collect::<String>()).unwrap();
}

fn field(line: &str, key: &str) -> Value {
    serde_json::from_str::<Value>(line).unwrap()[key].clone()
}

#[test]
fn an_intact_log_verifies_and_prints_its_head() {
    let dir = scratch("intact");
    let path = logged(&dir);
    let head = field(lines(&path).last().unwrap(), "hash");
    assert_eq!(
        verifies(&dir),
        format!("audit log ok: 8 records (seq 1..8), head {}", head.as_str().unwrap())
    );
    let shown = veil(&["audit", "show"], &dir);
    let shown = text(&shown.stdout);
    assert!(
        shown.contains("lobby identity=mallory participant=p_0b7e4a553f9a1c0d room=ward-7"),
        "{shown}"
    );
    assert!(shown.contains("revoked by=operator identity=mallory room=ward-7"), "{shown}");
    assert!(shown.lines().last().unwrap().starts_with("audit log ok: 8 records"), "{shown}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn an_edited_record_is_named_whichever_field_was_changed() {
    let dir = scratch("edited");
    let path = logged(&dir);
    let good = lines(&path);
    let edits = [
        (3, good[3].replace("\"identity\":\"mallory\"", "\"identity\":\"someone-else\"")),
        (5, good[5].replace("\"source\":\"camera\"", "\"source\":\"microphone\"")),
        (6, good[6].replacen("\"time\":1", "\"time\":2", 1)),
        (2, good[2].replacen(&field(&good[2], "prev").as_str().unwrap()[..8], "00000000", 1)),
    ];
    for (i, edited) in edits {
        assert_ne!(edited, good[i], "the edit changes something");
        let mut tampered = good.clone();
        tampered[i] = edited;
        write_lines(&path, &tampered);
        let (seq, line, why) = broken(&dir);
        assert_eq!((seq, line), (i as u64 + 1, i as u64 + 1), "{why}");
        assert!(why.contains("changed after it was written"), "{why}");
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_deleted_record_is_named_by_the_one_after_the_gap() {
    let dir = scratch("deleted");
    let path = logged(&dir);
    let mut tampered = lines(&path);
    tampered.remove(3);
    write_lines(&path, &tampered);
    let (seq, line, why) = broken(&dir);
    assert_eq!((seq, line), (5, 4));
    assert!(why.contains("seq 4 was expected here: record 4 is missing"), "{why}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn an_inserted_record_is_named_whether_copied_or_forged() {
    let dir = scratch("inserted");
    let path = logged(&dir);
    let good = lines(&path);

    // A copy of a real record, further down.
    let mut copied = good.clone();
    copied.insert(5, good[1].clone());
    write_lines(&path, &copied);
    let (seq, line, why) = broken(&dir);
    assert_eq!((seq, line), (2, 6));
    assert!(why.contains("a record was inserted, repeated or moved here"), "{why}");

    // A well-formed record with the right seq and its own hash right, from another log.
    let other = scratch("inserted-other");
    let log = AuditLog::open(other.join(audit::FILE_NAME), None).unwrap();
    for event in meeting().into_iter().rev() {
        log.record(event);
    }
    drop(log);
    let forged = lines(&other.join(audit::FILE_NAME))[3].clone();
    assert_eq!(field(&forged, "seq"), 4);
    let mut inserted = good.clone();
    inserted.insert(3, forged);
    write_lines(&path, &inserted);
    let (seq, line, why) = broken(&dir);
    assert_eq!((seq, line), (4, 4));
    assert!(why.contains("does not belong here"), "{why}");

    // One chained to the record before it (anyone can compute the hashes): the chain breaks
    // at the real record after it, which no longer follows.
    std::fs::write(other.join(audit::FILE_NAME), good[..3].join("\n") + "\n").unwrap();
    let log = AuditLog::open(other.join(audit::FILE_NAME), None).unwrap();
    log.record(AuditEvent::Left {
        room: room(),
        participant: p("p_0b7e4a553f9a1c0d"),
        reason: LeaveReason::Left,
    });
    drop(log);
    let chained = lines(&other.join(audit::FILE_NAME))[3].clone();
    let mut inserted = good.clone();
    inserted.insert(3, chained);
    write_lines(&path, &inserted);
    let (seq, line, why) = broken(&dir);
    assert_eq!((seq, line), (4, 5));
    assert!(why.contains("seq 5 was expected here"), "{why}");
    let _ = std::fs::remove_dir_all(other);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_rewritten_tail_verifies_and_only_the_head_noted_elsewhere_shows_it() {
    // The chain has no key: whoever can write the file can rewrite every record after the one
    // they change. What catches it is the head hash an operator noted elsewhere.
    let dir = scratch("rewritten");
    let path = logged(&dir);
    let noted = verifies(&dir);
    let head = format!("8:{}", noted.rsplit(' ').next().unwrap());
    let out = veil(&["audit", "verify", "--head", &head], &dir);
    assert!(out.status.success());
    assert!(text(&out.stdout).contains("head seq 8 holds"), "{}", text(&out.stdout));
    let mut events = meeting();
    events.truncate(5);
    std::fs::write(&path, lines(&path)[..3].join("\n") + "\n").unwrap();
    let log = AuditLog::open(&path, None).unwrap();
    for event in events.into_iter().skip(3) {
        log.record(event);
    }
    drop(log);
    let now = verifies(&dir);
    assert!(now.starts_with("audit log ok: 5 records (seq 1..5)"), "{now}");
    assert_ne!(now, noted);
    let out = veil(&["audit", "verify", "--head", &head], &dir);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).contains("no record seq 8"), "{}", text(&out.stdout));
    // Rewritten from record 4 on but as long as before: the noted record is there, changed.
    let log = AuditLog::open(&path, None).unwrap();
    for event in meeting().into_iter().skip(5) {
        log.record(event);
    }
    drop(log);
    let out = veil(&["audit", "verify", "--head", &head], &dir);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with("audit log ok: 8 records (seq 1..8)"), "{stdout}");
    assert!(stdout.contains("audit log rewritten: record seq 8 has hash"), "{stdout}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn swapped_records_are_named() {
    let dir = scratch("swapped");
    let path = logged(&dir);
    let mut tampered = lines(&path);
    tampered.swap(2, 3);
    write_lines(&path, &tampered);
    let (seq, line, why) = broken(&dir);
    assert_eq!((seq, line), (4, 3));
    assert!(why.contains("seq 3 was expected here"), "{why}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_last_line_cut_short_by_a_crash_fails_verify_until_the_next_open_drops_it() {
    let dir = scratch("cut");
    let path = logged(&dir);
    let whole = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, &whole[..whole.len() - 50]).unwrap();
    let (seq, line, why) = broken(&dir);
    assert_eq!((seq, line), (8, 8));
    assert!(why.contains("cut short"), "{why}");

    // `veil serve` starting again: the piece of a record is dropped, and seq 8 written anew.
    let log = AuditLog::open(&path, None).unwrap();
    log.record(AuditEvent::Left {
        room: room(),
        participant: p("p_3f9a1c0d2b7e4a55"),
        reason: LeaveReason::Disconnected,
    });
    drop(log);
    assert!(verifies(&dir).starts_with("audit log ok: 8 records (seq 1..8)"));
    assert_eq!(field(&lines(&path)[7], "event")["reason"], "disconnected");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn the_chain_goes_on_across_a_restart() {
    let dir = scratch("restart");
    let path = logged(&dir);
    let before = lines(&path);
    let log = AuditLog::open(&path, None).unwrap();
    log.record(AuditEvent::AdminCall {
        method: "GET".into(),
        path: "/api/rooms".into(),
        status: 200,
    });
    drop(log);
    let after = lines(&path);
    assert_eq!(after[..8], before[..]);
    assert_eq!(field(&after[8], "seq"), 9);
    assert_eq!(field(&after[8], "prev"), field(&before[7], "hash"));
    assert!(verifies(&dir).starts_with("audit log ok: 9 records (seq 1..9)"));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_pruned_log_verifies_from_its_anchor_and_an_edited_anchor_is_caught() {
    let dir = scratch("pruned");
    let path = dir.join(audit::FILE_NAME);
    let day = Duration::from_secs(86_400);
    let now = SystemTime::now();
    let log = AuditLog::open(&path, Some(3 * day)).unwrap();
    // One event a day for the last eight days: the five older than three days go.
    for (i, event) in meeting().into_iter().enumerate() {
        log.record_at(event, now - (8 - i as u32) * day).unwrap();
    }
    assert_eq!(log.prune(now).unwrap(), 5);
    drop(log);
    let good = lines(&path);
    let out = veil(&["audit", "verify"], &dir);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.starts_with("audit log ok: 4 records (seq 6..9), head "), "{stdout}");
    assert!(stdout.contains("pruned: the records before seq 6 were dropped at"), "{stdout}");
    assert_eq!(field(&good[0], "anchor")["prev"], field(&good[1], "prev"));
    let gone = veil(&["audit", "verify", "--head", &format!("3:{}", audit::GENESIS)], &dir);
    assert_eq!(gone.status.code(), Some(1), "a head pruned away cannot be confirmed");
    assert!(text(&gone.stdout).contains("pruned and starts at seq 6"), "{}", text(&gone.stdout));

    let anchor = &good[0];
    let prev = field(anchor, "anchor")["prev"].as_str().unwrap().to_owned();
    let edits = [
        anchor.replace("\"seq\":6", "\"seq\":5"),
        anchor.replace(&prev, audit::GENESIS),
        anchor.replace("\"pruned_at\":1", "\"pruned_at\":2"),
    ];
    for edited in edits {
        assert_ne!(&edited, anchor);
        let mut tampered = good.clone();
        tampered[0] = edited;
        write_lines(&path, &tampered);
        let (seq, line, why) = broken(&dir);
        assert_eq!(line, 1, "{why}");
        assert!(why.contains("the anchor of the pruned log does not hold"), "{seq}: {why}");
    }

    // Without its anchor, a pruned log starts in the middle of a chain.
    write_lines(&path, &good[1..]);
    let (seq, line, why) = broken(&dir);
    assert_eq!((seq, line), (6, 1));
    assert!(why.contains("records 1..5 are missing"), "{why}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn verify_without_a_log_says_where_it_looked() {
    let dir = scratch("none");
    let out = veil(&["audit", "verify"], &dir);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(stderr.contains("no audit log at") && stderr.contains("--data-dir"), "{stderr}");
    let _ = std::fs::remove_dir_all(dir);
}
