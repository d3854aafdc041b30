//! GSSAPI SASL between our client side and our server side, against a throwaway MIT KDC.
//!
//! MIT krb5 takes krb5.conf and the keytabs from the process environment, which ferrokeeper
//! sets once at start-up, before any thread (see `sasl::gssapi`). Each case therefore runs in
//! a child process of this test binary, started with that environment: the parent starts
//! the KDC, runs `<this binary> <case> --exact` with the case's variables, and checks that the
//! child ran the case and passed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use common::kdc::{Kdc, KdcFiles};
use ferrokeeper::sasl::gssapi::{self, Krb5Environment, ServerFactory};
use ferrokeeper::sasl::kerberos::{AuthToLocal, PrincipalRules};
use ferrokeeper::sasl::{SaslClient, SaslError, SaslServer};

/// The case in a child process with the environment `prepare` picks (see
/// [`common::kdc::isolated`]).
fn isolated(case: &str, prepare: impl FnOnce(&Kdc) -> Krb5Environment) -> Option<KdcFiles> {
    common::kdc::isolated(case, Duration::from_secs(60), prepare)
}

fn server_env(files: &KdcFiles, server_keytab: &str, client_keytab: &str) -> Krb5Environment {
    Krb5Environment {
        acceptor_keytab: Some(files.keytab(server_keytab)),
        initiator_keytab: Some(files.keytab(client_keytab)),
        ..Default::default()
    }
}

/// What one exchange produced.
#[derive(Debug)]
struct Outcome {
    client_tokens: usize,
    server_challenges: Vec<Vec<u8>>,
}

/// Run the exchange to its end (at most 10 rounds), as a connection task would.
fn exchange(
    client: &mut dyn SaslClient,
    server: &mut dyn SaslServer,
) -> Result<Outcome, SaslError> {
    let mut token = client.initial_response()?.expect("GSSAPI speaks first");
    let mut outcome = Outcome {
        client_tokens: 1,
        server_challenges: Vec::new(),
    };
    for _ in 0..10 {
        let challenge = server.evaluate_response(&token)?;
        outcome.server_challenges.push(challenge.clone());
        if server.is_complete() {
            return Ok(outcome);
        }
        token = client.evaluate_challenge(&challenge)?;
        outcome.client_tokens += 1;
    }
    panic!("no end after 10 rounds: {outcome:?}");
}

fn rules(remove_host: bool, remove_realm: bool) -> PrincipalRules {
    PrincipalRules {
        remove_host_from_principal: remove_host,
        remove_realm_from_principal: remove_realm,
        ..PrincipalRules::default()
    }
}

fn factory(files: &KdcFiles, keytab: &str, rules: PrincipalRules) -> ServerFactory {
    ServerFactory::new(&files.principal("zookeeper"), &files.keytab(keytab), rules)
        .unwrap_or_else(|e| panic!("server side: {e}"))
}

fn client_for(files: &KdcFiles, who: &str) -> Result<Box<dyn SaslClient>, SaslError> {
    gssapi::client(
        "zookeeper/localhost",
        Some(&files.principal(who)),
        Some(&files.keytab(who)),
    )
}

