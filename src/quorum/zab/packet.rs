//! The `QuorumPacket` types of `Leader` (REQUEST = 1 … INFORMANDACTIVATE = 19) and a typed view
//! of each payload, as `Leader`, `LearnerHandler`, `Learner`, `Follower` and `Observer` write
//! and read them.
//!
//! Payloads that are not Jute records are raw `DataOutputStream` bytes (big-endian longs and
//! ints, one-byte booleans). [`ZabMessage::to_packet`] writes exactly what the reference
//! writes, null `data` and `authinfo` included, so `to_packet(parse(p)) == p` for every
//! packet the reference sends (checked against captures in `tests/quorum_zab_wire.rs`).
//!
//! Invariants: parsing never panics; a payload too short for its type is an error; bytes past
//! what the reference reads are ignored, as `DataInputStream` does.

use bytes::{BufMut, Bytes};

use crate::jute::codes::OpCode;
use crate::jute::data::Id;
use crate::jute::quorum::{LearnerInfo, QuorumPacket};
use crate::jute::txn::{EncodedTxn, TxnEntry};
use crate::jute::{DecodeError, Jute};

/// `Leader`'s packet type constants; unknown values survive a decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct QuorumPacketType(pub i32);

macro_rules! packet_types {
    ($($name:ident = $v:expr),* $(,)?) => {
        impl QuorumPacketType {
            $(pub const $name: QuorumPacketType = QuorumPacketType($v);)*

            /// The reference's constant name (`LearnerHandler#packetToString`), if known.
            pub fn name(self) -> Option<&'static str> {
                match self.0 {
                    $($v => Some(stringify!($name)),)*
                    _ => None,
                }
            }
        }
    };
}

packet_types! {
    REQUEST = 1,
    PROPOSAL = 2,
    ACK = 3,
    COMMIT = 4,
    PING = 5,
    REVALIDATE = 6,
    SYNC = 7,
    INFORM = 8,
    COMMITANDACTIVATE = 9,
    NEWLEADER = 10,
    FOLLOWERINFO = 11,
    UPTODATE = 12,
    DIFF = 13,
    TRUNC = 14,
    SNAP = 15,
    OBSERVERINFO = 16,
    LEADERINFO = 17,
    ACKEPOCH = 18,
    INFORMANDACTIVATE = 19,
}

/// The Zab 1.0 protocol version in LEADERINFO and `LearnerInfo` (`Leader`: 0x10000).
pub const PROTOCOL_VERSION: i32 = 0x10000;

/// Who sent a packet: PING and REVALIDATE carry different payloads each way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sender {
    Leader,
    Learner,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    #[error("unknown quorum packet type {0}")]
    UnknownType(i32),
    #[error("{what}: payload too short ({len} bytes)")]
    Short { what: &'static str, len: usize },
    #[error("{what}: {source}")]
    Record {
        what: &'static str,
        source: DecodeError,
    },
}

/// A client request a learner forwards (`Learner#request`): data = long sessionId, int cxid,
/// int type, the request record's bytes; authinfo = the client connection's auth ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LearnerRequest {
    pub session_id: i64,
    pub cxid: i32,
    pub op: OpCode,
    pub request: Bytes,
    pub authinfo: Option<Vec<Id>>,
}

/// One entry of a learner's PING reply (`Learner#ping`: `getTouchSnapshot`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionTouch {
    pub session_id: i64,
    pub timeout: i32,
}

