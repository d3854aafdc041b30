//! A throwaway MIT KDC for the Kerberos tests: compat-tests/lib/kdc.py makes its directory
//! (config, database, principals, keytabs); this starts `krb5kdc -n` on it as our child and
//! stops it by PID on drop. Nothing is system-wide: every Kerberos client of the realm runs
//! with [`Kdc::env`].

use std::ffi::OsString;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const REALM: &str = "EXAMPLE.COM";

/// The files of a KDC directory made by kdc.py (also usable where only the path is known).
#[derive(Debug, Clone)]
pub struct KdcFiles {
    pub dir: PathBuf,
}

impl KdcFiles {
    /// The keytab of kdc.py's principal `name` (`zookeeper`, `zookeeper-old`, `alice`, `bob`,
    /// `zkquorum`, `expired`, `unknown`).
    pub fn keytab(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.keytab"))
    }

    /// The full principal of kdc.py's `name`.
    pub fn principal(&self, name: &str) -> String {
        match name {
            "zookeeper" | "zookeeper-old" => format!("zookeeper/localhost@{REALM}"),
            "zkquorum" => format!("zkquorum/localhost@{REALM}"),
            other => format!("{other}@{REALM}"),
        }
    }

    pub fn krb5_conf(&self) -> PathBuf {
        self.dir.join("krb5.conf")
    }

    /// The environment of a Kerberos client of this realm: its krb5.conf, a ticket cache and
    /// a replay cache in the directory, and no system keytab.
    pub fn env(&self) -> Vec<(&'static str, OsString)> {
        let file = |name: &str| {
            let mut s = OsString::from("FILE:");
            s.push(self.dir.join(name));
            s
        };
        vec![
            ("KRB5_CONFIG", self.krb5_conf().into_os_string()),
            (
                "KRB5_KDC_PROFILE",
                self.dir.join("kdc.conf").into_os_string(),
            ),
            ("KRB5CCNAME", file("ccache")),
            ("KRB5RCACHEDIR", self.dir.clone().into_os_string()),
            ("KRB5_KTNAME", file("none.keytab")),
            ("KRB5_CLIENT_KTNAME", file("none.keytab")),
        ]
    }
}

/// A running KDC; stopped (by PID) and its directory removed on drop.
pub struct Kdc {
    pub files: KdcFiles,
    pub port: u16,
    child: Child,
}

impl Kdc {
    pub fn start() -> Kdc {
        let dir = super::temp_data_dir();
        let port = super::free_port();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("compat-tests/lib/kdc.py");
        let out = Command::new("/usr/bin/python3")
            .arg(&script)
            .arg(&dir)
            .arg(port.to_string())
            .output()
            .expect("python3 runs kdc.py");
        assert!(
            out.status.success(),
            "kdc.py failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let files = KdcFiles { dir };
        let log = std::fs::File::create(files.dir.join("krb5kdc.out")).expect("kdc log");
        let child = Command::new("/usr/sbin/krb5kdc")
            .args(["-n", "-r", REALM])
            .envs(files.env())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("kdc log"))
            .stderr(log)
            .spawn()
            .expect("krb5kdc starts (krb5-kdc is installed by compat-tests/run --install-only)");
        let mut kdc = Kdc { files, port, child };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = kdc.child.try_wait().expect("krb5kdc status") {
                panic!("krb5kdc exited with {status}: {}", kdc.log());
            }
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return kdc;
            }
            assert!(
                Instant::now() < deadline,
                "krb5kdc did not listen on 127.0.0.1:{port}: {}",
                kdc.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn log(&self) -> String {
        ["krb5kdc.out", "kdc.log"]
            .iter()
            .filter_map(|f| std::fs::read_to_string(self.files.dir.join(f)).ok())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// A ticket for `name` from its keytab into the directory's ticket cache.
    pub fn kinit(&self, name: &str) {
        let out = Command::new("kinit")
            .args(["-k", "-t"])
            .arg(self.files.keytab(name))
            .arg(self.files.principal(name))
            .envs(self.files.env())
            .output()
            .expect("kinit runs");
        assert!(
            out.status.success(),
            "kinit {name}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Kdc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.files.dir);
    }
}
