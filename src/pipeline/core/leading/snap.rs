//! A learner's SNAP streamed from the live tree (`LearnerHandler#run`'s
//! `ZKDatabase#serializeSnapshot`, which 3.8 also runs while the leader keeps applying): the
//! SNAP packet and the payload's head leave at once, the nodes in chunks the core encodes a
//! bounded slice at a time between requests, as for a local snapshot (`super::snapshots`),
//! then "/" and "BenWasHere". The learner replays the txns after the SNAP zxid (the
//! PROPOSALs and COMMITs the engine sends after the SNAP), which repairs what changed during
//! the traversal.
//!
//! Invariants: whatever the engine sends the learner while its payload is streaming is held
//! and leaves after the payload's last byte, in order, so the learner never meets a packet
//! inside the payload; at most [`CHUNKS_IN_FLIGHT`] chunks (of about
//! [`CHUNK_BYTES`]) wait for the learner's socket — a slow learner makes the core stop
//! slicing for it, not buffer; the job lives in the learner's socket entry, so a learner gone
//! mid-SNAP takes its job with it.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::sync::{Semaphore, TryAcquireError};

use crate::pipeline::core::snapshots::{
    step_within, SliceOutcome, CHUNK_BYTES, MAX_SLICE_GAP, SLICE_TIME, SLICE_UNITS,
};
use crate::quorum::zab::leader::net::Outgoing;
use crate::quorum::zab::packet::ZabMessage;
use crate::quorum::zab::stream::SnapPayloadJob;
use crate::tree::DataTree;

/// Chunks handed to one learner's socket and not yet written (≈ 1 MiB).
pub(crate) const CHUNKS_IN_FLIGHT: usize = 16;

/// What one learner's SNAP needs next.
pub(crate) enum SnapWork {
    Ready,
    Overdue,
    /// Every permit is out: the learner's socket is behind.
    Blocked(Arc<Semaphore>),
}

/// One learner's SNAP in progress.
pub(crate) struct SnapSend {
    /// `None` once the payload's last bytes are in `buf`.
    job: Option<SnapPayloadJob>,
    zxid: i64,
    buf: Vec<u8>,
    room: Arc<Semaphore>,
    /// What the engine sent this learner meanwhile, to follow the payload.
    held: VecDeque<Outgoing>,
    started: Instant,
    last_slice: Instant,
    longest_slice: Duration,
    slices: u64,
}

impl SnapSend {
    /// Sends the SNAP packet and starts the payload at the tree as it stands.
    pub(crate) fn start(
        tree: &DataTree,
        sessions: &[(i64, i32)],
        tx: &mpsc::UnboundedSender<Outgoing>,
    ) -> std::io::Result<SnapSend> {
        let mut buf = Vec::with_capacity(CHUNK_BYTES + 4096);
        let job = SnapPayloadJob::start(tree, sessions, &mut buf)?;
        let zxid = job.zxid();
        let _ = tx.send(Outgoing::Packet(ZabMessage::Snap { zxid }.to_packet()));
        let now = Instant::now();
        Ok(SnapSend {
            job: Some(job),
            zxid,
            buf,
            room: Arc::new(Semaphore::new(CHUNKS_IN_FLIGHT)),
            held: VecDeque::new(),
            started: now,
            last_slice: now,
            longest_slice: Duration::ZERO,
            slices: 0,
        })
    }

    /// Keeps a packet for after the payload.
    pub(crate) fn hold(&mut self, out: Outgoing) {
        self.held.push_back(out);
    }

    /// The packets held back, once the payload is all sent.
    pub(crate) fn into_held(self) -> VecDeque<Outgoing> {
        self.held
    }

    /// A chunk waits to be sent (full, or the payload's last).
    fn chunk_ready(&self) -> bool {
        self.buf.len() >= CHUNK_BYTES || (self.job.is_none() && !self.buf.is_empty())
    }

