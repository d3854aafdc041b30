//! `module org.apache.zookeeper.server.persistence` of zookeeper.jute.

use crate::jute_record;

jute_record! {
    /// Header of `log.*` (magic "ZKLG") and `snapshot.*` (magic "ZKSN") files.
    pub struct FileHeader {
        pub magic: i32,
        pub version: i32,
        pub dbid: i64,
    }
}

/// "ZKLG"
pub const TXNLOG_MAGIC: i32 = 0x5A4B_4C47;
/// "ZKSN"
pub const SNAP_MAGIC: i32 = 0x5A4B_534E;
