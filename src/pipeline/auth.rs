//! Authentication providers and ACL checks: `ZooKeeperServer#checkACL`,
//! `PrepRequestProcessor#fixupACL`, `DigestAuthenticationProvider`, `IPAuthenticationProvider`,
//! `AuthUtil#getClientInfos`, `X509AuthenticationProvider`. The built-in `digest` and `ip`
//! providers are always registered, as in a default 3.8 server, and `x509` when zoo.cfg
//! registers it ([`crate::config::ServerConfig::x509_auth_provider`]); `world:anyone` and
//! `auth` are ACL forms, not providers. A client's x509 ids come from its TLS certificate
//! (the connection adds them before its ConnectRequest is handled); `addauth x509` only
//! confirms them. `sasl` ids come from a completed SASL exchange on the connection
//! (`SASLAuthenticationProvider`, registered by `authProvider.<n>`); without the provider
//! they still show in whoAmI, as in 3.8, but are invalid in ACLs and do not expand `auth`.

use std::net::IpAddr;

use base64::Engine;
use sha1::{Digest, Sha1};

use crate::jute::codes::{perms, ErrorCode};
use crate::jute::data::{Acl, ClientInfo, Id};

/// `DigestAuthenticationProvider#generateDigest`: `user:base64(sha1("user:password"))`.
pub fn generate_digest(id_password: &str) -> String {
    let user = id_password.split(':').next().unwrap_or("");
    let hash = Sha1::digest(id_password.as_bytes());
    format!(
        "{user}:{}",
        base64::engine::general_purpose::STANDARD.encode(hash)
    )
}

/// What an auth packet adds to a connection, or None for AuthFailed.
/// `super_digest` is `zookeeper.DigestAuthenticationProvider.superDigest`; `x509` is None
/// unless the x509 provider is registered, and then the connection's current ids.
pub fn authenticate(
    scheme: &str,
    auth: &[u8],
    remote: IpAddr,
    super_digest: Option<&str>,
    x509: Option<&[Id]>,
) -> Option<Vec<Id>> {
    match scheme {
        // `X509AuthenticationProvider#handleAuthentication` ignores the packet's data and
        // authenticates the connection's certificate again: the ids it gave at connect time
        // (the x509 id, and `super` with the same id for the super user), or AuthFailed on a
        // connection without one (plaintext, or TLS without a client certificate)
        "x509" => {
            let ids: Vec<Id> = x509?
                .iter()
                .filter(|id| id.scheme == "x509" || (id.scheme == "super" && !id.id.is_empty()))
                .cloned()
                .collect();
            ids.iter().any(|id| id.scheme == "x509").then_some(ids)
        }
        "digest" => {
            let id = generate_digest(&String::from_utf8_lossy(auth));
            let mut ids = Vec::with_capacity(2);
            if super_digest == Some(id.as_str()) {
                ids.push(Id::new("super", ""));
            }
            ids.push(Id::new("digest", &id));
            Some(ids)
        }
        "ip" => Some(vec![Id::new("ip", &remote.to_string())]),
        _ => None,
    }
}

/// Java's `String#split` drops trailing empty strings; digest ids must be exactly `a:b`.
fn java_split_count(s: &str, sep: char) -> usize {
    let parts: Vec<&str> = s.split(sep).collect();
    let trailing_empty = parts.iter().rev().take_while(|p| p.is_empty()).count();
    parts.len() - trailing_empty
}

fn ipv4_bytes(addr: &str) -> Option<[u8; 4]> {
    let mut out = [0u8; 4];
    let mut parts = addr.split('.');
    for slot in &mut out {
        *slot = parts.next()?.parse::<u8>().ok()?;
    }
    parts.next().is_none().then_some(out)
}

fn ip_prefix_bits(expr: &str) -> Option<([u8; 4], u32)> {
    let mut parts = expr.splitn(2, '/');
    let addr = ipv4_bytes(parts.next().unwrap_or(""))?;
    let bits = match parts.next() {
        Some(b) => b.parse::<u32>().ok().filter(|b| *b <= 32)?,
        None => 32,
    };
    Some((addr, bits))
}

