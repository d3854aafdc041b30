//! GSSAPI (Kerberos V5) SASL, RFC 4752, as the JDK's `GssKrb5Server` and `GssKrb5Client`
//! run it for ZooKeeper, over the system's MIT krb5 through the `libgssapi` crate.
//!
//! The exchange, with ZooKeeper's settings (quality of protection `auth` only, no mutual
//! authentication requested, as the JDK does when no security layer is offered):
//!
//! 1. client → server: the Kerberos AP-REQ (`initial_response`). The server accepts it and,
//!    the context being established, answers at once with
//! 2. server → client: the security-layer offer, wrapped (integrity, no confidentiality):
//!    `[layers = 0x01 (none), max buffer 65536 in 3 bytes big-endian]`;
//! 3. client → server: its choice, wrapped: `[0x01, 0, 0, 0] ++ authorization id` (ZooKeeper's
//!    clients send their own principal, `alice@EXAMPLE.COM`);
//! 4. server: complete, with no challenge (Java's `null`: on the client port the final
//!    `SetSASLResponse` carries a null buffer). The `sasl:` id comes from the authenticated
//!    principal under [`PrincipalRules`] (see [`super::kerberos`]).
//!
//! # Using it from a connection task
//!
//! At start-up, before the tokio runtime exists, `main` applies the process's
//! [`Krb5Environment`] (from `-Djava.security.krb5.conf` and the JAAS sections' `keyTab`s)
//! with [`Krb5Environment::apply_before_threads`]. It then builds one [`ServerFactory`] from
//! the JAAS `Server` section (`principal`, `keyTab`) and `kerberos.remove*FromPrincipal`,
//! failing start-up on its error as ZooKeeper does when its login fails. Each client
//! connection that sends a `sasl` request gets `factory.exchange()` and feeds it the request
//! tokens with [`SaslServer::evaluate_response`]; once `is_complete()`, the connection adds
//! `sasl:<authorization_id()>` to its auth info. An error fails that connection's
//! authentication only. A quorum learner uses [`client`] the same way from the
//! `QuorumLearner` section, with the `quorum.auth.kerberos.servicePrincipal`.
//!
//! The calls may block: the server's step reads the keytab (a client connection task runs it
//! inline, as 3.8 runs it on its I/O thread); the client's first step may talk to the KDC,
//! so a quorum learner runs its steps with `tokio::task::spawn_blocking`.
//!
//! # Why the process environment
//!
//! MIT krb5 finds krb5.conf, the acceptor keytab and the initiator keytab through
//! `KRB5_CONFIG`, `KRB5_KTNAME` and `KRB5_CLIENT_KTNAME`, read each time it makes a krb5
//! context. The per-credential alternative, `gss_acquire_cred_from` with a credential store,
//! has no safe binding in `libgssapi` (and this crate forbids `unsafe`). Changing the
//! environment while other threads run is a data race in libc, so it is set once, before any
//! thread exists, and [`ServerFactory::new`] and [`client`] refuse a keytab other than the
//! one it names, rather than silently using another.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use libgssapi::context::{ClientCtx, CtxFlags, SecurityContext, ServerCtx};
use libgssapi::credential::{Cred, CredUsage};
use libgssapi::name::Name;
use libgssapi::oid::{OidSet, GSS_MECH_KRB5, GSS_NT_HOSTBASED_SERVICE, GSS_NT_KRB5_PRINCIPAL};

use super::kerberos::{authorized_id, quorum_authorized, KerberosName, PrincipalRules};
use super::{SaslClient, SaslError, SaslServer};

/// The mechanism's IANA name.
pub const MECHANISM: &str = "GSSAPI";
/// RFC 4752's security-layer bits.
pub const NO_SECURITY_LAYER: u8 = 0x01;
pub const INTEGRITY_LAYER: u8 = 0x02;
pub const PRIVACY_LAYER: u8 = 0x04;
/// The server's receive buffer in its offer: `javax.security.sasl.maxbuffer`'s default.
pub const DEFAULT_MAX_BUFFER: u32 = 65536;
/// The largest buffer size the 3-byte field holds.
const MAX_BUFFER_FIELD: u32 = 0x00FF_FFFF;

