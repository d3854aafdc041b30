//! The tokio side of a learner's sync (`Learner#connectToLeader`, `#registerWithLeader`,
//! `#syncWithLeader`, `#readPacket`, `#writePacket`): owns the TCP connection to the
//! leader's quorum port until UPTODATE, feeds packets to the [`LearnerEngine`] and has the
//! [`LearnerDb`] carry out its actions; then hands the connection to the serving pipeline.
//!
//! Invariants: packets already buffered are handled as one batch and the log is fsynced once
//! for it before any reply is written (group commit); a read that waits longer than
//! tickTime × initLimit (before NEWLEADER) or tickTime × syncLimit (after) ends the
//! connection, as the reference's socket timeouts do; on every failure the database is fast
//! forwarded over what it logged, so the next election reports the whole logged history.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_util::codec::{Decoder, FramedRead};
use tokio_util::sync::CancellationToken;

use super::db::{Executed, LearnerDb, LearnerDbError};
use super::engine::{LearnerAction, LearnerEngine, LearnerError};
use super::LearnerConfig;
use crate::jute::quorum::QuorumPacket;
use crate::jute::Jute;
use crate::quorum::zab::packet::{PacketError, QuorumPacketType, Sender, ZabMessage};
use crate::quorum::zab::stream::{read_snap_payload, QuorumCodec, SnapPayloadError, StreamError};

/// `Learner#connectToLeader`: five tries, this far apart
/// (`zookeeper.leaderConnectDelayDuringRetryMs`).
const CONNECT_TRIES: u32 = 5;
const CONNECT_RETRY_DELAY: Duration = Duration::from_millis(100);
/// Socket bytes handed to the SNAP parser per chunk, and chunks in flight.
const SNAP_CHUNK: usize = 64 * 1024;
const SNAP_CHUNKS_IN_FLIGHT: usize = 16;

/// tickTime, initLimit, syncLimit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LearnerTimeouts {
    pub tick: Duration,
    pub init_limit: u32,
    pub sync_limit: u32,
}

impl LearnerTimeouts {
    /// Connect and read timeout until NEWLEADER is acknowledged.
    pub fn init(&self) -> Duration {
        self.tick * self.init_limit
    }

    /// Read timeout afterwards: a leader silent this long is lost.
    pub fn sync(&self) -> Duration {
        self.tick * self.sync_limit
    }
}

