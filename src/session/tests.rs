use super::*;

/// Values printed by Java for `SessionTrackerImpl.initializeNextSessionId`'s formula.
#[test]
fn initial_session_id_matches_java() {
    let cases: [(i64, i64, i64); 14] = [
        (0, 0, 0),
        (0, 1, 65536),
        (0, 1_700_000_000_000, 39353605962072064),
        (0, 0x7fff_ffff_ffff, 72057594037862400),
        (1, 0, 72057594037927936),
        (1, 1_700_000_000_000, 111411200000000000),
        (1, 123_456_789_012, 80148458162618368),
        (1, 0xff_ffff_ffff, 144115188075790336),
        (3, 1, 216172782113849344),
        (3, 1_700_000_000_000, 255526388075855872),
        (255, 0, -72057594037927936),
        (255, 123_456_789_012, -63966729913237504),
        (255, 0x7fff_ffff_ffff, -65536),
        // myid 128 at time 0 would be Long.MIN_VALUE, the container marker: skipped.
        (128, 0, -9223372036854775807),
    ];
    for (myid, now, want) in cases {
        assert_eq!(initial_session_id(myid, now), want, "myid {myid} now {now}");
    }
}

#[test]
fn ids_count_up_from_the_initial_one() {
    let mut t = SessionTracker::new(1, 2000, 1_700_000_000_000);
    assert_eq!(t.next_session_id(), 111411200000000000);
    assert_eq!(t.next_session_id(), 111411200000000001);
}

#[test]
fn buckets_are_tick_aligned_and_strictly_after_the_deadline() {
    let mut t = SessionTracker::new(0, 2000, 0);
    t.add_session(1, 4000, 1000); // deadline 5000 -> bucket 6000
    t.add_session(2, 4000, 2000); // deadline 6000 lands on a boundary -> bucket 8000
    assert_eq!(t.expiry_buckets(), vec![(6000, vec![1]), (8000, vec![2])]);
    assert_eq!(t.next_expiration_ms(), Some(6000));
    assert!(t.expired(5999).is_empty());
    assert_eq!(t.expired(6000), vec![1]);
    assert!(t.is_closing(1));
    assert!(t.contains(1), "expired sessions stay until removed");
    assert!(!t.touch(1, 6000), "closing sessions cannot be touched");
    assert_eq!(t.next_expiration_ms(), Some(8000));
    assert_eq!(t.expired(9000), vec![2]);
    assert_eq!(t.next_expiration_ms(), None);
}

#[test]
fn touch_moves_to_a_later_bucket() {
    let mut t = SessionTracker::new(0, 2000, 0);
    t.add_session(7, 4000, 0); // bucket 6000
    assert!(t.touch(7, 1500)); // 5500 -> still 6000
    assert_eq!(t.expiry_buckets(), vec![(6000, vec![7])]);
    assert!(t.touch(7, 2500)); // 6500 -> 8000
    assert_eq!(t.expiry_buckets(), vec![(8000, vec![7])]);
    assert!(t.expired(7999).is_empty());
    assert!(!t.touch(99, 2500), "unknown session");
    assert_eq!(t.expired(8000), vec![7]);
}

#[test]
fn touch_with_connection_timeout_keeps_stored_timeout() {
    let mut t = SessionTracker::new(0, 2000, 0);
    t.add_session(7, 4000, 0);
    assert!(t.touch_with_timeout(7, 10_000, 1000)); // 11000 -> 12000
    assert_eq!(t.expiry_buckets(), vec![(12000, vec![7])]);
    assert_eq!(t.timeout(7), Some(4000));
}

#[test]
fn remove_forgets_session_and_bucket() {
    let mut t = SessionTracker::new(0, 2000, 0);
    t.add_session(1, 4000, 0);
    t.add_session(2, 4000, 0);
    t.remove(1);
    assert!(!t.contains(1));
    assert_eq!(t.timeout(1), None);
    assert_eq!(t.sessions(), vec![(2, 4000)]);
    assert_eq!(t.expired(6000), vec![2]);
}

