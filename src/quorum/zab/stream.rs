//! The quorum port's byte stream: `QuorumPacket` records back to back with no length prefix
//! (`Learner` and `LearnerHandler` call `BinaryInputArchive#readRecord` on a buffered socket
//! stream), and the SNAP payload that follows a SNAP packet in the same stream
//! (`LearnerHandler#run`: `ZKDatabase#serializeSnapshot` then the string "BenWasHere";
//! `Learner#syncWithLeader` reads it back and checks the signature).
//!
//! Invariants: [`decode_packet`] never allocates for bytes that have not arrived: it first
//! walks the record's length fields, rejects any length the reference's
//! `BinaryInputArchive#checkLength` would reject (negative other than -1 for null, or above
//! `jute.maxbuffer` + extrasize), and only decodes once the whole record is buffered.
//! The SNAP reader consumes exactly the payload, never a byte of the packets after it.
//! [`SnapPayloadJob`] produces the same payload a bounded slice at a time from the live tree
//! (as 3.8's `LearnerHandler` serializes while the leader keeps applying): for a still tree
//! its bytes are [`write_snap_payload`]'s; otherwise the learner repairs it by replaying the
//! txns after the SNAP zxid, and its ACL map is the one as of that zxid (see
//! `persist::snapshot::SnapshotJob::start` for the ids nodes written later carry).

use std::io::{self, Read};

use bytes::{Buf, BytesMut};

use crate::jute::quorum::QuorumPacket;
use crate::jute::{DecodeError, Jute};
use crate::persist::snapshot::{self, SnapshotError, SnapshotJob, StepBudget, JUTE_MAX_BUFFER};
use crate::tree::{DataTree, TreeOptions};

/// The longest buffer or string `BinaryInputArchive#checkLength` accepts by default:
/// `jute.maxbuffer` plus `zookeeper.jute.maxbuffer.extrasize` (which defaults to the same).
pub const DEFAULT_MAX_ITEM: usize = 2 * JUTE_MAX_BUFFER;

/// The string after the SNAP payload (`LearnerHandler#run`, checked by `Learner`).
pub const SNAP_SIGNATURE: &str = "BenWasHere";

/// type(4) + zxid(8).
const FIXED_LEN: usize = 12;

