//! `ZKDatabase#committedLog`: the newest committed txns as they were logged, which a leader
//! syncs a learner from by DIFF. The database keeps it in every role (filled while the log is
//! replayed at start-up, and as txns are applied), so a learner elected leader has it without
//! reading its log again.
//!
//! Invariant: ascending by zxid, in commit order, at most `capacity` txns.

use std::collections::VecDeque;

use bytes::Bytes;

/// `zookeeper.commitLogCount` default (and minimum: smaller values are raised to it).
pub const DEFAULT_COMMIT_LOG_COUNT: usize = 500;

/// One committed txn: its zxid and the bytes every node logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedTxn {
    pub zxid: i64,
    pub data: Bytes,
}

/// The newest committed txns (`commitLogCount` of them, 500 by default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedLog {
    txns: VecDeque<CommittedTxn>,
    capacity: usize,
}

impl CommittedLog {
    pub fn new(capacity: usize) -> CommittedLog {
        CommittedLog {
            txns: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    /// A log that keeps nothing: a standalone server's, which no learner ever syncs from
    /// (filling one while replaying would hold 500 logged txns for nothing).
    pub fn unused() -> CommittedLog {
        CommittedLog {
            txns: VecDeque::new(),
            capacity: 0,
        }
    }

    /// Append the newest committed txn; the oldest goes when the log is full.
    pub fn push(&mut self, zxid: i64, data: Bytes) {
        if self.capacity == 0 {
            return;
        }
        if self.txns.len() == self.capacity {
            self.txns.pop_front();
        }
        self.txns.push_back(CommittedTxn { zxid, data });
    }

    /// `ZKDatabase#clear`: the database was replaced (a SNAP, a TRUNC's reload).
    pub fn clear(&mut self) {
        self.txns.clear();
    }

    /// The same txns kept up to `capacity` (the newest ones).
    pub fn with_capacity(mut self, capacity: usize) -> CommittedLog {
        self.capacity = capacity.max(1);
        while self.txns.len() > self.capacity {
            self.txns.pop_front();
        }
        self
    }

    pub fn len(&self) -> usize {
        self.txns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.txns.is_empty()
    }

    /// Every zxid, ascending.
    pub fn zxids(&self) -> Vec<i64> {
        self.txns.iter().map(|t| t.zxid).collect()
    }

    /// The logged bytes of `zxid`, if it is in the log.
    pub fn get(&self, zxid: i64) -> Option<&Bytes> {
        self.txns
            .binary_search_by_key(&zxid, |t| t.zxid)
            .ok()
            .and_then(|i| self.txns.get(i))
            .map(|t| &t.data)
    }

    pub fn iter(&self) -> impl Iterator<Item = &CommittedTxn> {
        self.txns.iter()
    }
}

impl Default for CommittedLog {
    fn default() -> Self {
        CommittedLog::new(DEFAULT_COMMIT_LOG_COUNT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unused_log_keeps_nothing() {
        let mut log = CommittedLog::unused();
        log.push(1, Bytes::from_static(b"x"));
        assert!(log.is_empty());
        assert_eq!(log.get(1), None);
    }

    #[test]
    fn keeps_the_newest_up_to_its_capacity_and_finds_them_by_zxid() {
        let mut log = CommittedLog::new(3);
        for z in 1..=5 {
            log.push(z, Bytes::from(vec![z as u8]));
        }
        assert_eq!(log.zxids(), vec![3, 4, 5]);
        assert_eq!(log.get(4), Some(&Bytes::from(vec![4u8])));
        assert_eq!(log.get(2), None);
        let log = log.with_capacity(2);
        assert_eq!(log.zxids(), vec![4, 5]);
        let mut log = log;
        log.clear();
        assert!(log.is_empty());
    }
}
