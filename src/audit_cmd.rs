//! `veil audit verify` and `veil audit show`: the audit log `veil serve` keeps in the data
//! directory (`veil_signaling::audit`), found as the other commands find their settings. And
//! what `veil serve` does with it: open it (refusing to start on a log that does not verify),
//! flush it to disk every second, and prune it to the configured retention every hour.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde_json::Value;
use veil_signaling::audit::{self, AuditLog, Entry, Summary, VerifyError, Why};

use crate::config::Config;
use crate::{Common, resolve};

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Check the audit log's hash chain. Prints the number of records and the head hash (note
    /// it somewhere the server cannot write), or names the first broken record and exits 1.
    Verify(VerifyArgs),
    /// Print the audit log's records, one a line, then check it as `verify` does.
    Show(VerifyArgs),
}

#[derive(Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    common: Common,
    /// A head an earlier verify printed, as SEQ:HASH (its last seq and its head): fail unless
    /// the record with that seq still has that hash, which shows a log rewritten since.
    #[arg(long, value_parser = parse_head)]
    head: Option<(u64, String)>,
}

fn parse_head(text: &str) -> Result<(u64, String), String> {
    let (seq, hash) = text.split_once(':').ok_or("expected SEQ:HASH, e.g. 5120:9f2c…")?;
    let seq = seq.parse().map_err(|_| format!("{seq:?} is not a seq"))?;
    let hash = hash.to_ascii_lowercase();
    if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("{hash:?} is not a hash (64 hex digits)"));
    }
    Ok((seq, hash))
}

/// How often `veil serve` flushes the log to disk: what a crash of the machine may lose.
const SYNC_EVERY: Duration = Duration::from_secs(1);
/// How often `veil serve` prunes the log to its retention.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

pub fn run(command: AuditCommand) -> anyhow::Result<()> {
    let (show, VerifyArgs { common, head }) = match command {
        AuditCommand::Verify(args) => (false, args),
        AuditCommand::Show(args) => (true, args),
    };
    let config = resolve(&common, None, None)?;
    let path = config.data_dir.join(audit::FILE_NAME);
    if !path.exists() {
        bail!(
            "no audit log at {}: `veil serve` keeps it there; is this the data directory it \
             uses (--data-dir, VEIL_DATA_DIR)?",
            path.display()
        );
    }
    if show {
        print_entries(&path)?;
    }
    match settled_verify(&path) {
        Ok(summary) => {
            print_summary(&summary);
            match head {
                Some((seq, hash)) => check_head(&path, &summary, seq, &hash),
                None => Ok(()),
            }
        }
        Err(VerifyError::Broken(broken)) => {
            println!("audit log broken at {broken}");
            std::process::exit(1);
        }
        Err(e) => Err(e).with_context(|| format!("cannot check {}", path.display())),
    }
}

/// Verifies, once more a moment later if the last line looked cut short: `veil serve` may have
/// been writing it, while a line a crash cut short is still cut short.
fn settled_verify(path: &Path) -> Result<Summary, VerifyError> {
    match audit::verify(path) {
        Err(VerifyError::Broken(broken)) if broken.why == Why::CutShort => {
            std::thread::sleep(Duration::from_millis(200));
            audit::verify(path)
        }
        other => other,
    }
}

fn print_summary(summary: &Summary) {
    println!("audit log ok: {summary}");
    if let Some(anchor) = &summary.anchor {
        println!(
            "pruned: the records before seq {} were dropped at {} (the anchor holds)",
            anchor.seq,
            utc(anchor.pruned_at)
        );
    }
}

/// Whether the record `seq` still has the `hash` noted earlier; exits 1 if not.
fn check_head(path: &Path, summary: &Summary, seq: u64, hash: &str) -> anyhow::Result<()> {
    let found = audit::entries(path)?.find_map(|entry| match entry {
        Ok(Entry::Record(record)) if record.seq == seq => Some(Ok(record.hash)),
        Ok(_) => None,
        Err(e) => Some(Err(e)),
    });
    let found = found.transpose().with_context(|| format!("cannot read {}", path.display()))?;
    match found {
        Some(now) if now == hash => {
            println!("head seq {seq} holds: the log up to it is as it was");
            return Ok(());
        }
        Some(now) => println!(
            "audit log rewritten: record seq {seq} has hash {now}, not the {hash} noted earlier"
        ),
        None => match summary.seqs {
            Some((first, _)) if seq < first => println!(
                "cannot check head seq {seq}: the log was pruned and starts at seq {first}; \
                 check a later head"
            ),
            _ => println!(
                "audit log cut short: there is no record seq {seq}, whose hash was noted earlier"
            ),
        },
    }
    std::process::exit(1);
}

