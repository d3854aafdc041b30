//! ferrokeeper: a drop-in replacement for Apache ZooKeeper 3.8.
//!
//! ```text
//! client:  bytes ─conn (frame, decode)─▶ Request ─▶ core: prep (txn + digest) ─▶ pipeline::log_stage (log thread, group fsync) ─▶ apply
//!          conn writer ◀── per-connection queue (replies + watch events, in order) ◀── tree.apply + watch.trigger
//!          reads wait only behind their own session's in-flight writes
//! quorum:  server::ensemble (QuorumPeer loop): load db ─▶ election (3888: cnxmgr + fle) ─▶ role
//!          leader:  prep ─▶ LeaderEngine.propose (PROPOSAL to followers + own log) ─▶ quorum of ACKs ─▶ apply
//!          learner: LearnerEngine: register, sync (DIFF/TRUNC/SNAP), broadcast: PROPOSAL logged, ACKed once the
//!                   log stage reports it durable; COMMIT applied; local writes forwarded as REQUEST
//!          the core is each engine's one executor (pipeline/core/{leading,following}.rs): engines get packets and
//!          Durable(zxid) in, give actions out; zab/*/net own the sockets (a SNAP payload is parsed there)
//! ```
//!
//! | module | job |
//! |---|---|
//! | `jute` | pure Jute codec: every zookeeper.jute record, opcodes and codes |
//! | `config` | zoo.cfg (Java properties), `-D` system properties from `SERVER_JVMFLAGS`/`JVMFLAGS`, JAAS files, defaults, validation |
//! | `conn` | client port: listener, framing, handshake, request decoding, per-connection reader/writer |
//! | `request` | Request enum from RequestHeader + record; path validation |
//! | `session` | session table, ids and passwords as the reference builds them, expiry buckets |
//! | `pipeline` | prep (ACL, txn building) → log stage → apply (tree + watches + replies); the core also runs the leader / learner engine of its role |
//! | `tree` | DataTree: znodes, Stat, ephemerals, containers/TTL, quotas, digest |
//! | `watch` | one-shot, persistent and persistent-recursive watches |
//! | `persist` | txn log, snapshots, recovery, purge, epoch files (the only module touching files) |
//! | `quorum` | quorum verifiers, election connections (3888), FastLeaderElection, ZAB: wire layer, sync planner, leader and learner engines (sans-IO) and their sockets (2888) |
//! | `admin` | four-letter words, AdminServer (`/commands`), Prometheus `/metrics` |
//! | `server` | assembly: storage at start-up, core, listeners, autopurge, shutdown; `ensemble`: the QuorumPeer loop (elect, lead / follow, elect again) |
//! | `tls` | TLS material: `ssl.*` / `ssl.quorum.*` settings, JKS / PKCS12 / PEM stores, rustls configs and their reload, the `x509` id of a peer, the TLS sniff of port unification |
//! | `sasl` | SASL mechanisms (DIGEST-MD5, GSSAPI) as token state machines, server and client side; the server's login from its JAAS section (`sasl::server`) and the quorum's two logins (`sasl::quorum`, DIGEST-MD5 or Kerberos); connection tasks drive the exchanges and hand `sasl:<id>` to the core, `quorum::auth` runs the QuorumAuthPacket exchange |
//! | `tools` | the offline data tools as subcommands (`txnlog`, `snapshot`, `snapshot-compare`, `purge`): TxnLogToolkit, SnapshotFormatter, SnapshotComparer, PurgeTxnLog, same output and exit codes; `four-letter-word` (FourLetterWordMain, for `zkServer.sh status`) |
//! | `logging` | where the log goes: stderr, or a size-rolled file with 3.8's line pattern, from the `zookeeper.root.logger` / `zookeeper.log.*` properties `bin/zkServer.sh` passes |
//! | `javaorder` | iteration orders of Java's hash collections, which the reference's outputs follow |

pub mod admin;
pub mod config;
pub mod conn;
pub(crate) mod javaorder;
pub mod jute;
pub mod logging;
pub mod persist;
pub mod pipeline;
pub mod quorum;
pub mod request;
pub mod sasl;
pub mod server;
pub mod session;
pub mod tls;
pub mod tools;
pub mod tree;
pub mod watch;