/// A typed QuorumPacket. `zxid` is kept on every variant so a re-encode is exact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ZabMessage {
    /// zxid -1.
    Request(LearnerRequest),
    /// TxnHeader + record + optional TxnDigest (`Util#marshallTxnEntry`).
    Proposal {
        zxid: i64,
        txn: EncodedTxn,
    },
    Ack {
        zxid: i64,
    },
    Commit {
        zxid: i64,
    },
    /// Leader → learner: the last proposed zxid, no data.
    Ping {
        zxid: i64,
    },
    /// Learner → leader: the leader's PING echoed with the session touch table (possibly
    /// empty, never null) and the leader's authinfo.
    PingReply {
        zxid: i64,
        touches: Vec<SessionTouch>,
        authinfo: Option<Vec<Id>>,
    },
    /// Learner → leader (`Learner#validateSession`): zxid -1.
    Revalidate {
        zxid: i64,
        session_id: i64,
        timeout: i32,
    },
    /// Leader → learner (`Leader#revalidateSession` answers on the same packet).
    RevalidateAnswer {
        zxid: i64,
        session_id: i64,
        valid: bool,
    },
    /// Completes a forwarded sync (`Leader#sendSync`: zxid 0).
    Sync {
        zxid: i64,
    },
    /// Leader → observer: proposal and commit in one.
    Inform {
        zxid: i64,
        txn: EncodedTxn,
    },
    /// A reconfig commit: data = long suggested leader id.
    CommitAndActivate {
        zxid: i64,
        suggested_leader_id: i64,
    },
    /// zxid = the new epoch's first zxid; data = the quorum verifier's text (null before
    /// protocol 0x10000).
    NewLeader {
        zxid: i64,
        config: Option<Bytes>,
    },
    /// zxid = makeZxid(acceptedEpoch, 0).
    FollowerInfo {
        zxid: i64,
        info: LearnerInfo,
    },
    ObserverInfo {
        zxid: i64,
        info: LearnerInfo,
    },
    /// zxid -1.
    UpToDate {
        zxid: i64,
    },
    Diff {
        zxid: i64,
    },
    Trunc {
        zxid: i64,
    },
    /// Followed in the stream by the snapshot payload ([`super::stream`]).
    Snap {
        zxid: i64,
    },
    /// zxid = makeZxid(newEpoch, 0); data = int protocol version.
    LeaderInfo {
        zxid: i64,
        protocol_version: i32,
    },
    /// zxid = the learner's last logged zxid; data = int current epoch, or -1 when it had
    /// already accepted this epoch (`Learner#registerWithLeader`).
    AckEpoch {
        zxid: i64,
        current_epoch: i32,
    },
    /// Leader → observer reconfig: long suggested leader id + txn.
    InformAndActivate {
        zxid: i64,
        suggested_leader_id: i64,
        txn: TxnEntry,
    },
}

fn data_of<'a>(
    p: &'a QuorumPacket,
    what: &'static str,
    min: usize,
) -> Result<&'a [u8], PacketError> {
    let d = p.data.as_deref().unwrap_or_default();
    if d.len() < min {
        return Err(PacketError::Short { what, len: d.len() });
    }
    Ok(d)
}

fn be_i64(b: &[u8]) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    i64::from_be_bytes(a)
}

fn be_i32(b: &[u8]) -> i32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[..4]);
    i32::from_be_bytes(a)
}

fn txn_of(bytes: &[u8], what: &'static str) -> Result<TxnEntry, PacketError> {
    TxnEntry::from_bytes(bytes).map_err(|source| PacketError::Record { what, source })
}

/// A PROPOSAL's or INFORM's txn, keeping the bytes the leader encoded it to.
fn encoded_txn_of(p: &QuorumPacket, what: &'static str) -> Result<EncodedTxn, PacketError> {
    EncodedTxn::decode(p.data.clone().unwrap_or_default())
        .map_err(|source| PacketError::Record { what, source })
}

fn touches_of(d: &[u8]) -> Vec<SessionTouch> {
    // `LearnerHandler#run` reads pairs while bytes remain; a ragged tail would throw EOF
    // there, here it is dropped.
    d.chunks_exact(12)
        .map(|c| SessionTouch {
            session_id: be_i64(c),
            timeout: be_i32(&c[8..]),
        })
        .collect()
}

