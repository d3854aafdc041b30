use super::*;

const E1: i64 = 0x1_0000_0000;
const E2: i64 = 0x2_0000_0000;

fn input<'a>(
    peer: i64,
    last: i64,
    committed: &'a [i64],
    txn_log: TxnLogHistory<'a>,
) -> SyncInput<'a> {
    SyncInput {
        peer_last_zxid: peer,
        last_processed_zxid: last,
        committed_log: committed,
        force_snap_sync: false,
        txn_log,
    }
}

fn from(source: Source, zxids: &[i64]) -> Vec<Queued> {
    zxids.iter().map(|&zxid| Queued { zxid, source }).collect()
}

fn snap(last: i64) -> SyncDecision {
    SyncDecision {
        plan: SyncPlan::Snap { zxid: last },
        forward_from: last,
    }
}

const LOG: [i64; 5] = [E1 + 1, E1 + 2, E1 + 3, E1 + 4, E1 + 5];

#[test]
fn forced_snap_wins_even_in_sync() {
    let mut i = input(E1 + 5, E1 + 5, &LOG, TxnLogHistory::Disabled);
    i.force_snap_sync = true;
    assert_eq!(plan_sync(&i), snap(E1 + 5));
}

#[test]
fn same_zxid_is_an_empty_diff_at_the_peer_zxid() {
    let d = plan_sync(&input(E1 + 5, E1 + 5, &LOG, TxnLogHistory::Disabled));
    assert_eq!(d.plan, SyncPlan::InSync { diff_zxid: E1 + 5 });
    assert_eq!(d.forward_from, E1 + 5);
    // a brand new ensemble: both at zero
    let d = plan_sync(&input(0, 0, &[], TxnLogHistory::Disabled));
    assert_eq!(d.plan, SyncPlan::InSync { diff_zxid: 0 });
}

#[test]
fn peer_ahead_of_the_committed_log_is_truncated_to_its_end() {
    let d = plan_sync(&input(E1 + 6, E1 + 5, &LOG, TxnLogHistory::Disabled));
    assert_eq!(d.plan, SyncPlan::Trunc { trunc_zxid: E1 + 5 });
    assert_eq!(d.forward_from, E1 + 5);
    // an empty committed log is the window [last, last]
    let d = plan_sync(&input(E1 + 9, E1 + 5, &[], TxnLogHistory::Disabled));
    assert_eq!(d.plan, SyncPlan::Trunc { trunc_zxid: E1 + 5 });
    // ...but never a new-epoch zxid: that falls through to SNAP
    assert_eq!(
        plan_sync(&input(E2, E1 + 5, &LOG, TxnLogHistory::Disabled)),
        snap(E1 + 5)
    );
}

#[test]
fn peer_inside_the_window_gets_a_diff_at_max_committed() {
    for peer in [E1 + 1, E1 + 3] {
        let d = plan_sync(&input(peer, E1 + 7, &LOG, TxnLogHistory::Disabled));
        let rest: Vec<i64> = LOG.iter().copied().filter(|z| *z > peer).collect();
        assert_eq!(
            d.plan,
            SyncPlan::Diff {
                diff_zxid: E1 + 5,
                proposals: from(Source::CommittedLog, &rest)
            }
        );
        assert_eq!(d.forward_from, E1 + 5);
    }
    // at the top of the window (leader's tree ahead of its committed log)
    let d = plan_sync(&input(E1 + 5, E1 + 7, &LOG, TxnLogHistory::Disabled));
    assert_eq!(
        d.plan,
        SyncPlan::Diff {
            diff_zxid: E1 + 5,
            proposals: vec![]
        }
    );
    assert_eq!(d.forward_from, E1 + 5);
}

#[test]
fn a_zxid_the_leader_never_saw_is_truncated_back_then_diffed() {
    let log = [E1 + 1, E1 + 2, E1 + 5, E1 + 6];
    let d = plan_sync(&input(E1 + 3, E1 + 6, &log, TxnLogHistory::Disabled));
    assert_eq!(
        d.plan,
        SyncPlan::TruncThenDiff {
            trunc_zxid: E1 + 2,
            proposals: from(Source::CommittedLog, &[E1 + 5, E1 + 6])
        }
    );
    assert_eq!(d.forward_from, E1 + 6);
}

