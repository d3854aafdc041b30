//! The Jute codec (`org.apache.jute` + `zookeeper.jute`). PURE: bytes in, records out; no I/O,
//! no dependency on the rest of the crate. Decoding never panics on any input.

pub mod codes;
pub mod data;
pub mod persistence;
pub mod prim;
pub mod proto;
pub mod quorum;
pub mod txn;
pub mod txn_ref;

pub use prim::{DecodeError, Jute};
