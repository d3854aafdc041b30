//! Kerberos principal names as ZooKeeper reads them (its `KerberosName`), and the rule by which
//! a GSSAPI client's principal becomes its `sasl:` id: 3.8's `SaslServerCallbackHandler`
//! shortens the authenticated principal with the `DEFAULT` auth_to_local rule (strip the
//! realm when it is the default realm, keep the first component), then puts the host back
//! unless `kerberos.removeHostFromPrincipal=true` and the realm back unless
//! `kerberos.removeRealmFromPrincipal=true`. So with neither set, `alice@EXAMPLE.COM` stays
//! `alice@EXAMPLE.COM`; both set give `alice`, and `zkquorum/localhost@EXAMPLE.COM` becomes
//! `zkquorum`. A principal of another realm matches no rule: then, as Java's
//! `AuthorizeCallback` does, the id is the authorization id the client asked for (its own
//! principal, as ZooKeeper's clients send it).

use super::SaslError;

/// How the authenticated principal becomes the `sasl:` id (`zookeeper.kerberos.*`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PrincipalRules {
    /// `kerberos.removeHostFromPrincipal=true`: `zk/host@R` is authorized as `zk@R`.
    pub remove_host_from_principal: bool,
    /// `kerberos.removeRealmFromPrincipal=true`: `alice@R` is authorized as `alice`.
    pub remove_realm_from_principal: bool,
}

/// A principal split as ZooKeeper splits it: `service[/host]@realm`, or a simple name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KerberosName {
    /// The first component (`zookeeper`, `alice`).
    pub service: String,
    /// The second component (`localhost` in `zookeeper/localhost@EXAMPLE.COM`).
    pub host: Option<String>,
    /// The realm; None only for a name without `@`.
    pub realm: Option<String>,
}

impl KerberosName {
    /// Split `name`. A name with an `@` must be `service[/host]@realm` with no further `/` or
    /// `@`; a name without one is taken whole as a simple name, as ZooKeeper does.
    pub fn parse(name: &str) -> Result<Self, SaslError> {
        let malformed = || SaslError::Authentication(format!("Malformed Kerberos name: {name}"));
        let Some((left, realm)) = name.split_once('@') else {
            return Ok(Self {
                service: name.to_owned(),
                host: None,
                realm: None,
            });
        };
        if realm.contains(['@', '/']) {
            return Err(malformed());
        }
        let (service, host) = match left.split_once('/') {
            Some((_, h)) if h.contains('/') => return Err(malformed()),
            Some((s, h)) => (s, Some(h.to_owned())),
            None => (left, None),
        };
        Ok(Self {
            service: service.to_owned(),
            host,
            realm: Some(realm.to_owned()),
        })
    }

    /// The short name under the `DEFAULT` auth_to_local rule; None when no rule applies
    /// (a realm other than `default_realm`).
    pub fn short_name(&self, default_realm: &str) -> Option<&str> {
        match (&self.host, &self.realm) {
            (None, None) => Some(&self.service),
            (_, Some(realm)) if realm == default_realm => Some(&self.service),
            _ => None,
        }
    }
}

impl std::fmt::Display for KerberosName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.service)?;
        if let Some(host) = &self.host {
            write!(f, "/{host}")?;
        }
        if let Some(realm) = &self.realm {
            write!(f, "@{realm}")?;
        }
        Ok(())
    }
}

/// The `sasl:` id of a client authenticated as `authentication_id` that asked to be
/// `requested_id` (the authorization id of its last handshake message, or its own principal
/// when it sent none).
pub fn authorized_id(
    authentication_id: &str,
    requested_id: &str,
    default_realm: &str,
    rules: PrincipalRules,
) -> Result<String, SaslError> {
    tracing::info!(
        "Successfully authenticated client: authenticationID={authentication_id};  authorizationID={requested_id}."
    );
    let name = KerberosName::parse(authentication_id)?;
    let Some(short) = name.short_name(default_realm) else {
        tracing::error!(
            "Failed to set name based on Kerberos authentication rules: no rules applied to {name} (default realm {default_realm:?})"
        );
        return Ok(requested_id.to_owned());
    };
    let mut id = short.to_owned();
    if let (false, Some(host)) = (rules.remove_host_from_principal, &name.host) {
        id.push('/');
        id.push_str(host);
    }
    if let (false, Some(realm)) = (rules.remove_realm_from_principal, &name.realm) {
        id.push('@');
        id.push_str(realm);
    }
    tracing::info!("Setting authorizedID: {id}");
    Ok(id)
}

/// `SaslQuorumServerCallbackHandler#handleAuthorizeCallback` for a Kerberos login, with the
/// fix for CVE-2023-44981: a learner is a quorum member only when it asked to be exactly who
/// it authenticated as, and that principal is `service/host@REALM` with `host` one of the
/// hostnames of the ensemble's `server.N` lines. The id is then the principal, unshortened.
pub fn quorum_authorized(
    authentication_id: &str,
    authorization_id: &str,
    authorized_hosts: &std::collections::BTreeSet<String>,
) -> Result<String, SaslError> {
    let refused = || {
        tracing::error!(
            "SASL authorization completed, {authorization_id} is not authorized to connect"
        );
        SaslError::Authentication(format!(
            "{authorization_id} is not authorized to connect as a quorum member"
        ))
    };
    if authentication_id != authorization_id {
        return Err(refused());
    }
    // Java splits on '/' and '@' and wants exactly three parts
    let parts: Vec<&str> = authorization_id.split(['/', '@']).collect();
    match parts.as_slice() {
        [_, host, _] if authorized_hosts.contains(*host) => {}
        _ => return Err(refused()),
    }
    tracing::info!(
        "Successfully authenticated learner: authenticationID={authentication_id};  authorizationID={authorization_id}."
    );
    Ok(authorization_id.to_owned())
}

