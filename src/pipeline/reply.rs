//! What the core answers a connection with, as typed records. The connection's own task
//! frames and encodes them (`conn::encode`), so none of that work falls on the core.

use crate::jute::codes::ErrorCode;
use crate::jute::proto::{
    ConnectResponse, Create2Response, CreateResponse, ErrorResponse, ExistsResponse,
    GetAclResponse, GetAllChildrenNumberResponse, GetChildren2Response, GetChildrenResponse,
    GetDataResponse, GetEphemeralsResponse, MultiResponse, SetAclResponse, SetDataResponse,
    SetSaslResponse, SyncResponse, WatcherEvent, WhoAmIResponse,
};

/// Defines [`Response`] and a `From` for each record, from one list.
macro_rules! responses {
    ($($(#[$doc:meta])* $variant:ident($record:ty)),* $(,)?) => {
        /// The record after a ReplyHeader, one variant per response record of zookeeper.jute.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum Response {
            $($(#[$doc])* $variant($record),)*
        }

        $(impl From<$record> for Response {
            fn from(r: $record) -> Response {
                Response::$variant(r)
            }
        })*
    };
}

responses! {
    Exists(ExistsResponse),
    GetData(GetDataResponse),
    GetChildren(GetChildrenResponse),
    GetChildren2(GetChildren2Response),
    GetAcl(GetAclResponse),
    GetAllChildrenNumber(GetAllChildrenNumberResponse),
    GetEphemerals(GetEphemeralsResponse),
    WhoAmI(WhoAmIResponse),
    Sync(SyncResponse),
    Multi(MultiResponse),
    Create(CreateResponse),
    Create2(Create2Response),
    SetData(SetDataResponse),
    SetAcl(SetAclResponse),
    SetSasl(SetSaslResponse),
    /// addWatch answers with an `ErrorResponse{0}` body.
    Error(ErrorResponse),
}

/// What `FinalRequestProcessor` hands `ServerCnxn#sendResponse`: the ReplyHeader's err and the
/// record after it. The record is null on almost every error; a multiRead that meets a write
/// op is the exception (its `MultiResponse` was built before the op threw).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub err: ErrorCode,
    pub body: Option<Response>,
}

/// Success with a record, success without one (delete, setWatches, checkWatches, ...), or
/// the error code alone.
impl From<Result<Option<Response>, ErrorCode>> for Answer {
    fn from(result: Result<Option<Response>, ErrorCode>) -> Self {
        match result {
            Ok(body) => Answer {
                err: ErrorCode::OK,
                body,
            },
            Err(err) => Answer { err, body: None },
        }
    }
}

/// What goes onto a connection's outbound queue, in the order the client must see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outbound {
    /// ReplyHeader{xid, zxid, err}, then `body` if there is one. The body is boxed so that a
    /// queue slot stays small (idle sessions keep a few slots each).
    Reply {
        xid: i32,
        zxid: i64,
        err: ErrorCode,
        body: Option<Box<Response>>,
    },
    /// A watch event, behind ReplyHeader{-1, -1, 0} (3.8 stamps it with zxid -1,
    /// `NIOServerCnxn#process`).
    Notification(WatcherEvent),
    /// The handshake's answer; it has no ReplyHeader.
    Connect(Box<ConnectResponse>),
    /// Flush what is queued, then close (closeSession, Unimplemented, auth failure, expiry).
    Close,
}

impl Outbound {
    /// A header-only reply (errors, ping, auth, and ops whose success has no body).
    pub fn header(xid: i32, zxid: i64, err: ErrorCode) -> Outbound {
        Outbound::Reply {
            xid,
            zxid,
            err,
            body: None,
        }
    }

    pub fn reply(xid: i32, zxid: i64, answer: Answer) -> Outbound {
        Outbound::Reply {
            xid,
            zxid,
            err: answer.err,
            body: answer.body.map(Box::new),
        }
    }
}