fn print_entries(path: &Path) -> anyhow::Result<()> {
    let entries =
        audit::entries(path).with_context(|| format!("cannot read {}", path.display()))?;
    for (i, entry) in entries.enumerate() {
        match entry.with_context(|| format!("cannot read {}", path.display()))? {
            Entry::Anchor(anchor) => println!(
                "-- records before seq {} were pruned at {} --",
                anchor.seq,
                utc(anchor.pruned_at)
            ),
            Entry::Record(record) => {
                println!("{}  {:>6}  {}", utc(record.time), record.seq, describe(&record.event))
            }
            Entry::Unreadable => println!("line {}: not a record", i + 1),
        }
    }
    Ok(())
}

/// `joined room=standup participant=p_… identity=ada host=true`: the type, then every field
/// in key order, strings bare when that is unambiguous.
fn describe(event: &Value) -> String {
    let Some(fields) = event.as_object() else { return event.to_string() };
    let mut out = fields.get("type").and_then(Value::as_str).unwrap_or("?").to_owned();
    let mut keys: Vec<&String> = fields.keys().filter(|k| *k != "type").collect();
    keys.sort();
    for key in keys {
        let value = match &fields[key] {
            Value::String(s) if !s.is_empty() && s.chars().all(plain) => s.clone(),
            other => other.to_string(),
        };
        out.push_str(&format!(" {key}={value}"));
    }
    out
}

fn plain(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_-.@:/+".contains(c)
}

/// `2026-01-01T00:00:00.123Z` for milliseconds since the Unix epoch.
fn utc(ms: u64) -> String {
    let (days, ms_of_day) = (ms / 86_400_000, ms % 86_400_000);
    let (year, month, day) = civil(days);
    let s = ms_of_day / 1000;
    let (h, m, s, milli) = (s / 3600, s / 60 % 60, s % 60, ms_of_day % 1000);
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{milli:03}Z")
}

/// The date `days` after 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let (era, doe) = (z / 146_097, z % 146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// Opens the log for `veil serve`: verified whole first, so a log that does not verify stops
/// the start (the error says what to do). Then, on the runtime, flushes it to disk every
/// [`SYNC_EVERY`] and prunes it to the retention now and every [`PRUNE_EVERY`], off the async
/// threads. A failed flush or prune is logged; records go on.
pub fn open_for_serve(config: &Config) -> anyhow::Result<Arc<AuditLog>> {
    let path = config.data_dir.join(audit::FILE_NAME);
    let log = Arc::new(AuditLog::open(path, config.audit_retention())?);
    let kept = Arc::clone(&log);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(SYNC_EVERY);
        let mut last_prune: Option<tokio::time::Instant> = None;
        loop {
            tick.tick().await;
            let prune = last_prune.is_none_or(|at| at.elapsed() >= PRUNE_EVERY);
            if prune {
                last_prune = Some(tokio::time::Instant::now());
            }
            let log = Arc::clone(&kept);
            let done = tokio::task::spawn_blocking(move || maintain(&log, prune)).await;
            if done.is_err() {
                tracing::error!("the audit log's upkeep panicked");
            }
        }
    });
    Ok(log)
}

fn maintain(log: &AuditLog, prune: bool) {
    if let Err(e) = log.sync() {
        tracing::error!("{e}");
    }
    if prune {
        match log.prune(SystemTime::now()) {
            Ok(0) => {}
            Ok(dropped) => tracing::info!(dropped, "pruned the audit log to its retention"),
            Err(e) => tracing::error!("cannot prune: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_shown_in_utc() {
        assert_eq!(utc(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(utc(1_767_225_600_123), "2026-01-01T00:00:00.123Z");
        assert_eq!(utc(951_825_599_999), "2000-02-29T11:59:59.999Z");
        assert_eq!(utc(4_107_542_400_000), "2100-03-01T00:00:00.000Z");
    }

    #[test]
    fn events_are_described_by_type_then_fields() {
        let event =
            serde_json::json!({"type": "joined", "room": "r", "identity": "Ada L", "host": true});
        assert_eq!(describe(&event), "joined host=true identity=\"Ada L\" room=r");
    }
}
