//! ZooKeeper's numeric codes (`ZooDefs.OpCode`, `KeeperException.Code`, `Watcher.Event`,
//! `CreateMode`, `ZooDefs.Perms`, `Watcher.WatcherType`, `AddWatchMode`). Each is a newtype over
//! its wire integer so values we do not know survive a decode and can be answered correctly.

macro_rules! code_newtype {
    ($(#[$m:meta])* $name:ident($int:ty) { $( $(#[$cm:meta])* $konst:ident = $val:expr ),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        pub struct $name(pub $int);

        impl $name {
            $( $(#[$cm])* pub const $konst: $name = $name($val); )*

            /// The reference's constant name, if this value has one.
            pub fn name(self) -> Option<&'static str> {
                match self.0 {
                    $( $val => Some(stringify!($konst)), )*
                    _ => None,
                }
            }
        }

        impl $crate::jute::prim::Jute for $name {
            fn encode<B: ::bytes::BufMut>(&self, out: &mut B) {
                $crate::jute::prim::Jute::encode(&self.0, out)
            }
            fn decode(input: &[u8]) -> $crate::jute::prim::JResult<'_, Self> {
                let (rest, v) = <$int as $crate::jute::prim::Jute>::decode(input)?;
                Ok((rest, $name(v)))
            }
        }
    };
}

code_newtype! {
    /// `ZooDefs.OpCode`.
    OpCode(i32) {
        NOTIFICATION = 0,
        CREATE = 1,
        DELETE = 2,
        EXISTS = 3,
        GET_DATA = 4,
        SET_DATA = 5,
        GET_ACL = 6,
        SET_ACL = 7,
        GET_CHILDREN = 8,
        SYNC = 9,
        PING = 11,
        GET_CHILDREN2 = 12,
        CHECK = 13,
        MULTI = 14,
        CREATE2 = 15,
        RECONFIG = 16,
        CHECK_WATCHES = 17,
        REMOVE_WATCHES = 18,
        CREATE_CONTAINER = 19,
        DELETE_CONTAINER = 20,
        CREATE_TTL = 21,
        MULTI_READ = 22,
        AUTH = 100,
        SET_WATCHES = 101,
        SASL = 102,
        GET_EPHEMERALS = 103,
        GET_ALL_CHILDREN_NUMBER = 104,
        SET_WATCHES2 = 105,
        ADD_WATCH = 106,
        WHO_AM_I = 107,
        CREATE_SESSION = -10,
        CLOSE_SESSION = -11,
        ERROR = -1,
    }
}

code_newtype! {
    /// `KeeperException.Code`.
    ErrorCode(i32) {
        OK = 0,
        SYSTEM_ERROR = -1,
        RUNTIME_INCONSISTENCY = -2,
        DATA_INCONSISTENCY = -3,
        CONNECTION_LOSS = -4,
        MARSHALLING_ERROR = -5,
        UNIMPLEMENTED = -6,
        OPERATION_TIMEOUT = -7,
        BAD_ARGUMENTS = -8,
        UNKNOWN_SESSION = -12,
        NEW_CONFIG_NO_QUORUM = -13,
        RECONFIG_IN_PROGRESS = -14,
        API_ERROR = -100,
        NO_NODE = -101,
        NO_AUTH = -102,
        BAD_VERSION = -103,
        NO_CHILDREN_FOR_EPHEMERALS = -108,
        NODE_EXISTS = -110,
        NOT_EMPTY = -111,
        SESSION_EXPIRED = -112,
        INVALID_CALLBACK = -113,
        INVALID_ACL = -114,
        AUTH_FAILED = -115,
        SESSION_MOVED = -118,
        NOT_READ_ONLY = -119,
        EPHEMERAL_ON_LOCAL_SESSION = -120,
        NO_WATCHER = -121,
        REQUEST_TIMEOUT = -122,
        RECONFIG_DISABLED = -123,
        SESSION_CLOSED_REQUIRE_SASL_AUTH = -124,
        QUOTA_EXCEEDED = -125,
        THROTTLED_OP = -127,
    }
}

code_newtype! {
    /// `Watcher.Event.EventType`.
    EventType(i32) {
        NONE = -1,
        NODE_CREATED = 1,
        NODE_DELETED = 2,
        NODE_DATA_CHANGED = 3,
        NODE_CHILDREN_CHANGED = 4,
        DATA_WATCH_REMOVED = 5,
        CHILD_WATCH_REMOVED = 6,
        PERSISTENT_WATCH_REMOVED = 7,
    }
}

code_newtype! {
    /// `Watcher.Event.KeeperState`.
    KeeperState(i32) {
        UNKNOWN = -1,
        DISCONNECTED = 0,
        NO_SYNC_CONNECTED = 1,
        SYNC_CONNECTED = 3,
        AUTH_FAILED = 4,
        CONNECTED_READ_ONLY = 5,
        SASL_AUTHENTICATED = 6,
        EXPIRED = -112,
        CLOSED = 7,
    }
}

code_newtype! {
    /// `CreateMode` flags as sent in CreateRequest.flags.
    CreateMode(i32) {
        PERSISTENT = 0,
        EPHEMERAL = 1,
        PERSISTENT_SEQUENTIAL = 2,
        EPHEMERAL_SEQUENTIAL = 3,
        CONTAINER = 4,
        PERSISTENT_WITH_TTL = 5,
        PERSISTENT_SEQUENTIAL_WITH_TTL = 6,
    }
}

impl CreateMode {
    pub fn is_known(self) -> bool {
        (0..=6).contains(&self.0)
    }
    pub fn is_ephemeral(self) -> bool {
        matches!(self, Self::EPHEMERAL | Self::EPHEMERAL_SEQUENTIAL)
    }
    pub fn is_sequential(self) -> bool {
        matches!(
            self,
            Self::PERSISTENT_SEQUENTIAL
                | Self::EPHEMERAL_SEQUENTIAL
                | Self::PERSISTENT_SEQUENTIAL_WITH_TTL
        )
    }
    pub fn is_container(self) -> bool {
        self == Self::CONTAINER
    }
    pub fn is_ttl(self) -> bool {
        matches!(
            self,
            Self::PERSISTENT_WITH_TTL | Self::PERSISTENT_SEQUENTIAL_WITH_TTL
        )
    }
}

code_newtype! {
    /// `Watcher.WatcherType` for checkWatches / removeWatches (3.8 knows 1..=3).
    WatcherType(i32) {
        CHILDREN = 1,
        DATA = 2,
        ANY = 3,
    }
}

code_newtype! {
    /// `AddWatchMode`.
    AddWatchMode(i32) {
        PERSISTENT = 0,
        PERSISTENT_RECURSIVE = 1,
    }
}

/// `ZooDefs.Perms` bits.
pub mod perms {
    pub const READ: i32 = 1;
    pub const WRITE: i32 = 1 << 1;
    pub const CREATE: i32 = 1 << 2;
    pub const DELETE: i32 = 1 << 3;
    pub const ADMIN: i32 = 1 << 4;
    pub const ALL: i32 = READ | WRITE | CREATE | DELETE | ADMIN;
}

/// Special xids (`ClientCnxn`).
pub mod xid {
    pub const NOTIFICATION: i32 = -1;
    pub const PING: i32 = -2;
    pub const AUTH: i32 = -4;
    pub const SET_WATCHES: i32 = -8;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_unknown_values() {
        assert_eq!(OpCode(14).name(), Some("MULTI"));
        assert_eq!(OpCode(10).name(), None);
        assert_eq!(ErrorCode::NO_NODE.0, -101);
        assert!(CreateMode(3).is_ephemeral() && CreateMode(3).is_sequential());
        assert!(!CreateMode(7).is_known());
    }
}
