//! Three peers in one room each receive the others' audio and video, byte for byte, grouped
//! under the sender's participant id; a peer in another room receives nothing of theirs.

mod common;

use std::time::Duration;

use common::Net;
use str0m::media::MediaKind;

#[test]
fn three_peers_receive_each_others_audio_and_video_unchanged() {
    let mut net = Net::new();
    let a = net.join("standup", "ada");
    let b = net.join("standup", "bob");
    let c = net.join("standup", "cyd");
    let outsider = net.join("other-room", "eve");
    net.settle();
    net.run_with_media(Duration::from_secs(3));

    for (i, name) in [(a, "ada"), (b, "bob"), (c, "cyd")] {
        let me = &net.clients[i];
        assert!(me.connected, "{name} connected");
        for (j, other) in [(a, "ada"), (b, "bob"), (c, "cyd")] {
            if i == j {
                continue;
            }
            let from = &net.clients[j].participant;
            let audio = me.received_from(from, MediaKind::Audio);
            let video = me.received_from(from, MediaKind::Video);
            assert!(audio.len() > 50, "{name} got {} audio packets from {other}", audio.len());
            assert!(video.len() > 50, "{name} got {} video packets from {other}", video.len());
            // The SFU forwards payloads untouched: each is exactly what the sender wrote.
            for r in audio.iter().chain(&video) {
                let text =
                    String::from_utf8_lossy(&r.payload[r.payload.len().min(2)..]).to_string();
                assert!(
                    r.payload.starts_with(format!("audio|p_{other}|").as_bytes())
                        || text.starts_with(&format!("video|p_{other}|")),
                    "{name} got a foreign or altered payload on {other}'s track: {:?}",
                    r.payload
                );
            }
            // Video starts at a keyframe, so the decoder can start.
            assert!(
                String::from_utf8_lossy(&video[0].payload).ends_with("key"),
                "{name}: first video from {other} is a keyframe"
            );
        }
    }

    let eve = &net.clients[outsider];
    assert!(
        eve.received.is_empty(),
        "a participant of another room received {} packets",
        eve.received.len()
    );
    assert!(net.engine.stats().rtp_forwarded > 0);
}

#[test]
fn forwarded_sequence_numbers_start_low_and_have_no_gaps() {
    let mut net = Net::new();
    let a = net.join("r", "ada");
    let b = net.join("r", "bob");
    net.settle();
    net.run_with_media(Duration::from_secs(2));
    let from = net.clients[a].participant.clone();
    let seqs: Vec<u64> =
        net.clients[b].received_from(&from, MediaKind::Video).iter().map(|r| r.seq).collect();
    assert!(seqs.len() > 20);
    assert!(seqs[0] < 100, "a new subscriber's stream starts near 1, got {}", seqs[0]);
    for pair in seqs.windows(2) {
        assert_eq!(pair[1], pair[0] + 1, "no loss on a clean network means no gaps");
    }
}
