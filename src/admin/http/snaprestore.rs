//! ZooKeeper 3.9's AdminServer `snapshot` (`snap`) and `restore` (`rest`) commands
//! (3.9.5's `Commands.SnapshotCommand` / `RestoreCommand`, `JettyAdminServer.CommandServlet`),
//! which backup tooling drives with curl:
//!
//! - `GET <commandURL>/snapshot[?streaming=true|false]` takes a fuzzy snapshot into the
//!   snapshot directory (sliced off the live tree like every snapshot) and streams the file
//!   out as `application/octet-stream`, with the headers `last_zxid: 0x<hex>` and
//!   `snapshot_size: <bytes>`; `streaming=false` answers the JSON only.
//! - `POST <commandURL>/restore` with a snapshot as the body replaces the server's tree and
//!   sessions; answers `{"last_zxid" : <zxid>, "command" : "restore", "error" : null}`.
//!
//! In 3.9's order: the server must be serving (200 with the usual error otherwise), then
//! the `Authorization: <scheme> <auth>` header must authenticate (401 "Auth info is missing
//! for the command" / "Not authenticated") as an id with ALL on `/` (403 "Not authorized");
//! `digest user:password` and `ip` are the schemes that can succeed over HTTP here (x509
//! needs a client certificate, which ferrokeeper's AdminServer does not ask for). Then
//! `admin.snapshot.enabled` / `admin.restore.enabled` (503), `serializeLastProcessedZxid.enabled`
//! (500), the rate limiter (429, counted in `snapshot_rate_limited_count` /
//! `restore_rate_limited_count`). Failures answer 500 with `"error" : null`, as 3.9's do.
//!
//! One permit per `admin.rateLimiterIntervalInMS` (default 5 minutes), available from
//! start-up; 3.9.5 builds the snapshot command's limiter with `TimeUnit.MICROSECONDS`, so
//! its interval is the setting divided by 1000 (300 ms by default) — reproduced.

use std::future::Future;
use std::net::IpAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{HeaderMap, StatusCode};

use super::super::json::CommandResponse;
use super::{json_response, stream_file, HttpResponse};
use crate::jute::codes::perms;
use crate::jute::data::Acl;
use crate::pipeline::auth::{authenticate, check_acl, AclPolicy};

/// A boxed future the core side answers with.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// What the two commands need from the running server.
pub trait AdminCore: Send + Sync {
    /// `/`'s ACL, the ACL policy and `superDigest`; `None` when the core is gone.
    fn root_acl(&self) -> BoxFuture<Option<RootAcl>>;
    /// Takes a snapshot (with the 3.9 last-zxid trailer when asked) and names its file.
    fn snapshot(&self, last_processed_zxid: bool) -> BoxFuture<Result<PathBuf, String>>;
    /// Restores the snapshot in `body`; the server's zxid afterwards.
    fn restore(&self, body: Bytes) -> BoxFuture<Result<i64, String>>;
}

/// What authorization checks against.
#[derive(Debug, Clone, Default)]
pub struct RootAcl {
    pub acl: Vec<Acl>,
    pub policy: AclPolicy,
    pub super_digest: Option<String>,
}

/// 3.9's `RateLimiter(1, interval, unit)`: one permit, refilled once the interval passed.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    interval: Duration,
    state: Mutex<(Instant, u32)>,
}

impl RateLimiter {
    pub(crate) fn new(interval_ms: i64) -> RateLimiter {
        RateLimiter {
            interval: Duration::from_millis(u64::try_from(interval_ms).unwrap_or(0)),
            state: Mutex::new((Instant::now(), 1)),
        }
    }

    pub(crate) fn allow(&self) -> bool {
        let Ok(mut s) = self.state.lock() else {
            return false;
        };
        let now = Instant::now();
        if now > s.0 + self.interval {
            *s = (now, 1);
        }
        if s.1 > 0 {
            s.1 -= 1;
            true
        } else {
            false
        }
    }
}

/// `Commands#runCommand`'s auth step: `None` when allowed, else the answer.
pub(crate) async fn authorize(
    command: &str,
    headers: &HeaderMap,
    remote: Option<IpAddr>,
    core: &dyn AdminCore,
) -> Option<HttpResponse> {
    let refuse = |status: StatusCode, msg: &str| {
        Some(json_response(
            status,
            &CommandResponse::failed(command, msg),
            &[],
        ))
    };
    let Some(info) = headers.get(hyper::header::AUTHORIZATION) else {
        tracing::warn!("Auth info is missing for command");
        return refuse(
            StatusCode::UNAUTHORIZED,
            "Auth info is missing for the command",
        );
    };
    let info = String::from_utf8_lossy(info.as_bytes()).into_owned();
    // Java's `String#split(" ")`: trailing empty strings go
    let mut parts: Vec<&str> = info.split(' ').collect();
    while parts.last().is_some_and(|p| p.is_empty()) {
        parts.pop();
    }
    let not_authenticated = || refuse(StatusCode::UNAUTHORIZED, "Not authenticated");
    if parts.is_empty() || parts.len() > 2 {
        tracing::warn!("Invalid auth info length");
        return not_authenticated();
    }
    let Some(root) = core.root_acl().await else {
        return refuse(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Error occurred during auth",
        );
    };
    let ids = match (parts[0], parts.get(1)) {
        // `DigestAuthenticationProvider` decodes the bytes; without any it fails
        ("digest", Some(auth)) => authenticate(
            "digest",
            auth.as_bytes(),
            IpAddr::from([0, 0, 0, 0]),
            root.super_digest.as_deref(),
            None,
        ),
        ("ip", _) => remote.map(|ip| vec![crate::jute::data::Id::new("ip", &ip.to_string())]),
        // x509 without a client certificate, sasl (no HTTP authentication), unknown schemes
        _ => None,
    };
    let Some(ids) = ids.filter(|ids| !ids.is_empty()) else {
        tracing::warn!(scheme = parts[0], "admin command: not authenticated");
        return not_authenticated();
    };
    // `handleAuthorization`: every bit of ALL must be granted on `/`
    for bit in 0..5 {
        let perm = 1 << bit;
        if perm & perms::ALL != 0 && check_acl(&root.acl, perm, &ids, &root.policy).is_err() {
            return refuse(StatusCode::FORBIDDEN, "Not authorized");
        }
    }
    None
}