impl ZabMessage {
    /// Type the packet `p` that `from` sent.
    pub fn parse(p: &QuorumPacket, from: Sender) -> Result<ZabMessage, PacketError> {
        let zxid = p.zxid;
        let t = QuorumPacketType(p.packet_type);
        Ok(match t {
            QuorumPacketType::REQUEST => {
                let d = data_of(p, "REQUEST", 16)?;
                ZabMessage::Request(LearnerRequest {
                    session_id: be_i64(d),
                    cxid: be_i32(&d[8..]),
                    op: OpCode(be_i32(&d[12..])),
                    request: Bytes::copy_from_slice(&d[16..]),
                    authinfo: p.authinfo.clone(),
                })
            }
            QuorumPacketType::PROPOSAL => ZabMessage::Proposal {
                zxid,
                txn: encoded_txn_of(p, "PROPOSAL")?,
            },
            QuorumPacketType::INFORM => ZabMessage::Inform {
                zxid,
                txn: encoded_txn_of(p, "INFORM")?,
            },
            QuorumPacketType::ACK => ZabMessage::Ack { zxid },
            QuorumPacketType::COMMIT => ZabMessage::Commit { zxid },
            QuorumPacketType::PING => match from {
                Sender::Leader => ZabMessage::Ping { zxid },
                Sender::Learner => ZabMessage::PingReply {
                    zxid,
                    touches: touches_of(data_of(p, "PING", 0)?),
                    authinfo: p.authinfo.clone(),
                },
            },
            QuorumPacketType::REVALIDATE => match from {
                Sender::Learner => {
                    let d = data_of(p, "REVALIDATE", 12)?;
                    ZabMessage::Revalidate {
                        zxid,
                        session_id: be_i64(d),
                        timeout: be_i32(&d[8..]),
                    }
                }
                Sender::Leader => {
                    let d = data_of(p, "REVALIDATE", 9)?;
                    ZabMessage::RevalidateAnswer {
                        zxid,
                        session_id: be_i64(d),
                        valid: d[8] != 0,
                    }
                }
            },
            QuorumPacketType::SYNC => ZabMessage::Sync { zxid },
            QuorumPacketType::COMMITANDACTIVATE => ZabMessage::CommitAndActivate {
                zxid,
                suggested_leader_id: be_i64(data_of(p, "COMMITANDACTIVATE", 8)?),
            },
            QuorumPacketType::NEWLEADER => ZabMessage::NewLeader {
                zxid,
                config: p.data.clone(),
            },
            QuorumPacketType::FOLLOWERINFO | QuorumPacketType::OBSERVERINFO => {
                let d = data_of(p, "LearnerInfo", 0)?;
                let info = LearnerInfo::from_bytes(d).map_err(|source| PacketError::Record {
                    what: "LearnerInfo",
                    source,
                })?;
                if t == QuorumPacketType::FOLLOWERINFO {
                    ZabMessage::FollowerInfo { zxid, info }
                } else {
                    ZabMessage::ObserverInfo { zxid, info }
                }
            }
            QuorumPacketType::UPTODATE => ZabMessage::UpToDate { zxid },
            QuorumPacketType::DIFF => ZabMessage::Diff { zxid },
            QuorumPacketType::TRUNC => ZabMessage::Trunc { zxid },
            QuorumPacketType::SNAP => ZabMessage::Snap { zxid },
            QuorumPacketType::LEADERINFO => ZabMessage::LeaderInfo {
                zxid,
                protocol_version: be_i32(data_of(p, "LEADERINFO", 4)?),
            },
            QuorumPacketType::ACKEPOCH => ZabMessage::AckEpoch {
                zxid,
                current_epoch: be_i32(data_of(p, "ACKEPOCH", 4)?),
            },
            QuorumPacketType::INFORMANDACTIVATE => {
                let d = data_of(p, "INFORMANDACTIVATE", 8)?;
                ZabMessage::InformAndActivate {
                    zxid,
                    suggested_leader_id: be_i64(d),
                    txn: txn_of(&d[8..], "INFORMANDACTIVATE")?,
                }
            }
            other => return Err(PacketError::UnknownType(other.0)),
        })
    }

    pub fn packet_type(&self) -> QuorumPacketType {
        use ZabMessage as M;
        match self {
            M::Request(_) => QuorumPacketType::REQUEST,
            M::Proposal { .. } => QuorumPacketType::PROPOSAL,
            M::Ack { .. } => QuorumPacketType::ACK,
            M::Commit { .. } => QuorumPacketType::COMMIT,
            M::Ping { .. } | M::PingReply { .. } => QuorumPacketType::PING,
            M::Revalidate { .. } | M::RevalidateAnswer { .. } => QuorumPacketType::REVALIDATE,
            M::Sync { .. } => QuorumPacketType::SYNC,
            M::Inform { .. } => QuorumPacketType::INFORM,
            M::CommitAndActivate { .. } => QuorumPacketType::COMMITANDACTIVATE,
            M::NewLeader { .. } => QuorumPacketType::NEWLEADER,
            M::FollowerInfo { .. } => QuorumPacketType::FOLLOWERINFO,
            M::ObserverInfo { .. } => QuorumPacketType::OBSERVERINFO,
            M::UpToDate { .. } => QuorumPacketType::UPTODATE,
            M::Diff { .. } => QuorumPacketType::DIFF,
            M::Trunc { .. } => QuorumPacketType::TRUNC,
            M::Snap { .. } => QuorumPacketType::SNAP,
            M::LeaderInfo { .. } => QuorumPacketType::LEADERINFO,
            M::AckEpoch { .. } => QuorumPacketType::ACKEPOCH,
            M::InformAndActivate { .. } => QuorumPacketType::INFORMANDACTIVATE,
        }
    }

