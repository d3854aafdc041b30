//! The client port (`NIOServerCnxnFactory`, `NIOServerCnxn`): accept with a per-IP cap
//! (maxClientCnxns), a first-four-bytes sniff for four-letter words, the handshake, then one
//! reader and one writer task per connection. The network side knows nothing of the tree: it
//! hands frames to the core and writes what the core queues for it.

mod connection;
mod listener;

pub use connection::FourLetterHandler;
pub use listener::{bind, serve, ConnLimits};
