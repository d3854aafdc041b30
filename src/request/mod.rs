//! Client requests: a [`Request`] from a RequestHeader and its record (the decoding half of
//! `ZooKeeperServer#processPacket`, `Request`, `ByteBufferInputStream#byteBuffer2Record`), and
//! the reference's path rules (`PathUtils#validatePath`). No access to server state.

mod path;

use crate::jute::codes::OpCode;
use crate::jute::proto::{
    AddWatchRequest, AuthPacket, CheckVersionRequest, CheckWatchesRequest, CreateRequest,
    CreateTtlRequest, DeleteRequest, ExistsRequest, GetAclRequest, GetAllChildrenNumberRequest,
    GetChildrenRequest, GetDataRequest, GetEphemeralsRequest, GetSaslRequest, MultiRequest,
    ReconfigRequest, RemoveWatchesRequest, SetAclRequest, SetDataRequest, SetWatches, SetWatches2,
    SyncRequest,
};
use crate::jute::{DecodeError, Jute};

pub use path::{parent_of, validate_path, PathError};

/// One decoded client request (everything after the RequestHeader).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// create, create2 or createContainer: the opcode decides the response record.
    Create(OpCode, CreateRequest),
    CreateTtl(CreateTtlRequest),
    Delete(DeleteRequest),
    Exists(ExistsRequest),
    GetData(GetDataRequest),
    SetData(SetDataRequest),
    GetAcl(GetAclRequest),
    SetAcl(SetAclRequest),
    GetChildren(GetChildrenRequest),
    GetChildren2(GetChildrenRequest),
    Sync(SyncRequest),
    Ping,
    Check(CheckVersionRequest),
    Multi(MultiRequest),
    MultiRead(MultiRequest),
    Reconfig(ReconfigRequest),
    CheckWatches(CheckWatchesRequest),
    RemoveWatches(RemoveWatchesRequest),
    Auth(AuthPacket),
    /// setWatches (101) is carried as a SetWatches2 with empty persistent lists.
    SetWatches(SetWatches2),
    SetWatches2(SetWatches2),
    Sasl(GetSaslRequest),
    GetEphemerals(GetEphemeralsRequest),
    GetAllChildrenNumber(GetAllChildrenNumberRequest),
    AddWatch(AddWatchRequest),
    WhoAmI,
    CloseSession,
    /// createSession (-10) sent on an established session with a body shorter than 4 bytes:
    /// `PrepRequestProcessor#pRequest2Txn` reads the timeout with `getInt` on the raw body, whose
    /// BufferUnderflowException becomes MarshallingError through an ErrorTxn.
    CreateSession,
    /// deleteContainer (20) sent by a client. `PrepRequestProcessor#pRequest2Txn` takes the
    /// path from the packet's whole backing array (`request.request.array()`), which begins with
    /// the RequestHeader, and the type 20 there holds NUL bytes: the path is always refused
    /// (BadArguments through an ErrorTxn), whatever the body.
    DeleteContainer,
    /// A known opcode whose record did not decode: the reference answers MarshallingError
    /// (for a write, through an ErrorTxn that is logged like any other) and keeps the
    /// connection.
    Malformed(OpCode),
}

