//! The learner's side of the core (`FollowerZooKeeperServer`, `ObserverZooKeeperServer`,
//! `FollowerRequestProcessor`, `Learner#request` / `#validateSession`, the follower half of
//! `CommitProcessor`): once synced, the [`LearnerEngine`] runs inside the core task. Local
//! writes, session creation and syncs go to the leader as REQUEST; the leader's PROPOSALs
//! are logged and acknowledged after their fsync; COMMITs (INFORMs) are applied and answer
//! the local request they belong to; reads are served from the local tree.
//!
//! Invariants: every packet that acknowledges a txn, and every apply, waits for the fsync of
//! everything logged before it (`deferred`), so nothing is acknowledged before it is durable
//! and the tree only holds committed txns that are on disk; a session's reads wait behind
//! its forwarded writes and syncs; the leader alone expires sessions.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::{
    connect_response, finish_reply, read_ctx, Completion, ConnId, CoreState, Queued, QuorumInbox,
    Role,
};
use crate::jute::codes::OpCode;
use crate::jute::txn::{TxnBody, TxnEntry};
use crate::quorum::zab::learner::net::{spawn_link, FromLeader, LinkTasks};
use crate::quorum::zab::learner::{LeaderLink, LearnerAction, LearnerEngine};
use crate::quorum::zab::packet::{LearnerRequest, Sender, SessionTouch, ZabMessage};
use crate::request::Request;

/// A client handshake waiting for the leader (createSession commit or REVALIDATE answer).
#[derive(Debug, Clone, Copy)]
pub(super) struct PendingConnect {
    conn: ConnId,
    timeout: i32,
    read_only: Option<bool>,
}

/// The follower / observer role.
pub struct Following {
    engine: LearnerEngine,
    link: LinkTasks,
    pub observer: bool,
    /// The newest zxid handed to the log, and the newest the log reported durable.
    logged: i64,
    durable: i64,
    /// Actions waiting for the log to be durable up to their zxid, in order.
    deferred: VecDeque<(i64, LearnerAction)>,
    /// `LearnerSessionTracker.touchTable`: sessions touched since the last PING.
    touched: HashMap<i64, i32>,
    connecting: HashMap<i64, PendingConnect>,
    revalidating: HashMap<i64, PendingConnect>,
    /// Sessions whose forwarded syncs wait for the leader's SYNC, oldest first.
    syncs: VecDeque<i64>,
}

impl Following {
    fn to_leader(&self, msg: &ZabMessage) {
        let mut buf = bytes::BytesMut::new();
        crate::jute::Jute::encode(&msg.to_packet(), &mut buf);
        let _ = self.link.to_leader.send(buf.freeze());
    }
}

impl CoreState {
    /// Serve as a synced learner (`Follower#followLeader` / `Observer#observeLeader` after
    /// `syncWithLeader`).
    pub fn start_following(
        &mut self,
        link: LeaderLink,
        read_timeout: Duration,
        observer: bool,
    ) -> QuorumInbox {
        let (tx, rx) = mpsc::unbounded_channel();
        let (engine, link) = spawn_link(link, read_timeout, tx);
        self.role = Role::Following(Box::new(Following {
            engine,
            link,
            observer,
            logged: 0,
            durable: 0,
            deferred: VecDeque::new(),
            touched: HashMap::new(),
            connecting: HashMap::new(),
            revalidating: HashMap::new(),
            syncs: VecDeque::new(),
        }));
        self.serving = true;
        QuorumInbox::Learner(rx)
    }

    fn following(&mut self) -> Option<&mut Following> {
        match &mut self.role {
            Role::Following(f) => Some(f),
            _ => None,
        }
    }

    pub(super) fn on_leader_message(&mut self, msg: FromLeader) {
        let p = match msg {
            FromLeader::Packet(p) => p,
            FromLeader::Lost(reason) => return self.reelect(&reason),
        };
        let Some(f) = self.following() else { return };
        let result = ZabMessage::parse(&p, Sender::Leader)
            .map_err(|e| e.to_string())
            .and_then(|m| f.engine.handle(m).map_err(|e| e.to_string()));
        match result {
            Ok(actions) => self.learner_actions(actions),
            Err(e) => self.reelect(&format!("from the leader: {e}")),
        }
    }

