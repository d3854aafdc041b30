//! Decode dispatch shared by the `client_packet` fuzz target and the plain tests
//! (`tests/jute_fuzz_corpus.rs`, `tests/jute_golden.rs` include this file by path).
//!
//! It picks the request record by the RequestHeader's opcode the way
//! `ZooKeeperServer#processPacket` / `FinalRequestProcessor` do, and the reply record by the
//! request's opcode the way `ClientCnxn#readResponse` does. Every successful decode is
//! re-encoded and decoded again: the second decode must give the same value (decode is a
//! fixpoint after one round), which catches encoders and decoders that disagree. The one
//! exception is Java's own: a character outside the BMP does not survive a round trip.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::fmt::Debug;

use ferrokeeper::jute::codes::OpCode;
use ferrokeeper::jute::prim::finish;
use ferrokeeper::jute::proto::*;
use ferrokeeper::jute::txn::TxnEntry;
use ferrokeeper::jute::{DecodeError, Jute};

/// What a decode consumed and what re-encoding the decoded value gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Decoded {
    /// Bytes of the frame the record did not use.
    pub(crate) unused: usize,
    /// The decoded value(s), encoded again.
    pub(crate) reencoded: Vec<u8>,
}

/// An encoded UTF-16 surrogate (ED A0..BF): our encoder writes one only for a character
/// outside the BMP, as Java does.
fn has_encoded_surrogate(bytes: &[u8]) -> bool {
    bytes
        .windows(2)
        .any(|w| w[0] == 0xed && (0xa0..=0xbf).contains(&w[1]))
}

/// Decoding `reencoded` (the encoding of `value`) must give `value` back; the one exception
/// is Java's own: a character outside the BMP is written as two 3-byte surrogates and each
/// reads back as U+FFFD, so the first round trip loses it as 3.8 does, and from then on the
/// value is stable.
fn check_round_trip<T: PartialEq + Debug>(
    value: &T,
    reencoded: &[u8],
    encode: impl Fn(&T) -> Vec<u8>,
    decode: impl Fn(&[u8]) -> Result<T, DecodeError>,
) {
    let again =
        decode(reencoded).unwrap_or_else(|e| panic!("re-encoded {value:?} does not decode: {e}"));
    if again != *value {
        assert!(
            has_encoded_surrogate(reencoded),
            "decode(encode(v)) != v: {again:?} != {value:?}"
        );
        assert_eq!(
            decode(&encode(&again)).ok().as_ref(),
            Some(&again),
            "decode(encode(v)) is not stable after one round trip"
        );
    }
}

fn record<T: Jute + PartialEq + Debug>(input: &[u8]) -> Result<Decoded, DecodeError> {
    let (rest, value) = finish(T::decode(input))?;
    let reencoded = value.to_vec();
    check_round_trip(&value, &reencoded, T::to_vec, T::from_bytes);
    Ok(Decoded {
        unused: rest.len(),
        reencoded,
    })
}

fn header_then<H: Jute + PartialEq + Debug>(
    input: &[u8],
    body: impl FnOnce(&H, &[u8]) -> Result<Decoded, DecodeError>,
) -> Result<(H, Decoded), DecodeError> {
    let (rest, header) = finish(H::decode(input))?;
    let mut out = header.to_vec();
    let decoded = body(&header, rest)?;
    out.extend_from_slice(&decoded.reencoded);
    Ok((
        header,
        Decoded {
            unused: decoded.unused,
            reencoded: out,
        },
    ))
}

fn empty(input: &[u8]) -> Result<Decoded, DecodeError> {
    Ok(Decoded {
        unused: input.len(),
        reencoded: Vec::new(),
    })
}

