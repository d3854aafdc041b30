//! Builds a [`ServerConfig`] from parsed entries: `QuorumPeerConfig#parseProperties`'s key
//! switch, then its checks, then the system-property settings.

use std::collections::BTreeMap;
use std::net::{IpAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};

use super::jvmflags::SystemProperties;
use super::properties;
use super::servers::{parse_server, LearnerType};
use super::sysprops::{warn_unsupported, Props};
use super::values::{java_bool, parse_bool_strict, parse_decimal, parse_int};
use super::{
    ConfigError, FourLetterWhitelist, ServerConfig, DEFAULT_METRICS_PROVIDER, DEFAULT_TICK_TIME_MS,
};

/// Values `parseProperties` reads into locals before its checks.
#[derive(Default)]
struct Locals {
    client_port: i32,
    client_port_line: usize,
    client_port_address: Option<String>,
    secure_client_port: i32,
    secure_client_port_address: Option<String>,
    data_dir: Option<PathBuf>,
    data_log_dir: Option<PathBuf>,
}

struct Ctx<'a> {
    file: String,
    line: usize,
    key: &'a str,
}

impl Ctx<'_> {
    fn err(&self, problem: impl Into<String>) -> ConfigError {
        ConfigError::Value {
            file: self.file.clone(),
            line: self.line,
            key: self.key.to_owned(),
            problem: problem.into(),
        }
    }
    fn int(&self, v: &str) -> Result<i32, ConfigError> {
        parse_int(v).map_err(|p| self.err(p))
    }
    fn bool(&self, v: &str) -> Result<bool, ConfigError> {
        parse_bool_strict(self.key, v).map_err(|p| self.err(p))
    }
}

fn defaults(cfg_path: &Path, text: &str, raw: Vec<(String, String)>) -> ServerConfig {
    ServerConfig {
        cfg_path: cfg_path.to_owned(),
        initial_config: text.to_owned(),
        raw,
        tick_time_ms: DEFAULT_TICK_TIME_MS,
        init_limit: 0,
        sync_limit: 0,
        connect_to_learner_master_limit: 0,
        data_dir: PathBuf::new(),
        data_log_dir: PathBuf::new(),
        client_port: None,
        client_port_address: None,
        secure_client_port: None,
        secure_client_port_address: None,
        client_port_unification: false,
        server_cnxn_factory: None,
        x509_auth_provider: false,
        x509_super_user: None,
        sasl: super::SaslConfig::default(),
        enforce_auth_schemes: Vec::new(),
        quorum_auth: super::QuorumAuthConfig::default(),
        system_properties: SystemProperties::default(),
        client_port_listen_backlog: -1,
        max_client_cnxns: 60,
        max_cnxns: 0,
        min_session_timeout_ms: -1,
        max_session_timeout_ms: -1,
        local_sessions_enabled: false,
        local_sessions_upgrading_enabled: false,
        four_letter_whitelist: FourLetterWhitelist::default(),
        read_only_mode_enabled: false,
        extended_types_enabled: false,
        emulate_353_ttl_nodes: false,
        container_check_interval_ms: 60_000,
        container_max_per_minute: 10_000,
        container_max_never_used_interval_ms: 0,
        skip_acl: false,
        jute_max_buffer: 0xfffff,
        force_sync: true,
        snap_count: 100_000,
        snap_size_limit_kb: 4_194_304,
        super_digest: None,
        enforce_quota: false,
        digest_enabled: true,
        global_outstanding_limit: 1000,
        pre_alloc_size_kb: 65_536,
        fsync_warning_threshold_ms: 1000,
        txn_log_size_limit_kb: -1,
        snapshot_compression_method: String::new(),
        snapshot_trust_empty: false,
        sync_enabled: true,
        autopurge_snap_retain_count: 3,
        autopurge_purge_interval: 0,
        standalone_enabled: true,
        reconfig_enabled: false,
        admin_enable_server: true,
        admin_server_address: "0.0.0.0".to_owned(),
        admin_server_port: 8080,
        admin_idle_timeout_ms: 30_000,
        admin_command_url: "/commands".to_owned(),
        admin_snapshot_enabled: true,
        admin_restore_enabled: true,
        admin_rate_limiter_interval_ms: 300_000,
        serialize_last_processed_zxid_enabled: true,
        admin_port_unification: false,
        admin_force_https: false,
        metrics_provider_class_name: DEFAULT_METRICS_PROVIDER.to_owned(),
        metrics_provider_config: BTreeMap::new(),
        election_alg: 3,
        quorum_listen_on_all_ips: false,
        ssl_quorum: false,
        port_unification: false,
        ssl_quorum_reload_cert_files: false,
        peer_type: LearnerType::Participant,
        multi_address_enabled: false,
        servers: BTreeMap::new(),
        groups: BTreeMap::new(),
        weights: BTreeMap::new(),
        my_id: None,
        config_version: 0,
    }
}

