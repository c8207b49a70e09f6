//! Server-side active-speaker detection, for rooms whose policy turns it on.
//!
//! By default the SFU learns no audio levels: browsers measure who speaks on decrypted audio,
//! and do not even negotiate the audio-level header extension (RFC 6464). A very large room may
//! ask the SFU instead; then each microphone packet's level (in -dBov, 0 loudest, -127 silence)
//! reaches a [`Detector`], one per room, which names the dominant speaker:
//!
//! - Levels at or below [`SILENCE_DBOV`] count as silence; the others count by how far above
//!   it they are, summed over the last [`WINDOW`] (about 15 packets of 20 ms), so a word's
//!   peaks and the gaps between words even out, and a missing packet counts as silence.
//! - The loudest sum names the speaker. Nobody is named until someone speaks; after that
//!   silence keeps the last speaker, as the browsers' own speaker view does.
//! - Once someone is named, another takes over only after being the loudest for [`HOLD`]
//!   (a pause shorter than [`GAP`] does not restart the count), so a cough or a "yes" does not
//!   move the large tile.
//!
//! The detector is pure: it is handed levels and times. Its few hooks into the engine, at the
//! bottom of this file, read levels only from sessions whose grants say the room opted in.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use str0m::rtp::RtpPacket;
use veil_proto::ParticipantId;
use veil_proto::media::{MediaEvent, SessionId};
use veil_proto::room::Source;

use super::Engine;
use super::peer::TrackIn;

/// Levels at or below this (dBov) are silence: a muted or idle microphone, room noise.
pub const SILENCE_DBOV: i8 = -50;
/// How far back levels count towards a participant's loudness.
pub const WINDOW: Duration = Duration::from_millis(300);
/// How long a contender must be the loudest before it takes over from the named speaker.
pub const HOLD: Duration = Duration::from_millis(1_000);
/// A contender silent for longer than this starts its count again.
pub const GAP: Duration = Duration::from_millis(800);
/// How often the detector chooses (at most): a choice looks at every audible participant.
pub const DECISION_INTERVAL: Duration = Duration::from_millis(100);
/// The least loudness (summed dB above silence over the window) that counts as speaking: a
/// third of the window's packets 10 dB above silence, so a click or a single loud packet names
/// nobody.
const MIN_LOUDNESS: u32 = 50;

/// One room's active speaker, chosen from its members' audio levels. See the module docs.
#[derive(Debug)]
pub struct Detector {
    /// Audible levels (dB above silence) within the window, by participant; silent packets
    /// are not kept, so only those who speak cost anything.
    heard: BTreeMap<ParticipantId, VecDeque<(Instant, u8)>>,
    current: Option<ParticipantId>,
    /// Who is about to take over, since when, and when it last was the loudest.
    contender: Option<(ParticipantId, Instant, Instant)>,
    next_decision: Option<Instant>,
    /// When the engine next looks at the room's members for it ([`Detector::membership_due`]).
    next_membership_check: Option<Instant>,
}

impl Default for Detector {
    fn default() -> Self {
        Self::new()
    }
}

impl Detector {
    /// A detector that has heard nobody.
    pub fn new() -> Self {
        Self {
            heard: BTreeMap::new(),
            current: None,
            contender: None,
            next_decision: None,
            next_membership_check: None,
        }
    }

    /// Who is named now.
    pub fn current(&self) -> Option<&ParticipantId> {
        self.current.as_ref()
    }

    /// Notes `participant`'s audio level (negative dBov, as str0m parses RFC 6464) at `now`.
    pub fn observe(&mut self, participant: &ParticipantId, level: i8, now: Instant) {
        if level <= SILENCE_DBOV {
            return;
        }
        let loudness = level.saturating_sub(SILENCE_DBOV) as u8;
        match self.heard.get_mut(participant) {
            Some(samples) => samples.push_back((now, loudness)),
            None => {
                self.heard.insert(participant.clone(), VecDeque::from([(now, loudness)]));
            }
        }
    }