/// The record a request of type `op` carries after its RequestHeader.
pub(crate) fn decode_request_body(op: OpCode, body: &[u8]) -> Result<Decoded, DecodeError> {
    match op {
        OpCode::CREATE | OpCode::CREATE2 | OpCode::CREATE_CONTAINER => {
            record::<CreateRequest>(body)
        }
        OpCode::CREATE_TTL => record::<CreateTtlRequest>(body),
        OpCode::DELETE => record::<DeleteRequest>(body),
        OpCode::EXISTS => record::<ExistsRequest>(body),
        OpCode::GET_DATA => record::<GetDataRequest>(body),
        OpCode::SET_DATA => record::<SetDataRequest>(body),
        OpCode::GET_ACL => record::<GetAclRequest>(body),
        OpCode::SET_ACL => record::<SetAclRequest>(body),
        OpCode::GET_CHILDREN | OpCode::GET_CHILDREN2 => record::<GetChildrenRequest>(body),
        OpCode::SYNC => record::<SyncRequest>(body),
        OpCode::CHECK => record::<CheckVersionRequest>(body),
        OpCode::MULTI | OpCode::MULTI_READ => record::<MultiRequest>(body),
        OpCode::RECONFIG => record::<ReconfigRequest>(body),
        OpCode::CHECK_WATCHES => record::<CheckWatchesRequest>(body),
        OpCode::REMOVE_WATCHES => record::<RemoveWatchesRequest>(body),
        OpCode::AUTH => record::<AuthPacket>(body),
        OpCode::SET_WATCHES => record::<SetWatches>(body),
        OpCode::SET_WATCHES2 => record::<SetWatches2>(body),
        OpCode::SASL => record::<GetSaslRequest>(body),
        OpCode::GET_EPHEMERALS => record::<GetEphemeralsRequest>(body),
        OpCode::GET_ALL_CHILDREN_NUMBER => record::<GetAllChildrenNumberRequest>(body),
        OpCode::ADD_WATCH => record::<AddWatchRequest>(body),
        OpCode::PING | OpCode::CLOSE_SESSION | OpCode::WHO_AM_I => empty(body),
        other => Err(DecodeError::UnknownValue {
            what: "request type",
            value: other.0,
        }),
    }
}

/// One client frame body after the handshake: RequestHeader, then the record its type names.
pub(crate) fn decode_request(frame: &[u8]) -> Result<(RequestHeader, Decoded), DecodeError> {
    header_then::<RequestHeader>(frame, |h, body| decode_request_body(h.op, body))
}

/// The record a successful reply to a request of type `op` carries after its ReplyHeader.
pub(crate) fn decode_reply_body(op: OpCode, body: &[u8]) -> Result<Decoded, DecodeError> {
    match op {
        OpCode::CREATE | OpCode::CREATE_CONTAINER => record::<CreateResponse>(body),
        OpCode::CREATE2 | OpCode::CREATE_TTL => record::<Create2Response>(body),
        OpCode::EXISTS => record::<ExistsResponse>(body),
        OpCode::GET_DATA => record::<GetDataResponse>(body),
        OpCode::SET_DATA => record::<SetDataResponse>(body),
        OpCode::GET_ACL => record::<GetAclResponse>(body),
        OpCode::SET_ACL => record::<SetAclResponse>(body),
        OpCode::GET_CHILDREN => record::<GetChildrenResponse>(body),
        OpCode::GET_CHILDREN2 => record::<GetChildren2Response>(body),
        OpCode::SYNC => record::<SyncResponse>(body),
        OpCode::MULTI | OpCode::MULTI_READ => record::<MultiResponse>(body),
        OpCode::SASL => record::<SetSaslResponse>(body),
        OpCode::GET_EPHEMERALS => record::<GetEphemeralsResponse>(body),
        OpCode::GET_ALL_CHILDREN_NUMBER => record::<GetAllChildrenNumberResponse>(body),
        OpCode::WHO_AM_I => record::<WhoAmIResponse>(body),
        OpCode::NOTIFICATION => record::<WatcherEvent>(body),
        _ => empty(body),
    }
}

/// One server frame body after the handshake, answering a request of type `op` (xid -1 is a
/// WatcherEvent whatever `op` says). Error replies carry no record except for multi, whose
/// MultiResponse holds the per-op errors.
pub(crate) fn decode_reply(
    op: OpCode,
    frame: &[u8],
) -> Result<(ReplyHeader, Decoded), DecodeError> {
    header_then::<ReplyHeader>(frame, |h, body| {
        if h.xid == ferrokeeper::jute::codes::xid::NOTIFICATION {
            decode_reply_body(OpCode::NOTIFICATION, body)
        } else if h.err.0 != 0 && op != OpCode::MULTI && op != OpCode::MULTI_READ {
            empty(body)
        } else {
            decode_reply_body(op, body)
        }
    })
}

/// Everything the fuzz target tries on one input; only panics matter.
pub(crate) fn decode_everything(data: &[u8]) {
    let _ = decode_request(data);
    let _ = record::<ConnectRequest>(data);
    let _ = record::<ConnectResponse>(data);
    if let Ok(entry) = TxnEntry::from_bytes(data) {
        check_round_trip(
            &entry,
            &entry.to_vec(),
            TxnEntry::to_vec,
            TxnEntry::from_bytes,
        );
    }
    if let Some((&selector, rest)) = data.split_first() {
        // let the fuzzer pick which reply shape to read the rest as
        let _ = decode_reply(OpCode(i32::from(selector % 24)), rest);
        let _ = decode_reply(OpCode(i32::from(selector % 8) + 100), rest);
    }
}
