//! Durability: what a client was told is written survives a restart and a `kill -9`;
//! snapshots roll; damaged files are reported, never silently dropped.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bytes::Bytes;
use common::{connect_when_up, create, exists, free_port, start_server_in, temp_data_dir, Client};
use ferrokeeper::jute::codes::{ErrorCode, OpCode};
use ferrokeeper::jute::data::Acl;
use ferrokeeper::jute::proto::*;

fn files(dir: &Path, prefix: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir.join("version-2"))
        .map(|rd| {
            rd.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default();
    v.retain(|n| n.starts_with(prefix));
    v.sort();
    v
}

#[tokio::test]
async fn a_restart_keeps_the_tree_and_live_sessions() {
    let dir = temp_data_dir();
    let server = start_server_in(&dir, "snapCount=10").await;
    let mut c = Client::connect(server.client_addr).await;
    c.call(OpCode::CREATE, &create("/d", b"root", 0)).await;
    for i in 0..40 {
        c.call(OpCode::CREATE, &create(&format!("/d/n{i}"), b"v", 0))
            .await;
    }
    c.call(
        OpCode::SET_DATA,
        &SetDataRequest {
            path: "/d".into(),
            data: Some(Bytes::from_static(b"x")),
            version: 0,
        },
    )
    .await;
    c.call(OpCode::CREATE, &create("/eph", b"", 1)).await;
    let before: GetDataResponse = c
        .call(
            OpCode::GET_DATA,
            &GetDataRequest {
                path: "/d".into(),
                watch: false,
            },
        )
        .await
        .decode();
    let (session, passwd) = (c.session_id, c.passwd.clone());
    server.shutdown().await;
    assert!(
        files(&dir, "log.").len() >= 2,
        "snapCount=10 rolled the log: {:?}",
        files(&dir, "log.")
    );
    assert!(
        files(&dir, "snapshot.").len() >= 2,
        "start-up and periodic snapshots: {:?}",
        files(&dir, "snapshot.")
    );

    let server = start_server_in(&dir, "snapCount=10").await;
    let mut c = Client::connect_with(server.client_addr, session, passwd, 4000, 0)
        .await
        .expect("the session survived the restart");
    let after: GetDataResponse = c
        .call(
            OpCode::GET_DATA,
            &GetDataRequest {
                path: "/d".into(),
                watch: false,
            },
        )
        .await
        .decode();
    assert_eq!(before, after, "same data and Stat after recovery");
    let kids: GetChildrenResponse = c
        .call(
            OpCode::GET_CHILDREN,
            &GetChildrenRequest {
                path: "/d".into(),
                watch: false,
            },
        )
        .await
        .decode();
    assert_eq!(kids.children.len(), 40);
    assert!(
        exists(&mut c, "/eph").await,
        "the live session's ephemeral is back"
    );
    let r = c.call(OpCode::CREATE, &create("/d/next", b"", 0)).await;
    assert!(
        r.header.zxid > after.stat.mzxid,
        "zxids carry on after recovery"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn sessions_restored_at_start_up_expire_when_nobody_returns() {
    let dir = temp_data_dir();
    let server = start_server_in(&dir, "").await;
    let mut c = Client::connect_with(server.client_addr, 0, Bytes::from_static(&[0; 16]), 400, 0)
        .await
        .unwrap();
    c.call(OpCode::CREATE, &create("/gone-soon", b"", 1)).await;
    server.shutdown().await;
    let server = start_server_in(&dir, "").await;
    let mut w = Client::connect(server.client_addr).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while exists(&mut w, "/gone-soon").await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "restored session never expired"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.shutdown().await;
}

fn spawn_server(dir: &Path, port: u16) -> Child {
    let cfg = dir.join("zoo.cfg");
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        &cfg,
        format!("tickTime=2000\ndataDir={}\nclientPort={port}\nclientPortAddress=127.0.0.1\nadmin.enableServer=false\nsnapCount=200\n", dir.display()),
    )
    .unwrap();
    Command::new(env!("CARGO_BIN_EXE_ferrokeeper"))
        .arg(&cfg)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start ferrokeeper")
}

/// Writers record a path only once its create is acknowledged; after every `kill -9` and
/// restart, all recorded paths must be there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_under_write_load_loses_no_acknowledged_write() {
    let dir = temp_data_dir();
    let port = free_port();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut acked: Vec<String> = Vec::new();
    for round in 0..6 {
        let mut child = spawn_server(&dir, port);
        let mut setup = connect_when_up(addr).await;
        for p in &acked {
            assert!(
                exists(&mut setup, p).await,
                "round {round}: acknowledged {p} was lost"
            );
        }
        setup
            .call(OpCode::CREATE, &create(&format!("/r{round}"), b"", 0))
            .await;
        let mut writers = Vec::new();
        for w in 0..4 {
            let mut c = connect_when_up(addr).await;
            writers.push(tokio::spawn(async move {
                let mut mine = Vec::new();
                for i in 0.. {
                    let path = format!("/r{round}/w{w}-{i}");
                    c.send(OpCode::CREATE, &create(&path, b"payload", 0)).await;
                    match c.recv().await {
                        Some(r) if r.err() == ErrorCode::OK => mine.push(path),
                        _ => break, // the server died: this write was never acknowledged
                    }
                }
                mine
            }));
        }
        tokio::time::sleep(Duration::from_millis(300 + 100 * round)).await;
        child.kill().expect("SIGKILL");
        let _ = child.wait();
        for w in writers {
            acked.extend(w.await.unwrap());
        }
    }
    let mut child = spawn_server(&dir, port);
    let mut c = connect_when_up(addr).await;
    assert!(
        acked.len() > 20,
        "the load produced acknowledged writes ({})",
        acked.len()
    );
    for p in &acked {
        assert!(exists(&mut c, p).await, "acknowledged {p} was lost");
    }
    child.kill().unwrap();
    let _ = child.wait();
}

fn newest_log(dir: &Path) -> std::path::PathBuf {
    dir.join("version-2")
        .join(files(dir, "log.").pop().expect("a log file"))
}

async fn write_some(dir: &Path, n: usize) {
    let server = start_server_in(dir, "").await;
    let mut c = Client::connect(server.client_addr).await;
    for i in 0..n {
        c.call(OpCode::CREATE, &create(&format!("/t{i}"), &[7u8; 100], 0))
            .await;
    }
    server.shutdown().await;
}

fn test_config(dir: &Path) -> ferrokeeper::config::ServerConfig {
    let text = format!(
        "tickTime=200\ndataDir={}\nadmin.enableServer=false\n",
        dir.display()
    );
    let mut cfg = ferrokeeper::config::parse(&text, Path::new("zoo.cfg")).unwrap();
    cfg.client_port = Some(0);
    cfg.client_port_address = Some(std::net::Ipv4Addr::LOCALHOST.into());
    cfg
}

#[tokio::test]
async fn a_flipped_byte_mid_log_stops_start_up_naming_the_file() {
    let dir = temp_data_dir();
    write_some(&dir, 20).await;
    let log = newest_log(&dir);
    let mut bytes = std::fs::read(&log).unwrap();
    bytes[16 + 200] ^= 0x55; // inside an early record; valid records follow
    std::fs::write(&log, bytes).unwrap();
    let err = ferrokeeper::server::start(test_config(&dir))
        .await
        .err()
        .expect("start-up must fail");
    let msg = err.to_string();
    assert!(
        msg.contains(&log.file_name().unwrap().to_string_lossy().to_string()),
        "{msg}"
    );
}

#[tokio::test]
async fn a_torn_last_record_is_cut_and_everything_before_it_kept() {
    let dir = temp_data_dir();
    write_some(&dir, 20).await;
    let log = newest_log(&dir);
    let bytes = std::fs::read(&log).unwrap();
    // find the end of the data (the rest is preallocated zeros) and tear the last record
    let end = bytes.iter().rposition(|b| *b != 0).unwrap() + 1;
    let mut torn = bytes[..end - 30].to_vec();
    torn.resize(bytes.len(), 0);
    std::fs::write(&log, torn).unwrap();
    let server = start_server_in(&dir, "").await;
    let mut c = Client::connect(server.client_addr).await;
    assert!(exists(&mut c, "/t18").await);
    assert!(!exists(&mut c, "/t19").await, "the torn txn is gone");
    c.call(OpCode::CREATE, &create("/after", b"", 0)).await;
    server.shutdown().await;
    let server = start_server_in(&dir, "").await;
    let mut c = Client::connect(server.client_addr).await;
    assert!(
        exists(&mut c, "/after").await,
        "appends after the cut are readable"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_damaged_newest_snapshot_falls_back_to_an_older_one() {
    let dir = temp_data_dir();
    write_some(&dir, 10).await;
    write_some(&dir, 0).await; // another start-up snapshot, now the newest
    let snaps = files(&dir, "snapshot.");
    assert!(snaps.len() >= 2, "{snaps:?}");
    let newest = dir.join("version-2").join(snaps.last().unwrap());
    let len = std::fs::metadata(&newest).unwrap().len();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&newest)
        .unwrap();
    f.set_len(len / 2).unwrap();
    let server = start_server_in(&dir, "").await;
    let mut c = Client::connect(server.client_addr).await;
    assert!(
        exists(&mut c, "/t9").await,
        "older snapshot + log replay recovered everything"
    );
    server.shutdown().await;
}

/// Every txn we log carries the tree digest after it, as 3.8 logs it: replaying the log into
/// a fresh tree must match each one (the tree's digest is checked against the 3.8 jar).
#[tokio::test]
async fn every_logged_txn_digest_matches_the_tree_after_it() {
    let dir = temp_data_dir();
    let server = start_server_in(&dir, "extendedTypesEnabled=true").await;
    let mut c = Client::connect(server.client_addr).await;
    let mut other = Client::connect(server.client_addr).await;
    c.call(OpCode::CREATE, &create("/g", b"x", 0)).await;
    c.call(OpCode::CREATE, &create("/g/seq-", b"1", 2)).await;
    c.call(OpCode::CREATE, &create("/g/eph", b"", 1)).await;
    other
        .call(OpCode::CREATE, &create("/g/eph2", b"e", 3))
        .await;
    c.call(OpCode::CREATE_CONTAINER, &create("/g/c", b"", 4))
        .await;
    let ttl = CreateTtlRequest {
        path: "/g/t".into(),
        data: None,
        acl: Some(Acl::open_unsafe()),
        flags: 5,
        ttl: 100_000,
    };
    c.call(OpCode::CREATE_TTL, &ttl).await;
    c.call(
        OpCode::SET_DATA,
        &SetDataRequest {
            path: "/g".into(),
            data: Some(Bytes::from_static(b"yy")),
            version: -1,
        },
    )
    .await;
    c.call(
        OpCode::SET_ACL,
        &SetAclRequest {
            path: "/g".into(),
            acl: Some(Acl::open_unsafe()),
            version: -1,
        },
    )
    .await;
    c.call(
        OpCode::DELETE,
        &DeleteRequest {
            path: "/g/seq-0000000000".into(),
            version: -1,
        },
    )
    .await;
    c.call(
        OpCode::DELETE,
        &DeleteRequest {
            path: "/nope".into(),
            version: -1,
        },
    )
    .await;
    let ok = MultiRequest {
        ops: vec![
            MultiOp::Create(OpCode::CREATE, create("/g/m1", b"", 0)),
            MultiOp::SetData(SetDataRequest {
                path: "/g/m1".into(),
                data: None,
                version: 0,
            }),
        ],
    };
    c.call(OpCode::MULTI, &ok).await;
    let failing = MultiRequest {
        ops: vec![
            MultiOp::Create(OpCode::CREATE, create("/g/m2", b"", 0)),
            MultiOp::Delete(DeleteRequest {
                path: "/nope".into(),
                version: -1,
            }),
        ],
    };
    c.call(OpCode::MULTI, &failing).await;
    other.close_session().await;
    c.close_session().await;
    server.shutdown().await;

    let log_dir = dir.join("version-2");
    let mut tree = ferrokeeper::tree::DataTree::with_options(ferrokeeper::tree::TreeOptions {
        digest_enabled: true,
        ephemeral: ferrokeeper::tree::EphemeralOptions {
            extended_types_enabled: true,
            emulate_353_ttl: false,
        },
    });
    let mut checked = 0;
    for logged in ferrokeeper::persist::txnlog::read_txns(&log_dir, 0).unwrap() {
        let logged = logged.unwrap();
        tree.apply(&logged.entry);
        if let Some(d) = &logged.entry.digest {
            assert_eq!(
                d.tree_digest,
                tree.digest(),
                "zxid 0x{:x} op {:?}",
                logged.zxid,
                logged.entry.header.op
            );
            checked += 1;
        } else {
            assert_eq!(
                logged.entry.header.op,
                OpCode::ERROR,
                "only failed single ops log no digest"
            );
        }
    }
    assert!(checked >= 14, "digests checked: {checked}");
}

/// `mntr`'s start-up figures after a restart: one database load, every txn logged since the
/// start-up snapshot replayed (the 5 creates and their session's createSession).
#[tokio::test]
async fn a_restart_reports_the_txns_it_replayed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = temp_data_dir();
    write_some(&dir, 5).await;
    let server = start_server_in(&dir, "4lw.commands.whitelist=mntr").await;
    let mut s = tokio::net::TcpStream::connect(server.client_addr)
        .await
        .unwrap();
    s.write_all(b"mntr").await.unwrap();
    let mut mntr = String::new();
    tokio::time::timeout(common::WAIT, s.read_to_string(&mut mntr))
        .await
        .expect("answer and close")
        .unwrap();
    for line in [
        "zk_cnt_dbinittime\t1\n",
        "zk_cnt_startup_snap_load_time\t1\n",
        "zk_cnt_startup_txns_loaded\t1\n",
        "zk_sum_startup_txns_loaded\t6\n",
    ] {
        assert!(mntr.contains(line), "{line:?} in\n{mntr}");
    }
    server.shutdown().await;
}
