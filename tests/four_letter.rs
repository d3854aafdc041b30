//! Four-letter words on the client port, gated by 4lw.commands.whitelist as 3.8 gates them.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod common;

use common::{start_server, Client};
use ferrokeeper::jute::codes::{ErrorCode, OpCode};
use ferrokeeper::jute::data::Acl;
use ferrokeeper::jute::proto::{CreateRequest, GetDataRequest, RemoveWatchesRequest};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn word(addr: std::net::SocketAddr, w: &str) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(w.as_bytes()).await.unwrap();
    let mut out = String::new();
    tokio::time::timeout(common::WAIT, s.read_to_string(&mut out))
        .await
        .expect("answer and close")
        .unwrap();
    out
}

#[tokio::test]
async fn only_srvr_by_default() {
    let server = start_server("").await;
    let srvr = word(server.client_addr, "srvr").await;
    assert!(srvr.starts_with("Zookeeper version: 3.8.0-"), "{srvr}");
    assert!(
        srvr.contains("\nMode: standalone\n"),
        "zkServer.sh status greps this: {srvr}"
    );
    let ruok = word(server.client_addr, "ruok").await;
    assert_eq!(
        ruok,
        "ruok is not executed because it is not in the whitelist.\n"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn whitelisted_words_report_live_state() {
    let server = start_server("4lw.commands.whitelist=*").await;
    let addr = server.client_addr;
    assert_eq!(word(addr, "ruok").await, "imok");
    let mut c = Client::connect(addr).await;
    let eph = CreateRequest {
        path: "/e".into(),
        data: None,
        acl: Some(Acl::open_unsafe()),
        flags: 1,
    };
    c.call(OpCode::CREATE, &eph).await;
    c.call(
        OpCode::GET_DATA,
        &GetDataRequest {
            path: "/e".into(),
            watch: true,
        },
    )
    .await;
    let mntr = word(addr, "mntr").await;
    assert!(mntr.contains("zk_server_state\tstandalone\n"), "{mntr}");
    assert!(mntr.contains("zk_ephemerals_count\t1\n"), "{mntr}");
    assert!(mntr.contains("zk_watch_count\t1\n"), "{mntr}");
    let wchc = word(addr, "wchc").await;
    assert!(
        wchc.contains(&format!("0x{:x}\n\t/e\n", c.session_id)),
        "{wchc}"
    );
    let dump = word(addr, "dump").await;
    assert!(
        dump.contains(&format!("0x{:x}:\n\t/e\n", c.session_id)),
        "{dump}"
    );
    let cons = word(addr, "cons").await;
    assert!(cons.contains("lop=GETD"), "{cons}");
    // a write that fails is an ErrorTxn, which 3.8's cons shows as lop=NA
    assert_eq!(
        c.call(OpCode::CREATE, &eph).await.err(),
        ErrorCode::NODE_EXISTS
    );
    let cons = word(addr, "cons").await;
    assert!(cons.contains("lop=NA"), "{cons}");
    assert_eq!(word(addr, "isro").await, "rw");

    // as 3.8's watch2Paths, a connection stays counted once its watch is gone
    let remove = RemoveWatchesRequest {
        path: "/e".into(),
        watcher_type: 2,
    };
    assert_eq!(
        c.call(OpCode::REMOVE_WATCHES, &remove).await.err(),
        ErrorCode::OK
    );
    assert_eq!(
        word(addr, "wchs").await,
        "1 connections watching 0 paths\nTotal watches:0\n"
    );
    assert_eq!(
        word(addr, "wchc").await,
        format!("0x{:x}\n\n", c.session_id)
    );
    server.shutdown().await;
}

/// The asking connection is one of the server's connections, as in 3.8's factories: `stat`
/// and `cons` list it (no session, one packet in), `Connections:` and `mntr` count it, and
/// each answer counts as a packet sent once written.
#[tokio::test]
async fn the_asking_connection_is_counted_and_listed() {
    let server = start_server("4lw.commands.whitelist=*").await;
    let addr = server.client_addr;
    let stat = word(addr, "stat").await;
    let own = |text: &str| {
        text.lines()
            .filter(|l| {
                l.starts_with(" /127.0.0.1:") && l.ends_with("[0](queued=0,recved=1,sent=0)")
            })
            .count()
    };
    assert_eq!(own(&stat), 1, "{stat}");
    assert!(
        stat.contains("\nReceived: 1\nSent: 0\nConnections: 1\n"),
        "{stat}"
    );
    let srvr = word(addr, "srvr").await;
    assert!(
        srvr.contains("\nReceived: 2\nSent: 1\nConnections: 1\n"),
        "{srvr}"
    );
    let _c = Client::connect(addr).await;
    let cons = word(addr, "cons").await;
    assert_eq!(own(&cons), 1, "{cons}");
    assert_eq!(
        cons.lines().filter(|l| l.contains("sid=0x")).count(),
        1,
        "{cons}"
    );
    let mntr = word(addr, "mntr").await;
    assert!(mntr.contains("zk_num_alive_connections\t2\n"), "{mntr}");
    server.shutdown().await;
}
