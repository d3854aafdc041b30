//! Golden tests: bytes written by the real Apache ZooKeeper 3.8.0 classes
//! (`tests/fixtures/gen/GenJuteFixtures.java`, run by `regen.sh`) must decode to exactly the
//! values the generator used, and re-encode to exactly the same bytes.
//!
//! The values below mirror the generator's; change both together.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fmt::Debug;
use std::path::PathBuf;

use bytes::Bytes;
use ferrokeeper::jute::codes::{perms, ErrorCode, OpCode};
use ferrokeeper::jute::data::{Acl, ClientInfo, Id, Stat, StatPersisted};
use ferrokeeper::jute::persistence::FileHeader;
use ferrokeeper::jute::prim::finish;
use ferrokeeper::jute::proto::*;
use ferrokeeper::jute::quorum::{LearnerInfo, QuorumAuthPacket, QuorumPacket};
use ferrokeeper::jute::txn::*;
use ferrokeeper::jute::{DecodeError, Jute};

const UPATH: &str = "/zk/ünïcødé/日本語";
const DATA: &[u8] = &[0, 1, 2, 0xff, 0x80, 0x7f];
const PASSWD: &[u8] = &[
    0x10, 0x21, 0x32, 0x43, 0x54, 0x65, 0x76, 0x87, 0x98, 0xa9, 0xba, 0xcb, 0xdc, 0xed, 0xfe, 0x0f,
];

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/jute")
}

