//! The two logins of quorum SASL (`QuorumPeer#initialize`): the `QuorumServer` JAAS section
//! authenticates peers that dial us, the `QuorumLearner` section is who we are when we dial.
//! Built once at start-up when `quorum.auth.enableSasl` is on; each connection then gets a
//! fresh exchange from it (see `quorum::auth` for the packets). A section with a
//! `Krb5LoginModule` runs GSSAPI, otherwise DIGEST-MD5, as 3.8 decides by whether the
//! login's subject holds a Kerberos principal.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

use super::digest::{DigestMd5Client, DigestMd5Server, DigestServerSettings};
use super::gssapi::{self, ServerFactory};
use super::kerberos::service_principal_for;
use super::server::{digest_users, DIGEST_LOGIN_MODULE, KRB5_LOGIN_MODULE};
use super::{SaslClient, SaslError, SaslServer};
use crate::config::jaas::{JaasConfig, LoginModuleEntry};
use crate::config::ServerConfig;
use crate::quorum::auth::{PROTOCOL, SERVER_NAME};

/// How we check a learner that dialled us (the `QuorumServer` login).
enum ServerLogin {
    Digest(Arc<DigestServerSettings>),
    /// `Krb5LoginModule`: acceptor credentials for the section's principal.
    Kerberos(ServerFactory),
}

/// Who we are when we dial (the `QuorumLearner` login).
enum LearnerLogin {
    Digest {
        user: String,
        password: String,
    },
    /// `Krb5LoginModule`: the section's principal from its keytab.
    Kerberos {
        principal: String,
        keytab: Option<PathBuf>,
    },
}

/// Quorum SASL of one server.
pub struct QuorumSasl {
    server: ServerLogin,
    learner: LearnerLogin,
    /// `quorum.auth.kerberos.servicePrincipal`, the peer's principal when we dial it.
    service_principal: String,
    /// `quorum.auth.serverRequireSasl`.
    pub server_require: bool,
    /// `quorum.auth.learnerRequireSasl`.
    pub learner_require: bool,
}

impl std::fmt::Debug for QuorumSasl {
    /// Passwords stay out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let server = match &self.server {
            ServerLogin::Digest(s) => format!("DIGEST-MD5 ({} users)", s.users.len()),
            ServerLogin::Kerberos(_) => "GSSAPI".to_owned(),
        };
        let learner = match &self.learner {
            LearnerLogin::Digest { user, .. } => format!("DIGEST-MD5 as {user}"),
            LearnerLogin::Kerberos { principal, .. } => format!("GSSAPI as {principal}"),
        };
        f.debug_struct("QuorumSasl")
            .field("server", &server)
            .field("learner", &learner)
            .field("server_require", &self.server_require)
            .field("learner_require", &self.learner_require)
            .finish()
    }
}

