//! Fuzz target: one client frame body (RequestHeader + the record its opcode names), the same
//! bytes as a handshake, as a txn log entry and as a server reply. Decoding must never panic,
//! never allocate beyond the input, and decode(encode(decode(x))) must equal decode(x).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../src/dispatch.rs"]
mod dispatch;

fuzz_target!(|data: &[u8]| {
    dispatch::decode_everything(data);
});
