//! The browser client's pages: `index.html` for `/` and `/r/{room}`, files under `/assets`.
//!
//! `index.html` is read on every request (it is small), so rebuilding the client needs no
//! restart. The page itself decides what to show: a room from the path, a token from the URL
//! fragment (which never reaches the server), or "you need a join link".

use std::io;
use std::path::{Path, PathBuf};

use axum::extract::{Path as UrlPath, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use veil_proto::RoomName;

use crate::AppState;

/// Why a page could not be served.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    #[error("the room name in the address is not valid")]
    InvalidRoom,
    #[error(
        "the web client is not built: {0} is missing; build it with `make client` \
         (or `npm --prefix client-js run build`)"
    )]
    ClientNotBuilt(PathBuf),
    #[error("could not read {path}: {source}")]
    Unreadable { path: PathBuf, source: io::Error },
    #[error("no such page")]
    NotFound,
}

const INVALID_ROOM_PAGE: &str = "<!doctype html>\n<html lang=\"en\"><meta charset=\"utf-8\">\
<title>Room not found - Veil</title>\n<h1>This room name is not valid</h1>\n\
<p>Room names are 1 to 64 letters, digits, '-', '_' or '.'. Check the join link you were \
given.</p>\n</html>\n";

const NOT_FOUND_PAGE: &str = "<!doctype html>\n<html lang=\"en\"><meta charset=\"utf-8\">\
<title>Not found - Veil</title>\n<h1>Not found</h1>\n<p>There is no page at this address. \
Meetings are at links of the form <code>/r/ROOM#token=…</code>.</p>\n</html>\n";

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        match self {
            Self::InvalidRoom => (StatusCode::NOT_FOUND, Html(INVALID_ROOM_PAGE)).into_response(),
            Self::NotFound => (StatusCode::NOT_FOUND, Html(NOT_FOUND_PAGE)).into_response(),
            Self::ClientNotBuilt(_) => {
                tracing::warn!(error = %self, "serving 503");
                // Visitors get the operator's instructions, but not the server's paths.
                let body = "Veil's web client is not built on this server (index.html is \
                            missing from the assets directory).\nOperator: build it with \
                            `make client` (or `npm --prefix client-js run build`), or point \
                            the assets directory at the built client.\n";
                (StatusCode::SERVICE_UNAVAILABLE, body).into_response()
            }
            Self::Unreadable { .. } => {
                tracing::error!(error = %self, "serving 500");
                let body = "The server could not read its web client; the operator should \
                            check the server log.\n";
                (StatusCode::INTERNAL_SERVER_ERROR, body).into_response()
            }
        }
    }
}

/// `GET /`: the client, which tells the visitor they need a join link.
pub(crate) async fn index(State(state): State<AppState>) -> Result<Response, PageError> {
    serve_index(&state.config().assets_dir).await
}

/// `GET /r/{room}`: the client, for a room name that could exist.
pub(crate) async fn room_page(
    State(state): State<AppState>,
    UrlPath(room): UrlPath<String>,
) -> Result<Response, PageError> {
    RoomName::new(room).map_err(|_| PageError::InvalidRoom)?;
    serve_index(&state.config().assets_dir).await
}

/// Anything not routed.
pub(crate) async fn not_found() -> PageError {
    PageError::NotFound
}

async fn serve_index(assets_dir: &Path) -> Result<Response, PageError> {
    serve_page(assets_dir, "index.html").await
}

/// One of the client's HTML pages, read fresh on every request.
pub(crate) async fn serve_page(assets_dir: &Path, page: &str) -> Result<Response, PageError> {
    let path = assets_dir.join(page);
    match tokio::fs::read(&path).await {
        Ok(bytes) => Ok((
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            bytes,
        )
            .into_response()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(PageError::ClientNotBuilt(path)),
        Err(source) => Err(PageError::Unreadable { path, source }),
    }
}
