//! The AdminServer and Prometheus `/metrics` against a live in-process server, over a tiny
//! HTTP/1.1 client (one request per connection, `Connection: close`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;

use bytes::Bytes;
use common::{start_server, Client, WAIT};
use ferrokeeper::jute::codes::{ErrorCode, OpCode};
use ferrokeeper::jute::data::Acl;
use ferrokeeper::jute::proto::{CreateRequest, GetDataRequest};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct HttpReply {
    status: u16,
    headers: String,
    body: String,
}

async fn request(addr: SocketAddr, method: &str, target: &str) -> HttpReply {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let req = format!("{method} {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(WAIT, s.read_to_end(&mut raw))
        .await
        .expect("reply in time")
        .unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").expect("header end");
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    HttpReply {
        status,
        headers: head.to_ascii_lowercase(),
        body: body.to_owned(),
    }
}

async fn command(addr: SocketAddr, name: &str) -> Value {
    let r = request(addr, "GET", &format!("/commands/{name}")).await;
    assert_eq!(r.status, 200, "{name}");
    assert!(
        r.headers.contains("content-type: application/json"),
        "{name}"
    );
    serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("{name}: {e}: {}", r.body))
}

const PERSISTENT: i32 = 0;
const EPHEMERAL: i32 = 1;

async fn create(c: &mut Client, path: &str, flags: i32) {
    let req = CreateRequest {
        path: path.into(),
        data: Some(Bytes::from_static(b"x")),
        acl: Some(Acl::open_unsafe()),
        flags,
    };
    assert_eq!(c.call(OpCode::CREATE, &req).await.err(), ErrorCode::OK);
}

#[tokio::test]
async fn commands_report_live_state() {
    let server = start_server("").await;
    let admin = server.admin_addr.expect("admin server on");
    let mut c = Client::connect(server.client_addr).await;
    create(&mut c, "/p", PERSISTENT).await;
    create(&mut c, "/p/e", EPHEMERAL).await;
    let get = GetDataRequest {
        path: "/p".into(),
        watch: true,
    };
    assert_eq!(c.call(OpCode::GET_DATA, &get).await.err(), ErrorCode::OK);
    let sid = c.session_id;

    let ruok = command(admin, "ruok").await;
    assert_eq!(ruok["command"], "ruok");
    assert!(ruok["error"].is_null());

    let dump = command(admin, "dump").await;
    assert_eq!(dump["command"], "dump");
    assert_eq!(
        dump["session_id_to_ephemeral_paths"][sid.to_string()],
        serde_json::json!(["/p/e"])
    );
    let expiring: Vec<i64> = dump["expiry_time_to_session_ids"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|ids| ids.as_array().unwrap().iter().map(|i| i.as_i64().unwrap()))
        .collect();
    assert_eq!(expiring, [sid]);

    let wchp = command(admin, "watches_by_path").await;
    assert_eq!(wchp["path_to_session_ids"]["/p"], serde_json::json!([sid]));

    let cons = command(admin, "cons").await;
    assert_eq!(cons["command"], "connections");
    let conns = cons["connections"].as_array().unwrap();
    assert_eq!(conns.len(), 1);
    assert_eq!(conns[0]["session_id"], sid);
    assert_eq!(conns[0]["last_operation"], "GETD");

    let stat = command(admin, "stats").await;
    assert_eq!(stat["server_stats"]["server_state"], "standalone");
    assert!(stat["node_count"].as_i64().unwrap() >= 4);
    assert!(stat["connections"][0].get("session_id").is_none(), "brief");

    let mntr = command(admin, "mntr").await;
    assert_eq!(mntr["command"], "monitor");
    assert_eq!(mntr["ephemerals_count"], 1);
    assert_eq!(mntr["znode_count"], stat["node_count"]);

    let conf = command(admin, "configuration").await;
    assert_eq!(conf["tick_time"], 200);

    let unknown = command(admin, "nosuch").await;
    assert_eq!(unknown["error"], "Unknown command: nosuch");

    let stmk = command(admin, "set_trace_mask?traceMask=42").await;
    assert_eq!(stmk["tracemask"], 42);
    assert_eq!(command(admin, "gtmk").await["tracemask"], 42);
    server.shutdown().await;
}

