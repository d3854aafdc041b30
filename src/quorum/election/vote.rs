//! `QuorumPeer.ServerState` and `Vote` (with `Vote#equals`' out-of-election rules) plus the
//! vote order of `FastLeaderElection#totalOrderPredicate`.

/// `QuorumPeer.ServerState`; the ordinal is the wire value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServerState {
    Looking,
    Following,
    Leading,
    Observing,
}

impl ServerState {
    pub fn from_wire(v: i32) -> Option<ServerState> {
        match v {
            0 => Some(ServerState::Looking),
            1 => Some(ServerState::Following),
            2 => Some(ServerState::Leading),
            3 => Some(ServerState::Observing),
            _ => None,
        }
    }

    pub fn to_wire(self) -> i32 {
        match self {
            ServerState::Looking => 0,
            ServerState::Following => 1,
            ServerState::Leading => 2,
            ServerState::Observing => 3,
        }
    }
}

/// A vote: who should lead, with the (zxid, peer epoch) backing it, in which election round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vote {
    /// Notification format version the vote came with (0 for our own).
    pub version: i32,
    /// The proposed leader's sid.
    pub id: i64,
    pub zxid: i64,
    /// Election round (`logicalclock`); -1 when not known.
    pub election_epoch: i64,
    pub peer_epoch: i64,
    pub state: ServerState,
}

impl Vote {
    pub fn new(id: i64, zxid: i64, election_epoch: i64, peer_epoch: i64) -> Vote {
        Vote {
            version: 0,
            id,
            zxid,
            election_epoch,
            peer_epoch,
            state: ServerState::Looking,
        }
    }

    /// `Vote#equals`: all of (id, zxid, round, epoch) while either side is LOOKING; for peers
    /// out of election only (id, peer epoch), and only the id across the ZOOKEEPER-1732
    /// version boundary.
    pub fn agrees_with(&self, other: &Vote) -> bool {
        if self.state == ServerState::Looking || other.state == ServerState::Looking {
            self.id == other.id
                && self.zxid == other.zxid
                && self.election_epoch == other.election_epoch
                && self.peer_epoch == other.peer_epoch
        } else if (self.version > 0) ^ (other.version > 0) {
            self.id == other.id
        } else {
            self.id == other.id && self.peer_epoch == other.peer_epoch
        }
    }
}

/// The leader a vote proposes, ordered as `totalOrderPredicate` (without its weight check)
/// orders them: peer epoch, then zxid, then sid. The fields are declared in that order, so
/// the derived `Ord` is that order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Candidate {
    pub peer_epoch: i64,
    pub zxid: i64,
    pub leader: i64,
}

impl Candidate {
    pub fn new(leader: i64, zxid: i64, peer_epoch: i64) -> Candidate {
        Candidate {
            peer_epoch,
            zxid,
            leader,
        }
    }

    /// The vote for this candidate in election round `election_epoch`.
    pub fn vote(self, election_epoch: i64) -> Vote {
        Vote::new(self.leader, self.zxid, election_epoch, self.peer_epoch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_is_epoch_then_zxid_then_sid() {
        let c = Candidate::new;
        assert!(c(1, 0, 2) > c(3, 0x99, 1));
        assert!(c(1, 5, 1) > c(3, 4, 1));
        assert!(c(3, 5, 1) > c(2, 5, 1));
        assert!(c(2, 5, 1) <= c(2, 5, 1));
    }

    #[test]
    fn out_of_election_votes_compare_id_and_epoch() {
        let mut a = Vote::new(2, 10, 1, 1);
        let mut b = Vote::new(2, 11, 5, 1);
        assert!(!a.agrees_with(&b));
        a.state = ServerState::Following;
        b.state = ServerState::Leading;
        assert!(a.agrees_with(&b));
        b.peer_epoch = 2;
        assert!(!a.agrees_with(&b));
        b.version = 2;
        assert!(a.agrees_with(&b), "mixed versions: id only");
    }

    #[test]
    fn state_wire_values() {
        for v in 0..4 {
            assert_eq!(ServerState::from_wire(v).map(ServerState::to_wire), Some(v));
        }
        assert_eq!(ServerState::from_wire(4), None);
    }
}
