//! `module org.apache.zookeeper.proto` of zookeeper.jute, plus the hand-framed records the
//! reference codes outside the schema: the optional `readOnly` byte of the handshake
//! (`ProtocolManager`) and the multi framing (`MultiOperationRecord`, `MultiResponse`).

use bytes::{BufMut, Bytes};

use super::codes::{ErrorCode, OpCode};
use super::data::{Acl, ClientInfo, Stat};
use super::prim::{fail, DecodeError, JResult, Jute};
use crate::jute_record;

/// The readOnly byte 3.3/3.4 clients (and servers answering them) leave out.
fn trailing_read_only(input: &[u8]) -> JResult<'_, Option<bool>> {
    if input.is_empty() {
        return Ok((input, None));
    }
    let (rest, b) = bool::decode(input)?;
    Ok((rest, Some(b)))
}

/// ConnectRequest. `read_only` is `None` when the client (3.3/3.4) omitted the trailing byte;
/// the reply then omits it too.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnectRequest {
    pub protocol_version: i32,
    pub last_zxid_seen: i64,
    pub time_out: i32,
    pub session_id: i64,
    pub passwd: Bytes,
    pub read_only: Option<bool>,
}

impl Jute for ConnectRequest {
    fn encode<B: BufMut>(&self, out: &mut B) {
        self.protocol_version.encode(out);
        self.last_zxid_seen.encode(out);
        self.time_out.encode(out);
        self.session_id.encode(out);
        self.passwd.encode(out);
        if let Some(ro) = self.read_only {
            ro.encode(out);
        }
    }
    fn decode(input: &[u8]) -> JResult<'_, Self> {
        let (input, protocol_version) = i32::decode(input)?;
        let (input, last_zxid_seen) = i64::decode(input)?;
        let (input, time_out) = i32::decode(input)?;
        let (input, session_id) = i64::decode(input)?;
        let (input, passwd) = Bytes::decode(input)?;
        let (input, read_only) = trailing_read_only(input)?;
        Ok((
            input,
            ConnectRequest {
                protocol_version,
                last_zxid_seen,
                time_out,
                session_id,
                passwd,
                read_only,
            },
        ))
    }
}

/// ConnectResponse; `read_only` mirrors whether the request carried the byte.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnectResponse {
    pub protocol_version: i32,
    pub time_out: i32,
    pub session_id: i64,
    pub passwd: Bytes,
    pub read_only: Option<bool>,
}

impl Jute for ConnectResponse {
    fn encode<B: BufMut>(&self, out: &mut B) {
        self.protocol_version.encode(out);
        self.time_out.encode(out);
        self.session_id.encode(out);
        self.passwd.encode(out);
        if let Some(ro) = self.read_only {
            ro.encode(out);
        }
    }
    fn decode(input: &[u8]) -> JResult<'_, Self> {
        let (input, protocol_version) = i32::decode(input)?;
        let (input, time_out) = i32::decode(input)?;
        let (input, session_id) = i64::decode(input)?;
        let (input, passwd) = Bytes::decode(input)?;
        let (input, read_only) = trailing_read_only(input)?;
        Ok((
            input,
            ConnectResponse {
                protocol_version,
                time_out,
                session_id,
                passwd,
                read_only,
            },
        ))
    }
}

jute_record! {
    pub struct SetWatches {
        pub relative_zxid: i64,
        pub data_watches: Vec<String>,
        pub exist_watches: Vec<String>,
        pub child_watches: Vec<String>,
    }
}

jute_record! {
    pub struct SetWatches2 {
        pub relative_zxid: i64,
        pub data_watches: Vec<String>,
        pub exist_watches: Vec<String>,
        pub child_watches: Vec<String>,
        pub persistent_watches: Vec<String>,
        pub persistent_recursive_watches: Vec<String>,
    }
}

jute_record! {
    pub struct RequestHeader {
        pub xid: i32,
        pub op: OpCode,
    }
}

jute_record! {
    pub struct MultiHeader {
        pub op: OpCode,
        pub done: bool,
        pub err: i32,
    }
}

jute_record! {
    pub struct AuthPacket {
        pub auth_type: i32,
        pub scheme: String,
        pub auth: Bytes,
    }
}

jute_record! {
    pub struct ReplyHeader {
        pub xid: i32,
        pub zxid: i64,
        pub err: ErrorCode,
    }
}

jute_record! {
    pub struct GetDataRequest {
        pub path: String,
        pub watch: bool,
    }
}

jute_record! {
    pub struct SetDataRequest {
        pub path: String,
        pub data: Option<Bytes>,
        pub version: i32,
    }
}

