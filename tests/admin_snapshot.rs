//! ZooKeeper 3.9's AdminServer `snapshot` and `restore` commands against live in-process
//! servers: a snapshot taken over HTTP is a ZooKeeper snapshot (our reader and, when the
//! reference's jars are installed, its `SnapshotFormatter` read it), restoring it into a
//! second server brings the data back for a client, and auth / rate-limit / feature-flag
//! failures answer 3.9.5's status codes and JSON.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;

use std::process::Command;

use bytes::Bytes;
use common::{start_server, Client, WAIT};
use ferrokeeper::jute::codes::{ErrorCode, OpCode};
use ferrokeeper::jute::data::Acl;
use ferrokeeper::jute::proto::{CreateRequest, GetDataRequest, GetDataResponse};
use ferrokeeper::persist::snapshot::read_snapshot_stream;
use ferrokeeper::tree::TreeOptions;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct HttpReply {
    status: u16,
    headers: String,
    body: Vec<u8>,
}

impl HttpReply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }

    fn header(&self, name: &str) -> Option<String> {
        self.headers.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == name).then(|| v.trim().to_owned())
        })
    }
}

/// One request per connection; `auth` becomes the Authorization header.
async fn request(
    addr: SocketAddr,
    method: &str,
    target: &str,
    auth: Option<&str>,
    body: &[u8],
) -> HttpReply {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let auth = auth.map_or(String::new(), |a| format!("Authorization: {a}\r\n"));
    let head = format!(
        "{method} {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{auth}Content-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(body).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(WAIT, s.read_to_end(&mut raw))
        .await
        .expect("reply in time")
        .unwrap();
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("header end");
    let head = String::from_utf8(raw[..end].to_vec()).unwrap();
    let mut body = raw[end + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body);
    }
    HttpReply {
        status: head.split(' ').nth(1).unwrap().parse().unwrap(),
        headers: head.to_ascii_lowercase(),
        body,
    }
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = raw.windows(2).position(|w| w == b"\r\n").unwrap();
        let size =
            usize::from_str_radix(std::str::from_utf8(&raw[..line_end]).unwrap(), 16).unwrap();
        raw = &raw[line_end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&raw[..size]);
        raw = &raw[size + 2..];
    }
}

const AUTH: Option<&str> = Some("digest root:root_passwd");

async fn create(c: &mut Client, path: &str, data: &'static [u8]) {
    let req = CreateRequest {
        path: path.into(),
        data: Some(Bytes::from_static(data)),
        acl: Some(Acl::open_unsafe()),
        flags: 0,
    };
    assert_eq!(c.call(OpCode::CREATE, &req).await.err(), ErrorCode::OK);
}

async fn get(c: &mut Client, path: &str) -> Option<Vec<u8>> {
    let req = GetDataRequest {
        path: path.into(),
        watch: false,
    };
    let r = c.call(OpCode::GET_DATA, &req).await;
    (r.err() == ErrorCode::OK).then(|| {
        r.decode::<GetDataResponse>()
            .data
            .map_or(Vec::new(), |d| d.to_vec())
    })
}

fn opts() -> TreeOptions {
    TreeOptions::default()
}