    /// Chooses again if [`DECISION_INTERVAL`] has passed; returns the newly named speaker when
    /// the choice changed.
    pub fn decide(&mut self, now: Instant) -> Option<ParticipantId> {
        if self.next_decision.is_some_and(|t| now < t) {
            return None;
        }
        self.next_decision = Some(now + DECISION_INTERVAL);
        let loudest = self.loudest(now)?;
        if self.current.is_none() {
            self.current = Some(loudest.clone());
            return Some(loudest);
        }
        if self.current.as_ref() == Some(&loudest) {
            self.contender = None;
            return None;
        }
        match &mut self.contender {
            Some((who, since, last)) if *who == loudest && now.duration_since(*last) <= GAP => {
                *last = now;
                if now.duration_since(*since) >= HOLD {
                    self.contender = None;
                    self.current = Some(loudest.clone());
                    return Some(loudest);
                }
            }
            _ => self.contender = Some((loudest, now, now)),
        }
        None
    }

    /// Whether the engine should look at the room's members again (every
    /// [`DECISION_INTERVAL`]): scanning a large room on every timeout would cost more than the
    /// forwarding.
    pub fn membership_due(&mut self, now: Instant) -> bool {
        if self.next_membership_check.is_some_and(|t| now < t) {
            return false;
        }
        self.next_membership_check = Some(now + DECISION_INTERVAL);
        true
    }

    /// `participant` left: it is heard no more. Returns whether it was the named speaker (who
    /// is now nobody, until someone speaks).
    pub fn forget(&mut self, participant: &ParticipantId) -> bool {
        self.heard.remove(participant);
        if self.contender.as_ref().is_some_and(|(who, _, _)| who == participant) {
            self.contender = None;
        }
        if self.current.as_ref() == Some(participant) {
            self.current = None;
            return true;
        }
        false
    }

    /// The participant loudest over the window, if anyone speaks; drops what the window left.
    fn loudest(&mut self, now: Instant) -> Option<ParticipantId> {
        let mut best: Option<(&ParticipantId, u32)> = None;
        self.heard.retain(|_, samples| {
            while samples.front().is_some_and(|(at, _)| now.duration_since(*at) > WINDOW) {
                samples.pop_front();
            }
            !samples.is_empty()
        });
        for (who, samples) in &self.heard {
            let loudness: u32 = samples.iter().map(|(_, l)| u32::from(*l)).sum();
            if loudness >= MIN_LOUDNESS && best.is_none_or(|(_, b)| loudness > b) {
                best = Some((who, loudness));
            }
        }
        best.map(|(who, _)| who.clone())
    }
}

/// The engine's side: levels in, [`MediaEvent::ActiveSpeaker`] out.
impl Engine {
    /// The level to hear from `packet` of `track`: a microphone's, when the room opted in.
    pub(super) fn level_to_hear(
        session_opted_in: bool,
        track: &TrackIn,
        packet: &RtpPacket,
    ) -> Option<i8> {
        (session_opted_in && track.source == Source::Microphone)
            .then_some(packet.header.ext_vals.audio_level)
            .flatten()
    }

    /// Notes `level` from `session`'s microphone and reports the room's speaker if it changed.
    pub(super) fn hear(&mut self, session: SessionId, level: i8) {
        let now = self.now;
        let Some(peer) = self.peers.get(&session) else {
            return;
        };
        if !self.speakers.contains_key(&peer.room) {
            self.speakers.insert(peer.room.clone(), Detector::new());
        }
        let Some(detector) = self.speakers.get_mut(&peer.room) else {
            return;
        };
        detector.observe(&peer.participant, level, now);
        if let Some(named) = detector.decide(now) {
            self.announce_speaker(session, Some(named));
        }
    }

    /// On every timeout: a named speaker who left is named no more, a contender that kept
    /// speaking takes over, and rooms that closed or turned detection off are forgotten.
    pub(super) fn check_speakers(&mut self) {
        if self.speakers.is_empty() {
            return;
        }
        let now = self.now;
        let mut reports = Vec::new();
        self.speakers.retain(|room, detector| {
            if !detector.membership_due(now) {
                return true;
            }
            let members = self.rooms.get(room).map_or(&[][..], |m| m.as_slice());
            let peers: Vec<_> =
                members.iter().filter_map(|s| self.peers.get(s).map(|p| (*s, p))).collect();
            let Some((anyone, _)) = peers.iter().find(|(_, p)| p.grants.speaker_detection) else {
                return false;
            };
            if let Some(current) = detector.current().cloned()
                && !peers.iter().any(|(_, p)| p.participant == current)
                && detector.forget(&current)
            {
                reports.push((*anyone, None));
            }
            if let Some(named) = detector.decide(now) {
                reports.push((*anyone, Some(named)));
            }
            true
        });
        for (session, named) in reports {
            self.announce_speaker(session, named);
        }
    }

