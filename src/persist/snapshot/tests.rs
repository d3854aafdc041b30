use super::*;

fn file_bytes(tree: &DataTree, sessions: &[(i64, i32)]) -> Vec<u8> {
    write_checked(Vec::new(), tree, sessions).unwrap()
}

fn load(bytes: &[u8], zxid: i64) -> Result<Loaded, Fault> {
    read_checked(bytes, DEFAULT_MAX_ITEM, TreeOptions::default(), zxid)
}

#[test]
fn names() {
    assert_eq!(zxid_from_name("snapshot.1a"), Some(0x1a));
    assert_eq!(zxid_from_name("snapshot.1a.gz"), Some(0x1a));
    assert_eq!(zxid_from_name("snapshot.zz"), None);
    assert_eq!(zxid_from_name("snapshot"), None);
    assert_eq!(zxid_from_name(".snapshot.1a.tmp"), None);
    assert_eq!(zxid_from_name("log.1a"), None);
    assert_eq!(
        snapshot_file_name(0x1_0000_002a, SnapshotCompression::Snappy),
        "snapshot.10000002a.snappy"
    );
    assert_eq!(
        SnapshotCompression::of_file_name("snapshot.5.GZ"),
        SnapshotCompression::Gzip
    );
    assert_eq!(
        SnapshotCompression::of_file_name("snapshot.5"),
        SnapshotCompression::None
    );
}

#[test]
fn fresh_tree_layout_and_round_trip() {
    let tree = DataTree::new(true);
    let bytes = file_bytes(&tree, &[(0x77, 30000)]);
    // header, 1 session, ACL map with READ_ACL_UNSAFE under id 1, then the root "".
    assert_eq!(
        &bytes[..16],
        &[0x5a, 0x4b, 0x53, 0x4e, 0, 0, 0, 2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]
    );
    assert_eq!(&bytes[16..20], &[0, 0, 0, 1]);
    assert_eq!(&bytes[32..44], &[0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1]);
    assert_eq!(&bytes[bytes.len() - 5..], &[0, 0, 0, 1, b'/']);
    let (t, sessions, digest) = load(&bytes, 0).unwrap();
    assert_eq!(sessions, vec![(0x77, 30000)]);
    assert_eq!(digest, Some((0, 2, tree.digest())));
    assert_eq!(t.digest(), tree.digest());
    assert_eq!(t.approximate_data_size(), tree.approximate_data_size());
    assert_eq!(file_bytes(&t, &sessions), bytes);
}

#[test]
fn every_truncation_is_an_error_with_an_offset() {
    let tree = DataTree::new(true);
    let bytes = file_bytes(&tree, &[(1, 2), (3, 4)]);
    // Ending right after the first seal is a snapshot from before digests: valid.
    let pre_digest = bytes.len() - 33;
    assert_eq!(load(&bytes[..pre_digest], 0).unwrap().2, None);
    for cut in (0..bytes.len()).filter(|c| *c != pre_digest) {
        let e = load(&bytes[..cut], 0).err();
        let f = e.unwrap_or_else(|| panic!("cut at {cut} loaded"));
        assert!(f.offset <= cut as u64, "cut {cut}: offset {}", f.offset);
    }
}

#[test]
fn flipped_byte_fails_the_seal() {
    let tree = DataTree::new(true);
    let mut bytes = file_bytes(&tree, &[]);
    // Inside the root's data-less stat: czxid.
    let i = bytes.len() / 2;
    bytes[i] ^= 0x40;
    assert!(load(&bytes, 0).is_err());
}

#[test]
fn digest_disabled_reader_ignores_the_trailer() {
    let tree = DataTree::new(true);
    let bytes = file_bytes(&tree, &[]);
    let opts = TreeOptions {
        digest_enabled: false,
        ..TreeOptions::default()
    };
    let (t, _, d) = read_checked(&bytes[..], DEFAULT_MAX_ITEM, opts, 0).unwrap();
    assert_eq!(d, None);
    assert_eq!(t.digest(), 0);
}