/// Why the sync with the leader ended without UPTODATE.
#[derive(Debug, thiserror::Error)]
pub enum LearnerExit {
    #[error("cancelled")]
    Cancelled,
    /// Go back to election.
    #[error("lost the leader: {0}")]
    LostLeader(#[from] LostLeader),
    /// The database could not be written: stop the server.
    #[error("fatal: {0}")]
    Fatal(#[from] LearnerDbError),
}

#[derive(Debug, thiserror::Error)]
pub enum LostLeader {
    #[error("cannot connect to the leader at {addr}: {source}")]
    Connect {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("the leader was silent for {0:?}")]
    Timeout(Duration),
    #[error("the leader closed the connection")]
    Closed,
    #[error("I/O error with the leader: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Stream(#[from] StreamError),
    #[error(transparent)]
    Packet(#[from] PacketError),
    #[error(transparent)]
    Protocol(#[from] LearnerError),
    #[error("SNAP payload: {0}")]
    Snap(#[from] SnapPayloadError),
}

/// Everything a learner connection needs besides its database.
#[derive(Clone)]
pub struct LearnerParams {
    pub leader: SocketAddr,
    pub cfg: LearnerConfig,
    pub timeouts: LearnerTimeouts,
    pub cancel: CancellationToken,
}

/// Run blocking database work: off the async workers on a multi-threaded runtime, inline on
/// a current-thread one (which has no other workers to starve).
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// A learner the leader has brought up to date (UPTODATE handled): the engine in its
/// broadcast phase and the connection, for the serving pipeline to carry on with.
pub struct LeaderLink {
    pub engine: LearnerEngine,
    /// Packets already read past UPTODATE stay buffered here.
    pub reader: FramedRead<OwnedReadHalf, QuorumCodec>,
    pub writer: OwnedWriteHalf,
}

/// Connect to the leader and sync with it (`Learner#registerWithLeader` + `#syncWithLeader`);
/// returns at UPTODATE with `db` up to date. On failure `db` has been fast-forwarded over
/// what it logged, ready for the next election.
pub async fn sync_with_leader(
    params: &LearnerParams,
    db: &mut LearnerDb,
) -> Result<LeaderLink, LearnerExit> {
    let synced = match connect(params).await {
        Ok(stream) => Connection::sync(params, stream, db).await,
        Err(e) => Err(e),
    };
    match synced {
        Ok(conn) => Ok(LeaderLink {
            engine: conn.engine,
            reader: conn.reader,
            writer: conn.writer,
        }),
        Err(exit) => Err(stopped(db, exit)),
    }
}

fn stopped(db: &mut LearnerDb, exit: LearnerExit) -> LearnerExit {
    tracing::warn!("learner stopped: {exit}");
    if let Err(e) = blocking(|| db.fast_forward()) {
        return LearnerExit::Fatal(e);
    }
    exit
}

async fn connect(params: &LearnerParams) -> Result<TcpStream, LearnerExit> {
    let deadline = tokio::time::Instant::now() + params.timeouts.init();
    let mut tries = 0;
    loop {
        tries += 1;
        let attempt = tokio::time::timeout_at(deadline, TcpStream::connect(params.leader));
        let err = tokio::select! {
            _ = params.cancel.cancelled() => return Err(LearnerExit::Cancelled),
            r = attempt => match r {
                Ok(Ok(s)) => {
                    s.set_nodelay(true).map_err(LostLeader::Io)?;
                    return Ok(s);
                }
                Ok(Err(e)) => e,
                Err(_) => std::io::Error::from(std::io::ErrorKind::TimedOut),
            },
        };
        let now = tokio::time::Instant::now();
        if tries >= CONNECT_TRIES || now + CONNECT_RETRY_DELAY >= deadline {
            return Err(LostLeader::Connect {
                addr: params.leader,
                source: err,
            }
            .into());
        }
        tracing::warn!(
            tries,
            "cannot connect to the leader at {}: {err}",
            params.leader
        );
        tokio::time::sleep(CONNECT_RETRY_DELAY).await;
    }
}

struct Connection<'a> {
    params: &'a LearnerParams,
    reader: FramedRead<OwnedReadHalf, QuorumCodec>,
    writer: OwnedWriteHalf,
    engine: LearnerEngine,
}

impl<'a> Connection<'a> {
    /// Register and sync; returns once UPTODATE is handled.
    async fn sync(
        params: &'a LearnerParams,
        stream: TcpStream,
        db: &mut LearnerDb,
    ) -> Result<Connection<'a>, LearnerExit> {
        let (rd, writer) = stream.into_split();
        let epochs = db.epochs();
        let mut conn = Connection {
            params,
            reader: FramedRead::new(rd, QuorumCodec::default()),
            writer,
            engine: LearnerEngine::new(
                params.cfg,
                epochs.accepted,
                epochs.current,
                db.last_processed_zxid(),
            ),
        };
        let start = conn.engine.start();
        let mut synced = conn.perform(start, db).await?;
        while !synced {
            synced = conn.step(db).await?;
        }
        Ok(conn)
    }

    /// Read one packet, then every packet already buffered (up to a SNAP, whose payload
    /// follows, or an UPTODATE, after which the serving pipeline takes over); handle them
    /// as one batch. True once UPTODATE is handled.
    async fn step(&mut self, db: &mut LearnerDb) -> Result<bool, LearnerExit> {
        let first = self.next_packet().await?;
        let mut packets = vec![first];
        while packets.last().is_some_and(|p| {
            p.packet_type != QuorumPacketType::SNAP.0
                && p.packet_type != QuorumPacketType::UPTODATE.0
        }) {
            match QuorumCodec::default().decode(self.reader.read_buffer_mut()) {
                Ok(Some(p)) => packets.push(p),
                Ok(None) => break,
                Err(e) => return Err(LostLeader::Stream(e).into()),
            }
        }
        let mut actions = Vec::new();
        let mut failure = None;
        for p in &packets {
            match ZabMessage::parse(p, Sender::Leader)
                .map_err(LostLeader::Packet)
                .and_then(|m| self.engine.handle(m).map_err(LostLeader::Protocol))
            {
                Ok(a) => actions.extend(a),
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        let synced = self.perform(actions, db).await?;
        match failure {
            Some(e) => Err(e.into()),
            None => Ok(synced),
        }
    }

    async fn next_packet(&mut self) -> Result<QuorumPacket, LearnerExit> {
        let limit = if self.engine.newleader_acked() {
            self.params.timeouts.sync()
        } else {
            self.params.timeouts.init()
        };
        tokio::select! {
            _ = self.params.cancel.cancelled() => Err(LearnerExit::Cancelled),
            r = tokio::time::timeout(limit, self.reader.next()) => match r {
                Err(_) => Err(LostLeader::Timeout(limit).into()),
                Ok(None) => Err(LostLeader::Closed.into()),
                Ok(Some(Err(e))) => Err(LostLeader::Stream(e).into()),
                Ok(Some(Ok(p))) => Ok(p),
            },
        }
    }

    /// Persist (fsync included), load a SNAP payload if one follows, then write the replies.
    /// True once UPTODATE is handled.
    async fn perform(
        &mut self,
        actions: Vec<LearnerAction>,
        db: &mut LearnerDb,
    ) -> Result<bool, LearnerExit> {
        let snap = actions.iter().find_map(|a| match a {
            LearnerAction::LoadSnap { zxid } => Some(*zxid),
            _ => None,
        });
        let executed = blocking(|| db.execute(actions))?;
        if let Some(zxid) = snap {
            let payload = self.read_snap(zxid).await?;
            db.replace(payload);
        }
        self.send(&executed).await?;
        if executed.synced.is_some() {
            tracing::info!(
                zxid = format_args!("0x{:x}", db.last_processed_zxid()),
                sync = ?self.engine.sync_mode(),
                "synced with the leader"
            );
        }
        Ok(executed.synced.is_some())
    }

    async fn send(&mut self, executed: &Executed) -> Result<(), LearnerExit> {
        if executed.sends.is_empty() {
            return Ok(());
        }
        let mut buf = BytesMut::new();
        for msg in &executed.sends {
            msg.to_packet().encode(&mut buf);
        }
        let limit = self.params.timeouts.init();
        match tokio::time::timeout(limit, self.writer.write_all(&buf)).await {
            Err(_) => Err(LostLeader::Timeout(limit).into()),
            Ok(Err(e)) => Err(LostLeader::Io(e).into()),
            Ok(Ok(())) => Ok(()),
        }
    }

    /// The payload after a SNAP packet, parsed on a blocking thread from chunks this task
    /// reads off the socket; whatever the parser did not consume goes back into the
    /// packet reader's buffer.
    async fn read_snap(
        &mut self,
        zxid: i64,
    ) -> Result<crate::quorum::zab::stream::SnapPayload, LearnerExit> {
        let (tx, rx) = mpsc::channel::<Bytes>(SNAP_CHUNKS_IN_FLIGHT);
        let buffered = self.reader.read_buffer_mut().split().freeze();
        let opts = crate::tree::TreeOptions::default();
        let mut parser = tokio::task::spawn_blocking(move || {
            let mut input = ChunkReader { rx, cur: buffered };
            let r = read_snap_payload(&mut input, zxid, opts);
            // no more chunks: a send blocked on a full channel fails and keeps its chunk
            input.rx.close();
            (r, input)
        });
        let mut tx = Some(tx);
        let mut unsent = Vec::new();
        let limit = self.params.timeouts.init();
        let (result, rest) = loop {
            let mut chunk = BytesMut::with_capacity(SNAP_CHUNK);
            tokio::select! {
                done = &mut parser => match done {
                    Ok(r) => break r,
                    Err(e) => return Err(LostLeader::Io(std::io::Error::other(e)).into()),
                },
                _ = self.params.cancel.cancelled() => return Err(LearnerExit::Cancelled),
                r = tokio::time::timeout(limit, self.reader.get_mut().read_buf(&mut chunk)), if tx.is_some() => {
                    match r {
                        Err(_) => return Err(LostLeader::Timeout(limit).into()),
                        Ok(Err(e)) => return Err(LostLeader::Io(e).into()),
                        // end of stream: the parser sees EOF once the channel closes
                        Ok(Ok(0)) => tx = None,
                        Ok(Ok(_)) => {
                            if let Some(t) = &tx {
                                if let Err(e) = t.send(chunk.freeze()).await {
                                    unsent.push(e.0);
                                    tx = None;
                                }
                            }
                        }
                    }
                }
            }
        };
        let buf = self.reader.read_buffer_mut();
        buf.extend_from_slice(&rest.into_leftover());
        for c in unsent {
            buf.extend_from_slice(&c);
        }
        result.map_err(|e| LostLeader::Snap(e).into())
    }
}

/// `std::io::Read` over socket chunks sent by the async side.
struct ChunkReader {
    rx: mpsc::Receiver<Bytes>,
    cur: Bytes,
}

impl ChunkReader {
    /// The unread rest of the current chunk and of every chunk still queued.
    fn into_leftover(mut self) -> BytesMut {
        let mut out = BytesMut::from(&self.cur[..]);
        while let Ok(c) = self.rx.try_recv() {
            out.extend_from_slice(&c);
        }
        out
    }
}

impl std::io::Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.cur.is_empty() {
            match self.rx.blocking_recv() {
                Some(c) => self.cur = c,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len());
        buf[..n].copy_from_slice(&self.cur.split_to(n));
        Ok(n)
    }
}
