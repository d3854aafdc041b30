//! `module org.apache.zookeeper.data` of zookeeper.jute.

use crate::jute_record;

jute_record! {
    /// An identity: scheme (`world`, `auth`, `digest`, `ip`, `super`, ...) and id.
    pub struct Id {
        pub scheme: String,
        pub id: String,
    }
}

jute_record! {
    pub struct Acl {
        pub perms: i32,
        pub id: Id,
    }
}

jute_record! {
    /// The Stat a client sees (68 bytes).
    pub struct Stat {
        pub czxid: i64,
        pub mzxid: i64,
        pub ctime: i64,
        pub mtime: i64,
        pub version: i32,
        pub cversion: i32,
        pub aversion: i32,
        pub ephemeral_owner: i64,
        pub data_length: i32,
        pub num_children: i32,
        pub pzxid: i64,
    }
}

jute_record! {
    /// The Stat a snapshot stores (no dataLength / numChildren).
    pub struct StatPersisted {
        pub czxid: i64,
        pub mzxid: i64,
        pub ctime: i64,
        pub mtime: i64,
        pub version: i32,
        pub cversion: i32,
        pub aversion: i32,
        pub ephemeral_owner: i64,
        pub pzxid: i64,
    }
}

jute_record! {
    pub struct ClientInfo {
        pub auth_scheme: String,
        pub user: String,
    }
}

impl Id {
    pub fn new(scheme: &str, id: &str) -> Self {
        Id {
            scheme: scheme.to_string(),
            id: id.to_string(),
        }
    }
}

impl Acl {
    pub fn new(perms: i32, scheme: &str, id: &str) -> Self {
        Acl {
            perms,
            id: Id::new(scheme, id),
        }
    }

    /// `ZooDefs.Ids.OPEN_ACL_UNSAFE`.
    pub fn open_unsafe() -> Vec<Acl> {
        vec![Acl::new(super::codes::perms::ALL, "world", "anyone")]
    }

    /// `ZooDefs.Ids.READ_ACL_UNSAFE`.
    pub fn read_unsafe() -> Vec<Acl> {
        vec![Acl::new(super::codes::perms::READ, "world", "anyone")]
    }
}
