//! A throwaway MIT KDC for the Kerberos tests: compat-tests/lib/kdc.py makes its directory
//! (config, database, principals, keytabs); this starts `krb5kdc -n` on it as our child and
//! stops it by PID on drop. Nothing is system-wide: every Kerberos client of the realm runs
//! with [`Kdc::env`].

use std::ffi::OsString;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ferrokeeper::sasl::gssapi::Krb5Environment;

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

/// Runs a test case that needs MIT krb5 set up through the process environment (which a
/// process sets once, before its threads): in the parent, start a KDC, let `prepare` pick the
/// case's [`Krb5Environment`] (keytabs; krb5.conf is the KDC's), run `<this binary> <case>
/// --exact` with it, wait at most `limit` and check the child passed; None then. In the
/// child (`FERROKEEPER_KRB5_CASE` is `case`): Some of the KDC's files, to run the body.
pub fn isolated(
    case: &str,
    limit: Duration,
    prepare: impl FnOnce(&Kdc) -> Krb5Environment,
) -> Option<KdcFiles> {
    const CASE: &str = "FERROKEEPER_KRB5_CASE";
    const KDC_DIR: &str = "FERROKEEPER_KRB5_KDC_DIR";
    if std::env::var_os(CASE).is_some_and(|c| c == case) {
        let dir = std::env::var_os(KDC_DIR).expect("the parent names the KDC directory");
        return Some(KdcFiles {
            dir: PathBuf::from(dir),
        });
    }
    let kdc = Kdc::start();
    let env = Krb5Environment {
        krb5_conf: Some(kdc.files.krb5_conf()),
        ..prepare(&kdc)
    };
    let mut vars: Vec<(&str, OsString)> = kdc.files.env();
    vars.extend(env.variables());
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([case, "--exact", "--nocapture", "--test-threads=1"])
        .envs(vars)
        .env(CASE, case)
        .env(KDC_DIR, &kdc.files.dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // drained while it runs: a chatty child must not block on a full pipe
    let drain = |mut pipe: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut text = Vec::new();
            let _ = pipe.read_to_end(&mut text);
            text
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("case {case} did not finish in {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.join().unwrap()),
        String::from_utf8_lossy(&err.join().unwrap())
    );
    assert!(
        status.success(),
        "case {case} failed:\n{text}\nKDC log:\n{}",
        kdc.log()
    );
    assert!(
        text.contains("1 passed"),
        "case {case} did not run:\n{text}"
    );
    None
}
