//! Assembly (`ZooKeeperServerMain` / `QuorumPeerMain`): config → client listener, admin and
//! metrics endpoints → a standalone core over the recovered data directory, or the ensemble
//! peer loop ([`ensemble`]) when zoo.cfg lists a distributed ensemble; shutdown on
//! SIGINT/SIGTERM.
//!
//! Listeners start in the reference's order, and a taken port ends the same way
//! ([`ExitCode`]): the metrics provider first in both modes (`UNEXPECTED_ERROR`); standalone,
//! the AdminServer before the client ports (`ERROR_STARTING_ADMIN_SERVER`, then
//! `UNEXPECTED_ERROR`, `ZooKeeperServerMain#runFromConfig`); in an ensemble the client ports
//! (`UNEXPECTED_ERROR`, `QuorumPeerMain#runFromConfig`), then the AdminServer, whose failure
//! is only a warning (`QuorumPeer#start`) unless its HTTPS key store is unusable, then the election port in the background
//! (`UNABLE_TO_BIND_QUORUM_PORT` once its retries are used up). A leader's quorum port that
//! cannot be bound means another election, never an exit ([`ensemble`]).
//!
//! The client ports are `clientPort` (plaintext, or TLS and plaintext with
//! `client.portUnification`) and `secureClientPort` (TLS only), either or both. Their TLS
//! material (`ssl.*`) is loaded once, before any port is bound: a key store, trust store or
//! password that does not work stops start-up naming the key and the file (exit 2, as an
//! invalid zoo.cfg; 3.8 would start and fail every TLS handshake). The store files are then
//! watched, and new handshakes use a rotated certificate.

mod ensemble;
mod exit;
mod four_letter;
mod storage;

pub use exit::ExitCode;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::admin::http::{
    AdminCore, AdminServer, BoxFuture, HttpEndpointError, RootAcl, ViewRequest, ViewSource,
};
use crate::admin::prometheus::MetricsServer;
use crate::admin::ServerStats;
use crate::config::ServerConfig;
use crate::conn::{self, ClientListener, ClientTls, ConnIds, ConnLimits};
use crate::pipeline::auth::{AclPolicy, Providers};
use crate::pipeline::core::{AdminRestore, AdminSnapshot};
use crate::pipeline::log_stage::LogStage;
use crate::pipeline::prep::PrepConfig;
use crate::pipeline::{self, CoreConfig, CoreMsg, CoreState};
use crate::sasl::server::ClientSasl;
use crate::tls::{TlsContextKind, TlsSettings, TlsSource};
use crate::tree::{EphemeralOptions, TreeOptions};

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("neither clientPort nor secureClientPort is configured: a server needs one")]
    NoClientPort,
    /// A standalone server's AdminServer could not start (`AdminServerException`).
    #[error(
        "Problem starting AdminServer on address {address}, port {port} and command URL \
         {command_url}: {source}"
    )]
    AdminServer {
        address: String,
        port: i32,
        command_url: String,
        source: HttpEndpointError,
    },
    /// `MetricsProviderBootstrap#startMetricsProvider` failed (the `/metrics` port).
    #[error("Cannot boot MetricsProvider {class}: {source}")]
    MetricsProvider {
        class: String,
        source: HttpEndpointError,
    },
    /// No election address could be bound within `electionPortBindRetry` attempts.
    #[error(
        "As I'm leaving the listener thread, I won't be able to participate in leader \
         election any longer: {source}"
    )]
    ElectionPort {
        source: crate::quorum::cnxmgr::CnxError,
    },
    #[error("cannot bind the {what} {addr}: {source}")]
    Bind {
        /// "client port" or "secure client port".
        what: &'static str,
        addr: SocketAddr,
        source: std::io::Error,
    },
    /// The client port's TLS settings or stores are unusable.
    #[error("client port TLS: {0}")]
    Tls(#[from] crate::tls::TlsError),
    #[error(transparent)]
    Storage(#[from] storage::StorageError),
    #[error("start-up failed: {0}")]
    Startup(String),
    #[error("stopping: {0}")]
    Fatal(#[from] crate::pipeline::FatalError),
}

/// A started server; dropping the handle does not stop it — call [`RunningServer::shutdown`].
pub struct RunningServer {
    /// `clientPort`'s address; `secureClientPort`'s when only that one is configured.
    pub client_addr: SocketAddr,
    /// `secureClientPort`'s address, when configured.
    pub secure_client_addr: Option<SocketAddr>,
    /// The AdminServer's address; None with `admin.enableServer=false`.
    pub admin_addr: Option<SocketAddr>,
    /// Prometheus `/metrics`; None unless that metrics provider is configured.
    pub metrics_addr: Option<SocketAddr>,
    shutdown: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
    /// The core; it ends once every connection is gone, after the log has written what it holds.
    core: JoinHandle<Result<(), ServerError>>,
}

impl RunningServer {
    /// Stop accepting, close every connection, and wait until the txn log is flushed.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        for t in self.tasks {
            let _ = t.await;
        }
        let _ = self.core.await;
    }
}

