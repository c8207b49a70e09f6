//! The webrtc-rs side of the peer: one PeerConnection with a send-only Opus track and a
//! send-only VP8 track, whose events (connection state, remote RTP, keyframe requests) arrive
//! on one channel for the session loop.

use std::net::IpAddr;
use std::sync::Arc;

use rtc::interceptor::{Interceptor, Packet, Registry, Slot, StreamInfo, TaggedPacket};
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::media_engine::{MIME_TYPE_OPUS, MIME_TYPE_VP8};
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp_transceiver::RTCRtpTransceiverDirection;
use rtc::rtp_transceiver::RTCRtpTransceiverInit;
use rtc::rtp_transceiver::rtp_sender::{
    RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters,
    RTCRtpEncodingParameters, RtpCodecKind,
};
use rtc::sansio::Protocol;
use std::collections::VecDeque;
use std::time::Instant;
use tokio::sync::mpsc;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler,
    RTCConfigurationBuilder, RTCPeerConnectionState, SettingEngineBuilder,
    register_default_interceptors,
};
use webrtc::runtime::TokioRuntime;

/// The payload types this peer offers: the ones browsers use, so the SFU's answer (which keeps
/// the offerer's numbers) and its later offers (its own numbers) can be told apart in logs.
const OPUS_PT: u8 = 111;
const VP8_PT: u8 = 96;

/// What the connection reports to the session loop.
pub enum Event {
    /// ICE and DTLS are up.
    Connected,
    /// The connection failed or closed.
    Lost(RTCPeerConnectionState),
    /// An RTP packet of a remote track; `stream` is its msid stream id, which Veil's SFU sets
    /// to the sending participant's id.
    Rtp { kind: RtpCodecKind, stream: String, packet: rtc::rtp::Packet, received_ns: u64 },
    /// The SFU asked for a keyframe (PLI or FIR).
    KeyframeRequest,
}

/// One of our own tracks and what writing to it needs.
pub struct Outgoing {
    pub track: Arc<TrackLocalStaticRTP>,
    pub ssrc: u32,
    /// Incremented per packet (wrapping), as RTP requires.
    pub seq: u16,
}

impl Outgoing {
    fn new(kind: RtpCodecKind, codec: RTCRtpCodec) -> Self {
        let ssrc = rand::random::<u32>();
        let label = if kind == RtpCodecKind::Audio { "microphone" } else { "camera" };
        let encoding = RTCRtpEncodingParameters {
            rtp_coding_parameters: RTCRtpCodingParameters {
                ssrc: Some(ssrc),
                ..Default::default()
            },
            codec,
            ..Default::default()
        };
        let track = MediaStreamTrack::new(
            "veil-webrtc-peer".to_string(),
            label.to_string(),
            label.to_string(),
            kind,
            vec![encoding],
        );
        let track = Arc::new(TrackLocalStaticRTP::new(track));
        Self { track, ssrc, seq: rand::random() }
    }
}

/// The connection and our two tracks.
pub struct Connection {
    pub pc: Arc<dyn PeerConnection>,
    pub audio: Outgoing,
    pub video: Outgoing,
}

fn opus() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: MIME_TYPE_OPUS.to_string(),
        clock_rate: 48_000,
        channels: 2,
        sdp_fmtp_line: "minptime=10;useinbandfec=1".to_string(),
        rtcp_feedback: Vec::new(),
    }
}

fn vp8() -> RTCRtpCodec {
    let feedback = |typ: &str, parameter: &str| RTCPFeedback {
        typ: typ.to_string(),
        parameter: parameter.to_string(),
    };
    RTCRtpCodec {
        mime_type: MIME_TYPE_VP8.to_string(),
        clock_rate: 90_000,
        channels: 0,
        sdp_fmtp_line: String::new(),
        rtcp_feedback: vec![feedback("nack", ""), feedback("nack", "pli"), feedback("ccm", "fir")],
    }
}

/// Opus and VP8 only, as Veil's SFU negotiates, plus webrtc-rs's default interceptors (NACK,
/// RTCP reports, transport-wide CC feedback; they also register the mid and rid header
/// extensions, without which RTP on a BUNDLE transport cannot be mapped to its m-line when the
/// SFU's offers carry no SSRCs) and one that turns keyframe requests into [`Event`]s.
fn media(events: &mpsc::UnboundedSender<Event>) -> anyhow::Result<(MediaEngine, Registry)> {
    let mut engine = MediaEngine::default();
    let codec = |rtp_codec, payload_type| RTCRtpCodecParameters { rtp_codec, payload_type };
    engine.register_codec(codec(opus(), OPUS_PT), RtpCodecKind::Audio)?;
    engine.register_codec(codec(vp8(), VP8_PT), RtpCodecKind::Video)?;
    let registry = register_default_interceptors(Registry::new(), &mut engine)?;
    let keyframes = KeyframeRequests {
        events: events.clone(),
        reads: VecDeque::new(),
        writes: VecDeque::new(),
    };
    Ok((engine, registry.with(Slot::from(KEYFRAME_SLOT), keyframes)))
}

