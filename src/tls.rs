//! HTTPS for `veil serve`: rustls with a certificate and key from PEM files, reloaded when
//! either file changes or the process gets SIGHUP, so a renewal (certbot, an ACME client, a
//! secret store) takes effect without dropping a meeting. Connections already open keep the
//! certificate they began with; new ones get the new one. A reload that fails (a half-written
//! file, a key that does not match) keeps the certificate in use and says why in the log.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::Context;
use axum::Router;
use axum::http::{HeaderValue, header};
use axum_server::Handle;
use axum_server::tls_rustls::RustlsConfig;
use tower_http::set_header::SetResponseHeaderLayer;

/// How often the certificate files are looked at for a change.
const WATCH_INTERVAL: Duration = Duration::from_secs(5);

/// HTTPS pages tell browsers to come back over HTTPS only, for a year.
const HSTS: &str = "max-age=31536000";

/// Where the certificate chain and its key are.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TlsFiles {
    async fn load(&self) -> anyhow::Result<RustlsConfig> {
        RustlsConfig::from_pem_file(&self.cert, &self.key).await.with_context(|| {
            format!(
                "cannot use the TLS certificate {} with the key {}",
                self.cert.display(),
                self.key.display()
            )
        })
    }

    /// When either file last changed (the later of the two).
    fn modified(&self) -> Option<SystemTime> {
        let m = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        m(&self.cert).max(m(&self.key))
    }
}

/// Serves `app` over HTTPS on `listener` until `shutdown` resolves, reloading the certificate
/// as the module docs say. Fails at once if the files cannot be used.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    files: TlsFiles,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let config = files.load().await?;
    let handle = Handle::new();
    tokio::spawn(reload_on_change(files, config.clone()));
    let stopping = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        stopping.graceful_shutdown(Some(Duration::from_secs(5)));
    });
    let listener: TcpListener = listener.into_std()?;
    let app = app.layer(SetResponseHeaderLayer::overriding(
        header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static(HSTS),
    ));
    axum_server::from_tcp_rustls(listener, config)?
        .handle(handle)
        .serve(app.into_make_service())
        .await
        .context("the HTTPS server failed")
}

/// Reloads the certificate when its files change or on SIGHUP.
async fn reload_on_change(files: TlsFiles, config: RustlsConfig) {
    let mut hangup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(signal) => Some(signal),
        Err(e) => {
            tracing::warn!("cannot listen for SIGHUP ({e}); certificates reload on change only");
            None
        }
    };
    let mut seen = files.modified();
    let mut tick = tokio::time::interval(WATCH_INTERVAL);
    loop {
        let why = tokio::select! {
            _ = tick.tick() => {
                let now = files.modified();
                if now == seen {
                    continue;
                }
                seen = now;
                "the certificate files changed"
            }
            Some(()) = async { match hangup.as_mut() { Some(h) => h.recv().await, None => None } } => {
                "SIGHUP"
            }
        };
        match config.reload_from_pem_file(&files.cert, &files.key).await {
            Ok(()) => tracing::info!("TLS certificate reloaded ({why})"),
            Err(e) => tracing::error!(
                "cannot reload the TLS certificate ({why}): {e}; still serving the previous one"
            ),
        }
    }
}