jute_record! {
    pub struct ReconfigRequest {
        pub joining_servers: Option<String>,
        pub leaving_servers: Option<String>,
        pub new_members: Option<String>,
        pub cur_config_id: i64,
    }
}

jute_record! {
    pub struct SetDataResponse {
        pub stat: Stat,
    }
}

jute_record! {
    /// `token` may be null (length -1) on the wire; 3.8 then fails before any mechanism sees
    /// it.
    pub struct GetSaslRequest {
        pub token: Option<Bytes>,
    }
}

jute_record! {
    /// `token` is null when no SASL server answers (length -1 on the wire).
    pub struct SetSaslResponse {
        pub token: Option<Bytes>,
    }
}

jute_record! {
    pub struct CreateRequest {
        pub path: String,
        pub data: Option<Bytes>,
        pub acl: Option<Vec<Acl>>,
        pub flags: i32,
    }
}

jute_record! {
    pub struct CreateTtlRequest {
        pub path: String,
        pub data: Option<Bytes>,
        pub acl: Option<Vec<Acl>>,
        pub flags: i32,
        pub ttl: i64,
    }
}

jute_record! {
    pub struct DeleteRequest {
        pub path: String,
        pub version: i32,
    }
}

jute_record! {
    pub struct GetChildrenRequest {
        pub path: String,
        pub watch: bool,
    }
}

jute_record! {
    pub struct GetAllChildrenNumberRequest {
        pub path: String,
    }
}

jute_record! {
    pub struct CheckVersionRequest {
        pub path: String,
        pub version: i32,
    }
}

jute_record! {
    pub struct SyncRequest {
        pub path: String,
    }
}

jute_record! {
    pub struct SyncResponse {
        pub path: String,
    }
}

jute_record! {
    pub struct GetAclRequest {
        pub path: String,
    }
}

jute_record! {
    pub struct SetAclRequest {
        pub path: String,
        pub acl: Option<Vec<Acl>>,
        pub version: i32,
    }
}

jute_record! {
    pub struct SetAclResponse {
        pub stat: Stat,
    }
}

jute_record! {
    pub struct AddWatchRequest {
        pub path: String,
        pub mode: i32,
    }
}

jute_record! {
    pub struct WatcherEvent {
        pub event_type: i32,
        pub state: i32,
        pub path: String,
    }
}

jute_record! {
    pub struct ErrorResponse {
        pub err: i32,
    }
}

jute_record! {
    pub struct CreateResponse {
        pub path: String,
    }
}

jute_record! {
    pub struct Create2Response {
        pub path: String,
        pub stat: Stat,
    }
}

jute_record! {
    pub struct ExistsRequest {
        pub path: String,
        pub watch: bool,
    }
}

jute_record! {
    pub struct ExistsResponse {
        pub stat: Stat,
    }
}

jute_record! {
    pub struct GetDataResponse {
        pub data: Option<Bytes>,
        pub stat: Stat,
    }
}

jute_record! {
    pub struct GetChildrenResponse {
        pub children: Vec<String>,
    }
}

jute_record! {
    pub struct GetAllChildrenNumberResponse {
        pub total_number: i32,
    }
}

jute_record! {
    pub struct GetChildren2Response {
        pub children: Vec<String>,
        pub stat: Stat,
    }
}

jute_record! {
    pub struct GetAclResponse {
        pub acl: Vec<Acl>,
        pub stat: Stat,
    }
}

jute_record! {
    pub struct CheckWatchesRequest {
        pub path: String,
        pub watcher_type: i32,
    }
}

jute_record! {
    pub struct RemoveWatchesRequest {
        pub path: String,
        pub watcher_type: i32,
    }
}

jute_record! {
    pub struct GetEphemeralsRequest {
        pub prefix_path: String,
    }
}

jute_record! {
    pub struct GetEphemeralsResponse {
        pub ephemerals: Vec<String>,
    }
}

jute_record! {
    pub struct WhoAmIResponse {
        pub client_info: Vec<ClientInfo>,
    }
}

/// One op of a multi / multiRead request, with the opcode its MultiHeader carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MultiOp {
    /// create, create2 or createContainer (the header's opcode is kept).
    Create(OpCode, CreateRequest),
    CreateTtl(CreateTtlRequest),
    Delete(DeleteRequest),
    SetData(SetDataRequest),
    Check(CheckVersionRequest),
    GetChildren(GetChildrenRequest),
    GetData(GetDataRequest),
}

