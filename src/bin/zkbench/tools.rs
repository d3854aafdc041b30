//! The one-shot helpers of the suite: `populate` (load many znodes with multi batches and
//! measure the server's resident set), `wait-read` (time until a server serves a read) and
//! `snapwatch` (watch a dataDir for the next snapshot: how long writing it took, its size).

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use ferrokeeper::jute::codes::{ErrorCode, OpCode};
use ferrokeeper::jute::proto::{GetDataRequest, MultiOp, MultiRequest};

use crate::ops;
use crate::proto::{self, put_request, rss_kib, BenchError, Endpoint};
use crate::report::{self, Json};

/// Children per parent znode: keeps every children list small, as real trees do.
const FANOUT: u64 = 1000;

pub(crate) struct PopulateCfg {
    pub(crate) ep: Endpoint,
    pub(crate) count: u64,
    pub(crate) value_size: usize,
    pub(crate) batch: u64,
    pub(crate) prefix: String,
    pub(crate) rss_pid: Option<u32>,
    pub(crate) timeout_ms: i32,
    /// Plain creates (one txn each, 256 in flight) instead of multi batches.
    pub(crate) plain: bool,
}

/// The `i`-th znode `populate` creates (the script reads the last one back after a restart).
pub(crate) fn pop_path(prefix: &str, i: u64) -> String {
    format!("{prefix}/p{:04}/n{i:07}", i / FANOUT)
}

/// `zkbench populate`: `count` znodes under `prefix/pNNNN/` in multi batches of `batch`.
pub(crate) async fn populate(cfg: PopulateCfg) -> proto::Result<bool> {
    let rss_before = cfg.rss_pid.and_then(rss_kib);
    let t = Instant::now();
    let mut sess = proto::connect(&cfg.ep, cfg.timeout_ms, Duration::from_secs(10)).await?;
    let acl = ops::open_acl();
    let value = Bytes::from(vec![b'p'; cfg.value_size]);
    let parents = cfg.count.div_ceil(FANOUT);
    let limit = Duration::from_secs(3600);
    let codes = ops::pipeline(&mut sess, parents + 1, 256, limit, |i, xid, out| {
        let path = match i {
            0 => cfg.prefix.clone(),
            i => format!("{}/p{:04}", cfg.prefix, i - 1),
        };
        let req = ops::create_req(path, Bytes::new(), &acl);
        put_request(out, xid, OpCode::CREATE, &req);
    })
    .await?;
    let mut errors = codes
        .iter()
        .filter(|c| **c != ErrorCode::OK && **c != ErrorCode::NODE_EXISTS)
        .count();
    let batch = cfg.batch.max(1);
    let codes = if cfg.plain {
        // One create per txn: what a restart then replays from the log, txn by txn.
        ops::pipeline(&mut sess, cfg.count, 256, limit, |i, xid, out| {
            let req = ops::create_req(pop_path(&cfg.prefix, i), value.clone(), &acl);
            put_request(out, xid, OpCode::CREATE, &req);
        })
        .await?
    } else {
        let batches = cfg.count.div_ceil(batch);
        ops::pipeline(&mut sess, batches, 4, limit, |b, xid, out| {
            let ops = (b * batch..((b + 1) * batch).min(cfg.count))
                .map(|i| {
                    let req = ops::create_req(pop_path(&cfg.prefix, i), value.clone(), &acl);
                    MultiOp::Create(OpCode::CREATE, req)
                })
                .collect();
            put_request(out, xid, OpCode::MULTI, &MultiRequest { ops });
        })
        .await?
    };
    errors += codes.iter().filter(|c| **c != ErrorCode::OK).count();
    let secs = t.elapsed().as_secs_f64();
    let rss_after = cfg.rss_pid.and_then(rss_kib);
    let per_znode = match (rss_before, rss_after) {
        (Some(a), Some(b)) if cfg.count > 0 => Some(b.saturating_sub(a) * 1024 / cfg.count),
        _ => None,
    };
    let mut j = Json::default();
    j.str("mode", "populate")
        .num("count", cfg.count)
        .str(
            "last_path",
            &pop_path(&cfg.prefix, cfg.count.saturating_sub(1)),
        )
        .num("plain", u8::from(cfg.plain))
        .num("value_size", cfg.value_size)
        .num("batch", batch)
        .float("secs", secs)
        .float("znodes_per_sec", cfg.count as f64 / secs)
        .opt("rss_before_kib", rss_before)
        .opt("rss_after_kib", rss_after)
        .opt("bytes_per_znode", per_znode)
        .num("errors", errors);
    let human = format!(
        "populate: {} znodes of {} B in {secs:.1}s, server RSS {} -> {} KiB ({} B/znode), errors {errors}",
        cfg.count,
        cfg.value_size,
        rss_before.unwrap_or(0),
        rss_after.unwrap_or(0),
        per_znode.unwrap_or(0)
    );
    report::emit(&j, &human);
    Ok(errors == 0)
}

fn epoch_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

/// `zkbench wait-read`: retry connect + getData(path) every 10 ms until one succeeds.
/// With `t0_ns` (epoch ns, e.g. `date +%s%N` taken just before starting the server) the
/// elapsed time is measured from then.
pub(crate) async fn wait_read(
    ep: &Endpoint,
    path: String,
    timeout: Duration,
    t0_ns: Option<u128>,
) -> proto::Result<bool> {
    let probe = Probe {
        mode: "wait-read",
        field: "first_read_ms",
        done: "first read served",
        missing: "no read served",
    };
    Ok(probe.poll(timeout, t0_ns, || try_read(ep, &path)).await)
}

