//! zoo.cfg as Apache ZooKeeper 3.8.0 reads it.
//!
//! Replaces `QuorumPeerConfig#parse` / `#parseProperties` / `#checkValidity`, `ServerConfig`
//! and the `System.getProperty("zookeeper.*")` look-ups scattered through the server (any key
//! `QuorumPeerConfig` does not know becomes the system property `zookeeper.<key>`).
//!
//! Invariants:
//! * Syntax is `java.util.Properties#load` ([`properties`]); keys and values are trimmed; a
//!   later duplicate wins.
//! * A setting the reference reads as a system property works under both spellings, with and
//!   without the `zookeeper.` prefix (`skipACL` = `zookeeper.skipACL`,
//!   `jute.maxbuffer` = `zookeeper.jute.maxbuffer`). Difference: the reference ignores the
//!   zoo.cfg line for the few properties it reads without the prefix (`jute.maxbuffer`,
//!   `readonlymode.enabled`, `znode.container.*`); we honour them, since a user who writes
//!   them in zoo.cfg means them.
//! * What the reference treats as fatal is fatal here, with the file, line, key and problem
//!   in the message; what it silently defaults (`Integer.getInteger` on junk) is a warning.
//! * Relative paths (dataDir, dataLogDir) are used as given, i.e. relative to the working
//!   directory, as the reference does.
//! * Pure, except [`load`] which reads the file and `<dataDir>/myid`, and the JAAS file
//!   that `java.security.auth.login.config` names, read where the settings are parsed.
//! * System properties also come from the JVM flags (`-D` in `SERVER_JVMFLAGS` /
//!   `JVMFLAGS`); zoo.cfg wins over them ([`jvmflags`]).

mod build;
pub mod jaas;
pub mod jvmflags;
pub mod properties;
mod quorum_auth;
mod sasl;
pub mod servers;
mod sysprops;
#[cfg(test)]
mod tests;
mod values;
pub mod whitelist;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

pub use build::X509_AUTH_PROVIDER;
pub use jvmflags::SystemProperties;
pub use quorum_auth::QuorumAuthConfig;
pub use sasl::{SaslConfig, SASL_AUTH_PROVIDER};
pub use servers::{LearnerType, QuorumAddress, QuorumServerSpec};
pub use whitelist::FourLetterWhitelist;

/// `ZooKeeperServer.DEFAULT_TICK_TIME`: tickTime when zoo.cfg has none.
pub const DEFAULT_TICK_TIME_MS: i32 = 3000;
/// `DefaultMetricsProvider`'s class name (the only provider ferrokeeper has).
pub const DEFAULT_METRICS_PROVIDER: &str =
    "org.apache.zookeeper.metrics.impl.DefaultMetricsProvider";

/// Why start-up stops.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// One line's value is unusable.
    #[error("{file} line {line}: {key}: {problem}")]
    Value {
        file: String,
        line: usize,
        key: String,
        problem: String,
    },
    /// The combination of settings is unusable (missing dataDir, min > max timeout, ...).
    #[error("{file}: {problem}")]
    Invalid { file: String, problem: String },
    /// The JAAS login configuration file (`java.security.auth.login.config`) is unusable.
    #[error("{file} line {line}: {problem}")]
    Jaas {
        file: String,
        line: usize,
        problem: String,
    },
}

