//! The scale rows of `scripts/bench-scale`: `zkbench watchers` (many watches: the server's
//! resident set per watch, and the fan-out of one setData to every session watching it),
//! `zkbench children` (getChildren of a parent with very many children) and
//! `zkbench bignodes` (znodes near jute.maxbuffer: which sizes each server takes, and the time
//! and memory of storing and reading many of them).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use ferrokeeper::jute::codes::{ErrorCode, OpCode};
use ferrokeeper::jute::proto::{
    ExistsRequest, GetChildrenRequest, GetDataRequest, MultiOp, MultiRequest, SetDataRequest,
};
use ferrokeeper::jute::Jute;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, watch};

use crate::hold::{self, Event, ManyCfg};
use crate::ops;
use crate::proto::{self, next_frame, parse_reply, put_request, rss_kib, BenchError, Session};
use crate::report::{self, Json};

/// One request on an otherwise idle session; the reply's error code and body (notifications
/// and pings skipped). Bounded by `deadline`.
async fn call<R: Jute>(
    sess: &mut Session,
    xid: i32,
    op: OpCode,
    req: &R,
    deadline: Duration,
) -> proto::Result<(ErrorCode, BytesMut)> {
    let fut = async {
        let mut out = Vec::with_capacity(64);
        put_request(&mut out, xid, op, req);
        sess.stream.write_all(&out).await?;
        sess.stream.flush().await?;
        loop {
            while let Some(frame) = next_frame(&mut sess.inbuf)? {
                let reply = parse_reply(frame)?;
                if reply.xid == xid {
                    return Ok((reply.err, reply.body));
                }
            }
            if sess.stream.read_buf(&mut sess.inbuf).await? == 0 {
                return Err(BenchError::Protocol("connection closed by server".into()));
            }
        }
    };
    tokio::time::timeout(deadline, fut)
        .await
        .map_err(|_| BenchError::Timeout("reply"))?
}

/// Create `prefix` (if missing) and `count` children named by `name(i)` holding `value`, in
/// multi batches of 1000; returns the error replies other than NodeExists.
async fn create_children(
    sess: &mut Session,
    prefix: &str,
    count: u64,
    value: &Bytes,
    name: impl Fn(u64) -> String,
) -> proto::Result<usize> {
    let acl = ops::open_acl();
    let limit = Duration::from_secs(3600);
    let req = ops::create_req(prefix.to_string(), Bytes::new(), &acl);
    let (code, _) = call(sess, 1, OpCode::CREATE, &req, limit).await?;
    let mut errors = usize::from(code != ErrorCode::OK && code != ErrorCode::NODE_EXISTS);
    const BATCH: u64 = 1000;
    let codes = ops::pipeline(sess, count.div_ceil(BATCH), 4, limit, |b, xid, out| {
        let ops = (b * BATCH..((b + 1) * BATCH).min(count))
            .map(|i| {
                let req = ops::create_req(format!("{prefix}/{}", name(i)), value.clone(), &acl);
                MultiOp::Create(OpCode::CREATE, req)
            })
            .collect();
        put_request(out, xid, OpCode::MULTI, &MultiRequest { ops });
    })
    .await?;
    errors += codes.iter().filter(|c| **c != ErrorCode::OK).count();
    Ok(errors)
}

fn watched_path(prefix: &str, j: u64) -> String {
    format!("{prefix}/w{j:06}")
}

/// Session `i` watches path `j` with exists when `i + j` is even, with getData when odd: half
/// of the watches of each kind, and every path watched both ways.
fn watch_with_exists(i: usize, j: u64) -> bool {
    (i as u64 + j) % 2 == 0
}

pub(crate) struct WatchersCfg {
    pub(crate) many: ManyCfg,
    /// Watched znodes (every session watches all of them).
    pub(crate) paths: u64,
    /// Seconds between arming the watches and reading the server's RSS.
    pub(crate) settle: Duration,
}