/// `SecurityUtils#getServerPrincipal`: `quorum.auth.kerberos.servicePrincipal` with a
/// `_HOST` instance becomes the principal of the peer at `hostname` (lower-cased). Only the
/// exact two-part form `service/_HOST` is rewritten, as in 3.8 (`zkquorum/_HOST@REALM` is
/// taken literally).
pub fn service_principal_for(principal: &str, hostname: &str) -> String {
    match principal.split('/').collect::<Vec<_>>().as_slice() {
        [service, "_HOST"] => format!("{service}/{}", hostname.to_lowercase()),
        _ => principal.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEEP: PrincipalRules = PrincipalRules {
        remove_host_from_principal: false,
        remove_realm_from_principal: false,
    };
    const STRIP: PrincipalRules = PrincipalRules {
        remove_host_from_principal: true,
        remove_realm_from_principal: true,
    };

    fn id(principal: &str, rules: PrincipalRules) -> String {
        authorized_id(principal, "requested", "EXAMPLE.COM", rules).unwrap()
    }

    #[test]
    fn parses_as_zookeeper_does() {
        let n = KerberosName::parse("zookeeper/localhost@EXAMPLE.COM").unwrap();
        assert_eq!(n.service, "zookeeper");
        assert_eq!(n.host.as_deref(), Some("localhost"));
        assert_eq!(n.realm.as_deref(), Some("EXAMPLE.COM"));
        assert_eq!(n.to_string(), "zookeeper/localhost@EXAMPLE.COM");
        let simple = KerberosName::parse("a/b").unwrap();
        assert_eq!((simple.service.as_str(), simple.host), ("a/b", None));
        for bad in ["a@b@C", "a/b/c@R", "a@R/x"] {
            let err = KerberosName::parse(bad).unwrap_err().to_string();
            assert!(err.contains("Malformed Kerberos name"), "{bad}: {err}");
        }
    }

    #[test]
    fn host_and_realm_stay_unless_removed() {
        assert_eq!(id("alice@EXAMPLE.COM", KEEP), "alice@EXAMPLE.COM");
        assert_eq!(id("alice@EXAMPLE.COM", STRIP), "alice");
        let zk = "zkquorum/localhost@EXAMPLE.COM";
        assert_eq!(id(zk, KEEP), zk);
        assert_eq!(id(zk, STRIP), "zkquorum");
        let host_only = PrincipalRules {
            remove_host_from_principal: true,
            ..KEEP
        };
        assert_eq!(id(zk, host_only), "zkquorum@EXAMPLE.COM");
        let realm_only = PrincipalRules {
            remove_realm_from_principal: true,
            ..KEEP
        };
        assert_eq!(id(zk, realm_only), "zkquorum/localhost");
    }

    #[test]
    fn another_realm_keeps_the_requested_id() {
        assert_eq!(id("alice@OTHER.ORG", STRIP), "requested");
        assert_eq!(id("zk/h@OTHER.ORG", KEEP), "requested");
    }

    #[test]
    fn a_malformed_principal_is_refused() {
        assert!(matches!(
            authorized_id("a@b@C", "x", "EXAMPLE.COM", KEEP),
            Err(SaslError::Authentication(_))
        ));
    }

    fn hosts(list: &[&str]) -> std::collections::BTreeSet<String> {
        list.iter().map(|h| h.to_string()).collect()
    }

    #[test]
    fn a_quorum_learner_must_be_service_host_realm_of_a_listed_host() {
        let h = hosts(&["localhost", "zk2.example.com"]);
        let zk = "zkquorum/localhost@EXAMPLE.COM";
        assert_eq!(quorum_authorized(zk, zk, &h).unwrap(), zk);
        let other = "zkquorum/zk2.example.com@EXAMPLE.COM";
        assert_eq!(quorum_authorized(other, other, &h).unwrap(), other);
        // CVE-2023-44981: no instance part, or a host outside the ensemble
        for refused in [
            "alice@EXAMPLE.COM",
            "zkquorum/evil@EXAMPLE.COM",
            "zkquorum/localhost",
        ] {
            assert!(
                matches!(
                    quorum_authorized(refused, refused, &h),
                    Err(SaslError::Authentication(_))
                ),
                "{refused}"
            );
        }
        // asking to be someone else
        assert!(quorum_authorized(zk, other, &h).is_err());
    }

    #[test]
    fn only_service_slash_host_pattern_is_rewritten() {
        assert_eq!(
            service_principal_for("zkquorum/_HOST", "ZK1.Example.COM"),
            "zkquorum/zk1.example.com"
        );
        for literal in [
            "zkquorum/localhost",
            "zkquorum/_HOST@EXAMPLE.COM",
            "zkquorum",
            "a/b/_HOST",
        ] {
            assert_eq!(service_principal_for(literal, "h"), literal);
        }
    }
}
