//! The global session table with tick-aligned expiry buckets (`SessionTrackerImpl`,
//! `ExpiryQueue`).
//!
//! Invariants:
//! * every bucket key is `roundToNextInterval(t)` for some time `t`, i.e. a multiple of
//!   tickTime strictly after `t` (`ExpiryQueue#roundToNextInterval`);
//! * a session sits in at most one bucket, the one its `expires_at` names, until that bucket
//!   is reaped by [`SessionTracker::expired`];
//! * `next_expiration_ms` only grows, one tickTime at a time as in `ExpiryQueue#poll`, so a
//!   bucket behind it is never reaped (the reference behaves the same).

use std::collections::{BTreeMap, BTreeSet, HashMap};

/// `SessionTrackerImpl#initializeNextSessionId`: the elapsed-time clock in ms shifted into
/// bits 16..56 (its top 24 bits dropped), the server id in the top byte. `Long.MIN_VALUE`
/// is skipped because it marks container nodes as ephemeral owner.
///
/// The reference reads `Time.currentElapsedTime()` (monotonic, `System.nanoTime()/1e6`).
pub fn initial_session_id(myid: i64, now_ms: i64) -> i64 {
    let shifted = ((now_ms << 24) as u64 >> 8) as i64;
    let id = shifted | (myid << 56);
    if id == i64::MIN {
        id + 1
    } else {
        id
    }
}

/// Which server-side party a session's requests last came through (`SessionImpl.owner`):
/// the leader's own client connections share one owner (`ServerCnxn.me`), each learner
/// connection of the leader is another (its `LearnerHandler`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionOwner {
    Server,
    Learner(u64),
}

/// Why `SessionTracker::check_session` refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionCheckError {
    /// Not tracked here (`UnknownSessionException`).
    Unknown,
    /// Closing (`SessionExpiredException`).
    Expired,
    /// Owned by another connection (`SessionMovedException`).
    Moved,
}

/// A session's owner as the tracker keeps it: the learner connection's id, for the few
/// sessions that have one, lives in `SessionTracker::learner_owners`, so that a session's
/// entry stays 16 bytes (every idle session pays for its entry).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OwnerKind {
    /// None until set, or until the first check takes the checker as owner.
    Unset,
    Server,
    Learner,
}

#[derive(Debug, Clone)]
struct Session {
    timeout_ms: i32,
    closing: bool,
    owner: OwnerKind,
    /// The bucket this session was last put in (`ExpiryQueue.elemMap`); kept after the
    /// bucket is reaped, as the reference does.
    expires_at: i64,
}

// 10,000 idle sessions take 16,384 slots of the table: every 8 bytes more per entry is
// ~13 B per session in the idle row of scripts/bench
const _: () = assert!(std::mem::size_of::<(i64, Session)>() <= 24);

/// Sessions, their timeouts, closing flags and expiry buckets. Time is always passed in.
#[derive(Debug, Clone)]
pub struct SessionTracker {
    expiration_interval: i64,
    next_session_id: i64,
    sessions: HashMap<i64, Session, ahash::RandomState>,
    /// The learner connection owning a session whose owner is `OwnerKind::Learner`.
    learner_owners: HashMap<i64, u64, ahash::RandomState>,
    buckets: BTreeMap<i64, BTreeSet<i64>>,
    next_expiration_ms: i64,
}

impl SessionTracker {
    /// A tracker for server `myid`, expiring on `tick_time_ms` boundaries; `now_ms` seeds the
    /// session id generator and the first reaping time. A non-positive tick is taken as 1 ms.
    pub fn new(myid: i64, tick_time_ms: i64, now_ms: i64) -> Self {
        let expiration_interval = tick_time_ms.max(1);
        let mut tracker = SessionTracker {
            expiration_interval,
            next_session_id: initial_session_id(myid, now_ms),
            sessions: HashMap::default(),
            learner_owners: HashMap::default(),
            buckets: BTreeMap::new(),
            next_expiration_ms: 0,
        };
        tracker.next_expiration_ms = tracker.round_to_next_interval(now_ms);
        tracker
    }