/// `IPAuthenticationProvider#matches` (IPv4 only, as in 3.8).
fn ip_matches(id: &str, acl_expr: &str) -> bool {
    let (Some((acl_addr, bits)), Some(remote)) = (ip_prefix_bits(acl_expr), ipv4_bytes(id)) else {
        return false;
    };
    let mask = if bits == 0 {
        0
    } else {
        u32::MAX << (32 - bits)
    };
    u32::from_be_bytes(acl_addr) & mask == u32::from_be_bytes(remote) & mask
}

/// The pluggable providers registered besides the built-in `digest` and `ip`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Providers {
    /// `X509AuthenticationProvider`.
    pub x509: bool,
    /// `SASLAuthenticationProvider`.
    pub sasl: bool,
}

/// `KerberosName`'s constructor accepts it: `service[/host]@realm`, or no `@` at all.
fn is_kerberos_name(id: &str) -> bool {
    match id.split_once('@') {
        None => true,
        Some((principal, realm)) => {
            !realm.contains(['@', '/'])
                && principal
                    .split_once('/')
                    .map_or(true, |(_, host)| !host.contains('/'))
        }
    }
}

/// `ServerAuthenticationProvider#isValid` for the registered providers; None for a scheme
/// without a provider.
fn is_valid_id(scheme: &str, id: &str, providers: Providers) -> Option<bool> {
    match scheme {
        "digest" => Some(java_split_count(id, ':') == 2),
        "ip" => Some(ip_prefix_bits(id).is_some()),
        "x509" if providers.x509 => Some(crate::tls::is_valid_x500_name(id)),
        "sasl" if providers.sasl => Some(is_kerberos_name(id)),
        _ => None,
    }
}

/// The ids that an `auth` ACL expands to: those of registered providers that authenticate
/// (digest, x509, sasl; not ip, not super).
fn lends_to_auth(id: &Id, providers: Providers) -> bool {
    id.scheme == "digest" || id.scheme == "x509" || (id.scheme == "sasl" && providers.sasl)
}

/// The server settings `ZooKeeperServer#checkACL` consults.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AclPolicy {
    /// `zookeeper.skipACL=yes`: every check passes.
    pub skip_acl: bool,
    /// `zookeeper.letAnySaslUserDoX`: a `sasl` ACL entry with exactly this id matches every
    /// `sasl` id (`SASLAuthenticationProvider#matches` reads it on each check).
    pub let_any_sasl_user_do_x: Option<String>,
}

/// `SASLAuthenticationProvider#matches`: the id itself, a SASL user named `super`, or any
/// SASL user when the ACL names the `letAnySaslUserDoX` id.
fn sasl_matches(id: &str, acl_expr: &str, policy: &AclPolicy) -> bool {
    id == acl_expr || id == "super" || policy.let_any_sasl_user_do_x.as_deref() == Some(acl_expr)
}

/// `ZooKeeperServer#checkACL`.
pub fn check_acl(acl: &[Acl], perm: i32, auth: &[Id], policy: &AclPolicy) -> Result<(), ErrorCode> {
    if policy.skip_acl || acl.is_empty() || auth.iter().any(|a| a.scheme == "super") {
        return Ok(());
    }
    for a in acl.iter().filter(|a| a.perms & perm != 0) {
        if a.id.scheme == "world" && a.id.id == "anyone" {
            return Ok(());
        }
        let matched = auth.iter().any(|caller| {
            caller.scheme == a.id.scheme
                && match a.id.scheme.as_str() {
                    "digest" => caller.id == a.id.id,
                    "ip" => ip_matches(&caller.id, &a.id.id),
                    // `X509AuthenticationProvider#matches`; its super-user clause is covered
                    // by the `super` id that user holds
                    "x509" => caller.id == a.id.id,
                    "sasl" => sasl_matches(&caller.id, &a.id.id, policy),
                    _ => false,
                }
        });
        if matched {
            return Ok(());
        }
    }
    Err(ErrorCode::NO_AUTH)
}

