//! The HTTP client the OpenID Connect exchange runs on (discovery, the provider's keys and the
//! token endpoint), and that webhooks are delivered with ([`crate::webhooks`]).
//!
//! One HTTP/1.1 request per connection on hyper (axum's own HTTP stack), TLS by rustls with the
//! system's trust store (`SSL_CERT_FILE` / `SSL_CERT_DIR` point it elsewhere). It follows no
//! redirects (the provider's endpoints are named exactly in its discovery document, and a
//! redirect followed blindly is a way to make the server fetch what someone else chose), bounds
//! every request in time and every answer in size, and speaks plain `http://` only to loopback
//! addresses unless told otherwise ([`HttpClient::allowing_plain_http`], for webhook URLs the
//! operator chose).

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use openidconnect::{AsyncHttpClient, HttpRequest, HttpResponse};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// How long one request may take, connecting and TLS included, unless
/// [`HttpClient::with_timeout`] says otherwise.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Largest answer read from the provider. Discovery documents and key sets are a few KiB.
const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// Why a request to the provider failed.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("the URL {0} has no host")]
    NoHost(String),
    #[error(
        "{0} is plain http to a host that is not this machine; the provider must be reached \
         over https (http is for a provider on a loopback address, in tests)"
    )]
    Insecure(String),
    #[error("{0} is https, but no trusted root certificates were found on this machine")]
    NoRoots(String),
    #[error("unsupported URL scheme in {0}")]
    Scheme(String),
    #[error("cannot connect to {host}: {source}")]
    Connect { host: String, source: std::io::Error },
    #[error("TLS with {host} failed: {source}")]
    Tls { host: String, source: std::io::Error },
    #[error("HTTP with {host} failed: {source}")]
    Http { host: String, source: hyper::Error },
    #[error("the answer from {host} was cut off or too large (limit {MAX_RESPONSE_BYTES} bytes)")]
    Body { host: String },
    #[error("{host} did not answer within {timeout:?}")]
    Timeout { host: String, timeout: Duration },
    #[error("bad request: {0}")]
    Request(#[from] hyper::http::Error),
}

/// The provider client: cheap to clone.
#[derive(Clone)]
pub struct HttpClient {
    tls: Option<tokio_rustls::TlsConnector>,
    /// Bound on one request, connecting and TLS included.
    timeout: Duration,
    /// Plain `http://` to any host, not only loopback ones.
    plain_http_anywhere: bool,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient")
            .field("tls", &self.tls.is_some())
            .field("timeout", &self.timeout)
            .field("plain_http_anywhere", &self.plain_http_anywhere)
            .finish()
    }
}

