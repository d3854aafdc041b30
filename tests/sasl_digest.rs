//! Client SASL with DIGEST-MD5 against a real server (issue #15): the JAAS file and
//! settings come in as 3.8 takes them (`-D` JVM flags, zoo.cfg), and a client sees what a
//! 3.8 server shows it: the challenge/response exchange, `sasl:<user>` in whoAmI and ACLs,
//! the super user, AuthFailed and a closed connection for bad credentials (or a kept one
//! with allowSaslFailedClients), SessionClosedRequireSaslAuth when SASL is enforced.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use common::{create, create_with_acl, temp_data_dir, Client, Reply};
use ferrokeeper::config::SystemProperties;
use ferrokeeper::jute::codes::{perms, ErrorCode, OpCode};
use ferrokeeper::jute::data::Acl;
use ferrokeeper::jute::proto::{
    CreateRequest, GetDataRequest, GetDataResponse, GetSaslRequest, SetSaslResponse, WhoAmIResponse,
};
use ferrokeeper::jute::Jute;
use ferrokeeper::sasl::digest::DigestMd5Client;
use ferrokeeper::sasl::SaslClient;
use ferrokeeper::server::RunningServer;

const SASL_PROVIDER: &str =
    "-Dzookeeper.authProvider.1=org.apache.zookeeper.server.auth.SASLAuthenticationProvider";

/// The admin guide's server section, plus alice.
const JAAS: &str =
    "Server {\n       org.apache.zookeeper.server.auth.DigestLoginModule required\n       \
                    user_super=\"adminsecret\"\n       user_bob=\"bobsecret\"\n       \
                    user_alice=\"alicesecret\";\n};\n";

struct Server {
    server: RunningServer,
    addr: SocketAddr,
    dir: PathBuf,
}