/// The security-layer message of RFC 4752 §3.1, before wrapping: the server's offer
/// (layers it supports, its maximum buffer) or the client's choice (one layer, its maximum
/// buffer, and the authorization id it asks for).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerMessage {
    /// Bit mask of security layers.
    pub layers: u8,
    /// Maximum size of a wrapped message the sender accepts (3 bytes on the wire).
    pub max_buffer: u32,
    /// The client's requested authorization id; None in the server's offer.
    pub authorization_id: Option<String>,
}

impl LayerMessage {
    pub fn encode(&self) -> Vec<u8> {
        let id = self.authorization_id.as_deref().unwrap_or("");
        let mut out = Vec::with_capacity(4 + id.len());
        out.push(self.layers);
        out.extend_from_slice(&self.max_buffer.min(MAX_BUFFER_FIELD).to_be_bytes()[1..]);
        out.extend_from_slice(id.as_bytes());
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, SaslError> {
        let [layers, b1, b2, b3, rest @ ..] = bytes else {
            return Err(malformed(format!(
                "security layer message of {} bytes, at least 4 expected",
                bytes.len()
            )));
        };
        Ok(Self {
            layers: *layers,
            max_buffer: u32::from_be_bytes([0, *b1, *b2, *b3]),
            // the JDK decodes it as UTF-8, replacing what is not
            authorization_id: (!rest.is_empty())
                .then(|| String::from_utf8_lossy(rest).into_owned()),
        })
    }
}

fn malformed(reason: String) -> SaslError {
    SaslError::Malformed {
        mechanism: MECHANISM,
        reason,
    }
}

fn gss_failed(what: &str, e: libgssapi::error::Error) -> SaslError {
    SaslError::Authentication(format!("{what}: {e}"))
}

/// Where MIT krb5 finds its configuration, keys and tickets, for the whole process (see the
/// module doc for why).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Krb5Environment {
    /// `-Djava.security.krb5.conf`; None keeps the system's (`/etc/krb5.conf`).
    pub krb5_conf: Option<PathBuf>,
    /// The `keyTab` of the JAAS sections that accept (`Server`, `QuorumServer`).
    pub acceptor_keytab: Option<PathBuf>,
    /// The `keyTab` of the section that initiates (`QuorumLearner`).
    pub initiator_keytab: Option<PathBuf>,
    /// `ticketCache` of a section with `useTicketCache=true`.
    pub ticket_cache: Option<PathBuf>,
}

impl Krb5Environment {
    /// The variables this environment sets, in the form MIT krb5 reads them.
    pub fn variables(&self) -> Vec<(&'static str, OsString)> {
        let mut vars = Vec::new();
        if let Some(conf) = &self.krb5_conf {
            vars.push(("KRB5_CONFIG", conf.clone().into_os_string()));
        }
        if let Some(keytab) = &self.acceptor_keytab {
            vars.push(("KRB5_KTNAME", file_name_of(keytab)));
        }
        if let Some(keytab) = &self.initiator_keytab {
            vars.push(("KRB5_CLIENT_KTNAME", file_name_of(keytab)));
        }
        if let Some(cache) = &self.ticket_cache {
            vars.push(("KRB5CCNAME", file_name_of(cache)));
        }
        vars
    }

    /// Set the variables in this process. Call it from `main` before any thread exists
    /// (before the tokio runtime is built): setting the environment while another thread
    /// reads it is a data race in libc.
    pub fn apply_before_threads(&self) {
        for (name, value) in self.variables() {
            tracing::info!("Kerberos: {name}={}", value.to_string_lossy());
            std::env::set_var(name, value);
        }
    }
}

fn file_name_of(path: &Path) -> OsString {
    let mut name = OsString::from("FILE:");
    name.push(path.as_os_str());
    name
}

/// The keytab must be readable and be the one the process environment names in `variable`.
fn check_keytab(variable: &'static str, keytab: &Path) -> Result<(), SaslError> {
    if let Err(e) = std::fs::File::open(keytab) {
        return Err(SaslError::Setup(format!(
            "keyTab {} cannot be read: {e}",
            keytab.display()
        )));
    }
    match std::env::var_os(variable) {
        Some(set) if set == file_name_of(keytab) => Ok(()),
        Some(set) => Err(SaslError::Setup(format!(
            "keyTab {} is not the keytab Kerberos was set up with at start-up ({variable}={}); \
             one process uses one {} keytab",
            keytab.display(),
            set.to_string_lossy(),
            if variable == "KRB5_KTNAME" {
                "acceptor"
            } else {
                "initiator"
            }
        ))),
        None => Err(SaslError::Setup(format!(
            "keyTab {}: Kerberos was not set up with it at start-up ({variable} is unset)",
            keytab.display()
        ))),
    }
}

