//! Quorum TLS in mixed ensembles of real Apache ZooKeeper 3.8.0 nodes and ours (skipped
//! without java / the jars / python3-kazoo / openssl): `sslQuorum=true` with either kind
//! leading and syncing the other (SNAP, DIFF, TRUNC), a plaintext node kept out of a TLS
//! ensemble, the Admin Guide's plaintext → TLS rolling upgrade with `portUnification` under
//! a writer that counts acknowledged writes, and a quorum moved to a new CA with
//! `sslQuorumReloadCertFiles`. Every node runs on 127.0.0.1 and shares one certificate
//! (compat-tests/lib/pki.py, made once per target dir).
//!
//! The long variant (three mixes, the register workload and its linearizability check, the
//! CA move under load) is scripts/tls-upgrade, run by hand.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::pki::pki;
use common::realzk::{
    assert_same_everywhere, stays_out, wait_formed, write_through_all_and_compare, Mixed, PY,
    SERIAL,
};

const TICK_MS: u64 = 500;

fn skip() -> bool {
    if common::realzk::skip() {
        return true;
    }
    let openssl = Command::new("openssl")
        .arg("version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !openssl {
        println!("skipped: openssl missing");
    }
    !openssl
}

/// zoo.cfg lines for quorum TLS with the key and trust stores `ks` / `ts`.
fn tls_lines(ssl_quorum: bool, port_unification: bool, ks: &Path, ts: &Path) -> String {
    format!(
        "sslQuorum={ssl_quorum}\nportUnification={port_unification}\n\
         ssl.quorum.keyStore.location={}\nssl.quorum.keyStore.password=changeit\n\
         ssl.quorum.trustStore.location={}\nssl.quorum.trustStore.password=changeit\n",
        ks.display(),
        ts.display()
    )
}

/// The shared server certificate and the CA.
fn quorum_tls(ssl_quorum: bool, port_unification: bool) -> String {
    let p = pki();
    tls_lines(
        ssl_quorum,
        port_unification,
        &p.join("server.jks"),
        &p.join("truststore.jks"),
    )
}

/// The leader's sync counters: (SNAP syncs, DIFF + TRUNC syncs) it has served.
async fn sync_counts(ens: &Mixed, leader: usize) -> (i64, i64) {
    (
        ens.mntr(leader, "snap_count").await,
        ens.mntr(leader, "diff_count").await,
    )
}

/// `sslQuorum=true`, two real nodes and ours: ours syncs from a real leader by SNAP, DIFF
/// and TRUNC; then ours leads, and a real node syncs from it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssl_quorum_2zk_1ferro_either_leads() {
    if skip() {
        return;
    }
    let _serial = SERIAL.lock().await;
    let mut ens = Mixed::new("qtls-2zk", 3, &[], TICK_MS);
    ens.set_extra_all(&quorum_tls(true, false));
    // the real pair first, so that one of them leads
    ens.start_real(1);
    ens.start_real(2);
    let leader = wait_formed(&ens, &[1, 2], 60).await;
    let other = 3 - leader;
    ens.kazoo(
        other,
        "for i in range(20): zk.create('/before-%d' % i, b'x' * i, makepath=True)",
    )
    .await;

    // SNAP over TLS to ours
    let (snaps, diffs) = sync_counts(&ens, leader).await;
    ens.start_ours(3).await;
    ens.wait_mode(3, "follower", 60).await;
    assert_eq!(sync_counts(&ens, leader).await, (snaps + 1, diffs));
    write_through_all_and_compare(&ens, &[1, 2, 3], "snap").await;

    // DIFF: ours down while writes go on
    ens.stop_ours(3).await;
    ens.kazoo(other, "for i in range(10): zk.create('/while-down-%d' % i)")
        .await;
    let (snaps, diffs) = sync_counts(&ens, leader).await;
    ens.start_ours(3).await;
    ens.wait_mode(3, "follower", 60).await;
    assert_eq!(sync_counts(&ens, leader).await, (snaps, diffs + 1));
    write_through_all_and_compare(&ens, &[1, 2, 3], "diff").await;

    // ours leads: the real leader goes, ours has the largest sid
    ens.kill_real(leader);
    ens.wait_mode(3, "leader", 60).await;
    ens.wait_mode(other, "follower", 60).await;
    ens.kazoo(other, "zk.create('/while-real-down', b'')").await;
    // the real node comes back and syncs from ours over TLS
    ens.start_real(leader);
    assert_eq!(wait_formed(&ens, &[1, 2, 3], 60).await, 3);
    write_through_all_and_compare(&ens, &[1, 2, 3], "ours-leads").await;
    ens.stop_ours(3).await;
}