/// How long a signalled server may take to close connections and flush its log.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// zoo.cfg holds Java ints; a negative count or size means none.
fn non_negative(v: i32) -> usize {
    usize::try_from(v).unwrap_or(0)
}

fn core_config(cfg: &ServerConfig) -> CoreConfig {
    CoreConfig {
        myid: 0,
        tick_time_ms: i64::from(cfg.tick_time_ms),
        min_session_timeout_ms: cfg.min_session_timeout_ms,
        max_session_timeout_ms: cfg.max_session_timeout_ms,
        super_digest: cfg.super_digest.clone(),
        enforce_auth_schemes: cfg.enforce_auth_schemes.clone(),
        prep: PrepConfig {
            acl: AclPolicy {
                skip_acl: cfg.skip_acl,
                let_any_sasl_user_do_x: cfg.sasl.let_any_sasl_user_do_x.clone(),
            },
            extended_types_enabled: cfg.extended_types_enabled,
            enforce_quota: cfg.enforce_quota,
            reconfig_enabled: cfg.reconfig_enabled,
            standalone_enabled: cfg.standalone_enabled,
            digest_enabled: cfg.digest_enabled,
            providers: Providers {
                x509: cfg.x509_auth_provider,
                sasl: cfg.sasl.provider,
            },
        },
        digest_enabled: cfg.digest_enabled,
        container_check_interval_ms: non_negative(cfg.container_check_interval_ms) as u64,
        container_max_per_minute: non_negative(cfg.container_max_per_minute) as u64,
        container_max_never_used_interval_ms: cfg.container_max_never_used_interval_ms,
        local_sessions: false,
        local_sessions_upgrading: false,
    }
}

fn tree_options(cfg: &ServerConfig) -> TreeOptions {
    TreeOptions {
        digest_enabled: cfg.digest_enabled,
        ephemeral: EphemeralOptions {
            extended_types_enabled: cfg.extended_types_enabled,
            emulate_353_ttl: cfg.emulate_353_ttl_nodes,
        },
    }
}

/// The client port: `clientPort`, else the `;port` of our own `server.N` line.
fn client_addr(cfg: &ServerConfig) -> Option<SocketAddr> {
    let ip = cfg
        .client_port_address
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    if let Some(port) = cfg.client_port {
        return Some(SocketAddr::new(ip, port));
    }
    let (host, port) = cfg
        .my_id
        .and_then(|id| cfg.servers.get(&id))
        .and_then(|s| s.client_address.clone())?;
    let ip = host.parse().unwrap_or(ip);
    Some(SocketAddr::new(ip, port))
}

/// How often the client port's key and trust store files are checked for a rotation: two
/// `stat` calls, cheap enough to do often, so that a rotated certificate is in use within a
/// couple of seconds (3.9's cert-file watcher reacts to inotify events about as fast), and
/// rare enough that a store written in several steps is usually complete when it is read
/// (a half-written store fails to load and is retried on its next change).
const CLIENT_CERT_RELOAD_PERIOD: Duration = Duration::from_secs(2);