fn krb5_mechs() -> Result<OidSet, SaslError> {
    OidSet::singleton(GSS_MECH_KRB5)
        .map_err(|e| SaslError::Setup(format!("GSSAPI: no Kerberos mechanism: {e}")))
}

/// krb5.conf's `default_realm`, which the `DEFAULT` principal rule compares with; "" when
/// there is none, as ZooKeeper's `KerberosName` has it.
pub fn default_realm() -> String {
    let realm = Name::new(b"ferrokeeper", Some(GSS_NT_KRB5_PRINCIPAL))
        .and_then(|n| n.canonicalize(Some(GSS_MECH_KRB5)))
        .map(|n| n.to_string());
    match realm {
        Ok(name) => name
            .split_once('@')
            .map(|(_, r)| r.to_owned())
            .unwrap_or_default(),
        Err(e) => {
            tracing::warn!("Kerberos: no default realm ({e}); principal rules match no realm");
            String::new()
        }
    }
}

/// The server side's long-lived part, made once from the JAAS `Server` section: acceptor
/// credentials for its principal. Shared by all connections.
pub struct ServerFactory {
    cred: Cred,
    authorize: Authorize,
}

/// Who an authenticated principal may be, by the login that accepted it.
#[derive(Debug, Clone)]
enum Authorize {
    /// A client: `SaslServerCallbackHandler`, shortened by the principal rules.
    Client {
        default_realm: String,
        rules: PrincipalRules,
    },
    /// A quorum learner: `SaslQuorumServerCallbackHandler`, a member's own principal only.
    Quorum { hosts: Arc<BTreeSet<String>> },
}

impl ServerFactory {
    /// Acceptor credentials for `principal` (`service/host@REALM`, the JAAS `principal`)
    /// from `keytab` (its `keyTab`, which must be the process's acceptor keytab).
    pub fn new(principal: &str, keytab: &Path, rules: PrincipalRules) -> Result<Self, SaslError> {
        let authorize = Authorize::Client {
            default_realm: default_realm(),
            rules,
        };
        Self::acquire(principal, keytab, authorize)
    }

    /// The quorum server's acceptor (`QuorumServer` section): learners are authorized only
    /// as `service/host@REALM` with `host` in `hosts`, the ensemble's server hostnames.
    pub fn for_quorum(
        principal: &str,
        keytab: &Path,
        hosts: BTreeSet<String>,
    ) -> Result<Self, SaslError> {
        let hosts = Arc::new(hosts);
        Self::acquire(principal, keytab, Authorize::Quorum { hosts })
    }

    fn acquire(principal: &str, keytab: &Path, authorize: Authorize) -> Result<Self, SaslError> {
        let name = KerberosName::parse(principal).map_err(|e| SaslError::Setup(e.to_string()))?;
        let (Some(host), Some(_)) = (&name.host, &name.realm) else {
            return Err(SaslError::Setup(format!(
                "server principal name/hostname determination error: principal \"{principal}\" \
                 is not of the form service/host@REALM"
            )));
        };
        check_keytab("KRB5_KTNAME", keytab)?;
        // as the JDK names its acceptor: a host-based service, service@host
        let service = format!("{}@{host}", name.service);
        let gss_name = Name::new(service.as_bytes(), Some(GSS_NT_HOSTBASED_SERVICE))
            .map_err(|e| SaslError::Setup(format!("service name {service}: {e}")))?;
        let cred = Cred::acquire(
            Some(&gss_name),
            None,
            CredUsage::Accept,
            Some(&krb5_mechs()?),
        )
        .map_err(|e| {
            SaslError::Setup(format!(
                "no acceptor credentials for {principal} in {}: {e}",
                keytab.display()
            ))
        })?;
        Ok(Self { cred, authorize })
    }

    /// A fresh server side for one client's exchange.
    pub fn exchange(&self) -> Box<dyn SaslServer> {
        Box::new(GssapiServer {
            ctx: ServerCtx::new(Some(self.cred.clone())),
            stage: ServerStage::Context,
            peer: String::new(),
            authorization_id: None,
            authorize: self.authorize.clone(),
        })
    }
}

