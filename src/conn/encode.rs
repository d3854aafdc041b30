//! What the core queued, onto the wire: a 4-byte length, then the ReplyHeader and the body
//! record (omitted on error, as `ServerCnxn#sendResponse` is called with a null record
//! whenever an op fails; the body is there whenever the core gave one). Runs on the
//! connection's task, off the core.

use bytes::BufMut;

use crate::jute::codes::{xid, ErrorCode};
use crate::jute::proto::ReplyHeader;
use crate::jute::Jute;
use crate::pipeline::reply::Response;
use crate::pipeline::Outbound;

/// Length prefix plus ReplyHeader.
const HEADER_FRAME: usize = 4 + 16;
/// Room for a body's fixed part (a Stat is 68 bytes) on top of what [`size_hint`] counts.
const BODY_SLACK: usize = 96;

/// Append `msg`'s frame to `buf`; a [`Outbound::Close`] appends nothing.
pub(super) fn encode(msg: &Outbound, buf: &mut Vec<u8>) {
    match msg {
        Outbound::Reply {
            xid,
            zxid,
            err,
            body,
        } => framed(buf, |buf| {
            ReplyHeader {
                xid: *xid,
                zxid: *zxid,
                err: *err,
            }
            .encode(buf);
            if let Some(body) = body {
                encode_response(body, buf);
            }
        }),
        Outbound::Notification(event) => framed(buf, |buf| {
            ReplyHeader {
                xid: xid::NOTIFICATION,
                zxid: -1,
                err: ErrorCode::OK,
            }
            .encode(buf);
            event.encode(buf);
        }),
        Outbound::Connect(rsp) => framed(buf, |buf| rsp.encode(buf)),
        Outbound::Close => {}
    }
}

/// Roughly how many bytes `msg` takes, so that a large getData is not encoded through a
/// series of buffer regrowths.
pub(super) fn size_hint(msg: &Outbound) -> usize {
    let body = match msg {
        Outbound::Reply { body: Some(b), .. } => match &**b {
            Response::GetData(r) => r.data.as_ref().map_or(0, |d| d.len()),
            _ => 0,
        },
        _ => 0,
    };
    HEADER_FRAME + BODY_SLACK + body
}

fn encode_response(rsp: &Response, buf: &mut Vec<u8>) {
    match rsp {
        Response::Exists(r) => r.encode(buf),
        Response::GetData(r) => r.encode(buf),
        Response::GetChildren(r) => r.encode(buf),
        Response::GetChildren2(r) => r.encode(buf),
        Response::GetAcl(r) => r.encode(buf),
        Response::GetAllChildrenNumber(r) => r.encode(buf),
        Response::GetEphemerals(r) => r.encode(buf),
        Response::WhoAmI(r) => r.encode(buf),
        Response::Sync(r) => r.encode(buf),
        Response::Multi(r) => r.encode(buf),
        Response::Create(r) => r.encode(buf),
        Response::Create2(r) => r.encode(buf),
        Response::SetData(r) => r.encode(buf),
        Response::SetAcl(r) => r.encode(buf),
        Response::SetSasl(r) => r.encode(buf),
        Response::Error(r) => r.encode(buf),
    }
}

