//! Bad input closes only the connection that sent it: garbage, truncated frames, a 100 MB
//! length prefix, malformed records and a flood of silent connections leave the server
//! answering everyone else.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod common;

use std::time::Duration;

use common::{frame, start_server, Client};
use ferrokeeper::jute::codes::{ErrorCode, OpCode};
use ferrokeeper::jute::proto::{ExistsRequest, GetDataRequest};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn closed_by_server(mut s: TcpStream) -> bool {
    let mut buf = [0u8; 64];
    matches!(
        tokio::time::timeout(common::WAIT, s.read(&mut buf)).await,
        Ok(Ok(0)) | Ok(Err(_))
    )
}

async fn still_serves(addr: std::net::SocketAddr) {
    let mut c = Client::connect(addr).await;
    let r = c
        .call(
            OpCode::EXISTS,
            &ExistsRequest {
                path: "/".into(),
                watch: false,
            },
        )
        .await;
    assert_eq!(r.err(), ErrorCode::OK);
}

#[tokio::test]
async fn oversized_and_garbage_handshakes_close_only_that_connection() {
    let server = start_server("").await;
    let addr = server.client_addr;
    let mut big = TcpStream::connect(addr).await.expect("connect");
    big.write_all(&(100 * 1024 * 1024i32).to_be_bytes())
        .await
        .expect("write");
    assert!(
        closed_by_server(big).await,
        "100 MB length prefix closes the connection"
    );
    let mut neg = TcpStream::connect(addr).await.expect("connect");
    neg.write_all(&(-5i32).to_be_bytes()).await.expect("write");
    assert!(closed_by_server(neg).await);
    let mut garbage = TcpStream::connect(addr).await.expect("connect");
    garbage
        .write_all(&frame(&[0xde, 0xad, 0xbe, 0xef, 1]))
        .await
        .expect("write");
    assert!(
        closed_by_server(garbage).await,
        "a ConnectRequest that does not parse"
    );
    still_serves(addr).await;
    server.shutdown().await;
}

#[tokio::test]
async fn bad_frames_after_the_handshake() {
    let server = start_server("jute.maxbuffer=4096").await;
    let addr = server.client_addr;
    let mut c = Client::connect(addr).await;
    c.stream
        .write_all(&frame(&[0, 0, 0, 1]))
        .await
        .expect("write");
    assert!(c.is_closed().await, "a frame shorter than a RequestHeader");
    let mut c = Client::connect(addr).await;
    c.stream
        .write_all(&(8192i32).to_be_bytes())
        .await
        .expect("write");
    assert!(c.is_closed().await, "a frame over jute.maxbuffer");
    let mut c = Client::connect(addr).await;
    c.stream
        .write_all(&(100i32).to_be_bytes())
        .await
        .expect("write");
    c.stream.write_all(&[0, 0, 0, 1]).await.expect("write");
    drop(c); // truncated mid-frame, then gone
    still_serves(addr).await;
    server.shutdown().await;
}

#[tokio::test]
async fn silent_connections_do_not_block_others() {
    let server = start_server("maxClientCnxns=0").await;
    let addr = server.client_addr;
    let mut silent = Vec::new();
    for _ in 0..300 {
        silent.push(TcpStream::connect(addr).await.expect("connect"));
    }
    tokio::time::timeout(Duration::from_secs(10), still_serves(addr))
        .await
        .expect("served while 300 connections say nothing");
    let mut c = Client::connect(addr).await;
    let r = c
        .call(
            OpCode::GET_DATA,
            &GetDataRequest {
                path: "/zookeeper".into(),
                watch: false,
            },
        )
        .await;
    assert_eq!(r.err(), ErrorCode::OK);
    drop(silent);
    server.shutdown().await;
}

#[tokio::test]
async fn max_client_cnxns_caps_one_address() {
    let server = start_server("maxClientCnxns=3").await;
    let addr = server.client_addr;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(Client::connect(addr).await);
    }
    let extra = TcpStream::connect(addr).await.expect("tcp accept");
    assert!(
        closed_by_server(extra).await,
        "the fourth connection from one IP is dropped"
    );
    drop(held.pop());
    tokio::time::sleep(Duration::from_millis(100)).await;
    still_serves(addr).await;
    server.shutdown().await;
}
