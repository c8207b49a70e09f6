//! What a participant's offer publishes, checked against its grants before str0m sees it.
//!
//! The SFU cannot tell a camera from a screen by the packets (they are encrypted frames of the
//! same codec), so the client says which sending m-line carries which source, and the grants
//! decide: every sending m-line is one source, each source at most once, of the right kind,
//! and only sources the token grants. An offer that breaks any of this is refused whole, so a
//! hand-made SDP cannot publish a screen without the screen grant, or a second camera.

use std::collections::BTreeMap;

use veil_proto::media::MediaGrants;
use veil_proto::room::Source;

/// One m-line of an offer, as far as publishing goes.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Section {
    audio: bool,
    mid: Option<String>,
    sending: bool,
}

fn sections(sdp: &str) -> Vec<Section> {
    let mut out: Vec<Section> = Vec::new();
    for line in sdp.lines().map(str::trim_end) {
        if let Some(media) = line.strip_prefix("m=") {
            let mut fields = media.split(' ');
            let kind = fields.next().unwrap_or("");
            // Port 0 is a rejected (stopped) m-line.
            let rejected = fields.next() == Some("0");
            // Audio and video send unless an attribute says otherwise (sendrecv is the SDP
            // default); a data channel publishes no source.
            let media = kind == "audio" || kind == "video";
            out.push(Section { audio: kind == "audio", mid: None, sending: media && !rejected });
            continue;
        }
        let Some(section) = out.last_mut() else { continue };
        if let Some(mid) = line.strip_prefix("a=mid:") {
            section.mid = Some(mid.to_owned());
        } else if matches!(line, "a=recvonly" | "a=inactive") {
            section.sending = false;
        }
    }
    out
}

/// The source of each m-line `sdp` sends on, by mid, if `grants` allow it all.
pub(crate) fn sources_of(
    sdp: &str,
    labels: &BTreeMap<String, Source>,
    grants: &MediaGrants,
) -> Result<BTreeMap<String, Source>, String> {
    let mut out = BTreeMap::new();
    for section in sections(sdp).into_iter().filter(|s| s.sending) {
        let mid = section.mid.ok_or("a sending m-line without a mid")?;
        let source = labels.get(&mid).copied().unwrap_or(if section.audio {
            Source::Microphone
        } else {
            Source::Camera
        });
        if source.is_audio() != section.audio {
            return Err(format!(
                "m-line {mid} is labelled {} but is not of that kind",
                source.as_str()
            ));
        }
        if !grants.may_publish(source) {
            return Err(format!("this participant may not publish a {}", source.as_str()));
        }
        if out.values().any(|s| *s == source) {
            return Err(format!("more than one {} m-line", source.as_str()));
        }
        out.insert(mid, source);
    }
    if let Some(extra) = labels.keys().find(|mid| !out.contains_key(*mid)) {
        return Err(format!("a source is named for m-line {extra}, which sends nothing"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grants(publish: &[Source]) -> MediaGrants {
        MediaGrants { publish: publish.to_vec(), subscribe: true, speaker_detection: false }
    }

    fn offer(lines: &[(&str, &str, &str)]) -> String {
        let mut sdp = String::from("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n");
        for (kind, mid, dir) in lines {
            sdp.push_str(&format!("m={kind} 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:{mid}\r\na={dir}\r\n"));
        }
        sdp
    }

    const MIC_CAM: [Source; 2] = [Source::Microphone, Source::Camera];

    #[test]
    fn a_default_offer_publishes_microphone_and_camera() {
        let sdp = offer(&[("audio", "0", "sendonly"), ("video", "1", "sendonly")]);
        let got = sources_of(&sdp, &BTreeMap::new(), &grants(&MIC_CAM)).unwrap();
        assert_eq!(
            got,
            BTreeMap::from([("0".into(), Source::Microphone), ("1".into(), Source::Camera)])
        );
    }

    #[test]
    fn a_screen_needs_the_screen_grant_even_unlabelled() {
        let sdp = offer(&[
            ("audio", "0", "sendonly"),
            ("video", "1", "sendonly"),
            ("video", "2", "sendonly"),
        ]);
        let labels = BTreeMap::from([("2".into(), Source::Screen)]);
        assert!(sources_of(&sdp, &labels, &grants(&MIC_CAM)).unwrap_err().contains("screen"));
        // Unlabelled, the second video m-line is a second camera: refused as well.
        assert!(
            sources_of(&sdp, &BTreeMap::new(), &grants(&MIC_CAM))
                .unwrap_err()
                .contains("more than one")
        );
        let all = [Source::Microphone, Source::Camera, Source::Screen];
        assert_eq!(sources_of(&sdp, &labels, &grants(&all)).unwrap()["2"], Source::Screen);
    }

    #[test]
    fn receiving_and_rejected_m_lines_publish_nothing() {
        let sdp = offer(&[("audio", "0", "recvonly"), ("video", "1", "inactive")]);
        assert!(sources_of(&sdp, &BTreeMap::new(), &grants(&[])).unwrap().is_empty());
        let rejected = "v=0\r\nm=video 0 UDP/TLS/RTP/SAVPF 96\r\na=mid:3\r\na=sendonly\r\n";
        assert!(sources_of(rejected, &BTreeMap::new(), &grants(&[])).unwrap().is_empty());
    }

    #[test]
    fn labels_must_fit_the_m_line() {
        let sdp = offer(&[("audio", "0", "sendonly")]);
        let wrong_kind = BTreeMap::from([("0".into(), Source::Camera)]);
        assert!(sources_of(&sdp, &wrong_kind, &grants(&MIC_CAM)).is_err());
        let dangling = BTreeMap::from([("7".into(), Source::Screen)]);
        assert!(
            sources_of(&sdp, &dangling, &grants(&[Source::Microphone, Source::Screen])).is_err()
        );
        let listener = offer(&[("audio", "0", "sendonly")]);
        assert!(sources_of(&listener, &BTreeMap::new(), &grants(&[])).is_err(), "no publish grant");
    }
}