impl Request {
    /// Decode the body that follows a RequestHeader of type `op`. `Ok(None)` for an opcode the
    /// reference does not accept from clients (`Request#isValid`): it answers Unimplemented.
    pub fn decode(op: OpCode, body: &[u8]) -> Result<Option<Request>, DecodeError> {
        fn rec<T: Jute>(body: &[u8]) -> Result<T, DecodeError> {
            T::from_bytes(body)
        }
        let req = match op {
            OpCode::CREATE | OpCode::CREATE2 | OpCode::CREATE_CONTAINER => {
                Request::Create(op, rec(body)?)
            }
            OpCode::CREATE_TTL => Request::CreateTtl(rec(body)?),
            OpCode::DELETE => Request::Delete(rec(body)?),
            OpCode::EXISTS => Request::Exists(rec(body)?),
            OpCode::GET_DATA => Request::GetData(rec(body)?),
            OpCode::SET_DATA => Request::SetData(rec(body)?),
            OpCode::GET_ACL => Request::GetAcl(rec(body)?),
            OpCode::SET_ACL => Request::SetAcl(rec(body)?),
            OpCode::GET_CHILDREN => Request::GetChildren(rec(body)?),
            OpCode::GET_CHILDREN2 => Request::GetChildren2(rec(body)?),
            OpCode::SYNC => Request::Sync(rec(body)?),
            OpCode::PING => Request::Ping,
            OpCode::CHECK => Request::Check(rec(body)?),
            OpCode::MULTI => Request::Multi(rec(body)?),
            OpCode::MULTI_READ => Request::MultiRead(rec(body)?),
            OpCode::RECONFIG => Request::Reconfig(rec(body)?),
            OpCode::CHECK_WATCHES => Request::CheckWatches(rec(body)?),
            OpCode::REMOVE_WATCHES => Request::RemoveWatches(rec(body)?),
            OpCode::AUTH => Request::Auth(rec(body)?),
            OpCode::SET_WATCHES => {
                let w: SetWatches = rec(body)?;
                Request::SetWatches(SetWatches2 {
                    relative_zxid: w.relative_zxid,
                    data_watches: w.data_watches,
                    exist_watches: w.exist_watches,
                    child_watches: w.child_watches,
                    persistent_watches: Vec::new(),
                    persistent_recursive_watches: Vec::new(),
                })
            }
            OpCode::SET_WATCHES2 => Request::SetWatches2(rec(body)?),
            OpCode::SASL => Request::Sasl(rec(body)?),
            OpCode::GET_EPHEMERALS => Request::GetEphemerals(rec(body)?),
            OpCode::GET_ALL_CHILDREN_NUMBER => Request::GetAllChildrenNumber(rec(body)?),
            OpCode::ADD_WATCH => Request::AddWatch(rec(body)?),
            OpCode::WHO_AM_I => Request::WhoAmI,
            OpCode::CLOSE_SESSION => Request::CloseSession,
            OpCode::CREATE_SESSION if body.len() >= 4 => {
                // Not built: 3.8 would move the session's expiry by this timeout, commit it as
                // the session's timeout (snapshots keep it) and answer with a second
                // ConnectResponse frame amid the replies (`FinalRequestProcessor` →
                // `ZooKeeperServer#finishSessionInit`). Refused as an unknown request instead
                // (README, compatibility table).
                return Ok(None);
            }
            OpCode::CREATE_SESSION => Request::CreateSession,
            OpCode::DELETE_CONTAINER => Request::DeleteContainer,
            _ => return Ok(None),
        };
        Ok(Some(req))
    }

    /// Requests that become a txn (`Request#isQuorum` for a global session). Every variant
    /// is named, so a new request has to be placed on one side.
    pub fn is_write(&self) -> bool {
        match self {
            Request::Create(..)
            | Request::CreateTtl(_)
            | Request::Delete(_)
            | Request::SetData(_)
            | Request::SetAcl(_)
            | Request::Check(_)
            | Request::Multi(_)
            | Request::Reconfig(_)
            | Request::CloseSession
            | Request::CreateSession
            | Request::DeleteContainer => true,
            Request::Malformed(op) => is_write_op(*op),
            Request::Exists(_)
            | Request::GetData(_)
            | Request::GetAcl(_)
            | Request::GetChildren(_)
            | Request::GetChildren2(_)
            | Request::Sync(_)
            | Request::Ping
            | Request::MultiRead(_)
            | Request::CheckWatches(_)
            | Request::RemoveWatches(_)
            | Request::Auth(_)
            | Request::SetWatches(_)
            | Request::SetWatches2(_)
            | Request::Sasl(_)
            | Request::GetEphemerals(_)
            | Request::GetAllChildrenNumber(_)
            | Request::AddWatch(_)
            | Request::WhoAmI => false,
        }
    }
}

impl Request {
    /// What `cons` shows as `lop=` after this request's reply.
    pub fn last_op(&self) -> LastOp {
        match self {
            Request::Ping => LastOp::Ping,
            Request::Multi(_) => LastOp::Multi,
            Request::MultiRead(_) => LastOp::MultiRead,
            Request::Create(..) | Request::CreateTtl(_) => LastOp::Create,
            Request::Delete(_) | Request::DeleteContainer => LastOp::Delete,
            Request::SetData(_) => LastOp::SetData,
            Request::Reconfig(_) => LastOp::Reconfig,
            Request::SetAcl(_) => LastOp::SetAcl,
            Request::CloseSession => LastOp::CloseSession,
            Request::CreateSession => LastOp::CreateSession,
            Request::Sync(_) => LastOp::Sync,
            Request::Check(_) => LastOp::Check,
            Request::Exists(_) => LastOp::Exists,
            Request::GetData(_) => LastOp::GetData,
            Request::SetWatches(_) => LastOp::SetWatches,
            Request::SetWatches2(_) => LastOp::SetWatches2,
            Request::AddWatch(_) => LastOp::AddWatch,
            Request::GetAcl(_) => LastOp::GetAcl,
            Request::GetChildren(_) | Request::GetChildren2(_) => LastOp::GetChildren,
            Request::GetAllChildrenNumber(_) => LastOp::GetAllChildrenNumber,
            Request::CheckWatches(_) => LastOp::CheckWatches,
            Request::RemoveWatches(_) => LastOp::RemoveWatches,
            Request::WhoAmI => LastOp::WhoAmI,
            Request::GetEphemerals(_) => LastOp::GetEphemerals,
            Request::Auth(_) | Request::Sasl(_) | Request::Malformed(_) => LastOp::NotAvailable,
        }
    }
}

