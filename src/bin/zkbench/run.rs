//! `zkbench run`: N sessions, each keeping up to W requests in flight (closed loop) or
//! issuing at a fixed rate (open loop, latency measured from the intended send time so a
//! stalled server cannot hide its queueing: no coordinated omission).
//!
//! Each session is one task that owns its socket: it reads every reply already buffered,
//! refills the window, and writes all new requests with one `write` — the generator must
//! stay cheap next to the server on a 2-core machine. A TLS session runs the same loop over
//! the halves of its TLS stream, flushing after each batch; a plain one over the socket's own
//! halves, unchanged by TLS.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ferrokeeper::jute::codes::{ErrorCode, OpCode};
use ferrokeeper::jute::data::Acl;
use hdrhistogram::Histogram;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::ops::{self, key_path, Mix, OpKind};
use crate::proto::{self, next_frame, parse_reply, put_bare, Endpoint, Rng, Session};
use crate::report::{self, Json};
use tokio_util::either::Either;

#[derive(Debug, Clone)]
pub(crate) struct RunCfg {
    pub(crate) ep: Endpoint,
    pub(crate) sessions: usize,
    pub(crate) window: usize,
    pub(crate) mix: Mix,
    pub(crate) value_size: usize,
    pub(crate) keys: u64,
    pub(crate) duration: Duration,
    /// Stop after this many ops in total (split over the sessions) instead of by time.
    pub(crate) ops: Option<u64>,
    pub(crate) warmup: Duration,
    /// Total offered ops/s over all sessions; `None` = as fast as the window allows.
    pub(crate) rate: Option<f64>,
    pub(crate) prefix: String,
    pub(crate) multi_size: usize,
    pub(crate) prepare: bool,
    pub(crate) timeout_ms: i32,
    /// Server processes whose CPU time over the measured window is reported per op.
    pub(crate) server_pids: Vec<u32>,
}

/// How late a timer may fire without the delay counting as latency.
const TIMER_SLACK: Duration = Duration::from_millis(2);

#[derive(Clone, Copy)]
struct Times {
    start: Instant,
    record_from: Instant,
    end: Instant,
}

struct SessionStats {
    hist: Histogram<u64>,
    ops: u64,
    errors: u64,
    first_error: Option<String>,
}

/// What one session needs to generate its ops.
struct Gen {
    cfg: Arc<RunCfg>,
    idx: usize,
    rng: Rng,
    value: Bytes,
    acl: Vec<Acl>,
    next_create: u64,
    created: VecDeque<u64>,
    xid: i32,
}

impl Gen {
    fn issue(&mut self, out: &mut Vec<u8>) -> OpKind {
        let mut kind = self.cfg.mix.pick(self.rng.next_u64());
        self.xid = if self.xid >= i32::MAX - 1 {
            1
        } else {
            self.xid + 1
        };
        let keys = self.cfg.keys.max(1);
        let prefix = &self.cfg.prefix;
        let mut multi = Vec::new();
        let path = match kind {
            OpKind::Delete if !self.created.is_empty() => {
                let n = self.created.pop_front().unwrap_or(0);
                format!("{prefix}/c{}_{n}", self.idx)
            }
            OpKind::Create | OpKind::Delete => {
                kind = OpKind::Create;
                let n = self.next_create;
                self.next_create += 1;
                self.created.push_back(n);
                format!("{prefix}/c{}_{n}", self.idx)
            }
            OpKind::Multi => {
                for _ in 0..self.cfg.multi_size.max(1) {
                    multi.push(key_path(prefix, self.rng.below(keys)));
                }
                String::new()
            }
            _ => key_path(prefix, self.rng.below(keys)),
        };
        ops::encode(out, self.xid, kind, path, &self.value, &self.acl, multi);
        kind
    }
}