/// Everything the server takes from zoo.cfg, with the reference's defaults applied.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// The file this came from (as given on the command line).
    pub cfg_path: PathBuf,
    /// The whole file text (`QuorumPeerConfig.initialConfig`).
    pub initial_config: String,
    /// Every entry in file order, duplicates included (for `conf` and later needs).
    pub raw: Vec<(String, String)>,

    pub tick_time_ms: i32,
    pub init_limit: i32,
    pub sync_limit: i32,
    pub connect_to_learner_master_limit: i32,
    pub data_dir: PathBuf,
    pub data_log_dir: PathBuf,
    pub client_port: Option<u16>,
    pub client_port_address: Option<IpAddr>,
    /// `secureClientPort`: the TLS-only client port (3.8's second `NettyServerCnxnFactory`).
    pub secure_client_port: Option<u16>,
    /// `secureClientPortAddress`; the wildcard address when unset (as 3.8, which does not
    /// fall back to `clientPortAddress`).
    pub secure_client_port_address: Option<IpAddr>,
    /// `client.portUnification` (`zookeeper.client.portUnification`): TLS and plaintext
    /// clients on `clientPort`, told apart by their first bytes.
    pub client_port_unification: bool,
    /// `serverCnxnFactory`: accepted and otherwise ignored (ferrokeeper has one connection
    /// factory, which serves TLS whatever this names).
    pub server_cnxn_factory: Option<String>,
    /// Whether the `x509` auth scheme is registered: an `authProvider.<n>` naming
    /// `X509AuthenticationProvider`, or `secureClientPort` (3.8's `configureSSLAuth`).
    pub x509_auth_provider: bool,
    /// `X509AuthenticationProvider.superUser`: the x509 id that is also `super`.
    pub x509_super_user: Option<String>,
    /// Client SASL: the JAAS file and the `zookeeper.*` settings around it.
    pub sasl: SaslConfig,
    /// `quorum.auth.*`: SASL between the servers.
    pub quorum_auth: QuorumAuthConfig,
    /// The auth schemes a session must hold one id of before its requests are served
    /// (`enforce.auth.enabled` + `enforce.auth.schemes`, or `sessionRequireClientSASLAuth`
    /// for `sasl`); empty when not enforced. 3.8's `AuthenticationHelper`.
    pub enforce_auth_schemes: Vec<String>,
    /// The `-D` settings of `SERVER_JVMFLAGS` / `JVMFLAGS` this was built with.
    pub system_properties: SystemProperties,
    pub client_port_listen_backlog: i32,
    /// Per-IP connection limit; 0 = unlimited.
    pub max_client_cnxns: i32,
    /// `zookeeper.maxCnxns`, total connection limit; 0 = unlimited.
    pub max_cnxns: i32,
    pub min_session_timeout_ms: i32,
    pub max_session_timeout_ms: i32,
    pub local_sessions_enabled: bool,
    pub local_sessions_upgrading_enabled: bool,

    pub four_letter_whitelist: FourLetterWhitelist,
    pub read_only_mode_enabled: bool,
    pub extended_types_enabled: bool,
    pub emulate_353_ttl_nodes: bool,
    pub container_check_interval_ms: i32,
    pub container_max_per_minute: i32,
    pub container_max_never_used_interval_ms: i64,
    pub skip_acl: bool,
    pub jute_max_buffer: i32,
    pub force_sync: bool,
    pub snap_count: i32,
    pub snap_size_limit_kb: i64,
    pub super_digest: Option<String>,
    pub enforce_quota: bool,
    pub digest_enabled: bool,
    pub global_outstanding_limit: i32,
    pub pre_alloc_size_kb: i64,
    pub fsync_warning_threshold_ms: i64,
    /// zookeeper.txnLogSizeLimitInKb: roll the log past this size (-1 = no limit).
    pub txn_log_size_limit_kb: i64,
    /// zookeeper.snapshot.compression.method: "" (none), "gz" or "snappy".
    pub snapshot_compression_method: String,
    /// zookeeper.snapshot.trust.empty: accept txn logs without any snapshot.
    pub snapshot_trust_empty: bool,
    pub sync_enabled: bool,
    pub autopurge_snap_retain_count: i32,
    pub autopurge_purge_interval: i32,
    pub standalone_enabled: bool,
    pub reconfig_enabled: bool,

    pub admin_enable_server: bool,
    pub admin_server_address: String,
    pub admin_server_port: i32,
    pub admin_idle_timeout_ms: i32,
    pub admin_command_url: String,
    /// 3.9's `admin.snapshot.enabled` / `admin.restore.enabled`: the `snapshot` and
    /// `restore` commands answer 503 when false.
    pub admin_snapshot_enabled: bool,
    pub admin_restore_enabled: bool,
    /// 3.9's `admin.rateLimiterIntervalInMS`: one `snapshot` / `restore` per interval.
    pub admin_rate_limiter_interval_ms: i64,
    /// 3.9's `serializeLastProcessedZxid.enabled`: both commands need it (500 when false);
    /// the admin snapshot ends with the last processed zxid and its seal.
    pub serialize_last_processed_zxid_enabled: bool,
    /// `admin.portUnification`: HTTPS and plain HTTP on the admin port.
    pub admin_port_unification: bool,
    /// `admin.forceHttps`: HTTPS only on the admin port; wins over `admin.portUnification`.
    pub admin_force_https: bool,

    pub metrics_provider_class_name: String,
    /// `metricsProvider.<key>` entries, prefix removed.
    pub metrics_provider_config: BTreeMap<String, String>,

    pub election_alg: i32,
    pub quorum_listen_on_all_ips: bool,
    pub peer_type: LearnerType,
    pub multi_address_enabled: bool,
    /// `sslQuorum`: election and quorum connections we open use TLS (`ssl.quorum.*`).
    pub ssl_quorum: bool,
    /// `portUnification`: the election and quorum ports accept TLS and plaintext peers.
    pub port_unification: bool,
    /// `sslQuorumReloadCertFiles`: follow the `ssl.quorum.*` store files.
    pub ssl_quorum_reload_cert_files: bool,
    pub servers: BTreeMap<i64, QuorumServerSpec>,
    /// `group.N` values, unparsed (hierarchical quorums are not built yet).
    pub groups: BTreeMap<i64, String>,
    /// `weight.N` values, unparsed.
    pub weights: BTreeMap<i64, String>,
    /// From `<dataDir>/myid`; filled by [`load`] only.
    pub my_id: Option<i64>,
    /// The membership's version: the hex suffix of `dynamicConfigFile`'s name (0 without).
    pub config_version: i64,
}

