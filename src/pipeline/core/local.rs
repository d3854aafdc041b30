//! Local sessions and session ownership in an ensemble (`UpgradeableSessionTracker`,
//! `LeaderSessionTracker`, `LearnerSessionTracker`, `QuorumZooKeeperServer#checkUpgradeSession`).
//!
//! With `localSessionsEnabled` a quorum member creates every new session itself, with no
//! txn: the id has the usual layout (this server's id in the top byte), it is touched and
//! expired here only, and no other server knows it, so a reconnect elsewhere is refused.
//! Its first ephemeral create upgrades it (`localSessionsUpgradingEnabled`): it leaves the
//! local table and a createSession txn goes through the quorum ahead of the create.
//!
//! The leader checks each request's session against its owner (`checkSession`): the
//! learner connection a session was created or revalidated through, or the leader itself
//! for its own clients. A request through anyone else finds the session moved.

use super::{ConnId, CoreState, Role};
use crate::jute::codes::{CreateMode, ErrorCode, OpCode};
use crate::jute::proto::MultiOp;
use crate::request::{LastOp, Request};
use crate::session::{SessionCheckError, SessionOwner};

/// What `checkUpgradeSession` decides for a request.
pub(super) enum Upgrade {
    /// Not a local session's ephemeral create: go on.
    No,
    /// Upgrading is off: the request fails with EphemeralOnLocalSession.
    Refused,
    /// The session left the local table; a createSession with this timeout goes first.
    Upgraded(i32),
}

/// create / create2 of an ephemeral node, alone or in a multi (what `checkUpgradeSession`
/// looks for; createContainer and createTTL are never ephemeral).
fn creates_ephemeral(req: &Request) -> bool {
    let ephemeral = |op: OpCode, flags: i32| {
        (op == OpCode::CREATE || op == OpCode::CREATE2) && CreateMode(flags).is_ephemeral()
    };
    match req {
        Request::Create(op, c) => ephemeral(*op, c.flags),
        Request::Multi(m) => m
            .ops
            .iter()
            .any(|o| matches!(o, MultiOp::Create(op, c) if ephemeral(*op, c.flags))),
        _ => false,
    }
}

impl CoreState {
    /// Local sessions are created and tracked here: a quorum member with
    /// `localSessionsEnabled` (the read-only server keeps its own rules).
    pub(super) fn local_sessions_on(&self) -> bool {
        self.config.local_sessions && matches!(self.role, Role::Leading(_) | Role::Following(_))
    }

    /// `UpgradeableSessionTracker#isLocalSession`.
    pub(super) fn is_local_session(&self, session_id: i64) -> bool {
        self.local_sessions_on() && self.local_sessions.contains(session_id)
    }

    /// `touchSession`: a local session first; on a learner an upgrading session is taken as
    /// live (the leader has it), as is a global one it knows.
    pub(super) fn touch_session(&mut self, session_id: i64, now: i64) -> bool {
        if self.is_local_session(session_id) {
            return self.local_sessions.touch(session_id, now);
        }
        self.sessions.touch(session_id, now)
            || (matches!(self.role, Role::Following(_)) && self.upgrading.contains(&session_id))
    }

    /// Tracked and not closing, without touching it (auth and sasl packets).
    pub(super) fn session_live(&self, session_id: i64) -> bool {
        let tracker = if self.is_local_session(session_id) {
            &self.local_sessions
        } else {
            &self.sessions
        };
        tracker.contains(session_id) && !tracker.is_closing(session_id)
    }

    /// A new local session, answered at once: nothing is logged.
    pub(super) fn new_local_session(
        &mut self,
        conn: ConnId,
        timeout: i32,
        read_only: Option<bool>,
    ) {
        let now = self.now_ms();
        let session_id = self.sessions.next_session_id();
        self.local_sessions.add_session(session_id, timeout, now);
        if matches!(self.role, Role::Leading(_)) {
            self.local_sessions
                .set_owner(session_id, Some(SessionOwner::Server));
        }
        self.attach(conn, session_id);
        tracing::info!(
            session = format_args!("0x{session_id:x}"),
            timeout,
            "Established local session"
        );
        self.send(
            conn,
            super::connect_response(session_id, timeout, read_only, false),
        );
    }

