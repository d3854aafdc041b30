//! Reply frames: a 4-byte length, the ReplyHeader, and the body record (omitted on error,
//! as `ServerCnxn#sendResponse` is called with a null record whenever an op fails).

use bytes::{BufMut, Bytes, BytesMut};

use crate::jute::codes::{xid, ErrorCode, KeeperState};
use crate::jute::proto::{ConnectResponse, ReplyHeader, WatcherEvent};
use crate::jute::Jute;

/// What `FinalRequestProcessor` hands `ServerCnxn#sendResponse`: the ReplyHeader's err and the
/// record after it. The record is null on almost every error; a multiRead that meets a write
/// op is the exception (its `MultiResponse` was built before the op threw).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub err: ErrorCode,
    pub body: Option<Vec<u8>>,
}

impl From<Result<Vec<u8>, ErrorCode>> for Answer {
    fn from(result: Result<Vec<u8>, ErrorCode>) -> Self {
        match result {
            Ok(body) => Answer {
                err: ErrorCode::OK,
                body: Some(body),
            },
            Err(err) => Answer { err, body: None },
        }
    }
}

/// What goes onto a connection's outbound queue.
#[derive(Debug, Clone)]
pub enum Outbound {
    Frame(Bytes),
    /// Flush what is queued, then close (closeSession, Unimplemented, auth failure, expiry).
    Close,
}

fn framed(write: impl FnOnce(&mut BytesMut)) -> Bytes {
    let mut buf = BytesMut::with_capacity(64);
    buf.put_i32(0);
    write(&mut buf);
    let len = i32::try_from(buf.len() - 4).unwrap_or(i32::MAX);
    buf[..4].copy_from_slice(&len.to_be_bytes());
    buf.freeze()
}

/// A reply with a body record.
pub fn reply<T: Jute>(xid: i32, zxid: i64, body: &T) -> Bytes {
    framed(|buf| {
        ReplyHeader {
            xid,
            zxid,
            err: ErrorCode::OK,
        }
        .encode(buf);
        body.encode(buf);
    })
}

/// A header-only reply (errors, and ops whose success has no body).
pub fn reply_header(xid: i32, zxid: i64, err: ErrorCode) -> Bytes {
    framed(|buf| ReplyHeader { xid, zxid, err }.encode(buf))
}

/// A header followed by already-encoded body bytes.
pub fn reply_raw(xid: i32, zxid: i64, err: ErrorCode, body: &[u8]) -> Bytes {
    framed(|buf| {
        ReplyHeader { xid, zxid, err }.encode(buf);
        buf.put_slice(body);
    })
}

/// A watch notification; 3.8 stamps it with zxid -1 (`NIOServerCnxn#process`).
pub fn notification(event_type: i32, path: &str) -> Bytes {
    framed(|buf| {
        ReplyHeader {
            xid: xid::NOTIFICATION,
            zxid: -1,
            err: ErrorCode::OK,
        }
        .encode(buf);
        WatcherEvent {
            event_type,
            state: KeeperState::SYNC_CONNECTED.0,
            path: path.to_string(),
        }
        .encode(buf);
    })
}

pub fn connect_response(rsp: &ConnectResponse) -> Bytes {
    framed(|buf| rsp.encode(buf))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_only_reply_is_16_bytes_after_the_length() {
        let f = reply_header(7, 0x100000002, ErrorCode::NO_NODE);
        assert_eq!(&f[..4], &[0, 0, 0, 16]);
        assert_eq!(&f[4..8], &[0, 0, 0, 7]);
        assert_eq!(&f[16..20], &(-101i32).to_be_bytes());
    }
}