impl HttpClient {
    /// A client trusting the system's root certificates. Without any (a minimal container),
    /// it still reaches loopback `http://` providers, and says so when asked for `https://`.
    pub fn with_system_roots() -> Self {
        let found = rustls_native_certs::load_native_certs();
        for error in &found.errors {
            tracing::debug!(%error, "could not read a system root certificate");
        }
        let mut roots = rustls::RootCertStore::empty();
        let (added, _ignored) = roots.add_parsable_certificates(found.certs);
        if added == 0 {
            return Self::without_tls();
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("the aws-lc-rs provider supports the default TLS versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        Self {
            tls: Some(tokio_rustls::TlsConnector::from(Arc::new(config))),
            ..Self::without_tls()
        }
    }

    /// A client for loopback `http://` only.
    fn without_tls() -> Self {
        Self { tls: None, timeout: REQUEST_TIMEOUT, plain_http_anywhere: false }
    }

    /// The same client, with each request bounded by `timeout` instead.
    pub(crate) fn with_timeout(self, timeout: Duration) -> Self {
        Self { timeout, ..self }
    }

    /// The same client, speaking plain `http://` to any host: for URLs the operator wrote into
    /// the configuration, not ones a third party handed us.
    pub(crate) fn allowing_plain_http(self) -> Self {
        Self { plain_http_anywhere: true, ..self }
    }

    /// One request and its answer (bounded in time and size; redirects are not followed).
    pub(crate) async fn send(&self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
        let uri = request.uri().clone();
        let host = uri.host().ok_or_else(|| HttpError::NoHost(uri.to_string()))?.to_string();
        let bare = host.trim_start_matches('[').trim_end_matches(']').to_string();
        let secure = match uri.scheme_str() {
            Some("https") => true,
            Some("http") if self.plain_http_anywhere || is_loopback_host(&bare) => false,
            Some("http") => return Err(HttpError::Insecure(uri.to_string())),
            _ => return Err(HttpError::Scheme(uri.to_string())),
        };
        let port = uri.port_u16().unwrap_or(if secure { 443 } else { 80 });
        let authority = uri.authority().map_or(host.clone(), |a| a.as_str().to_string());
        // Errors name the host with its port.
        let host = authority.clone();
        let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_string();

        let (parts, body) = request.into_parts();
        let mut outgoing = hyper::Request::builder().method(parts.method).uri(path);
        for (name, value) in &parts.headers {
            outgoing = outgoing.header(name, value);
        }
        let outgoing =
            outgoing.header(hyper::header::HOST, authority).body(Full::new(Bytes::from(body)))?;

        let tls = match (secure, &self.tls) {
            (false, _) => None,
            (true, Some(tls)) => Some(tls),
            (true, None) => return Err(HttpError::NoRoots(uri.to_string())),
        };
        let exchange = async {
            let tcp = TcpStream::connect((bare.as_str(), port))
                .await
                .map_err(|source| HttpError::Connect { host: host.clone(), source })?;
            let Some(tls) = tls else {
                return exchange(&host, tcp, outgoing).await;
            };
            let name = match bare.parse::<IpAddr>() {
                Ok(ip) => ServerName::IpAddress(ip.into()),
                Err(_) => ServerName::try_from(bare.clone()).map_err(|e| HttpError::Tls {
                    host: host.clone(),
                    source: std::io::Error::new(std::io::ErrorKind::InvalidInput, e),
                })?,
            };
            let stream = tls
                .connect(name, tcp)
                .await
                .map_err(|source| HttpError::Tls { host: host.clone(), source })?;
            exchange(&host, stream, outgoing).await
        };
        let timeout = self.timeout;
        tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| HttpError::Timeout { host: host.clone(), timeout })?
    }
}

/// One request and its answer over `stream`.
async fn exchange<S>(
    host: &str,
    stream: S,
    request: hyper::Request<Full<Bytes>>,
) -> Result<HttpResponse, HttpError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let http = |source| HttpError::Http { host: host.to_string(), source };
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(http)?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!(%error, "outgoing HTTP connection ended");
        }
    });
    let response = sender.send_request(request).await.map_err(http)?;
    let (parts, body) = response.into_parts();
    let bytes = Limited::new(body, MAX_RESPONSE_BYTES)
        .collect()
        .await
        .map_err(|_| HttpError::Body { host: host.to_string() })?
        .to_bytes();
    Ok(HttpResponse::from_parts(parts, bytes.to_vec()))
}

/// `localhost`, `127.0.0.0/8` or `::1`: a provider on this machine.
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

impl<'c> AsyncHttpClient<'c> for HttpClient {
    type Error = HttpError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, HttpError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(self.send(request))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_this_machine_counts_as_loopback() {
        for host in ["localhost", "127.0.0.1", "127.8.0.1", "[::1]", "::1", "LOCALHOST"] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in ["example.org", "10.0.0.1", "localhost.example.org", "[::2]", "0.0.0.0"] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }

    #[tokio::test]
    async fn plain_http_elsewhere_and_https_without_roots_are_refused_before_connecting() {
        let client = HttpClient::without_tls();
        let request =
            hyper::Request::get("http://idp.example.org/.well-known/openid-configuration")
                .body(Vec::new())
                .unwrap();
        assert!(matches!(client.send(request).await, Err(HttpError::Insecure(_))));
        let request = hyper::Request::get("https://idp.example.org/x").body(Vec::new()).unwrap();
        assert!(matches!(client.send(request).await, Err(HttpError::NoRoots(_))));
    }
}