impl QuorumSasl {
    /// None unless `quorum.auth.enableSasl`; an error (start-up stops) when a section is
    /// missing, names a login module 3.8 could not run, or a Kerberos login cannot get its
    /// credentials.
    pub fn from_config(cfg: &ServerConfig) -> Result<Option<Arc<QuorumSasl>>, SaslError> {
        let a = &cfg.quorum_auth;
        if !a.enable_sasl {
            return Ok(None);
        }
        let jaas = cfg.sasl.jaas.as_deref();
        let server_section = section(jaas, &a.server_login_context)?;
        let learner_section = section(jaas, &a.learner_login_context)?;
        let server = match kerberos_entry(server_section) {
            // the login's subject has a principal: GSSAPI (`SecurityUtils#createSaslServer`)
            Some(krb5) => {
                let (principal, keytab) = krb5_principal(krb5, &a.server_login_context)?;
                let keytab = keytab.ok_or_else(|| {
                    SaslError::Setup(format!(
                        "JAAS section '{}': a Krb5LoginModule that accepts needs useKeyTab=true \
                         and keyTab",
                        a.server_login_context
                    ))
                })?;
                // every `server.N` host is a member's instance (`QuorumPeer#initialize`)
                let hosts: BTreeSet<String> = cfg
                    .servers
                    .values()
                    .filter_map(|s| s.addresses.first().map(|addr| addr.host.clone()))
                    .collect();
                ServerLogin::Kerberos(ServerFactory::for_quorum(&principal, &keytab, hosts)?)
            }
            None => {
                let settings = DigestServerSettings {
                    protocol: PROTOCOL.to_owned(),
                    server_name: SERVER_NAME.to_owned(),
                    ..DigestServerSettings::zookeeper(digest_users(server_section))
                };
                // what 3.8 logs when the QuorumServer section is DIGEST-MD5 only
                tracing::warn!("Using DIGEST-MD5 for quorum authorization");
                ServerLogin::Digest(Arc::new(settings))
            }
        };
        let learner = match kerberos_entry(learner_section) {
            Some(krb5) => {
                let (principal, keytab) = krb5_principal(krb5, &a.learner_login_context)?;
                LearnerLogin::Kerberos { principal, keytab }
            }
            None => {
                let option = |key: &str| -> Result<String, SaslError> {
                    learner_section
                        .iter()
                        .find_map(|e| e.options.get(key).cloned())
                        .ok_or_else(|| {
                            SaslError::Setup(format!(
                                "JAAS section '{}' has no '{key}' option for the quorum \
                                 learner's DIGEST-MD5 login",
                                a.learner_login_context
                            ))
                        })
                };
                LearnerLogin::Digest {
                    user: option("username")?,
                    password: option("password")?,
                }
            }
        };
        Ok(Some(Arc::new(QuorumSasl {
            server,
            learner,
            service_principal: a.service_principal.clone(),
            server_require: a.server_require_sasl,
            learner_require: a.learner_require_sasl,
        })))
    }

    /// The exchange of a peer that dialled us.
    pub fn server(&self) -> Box<dyn SaslServer> {
        match &self.server {
            ServerLogin::Digest(settings) => Box::new(DigestMd5Server::new(settings.clone())),
            ServerLogin::Kerberos(factory) => factory.exchange(),
        }
    }

    /// Our side when we dial the peer at `peer_host` (its `server.N` hostname, which a
    /// `service/_HOST` service principal takes); None when `quorum.auth.learnerRequireSasl`
    /// is off (then nothing is sent, as 3.8's learner skips the exchange).
    pub fn learner(&self, peer_host: &str) -> Result<Option<Box<dyn SaslClient>>, SaslError> {
        if !self.learner_require {
            return Ok(None);
        }
        let client: Box<dyn SaslClient> = match &self.learner {
            LearnerLogin::Digest { user, password } => Box::new(DigestMd5Client::new(
                user,
                password,
                Some(user),
                PROTOCOL,
                SERVER_NAME,
            )),
            LearnerLogin::Kerberos { principal, keytab } => {
                let service = service_principal_for(&self.service_principal, peer_host);
                gssapi::client(&service, Some(principal), keytab.as_deref())?
            }
        };
        Ok(Some(client))
    }
}

/// The section's Krb5LoginModule line, if it has one (3.8 picks the mechanism by whether
/// the login's subject holds a Kerberos principal).
fn kerberos_entry(section: &[LoginModuleEntry]) -> Option<&LoginModuleEntry> {
    section.iter().find(|e| e.class == KRB5_LOGIN_MODULE)
}

/// The `principal` and, with `useKeyTab=true`, the `keyTab` of a Krb5LoginModule line.
fn krb5_principal(
    entry: &LoginModuleEntry,
    section: &str,
) -> Result<(String, Option<PathBuf>), SaslError> {
    let principal = entry.options.get("principal").cloned().ok_or_else(|| {
        SaslError::Setup(format!(
            "JAAS section '{section}': Krb5LoginModule has no 'principal' option"
        ))
    })?;
    let use_keytab = entry
        .options
        .get("useKeyTab")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let keytab = entry
        .options
        .get("keyTab")
        .filter(|_| use_keytab)
        .map(PathBuf::from);
    Ok((principal, keytab))
}