/// Opens the connection on `bind` (one UDP socket, one host candidate; loopback candidates are
/// off by default in webrtc-rs and must be allowed for a node on 127.0.0.1) and adds our two
/// send-only tracks.
pub async fn open(bind: IpAddr) -> anyhow::Result<(Connection, mpsc::UnboundedReceiver<Event>)> {
    let (tx, rx) = mpsc::unbounded_channel();
    let (engine, registry) = media(&tx)?;
    let settings = SettingEngineBuilder::default()
        .with_include_loopback_candidate(true)
        .with_multicast_dns_mode(rtc::ice::mdns::MulticastDnsMode::Disabled)
        .with_crypto_provider(Arc::new(
            webrtc::peer_connection::crypto::providers::AwsLcRsProvider::new(),
        ))
        .build();
    let pc = PeerConnectionBuilder::new()
        .with_configuration(RTCConfigurationBuilder::default().build())
        .with_media_engine(engine)
        .with_interceptor_registry(registry)
        .with_setting_engine(settings)
        .with_runtime(Arc::new(TokioRuntime))
        .with_handler(Arc::new(Handler { events: tx }))
        .with_udp_addrs(vec![std::net::SocketAddr::new(bind, 0)])
        .build()
        .await?;
    let pc: Arc<dyn PeerConnection> = Arc::new(pc);
    let audio = Outgoing::new(RtpCodecKind::Audio, opus());
    let video = Outgoing::new(RtpCodecKind::Video, vp8());
    for out in [&audio, &video] {
        let init = RTCRtpTransceiverInit {
            direction: RTCRtpTransceiverDirection::Sendonly,
            ..Default::default()
        };
        pc.add_transceiver_from_track(out.track.clone() as Arc<dyn TrackLocal>, Some(init)).await?;
    }
    Ok((Connection { pc, audio, video }, rx))
}

/// Forwards connection state and every remote track's RTP to the session loop.
struct Handler {
    events: mpsc::UnboundedSender<Event>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        let event = match state {
            RTCPeerConnectionState::Connected => Event::Connected,
            RTCPeerConnectionState::Failed | RTCPeerConnectionState::Closed => Event::Lost(state),
            _ => return,
        };
        let _ = self.events.send(event);
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let events = self.events.clone();
        tokio::spawn(async move {
            let kind = track.kind().await;
            let stream = track.stream_id().await;
            while let Some(event) = track.poll().await {
                let TrackRemoteEvent::OnRtpPacket(packet) = event else { continue };
                let received_ns = veil_loadtest::now_ns();
                let rtp = Event::Rtp { kind, stream: stream.clone(), packet, received_ns };
                if events.send(rtp).is_err() {
                    return;
                }
            }
        });
    }
}

/// Where [`KeyframeRequests`] sits: after every default interceptor on the way in, so it only
/// watches what they already handled (see [`Slot`]).
const KEYFRAME_SLOT: usize = 12_500;

/// Reports inbound PLI and FIR as [`Event::KeyframeRequest`] and passes every packet on
/// unchanged. webrtc-rs ends inbound RTCP inside the interceptor chain, so an interceptor is
/// where an application learns that the SFU wants a keyframe.
struct KeyframeRequests {
    events: mpsc::UnboundedSender<Event>,
    reads: VecDeque<TaggedPacket>,
    writes: VecDeque<TaggedPacket>,
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for KeyframeRequests {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = rtc::shared::error::Error;
    type Time = Instant;

    fn handle_read(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        if let Packet::Rtcp(packets) = &msg.message.packet {
            let asks = packets.iter().any(|p| {
                p.as_any().is::<PictureLossIndication>() || p.as_any().is::<FullIntraRequest>()
            });
            if asks {
                let _ = self.events.send(Event::KeyframeRequest);
            }
        }
        self.reads.push_back(msg);
        Ok(())
    }

    fn poll_read(&mut self) -> Option<TaggedPacket> {
        self.reads.pop_front()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        self.writes.push_back(msg);
        Ok(())
    }

    fn poll_write(&mut self) -> Option<TaggedPacket> {
        self.writes.pop_front()
    }
}

impl Interceptor for KeyframeRequests {
    fn bind_local_stream(&mut self, _: &StreamInfo) {}
    fn unbind_local_stream(&mut self, _: &StreamInfo) {}
    fn bind_remote_stream(&mut self, _: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _: &StreamInfo) {}
}