/// `zkbench watchers`: `paths` znodes, `sessions` sessions each setting one watch on every
/// one of them (exists or getData, alternating); the server's RSS before and after arming,
/// per watch; then one setData on the first path and the time until every session has its
/// event.
pub(crate) async fn watchers(cfg: WatchersCfg) -> proto::Result<bool> {
    let m = &cfg.many;
    let prefix = m.path.clone();
    let mut control = proto::connect(&m.ep, m.timeout_ms, Duration::from_secs(10)).await?;
    let value = Bytes::from_static(b"w");
    let name = |j: u64| format!("w{j:06}");
    let mut errors = create_children(&mut control, &prefix, cfg.paths, &value, name).await?;
    let (sessions, connect_failed, first) =
        hold::connect_lossy(&m.ep, m.sessions, m.timeout_ms, m.concurrency, m.sources).await;
    let connected = sessions.len();
    errors += connect_failed;
    let mut first_error = first.map(|e| e.to_string());
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_before = m.rss_pid.and_then(rss_kib);

    let (tx, mut rx) = mpsc::unbounded_channel();
    let (stop_tx, stop_rx) = watch::channel(false);
    let ping_every = Duration::from_millis(u64::try_from(m.timeout_ms / 3).unwrap_or(1000));
    let (paths, wait) = (cfg.paths, m.wait);
    let prefix_arc: Arc<str> = Arc::from(prefix.as_str());
    let t_arm = Instant::now();
    let tasks: Vec<_> = sessions
        .into_iter()
        .enumerate()
        .map(|(i, mut sess)| {
            let (tx, stop_rx, prefix) = (tx.clone(), stop_rx.clone(), prefix_arc.clone());
            tokio::spawn(async move {
                let armed = ops::pipeline(&mut sess, paths, 256, wait, |j, xid, out| {
                    let path = watched_path(&prefix, j);
                    if watch_with_exists(i, j) {
                        let req = ExistsRequest { path, watch: true };
                        put_request(out, xid, OpCode::EXISTS, &req);
                    } else {
                        let req = GetDataRequest { path, watch: true };
                        put_request(out, xid, OpCode::GET_DATA, &req);
                    }
                })
                .await;
                match armed {
                    Ok(codes) if codes.iter().all(|c| *c == ErrorCode::OK) => {
                        let _ = tx.send((i, Event::Armed));
                    }
                    Ok(codes) => {
                        let bad = codes.iter().find(|c| **c != ErrorCode::OK);
                        let _ = tx.send((i, Event::Lost(format!("watch refused: {bad:?}"))));
                        return hold::HoldStats::default();
                    }
                    Err(e) => {
                        let _ = tx.send((i, Event::Lost(format!("arming: {e}"))));
                        return hold::HoldStats::default();
                    }
                }
                hold::hold(sess, i, ping_every, None, tx, stop_rx).await
            })
        })
        .collect();
    drop(tx);
    let (mut armed, _) = hold::wait_armed(&mut rx, connected, m.wait, &mut first_error).await;
    let arm_secs = t_arm.elapsed().as_secs_f64();
    errors += connected - armed;
    tokio::time::sleep(cfg.settle).await;
    let rss_watched = m.rss_pid.and_then(rss_kib);
    let watches = armed as u64 * cfg.paths;
    let per_watch = match (rss_before, rss_watched) {
        (Some(a), Some(b)) if watches > 0 => {
            Some(b.saturating_sub(a) as f64 * 1024.0 / watches as f64)
        }
        _ => None,
    };

    // The one setData whose fan-out to every session is timed.
    let target = watched_path(&prefix, 0);
    let t0 = Instant::now();
    let req = SetDataRequest {
        path: target.clone(),
        data: Some(Bytes::from_static(b"x")),
        version: -1,
    };
    let (code, _) = call(
        &mut control,
        2,
        OpCode::SET_DATA,
        &req,
        Duration::from_secs(60),
    )
    .await?;
    errors += usize::from(code != ErrorCode::OK);
    let hist = hold::collect_notifications(&mut rx, &mut armed, t0, m.wait, &mut first_error).await;
    let _ = stop_tx.send(true);
    let _ = hold::join_all(tasks).await;
    let notified = hist.len() as usize;
    let missing = armed.saturating_sub(notified);
    errors += missing;
    let mut j = Json::default();
    j.str("mode", "watchers")
        .num("sessions", m.sessions)
        .num("connected", connected)
        .num("paths", cfg.paths)
        .num("watches", watches)
        .float("arm_secs", arm_secs)
        .opt("rss_before_kib", rss_before)
        .opt("rss_watched_kib", rss_watched)
        .float("bytes_per_watch", per_watch.unwrap_or(f64::NAN))
        .num("notified", notified)
        .num("missing", missing)
        .num("all_notified_us", hist.max())
        .latency("notify_us", &hist)
        .num("errors", errors)
        .str("first_error", first_error.as_deref().unwrap_or(""));
    let human = format!(
        "watchers: {watches} watches ({armed} sessions x {} paths) armed in {arm_secs:.1}s, server RSS {} -> {} KiB ({:.0} B/watch); setData fan-out to {notified} sessions: last after {}; errors {errors}",
        cfg.paths,
        rss_before.unwrap_or(0),
        rss_watched.unwrap_or(0),
        per_watch.unwrap_or(f64::NAN),
        report::fmt_us(hist.max()),
    );
    report::emit(&j, &human);
    Ok(errors == 0)
}