/// The client ports' TLS material, when a port needs it (`secureClientPort`,
/// `client.portUnification`).
fn client_tls_source(cfg: &ServerConfig) -> Result<Option<Arc<TlsSource>>, ServerError> {
    if cfg.secure_client_port.is_none() && !cfg.client_port_unification {
        return Ok(None);
    }
    let settings = TlsSettings::from_config(TlsContextKind::Client, cfg)?;
    let source = TlsSource::load(settings)?;
    // a listener's config needs a key store (and, with clientAuth, a trust store): fail now
    source.server_config()?;
    Ok(Some(source))
}

fn client_tls(cfg: &ServerConfig, source: &Arc<TlsSource>, unified: bool) -> Arc<ClientTls> {
    Arc::new(ClientTls {
        source: source.clone(),
        unified,
        x509_provider: cfg.x509_auth_provider,
        super_user: cfg.x509_super_user.clone(),
    })
}

/// Bind `addr` for the `what` port.
fn bind_client_port(what: &'static str, addr: SocketAddr) -> Result<TcpListener, ServerError> {
    let bound = |source| ServerError::Bind { what, addr, source };
    let listener = conn::bind(addr).map_err(bound)?;
    listener.local_addr().map_err(bound)?;
    Ok(listener)
}

/// Bind and start; returns once the client ports accept connections.
pub async fn start(cfg: ServerConfig) -> Result<RunningServer, ServerError> {
    let standalone = cfg.is_standalone();
    let tls_source = client_tls_source(&cfg)?;
    // `QuorumPeerConfig#parse`: the membership, a pending config (`zoo.cfg.dynamic.next`) and
    // the zoo.cfg backup come before any port is bound
    let peer_configs = if standalone {
        None
    } else {
        Some(ensemble::peer_configs(&cfg)?)
    };
    // the login is part of configuring the connection factory: before any port is bound
    let client_sasl =
        ClientSasl::from_config(&cfg).map_err(|e| ServerError::Startup(e.to_string()))?;
    // both mains boot the metrics provider before anything else
    let metrics =
        MetricsServer::bind(&cfg)
            .await
            .map_err(|source| ServerError::MetricsProvider {
                class: cfg.metrics_provider_class_name.clone(),
                source,
            })?;
    // `ZooKeeperServerMain#runFromConfig` starts the AdminServer before the client port
    let mut admin = if standalone {
        AdminServer::bind(&cfg)
            .await
            .map_err(|source| admin_error(&cfg, source))?
    } else {
        None
    };
    // a bad ssl.quorum.* store stops the server before it binds the client port
    let quorum_tls = if standalone {
        crate::quorum::tls::QuorumTls::plaintext()
    } else {
        ensemble::quorum_tls(&cfg).await?
    };
    let mut listeners = Vec::new();
    if let Some(addr) = client_addr(&cfg) {
        let tls = match &tls_source {
            Some(source) if cfg.client_port_unification => Some(client_tls(&cfg, source, true)),
            _ => None,
        };
        listeners.push(ClientListener {
            listener: bind_client_port("client port", addr)?,
            tls,
            secure: false,
            moves: None,
        });
    }
    if let (Some(port), Some(source)) = (cfg.secure_client_port, &tls_source) {
        let ip = cfg
            .secure_client_port_address
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        listeners.push(ClientListener {
            listener: bind_client_port("secure client port", SocketAddr::new(ip, port))?,
            tls: Some(client_tls(&cfg, source, false)),
            secure: true,
            moves: None,
        });
    }
    let local = |l: &ClientListener| l.listener.local_addr().ok();
    let client_addr = listeners
        .first()
        .and_then(local)
        .ok_or(ServerError::NoClientPort)?;
    let secure_client_addr = listeners.iter().find(|l| l.secure).and_then(local);
    if !standalone {
        admin = ensemble_admin_server(&cfg).await?;
    }
    let admin_addr = admin.as_ref().and_then(|a| a.local_addr().ok());
    let metrics_addr = metrics.as_ref().and_then(|m| m.local_addr().ok());
    let cfg = Arc::new(cfg);
    let stats = Arc::new(ServerStats::new());
    if cfg.metrics_provider_class_name != crate::config::DEFAULT_METRICS_PROVIDER {
        stats.keep_metrics_on_reset();
    }
    let (core_tx, core_rx) = mpsc::channel(non_negative(cfg.global_outstanding_limit).max(1));
    let shutdown = CancellationToken::new();
    let mut tasks = Vec::new();
    let core = if standalone {
        start_standalone(cfg.clone(), stats.clone(), core_rx).await?
    } else {
        let configs = peer_configs.ok_or(ServerError::Startup(
            "an ensemble member without its quorum configs".to_owned(),
        ))?;
        // only the plaintext client port is in our `server.N` line, so only it moves
        if let Some(l) = listeners.iter_mut().find(|l| !l.secure) {
            let bound = l.listener.local_addr().unwrap_or(client_addr);
            let (tx, rx) = watch::channel(bound);
            l.moves = Some(rx);
            tasks.push(tokio::spawn(ensemble::follow_client_address(
                configs.clone(),
                bound,
                tx,
                shutdown.clone(),
            )));
        }
        tokio::spawn(ensemble::run_peer(
            cfg.clone(),
            configs,
            core_rx,
            stats.clone(),
            shutdown.clone(),
            quorum_tls,
        ))
    };
    let limits = ConnLimits {
        max_frame: non_negative(cfg.jute_max_buffer),
        max_client_cnxns: non_negative(cfg.max_client_cnxns),
        handshake_timeout: Duration::from_secs(10),
        sasl: client_sasl,
    };
    let handler = four_letter::handler(cfg.clone(), stats.clone());
    let source = view_source(core_tx.clone(), cfg.clone(), stats.clone());
    if let Some(admin) = admin {
        let core: Arc<dyn AdminCore> = Arc::new(CoreAdmin {
            core: core_tx.clone(),
            tree_options: tree_options(&cfg),
        });
        tasks.push(admin.spawn(
            cfg.clone(),
            stats.clone(),
            source.clone(),
            Some(core),
            shutdown.clone(),
        ));
    }
    if let Some(metrics) = metrics {
        tasks.push(metrics.spawn(cfg.clone(), stats, source, shutdown.clone()));
    }
    let ids = ConnIds::default();
    for listener in listeners {
        let addr = listener.listener.local_addr().ok();
        let kind = match (&listener.tls, listener.secure) {
            (Some(_), true) => "TLS (secureClientPort)",
            (Some(_), false) => "TLS and plaintext (client.portUnification)",
            (None, _) => "plaintext",
        };
        tracing::info!(client_addr = ?addr, kind, "serving clients");
        tasks.push(tokio::spawn(conn::serve(
            listener,
            core_tx.clone(),
            limits.clone(),
            handler.clone(),
            shutdown.clone(),
            ids.clone(),
        )));
    }
    drop(core_tx);
    if let Some(source) = &tls_source {
        source.spawn_watcher("client port", CLIENT_CERT_RELOAD_PERIOD, shutdown.clone());
    }
    if cfg.autopurge_purge_interval > 0 {
        tasks.push(tokio::spawn(autopurge(cfg.clone(), shutdown.clone())));
    }
    Ok(RunningServer {
        client_addr,
        secure_client_addr,
        admin_addr,
        metrics_addr,
        shutdown,
        tasks,
        core,
    })
}

