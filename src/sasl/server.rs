//! The server's SASL login for its clients (`ServerCnxnFactory#configureSaslLogin`,
//! `ZooKeeperSaslServer#createSaslServer`) and what a connection does with an exchange's
//! outcome (`ZooKeeperServer#processSasl`).
//!
//! The JAAS section `zookeeper.sasl.serverconfig` (default `Server`) decides: absent or
//! empty, or no JAAS file at all, and there is no login — a `sasl` packet is then answered
//! Ok with a null token, as 3.8 does (its NullPointerException path). With
//! `DigestLoginModule` the mechanism is DIGEST-MD5 over the `user_<name>` options of every
//! module of the section. A login module class the server cannot run stops start-up, as
//! 3.8's `LoginException` does. Whether `authProvider.<n>` names `SASLAuthenticationProvider`
//! does not matter here: 3.8 negotiates and adds the `sasl` id either way; the provider only
//! makes `sasl` ids valid in ACLs and lets them match.

use std::collections::HashMap;
use std::sync::Arc;

use super::digest::{DigestMd5Server, DigestServerSettings};
use super::gssapi::{Krb5Environment, ServerFactory};
use super::kerberos::PrincipalRules;
use super::{SaslError, SaslServer};
use crate::config::jaas::LoginModuleEntry;
use crate::config::ServerConfig;

/// `org.apache.zookeeper.server.auth.DigestLoginModule`.
pub const DIGEST_LOGIN_MODULE: &str = "org.apache.zookeeper.server.auth.DigestLoginModule";
/// The JDK's Kerberos login module (the GSSAPI mechanism).
pub const KRB5_LOGIN_MODULE: &str = "com.sun.security.auth.module.Krb5LoginModule";

/// `SaslServerCallbackHandler.USER_PREFIX`.
const USER_PREFIX: &str = "user_";

/// The mechanism a login gives each connection.
enum Mechanism {
    Digest(Arc<DigestServerSettings>),
    /// `Krb5LoginModule`: acceptor credentials for the section's principal.
    Gssapi(Arc<ServerFactory>),
}

/// Client SASL of one server: the mechanism of its login and the policy around it.
pub struct ClientSasl {
    mechanism: Mechanism,
    /// `zookeeper.allowSaslFailedClients`.
    pub allow_failed_clients: bool,
    /// `sasl` is an enforced scheme (`sessionRequireClientSASLAuth`, `enforce.auth.*`):
    /// a failure is then answered `SessionClosedRequireSaslAuth` and always closes.
    pub sasl_required: bool,
    /// `zookeeper.superUser*`: authorization ids that are also `super`.
    super_users: Vec<String>,
}

impl ClientSasl {
    /// The login from the JAAS file and settings; None when there is none to run.
    pub fn from_config(cfg: &ServerConfig) -> Result<Option<Arc<ClientSasl>>, SaslError> {
        let s = &cfg.sasl;
        let Some(jaas) = &s.jaas else {
            return Ok(None);
        };
        let section = match jaas.section(&s.server_section) {
            Some(entries) if !entries.is_empty() => entries,
            _ => {
                tracing::info!(
                    jaas = %jaas.path.display(),
                    section = %s.server_section,
                    "no JAAS section for the server's login; clients are not authenticated \
                     with SASL"
                );
                return Ok(None);
            }
        };
        let mut kerberos = None;
        for entry in section {
            match entry.class.as_str() {
                DIGEST_LOGIN_MODULE => {}
                KRB5_LOGIN_MODULE => kerberos = kerberos.or(Some(entry)),
                other => {
                    return Err(SaslError::Setup(format!(
                        "Could not configure server because SASL configuration did not allow \
                         the ZooKeeper server to authenticate itself properly: No LoginModule \
                         found for {other} (JAAS section '{}' of {})",
                        s.server_section,
                        jaas.path.display()
                    )))
                }
            }
        }
        let sasl_required = cfg.enforce_auth_schemes.iter().any(|x| x == "sasl");
        // `ZooKeeperSaslServer#createSaslServer`: a login with a Kerberos principal runs
        // GSSAPI, any other DIGEST-MD5
        if let Some(entry) = kerberos {
            let option = |key: &str| {
                entry.options.get(key).ok_or_else(|| {
                    SaslError::Setup(format!(
                        "JAAS section '{}' of {}: Krb5LoginModule needs '{key}' for the \
                         server's login (useKeyTab=true keyTab=\"…\" principal=\"…\")",
                        s.server_section,
                        jaas.path.display()
                    ))
                })
            };
            let principal = option("principal")?;
            let keytab = option("keyTab")?;
            let rules = principal_rules(s);
            let factory = ServerFactory::new(principal, std::path::Path::new(keytab), rules)?;
            tracing::info!(
                section = %s.server_section,
                %principal,
                "clients may authenticate with SASL GSSAPI (Kerberos)"
            );
            return Ok(Some(Arc::new(ClientSasl {
                mechanism: Mechanism::Gssapi(Arc::new(factory)),
                allow_failed_clients: s.allow_failed_clients,
                sasl_required,
                super_users: s.super_users.clone(),
            })));
        }
        let settings = DigestServerSettings {
            users: digest_users(section),
            super_password: s.super_password.clone(),
            rules: principal_rules(s),
            ..DigestServerSettings::zookeeper(HashMap::new())
        };
        tracing::info!(
            section = %s.server_section,
            users = settings.users.len(),
            "clients may authenticate with SASL DIGEST-MD5"
        );
        Ok(Some(Arc::new(ClientSasl {
            mechanism: Mechanism::Digest(Arc::new(settings)),
            allow_failed_clients: s.allow_failed_clients,
            sasl_required,
            super_users: s.super_users.clone(),
        })))
    }

