//! DIGEST-MD5 (RFC 2831) as Java's `com.sun.security.sasl.digest` runs it for ZooKeeper:
//! protocol `zookeeper`, server name `zk-sasl-md5` (`ZooKeeperSaslServer` and
//! `SecurityUtils#createSaslClient` hard-wire both), no `Sasl.QOP` property, so quality of
//! protection `auth` only (no integrity or privacy layer: once complete, packets flow as
//! before).
//!
//! The server's challenge is what 3.8 sends, byte for byte apart from the nonce:
//! `realm="zk-sasl-md5",nonce="<40 chars>",charset=utf-8,algorithm=md5-sess` (no `qop`
//! directive: `auth` is its default). The nonce is 30 bytes from the system CSPRNG in
//! base64, as Java's 40-character nonce. The client's response must name that realm, that
//! nonce, `nc=00000001`, qop `auth`, and digest-uri `zookeeper/zk-sasl-md5`; the reply is
//! `rspauth=<hex>`. The authorization id is the authentication id (the user name), made
//! canonical as `SaslServerCallbackHandler` does for Kerberos-style names; an `authzid` the
//! client sends is accepted and otherwise ignored, as 3.8's callback authorizes every one.
//!
//! Difference: 3.8's password callback shares its user name across connections, so an
//! unknown user is checked against the password of whoever authenticated last; here an
//! unknown user always fails.

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine;
use md5::{Digest, Md5};
use ring::rand::{SecureRandom, SystemRandom};

use super::kerberos::{authorized_id, PrincipalRules};
use super::{SaslClient, SaslError, SaslServer};

/// The mechanism's name.
pub const MECHANISM: &str = "DIGEST-MD5";
/// `ZooKeeperSaslServer`'s protocol.
pub const PROTOCOL: &str = "zookeeper";
/// `ZooKeeperSaslServer`'s server name, which is also the realm Java's server offers.
pub const SERVER_NAME: &str = "zk-sasl-md5";

/// Java's `DigestMD5Base.RAW_NONCE_SIZE`: 30 random bytes, 40 characters of base64.
const RAW_NONCE_SIZE: usize = 30;

/// Java's `DigestMD5Server.MAX_RESPONSE_LENGTH`: a longer token fails at any step.
const MAX_RESPONSE_LENGTH: usize = 4096;

/// What every DIGEST-MD5 exchange of a server shares.
pub struct DigestServerSettings {
    /// `zookeeper`.
    pub protocol: String,
    /// `zk-sasl-md5`: the digest-uri's host part and the one realm offered.
    pub server_name: String,
    /// User name → password (`user_<name>="<password>"` in the JAAS section).
    pub users: HashMap<String, String>,
    /// `zookeeper.SASLAuthenticationProvider.superPassword`: the password of `super`.
    pub super_password: Option<String>,
    /// `zookeeper.kerberos.remove*FromPrincipal` and `zookeeper.security.auth_to_local`: a
    /// DIGEST-MD5 user name goes through the same callback as a Kerberos principal.
    pub rules: PrincipalRules,
}

impl DigestServerSettings {
    /// ZooKeeper's protocol and server name with these users.
    pub fn zookeeper(users: HashMap<String, String>) -> Self {
        DigestServerSettings {
            protocol: PROTOCOL.to_owned(),
            server_name: SERVER_NAME.to_owned(),
            users,
            super_password: None,
            rules: PrincipalRules::default(),
        }
    }

    fn password(&self, user: &str) -> Option<&str> {
        match (&self.super_password, user) {
            (Some(p), "super") => Some(p),
            _ => self.users.get(user).map(String::as_str),
        }
    }
}

fn malformed(reason: impl Into<String>) -> SaslError {
    SaslError::Malformed {
        mechanism: MECHANISM,
        reason: reason.into(),
    }
}

/// Java's text for a response that breaks the protocol.
fn violation(what: impl std::fmt::Display) -> SaslError {
    malformed(format!(
        "DIGEST-MD5: digest response format violation. {what}"
    ))
}

fn random_base64(rng: &SystemRandom) -> Result<String, SaslError> {
    let mut raw = [0u8; RAW_NONCE_SIZE];
    rng.fill(&mut raw)
        .map_err(|_| SaslError::Setup("DIGEST-MD5: the system random generator failed".into()))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(raw))
}