impl MultiOp {
    pub fn op(&self) -> OpCode {
        match self {
            MultiOp::Create(op, _) => *op,
            MultiOp::CreateTtl(_) => OpCode::CREATE_TTL,
            MultiOp::Delete(_) => OpCode::DELETE,
            MultiOp::SetData(_) => OpCode::SET_DATA,
            MultiOp::Check(_) => OpCode::CHECK,
            MultiOp::GetChildren(_) => OpCode::GET_CHILDREN,
            MultiOp::GetData(_) => OpCode::GET_DATA,
        }
    }

    pub fn path(&self) -> &str {
        match self {
            MultiOp::Create(_, r) => &r.path,
            MultiOp::CreateTtl(r) => &r.path,
            MultiOp::Delete(r) => &r.path,
            MultiOp::SetData(r) => &r.path,
            MultiOp::Check(r) => &r.path,
            MultiOp::GetChildren(r) => &r.path,
            MultiOp::GetData(r) => &r.path,
        }
    }

    pub fn is_read(&self) -> bool {
        matches!(self, MultiOp::GetChildren(_) | MultiOp::GetData(_))
    }
}

/// `MultiOperationRecord`: ops each behind a MultiHeader{type, done=false, err=-1}, ended by
/// MultiHeader{-1, true, -1}.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MultiRequest {
    pub ops: Vec<MultiOp>,
}

impl Jute for MultiRequest {
    fn encode<B: BufMut>(&self, out: &mut B) {
        for op in &self.ops {
            MultiHeader {
                op: op.op(),
                done: false,
                err: -1,
            }
            .encode(out);
            match op {
                MultiOp::Create(_, r) => r.encode(out),
                MultiOp::CreateTtl(r) => r.encode(out),
                MultiOp::Delete(r) => r.encode(out),
                MultiOp::SetData(r) => r.encode(out),
                MultiOp::Check(r) => r.encode(out),
                MultiOp::GetChildren(r) => r.encode(out),
                MultiOp::GetData(r) => r.encode(out),
            }
        }
        MULTI_DONE.encode(out);
    }

    fn decode(input: &[u8]) -> JResult<'_, Self> {
        let mut ops: Vec<MultiOp> = Vec::new();
        let (mut input, mut header) = MultiHeader::decode(input)?;
        while !header.done {
            let (rest, op) = match header.op {
                OpCode::CREATE | OpCode::CREATE2 | OpCode::CREATE_CONTAINER => {
                    let (r, req) = CreateRequest::decode(input)?;
                    (r, MultiOp::Create(header.op, req))
                }
                OpCode::CREATE_TTL => {
                    let (r, req) = CreateTtlRequest::decode(input)?;
                    (r, MultiOp::CreateTtl(req))
                }
                OpCode::DELETE => {
                    let (r, req) = DeleteRequest::decode(input)?;
                    (r, MultiOp::Delete(req))
                }
                OpCode::SET_DATA => {
                    let (r, req) = SetDataRequest::decode(input)?;
                    (r, MultiOp::SetData(req))
                }
                OpCode::CHECK => {
                    let (r, req) = CheckVersionRequest::decode(input)?;
                    (r, MultiOp::Check(req))
                }
                OpCode::GET_CHILDREN => {
                    let (r, req) = GetChildrenRequest::decode(input)?;
                    (r, MultiOp::GetChildren(req))
                }
                OpCode::GET_DATA => {
                    let (r, req) = GetDataRequest::decode(input)?;
                    (r, MultiOp::GetData(req))
                }
                other => {
                    return fail(DecodeError::UnknownValue {
                        what: "multi op type",
                        value: other.0,
                    })
                }
            };
            // `MultiOperationRecord#add` takes ops of one `Op.OpKind` only: reads and writes
            // together are "Mixing different kind of ops", an IOException while decoding
            if ops
                .first()
                .is_some_and(|first| first.is_read() != op.is_read())
            {
                return fail(DecodeError::Malformed("mixing different kind of ops"));
            }
            ops.push(op);
            let (r, h) = MultiHeader::decode(rest)?;
            input = r;
            header = h;
        }
        Ok((input, MultiRequest { ops }))
    }
}

const MULTI_DONE: MultiHeader = MultiHeader {
    op: OpCode(-1),
    done: true,
    err: -1,
};

/// One result of a multi / multiRead (`OpResult`), encoded as `MultiResponse` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpResult {
    Create(String),
    Create2(String, Stat),
    Delete,
    Check,
    SetData(Stat),
    GetChildren(Vec<String>),
    GetData(Option<Bytes>, Stat),
    Error(ErrorCode),
}