    /// A local session's closeSession: no txn; forgotten here, answered with the last zxid,
    /// and its connection closed. False if `session_id` is no local session of ours.
    pub(super) fn close_local_session(
        &mut self,
        conn: ConnId,
        session_id: i64,
        xid: i32,
        received: tokio::time::Instant,
    ) -> bool {
        if !self.is_local_session(session_id) {
            return false;
        }
        tracing::info!(
            session = format_args!("0x{session_id:x}"),
            "Submitting local closeSession request"
        );
        self.local_sessions.remove(session_id);
        super::finish_reply_counted(
            self,
            conn,
            xid,
            LastOp::CloseSession,
            Ok(None),
            received,
            false,
        );
        self.close(conn);
        true
    }

    /// `checkUpgradeSession` + `makeUpgradeRequest`: on the leader the session is tracked
    /// as global at once (`trackSession`), so the write behind it finds it.
    pub(super) fn check_upgrade(&mut self, session_id: i64, req: &Request) -> Upgrade {
        if !creates_ephemeral(req) || !self.is_local_session(session_id) {
            return Upgrade::No;
        }
        if !self.config.local_sessions_upgrading {
            return Upgrade::Refused;
        }
        let Some(timeout) = self.local_sessions.timeout(session_id) else {
            return Upgrade::No;
        };
        tracing::info!("Upgrading session 0x{session_id:x}");
        self.local_sessions.remove(session_id);
        self.upgrading.insert(session_id);
        if matches!(self.role, Role::Leading(_)) {
            let now = self.now_ms();
            self.sessions.add_session(session_id, timeout, now);
            // the upgrade request has no owner: the first check takes its checker
            self.sessions.set_owner(session_id, None);
        }
        Upgrade::Upgraded(timeout)
    }

    /// `LeaderSessionTracker#checkSession` (`checkGlobalSession` for an ephemeral create):
    /// the error a request of `session_id` through `owner` fails with, if any. A session
    /// the leader does not know may be another server's local session, which it lets by.
    pub(super) fn leader_check_session(
        &mut self,
        session_id: i64,
        owner: SessionOwner,
        req: &Request,
    ) -> Result<(), ErrorCode> {
        let global_only = creates_ephemeral(req);
        let local_on = self.local_sessions_on();
        if local_on && !global_only {
            match self.local_sessions.check_session(session_id, owner) {
                Ok(()) if !self.sessions.contains(session_id) => return Ok(()),
                Ok(()) | Err(SessionCheckError::Unknown) => {}
                Err(SessionCheckError::Expired) => return Err(ErrorCode::SESSION_EXPIRED),
                Err(SessionCheckError::Moved) => return Err(ErrorCode::SESSION_MOVED),
            }
        }
        match self.sessions.check_session(session_id, owner) {
            Ok(()) => Ok(()),
            Err(SessionCheckError::Moved) => Err(ErrorCode::SESSION_MOVED),
            Err(SessionCheckError::Expired) => Err(ErrorCode::SESSION_EXPIRED),
            Err(SessionCheckError::Unknown)
                if local_on && !global_only && (session_id >> 56) != self.config.myid =>
            {
                Ok(())
            }
            Err(SessionCheckError::Unknown) => Err(ErrorCode::SESSION_EXPIRED),
        }
    }

    /// `setOwner`: the local table first, then the global one.
    pub(super) fn set_session_owner(&mut self, session_id: i64, owner: SessionOwner) {
        if self.is_local_session(session_id) {
            self.local_sessions.set_owner(session_id, Some(owner));
        } else {
            self.sessions.set_owner(session_id, Some(owner));
        }
    }

    /// Local sessions due at `now` end here, with no txn (`LocalSessionTracker` expiring
    /// through `ZooKeeperServer#expire` of a local session).
    pub(super) fn expire_local_sessions(&mut self, now: i64) {
        for session_id in self.local_sessions.expired(now) {
            tracing::info!(
                session = format_args!("0x{session_id:x}"),
                "expiring local session"
            );
            self.local_sessions.remove(session_id);
            self.session_closed(session_id);
        }
    }
}
