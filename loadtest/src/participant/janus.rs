//! A participant in a Janus VideoRoom, driven through Janus's own JSON API over its WebSocket
//! transport (subprotocol `janus-protocol`), sending and receiving exactly what a Veil
//! participant does: the same [`Source`] frames, SFrame-encrypted, and the same receive
//! accounting. There is no MLS: every participant keys SFrame with the fixed epoch secret
//! ([`super::fixed_key_ring`]), as the null forwarder's clients do.
//!
//! Janus needs one PeerConnection per direction, so a participant has up to two str0m
//! [`Link`]s on two sockets, both bound to the namespace veth's host address (the only
//! address Janus's ICE reaches, see [`crate::janus`]):
//!
//! - a publisher handle, which joins the room as a publisher (listeners too, without
//!   publishing: that is how Janus tells a client who publishes) and, for a participant that
//!   publishes, sends `configure` with str0m's offer of its send-only tracks;
//! - a subscriber handle, for a participant that expects streams, which subscribes to every
//!   other publisher's feeds as they appear (`join` as subscriber, then `subscribe`), one
//!   request in flight at a time, answering each offer Janus makes with `start`.
//!
//! The session is kept alive every [`KEEPALIVE`] (Janus drops it after 60 s of silence).

use std::collections::{HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use super::link::{Link, Local, recv_on};
use super::{Outcome, Plan, Shared, Tally, Target, fixed_key_ring};

const PLUGIN: &str = "janus.plugin.videoroom";
/// Well inside Janus's 60 s session timeout.
const KEEPALIVE: Duration = Duration::from_secs(25);
/// How long a join or an API call may take before the participant gives up.
const JOIN_TIMEOUT: Duration = Duration::from_secs(30);
/// A room's REMB cap for publishers: far above what any publisher sends, so it never binds.
const ROOM_BITRATE: u64 = 100_000_000;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Janus's JSON API over one WebSocket: one session; replies are matched to requests by
/// transaction, and anything else read meanwhile is kept, in order, for [`Api::next`].
struct Api {
    ws: Ws,
    session: Option<u64>,
    transactions: u64,
    backlog: VecDeque<Value>,
}

/// The plugin's part of an event or reply.
fn plugin_data(msg: &Value) -> &Value {
    &msg["plugindata"]["data"]
}

/// A VideoRoom error in `data`, if it is one.
fn plugin_error(data: &Value) -> Option<String> {
    let error = data.get("error")?;
    Some(format!("VideoRoom error {}: {}", data["error_code"], error))
}

/// A core API error (`"janus": "error"`), if `msg` is one.
fn api_error(msg: &Value) -> Option<String> {
    (msg["janus"] == "error")
        .then(|| format!("Janus error {}: {}", msg["error"]["code"], msg["error"]["reason"]))
}

impl Api {
    /// Connects to `addr` and creates a session.
    async fn connect(addr: SocketAddr) -> Result<Api, String> {
        let mut request =
            format!("ws://{addr}/").into_client_request().map_err(|e| e.to_string())?;
        let protocol = HeaderValue::from_static("janus-protocol");
        request.headers_mut().insert("Sec-WebSocket-Protocol", protocol);
        let (ws, _) = tokio_tungstenite::connect_async(request)
            .await
            .map_err(|e| format!("WebSocket to Janus at {addr}: {e}"))?;
        let mut api = Api { ws, session: None, transactions: 0, backlog: VecDeque::new() };
        let created = api.call(json!({"janus": "create"})).await?;
        api.session = Some(created["data"]["id"].as_u64().ok_or("no session id")?);
        Ok(api)
    }

    /// Sends `request` with a fresh transaction (and the session); returns the transaction.
    async fn send(&mut self, mut request: Value) -> Result<String, String> {
        self.transactions += 1;
        let transaction = format!("t{}", self.transactions);
        request["transaction"] = json!(transaction);
        if let Some(session) = self.session {
            request["session_id"] = json!(session);
        }
        let text = request.to_string();
        self.ws.send(Message::text(text)).await.map_err(|e| format!("Janus API send: {e}"))?;
        Ok(transaction)
    }

    /// Sends `request` and waits for its `success` reply.
    async fn call(&mut self, request: Value) -> Result<Value, String> {
        let transaction = self.send(request).await?;
        let reply = tokio::time::timeout(JOIN_TIMEOUT, async {
            loop {
                let msg = self.read().await?;
                if msg["transaction"] != transaction.as_str() {
                    self.backlog.push_back(msg);
                } else if let Some(e) = api_error(&msg) {
                    return Err(e);
                } else if msg["janus"] == "success" {
                    return Ok(msg);
                }
            }
        });
        reply.await.map_err(|_| "no reply from Janus".to_string())?
    }

    /// Attaches a VideoRoom handle; returns its id.
    async fn attach(&mut self) -> Result<u64, String> {
        let attached = self.call(json!({"janus": "attach", "plugin": PLUGIN})).await?;
        attached["data"]["id"].as_u64().ok_or_else(|| "no handle id".into())
    }

    /// Sends a plugin request on `handle`; its result comes later as an event.
    async fn message(
        &mut self,
        handle: u64,
        body: Value,
        jsep: Option<Value>,
    ) -> Result<(), String> {
        let mut request = json!({"janus": "message", "handle_id": handle, "body": body});
        if let Some(jsep) = jsep {
            request["jsep"] = jsep;
        }
        self.send(request).await.map(|_| ())
    }

    /// Tells Janus that `handle` has all our candidates (they are in the SDP).
    async fn candidates_done(&mut self, handle: u64) -> Result<(), String> {
        let trickle =
            json!({"janus": "trickle", "handle_id": handle, "candidate": {"completed": true}});
        self.send(trickle).await.map(|_| ())
    }

    async fn keepalive(&mut self) -> Result<(), String> {
        self.send(json!({"janus": "keepalive"})).await.map(|_| ())
    }

    /// Ends the session (Janus closes its PeerConnections), then the WebSocket: closing it
    /// first would have Janus drop the session before it reads the `destroy`.
    async fn close(mut self) {
        let destroy = self.call(json!({"janus": "destroy"}));
        let _ = tokio::time::timeout(Duration::from_secs(2), destroy).await;
        let _ = self.ws.close(None).await;
    }

    /// The next message from Janus.
    async fn read(&mut self) -> Result<Value, String> {
        loop {
            match self.ws.next().await {
                Some(Ok(Message::Text(text))) => {
                    return serde_json::from_str(&text)
                        .map_err(|e| format!("unreadable Janus message: {e}"));
                }
                Some(Ok(Message::Close(_))) | None => return Err("Janus API closed".into()),
                Some(Err(e)) => return Err(format!("Janus API: {e}")),
                Some(Ok(_)) => {}
            }
        }
    }

    /// The next message not yet handled: kept ones first. Cancel-safe.
    async fn next(&mut self) -> Result<Value, String> {
        match self.backlog.pop_front() {
            Some(msg) => Ok(msg),
            None => self.read().await,
        }
    }

    /// Waits for the event on `handle` whose `videoroom` is `what`, keeping others for later.
    async fn event(&mut self, handle: u64, what: &str) -> Result<Value, String> {
        let wanted = |msg: &Value| msg["sender"] == handle && plugin_data(msg)["videoroom"] == what;
        if let Some(i) = self.backlog.iter().position(wanted) {
            return Ok(self.backlog.remove(i).unwrap_or_default());
        }
        let found = tokio::time::timeout(JOIN_TIMEOUT, async {
            loop {
                let msg = self.read().await?;
                if wanted(&msg) {
                    return Ok(msg);
                }
                if let Some(e) = api_error(&msg) {
                    return Err(e);
                }
                if msg["sender"] == handle
                    && let Some(e) = plugin_error(plugin_data(&msg))
                {
                    return Err(e);
                }
                self.backlog.push_back(msg);
            }
        });
        found.await.map_err(|_| format!("no {what:?} event from Janus"))?
    }
}

/// Creates the run's room on the Janus at `api`: room `room` with up to `publishers`
/// publishers, VP8 and Opus only, as a Veil room carries. Nothing Veil does not do is on: no
/// recording, no join notifications, no periodic keyframe requests (`fir_freq` 0), and a REMB
/// cap far above every publisher's rate.
pub async fn create_room(api: SocketAddr, room: u64, publishers: usize) -> Result<(), String> {
    let mut conn = Api::connect(api).await?;
    let handle = conn.attach().await?;
    let body = json!({
        "request": "create",
        "room": room,
        "description": "veil-loadtest",
        "is_private": true,
        "publishers": publishers.max(1),
        "bitrate": ROOM_BITRATE,
        "fir_freq": 0,
        "audiocodec": "opus",
        "videocodec": "vp8",
        "notify_joining": false,
        "record": false,
    });
    let reply = conn.call(json!({"janus": "message", "handle_id": handle, "body": body})).await;
    conn.close().await;
    let data = plugin_data(&reply?).clone();
    match plugin_error(&data) {
        Some(e) => Err(e),
        None if data["videoroom"] == "created" => Ok(()),
        None => Err(format!("unexpected reply to create: {data}")),
    }
}

/// The subscriber side: one handle and one link receiving every other publisher's feeds.
struct Subscriber {
    handle: u64,
    link: Link,
    /// The subscriber `join` has been sent (later feeds go by `subscribe`).
    joined: bool,
    /// A `join` or `subscribe` is waiting for Janus's offer.
    negotiating: bool,
    subscribed: HashSet<u64>,
    /// Feeds seen publishing, not yet requested.
    wanted: Vec<u64>,
}

struct Peer {
    api: Api,
    room: u64,
    /// Our publisher id in the room.
    feed: u64,
    /// The publisher handle: publishes, and hears who else does.
    roster: u64,
    publisher: Option<Link>,
    pending: Option<SdpPendingOffer>,
    subscriber: Option<Subscriber>,
    me: Local,
    next_keepalive: Instant,
}

/// Runs one participant until `stop` turns true.
pub async fn run(plan: Plan, shared: Arc<Shared>, stop: watch::Receiver<bool>) -> Outcome {
    let mut tally = Tally::new(plan.role.expect_streams);
    let peer = match join(&plan, &shared, &mut tally).await {
        Ok(peer) => peer,
        Err(e) => {
            Shared::add(&shared.failed);
            return tally.finish(plan.index, Default::default(), Some(e));
        }
    };
    let mut peer = *peer;
    let result = peer.run(stop).await;
    if result.is_err() {
        Shared::add(&shared.failed);
    }
    let Peer { api, me, .. } = peer;
    api.close().await;
    me.tally.finish(plan.index, me.source.schedule, result.err())
}

async fn join(plan: &Plan, shared: &Arc<Shared>, tally: &mut Tally) -> Result<Box<Peer>, String> {
    let Target::Janus { api, room, bind } = plan.target else {
        return Err("a Janus participant needs a Janus target".into());
    };
    let mut api = Api::connect(api).await?;
    let roster = api.attach().await?;
    let display = format!("load-{}", plan.index);
    let body = json!({"request": "join", "ptype": "publisher", "room": room, "display": display});
    api.message(roster, body, None).await?;
    let joined = api.event(roster, "joined").await?;
    let feed = plugin_data(&joined)["id"].as_u64().ok_or("no publisher id in joined")?;
    tally.join.joined_ns = Some(crate::now_ns());
    tally.join.keyed_ns = tally.join.joined_ns;
    Shared::add(&shared.joined);
    let role = plan.role;
    let (publisher, pending) = if role.publishes() {
        let mut link = Link::bind(bind).await?;
        let (offer, pending) = link.offer_tracks(&role).apply().ok_or("nothing to offer")?;
        let jsep = json!({"type": "offer", "sdp": offer.to_sdp_string()});
        api.message(roster, json!({"request": "configure"}), Some(jsep)).await?;
        api.candidates_done(roster).await?;
        (Some(link), Some(pending))
    } else {
        (None, None)
    };
    let subscriber = if role.expect_streams > 0 {
        let handle = api.attach().await?;
        let link = Link::bind(bind).await?;
        let (subscribed, wanted) = (HashSet::new(), Vec::new());
        Some(Subscriber { handle, link, joined: false, negotiating: false, subscribed, wanted })
    } else {
        None
    };
    let source = role.source(Instant::now(), plan.index as u64 + 1);
    let tally = std::mem::replace(tally, Tally::new(0));
    let me = Local::new(fixed_key_ring(plan.index), source, tally, shared.clone());
    let next_keepalive = Instant::now() + KEEPALIVE;
    let mut peer =
        Peer { api, room, feed, roster, publisher, pending, subscriber, me, next_keepalive };
    peer.on_publishers(plugin_data(&joined));
    Ok(Box::new(peer))
}

impl Peer {
    async fn run(&mut self, mut stop: watch::Receiver<bool>) -> Result<(), String> {
        let (mut pub_buf, mut sub_buf) = (vec![0u8; 2048], vec![0u8; 2048]);
        self.me.tally.check_ready(&self.me.shared);
        self.request_feeds().await?;
        loop {
            let pub_timeout = match &mut self.publisher {
                Some(link) => Some(link.drain(&mut self.me).await?),
                None => None,
            };
            let sub_timeout = match &mut self.subscriber {
                Some(sub) => Some(sub.link.drain(&mut self.me).await?),
                None => None,
            };
            self.check_connected();
            let sending = self.publisher.as_ref().is_some_and(|l| l.connected);
            let due = self.me.source.next_due().filter(|_| sending);
            let deadline = [pub_timeout, sub_timeout, due, Some(self.next_keepalive)]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or(self.next_keepalive);
            tokio::select! {
                _ = stop.changed() => return Ok(()),
                received = recv_on(self.publisher.as_ref(), &mut pub_buf) => {
                    let first = received.map_err(|e| format!("UDP receive: {e}"))?;
                    if let Some(link) = &mut self.publisher {
                        link.receive_batch(first, &mut pub_buf, &mut self.me).await?;
                    }
                }
                received = recv_on(self.subscriber.as_ref().map(|s| &s.link), &mut sub_buf) => {
                    let first = received.map_err(|e| format!("UDP receive: {e}"))?;
                    if let Some(sub) = &mut self.subscriber {
                        sub.link.receive_batch(first, &mut sub_buf, &mut self.me).await?;
                    }
                }
                message = self.api.next() => self.on_message(message?).await?,
                _ = tokio::time::sleep_until(deadline.into()) => {}
            }
            let now = Instant::now();
            let passed = |t: Option<Instant>| t.is_some_and(|t| t <= now);
            if let Some(link) = self.publisher.as_mut().filter(|_| passed(pub_timeout)) {
                link.timeout(now);
            }
            if let Some(sub) = self.subscriber.as_mut().filter(|_| passed(sub_timeout)) {
                sub.link.timeout(now);
            }
            if let Some(link) = self.publisher.as_mut().filter(|_| sending && passed(due)) {
                link.send_media(now, &mut self.me);
            }
            if now >= self.next_keepalive {
                self.api.keepalive().await?;
                self.next_keepalive = now + KEEPALIVE;
            }
        }
    }

    /// Counts the participant connected once every PeerConnection it has is up.
    fn check_connected(&mut self) {
        let publisher = self.publisher.as_ref().is_none_or(|l| l.connected);
        let subscriber = self.subscriber.as_ref().is_none_or(|s| s.link.connected);
        if publisher && subscriber {
            self.me.mark_connected();
        }
    }

    async fn on_message(&mut self, msg: Value) -> Result<(), String> {
        if let Some(e) = api_error(&msg) {
            return Err(e);
        }
        match msg["janus"].as_str() {
            Some("event") => {}
            Some("hangup") => return Err(format!("Janus hung up: {}", msg["reason"])),
            Some("timeout") => return Err("Janus timed the session out".into()),
            // ack, success, keepalive, webrtcup, media, slowlink, trickle, detached
            _ => return Ok(()),
        }
        let data = plugin_data(&msg);
        if let Some(e) = plugin_error(data) {
            return Err(e);
        }
        let jsep = msg.get("jsep");
        if msg["sender"] == self.roster {
            if let Some(jsep) = jsep.filter(|j| j["type"] == "answer") {
                self.on_answer(jsep)?;
            }
            self.on_publishers(data);
        } else if self.subscriber.as_ref().is_some_and(|s| msg["sender"] == s.handle) {
            self.on_subscription(data, jsep).await?;
        }
        self.request_feeds().await
    }

    /// Janus's answer to our publisher offer.
    fn on_answer(&mut self, jsep: &Value) -> Result<(), String> {
        let (Some(link), Some(pending)) = (&mut self.publisher, self.pending.take()) else {
            return Err("an answer with no offer in flight".into());
        };
        let sdp = jsep["sdp"].as_str().ok_or("an answer without SDP")?;
        let answer = SdpAnswer::from_sdp_string(sdp).map_err(|e| e.to_string())?;
        link.rtc.sdp_api().accept_answer(pending, answer).map_err(|e| e.to_string())
    }

    /// Notes the feeds in a `publishers` list (of a `joined` or `event`) to subscribe to.
    fn on_publishers(&mut self, data: &Value) {
        let Some(sub) = &mut self.subscriber else { return };
        let Some(publishers) = data["publishers"].as_array() else { return };
        for feed in publishers.iter().filter_map(|p| p["id"].as_u64()) {
            if feed != self.feed && !sub.subscribed.contains(&feed) && !sub.wanted.contains(&feed) {
                sub.wanted.push(feed);
            }
        }
    }

    /// A subscriber-handle event: an offer to answer (`attached`, `updated`), or the end of a
    /// request that changed nothing.
    async fn on_subscription(&mut self, data: &Value, jsep: Option<&Value>) -> Result<(), String> {
        let Some(sub) = &mut self.subscriber else { return Ok(()) };
        let what = data["videoroom"].as_str().unwrap_or_default();
        if !matches!(what, "attached" | "updated") {
            return Ok(());
        }
        sub.negotiating = false;
        let Some(sdp) = jsep.filter(|j| j["type"] == "offer").and_then(|j| j["sdp"].as_str())
        else {
            return Ok(());
        };
        let offer = SdpOffer::from_sdp_string(sdp).map_err(|e| e.to_string())?;
        let answer = sub.link.rtc.sdp_api().accept_offer(offer).map_err(|e| e.to_string())?;
        let jsep = json!({"type": "answer", "sdp": answer.to_sdp_string()});
        let handle = sub.handle;
        let start = json!({"request": "start", "room": self.room});
        self.api.message(handle, start, Some(jsep)).await?;
        self.api.candidates_done(handle).await
    }

    /// Asks for the wanted feeds, unless a request is already waiting for its offer.
    async fn request_feeds(&mut self) -> Result<(), String> {
        let Some(sub) = &mut self.subscriber else { return Ok(()) };
        if sub.negotiating || sub.wanted.is_empty() {
            return Ok(());
        }
        let streams: Vec<Value> = sub.wanted.iter().map(|feed| json!({"feed": feed})).collect();
        let body = if sub.joined {
            json!({"request": "subscribe", "streams": streams})
        } else {
            json!({"request": "join", "ptype": "subscriber", "room": self.room, "streams": streams})
        };
        sub.subscribed.extend(sub.wanted.drain(..));
        sub.joined = true;
        sub.negotiating = true;
        let handle = sub.handle;
        self.api.message(handle, body, None).await
    }
}
