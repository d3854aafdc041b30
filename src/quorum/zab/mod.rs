//! ZAB, the atomic broadcast between a leader and its learners (port 2888): replaces the wire
//! and decision parts of `Leader`, `Learner`, `Follower`, `Observer` and `LearnerHandler` of
//! ZooKeeper 3.8.0.
//!
//! - [`packet`]: the 19 `QuorumPacket` types and a typed view of each one's payload;
//! - [`stream`]: the unframed record stream of the quorum port and the SNAP payload in it;
//! - [`sync_plan`]: `LearnerHandler#syncFollower`'s DIFF / TRUNC / SNAP choice, as a pure
//!   function.
//!
//! Invariants: nothing here does I/O on sockets or panics on peer input; every zxid is the
//! reference's `epoch << 32 | counter`.

pub mod leader;
pub mod learner;
pub mod packet;
pub mod stream;
pub mod sync_plan;

/// `ZxidUtils#makeZxid`.
pub fn make_zxid(epoch: i64, counter: i64) -> i64 {
    (epoch << 32) | (counter & 0xffff_ffff)
}

/// `ZxidUtils#getEpochFromZxid`.
pub fn epoch_of(zxid: i64) -> i64 {
    zxid >> 32
}

/// `ZxidUtils#getCounterFromZxid`.
pub fn counter_of(zxid: i64) -> i64 {
    zxid & 0xffff_ffff
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zxid_halves() {
        assert_eq!(make_zxid(3, 7), 0x3_0000_0007);
        assert_eq!(epoch_of(0x3_0000_0007), 3);
        assert_eq!(counter_of(0x3_ffff_ffff), 0xffff_ffff);
        assert_eq!(epoch_of(-1), -1);
    }
}