#[tokio::test]
async fn snapshot_streams_out_and_restores_into_another_server() {
    let a = start_server("").await;
    let admin_a = a.admin_addr.unwrap();
    let mut c = Client::connect(a.client_addr).await;
    create(&mut c, "/app", b"top").await;
    create(&mut c, "/app/child", b"payload-1").await;
    create(&mut c, "/other", b"").await;

    let snap = request(
        admin_a,
        "GET",
        "/commands/snapshot?streaming=true",
        AUTH,
        b"",
    )
    .await;
    assert_eq!(snap.status, 200, "{}", String::from_utf8_lossy(&snap.body));
    assert!(snap
        .headers
        .contains("content-type: application/octet-stream"));
    let size: usize = snap.header("snapshot_size").unwrap().parse().unwrap();
    assert_eq!(size, snap.body.len());
    let last_zxid = snap.header("last_zxid").unwrap();
    assert!(last_zxid.starts_with("0x"), "{last_zxid}");
    let zxid = i64::from_str_radix(&last_zxid[2..], 16).unwrap();
    assert!(zxid >= 3, "{last_zxid}");

    // our reader: the tree, and 3.9's trailing last processed zxid
    let read = read_snapshot_stream(&snap.body[..], opts()).unwrap();
    assert!(read.tree.node("/app/child").is_some());
    assert_eq!(read.last_processed_zxid, Some(zxid));

    // the reference's SnapshotFormatter (3.8.0 stops after the digest)
    if let Some(cp) = common::realzk::reference_classpath() {
        let dir = common::temp_data_dir();
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join(format!("snapshot.{zxid:x}"));
        std::fs::write(&f, &snap.body).unwrap();
        let out = Command::new("java")
            .args(["-cp", &cp, "org.apache.zookeeper.server.SnapshotFormatter"])
            .arg(&f)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains("/app/child"), "{text}");
        assert!(text.contains("Session Details"), "{text}");
        std::fs::remove_dir_all(dir).unwrap();
    } else {
        println!("SnapshotFormatter check skipped: java or the ZooKeeper jars are absent");
    }

    // streaming=false: the JSON with the same headers, no body stream
    let meta = request(admin_a, "GET", "/commands/snap?streaming=false", AUTH, b"").await;
    // the snapshot limiter's interval is the setting in µs (3.9.5): 300 ms by default
    let meta = if meta.status == 429 {
        tokio::time::sleep(std::time::Duration::from_millis(400)).await;
        request(admin_a, "GET", "/commands/snap?streaming=false", AUTH, b"").await
    } else {
        meta
    };
    assert_eq!(meta.status, 200);
    assert_eq!(
        meta.json(),
        serde_json::json!({"command": "snapshot", "error": null})
    );
    assert!(meta.header("last_zxid").is_some());

    // restore into a second server with other data
    let dir_b = common::temp_data_dir();
    let b = common::start_server_in(&dir_b, "").await;
    let admin_b = b.admin_addr.unwrap();
    let mut cb = Client::connect(b.client_addr).await;
    create(&mut cb, "/gone", b"old").await;
    let restored = request(admin_b, "POST", "/commands/restore", AUTH, &snap.body).await;
    assert_eq!(
        restored.status,
        200,
        "{}",
        String::from_utf8_lossy(&restored.body)
    );
    let json = restored.json();
    assert_eq!(json["command"], "restore");
    assert_eq!(json["error"], Value::Null);
    assert!(json["last_zxid"].as_i64().unwrap() >= zxid, "{json}");
    // the old session's connection was closed with the old database
    assert!(cb.is_closed().await);

    let mut cb = Client::connect(b.client_addr).await;
    assert_eq!(
        get(&mut cb, "/app/child").await.as_deref(),
        Some(&b"payload-1"[..])
    );
    assert_eq!(get(&mut cb, "/app").await.as_deref(), Some(&b"top"[..]));
    assert_eq!(get(&mut cb, "/gone").await, None);
    // the restored server takes writes on top
    create(&mut cb, "/app/after", b"new").await;

    // a second restore within the interval is rate limited
    let again = request(admin_b, "POST", "/commands/rest", AUTH, &snap.body).await;
    assert_eq!(again.status, 429);
    assert_eq!(
        again.json(),
        serde_json::json!({"command": "restore", "error": null})
    );

    // the restore survives a restart: the restored tree was written as a snapshot
    drop(cb);
    b.shutdown().await;
    let b2 = common::start_server_in(&dir_b, "").await;
    let mut cb = Client::connect(b2.client_addr).await;
    assert_eq!(
        get(&mut cb, "/app/child").await.as_deref(),
        Some(&b"payload-1"[..])
    );
    assert_eq!(
        get(&mut cb, "/app/after").await.as_deref(),
        Some(&b"new"[..])
    );
    assert_eq!(get(&mut cb, "/gone").await, None);
}