/// `PrepRequestProcessor#fixupACL`: de-duplicate, validate, expand `auth` ids with the
/// registered `providers`.
pub fn fixup_acl(
    acl: Option<&[Acl]>,
    auth: &[Id],
    providers: Providers,
) -> Result<Vec<Acl>, ErrorCode> {
    let mut unique: Vec<&Acl> = Vec::new();
    for a in acl.unwrap_or(&[]) {
        if !unique.contains(&a) {
            unique.push(a);
        }
    }
    if unique.is_empty() {
        return Err(ErrorCode::INVALID_ACL);
    }
    let mut out = Vec::with_capacity(unique.len());
    for a in unique {
        if a.id.scheme == "world" && a.id.id == "anyone" {
            out.push(a.clone());
        } else if a.id.scheme == "auth" {
            // only providers that authenticate (digest, x509, sasl; not ip) lend their ids
            let authenticated: Vec<Id> = java_set_order(auth)
                .into_iter()
                .filter(|id| lends_to_auth(id, providers))
                .collect();
            if authenticated.is_empty() {
                return Err(ErrorCode::INVALID_ACL);
            }
            out.extend(
                authenticated
                    .into_iter()
                    .map(|id| Acl { perms: a.perms, id }),
            );
        } else if is_valid_id(&a.id.scheme, &a.id.id, providers) == Some(true) {
            out.push(a.clone());
        } else {
            return Err(ErrorCode::INVALID_ACL);
        }
    }
    Ok(out)
}

/// The ACL getACL shows a caller without ADMIN: digest hashes masked (`FinalRequestProcessor`).
pub fn mask_digests(acl: &[Acl]) -> Vec<Acl> {
    acl.iter()
        .map(|a| {
            if a.id.scheme != "digest" {
                return a.clone();
            }
            let user = a.id.id.split(':').next().unwrap_or("");
            Acl::new(a.perms, "digest", &format!("{user}:x"))
        })
        .collect()
}

fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16().fold(0i32, |h, unit| {
        h.wrapping_mul(31).wrapping_add(i32::from(unit))
    })
}

/// `Id#hashCode` as jute generates it.
fn java_id_hash(id: &Id) -> i32 {
    let h = 17i32
        .wrapping_mul(37)
        .wrapping_add(java_string_hash(&id.scheme));
    h.wrapping_mul(37).wrapping_add(java_string_hash(&id.id))
}

/// A connection's auth ids in the order the reference iterates them: `ServerCnxn#authInfo`
/// is a set over a `ConcurrentHashMap` (16 bins, doubling past 3/4 full), so ids come out by
/// bin (`spread(hash) & (n - 1)`), insertion order within a bin. whoAmI and the expansion of
/// `auth` ACLs both show this order.
pub fn java_set_order(ids: &[Id]) -> Vec<Id> {
    let mut bins = 16usize;
    while ids.len() > bins * 3 / 4 {
        bins *= 2;
    }
    let mut ordered: Vec<(usize, &Id)> = ids
        .iter()
        .map(|id| {
            let h = java_id_hash(id);
            let spread = (h ^ ((h as u32) >> 16) as i32) & 0x7fff_ffff;
            (usize::try_from(spread).unwrap_or(0) & (bins - 1), id)
        })
        .collect();
    ordered.sort_by_key(|(bin, _)| *bin);
    ordered.into_iter().map(|(_, id)| id.clone()).collect()
}

/// `AuthUtil#getClientInfos`: digest ids show only the user name.
pub fn client_infos(auth: &[Id]) -> Vec<ClientInfo> {
    java_set_order(auth)
        .iter()
        .map(|id| ClientInfo {
            auth_scheme: id.scheme.clone(),
            user: if id.scheme == "digest" {
                id.id.split(':').next().unwrap_or("").to_string()
            } else {
                id.id.clone()
            },
        })
        .collect()
}

/// READ|ADMIN, as getACL asks.
pub const READ_OR_ADMIN: i32 = perms::READ | perms::ADMIN;

#[cfg(test)]
mod tests {
    use super::*;

    const NONE: Providers = Providers {
        x509: false,
        sasl: false,
    };
    const X509: Providers = Providers {
        x509: true,
        sasl: false,
    };
    const SASL: Providers = Providers {
        x509: false,
        sasl: true,
    };
    const CHECKED: AclPolicy = AclPolicy {
        skip_acl: false,
        let_any_sasl_user_do_x: None,
    };
    const SKIPPED: AclPolicy = AclPolicy {
        skip_acl: true,
        let_any_sasl_user_do_x: None,
    };

