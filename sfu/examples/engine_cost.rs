//! What the media engine alone costs per forwarded packet: no sockets, no load generator, no
//! kernel. `cargo run --release -p veil-sfu --example engine_cost`
//!
//! Peers join one room on the virtual network of the engine tests, connect, and subscribe.
//! Then the publishers' SRTP datagrams for a few seconds of media (Opus-sized audio at 50
//! packets/s; for video a 2.5 Mbit/s camera, 25 frames/s of 11 packets of 1150 bytes) are captured
//! and fed to a fresh engine state in batches of B datagrams, draining the engine after each
//! batch as the shell does after each wake-up. The wall time of that loop on one thread,
//! divided by the datagrams the engine emits, is its CPU per egress packet.
//!
//! The baseline, measured beside it on the same packets, is what any SRTP forwarder must do:
//! open each datagram once (AES-256-GCM, the profile str0m negotiates here) and, per subscriber,
//! copy and seal it. The ratio is the engine's routing, RTCP, resend and str0m bookkeeping.

#[path = "../tests/common/mod.rs"]
mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use common::Net;
use str0m::format::Codec;
use str0m::rtp::RtpWrite;
use veil_sfu::{Input, Output, Transport};

const SECONDS_OF_MEDIA: u64 = 4;
const VIDEO_PACKET: usize = 1150;
/// About 2.5 Mbit/s at 25 frames/s in 1150-byte packets.
const VIDEO_PACKETS_PER_FRAME: usize = 11;

struct Case {
    name: &'static str,
    peers: usize,
    speakers: usize,
    video: bool,
}

const CASES: &[Case] = &[
    Case { name: "meeting", peers: 4, speakers: 4, video: true },
    Case { name: "meeting", peers: 10, speakers: 10, video: true },
    Case { name: "audio", peers: 60, speakers: 10, video: false },
];

/// A connected room and the publishers' next datagrams, with the time each was sent. Nothing
/// has been published before, so each video stream starts with a keyframe.
fn captured(case: &Case) -> (Net, Vec<(Instant, SocketAddr, Vec<u8>)>) {
    let mut net = Net::new();
    for i in 0..case.peers {
        let speaks = i < case.speakers;
        net.join_publishing("bench", &format!("p{i}"), speaks, speaks && case.video);
    }
    net.settle();
    net.run(Duration::from_secs(1));
    assert!(net.clients.iter().all(|c| c.connected), "every peer connects");
    let mut datagrams = Vec::new();
    let (start, mut now) = (net.now, net.now);
    let mut seqs = vec![(0u64, 0u64); case.speakers];
    let mut tick = 0u64;
    while now < start + Duration::from_secs(SECONDS_OF_MEDIA) {
        for (c, (audio_seq, video_seq)) in net.clients.iter_mut().zip(&mut seqs) {
            let pt = |codec| c.rtc.codec_config().find(|p| p.spec().codec == codec).map(|p| p.pt());
            let (opus, vp8) = (pt(Codec::Opus).expect("opus"), pt(Codec::Vp8).expect("vp8"));
            let mut api = c.rtc.direct_api();
            if let Some(tx) = c.audio_mid.and_then(|mid| api.stream_tx_by_mid(mid, None)) {
                *audio_seq += 1;
                let rtp_time = (tick * 960) as u32;
                tx.write_rtp(RtpWrite::new(opus, (*audio_seq).into(), rtp_time, now, vec![7; 90]));
            }
            let video_due = case.video && tick.is_multiple_of(2);
            if let Some(tx) =
                c.video_mid.filter(|_| video_due).and_then(|mid| api.stream_tx_by_mid(mid, None))
            {
                for p in 0..VIDEO_PACKETS_PER_FRAME {
                    *video_seq += 1;
                    let mut payload = vec![0u8; VIDEO_PACKET];
                    // VP8 descriptor (S=1 on the first packet), then the frame tag: the
                    // first frame is a keyframe, the rest deltas.
                    payload[0] = if p == 0 { 0x10 } else { 0x00 };
                    payload[1] = if tick == 0 { 0x00 } else { 0x01 };
                    let rtp_time = (tick * 1800) as u32;
                    let write = RtpWrite::new(vp8, (*video_seq).into(), rtp_time, now, payload)
                        .marker(p + 1 == VIDEO_PACKETS_PER_FRAME)
                        .nackable(true);
                    tx.write_rtp(write);
                }
            }
            let _ = c.rtc.handle_input(str0m::Input::Timeout(now));
            while let Ok(out) = c.rtc.poll_output() {
                match out {
                    str0m::Output::Transmit(t) => datagrams.push((now, c.addr, t.contents.into())),
                    str0m::Output::Timeout(_) => break,
                    str0m::Output::Event(_) => {}
                }
            }
        }
        tick += 1;
        now += Duration::from_millis(20);
    }
    (net, datagrams)
}