    /// A connection's exchange (`new ZooKeeperSaslServer(login)`).
    pub fn new_server(&self) -> Box<dyn SaslServer> {
        match &self.mechanism {
            Mechanism::Digest(settings) => Box::new(DigestMd5Server::new(settings.clone())),
            Mechanism::Gssapi(factory) => factory.exchange(),
        }
    }

    /// `ZooKeeperServer#isSaslSuperUser`.
    pub fn is_super_user(&self, authorization_id: &str) -> bool {
        !authorization_id.is_empty() && self.super_users.iter().any(|u| u == authorization_id)
    }
}

/// `SaslServerCallbackHandler`: `user_<name>` options of every module of the section.
/// Where MIT krb5 must look for this server's Kerberos logins (`-Djava.security.krb5.conf`,
/// the `keyTab` of the Krb5LoginModule of the client login's section and, with
/// `quorum.auth.enableSasl`, of the quorum sections); `main` applies it before any thread
/// starts. One process has one acceptor keytab: when the `Server` and `QuorumServer`
/// sections name different ones, the quorum login's start-up check names the conflict.
pub fn krb5_environment(cfg: &ServerConfig) -> Krb5Environment {
    let s = &cfg.sasl;
    let keytab_of = |section: &str| {
        s.jaas
            .as_ref()
            .and_then(|j| j.section(section))
            .into_iter()
            .flatten()
            .filter(|e| e.class == KRB5_LOGIN_MODULE)
            .find_map(|e| e.options.get("keyTab"))
            .map(std::path::PathBuf::from)
    };
    let quorum = &cfg.quorum_auth;
    let (quorum_acceptor, quorum_initiator) = if quorum.enable_sasl {
        (
            keytab_of(&quorum.server_login_context),
            keytab_of(&quorum.learner_login_context),
        )
    } else {
        (None, None)
    };
    Krb5Environment {
        krb5_conf: s.krb5_conf.clone(),
        acceptor_keytab: keytab_of(&s.server_section).or(quorum_acceptor),
        initiator_keytab: quorum_initiator,
        ..Krb5Environment::default()
    }
}

pub(super) fn digest_users(section: &[LoginModuleEntry]) -> HashMap<String, String> {
    let mut users = HashMap::new();
    for entry in section {
        for (key, value) in &entry.options {
            if let Some(name) = key.strip_prefix(USER_PREFIX) {
                users.insert(name.to_owned(), value.clone());
            }
        }
    }
    users
}

/// The principal rules of `SaslServerCallbackHandler` from the server's settings.
fn principal_rules(s: &crate::config::SaslConfig) -> PrincipalRules {
    PrincipalRules {
        remove_host_from_principal: s.remove_host_from_principal,
        remove_realm_from_principal: s.remove_realm_from_principal,
        auth_to_local: Arc::clone(&s.auth_to_local),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::path::Path;

    use super::*;
    use crate::config::{self, SystemProperties};

    fn cfg_with(jaas: &str, extra: &str) -> ServerConfig {
        let dir = std::env::temp_dir().join(format!(
            "fk-sasl-server-{}-{}",
            std::process::id(),
            jaas.len() + extra.len()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("jaas.conf");
        std::fs::write(&file, jaas).unwrap();
        let flags = format!("-Djava.security.auth.login.config={}", file.display());
        let cfg = config::parse_with(
            &format!("dataDir=d\nclientPort=1\n{extra}"),
            Path::new("zoo.cfg"),
            SystemProperties::from_flags(&flags),
        )
        .unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        cfg
    }

    #[test]
    fn digest_login_from_the_server_section() {
        let cfg = cfg_with(
            "Server { org.apache.zookeeper.server.auth.DigestLoginModule required \
             user_bob=\"b\" user_super=\"s\" debug=\"true\"; };",
            "superUser=super\n",
        );
        let sasl = ClientSasl::from_config(&cfg).unwrap().unwrap();
        assert!(sasl.is_super_user("super") && !sasl.is_super_user("bob"));
        assert!(!sasl.allow_failed_clients && !sasl.sasl_required);
        assert_eq!(sasl.new_server().mechanism(), "DIGEST-MD5");
    }

    #[test]
    fn no_section_no_login_and_other_modules_stop_start_up() {
        let client_only = cfg_with(
            "Client { org.apache.zookeeper.server.auth.DigestLoginModule required \
             username=\"bob\" password=\"b\"; };",
            "",
        );
        assert!(ClientSasl::from_config(&client_only).unwrap().is_none());
        let renamed = cfg_with(
            "ZkServer { org.apache.zookeeper.server.auth.DigestLoginModule required; };",
            "sasl.serverconfig=ZkServer\n",
        );
        assert!(ClientSasl::from_config(&renamed).unwrap().is_some());
        let plain = cfg_with(
            "Server { org.apache.kafka.common.security.plain.PlainLoginModule required; };",
            "",
        );
        let e = ClientSasl::from_config(&plain).err().unwrap().to_string();
        assert!(
            e.contains("No LoginModule found for org.apache.kafka"),
            "{e}"
        );
        assert!(ClientSasl::from_config(
            &config::parse("dataDir=d\nclientPort=1\n", Path::new("z")).unwrap()
        )
        .unwrap()
        .is_none());
    }
}
