//! Client SASL settings: the JAAS file (`ServerCnxnFactory#configureSaslLogin`), the
//! `sasl` auth provider, super users, failure policy (`ZooKeeperServer#processSasl`),
//! principal canonicalisation (`SaslServerCallbackHandler`) and auth enforcement
//! (`AuthenticationHelper`).
//!
//! `java.*` properties (`java.security.auth.login.config`, `java.security.krb5.conf`) come
//! from the JVM flags only: in zoo.cfg they would be `zookeeper.java.…`, which nothing reads.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use super::jaas::{self, JaasConfig};
use super::sysprops::Props;
use super::values::java_bool;
use super::{ConfigError, ServerConfig};
use crate::sasl::kerberos::{AuthToLocal, AUTH_TO_LOCAL_PROPERTY};

/// 3.8's `SASLAuthenticationProvider`: registers the `sasl` scheme for ACLs.
pub const SASL_AUTH_PROVIDER: &str = "org.apache.zookeeper.server.auth.SASLAuthenticationProvider";

/// `ZooKeeperSaslServer.DEFAULT_LOGIN_CONTEXT_NAME`.
const DEFAULT_SERVER_SECTION: &str = "Server";

/// What the server needs to run SASL with its clients.
#[derive(Clone)]
pub struct SaslConfig {
    /// `java.security.auth.login.config`: the JAAS file.
    pub login_config: Option<PathBuf>,
    /// The parsed JAAS file.
    pub jaas: Option<Arc<JaasConfig>>,
    /// `zookeeper.sasl.serverconfig`: the JAAS section of the server's login.
    pub server_section: String,
    /// `authProvider.<n>` names `SASLAuthenticationProvider`: `sasl` ids are valid in ACLs.
    pub provider: bool,
    /// `zookeeper.allowSaslFailedClients`: a failed exchange keeps the connection.
    pub allow_failed_clients: bool,
    /// `zookeeper.superUser` and `zookeeper.superUser.<anything>`: SASL ids that are super.
    pub super_users: Vec<String>,
    /// `zookeeper.SASLAuthenticationProvider.superPassword`: the DIGEST-MD5 password of the
    /// user `super`, instead of its `user_super` option.
    pub super_password: Option<String>,
    /// `zookeeper.kerberos.removeHostFromPrincipal`.
    pub remove_host_from_principal: bool,
    /// `zookeeper.kerberos.removeRealmFromPrincipal`.
    pub remove_realm_from_principal: bool,
    /// `java.security.krb5.conf`.
    pub krb5_conf: Option<PathBuf>,
    /// `zookeeper.security.auth_to_local`: the short-name rules (default `DEFAULT`).
    pub auth_to_local: Arc<AuthToLocal>,
    /// `zookeeper.letAnySaslUserDoX`: a `sasl` ACL entry with this id lets in every
    /// SASL-authenticated client (`SASLAuthenticationProvider#matches`).
    pub let_any_sasl_user_do_x: Option<String>,
}

impl Default for SaslConfig {
    fn default() -> Self {
        SaslConfig {
            login_config: None,
            jaas: None,
            server_section: DEFAULT_SERVER_SECTION.to_owned(),
            provider: false,
            allow_failed_clients: false,
            super_users: Vec::new(),
            super_password: None,
            remove_host_from_principal: false,
            remove_realm_from_principal: false,
            krb5_conf: None,
            auth_to_local: Arc::new(AuthToLocal::default()),
            let_any_sasl_user_do_x: None,
        }
    }
}

impl fmt::Debug for SaslConfig {
    /// The super password stays out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SaslConfig")
            .field("login_config", &self.login_config)
            .field("jaas", &self.jaas)
            .field("server_section", &self.server_section)
            .field("provider", &self.provider)
            .field("allow_failed_clients", &self.allow_failed_clients)
            .field("super_users", &self.super_users)
            .field("super_password", &self.super_password.as_ref().map(|_| "…"))
            .field(
                "remove_host_from_principal",
                &self.remove_host_from_principal,
            )
            .field(
                "remove_realm_from_principal",
                &self.remove_realm_from_principal,
            )
            .field("krb5_conf", &self.krb5_conf)
            .field("auth_to_local", &self.auth_to_local)
            .field("let_any_sasl_user_do_x", &self.let_any_sasl_user_do_x)
            .finish()
    }
}

