//! The client port (`NIOServerCnxnFactory`, `NIOServerCnxn`): accept with a per-IP cap
//! (maxClientCnxns), a first-four-bytes sniff for four-letter words and the handshake in one
//! task, then one small task per session that reads requests and writes what is queued. The
//! network side knows nothing of the tree: it hands frames to the core and writes what the
//! core queues for it.

mod connection;
mod listener;

pub use connection::FourLetterHandler;
pub use listener::{bind, serve, ConnLimits};