/// The directives of a challenge or response: `key=value` or `key="quoted"`, comma
/// separated, keys case-insensitive (lower-cased here), `\x` in a quoted value is `x`.
/// Several values of one key are kept in order (a challenge may offer several realms).
fn parse_directives(text: &[u8]) -> Result<Vec<(String, Vec<u8>)>, SaslError> {
    let mut out = Vec::new();
    let mut i = 0;
    let n = text.len();
    let skip_lws = |i: &mut usize| {
        while *i < n && matches!(text[*i], b' ' | b'\t' | b'\r' | b'\n') {
            *i += 1;
        }
    };
    loop {
        skip_lws(&mut i);
        while i < n && text[i] == b',' {
            i += 1;
            skip_lws(&mut i);
        }
        if i >= n {
            return Ok(out);
        }
        let key_start = i;
        while i < n && text[i] != b'=' && text[i] != b',' && !text[i].is_ascii_whitespace() {
            i += 1;
        }
        let key = String::from_utf8_lossy(&text[key_start..i]).to_ascii_lowercase();
        skip_lws(&mut i);
        if i >= n || text[i] != b'=' {
            return Err(malformed(format!(
                "DIGEST-MD5: directive {key} has no value"
            )));
        }
        i += 1;
        skip_lws(&mut i);
        let mut value = Vec::new();
        if i < n && text[i] == b'"' {
            i += 1;
            let mut closed = false;
            while i < n {
                match text[i] {
                    b'\\' if i + 1 < n => {
                        value.push(text[i + 1]);
                        i += 2;
                    }
                    b'"' => {
                        i += 1;
                        closed = true;
                        break;
                    }
                    b => {
                        value.push(b);
                        i += 1;
                    }
                }
            }
            if !closed {
                return Err(malformed(format!(
                    "DIGEST-MD5: unterminated quoted value of {key}"
                )));
            }
        } else {
            while i < n && text[i] != b',' {
                value.push(text[i]);
                i += 1;
            }
            while value.last().is_some_and(|b| b.is_ascii_whitespace()) {
                value.pop();
            }
        }
        out.push((key, value));
        skip_lws(&mut i);
        if i < n && text[i] != b',' {
            return Err(malformed(
                "DIGEST-MD5: directives must be separated by commas",
            ));
        }
    }
}

/// One directive's value; a second occurrence is an error (except where several are
/// allowed, which callers read themselves).
fn single<'a>(d: &'a [(String, Vec<u8>)], key: &str) -> Result<Option<&'a [u8]>, SaslError> {
    let mut found = d.iter().filter(|(k, _)| k == key);
    let first = found.next().map(|(_, v)| v.as_slice());
    if found.next().is_some() {
        return Err(malformed(format!(
            "DIGEST-MD5: peer sent more than one {key} directive"
        )));
    }
    Ok(first)
}

fn utf8(v: &[u8], what: &str) -> Result<String, SaslError> {
    String::from_utf8(v.to_vec()).map_err(|_| violation(format!("{what} is not UTF-8.")))
}

/// RFC 2831's rule for user name, realm and password with `charset=utf-8`: ISO 8859-1
/// when every character fits, else UTF-8; without the charset, ISO 8859-1 only.
fn digest_bytes(s: &str, utf8_charset: bool) -> Result<Vec<u8>, SaslError> {
    if s.chars().all(|c| u32::from(c) <= 0xff) {
        return Ok(s.chars().map(|c| c as u8).collect());
    }
    if utf8_charset {
        Ok(s.as_bytes().to_vec())
    } else {
        Err(malformed(
            "DIGEST-MD5: a name or password outside ISO 8859-1 needs charset=utf-8",
        ))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The inputs of the `response` and `rspauth` values.
struct DigestInput<'a> {
    username: &'a str,
    realm: &'a str,
    password: &'a str,
    nonce: &'a [u8],
    cnonce: &'a [u8],
    nc: &'a str,
    qop: &'a str,
    digest_uri: &'a [u8],
    authzid: Option<&'a [u8]>,
    utf8: bool,
}

impl DigestInput<'_> {
    /// HEX(H(A1)) for md5-sess.
    fn ha1(&self) -> Result<String, SaslError> {
        let mut inner = Md5::new();
        inner.update(digest_bytes(self.username, self.utf8)?);
        inner.update(b":");
        inner.update(digest_bytes(self.realm, self.utf8)?);
        inner.update(b":");
        inner.update(digest_bytes(self.password, self.utf8)?);
        let mut a1 = Md5::new();
        a1.update(inner.finalize());
        a1.update(b":");
        a1.update(self.nonce);
        a1.update(b":");
        a1.update(self.cnonce);
        if let Some(z) = self.authzid {
            a1.update(b":");
            a1.update(z);
        }
        Ok(hex(&a1.finalize()))
    }

    /// `response` (A2 starts with `AUTHENTICATE:`) or `rspauth` (A2 starts with `:`).
    fn value(&self, client: bool) -> Result<String, SaslError> {
        let mut a2 = Md5::new();
        a2.update(if client { &b"AUTHENTICATE:"[..] } else { b":" });
        a2.update(self.digest_uri);
        let ha2 = hex(&a2.finalize());
        let mut kd = Md5::new();
        kd.update(self.ha1()?.as_bytes());
        kd.update(b":");
        kd.update(self.nonce);
        kd.update(b":");
        kd.update(self.nc.as_bytes());
        kd.update(b":");
        kd.update(self.cnonce);
        kd.update(b":");
        kd.update(self.qop.as_bytes());
        kd.update(b":");
        kd.update(ha2.as_bytes());
        Ok(hex(&kd.finalize()))
    }
}