pub(crate) struct ChildrenCfg {
    pub(crate) ep: proto::Endpoint,
    pub(crate) timeout_ms: i32,
    pub(crate) path: String,
    pub(crate) count: u64,
    /// getChildren calls made (each timed).
    pub(crate) lists: u32,
    pub(crate) rss_pid: Option<u32>,
}

/// `zkbench children`: `count` children under one parent, then getChildren of it `lists`
/// times: the time, the reply size, the server's RSS, and any error (a server may refuse or
/// drop a reply this large; it must not crash).
pub(crate) async fn children(cfg: ChildrenCfg) -> proto::Result<bool> {
    let mut sess = proto::connect(&cfg.ep, cfg.timeout_ms, Duration::from_secs(10)).await?;
    let rss_before = cfg.rss_pid.and_then(rss_kib);
    let t = Instant::now();
    let value = Bytes::from_static(b"c");
    let create_errors = create_children(&mut sess, &cfg.path, cfg.count, &value, |i| {
        format!("c{i:07}")
    })
    .await?;
    let create_secs = t.elapsed().as_secs_f64();
    let rss_created = cfg.rss_pid.and_then(rss_kib);
    let (mut list_ms, mut reply_bytes, mut returned) = (Vec::new(), 0usize, 0u64);
    let mut first_error = String::new();
    let mut rss_max = rss_created.unwrap_or(0);
    for k in 0..cfg.lists {
        let req = GetChildrenRequest {
            path: cfg.path.clone(),
            watch: false,
        };
        let t = Instant::now();
        let xid = i32::try_from(k).unwrap_or(0) + 10;
        match call(
            &mut sess,
            xid,
            OpCode::GET_CHILDREN,
            &req,
            Duration::from_secs(300),
        )
        .await
        {
            Ok((ErrorCode::OK, body)) => {
                list_ms.push(t.elapsed().as_secs_f64() * 1e3);
                reply_bytes = body.len();
                // The reply starts with the vector's length (i32).
                returned = body.get(..4).map_or(0, |b| {
                    u64::try_from(i32::from_be_bytes([b[0], b[1], b[2], b[3]])).unwrap_or(0)
                });
            }
            Ok((code, _)) => {
                first_error = format!("getChildren: error {}", code.0);
                break;
            }
            Err(e) => {
                first_error = format!("getChildren: {e}");
                break;
            }
        }
        rss_max = rss_max.max(cfg.rss_pid.and_then(rss_kib).unwrap_or(0));
    }
    let rss_after = cfg.rss_pid.and_then(rss_kib);
    let errors = create_errors + usize::from(!first_error.is_empty());
    let best = list_ms.iter().copied().fold(f64::NAN, f64::min);
    let mut j = Json::default();
    j.str("mode", "children")
        .num("count", cfg.count)
        .num("create_errors", create_errors)
        .float("create_secs", create_secs)
        .num("lists_ok", list_ms.len())
        .float(
            "list_ms_first",
            list_ms.first().copied().unwrap_or(f64::NAN),
        )
        .float("list_ms_best", best)
        .num("reply_bytes", reply_bytes)
        .num("children_returned", returned)
        .opt("rss_before_kib", rss_before)
        .opt("rss_created_kib", rss_created)
        .opt("rss_after_kib", rss_after)
        .num("rss_max_kib", rss_max)
        .num("errors", errors)
        .str("first_error", &first_error);
    let human = format!(
        "children: {} children created in {create_secs:.1}s; getChildren {}/{} ok, best {best:.0} ms, {returned} names in {reply_bytes} B; server RSS {} -> {} -> {} KiB{}",
        cfg.count,
        list_ms.len(),
        cfg.lists,
        rss_before.unwrap_or(0),
        rss_created.unwrap_or(0),
        rss_after.unwrap_or(0),
        if first_error.is_empty() { String::new() } else { format!("; {first_error}") }
    );
    report::emit(&j, &human);
    Ok(errors == 0)
}

/// Data sizes probed around the default jute.maxbuffer (0xfffff = 1 MiB - 1): a request frame
/// holds about 60 bytes besides the data, so the first two fit, the last two do not.
pub(crate) const PROBE_SIZES: [usize; 4] = [1_047_552, 1_048_476, 1_048_576, 2_097_152];

/// What the server did with one create.
fn outcome(r: &proto::Result<(ErrorCode, BytesMut)>) -> String {
    match r {
        Ok((ErrorCode::OK, _)) => "ok".into(),
        Ok((code, _)) => format!("error {}", code.0),
        Err(e) => e.to_string(),
    }
}

pub(crate) struct BigCfg {
    pub(crate) ep: proto::Endpoint,
    pub(crate) timeout_ms: i32,
    pub(crate) prefix: String,
    /// znodes of the bulk phase (each `size` bytes).
    pub(crate) count: u64,
    pub(crate) size: usize,
    pub(crate) rss_pid: Option<u32>,
}

