//! The AdminServer: 3.8.0's command API over HTTP (`server/admin/JettyAdminServer`,
//! `Commands`, `CommandResponse`, `JsonOutputter`), on hyper's HTTP/1.1 server.
//!
//! Plain HTTP by default; HTTPS, alone or next to plain HTTP on the same port, with
//! `admin.forceHttps` / `admin.portUnification` ([`https`]).
//!
//! `GET <commandURL>` (or `<commandURL>/`) lists the commands as links; `GET
//! <commandURL>/<name>?k=v` runs the command named by any of its aliases and answers 200 with
//! its JSON, including unknown commands (`"error" : "Unknown command: x"`). Other paths are
//! 404, other methods than GET/HEAD are 405, as Jetty answers.
//!
//! Invariants: the data comes from a [`ServerView`] obtained per request through a
//! [`ViewSource`] (built inside the core task, so no locks); when the core cannot answer, the
//! server is reported as not serving. `crst` asks the source to reset the connections'
//! counters while it builds the view. The trace mask set by `set_trace_mask` lives in the
//! admin server (ferrokeeper has no `ZooTrace`). Bind failures are start-up errors, as in
//! `ZooKeeperServerMain#runFromConfig`.

mod commands;
mod ensemble;
mod https;
mod snaprestore;
mod sysprops;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::AtomicI64;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE, STRICT_TRANSPORT_SECURITY};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::stats::ServerStats;
use super::view::ServerView;
use crate::config::ServerConfig;
use crate::tls::TlsError;
use https::{AdminTls, Transport};
use snaprestore::SnapRestore;
pub use snaprestore::{AdminCore, BoxFuture, RootAcl};

/// What the admin server asks of the core along with a view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ViewRequest {
    Plain,
    /// `crst`: reset every connection's counters first (`ServerCnxnFactory#resetAllConnectionStats`).
    ResetConnectionStats,
    /// `orst`: reset the observers' learner handler counters first
    /// (`Leader#resetObserverConnectionStats`).
    ResetObserverConnectionStats,
}

/// A fresh [`ServerView`] from the running server; `None` when the core is gone.
pub type ViewSource = Arc<
    dyn Fn(ViewRequest) -> Pin<Box<dyn Future<Output = Option<ServerView>> + Send>> + Send + Sync,
>;

