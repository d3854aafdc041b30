use std::collections::HashMap;
use std::sync::Arc;

use tokio::io::{duplex, AsyncReadExt, AsyncWriteExt};

use super::*;
use crate::sasl::digest::{DigestMd5Client, DigestMd5Server, DigestServerSettings};

/// `QuorumServer { DigestLoginModule required user_test="test"; }` as 3.8 runs it.
fn server() -> Box<dyn SaslServer> {
    let users = HashMap::from([("test".to_owned(), "test".to_owned())]);
    let settings = DigestServerSettings {
        protocol: PROTOCOL.to_owned(),
        server_name: SERVER_NAME.to_owned(),
        ..DigestServerSettings::zookeeper(users)
    };
    Box::new(DigestMd5Server::new(Arc::new(settings)))
}

/// `QuorumLearner { DigestLoginModule required username="test" password=...; }`.
fn learner(password: &str) -> Option<Box<dyn SaslClient>> {
    Some(Box::new(DigestMd5Client::new(
        "test",
        password,
        Some("test"),
        PROTOCOL,
        SERVER_NAME,
    )))
}

/// Both sides over an in-memory socket; then the learner writes `after` and the server
/// reads back what it had not consumed plus the rest of it.
async fn run(
    client: Option<Box<dyn SaslClient>>,
    require: bool,
) -> (
    Result<(), QuorumAuthError>,
    Result<Vec<u8>, QuorumAuthError>,
) {
    let (mut a, mut b) = duplex(64 * 1024);
    let after = b"first message after the exchange".to_vec();
    let want = after.clone();
    let learner = async move {
        let r = authenticate_learner(&mut a, move || Ok(client), "peer:1").await;
        if r.is_ok() {
            a.write_all(&after).await.unwrap();
        }
        drop(a);
        r
    };
    let srv = async move {
        let unread = authenticate_server(&mut b, server(), require, "peer:2").await?;
        let mut rest = Vec::new();
        let _ = b.read_to_end(&mut rest).await;
        let mut all = unread.0;
        all.extend(rest);
        Ok(all)
    };
    let (l, s) = tokio::join!(learner, srv);
    if let Ok(all) = &s {
        if l.is_ok() {
            assert_eq!(
                all, &want,
                "the first message after auth reaches the server whole"
            );
        }
    }
    (l, s)
}

#[tokio::test]
async fn digest_exchange_succeeds_and_the_stream_goes_on() {
    let (l, s) = run(learner("test"), true).await;
    l.unwrap();
    s.unwrap();
}

#[tokio::test]
async fn a_wrong_password_is_refused_when_sasl_is_required() {
    let (l, s) = run(learner("wrong"), true).await;
    assert!(matches!(l, Err(QuorumAuthError::Refused(_))), "{l:?}");
    assert!(matches!(s, Err(QuorumAuthError::Sasl(_))), "{s:?}");
}

#[tokio::test]
async fn a_failed_exchange_is_let_through_when_the_server_does_not_require_sasl() {
    let (l, s) = run(learner("wrong"), false).await;
    assert!(matches!(l, Err(QuorumAuthError::Refused(_))), "{l:?}");
    // the server keeps the connection (the learner then closes it)
    assert!(s.is_ok(), "{s:?}");
}

#[tokio::test]
async fn a_learner_that_does_not_authenticate_keeps_its_first_bytes() {
    let (l, s) = run(None, false).await;
    l.unwrap();
    s.unwrap();
}

#[tokio::test]
async fn a_learner_that_does_not_authenticate_is_refused_when_required() {
    let (l, s) = run(None, true).await;
    l.unwrap();
    assert!(
        matches!(s, Err(QuorumAuthError::NotAuthenticating)),
        "{s:?}"
    );
}

#[test]
fn the_magic_is_javas_negated_literal() {
    assert_eq!(MAGIC, 0x5f24_3501_3501_edcc);
    let p = packet(Status::InProgress, Some(&[]));
    assert_eq!(&p[..8], &MAGIC.to_be_bytes());
    assert_eq!(&p[8..], &[0, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(
        &packet(Status::Success, None)[8..],
        &[0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff]
    );
}
