//! Txns in flight to the log stage and what happens once they are durable
//! (`CommitProcessor` + the write half of `FinalRequestProcessor`): apply in zxid order, fire
//! watches, then complete — reply to the client, finish a handshake, close an expired
//! session — and release the reads that waited behind the write in its session.

use tokio::time::Instant;

use super::{connect_response, finish_reply, ConnId, CoreState, Role};
use bytes::Bytes;

use crate::jute::codes::{ErrorCode, OpCode};
use crate::jute::txn::{EncodedTxn, TxnBody, TxnEntry};
use crate::pipeline::log_stage::LogRequest;
use crate::pipeline::results::write_reply;
use crate::request::{LastOp, Request};

/// What to do when a txn is durable and applied.
pub(crate) enum Completion {
    Reply {
        conn: ConnId,
        xid: i32,
        req: Request,
        received: Instant,
    },
    Connect {
        conn: ConnId,
        timeout: i32,
        read_only: Option<bool>,
    },
    Expire,
    /// A txn nobody waits for (container / TTL sweeps).
    Internal,
}

pub(crate) struct InFlight {
    pub(crate) txn: TxnEntry,
    pub(crate) done: Completion,
}

/// An entry of a session's queue: one of its in-flight writes, or a request behind one.
pub(crate) enum Queued {
    Write(i64),
    /// A learner's request forwarded to the leader: answered when its txn (or the leader's
    /// SYNC) comes back.
    Forwarded {
        conn: ConnId,
        xid: i32,
        req: Request,
        received: Instant,
    },
    Packet {
        conn: ConnId,
        xid: i32,
        req: Request,
        received: Instant,
    },
}

impl CoreState {
    /// Hand a prepped txn to the log stage; it completes once durable.
    pub(super) fn submit_txn(&mut self, txn: TxnEntry, done: Completion) {
        let zxid = txn.header.zxid;
        let session_id = txn.header.client_id;
        if matches!(done, Completion::Reply { .. }) {
            self.session_queues
                .entry(session_id)
                .or_default()
                .push_back(Queued::Write(zxid));
        }
        if matches!(self.role, Role::Leading(_)) {
            self.in_flight.push_back(InFlight {
                txn: txn.clone(),
                done,
            });
            self.propose(txn);
            return;
        }
        match &mut self.log {
            Some(log) => {
                let bytes = Bytes::from(txn.to_vec());
                let len = bytes.len();
                self.in_flight.push_back(InFlight { txn, done });
                // a stopped log stage is reported (once per turn) by `flush_log`
                log.submit(LogRequest::Append { zxid, bytes });
                self.note_logged(len);
            }
            None => {
                self.in_flight.push_back(InFlight { txn, done });
                self.complete_through(zxid);
            }
        }
    }

    /// Append a txn to the log stage (a leader's own proposals, a learner's), in the bytes
    /// the leader proposed.
    pub(super) fn log_txn(&mut self, txn: &EncodedTxn) {
        let zxid = txn.zxid();
        let bytes = txn.bytes().clone();
        let len = bytes.len();
        match &mut self.log {
            Some(log) => log.submit(LogRequest::Append { zxid, bytes }),
            None => tracing::error!(zxid, "no txn log to append to"),
        }
        self.note_logged(len);
    }

    /// Hand the txns of this turn of the loop to the log thread (one wake-up for all). If it
    /// has stopped, nothing submitted will be acknowledged: a learner or leader leaves its role.
    pub(super) fn flush_log(&mut self) {
        let Some(log) = &mut self.log else {
            return;
        };
        if !log.flush() {
            tracing::error!(
                "the log stage has stopped; txns submitted to it will not be acknowledged"
            );
            if !matches!(self.role, Role::Standalone) {
                self.reelect("the txn log stopped");
            }
        }
    }

    /// The log stage made everything up to `zxid` durable.
    pub(crate) fn durable(&mut self, zxid: i64) {
        match self.role {
            // the read-only server logs nothing
            Role::Standalone | Role::ReadOnly(_) => self.complete_through(zxid),
            Role::Leading(_) => self.leader_durable(zxid),
            Role::Following(_) => self.learner_durable(zxid),
        }
    }