/// One exchange's server side from a fresh [`ServerFactory`]; long-running servers keep the
/// factory instead.
pub fn server(
    principal: &str,
    keytab: &Path,
    rules: PrincipalRules,
) -> Result<Box<dyn SaslServer>, SaslError> {
    Ok(ServerFactory::new(principal, keytab, rules)?.exchange())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ServerStage {
    /// Accepting context tokens.
    Context,
    /// Context established with a last token out; the client answers it with nothing.
    Established,
    /// Offer sent; the client's choice is next.
    Offered,
    Complete,
}

struct GssapiServer {
    ctx: ServerCtx,
    stage: ServerStage,
    /// The authenticated principal.
    peer: String,
    authorization_id: Option<String>,
    authorize: Authorize,
}

impl GssapiServer {
    fn offer(&mut self, response: &[u8]) -> Result<Vec<u8>, SaslError> {
        if !response.is_empty() {
            return Err(malformed(format!(
                "{} bytes where the context's end expects an empty response",
                response.len()
            )));
        }
        let offer = LayerMessage {
            layers: NO_SECURITY_LAYER,
            max_buffer: DEFAULT_MAX_BUFFER,
            authorization_id: None,
        };
        let wrapped = self
            .ctx
            .wrap(false, &offer.encode())
            .map_err(|e| gss_failed("Problem wrapping handshake1", e))?;
        self.stage = ServerStage::Offered;
        Ok(wrapped.to_vec())
    }

    fn choice(&mut self, response: &[u8]) -> Result<Vec<u8>, SaslError> {
        let plain = self
            .ctx
            .unwrap(response)
            .map_err(|e| gss_failed("Final handshake step failed", e))?;
        let choice = LayerMessage::decode(&plain)?;
        if choice.layers & NO_SECURITY_LAYER == 0 {
            return Err(SaslError::Authentication(format!(
                "Client selected unsupported protection: {}",
                choice.layers
            )));
        }
        let requested = choice.authorization_id.unwrap_or_else(|| self.peer.clone());
        let id = match &self.authorize {
            Authorize::Client {
                default_realm,
                rules,
            } => authorized_id(&self.peer, &requested, default_realm, rules)?,
            Authorize::Quorum { hosts } => quorum_authorized(&self.peer, &requested, hosts)?,
        };
        self.authorization_id = Some(id);
        self.stage = ServerStage::Complete;
        Ok(Vec::new())
    }
}

impl SaslServer for GssapiServer {
    fn mechanism(&self) -> &'static str {
        MECHANISM
    }

    fn evaluate_response(&mut self, response: &[u8]) -> Result<Vec<u8>, SaslError> {
        match self.stage {
            ServerStage::Context => {
                let token = self
                    .ctx
                    .step(response, None)
                    .map_err(|e| gss_failed("GSS initiate failed", e))?;
                if !self.ctx.is_complete() {
                    return Ok(token.map(|t| t.to_vec()).unwrap_or_default());
                }
                self.peer = self
                    .ctx
                    .source_name()
                    .map_err(|e| gss_failed("GSS initiate failed", e))?
                    .to_string();
                match token {
                    Some(t) if !t.is_empty() => {
                        self.stage = ServerStage::Established;
                        Ok(t.to_vec())
                    }
                    _ => self.offer(&[]),
                }
            }
            ServerStage::Established => self.offer(response),
            ServerStage::Offered => self.choice(response),
            ServerStage::Complete => {
                Err(malformed("SASL authentication already complete".to_owned()))
            }
        }
    }

    fn is_complete(&self) -> bool {
        self.stage == ServerStage::Complete
    }

    fn authorization_id(&self) -> Option<&str> {
        self.authorization_id.as_deref()
    }

    fn claimed_id(&self) -> Option<&str> {
        Some(self.peer.as_str()).filter(|p| !p.is_empty())
    }
}

