//! `zkbench wait-write`: the ensemble suite's failover probe. After the leader is killed, retry
//! connect + setData through a surviving server until one write is acknowledged; report the
//! time since `--t0-ns` (taken just before the kill). A session is itself a quorum transaction,
//! so each attempt opens a fresh one: the first success is the first write a client could have
//! had acknowledged.

use std::time::Duration;

use bytes::Bytes;
use ferrokeeper::jute::codes::{ErrorCode, OpCode};
use ferrokeeper::jute::proto::SetDataRequest;

use crate::ops;
use crate::proto::{self, put_request, BenchError, Endpoint};
use crate::tools::Probe;

/// Retry every 10 ms until a setData of `path` is acknowledged or `timeout` has passed.
pub(crate) async fn wait_write(
    ep: &Endpoint,
    path: String,
    timeout: Duration,
    t0_ns: Option<u128>,
) -> proto::Result<bool> {
    let probe = Probe {
        mode: "wait-write",
        field: "first_write_ms",
        done: "first write acknowledged",
        missing: "no write acknowledged",
    };
    Ok(probe.poll(timeout, t0_ns, || try_write(ep, &path)).await)
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