/// `QuorumPeerConfig#parse`'s dynamic file: membership lines only (`server.N`, `group.N`,
/// `weight.N`), no `version=` inside; the version is the hex suffix of the file name.
pub(super) fn add_dynamic(
    cfg: &mut ServerConfig,
    text: &str,
    path: &Path,
) -> Result<(), ConfigError> {
    let file = path.display().to_string();
    let entries = parse_entries(text, &file)?;
    for e in &entries {
        let (key, value) = (e.key.trim(), e.value.trim());
        let ctx = Ctx {
            file: file.clone(),
            line: e.line,
            key,
        };
        if key == "version" {
            return Err(ctx.err("dynamic file shouldn't have version inside"));
        }
        apply_membership(cfg, &ctx, value)?;
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    cfg.config_version = name
        .rsplit_once('.')
        .and_then(|(_, hex)| u64::from_str_radix(hex, 16).ok())
        .map_or(0, |v| v as i64);
    Ok(())
}

/// `Properties#load`'s entries, or the reference's error for a bad `\\u` escape.
fn parse_entries(text: &str, file: &str) -> Result<Vec<properties::Entry>, ConfigError> {
    properties::parse(text).map_err(|e| ConfigError::Value {
        file: file.to_owned(),
        line: e.line,
        key: "(line)".to_owned(),
        problem: "Malformed \\uxxxx encoding.".to_owned(),
    })
}

pub(super) fn build(
    text: &str,
    cfg_path: &Path,
    jvm: SystemProperties,
) -> Result<ServerConfig, ConfigError> {
    let file = cfg_path.display().to_string();
    let entries = parse_entries(text, &file)?;
    let mut latest = BTreeMap::new();
    let mut raw = Vec::with_capacity(entries.len());
    for e in &entries {
        let (k, v) = (e.key.trim().to_owned(), e.value.trim().to_owned());
        latest.insert(k.clone(), (e.line, v.clone()));
        raw.push((k, v));
    }
    let props = Props { latest, jvm };
    let mut cfg = defaults(cfg_path, text, raw);
    for (key, _) in props
        .jvm
        .iter()
        .filter(|(k, _)| k.starts_with("zookeeper."))
    {
        warn_unsupported(key, super::sysprops::JVM_FLAG_LINE);
    }
    let mut locals = Locals::default();
    cfg.multi_address_enabled = props.map("zookeeper.multiAddress.enabled", false, java_bool);
    let mut ordered: Vec<(&String, &(usize, String))> = props.latest.iter().collect();
    ordered.sort_by_key(|(_, (line, _))| *line);
    let has_dynamic = props.latest.contains_key("dynamicConfigFile");
    for (key, (line, value)) in ordered {
        let ctx = Ctx {
            file: file.clone(),
            line: *line,
            key,
        };
        apply_key(&mut cfg, &mut locals, &ctx, value, has_dynamic)?;
    }
    finish_ports(&mut cfg, &locals, &file)?;
    apply_sysprops(&mut cfg, &props, &file)?;
    super::sasl::apply(&mut cfg, &props, &file)?;
    super::quorum_auth::check(&cfg, &file)?;
    check(&mut cfg, &file)?;
    cfg.system_properties = props.jvm;
    Ok(cfg)
}

fn apply_key(
    cfg: &mut ServerConfig,
    l: &mut Locals,
    ctx: &Ctx<'_>,
    v: &str,
    has_dynamic: bool,
) -> Result<(), ConfigError> {
    let key = ctx.key;
    match key {
        "dataDir" => l.data_dir = Some(PathBuf::from(v)),
        "dataLogDir" => l.data_log_dir = Some(PathBuf::from(v)),
        "clientPort" => {
            l.client_port = ctx.int(v)?;
            l.client_port_line = ctx.line;
        }
        "clientPortAddress" => l.client_port_address = Some(v.to_owned()),
        "secureClientPort" => l.secure_client_port = ctx.int(v)?,
        "secureClientPortAddress" => l.secure_client_port_address = Some(v.to_owned()),
        "localSessionsEnabled" => cfg.local_sessions_enabled = ctx.bool(v)?,
        "localSessionsUpgradingEnabled" => cfg.local_sessions_upgrading_enabled = ctx.bool(v)?,
        "observerMasterPort" => {
            ctx.int(v)?;
        }
        "clientPortListenBacklog" => cfg.client_port_listen_backlog = ctx.int(v)?,
        "tickTime" => cfg.tick_time_ms = ctx.int(v)?,
        "maxClientCnxns" => cfg.max_client_cnxns = ctx.int(v)?,
        "minSessionTimeout" => cfg.min_session_timeout_ms = ctx.int(v)?,
        "maxSessionTimeout" => cfg.max_session_timeout_ms = ctx.int(v)?,
        "initLimit" => cfg.init_limit = ctx.int(v)?,
        "syncLimit" => cfg.sync_limit = ctx.int(v)?,
        "connectToLearnerMasterLimit" => cfg.connect_to_learner_master_limit = ctx.int(v)?,
        "electionAlg" => {
            cfg.election_alg = ctx.int(v)?;
            if cfg.election_alg != 3 {
                return Err(ctx.err("Invalid electionAlg value. Only 3 is supported."));
            }
        }
        "quorumListenOnAllIPs" => cfg.quorum_listen_on_all_ips = ctx.bool(v)?,
        "peerType" => {
            cfg.peer_type = match v.to_lowercase().as_str() {
                "observer" => LearnerType::Observer,
                "participant" => LearnerType::Participant,
                _ => return Err(ctx.err(format!("Unrecognised peertype: {v}"))),
            }
        }
        "syncEnabled" => cfg.sync_enabled = ctx.bool(v)?,
        "autopurge.snapRetainCount" => cfg.autopurge_snap_retain_count = ctx.int(v)?,
        "autopurge.purgeInterval" => cfg.autopurge_purge_interval = ctx.int(v)?,
        "standaloneEnabled" => cfg.standalone_enabled = ctx.bool(v)?,
        "reconfigEnabled" => cfg.reconfig_enabled = ctx.bool(v)?,
        "sslQuorum" => cfg.ssl_quorum = ctx.bool(v)?,
        "portUnification" => cfg.port_unification = ctx.bool(v)?,
        "sslQuorumReloadCertFiles" => cfg.ssl_quorum_reload_cert_files = ctx.bool(v)?,
        "quorum.cnxn.threads.size" => {
            ctx.int(v)?;
        }
        "metricsProvider.className" => cfg.metrics_provider_class_name = v.to_owned(),
        _ if key.starts_with("metricsProvider.") => {
            let sub = key["metricsProvider.".len()..].to_owned();
            cfg.metrics_provider_config.insert(sub, v.to_owned());
        }
        _ if (key.starts_with("server.")
            || key.starts_with("group")
            || key.starts_with("weight"))
            && has_dynamic =>
        {
            return Err(ctx.err(format!(
                "parameter: {key} must be in a separate dynamic config file"
            )));
        }
        _ => apply_membership(cfg, ctx, v)?,
    }
    super::quorum_auth::apply_key(&mut cfg.quorum_auth, key, v, |b| ctx.bool(b))?;
    warn_unsupported(key, ctx.line);
    Ok(())
}

/// `server.N`, `group.N`, `weight.N` (`QuorumMaj` / `QuorumHierarchical` constructors).
fn apply_membership(cfg: &mut ServerConfig, ctx: &Ctx<'_>, v: &str) -> Result<(), ConfigError> {
    let key = ctx.key;
    let sid_of = |prefix: &str| -> Result<Option<i64>, ConfigError> {
        match key.strip_prefix(prefix) {
            Some(n) => parse_decimal(n).map(Some).map_err(|p| ctx.err(p)),
            None => Ok(None),
        }
    };
    if let Some(sid) = sid_of("server.")? {
        let spec = parse_server(sid, v, cfg.multi_address_enabled).map_err(|p| ctx.err(p))?;
        cfg.servers.insert(sid, spec);
    } else if let Some(gid) = sid_of("group.")? {
        cfg.groups.insert(gid, v.to_owned());
    } else if let Some(sid) = sid_of("weight.")? {
        cfg.weights.insert(sid, v.to_owned());
    }
    Ok(())
}

fn invalid(file: &str, problem: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        file: file.to_owned(),
        problem: problem.into(),
    }
}