fn fixture(name: &str) -> Vec<u8> {
    let path = fixture_dir().join(format!("{name}.bin"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Decode the whole fixture, compare with `expected`, re-encode and compare bytes.
fn check<T: Jute + PartialEq + Debug>(name: &str, expected: T) {
    let bytes = fixture(name);
    let (rest, got) = finish(T::decode(&bytes)).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(rest.is_empty(), "{name}: {} bytes left over", rest.len());
    assert_eq!(got, expected, "{name}: decoded value");
    assert_eq!(got.to_vec(), bytes, "{name}: re-encoding differs");
}

fn s(v: &str) -> String {
    v.to_string()
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

fn data() -> Option<Bytes> {
    Some(Bytes::from_static(DATA))
}

fn stat() -> Stat {
    Stat {
        czxid: 0x0102_0304_0506_0708,
        mzxid: -2,
        ctime: i64::MIN,
        mtime: i64::MAX,
        version: -1,
        cversion: i32::MAX,
        aversion: i32::MIN,
        ephemeral_owner: 0x1122_3344_5566_7788,
        data_length: 42,
        num_children: -7,
        pzxid: 0x0000_0001_0000_0002,
    }
}

fn acls() -> Vec<Acl> {
    vec![
        Acl::new(perms::ALL, "world", "anyone"),
        Acl::new(perms::READ | perms::DELETE, "digest", "bob:Zm9v/bär="),
        Acl::new(-1, "ip", "10.0.0.0/8"),
    ]
}

fn txn_header(op: OpCode) -> TxnHeader {
    TxnHeader {
        client_id: 0x0123_4567_89ab_cdef,
        cxid: -5,
        zxid: 0x0000_0002_0000_0003,
        time: 1_700_000_000_123,
        op,
    }
}

/// One `#[test]` per fixture, plus the list of names they cover.
macro_rules! goldens {
    ($( $test:ident: $file:literal => $ty:ty = $val:expr; )*) => {
        $( #[test] fn $test() { check::<$ty>($file, $val); } )*
        const GOLDEN: &[&str] = &[$($file),*];
    };
}

goldens! {
    // ---- org.apache.zookeeper.data ----
    id: "Id" => Id = Id::new("sasl", UPATH);
    acl: "ACL" => Acl = Acl::new(perms::ADMIN | perms::CREATE, "auth", "");
    stat_: "Stat" => Stat = stat();
    stat_persisted: "StatPersisted" => StatPersisted = StatPersisted {
        czxid: -1,
        mzxid: i64::MIN,
        ctime: 1_600_000_000_000,
        mtime: 0,
        version: 3,
        cversion: -4,
        aversion: i32::MAX,
        ephemeral_owner: 0x7ffe_dcba_9876_5432,
        pzxid: 0x0000_0003_ffff_ffff,
    };
    client_info: "ClientInfo" => ClientInfo = ClientInfo { auth_scheme: s("digest"), user: s("alice") };

    // ---- handshake ----
    connect_request_ro: "ConnectRequest-readonly" => ConnectRequest = connect_request(Some(true));
    connect_request_rw: "ConnectRequest-readwrite" => ConnectRequest = connect_request(Some(false));
    connect_request_noflag: "ConnectRequest-noflag" => ConnectRequest = connect_request(None);
    connect_request_new: "ConnectRequest-new" => ConnectRequest = ConnectRequest {
        protocol_version: 0,
        last_zxid_seen: 0,
        time_out: 40000,
        session_id: 0,
        passwd: Bytes::from_static(&[0; 16]),
        read_only: Some(false),
    };
    connect_response_ro: "ConnectResponse-readonly" => ConnectResponse = connect_response(Some(true));
    connect_response_noflag: "ConnectResponse-noflag" => ConnectResponse = connect_response(None);
    connect_response_refused: "ConnectResponse-refused" => ConnectResponse = ConnectResponse {
        protocol_version: 0,
        time_out: 0,
        session_id: 0,
        passwd: Bytes::from_static(&[0; 16]),
        read_only: Some(false),
    };

    // ---- org.apache.zookeeper.proto ----
    set_watches: "SetWatches" => SetWatches = SetWatches {
        relative_zxid: 0x0000_0005_0000_0007,
        data_watches: strings(&["/a", UPATH]),
        exist_watches: vec![],
        child_watches: strings(&["/c"]),
    };
    set_watches2: "SetWatches2" => SetWatches2 = SetWatches2 {
        relative_zxid: -1,
        data_watches: strings(&["/d1", "/d2"]),
        exist_watches: strings(&["/e"]),
        child_watches: vec![],
        persistent_watches: strings(&["/p"]),
        persistent_recursive_watches: strings(&["/r1", "/r2", "/r3"]),
    };
    request_header: "RequestHeader" => RequestHeader = RequestHeader { xid: 0x7fff_fff0, op: OpCode::CREATE2 };
    request_header_ping: "RequestHeader-ping" => RequestHeader = RequestHeader { xid: -2, op: OpCode::PING };
    multi_header: "MultiHeader" => MultiHeader = MultiHeader { op: OpCode::ERROR, done: false, err: -110 };
    auth_packet: "AuthPacket" => AuthPacket = AuthPacket {
        auth_type: 0,
        scheme: s("digest"),
        auth: Bytes::from("bob:sëcret".as_bytes()),
    };
    reply_header: "ReplyHeader" => ReplyHeader = ReplyHeader {
        xid: 17,
        zxid: 0x0000_0001_0000_00ff,
        err: ErrorCode::NO_NODE,
    };
    reply_header_notification: "ReplyHeader-notification" => ReplyHeader = ReplyHeader {
        xid: -1,
        zxid: -1,
        err: ErrorCode::OK,
    };
    get_data_request: "GetDataRequest" => GetDataRequest = GetDataRequest { path: s(UPATH), watch: true };
    set_data_request: "SetDataRequest" => SetDataRequest = SetDataRequest { path: s("/set"), data: data(), version: -1 };
    set_data_request_null: "SetDataRequest-nulldata" => SetDataRequest = SetDataRequest { path: s("/set"), data: None, version: 5 };
    reconfig_request: "ReconfigRequest" => ReconfigRequest = ReconfigRequest {
        joining_servers: Some(s("server.4=127.0.0.1:2890:3890;2184")),
        leaving_servers: Some(s("2,3")),
        new_members: None,
        cur_config_id: -1,
    };
    reconfig_request_nulls: "ReconfigRequest-nulls" => ReconfigRequest = ReconfigRequest {
        joining_servers: None,
        leaving_servers: None,
        new_members: None,
        cur_config_id: 0x0000_0001_0000_0000,
    };
    set_data_response: "SetDataResponse" => SetDataResponse = SetDataResponse { stat: stat() };
    get_sasl_request: "GetSASLRequest" => GetSaslRequest = GetSaslRequest { token: Some(Bytes::from_static(DATA)) };
    // SetSASLRequest has GetSASLRequest's layout (one buffer); the crate has no separate type.
    set_sasl_request: "SetSASLRequest" => GetSaslRequest = GetSaslRequest { token: Some(Bytes::new()) };
    set_sasl_response: "SetSASLResponse" => SetSaslResponse = SetSaslResponse { token: Some(Bytes::from_static(PASSWD)) };
    create_request: "CreateRequest" => CreateRequest = CreateRequest { path: s(UPATH), data: data(), acl: Some(acls()), flags: 3 };
    create_request_nulls: "CreateRequest-nulls" => CreateRequest = CreateRequest { path: s("/n"), data: None, acl: None, flags: 0 };
    create_request_empty: "CreateRequest-empty" => CreateRequest = CreateRequest {
        path: s("/e"),
        data: Some(Bytes::new()),
        acl: Some(vec![]),
        flags: 4,
    };
    create_ttl_request: "CreateTTLRequest" => CreateTtlRequest = CreateTtlRequest {
        path: s("/ttl"),
        data: data(),
        acl: Some(acls()),
        flags: 5,
        ttl: i64::MAX,
    };
    delete_request: "DeleteRequest" => DeleteRequest = DeleteRequest { path: s("/del"), version: i32::MIN };
    get_children_request: "GetChildrenRequest" => GetChildrenRequest = GetChildrenRequest { path: s("/"), watch: false };
    get_all_children_number_request: "GetAllChildrenNumberRequest" => GetAllChildrenNumberRequest =
        GetAllChildrenNumberRequest { path: s("/count") };
    // GetChildren2Request has GetChildrenRequest's layout.
    get_children2_request: "GetChildren2Request" => GetChildrenRequest = GetChildrenRequest { path: s(UPATH), watch: true };
    check_version_request: "CheckVersionRequest" => CheckVersionRequest = CheckVersionRequest { path: s("/chk"), version: 12345 };
    sync_request: "SyncRequest" => SyncRequest = SyncRequest { path: s("/sync") };
    sync_response: "SyncResponse" => SyncResponse = SyncResponse { path: s(UPATH) };
    get_acl_request: "GetACLRequest" => GetAclRequest = GetAclRequest { path: s("/acl") };
    set_acl_request: "SetACLRequest" => SetAclRequest = SetAclRequest { path: s("/acl"), acl: Some(acls()), version: 2 };
    set_acl_request_null: "SetACLRequest-nullacl" => SetAclRequest = SetAclRequest { path: s("/acl"), acl: None, version: -1 };
    set_acl_response: "SetACLResponse" => SetAclResponse = SetAclResponse { stat: stat() };
    add_watch_request: "AddWatchRequest" => AddWatchRequest = AddWatchRequest { path: s("/w"), mode: 1 };
    watcher_event: "WatcherEvent" => WatcherEvent = WatcherEvent { event_type: 3, state: 3, path: s(UPATH) };
    watcher_event_state: "WatcherEvent-state" => WatcherEvent = WatcherEvent { event_type: -1, state: -112, path: s("") };
    error_response: "ErrorResponse" => ErrorResponse = ErrorResponse { err: -118 };
    create_response: "CreateResponse" => CreateResponse = CreateResponse { path: s("/seq-0000000010") };
    create2_response: "Create2Response" => Create2Response = Create2Response { path: s(UPATH), stat: stat() };
    exists_request: "ExistsRequest" => ExistsRequest = ExistsRequest { path: s("/exists"), watch: true };
    exists_response: "ExistsResponse" => ExistsResponse = ExistsResponse { stat: stat() };
    get_data_response: "GetDataResponse" => GetDataResponse = GetDataResponse { data: data(), stat: stat() };
    get_data_response_null: "GetDataResponse-nulldata" => GetDataResponse = GetDataResponse { data: None, stat: stat() };
    get_children_response: "GetChildrenResponse" => GetChildrenResponse =
        GetChildrenResponse { children: strings(&["a", "b", "ünï", ""]) };
    get_children_response_empty: "GetChildrenResponse-empty" => GetChildrenResponse = GetChildrenResponse { children: vec![] };
    get_all_children_number_response: "GetAllChildrenNumberResponse" => GetAllChildrenNumberResponse =
        GetAllChildrenNumberResponse { total_number: i32::MAX };
    get_children2_response: "GetChildren2Response" => GetChildren2Response =
        GetChildren2Response { children: strings(&["zookeeper"]), stat: stat() };
    get_acl_response: "GetACLResponse" => GetAclResponse = GetAclResponse { acl: acls(), stat: stat() };
    check_watches_request: "CheckWatchesRequest" => CheckWatchesRequest = CheckWatchesRequest { path: s("/cw"), watcher_type: 2 };
    remove_watches_request: "RemoveWatchesRequest" => RemoveWatchesRequest = RemoveWatchesRequest { path: s("/rw"), watcher_type: 3 };
    get_ephemerals_request: "GetEphemeralsRequest" => GetEphemeralsRequest = GetEphemeralsRequest { prefix_path: s("/eph") };
    get_ephemerals_response: "GetEphemeralsResponse" => GetEphemeralsResponse =
        GetEphemeralsResponse { ephemerals: strings(&["/eph/1", "/eph/2"]) };
    who_am_i_response: "WhoAmIResponse" => WhoAmIResponse = WhoAmIResponse {
        client_info: vec![
            ClientInfo { auth_scheme: s("ip"), user: s("127.0.0.1") },
            ClientInfo { auth_scheme: s("digest"), user: s("bob") },
        ],
    };

    // ---- multi (MultiOperationRecord / MultiResponse) ----
    multi_write: "MultiOperationRecord-write" => MultiRequest = multi_write_ops();
    multi_read: "MultiOperationRecord-read" => MultiRequest = MultiRequest {
        ops: vec![
            MultiOp::GetChildren(GetChildrenRequest { path: s("/m"), watch: false }),
            MultiOp::GetData(GetDataRequest { path: s(UPATH), watch: false }),
        ],
    };
    multi_empty: "MultiOperationRecord-empty" => MultiRequest = MultiRequest { ops: vec![] };
    multi_create2: "MultiOperationRecord-create2" => MultiRequest = MultiRequest {
        ops: vec![MultiOp::Create(
            OpCode::CREATE2,
            CreateRequest { path: s("/m/c2"), data: data(), acl: Some(acls()), flags: 1 },
        )],
    };
    multi_response_write: "MultiResponse-write" => MultiResponse = MultiResponse {
        results: vec![
            OpResult::Create(s("/m/p")),
            OpResult::Create2(s("/m/es0000000001"), stat()),
            OpResult::Delete,
            OpResult::SetData(stat()),
            OpResult::Check,
            OpResult::Error(ErrorCode::NO_NODE),
            OpResult::Error(ErrorCode::OK),
        ],
    };
    multi_response_read: "MultiResponse-read" => MultiResponse = MultiResponse {
        results: vec![
            OpResult::GetChildren(strings(&["x", "ÿ"])),
            OpResult::GetData(data(), stat()),
            OpResult::GetData(None, stat()),
            OpResult::GetChildren(vec![]),
            OpResult::Error(ErrorCode::NO_NODE),
        ],
    };
    multi_response_empty: "MultiResponse-empty" => MultiResponse = MultiResponse { results: vec![] };

    // ---- org.apache.zookeeper.server.quorum / persistence ----
    learner_info: "LearnerInfo" => LearnerInfo = LearnerInfo { serverid: 3, protocol_version: 0x10000, config_version: -1 };
    quorum_packet: "QuorumPacket" => QuorumPacket = QuorumPacket {
        packet_type: 2,
        zxid: 0x0000_0004_0000_0010,
        data: data(),
        authinfo: Some(vec![Id::new("digest", "u:p"), Id::new("ip", "::1")]),
    };
    quorum_packet_nulls: "QuorumPacket-nulls" => QuorumPacket = QuorumPacket { packet_type: 5, zxid: -1, data: None, authinfo: None };
    quorum_auth_packet: "QuorumAuthPacket" => QuorumAuthPacket = QuorumAuthPacket {
        magic: 0xa5a5_5a5a_0102_0304_u64 as i64,
        status: 1,
        token: Some(Bytes::from_static(PASSWD)),
    };
    quorum_auth_packet_null: "QuorumAuthPacket-nulltoken" => QuorumAuthPacket = QuorumAuthPacket { magic: -1, status: 0, token: None };
    file_header: "FileHeader" => FileHeader = FileHeader {
        magic: ferrokeeper::jute::persistence::TXNLOG_MAGIC,
        version: 2,
        dbid: -1,
    };

    // ---- org.apache.zookeeper.txn ----
    txn_digest: "TxnDigest" => TxnDigest = TxnDigest { version: 2, tree_digest: i64::MIN };
    txn_header_: "TxnHeader" => TxnHeader = txn_header(OpCode::MULTI);
    create_txn_v0: "CreateTxnV0" => CreateTxnV0 = CreateTxnV0 { path: s("/v0"), data: None, acl: acls(), ephemeral: false };
    create_txn_: "CreateTxn" => CreateTxn = create_txn();
    create_ttl_txn_: "CreateTTLTxn" => CreateTtlTxn = create_ttl_txn();
    create_container_txn: "CreateContainerTxn" => CreateContainerTxn = CreateContainerTxn {
        path: s("/cont"),
        data: Some(Bytes::new()),
        acl: acls(),
        parent_cversion: 0,
    };
    delete_txn: "DeleteTxn" => DeleteTxn = DeleteTxn { path: s("/del") };
    set_data_txn: "SetDataTxn" => SetDataTxn = SetDataTxn { path: s("/set"), data: None, version: i32::MAX };
    check_version_txn: "CheckVersionTxn" => CheckVersionTxn = CheckVersionTxn { path: s("/chk"), version: -1 };
    set_acl_txn: "SetACLTxn" => SetAclTxn = SetAclTxn { path: s("/acl"), acl: acls(), version: 4 };
    create_session_txn: "CreateSessionTxn" => CreateSessionTxn = CreateSessionTxn { time_out: 30000 };
    close_session_txn: "CloseSessionTxn" => CloseSessionTxn = CloseSessionTxn { paths2_delete: strings(&["/e1", UPATH]) };
    error_txn: "ErrorTxn" => ErrorTxn = ErrorTxn { err: -110 };
    txn: "Txn" => Txn = Txn { op: OpCode::DELETE, data: Bytes::from(DeleteTxn { path: s("/del") }.to_vec()) };
    multi_txn: "MultiTxn" => MultiTxn = MultiTxn {
        txns: multi_txn_body()
            .into_iter()
            .map(|(op, body)| {
                let mut data = Vec::new();
                body.encode(&mut data);
                Txn { op, data: Bytes::from(data) }
            })
            .collect(),
    };

    // ---- strings ----
    string_nul: "String-nul" => String = s("a\0b");
}

fn connect_request(read_only: Option<bool>) -> ConnectRequest {
    ConnectRequest {
        protocol_version: 0,
        last_zxid_seen: 0x0000_0002_0000_0005,
        time_out: 30000,
        session_id: 0x0123_4567_89ab_cdef,
        passwd: Bytes::from_static(PASSWD),
        read_only,
    }
}

fn connect_response(read_only: Option<bool>) -> ConnectResponse {
    ConnectResponse {
        protocol_version: 0,
        time_out: 4000,
        session_id: 0x7200_0001_0000_002a,
        passwd: Bytes::from_static(PASSWD),
        read_only,
    }
}

fn multi_write_ops() -> MultiRequest {
    MultiRequest {
        ops: vec![
            MultiOp::Create(
                OpCode::CREATE,
                CreateRequest {
                    path: s("/m/p"),
                    data: data(),
                    acl: Some(acls()),
                    flags: 0,
                },
            ),
            MultiOp::Create(
                OpCode::CREATE,
                CreateRequest {
                    path: s("/m/es"),
                    data: None,
                    acl: Some(Acl::open_unsafe()),
                    flags: 3,
                },
            ),
            MultiOp::Create(
                OpCode::CREATE_CONTAINER,
                CreateRequest {
                    path: s("/m/c"),
                    data: Some(Bytes::new()),
                    acl: Some(Acl::read_unsafe()),
                    flags: 4,
                },
            ),
            MultiOp::CreateTtl(CreateTtlRequest {
                path: s("/m/ttl"),
                data: data(),
                acl: Some(Acl::open_unsafe()),
                flags: 6,
                ttl: 86_400_000,
            }),
            MultiOp::Delete(DeleteRequest {
                path: s("/m/d"),
                version: -1,
            }),
            MultiOp::SetData(SetDataRequest {
                path: s("/m/s"),
                data: data(),
                version: 7,
            }),
            MultiOp::SetData(SetDataRequest {
                path: s("/m/s0"),
                data: None,
                version: -1,
            }),
            MultiOp::Check(CheckVersionRequest {
                path: s(UPATH),
                version: 0,
            }),
        ],
    }
}

fn create_txn() -> CreateTxn {
    CreateTxn {
        path: s(UPATH),
        data: data(),
        acl: acls(),
        ephemeral: true,
        parent_cversion: -1,
    }
}

fn create_ttl_txn() -> CreateTtlTxn {
    CreateTtlTxn {
        path: s("/ttl"),
        data: data(),
        acl: acls(),
        parent_cversion: 9,
        ttl: 1,
    }
}

fn multi_txn_body() -> Vec<(OpCode, TxnBody)> {
    vec![
        (OpCode::CREATE, TxnBody::Create(create_txn())),
        (OpCode::CREATE_TTL, TxnBody::CreateTtl(create_ttl_txn())),
        (
            OpCode::CREATE_CONTAINER,
            TxnBody::CreateContainer(CreateContainerTxn {
                path: s("/cont"),
                data: None,
                acl: acls(),
                parent_cversion: 0,
            }),
        ),
        (
            OpCode::DELETE,
            TxnBody::Delete(DeleteTxn { path: s("/del") }),
        ),
        (
            OpCode::SET_DATA,
            TxnBody::SetData(SetDataTxn {
                path: s("/set"),
                data: data(),
                version: 1,
            }),
        ),
        (
            OpCode::CHECK,
            TxnBody::Check(CheckVersionTxn {
                path: s("/chk"),
                version: 3,
            }),
        ),
        (OpCode::ERROR, TxnBody::Error(ErrorTxn { err: -101 })),
    ]
}

/// Whole log entries as `Util#marshallTxnEntry` frames them: header, record, optional digest.
fn check_txn_entry(name: &str, expected: TxnEntry) {
    let bytes = fixture(name);
    let got = TxnEntry::from_bytes(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(got, expected, "{name}: decoded value");
    assert_eq!(got.to_vec(), bytes, "{name}: re-encoding differs");
}

const DIGEST: TxnDigest = TxnDigest {
    version: 2,
    tree_digest: 0x0fed_cba9_8765_4321,
};

#[test]
fn txn_entries() {
    check_txn_entry(
        "TxnEntry-multi",
        TxnEntry {
            header: txn_header(OpCode::MULTI),
            body: TxnBody::Multi(multi_txn_body()),
            digest: Some(DIGEST),
        },
    );
    check_txn_entry(
        "TxnEntry-create",
        TxnEntry {
            header: txn_header(OpCode::CREATE),
            body: TxnBody::Create(create_txn()),
            digest: None,
        },
    );
    check_txn_entry(
        "TxnEntry-createSession",
        TxnEntry {
            header: txn_header(OpCode::CREATE_SESSION),
            body: TxnBody::CreateSession(CreateSessionTxn { time_out: 4000 }),
            digest: Some(DIGEST),
        },
    );
    check_txn_entry(
        "TxnEntry-closeSession",
        TxnEntry {
            header: txn_header(OpCode::CLOSE_SESSION),
            body: TxnBody::CloseSession(Some(CloseSessionTxn {
                paths2_delete: strings(&["/eph"]),
            })),
            digest: Some(DIGEST),
        },
    );
    check_txn_entry(
        "TxnEntry-closeSession-norecord",
        TxnEntry {
            header: txn_header(OpCode::CLOSE_SESSION),
            body: TxnBody::CloseSession(None),
            digest: None,
        },
    );
}

/// The MultiTxn fixture, read as `TxnBody` the way the log reader will.
#[test]
fn multi_txn_as_typed_body() {
    let bytes = fixture("MultiTxn");
    let (rest, body) = finish(TxnBody::decode_for(OpCode::MULTI, &bytes)).unwrap();
    assert!(rest.is_empty());
    assert_eq!(body, TxnBody::Multi(multi_txn_body()));
}

/// Records of zookeeper.jute that no 3.8 opcode uses, so the crate has no type for them; their
/// layout (a path and an int, or one int) is checked with the primitives.
#[test]
fn obsolete_max_children_records() {
    for (name, path, max) in [
        ("SetMaxChildrenRequest", "/max", 99),
        ("SetMaxChildrenTxn", "/max", 10),
    ] {
        let bytes = fixture(name);
        let (rest, p) = finish(String::decode(&bytes)).unwrap();
        let (rest, m) = finish(i32::decode(rest)).unwrap();
        assert_eq!((p.as_str(), m, rest.len()), (path, max, 0), "{name}");
    }
    check::<GetAllChildrenNumberRequest>(
        "GetMaxChildrenRequest",
        GetAllChildrenNumberRequest { path: s("/max") },
    );
    check::<ErrorResponse>("GetMaxChildrenResponse", ErrorResponse { err: -3 });
}

/// Null strings decode as empty for fields the crate types as plain `String` (Java keeps the
/// null): decoding works, re-encoding writes length 0 where Java wrote -1.
#[test]
fn null_strings_in_non_optional_fields_become_empty() {
    let bytes = fixture("Id-nulls");
    assert_eq!(bytes, [0xff; 8]);
    let id = Id::from_bytes(&bytes).unwrap();
    assert_eq!(id, Id::new("", ""));
    assert_eq!(id.to_vec(), [0; 8]);
}

/// Java's `BinaryOutputArchive#writeString` encodes each UTF-16 unit on its own, so a
/// supplementary character goes out as two 3-byte surrogates (CESU-8), and
/// `BinaryInputArchive#readString` (`new String(b, UTF_8)`) turns each such surrogate into ONE
/// U+FFFD (Rust's `from_utf8_lossy` makes three). Known divergence of src/jute, reported.
#[test]
fn supplementary_characters_decode_like_java() {
    let written = fixture("String-supplementary");
    assert_eq!(&written[10..], [0xed, 0xa0, 0xbe, 0xed, 0xb6, 0x80]);
    let decoded = String::from_bytes(&written).unwrap();
    assert_eq!(
        decoded.to_vec(),
        fixture("String-supplementary-reencoded"),
        "decoded as {decoded:?}; Java reads \"/crab/\\u{{fffd}}\\u{{fffd}}\""
    );
}

/// A client sending standard 4-byte UTF-8 (C, Python) gets it back from a Java server as CESU-8.
#[test]
fn supplementary_characters_reencode_like_java() {
    let decoded = String::from_bytes(&fixture("String-utf8")).unwrap();
    assert_eq!(decoded, "/crab/\u{1f980}");
    assert_eq!(decoded.to_vec(), fixture("String-utf8-reencoded"));
}

/// Every fixture the generator wrote is covered by a test above.
#[test]
fn every_fixture_is_checked() {
    let others = [
        "TxnEntry-multi",
        "TxnEntry-create",
        "TxnEntry-createSession",
        "TxnEntry-closeSession",
        "TxnEntry-closeSession-norecord",
        "SetMaxChildrenRequest",
        "SetMaxChildrenTxn",
        "GetMaxChildrenRequest",
        "GetMaxChildrenResponse",
        "Id-nulls",
        "String-supplementary",
        "String-supplementary-reencoded",
        "String-utf8",
        "String-utf8-reencoded",
    ];
    let mut unchecked = Vec::new();
    for entry in std::fs::read_dir(fixture_dir()).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let Some(stem) = name.strip_suffix(".bin") else {
            continue;
        };
        if !GOLDEN.contains(&stem) && !others.contains(&stem) {
            unchecked.push(stem.to_string());
        }
    }
    assert!(
        unchecked.is_empty(),
        "fixtures without a test: {unchecked:?}"
    );
}

/// A record followed by junk still decodes (the reference ignores trailing bytes); a record cut
/// short does not.
#[test]
fn truncated_fixtures_fail_cleanly() {
    let bytes = fixture("Create2Response");
    for cut in 0..bytes.len() {
        assert!(matches!(
            Create2Response::from_bytes(&bytes[..cut]),
            Err(DecodeError::Truncated | DecodeError::LengthOverrun { .. })
        ));
    }
}

// ---- real traffic: kazoo 2.8 <-> ZooKeeper 3.8.0, captured by tests/fixtures/gen/capture.sh ----

#[path = "../fuzz/src/dispatch.rs"]
mod dispatch;

/// Frames of tests/fixtures/wire in capture order: (file stem, bytes).
fn wire_frames() -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/wire");
    let mut frames: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
            (stem, std::fs::read(&path).unwrap())
        })
        .collect();
    frames.sort();
    assert!(frames.len() >= 30, "only {} wire frames", frames.len());
    frames
}

/// OpCode for the label capture_proxy.py gives a frame (`ZooDefs.OpNames` spelling).
fn op_named(label: &str) -> OpCode {
    let op = label.split("-err").next().unwrap();
    match op {
        "create" => OpCode::CREATE,
        "create2" => OpCode::CREATE2,
        "delete" => OpCode::DELETE,
        "exists" => OpCode::EXISTS,
        "getData" => OpCode::GET_DATA,
        "setData" => OpCode::SET_DATA,
        "getACL" => OpCode::GET_ACL,
        "setACL" => OpCode::SET_ACL,
        "getChildren" => OpCode::GET_CHILDREN,
        "getChildren2" => OpCode::GET_CHILDREN2,
        "sync" => OpCode::SYNC,
        "multi" => OpCode::MULTI,
        "closeSession" => OpCode::CLOSE_SESSION,
        "notification" => OpCode::NOTIFICATION,
        "ping" => OpCode::PING,
        other => panic!("no opcode for frame label {other}"),
    }
}

/// Every captured frame decodes completely and re-encodes to the very same bytes.
#[test]
fn wire_frames_round_trip() {
    for (stem, bytes) in wire_frames() {
        let mut parts = stem.splitn(3, '-');
        let (_seq, dir, label) = (parts.next(), parts.next().unwrap(), parts.next().unwrap());
        let decoded = match (dir, label) {
            ("c2s", "connect") => {
                let req = ConnectRequest::from_bytes(&bytes).unwrap();
                dispatch::Decoded {
                    unused: 0,
                    reencoded: req.to_vec(),
                }
            }
            ("s2c", "connect") => {
                let rsp = ConnectResponse::from_bytes(&bytes).unwrap();
                dispatch::Decoded {
                    unused: 0,
                    reencoded: rsp.to_vec(),
                }
            }
            ("c2s", _) => {
                let (header, d) = dispatch::decode_request(&bytes).unwrap();
                assert_eq!(header.op, op_named(label), "{stem}");
                d
            }
            ("s2c", _) => dispatch::decode_reply(op_named(label), &bytes).unwrap().1,
            _ => panic!("bad fixture name {stem}"),
        };
        assert_eq!(decoded.unused, 0, "{stem}: bytes left over");
        assert_eq!(decoded.reencoded, bytes, "{stem}: re-encoding differs");
    }
}

fn frame(label: &str) -> Vec<u8> {
    wire_frames()
        .into_iter()
        .find(|(stem, _)| stem.ends_with(label))
        .unwrap_or_else(|| panic!("no frame {label}"))
        .1
}

fn reply<T: Jute>(label: &str) -> (ReplyHeader, T) {
    let bytes = frame(label);
    let (rest, header) = finish(ReplyHeader::decode(&bytes)).unwrap();
    (header, T::from_bytes(rest).unwrap())
}

/// What the captured session shows about the handshake, notifications and error replies.
#[test]
fn wire_facts() {
    // kazoo sends the readOnly byte; the server answers with one.
    let req = ConnectRequest::from_bytes(&frame("000-c2s-connect")).unwrap();
    assert_eq!(
        (req.protocol_version, req.session_id, req.read_only),
        (0, 0, Some(false))
    );
    assert_eq!(req.passwd.len(), 16);
    let rsp = ConnectResponse::from_bytes(&frame("001-s2c-connect")).unwrap();
    assert_eq!(
        (rsp.time_out, rsp.read_only, rsp.passwd.len()),
        (req.time_out, Some(false), 16)
    );

    // create2 of an ephemeral: the Stat names the session as owner
    let (_, created) = reply::<Create2Response>("s2c-create2");
    assert_eq!(created.stat.ephemeral_owner, rsp.session_id);
    assert_eq!(created.path, "/golden/e-0000000000");

    // the watch notification: xid -1, zxid -1, err 0, then a WatcherEvent
    let (header, event) = reply::<WatcherEvent>("s2c-notification");
    assert_eq!(
        (header.xid, header.zxid, header.err),
        (-1, -1, ErrorCode::OK)
    );
    assert_eq!(
        (event.event_type, event.state, event.path.as_str()),
        (3, 3, "/golden")
    );

    // errors outside multi: a bare ReplyHeader, no body
    for label in ["s2c-getData-err101", "s2c-create-err110"] {
        assert_eq!(frame(label).len(), 16, "{label}");
    }

    // a failing multi: err 0 in the ReplyHeader, the reason inside; the op before the failing
    // one reports 0 (it would have worked), the failing one its code
    let (header, multi) = reply::<MultiResponse>("018-s2c-multi");
    assert_eq!(header.err, ErrorCode::OK);
    assert_eq!(
        multi.results,
        vec![
            OpResult::Error(ErrorCode::OK),
            OpResult::Error(ErrorCode::BAD_VERSION)
        ]
    );

    // closeSession is answered with a bare header
    assert_eq!(frame("s2c-closeSession").len(), 16);
}