/// A retry-until-success measurement (`wait-read`, `wait-write`): its report names.
pub(crate) struct Probe {
    pub(crate) mode: &'static str,
    /// The JSON field of the elapsed ms.
    pub(crate) field: &'static str,
    pub(crate) done: &'static str,
    pub(crate) missing: &'static str,
}

impl Probe {
    /// Run `attempt` every 10 ms until it succeeds or `timeout` passes; report the ms since
    /// `t0_ns` (epoch ns; default now) and whether it succeeded.
    pub(crate) async fn poll<F, Fut>(
        &self,
        timeout: Duration,
        t0_ns: Option<u128>,
        mut attempt: F,
    ) -> bool
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = proto::Result<()>>,
    {
        let t0 = t0_ns.unwrap_or_else(epoch_ns);
        let deadline = Instant::now() + timeout;
        let (mut attempts, mut last_error) = (0u64, String::new());
        while Instant::now() < deadline {
            attempts += 1;
            match attempt().await {
                Ok(()) => {
                    let ms = epoch_ns().saturating_sub(t0) as f64 / 1e6;
                    let mut j = Json::default();
                    j.str("mode", self.mode)
                        .float(self.field, ms)
                        .num("attempts", attempts)
                        .num("errors", 0);
                    report::emit(&j, &format!("{} after {ms:.0} ms", self.done));
                    return true;
                }
                Err(e) => last_error = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let mut j = Json::default();
        j.str("mode", self.mode)
            .num("attempts", attempts)
            .num("errors", 1)
            .str("first_error", &last_error);
        report::emit(
            &j,
            &format!("{} within {timeout:?}: {last_error}", self.missing),
        );
        false
    }
}

async fn try_read(ep: &Endpoint, path: &str) -> proto::Result<()> {
    let mut sess = proto::connect(ep, 30_000, Duration::from_secs(2)).await?;
    let codes = ops::pipeline(&mut sess, 1, 1, Duration::from_secs(5), |_, xid, out| {
        let req = GetDataRequest {
            path: path.to_string(),
            watch: false,
        };
        put_request(out, xid, OpCode::GET_DATA, &req);
    })
    .await?;
    match codes.first() {
        Some(&ErrorCode::OK) => Ok(()),
        other => Err(BenchError::Protocol(format!("getData: {other:?}"))),
    }
}

fn snapshot_names(dir: &PathBuf) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| n.contains("snapshot."))
                .collect()
        })
        .unwrap_or_default()
}

/// `zkbench snapwatch`: poll `dir` every 2 ms for a new snapshot. The write started at the first
/// sight of a new snapshot file — ferrokeeper's temporary `.snapshot.<zxid>.tmp`, or ZooKeeper's
/// final `snapshot.<zxid>`, which its start-up `takeSnapshot()` writes in place (syncSnap is
/// false there, so no `AtomicFileOutputStream`) — and ended at the final file's mtime, read once
/// its size has stayed the same for 300 ms. fsync time is not included for either.
pub(crate) async fn snapwatch(dir: PathBuf, timeout: Duration) -> proto::Result<bool> {
    let before: HashSet<String> = snapshot_names(&dir).into_iter().collect();
    let deadline = Instant::now() + timeout;
    let mut first_seen: Option<SystemTime> = None;
    let mut last: Option<(String, u64, Instant)> = None;
    while Instant::now() < deadline {
        let fresh: Vec<String> = snapshot_names(&dir)
            .into_iter()
            .filter(|n| !before.contains(n))
            .collect();
        if !fresh.is_empty() {
            first_seen.get_or_insert_with(SystemTime::now);
        }
        let writing_tmp = fresh.iter().any(|n| n.ends_with(".tmp"));
        if let Some(name) = fresh.iter().find(|n| !n.ends_with(".tmp")) {
            let meta = std::fs::metadata(dir.join(name)).ok();
            let size = meta.as_ref().map_or(0, |m| m.len());
            match &last {
                Some((n, sz, since)) if n == name && *sz == size => {
                    if size > 0 && !writing_tmp && since.elapsed() >= Duration::from_millis(300) {
                        let mtime = meta.and_then(|m| m.modified().ok());
                        return Ok(snap_report(name, size, first_seen, mtime));
                    }
                }
                _ => last = Some((name.clone(), size, Instant::now())),
            }
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let mut j = Json::default();
    j.str("mode", "snapwatch").num("errors", 1);
    report::emit(&j, "no new snapshot appeared");
    Ok(false)
}

fn snap_report(
    name: &str,
    size: u64,
    first_seen: Option<SystemTime>,
    mtime: Option<SystemTime>,
) -> bool {
    let ms = match (first_seen, mtime) {
        (Some(a), Some(b)) => b.duration_since(a).map_or(0.0, |d| d.as_secs_f64() * 1e3),
        _ => f64::NAN,
    };
    let mut j = Json::default();
    j.str("mode", "snapwatch")
        .str("file", name)
        .num("size_bytes", size)
        .float("write_ms", ms)
        .num("errors", 0);
    report::emit(
        &j,
        &format!("snapshot {name}: {size} bytes, written in {ms:.0} ms"),
    );
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pop_paths_spread_over_parents_of_1000() {
        assert_eq!(pop_path("/pop", 0), "/pop/p0000/n0000000");
        assert_eq!(pop_path("/pop", 4_999_999), "/pop/p4999/n4999999");
    }
}