#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// `BinaryInputArchive`'s "Unreasonable length" (the reference drops the connection).
    #[error("unreasonable length {len} for {what}")]
    UnreasonableLength { what: &'static str, len: i64 },
    #[error("undecodable quorum packet: {0}")]
    Decode(#[from] DecodeError),
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Walks the length fields from `at`: Ok(None) when more bytes are needed.
struct Scan<'a> {
    buf: &'a [u8],
    at: usize,
    max_item: usize,
}

impl Scan<'_> {
    fn int(&mut self) -> Option<i32> {
        let b = self.buf.get(self.at..self.at + 4)?;
        self.at += 4;
        Some(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A buffer or string: skips it, Ok(None) if it has not fully arrived.
    fn item(&mut self, what: &'static str) -> Result<Option<()>, StreamError> {
        let Some(len) = self.int() else {
            return Ok(None);
        };
        if len == -1 {
            return Ok(Some(()));
        }
        let n = usize::try_from(len)
            .ok()
            .filter(|n| *n <= self.max_item)
            .ok_or(StreamError::UnreasonableLength {
                what,
                len: i64::from(len),
            })?;
        if self.buf.len() - self.at < n {
            return Ok(None);
        }
        self.at += n;
        Ok(Some(()))
    }

    /// The whole record's length, once it is all in `buf`.
    fn record(&mut self) -> Result<Option<usize>, StreamError> {
        if self.buf.len() < FIXED_LEN {
            return Ok(None);
        }
        self.at = FIXED_LEN;
        if self.item("QuorumPacket.data")?.is_none() {
            return Ok(None);
        }
        let Some(count) = self.int() else {
            return Ok(None);
        };
        // Each Id is at least two 4-byte lengths: a count the cap could never hold is
        // refused now rather than waited for.
        if count < -1 || usize::try_from(count).is_ok_and(|c| c > self.max_item / 8) {
            return Err(StreamError::UnreasonableLength {
                what: "QuorumPacket.authinfo",
                len: i64::from(count),
            });
        }
        for _ in 0..count.max(0) {
            if self.item("Id.scheme")?.is_none() || self.item("Id.id")?.is_none() {
                return Ok(None);
            }
        }
        Ok(Some(self.at))
    }
}

/// Decode the packet at the front of `buf`: `Ok(None)` until all of it is there, else the
/// packet and how many bytes it took.
pub fn decode_packet(
    buf: &[u8],
    max_item: usize,
) -> Result<Option<(QuorumPacket, usize)>, StreamError> {
    let mut scan = Scan {
        buf,
        at: 0,
        max_item,
    };
    let Some(len) = scan.record()? else {
        return Ok(None);
    };
    let packet = QuorumPacket::from_bytes(&buf[..len])?;
    Ok(Some((packet, len)))
}

/// `tokio_util` codec for the quorum port (no framing: the record is its own frame). When a
/// SNAP packet comes out, the caller takes the bytes already buffered
/// (`FramedRead::read_buffer_mut`) and reads the payload with [`read_snap_payload`] from them
/// chained with the socket.
#[derive(Debug, Clone, Copy)]
pub struct QuorumCodec {
    pub max_item: usize,
}

impl Default for QuorumCodec {
    fn default() -> Self {
        QuorumCodec {
            max_item: DEFAULT_MAX_ITEM,
        }
    }
}

impl tokio_util::codec::Decoder for QuorumCodec {
    type Item = QuorumPacket;
    type Error = StreamError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<QuorumPacket>, StreamError> {
        match decode_packet(src, self.max_item)? {
            Some((packet, used)) => {
                src.advance(used);
                Ok(Some(packet))
            }
            None => Ok(None),
        }
    }
}

impl tokio_util::codec::Encoder<&QuorumPacket> for QuorumCodec {
    type Error = StreamError;

    fn encode(&mut self, item: &QuorumPacket, dst: &mut BytesMut) -> Result<(), StreamError> {
        item.encode(dst);
        Ok(())
    }
}

/// What a SNAP sync delivered.
#[derive(Debug)]
pub struct SnapPayload {
    /// Its last processed zxid is the SNAP packet's zxid (`Learner#syncWithLeader`).
    pub tree: DataTree,
    /// (session id, timeout ms), sorted by id.
    pub sessions: Vec<(i64, i32)>,
}

#[derive(Debug, thiserror::Error)]
pub enum SnapPayloadError {
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    /// `Learner#syncWithLeader`'s "Missing signature".
    #[error("missing signature after the SNAP payload: got {0:?}")]
    MissingSignature(String),
    #[error("reading the SNAP signature: {0}")]
    Io(#[from] io::Error),
}

/// Read the payload after a SNAP packet whose zxid was `zxid`, and its signature. Reads
/// exactly those bytes from `input`.
pub fn read_snap_payload<R: Read>(
    input: &mut R,
    zxid: i64,
    tree_options: TreeOptions,
) -> Result<SnapPayload, SnapPayloadError> {
    let (mut tree, sessions) = snapshot::read_snap_stream(input, tree_options)?;
    let mut len = [0u8; 4];
    input.read_exact(&mut len)?;
    let len = i32::from_be_bytes(len);
    // Anything but the 10-byte signature is wrong; read no more than that of it.
    let expected = SNAP_SIGNATURE.len();
    let got = match usize::try_from(len) {
        Ok(n) if n == expected => {
            let mut s = vec![0u8; n];
            input.read_exact(&mut s)?;
            String::from_utf8_lossy(&s).into_owned()
        }
        _ => format!("<string of length {len}>"),
    };
    if got != SNAP_SIGNATURE {
        return Err(SnapPayloadError::MissingSignature(got));
    }
    tree.set_last_processed_zxid(zxid);
    Ok(SnapPayload { tree, sessions })
}

/// The whole payload that follows a SNAP packet in one buffer: the tests' reference for
/// what [`SnapPayloadJob`] streams from a still tree.
#[cfg(test)]
pub(crate) fn write_snap_payload(
    tree: &DataTree,
    sessions: &[(i64, i32)],
    out: &mut Vec<u8>,
) -> io::Result<()> {
    snapshot::serialize_snap_stream(tree, sessions, out)?;
    put_signature(out);
    Ok(())
}

/// Write the signature that ends a SNAP payload.
fn put_signature(out: &mut Vec<u8>) {
    let sig = SNAP_SIGNATURE.as_bytes();
    out.extend_from_slice(&(sig.len() as i32).to_be_bytes());
    out.extend_from_slice(sig);
}

/// A SNAP payload in progress over the live tree: the head (sessions, ACL map) at the start,
/// node records a [`SnapPayloadJob::step`] at a time, then "/" and the signature.
#[derive(Debug)]
pub struct SnapPayloadJob {
    nodes: SnapshotJob,
}

impl SnapPayloadJob {
    /// Starts at the tree as it stands (its last processed zxid is the SNAP's): appends the
    /// payload's head to `out`.
    pub fn start(
        tree: &DataTree,
        sessions: &[(i64, i32)],
        out: &mut Vec<u8>,
    ) -> io::Result<SnapPayloadJob> {
        let (nodes, acls) = SnapshotJob::start(tree);
        snapshot::write_snap_stream_head(sessions, &acls, out)?;
        Ok(SnapPayloadJob { nodes })
    }

    /// The zxid the payload stands for; the learner replays the txns after it.
    pub fn zxid(&self) -> i64 {
        self.nodes.zxid()
    }

    /// Appends node records within `budget`; see [`SnapshotJob::step`].
    pub fn step(
        &mut self,
        tree: &DataTree,
        out: &mut Vec<u8>,
        budget: StepBudget,
    ) -> io::Result<usize> {
        self.nodes.step(tree, out, budget)
    }

    /// True once every node record is written: [`SnapPayloadJob::finish`] is next.
    pub fn is_done(&self) -> bool {
        self.nodes.is_done()
    }

    /// Appends the end of the nodes and the signature; returns (nodes written, nodes whose
    /// ACL id was newer than the map and went out as -1).
    pub fn finish(self, out: &mut Vec<u8>) -> (u64, u64) {
        snapshot::write_snap_stream_end(out);
        put_signature(out);
        (self.nodes.nodes_written(), self.nodes.acl_ids_replaced())
    }
}

#[cfg(test)]
#[path = "stream_tests.rs"]
mod tests;
