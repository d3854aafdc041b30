//! Quorum SASL with Kerberos (GSSAPI) in mixed ensembles of real Apache ZooKeeper 3.8 nodes
//! and ours, against a throwaway MIT KDC (skipped without java, the jars, python3-kazoo or
//! krb5-kdc). Every node logs in as `zkquorum/localhost@EXAMPLE.COM` from its keytab, the
//! `server.N` lines name `localhost`, and `quorum.auth.kerberos.servicePrincipal` is
//! `zkquorum/_HOST`, so each learner asks for the principal of the host it dials. Either kind
//! leads; a real node whose learner principal has no instance part (the CVE-2023-44981 case)
//! is kept out by our nodes while they serve.
//!
//! MIT krb5 reads its keytabs from the process environment, which ferrokeeper sets before
//! any thread exists; so each case runs in a child process of this test binary started with
//! that environment (as tests/sasl_gssapi.rs does), and our nodes are served in that child.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::time::Duration;

use common::kdc::{KdcFiles, REALM};
use common::realzk::{
    available, log_to_stderr, ours_joins_then_leads, real_joins_then_leads, stays_out, wait_formed,
    write_through_all_and_compare, Mixed,
};
use ferrokeeper::sasl::gssapi::Krb5Environment;

const TICK_MS: u64 = 500;
const KRB5_LOGIN_MODULE: &str = "com.sun.security.auth.module.Krb5LoginModule";
const REQUIRED: &str = "quorum.auth.enableSasl=true\nquorum.auth.learnerRequireSasl=true\n\
                        quorum.auth.serverRequireSasl=true\n\
                        quorum.auth.kerberos.servicePrincipal=zkquorum/_HOST\n";

/// One ensemble at a time: more JVMs would not fit the test machine.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// In the child: the KDC's files. In the parent (when the tools are there): start a KDC
/// and run `case` in a child with the Kerberos environment of a node that accepts and
/// initiates as `zkquorum`; None once the child passed.
fn isolated(case: &str) -> Option<KdcFiles> {
    if std::env::var_os("FERROKEEPER_KRB5_CASE").is_none()
        && (!available() || !Path::new("/usr/sbin/krb5kdc").exists())
    {
        println!("skipped: java, the ZooKeeper jars, python3-kazoo or krb5-kdc missing");
        return None;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    common::kdc::isolated(case, Duration::from_secs(400), |kdc| Krb5Environment {
        acceptor_keytab: Some(kdc.files.keytab("zkquorum")),
        initiator_keytab: Some(kdc.files.keytab("zkquorum")),
        ..Krb5Environment::default()
    })
}

/// The child's body on a runtime of its own.
fn run(body: impl std::future::Future<Output = ()>) {
    log_to_stderr();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(body);
}

/// A JAAS file whose `QuorumServer` accepts as `zkquorum` and whose `QuorumLearner` logs in
/// as `learner` (a kdc.py principal name); its `SERVER_JVMFLAGS`.
fn jaas(ens: &Mixed, files: &KdcFiles, name: &str, learner: &str) -> String {
    let entry = |who: &str| {
        format!(
            "       {KRB5_LOGIN_MODULE} required\n       useKeyTab=true\n       \
             keyTab=\"{}\"\n       storeKey=true\n       useTicketCache=false\n       \
             principal=\"{}\";\n",
            files.keytab(who).display(),
            files.principal(who)
        )
    };
    let login = ens.jaas(
        name,
        &format!(
            "QuorumServer {{\n{}}};\nQuorumLearner {{\n{}}};\n",
            entry("zkquorum"),
            entry(learner)
        ),
    );
    format!(
        "{login} -Djava.security.krb5.conf={}",
        files.krb5_conf().display()
    )
}

fn kerberos_ensemble(tag: &str, files: &KdcFiles) -> (Mixed, String) {
    assert_eq!(
        files.principal("zkquorum"),
        format!("zkquorum/localhost@{REALM}")
    );
    let mut ens = Mixed::new(tag, 3, &[], TICK_MS);
    ens.set_hostname("localhost");
    let flags = jaas(&ens, files, "good", "zkquorum");
    ens.set_extra_all(REQUIRED);
    ens.set_jvm_flags_all(&flags);
    (ens, flags)
}

/// Two real nodes and ours (sid 3): ours joins a real leader, then leads the real nodes.
#[test]
fn quorum_kerberos_2zk_1ferro_either_leads() {
    let Some(files) = isolated("quorum_kerberos_2zk_1ferro_either_leads") else {
        return;
    };
    run(async move {
        let (mut ens, _) = kerberos_ensemble("qkrb-2zk", &files);
        ours_joins_then_leads(&mut ens, 90).await;
    });
}

/// Two of ours and one real node (sid 3, so it leads once it is in); then the real node
/// restarts logging in as `alice@EXAMPLE.COM`, a principal without an instance part: our
/// nodes refuse it on the election port (CVE-2023-44981) and go on serving; with its own
/// principal again it joins.
#[test]
fn quorum_kerberos_1zk_2ferro_and_a_non_member_is_kept_out() {
    let Some(files) = isolated("quorum_kerberos_1zk_2ferro_and_a_non_member_is_kept_out") else {
        return;
    };
    run(async move {
        let (mut ens, good) = kerberos_ensemble("qkrb-1zk", &files);
        let alice = jaas(&ens, &files, "alice", "alice");
        real_joins_then_leads(&mut ens, 90).await;

        // not a quorum member: ours elect among themselves and keep it out
        ens.kill_real(3);
        ens.set_jvm_flags(3, &alice);
        ens.start_real(3);
        wait_formed(&ens, &[1, 2], 60).await;
        stays_out(&ens, 3, 10).await;
        ens.kazoo(2, "zk.create('/while-out', b'')").await;
        ens.kill_real(3);
        ens.set_jvm_flags(3, &good);
        ens.start_real(3);
        wait_formed(&ens, &[1, 2, 3], 90).await;
        write_through_all_and_compare(&ens, &[1, 2, 3], "back").await;
        ens.stop_ours(1).await;
        ens.stop_ours(2).await;
    });
}
