//! Quorum SASL (DIGEST-MD5) in mixed ensembles of real Apache ZooKeeper 3.8.0 nodes and
//! ours (skipped without java / the jars / python3-kazoo): with `quorum.auth.enableSasl`,
//! `learnerRequireSasl` and `serverRequireSasl` on every node, either kind leads and the
//! other authenticates to it on the election and quorum ports; a node with the wrong
//! password is kept out while the others serve; a node that does not require SASL lets a
//! peer that does not authenticate through (the Admin Guide's rolling switch).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::realzk::{
    ours_joins_then_leads, real_joins_then_leads, skip, stays_out, wait_formed,
    write_through_all_and_compare, Mixed, SERIAL,
};

const TICK_MS: u64 = 500;

/// The Admin Guide's JAAS file for DIGEST-MD5 quorum authentication, with the learner's
/// `password`; its path as a `SERVER_JVMFLAGS` value.
fn jaas(ens: &Mixed, name: &str, password: &str) -> String {
    ens.jaas(
        name,
        &format!(
            "QuorumServer {{\n       org.apache.zookeeper.server.auth.DigestLoginModule required\n       \
             user_test=\"test\";\n}};\nQuorumLearner {{\n       \
             org.apache.zookeeper.server.auth.DigestLoginModule required\n       \
             username=\"test\"\n       password=\"{password}\";\n}};\n"
        ),
    )
}

const REQUIRED: &str = "quorum.auth.enableSasl=true\nquorum.auth.learnerRequireSasl=true\n\
                        quorum.auth.serverRequireSasl=true\n";

/// Two real nodes and ours (sid 3): ours joins a real leader, then leads the real nodes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quorum_sasl_2zk_1ferro_either_leads() {
    if skip() {
        return;
    }
    let _serial = SERIAL.lock().await;
    let mut ens = Mixed::new("qsasl-2zk", 3, &[], TICK_MS);
    let flags = jaas(&ens, "good", "test");
    ens.set_extra_all(REQUIRED);
    ens.set_jvm_flags_all(&flags);
    ours_joins_then_leads(&mut ens, 60).await;
}

/// One real node (sid 3, so it leads) and two of ours; then ours with a wrong password
/// stays out while the other two serve, and joins with the right one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quorum_sasl_1zk_2ferro_and_a_wrong_password_is_kept_out() {
    if skip() {
        return;
    }
    let _serial = SERIAL.lock().await;
    let mut ens = Mixed::new("qsasl-1zk", 3, &[], TICK_MS);
    let good = jaas(&ens, "good", "test");
    let bad = jaas(&ens, "bad", "wrong");
    ens.set_extra_all(REQUIRED);
    ens.set_jvm_flags_all(&good);
    real_joins_then_leads(&mut ens, 60).await;

    // ours with the wrong password cannot join the real leader
    ens.stop_ours(1).await;
    ens.set_jvm_flags(1, &bad);
    ens.start_ours(1).await;
    stays_out(&ens, 1, 8).await;
    ens.kazoo(2, "zk.create('/while-out', b'')").await;
    ens.stop_ours(1).await;
    ens.set_jvm_flags(1, &good);
    ens.start_ours(1).await;
    ens.wait_mode(1, "follower", 60).await;
    write_through_all_and_compare(&ens, &[1, 2, 3], "back").await;
    ens.stop_ours(1).await;
    ens.stop_ours(2).await;
}

/// The rolling switch: nodes with `enableSasl` but nothing required accept a real node that
/// does not authenticate at all, and authenticate among themselves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quorum_sasl_not_required_lets_a_plain_peer_through() {
    if skip() {
        return;
    }
    let _serial = SERIAL.lock().await;
    let mut ens = Mixed::new("qsasl-roll", 3, &[], TICK_MS);
    let flags = jaas(&ens, "good", "test");
    for sid in 1..=2 {
        ens.set_extra(sid, "quorum.auth.enableSasl=true\n");
        ens.set_jvm_flags(sid, &flags);
    }
    ens.start_ours(1).await;
    ens.start_ours(2).await;
    wait_formed(&ens, &[1, 2], 60).await;
    // sid 3 knows nothing of SASL
    ens.start_real(3);
    wait_formed(&ens, &[1, 2, 3], 60).await;
    write_through_all_and_compare(&ens, &[1, 2, 3], "mixed-auth").await;
    ens.stop_ours(1).await;
    ens.stop_ours(2).await;
}
