use super::writer::padded_size;
use super::*;

#[test]
fn file_names_are_lowercase_hex_without_padding() {
    assert_eq!(log_file_name(1), "log.1");
    assert_eq!(log_file_name(0x1_0000_00ab), "log.1000000ab");
    assert_eq!(zxid_from_name("log.1000000ab", "log"), 0x1_0000_00ab);
    // Util#getZxidFromName: the part after the first dot, other parts ignored.
    assert_eq!(zxid_from_name("log.1f.bak", "log"), 0x1f);
    assert_eq!(zxid_from_name("log.xyz", "log"), -1);
    assert_eq!(zxid_from_name("snapshot.1", "log"), -1);
    assert_eq!(zxid_from_name("log", "log"), -1);
}

#[test]
fn padding_matches_file_padding() {
    // FilePaddingTest: within 4 KiB of the end grows by one step...
    assert_eq!(padded_size(16, 16, 65536), 16 + 65536);
    assert_eq!(padded_size(62000, 65552, 65536), 65552 + 65536);
    // ...far from the end it does not...
    assert_eq!(padded_size(100, 65552, 65536), 65552);
    // ...past the end it rounds to a multiple of the step; 0 disables.
    assert_eq!(padded_size(200_000, 65552, 65536), 262_144);
    assert_eq!(padded_size(200_000, 16, 0), 16);
}

#[test]
fn log_files_selects_like_get_log_files() {
    let files: Vec<(i64, PathBuf)> = [1, 0x10, 0x20]
        .iter()
        .map(|z| (*z, PathBuf::from(log_file_name(*z))))
        .collect();
    let zs = |snap| -> Vec<i64> {
        select_log_files(files.clone(), snap)
            .into_iter()
            .map(|(z, _)| z)
            .collect()
    };
    assert_eq!(zs(0), vec![1, 0x10, 0x20]);
    assert_eq!(zs(0x10), vec![0x10, 0x20]);
    assert_eq!(zs(0x15), vec![0x10, 0x20]);
    assert_eq!(zs(0x100), vec![0x20]);
}

#[test]
fn adler32_is_java_util_zip_adler32() {
    // java.util.zip.Adler32 over "Wikipedia" (RFC 1950 initial value 1), and over nothing.
    assert_eq!(super::adler32(b"Wikipedia"), 0x11E6_0398);
    assert_eq!(super::adler32(b""), 1);
    // Long inputs cross the vectorised blocks and the modulo interval alike.
    let long: Vec<u8> = (0..200_000u32).map(|i| (i * 7 + i / 3) as u8).collect();
    assert_eq!(super::adler32(&long), adler2::adler32_slice(&long));
}