fn port(file: &str, p: i32) -> Result<u16, ConfigError> {
    u16::try_from(p).map_err(|_| invalid(file, format!("port out of range:{p}")))
}

/// dataDir / clientPort checks of `parseProperties`.
fn finish_ports(cfg: &mut ServerConfig, l: &Locals, file: &str) -> Result<(), ConfigError> {
    cfg.data_dir = l
        .data_dir
        .clone()
        .ok_or_else(|| invalid(file, "dataDir is not set"))?;
    cfg.data_log_dir = l
        .data_log_dir
        .clone()
        .unwrap_or_else(|| cfg.data_dir.clone());
    if l.client_port == 0 {
        if l.client_port_address.is_some() {
            return Err(invalid(
                file,
                "clientPortAddress is set but clientPort is not set",
            ));
        }
        tracing::warn!("clientPort is not set");
    } else {
        cfg.client_port = Some(
            u16::try_from(l.client_port).map_err(|_| ConfigError::Value {
                file: file.to_owned(),
                line: l.client_port_line,
                key: "clientPort".to_owned(),
                problem: format!("port out of range:{}", l.client_port),
            })?,
        );
        if let Some(host) = &l.client_port_address {
            cfg.client_port_address = Some(resolve(host).ok_or_else(|| {
                invalid(
                    file,
                    format!("clientPortAddress: {host}: Name or service not known"),
                )
            })?);
        }
    }
    if l.secure_client_port == 0 {
        if l.secure_client_port_address.is_some() {
            return Err(invalid(
                file,
                "secureClientPortAddress is set but secureClientPort is not set",
            ));
        }
    } else {
        cfg.secure_client_port = Some(port(file, l.secure_client_port)?);
        if let Some(host) = &l.secure_client_port_address {
            cfg.secure_client_port_address = Some(resolve(host).ok_or_else(|| {
                invalid(
                    file,
                    format!("secureClientPortAddress: {host}: Name or service not known"),
                )
            })?);
        }
    }
    Ok(())
}

