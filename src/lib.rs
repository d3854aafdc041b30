//! ferrokeeper: a drop-in replacement for Apache ZooKeeper 3.8.
//!
//! ```text
//! client:  bytes ─conn::framing─▶ jute record ─request─▶ Request ─▶ prep ─▶ sync (txn log, fsync) ─▶ [commit] ─▶ apply
//!          conn writer ◀── per-session bounded queue (replies + watch events, in order) ◀── tree.apply + watch.trigger
//! ```
//!
//! | module | job |
//! |---|---|
//! | `jute` | pure Jute codec: every zookeeper.jute record, opcodes and codes |
//! | `config` | zoo.cfg (Java properties), defaults, validation |
//! | `conn` | client port: listener, framing, handshake, per-connection reader/writer |
//! | `request` | Request enum from RequestHeader + record; path validation |
//! | `session` | session table, ids and passwords as the reference builds them, expiry buckets |
//! | `pipeline` | prep (ACL, txn building) → sync (log) → apply (tree + watches + replies) |
//! | `tree` | DataTree: znodes, Stat, ephemerals, containers/TTL, quotas, digest |
//! | `watch` | one-shot, persistent and persistent-recursive watches |
//! | `persist` | txn log and snapshot files (the only module touching files) |
//! | `admin` | four-letter words |
//! | `server` | assembly and shutdown |

pub mod admin;
pub mod config;
pub mod conn;
pub mod jute;
pub mod persist;
pub mod pipeline;
pub mod quorum;
pub mod request;
pub mod server;
pub mod session;
pub mod tree;
pub mod watch;