/// Create the prefix and the key space (ignoring NodeExists) from one extra session.
async fn prepare(cfg: &RunCfg) -> proto::Result<()> {
    let mut sess = proto::connect(&cfg.ep, cfg.timeout_ms, Duration::from_secs(10)).await?;
    let value = Bytes::from(vec![b'x'; cfg.value_size]);
    let acl = ops::open_acl();
    let n = cfg.keys + 1;
    let codes = ops::pipeline(
        &mut sess,
        n,
        512,
        Duration::from_secs(600),
        |i, xid, out| {
            let path = if i == 0 {
                cfg.prefix.clone()
            } else {
                key_path(&cfg.prefix, i - 1)
            };
            proto::put_request(
                out,
                xid,
                OpCode::CREATE,
                &ops::create_req(path, value.clone(), &acl),
            );
        },
    )
    .await?;
    if let Some(bad) = codes
        .iter()
        .find(|c| **c != ErrorCode::OK && **c != ErrorCode::NODE_EXISTS)
    {
        return Err(proto::BenchError::Protocol(format!(
            "prepare: create failed with {bad:?}"
        )));
    }
    close(sess).await;
    Ok(())
}

/// Best-effort closeSession so the server does not keep the session until it expires.
async fn close(mut sess: Session) {
    let mut out = Vec::new();
    put_bare(&mut out, i32::MAX, OpCode::CLOSE_SESSION);
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        sess.stream.write_all(&out).await?;
        sess.stream.flush().await?;
        let mut buf = [0u8; 64];
        sess.stream.read(&mut buf).await
    })
    .await;
}

pub(crate) async fn run(cfg: RunCfg) -> proto::Result<bool> {
    let needs_keys = OpKind::ALL
        .iter()
        .any(|k| !matches!(k, OpKind::Create | OpKind::Delete) && cfg.mix.has(*k));
    // The prefix always; the key space only when some op reads or updates it.
    let mut c = cfg.clone();
    if !(cfg.prepare || needs_keys) {
        c.keys = 0;
    }
    prepare(&c).await?;
    let cfg = Arc::new(cfg);
    let sessions = crate::hold::connect_many(&cfg.ep, cfg.sessions, cfg.timeout_ms, 64).await?;
    let start = Instant::now() + Duration::from_millis(20);
    let warmup = if cfg.ops.is_some() {
        Duration::ZERO
    } else {
        cfg.warmup
    };
    // By op count: no time limit but a generous bound.
    let span = match cfg.ops {
        Some(_) => Duration::from_secs(3600),
        None => cfg.duration,
    };
    let times = Times {
        start,
        record_from: start + warmup,
        end: start + warmup + span,
    };
    let tasks: Vec<_> = sessions
        .into_iter()
        .enumerate()
        .map(|(idx, s)| tokio::spawn(session_loop(cfg.clone(), idx, s, times)))
        .collect();
    // CPU of the servers over the window the ops are counted in (by count: the whole run)
    let pids = cfg.server_pids.clone();
    let by_count = cfg.ops.is_some();
    let cpu_window = tokio::spawn(async move {
        tokio::time::sleep_until(times.record_from.into()).await;
        let before = proto::cpu_ticks(&pids);
        if !by_count {
            tokio::time::sleep_until(times.end.into()).await;
        }
        (pids, before)
    });
    let (mut hist, mut ops, mut errors, mut first_error) = (report::new_hist(), 0, 0, None);
    for t in tasks {
        match t.await {
            Ok(st) => {
                let _ = hist.add(&st.hist);
                ops += st.ops;
                errors += st.errors;
                first_error = first_error.or(st.first_error);
            }
            Err(e) => {
                errors += 1;
                first_error = first_error.or(Some(format!("session task: {e}")));
            }
        }
    }
    let secs = match cfg.ops {
        Some(_) => start.elapsed().as_secs_f64(),
        None => cfg.duration.as_secs_f64(),
    };
    let tput = ops as f64 / secs;
    // µs of server CPU (user + system, all threads, all server processes) per op
    let cpu_us_per_op = match cpu_window.await {
        Ok((pids, Some(before))) if ops > 0 => proto::cpu_ticks(&pids).map(|after| {
            after.saturating_sub(before) as f64 * 1e6 / proto::TICKS_PER_SEC / ops as f64
        }),
        _ => None,
    };
    let mut j = Json::default();
    j.str("mode", "run")
        .str("mix", cfg.mix.spec())
        .num("sessions", cfg.sessions)
        .num("window", cfg.window)
        .num("value_size", cfg.value_size)
        .num("keys", cfg.keys)
        .float("offered_rate", cfg.rate.unwrap_or(0.0))
        .float("secs", secs)
        .num("ops", ops)
        .float("throughput", tput)
        .num("errors", errors)
        .float("cpu_us_per_op", cpu_us_per_op.unwrap_or(-1.0))
        .latency("lat_us", &hist)
        .str("first_error", first_error.as_deref().unwrap_or(""));
    let cpu = cpu_us_per_op.map_or(String::new(), |c| format!(", server CPU {c:.1} µs/op"));
    let human = format!(
        "run {} sessions={} window={} value={}B: {:.0} ops/s, {} ops in {:.1}s, errors {}{cpu}; latency {}",
        cfg.mix.spec(),
        cfg.sessions,
        cfg.window,
        cfg.value_size,
        tput,
        ops,
        secs,
        errors,
        report::latency_line(&hist)
    );
    report::emit(&j, &human);
    Ok(errors == 0)
}

