//! The learner's connection to its leader once synced (`Learner#readPacket` /
//! `#writePacket` in `Follower#followLeader`'s and `Observer#observeLeader`'s loops): a
//! reader task and a writer task. The serving pipeline owns the [`super::LearnerEngine`]
//! and the inbox; a read that waits longer than `read_timeout` (tickTime × syncLimit) loses
//! the leader, as the reference's socket timeout does.

use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::codec::FramedRead;

use super::driver::LeaderLink;
use crate::jute::quorum::QuorumPacket;
use crate::quorum::zab::stream::QuorumCodec;

/// What the link reports.
#[derive(Debug)]
pub enum FromLeader {
    Packet(QuorumPacket),
    /// The connection failed or the leader went silent: back to election.
    Lost(String),
}

/// The running tasks; dropping this stops them.
pub struct LinkTasks {
    /// Encoded packets to the leader, written in order.
    pub to_leader: mpsc::UnboundedSender<Bytes>,
    reader: JoinHandle<()>,
    writer: JoinHandle<()>,
}

impl Drop for LinkTasks {
    fn drop(&mut self) {
        self.reader.abort();
        self.writer.abort();
    }
}

/// Start reading and writing `link`'s connection; the engine goes to the caller.
pub fn spawn_link(
    link: LeaderLink,
    read_timeout: Duration,
    inbox: mpsc::UnboundedSender<FromLeader>,
) -> (super::LearnerEngine, LinkTasks) {
    let (tx, rx) = mpsc::unbounded_channel();
    let reader = tokio::spawn(read_loop(link.reader, read_timeout, inbox.clone()));
    let writer = tokio::spawn(write_loop(link.writer, rx, inbox));
    (
        link.engine,
        LinkTasks {
            to_leader: tx,
            reader,
            writer,
        },
    )
}

async fn read_loop(
    mut reader: FramedRead<OwnedReadHalf, QuorumCodec>,
    limit: Duration,
    inbox: mpsc::UnboundedSender<FromLeader>,
) {
    loop {
        let msg = match tokio::time::timeout(limit, reader.next()).await {
            Err(_) => FromLeader::Lost(format!("the leader was silent for {limit:?}")),
            Ok(None) => FromLeader::Lost("the leader closed the connection".to_owned()),
            Ok(Some(Err(e))) => FromLeader::Lost(format!("stream from the leader: {e}")),
            Ok(Some(Ok(p))) => FromLeader::Packet(p),
        };
        let lost = matches!(msg, FromLeader::Lost(_));
        if inbox.send(msg).is_err() || lost {
            return;
        }
    }
}

async fn write_loop(
    mut writer: OwnedWriteHalf,
    mut rx: mpsc::UnboundedReceiver<Bytes>,
    inbox: mpsc::UnboundedSender<FromLeader>,
) {
    let mut buf = Vec::new();
    while let Some(first) = rx.recv().await {
        buf.clear();
        buf.extend_from_slice(&first);
        while let Ok(more) = rx.try_recv() {
            buf.extend_from_slice(&more);
        }
        if let Err(e) = writer.write_all(&buf).await {
            let _ = inbox.send(FromLeader::Lost(format!("writing to the leader: {e}")));
            return;
        }
    }
    let _ = writer.shutdown().await;
}
