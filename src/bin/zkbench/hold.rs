//! Many long-lived sessions: `zkbench fanout` (all watch one znode, one setData, how long
//! until every session has the event) and `zkbench idle` (sessions that only ping, as
//! `ClientCnxn#SendThread` does every readTimeout/2 = timeout/3 when idle; the server's
//! resident set while it holds them).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ferrokeeper::jute::codes::{ErrorCode, OpCode};
use ferrokeeper::jute::proto::{GetDataRequest, SetDataRequest, WatcherEvent};
use ferrokeeper::jute::Jute;
use futures::StreamExt;
use hdrhistogram::Histogram;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, watch};

use crate::ops;
use crate::proto::{
    self, next_frame, parse_reply, put_bare, put_request, rss_anon_kib, rss_kib, BenchError,
    Endpoint, Rng, Session, Stream, NOTIFICATION_XID, PING_XID,
};
use crate::report::{self, Json};

/// `KeeperState.Expired`.
const STATE_EXPIRED: i32 = -112;

/// Open `n` sessions, `concurrency` handshakes at a time; fail on the first that fails.
pub(crate) async fn connect_many(
    ep: &Endpoint,
    n: usize,
    timeout_ms: i32,
    concurrency: usize,
) -> proto::Result<Vec<Session>> {
    let (ok, failed, first) = connect_lossy(ep, n, timeout_ms, concurrency, 1).await;
    match first {
        Some(e) if failed > 0 => Err(e),
        _ => Ok(ok),
    }
}

