//! Several nodes, one home per room: a participant may reach any node, and its connection is
//! relayed to the node where its room lives.
//!
//! A [`RoomDirectory`] (the `veil` binary's, on Redis) says where a room lives: here, or on
//! another node, which it names by the address its signaling answers on. A connection's first
//! message decides: a `join` for a room that lives elsewhere is relayed, that message and every
//! frame after it, both ways, to the home node's `/ws`, as it is. The browser then speaks to the
//! home node's signaling (which checks the token, runs the room and its MLS delivery service)
//! and sends media to the home node's SFU, whose addresses come in the SDP. This node reads
//! nothing but the first message's room.
//!
//! When the directory cannot answer (Redis unreachable), the room is served here rather than
//! nowhere: people who reached different nodes may then meet in two halves until it answers
//! again, which the log says.

use std::fmt;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_util::future::BoxFuture;
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite;
use veil_proto::RoomName;

/// Marks a connection one node relays to another: the receiving node serves it, whatever its
/// own view of the room's home, so that two nodes that disagree for a moment never relay a
/// connection back and forth.
pub const RELAYED_HEADER: &str = "veil-relayed";

/// Where a room lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Home {
    /// On this node.
    Here,
    /// On another node, whose signaling WebSocket is at `ws_url` (`ws://10.0.0.2:7880/ws`).
    There { ws_url: String },
}

/// The directory could not say where a room lives.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the room directory is unavailable: {0}")]
pub struct DirectoryError(pub String);

/// Where each room lives, choosing a home for a room that has none.
pub trait RoomDirectory: Send + Sync + fmt::Debug {
    /// The home of `room`, placing it on a node (perhaps this one) if it has none or its home
    /// is gone.
    fn home_of<'a>(&'a self, room: &'a RoomName) -> BoxFuture<'a, Result<Home, DirectoryError>>;
}

/// Relays `client` to the home node at `ws_url`, starting with the client's `first` message,
/// until either side closes. A home that cannot be reached closes the client's socket as
/// "going away", which the client takes as a lost connection and joins again (by then the
/// room is placed on a live node).
pub(crate) async fn relay(client: WebSocket, first: Message, ws_url: &str) {
    let request = match relay_request(ws_url) {
        Ok(request) => request,
        Err(e) => {
            tracing::warn!(error = %e, "the room directory named a node by an unusable address");
            return;
        }
    };
    let upstream = match tokio_tungstenite::connect_async(request).await {
        Ok((upstream, _)) => upstream,
        Err(e) => {
            tracing::info!(error = %e, "the room's home node cannot be reached");
            let mut client = client;
            let frame = CloseFrame {
                code: axum::extract::ws::close_code::AWAY,
                reason: "the room's node cannot be reached".into(),
            };
            let _ = client.send(Message::Close(Some(frame))).await;
            return;
        }
    };
    let (mut up_sink, mut up_stream) = upstream.split();
    let (mut down_sink, mut down_stream) = client.split();
    let Some(first) = to_upstream(first) else { return };
    if up_sink.send(first).await.is_err() {
        return;
    }
    let client_to_home = async {
        while let Some(Ok(message)) = down_stream.next().await {
            let closing = matches!(message, Message::Close(_));
            if let Some(message) = to_upstream(message)
                && up_sink.send(message).await.is_err()
            {
                break;
            }
            if closing {
                break;
            }
        }
        let _ = up_sink.close().await;
    };
    let home_to_client = async {
        while let Some(Ok(message)) = up_stream.next().await {
            let closing = matches!(message, tungstenite::Message::Close(_));
            if let Some(message) = to_client(message)
                && down_sink.send(message).await.is_err()
            {
                break;
            }
            if closing {
                break;
            }
        }
        let _ = down_sink.close().await;
    };
    // Whichever side ends first ends the relay; the other side's socket closes with it.
    tokio::select! {
        () = client_to_home => {}
        () = home_to_client => {}
    }
}

/// The WebSocket request to the home node, marked as relayed.
fn relay_request(
    ws_url: &str,
) -> Result<tungstenite::handshake::client::Request, tungstenite::Error> {
    use tungstenite::client::IntoClientRequest;
    let mut request = ws_url.into_client_request()?;
    request.headers_mut().insert(RELAYED_HEADER, tungstenite::http::HeaderValue::from_static("1"));
    Ok(request)
}

/// A client frame as the home node receives it. WebSocket pings stay between the client and
/// this node, which answers them itself.
fn to_upstream(message: Message) -> Option<tungstenite::Message> {
    Some(match message {
        Message::Text(text) => tungstenite::Message::Text(text.as_str().into()),
        Message::Binary(data) => tungstenite::Message::Binary(data),
        Message::Close(frame) => {
            tungstenite::Message::Close(frame.map(|f| tungstenite::protocol::CloseFrame {
                code: f.code.into(),
                reason: f.reason.as_str().into(),
            }))
        }
        Message::Ping(_) | Message::Pong(_) => return None,
    })
}

/// A home node's frame as the client receives it.
fn to_client(message: tungstenite::Message) -> Option<Message> {
    Some(match message {
        tungstenite::Message::Text(text) => Message::Text(text.as_str().into()),
        tungstenite::Message::Binary(data) => Message::Binary(data),
        tungstenite::Message::Close(frame) => Message::Close(
            frame.map(|f| CloseFrame { code: f.code.into(), reason: f.reason.as_str().into() }),
        ),
        tungstenite::Message::Ping(_)
        | tungstenite::Message::Pong(_)
        | tungstenite::Message::Frame(_) => return None,
    })
}