impl OpResult {
    fn op(&self) -> OpCode {
        match self {
            OpResult::Create(_) => OpCode::CREATE,
            OpResult::Create2(..) => OpCode::CREATE2,
            OpResult::Delete => OpCode::DELETE,
            OpResult::Check => OpCode::CHECK,
            OpResult::SetData(_) => OpCode::SET_DATA,
            OpResult::GetChildren(_) => OpCode::GET_CHILDREN,
            OpResult::GetData(..) => OpCode::GET_DATA,
            OpResult::Error(_) => OpCode::ERROR,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MultiResponse {
    pub results: Vec<OpResult>,
}

impl Jute for MultiResponse {
    fn encode<B: BufMut>(&self, out: &mut B) {
        for result in &self.results {
            let err = match result {
                OpResult::Error(e) => e.0,
                _ => 0,
            };
            MultiHeader {
                op: result.op(),
                done: false,
                err,
            }
            .encode(out);
            match result {
                OpResult::Create(path) => path.encode(out),
                OpResult::Create2(path, stat) => {
                    path.encode(out);
                    stat.encode(out);
                }
                OpResult::Delete | OpResult::Check => {}
                OpResult::SetData(stat) => stat.encode(out),
                OpResult::GetChildren(children) => children.encode(out),
                OpResult::GetData(data, stat) => {
                    data.encode(out);
                    stat.encode(out);
                }
                OpResult::Error(e) => e.encode(out),
            }
        }
        MULTI_DONE.encode(out);
    }

    fn decode(input: &[u8]) -> JResult<'_, Self> {
        let mut results = Vec::new();
        let (mut input, mut header) = MultiHeader::decode(input)?;
        while !header.done {
            let (rest, result) = match header.op {
                OpCode::CREATE => {
                    let (r, p) = String::decode(input)?;
                    (r, OpResult::Create(p))
                }
                OpCode::CREATE2 => {
                    let (r, p) = String::decode(input)?;
                    let (r, s) = Stat::decode(r)?;
                    (r, OpResult::Create2(p, s))
                }
                OpCode::DELETE => (input, OpResult::Delete),
                OpCode::CHECK => (input, OpResult::Check),
                OpCode::SET_DATA => {
                    let (r, s) = Stat::decode(input)?;
                    (r, OpResult::SetData(s))
                }
                OpCode::GET_CHILDREN => {
                    let (r, c) = Vec::<String>::decode(input)?;
                    (r, OpResult::GetChildren(c))
                }
                OpCode::GET_DATA => {
                    let (r, d) = Option::<Bytes>::decode(input)?;
                    let (r, s) = Stat::decode(r)?;
                    (r, OpResult::GetData(d, s))
                }
                OpCode::ERROR => {
                    let (r, e) = ErrorCode::decode(input)?;
                    (r, OpResult::Error(e))
                }
                other => {
                    return fail(DecodeError::UnknownValue {
                        what: "multi result type",
                        value: other.0,
                    })
                }
            };
            results.push(result);
            let (r, h) = MultiHeader::decode(rest)?;
            input = r;
            header = h;
        }
        Ok((input, MultiResponse { results }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_request_with_and_without_read_only() {
        let mut req = ConnectRequest {
            time_out: 30000,
            passwd: Bytes::from_static(&[0; 16]),
            ..Default::default()
        };
        assert_eq!(req.to_vec().len(), 44);
        req.read_only = Some(false);
        let bytes = req.to_vec();
        assert_eq!(bytes.len(), 45);
        assert_eq!(ConnectRequest::from_bytes(&bytes), Ok(req));
    }

    #[test]
    fn multi_with_unknown_op_is_an_error() {
        let mut v = Vec::new();
        MultiHeader {
            op: OpCode(9),
            done: false,
            err: -1,
        }
        .encode(&mut v);
        assert!(matches!(
            MultiRequest::from_bytes(&v),
            Err(DecodeError::UnknownValue { .. })
        ));
    }

    #[test]
    fn multi_mixing_reads_and_writes_is_an_error() {
        let get = MultiOp::GetData(GetDataRequest {
            path: "/a".into(),
            watch: false,
        });
        let set = MultiOp::SetData(SetDataRequest {
            path: "/a".into(),
            data: None,
            version: -1,
        });
        for ops in [
            vec![get.clone(), set.clone()],
            vec![set.clone(), get.clone()],
        ] {
            let bytes = MultiRequest { ops }.to_vec();
            assert_eq!(
                MultiRequest::from_bytes(&bytes),
                Err(DecodeError::Malformed("mixing different kind of ops"))
            );
        }
        // one kind only decodes, even writes meant for a multiRead
        let writes = MultiRequest {
            ops: vec![set.clone(), set],
        };
        assert_eq!(MultiRequest::from_bytes(&writes.to_vec()), Ok(writes));
    }
}
