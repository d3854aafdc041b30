//! `module org.apache.zookeeper.server.quorum` of zookeeper.jute.

use bytes::Bytes;

use super::data::Id;
use crate::jute_record;

jute_record! {
    pub struct LearnerInfo {
        pub serverid: i64,
        pub protocol_version: i32,
        pub config_version: i64,
    }
}

jute_record! {
    pub struct QuorumPacket {
        pub packet_type: i32,
        pub zxid: i64,
        pub data: Option<Bytes>,
        pub authinfo: Option<Vec<Id>>,
    }
}

jute_record! {
    pub struct QuorumAuthPacket {
        pub magic: i64,
        pub status: i32,
        pub token: Option<Bytes>,
    }
}