#[tokio::test]
async fn crst_and_srst_reset_counters() {
    let server = start_server("").await;
    let admin = server.admin_addr.unwrap();
    let mut c = Client::connect(server.client_addr).await;
    create(&mut c, "/a", PERSISTENT).await;
    let before = command(admin, "cons").await;
    assert!(
        before["connections"][0]["packets_received"]
            .as_i64()
            .unwrap()
            > 0
    );
    let crst = command(admin, "crst").await;
    assert_eq!(crst["command"], "connection_stat_reset");
    let after = command(admin, "cons").await;
    assert_eq!(after["connections"][0]["packets_received"], 0);

    assert_eq!(command(admin, "srst").await["command"], "stat_reset");
    let srvr = command(admin, "srvr").await;
    assert_eq!(srvr["server_stats"]["packets_sent"], 0);
    server.shutdown().await;
}

#[tokio::test]
async fn listing_errors_and_methods() {
    let server = start_server("").await;
    let admin = server.admin_addr.unwrap();
    for target in ["/commands", "/commands/"] {
        let r = request(admin, "GET", target).await;
        assert_eq!(r.status, 200);
        assert!(r
            .body
            .starts_with("<a href=\"/commands/configuration\">configuration</a>\n<br/>\n"));
        assert_eq!(r.body.matches("<br/>").count(), 26);
    }
    assert_eq!(request(admin, "GET", "/").await.status, 404);
    assert_eq!(request(admin, "GET", "/other").await.status, 404);
    assert_eq!(request(admin, "POST", "/commands/ruok").await.status, 405);
    let head = request(admin, "HEAD", "/commands/ruok").await;
    assert_eq!((head.status, head.body.as_str()), (200, ""));
    server.shutdown().await;
}

#[tokio::test]
async fn custom_command_url() {
    let server = start_server("admin.commandURL=/zk").await;
    let admin = server.admin_addr.unwrap();
    let r = request(admin, "GET", "/zk/ruok").await;
    assert_eq!(r.status, 200);
    assert_eq!(request(admin, "GET", "/commands/ruok").await.status, 404);
    server.shutdown().await;
}

#[tokio::test]
async fn admin_disabled_means_no_listener() {
    let server = start_server("admin.enableServer=false").await;
    assert!(server.admin_addr.is_none());
    assert!(server.metrics_addr.is_none());
    server.shutdown().await;
}

#[tokio::test]
async fn prometheus_metrics() {
    let server = start_server(
        "metricsProvider.className=org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider\nmetricsProvider.httpHost=127.0.0.1\nmetricsProvider.httpPort=0",
    )
    .await;
    let metrics = server.metrics_addr.expect("metrics endpoint on");
    let mut c = Client::connect(server.client_addr).await;
    create(&mut c, "/m", EPHEMERAL).await;
    let r = request(metrics, "GET", "/metrics").await;
    assert_eq!(r.status, 200);
    assert!(r
        .headers
        .contains("content-type: text/plain; version=0.0.4; charset=utf-8"));
    let line = |name: &str| -> f64 {
        r.body
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name} missing"))
            .parse()
            .unwrap()
    };
    assert!(r.body.contains("# TYPE znode_count gauge\n"));
    assert!(line("znode_count") >= 3.0);
    assert_eq!(line("ephemerals_count"), 1.0);
    assert_eq!(line("num_alive_connections"), 1.0);
    assert!(r.body.contains("# TYPE proposal_count counter\n"));
    assert!(r.body.contains("# TYPE readlatency summary\n"));
    assert!(r.body.contains("readlatency_count "));
    assert_eq!(request(metrics, "GET", "/other").await.status, 404);
    server.shutdown().await;
}