/// Engine µs per egress datagram, and how many it emitted, feeding `batch` datagrams per pass.
fn engine_cost(case: &Case, batch: usize) -> (f64, u64) {
    let (mut net, datagrams) = captured(case);
    let sfu = net.sfu;
    let mut emitted = 0u64;
    let started = Instant::now();
    for chunk in datagrams.chunks(batch) {
        let at = chunk[0].0;
        for (_, source, contents) in chunk {
            let input = Input::Receive {
                transport: Transport::Udp,
                source: *source,
                destination: sfu,
                contents,
            };
            net.engine.handle_input(at, input);
        }
        loop {
            match net.engine.poll_output() {
                Output::Transmit(_) => emitted += 1,
                Output::Event(..) => {}
                Output::Timeout(due) if due <= at => net.engine.handle_input(at, Input::Timeout),
                Output::Timeout(_) => break,
            }
        }
    }
    let elapsed = started.elapsed();
    (elapsed.as_secs_f64() * 1e6 / emitted.max(1) as f64, emitted)
}

/// The least any SRTP forwarder does for the same packets: one open, and per subscriber a copy
/// and a seal; µs per egress packet.
fn baseline_cost(case: &Case) -> f64 {
    let (_net, datagrams) = captured(case);
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &[9; 32]).expect("key"));
    let subscribers = case.peers - 1;
    // Each datagram goes to everyone else in the room.
    // Seal each once so there is something to open.
    let sealed: Vec<Vec<u8>> = datagrams
        .iter()
        .map(|(_, _, d)| {
            let mut p = d.clone();
            let (header, body) = p.split_at_mut(12.min(d.len()));
            let mut body = body.to_vec();
            let nonce = Nonce::assume_unique_for_key([1; 12]);
            let tag = key.seal_in_place_separate_tag(nonce, Aad::from(&*header), &mut body);
            body.extend_from_slice(tag.expect("seal").as_ref());
            let mut out = header.to_vec();
            out.extend_from_slice(&body);
            out
        })
        .collect();
    let mut emitted = 0u64;
    let started = Instant::now();
    for packet in &sealed {
        let mut p = packet.clone();
        let (header, body) = p.split_at_mut(12.min(packet.len()));
        let nonce = Nonce::assume_unique_for_key([1; 12]);
        let Ok(plain) = key.open_in_place(nonce, Aad::from(&*header), body) else { continue };
        let plain = plain.to_vec();
        for _ in 0..subscribers {
            let mut out = plain.clone();
            let nonce = Nonce::assume_unique_for_key([2; 12]);
            let tag = key.seal_in_place_separate_tag(nonce, Aad::from(&header[..]), &mut out);
            out.extend_from_slice(tag.expect("seal").as_ref());
            std::hint::black_box(&out);
            emitted += 1;
        }
    }
    started.elapsed().as_secs_f64() * 1e6 / emitted.max(1) as f64
}

fn main() {
    println!("case           batch  engine µs/egress pkt  egress pkts  baseline µs  × baseline");
    for case in CASES {
        let baseline = baseline_cost(case);
        for batch in [1, 8, 64] {
            let (us, emitted) = engine_cost(case, batch);
            println!(
                "{:<8} n={:<3}  {:>5}  {:>20.2}  {:>11}  {:>11.2}  {:>10.2}",
                case.name,
                case.peers,
                batch,
                us,
                emitted,
                baseline,
                us / baseline
            );
        }
    }
}
