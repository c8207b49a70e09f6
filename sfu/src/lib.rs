//! Veil's selective forwarding unit.
//!
//! The SFU forwards RTP packets between the participants of a room by their headers alone: the
//! payloads are end-to-end encrypted frames it cannot read, so nothing here depacketizes or
//! decodes media. It is built in two layers, as str0m and quinn are:
//!
//! - [`engine::Engine`] is sans-IO. It owns one [`str0m::Rtc`] per participant (ICE-lite,
//!   DTLS-SRTP, RTP mode) and the rooms that connect them. Time comes in with every input; the
//!   engine never reads a clock, opens a socket or spawns a task. Feed it with
//!   [`engine::Engine::handle_input`], then call [`engine::Engine::poll_output`] until it
//!   returns [`engine::Output::Timeout`]: transmits go to the socket, events to signaling, and
//!   the timeout is when to call again with [`engine::Input::Timeout`].
//! - [`shell`] is the thin tokio driver: one UDP socket for every peer, a timer, and the command
//!   channel from signaling ([`veil_proto::media::MediaPlane`]).
//!
//! Forwarding decisions ([`forward`]) use RTP header fields and, for VP8, the payload
//! descriptor and the first bytes of the frame, which senders leave in the clear.

pub mod engine;
pub mod forward;
pub mod metrics;
pub mod shell;
mod tcp;
pub mod udp;

pub use engine::{Engine, EngineConfig, Input, Output, Stats, Transmit, Transport};
pub use metrics::SfuMetrics;
pub use shell::{Sfu, SfuConfig, SfuHandle};
