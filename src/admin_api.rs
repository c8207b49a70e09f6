//! The client side of the admin API (`/api`), for the commands that act on a running server.
//!
//! One HTTP/1.1 request per command over a fresh connection: plain `http://` to the node's
//! HTTP address (the admin API is for the operator, on the machine or its private network;
//! behind a TLS proxy, point `--url` at the node itself).

use anyhow::{Context, bail};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use serde_json::Value;

/// Sends `method path` (with `body` as JSON, if any) to the server at `base` with the admin
/// key; returns the JSON answer, or the server's refusal as an error that quotes its message.
pub async fn request(
    base: &str,
    method: Method,
    path: &str,
    key: &str,
    body: Option<&Value>,
) -> anyhow::Result<Value> {
    let Some(authority) = base.strip_prefix("http://") else {
        bail!(
            "the admin API is reached over plain http on the node itself; pass --url http://HOST:PORT (not {base})"
        );
    };
    let authority = authority.trim_end_matches('/');
    let stream = tokio::net::TcpStream::connect(authority).await.with_context(|| {
        format!("cannot reach the Veil server at {base}; is `veil serve` running there?")
    })?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .context("the HTTP handshake with the server failed")?;
    tokio::spawn(connection);
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header(hyper::header::HOST, authority)
        .header(hyper::header::AUTHORIZATION, format!("Bearer {key}"));
    let body = match body {
        Some(body) => {
            request = request.header(hyper::header::CONTENT_TYPE, "application/json");
            Bytes::from(body.to_string())
        }
        None => Bytes::new(),
    };
    let response = sender
        .send_request(request.body(Full::new(body))?)
        .await
        .context("the request to the server failed")?;
    let status = response.status();
    let bytes =
        response.into_body().collect().await.context("the server's answer was cut off")?.to_bytes();
    let answer: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    if !status.is_success() {
        let message = answer["error"]["message"].as_str().unwrap_or("no explanation");
        let code = answer["error"]["code"].as_str().unwrap_or("?");
        bail!("the server refused ({status}, {code}): {message}");
    }
    Ok(answer)
}