async fn session_loop(cfg: Arc<RunCfg>, idx: usize, sess: Session, t: Times) -> SessionStats {
    let Session {
        stream, mut inbuf, ..
    } = sess;
    let (st, stream) = match stream {
        Either::Left(s) => {
            let (mut rd, mut wr) = s.into_split();
            let st = drive(cfg, idx, t, &mut rd, &mut wr, &mut inbuf, false).await;
            (st, rd.reunite(wr).ok().map(Either::Left))
        }
        Either::Right(s) => {
            let (mut rd, mut wr) = tokio::io::split(*s);
            let st = drive(cfg, idx, t, &mut rd, &mut wr, &mut inbuf, true).await;
            (st, Some(Either::Right(Box::new(rd.unsplit(wr)))))
        }
    };
    if let Some(stream) = stream {
        close(Session {
            stream,
            session_id: 0,
            timeout_ms: 0,
            inbuf,
        })
        .await;
    }
    st
}

/// The load of one session over a read and a write half; `flush` after each completed batch
/// (TLS buffers what it encrypts).
async fn drive<R, W>(
    cfg: Arc<RunCfg>,
    idx: usize,
    t: Times,
    rd: &mut R,
    wr: &mut W,
    inbuf: &mut bytes::BytesMut,
    flush: bool,
) -> SessionStats
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut st = SessionStats {
        hist: report::new_hist(),
        ops: 0,
        errors: 0,
        first_error: None,
    };
    let mut gen = Gen {
        cfg: cfg.clone(),
        idx,
        rng: Rng::new(0x5eed ^ (idx as u64) << 20),
        value: Bytes::from(vec![b'v'; cfg.value_size]),
        acl: ops::open_acl(),
        next_create: 0,
        created: VecDeque::new(),
        xid: 0,
    };
    let quota = cfg
        .ops
        .map(|n| n / cfg.sessions as u64 + u64::from((idx as u64) < n % cfg.sessions as u64));
    let interval = cfg
        .rate
        .filter(|r| *r > 0.0)
        .map(|r| Duration::from_secs_f64(cfg.sessions as f64 / r));
    let mut next_due = t.start
        + interval.map_or(Duration::ZERO, |iv| {
            iv.mul_f64(idx as f64 / cfg.sessions as f64)
        });
    let end = t.end;
    let hard_end = end + Duration::from_secs(10);
    let mut out: Vec<u8> = Vec::with_capacity(64 << 10);
    let mut wpos = 0usize;
    let mut pending: VecDeque<(i32, Instant)> = VecDeque::with_capacity(cfg.window);
    let mut issued = 0u64;
    let mut unflushed = false;
    loop {
        let now = Instant::now();
        let may_issue = |issued: u64| now < end && quota.map_or(true, |q| issued < q);
        match interval {
            Some(iv) => {
                while may_issue(issued) && pending.len() < cfg.window && next_due <= now {
                    gen.issue(&mut out);
                    // Late by more than the timer's slack (tokio's wheel ticks in ms) means
                    // the window or the server held the op back: count from the intended time.
                    let late = now.saturating_duration_since(next_due) > TIMER_SLACK;
                    pending.push_back((gen.xid, if late { next_due } else { now }));
                    next_due += iv;
                    issued += 1;
                }
            }
            None => {
                while may_issue(issued) && pending.len() < cfg.window {
                    gen.issue(&mut out);
                    pending.push_back((gen.xid, now));
                    issued += 1;
                }
            }
        }
        if !may_issue(issued) && pending.is_empty() && wpos == out.len() && !unflushed {
            break;
        }
        if now >= hard_end {
            note(
                &mut st,
                pending.len() as u64,
                "replies still missing 10s after the end",
            );
            break;
        }
        let wake = match interval {
            Some(_) if may_issue(issued) && pending.len() < cfg.window => next_due,
            _ => hard_end,
        };
        tokio::select! {
            r = rd.read_buf(inbuf) => match r {
                Ok(0) | Err(_) => {
                    note(&mut st, pending.len() as u64 + 1, "connection lost");
                    break;
                }
                Ok(_) => {
                    if let Err(e) = on_replies(inbuf, &mut pending, &mut st, t) {
                        note(&mut st, 1, &e.to_string());
                        break;
                    }
                }
            },
            r = write_or_flush(wr, &out[wpos..]), if wpos < out.len() || unflushed => match r {
                Ok(_) if wpos == out.len() => unflushed = false,
                Ok(n) => {
                    wpos += n;
                    if wpos == out.len() {
                        out.clear();
                        wpos = 0;
                        unflushed = flush;
                    }
                }
                Err(e) => {
                    note(&mut st, pending.len() as u64 + 1, &format!("write: {e}"));
                    break;
                }
            },
            _ = tokio::time::sleep_until(wake.into()) => {}
        }
    }
    st
}

