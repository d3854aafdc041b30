//! `quorum.auth.*` (QuorumPeerConfig): SASL between the servers of an ensemble. These are
//! zoo.cfg keys of the peer's own config, not system properties.

use super::{ConfigError, ServerConfig};

/// The quorum SASL settings and the JAAS sections of the two logins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumAuthConfig {
    /// `quorum.auth.enableSasl`: both logins are built (and must exist) at start-up.
    pub enable_sasl: bool,
    /// `quorum.auth.serverRequireSasl`: a peer that does not authenticate is refused.
    pub server_require_sasl: bool,
    /// `quorum.auth.learnerRequireSasl`: we authenticate when we dial a peer.
    pub learner_require_sasl: bool,
    /// `quorum.auth.learner.saslLoginContext` (default `QuorumLearner`).
    pub learner_login_context: String,
    /// `quorum.auth.server.saslLoginContext` (default `QuorumServer`).
    pub server_login_context: String,
    /// `quorum.auth.kerberos.servicePrincipal` (default `zkquorum/localhost`).
    pub service_principal: String,
}

impl Default for QuorumAuthConfig {
    fn default() -> Self {
        QuorumAuthConfig {
            enable_sasl: false,
            server_require_sasl: false,
            learner_require_sasl: false,
            learner_login_context: "QuorumLearner".to_owned(),
            server_login_context: "QuorumServer".to_owned(),
            service_principal: "zkquorum/localhost".to_owned(),
        }
    }
}

/// Takes `key` if it is one of ours; `Ok(false)` otherwise. `parse_bool` is the peer
/// config's strict boolean.
pub(super) fn apply_key(
    cfg: &mut QuorumAuthConfig,
    key: &str,
    value: &str,
    parse_bool: impl Fn(&str) -> Result<bool, ConfigError>,
) -> Result<bool, ConfigError> {
    match key {
        "quorum.auth.enableSasl" => cfg.enable_sasl = parse_bool(value)?,
        "quorum.auth.serverRequireSasl" => cfg.server_require_sasl = parse_bool(value)?,
        "quorum.auth.learnerRequireSasl" => cfg.learner_require_sasl = parse_bool(value)?,
        "quorum.auth.learner.saslLoginContext" => cfg.learner_login_context = value.to_owned(),
        "quorum.auth.server.saslLoginContext" => cfg.server_login_context = value.to_owned(),
        "quorum.auth.kerberos.servicePrincipal" => cfg.service_principal = value.to_owned(),
        _ => return Ok(false),
    }
    Ok(true)
}

/// QuorumPeerConfig#parseProperties' three checks, with its messages.
pub(super) fn check(cfg: &ServerConfig, file: &str) -> Result<(), ConfigError> {
    let a = &cfg.quorum_auth;
    let problem = if !a.enable_sasl && a.server_require_sasl {
        "quorum.auth.enableSasl is disabled, so cannot enable quorum.auth.serverRequireSasl"
    } else if !a.enable_sasl && a.learner_require_sasl {
        "quorum.auth.enableSasl is disabled, so cannot enable quorum.auth.learnerRequireSasl"
    } else if !a.learner_require_sasl && a.server_require_sasl {
        "quorum.auth.learnerRequireSasl is disabled, so cannot enable \
         quorum.auth.serverRequireSasl"
    } else {
        return Ok(());
    };
    Err(ConfigError::Invalid {
        file: file.to_owned(),
        problem: problem.to_owned(),
    })
}