/// Why the admin or metrics endpoint could not start.
#[derive(Debug, thiserror::Error)]
pub enum HttpEndpointError {
    #[error("{what}: invalid port {port}")]
    Port { what: &'static str, port: String },
    #[error("{what}: cannot resolve {host}: {source}")]
    Resolve {
        what: &'static str,
        host: String,
        source: std::io::Error,
    },
    #[error("{what}: cannot bind {addr}: {source}")]
    Bind {
        what: &'static str,
        addr: SocketAddr,
        source: std::io::Error,
    },
    /// `admin.portUnification` / `admin.forceHttps` with stores that cannot be used (boxed:
    /// it is large, and rare).
    #[error("AdminServer HTTPS: {0}")]
    Tls(Box<TlsError>),
}

/// `ZooTrace`'s initial text trace mask (what `gtmk` reports on a fresh server).
const DEFAULT_TRACE_MASK: i64 = 306;

pub(crate) type HttpResponse = Response<BoxBody<Bytes, std::io::Error>>;

/// A whole body in memory.
pub(crate) fn full_body(bytes: impl Into<Bytes>) -> BoxBody<Bytes, std::io::Error> {
    Full::new(bytes.into())
        .map_err(|never: Infallible| match never {})
        .boxed()
}

/// A file sent as it is read, in 64 KiB frames (`StreamOutputter`).
pub(crate) async fn stream_file(path: &std::path::Path) -> std::io::Result<HttpResponse> {
    let file = tokio::fs::File::open(path).await?;
    let stream = tokio_util::io::ReaderStream::with_capacity(file, 64 * 1024);
    let body = http_body_util::StreamBody::new(futures::StreamExt::map(stream, |chunk| {
        chunk.map(hyper::body::Frame::data)
    }));
    Ok(Response::new(BodyExt::boxed(body)))
}

/// A command's JSON answer with `status` and extra `headers` (3.9's `CommandResponse`).
pub(crate) fn json_response(
    status: StatusCode,
    answer: &super::json::CommandResponse,
    headers: &[(&'static str, String)],
) -> HttpResponse {
    let mut r = response(
        status,
        Some("application/json"),
        answer.to_json().to_pretty(),
    );
    for (k, v) in headers {
        if let Ok(v) = HeaderValue::from_str(v) {
            r.headers_mut().insert(*k, v);
        }
    }
    r
}

/// Longest `restore` body taken: a snapshot larger than this is refused (413).
const MAX_RESTORE_BODY: usize = 1 << 30;

/// Resolves `host:port` (a literal or a name) and binds it.
pub(crate) async fn bind(
    what: &'static str,
    host: &str,
    port: u16,
) -> Result<TcpListener, HttpEndpointError> {
    let addr = match host.parse::<IpAddr>() {
        Ok(ip) => SocketAddr::new(ip, port),
        Err(_) => {
            let resolve = |source| HttpEndpointError::Resolve {
                what,
                host: host.to_owned(),
                source,
            };
            let mut addrs = tokio::net::lookup_host((host, port))
                .await
                .map_err(resolve)?;
            addrs.next().ok_or_else(|| {
                resolve(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "no address",
                ))
            })?
        }
    };
    TcpListener::bind(addr)
        .await
        .map_err(|source| HttpEndpointError::Bind { what, addr, source })
}

/// A request as the handlers see it: method, decoded path, raw query.
pub(crate) struct Req {
    pub(crate) method: Method,
    pub(crate) path: String,
    pub(crate) query: String,
    pub(crate) headers: hyper::HeaderMap,
    /// The peer's address (the `ip` scheme's id).
    pub(crate) remote: Option<IpAddr>,
    /// The request body, not yet read.
    pub(crate) body: Option<Incoming>,
}

/// Accepts HTTP/1.1 connections until `shutdown`, answering each request with `handler`.
pub(crate) async fn serve<H, F>(
    listener: TcpListener,
    idle_timeout: Duration,
    shutdown: CancellationToken,
    handler: H,
) where
    H: Fn(Req) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = HttpResponse> + Send + 'static,
{
    serve_with(listener, idle_timeout, None, shutdown, handler).await;
}

/// The admin port's TLS and the counter its plain connections go to.
struct Https {
    tls: AdminTls,
    stats: Arc<ServerStats>,
    /// Bounds the TLS detection and handshake: `admin.idleTimeout`, as Jetty's idle timeout
    /// covers a handshake, or [`DEFAULT_IDLE_TIMEOUT`] when that is 0 (no limit in Jetty).
    handshake_timeout: Duration,
}

/// `SecureRequestCustomizer` with `setStsMaxAge(1 day)` and `setStsIncludeSubDomains(true)`:
/// sent with every answer over TLS.
const STS: &str = "max-age=86400; includeSubDomains";
const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// [`serve`], with HTTPS per `https`; each connection's TLS handshake runs on its own task.
async fn serve_with<H, F>(
    listener: TcpListener,
    idle_timeout: Duration,
    https: Option<Arc<Https>>,
    shutdown: CancellationToken,
    handler: H,
) where
    H: Fn(Req) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = HttpResponse> + Send + 'static,
{
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!("admin http accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let handler = handler.clone();
        let shutdown = shutdown.clone();
        let https = https.clone();
        tokio::spawn(async move {
            let work = async move {
                let Some(h) = https else {
                    return serve_connection(stream, peer, false, idle_timeout, handler).await;
                };
                match h
                    .tls
                    .accept(stream, peer, h.handshake_timeout, &h.stats)
                    .await
                {
                    Some(Transport::Plain(s)) => {
                        serve_connection(s, peer, false, idle_timeout, handler).await;
                    }
                    Some(Transport::Tls(s)) => {
                        serve_connection(s, peer, true, idle_timeout, handler).await
                    }
                    None => {}
                }
            };
            tokio::select! {
                _ = shutdown.cancelled() => {}
                _ = work => {}
            }
        });
    }
}

/// One HTTP/1.1 connection over `io`, plain or decrypted; `secure` adds Jetty's STS header.
async fn serve_connection<I, H, F>(
    io: I,
    peer: SocketAddr,
    secure: bool,
    idle_timeout: Duration,
    handler: H,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    H: Fn(Req) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = HttpResponse> + Send + 'static,
{
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let (parts, body) = req.into_parts();
        let req = Req {
            method: parts.method,
            path: percent_decode(parts.uri.path(), false),
            query: parts.uri.query().unwrap_or("").to_owned(),
            headers: parts.headers,
            remote: Some(peer.ip()),
            body: Some(body),
        };
        let answer = handler(req);
        async move {
            let mut response = answer.await;
            if secure {
                response
                    .headers_mut()
                    .insert(STRICT_TRANSPORT_SECURITY, HeaderValue::from_static(STS));
            }
            Ok::<_, Infallible>(response)
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new());
    if !idle_timeout.is_zero() {
        builder.header_read_timeout(idle_timeout);
    }
    // a failed connection (reset, bad request line) concerns that client only
    let _ = builder.serve_connection(TokioIo::new(io), service).await;
}

/// `%XX` decoding (and `+` as space in query strings); bad escapes stay as they are.
pub(crate) fn percent_decode(s: &str, plus_as_space: bool) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let hex = |j: usize| {
            bytes
                .get(j)
                .and_then(|c| char::from(*c).to_digit(16))
                .and_then(|d| u8::try_from(d).ok())
        };
        match b {
            b'%' => match (hex(i + 1), hex(i + 2)) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 3;
                    continue;
                }
                _ => out.push(b),
            },
            b'+' if plus_as_space => out.push(b' '),
            _ => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Query parameters, the first value of each (`CommandServlet#doGet` keeps `values[0]`).
pub(crate) fn query_params(query: &str) -> BTreeMap<String, String> {
    let mut params = BTreeMap::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        params
            .entry(percent_decode(k, true))
            .or_insert_with(|| percent_decode(v, true));
    }
    params
}

fn response(status: StatusCode, content_type: Option<&'static str>, body: String) -> HttpResponse {
    let mut r = Response::new(full_body(body));
    *r.status_mut() = status;
    if let Some(ct) = content_type {
        r.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static(ct));
    }
    r
}