#[test]
fn a_client_authenticates_as_its_principal() {
    let Some(files) = isolated("a_client_authenticates_as_its_principal", |k| {
        server_env(&k.files, "zookeeper", "alice")
    }) else {
        return;
    };
    let servers = factory(&files, "zookeeper", rules(false, false));
    let mut server = servers.exchange();
    let mut client = client_for(&files, "alice").unwrap();
    let outcome = exchange(client.as_mut(), server.as_mut()).unwrap();
    // AP-REQ, then the wrapped choice; the wrapped offer, then nothing (Java's null)
    assert_eq!(outcome.client_tokens, 2, "{outcome:?}");
    assert_eq!(outcome.server_challenges.len(), 2, "{outcome:?}");
    assert!(!outcome.server_challenges[0].is_empty());
    assert!(outcome.server_challenges[1].is_empty());
    assert!(client.is_complete() && server.is_complete());
    assert_eq!(server.mechanism(), "GSSAPI");
    assert_eq!(server.authorization_id(), Some("alice@EXAMPLE.COM"));

    // a second connection of the same server; the realm removed this time
    let stripped = factory(&files, "zookeeper", rules(true, true));
    let mut server = stripped.exchange();
    let mut client = client_for(&files, "alice").unwrap();
    exchange(client.as_mut(), server.as_mut()).unwrap();
    assert_eq!(server.authorization_id(), Some("alice"));

    // garbage instead of an AP-REQ fails that exchange only, with GSSAPI's reason
    let mut server = servers.exchange();
    let err = server
        .evaluate_response(b"not a kerberos token")
        .unwrap_err();
    assert!(matches!(err, SaslError::Authentication(_)), "{err}");
    assert!(err.to_string().contains("GSS initiate failed"), "{err}");
    assert!(!server.is_complete() && server.authorization_id().is_none());
    // and a replayed AP-REQ is refused (the replay cache is in the KDC's directory)
    let mut client = client_for(&files, "alice").unwrap();
    let ap_req = client.initial_response().unwrap().unwrap();
    servers.exchange().evaluate_response(&ap_req).unwrap();
    let err = servers.exchange().evaluate_response(&ap_req).unwrap_err();
    assert!(err.to_string().contains("GSS initiate failed"), "{err}");
}

#[test]
fn host_and_realm_removal_shape_a_service_principal_s_id() {
    let Some(files) = isolated(
        "host_and_realm_removal_shape_a_service_principal_s_id",
        |k| server_env(&k.files, "zookeeper", "zkquorum"),
    ) else {
        return;
    };
    for (remove_host, remove_realm, id) in [
        (false, false, "zkquorum/localhost@EXAMPLE.COM"),
        (true, false, "zkquorum@EXAMPLE.COM"),
        (false, true, "zkquorum/localhost"),
        (true, true, "zkquorum"),
    ] {
        let mut server = factory(&files, "zookeeper", rules(remove_host, remove_realm)).exchange();
        let mut client = client_for(&files, "zkquorum").unwrap();
        exchange(client.as_mut(), server.as_mut()).unwrap();
        assert_eq!(
            server.authorization_id(),
            Some(id),
            "removeHost={remove_host} removeRealm={remove_realm}"
        );
    }
}

/// `zookeeper.security.auth_to_local`: the rules, not `DEFAULT`, give the short name the
/// host and realm are put back on; a principal no rule maps keeps the id it asked for.
#[test]
fn auth_to_local_rules_shape_the_id() {
    let Some(files) = isolated("auth_to_local_rules_shape_the_id", |k| {
        server_env(&k.files, "zookeeper", "zkquorum")
    }) else {
        return;
    };
    let with_rules = |text: &str, remove_host: bool, remove_realm: bool| PrincipalRules {
        auth_to_local: Arc::new(AuthToLocal::parse(text).unwrap()),
        ..rules(remove_host, remove_realm)
    };
    for (text, remove_host, remove_realm, id) in [
        // 2-component names: `zkquorum/localhost@EXAMPLE.COM` becomes `quorum-localhost`
        (
            r"RULE:[2:$1-$2@$0](zkquorum-.*@EXAMPLE\.COM)s/zk(.*)@.*/$1/",
            true,
            true,
            "quorum-localhost",
        ),
        (
            r"RULE:[2:$1-$2@$0](zkquorum-.*@EXAMPLE\.COM)s/zk(.*)@.*/$1/",
            false,
            false,
            "quorum-localhost/localhost@EXAMPLE.COM",
        ),
        // only 1-component rules: no rule applies, the requested id (the principal) stays
        (
            r"RULE:[1:$1@$0](.*@EXAMPLE\.COM)s/@.*//",
            true,
            true,
            "zkquorum/localhost@EXAMPLE.COM",
        ),
    ] {
        let mut server = factory(
            &files,
            "zookeeper",
            with_rules(text, remove_host, remove_realm),
        )
        .exchange();
        let mut client = client_for(&files, "zkquorum").unwrap();
        exchange(client.as_mut(), server.as_mut()).unwrap();
        assert_eq!(server.authorization_id(), Some(id), "{text}");
    }
    // a rule that fails as a Java runtime exception would fails the exchange
    let mut server = factory(&files, "zookeeper", with_rules("RULE:[2:$3]", true, true)).exchange();
    let mut client = client_for(&files, "zkquorum").unwrap();
    let err = exchange(client.as_mut(), server.as_mut()).unwrap_err();
    assert!(matches!(err, SaslError::Authentication(_)), "{err}");
    assert!(server.authorization_id().is_none());
}