#[tokio::test]
async fn auth_failures_answer_as_3_9() {
    let server =
        start_server("DigestAuthenticationProvider.superDigest=super:D/InIHSb7yEEbrWz8b9l71RjZJU=")
            .await;
    let admin = server.admin_addr.unwrap();

    let missing = request(admin, "GET", "/commands/snapshot", None, b"").await;
    assert_eq!(missing.status, 401);
    assert_eq!(
        missing.json(),
        serde_json::json!({"command": "snapshot", "error": "Auth info is missing for the command"})
    );
    for bad in [
        "digest",
        "sasl bob:pw",
        "x509",
        "nosuch a:b",
        "digest a b c",
    ] {
        let r = request(admin, "POST", "/commands/restore", Some(bad), b"x").await;
        assert_eq!(r.status, 401, "{bad}");
        assert_eq!(
            r.json(),
            serde_json::json!({"command": "restore", "error": "Not authenticated"}),
            "{bad}"
        );
    }

    // `/` readable by anyone only: a digest user is not authorized, super is
    let mut c = Client::connect(server.client_addr).await;
    let set = ferrokeeper::jute::proto::SetAclRequest {
        path: "/".into(),
        acl: Some(vec![Acl {
            perms: ferrokeeper::jute::codes::perms::READ,
            id: ferrokeeper::jute::data::Id::new("world", "anyone"),
        }]),
        version: -1,
    };
    assert_eq!(c.call(OpCode::SET_ACL, &set).await.err(), ErrorCode::OK);
    let denied = request(admin, "GET", "/commands/snapshot", AUTH, b"").await;
    assert_eq!(denied.status, 403);
    assert_eq!(
        denied.json(),
        serde_json::json!({"command": "snapshot", "error": "Not authorized"})
    );
    let ip = request(admin, "GET", "/commands/snapshot", Some("ip"), b"").await;
    assert_eq!(ip.status, 403);
    let sup = request(
        admin,
        "GET",
        "/commands/snapshot?streaming=false",
        Some("digest super:test"),
        b"",
    )
    .await;
    assert_eq!(sup.status, 200, "{}", String::from_utf8_lossy(&sup.body));
    // then the limiter (300 ms for snapshot in 3.9.5)
    let limited = request(
        admin,
        "GET",
        "/commands/snapshot?streaming=false",
        Some("digest super:test"),
        b"",
    )
    .await;
    assert_eq!(limited.status, 429);
    assert_eq!(
        limited.json(),
        serde_json::json!({"command": "snapshot", "error": null})
    );
}

#[tokio::test]
async fn disabled_commands_and_wrong_methods() {
    let server = start_server("admin.snapshot.enabled=false\nadmin.restore.enabled=false\n").await;
    let admin = server.admin_addr.unwrap();
    let snap = request(admin, "GET", "/commands/snapshot", Some("ip"), b"").await;
    assert_eq!(snap.status, 503);
    assert_eq!(
        snap.json(),
        serde_json::json!({"command": "snapshot", "error": null})
    );
    let rest = request(admin, "POST", "/commands/restore", Some("ip"), b"x").await;
    assert_eq!(rest.status, 503);
    // a GET of restore: 3.9's servlet fails on the null response; a POST of a 3.8
    // command stays 3.8's 405
    assert_eq!(
        request(admin, "GET", "/commands/restore", AUTH, b"")
            .await
            .status,
        500
    );
    assert_eq!(
        request(admin, "POST", "/commands/ruok", None, b"")
            .await
            .status,
        405
    );

    let off = start_server("serializeLastProcessedZxid.enabled=false\n").await;
    let r = request(
        off.admin_addr.unwrap(),
        "GET",
        "/commands/snapshot",
        AUTH,
        b"",
    )
    .await;
    assert_eq!(r.status, 500);
    assert_eq!(
        r.json(),
        serde_json::json!({"command": "snapshot", "error": null})
    );
}