    /// `ExpiryQueue#roundToNextInterval`: the next multiple of the interval strictly after
    /// `time` (Java's truncating division, kept for negative inputs too).
    fn round_to_next_interval(&self, time: i64) -> i64 {
        let iv = self.expiration_interval;
        (time / iv).saturating_add(1).saturating_mul(iv)
    }

    /// `SessionTrackerImpl#createSession`'s id: the counter, then incremented.
    pub fn next_session_id(&mut self) -> i64 {
        let id = self.next_session_id;
        self.next_session_id = id.wrapping_add(1);
        id
    }

    /// `trackSession` + `commitSession`: register (or re-register) a session and put it in
    /// the bucket for `now_ms + timeout_ms`. A known session keeps its closing flag.
    pub fn add_session(&mut self, id: i64, timeout_ms: i32, now_ms: i64) {
        let at = self.round_to_next_interval(now_ms.saturating_add(i64::from(timeout_ms)));
        match self.sessions.get_mut(&id) {
            Some(s) => s.timeout_ms = timeout_ms,
            None => {
                self.sessions.insert(
                    id,
                    Session {
                        timeout_ms,
                        closing: false,
                        owner: OwnerKind::Unset,
                        expires_at: at,
                    },
                );
                self.buckets.entry(at).or_default().insert(id);
                return;
            }
        }
        self.move_to_bucket(id, at);
    }

    /// `touchSession` with the session's own timeout. False if unknown or closing.
    pub fn touch(&mut self, id: i64, now_ms: i64) -> bool {
        match self.sessions.get(&id) {
            Some(s) => {
                let timeout = s.timeout_ms;
                self.touch_with_timeout(id, timeout, now_ms)
            }
            None => false,
        }
    }

    /// `touchSession(id, timeout)`: the reference touches with the connection's negotiated
    /// timeout, which after a reconnect may differ from the one the session was created with
    /// (`ZooKeeperServer#revalidateSession`). The stored timeout is left alone.
    pub fn touch_with_timeout(&mut self, id: i64, timeout_ms: i32, now_ms: i64) -> bool {
        match self.sessions.get(&id) {
            Some(s) if !s.closing => {}
            _ => return false,
        }
        let at = self.round_to_next_interval(now_ms.saturating_add(i64::from(timeout_ms)));
        self.move_to_bucket(id, at);
        true
    }

    /// `ExpiryQueue#update`: nothing to do if the bucket is unchanged; otherwise into the new
    /// bucket and out of the old one (which may already have been reaped).
    fn move_to_bucket(&mut self, id: i64, at: i64) {
        let Some(s) = self.sessions.get_mut(&id) else {
            return;
        };
        let prev = std::mem::replace(&mut s.expires_at, at);
        if prev == at {
            return;
        }
        self.buckets.entry(at).or_default().insert(id);
        self.drop_from_bucket(id, prev);
    }

    fn drop_from_bucket(&mut self, id: i64, at: i64) {
        if let Some(set) = self.buckets.get_mut(&at) {
            set.remove(&id);
            if set.is_empty() {
                self.buckets.remove(&at);
            }
        }
    }

    /// The timeout the session was registered with (`getSessionTimeout`).
    pub fn timeout(&self, id: i64) -> Option<i32> {
        self.sessions.get(&id).map(|s| s.timeout_ms)
    }

    /// `isTrackingSession`: closing sessions are still tracked until removed.
    pub fn contains(&self, id: i64) -> bool {
        self.sessions.contains_key(&id)
    }

    /// `SessionTrackerImpl#checkSession`: a session without an owner takes `owner`; one
    /// owned by another is moved.
    pub fn check_session(&mut self, id: i64, owner: SessionOwner) -> Result<(), SessionCheckError> {
        let s = self
            .sessions
            .get_mut(&id)
            .ok_or(SessionCheckError::Unknown)?;
        if s.closing {
            return Err(SessionCheckError::Expired);
        }
        let current = match s.owner {
            OwnerKind::Unset => None,
            OwnerKind::Server => Some(SessionOwner::Server),
            OwnerKind::Learner => self
                .learner_owners
                .get(&id)
                .map(|&conn| SessionOwner::Learner(conn)),
        };
        match current {
            None => {
                Self::store_owner(&mut self.learner_owners, s, id, Some(owner));
                Ok(())
            }
            Some(o) if o == owner => Ok(()),
            Some(_) => Err(SessionCheckError::Moved),
        }
    }