/// Java's `String#split(",")`: trailing empty strings dropped.
fn java_split_commas(v: &str) -> Vec<&str> {
    let mut parts: Vec<&str> = v.split(',').collect();
    while parts.len() > 1 && parts.last() == Some(&"") {
        parts.pop();
    }
    if parts == [""] {
        // "".split(",") is [""] in Java too; one empty scheme
        return parts;
    }
    parts
}

/// Fills `cfg.sasl` and `cfg.enforce_auth_schemes`; runs after the auth providers are known.
pub(super) fn apply(cfg: &mut ServerConfig, p: &Props, file: &str) -> Result<(), ConfigError> {
    let s = &mut cfg.sasl;
    s.login_config = p
        .jvm
        .get("java.security.auth.login.config")
        .map(jaas::login_config_path);
    s.krb5_conf = p.jvm.get("java.security.krb5.conf").map(PathBuf::from);
    if let Some(section) = p.string("zookeeper.sasl.serverconfig") {
        s.server_section = section;
    }
    s.allow_failed_clients = p.map("zookeeper.allowSaslFailedClients", false, java_bool);
    s.super_users = p
        .with_prefix("superUser")
        .into_iter()
        .filter(|(k, _)| k == "superUser" || k.starts_with("superUser."))
        .map(|(_, v)| v)
        .collect();
    s.super_password = p.string("zookeeper.SASLAuthenticationProvider.superPassword");
    s.remove_host_from_principal =
        p.map("zookeeper.kerberos.removeHostFromPrincipal", false, |v| {
            v == "true"
        });
    s.remove_realm_from_principal =
        p.map("zookeeper.kerberos.removeRealmFromPrincipal", false, |v| {
            v == "true"
        });
    s.let_any_sasl_user_do_x = p.string("zookeeper.letAnySaslUserDoX");
    if let Some(path) = &s.login_config {
        s.jaas = Some(Arc::new(jaas::load(path, &p.jvm)?));
    }
    if let Some((key, line, rules)) = p.get(AUTH_TO_LOCAL_PROPERTY) {
        match AuthToLocal::parse(rules) {
            Ok(parsed) => s.auth_to_local = Arc::new(parsed),
            // 3.8 reads the rules on first use (a SASL login, a `sasl` ACL); a rule it cannot
            // parse then breaks each login and takes the server down at the first `sasl` ACL.
            // A server without SASL never reads them.
            Err(problem) if s.provider || s.login_config.is_some() => {
                return Err(ConfigError::Invalid {
                    file: file.to_owned(),
                    problem: format!("{key}={rules}: {problem}"),
                });
            }
            Err(problem) => {
                tracing::warn!(
                    key,
                    line,
                    "{problem}; unused, as this server has no SASL (no JAAS file, no \
                     SASLAuthenticationProvider)"
                );
            }
        }
    }
    cfg.enforce_auth_schemes = enforce_auth_schemes(cfg, p, file)?;
    Ok(())
}

/// `AuthenticationHelper#initConfigurations` and `#validateConfiguredProperties`.
fn enforce_auth_schemes(
    cfg: &ServerConfig,
    p: &Props,
    file: &str,
) -> Result<Vec<String>, ConfigError> {
    let invalid = |problem: String| ConfigError::Invalid {
        file: file.to_owned(),
        problem,
    };
    // `Boolean.parseBoolean`; sessionRequireClientSASLAuth overrides the other two
    let schemes: Vec<String> = if p.map("zookeeper.sessionRequireClientSASLAuth", false, java_bool)
    {
        vec!["sasl".to_owned()]
    } else if p.map("zookeeper.enforce.auth.enabled", false, java_bool) {
        p.string("zookeeper.enforce.auth.schemes")
            .map(|v| {
                java_split_commas(&v)
                    .into_iter()
                    .map(|s| s.trim().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    } else {
        return Ok(Vec::new());
    };
    if schemes.is_empty() {
        return Err(invalid(
            "zookeeper.enforce.auth.enabled is true zookeeper.enforce.auth.schemes must be  \
             configured."
                .to_owned(),
        ));
    }
    for scheme in &schemes {
        let registered = match scheme.as_str() {
            "ip" | "digest" => true,
            "x509" => cfg.x509_auth_provider,
            "sasl" => cfg.sasl.provider,
            _ => false,
        };
        if !registered {
            return Err(invalid(format!(
                "Authentication scheme {scheme} is not available."
            )));
        }
    }
    Ok(schemes)
}
