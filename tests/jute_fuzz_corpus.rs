//! The `client_packet` fuzz target's checks, run by plain `cargo test`: every golden and wire
//! fixture, every truncation of each, single-byte corruptions of each, and proptest-generated
//! byte strings go through the same decode dispatch (`fuzz/src/dispatch.rs`). Nothing may panic
//! and decode(encode(decode(x))) must equal decode(x), but for characters outside the BMP,
//! which Java itself loses in the first round trip.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use proptest::prelude::*;

#[path = "../fuzz/src/dispatch.rs"]
mod dispatch;

fn fixtures() -> Vec<(String, Vec<u8>)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut out = Vec::new();
    for sub in ["jute", "wire"] {
        for entry in std::fs::read_dir(root.join(sub)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "bin") {
                out.push((path.display().to_string(), std::fs::read(&path).unwrap()));
            }
        }
    }
    out.sort();
    assert!(out.len() > 100);
    out
}

#[test]
fn fixtures_and_all_their_truncations() {
    for (_, bytes) in fixtures() {
        for cut in 0..=bytes.len() {
            dispatch::decode_everything(&bytes[..cut]);
            dispatch::decode_everything(&bytes[cut..]);
        }
    }
}

/// Each byte of each fixture replaced by a few values that upset length fields.
#[test]
fn fixtures_with_one_byte_corrupted() {
    for (_, bytes) in fixtures() {
        let mut copy = bytes.clone();
        for i in 0..bytes.len() {
            for b in [0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff] {
                copy[i] = b;
                dispatch::decode_everything(&copy);
            }
            copy[i] = bytes[i];
        }
    }
}

/// Header-shaped prefixes for every opcode 3.8 knows (and a few it does not), so random tails
/// reach every request record rather than dying on the opcode.
fn with_opcode() -> impl Strategy<Value = Vec<u8>> {
    let ops = prop::sample::select(vec![
        -11, -10, -1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21,
        22, 23, 100, 101, 102, 103, 104, 105, 106, 107, 108,
    ]);
    (any::<i32>(), ops, prop::collection::vec(any::<u8>(), 0..96)).prop_map(|(xid, op, tail)| {
        let mut v = Vec::with_capacity(8 + tail.len());
        v.extend_from_slice(&xid.to_be_bytes());
        v.extend_from_slice(&i32::to_be_bytes(op));
        v.extend_from_slice(&tail);
        v
    })
}

/// Small non-negative lengths are far likelier to walk deep into a record than random ones.
fn small_ints() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(prop_oneof![-2i32..8, Just(-1), any::<i32>()], 0..40)
        .prop_map(|ints| ints.iter().flat_map(|i| i.to_be_bytes()).collect())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes(data in prop::collection::vec(any::<u8>(), 0..256)) {
        dispatch::decode_everything(&data);
    }

    #[test]
    fn random_requests(data in with_opcode()) {
        dispatch::decode_everything(&data);
    }

    #[test]
    fn random_small_ints(data in small_ints()) {
        dispatch::decode_everything(&data);
        let mut with_header = vec![0, 0, 0, 1, 0, 0, 0, 14];
        with_header.extend_from_slice(&data);
        dispatch::decode_everything(&with_header);
    }
}

/// A path outside the BMP sent as 4-byte UTF-8 (what proptest once drew): 3.8 reads it, writes
/// it back as two surrogates (CESU-8) and reads those as two U+FFFD, so the round trip loses
/// the character, as ours does, and a second one is stable.
#[test]
fn a_character_outside_the_bmp_round_trips_as_java_does() {
    let path = "/\u{8608f}";
    let mut frame = Vec::new();
    frame.extend_from_slice(&7i32.to_be_bytes()); // xid
    frame.extend_from_slice(&6i32.to_be_bytes()); // getACL
    frame.extend_from_slice(&(path.len() as i32).to_be_bytes());
    frame.extend_from_slice(path.as_bytes());
    dispatch::decode_everything(&frame);

    use ferrokeeper::jute::proto::GetAclRequest;
    use ferrokeeper::jute::Jute;
    let request = GetAclRequest::from_bytes(&frame[8..]).unwrap();
    assert_eq!(request.path, path);
    let cesu = [0xed, 0xa7, 0x98, 0xed, 0xb2, 0x8f];
    assert_eq!(request.to_vec()[5..], cesu);
    let again = GetAclRequest::from_bytes(&request.to_vec()).unwrap();
    assert_eq!(again.path, "/\u{fffd}\u{fffd}");
}