/// `InetAddress#getByName`: an IP literal, else the first address the resolver gives.
fn resolve(host: &str) -> Option<IpAddr> {
    if let Ok(ip) = host.trim_start_matches('[').trim_end_matches(']').parse() {
        return Some(ip);
    }
    (host, 0).to_socket_addrs().ok()?.next().map(|a| a.ip())
}

/// Settings the reference reads through `System.getProperty`.
fn apply_sysprops(cfg: &mut ServerConfig, p: &Props, file: &str) -> Result<(), ConfigError> {
    // `Boolean.getBoolean`
    cfg.read_only_mode_enabled = p.map("readonlymode.enabled", false, java_bool);
    let list = p.string("zookeeper.4lw.commands.whitelist");
    cfg.four_letter_whitelist =
        FourLetterWhitelist::new(list.as_deref(), cfg.read_only_mode_enabled);
    cfg.extended_types_enabled = p.map("zookeeper.extendedTypesEnabled", false, java_bool);
    cfg.emulate_353_ttl_nodes = p.map("zookeeper.emulate353TTLNodes", false, java_bool);
    cfg.container_check_interval_ms = p.int("znode.container.checkIntervalMs", 60_000);
    cfg.container_max_per_minute = p.int("znode.container.maxPerMinute", 10_000);
    cfg.container_max_never_used_interval_ms = p.long("znode.container.maxNeverUsedIntervalMs", 0);
    cfg.skip_acl = p.map("zookeeper.skipACL", false, |v| v == "yes");
    cfg.jute_max_buffer = p.int("jute.maxbuffer", 0xfffff);
    cfg.force_sync = p.map("zookeeper.forceSync", true, |v| v != "no");
    cfg.snap_count = p.int("zookeeper.snapCount", 100_000);
    cfg.snap_size_limit_kb = p.long("zookeeper.snapSizeLimitInKb", 4_194_304);
    cfg.super_digest = p.string("zookeeper.DigestAuthenticationProvider.superDigest");
    cfg.enforce_quota = p.map("zookeeper.enforceQuota", false, java_bool);
    cfg.digest_enabled = p.map("zookeeper.digest.enabled", true, java_bool);
    cfg.global_outstanding_limit = p.int("zookeeper.globalOutstandingLimit", 1000);
    cfg.pre_alloc_size_kb = p.long("zookeeper.preAllocSize", 65_536);
    cfg.fsync_warning_threshold_ms = p.long("zookeeper.fsync.warningthresholdms", 1000);
    cfg.txn_log_size_limit_kb = p.long("zookeeper.txnLogSizeLimitInKb", -1);
    cfg.snapshot_compression_method = p
        .string("zookeeper.snapshot.compression.method")
        .unwrap_or_default();
    cfg.snapshot_trust_empty = p.map("zookeeper.snapshot.trust.empty", false, java_bool);
    cfg.max_cnxns = p.int("zookeeper.maxCnxns", 0);
    cfg.admin_enable_server = p.map("zookeeper.admin.enableServer", true, |v| v != "false");
    if let Some(a) = p.string("zookeeper.admin.serverAddress") {
        cfg.admin_server_address = a;
    }
    cfg.admin_server_port = p.int("zookeeper.admin.serverPort", 8080);
    cfg.admin_idle_timeout_ms = p.int("zookeeper.admin.idleTimeout", 30_000);
    // 3.9's keys, read with `Boolean.parseBoolean` and `Integer.parseInt`
    cfg.admin_snapshot_enabled = p.map("zookeeper.admin.snapshot.enabled", true, java_bool);
    cfg.admin_restore_enabled = p.map("zookeeper.admin.restore.enabled", true, java_bool);
    cfg.admin_rate_limiter_interval_ms =
        i64::from(p.int("zookeeper.admin.rateLimiterIntervalInMS", 300_000));
    cfg.serialize_last_processed_zxid_enabled = p.map(
        "zookeeper.serializeLastProcessedZxid.enabled",
        true,
        java_bool,
    );
    cfg.admin_port_unification = p.map("zookeeper.admin.portUnification", false, java_bool);
    cfg.admin_force_https = p.map("zookeeper.admin.forceHttps", false, java_bool);
    if let Some(u) = p.string("zookeeper.admin.commandURL") {
        cfg.admin_command_url = u;
    }
    cfg.client_port_unification = p.map("zookeeper.client.portUnification", false, java_bool);
    cfg.server_cnxn_factory = p.string("zookeeper.serverCnxnFactory");
    apply_auth_providers(cfg, p, file)?;
    // the reference fails start-up when it cannot load the provider class
    if cfg.metrics_provider_class_name != DEFAULT_METRICS_PROVIDER
        && !cfg
            .metrics_provider_class_name
            .ends_with("PrometheusMetricsProvider")
    {
        return Err(invalid(file, "metrics provider class was not found"));
    }
    Ok(())
}

