//! packaging/docker-entrypoint.sh, run without docker against a temporary root
//! (ZOO_ENTRYPOINT_ROOT): for each case in tests/fixtures/packaging, the files it leaves equal
//! the official `zookeeper` image's entrypoint's on the same environment (the golden `after/`
//! trees; regen-golden.sh there says how they were made). Then a config it writes starts the
//! server, which answers `srvr`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{free_port, temp_data_dir};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/packaging")
}

fn entrypoint() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/docker-entrypoint.sh")
}

/// Every regular file under `dir`, by path relative to it, with its content.
fn files_under(dir: &Path) -> BTreeMap<String, String> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(base, &path, out);
            } else {
                let rel = path.strip_prefix(base).unwrap().display().to_string();
                out.insert(rel, std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn copy_tree(from: &Path, to: &Path) {
    for (rel, text) in files_under(from) {
        let dest = to.join(rel);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::write(dest, text).unwrap();
    }
}

/// The entrypoint with only `env` (plus PATH) set, as a container's environment would be
/// without the image's ENV defaults: the script's own defaults must equal the image's.
fn entrypoint_command(env: &[(String, String)]) -> Command {
    let mut cmd = Command::new("bash");
    cmd.arg(entrypoint())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().map(|(k, v)| (k, v)));
    cmd
}

#[test]
fn writes_what_the_official_entrypoint_writes() {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(fixtures())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("env").is_file())
        .collect();
    cases.sort();
    assert!(cases.len() >= 7, "cases: {cases:?}");
    for case in cases {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let root = temp_data_dir();
        std::fs::create_dir_all(&root).unwrap();
        copy_tree(&case.join("before"), &root);
        let mut env: Vec<(String, String)> = std::fs::read_to_string(case.join("env"))
            .unwrap()
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        env.push(("ZOO_ENTRYPOINT_ROOT".into(), root.display().to_string()));
        let out = entrypoint_command(&env).arg("true").output().unwrap();
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let want = files_under(&case.join("after"));
        assert!(!want.is_empty(), "{name}: no golden files");
        assert_eq!(files_under(&root), want, "case {name}");
        std::fs::remove_dir_all(&root).unwrap();
    }
}

fn srvr(port: u16) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(b"srvr").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

/// The image's default command path: a first start with ZOO_SERVERS naming one participant
/// (the official default shape, `server.1=host:2888:3888;2181`) runs standalone on the client
/// port of that line, with the myid and dirs the entrypoint made.
#[test]
fn generated_config_starts_a_standalone_server() {
    let dir = temp_data_dir();
    let (client, quorum, election, admin) = (free_port(), free_port(), free_port(), free_port());
    let var = |k: &str, v: String| (k.to_string(), v);
    let env = vec![
        var("ZOO_CONF_DIR", dir.join("conf").display().to_string()),
        var("ZOO_DATA_DIR", dir.join("data").display().to_string()),
        var(
            "ZOO_DATA_LOG_DIR",
            dir.join("datalog").display().to_string(),
        ),
        var("ZOO_LOG_DIR", dir.join("logs").display().to_string()),
        var(
            "ZOO_SERVERS",
            format!("server.1=127.0.0.1:{quorum}:{election};127.0.0.1:{client}"),
        ),
        var(
            "ZOO_CFG_EXTRA",
            format!("admin.serverAddress=127.0.0.1 admin.serverPort={admin}"),
        ),
        var("ZOO_4LW_COMMANDS_WHITELIST", "srvr,ruok".into()),
    ];
    let mut child = entrypoint_command(&env)
        .arg(env!("CARGO_BIN_EXE_ferrokeeper"))
        .arg(dir.join("conf/zoo.cfg"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut answer = None;
    while Instant::now() < deadline {
        if let Some(out) = srvr(client).filter(|o| o.contains("Mode:")) {
            answer = Some(out);
            break;
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    child.kill().ok();
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let answer = answer.unwrap_or_else(|| panic!("no srvr answer ({status}): {stderr}"));
    assert!(answer.starts_with("Zookeeper version: 3.8.0-"), "{answer}");
    assert!(answer.contains("\nMode: standalone\n"), "{answer}");
    assert_eq!(
        std::fs::read_to_string(dir.join("data/myid")).unwrap(),
        "1\n"
    );
    // the server wrote its snapshot/log where the generated zoo.cfg said
    assert!(dir.join("datalog/version-2").is_dir() || dir.join("data/version-2").is_dir());
    std::fs::remove_dir_all(&dir).ok();
}
