//! The client port (`NIOServerCnxnFactory`, `NIOServerCnxn`): accept with a per-IP cap
//! (maxClientCnxns), a first-four-bytes sniff for four-letter words and the handshake in one
//! task, then one small task per session that reads requests and writes what is queued. The
//! network side knows nothing of the tree: it decodes requests for the core and encodes the
//! typed replies and events the core queues for it (`encode`), so the core never frames bytes.

mod connection;
mod encode;
mod listener;

pub use connection::FourLetterHandler;
pub use listener::{bind, serve, ConnLimits};