/// 3.8's `X509AuthenticationProvider`, the one pluggable provider ferrokeeper has.
pub const X509_AUTH_PROVIDER: &str = "org.apache.zookeeper.server.auth.X509AuthenticationProvider";

/// `authProvider.<n>` (`ProviderRegistry`), `ssl.authProvider` and the x509 super user.
///
/// 3.8 registers a provider per `zookeeper.authProvider.*` class; the x509 scheme is also
/// registered by `QuorumPeerConfig#configureSSLAuth` whenever `secureClientPort` is set and
/// `ssl.authProvider` is unset or `x509`. (`NettyServerCnxnFactory` calls that too for
/// `client.portUnification`, but after the registry was filled, so there it changes
/// nothing: a port-unified server without `authProvider.<n>=…X509AuthenticationProvider`
/// closes every TLS client that presents a certificate. We do the same.)
fn apply_auth_providers(cfg: &mut ServerConfig, p: &Props, file: &str) -> Result<(), ConfigError> {
    let all = p.with_prefix("authProvider.");
    let providers: Vec<(&str, &str)> = all
        .iter()
        .map(|(k, v)| (&k["authProvider.".len()..], v.as_str()))
        .collect();
    for (_, class) in &providers {
        match class.rsplit('.').next().unwrap_or_default() {
            "X509AuthenticationProvider" if *class == X509_AUTH_PROVIDER => {
                cfg.x509_auth_provider = true;
            }
            "SASLAuthenticationProvider" if *class == super::SASL_AUTH_PROVIDER => {
                cfg.sasl.provider = true;
            }
            // built in, as in every 3.8 server
            "DigestAuthenticationProvider" | "IPAuthenticationProvider" => {}
            _ => tracing::warn!(
                class = *class,
                "authentication provider class cannot be loaded by ferrokeeper (it has the \
                 digest, ip, x509 and sasl providers); ignored"
            ),
        }
    }
    let ssl_scheme = p
        .string("zookeeper.ssl.authProvider")
        .unwrap_or_else(|| "x509".to_owned());
    let tls_clients = cfg.secure_client_port.is_some() || cfg.client_port_unification;
    if tls_clients && ssl_scheme != "x509" {
        let configured = providers.iter().any(|(name, _)| *name == ssl_scheme);
        return Err(invalid(
            file,
            if cfg.secure_client_port.is_some() && !configured {
                // `QuorumPeerConfig#configureSSLAuth`
                format!(
                    "No auth provider configured for the SSL authentication scheme '{ssl_scheme}'."
                )
            } else {
                format!(
                    "ssl.authProvider={ssl_scheme}: ferrokeeper authenticates TLS clients only \
                     with the x509 scheme (X509AuthenticationProvider); custom providers \
                     cannot be loaded"
                )
            },
        ));
    }
    if cfg.secure_client_port.is_some() {
        cfg.x509_auth_provider = true;
    }
    cfg.x509_super_user = p.string("zookeeper.X509AuthenticationProvider.superUser");
    Ok(())
}

