//! Veil's WebSocket signaling (docs/protocol.md), as much of it as a participant needs: the
//! `join` exchange and JSON envelopes both ways.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use veil_proto::signal::{ClientMessage, Envelope, ServerMessage};
use veil_proto::{ParticipantId, RoomName};

/// How long the server may take to answer `join`.
const JOIN_TIMEOUT: Duration = Duration::from_secs(30);

pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens `/ws`, joins `room` with `token` and returns the socket, our participant id and how
/// to take part in the room's MLS group.
pub async fn join(
    http: SocketAddr,
    room: &str,
    token: &str,
) -> anyhow::Result<(Ws, ParticipantId, ServerMessage)> {
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{http}/ws"))
        .await
        .with_context(|| format!("cannot open the WebSocket at ws://{http}/ws"))?;
    let room = RoomName::new(room.to_string()).map_err(|e| anyhow::anyhow!("room: {e}"))?;
    let token = token.to_string();
    let min_version = Some(veil_proto::signal::MIN_PROTOCOL_VERSION);
    send(&mut ws, ClientMessage::Join { room, token, min_version }).await?;
    let reply = tokio::time::timeout(JOIN_TIMEOUT, next(&mut ws))
        .await
        .context("the server did not answer the join")??;
    match reply {
        Some(joined @ ServerMessage::Joined { .. }) => {
            let ServerMessage::Joined { participant_id, .. } = &joined else { unreachable!() };
            Ok((ws, participant_id.clone(), joined))
        }
        Some(other) => bail!("the server refused the join: {other:?}"),
        None => bail!("the server closed the WebSocket instead of answering the join"),
    }
}

pub async fn send(ws: &mut Ws, msg: ClientMessage) -> anyhow::Result<()> {
    let text = serde_json::to_string(&Envelope::new(msg))?;
    ws.send(Message::text(text)).await.context("signaling send failed")
}

/// The next server message; `None` once the server closed the socket.
pub async fn next(ws: &mut Ws) -> anyhow::Result<Option<ServerMessage>> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(text))) => {
                let envelope: Envelope<ServerMessage> = serde_json::from_str(&text)
                    .with_context(|| format!("unreadable server message {text:?}"))?;
                return Ok(Some(envelope.msg));
            }
            Some(Ok(Message::Close(_))) | None => return Ok(None),
            Some(Err(e)) => return Err(e).context("signaling failed"),
            Some(Ok(_)) => {}
        }
    }
}