    /// Tells every session of `session`'s room that opted in who speaks now.
    fn announce_speaker(&mut self, session: SessionId, participant: Option<ParticipantId>) {
        let Some(members) = self.peers.get(&session).and_then(|p| self.rooms.get(&p.room)) else {
            return;
        };
        for member in members {
            if self.peers.get(member).is_some_and(|p| p.grants.speaker_detection) {
                let participant = participant.clone();
                self.events.push_back((*member, MediaEvent::ActiveSpeaker { participant }));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pid(s: &str) -> ParticipantId {
        ParticipantId(s.to_string())
    }

    /// Feeds 20 ms packets from `speakers` (participant, level) for `ms`, deciding after each
    /// packet as the engine does; returns every change with its time since `start`.
    fn run(
        d: &mut Detector,
        start: Instant,
        from_ms: u64,
        ms: u64,
        speakers: &[(&str, i8)],
    ) -> Vec<(u64, ParticipantId)> {
        let mut changes = Vec::new();
        for t in (from_ms..from_ms + ms).step_by(20) {
            let now = start + Duration::from_millis(t);
            for (who, level) in speakers {
                d.observe(&pid(who), *level, now);
            }
            if let Some(named) = d.decide(now) {
                changes.push((t, named));
            }
        }
        changes
    }

    #[test]
    fn the_louder_of_two_speakers_is_named() {
        let start = Instant::now();
        let mut d = Detector::new();
        let changes = run(&mut d, start, 0, 2_000, &[("quiet", -40), ("loud", -15)]);
        assert_eq!(changes, vec![(100, pid("loud"))], "named at the first choice, and kept");
    }

    #[test]
    fn someone_who_speaks_on_takes_over_after_the_hold() {
        let start = Instant::now();
        let mut d = Detector::new();
        run(&mut d, start, 0, 1_000, &[("a", -20)]);
        let changes = run(&mut d, start, 1_000, 3_000, &[("b", -20)]);
        assert_eq!(changes.len(), 1, "{changes:?}");
        let (at, who) = &changes[0];
        assert_eq!(who, &pid("b"));
        assert!((2_000..=2_500).contains(at), "b took over at {at} ms, after about a second");
    }

    #[test]
    fn the_hold_keeps_the_speaker_through_short_interjections() {
        let start = Instant::now();
        let mut d = Detector::new();
        run(&mut d, start, 0, 1_000, &[("a", -20)]);
        // b says "yes" for 400 ms every 1.2 s while a speaks on: a stays named.
        let mut changes = Vec::new();
        for round in 0..5u64 {
            let t = 1_000 + round * 1_200;
            changes.extend(run(&mut d, start, t, 400, &[("a", -45), ("b", -10)]));
            changes.extend(run(&mut d, start, t + 400, 800, &[("a", -20)]));
        }
        assert!(changes.is_empty(), "the speaker flickered: {changes:?}");
        assert_eq!(d.current(), Some(&pid("a")));
    }

    #[test]
    fn silence_names_nobody_and_keeps_the_last_speaker() {
        let start = Instant::now();
        let mut d = Detector::new();
        let changes = run(&mut d, start, 0, 2_000, &[("a", -127), ("b", -60), ("c", SILENCE_DBOV)]);
        assert!(changes.is_empty(), "silence named {changes:?}");
        assert_eq!(d.current(), None);
        // A single loud packet is a click, not speech.
        d.observe(&pid("a"), -5, start + Duration::from_millis(2_000));
        assert_eq!(d.decide(start + Duration::from_millis(2_000)), None);
        run(&mut d, start, 3_000, 500, &[("b", -25)]);
        assert_eq!(d.current(), Some(&pid("b")));
        let changes = run(&mut d, start, 3_500, 3_000, &[("a", -127), ("b", -127)]);
        assert!(changes.is_empty(), "silence moved the speaker: {changes:?}");
        assert_eq!(d.current(), Some(&pid("b")));
    }

    #[test]
    fn a_speaker_who_leaves_is_named_no_more() {
        let start = Instant::now();
        let mut d = Detector::new();
        run(&mut d, start, 0, 500, &[("a", -20)]);
        assert!(!d.forget(&pid("b")));
        assert!(d.forget(&pid("a")));
        assert_eq!(d.current(), None);
        assert_eq!(run(&mut d, start, 500, 200, &[("b", -30)]), vec![(600, pid("b"))]);
    }
}
