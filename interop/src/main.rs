//! # veil-webrtc-peer
//!
//! A Veil participant on a second, independent WebRTC stack: webrtc-rs, where `veil serve`'s
//! SFU, the load test and the bots use str0m and people use their browser's. It joins a
//! meeting exactly as the browser does (a join token, WebSocket signaling, MLS through the
//! delivery service, an offer of send-only Opus and VP8 tracks, answers to the SFU's later
//! offers, ICE and DTLS-SRTP), publishes the load test's SFrame-encrypted frames
//! (`veil_loadtest::media::Source`, which a browser can decode), decrypts every remote track
//! with the load test's receive accounting, and prints one JSON line: per remote stream its
//! sender, kind, packets, frames decrypted and decryption failures, and its own participant id,
//! MLS epoch and security code. client-js/tests/interop.test.mjs runs it beside Chromium and
//! `veil-loadtest join` (str0m) and checks that all three decrypt one another.
//!
//! ## What webrtc-rs needs to meet Veil
//!
//! - **ICE-lite server.** The SFU's answer says `a=ice-lite`; webrtc-rs then takes the
//!   controlling role itself (RFC 8445 §6.1.1) and nominates the SFU's one candidate. Roles are
//!   fixed at the first negotiation, so the SFU's later offers (same ICE credentials) do not
//!   restart ICE. Loopback candidates are off by default in webrtc-rs; a node on 127.0.0.1
//!   needs them allowed, and mDNS is switched off (nothing here resolves `.local` names).
//! - **DTLS role.** The offer says `a=setup:actpass` and the SFU answers `passive`, so
//!   webrtc-rs is the DTLS client; the SFU's later offers keep the roles.
//! - **Extensions.** The offer carries only what webrtc-rs's default interceptors register:
//!   mid and rid on video, transport-wide CC on both. The SFU answers with those, and its own
//!   offers add abs-send-time, audio level and video orientation, which webrtc-rs's answers
//!   leave out; forwarding needs none of them (its offers name every SSRC). Our packets go out
//!   without header extensions of their own.
//! - **Payload types.** The offer registers only Opus (111) and VP8 (96), as the SFU
//!   negotiates. webrtc-rs drops a packet whose payload type is not one negotiated on its
//!   sender, so the type is read back from the sender's parameters once connected; the SFU's
//!   own offers use its numbers, which only matter for receiving.
//! - **Keyframe requests.** webrtc-rs ends inbound RTCP inside its interceptor chain; an
//!   interceptor of our own watches for PLI and FIR and asks the media source for a keyframe.

mod connection;
mod session;
mod signaling;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;

use clap::Parser;
use veil_loadtest::join::JoinArgs;

#[derive(Parser)]
#[command(version, about = "A Veil participant on webrtc-rs, for interoperability tests")]
struct Cli {
    #[command(flatten)]
    join: JoinArgs,
    /// The display name, which travels only inside MLS.
    #[arg(long, default_value = "webrtc-rs peer")]
    name: String,
}

/// Media goes from the node's interface: loopback for a node on loopback, otherwise every
/// interface (webrtc-rs binds one socket per non-loopback address for a wildcard).
fn bind_for(http: SocketAddr) -> IpAddr {
    if http.ip().is_loopback() { http.ip() } else { Ipv4Addr::UNSPECIFIED.into() }
}

fn main() -> ExitCode {
    veil_loadtest::start();
    let cli = Cli::parse();
    let join = match cli.join.config() {
        Ok(join) => join,
        Err(e) => {
            eprintln!("veil-webrtc-peer: {e}");
            return ExitCode::from(2);
        }
    };
    let opts = session::Options {
        http: join.http,
        token: join.token,
        room: join.room,
        name: cli.name,
        duration: join.duration,
        stdin_control: join.stdin_control,
        bind: bind_for(join.http),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("veil-webrtc-peer: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(session::run(opts)).and_then(|r| Ok(serde_json::to_string(&r)?)) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("veil-webrtc-peer: {e:#}");
            ExitCode::FAILURE
        }
    }
}