    /// The packet's zxid field (-1 for a REQUEST).
    pub fn zxid(&self) -> i64 {
        use ZabMessage as M;
        match self {
            M::Request(_) => -1,
            M::Proposal { zxid, .. }
            | M::Ack { zxid }
            | M::Commit { zxid }
            | M::Ping { zxid }
            | M::PingReply { zxid, .. }
            | M::Revalidate { zxid, .. }
            | M::RevalidateAnswer { zxid, .. }
            | M::Sync { zxid }
            | M::Inform { zxid, .. }
            | M::CommitAndActivate { zxid, .. }
            | M::NewLeader { zxid, .. }
            | M::FollowerInfo { zxid, .. }
            | M::ObserverInfo { zxid, .. }
            | M::UpToDate { zxid }
            | M::Diff { zxid }
            | M::Trunc { zxid }
            | M::Snap { zxid }
            | M::LeaderInfo { zxid, .. }
            | M::AckEpoch { zxid, .. }
            | M::InformAndActivate { zxid, .. } => *zxid,
        }
    }

    /// The packet the reference would send for this message.
    pub fn to_packet(&self) -> QuorumPacket {
        use ZabMessage as M;
        let mut authinfo = None;
        let data: Option<Bytes> = match self {
            M::Request(r) => {
                authinfo = r.authinfo.clone();
                let mut d = Vec::with_capacity(16 + r.request.len());
                d.put_i64(r.session_id);
                d.put_i32(r.cxid);
                d.put_i32(r.op.0);
                d.put_slice(&r.request);
                Some(d.into())
            }
            M::Proposal { txn, .. } | M::Inform { txn, .. } => Some(txn.bytes().clone()),
            M::PingReply {
                touches,
                authinfo: a,
                ..
            } => {
                authinfo = a.clone();
                let mut d = Vec::with_capacity(12 * touches.len());
                for t in touches {
                    d.put_i64(t.session_id);
                    d.put_i32(t.timeout);
                }
                Some(d.into())
            }
            M::Revalidate {
                session_id,
                timeout,
                ..
            } => Some(
                [&session_id.to_be_bytes()[..], &timeout.to_be_bytes()]
                    .concat()
                    .into(),
            ),
            M::RevalidateAnswer {
                session_id, valid, ..
            } => Some(
                [&session_id.to_be_bytes()[..], &[u8::from(*valid)]]
                    .concat()
                    .into(),
            ),
            M::CommitAndActivate {
                suggested_leader_id,
                ..
            } => Some(Bytes::copy_from_slice(&suggested_leader_id.to_be_bytes())),
            M::NewLeader { config, .. } => config.clone(),
            M::FollowerInfo { info, .. } | M::ObserverInfo { info, .. } => {
                Some(info.to_vec().into())
            }
            M::LeaderInfo {
                protocol_version, ..
            } => Some(Bytes::copy_from_slice(&protocol_version.to_be_bytes())),
            M::AckEpoch { current_epoch, .. } => {
                Some(Bytes::copy_from_slice(&current_epoch.to_be_bytes()))
            }
            M::InformAndActivate {
                suggested_leader_id,
                txn,
                ..
            } => {
                let mut d = suggested_leader_id.to_be_bytes().to_vec();
                txn.encode(&mut d);
                Some(d.into())
            }
            M::Ack { .. }
            | M::Commit { .. }
            | M::Ping { .. }
            | M::Sync { .. }
            | M::UpToDate { .. }
            | M::Diff { .. }
            | M::Trunc { .. }
            | M::Snap { .. } => None,
        };
        QuorumPacket {
            packet_type: self.packet_type().0,
            zxid: self.zxid(),
            data,
            authinfo,
        }
    }
}

#[cfg(test)]
#[path = "packet_tests.rs"]
mod tests;