    fn learner_actions(&mut self, actions: Vec<LearnerAction>) {
        for action in actions {
            match action {
                LearnerAction::LogTxn(txn) => {
                    self.log_txn(&txn);
                    if let Some(f) = self.following() {
                        f.logged = f.logged.max(txn.zxid());
                    }
                }
                LearnerAction::SyncLog => {}
                other => {
                    let Some(f) = self.following() else { return };
                    if f.deferred.is_empty() && f.logged <= f.durable {
                        self.learner_action(other);
                    } else {
                        let gate = f.logged;
                        f.deferred.push_back((gate, other));
                    }
                }
            }
        }
    }

    pub(super) fn learner_durable(&mut self, zxid: i64) {
        let mut due = Vec::new();
        if let Some(f) = self.following() {
            f.durable = f.durable.max(zxid);
            while f.deferred.front().is_some_and(|(gate, _)| *gate <= zxid) {
                if let Some((_, a)) = f.deferred.pop_front() {
                    due.push(a);
                }
            }
        }
        for a in due {
            self.learner_action(a);
        }
    }

    fn learner_action(&mut self, action: LearnerAction) {
        match action {
            LearnerAction::Send(msg) => {
                if let Some(f) = self.following() {
                    f.to_leader(&msg);
                }
            }
            LearnerAction::ReplyPing { zxid, authinfo } => {
                let Some(f) = self.following() else { return };
                let touches = f
                    .touched
                    .drain()
                    .map(|(session_id, timeout)| SessionTouch {
                        session_id,
                        timeout,
                    })
                    .collect();
                f.to_leader(&ZabMessage::PingReply {
                    zxid,
                    touches,
                    authinfo,
                });
            }
            LearnerAction::ApplyTxn(txn) => self.learner_apply(&txn),
            LearnerAction::SyncCompleted => self.sync_completed(),
            LearnerAction::Revalidated { session_id, valid } => self.revalidated(session_id, valid),
            LearnerAction::Synced { .. } | LearnerAction::LogTxn(_) | LearnerAction::SyncLog => {}
            other => {
                tracing::error!(?other, "sync action after UPTODATE");
                self.reelect("unexpected sync action from the leader after UPTODATE");
            }
        }
    }

    /// `FinalRequestProcessor` on a learner: apply, then answer the local request it was.
    fn learner_apply(&mut self, txn: &TxnEntry) {
        let applied = self.apply_txn(txn);
        self.last_zxid = self.last_zxid.max(txn.header.zxid);
        let session_id = txn.header.client_id;
        if txn.header.op == OpCode::CREATE_SESSION {
            // the session table is the global one (`ZKDatabase#sessionsWithTimeouts`): snapshots
            // taken here must list sessions created through any server
            if let TxnBody::CreateSession(t) = &txn.body {
                let now = self.now_ms();
                self.sessions.add_session(session_id, t.time_out, now);
            }
            if let Some(p) = self
                .following()
                .and_then(|f| f.connecting.remove(&session_id))
            {
                self.complete(
                    txn,
                    &applied,
                    Completion::Connect {
                        conn: p.conn,
                        timeout: p.timeout,
                        read_only: p.read_only,
                    },
                );
            }
            return;
        }
        let ours = self
            .session_queues
            .get(&session_id)
            .and_then(|q| q.front())
            .is_some_and(|q| {
                matches!(q, Queued::Forwarded { xid, req, .. }
                    if *xid == txn.header.cxid && !matches!(req, Request::Sync(_)))
            });
        if ours {
            if let Some(Queued::Forwarded {
                conn,
                xid,
                req,
                received,
            }) = self
                .session_queues
                .get_mut(&session_id)
                .and_then(|q| q.pop_front())
            {
                self.complete(
                    txn,
                    &applied,
                    Completion::Reply {
                        conn,
                        xid,
                        req,
                        received,
                    },
                );
            }
        } else if txn.header.op == OpCode::CLOSE_SESSION {
            self.session_closed(session_id);
        }
    }