#[test]
fn a_ticket_cache_client_needs_no_keytab() {
    let Some(files) = isolated("a_ticket_cache_client_needs_no_keytab", |k| {
        k.kinit("bob");
        Krb5Environment {
            acceptor_keytab: Some(k.files.keytab("zookeeper")),
            ..Default::default()
        }
    }) else {
        return;
    };
    let mut server = factory(&files, "zookeeper", rules(false, true)).exchange();
    let mut client = gssapi::client("zookeeper/localhost", None, None).unwrap();
    exchange(client.as_mut(), server.as_mut()).unwrap();
    assert_eq!(server.authorization_id(), Some("bob"));
}

#[test]
fn a_stale_server_keytab_fails_the_exchange() {
    let Some(files) = isolated("a_stale_server_keytab_fails_the_exchange", |k| {
        server_env(&k.files, "zookeeper-old", "alice")
    }) else {
        return;
    };
    // the principal is in the keytab, so the server starts; its key is not the KDC's
    let mut server = factory(&files, "zookeeper-old", rules(false, false)).exchange();
    let mut client = client_for(&files, "alice").unwrap();
    let err = exchange(client.as_mut(), server.as_mut()).unwrap_err();
    assert!(matches!(err, SaslError::Authentication(_)), "{err}");
    assert!(err.to_string().contains("GSS initiate failed"), "{err}");
    assert!(!server.is_complete() && server.authorization_id().is_none());
}

#[test]
fn a_keytab_other_than_the_process_s_is_refused() {
    let Some(files) = isolated("a_keytab_other_than_the_process_s_is_refused", |k| {
        server_env(&k.files, "zookeeper", "alice")
    }) else {
        return;
    };
    let err = ServerFactory::new(
        &files.principal("zookeeper"),
        &files.keytab("zookeeper-old"),
        rules(false, false),
    )
    .err()
    .expect("refused");
    assert!(matches!(err, SaslError::Setup(_)), "{err}");
    assert!(err.to_string().contains("KRB5_KTNAME="), "{err}");
    let err = client_for(&files, "bob").err().expect("refused");
    assert!(err.to_string().contains("KRB5_CLIENT_KTNAME="), "{err}");
    // a principal the keytab does not hold cannot serve
    let err = ServerFactory::new(
        "zkquorum/localhost@EXAMPLE.COM",
        &files.keytab("zookeeper"),
        rules(false, false),
    )
    .err()
    .expect("refused");
    assert!(err.to_string().contains("no acceptor credentials"), "{err}");
}

/// The client side's error for a principal the KDC refuses, wherever MIT reports it.
fn client_failure(files: &KdcFiles, who: &str) -> String {
    let servers = factory(files, "zookeeper", rules(false, false));
    let mut server = servers.exchange();
    let err = match client_for(files, who) {
        Err(e) => e,
        Ok(mut client) => exchange(client.as_mut(), server.as_mut()).unwrap_err(),
    };
    assert!(!server.is_complete());
    err.to_string()
}

#[test]
fn an_unknown_client_principal_is_refused() {
    let Some(files) = isolated("an_unknown_client_principal_is_refused", |k| {
        server_env(&k.files, "zookeeper", "unknown")
    }) else {
        return;
    };
    let err = client_failure(&files, "unknown");
    assert!(err.contains("not found in Kerberos database"), "{err}");
}

#[test]
fn an_expired_client_principal_is_refused() {
    let Some(files) = isolated("an_expired_client_principal_is_refused", |k| {
        server_env(&k.files, "zookeeper", "expired")
    }) else {
        return;
    };
    let err = client_failure(&files, "expired");
    assert!(err.contains("expired"), "{err}");
}

/// The JDK's GSSAPI SASL (compat-tests/sasl_gssapi/JavaSasl.java, created as ZooKeeper 3.8
/// creates it), one token per line over its stdin/stdout.
struct JavaPeer {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    lines: std::sync::mpsc::Receiver<String>,
}