/// `write` behind a length prefix that is filled in once the frame's size is known.
fn framed(buf: &mut Vec<u8>, write: impl FnOnce(&mut Vec<u8>)) {
    let start = buf.len();
    buf.put_i32(0);
    write(buf);
    let len = i32::try_from(buf.len() - start - 4).unwrap_or(i32::MAX);
    buf[start..start + 4].copy_from_slice(&len.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::jute::codes::KeeperState;
    use crate::jute::data::Stat;
    use crate::jute::proto::{
        ConnectResponse, GetDataResponse, MultiResponse, OpResult, SetSaslResponse, WatcherEvent,
    };
    use crate::pipeline::reply::Answer;

    fn bytes_of(msg: &Outbound) -> Vec<u8> {
        let mut buf = Vec::new();
        encode(msg, &mut buf);
        buf
    }

    fn header(xid: i32, zxid: i64, err: ErrorCode) -> Vec<u8> {
        let mut v = Vec::new();
        v.put_i32(xid);
        v.put_i64(zxid);
        v.put_i32(err.0);
        v
    }

    fn with_length(body: Vec<u8>) -> Vec<u8> {
        let mut v = i32::try_from(body.len()).unwrap().to_be_bytes().to_vec();
        v.extend(body);
        v
    }

    #[test]
    fn header_only_reply_is_16_bytes_after_the_length() {
        let f = bytes_of(&Outbound::header(7, 0x100000002, ErrorCode::NO_NODE));
        assert_eq!(&f[..4], &[0, 0, 0, 16]);
        assert_eq!(&f[4..8], &[0, 0, 0, 7]);
        assert_eq!(&f[8..16], &0x100000002i64.to_be_bytes());
        assert_eq!(&f[16..20], &(-101i32).to_be_bytes());
        assert_eq!(f.len(), 20);
    }

    #[test]
    fn a_reply_is_its_header_then_its_record() {
        let rsp = GetDataResponse {
            data: Some(Bytes::from_static(b"hello")),
            stat: Stat::default(),
        };
        let msg = Outbound::reply(
            3,
            9,
            Answer {
                err: ErrorCode::OK,
                body: Some(Response::GetData(rsp.clone())),
            },
        );
        let mut want = header(3, 9, ErrorCode::OK);
        want.extend(rsp.to_vec());
        assert_eq!(bytes_of(&msg), with_length(want));
    }

    #[test]
    fn an_error_has_no_body_but_a_failed_multi_read_keeps_its_own() {
        let failed: Answer = Err(ErrorCode::NO_NODE).into();
        assert_eq!(
            bytes_of(&Outbound::reply(4, 9, failed)),
            with_length(header(4, 9, ErrorCode::NO_NODE))
        );
        let multi = MultiResponse {
            results: vec![OpResult::Error(ErrorCode::NO_NODE)],
        };
        let msg = Outbound::reply(
            5,
            9,
            Answer {
                err: ErrorCode::MARSHALLING_ERROR,
                body: Some(Response::Multi(multi.clone())),
            },
        );
        let mut want = header(5, 9, ErrorCode::MARSHALLING_ERROR);
        want.extend(multi.to_vec());
        assert_eq!(bytes_of(&msg), with_length(want));
    }

    #[test]
    fn a_notification_has_xid_and_zxid_minus_one() {
        let event = WatcherEvent {
            event_type: 3,
            state: KeeperState::SYNC_CONNECTED.0,
            path: "/a".into(),
        };
        let mut want = header(-1, -1, ErrorCode::OK);
        want.extend(event.to_vec());
        assert_eq!(bytes_of(&Outbound::Notification(event)), with_length(want));
    }

    #[test]
    fn a_null_sasl_token_is_length_minus_one() {
        let msg = Outbound::reply(
            6,
            0,
            Answer {
                err: ErrorCode::OK,
                body: Some(Response::SetSasl(SetSaslResponse { token: None })),
            },
        );
        let mut want = header(6, 0, ErrorCode::OK);
        want.extend((-1i32).to_be_bytes());
        assert_eq!(bytes_of(&msg), with_length(want));
    }

    #[test]
    fn a_connect_response_has_no_reply_header_and_frames_append() {
        let rsp = ConnectResponse {
            protocol_version: 0,
            time_out: 4000,
            session_id: 0x42,
            passwd: Bytes::from_static(&[7; 16]),
            read_only: Some(false),
        };
        let mut buf = Vec::new();
        encode(&Outbound::Connect(Box::new(rsp.clone())), &mut buf);
        encode(&Outbound::Close, &mut buf);
        encode(&Outbound::header(1, 2, ErrorCode::OK), &mut buf);
        let mut want = with_length(rsp.to_vec());
        want.extend(with_length(header(1, 2, ErrorCode::OK)));
        assert_eq!(buf, want);
    }
}