impl ServerConfig {
    /// Standalone as `QuorumPeerConfig#isDistributed` decides: no participant, or exactly one
    /// while `standaloneEnabled`.
    pub fn is_standalone(&self) -> bool {
        let participants = self
            .servers
            .values()
            .filter(|s| s.learner_type == LearnerType::Participant)
            .count();
        participants == 0 || (participants == 1 && self.standalone_enabled)
    }

    /// The last value given for `key` (exact, trimmed key).
    pub fn raw_value(&self, key: &str) -> Option<&str> {
        self.raw
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Reads and validates a zoo.cfg, then `<dataDir>/myid` when the ensemble is distributed,
/// with the `-D` settings of the `SERVER_JVMFLAGS` and `JVMFLAGS` environment variables
/// (as zkServer.sh passes them to the JVM).
pub fn load(path: &Path) -> Result<ServerConfig, ConfigError> {
    load_with(path, SystemProperties::from_env())
}

/// [`load`] with the given JVM `-D` settings instead of the environment's.
pub fn load_with(path: &Path, jvm: SystemProperties) -> Result<ServerConfig, ConfigError> {
    let bytes = std::fs::read(path).map_err(|source| ConfigError::Io {
        path: path.to_owned(),
        source,
    })?;
    let mut cfg = parse_with(&properties::decode(&bytes), path, jvm)?;
    if let Some(dynamic) = cfg.raw_value("dynamicConfigFile").map(PathBuf::from) {
        let bytes = std::fs::read(&dynamic).map_err(|source| ConfigError::Io {
            path: dynamic.clone(),
            source,
        })?;
        build::add_dynamic(&mut cfg, &properties::decode(&bytes), &dynamic)?;
    }
    let myid_path = cfg.data_dir.join("myid");
    if myid_path.is_file() {
        let text = std::fs::read_to_string(&myid_path).map_err(|source| ConfigError::Io {
            path: myid_path.clone(),
            source,
        })?;
        let first = text.lines().next().unwrap_or("");
        // `QuorumPeerConfig#setupMyId` uses Long.parseLong on the first line, untrimmed.
        cfg.my_id = Some(first.parse::<i64>().map_err(|_| ConfigError::Invalid {
            file: myid_path.display().to_string(),
            problem: format!("serverid {first} is not a number"),
        })?);
    }
    if !cfg.is_standalone() && cfg.my_id.is_none() {
        return Err(ConfigError::Invalid {
            file: path.display().to_string(),
            problem: "myid file is missing".to_owned(),
        });
    }
    Ok(cfg)
}

/// Parses and validates zoo.cfg text without JVM flags; `cfg_path` names the file in errors.
pub fn parse(text: &str, cfg_path: &Path) -> Result<ServerConfig, ConfigError> {
    build::build(text, cfg_path, SystemProperties::default())
}

/// [`parse`] with JVM `-D` settings. When they (or zoo.cfg) name a JAAS file
/// (`java.security.auth.login.config`), it is read and parsed here.
pub fn parse_with(
    text: &str,
    cfg_path: &Path,
    jvm: SystemProperties,
) -> Result<ServerConfig, ConfigError> {
    build::build(text, cfg_path, jvm)
}