impl JavaPeer {
    fn start(files: &KdcFiles, args: &[&str], section: &str, keytab: &str, who: &str) -> Self {
        use std::io::BufRead;
        let jaas = files.dir.join(format!("{section}.jaas"));
        std::fs::write(
            &jaas,
            format!(
                "{section} {{\n  com.sun.security.auth.module.Krb5LoginModule required\n  \
                 useKeyTab=true\n  keyTab=\"{}\"\n  storeKey=true\n  useTicketCache=false\n  \
                 principal=\"{}\";\n}};\n",
                files.keytab(keytab).display(),
                files.principal(who)
            ),
        )
        .unwrap();
        let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("compat-tests/sasl_gssapi/JavaSasl.java");
        let mut child = Command::new("java")
            .arg(source)
            .arg(args[0])
            .arg(&jaas)
            .arg(files.krb5_conf())
            .arg(section)
            .args(&args[1..])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("java runs (default-jdk-headless from compat-tests/run --install-only)");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        JavaPeer {
            child,
            stdin,
            lines,
        }
    }

    /// The next line: a token (None for Java's null), or Err with COMPLETE/ERROR's line.
    fn next(&self) -> Result<Option<Vec<u8>>, String> {
        let line = self
            .lines
            .recv_timeout(Duration::from_secs(60))
            .expect("the JDK side answers within 60s");
        match line.strip_prefix("TOKEN ") {
            Some("-") => Ok(None),
            Some(hex) => Ok(Some(unhex(hex))),
            None => Err(line),
        }
    }

    fn send(&mut self, token: &[u8]) {
        use std::io::Write;
        let hex: String = token.iter().map(|b| format!("{b:02x}")).collect();
        writeln!(self.stdin, "{}", if hex.is_empty() { "-" } else { &hex }).unwrap();
        self.stdin.flush().unwrap();
    }
}

impl Drop for JavaPeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn unhex(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn the_jdk_client_authenticates_to_our_server() {
    let Some(files) = isolated("the_jdk_client_authenticates_to_our_server", |k| {
        Krb5Environment {
            acceptor_keytab: Some(k.files.keytab("zookeeper")),
            ..Default::default()
        }
    }) else {
        return;
    };
    let mut server = factory(&files, "zookeeper", rules(false, false)).exchange();
    let mut java = JavaPeer::start(
        &files,
        &["client", "alice@EXAMPLE.COM", "zookeeper", "localhost"],
        "Client",
        "alice",
        "alice",
    );
    for _ in 0..10 {
        let token = java
            .next()
            .unwrap_or_else(|line| panic!("JDK client: {line}"));
        let challenge = server
            .evaluate_response(&token.unwrap_or_default())
            .unwrap();
        if server.is_complete() {
            break;
        }
        java.send(&challenge);
    }
    assert!(server.is_complete());
    assert_eq!(server.authorization_id(), Some("alice@EXAMPLE.COM"));
    assert_eq!(
        java.next(),
        Err("COMPLETE alice@EXAMPLE.COM".to_owned()),
        "the JDK client finished too"
    );
}

#[test]
fn our_client_authenticates_to_the_jdk_server() {
    let Some(files) = isolated("our_client_authenticates_to_the_jdk_server", |k| {
        Krb5Environment {
            initiator_keytab: Some(k.files.keytab("bob")),
            ..Default::default()
        }
    }) else {
        return;
    };
    let mut java = JavaPeer::start(
        &files,
        &["server", "zookeeper", "localhost"],
        "Server",
        "zookeeper",
        "zookeeper",
    );
    let mut client = client_for(&files, "bob").unwrap();
    java.send(&client.initial_response().unwrap().unwrap());
    let mut done = None;
    for _ in 0..10 {
        match java.next() {
            Ok(Some(challenge)) => {
                let token = client.evaluate_challenge(&challenge).unwrap();
                java.send(&token);
            }
            // Java's null: the server is done
            Ok(None) => {}
            Err(line) => {
                done = Some(line);
                break;
            }
        }
    }
    assert!(client.is_complete());
    // the authorization id we sent is our principal
    assert_eq!(done.as_deref(), Some("COMPLETE bob@EXAMPLE.COM"));
}