/// `sslQuorum=true`, one real node (sid 3) and two of ours: ours lead and the real node
/// syncs from them by SNAP; then the real node leads ours. A node of ours restarted without
/// TLS stays out while the other two serve, and joins once TLS is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssl_quorum_1zk_2ferro_either_leads_and_plaintext_is_kept_out() {
    if skip() {
        return;
    }
    let _serial = SERIAL.lock().await;
    let mut ens = Mixed::new("qtls-1zk", 3, &[], TICK_MS);
    ens.set_extra_all(&quorum_tls(true, false));
    ens.start_ours(1).await;
    ens.start_ours(2).await;
    assert_eq!(wait_formed(&ens, &[1, 2], 60).await, 2);
    ens.kazoo(
        1,
        "for i in range(20): zk.create('/before-%d' % i, b'x' * i, makepath=True)",
    )
    .await;
    // the real node joins our leader: SNAP streamed over TLS to Java
    ens.start_real(3);
    ens.wait_mode(3, "follower", 60).await;
    write_through_all_and_compare(&ens, &[1, 2, 3], "ours-lead").await;

    // our leader goes: the real node (largest sid) leads ours
    ens.stop_ours(2).await;
    ens.wait_mode(3, "leader", 60).await;
    ens.wait_mode(1, "follower", 60).await;

    // ours back without TLS: refused on both ports, the others keep serving
    ens.set_extra(2, "");
    ens.start_ours(2).await;
    let writer = ens.kazoo_background(
        1,
        "import time\nfor i in range(20):\n    zk.create('/while-plain-%d' % i, b'')\n    time.sleep(0.2)",
    );
    stays_out(&ens, 2, 8).await;
    writer.finish().await;
    assert_same_everywhere(&ens, &[1, 3]).await;
    ens.stop_ours(2).await;

    // and with TLS it joins the real leader (DIFF)
    ens.set_extra(2, &quorum_tls(true, false));
    let (snaps, diffs) = sync_counts(&ens, 3).await;
    ens.start_ours(2).await;
    ens.wait_mode(2, "follower", 60).await;
    assert_eq!(sync_counts(&ens, 3).await, (snaps, diffs + 1));
    write_through_all_and_compare(&ens, &[1, 2, 3], "real-leads").await;
    ens.stop_ours(1).await;
    ens.stop_ours(2).await;
}

/// A kazoo client on every node's port creating `/upgrade/kNNNNNN` until `stop` exists (at
/// most 10 minutes); prints the indices whose create was acknowledged, then the longest
/// time without an acknowledgement. Killed by PID if dropped unfinished.
struct Writer {
    child: Option<Child>,
    stop: PathBuf,
}

impl Drop for Writer {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

const WRITER: &str = r#"
import os, sys, time
from kazoo.client import KazooClient
from kazoo.exceptions import KazooException
from kazoo.handlers.threading import KazooTimeoutError
hosts, stop = sys.argv[1], sys.argv[2]
zk = KazooClient(hosts=hosts, timeout=10, connection_retry={'max_tries': -1, 'delay': 0.1, 'max_delay': 1})
zk.start(timeout=60)
zk.ensure_path('/upgrade')
acked, i, last, gap = [], 0, time.time(), 0.0
deadline = time.time() + 600
while time.time() < deadline and not os.path.exists(stop):
    i += 1
    try:
        zk.create('/upgrade/k%06d' % i, b'v')
        acked.append(i)
        now = time.time()
        gap, last = max(gap, now - last), now
    except (KazooException, KazooTimeoutError):
        time.sleep(0.1)
    time.sleep(0.02)
print(' '.join(map(str, acked)))
print('%.1f' % gap)
zk.stop()
zk.close()
"#;

impl Writer {
    fn start(ens: &Mixed, sids: &[usize]) -> Writer {
        let hosts: Vec<String> = sids.iter().map(|s| ens.client(*s).to_string()).collect();
        let stop = ens.root.join("writer.stop");
        let child = Command::new(PY)
            .args(["-c", WRITER, &hosts.join(","), stop.to_str().unwrap()])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        Writer {
            child: Some(child),
            stop,
        }
    }

