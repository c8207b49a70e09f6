//! The null forwarder: the least a forwarding server must do per packet, as a baseline measured
//! by the same harness on the same workload.
//!
//! Per datagram it does what any SRTP forwarder must and nothing else: one `recv_from`, one
//! AES-128-GCM open (SRTP AEAD, RFC 7714 layout) with the sender's key, then per room member
//! one copy, one AES-128-GCM seal with that member's key and one `send_to`. There is no ICE,
//! DTLS, RTCP, NACK/RTX, congestion control, sequence rewriting or keyframe gating; routing is
//! one map lookup for the sender and a walk over its room's member list. It moves datagrams
//! with the same batched calls as Veil's shell (`veil_sfu::udp`: `recvmmsg`, then one
//! `sendmmsg` per 64 datagrams of output), so the ratio isolates what Veil does per packet
//! beyond moving and re-encrypting it.
//!
//! Keys are fixed test keys derived from each client's UDP port (no DTLS handshake: keying
//! happens once per peer and is not per-packet cost), and the rollover counter is always 0.
//! This is for benchmarking only: nothing here is secure.
//!
//! Clients ([`run_client`]) register with one datagram (`VLNF`, room id, subscribe flag) and
//! then send the same frames as the Veil participants, SFrame-encrypted under the fixed epoch
//! secret ([`crate::participant::fixed_key_ring`]), in RTP packets of the same size (a 12-byte header extension block stands in for
//! abs-send-time, transport-cc and mid).