    /// Everything up to `zxid` is committed: apply it and complete what waited for it.
    pub(super) fn complete_through(&mut self, zxid: i64) {
        while self
            .in_flight
            .front()
            .is_some_and(|f| f.txn.header.zxid <= zxid)
        {
            let Some(InFlight { txn, done }) = self.in_flight.pop_front() else {
                break;
            };
            let applied = self.apply_txn(&txn);
            self.complete(&txn, &applied, done);
        }
    }

    /// What waited for an applied txn: a reply, a handshake, an expired session's close.
    pub(super) fn complete(
        &mut self,
        txn: &TxnEntry,
        applied: &crate::tree::Applied,
        done: Completion,
    ) {
        match done {
            Completion::Reply {
                conn,
                xid,
                req,
                received,
            } => {
                let session_id = txn.header.client_id;
                if matches!(&txn.body, TxnBody::Error(e) if e.err == ErrorCode::SESSION_MOVED.0) {
                    // `FinalRequestProcessor`: SessionMoved is a connection-level error; the
                    // stale connection is closed with no reply (ZOOKEEPER-710)
                    tracing::info!(
                        session = format_args!("0x{session_id:x}"),
                        "session moved: closing the stale connection"
                    );
                    self.close(conn);
                    self.release_session_queue(session_id, txn.header.zxid);
                    return;
                }
                let result = write_reply(&req, txn, applied);
                if matches!(req, Request::Check(_)) && result.is_ok() {
                    // 3.8 answers a bare check with SetDataResponse(null), whose
                    // serialization throws in sendResponse: no reply at all
                    tracing::warn!(xid, "check outside a multi: logged, not answered (as 3.8)");
                } else {
                    // a failed write's ErrorTxn leaves `FinalRequestProcessor`'s lastOp at "NA"
                    let op_name = if txn.header.op == OpCode::ERROR {
                        LastOp::NotAvailable
                    } else {
                        req.last_op()
                    };
                    finish_reply(self, conn, xid, op_name, result, received);
                }
                if matches!(req, Request::CloseSession) {
                    self.sessions.remove(session_id);
                    self.close(conn);
                }
                self.release_session_queue(session_id, txn.header.zxid);
            }
            Completion::Connect {
                conn,
                timeout,
                read_only,
            } => {
                let session_id = txn.header.client_id;
                self.attach(conn, session_id);
                // 3.8's wording (ZooKeeperServer#finishSessionInit)
                tracing::info!(
                    "Established session 0x{session_id:x} with negotiated timeout {timeout}"
                );
                self.send(
                    conn,
                    connect_response(session_id, timeout, read_only, false),
                );
            }
            Completion::Expire => self.session_closed(txn.header.client_id),
            Completion::Internal => {
                if txn.header.op == crate::jute::codes::OpCode::CLOSE_SESSION {
                    self.session_closed(txn.header.client_id);
                }
            }
        }
    }

    /// A session's closeSession txn applied: forget it and hang up its connection.
    pub(super) fn session_closed(&mut self, session_id: i64) {
        self.sessions.remove(session_id);
        if let Some(conn) = self.session_conns.get(&session_id).copied() {
            self.close(conn);
            self.forget_conn(conn);
        }
    }

    /// The session's write `zxid` is answered: answer what queued behind it, up to its next write.
    pub(super) fn release_session_queue(&mut self, session_id: i64, zxid: i64) {
        let Some(queue) = self.session_queues.get_mut(&session_id) else {
            return;
        };
        if matches!(queue.front(), Some(Queued::Write(z)) if *z == zxid) {
            queue.pop_front();
        }
        loop {
            let Some(queue) = self.session_queues.get_mut(&session_id) else {
                return;
            };
            match queue.front() {
                Some(Queued::Packet { .. }) => {
                    if let Some(Queued::Packet {
                        conn,
                        xid,
                        req,
                        received,
                    }) = queue.pop_front()
                    {
                        self.dispatch_now(conn, xid, &req, received);
                    }
                }
                Some(Queued::Write(_) | Queued::Forwarded { .. }) => return,
                None => {
                    self.session_queues.remove(&session_id);
                    return;
                }
            }
        }
    }

    /// True if `session_id` has writes in flight, so its next read must wait.
    pub(super) fn session_busy(&self, session_id: i64) -> bool {
        self.session_queues
            .get(&session_id)
            .is_some_and(|q| !q.is_empty())
    }

    pub(super) fn enqueue(&mut self, session_id: i64, item: Queued) {
        self.session_queues
            .entry(session_id)
            .or_default()
            .push_back(item);
    }
}