/// Open `n` sessions from `sources` loopback addresses in turn; returns those that opened,
/// the failure count and the first failure.
pub(crate) async fn connect_lossy(
    ep: &Endpoint,
    n: usize,
    timeout_ms: i32,
    concurrency: usize,
    sources: usize,
) -> (Vec<Session>, usize, Option<BenchError>) {
    let results: Vec<_> = futures::stream::iter(0..n)
        .map(|i| {
            let src = proto::loopback_source(i, sources);
            proto::connect_from(ep, src, timeout_ms, Duration::from_secs(30))
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    let (mut ok, mut failed, mut first) = (Vec::with_capacity(n), 0, None);
    for r in results {
        match r {
            Ok(s) => ok.push(s),
            Err(e) => {
                failed += 1;
                first = first.or(Some(e));
            }
        }
    }
    (ok, failed, first)
}

pub(crate) enum Event {
    Armed,
    Notified(Instant),
    Lost(String),
}

#[derive(Default)]
pub(crate) struct HoldStats {
    pings_sent: u64,
    pings_answered: u64,
    ping_us: Vec<u64>,
}

/// Keep one session alive until `stop`: ping every `ping_every`, optionally set a data watch
/// on `arm` first, and report what happens on `tx`.
pub(crate) async fn hold(
    sess: Session,
    idx: usize,
    ping_every: Duration,
    arm: Option<Arc<str>>,
    tx: mpsc::UnboundedSender<(usize, Event)>,
    mut stop: watch::Receiver<bool>,
) -> HoldStats {
    let mut st = HoldStats::default();
    let Session {
        mut stream,
        mut inbuf,
        ..
    } = sess;
    let mut out = Vec::with_capacity(64);
    if let Some(path) = &arm {
        let req = GetDataRequest {
            path: path.to_string(),
            watch: true,
        };
        put_request(&mut out, 1, OpCode::GET_DATA, &req);
        if let Err(e) = write_flush(&mut stream, &out).await {
            let _ = tx.send((idx, Event::Lost(format!("arm: {e}"))));
            return st;
        }
    }
    let mut rng = Rng::new(idx as u64 + 7);
    let phase = ping_every.mul_f64(rng.below(1000) as f64 / 1000.0);
    let mut next_ping = Instant::now() + phase;
    let mut ping_sent_at = std::collections::VecDeque::new();
    loop {
        tokio::select! {
            r = stream.read_buf(&mut inbuf) => {
                let lost = match r {
                    Ok(0) => Some("connection closed by server".to_string()),
                    Err(e) => Some(e.to_string()),
                    Ok(_) => on_frames(&mut inbuf, idx, &tx, &mut ping_sent_at, &mut st).err(),
                };
                if let Some(why) = lost {
                    let _ = tx.send((idx, Event::Lost(why)));
                    return st;
                }
            }
            _ = tokio::time::sleep_until(next_ping.into()) => {
                out.clear();
                put_bare(&mut out, PING_XID, OpCode::PING);
                if let Err(e) = write_flush(&mut stream, &out).await {
                    let _ = tx.send((idx, Event::Lost(format!("ping: {e}"))));
                    return st;
                }
                ping_sent_at.push_back(Instant::now());
                st.pings_sent += 1;
                next_ping += ping_every;
            }
            _ = stop.changed() => return st,
        }
    }
}

async fn write_flush(stream: &mut Stream, out: &[u8]) -> std::io::Result<()> {
    stream.write_all(out).await?;
    stream.flush().await
}

fn on_frames(
    inbuf: &mut bytes::BytesMut,
    idx: usize,
    tx: &mpsc::UnboundedSender<(usize, Event)>,
    ping_sent_at: &mut std::collections::VecDeque<Instant>,
    st: &mut HoldStats,
) -> Result<(), String> {
    while let Some(frame) = next_frame(inbuf).map_err(|e| e.to_string())? {
        let reply = parse_reply(frame).map_err(|e| e.to_string())?;
        match reply.xid {
            PING_XID => {
                if let Some(at) = ping_sent_at.pop_front() {
                    st.ping_us.push(at.elapsed().as_micros() as u64);
                }
                st.pings_answered += 1;
            }
            NOTIFICATION_XID => {
                let ev = WatcherEvent::from_bytes(&reply.body).map_err(|e| e.to_string())?;
                if ev.state == STATE_EXPIRED {
                    return Err("session expired".into());
                }
                let _ = tx.send((idx, Event::Notified(Instant::now())));
            }
            _ if reply.err == ErrorCode::OK => {
                let _ = tx.send((idx, Event::Armed));
            }
            _ => return Err(format!("arm failed: {}", reply.err.0)),
        }
    }
    Ok(())
}

pub(crate) struct ManyCfg {
    pub(crate) ep: Endpoint,
    pub(crate) sessions: usize,
    pub(crate) timeout_ms: i32,
    pub(crate) concurrency: usize,
    pub(crate) path: String,
    pub(crate) wait: Duration,
    pub(crate) rss_pid: Option<u32>,
    /// Loopback source addresses the sessions connect from (127.0.0.1 .. 127.0.0.N).
    pub(crate) sources: usize,
}

type Spawned = (
    Vec<tokio::task::JoinHandle<HoldStats>>,
    mpsc::UnboundedReceiver<(usize, Event)>,
    watch::Sender<bool>,
);

fn spawn_all(sessions: Vec<Session>, cfg: &ManyCfg, arm: Option<Arc<str>>) -> Spawned {
    let (tx, rx) = mpsc::unbounded_channel();
    let (stop_tx, stop_rx) = watch::channel(false);
    let ping_every = Duration::from_millis(u64::try_from(cfg.timeout_ms / 3).unwrap_or(1000));
    let tasks = sessions
        .into_iter()
        .enumerate()
        .map(|(i, s)| {
            let fut = hold(s, i, ping_every, arm.clone(), tx.clone(), stop_rx.clone());
            tokio::spawn(fut)
        })
        .collect();
    (tasks, rx, stop_tx)
}

pub(crate) async fn join_all(
    tasks: Vec<tokio::task::JoinHandle<HoldStats>>,
) -> (HoldStats, Histogram<u64>) {
    let mut total = HoldStats::default();
    let mut hist = report::new_hist();
    for t in tasks {
        if let Ok(Ok(st)) = tokio::time::timeout(Duration::from_secs(5), t).await {
            total.pings_sent += st.pings_sent;
            total.pings_answered += st.pings_answered;
            for v in st.ping_us {
                report::record(&mut hist, v);
            }
        }
    }
    (total, hist)
}

/// `zkbench fanout`.
pub(crate) async fn fanout(cfg: ManyCfg) -> proto::Result<bool> {
    let mut control = proto::connect(&cfg.ep, cfg.timeout_ms, Duration::from_secs(10)).await?;
    let acl = ops::open_acl();
    let path = cfg.path.clone();
    let codes = ops::pipeline(
        &mut control,
        1,
        1,
        Duration::from_secs(10),
        |_, xid, out| {
            let req = ops::create_req(path.clone(), Bytes::from_static(b"0"), &acl);
            put_request(out, xid, OpCode::CREATE, &req);
        },
    )
    .await?;
    if codes
        .first()
        .is_some_and(|c| *c != ErrorCode::OK && *c != ErrorCode::NODE_EXISTS)
    {
        return Err(BenchError::Protocol(format!(
            "create {}: {codes:?}",
            cfg.path
        )));
    }
    let t_connect = Instant::now();
    let (sessions, connect_failed, first) = connect_lossy(
        &cfg.ep,
        cfg.sessions,
        cfg.timeout_ms,
        cfg.concurrency,
        cfg.sources,
    )
    .await;
    let connected = sessions.len();
    let connect_secs = t_connect.elapsed().as_secs_f64();
    let (tasks, mut rx, stop) = spawn_all(sessions, &cfg, Some(Arc::from(cfg.path.as_str())));
    let mut first_error = first.map(|e| e.to_string());
    let (mut armed, lost) = wait_armed(&mut rx, connected, cfg.wait, &mut first_error).await;
    // The one write whose fan-out we time.
    let t0 = Instant::now();
    let path = cfg.path.clone();
    let set = ops::pipeline(
        &mut control,
        1,
        1,
        Duration::from_secs(60),
        |_, xid, out| {
            let req = SetDataRequest {
                path: path.clone(),
                data: Some(Bytes::from_static(b"1")),
                version: -1,
            };
            put_request(out, xid, OpCode::SET_DATA, &req);
        },
    )
    .await?;
    let set_us = t0.elapsed().as_micros() as u64;
    let hist = collect_notifications(&mut rx, &mut armed, t0, cfg.wait, &mut first_error).await;
    let _ = stop.send(true);
    let _ = join_all(tasks).await;
    let notified = hist.len() as usize;
    let missing = armed.saturating_sub(notified);
    let set_err = usize::from(set.first() != Some(&ErrorCode::OK));
    let _ = lost; // sessions lost before arming are counted as not armed
    let errors = connect_failed + (connected - armed.min(connected)) + missing + set_err;
    let mut j = Json::default();
    j.str("mode", "fanout")
        .num("sessions", cfg.sessions)
        .num("connected", connected)
        .float("connect_secs", connect_secs)
        .num("armed", armed)
        .num("notified", notified)
        .num("missing", missing)
        .num("setdata_us", set_us)
        .num("all_notified_us", hist.max())
        .latency("notify_us", &hist)
        .num("errors", errors)
        .str("first_error", first_error.as_deref().unwrap_or(""));
    let human = format!(
        "fanout: {notified}/{} sessions notified, last after {} (setData answered after {}); errors {errors}",
        cfg.sessions,
        report::fmt_us(hist.max()),
        report::fmt_us(set_us)
    );
    report::emit(&j, &human);
    Ok(errors == 0)
}

/// `zkbench idle`.
pub(crate) async fn idle(cfg: ManyCfg, duration: Duration) -> proto::Result<bool> {
    let rss_before = cfg.rss_pid.and_then(rss_kib);
    let t_connect = Instant::now();
    let (sessions, connect_failed, first) = connect_lossy(
        &cfg.ep,
        cfg.sessions,
        cfg.timeout_ms,
        cfg.concurrency,
        cfg.sources,
    )
    .await;
    let connected = sessions.len();
    let connect_secs = t_connect.elapsed().as_secs_f64();
    let (tasks, mut rx, stop) = spawn_all(sessions, &cfg, None);
    let mut first_error = first.map(|e| e.to_string());
    let (mut lost, mut rss_max) = (0usize, 0u64);
    let (mut rss_idle, mut rss_anon_idle) = (None, None);
    let end = Instant::now() + duration;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    while Instant::now() < end {
        tokio::select! {
            ev = rx.recv() => match ev {
                Some((_, Event::Lost(why))) => {
                    lost += 1;
                    first_error = first_error.or(Some(why));
                }
                Some(_) => {}
                None => break,
            },
            _ = tick.tick() => {
                let rss = cfg.rss_pid.and_then(rss_kib);
                rss_max = rss_max.max(rss.unwrap_or(0));
                // The first sample after the handshakes settle is the one reported.
                if rss_idle.is_none() && t_connect.elapsed().as_secs_f64() > connect_secs + 2.0 {
                    rss_idle = rss;
                    rss_anon_idle = cfg.rss_pid.and_then(rss_anon_kib);
                }
            }
            _ = tokio::time::sleep_until(end.into()) => {}
        }
    }
    let rss_end = cfg.rss_pid.and_then(rss_kib);
    let _ = stop.send(true);
    let (total, ping_hist) = join_all(tasks).await;
    let errors = connect_failed + lost;
    let per_session = match (rss_before, rss_end) {
        (Some(a), Some(b)) if connected > 0 => Some(b.saturating_sub(a) * 1024 / connected as u64),
        _ => None,
    };
    let mut j = Json::default();
    j.str("mode", "idle")
        .num("sessions", cfg.sessions)
        .num("connected", connected)
        .float("connect_secs", connect_secs)
        .float("held_secs", duration.as_secs_f64())
        .num("lost", lost)
        .num("pings_sent", total.pings_sent)
        .num("pings_answered", total.pings_answered)
        .latency("ping_us", &ping_hist)
        .opt("rss_before_kib", rss_before)
        .opt("rss_idle_kib", rss_idle.or(rss_end))
        .opt("rss_anon_idle_kib", rss_anon_idle)
        .opt("rss_end_kib", rss_end)
        .num("rss_max_kib", rss_max)
        .opt("bytes_per_session", per_session)
        .num("errors", errors)
        .str("first_error", first_error.as_deref().unwrap_or(""));
    let human = format!(
        "idle: {connected}/{} sessions held {:.0}s, {} lost, pings {}/{} answered (p99 {}), server RSS {} -> {} KiB",
        cfg.sessions,
        duration.as_secs_f64(),
        lost,
        total.pings_answered,
        total.pings_sent,
        report::fmt_us(if ping_hist.is_empty() { 0 } else { ping_hist.value_at_quantile(0.99) }),
        rss_before.unwrap_or(0),
        rss_end.unwrap_or(0)
    );
    report::emit(&j, &human);
    Ok(errors == 0)
}

/// The events of one change fanned out to `armed` sessions: how long after `t0` each was
/// notified, until each armed session was notified or lost or `wait` ran out. A session
/// armed late counts in `armed`; the first loss's reason goes to `first_error`.
pub(crate) async fn collect_notifications(
    rx: &mut mpsc::UnboundedReceiver<(usize, Event)>,
    armed: &mut usize,
    t0: Instant,
    wait: Duration,
    first_error: &mut Option<String>,
) -> Histogram<u64> {
    let mut hist = report::new_hist();
    let deadline = Instant::now() + wait;
    let mut gone = 0usize;
    while (hist.len() as usize) + gone < *armed {
        match tokio::time::timeout_at(deadline.into(), rx.recv()).await {
            Ok(Some((_, Event::Notified(at)))) => report::record(
                &mut hist,
                at.saturating_duration_since(t0).as_micros() as u64,
            ),
            Ok(Some((_, Event::Lost(why)))) => {
                gone += 1;
                if first_error.is_none() {
                    *first_error = Some(why);
                }
            }
            Ok(Some((_, Event::Armed))) => *armed += 1,
            Ok(None) | Err(_) => break,
        }
    }
    hist
}

/// Waits until each of `connected` sessions armed its watch or was lost, or `wait` ran out:
/// (armed, lost); the first loss's reason goes to `first_error`.
pub(crate) async fn wait_armed(
    rx: &mut mpsc::UnboundedReceiver<(usize, Event)>,
    connected: usize,
    wait: Duration,
    first_error: &mut Option<String>,
) -> (usize, usize) {
    let (mut armed, mut lost) = (0usize, 0usize);
    let deadline = Instant::now() + wait;
    while armed + lost < connected {
        match tokio::time::timeout_at(deadline.into(), rx.recv()).await {
            Ok(Some((_, Event::Armed))) => armed += 1,
            Ok(Some((_, Event::Lost(why)))) => {
                lost += 1;
                if first_error.is_none() {
                    *first_error = Some(why);
                }
            }
            Ok(Some((_, Event::Notified(_)))) => {}
            Ok(None) | Err(_) => break,
        }
    }
    (armed, lost)
}