/// The flag, feature and rate-limit checks common to both commands.
fn precheck(
    command: &str,
    enabled: bool,
    serialize_last_zxid: bool,
    limiter: &RateLimiter,
) -> Option<HttpResponse> {
    let bare = |status| Some(json_response(status, &CommandResponse::new(command), &[]));
    if !enabled {
        tracing::warn!("{command} command is disabled");
        return bare(StatusCode::SERVICE_UNAVAILABLE);
    }
    if !serialize_last_zxid {
        tracing::warn!(
            "{command} command requires serializeLastProcessedZxidEnable flag is set to true"
        );
        return bare(StatusCode::INTERNAL_SERVER_ERROR);
    }
    if !limiter.allow() {
        tracing::warn!("{command} request was rate limited");
        return bare(StatusCode::TOO_MANY_REQUESTS);
    }
    None
}

/// Settings and state of the two commands.
pub(crate) struct SnapRestore {
    pub(crate) snapshot_enabled: bool,
    pub(crate) restore_enabled: bool,
    pub(crate) serialize_last_zxid: bool,
    pub(crate) snapshot_limiter: RateLimiter,
    pub(crate) restore_limiter: RateLimiter,
}

impl SnapRestore {
    pub(crate) fn new(cfg: &crate::config::ServerConfig) -> SnapRestore {
        let interval = cfg.admin_rate_limiter_interval_ms;
        SnapRestore {
            snapshot_enabled: cfg.admin_snapshot_enabled,
            restore_enabled: cfg.admin_restore_enabled,
            serialize_last_zxid: cfg.serialize_last_processed_zxid_enabled,
            // 3.9.5's `TimeUnit.MICROSECONDS`
            snapshot_limiter: RateLimiter::new(interval / 1000),
            restore_limiter: RateLimiter::new(interval),
        }
    }

    /// `SnapshotCommand#runGet`, after the auth step.
    pub(crate) async fn snapshot(
        &self,
        streaming: Option<&str>,
        core: &dyn AdminCore,
    ) -> HttpResponse {
        const NAME: &str = "snapshot";
        if let Some(r) = precheck(
            NAME,
            self.snapshot_enabled,
            self.serialize_last_zxid,
            &self.snapshot_limiter,
        ) {
            return r;
        }
        let streaming = streaming.map_or(true, |v| v.eq_ignore_ascii_case("true"));
        let failed = |e: &str| {
            tracing::warn!(
                "Exception occurred when taking the snapshot via the snapshot admin command: {e}"
            );
            json_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                &CommandResponse::new(NAME),
                &[],
            )
        };
        let path = match core.snapshot(self.serialize_last_zxid).await {
            Ok(path) => path,
            Err(e) => return failed(&e),
        };
        let zxid = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(crate::persist::snapshot::zxid_from_name)
            .unwrap_or(-1);
        let size = match std::fs::metadata(&path) {
            Ok(m) => m.len(),
            Err(e) => return failed(&e.to_string()),
        };
        let headers = [
            ("last_zxid", format!("0x{zxid:x}")),
            ("snapshot_size", size.to_string()),
        ];
        if size == 0 {
            tracing::warn!("Snapshot file {} is empty", path.display());
            return json_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                &CommandResponse::new(NAME),
                &headers,
            );
        }
        if !streaming {
            return json_response(StatusCode::OK, &CommandResponse::new(NAME), &headers);
        }
        match stream_file(&path).await {
            Ok(mut r) => {
                for (k, v) in &headers {
                    if let Ok(v) = HeaderValue::from_str(v) {
                        r.headers_mut().insert(*k, v);
                    }
                }
                r.headers_mut().insert(
                    CONTENT_TYPE,
                    HeaderValue::from_static("application/octet-stream"),
                );
                r
            }
            Err(e) => failed(&e.to_string()),
        }
    }

    /// `RestoreCommand#runPost`, after the auth step.
    pub(crate) async fn restore(&self, body: Bytes, core: &dyn AdminCore) -> HttpResponse {
        const NAME: &str = "restore";
        if let Some(r) = precheck(
            NAME,
            self.restore_enabled,
            self.serialize_last_zxid,
            &self.restore_limiter,
        ) {
            return r;
        }
        match core.restore(body).await {
            Ok(zxid) => {
                let mut r = CommandResponse::new(NAME);
                r.data.put("last_zxid", zxid);
                json_response(StatusCode::OK, &r, &[])
            }
            Err(e) => {
                tracing::warn!(
                    "Exception occurred when restore snapshot via the restore command: {e}"
                );
                json_response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &CommandResponse::new(NAME),
                    &[],
                )
            }
        }
    }
}
