//! One request packet of an established session (`ZooKeeperServer#processPacket` and the
//! dispatch of `FinalRequestProcessor`).

use tokio::time::Instant;

use super::local::Upgrade;
use super::{
    auth_packet, finish_reply, finish_reply_counted, read_ctx, Completion, ConnId, CoreState,
    Queued, Role,
};
use crate::jute::codes::{xid, ErrorCode, OpCode};
use crate::jute::data::Id;
use crate::jute::proto::{SetSaslResponse, SetWatches2};
use crate::pipeline::reply::{Answer, Outbound};
use crate::request::{LastOp, Request};
use crate::session::SessionOwner;

impl CoreState {
    pub(super) fn packet(
        &mut self,
        conn: ConnId,
        xid_: i32,
        op: OpCode,
        req: Option<Box<Request>>,
        body: bytes::Bytes,
        received: Instant,
    ) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        c.packets_received += 1;
        let session_id = c.session_id;
        let schemes = &self.config.enforce_auth_schemes;
        if !schemes.is_empty()
            && op != OpCode::AUTH
            && op != OpCode::SASL
            && !c.auth.iter().any(|id| schemes.contains(&id.scheme))
        {
            // `AuthenticationHelper#enforceAuthentication`: every other packet, pings
            // included, of a session without an id of an enforced scheme is answered
            // SessionClosedRequireSaslAuth and the connection closed (the session lives on
            // until it expires)
            let held: Vec<&str> = c.auth.iter().map(|id| id.scheme.as_str()).collect();
            tracing::error!(
                session = format_args!("0x{session_id:x}"),
                client = %c.remote,
                "Client authentication scheme(s) {held:?} does not match with any of the \
                 expected authentication scheme {schemes:?}, closing session."
            );
            self.send(
                conn,
                Outbound::header(xid_, 0, ErrorCode::SESSION_CLOSED_REQUIRE_SASL_AUTH),
            );
            self.close(conn);
            return;
        }
        let now = self.now_ms();
        // `ZooKeeperServer#processPacket` answers auth and sasl packets on arrival; only what
        // it submits (`submitRequestNow`) touches the session. So a client that loops on
        // SASL without pinging (kazoo against a server with no SASL login) still expires.
        let touches = !matches!(req.as_deref(), Some(Request::Auth(_) | Request::Sasl(_)));
        let live = if touches {
            self.touch_session(session_id, now)
        } else {
            self.session_live(session_id)
        };
        if session_id == 0 || !live {
            tracing::info!(
                session = format_args!("0x{session_id:x}"),
                "request for an expired or closing session; closing connection"
            );
            self.close(conn);
            return;
        }
        if touches && matches!(self.role, Role::Following(_)) && !self.is_local_session(session_id)
        {
            self.learner_touch(session_id);
        }
        let req = match req {
            Some(req) => *req,
            None => {
                // `ZooKeeperServer#submitRequestNow` hands it to `UnimplementedRequestProcessor`
                // before prep ever stamps a zxid on it: the reply carries the Request's initial
                // zxid, -1, and the connection is dropped
                tracing::info!(op = op.0, "unimplemented request type; closing connection");
                self.send(conn, Outbound::header(xid_, -1, ErrorCode::UNIMPLEMENTED));
                self.close(conn);
                return;
            }
        };
        match req {
            // processed on arrival, outside the pipeline, as `ZooKeeperServer#processPacket` does
            Request::Auth(a) => auth_packet(self, conn, xid_, &a.scheme, &a.auth),
            Request::Sasl(_) => {
                // no SASL login (the connection runs the exchanges of a configured one): the
                // reference answers Ok with a null token
                let null_token = Answer {
                    err: ErrorCode::OK,
                    body: Some(SetSaslResponse { token: None }.into()),
                };
                self.send(conn, Outbound::reply(xid_, 0, null_token));
            }
            _ if matches!(self.role, Role::ReadOnly(_)) => {
                self.read_only_packet(session_id, conn, xid_, req, received)
            }
            Request::CloseSession if self.close_local_session(conn, session_id, xid_, received) => {
            }
            _ if matches!(self.role, Role::Leading(_))
                && !matches!(req, Request::CloseSession)
                && self.leader_session_moved(session_id, &req) =>
            {
                self.session_moved(session_id, conn, xid_, req, received)
            }
            _ if matches!(self.role, Role::Following(_))
                && (req.is_write() || matches!(req, Request::Sync(_))) =>
            {
                self.forward(conn, xid_, op, req, body, received)
            }
            _ if req.is_write() => self.write(session_id, conn, xid_, req, received),
            _ if self.session_busy(session_id) => self.enqueue(
                session_id,
                Queued::Packet {
                    conn,
                    xid: xid_,
                    req,
                    received,
                },
            ),
            _ => self.dispatch_now(conn, xid_, &req, received),
        }
    }

    /// `ReadOnlyRequestProcessor`: what would change state (and sync) is answered NotReadOnly
    /// with the last zxid; a local session may close; reads go on as anywhere.
    fn read_only_packet(
        &mut self,
        session_id: i64,
        conn: ConnId,
        xid_: i32,
        req: Request,
        received: Instant,
    ) {
        let local = matches!(&self.role, Role::ReadOnly(ro) if ro.local_sessions);
        match req {
            Request::CloseSession if local => {
                // a local session's close is no txn: it is forgotten here, then answered
                self.sessions.remove(session_id);
                finish_reply_counted(
                    self,
                    conn,
                    xid_,
                    LastOp::CloseSession,
                    Ok(None),
                    received,
                    false,
                );
                self.close(conn);
            }
            Request::Sync(_) | Request::CloseSession => self.not_read_only(conn, xid_),
            _ if req.is_write() => self.not_read_only(conn, xid_),
            _ => self.dispatch_now(conn, xid_, &req, received),
        }
    }

    /// The leader's `checkSession` of its own client's request finds the session owned by
    /// a learner connection (it reconnected there).
    fn leader_session_moved(&mut self, session_id: i64, req: &Request) -> bool {
        self.leader_check_session(session_id, SessionOwner::Server, req)
            == Err(ErrorCode::SESSION_MOVED)
    }

    /// `PrepRequestProcessor` → `FinalRequestProcessor` for a moved session: a write still
    /// becomes an error txn (a zxid of the quorum's), then the connection is closed with no
    /// reply; anything else closes it at once.
    fn session_moved(
        &mut self,
        session_id: i64,
        conn: ConnId,
        xid_: i32,
        req: Request,
        received: Instant,
    ) {
        tracing::info!(
            session = format_args!("0x{session_id:x}"),
            "session moved to another server; closing its connection here"
        );
        if req.is_write() {
            let txn = self
                .prep_ctx(session_id, xid_, &[])
                .error(ErrorCode::SESSION_MOVED);
            self.submit_txn(
                txn,
                Completion::Reply {
                    conn,
                    xid: xid_,
                    req,
                    received,
                },
            );
        } else {
            self.close(conn);
        }
    }

    fn not_read_only(&mut self, conn: ConnId, xid_: i32) {
        let zxid = self.tree.last_processed_zxid();
        self.send(conn, Outbound::header(xid_, zxid, ErrorCode::NOT_READ_ONLY));
    }

    /// A completed SASL exchange's ids join the connection's (a set, as `authInfo` is).
    pub(super) fn authenticated(&mut self, conn: ConnId, ids: Vec<Id>) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        for id in ids {
            if id.scheme == "sasl" {
                tracing::info!(
                    "Session 0x{:x}: adding SASL authorization for authorizationID: {}",
                    c.session_id,
                    id.id
                );
            } else if id.scheme == "super" {
                tracing::info!(
                    "Session 0x{:x}: Authenticated Id as super user",
                    c.session_id
                );
            }
            if !c.auth.contains(&id) {
                c.auth.push(id);
            }
        }
    }

    /// Prep now (later requests must see this write's pending changes); reply once durable.
    fn write(&mut self, session_id: i64, conn: ConnId, xid_: i32, req: Request, received: Instant) {
        let auth = self
            .conns
            .get(&conn)
            .map(|c| c.auth.clone())
            .unwrap_or_default();
        let mut refused = None;
        if matches!(self.role, Role::Leading(_)) {
            match self.check_upgrade(session_id, &req) {
                Upgrade::No => {}
                Upgrade::Refused => refused = Some(ErrorCode::EPHEMERAL_ON_LOCAL_SESSION),
                Upgrade::Upgraded(timeout) => {
                    // `LeaderRequestProcessor`: the createSession goes ahead of the create
                    let txn = self.prep_ctx(session_id, 0, &[]).create_session(timeout);
                    self.submit_txn(txn, Completion::Internal);
                }
            }
        }
        let leader = match &req {
            Request::Reconfig(_) => self.leader_configs(),
            _ => None,
        };
        let mut ctx = self.prep_ctx(session_id, xid_, &auth);
        let txn = match (refused, &req, &leader) {
            (Some(err), _, _) => ctx.error(err),
            (None, Request::Reconfig(r), Some(leader)) => ctx.reconfig(r, leader),
            (None, _, _) => ctx.prep(&req),
        };
        self.submit_txn(
            txn,
            Completion::Reply {
                conn,
                xid: xid_,
                req,
                received,
            },
        );
    }

    /// Answer a non-write request against the tree as it stands.
    pub(super) fn dispatch_now(
        &mut self,
        conn: ConnId,
        xid_: i32,
        req: &Request,
        received: Instant,
    ) {
        match req {
            Request::Ping => {
                let zxid = self.tree.last_processed_zxid();
                self.send(conn, Outbound::header(xid::PING, zxid, ErrorCode::OK));
            }
            Request::SetWatches(w) | Request::SetWatches2(w) => {
                self.set_watches(conn, xid_, w, received)
            }
            _ => {
                let auth = self
                    .conns
                    .get(&conn)
                    .map(|c| c.auth.clone())
                    .unwrap_or_default();
                let result = read_ctx(self, conn, &auth).read(req);
                let result = result.unwrap_or_else(|| Err(ErrorCode::UNIMPLEMENTED).into());
                finish_reply(self, conn, xid_, req.last_op(), result, received);
            }
        }
    }

    /// Events for what changed since the client's last zxid go out before the reply.
    fn set_watches(&mut self, conn: ConnId, xid_: i32, w: &SetWatches2, received: Instant) {
        let tree = &self.tree;
        let events = self.watches.set_watches(
            w.relative_zxid,
            &w.data_watches,
            &w.exist_watches,
            &w.child_watches,
            &w.persistent_watches,
            &w.persistent_recursive_watches,
            conn,
            |path| tree.node(path).map(|n| (n.stat.mzxid, n.stat.pzxid)),
        );
        for event in events {
            self.send(conn, Outbound::Notification(event));
        }
        finish_reply(
            self,
            conn,
            xid_,
            if w.persistent_watches.is_empty() && w.persistent_recursive_watches.is_empty() {
                LastOp::SetWatches
            } else {
                LastOp::SetWatches2
            },
            Ok(None),
            received,
        );
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use bytes::Bytes;
    use tokio::time::Instant;

    use super::super::{CoreConfig, CoreMsg, CoreState};
    use crate::admin::ServerStats;
    use crate::jute::codes::{ErrorCode, OpCode};
    use crate::jute::proto::{AuthPacket, ConnectRequest, GetSaslRequest};
    use crate::pipeline::outbound::{outbound_queue, OutboundRx};
    use crate::pipeline::prep::PrepConfig;
    use crate::pipeline::reply::Outbound;
    use crate::request::Request;
    use crate::tree::DataTree;

    const CONN: u64 = 7;

    /// A standalone core (tickTime 2 s) with one session of 4 s, and its connection's queue.
    fn core_with_session() -> (CoreState, i64, OutboundRx) {
        let config = CoreConfig {
            myid: 0,
            tick_time_ms: 2000,
            min_session_timeout_ms: 4000,
            max_session_timeout_ms: 40000,
            super_digest: None,
            enforce_auth_schemes: Vec::new(),
            prep: PrepConfig::default(),
            digest_enabled: true,
            container_check_interval_ms: 60_000,
            container_max_per_minute: 10_000,
            container_max_never_used_interval_ms: 0,
            local_sessions: false,
            local_sessions_upgrading: false,
        };
        let mut core = CoreState::new(config, DataTree::new(true), Arc::new(ServerStats::new()));
        let (out, mut rx) = outbound_queue();
        core.handle(CoreMsg::Connect {
            conn: CONN,
            remote: "127.0.0.1:40000".parse().unwrap(),
            req: ConnectRequest {
                protocol_version: 0,
                last_zxid_seen: 0,
                time_out: 4000,
                session_id: 0,
                passwd: Bytes::from_static(&[0; 16]),
                read_only: Some(false),
            },
            out,
            tls: None,
        });
        assert!(matches!(rx.try_recv(), Some(Outbound::Connect(_))));
        let session = core.conns[&CONN].session_id;
        assert_ne!(session, 0);
        (core, session, rx)
    }

    fn packet(core: &mut CoreState, xid: i32, op: OpCode, req: Request) {
        core.handle(CoreMsg::Packet {
            conn: CONN,
            xid,
            op,
            req: Some(Box::new(req)),
            body: Bytes::new(),
            received: Instant::now(),
        });
    }

    /// Three packets 3 s apart (9 s in all) on a 4 s session: does it expire?
    async fn expires_between(make: fn() -> (OpCode, Request)) -> bool {
        let (mut core, session, mut rx) = core_with_session();
        for xid in 1..=3 {
            tokio::time::advance(Duration::from_secs(3)).await;
            let (op, req) = make();
            packet(&mut core, xid, op, req);
            // every packet is still answered
            let reply = rx.try_recv();
            assert!(
                matches!(
                    reply,
                    Some(Outbound::Reply {
                        err: ErrorCode::OK,
                        ..
                    })
                ),
                "{op:?}"
            );
        }
        let now = core.now_ms();
        core.sessions.expired(now).contains(&session)
    }

    /// `ZooKeeperServer#processPacket` answers sasl and auth packets itself, without
    /// `submitRequest`'s touch: a client that keeps sending them (kazoo's DIGEST-MD5 loop
    /// against a server without a SASL login, which answers every token with a null one)
    /// still expires, as against 3.8. A ping, submitted like any request, keeps it alive.
    #[tokio::test(start_paused = true)]
    async fn only_submitted_requests_touch_the_session() {
        let sasl = || {
            let token = Bytes::new();
            (
                OpCode::SASL,
                Request::Sasl(GetSaslRequest { token: Some(token) }),
            )
        };
        let auth = || {
            let packet = AuthPacket {
                auth_type: 0,
                scheme: "digest".into(),
                auth: Bytes::from_static(b"bob:secret"),
            };
            (OpCode::AUTH, Request::Auth(packet))
        };
        assert!(
            expires_between(sasl).await,
            "sasl packets kept the session alive"
        );
        assert!(
            expires_between(auth).await,
            "auth packets kept the session alive"
        );
        assert!(!expires_between(|| (OpCode::PING, Request::Ping)).await);
    }
}