/// The checks at the end of `parseProperties`, `parseDynamicConfig` and `checkValidity`.
fn check(cfg: &mut ServerConfig, file: &str) -> Result<(), ConfigError> {
    if cfg.autopurge_snap_retain_count < 3 {
        tracing::warn!(
            "Invalid autopurge.snapRetainCount: {}. Defaulting to 3",
            cfg.autopurge_snap_retain_count
        );
        cfg.autopurge_snap_retain_count = 3;
    }
    if cfg.tick_time_ms == 0 {
        return Err(invalid(file, "tickTime is not set"));
    }
    if cfg.min_session_timeout_ms == -1 {
        cfg.min_session_timeout_ms = cfg.tick_time_ms.saturating_mul(2);
    }
    if cfg.max_session_timeout_ms == -1 {
        cfg.max_session_timeout_ms = cfg.tick_time_ms.saturating_mul(20);
    }
    if cfg.min_session_timeout_ms > cfg.max_session_timeout_ms {
        return Err(invalid(
            file,
            "minSessionTimeout must not be larger than maxSessionTimeout",
        ));
    }
    check_membership(cfg, file)
}

fn check_membership(cfg: &ServerConfig, file: &str) -> Result<(), ConfigError> {
    let participants = cfg
        .servers
        .values()
        .filter(|s| s.learner_type == LearnerType::Participant)
        .count();
    let observers = cfg.servers.len() - participants;
    if participants == 0 {
        if !cfg.standalone_enabled {
            return Err(invalid(
                file,
                "standaloneEnabled = false then number of participants should be >0",
            ));
        }
        if observers > 0 {
            return Err(invalid(
                file,
                "Observers w/o participants is an invalid configuration",
            ));
        }
    } else if participants == 1 && cfg.standalone_enabled {
        tracing::error!("Invalid configuration, only one server specified (ignoring)");
        if observers > 0 {
            return Err(invalid(
                file,
                "Observers w/o quorum is an invalid configuration",
            ));
        }
    }
    if !cfg.is_standalone() {
        if cfg.init_limit == 0 {
            return Err(invalid(file, "initLimit is not set"));
        }
        if cfg.sync_limit == 0 {
            return Err(invalid(file, "syncLimit is not set"));
        }
    }
    Ok(())
}