/// Jetty's error page for 404 and 405.
pub(crate) fn error_page(status: StatusCode, uri: &str, message: &str) -> HttpResponse {
    let code = status.as_u16();
    let uri = uri
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    let body = format!(
        "<html>\n<head>\n<meta http-equiv=\"Content-Type\" content=\"text/html;charset=ISO-8859-1\"/>\n<title>Error {code} {message}</title>\n</head>\n<body><h2>HTTP ERROR {code} {message}</h2>\n<table>\n<tr><th>URI:</th><td>{uri}</td></tr>\n<tr><th>STATUS:</th><td>{code}</td></tr>\n<tr><th>MESSAGE:</th><td>{message}</td></tr>\n</table>\n\n</body>\n</html>\n"
    );
    let mut r = response(status, Some("text/html;charset=iso-8859-1"), body);
    r.headers_mut().insert(
        CACHE_CONTROL,
        HeaderValue::from_static("must-revalidate,no-cache,no-store"),
    );
    r
}

/// `JettyAdminServer#commandLinks`, each printed with `println` and a `<br/>`.
fn command_links(command_url: &str) -> String {
    commands::primary_names()
        .into_iter()
        .map(|n| format!("<a href=\"{command_url}/{n}\">{n}</a>\n<br/>\n"))
        .collect()
}