/// Constant-time comparison of two digests.
fn same_digest(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Where a server-side exchange stands.
enum ServerStep {
    /// Nothing received yet: the (empty) first token gets the challenge.
    Start,
    /// The challenge went out with this nonce.
    Challenged {
        nonce: String,
    },
    Complete {
        authorization_id: String,
    },
    Failed,
}

/// The server side of one DIGEST-MD5 exchange (Java's `DigestMD5Server`).
pub struct DigestMd5Server {
    settings: Arc<DigestServerSettings>,
    rng: SystemRandom,
    step: ServerStep,
    /// The `username` of the client's response, once read.
    username: Option<String>,
}

impl DigestMd5Server {
    pub fn new(settings: Arc<DigestServerSettings>) -> Self {
        DigestMd5Server {
            settings,
            rng: SystemRandom::new(),
            step: ServerStep::Start,
            username: None,
        }
    }

    /// `realm="…",nonce="…",charset=utf-8,algorithm=md5-sess`.
    fn challenge(&self, nonce: &str) -> Vec<u8> {
        format!(
            "realm=\"{}\",nonce=\"{nonce}\",charset=utf-8,algorithm=md5-sess",
            quote(&self.settings.server_name)
        )
        .into_bytes()
    }

    /// `DigestMD5Server#validateClientResponse`: the authorization id and `rspauth=…`.
    fn validate(&mut self, nonce: &str, response: &[u8]) -> Result<(String, Vec<u8>), SaslError> {
        let d = parse_directives(response)?;
        let utf8_charset = match single(&d, "charset")? {
            None => false,
            Some(c) if c.eq_ignore_ascii_case(b"utf-8") => true,
            Some(c) => {
                return Err(violation(format!(
                    "Incompatible charset value: {}",
                    String::from_utf8_lossy(c)
                )))
            }
        };
        let username = utf8(
            single(&d, "username")?.ok_or_else(|| violation("Missing username."))?,
            "username",
        )?;
        self.username = Some(username.clone());
        let realm = match single(&d, "realm")? {
            Some(r) => utf8(r, "realm")?,
            None => String::new(),
        };
        if realm != self.settings.server_name {
            return Err(violation(format!("Nonexistent realm: {realm}")));
        }
        let got_nonce = single(&d, "nonce")?.ok_or_else(|| violation("Missing nonce."))?;
        if got_nonce != nonce.as_bytes() {
            return Err(violation("Mismatched nonce."));
        }
        let cnonce = single(&d, "cnonce")?.ok_or_else(|| violation("Missing cnonce."))?;
        let nc_raw = single(&d, "nc")?.unwrap_or_default();
        let nc = String::from_utf8_lossy(nc_raw).into_owned();
        if u32::from_str_radix(&nc, 16).ok() != Some(1) {
            return Err(violation(format!("Nonce count does not match: {nc}")));
        }
        let qop = match single(&d, "qop")? {
            None => "auth".to_owned(),
            Some(q) => String::from_utf8_lossy(q).into_owned(),
        };
        if qop != "auth" {
            return Err(violation(format!("Invalid QOP: {qop}")));
        }
        let digest_uri =
            single(&d, "digest-uri")?.ok_or_else(|| violation("Missing digest-uri."))?;
        let expected_uri = format!("{}/{}", self.settings.protocol, self.settings.server_name);
        if !digest_uri.eq_ignore_ascii_case(expected_uri.as_bytes()) {
            return Err(violation(format!(
                "Mismatched URI: {}; expecting: {expected_uri}",
                String::from_utf8_lossy(digest_uri)
            )));
        }
        let client_response =
            single(&d, "response")?.ok_or_else(|| violation("Missing response."))?;
        let authzid = single(&d, "authzid")?;
        let password = self.settings.password(&username).ok_or_else(|| {
            SaslError::Authentication(format!(
                "DIGEST-MD5: cannot acquire password for {username} in realm : {realm}"
            ))
        })?;
        let input = DigestInput {
            username: &username,
            realm: &realm,
            password,
            nonce: nonce.as_bytes(),
            cnonce,
            nc: &nc,
            qop: &qop,
            digest_uri,
            authzid,
            utf8: utf8_charset,
        };
        if !same_digest(input.value(true)?.as_bytes(), client_response) {
            return Err(SaslError::Authentication(
                "DIGEST-MD5: digest response format violation. Mismatched response.".into(),
            ));
        }
        let requested = match authzid {
            Some(z) => utf8(z, "authzid")?,
            None => username.clone(),
        };
        // KerberosName's default realm is krb5.conf's; a DIGEST-MD5 server has none here
        let authorization_id = authorized_id(&username, &requested, "", &self.settings.rules)?;
        let rspauth = format!("rspauth={}", input.value(false)?).into_bytes();
        Ok((authorization_id, rspauth))
    }
}

/// A quoted-string's body: `"` and `\` escaped.
fn quote(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

impl SaslServer for DigestMd5Server {
    fn mechanism(&self) -> &'static str {
        MECHANISM
    }

    fn evaluate_response(&mut self, response: &[u8]) -> Result<Vec<u8>, SaslError> {
        let step = std::mem::replace(&mut self.step, ServerStep::Failed);
        if response.len() > MAX_RESPONSE_LENGTH {
            return Err(malformed(format!(
                "DIGEST-MD5: Invalid digest response length. Got:  {} Expected < \
                 {MAX_RESPONSE_LENGTH}",
                response.len()
            )));
        }
        match step {
            ServerStep::Start => {
                // Java's server reads nothing from the first token: whatever a client sends
                // first (it should send nothing) gets the challenge
                let nonce = random_base64(&self.rng)?;
                let challenge = self.challenge(&nonce);
                self.step = ServerStep::Challenged { nonce };
                Ok(challenge)
            }
            ServerStep::Challenged { nonce } => {
                let (authorization_id, rspauth) = self.validate(&nonce, response)?;
                self.step = ServerStep::Complete { authorization_id };
                Ok(rspauth)
            }
            done @ ServerStep::Complete { .. } => {
                self.step = done;
                Err(malformed("DIGEST-MD5: authentication already completed"))
            }
            ServerStep::Failed => Err(malformed("DIGEST-MD5: authentication already failed")),
        }
    }

    fn is_complete(&self) -> bool {
        matches!(self.step, ServerStep::Complete { .. })
    }

    fn authorization_id(&self) -> Option<&str> {
        match &self.step {
            ServerStep::Complete { authorization_id } => Some(authorization_id),
            _ => None,
        }
    }

    fn claimed_id(&self) -> Option<&str> {
        self.username.as_deref()
    }
}

/// Where a client-side exchange stands.
enum ClientStep {
    /// Waiting for the challenge.
    Start,
    /// The response went out; `rspauth` must match this.
    Responded {
        expected_rspauth: String,
    },
    Complete,
    Failed,
}

/// The client side of one DIGEST-MD5 exchange (Java's `DigestMD5Client`), as
/// `SecurityUtils#createSaslClient` sets it up: the user name is also the `authzid`.
pub struct DigestMd5Client {
    username: String,
    password: String,
    authzid: Option<String>,
    digest_uri: String,
    rng: SystemRandom,
    step: ClientStep,
}

impl DigestMd5Client {
    /// A client for `protocol/server_name` (`zookeeper/zk-sasl-md5` for ZooKeeper).
    pub fn new(
        username: &str,
        password: &str,
        authzid: Option<&str>,
        protocol: &str,
        server_name: &str,
    ) -> Self {
        DigestMd5Client {
            username: username.to_owned(),
            password: password.to_owned(),
            authzid: authzid.map(str::to_owned),
            digest_uri: format!("{protocol}/{server_name}"),
            rng: SystemRandom::new(),
            step: ClientStep::Start,
        }
    }

    /// ZooKeeper's client: `zookeeper/zk-sasl-md5`, the user name as authzid.
    pub fn zookeeper(username: &str, password: &str) -> Self {
        DigestMd5Client::new(username, password, Some(username), PROTOCOL, SERVER_NAME)
    }

    fn respond(&mut self, challenge: &[u8]) -> Result<(Vec<u8>, String), SaslError> {
        let bad = |r: &str| malformed(format!("DIGEST-MD5: server's challenge: {r}"));
        let d = parse_directives(challenge)?;
        let nonce = single(&d, "nonce")?.ok_or_else(|| bad("no nonce"))?;
        let algorithm = single(&d, "algorithm")?.ok_or_else(|| bad("no algorithm"))?;
        if !algorithm.eq_ignore_ascii_case(b"md5-sess") {
            return Err(bad("algorithm is not md5-sess"));
        }
        let utf8_charset = single(&d, "charset")?.is_some_and(|c| c.eq_ignore_ascii_case(b"utf-8"));
        if let Some(qops) = single(&d, "qop")? {
            if !qops
                .split(|b| *b == b',')
                .any(|q| q.trim_ascii() == b"auth")
            {
                return Err(bad("qop auth is not offered"));
            }
        }
        // the first realm offered (Java's client callback takes the default)
        let realm = match d.iter().find(|(k, _)| k == "realm") {
            Some((_, r)) => utf8(r, "realm")?,
            None => String::new(),
        };
        let cnonce = random_base64(&self.rng)?;
        let input = DigestInput {
            username: &self.username,
            realm: &realm,
            password: &self.password,
            nonce,
            cnonce: cnonce.as_bytes(),
            nc: "00000001",
            qop: "auth",
            digest_uri: self.digest_uri.as_bytes(),
            authzid: self.authzid.as_deref().map(str::as_bytes),
            utf8: utf8_charset,
        };
        let response_value = input.value(true)?;
        let rspauth = input.value(false)?;
        let mut out = String::new();
        if utf8_charset {
            out.push_str("charset=utf-8,");
        }
        out.push_str(&format!(
            "username=\"{}\",realm=\"{}\",nonce=\"{}\",nc=00000001,cnonce=\"{cnonce}\",\
             digest-uri=\"{}\",maxbuf=65536,response={response_value},qop=auth",
            quote(&self.username),
            quote(&realm),
            quote(&String::from_utf8_lossy(nonce)),
            quote(&self.digest_uri),
        ));
        if let Some(z) = &self.authzid {
            out.push_str(&format!(",authzid=\"{}\"", quote(z)));
        }
        Ok((out.into_bytes(), rspauth))
    }
}

impl SaslClient for DigestMd5Client {
    fn mechanism(&self) -> &'static str {
        MECHANISM
    }

    fn initial_response(&mut self) -> Result<Option<Vec<u8>>, SaslError> {
        Ok(None)
    }

    fn evaluate_challenge(&mut self, challenge: &[u8]) -> Result<Vec<u8>, SaslError> {
        let step = std::mem::replace(&mut self.step, ClientStep::Failed);
        match step {
            ClientStep::Start => {
                let (response, expected_rspauth) = self.respond(challenge)?;
                self.step = ClientStep::Responded { expected_rspauth };
                Ok(response)
            }
            ClientStep::Responded { expected_rspauth } => {
                let d = parse_directives(challenge)?;
                let got = single(&d, "rspauth")?.ok_or_else(|| {
                    SaslError::Authentication(
                        "DIGEST-MD5: the server did not confirm the exchange (no rspauth)".into(),
                    )
                })?;
                if !same_digest(got, expected_rspauth.as_bytes()) {
                    return Err(SaslError::Authentication(
                        "DIGEST-MD5: the server's rspauth does not match".into(),
                    ));
                }
                self.step = ClientStep::Complete;
                Ok(Vec::new())
            }
            ClientStep::Complete => {
                self.step = ClientStep::Complete;
                Err(malformed("DIGEST-MD5: authentication already completed"))
            }
            ClientStep::Failed => Err(malformed("DIGEST-MD5: authentication already failed")),
        }
    }

    fn is_complete(&self) -> bool {
        matches!(self.step, ClientStep::Complete)
    }
}

#[cfg(test)]
mod tests;