    /// Stops it; (acknowledged indices, the longest gap between acknowledgements in s).
    async fn finish(mut self) -> (Vec<u64>, f64) {
        std::fs::write(&self.stop, b"").unwrap();
        let mut child = self.child.take().unwrap();
        let out = tokio::task::spawn_blocking(move || {
            let deadline = Instant::now() + Duration::from_secs(60);
            while child.try_wait().unwrap().is_none() {
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("the writer did not stop");
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            child.wait_with_output().unwrap()
        })
        .await
        .unwrap();
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert!(
            out.status.success(),
            "writer failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut lines = stdout.lines();
        let acked = lines
            .next()
            .unwrap_or("")
            .split_whitespace()
            .map(|n| n.parse().unwrap())
            .collect();
        let gap = lines.next().unwrap_or("0").parse().unwrap();
        (acked, gap)
    }
}

/// Restarts `sid` with its current extra lines, as its kind, and waits until all of
/// `sids` form again.
async fn restart(ens: &mut Mixed, sid: usize, sids: &[usize]) {
    if ens.is_real(sid) {
        ens.kill_real(sid);
        ens.start_real(sid);
    } else {
        ens.stop_ours(sid).await;
        ens.start_ours(sid).await;
    }
    wait_formed(ens, sids, 90).await;
}

/// The Admin Guide's "Upgrading existing non-TLS cluster with no downtime", every server
/// restarted one at a time in each of its three steps, while a client writes through all.
async fn rolling_upgrade(real: &[usize], tag: &str) {
    let sids = [1, 2, 3];
    let mut ens = Mixed::new(tag, 3, &[], TICK_MS);
    for sid in sids {
        if real.contains(&sid) {
            ens.start_real(sid);
        } else {
            ens.start_ours(sid).await;
        }
    }
    wait_formed(&ens, &sids, 90).await;
    let writer = Writer::start(&ens, &sids);
    // some writes in plaintext first
    tokio::time::sleep(Duration::from_secs(2)).await;
    for (ssl_quorum, port_unification) in [(false, true), (true, true), (true, false)] {
        for sid in sids {
            ens.set_extra(sid, &quorum_tls(ssl_quorum, port_unification));
            restart(&mut ens, sid, &sids).await;
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (acked, gap) = writer.finish().await;
    println!(
        "{tag}: {} writes acknowledged, at most {gap} s without one",
        acked.len()
    );
    assert!(
        acked.len() >= 50,
        "only {} writes acknowledged",
        acked.len()
    );
    // every node lost its quorum peers only one at a time: writes never stopped for long
    assert!(gap < 30.0, "no write acknowledged for {gap} s");
    for sid in sids {
        let out = ens
            .kazoo(
                sid,
                "zk.sync('/upgrade')\nprint(' '.join(zk.get_children('/upgrade')))",
            )
            .await;
        let present: BTreeSet<u64> = out
            .split_whitespace()
            .map(|n| n.trim_start_matches('k').parse().unwrap())
            .collect();
        let lost: Vec<&u64> = acked.iter().filter(|i| !present.contains(i)).collect();
        assert!(
            lost.is_empty(),
            "server {sid} lost acknowledged writes {lost:?}"
        );
    }
    assert_same_everywhere(&ens, &sids).await;
    for sid in sids {
        ens.stop_ours(sid).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_upgrade_to_tls_1zk_2ferro() {
    if skip() {
        return;
    }
    let _serial = SERIAL.lock().await;
    rolling_upgrade(&[2], "qtls-upgrade-1zk").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_upgrade_to_tls_2zk_1ferro() {
    if skip() {
        return;
    }
    let _serial = SERIAL.lock().await;
    rolling_upgrade(&[1, 3], "qtls-upgrade-2zk").await;
}

/// Copies `from` over `to` in one rename, as an operator's deploy tool would.
fn replace_file(from: &Path, to: &Path) {
    let tmp = to.with_extension("new");
    std::fs::copy(from, &tmp).unwrap();
    std::fs::rename(&tmp, to).unwrap();
}

/// `sslQuorumReloadCertFiles=true` everywhere; every node's stores are moved to a second,
/// disjoint PKI while it runs. Connections made afterwards need the new material on both
/// ends: the leader goes, the two left elect and sync over fresh quorum connections, and
/// the old leader comes back with the new files.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quorum_certificates_reload() {
    if skip() {
        return;
    }
    let _serial = SERIAL.lock().await;
    let p = pki();
    let mut ens = Mixed::new("qtls-reload", 3, &[], TICK_MS);
    let (ks, ts) = (ens.root.join("quorum.jks"), ens.root.join("trust.jks"));
    std::fs::copy(p.join("server.jks"), &ks).unwrap();
    std::fs::copy(p.join("truststore.jks"), &ts).unwrap();
    let lines = format!(
        "{}sslQuorumReloadCertFiles=true\n",
        tls_lines(true, false, &ks, &ts)
    );
    ens.set_extra_all(&lines);
    // real 1, ours 2 and 3: ours 3 leads
    ens.start_ours(2).await;
    ens.start_ours(3).await;
    ens.start_real(1);
    assert_eq!(wait_formed(&ens, &[1, 2, 3], 60).await, 3);
    ens.kazoo(1, "zk.create('/before', b'old CA')").await;

    replace_file(&p.join("rogue-server.jks"), &ks);
    replace_file(&p.join("rogue-truststore.jks"), &ts);
    // ours look at the files every second; 3.8 is told by the file system at once
    tokio::time::sleep(Duration::from_secs(3)).await;

    ens.stop_ours(3).await;
    // real 1 and ours 2 must connect anew (2 leads): both ends need the new CA
    assert_eq!(wait_formed(&ens, &[1, 2], 60).await, 2);
    ens.start_ours(3).await;
    assert_eq!(wait_formed(&ens, &[1, 2, 3], 60).await, 2);
    write_through_all_and_compare(&ens, &[1, 2, 3], "rotated").await;
    ens.stop_ours(2).await;
    ens.stop_ours(3).await;
}

/// A key store that cannot be read stops an ensemble member at start-up, naming the setting
/// and the file; a wrong password likewise.
#[tokio::test]
async fn bad_quorum_key_store_stops_start_up() {
    let ens = Mixed::new("qtls-badstore", 3, &[], TICK_MS);
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/tls/fixtures");
    let garbage = ens.root.join("broken.jks");
    std::fs::write(&garbage, b"not a key store").unwrap();
    for (ks, password, why) in [
        (garbage.clone(), "changeit", "malformed"),
        (fixtures.join("server.jks"), "wrong", "password"),
    ] {
        let dir = ens.dir(1);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("myid"), "1\n").unwrap();
        let text = format!(
            "tickTime=500\ninitLimit=10\nsyncLimit=5\ndataDir={}\nclientPort={}\n\
             clientPortAddress=127.0.0.1\nadmin.enableServer=false\n{}sslQuorum=true\n\
             ssl.quorum.keyStore.location={}\nssl.quorum.keyStore.password={password}\n\
             ssl.quorum.trustStore.location={}\nssl.quorum.trustStore.password=trustpass\n",
            dir.display(),
            ens.ports[0].client,
            ens.server_lines(),
            ks.display(),
            fixtures.join("truststore.jks").display(),
        );
        let cfg_path = dir.join("zoo.cfg");
        std::fs::write(&cfg_path, text).unwrap();
        let cfg = ferrokeeper::config::load(&cfg_path).unwrap();
        let err = match ferrokeeper::server::start(cfg).await {
            Ok(_) => panic!("started with {}", ks.display()),
            Err(e) => e.to_string(),
        };
        assert!(err.contains("ssl.quorum.keyStore.location"), "{err}");
        assert!(err.contains(&ks.display().to_string()), "{err}");
        assert!(err.to_lowercase().contains(why), "{err}");
    }
}