fn admin_error(cfg: &ServerConfig, source: HttpEndpointError) -> ServerError {
    ServerError::AdminServer {
        address: cfg.admin_server_address.clone(),
        port: cfg.admin_server_port,
        command_url: cfg.admin_command_url.clone(),
        source,
    }
}

/// `QuorumPeer#start`: an ensemble member whose AdminServer cannot start says so once and
/// serves on without it (election and quorum included). A key store that cannot be loaded
/// for its HTTPS is a configuration error and stops the server, as in standalone mode.
async fn ensemble_admin_server(cfg: &ServerConfig) -> Result<Option<AdminServer>, ServerError> {
    match AdminServer::bind(cfg).await {
        Ok(admin) => Ok(admin),
        Err(source @ HttpEndpointError::Tls(_)) => Err(admin_error(cfg, source)),
        Err(source) => {
            tracing::warn!("{}", admin_error(cfg, source));
            Ok(None)
        }
    }
}

/// Recover the data directory and start the core of a standalone server.
async fn start_standalone(
    cfg: Arc<ServerConfig>,
    stats: Arc<ServerStats>,
    core_rx: mpsc::Receiver<CoreMsg>,
) -> Result<JoinHandle<Result<(), ServerError>>, ServerError> {
    let tree_options = tree_options(&cfg);
    let opening = cfg.clone();
    let storage = tokio::task::spawn_blocking(move || storage::open(&opening, tree_options))
        .await
        .map_err(|e| ServerError::Startup(e.to_string()))??;
    let mut state = CoreState::new(core_config(&cfg), storage.tree, stats);
    let (durable_tx, durable_rx) = mpsc::unbounded_channel();
    let log = LogStage::spawn(storage.log, durable_tx, state.stats.clone())
        .map_err(|e| ServerError::Startup(e.to_string()))?;
    state.attach_persistence(log, storage.snapshots, &storage.sessions);
    state.stats.record_db_load(&storage.load);
    if let Some(t) = storage.snapshot_time {
        state.stats.record_snapshot(t);
    }
    if storage.snapshot_pending {
        state.take_startup_snapshot();
    }
    Ok(tokio::spawn(async move {
        pipeline::run(state, core_rx, durable_rx)
            .await
            .map_err(ServerError::Fatal)
    }))
}

