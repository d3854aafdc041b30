//! The test PKI of the TLS tests: `compat-tests/lib/pki.py`'s (openssl + keytool), made once
//! per target dir (about 5 s) and reused: the CA, a server certificate, clients alice / bob /
//! super, a client of an untrusted CA, an expired client, a second (rogue) CA.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The PKI's directory, made on first use (pki.py reuses a finished one).
pub fn pki() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("tls-pki-v1");
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/compat-tests/lib/pki.py");
        let python = if Path::new(super::realzk::PY).exists() {
            super::realzk::PY
        } else {
            "python3"
        };
        let out = Command::new(python)
            .arg(script)
            .arg(&dir)
            .output()
            .expect("run pki.py (needs python3, openssl and keytool)");
        assert!(
            out.status.success(),
            "pki.py failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        dir
    })
}

/// A file of the PKI, as a zoo.cfg value.
pub fn pki_file(name: &str) -> String {
    pki().join(name).display().to_string()
}