/// The client side, as a ZooKeeper client or quorum learner runs it: to the service
/// `service_principal` (`zookeeper/localhost`, `zkquorum/host@REALM`), as `principal` (from
/// the process's initiator keytab `keytab`, or the ticket cache when None), or as the
/// ticket cache's default principal when `principal` is None.
pub fn client(
    service_principal: &str,
    principal: Option<&str>,
    keytab: Option<&Path>,
) -> Result<Box<dyn SaslClient>, SaslError> {
    // as ZooKeeper's clients do, a service principal without a realm is in ours; the realm
    // does not enter the host-based target name, the host does
    let full = if service_principal.contains('@') {
        service_principal.to_owned()
    } else {
        format!("{service_principal}@{}", default_realm())
    };
    let service = KerberosName::parse(&full).map_err(|e| SaslError::Setup(e.to_string()))?;
    let Some(host) = &service.host else {
        return Err(SaslError::Setup(format!(
            "service principal \"{service_principal}\" is not of the form service/host[@REALM]"
        )));
    };
    if let Some(keytab) = keytab {
        check_keytab("KRB5_CLIENT_KTNAME", keytab)?;
    }
    let mechs = krb5_mechs()?;
    let cred = match principal {
        Some(p) => {
            let name = Name::new(p.as_bytes(), Some(GSS_NT_KRB5_PRINCIPAL))
                .map_err(|e| SaslError::Setup(format!("principal {p}: {e}")))?;
            Cred::acquire(Some(&name), None, CredUsage::Initiate, Some(&mechs))
        }
        None => Cred::acquire(None, None, CredUsage::Initiate, Some(&mechs)),
    }
    .map_err(|e| {
        SaslError::Setup(format!(
            "no initiator credentials for {}: {e}",
            principal.unwrap_or("the ticket cache's principal")
        ))
    })?;
    let authorization_id = cred
        .name()
        .map_err(|e| SaslError::Setup(format!("initiator credentials have no name: {e}")))?
        .to_string();
    let target = format!("{}@{host}", service.service);
    let target = Name::new(target.as_bytes(), Some(GSS_NT_HOSTBASED_SERVICE))
        .map_err(|e| SaslError::Setup(format!("service name {target}: {e}")))?;
    // the JDK asks for confidentiality and integrity, and no mutual authentication when
    // only the `auth` layer is wanted
    let flags = CtxFlags::GSS_C_CONF_FLAG | CtxFlags::GSS_C_INTEG_FLAG;
    Ok(Box::new(GssapiClient {
        ctx: ClientCtx::new(Some(cred), target, flags, Some(GSS_MECH_KRB5)),
        established: false,
        complete: false,
        authorization_id,
    }))
}

struct GssapiClient {
    ctx: ClientCtx,
    established: bool,
    complete: bool,
    /// Our principal, sent as the authorization id.
    authorization_id: String,
}

impl GssapiClient {
    fn step(&mut self, challenge: Option<&[u8]>) -> Result<Vec<u8>, SaslError> {
        let token = self
            .ctx
            .step(challenge, None)
            .map_err(|e| gss_failed("GSS initiate failed", e))?;
        self.established = self.ctx.is_complete();
        Ok(token.map(|t| t.to_vec()).unwrap_or_default())
    }

    fn choose(&mut self, challenge: &[u8]) -> Result<Vec<u8>, SaslError> {
        if challenge.is_empty() {
            // the server's empty answer to our last context token
            return Ok(Vec::new());
        }
        let plain = self
            .ctx
            .unwrap(challenge)
            .map_err(|e| gss_failed("Final handshake failed", e))?;
        let offer = LayerMessage::decode(&plain)?;
        if offer.layers & NO_SECURITY_LAYER == 0 {
            return Err(SaslError::Authentication(
                "No common protection layer between client and server".to_owned(),
            ));
        }
        let choice = LayerMessage {
            layers: NO_SECURITY_LAYER,
            // RFC 4752: 0 when no security layer is chosen
            max_buffer: 0,
            authorization_id: Some(self.authorization_id.clone()).filter(|id| !id.is_empty()),
        };
        let wrapped = self
            .ctx
            .wrap(false, &choice.encode())
            .map_err(|e| gss_failed("Final handshake failed", e))?;
        self.complete = true;
        Ok(wrapped.to_vec())
    }
}