/// A connection's last answered op (`FinalRequestProcessor`'s lastOp), one byte in every
/// connection's entry instead of a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LastOp {
    Ping,
    Multi,
    MultiRead,
    Create,
    Delete,
    SetData,
    Reconfig,
    SetAcl,
    CloseSession,
    CreateSession,
    Sync,
    Check,
    Exists,
    GetData,
    SetWatches,
    SetWatches2,
    AddWatch,
    GetAcl,
    GetChildren,
    GetAllChildrenNumber,
    CheckWatches,
    RemoveWatches,
    WhoAmI,
    GetEphemerals,
    /// Nothing answered yet, an auth packet, or a write that failed in prep ("NA").
    NotAvailable,
}

impl LastOp {
    /// The name `cons` and the AdminServer's `connections` show.
    pub fn name(self) -> &'static str {
        match self {
            LastOp::Ping => "PING",
            LastOp::Multi => "MULT",
            LastOp::MultiRead => "MLTR",
            LastOp::Create => "CREA",
            LastOp::Delete => "DELE",
            LastOp::SetData => "SETD",
            LastOp::Reconfig => "RECO",
            LastOp::SetAcl => "SETA",
            LastOp::CloseSession => "CLOS",
            LastOp::CreateSession => "SESS",
            LastOp::Sync => "SYNC",
            LastOp::Check => "CHEC",
            LastOp::Exists => "EXIS",
            LastOp::GetData => "GETD",
            LastOp::SetWatches => "SETW",
            LastOp::SetWatches2 => "STW2",
            LastOp::AddWatch => "ADDW",
            LastOp::GetAcl => "GETA",
            LastOp::GetChildren => "GETC",
            LastOp::GetAllChildrenNumber => "GETACN",
            LastOp::CheckWatches => "CHKW",
            LastOp::RemoveWatches => "REMW",
            LastOp::WhoAmI => "HOMI",
            LastOp::GetEphemerals => "GETE",
            LastOp::NotAvailable => "NA",
        }
    }

    /// Ops whose reply waited for the quorum: their latency goes to the quorum summary.
    pub fn went_through_the_quorum(self) -> bool {
        matches!(
            self,
            LastOp::Create
                | LastOp::Delete
                | LastOp::SetData
                | LastOp::SetAcl
                | LastOp::Multi
                | LastOp::Check
                | LastOp::Reconfig
                | LastOp::CloseSession
        )
    }
}

/// Opcodes whose prep stamps a TxnHeader before reading the record (`PrepRequestProcessor`).
fn is_write_op(op: OpCode) -> bool {
    matches!(
        op,
        OpCode::CREATE
            | OpCode::CREATE2
            | OpCode::CREATE_CONTAINER
            | OpCode::CREATE_TTL
            | OpCode::DELETE
            | OpCode::SET_DATA
            | OpCode::SET_ACL
            | OpCode::CHECK
            | OpCode::MULTI
            | OpCode::RECONFIG
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_opcodes_are_not_requests() {
        assert_eq!(Request::decode(OpCode(10), &[]), Ok(None));
        assert_eq!(Request::decode(OpCode(108), &[]), Ok(None));
        assert_eq!(Request::decode(OpCode::NOTIFICATION, &[]), Ok(None));
    }

    #[test]
    fn client_create_session_and_delete_container_are_requests() {
        assert_eq!(
            Request::decode(OpCode::CREATE_SESSION, &[]),
            Ok(Some(Request::CreateSession))
        );
        assert_eq!(
            Request::decode(OpCode::CREATE_SESSION, &[0, 0, 1]),
            Ok(Some(Request::CreateSession))
        );
        // not built (README): with a timeout it is refused like an unknown opcode
        assert_eq!(
            Request::decode(OpCode::CREATE_SESSION, &5000i32.to_be_bytes()),
            Ok(None)
        );
        assert_eq!(
            Request::decode(OpCode::DELETE_CONTAINER, b"/a"),
            Ok(Some(Request::DeleteContainer))
        );
        assert!(Request::CreateSession.is_write() && Request::DeleteContainer.is_write());
    }

    #[test]
    fn truncated_bodies_are_decode_errors() {
        assert_eq!(
            Request::decode(OpCode::GET_DATA, &[0, 0, 0, 5, b'/']),
            Err(DecodeError::LengthOverrun {
                len: 5,
                remaining: 1
            })
        );
    }

    #[test]
    fn set_watches_becomes_set_watches2() {
        let w = SetWatches {
            relative_zxid: 5,
            data_watches: vec!["/a".into()],
            ..Default::default()
        };
        let Ok(Some(Request::SetWatches(w2))) = Request::decode(OpCode::SET_WATCHES, &w.to_vec())
        else {
            panic!("not decoded as setWatches");
        };
        assert_eq!(w2.relative_zxid, 5);
        assert_eq!(w2.data_watches, vec!["/a".to_string()]);
        assert!(w2.persistent_watches.is_empty());
    }
}
