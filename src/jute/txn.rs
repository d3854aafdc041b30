//! `module org.apache.zookeeper.txn` of zookeeper.jute: the records the txn log holds, and
//! [`TxnBody`], the typed txn that `SerializeUtils.deserializeTxn` picks by the header's type.

use bytes::{BufMut, Bytes};

use super::codes::OpCode;
use super::data::Acl;
use super::prim::{fail, DecodeError, JResult, Jute};
use crate::jute_record;

jute_record! {
    pub struct TxnDigest {
        pub version: i32,
        pub tree_digest: i64,
    }
}

jute_record! {
    pub struct TxnHeader {
        pub client_id: i64,
        pub cxid: i32,
        pub zxid: i64,
        pub time: i64,
        pub op: OpCode,
    }
}

jute_record! {
    pub struct CreateTxnV0 {
        pub path: String,
        pub data: Option<Bytes>,
        pub acl: Vec<Acl>,
        pub ephemeral: bool,
    }
}

jute_record! {
    pub struct CreateTxn {
        pub path: String,
        pub data: Option<Bytes>,
        pub acl: Vec<Acl>,
        pub ephemeral: bool,
        pub parent_cversion: i32,
    }
}

jute_record! {
    pub struct CreateTtlTxn {
        pub path: String,
        pub data: Option<Bytes>,
        pub acl: Vec<Acl>,
        pub parent_cversion: i32,
        pub ttl: i64,
    }
}

jute_record! {
    pub struct CreateContainerTxn {
        pub path: String,
        pub data: Option<Bytes>,
        pub acl: Vec<Acl>,
        pub parent_cversion: i32,
    }
}

jute_record! {
    pub struct DeleteTxn {
        pub path: String,
    }
}

jute_record! {
    pub struct SetDataTxn {
        pub path: String,
        pub data: Option<Bytes>,
        pub version: i32,
    }
}

jute_record! {
    pub struct CheckVersionTxn {
        pub path: String,
        pub version: i32,
    }
}

jute_record! {
    pub struct SetAclTxn {
        pub path: String,
        pub acl: Vec<Acl>,
        pub version: i32,
    }
}

jute_record! {
    pub struct CreateSessionTxn {
        pub time_out: i32,
    }
}

jute_record! {
    pub struct CloseSessionTxn {
        pub paths2_delete: Vec<String>,
    }
}

jute_record! {
    pub struct ErrorTxn {
        pub err: i32,
    }
}

jute_record! {
    /// One sub-txn of a MultiTxn: its opcode and its serialized record.
    pub struct Txn {
        pub op: OpCode,
        pub data: Bytes,
    }
}

jute_record! {
    pub struct MultiTxn {
        pub txns: Vec<Txn>,
    }
}

/// A txn record, typed by the opcode of its TxnHeader (or of its `Txn` inside a multi).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxnBody {
    CreateSession(CreateSessionTxn),
    /// `None` when the log predates `closeSessionTxn.enabled` (no record after the header).
    CloseSession(Option<CloseSessionTxn>),
    /// create or create2; a pre-3.3 log may hold the V0 form.
    Create(CreateTxn),
    CreateV0(CreateTxnV0),
    CreateTtl(CreateTtlTxn),
    CreateContainer(CreateContainerTxn),
    /// delete or deleteContainer.
    Delete(DeleteTxn),
    /// setData or reconfig.
    SetData(SetDataTxn),
    SetAcl(SetAclTxn),
    Check(CheckVersionTxn),
    Error(ErrorTxn),
    Multi(Vec<(OpCode, TxnBody)>),
}