impl Server {
    async fn stop(self) {
        self.server.shutdown().await;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A standalone server whose JVM flags are `flags` plus the JAAS file `jaas` (if any).
async fn start(jaas: Option<&str>, flags: &str, zoo_cfg: &str) -> Server {
    let dir = temp_data_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let mut flags = flags.to_owned();
    if let Some(text) = jaas {
        let file = dir.join("jaas.conf");
        std::fs::write(&file, text).unwrap();
        flags.push_str(&format!(
            " -Djava.security.auth.login.config={}",
            file.display()
        ));
    }
    let text = format!(
        "tickTime=200\ndataDir={}\nadmin.enableServer=false\n{zoo_cfg}\n",
        dir.join("data").display()
    );
    let mut cfg = ferrokeeper::config::parse_with(
        &text,
        Path::new("zoo.cfg"),
        SystemProperties::from_flags(&flags),
    )
    .expect("test config");
    cfg.client_port = Some(0);
    cfg.client_port_address = Some(Ipv4Addr::LOCALHOST.into());
    let server = ferrokeeper::server::start(cfg)
        .await
        .expect("server starts");
    let addr = server.client_addr;
    Server { server, addr, dir }
}

/// One `sasl` request and its reply.
async fn sasl_packet(c: &mut Client, token: &[u8]) -> Reply {
    let req = GetSaslRequest {
        token: Some(Bytes::copy_from_slice(token)),
    };
    c.call(OpCode::SASL, &req).await
}

/// What the client saw of a DIGEST-MD5 exchange as `user`.
#[derive(Debug, PartialEq)]
enum Outcome {
    Authenticated,
    /// The server's error on the response step, and whether it then closed.
    Refused(ErrorCode, bool),
}

/// The exchange the 3.8 Java client runs: an empty first token, the response, then the
/// server's rspauth checked.
async fn authenticate(c: &mut Client, user: &str, password: &str) -> Outcome {
    let mut client = DigestMd5Client::zookeeper(user, password);
    assert_eq!(client.initial_response().unwrap(), None);
    let first = sasl_packet(c, b"").await;
    assert_eq!(first.err(), ErrorCode::OK);
    assert_eq!(first.header.zxid, 0, "3.8 answers sasl packets with zxid 0");
    let challenge = first
        .decode::<SetSaslResponse>()
        .token
        .expect("a challenge");
    assert!(challenge.starts_with(b"realm=\"zk-sasl-md5\",nonce=\""));
    let response = client.evaluate_challenge(&challenge).unwrap();
    let second = sasl_packet(c, &response).await;
    assert_eq!(second.header.zxid, 0);
    // the body is there on error too: SetSASLResponse with a null token
    let token = second.decode::<SetSaslResponse>().token;
    if second.err() != ErrorCode::OK {
        assert_eq!(token, None);
        return Outcome::Refused(second.err(), c.is_closed().await);
    }
    match token {
        Some(rspauth) => {
            client.evaluate_challenge(&rspauth).unwrap();
            assert!(client.is_complete());
            Outcome::Authenticated
        }
        // allowSaslFailedClients: Ok with a null token
        None => Outcome::Refused(ErrorCode::OK, false),
    }
}

async fn whoami(c: &mut Client) -> Vec<(String, String)> {
    let r = c.call_empty(OpCode::WHO_AM_I).await;
    assert_eq!(r.err(), ErrorCode::OK);
    r.decode::<WhoAmIResponse>()
        .client_info
        .into_iter()
        .map(|i| (i.auth_scheme, i.user))
        .collect()
}

fn ids(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(s, u)| (s.to_string(), u.to_string()))
        .collect()
}

/// A session authenticated as bob, whose ids whoAmI shows.
async fn bob_session(addr: SocketAddr) -> Client {
    let mut bob = Client::connect(addr).await;
    assert_eq!(
        authenticate(&mut bob, "bob", "bobsecret").await,
        Outcome::Authenticated
    );
    assert_eq!(
        whoami(&mut bob).await,
        ids(&[("sasl", "bob"), ("ip", "127.0.0.1")])
    );
    bob
}

fn get(path: &str) -> GetDataRequest {
    GetDataRequest {
        path: path.into(),
        watch: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn digest_users_acls_and_the_super_user() {
    let s = start(
        Some(JAAS),
        &format!("{SASL_PROVIDER} -Dzookeeper.superUser=super"),
        "",
    )
    .await;
    let mut bob = bob_session(s.addr).await;
    let only_bob = create_with_acl("/bob", b"for bob", perms::ALL, "sasl", "bob");
    assert_eq!(
        bob.call(OpCode::CREATE, &only_bob).await.err(),
        ErrorCode::OK
    );
    let r = bob.call(OpCode::GET_DATA, &get("/bob")).await;
    assert_eq!(r.decode::<GetDataResponse>().data.unwrap(), &b"for bob"[..]);
    // `auth` expands to the sasl id
    let auth = create_with_acl("/bob-auth", b"", perms::ALL, "auth", "");
    assert_eq!(bob.call(OpCode::CREATE, &auth).await.err(), ErrorCode::OK);

    let mut alice = Client::connect(s.addr).await;
    assert_eq!(
        authenticate(&mut alice, "alice", "alicesecret").await,
        Outcome::Authenticated
    );
    assert_eq!(
        alice.call(OpCode::GET_DATA, &get("/bob")).await.err(),
        ErrorCode::NO_AUTH
    );
    assert_eq!(
        alice.call(OpCode::GET_DATA, &get("/bob-auth")).await.err(),
        ErrorCode::NO_AUTH
    );
    let mut anonymous = Client::connect(s.addr).await;
    assert_eq!(
        anonymous.call(OpCode::GET_DATA, &get("/bob")).await.err(),
        ErrorCode::NO_AUTH
    );

    let mut admin = Client::connect(s.addr).await;
    assert_eq!(
        authenticate(&mut admin, "super", "adminsecret").await,
        Outcome::Authenticated
    );
    assert_eq!(
        whoami(&mut admin).await,
        ids(&[("sasl", "super"), ("super", ""), ("ip", "127.0.0.1")])
    );
    let r = admin.call(OpCode::GET_DATA, &get("/bob")).await;
    assert_eq!(r.err(), ErrorCode::OK);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_credentials_get_auth_failed_and_a_closed_connection() {
    let s = start(Some(JAAS), SASL_PROVIDER, "").await;
    let mut bystander = Client::connect(s.addr).await;
    assert_eq!(
        authenticate(&mut bystander, "bob", "bobsecret").await,
        Outcome::Authenticated
    );
    for (user, password) in [("bob", "wrong"), ("nobody", "bobsecret")] {
        let mut c = Client::connect(s.addr).await;
        assert_eq!(
            authenticate(&mut c, user, password).await,
            Outcome::Refused(ErrorCode::AUTH_FAILED, true),
            "{user}"
        );
    }
    // a token that is not DIGEST-MD5 at all, and one too long for it
    for tokens in [&[&b""[..], b"\xff\x00garbage"][..], &[&[b'a'; 4097][..]]] {
        let mut c = Client::connect(s.addr).await;
        let mut last = None;
        for t in tokens {
            last = Some(sasl_packet(&mut c, t).await);
        }
        assert_eq!(last.unwrap().err(), ErrorCode::AUTH_FAILED);
        assert!(c.is_closed().await);
    }
    // a non-empty first token gets the challenge all the same (Java's server ignores it)
    let mut c = Client::connect(s.addr).await;
    let r = sasl_packet(&mut c, b"initial").await;
    assert_eq!(r.err(), ErrorCode::OK);
    let challenge = r.decode::<SetSaslResponse>().token.unwrap();
    assert!(challenge.starts_with(b"realm=\"zk-sasl-md5\",nonce="));
    assert_eq!(whoami(&mut c).await, ids(&[("ip", "127.0.0.1")]));
    // other connections go on
    let r = bystander.call(OpCode::GET_DATA, &get("/")).await;
    assert_eq!(r.err(), ErrorCode::OK);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_sasl_failed_clients_keeps_the_connection() {
    let s = start(
        Some(JAAS),
        &format!("{SASL_PROVIDER} -Dzookeeper.allowSaslFailedClients=true"),
        "",
    )
    .await;
    let mut c = Client::connect(s.addr).await;
    assert_eq!(
        authenticate(&mut c, "bob", "wrong").await,
        Outcome::Refused(ErrorCode::OK, false)
    );
    assert_eq!(whoami(&mut c).await, ids(&[("ip", "127.0.0.1")]));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enforced_sasl_closes_unauthenticated_sessions() {
    // zoo.cfg spelling of the AuthenticationHelper switch
    let s = start(
        Some(JAAS),
        SASL_PROVIDER,
        "sessionRequireClientSASLAuth=true",
    )
    .await;
    let mut anonymous = Client::connect(s.addr).await;
    let r = anonymous.call(OpCode::GET_DATA, &get("/")).await;
    assert_eq!(
        (r.err(), r.header.zxid, r.body.len()),
        (ErrorCode::SESSION_CLOSED_REQUIRE_SASL_AUTH, 0, 0)
    );
    assert!(anonymous.is_closed().await);
    // a ping is a packet like any other
    let mut pinger = Client::connect(s.addr).await;
    pinger.send_xid(-2, OpCode::PING, &[]).await;
    let r = pinger.recv().await.unwrap();
    assert_eq!(
        (r.header.xid, r.err()),
        (-2, ErrorCode::SESSION_CLOSED_REQUIRE_SASL_AUTH)
    );
    assert!(pinger.is_closed().await);
    // a failed exchange is answered SessionClosedRequireSaslAuth
    let mut wrong = Client::connect(s.addr).await;
    assert_eq!(
        authenticate(&mut wrong, "bob", "wrong").await,
        Outcome::Refused(ErrorCode::SESSION_CLOSED_REQUIRE_SASL_AUTH, true)
    );
    let mut bob = bob_session(s.addr).await;
    assert_eq!(
        bob.call(OpCode::GET_DATA, &get("/")).await.err(),
        ErrorCode::OK
    );
    s.stop().await;

    // enforce.auth.* with sasl and digest: addauth digest is enough too
    let s = start(
        Some(JAAS),
        &format!(
            "{SASL_PROVIDER} -Dzookeeper.enforce.auth.enabled=true \
             -Dzookeeper.enforce.auth.schemes=sasl,digest"
        ),
        "",
    )
    .await;
    let mut digest = Client::connect(s.addr).await;
    let auth = ferrokeeper::jute::proto::AuthPacket {
        auth_type: 0,
        scheme: "digest".into(),
        auth: Bytes::from_static(b"carol:pw"),
    };
    digest.send_xid(-4, OpCode::AUTH, &auth.to_vec()).await;
    assert_eq!(digest.recv().await.unwrap().err(), ErrorCode::OK);
    assert_eq!(
        digest.call(OpCode::GET_DATA, &get("/")).await.err(),
        ErrorCode::OK
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_login_sasl_packets_get_a_null_token() {
    // a JAAS file with only a client section: 3.8 runs without a SASL login
    let client_only = "Client { org.apache.zookeeper.server.auth.DigestLoginModule required \
                       username=\"bob\" password=\"bobsecret\"; };";
    for jaas in [None, Some(client_only)] {
        let s = start(jaas, SASL_PROVIDER, "").await;
        let mut c = Client::connect(s.addr).await;
        let r = sasl_packet(&mut c, b"").await;
        assert_eq!(r.err(), ErrorCode::OK);
        assert_eq!(r.decode::<SetSaslResponse>().token, None);
        assert_eq!(whoami(&mut c).await, ids(&[("ip", "127.0.0.1")]));
        s.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_null_token_or_a_malformed_record_closes_without_a_reply() {
    // 3.8 reads the record and the token's length before it looks for a SASL server: a
    // null token or a broken record ends the connection with or without a login, and the
    // session can be resumed
    for jaas in [Some(JAAS), None] {
        let s = start(jaas, SASL_PROVIDER, "").await;
        for body in [
            &(-1i32).to_be_bytes()[..],
            &[0, 0, 0, 50, b'a'],
            &(-7i32).to_be_bytes(),
        ] {
            let mut c = Client::connect(s.addr).await;
            c.send_xid(1, OpCode::SASL, body).await;
            assert!(c.recv().await.is_none(), "{body:?}: no reply");
            assert!(c.is_closed().await);
            let resumed = Client::connect_with(s.addr, c.session_id, c.passwd.clone(), 30000, 0)
                .await
                .expect("the session survives");
            assert!(resumed.timeout > 0);
        }
        s.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_sasl_provider_ids_exist_but_acls_refuse_them() {
    let s = start(Some(JAAS), "", "").await;
    let mut bob = bob_session(s.addr).await;
    let only_bob = create_with_acl("/bob", b"", perms::ALL, "sasl", "bob");
    assert_eq!(
        bob.call(OpCode::CREATE, &only_bob).await.err(),
        ErrorCode::INVALID_ACL
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_module_the_server_cannot_run_stops_start_up() {
    let dir = temp_data_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("jaas.conf");
    std::fs::write(
        &file,
        "Server { org.apache.kafka.common.security.plain.PlainLoginModule required; };",
    )
    .unwrap();
    let mut cfg = ferrokeeper::config::parse_with(
        &format!("dataDir={}\nadmin.enableServer=false\n", dir.display()),
        Path::new("zoo.cfg"),
        SystemProperties::from_flags(&format!(
            "-Djava.security.auth.login.config={}",
            file.display()
        )),
    )
    .unwrap();
    cfg.client_port = Some(0);
    cfg.client_port_address = Some(Ipv4Addr::LOCALHOST.into());
    let e = ferrokeeper::server::start(cfg).await.err().unwrap();
    assert!(e.to_string().contains("No LoginModule found"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `-Dzookeeper.letAnySaslUserDoX=<id>`: an ACL entry `sasl:<id>` lets in every client with
/// a SASL id, for that entry's permissions only; without the flag only `<id>` itself. A
/// client without SASL is not let in either way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn let_any_sasl_user_do_x_opens_the_acl_entry_naming_its_id() {
    for let_any in [true, false] {
        let flag = if let_any {
            " -Dzookeeper.letAnySaslUserDoX=anybody"
        } else {
            ""
        };
        let s = start(Some(JAAS), &format!("{SASL_PROVIDER}{flag}"), "").await;
        let mut bob = Client::connect(s.addr).await;
        assert_eq!(
            authenticate(&mut bob, "bob", "bobsecret").await,
            Outcome::Authenticated
        );
        let shared = CreateRequest {
            acl: Some(vec![
                Acl::new(perms::ALL, "sasl", "bob"),
                Acl::new(perms::READ, "sasl", "anybody"),
            ]),
            ..create("/shared", b"for any sasl user", 0)
        };
        assert_eq!(bob.call(OpCode::CREATE, &shared).await.err(), ErrorCode::OK);

        let mut alice = Client::connect(s.addr).await;
        assert_eq!(
            authenticate(&mut alice, "alice", "alicesecret").await,
            Outcome::Authenticated
        );
        let r = alice.call(OpCode::GET_DATA, &get("/shared")).await;
        if let_any {
            assert_eq!(r.err(), ErrorCode::OK);
            assert_eq!(
                r.decode::<GetDataResponse>().data.unwrap(),
                &b"for any sasl user"[..]
            );
        } else {
            assert_eq!(r.err(), ErrorCode::NO_AUTH);
        }
        // the entry gives READ only: a child needs CREATE
        let child = create("/shared/child", b"", 0);
        assert_eq!(
            alice.call(OpCode::CREATE, &child).await.err(),
            ErrorCode::NO_AUTH,
            "letAnySaslUserDoX={let_any}"
        );
        let mut anonymous = Client::connect(s.addr).await;
        assert_eq!(
            anonymous
                .call(OpCode::GET_DATA, &get("/shared"))
                .await
                .err(),
            ErrorCode::NO_AUTH,
            "letAnySaslUserDoX={let_any}"
        );
        s.stop().await;
    }
}