/// The bound but not yet serving admin server.
pub struct AdminServer {
    listener: TcpListener,
    command_url: String,
    idle_timeout: Duration,
    tls: Option<AdminTls>,
}

struct AdminState {
    command_url: String,
    source: ViewSource,
    config: Arc<ServerConfig>,
    stats: Arc<ServerStats>,
    trace_mask: AtomicI64,
    /// Runs 3.9's `snapshot` and `restore`; `None` leaves them unknown commands.
    core: Option<Arc<dyn AdminCore>>,
    snap_restore: SnapRestore,
}

impl AdminServer {
    /// Loads the HTTPS stores if asked for (as `JettyAdminServer`'s constructor does, before
    /// binding) and binds `admin.serverAddress:admin.serverPort`; `None` when
    /// `admin.enableServer=false`.
    pub async fn bind(cfg: &ServerConfig) -> Result<Option<AdminServer>, HttpEndpointError> {
        if !cfg.admin_enable_server {
            return Ok(None);
        }
        let tls = AdminTls::load(cfg).map_err(|e| HttpEndpointError::Tls(Box::new(e)))?;
        let what = "AdminServer";
        let port = u16::try_from(cfg.admin_server_port).map_err(|_| HttpEndpointError::Port {
            what,
            port: cfg.admin_server_port.to_string(),
        })?;
        let listener = bind(what, &cfg.admin_server_address, port).await?;
        Ok(Some(AdminServer {
            listener,
            command_url: cfg.admin_command_url.clone(),
            idle_timeout: Duration::from_millis(
                u64::try_from(cfg.admin_idle_timeout_ms).unwrap_or(0),
            ),
            tls,
        }))
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown`.
    pub fn spawn(
        self,
        config: Arc<ServerConfig>,
        stats: Arc<ServerStats>,
        source: ViewSource,
        core: Option<Arc<dyn AdminCore>>,
        shutdown: CancellationToken,
    ) -> JoinHandle<()> {
        if let Ok(addr) = self.listener.local_addr() {
            tracing::info!(
                "Started AdminServer on address {}, port {} and command URL {}",
                addr.ip(),
                addr.port(),
                self.command_url
            );
        }
        let https = self.tls.map(|tls| {
            tracing::info!("AdminServer serves {}", tls.mode());
            let handshake_timeout = if self.idle_timeout.is_zero() {
                DEFAULT_IDLE_TIMEOUT
            } else {
                self.idle_timeout
            };
            Arc::new(Https {
                tls,
                stats: stats.clone(),
                handshake_timeout,
            })
        });
        let snap_restore = SnapRestore::new(&config);
        let state = Arc::new(AdminState {
            command_url: self.command_url,
            source,
            core,
            snap_restore,
            config,
            stats,
            trace_mask: AtomicI64::new(DEFAULT_TRACE_MASK),
        });
        let handler = move |req: Req| {
            let state = state.clone();
            async move { state.handle(req).await }
        };
        tokio::spawn(serve_with(
            self.listener,
            self.idle_timeout,
            https,
            shutdown,
            handler,
        ))
    }
}

impl AdminState {
    async fn handle(&self, mut req: Req) -> HttpResponse {
        // Jetty maps the servlet at `<commandURL>/*`, which also matches `<commandURL>`.
        let rest = match req.path.strip_prefix(self.command_url.as_str()) {
            Some(rest) if rest.is_empty() || rest.starts_with('/') => rest,
            _ => return error_page(StatusCode::NOT_FOUND, &req.path, "Not Found"),
        };
        let post = req.method == Method::POST && self.core.is_some();
        if req.method != Method::GET && req.method != Method::HEAD && !post {
            let msg = format!("HTTP method {} is not supported by this URL", req.method);
            return error_page(StatusCode::METHOD_NOT_ALLOWED, &req.path, &msg);
        }
        let name = rest.strip_prefix('/').unwrap_or(rest).to_owned();
        if name.is_empty() {
            return response(StatusCode::OK, None, command_links(&self.command_url));
        }
        if let Some(core) = self.core.clone() {
            if let Some(answer) = self.run_39(&name, post, &mut req, core.as_ref()).await {
                return answer;
            }
        } else if post {
            return error_page(
                StatusCode::METHOD_NOT_ALLOWED,
                &req.path,
                "Method Not Allowed",
            );
        }
        let answer = self.run(&name, &query_params(&req.query)).await;
        response(
            StatusCode::OK,
            Some("application/json"),
            answer.to_json().to_pretty(),
        )
    }

    /// 3.9's `snapshot` and `restore` (a GET of `restore` or a POST of `snapshot` fails with
    /// 500, as 3.9's servlet does on the null response); a POST of any other command is
    /// 405, as in 3.8. `None`: answer as 3.8.
    async fn run_39(
        &self,
        name: &str,
        post: bool,
        req: &mut Req,
        core: &dyn AdminCore,
    ) -> Option<HttpResponse> {
        let primary = match name {
            "snapshot" | "snap" => "snapshot",
            "restore" | "rest" => "restore",
            // 3.8's servlet has no doPost: its commands keep answering 405 (3.9 fails with 500)
            _ if post => {
                let msg = "HTTP method POST is not supported by this URL";
                return Some(error_page(StatusCode::METHOD_NOT_ALLOWED, &req.path, msg));
            }
            _ => return None,
        };
        if (primary == "restore") != post {
            // a GET of `restore` or a POST of `snapshot`: the other run method gives null
            return Some(error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                &req.path,
                "Server Error",
            ));
        }
        let serving = (self.source)(ViewRequest::Plain)
            .await
            .is_some_and(|v| v.serving);
        if !serving {
            let r = super::json::CommandResponse::failed(
                primary,
                "This ZooKeeper instance is not currently serving requests",
            );
            return Some(json_response(StatusCode::OK, &r, &[]));
        }
        if let Some(refused) = snaprestore::authorize(primary, &req.headers, req.remote, core).await
        {
            return Some(refused);
        }
        if primary == "snapshot" {
            let params = query_params(&req.query);
            let streaming = params.get("streaming").map(String::as_str);
            return Some(self.snap_restore.snapshot(streaming, core).await);
        }
        let body = match req.body.take() {
            Some(b) => {
                http_body_util::Limited::new(b, MAX_RESTORE_BODY)
                    .collect()
                    .await
            }
            None => {
                return Some(error_page(
                    StatusCode::BAD_REQUEST,
                    &req.path,
                    "Bad Request",
                ))
            }
        };
        let body = match body {
            Ok(b) => b.to_bytes(),
            Err(e) => {
                tracing::warn!("restore: cannot read the request body: {e}");
                return Some(json_response(
                    StatusCode::BAD_REQUEST,
                    &super::json::CommandResponse::new(primary),
                    &[],
                ));
            }
        };
        Some(self.snap_restore.restore(body, core).await)
    }

    async fn run(
        &self,
        name: &str,
        kwargs: &BTreeMap<String, String>,
    ) -> super::json::CommandResponse {
        let request = match commands::find(name) {
            None => return commands::unknown(name),
            Some(c) if c.primary() == "connection_stat_reset" => ViewRequest::ResetConnectionStats,
            Some(c) if c.primary() == "observer_connection_stat_reset" => {
                ViewRequest::ResetObserverConnectionStats
            }
            Some(_) => ViewRequest::Plain,
        };
        let view = (self.source)(request).await.unwrap_or_else(|| {
            let mut idle = ServerView::idle(self.config.clone(), self.stats.clone());
            idle.serving = false;
            idle
        });
        let ctx = commands::Ctx {
            view: &view,
            kwargs,
            trace_mask: &self.trace_mask,
        };
        commands::run(name, &ctx)
    }
}