/// The section `name`, which must exist and hold only DigestLoginModule and
/// Krb5LoginModule lines.
fn section<'a>(
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
            DIGEST_LOGIN_MODULE | KRB5_LOGIN_MODULE => {}
            other => {
                return Err(SaslError::Setup(format!(
                    "JAAS section '{name}': No LoginModule found for {other}"
                )))
            }
        }
    }
    Ok(section)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::path::Path;

    use super::*;
    use crate::config::{self, SystemProperties};

    fn quorum_sasl(jaas: &str) -> Result<Option<Arc<QuorumSasl>>, SaslError> {
        let dir = std::env::temp_dir().join(format!(
            "fk-quorum-sasl-{}-{}",
            std::process::id(),
            jaas.len()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("jaas.conf");
        std::fs::write(&file, jaas).unwrap();
        let flags = format!("-Djava.security.auth.login.config={}", file.display());
        let cfg = config::parse_with(
            "dataDir=d\nclientPort=1\nquorum.auth.enableSasl=true\n\
             quorum.auth.learnerRequireSasl=true\n",
            Path::new("zoo.cfg"),
            SystemProperties::from_flags(&flags),
        )
        .unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        QuorumSasl::from_config(&cfg)
    }

    const DIGEST_LEARNER: &str =
        "QuorumLearner { org.apache.zookeeper.server.auth.DigestLoginModule \
                                  required username=\"test\" password=\"test\"; };";

    #[test]
    fn digest_sections_make_digest_logins() {
        let sasl = quorum_sasl(&format!(
            "QuorumServer {{ org.apache.zookeeper.server.auth.DigestLoginModule required \
             user_test=\"test\"; }};\n{DIGEST_LEARNER}"
        ))
        .unwrap()
        .unwrap();
        assert_eq!(sasl.server().mechanism(), "DIGEST-MD5");
        let learner = sasl.learner("zk1").unwrap().unwrap();
        assert_eq!(learner.mechanism(), "DIGEST-MD5");
        assert!(format!("{sasl:?}").contains("DIGEST-MD5 as test"));
    }

    #[test]
    fn a_kerberos_acceptor_needs_a_keytab_and_a_principal() {
        let no_keytab = quorum_sasl(&format!(
            "QuorumServer {{ com.sun.security.auth.module.Krb5LoginModule required \
             principal=\"zkquorum/localhost@EXAMPLE.COM\"; }};\n{DIGEST_LEARNER}"
        ))
        .err()
        .unwrap()
        .to_string();
        assert!(
            no_keytab.contains("'QuorumServer'") && no_keytab.contains("useKeyTab=true"),
            "{no_keytab}"
        );
        let no_principal = quorum_sasl(&format!(
            "QuorumServer {{ com.sun.security.auth.module.Krb5LoginModule required \
             useKeyTab=true keyTab=\"/nonexistent\"; }};\n{DIGEST_LEARNER}"
        ))
        .err()
        .unwrap()
        .to_string();
        assert!(
            no_principal.contains("no 'principal' option"),
            "{no_principal}"
        );
    }

    #[test]
    fn other_login_modules_and_missing_sections_stop_start_up() {
        let plain = quorum_sasl(&format!(
            "QuorumServer {{ org.example.PlainLoginModule required; }};\n{DIGEST_LEARNER}"
        ))
        .err()
        .unwrap()
        .to_string();
        assert!(
            plain.contains("No LoginModule found for org.example.PlainLoginModule"),
            "{plain}"
        );
        let missing = quorum_sasl(DIGEST_LEARNER).err().unwrap().to_string();
        assert!(
            missing.contains("'QuorumServer' could not be found"),
            "{missing}"
        );
    }
}
