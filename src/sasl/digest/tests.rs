#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

fn settings(users: &[(&str, &str)]) -> Arc<DigestServerSettings> {
    Arc::new(DigestServerSettings::zookeeper(
        users
            .iter()
            .map(|(u, p)| (u.to_string(), p.to_string()))
            .collect(),
    ))
}

/// A server that has sent its challenge with `nonce` (a known vector's nonce).
fn challenged(settings: Arc<DigestServerSettings>, nonce: &str) -> DigestMd5Server {
    let mut s = DigestMd5Server::new(settings);
    s.step = ServerStep::Challenged {
        nonce: nonce.to_owned(),
    };
    s
}

/// RFC 2831 section 4's example (IMAP): the response and rspauth it lists.
#[test]
fn rfc2831_example() {
    let settings = Arc::new(DigestServerSettings {
        protocol: "imap".into(),
        server_name: "elwood.innosoft.com".into(),
        users: [("chris".to_owned(), "secret".to_owned())].into(),
        super_password: None,
        rules: PrincipalRules::default(),
    });
    let mut s = challenged(settings, "OA6MG9tEQGm2hh");
    let reply = s
        .evaluate_response(
            b"charset=utf-8,username=\"chris\",realm=\"elwood.innosoft.com\",\
              nonce=\"OA6MG9tEQGm2hh\",nc=00000001,cnonce=\"OA6MHXh6VqTrRk\",\
              digest-uri=\"imap/elwood.innosoft.com\",\
              response=d388dad90d4bbd760a152321f2143af7,qop=auth",
        )
        .unwrap();
    assert_eq!(reply, b"rspauth=ea40f60335c427b5527b84dbabcdfffd");
    assert!(s.is_complete());
    assert_eq!(s.authorization_id(), Some("chris"));
}

/// An exchange of Java 17's own DigestMD5Client and DigestMD5Server (protocol zookeeper,
/// server name zk-sasl-md5, as ZooKeeper creates them): the response, with charset and
/// authzid, is accepted and answered with Java's rspauth.
#[test]
fn java_client_response_gets_javas_rspauth() {
    let mut s = challenged(
        settings(&[("bob", "bobsecret")]),
        "YjT4TqFasTqJKAy4TdEChs3pTb5sz8QkNxL7iK0I",
    );
    let reply = s
        .evaluate_response(
            b"charset=utf-8,username=\"bob\",realm=\"zk-sasl-md5\",\
              nonce=\"YjT4TqFasTqJKAy4TdEChs3pTb5sz8QkNxL7iK0I\",nc=00000001,\
              cnonce=\"YiUhTtQHtdINdh0sIzQ+BIdwVIft1jQ2OnkkZjWH\",\
              digest-uri=\"zookeeper/zk-sasl-md5\",maxbuf=65536,\
              response=823e89bf5c2541947821a9a35dca7785,qop=auth,authzid=\"bob\"",
        )
        .unwrap();
    assert_eq!(reply, b"rspauth=6088747cd855abc92c3f6d4b2bf953bb");
    assert_eq!(s.authorization_id(), Some("bob"));
}

/// kazoo's pure-sasl against the real 3.8 server (no charset, no authzid, qop first).
#[test]
fn pure_sasl_response_gets_the_reference_rspauth() {
    let mut s = challenged(
        settings(&[("bob", "bobsecret")]),
        "B7hgqjk/OdMgjkQXGUrbltbnOFKgFfZEDTJbs5jw",
    );
    let reply = s
        .evaluate_response(
            b"qop=auth,realm=\"zk-sasl-md5\",username=\"bob\",\
              nonce=\"B7hgqjk/OdMgjkQXGUrbltbnOFKgFfZEDTJbs5jw\",cnonce=\"8237330448441549\",\
              nc=00000001,digest-uri=\"zookeeper/zk-sasl-md5\",\
              response=5445007a3db7ddce3cb61eac46035851",
        )
        .unwrap();
    assert_eq!(reply, b"rspauth=7089442ee7455611d00abdb847dd406c");
}

/// The challenge has 3.8's form: its realm, a 40-character base64 nonce that differs
/// every time, utf-8, md5-sess, and no qop directive.
#[test]
fn challenge_is_the_references() {
    let st = settings(&[]);
    let mut a = DigestMd5Server::new(st.clone());
    let mut b = DigestMd5Server::new(st);
    let ca = String::from_utf8(a.evaluate_response(b"").unwrap()).unwrap();
    let cb = String::from_utf8(b.evaluate_response(b"").unwrap()).unwrap();
    let nonce = |c: &str| {
        c.strip_prefix("realm=\"zk-sasl-md5\",nonce=\"")
            .and_then(|r| r.strip_suffix("\",charset=utf-8,algorithm=md5-sess"))
            .map(str::to_owned)
            .unwrap_or_else(|| panic!("not 3.8's challenge: {c}"))
    };
    let (na, nb) = (nonce(&ca), nonce(&cb));
    assert_eq!(na.len(), 40);
    assert!(base64::engine::general_purpose::STANDARD
        .decode(&na)
        .is_ok());
    assert_ne!(na, nb);
    assert!(!a.is_complete() && a.authorization_id().is_none());
}