#[test]
fn reaping_catches_up_over_many_intervals() {
    let mut t = SessionTracker::new(0, 2000, 0);
    t.add_session(1, 4000, 0); // 6000
    t.add_session(2, 40_000, 0); // 42000
    t.add_session(3, 400_000, 0); // 402000
    let mut due = t.expired(100_000);
    due.sort_unstable();
    assert_eq!(due, vec![1, 2]);
    // After catching up, the next reaping time is the first boundary past `now`.
    assert_eq!(t.next_expiration_ms(), Some(402_000));
    assert!(t.expired(401_999).is_empty());
    assert_eq!(t.expired(1_000_000_000_000), vec![3]);
}

#[test]
fn re_adding_updates_timeout_and_bucket_but_keeps_closing() {
    let mut t = SessionTracker::new(0, 2000, 0);
    t.add_session(5, 4000, 0);
    t.set_closing(5);
    t.add_session(5, 8000, 0); // 8000 lands on a boundary -> 10000
    assert!(t.is_closing(5));
    assert_eq!(t.timeout(5), Some(8000));
    assert_eq!(t.expiry_buckets(), vec![(10000, vec![5])]);
    assert_eq!(t.sessions(), vec![(5, 8000)]);
}

#[test]
fn first_reaping_time_is_the_boundary_after_start() {
    // A session due in a bucket before the tracker's first reaping time is never reaped,
    // as in ExpiryQueue (only possible with a timeout below one tick).
    let mut t = SessionTracker::new(0, 2000, 5000); // first poll at 6000
    t.add_session(1, 0, 3000); // bucket 4000, behind the poll cursor
    assert_eq!(t.next_expiration_ms(), None);
    assert!(t.expired(100_000).is_empty());
    assert!(!t.is_closing(1));
}

#[test]
fn owners_are_taken_kept_and_moved() {
    let mut t = SessionTracker::new(1, 2000, 0);
    for id in [1, 2] {
        t.add_session(id, 30_000, 0);
    }
    // the first check takes the checker as owner
    assert_eq!(t.check_session(1, SessionOwner::Learner(7)), Ok(()));
    assert_eq!(t.check_session(1, SessionOwner::Learner(7)), Ok(()));
    assert_eq!(
        t.check_session(1, SessionOwner::Learner(8)),
        Err(SessionCheckError::Moved)
    );
    assert_eq!(
        t.check_session(1, SessionOwner::Server),
        Err(SessionCheckError::Moved)
    );
    assert_eq!(t.check_session(2, SessionOwner::Server), Ok(()));
    assert_eq!(
        t.check_session(2, SessionOwner::Learner(7)),
        Err(SessionCheckError::Moved)
    );
    // a revalidation moves it to another learner; clearing lets the next checker take it
    assert!(t.set_owner(2, Some(SessionOwner::Learner(9))));
    assert_eq!(t.check_session(2, SessionOwner::Learner(9)), Ok(()));
    assert!(t.set_owner(1, None));
    assert_eq!(t.check_session(1, SessionOwner::Server), Ok(()));
    assert_eq!(
        t.check_session(1, SessionOwner::Learner(7)),
        Err(SessionCheckError::Moved)
    );
    // removed and added again: no owner is left behind
    t.remove(2);
    assert_eq!(
        t.check_session(2, SessionOwner::Server),
        Err(SessionCheckError::Unknown)
    );
    t.add_session(2, 30_000, 0);
    assert_eq!(t.check_session(2, SessionOwner::Learner(1)), Ok(()));
    // closing: expired, and the owner cannot change
    t.set_closing(2);
    assert_eq!(
        t.check_session(2, SessionOwner::Learner(1)),
        Err(SessionCheckError::Expired)
    );
    assert!(!t.set_owner(2, Some(SessionOwner::Server)));
}