/// `DatadirCleanupManager`: purge at start and then every autopurge.purgeInterval hours.
async fn autopurge(cfg: Arc<ServerConfig>, shutdown: CancellationToken) {
    let hours = u64::try_from(cfg.autopurge_purge_interval)
        .unwrap_or(1)
        .max(1);
    let mut every = tokio::time::interval(Duration::from_secs(hours * 3600));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = every.tick() => {}
        }
        let snap_dir = crate::persist::restore::version_dir(&cfg.data_dir);
        let log_dir = crate::persist::restore::version_dir(&cfg.data_log_dir);
        let retain = usize::try_from(cfg.autopurge_snap_retain_count).unwrap_or(3);
        let purged = tokio::task::spawn_blocking(move || {
            crate::persist::purge::purge(&snap_dir, &log_dir, retain).len()
        })
        .await
        .unwrap_or(0);
        tracing::info!(files = purged, "autopurge done");
    }
}

/// Views for the admin and metrics endpoints, built inside the core task like the words'.
fn view_source(
    core: mpsc::Sender<CoreMsg>,
    cfg: Arc<ServerConfig>,
    stats: Arc<ServerStats>,
) -> ViewSource {
    Arc::new(move |request: ViewRequest| {
        let (core, cfg, stats) = (core.clone(), cfg.clone(), stats.clone());
        Box::pin(async move {
            let (tx, rx) = oneshot::channel();
            let job = move |state: &mut CoreState| {
                match request {
                    ViewRequest::ResetConnectionStats => four_letter::reset_connection_stats(state),
                    ViewRequest::ResetObserverConnectionStats => {
                        four_letter::reset_observer_connection_stats(state)
                    }
                    ViewRequest::Plain => {}
                }
                let _ = tx.send(four_letter::view(state, cfg, stats));
                String::new()
            };
            // the view travels on `tx`; Inspect's own text reply is not needed
            let (reply, _) = oneshot::channel();
            let f = Box::new(job);
            core.send(CoreMsg::Inspect { f, reply }).await.ok()?;
            rx.await.ok()
        })
    })
}

/// The AdminServer's way into the core for 3.9's `snapshot` and `restore`.
struct CoreAdmin {
    core: mpsc::Sender<CoreMsg>,
    tree_options: crate::tree::TreeOptions,
}

/// How long `snapshot` / `restore` wait for another snapshot or for txns in flight.
const ADMIN_BUSY_WAIT: Duration = Duration::from_secs(60);

/// Runs `f` in the core and hands back what it returns; `None` when the core is gone.
async fn in_core<T: Send + 'static>(
    core: &mpsc::Sender<CoreMsg>,
    f: impl FnOnce(&mut CoreState) -> T + Send + 'static,
) -> Option<T> {
    let (tx, rx) = oneshot::channel();
    let job = move |state: &mut CoreState| {
        let _ = tx.send(f(state));
        String::new()
    };
    let (reply, _) = oneshot::channel();
    core.send(CoreMsg::Inspect {
        f: Box::new(job),
        reply,
    })
    .await
    .ok()?;
    rx.await.ok()
}