/// Our client against our server, and the failures a client can cause.
#[test]
fn client_and_server_agree_and_failures_are_refused() {
    let st = settings(&[("bob", "bobsecret"), ("super", "adminsecret")]);
    let run = |user: &str, pw: &str| -> Result<(DigestMd5Server, DigestMd5Client), SaslError> {
        let mut s = DigestMd5Server::new(st.clone());
        let mut c = DigestMd5Client::zookeeper(user, pw);
        assert_eq!(c.initial_response()?, None);
        let challenge = s.evaluate_response(b"")?;
        let response = c.evaluate_challenge(&challenge)?;
        let rspauth = s.evaluate_response(&response)?;
        assert!(c.evaluate_challenge(&rspauth)?.is_empty());
        Ok((s, c))
    };
    let (s, c) = run("bob", "bobsecret").unwrap();
    assert!(s.is_complete() && c.is_complete());
    assert_eq!(s.authorization_id(), Some("bob"));
    assert!(matches!(
        run("bob", "wrong"),
        Err(SaslError::Authentication(m)) if m.contains("Mismatched response")
    ));
    assert!(matches!(
        run("nobody", "x"),
        Err(SaslError::Authentication(m)) if m.contains("cannot acquire password for nobody")
    ));
    // the failure's log line names who tried
    let mut s = DigestMd5Server::new(st.clone());
    let mut c = DigestMd5Client::zookeeper("bob", "wrong");
    assert_eq!(s.claimed_id(), None);
    let response = c
        .evaluate_challenge(&s.evaluate_response(b"").unwrap())
        .unwrap();
    assert!(s.evaluate_response(&response).is_err());
    assert_eq!(s.claimed_id(), Some("bob"));
    // superPassword replaces user_super's
    let mut with_super = DigestServerSettings::zookeeper(st.users.clone());
    with_super.super_password = Some("override".into());
    let with_super = Arc::new(with_super);
    let mut s = DigestMd5Server::new(with_super.clone());
    let mut c = DigestMd5Client::zookeeper("super", "override");
    let r = c
        .evaluate_challenge(&s.evaluate_response(b"").unwrap())
        .unwrap();
    s.evaluate_response(&r).unwrap();
    assert_eq!(s.authorization_id(), Some("super"));
    let mut s = DigestMd5Server::new(with_super);
    let mut c = DigestMd5Client::zookeeper("super", "adminsecret");
    let r = c
        .evaluate_challenge(&s.evaluate_response(b"").unwrap())
        .unwrap();
    assert!(s.evaluate_response(&r).is_err());
}

#[test]
fn malformed_and_mismatched_responses() {
    let st = settings(&[("bob", "bobsecret")]);
    let good = |nonce: &str| {
        format!(
            "charset=utf-8,username=\"bob\",realm=\"zk-sasl-md5\",nonce=\"{nonce}\",\
             nc=00000001,cnonce=\"c\",digest-uri=\"zookeeper/zk-sasl-md5\",\
             response=00000000000000000000000000000000,qop=auth"
        )
    };
    let attempt = |text: String| {
        let mut s = challenged(st.clone(), "N");
        let e = s
            .evaluate_response(text.as_bytes())
            .unwrap_err()
            .to_string();
        // a failed exchange stays failed
        assert!(s.evaluate_response(b"").is_err());
        e
    };
    assert!(attempt(good("N")).contains("Mismatched response"));
    assert!(attempt(good("other")).contains("Mismatched nonce"));
    assert!(attempt(good("N").replace("nc=00000001", "nc=00000002")).contains("Nonce count"));
    assert!(attempt(good("N").replace("qop=auth", "qop=auth-conf")).contains("Invalid QOP"));
    assert!(attempt(good("N").replace("zookeeper/zk", "imap/zk")).contains("Mismatched URI"));
    assert!(attempt(good("N").replace("\"zk-sasl-md5\"", "\"x\"")).contains("Nonexistent realm"));
    assert!(attempt(good("N").replace("utf-8", "latin1")).contains("Incompatible charset"));
    assert!(attempt(good("N").replace("username=\"bob\",", "")).contains("Missing username"));
    assert!(attempt(format!("{},username=\"x\"", good("N"))).contains("more than one"));
    assert!(attempt("username=\"unterminated".into()).contains("unterminated"));
    assert!(attempt("no-value".into()).contains("has no value"));
    assert!(attempt("\u{0}\u{ff}garbage\"=,,".into()).contains("DIGEST-MD5"));
    // a longer token fails at any step, as Java's does
    let mut s = challenged(st.clone(), "N");
    let long = format!("{},cipher=\"{}\"", good("N"), "x".repeat(4096));
    assert!(s
        .evaluate_response(long.as_bytes())
        .unwrap_err()
        .to_string()
        .contains("Invalid digest response length. Got:  4"));
    assert!(DigestMd5Server::new(st)
        .evaluate_response(&[0; 4097])
        .is_err());
}