#[test]
fn a_truncation_across_epochs_becomes_a_snap() {
    let log = [E1 + 1, E1 + 2, E2 + 1, E2 + 2];
    assert_eq!(
        plan_sync(&input(E1 + 3, E2 + 2, &log, TxnLogHistory::Disabled)),
        snap(E2 + 2)
    );
}

#[test]
fn a_new_epoch_peer_zxid_is_diffed_from_the_next_proposal() {
    let log = [E1 + 1, E1 + 2, E2 + 1, E2 + 2];
    let d = plan_sync(&input(E2, E2 + 2, &log, TxnLogHistory::Disabled));
    assert_eq!(
        d.plan,
        SyncPlan::Diff {
            diff_zxid: E2 + 2,
            proposals: from(Source::CommittedLog, &[E2 + 1, E2 + 2])
        }
    );
}

#[test]
fn below_the_window_without_usable_txn_log_is_a_snap() {
    for h in [
        TxnLogHistory::Disabled,
        TxnLogHistory::Unavailable,
        TxnLogHistory::Available(&[]),
    ] {
        assert_eq!(plan_sync(&input(E1, E1 + 5, &LOG[2..], h)), snap(E1 + 5));
    }
    // a learner with an empty log (zxid 0) joining a leader whose committed log is empty
    assert_eq!(
        plan_sync(&input(0, E1, &[], TxnLogHistory::Unavailable)),
        snap(E1)
    );
}

#[test]
fn below_the_window_txn_log_then_committed_log() {
    let disk = [E1 + 1, E1 + 2, E1 + 3, E1 + 4];
    let d = plan_sync(&input(
        E1 + 1,
        E1 + 5,
        &LOG[2..],
        TxnLogHistory::Available(&disk),
    ));
    let mut want = from(Source::TxnLog, &[E1 + 2, E1 + 3]);
    want.extend(from(Source::CommittedLog, &[E1 + 4, E1 + 5]));
    assert_eq!(
        d.plan,
        SyncPlan::Diff {
            diff_zxid: E1 + 5,
            proposals: want
        }
    );
    assert_eq!(d.forward_from, E1 + 5);
}

#[test]
fn a_gap_between_txn_log_and_committed_log_is_a_snap() {
    let disk = [E1 + 1, E1 + 2];
    let committed = [E1 + 4, E1 + 5];
    assert_eq!(
        plan_sync(&input(
            E1 + 1,
            E1 + 5,
            &committed,
            TxnLogHistory::Available(&disk)
        )),
        snap(E1 + 5)
    );
    // the txn log reaching exactly minCommittedLog is no gap
    let disk = [E1 + 1, E1 + 2, E1 + 3, E1 + 4];
    let d = plan_sync(&input(
        E1 + 1,
        E1 + 5,
        &committed,
        TxnLogHistory::Available(&disk),
    ));
    assert!(matches!(d.plan, SyncPlan::Diff { .. }));
}

#[test]
fn txn_log_gate_matches_get_proposals_from_txn_log() {
    assert!(!txn_log_usable(Some(1), 5, 10, -1));
    assert!(!txn_log_usable(None, 5, 10, 0));
    assert!(!txn_log_usable(Some(6), 5, 10, 0));
    assert!(txn_log_usable(Some(5), 5, u64::MAX, 0), "0 is no limit");
    assert!(txn_log_usable(Some(1), 5, 100, 100));
    assert!(!txn_log_usable(Some(1), 5, 101, 100));
    assert_eq!(txn_log_size_limit(1000, DEFAULT_SNAPSHOT_SIZE_FACTOR), 330);
    assert_eq!(txn_log_size_limit(1001, DEFAULT_SNAPSHOT_SIZE_FACTOR), 330);
    assert_eq!(txn_log_size_limit(0, DEFAULT_SNAPSHOT_SIZE_FACTOR), 0);
    assert!(txn_log_size_limit(1000, -1.0) < 0);
}