    /// `zookeeper.letAnySaslUserDoX=<id>`: an ACL entry `sasl:<id>` lets in any caller with a
    /// `sasl` id (only sasl ids, only entries naming exactly that id, only their perms).
    #[test]
    fn let_any_sasl_user_do_x() {
        let any = AclPolicy {
            skip_acl: false,
            let_any_sasl_user_do_x: Some("anyone@EXAMPLE.COM".to_owned()),
        };
        let alice = vec![Id::new("ip", "127.0.0.1"), Id::new("sasl", "alice")];
        let open_to_sasl = [
            Acl::new(perms::READ, "sasl", "anyone@EXAMPLE.COM"),
            Acl::new(perms::ALL, "sasl", "bob"),
        ];
        assert_eq!(check_acl(&open_to_sasl, perms::READ, &alice, &any), Ok(()));
        assert_eq!(
            check_acl(&open_to_sasl, perms::WRITE, &alice, &any),
            Err(ErrorCode::NO_AUTH)
        );
        assert_eq!(
            check_acl(&open_to_sasl, perms::READ, &alice, &CHECKED),
            Err(ErrorCode::NO_AUTH)
        );
        // a digest or ip id is not a SASL user
        let not_sasl = vec![
            Id::new("ip", "127.0.0.1"),
            Id::new("digest", "anyone@EXAMPLE.COM:x"),
        ];
        assert_eq!(
            check_acl(&open_to_sasl, perms::READ, &not_sasl, &any),
            Err(ErrorCode::NO_AUTH)
        );
        // the entry must name the id exactly
        let near = [Acl::new(perms::READ, "sasl", "anyone")];
        assert_eq!(
            check_acl(&near, perms::READ, &alice, &any),
            Err(ErrorCode::NO_AUTH)
        );
    }

    /// `SASLAuthenticationProvider`: ids valid as Kerberos names, matched as strings (and
    /// by a SASL user named `super`), lent to `auth` ACLs; nothing without the provider.
    #[test]
    fn sasl_scheme() {
        let bob = vec![Id::new("ip", "127.0.0.1"), Id::new("sasl", "bob")];
        let only_bob = [Acl::new(perms::READ, "sasl", "bob")];
        assert_eq!(check_acl(&only_bob, perms::READ, &bob, &CHECKED), Ok(()));
        let alice = vec![Id::new("sasl", "alice")];
        assert_eq!(
            check_acl(&only_bob, perms::READ, &alice, &CHECKED),
            Err(ErrorCode::NO_AUTH)
        );
        let sasl_super = vec![Id::new("sasl", "super")];
        assert_eq!(
            check_acl(&only_bob, perms::READ, &sasl_super, &CHECKED),
            Ok(())
        );
        assert_eq!(
            fixup_acl(Some(&only_bob), &bob, SASL),
            Ok(only_bob.to_vec())
        );
        assert_eq!(
            fixup_acl(Some(&only_bob), &bob, NONE),
            Err(ErrorCode::INVALID_ACL)
        );
        for id in ["zk/host@EXAMPLE.COM", "bob@EXAMPLE.COM", "a/b/c", "@"] {
            let acl = [Acl::new(perms::ALL, "sasl", id)];
            assert!(fixup_acl(Some(&acl), &bob, SASL).is_ok(), "{id}");
        }
        for id in ["a@b@c", "a/b/c@R", "a@b/c"] {
            let acl = [Acl::new(perms::ALL, "sasl", id)];
            assert_eq!(
                fixup_acl(Some(&acl), &bob, SASL),
                Err(ErrorCode::INVALID_ACL),
                "{id}"
            );
        }
        let auth_acl = [Acl::new(perms::ALL, "auth", "")];
        assert_eq!(
            fixup_acl(Some(&auth_acl), &bob, SASL),
            Ok(vec![Acl::new(perms::ALL, "sasl", "bob")])
        );
        assert_eq!(
            fixup_acl(Some(&auth_acl), &bob, NONE),
            Err(ErrorCode::INVALID_ACL)
        );
    }

    #[test]
    fn digest_matches_the_reference() {
        // zkCli: addauth digest super:test ; DigestAuthenticationProvider.generateDigest
        assert_eq!(
            generate_digest("super:test"),
            "super:D/InIHSb7yEEbrWz8b9l71RjZJU="
        );
    }