impl TxnBody {
    /// Decode the record that follows a header of type `op`.
    pub fn decode_for(op: OpCode, input: &[u8]) -> JResult<'_, TxnBody> {
        match op {
            OpCode::CREATE_SESSION => {
                CreateSessionTxn::decode(input).map(|(r, t)| (r, TxnBody::CreateSession(t)))
            }
            OpCode::CLOSE_SESSION => {
                if input.is_empty() {
                    Ok((input, TxnBody::CloseSession(None)))
                } else {
                    CloseSessionTxn::decode(input).map(|(r, t)| (r, TxnBody::CloseSession(Some(t))))
                }
            }
            OpCode::CREATE | OpCode::CREATE2 => match CreateTxn::decode(input) {
                Ok((r, t)) => Ok((r, TxnBody::Create(t))),
                // `SerializeUtils.deserializeTxn` falls back to CreateTxnV0 on EOF.
                Err(_) => CreateTxnV0::decode(input).map(|(r, t)| (r, TxnBody::CreateV0(t))),
            },
            OpCode::CREATE_TTL => {
                CreateTtlTxn::decode(input).map(|(r, t)| (r, TxnBody::CreateTtl(t)))
            }
            OpCode::CREATE_CONTAINER => {
                CreateContainerTxn::decode(input).map(|(r, t)| (r, TxnBody::CreateContainer(t)))
            }
            OpCode::DELETE | OpCode::DELETE_CONTAINER => {
                DeleteTxn::decode(input).map(|(r, t)| (r, TxnBody::Delete(t)))
            }
            OpCode::SET_DATA | OpCode::RECONFIG => {
                SetDataTxn::decode(input).map(|(r, t)| (r, TxnBody::SetData(t)))
            }
            OpCode::SET_ACL => SetAclTxn::decode(input).map(|(r, t)| (r, TxnBody::SetAcl(t))),
            OpCode::CHECK => CheckVersionTxn::decode(input).map(|(r, t)| (r, TxnBody::Check(t))),
            OpCode::ERROR => ErrorTxn::decode(input).map(|(r, t)| (r, TxnBody::Error(t))),
            OpCode::MULTI => {
                let (rest, multi) = MultiTxn::decode(input)?;
                let mut subs = Vec::with_capacity(multi.txns.len());
                for txn in &multi.txns {
                    if txn.op == OpCode::MULTI {
                        return fail(DecodeError::Malformed("nested multi txn"));
                    }
                    let (_, body) = TxnBody::decode_for(txn.op, &txn.data)
                        .map_err(|e| e.map(|_| DecodeError::Malformed("bad sub-txn of multi")))?;
                    subs.push((txn.op, body));
                }
                Ok((rest, TxnBody::Multi(subs)))
            }
            other => fail(DecodeError::UnknownValue {
                what: "txn type",
                value: other.0,
            }),
        }
    }

    /// Roughly the encoded size (an upper bound for the common records), so a txn is
    /// encoded into one allocation instead of a buffer grown several times.
    pub fn size_hint(&self) -> usize {
        fn acl_len(acl: &[Acl]) -> usize {
            4 + acl
                .iter()
                .map(|a| 12 + a.id.scheme.len() + a.id.id.len())
                .sum::<usize>()
        }
        fn data_len(data: &Option<Bytes>) -> usize {
            4 + data.as_ref().map_or(0, |d| d.len())
        }
        match self {
            TxnBody::Create(t) => 16 + t.path.len() + data_len(&t.data) + acl_len(&t.acl),
            TxnBody::CreateTtl(t) => 24 + t.path.len() + data_len(&t.data) + acl_len(&t.acl),
            TxnBody::CreateContainer(t) => 16 + t.path.len() + data_len(&t.data) + acl_len(&t.acl),
            TxnBody::SetData(t) => 12 + t.path.len() + data_len(&t.data),
            TxnBody::SetAcl(t) => 12 + t.path.len() + acl_len(&t.acl),
            TxnBody::Delete(t) => 8 + t.path.len(),
            TxnBody::Multi(subs) => 8 + subs.iter().map(|(_, b)| 12 + b.size_hint()).sum::<usize>(),
            _ => 64,
        }
    }

    pub fn encode<B: BufMut>(&self, out: &mut B) {
        match self {
            TxnBody::CreateSession(t) => t.encode(out),
            TxnBody::CloseSession(t) => {
                if let Some(t) = t {
                    t.encode(out)
                }
            }
            TxnBody::Create(t) => t.encode(out),
            TxnBody::CreateV0(t) => t.encode(out),
            TxnBody::CreateTtl(t) => t.encode(out),
            TxnBody::CreateContainer(t) => t.encode(out),
            TxnBody::Delete(t) => t.encode(out),
            TxnBody::SetData(t) => t.encode(out),
            TxnBody::SetAcl(t) => t.encode(out),
            TxnBody::Check(t) => t.encode(out),
            TxnBody::Error(t) => t.encode(out),
            TxnBody::Multi(subs) => {
                let txns = subs
                    .iter()
                    .map(|(op, body)| {
                        let mut data = Vec::with_capacity(body.size_hint());
                        body.encode(&mut data);
                        Txn {
                            op: *op,
                            data: Bytes::from(data),
                        }
                    })
                    .collect();
                MultiTxn { txns }.encode(out)
            }
        }
    }
}

