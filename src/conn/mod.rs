//! The client ports (`NIOServerCnxnFactory`, `NIOServerCnxn`; for TLS and port unification
//! `NettyServerCnxnFactory`): accept with a per-IP cap (maxClientCnxns), TLS where the port
//! has it (`tls`), a first-four-bytes sniff for four-letter words and the handshake in one
//! task, then one small task per session that reads requests and writes what is queued,
//! over plaintext TCP or TLS alike (`transport`). The
//! network side knows nothing of the tree: it decodes requests for the core and encodes the
//! typed replies and events the core queues for it (`encode`), so the core never frames bytes.

mod connection;
mod encode;
mod listener;
mod tls;
mod transport;

pub use connection::FourLetterHandler;
pub use listener::{bind, serve, ClientListener, ConnIds, ConnLimits};
pub use tls::ClientTls;
