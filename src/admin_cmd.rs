//! The operator's commands on a running server, each one admin API call (docs/api.md):
//! `veil rooms`, `veil room`, `veil participants`, `veil policy`, `veil end`, `veil kick`,
//! `veil mute` and `veil revoke`. They find the server and its admin key as the other commands
//! find their settings (flags, `VEIL_*`, the config file, the data directory).

use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};
use hyper::Method;
use serde_json::{Value, json};

use crate::{Common, admin_api, resolve, secret};

/// Where the server is, for every admin command.
#[derive(Args)]
pub struct Target {
    #[command(flatten)]
    common: Common,
    /// Base URL of the server (default: the configured public URL or HTTP address).
    #[arg(long)]
    url: Option<String>,
}

/// A room, by name or by the opaque id `veil rooms` lists.
#[derive(Args)]
pub struct RoomArg {
    #[command(flatten)]
    target: Target,
    /// The room's name or its id (`r_…`).
    #[arg(long)]
    room: String,
}

#[derive(Args)]
pub struct ParticipantArg {
    #[command(flatten)]
    room: RoomArg,
    /// The participant's id (`p_…`, as `veil participants` lists it).
    #[arg(long)]
    participant: String,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum OnOff {
    On,
    Off,
}

impl OnOff {
    fn on(self) -> bool {
        matches!(self, Self::On)
    }
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ShareScreens {
    /// Whoever's token grants the screen.
    Granted,
    /// Hosts only.
    Hosts,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum MuteSource {
    Microphone,
    Camera,
    Screen,
}

/// The operator's commands.
#[derive(Subcommand)]
pub enum AdminCommand {
    /// List the rooms with somebody in them: opaque id and counts.
    Rooms(Target),
    /// Show one room: counts and policy.
    Room(RoomArg),
    /// List who is in a room and its lobby: participant ids and identities.
    Participants(RoomArg),
    /// Change some of a room's policy (what is not given stays).
    Policy(PolicyArgs),
    /// End a room's meeting for everyone.
    End(RoomArg),
    /// Remove a participant: it is disconnected and its token cannot rejoin the room.
    Kick(ParticipantArg),
    /// Turn off a participant's microphone, camera or screen share.
    Mute(MuteArgs),
    /// Revoke an identity or a token id in a room: whoever holds it is disconnected and cannot
    /// join that room again.
    Revoke(RevokeArgs),
}

#[derive(Args)]
pub struct PolicyArgs {
    #[command(flatten)]
    room: RoomArg,
    /// Newcomers wait in a lobby until a host admits them.
    #[arg(long)]
    lobby: Option<OnOff>,
    /// Nobody but hosts may join.
    #[arg(long)]
    locked: Option<OnOff>,
    /// The most participants at once (1 to 1000).
    #[arg(long)]
    max_participants: Option<u32>,
    /// Who may share a screen.
    #[arg(long)]
    screen_share: Option<ShareScreens>,
    /// How long chat stays on every client, in seconds (10 to 86400).
    #[arg(long)]
    chat_retention: Option<u32>,
    /// The SFU names the active speaker from audio levels, which it then learns (who speaks
    /// when): for very large rooms.
    #[arg(long)]
    server_speaker_detection: Option<OnOff>,
}

#[derive(Args)]
pub struct MuteArgs {
    #[command(flatten)]
    participant: ParticipantArg,
    /// What to turn off.
    #[arg(long)]
    source: MuteSource,
}

#[derive(Args)]
pub struct RevokeArgs {
    #[command(flatten)]
    room: RoomArg,
    /// Identity to revoke: every token for it is refused in the room for a day.
    #[arg(long, required_unless_present = "token_id", conflicts_with = "token_id")]
    identity: Option<String>,
    /// Token id to revoke (as `veil token` printed it): refused until it expires.
    #[arg(long)]
    token_id: Option<String>,
}

/// One call to the admin API of the server `target` names.
fn call(target: &Target, method: Method, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
    let config = resolve(&target.common, None, None)?;
    let key = secret::load_existing(&config.data_dir, secret::ADMIN_KEY)?;
    let base = match &target.url {
        Some(url) => url.trim_end_matches('/').to_string(),
        None => config.link_base(config.http),
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(admin_api::request(&base, method, path, &key.to_hex(), body.as_ref()))
}

/// A path segment as typed: room names and ids are safe as they are; anything else is refused
/// here rather than sent.
fn segment<'a>(what: &str, text: &'a str) -> anyhow::Result<&'a str> {
    let safe = !text.is_empty()
        && text.len() <= 64
        && text.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !safe || text == "." || text == ".." {
        bail!("{what} {text:?} is not a valid {what} (letters, digits, -, _ and .)");
    }
    Ok(text)
}

fn room_path(room: &RoomArg) -> anyhow::Result<String> {
    Ok(format!("/api/rooms/{}", segment("room", &room.room)?))
}

fn participant_path(p: &ParticipantArg) -> anyhow::Result<String> {
    Ok(format!("{}/participants/{}", room_path(&p.room)?, segment("participant", &p.participant)?))
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

/// Runs an operator's command and prints what the server answered.
pub fn run(command: AdminCommand) -> anyhow::Result<()> {
    match command {
        AdminCommand::Rooms(target) => {
            let answer = call(&target, Method::GET, "/api/rooms", None)?;
            let rooms = answer["rooms"].as_array().cloned().unwrap_or_default();
            if rooms.is_empty() {
                println!("no rooms with anybody in them");
            }
            for r in rooms {
                println!(
                    "{}  {} participant(s), {} host(s), {} waiting",
                    r["id"].as_str().unwrap_or("?"),
                    r["participants"],
                    r["hosts"],
                    r["lobby"]
                );
            }
        }
        AdminCommand::Room(room) => {
            let answer = call(&room.target, Method::GET, &room_path(&room)?, None)?;
            println!("{}", pretty(&answer));
        }
        AdminCommand::Participants(room) => {
            let path = format!("{}/participants", room_path(&room)?);
            let answer = call(&room.target, Method::GET, &path, None)?;
            for p in answer["participants"].as_array().cloned().unwrap_or_default() {
                let host = if p["host"] == true { "  host" } else { "" };
                println!(
                    "{}  {}{host}",
                    p["participant_id"].as_str().unwrap_or("?"),
                    p["identity"].as_str().unwrap_or("?")
                );
            }
            for w in answer["lobby"].as_array().cloned().unwrap_or_default() {
                println!(
                    "{}  {}  waiting in the lobby",
                    w["participant_id"].as_str().unwrap_or("?"),
                    w["identity"].as_str().unwrap_or("?")
                );
            }
        }
        AdminCommand::Policy(args) => {
            let mut change = serde_json::Map::new();
            if let Some(v) = args.lobby {
                change.insert("lobby".into(), v.on().into());
            }
            if let Some(v) = args.locked {
                change.insert("locked".into(), v.on().into());
            }
            if let Some(v) = args.max_participants {
                change.insert("max_participants".into(), v.into());
            }
            if let Some(v) = args.screen_share {
                let v = match v {
                    ShareScreens::Granted => "granted",
                    ShareScreens::Hosts => "hosts",
                };
                change.insert("screen_share".into(), v.into());
            }
            if let Some(v) = args.chat_retention {
                change.insert("chat_retention_secs".into(), v.into());
            }
            if let Some(v) = args.server_speaker_detection {
                change.insert("server_speaker_detection".into(), v.on().into());
            }
            let path = format!("{}/policy", room_path(&args.room)?);
            let answer =
                call(&args.room.target, Method::PATCH, &path, Some(Value::Object(change)))?;
            println!("{}", pretty(&answer["policy"]));
        }
        AdminCommand::End(room) => {
            let path = format!("{}/end", room_path(&room)?);
            let answer = call(&room.target, Method::POST, &path, None)?;
            println!("ended; {} disconnected", answer["disconnected"]);
        }
        AdminCommand::Kick(p) => {
            call(&p.room.target, Method::DELETE, &participant_path(&p)?, None)?;
            println!("removed {}; its token cannot rejoin the room", p.participant);
        }
        AdminCommand::Mute(args) => {
            let source = match args.source {
                MuteSource::Microphone => "microphone",
                MuteSource::Camera => "camera",
                MuteSource::Screen => "screen",
            };
            let path = format!("{}/mute", participant_path(&args.participant)?);
            call(
                &args.participant.room.target,
                Method::POST,
                &path,
                Some(json!({ "source": source })),
            )?;
            println!("turned off the {source} of {}", args.participant.participant);
        }
        AdminCommand::Revoke(args) => {
            let body = match (&args.identity, &args.token_id) {
                (Some(identity), _) => json!({ "identity": identity }),
                (None, Some(token_id)) => json!({ "token_id": token_id }),
                (None, None) => bail!("name an --identity or a --token-id to revoke"),
            };
            let path = format!("{}/revocations", room_path(&args.room)?);
            let answer = call(&args.room.target, Method::POST, &path, Some(body))
                .with_context(|| format!("revoking in {}", args.room.room))?;
            let disconnected = answer["disconnected"].as_u64().unwrap_or(0);
            println!(
                "revoked in {}; {disconnected} live participant(s) disconnected",
                args.room.room
            );
        }
    }
    Ok(())
}
