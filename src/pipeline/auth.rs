//! Authentication providers and ACL checks: `ZooKeeperServer#checkACL`,
//! `PrepRequestProcessor#fixupACL`, `DigestAuthenticationProvider`, `IPAuthenticationProvider`,
//! `AuthUtil#getClientInfos`. Only the built-in `digest` and `ip` providers are registered, as in
//! a default 3.8 server; `world:anyone` and `auth` are ACL forms, not providers.

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
/// `super_digest` is `zookeeper.DigestAuthenticationProvider.superDigest`.
pub fn authenticate(
    scheme: &str,
    auth: &[u8],
    remote: IpAddr,
    super_digest: Option<&str>,
) -> Option<Vec<Id>> {
    match scheme {
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

/// `ServerAuthenticationProvider#isValid` for the registered providers.
fn is_valid_id(scheme: &str, id: &str) -> Option<bool> {
    match scheme {
        "digest" => Some(java_split_count(id, ':') == 2),
        "ip" => Some(ip_prefix_bits(id).is_some()),
        _ => None,
    }
}

/// `ZooKeeperServer#checkACL`.
pub fn check_acl(acl: &[Acl], perm: i32, auth: &[Id], skip_acl: bool) -> Result<(), ErrorCode> {
    if skip_acl || acl.is_empty() || auth.iter().any(|a| a.scheme == "super") {
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
                    _ => false,
                }
        });
        if matched {
            return Ok(());
        }
    }
    Err(ErrorCode::NO_AUTH)
}

/// `PrepRequestProcessor#fixupACL`: de-duplicate, validate, expand `auth` ids.
pub fn fixup_acl(acl: Option<&[Acl]>, auth: &[Id]) -> Result<Vec<Acl>, ErrorCode> {
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
            // only providers that authenticate (digest, not ip) lend their ids to `auth`
            let authenticated: Vec<Id> = java_set_order(auth)
                .into_iter()
                .filter(|id| id.scheme == "digest")
                .collect();
            if authenticated.is_empty() {
                return Err(ErrorCode::INVALID_ACL);
            }
            out.extend(
                authenticated
                    .into_iter()
                    .map(|id| Acl { perms: a.perms, id }),
            );
        } else if is_valid_id(&a.id.scheme, &a.id.id) == Some(true) {
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
        assert_eq!(check_acl(&world_read, perms::READ, &ip, false), Ok(()));
        assert_eq!(
            check_acl(&world_read, perms::WRITE, &ip, false),
            Err(ErrorCode::NO_AUTH)
        );
        assert_eq!(check_acl(&world_read, perms::WRITE, &ip, true), Ok(()));
        let supers = vec![Id::new("super", "")];
        assert_eq!(check_acl(&world_read, perms::WRITE, &supers, false), Ok(()));
    }

    #[test]
    fn fixup_rules() {
        let ip = vec![Id::new("ip", "127.0.0.1")];
        let auth_acl = [Acl::new(perms::ALL, "auth", "")];
        assert_eq!(fixup_acl(Some(&auth_acl), &ip), Err(ErrorCode::INVALID_ACL));
        let digest = vec![ip[0].clone(), Id::new("digest", "u:h")];
        assert_eq!(
            fixup_acl(Some(&auth_acl), &digest),
            Ok(vec![Acl::new(perms::ALL, "digest", "u:h")])
        );
        assert_eq!(fixup_acl(Some(&[]), &ip), Err(ErrorCode::INVALID_ACL));
        let bad = [Acl::new(perms::ALL, "digest", "nocolon")];
        assert_eq!(fixup_acl(Some(&bad), &ip), Err(ErrorCode::INVALID_ACL));
        let world_other = [Acl::new(perms::ALL, "world", "someone")];
        assert_eq!(
            fixup_acl(Some(&world_other), &ip),
            Err(ErrorCode::INVALID_ACL)
        );
    }
}