/// A whole txn as the log and PROPOSAL packets carry it: header, record, optional digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnEntry {
    pub header: TxnHeader,
    pub body: TxnBody,
    pub digest: Option<TxnDigest>,
}

impl TxnEntry {
    pub fn encode<B: BufMut>(&self, out: &mut B) {
        self.header.encode(out);
        self.body.encode(out);
        if let Some(d) = &self.digest {
            d.encode(out);
        }
    }

    pub fn to_vec(&self) -> Vec<u8> {
        // header 28, digest 12
        let mut v = Vec::with_capacity(40 + self.body.size_hint());
        self.encode(&mut v);
        v
    }

    /// Decode a whole txn; a digest is read when bytes remain after the record. Bytes after
    /// the digest are ignored, as the reference's readers ignore them.
    pub fn from_bytes(input: &[u8]) -> Result<TxnEntry, DecodeError> {
        TxnEntry::decode_counted(input).map(|(_, e)| e)
    }

    /// [`TxnEntry::from_bytes`] and how many bytes the txn took.
    fn decode_counted(input: &[u8]) -> Result<(usize, TxnEntry), DecodeError> {
        let r = (|| {
            let (rest, header) = TxnHeader::decode(input)?;
            let (rest, body) = TxnBody::decode_for(header.op, rest)?;
            let (rest, digest) = if rest.is_empty() {
                (rest, None)
            } else {
                let (i, d) = TxnDigest::decode(rest)?;
                (i, Some(d))
            };
            Ok((
                rest,
                TxnEntry {
                    header,
                    body,
                    digest,
                },
            ))
        })();
        super::prim::finish(r).map(|(rest, e)| (input.len() - rest.len(), e))
    }
}

/// A txn together with the one encoding every node logs and sends: the bytes a leader puts
/// in its PROPOSAL, a learner logs as they arrived, and both append to their txn logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedTxn {
    txn: TxnEntry,
    bytes: Bytes,
}

impl EncodedTxn {
    /// Encode `txn` (the only encoding it gets).
    pub fn encode(txn: TxnEntry) -> EncodedTxn {
        let bytes = Bytes::from(txn.to_vec());
        EncodedTxn { txn, bytes }
    }

    /// Decode a PROPOSAL's or INFORM's data, keeping the bytes the txn took (without any
    /// trailing ones, which a re-encode would drop too).
    pub fn decode(bytes: Bytes) -> Result<EncodedTxn, DecodeError> {
        let (len, txn) = TxnEntry::decode_counted(&bytes)?;
        Ok(EncodedTxn {
            txn,
            bytes: bytes.slice(..len),
        })
    }

    /// `txn` with `bytes`, the encoding it was decoded from (a txn read back from a log).
    pub(crate) fn decoded_from(txn: TxnEntry, bytes: Bytes) -> EncodedTxn {
        EncodedTxn { txn, bytes }
    }

    pub fn txn(&self) -> &TxnEntry {
        &self.txn
    }

    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }

    pub fn zxid(&self) -> i64 {
        self.txn.header.zxid
    }

    pub fn into_txn(self) -> TxnEntry {
        self.txn
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_txn_round_trip() {
        let entry = TxnEntry {
            header: TxnHeader {
                client_id: 7,
                cxid: 3,
                zxid: 0x1_0000_0002,
                time: 1,
                op: OpCode::MULTI,
            },
            body: TxnBody::Multi(vec![
                (
                    OpCode::CREATE,
                    TxnBody::Create(CreateTxn {
                        path: "/a".into(),
                        data: Some(Bytes::from_static(b"x")),
                        acl: Acl::open_unsafe(),
                        ephemeral: false,
                        parent_cversion: 1,
                    }),
                ),
                (OpCode::ERROR, TxnBody::Error(ErrorTxn { err: -101 })),
            ]),
            digest: Some(TxnDigest {
                version: 2,
                tree_digest: 42,
            }),
        };
        assert_eq!(TxnEntry::from_bytes(&entry.to_vec()), Ok(entry.clone()));

        // a received txn keeps the bytes it took, not what follows its digest
        let entry = TxnEntry {
            digest: Some(TxnDigest {
                version: 2,
                tree_digest: 5,
            }),
            ..entry
        };
        let encoded = EncodedTxn::encode(entry.clone());
        let mut wire = encoded.bytes()[..].to_owned();
        wire.extend_from_slice(&[0xde, 0xad]);
        let received = EncodedTxn::decode(Bytes::from(wire)).unwrap();
        assert_eq!(received.bytes(), encoded.bytes());
        assert_eq!(received.txn(), &entry);
    }
}