    #[test]
    fn ip_masks() {
        assert!(ip_matches("127.0.0.1", "127.0.0.1"));
        assert!(ip_matches("10.1.2.3", "10.0.0.0/8"));
        assert!(!ip_matches("11.1.2.3", "10.0.0.0/8"));
        assert!(ip_matches("11.1.2.3", "10.0.0.0/0"));
        assert!(!ip_matches("127.0.0.1", "127.0.0.1/33"));
    }

    #[test]
    fn acl_checks() {
        let ip = vec![Id::new("ip", "127.0.0.1")];
        let world_read = Acl::read_unsafe();
        assert_eq!(check_acl(&world_read, perms::READ, &ip, &CHECKED), Ok(()));
        assert_eq!(
            check_acl(&world_read, perms::WRITE, &ip, &CHECKED),
            Err(ErrorCode::NO_AUTH)
        );
        assert_eq!(check_acl(&world_read, perms::WRITE, &ip, &SKIPPED), Ok(()));
        let supers = vec![Id::new("super", "")];
        assert_eq!(
            check_acl(&world_read, perms::WRITE, &supers, &CHECKED),
            Ok(())
        );
    }

    #[test]
    fn fixup_rules() {
        let ip = vec![Id::new("ip", "127.0.0.1")];
        let auth_acl = [Acl::new(perms::ALL, "auth", "")];
        assert_eq!(
            fixup_acl(Some(&auth_acl), &ip, NONE),
            Err(ErrorCode::INVALID_ACL)
        );
        let digest = vec![ip[0].clone(), Id::new("digest", "u:h")];
        assert_eq!(
            fixup_acl(Some(&auth_acl), &digest, NONE),
            Ok(vec![Acl::new(perms::ALL, "digest", "u:h")])
        );
        assert_eq!(fixup_acl(Some(&[]), &ip, NONE), Err(ErrorCode::INVALID_ACL));
        let bad = [Acl::new(perms::ALL, "digest", "nocolon")];
        assert_eq!(
            fixup_acl(Some(&bad), &ip, NONE),
            Err(ErrorCode::INVALID_ACL)
        );
        let world_other = [Acl::new(perms::ALL, "world", "someone")];
        assert_eq!(
            fixup_acl(Some(&world_other), &ip, NONE),
            Err(ErrorCode::INVALID_ACL)
        );
    }

    /// `X509AuthenticationProvider`: ids from the certificate, matched as strings; x509 ACL
    /// ids validated as Java DNs only while the provider is registered; `auth` expands to
    /// them; `addauth x509` confirms a certificate and fails without one.
    #[test]
    fn x509_scheme() {
        let alice = "CN=alice,OU=Eng,O=Example,C=US";
        let tls = vec![Id::new("ip", "127.0.0.1"), Id::new("x509", alice)];
        let only_alice = [Acl::new(perms::READ, "x509", alice)];
        assert_eq!(check_acl(&only_alice, perms::READ, &tls, &CHECKED), Ok(()));
        let bob = vec![Id::new("x509", "CN=bob")];
        assert_eq!(
            check_acl(&only_alice, perms::READ, &bob, &CHECKED),
            Err(ErrorCode::NO_AUTH)
        );
        let valid = [Acl::new(perms::ALL, "x509", "CN=bob,O=x")];
        assert_eq!(fixup_acl(Some(&valid), &tls, X509), Ok(valid.to_vec()));
        assert_eq!(
            fixup_acl(Some(&valid), &tls, NONE),
            Err(ErrorCode::INVALID_ACL)
        );
        let not_a_dn = [Acl::new(perms::ALL, "x509", "bob")];
        assert_eq!(
            fixup_acl(Some(&not_a_dn), &tls, X509),
            Err(ErrorCode::INVALID_ACL)
        );
        let auth_acl = [Acl::new(perms::ALL, "auth", "")];
        assert_eq!(
            fixup_acl(Some(&auth_acl), &tls, X509),
            Ok(vec![Acl::new(perms::ALL, "x509", alice)])
        );
        let ip = std::net::Ipv4Addr::LOCALHOST.into();
        assert_eq!(
            authenticate("x509", b"anything", ip, None, Some(&tls)),
            Some(vec![Id::new("x509", alice)])
        );
        let plain = vec![Id::new("ip", "127.0.0.1"), Id::new("super", "")];
        assert_eq!(authenticate("x509", b"", ip, None, Some(&plain)), None);
        assert_eq!(authenticate("x509", b"", ip, None, None), None);
    }
}