use std::collections::HashMap;
use std::io::Write;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lc_rs::aead::{AES_128_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use str0m::media::MediaKind;
use tokio::sync::watch;
use veil_sfu::udp::{DATAGRAM_BYTES, Inbox, Outbox, SOCKET_BUFFER_BYTES};

use crate::media::Frame;
use crate::participant::link::size_buffers;
use crate::participant::{Outcome, Plan, RtpIn, Shared, Tally, Target, fixed_key_ring};

const MAGIC: &[u8; 4] = b"VLNF";
const BASE_KEY: [u8; 16] = *b"veil-null-fwd-k!";
const SALT: [u8; 12] = *b"veil-salt-12";
/// Fixed RTP header (12) + one-byte extension header (4) + 12 bytes of extensions.
const HEADER_LEN: usize = 28;
const TAG_LEN: usize = 16;
const PT_AUDIO: u8 = 111;
const PT_VIDEO: u8 = 96;

fn key_for(port: u16) -> LessSafeKey {
    let mut k = BASE_KEY;
    k[0] ^= (port >> 8) as u8;
    k[1] ^= port as u8;
    LessSafeKey::new(UnboundKey::new(&AES_128_GCM, &k).expect("a 16-byte AES key"))
}

fn nonce(header: &[u8]) -> Nonce {
    let mut iv = SALT;
    for i in 0..4 {
        iv[2 + i] ^= header[8 + i]; // SSRC
    }
    iv[10] ^= header[2]; // SEQ (ROC = 0)
    iv[11] ^= header[3];
    Nonce::assume_unique_for_key(iv)
}

fn seal(key: &LessSafeKey, packet: &mut Vec<u8>) {
    let (header, body) = packet.split_at_mut(HEADER_LEN);
    if let Ok(tag) = key.seal_in_place_separate_tag(nonce(header), Aad::from(&*header), body) {
        packet.extend_from_slice(tag.as_ref());
    }
}

/// Opens `packet` in place; returns the plaintext payload length.
fn open(key: &LessSafeKey, packet: &mut [u8]) -> Option<usize> {
    if packet.len() < HEADER_LEN + TAG_LEN {
        return None;
    }
    let (header, body) = packet.split_at_mut(HEADER_LEN);
    key.open_in_place(nonce(header), Aad::from(&*header), body).ok().map(|p| p.len())
}

struct Member {
    room: u32,
    subscribe: bool,
    key: LessSafeKey,
}

/// Runs the null forwarder on `udp` until killed; prints `null-forwarder ready: udp ADDR`.
pub fn serve(udp: SocketAddr) -> std::io::Result<()> {
    let socket = UdpSocket::bind(udp)?;
    // The same buffers Veil's shell asks for, so bursts are absorbed alike.
    let sock = socket2::SockRef::from(&socket);
    sock.set_recv_buffer_size(SOCKET_BUFFER_BYTES)?;
    sock.set_send_buffer_size(SOCKET_BUFFER_BYTES)?;
    println!("null-forwarder ready: udp {}", socket.local_addr()?);
    std::io::stdout().flush()?;
    let fd = socket.as_raw_fd();
    let mut members: HashMap<SocketAddr, Member> = HashMap::new();
    let mut rooms: HashMap<u32, Vec<SocketAddr>> = HashMap::new();
    let (mut inbox, mut outbox) = (Inbox::default(), Outbox::default());
    let mut buf = vec![0u8; DATAGRAM_BYTES];
    loop {
        inbox.receive_waiting(fd)?;
        for (from, datagram) in inbox.datagrams() {
            let n = datagram.len();
            buf[..n].copy_from_slice(datagram);
            if n >= 9 && &buf[..4] == MAGIC {
                let room = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
                if !members.contains_key(&from) {
                    rooms.entry(room).or_default().push(from);
                }
                let member = Member { room, subscribe: buf[8] != 0, key: key_for(from.port()) };
                members.insert(from, member);
                continue;
            }
            let Some(sender) = members.get(&from) else { continue };
            let Some(len) = open(&sender.key, &mut buf[..n]) else { continue };
            let Some(room) = rooms.get(&sender.room) else { continue };
            for dest in room.iter().filter(|d| **d != from) {
                let Some(member) = members.get(dest).filter(|m| m.subscribe) else { continue };
                let mut out = Vec::with_capacity(HEADER_LEN + len + TAG_LEN);
                out.extend_from_slice(&buf[..HEADER_LEN + len]);
                seal(&member.key, &mut out);
                outbox.push(*dest, out);
            }
        }
        // The socket blocks only in receive: a full send buffer is retried until it drains.
        while let Err(e) = outbox.flush(fd) {
            if e.kind() != std::io::ErrorKind::WouldBlock {
                return Err(e);
            }
            std::thread::yield_now();
        }
    }
}

fn extend_seq(last: Option<u64>, seq: u16) -> u64 {
    let Some(last) = last else { return u64::from(seq) };
    let base = last & !0xffff;
    [base.wrapping_sub(0x10000), base, base + 0x10000]
        .into_iter()
        .map(|b| b | u64::from(seq))
        .min_by_key(|c| c.abs_diff(last))
        .unwrap_or(u64::from(seq))
}

/// Runs one null-forwarder client until `stop` turns true.
pub async fn run_client(
    plan: Plan,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) -> Outcome {
    let mut tally = Tally::new(plan.role.expect_streams);
    let Target::Null { udp } = plan.target else {
        return tally.finish(plan.index, Default::default(), Some("not a null target".into()));
    };
    let socket = match tokio::net::UdpSocket::bind("127.0.0.1:0").await {
        Ok(s) => s,
        Err(e) => return tally.finish(plan.index, Default::default(), Some(e.to_string())),
    };
    if let Err(e) = size_buffers(&socket) {
        return tally.finish(plan.index, Default::default(), Some(e));
    }
    let port = socket.local_addr().map(|a| a.port()).unwrap_or(0);
    let key = key_for(port);
    let room: u32 =
        plan.room.bytes().fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    let mut hello = MAGIC.to_vec();
    hello.extend_from_slice(&room.to_be_bytes());
    hello.push(1);
    let mut ring = fixed_key_ring(plan.index);
    let mut source = plan.role.source(Instant::now(), plan.index as u64 + 1);
    tally.join.joined_ns = Some(crate::now_ns());
    tally.join.keyed_ns = tally.join.joined_ns;
    tally.join.connected_ns = tally.join.joined_ns;
    for counter in [&shared.joined, &shared.connected] {
        Shared::add(counter);
    }
    tally.check_ready(&shared);
    let ssrc = |kind: u32| (plan.index as u32) << 8 | kind;
    let mut seqs = [0u16; 2];
    let mut last_seq: HashMap<u32, u64> = HashMap::new();
    let mut frames: Vec<Frame> = Vec::new();
    let mut buf = vec![0u8; 2048];
    let mut next_hello = Instant::now();
    loop {
        let due = source.next_due().unwrap_or(next_hello).min(next_hello);
        tokio::select! {
            _ = stop.changed() => break,
            received = socket.recv_from(&mut buf) => {
                let Ok((n, _)) = received else { continue };
                let received_ns = crate::now_ns();
                let Some(len) = open(&key, &mut buf[..n]) else { continue };
                let h = &buf[..HEADER_LEN];
                let ssrc = u32::from_be_bytes([h[8], h[9], h[10], h[11]]);
                let seq = extend_seq(last_seq.get(&ssrc).copied(), u16::from_be_bytes([h[2], h[3]]));
                last_seq.insert(ssrc, seq.max(last_seq.get(&ssrc).copied().unwrap_or(0)));
                let kind = if h[1] & 0x7f == PT_AUDIO { MediaKind::Audio } else { MediaKind::Video };
                let rtp = RtpIn {
                    kind,
                    ssrc,
                    seq,
                    rtp_time: u32::from_be_bytes([h[4], h[5], h[6], h[7]]),
                    marker: h[1] & 0x80 != 0,
                    payload: &buf[HEADER_LEN..HEADER_LEN + len],
                    received_ns,
                };
                shared.packets.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tally.receiver.on_rtp(&mut ring, rtp, shared.window());
                tally.after_receive(&shared);
            }
            _ = tokio::time::sleep_until(due.into()) => {}
        }
        let now = Instant::now();
        if now >= next_hello {
            let _ = socket.send_to(&hello, udp).await;
            next_hello = now + Duration::from_secs(1);
        }
        let counting = shared.counting(crate::ns_at(now));
        source.poll(now, &mut ring, counting, &mut frames);
        for frame in frames.drain(..) {
            let (pt, k) =
                if frame.kind == MediaKind::Audio { (PT_AUDIO, 0) } else { (PT_VIDEO, 1) };
            let count = frame.payloads.len();
            for (i, payload) in frame.payloads.into_iter().enumerate() {
                seqs[k] = seqs[k].wrapping_add(1);
                let marker = k == 1 && i + 1 == count;
                let mut packet = Vec::with_capacity(HEADER_LEN + payload.len() + TAG_LEN);
                packet.extend_from_slice(&[0x90, pt | if marker { 0x80 } else { 0 }]);
                packet.extend_from_slice(&seqs[k].to_be_bytes());
                packet.extend_from_slice(&frame.rtp_time.to_be_bytes());
                packet.extend_from_slice(&ssrc(k as u32).to_be_bytes());
                packet.extend_from_slice(&[0xbe, 0xde, 0x00, 0x03]);
                packet.extend_from_slice(&[0u8; 12]);
                packet.extend_from_slice(&payload);
                seal(&key, &mut packet);
                let _ = socket.send_to(&packet, udp).await;
                if counting {
                    tally.sent_packets += 1;
                }
            }
        }
    }
    tally.finish(plan.index, source.schedule, None)
}