impl AdminCore for CoreAdmin {
    fn root_acl(&self) -> BoxFuture<Option<RootAcl>> {
        let core = self.core.clone();
        Box::pin(async move {
            in_core(&core, |state| RootAcl {
                acl: state
                    .tree
                    .node("/")
                    .map(|n| n.acl.to_vec())
                    .unwrap_or_default(),
                policy: state.config.prep.acl.clone(),
                super_digest: state.config.super_digest.clone(),
            })
            .await
        })
    }

    fn snapshot(&self, last_processed_zxid: bool) -> BoxFuture<Result<PathBuf, String>> {
        let core = self.core.clone();
        Box::pin(async move {
            let deadline = tokio::time::Instant::now() + ADMIN_BUSY_WAIT;
            loop {
                let (done_tx, done_rx) = oneshot::channel();
                let started = in_core(&core, move |state| {
                    state.admin_snapshot(last_processed_zxid, done_tx)
                })
                .await
                .ok_or("the server is shutting down")?;
                match started {
                    AdminSnapshot::Started => {
                        return done_rx
                            .await
                            .map_err(|_| "the snapshot was abandoned".to_owned())?
                    }
                    AdminSnapshot::Unavailable => {
                        return Err("this server keeps no snapshots".to_owned())
                    }
                    AdminSnapshot::Busy if tokio::time::Instant::now() < deadline => {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    AdminSnapshot::Busy => {
                        return Err("another snapshot is still being written".to_owned())
                    }
                }
            }
        })
    }

    fn restore(&self, body: Bytes) -> BoxFuture<Result<i64, String>> {
        let core = self.core.clone();
        let options = self.tree_options;
        Box::pin(async move {
            let snap = tokio::task::spawn_blocking(move || {
                crate::persist::snapshot::read_snapshot_stream(&body[..], options)
            })
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
            let mut snap = Some(Box::new(snap));
            let deadline = tokio::time::Instant::now() + ADMIN_BUSY_WAIT;
            loop {
                let Some(s) = snap.take() else {
                    return Err("restore lost its snapshot".to_owned());
                };
                // the core hands the snapshot back when it cannot take it yet
                let outcome = in_core(&core, move |state| {
                    if state.admin_restore_ready() {
                        {
                            let s = *s;
                            Ok(state.admin_restore(s.tree, s.sessions, s.last_processed_zxid))
                        }
                    } else {
                        Err(s)
                    }
                })
                .await
                .ok_or("the server is shutting down")?;
                match outcome {
                    Ok(AdminRestore::Done(zxid)) => return Ok(zxid),
                    Ok(AdminRestore::Refused(why)) => return Err(why.to_owned()),
                    Ok(AdminRestore::Failed(why)) => return Err(why),
                    Ok(AdminRestore::Busy) => return Err("the server is busy".to_owned()),
                    Err(back) if tokio::time::Instant::now() < deadline => {
                        snap = Some(back);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    Err(_) => return Err("txns or a snapshot kept the server busy".to_owned()),
                }
            }
        })
    }
}

/// Run until SIGINT or SIGTERM, or until the txn log fails.
pub async fn run(cfg: ServerConfig) -> Result<(), ServerError> {
    let mut server = start(cfg).await?;
    let ended = tokio::select! {
        _ = wait_for_signal() => None,
        ended = &mut server.core => Some(ended),
    };
    let Some(ended) = ended else {
        tracing::info!("shutting down");
        // let the core (and an election in progress) finish before the runtime goes away: a
        // task still polling its timers while the runtime shuts down panics
        if tokio::time::timeout(SHUTDOWN_GRACE, server.shutdown())
            .await
            .is_err()
        {
            tracing::warn!("shutdown did not finish within {SHUTDOWN_GRACE:?}; stopping anyway");
        }
        return Ok(());
    };
    server.shutdown.cancel();
    match ended {
        Ok(result) => result,
        Err(e) => Err(ServerError::Fatal(crate::pipeline::FatalError::Task {
            task: "the server",
            reason: e.to_string(),
        })),
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