impl SaslClient for GssapiClient {
    fn mechanism(&self) -> &'static str {
        MECHANISM
    }

    fn initial_response(&mut self) -> Result<Option<Vec<u8>>, SaslError> {
        self.step(None).map(Some)
    }

    fn evaluate_challenge(&mut self, challenge: &[u8]) -> Result<Vec<u8>, SaslError> {
        if self.complete {
            return Err(malformed(
                "GSSAPI authentication already complete".to_owned(),
            ));
        }
        if self.established {
            self.choose(challenge)
        } else {
            self.step(Some(challenge))
        }
    }

    fn is_complete(&self) -> bool {
        self.complete
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_offer_is_java_s() {
        let offer = LayerMessage {
            layers: NO_SECURITY_LAYER,
            max_buffer: DEFAULT_MAX_BUFFER,
            authorization_id: None,
        };
        assert_eq!(offer.encode(), [0x01, 0x01, 0x00, 0x00]);
        assert_eq!(LayerMessage::decode(&offer.encode()).unwrap(), offer);
    }

    #[test]
    fn the_client_choice_carries_the_authorization_id() {
        let choice = LayerMessage {
            layers: NO_SECURITY_LAYER,
            max_buffer: 0,
            authorization_id: Some("alice@EXAMPLE.COM".to_owned()),
        };
        let bytes = choice.encode();
        assert_eq!(&bytes[..4], [0x01, 0, 0, 0]);
        assert_eq!(&bytes[4..], b"alice@EXAMPLE.COM");
        assert_eq!(LayerMessage::decode(&bytes).unwrap(), choice);
    }

    #[test]
    fn a_buffer_size_is_three_bytes() {
        let m = LayerMessage {
            layers: INTEGRITY_LAYER | PRIVACY_LAYER,
            max_buffer: u32::MAX,
            authorization_id: None,
        };
        assert_eq!(m.encode(), [0x06, 0xFF, 0xFF, 0xFF]);
        let d = LayerMessage::decode(&[0x02, 0x12, 0x34, 0x56]).unwrap();
        assert_eq!((d.layers, d.max_buffer), (0x02, 0x12_3456));
    }

    #[test]
    fn short_or_odd_messages_are_refused_or_read_as_java_does() {
        for short in [&[][..], &[1], &[1, 0, 0]] {
            let err = LayerMessage::decode(short).unwrap_err();
            assert!(matches!(err, SaslError::Malformed { .. }), "{err}");
            assert!(err.to_string().contains("at least 4 expected"), "{err}");
        }
        let odd = LayerMessage::decode(&[1, 0, 0, 0, 0xff, b'a']).unwrap();
        assert_eq!(odd.authorization_id.as_deref(), Some("\u{fffd}a"));
    }

    #[test]
    fn the_environment_names_files_as_mit_reads_them() {
        let env = Krb5Environment {
            krb5_conf: Some("/etc/zk/krb5.conf".into()),
            acceptor_keytab: Some("/etc/zk.keytab".into()),
            initiator_keytab: Some("/etc/learner.keytab".into()),
            ticket_cache: None,
        };
        let vars = env.variables();
        assert_eq!(
            vars,
            [
                ("KRB5_CONFIG", OsString::from("/etc/zk/krb5.conf")),
                ("KRB5_KTNAME", OsString::from("FILE:/etc/zk.keytab")),
                (
                    "KRB5_CLIENT_KTNAME",
                    OsString::from("FILE:/etc/learner.keytab")
                ),
            ]
        );
        assert!(Krb5Environment::default().variables().is_empty());
    }

    #[test]
    fn one_factory_serves_every_connection_task() {
        fn shared<T: Send + Sync + 'static>() {}
        shared::<ServerFactory>();
    }

    #[test]
    fn a_server_principal_needs_a_host() {
        let err = ServerFactory::new("zookeeper@EXAMPLE.COM", Path::new("/nonexistent"), {
            PrincipalRules::default()
        })
        .err()
        .unwrap();
        assert!(
            err.to_string()
                .contains("not of the form service/host@REALM"),
            "{err}"
        );
    }

    #[test]
    fn an_unreadable_keytab_is_named() {
        let err = ServerFactory::new(
            "zookeeper/localhost@EXAMPLE.COM",
            Path::new("/nonexistent/zk.keytab"),
            PrincipalRules::default(),
        )
        .err()
        .unwrap();
        assert!(
            err.to_string()
                .contains("keyTab /nonexistent/zk.keytab cannot be read"),
            "{err}"
        );
    }
}