    /// The leader's SYNC: answer the oldest forwarded sync (`FollowerZooKeeperServer#sync`).
    fn sync_completed(&mut self) {
        let Some(session_id) = self.following().and_then(|f| f.syncs.pop_front()) else {
            tracing::warn!("SYNC from the leader with no sync pending");
            return;
        };
        let Some(queue) = self.session_queues.get_mut(&session_id) else {
            return;
        };
        let Some(pos) = queue.iter().position(|q| {
            matches!(
                q,
                Queued::Forwarded {
                    req: Request::Sync(_),
                    ..
                }
            )
        }) else {
            return;
        };
        let Some(Queued::Forwarded {
            conn,
            xid,
            req,
            received,
        }) = queue.remove(pos)
        else {
            return;
        };
        let result = read_ctx(self, conn, &[]).read(&req);
        let result =
            result.unwrap_or_else(|| Err(crate::jute::codes::ErrorCode::UNIMPLEMENTED).into());
        finish_reply(self, conn, xid, req.last_op_name(), result, received);
        self.release_session_queue(session_id, i64::MIN);
    }

    /// A write or sync of a local session goes to the leader (`FollowerRequestProcessor`).
    pub(super) fn forward(
        &mut self,
        conn: ConnId,
        xid: i32,
        op: OpCode,
        req: Request,
        body: Bytes,
        received: Instant,
    ) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        let session_id = c.session_id;
        let authinfo = Some(c.auth.clone());
        let is_sync = matches!(req, Request::Sync(_));
        self.enqueue(
            session_id,
            Queued::Forwarded {
                conn,
                xid,
                req,
                received,
            },
        );
        let Some(f) = self.following() else { return };
        if is_sync {
            f.syncs.push_back(session_id);
        }
        f.to_leader(&ZabMessage::Request(LearnerRequest {
            session_id,
            cxid: xid,
            op,
            request: body,
            authinfo,
        }));
    }

    /// A new session is created by the leader (`Learner#request` of createSession).
    pub(super) fn forward_create_session(
        &mut self,
        conn: ConnId,
        session_id: i64,
        timeout: i32,
        read_only: Option<bool>,
    ) {
        let Some(f) = self.following() else { return };
        f.connecting.insert(
            session_id,
            PendingConnect {
                conn,
                timeout,
                read_only,
            },
        );
        f.to_leader(&ZabMessage::Request(LearnerRequest {
            session_id,
            cxid: 0,
            op: OpCode::CREATE_SESSION,
            request: Bytes::copy_from_slice(&timeout.to_be_bytes()),
            authinfo: None,
        }));
    }

    /// A reconnect asks the leader whether the session lives (`Learner#validateSession`).
    pub(super) fn revalidate(
        &mut self,
        conn: ConnId,
        session_id: i64,
        timeout: i32,
        read_only: Option<bool>,
    ) {
        let Some(f) = self.following() else { return };
        f.revalidating.insert(
            session_id,
            PendingConnect {
                conn,
                timeout,
                read_only,
            },
        );
        f.to_leader(&ZabMessage::Revalidate {
            zxid: -1,
            session_id,
            timeout,
        });
    }

    fn revalidated(&mut self, session_id: i64, valid: bool) {
        let Some(p) = self
            .following()
            .and_then(|f| f.revalidating.remove(&session_id))
        else {
            return;
        };
        if !self.conns.contains_key(&p.conn) {
            return;
        }
        if !valid {
            tracing::info!(
                session = format_args!("0x{session_id:x}"),
                "the leader says the session is gone"
            );
            self.send(p.conn, connect_response(0, 0, p.read_only));
            self.close(p.conn);
            return;
        }
        self.resume_session(p.conn, session_id, p.timeout, p.read_only);
    }

    /// `LearnerSessionTracker#touchSession`: the leader hears of it in the next PING reply.
    pub(super) fn learner_touch(&mut self, session_id: i64) {
        let timeout = self.sessions.timeout(session_id).unwrap_or(0);
        if let Some(f) = self.following() {
            f.touched.insert(session_id, timeout);
        }
    }
}
