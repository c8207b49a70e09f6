//! `veil-loadtest join`: one publishing participant, the same [`participant::veil`] code path
//! the scenarios run, in a meeting that others (browsers, other WebRTC stacks) share. It ends
//! with one JSON line of what it received, per stream, for a test to compare across stacks.
//!
//! Frames sent before a participant was added to the MLS group, or across an epoch change, may
//! fail to decrypt for reasons that have nothing to do with interoperability. A test that knows
//! when the meeting has settled therefore opens the counting window itself ([`Mark`] lines on
//! stdin); without that, everything from the start counts.

use std::io::BufRead;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::{mpsc, watch};

use crate::media::SMALL_CAMERA;
use crate::participant::{self, Plan, Role, Shared, StreamCount, Target};

/// A control line on stdin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// `count`: received media counts from now on.
    Count,
    /// `end`, or the end of stdin: stop counting, leave and report.
    End,
}

/// Reads [`Mark`]s from stdin on a thread of its own (stdin has no async reader here); the
/// channel ends with [`Mark::End`] at EOF. Other lines are ignored.
pub fn stdin_marks() -> mpsc::UnboundedReceiver<Mark> {
    let (tx, rx) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let mark = match line.as_deref().map(str::trim) {
                Ok("count") => Mark::Count,
                Ok("end") | Err(_) => break,
                Ok(_) => continue,
            };
            if tx.send(mark).is_err() {
                return;
            }
        }
        let _ = tx.send(Mark::End);
    });
    rx
}

/// The command line of a single participant in someone else's meeting: `veil-loadtest join`
/// and `veil-webrtc-peer` take the same one.
#[derive(Debug, Clone, clap::Args)]
pub struct JoinArgs {
    /// The node: http://HOST:PORT.
    #[arg(long)]
    pub url: String,
    /// A join token for the room (`veil token`).
    #[arg(long)]
    pub token: String,
    #[arg(long)]
    pub room: String,
    /// The longest it stays, in seconds.
    #[arg(long, default_value_t = 20)]
    pub duration: u64,
    /// Count from a `count` line on stdin instead of from the start; end early at `end`.
    #[arg(long)]
    pub stdin_control: bool,
}

impl JoinArgs {
    /// The participant these arguments describe, or why the URL is unusable.
    pub fn config(self) -> Result<JoinConfig, String> {
        let http = self
            .url
            .strip_prefix("http://")
            .and_then(|h| h.trim_end_matches('/').parse().ok())
            .ok_or_else(|| format!("--url {:?} is not an http://HOST:PORT URL", self.url))?;
        Ok(JoinConfig {
            http,
            token: self.token,
            room: self.room,
            duration: Duration::from_secs(self.duration),
            stdin_control: self.stdin_control,
        })
    }
}

/// One participant to run.
#[derive(Debug, Clone)]
pub struct JoinConfig {
    pub http: SocketAddr,
    pub token: String,
    pub room: String,
    /// The longest the participant stays.
    pub duration: Duration,
    /// Count from a `count` line on stdin instead of from the start; end early at `end`.
    pub stdin_control: bool,
}

/// What the participant reports.
#[derive(Debug, Serialize)]
pub struct JoinReport {
    pub stack: &'static str,
    /// RTP packets it sent while counting.
    pub sent_packets: u64,
    pub packets: u64,
    pub frames: u64,
    pub decrypt_failures: u64,
    pub streams: Vec<StreamCount>,
    pub error: Option<String>,
}

/// Joins, publishes audio and a small camera until the run ends, and reports.
pub async fn run(cfg: JoinConfig) -> JoinReport {
    let shared = Arc::new(Shared::default());
    let mut marks = if cfg.stdin_control {
        stdin_marks()
    } else {
        shared.open_window(crate::now_ns());
        mpsc::unbounded_channel().1
    };
    let plan = Plan {
        index: 0,
        room: cfg.room,
        role: Role {
            audio: true,
            video: Some(SMALL_CAMERA),
            simulcast: None,
            layout: None,
            expect_streams: 0,
        },
        target: Target::Veil { http: cfg.http, token: cfg.token },
    };
    let (stop_tx, stop) = watch::channel(false);
    let participant = participant::veil::run(plan, shared.clone(), stop);
    tokio::pin!(participant);
    let deadline = tokio::time::sleep(cfg.duration);
    tokio::pin!(deadline);
    let outcome = loop {
        tokio::select! {
            outcome = &mut participant => break outcome,
            Some(mark) = marks.recv() => {
                if mark == Mark::Count {
                    shared.open_window(crate::now_ns());
                    continue;
                }
                shared.close_window(crate::now_ns());
                let _ = stop_tx.send(true);
            }
            _ = &mut deadline, if !*stop_tx.borrow() => {
                shared.close_window(crate::now_ns());
                let _ = stop_tx.send(true);
            }
        }
    };
    let r = outcome.received;
    JoinReport {
        stack: "str0m",
        sent_packets: outcome.sent_packets,
        packets: r.packets,
        frames: r.frames,
        decrypt_failures: r.decrypt_failures,
        streams: r.by_stream,
        error: outcome.error,
    }
}
