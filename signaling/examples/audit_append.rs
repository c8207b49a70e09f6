//! What the audit log costs per event.
//! `cargo run --release -p veil-signaling --example audit_append [-- N [DIR]]`
//!
//! Appends N events (default 100,000) of the sizes a meeting produces (joins and leaves with
//! e-mail-like identities and token ids, lobby decisions, mutes, policy changes, admin calls)
//! through [`AuditLog::record`], one thread, into a fresh log in DIR (default: the system's
//! temporary directory; pass the data directory's disk to measure that one).
//!
//! The baseline, in the same run on the same events, is what any JSON-lines logger does: each
//! event serialized with `serde_json` and written as one line, under a mutex, to a file opened
//! for appending. The ratio is the audit log's own work: the canonical form, SHA-256, the hex
//! and the chain. Both are then measured with an `fdatasync` after every event, on fewer events
//! (each waits for the disk), and last the whole log is verified and reopened (which verifies
//! it), as `veil audit verify` and `veil serve` do.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use veil_proto::room::{RoomPolicy, Source};
use veil_proto::{ParticipantId, RoomName};
use veil_signaling::audit::{self, AuditEvent, AuditLog, By, HostAction, LeaveReason};

/// Events per run with an fsync after each: enough for a stable mean, few enough to finish.
const SYNCED: usize = 2_000;

/// Rounds of each unsynced run, alternating, on a machine that may be busy with other work.
const ROUNDS: usize = 5;

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map_or(100_000, |a| a.parse().expect("N is a number"));
    let dir = args.next().map_or_else(std::env::temp_dir, PathBuf::from);
    let dir = dir.join(format!("veil-audit-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let events: Vec<AuditEvent> = (0..n).map(event).collect();

    println!("audit log append cost, {n} events, {ROUNDS} rounds, in {}", dir.display());
    let (mut plain, mut chained) = (Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        plain.push(baseline(&dir.join(format!("plain-{round}.jsonl")), &events, false));
        chained.push(audit_log(&dir.join(format!("audit-{round}.log")), &events, false));
    }
    report("plain JSON lines", &plain);
    report("audit log", &chained);
    println!(
        "  ratio audit / plain: {:.2}x median, {:.2}x best",
        median(&chained) / median(&plain),
        best(&chained) / best(&plain)
    );

    let synced = &events[..SYNCED.min(n)];
    let plain_sync = [baseline(&dir.join("plain-sync.jsonl"), synced, true)];
    let chained_sync = [audit_log(&dir.join("audit-sync.log"), synced, true)];
    println!("with an fdatasync after every event ({} events):", synced.len());
    report("plain JSON lines + fdatasync", &plain_sync);
    report("audit log + fdatasync", &chained_sync);
    println!("  ratio audit+sync / audit: {:.0}x", median(&chained_sync) / median(&chained));

    let path = dir.join("audit-0.log");
    let start = Instant::now();
    let summary = audit::verify(&path).expect("the log verifies");
    let verified = start.elapsed();
    let start = Instant::now();
    drop(AuditLog::open(&path, None).expect("the log opens"));
    let opened = start.elapsed();
    println!(
        "verify: {} records in {:.0} ms ({:.2} µs/record); open (verifies): {:.0} ms",
        summary.records,
        verified.as_secs_f64() * 1e3,
        verified.as_secs_f64() * 1e6 / summary.records as f64,
        opened.as_secs_f64() * 1e3,
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// One run: how long, how many events, how many bytes.
struct Run {
    elapsed: Duration,
    events: usize,
    bytes: u64,
}

fn per_event(run: &Run) -> f64 {
    run.elapsed.as_secs_f64() * 1e9 / run.events as f64
}

fn sorted(runs: &[Run]) -> Vec<f64> {
    let mut ns: Vec<f64> = runs.iter().map(per_event).collect();
    ns.sort_by(f64::total_cmp);
    ns
}

fn median(runs: &[Run]) -> f64 {
    sorted(runs)[runs.len() / 2]
}

fn best(runs: &[Run]) -> f64 {
    sorted(runs)[0]
}

fn report(name: &str, runs: &[Run]) {
    let show = |ns: f64| {
        if ns >= 10_000.0 { format!("{:.1} µs", ns / 1e3) } else { format!("{ns:.0} ns") }
    };
    let (median, best) = (median(runs), best(runs));
    let run = &runs[0];
    println!(
        "  {name:<30} {:>9}/event median, {:>9} best  {:>4} bytes/event  ({:.0} events/s)",
        show(median),
        show(best),
        run.bytes / run.events as u64,
        1e9 / median
    );
}

/// Serializes each event as one JSON line and appends it, as a plain logger would.
fn baseline(path: &Path, events: &[AuditEvent], sync: bool) -> Run {
    let file = Mutex::new(OpenOptions::new().create(true).append(true).open(path).unwrap());
    let start = Instant::now();
    for event in events {
        let mut line = serde_json::to_vec(event).unwrap();
        line.push(b'\n');
        let file = file.lock().unwrap();
        (&*file).write_all(&line).unwrap();
        if sync {
            file.sync_data().unwrap();
        }
    }
    let elapsed = start.elapsed();
    Run { elapsed, events: events.len(), bytes: size(path) }
}

fn audit_log(path: &Path, events: &[AuditEvent], sync: bool) -> Run {
    let log = AuditLog::open(path, None).unwrap();
    let start = Instant::now();
    for event in events {
        log.record(event.clone());
        if sync {
            log.sync().unwrap();
        }
    }
    let elapsed = start.elapsed();
    // The clone is part of neither: the baseline serializes by reference.
    Run { elapsed, events: events.len(), bytes: size(path) }
}

fn size(path: &Path) -> u64 {
    File::open(path).and_then(|f| f.metadata()).map(|m| m.len()).unwrap()
}

/// The `i`th event of a meeting's worth: mostly joins and leaves, some host actions.
fn event(i: usize) -> AuditEvent {
    let room = RoomName::new(format!("team-standup-{}", i % 50)).unwrap();
    let participant = ParticipantId(format!("p_{:016x}", i.wrapping_mul(0x9e37_79b9_7f4a_7c15)));
    let host = ParticipantId("p_3f9a1c0d2b7e4a55".into());
    match i % 10 {
        0..=3 => AuditEvent::Joined {
            room,
            participant,
            identity: format!("member.{i}@example.org"),
            host: i.is_multiple_of(40),
            token_id: Some(format!("t_{:016x}", i * 7919)),
        },
        4..=6 => AuditEvent::Left { room, participant, reason: LeaveReason::Left },
        7 => AuditEvent::HostAction {
            room,
            by: By::Participant(host),
            action: HostAction::Mute,
            target: Some(participant),
            source: Some(Source::Microphone),
        },
        8 => AuditEvent::PolicyChanged { room, by: By::Operator, policy: RoomPolicy::new(100) },
        _ => AuditEvent::AdminCall {
            method: "POST".into(),
            path: format!("/api/rooms/{room}/revocations"),
            status: 200,
        },
    }
}
