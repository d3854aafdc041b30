//! `zkbench wait-write`: the ensemble suite's failover probe. After the leader is killed, retry
//! connect + setData through a surviving server until one write is acknowledged; report the
//! time since `--t0-ns` (taken just before the kill). A session is itself a quorum transaction,
//! so each attempt opens a fresh one: the first success is the first write a client could have
//! had acknowledged.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use ferrokeeper::jute::codes::{ErrorCode, OpCode};
use ferrokeeper::jute::proto::SetDataRequest;

use crate::ops;
use crate::proto::{self, put_request, BenchError, Endpoint};
use crate::report::{self, Json};

fn epoch_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

/// Retry every 10 ms until a setData of `path` is acknowledged or `timeout` has passed.
pub(crate) async fn wait_write(
    ep: &Endpoint,
    path: String,
    timeout: Duration,
    t0_ns: Option<u128>,
) -> proto::Result<bool> {
    let t0 = t0_ns.unwrap_or_else(epoch_ns);
    let deadline = Instant::now() + timeout;
    let (mut attempts, mut last_error) = (0u64, String::new());
    while Instant::now() < deadline {
        attempts += 1;
        match try_write(ep, &path).await {
            Ok(()) => {
                let ms = epoch_ns().saturating_sub(t0) as f64 / 1e6;
                let mut j = Json::default();
                j.str("mode", "wait-write")
                    .float("first_write_ms", ms)
                    .num("attempts", attempts)
                    .num("errors", 0);
                report::emit(&j, &format!("first write acknowledged after {ms:.0} ms"));
                return Ok(true);
            }
            Err(e) => last_error = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut j = Json::default();
    j.str("mode", "wait-write")
        .num("attempts", attempts)
        .num("errors", 1)
        .str("first_error", &last_error);
    report::emit(
        &j,
        &format!("no write acknowledged within {timeout:?}: {last_error}"),
    );
    Ok(false)
}

async fn try_write(ep: &Endpoint, path: &str) -> proto::Result<()> {
    // A short session timeout: the failed attempts' sessions should not linger in the new
    // leader's session table longer than needed.
    let mut sess = proto::connect(ep, 4_000, Duration::from_secs(2)).await?;
    let value = Bytes::from_static(b"failover");
    let codes = ops::pipeline(&mut sess, 1, 1, Duration::from_secs(5), |_, xid, out| {
        let req = SetDataRequest {
            path: path.to_string(),
            data: Some(value.clone()),
            version: -1,
        };
        put_request(out, xid, OpCode::SET_DATA, &req);
    })
    .await?;
    match codes.first() {
        Some(&ErrorCode::OK) => Ok(()),
        other => Err(BenchError::Protocol(format!("setData: {other:?}"))),
    }
}