#[test]
fn a_first_token_gets_the_challenge_whatever_it_holds() {
    // JDK 17's DigestMD5Server ignores the first token's content, up to its length limit
    for first in [&b"not empty"[..], &[0xff; 4096][..]] {
        let mut s = DigestMd5Server::new(settings(&[("bob", "bobsecret")]));
        let challenge = s.evaluate_response(first).unwrap();
        let mut c = DigestMd5Client::zookeeper("bob", "bobsecret");
        let r = c.evaluate_challenge(&challenge).unwrap();
        s.evaluate_response(&r).unwrap();
        assert!(s.is_complete());
        assert_eq!(s.authorization_id(), Some("bob"));
    }
}

#[test]
fn client_refuses_a_wrong_rspauth_or_a_failure_reply() {
    let st = settings(&[("bob", "bobsecret")]);
    let mut s = DigestMd5Server::new(st);
    let mut c = DigestMd5Client::zookeeper("bob", "bobsecret");
    let r = c
        .evaluate_challenge(&s.evaluate_response(b"").unwrap())
        .unwrap();
    s.evaluate_response(&r).unwrap();
    assert!(c
        .evaluate_challenge(b"rspauth=00000000000000000000000000000000")
        .is_err());
    let mut c = DigestMd5Client::zookeeper("bob", "bobsecret");
    let mut s = DigestMd5Server::new(settings(&[]));
    c.evaluate_challenge(&s.evaluate_response(b"").unwrap())
        .unwrap();
    // 3.8's client reads an AuthFailed reply's null token as an empty challenge
    assert!(c.evaluate_challenge(b"").is_err());
    assert!(!c.is_complete());
    let mut c = DigestMd5Client::zookeeper("bob", "x");
    assert!(c
        .evaluate_challenge(b"realm=\"r\",nonce=\"n\",algorithm=md5")
        .is_err());
}

/// Latin-1 passwords are digested as ISO 8859-1, others as UTF-8 (RFC 2831, Java).
#[test]
fn non_ascii_passwords() {
    let st = settings(&[("bob", "pässwörd"), ("eve", "пароль")]);
    for (user, pw) in [("bob", "pässwörd"), ("eve", "пароль")] {
        let mut s = DigestMd5Server::new(st.clone());
        let mut c = DigestMd5Client::zookeeper(user, pw);
        let r = c
            .evaluate_challenge(&s.evaluate_response(b"").unwrap())
            .unwrap();
        c.evaluate_challenge(&s.evaluate_response(&r).unwrap())
            .unwrap();
        assert!(c.is_complete());
    }
    assert_eq!(digest_bytes("ä", true).unwrap(), [0xe4]);
    assert_eq!(digest_bytes("п", true).unwrap(), "п".as_bytes());
    assert!(digest_bytes("п", false).is_err());
}

/// `SaslServerCallbackHandler`'s canonical ids with the kerberos.remove* switches.
#[test]
fn canonical_ids() {
    let rules = |h, r| PrincipalRules {
        remove_host_from_principal: h,
        remove_realm_from_principal: r,
        ..PrincipalRules::default()
    };
    let canonical =
        |n: &str, req: &str, realm: &str, h, r| authorized_id(n, req, realm, &rules(h, r));
    let id = |n: &str, h, r| canonical(n, n, "", h, r).unwrap();
    assert_eq!(id("bob", false, false), "bob");
    assert_eq!(id("bob@", false, false), "bob@");
    assert_eq!(id("zk/host@", false, true), "zk/host");
    assert_eq!(id("zk/host@", true, false), "zk@");
    assert_eq!(id("zk/host@", true, true), "zk");
    // a realm that is not the default one: no rule applies, the requested id stays
    assert_eq!(
        canonical("bob@EXAMPLE.COM", "req", "", true, true).unwrap(),
        "req"
    );
    assert_eq!(
        canonical("zk/h@EXAMPLE.COM", "x", "EXAMPLE.COM", false, true).unwrap(),
        "zk/h"
    );
    assert!(canonical("a@b@c", "a", "", false, false).is_err());
}

proptest::proptest! {
    /// Whatever a client sends, the server answers with a token or an error.
    #[test]
    fn arbitrary_tokens_never_panic(first in proptest::collection::vec(proptest::num::u8::ANY, 0..64),
                                    second in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
        let mut s = DigestMd5Server::new(settings(&[("bob", "x")]));
        let _ = s.evaluate_response(&first);
        let _ = s.evaluate_response(&second);
        let mut c = DigestMd5Client::zookeeper("bob", "x");
        let _ = c.evaluate_challenge(&second);
        let _ = c.evaluate_challenge(&first);
    }
}