    /// `setOwner`: false (nothing changed) if unknown or closing.
    pub fn set_owner(&mut self, id: i64, owner: Option<SessionOwner>) -> bool {
        match self.sessions.get_mut(&id) {
            Some(s) if !s.closing => {
                Self::store_owner(&mut self.learner_owners, s, id, owner);
                true
            }
            _ => false,
        }
    }

    fn store_owner(
        learner_owners: &mut HashMap<i64, u64, ahash::RandomState>,
        s: &mut Session,
        id: i64,
        owner: Option<SessionOwner>,
    ) {
        s.owner = match owner {
            Some(SessionOwner::Learner(conn)) => {
                learner_owners.insert(id, conn);
                OwnerKind::Learner
            }
            Some(SessionOwner::Server) => {
                learner_owners.remove(&id);
                OwnerKind::Server
            }
            None => {
                learner_owners.remove(&id);
                OwnerKind::Unset
            }
        };
    }

    /// `setSessionClosing`: later touches fail; unknown ids are ignored.
    pub fn set_closing(&mut self, id: i64) {
        if let Some(s) = self.sessions.get_mut(&id) {
            s.closing = true;
        }
    }

    pub fn is_closing(&self, id: i64) -> bool {
        self.sessions.get(&id).is_some_and(|s| s.closing)
    }

    /// `removeSession`: forget the session and its bucket entry.
    pub fn remove(&mut self, id: i64) {
        if let Some(s) = self.sessions.remove(&id) {
            self.learner_owners.remove(&id);
            self.drop_from_bucket(id, s.expires_at);
        }
    }

    /// The sessions whose bucket is due at `now_ms`, marked closing (`SessionTrackerImpl#run`
    /// polling `ExpiryQueue#poll` until it waits again). They stay tracked until
    /// [`SessionTracker::remove`]; the caller submits a closeSession for each.
    pub fn expired(&mut self, now_ms: i64) -> Vec<i64> {
        let iv = self.expiration_interval;
        let mut due = Vec::new();
        while self.next_expiration_ms <= now_ms {
            // Poll visits next, next+iv, ...; jump straight to the first of those that has a
            // bucket, instead of stepping through every empty interval.
            let next = self.next_expiration_ms;
            let hit = self
                .buckets
                .range(next..=now_ms)
                .map(|(&k, _)| k)
                .find(|k| (k - next) % iv == 0);
            match hit {
                Some(at) => {
                    if let Some(set) = self.buckets.remove(&at) {
                        due.extend(set);
                    }
                    self.next_expiration_ms = at.saturating_add(iv);
                }
                None => {
                    let steps = (now_ms - next) / iv + 1;
                    self.next_expiration_ms = next.saturating_add(steps.saturating_mul(iv));
                }
            }
        }
        for id in &due {
            self.set_closing(*id);
        }
        due
    }

    /// When [`SessionTracker::expired`] next has something to return, if anything is due
    /// at all. (The reference wakes every tickTime; waking only here gives the same result.)
    pub fn next_expiration_ms(&self) -> Option<i64> {
        let next = self.next_expiration_ms;
        let iv = self.expiration_interval;
        self.buckets
            .range(next..)
            .map(|(&k, _)| k)
            .find(|k| (k - next) % iv == 0)
    }

    /// Every tracked session with its timeout, by id (snapshots, `dump`, `cons`).
    pub fn sessions(&self) -> Vec<(i64, i32)> {
        let mut all: Vec<(i64, i32)> = self
            .sessions
            .iter()
            .map(|(&id, s)| (id, s.timeout_ms))
            .collect();
        all.sort_unstable();
        all
    }

    /// The pending buckets in time order, each with its session ids in order (for the `dump`
    /// four-letter word, `ExpiryQueue#dump`).
    pub fn expiry_buckets(&self) -> Vec<(i64, Vec<i64>)> {
        self.buckets
            .iter()
            .map(|(&at, ids)| (at, ids.iter().copied().collect()))
            .collect()
    }

    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }
}