/// `zkbench bignodes`: one create of each of [`PROBE_SIZES`] on a fresh session (ok, an
/// error code, or the connection closed), then `count` znodes of `size` bytes created and
/// read back (4 in flight), timed, with the server's RSS.
pub(crate) async fn bignodes(cfg: BigCfg) -> proto::Result<bool> {
    let acl = ops::open_acl();
    let connect = || proto::connect(&cfg.ep, cfg.timeout_ms, Duration::from_secs(10));
    let mut sess = connect().await?;
    let req = ops::create_req(cfg.prefix.clone(), Bytes::new(), &acl);
    let (code, _) = call(&mut sess, 1, OpCode::CREATE, &req, Duration::from_secs(30)).await?;
    let mut errors = usize::from(code != ErrorCode::OK && code != ErrorCode::NODE_EXISTS);
    let rss_before = cfg.rss_pid.and_then(rss_kib);
    let mut j = Json::default();
    j.str("mode", "bignodes");
    let mut human = String::from("bignodes: create of");
    for size in PROBE_SIZES {
        let mut s = connect().await?;
        let data = Bytes::from(vec![b'b'; size]);
        let req = ops::create_req(format!("{}/probe{size}", cfg.prefix), data, &acl);
        let t = Instant::now();
        let r = call(&mut s, 1, OpCode::CREATE, &req, Duration::from_secs(60)).await;
        let ms = t.elapsed().as_secs_f64() * 1e3;
        let what = outcome(&r);
        j.str(&format!("probe_{size}"), &what)
            .float(&format!("probe_{size}_ms"), ms);
        human.push_str(&format!(" {size} B: {what} ({ms:.0} ms);"));
    }
    let value = Bytes::from(vec![b'v'; cfg.size]);
    let path = |i: u64| format!("{}/big{i:05}", cfg.prefix);
    let limit = Duration::from_secs(1800);
    let t = Instant::now();
    let codes = ops::pipeline(&mut sess, cfg.count, 4, limit, |i, xid, out| {
        put_request(
            out,
            xid,
            OpCode::CREATE,
            &ops::create_req(path(i), value.clone(), &acl),
        );
    })
    .await?;
    let create_secs = t.elapsed().as_secs_f64();
    errors += codes.iter().filter(|c| **c != ErrorCode::OK).count();
    let rss_created = cfg.rss_pid.and_then(rss_kib);
    let t = Instant::now();
    let codes = ops::pipeline(&mut sess, cfg.count, 4, limit, |i, xid, out| {
        let req = GetDataRequest {
            path: path(i),
            watch: false,
        };
        put_request(out, xid, OpCode::GET_DATA, &req);
    })
    .await?;
    let read_secs = t.elapsed().as_secs_f64();
    errors += codes.iter().filter(|c| **c != ErrorCode::OK).count();
    let rss_read = cfg.rss_pid.and_then(rss_kib);
    let mib = (cfg.count as f64) * (cfg.size as f64) / f64::from(1 << 20);
    j.num("count", cfg.count)
        .num("size", cfg.size)
        .float("create_secs", create_secs)
        .float("create_mib_per_sec", mib / create_secs)
        .float("read_secs", read_secs)
        .float("read_mib_per_sec", mib / read_secs)
        .opt("rss_before_kib", rss_before)
        .opt("rss_created_kib", rss_created)
        .opt("rss_read_kib", rss_read)
        .num("errors", errors);
    human.push_str(&format!(
        " {} x {} B created in {create_secs:.1}s, read in {read_secs:.1}s; server RSS {} -> {} -> {} KiB; errors {errors}",
        cfg.count,
        cfg.size,
        rss_before.unwrap_or(0),
        rss_created.unwrap_or(0),
        rss_read.unwrap_or(0)
    ));
    report::emit(&j, &human);
    Ok(errors == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watches_alternate_kinds_per_session_and_path() {
        assert!(watch_with_exists(0, 0) && !watch_with_exists(0, 1));
        assert!(!watch_with_exists(1, 0) && watch_with_exists(1, 1));
        let exists = (0..100)
            .flat_map(|i| (0..100).map(move |j| (i, j)))
            .filter(|(i, j)| watch_with_exists(*i, *j))
            .count();
        assert_eq!(exists, 5000);
        assert_eq!(watched_path("/w", 42), "/w/w000042");
    }

    #[test]
    fn probe_sizes_straddle_the_default_maxbuffer() {
        // a create frame carries about 60 bytes besides the data
        let fits = |size: usize| size + 60 <= 0xfffff;
        assert!(fits(PROBE_SIZES[0]) && fits(PROBE_SIZES[1]));
        assert!(!fits(PROBE_SIZES[2]) && !fits(PROBE_SIZES[3]));
    }
}