/// Writes some of `buf`, or flushes when it is empty (both cancel-safe, one borrow of `wr`).
async fn write_or_flush<W: AsyncWrite + Unpin>(wr: &mut W, buf: &[u8]) -> std::io::Result<usize> {
    if buf.is_empty() {
        wr.flush().await.map(|()| 0)
    } else {
        wr.write(buf).await
    }
}

fn note(st: &mut SessionStats, n: u64, what: &str) {
    st.errors += n;
    if st.first_error.is_none() {
        st.first_error = Some(what.to_string());
    }
}

/// Match every complete reply in `inbuf` to the oldest pending request.
fn on_replies(
    inbuf: &mut bytes::BytesMut,
    pending: &mut VecDeque<(i32, Instant)>,
    st: &mut SessionStats,
    t: Times,
) -> proto::Result<()> {
    let now = Instant::now();
    while let Some(frame) = next_frame(inbuf)? {
        let reply = parse_reply(frame)?;
        if reply.xid < 0 {
            continue; // ping reply or a notification: not part of the load
        }
        let Some((xid, sent)) = pending.pop_front() else {
            return Err(proto::BenchError::Protocol(format!(
                "reply xid {} with nothing pending",
                reply.xid
            )));
        };
        if xid != reply.xid {
            return Err(proto::BenchError::Protocol(format!(
                "reply xid {} but {xid} was next",
                reply.xid
            )));
        }
        if reply.err != ErrorCode::OK {
            let name = reply.err.name().unwrap_or("?");
            note(st, 1, &format!("error {} ({name})", reply.err.0));
        }
        if sent >= t.record_from && sent < t.end {
            report::record(
                &mut st.hist,
                now.saturating_duration_since(sent).as_micros() as u64,
            );
            st.ops += 1;
        }
    }
    Ok(())
}