    pub(crate) fn work(&self) -> SnapWork {
        if self.chunk_ready() && self.room.available_permits() == 0 {
            SnapWork::Blocked(self.room.clone())
        } else if self.last_slice.elapsed() >= MAX_SLICE_GAP {
            SnapWork::Overdue
        } else {
            SnapWork::Ready
        }
    }

    /// One bounded piece of the payload; `tree` is the live tree. `Sent` once the last
    /// byte is with the socket's writer.
    pub(crate) fn slice(
        &mut self,
        tree: &DataTree,
        tx: &mpsc::UnboundedSender<Outgoing>,
    ) -> SliceOutcome {
        let start = Instant::now();
        let outcome = self.slice_inner(tree, tx, start + SLICE_TIME);
        self.last_slice = Instant::now();
        self.longest_slice = self.longest_slice.max(self.last_slice - start);
        self.slices += 1;
        outcome
    }

    fn slice_inner(
        &mut self,
        tree: &DataTree,
        tx: &mpsc::UnboundedSender<Outgoing>,
        deadline: Instant,
    ) -> SliceOutcome {
        let mut units = SLICE_UNITS;
        loop {
            if self.chunk_ready() {
                let permit = match self.room.clone().try_acquire_owned() {
                    Ok(p) => p,
                    Err(TryAcquireError::NoPermits) => return SliceOutcome::Blocked,
                    Err(TryAcquireError::Closed) => return SliceOutcome::Failed,
                };
                let chunk =
                    std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK_BYTES + 4096));
                if tx
                    .send(Outgoing::Chunk(Bytes::from(chunk), permit))
                    .is_err()
                {
                    return SliceOutcome::Failed;
                }
            }
            let Some(job) = self.job.as_mut() else {
                return if self.buf.is_empty() {
                    SliceOutcome::Sent
                } else {
                    SliceOutcome::More
                };
            };
            if units == 0 || Instant::now() >= deadline {
                return SliceOutcome::More;
            }
            if !step_within(&mut units, deadline, "SNAP", |b| {
                job.step(tree, &mut self.buf, b)
            }) {
                return SliceOutcome::Failed;
            }
            if job.is_done() {
                if let Some(job) = self.job.take() {
                    let (nodes, replaced) = job.finish(&mut self.buf);
                    tracing::info!(
                        zxid = format_args!("0x{:x}", self.zxid),
                        // txns applied during the traversal go to the learner after it
                        end_zxid = format_args!("0x{:x}", tree.last_processed_zxid()),
                        nodes,
                        acl_ids_replaced = replaced,
                        slices = self.slices + 1,
                        longest_slice_us = self.longest_slice.as_micros() as u64,
                        elapsed_ms = self.started.elapsed().as_millis() as u64,
                        "SNAP payload serialized"
                    );
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {

    use super::*;
    use crate::jute::quorum::QuorumPacket;
    use crate::jute::Jute;
    use crate::quorum::zab::packet::QuorumPacketType as T;
    use crate::quorum::zab::stream::{decode_packet, read_snap_payload, write_snap_payload};
    use crate::tree::TreeOptions;

    /// `n` nodes of 1 KiB under /d: well over [`CHUNKS_IN_FLIGHT`] chunks for n ≥ 2000.
    /// `/d0` with `n` children of 1 KiB.
    fn big_tree(n: usize) -> DataTree {
        crate::pipeline::core::snapshots::tests::tree_of(1, n, 1024)
    }

    fn ping() -> Outgoing {
        Outgoing::Packet(QuorumPacket {
            packet_type: T::PING.0,
            zxid: 77,
            data: None,
            authinfo: None,
        })
    }

    /// Everything queued for the socket, as bytes (the permits go back as it is "written").
    fn drain(rx: &mut mpsc::UnboundedReceiver<Outgoing>, wire: &mut Vec<u8>) -> usize {
        let mut chunks = 0;
        while let Ok(out) = rx.try_recv() {
            match out {
                Outgoing::Packet(p) => wire.extend_from_slice(&p.to_vec()),
                Outgoing::Chunk(b, _permit) => {
                    chunks += 1;
                    wire.extend_from_slice(&b);
                }
            }
        }
        chunks
    }

    #[test]
    fn snap_then_the_whole_payload_then_what_was_held() {
        let tree = big_tree(300);
        let sessions = [(0x51, 30_000)];
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut snap = SnapSend::start(&tree, &sessions, &tx).unwrap();
        snap.hold(ping());
        let mut wire = Vec::new();
        let mut slices = 0;
        loop {
            let outcome = snap.slice(&tree, &tx);
            drain(&mut rx, &mut wire);
            slices += 1;
            assert!(slices < 10_000);
            match outcome {
                SliceOutcome::Sent => break,
                SliceOutcome::More | SliceOutcome::Blocked => {}
                SliceOutcome::Failed => panic!("failed"),
            }
        }
        for out in snap.into_held() {
            let _ = tx.send(out);
        }
        drain(&mut rx, &mut wire);

        let (p, used) = decode_packet(&wire, usize::MAX).unwrap().unwrap();
        assert_eq!(p.packet_type, T::SNAP.0);
        assert_eq!(p.zxid, tree.last_processed_zxid());
        let mut whole = Vec::new();
        write_snap_payload(&tree, &sessions, &mut whole).unwrap();
        let rest = &wire[used..];
        assert_eq!(
            &rest[..whole.len()],
            &whole[..],
            "the payload, in one piece"
        );
        let mut input = rest;
        let got = read_snap_payload(&mut input, p.zxid, TreeOptions::default()).unwrap();
        assert_eq!(got.tree.digest(), tree.digest());
        let (after, used) = decode_packet(input, usize::MAX).unwrap().unwrap();
        assert_eq!((after.packet_type, after.zxid), (T::PING.0, 77));
        assert_eq!(used, input.len(), "nothing else");
    }

    #[test]
    fn a_learner_that_reads_nothing_stops_the_slicing_at_the_bound() {
        let tree = big_tree(3_000);
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut snap = SnapSend::start(&tree, &[], &tx).unwrap();
        let mut outcome = SliceOutcome::More;
        for _ in 0..1_000 {
            outcome = snap.slice(&tree, &tx);
            if outcome != SliceOutcome::More {
                break;
            }
        }
        assert_eq!(outcome, SliceOutcome::Blocked);
        assert!(matches!(snap.work(), SnapWork::Blocked(_)));
        // a blocked slice encodes nothing more
        assert_eq!(snap.slice(&tree, &tx), SliceOutcome::Blocked);
        let mut queued = Vec::new();
        while let Ok(out) = rx.try_recv() {
            queued.push(out);
        }
        let chunks = queued
            .iter()
            .filter(|o| matches!(o, Outgoing::Chunk(..)))
            .count();
        assert_eq!(chunks, CHUNKS_IN_FLIGHT);
        // one chunk written: room for exactly one more
        drop(queued.pop());
        assert_eq!(snap.slice(&tree, &tx), SliceOutcome::Blocked);
        assert_eq!(
            std::iter::from_fn(|| rx.try_recv().ok()).count(),
            1,
            "one more chunk"
        );
    }

    #[test]
    fn a_learner_gone_mid_snap_fails_the_job() {
        let tree = big_tree(2_000);
        let (tx, rx) = mpsc::unbounded_channel();
        let mut snap = SnapSend::start(&tree, &[], &tx).unwrap();
        drop(rx);
        let mut outcome = SliceOutcome::More;
        for _ in 0..1_000 {
            outcome = snap.slice(&tree, &tx);
            if outcome != SliceOutcome::More {
                break;
            }
        }
        assert_eq!(outcome, SliceOutcome::Failed);
    }
}
