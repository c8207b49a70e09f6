//! Who may do what in a room: the grants a join token carries, the kinds of media a participant
//! publishes, and the room's policy.

use serde::{Deserialize, Serialize};

/// A kind of media a participant publishes. Each has its own SFrame context id (so counters
/// never collide) and its own grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Microphone,
    Camera,
    /// A shared screen, window or tab.
    Screen,
    /// The audio that comes with a shared screen or tab, where the browser offers it.
    ScreenAudio,
}

impl Source {
    /// Every source, in SFrame context order.
    pub const ALL: [Source; 4] =
        [Source::Microphone, Source::Camera, Source::Screen, Source::ScreenAudio];

    /// The SFrame context id of this source's frames (RFC 9605 §5.2: one per track).
    pub fn context_id(self) -> u8 {
        match self {
            Self::Microphone => 0,
            Self::Camera => 1,
            Self::Screen => 2,
            Self::ScreenAudio => 3,
        }
    }

    /// Whether the source carries audio (else video).
    pub fn is_audio(self) -> bool {
        matches!(self, Self::Microphone | Self::ScreenAudio)
    }

    /// The grant that allows publishing it: screen audio goes with the screen.
    pub fn grant(self) -> Source {
        match self {
            Self::ScreenAudio => Self::Screen,
            other => other,
        }
    }

    /// The name on the wire and in track ids.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Microphone => "microphone",
            Self::Camera => "camera",
            Self::Screen => "screen",
            Self::ScreenAudio => "screen_audio",
        }
    }

    /// Parses [`as_str`](Self::as_str).
    pub fn parse(text: &str) -> Option<Source> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// What a join token allows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grants {
    /// The sources the participant may publish (screen covers screen audio).
    #[serde(default = "default_publish")]
    pub publish: Vec<Source>,
    /// Whether the participant receives the others' media.
    #[serde(default = "yes")]
    pub subscribe: bool,
    /// Runs the room: admits from the lobby, mutes, removes, locks, ends the meeting.
    #[serde(default)]
    pub host: bool,
    /// Skips the lobby when the room has one.
    #[serde(default)]
    pub bypass_lobby: bool,
}

fn default_publish() -> Vec<Source> {
    vec![Source::Microphone, Source::Camera]
}

fn yes() -> bool {
    true
}

impl Default for Grants {
    /// What a token without grants allows: publish microphone and camera, subscribe.
    fn default() -> Self {
        Self { publish: default_publish(), subscribe: true, host: false, bypass_lobby: false }
    }
}

impl Grants {
    /// A host's grants: everything.
    pub fn host() -> Self {
        Self {
            publish: vec![Source::Microphone, Source::Camera, Source::Screen],
            subscribe: true,
            host: true,
            bypass_lobby: true,
        }
    }

    /// Whether the participant may publish `source`.
    pub fn may_publish(&self, source: Source) -> bool {
        self.publish.contains(&source.grant())
    }

    /// Whether the participant skips the lobby.
    pub fn skips_lobby(&self) -> bool {
        self.host || self.bypass_lobby
    }
}

/// Who may share a screen in a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScreenSharePolicy {
    /// Anyone whose token grants it.
    #[default]
    Granted,
    /// Hosts only.
    Hosts,
}

/// A room's policy, set by its hosts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoomPolicy {
    /// Participants without the bypass grant wait in a lobby until a host admits them.
    #[serde(default)]
    pub lobby: bool,
    /// Nobody but hosts may join.
    #[serde(default)]
    pub locked: bool,
    /// The most participants the room holds at once (lobby not counted).
    pub max_participants: u32,
    #[serde(default)]
    pub screen_share: ScreenSharePolicy,
    /// How long chat messages stay on every client's screen, in seconds; a sender may choose
    /// shorter. Clients enforce it: the server never holds chat.
    #[serde(default = "default_chat_retention")]
    pub chat_retention_secs: u32,
    /// The SFU names the room's active speaker from the audio level every microphone packet
    /// carries (RFC 6464), for rooms too large for every browser to measure everyone. Off by
    /// default: clients negotiate that header extension only while this is on, and the server
    /// then learns who speaks when, packet by packet.
    #[serde(default)]
    pub server_speaker_detection: bool,
}

fn default_chat_retention() -> u32 {
    RoomPolicy::DEFAULT_CHAT_RETENTION_SECS
}

impl RoomPolicy {
    /// The most participants a room may be set to hold.
    pub const MAX_PARTICIPANTS: u32 = 1_000;
    /// How long chat stays unless a host says otherwise: an hour.
    pub const DEFAULT_CHAT_RETENTION_SECS: u32 = 3_600;
    /// The range a room's chat retention may be set in: ten seconds to a day.
    pub const CHAT_RETENTION_SECS: std::ops::RangeInclusive<u32> = 10..=86_400;

    /// The policy of a new room: no lobby, unlocked, `max_participants` at most, chat kept an
    /// hour.
    pub fn new(max_participants: u32) -> Self {
        Self {
            lobby: false,
            locked: false,
            max_participants,
            screen_share: ScreenSharePolicy::Granted,
            chat_retention_secs: Self::DEFAULT_CHAT_RETENTION_SECS,
            server_speaker_detection: false,
        }
    }

    /// Checks values a host sent.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_participants == 0 || self.max_participants > Self::MAX_PARTICIPANTS {
            return Err(format!(
                "max_participants must be 1 to {}, not {}",
                Self::MAX_PARTICIPANTS,
                self.max_participants
            ));
        }
        if !Self::CHAT_RETENTION_SECS.contains(&self.chat_retention_secs) {
            return Err(format!(
                "chat_retention_secs must be {} to {}, not {}",
                Self::CHAT_RETENTION_SECS.start(),
                Self::CHAT_RETENTION_SECS.end(),
                self.chat_retention_secs
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_without_grants_publishes_microphone_and_camera_and_subscribes() {
        let g: Grants = serde_json::from_str("{}").unwrap();
        assert_eq!(g, Grants::default());
        assert!(g.may_publish(Source::Camera) && !g.may_publish(Source::Screen));
        assert!(!g.may_publish(Source::ScreenAudio), "screen audio goes with the screen grant");
        assert!(Grants::host().may_publish(Source::ScreenAudio));
        assert!(serde_json::from_str::<Grants>(r#"{"admin":true}"#).is_err());
    }

    #[test]
    fn sources_have_their_own_contexts_and_names() {
        let contexts: Vec<u8> = Source::ALL.iter().map(|s| s.context_id()).collect();
        assert_eq!(contexts, [0, 1, 2, 3]);
        for s in Source::ALL {
            assert_eq!(Source::parse(s.as_str()), Some(s));
        }
        assert_eq!(serde_json::to_string(&Source::ScreenAudio).unwrap(), r#""screen_audio""#);
    }

    #[test]
    fn policies_are_checked() {
        assert!(RoomPolicy::new(100).validate().is_ok());
        let mut p = RoomPolicy::new(0);
        assert!(p.validate().is_err());
        p.max_participants = 1_001;
        assert!(p.validate().is_err());
        let mut p = RoomPolicy::new(10);
        p.chat_retention_secs = 5;
        assert!(p.validate().is_err());
        let old: RoomPolicy = serde_json::from_str(r#"{"max_participants":5}"#).unwrap();
        assert_eq!(old.chat_retention_secs, 3_600, "a policy without it keeps chat an hour");
        assert!(!old.server_speaker_detection, "the server learns no audio levels by default");
    }
}
