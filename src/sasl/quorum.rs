//! The two logins of quorum SASL (`QuorumPeer#initialize`): the `QuorumServer` JAAS section
//! authenticates peers that dial us, the `QuorumLearner` section is who we are when we dial.
//! Built once at start-up when `quorum.auth.enableSasl` is on; each connection then gets a
//! fresh exchange from it (see `quorum::auth` for the packets).

use std::sync::Arc;

use super::digest::{DigestMd5Client, DigestMd5Server, DigestServerSettings};
use super::server::{digest_users, DIGEST_LOGIN_MODULE, KRB5_LOGIN_MODULE};
use super::{SaslClient, SaslError, SaslServer};
use crate::config::jaas::{JaasConfig, LoginModuleEntry};
use crate::config::ServerConfig;
use crate::quorum::auth::{PROTOCOL, SERVER_NAME};

/// Quorum SASL of one server.
pub struct QuorumSasl {
    server: Arc<DigestServerSettings>,
    learner_user: String,
    learner_password: String,
    /// `quorum.auth.serverRequireSasl`.
    pub server_require: bool,
    /// `quorum.auth.learnerRequireSasl`.
    pub learner_require: bool,
}

impl std::fmt::Debug for QuorumSasl {
    /// Passwords stay out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuorumSasl")
            .field("users", &self.server.users.len())
            .field("learner_user", &self.learner_user)
            .field("server_require", &self.server_require)
            .field("learner_require", &self.learner_require)
            .finish()
    }
}

impl QuorumSasl {
    /// None unless `quorum.auth.enableSasl`; an error (start-up stops) when a section is
    /// missing or names a login module this build cannot run.
    pub fn from_config(cfg: &ServerConfig) -> Result<Option<Arc<QuorumSasl>>, SaslError> {
        let a = &cfg.quorum_auth;
        if !a.enable_sasl {
            return Ok(None);
        }
        let jaas = cfg.sasl.jaas.as_deref();
        let server = digest_section(jaas, &a.server_login_context)?;
        let learner = digest_section(jaas, &a.learner_login_context)?;
        let option = |key: &str| -> Result<String, SaslError> {
            learner
                .iter()
                .find_map(|e| e.options.get(key).cloned())
                .ok_or_else(|| {
                    SaslError::Setup(format!(
                        "JAAS section '{}' has no '{key}' option for the quorum learner's \
                         DIGEST-MD5 login",
                        a.learner_login_context
                    ))
                })
        };
        let settings = DigestServerSettings {
            protocol: PROTOCOL.to_owned(),
            server_name: SERVER_NAME.to_owned(),
            ..DigestServerSettings::zookeeper(digest_users(server))
        };
        // what 3.8 logs when the QuorumServer section is DIGEST-MD5 only
        tracing::warn!("Using DIGEST-MD5 for quorum authorization");
        Ok(Some(Arc::new(QuorumSasl {
            server: Arc::new(settings),
            learner_user: option("username")?,
            learner_password: option("password")?,
            server_require: a.server_require_sasl,
            learner_require: a.learner_require_sasl,
        })))
    }

    /// The exchange of a peer that dialled us.
    pub fn server(&self) -> Box<dyn SaslServer> {
        Box::new(DigestMd5Server::new(self.server.clone()))
    }

    /// Our side when we dial; None when `quorum.auth.learnerRequireSasl` is off (then
    /// nothing is sent, as 3.8's learner skips the exchange).
    pub fn learner(&self) -> Option<Box<dyn SaslClient>> {
        self.learner_require.then(|| {
            Box::new(DigestMd5Client::new(
                &self.learner_user,
                &self.learner_password,
                Some(&self.learner_user),
                PROTOCOL,
                SERVER_NAME,
            )) as Box<dyn SaslClient>
        })
    }
}

/// The section `name`, which must exist and hold only DigestLoginModule lines.
fn digest_section<'a>(
    jaas: Option<&'a JaasConfig>,
    name: &str,
) -> Result<&'a [LoginModuleEntry], SaslError> {
    let missing = || {
        SaslError::Setup(format!(
            "SASL-authentication failed because the specified JAAS configuration section \
             '{name}' could not be found."
        ))
    };
    let section = jaas
        .and_then(|j| j.section(name))
        .filter(|s| !s.is_empty())
        .ok_or_else(missing)?;
    for entry in section {
        match entry.class.as_str() {
            DIGEST_LOGIN_MODULE => {}
            KRB5_LOGIN_MODULE => {
                return Err(SaslError::Setup(format!(
                    "JAAS section '{name}': Krb5LoginModule (GSSAPI) for quorum SASL is not \
                     available in this build yet; use DigestLoginModule"
                )))
            }
            other => {
                return Err(SaslError::Setup(format!(
                    "JAAS section '{name}': No LoginModule found for {other}"
                )))
            }
        }
    }
    Ok(section)
}
