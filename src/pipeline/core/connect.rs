//! Session establishment (`ZooKeeperServer#processConnectRequest`, `reopenSession`,
//! `finishSessionInit`).

use std::net::SocketAddr;

use super::{
    check_reconnect, connect_response, Completion, ConnId, ConnState, CoreState, Role, TlsOrigin,
};
use crate::admin::stats::Counter;
use crate::jute::codes::ErrorCode;
use crate::jute::data::Id;
use crate::jute::proto::ConnectRequest;
use crate::pipeline::outbound::OutboundTx;
use crate::pipeline::reply::Outbound;
use crate::request::LastOp;
use crate::session::{check_passwd, SessionOwner};

impl CoreState {
    pub(super) fn connect(
        &mut self,
        conn: ConnId,
        remote: SocketAddr,
        req: ConnectRequest,
        out: OutboundTx,
        tls: TlsOrigin,
    ) {
        if !self.serving {
            // `NIOServerCnxn`: "ZooKeeperServer not running" closes the connection
            tracing::info!(client = %remote, "not serving yet; closing connection");
            let _ = out.send(Outbound::Close);
            return;
        }
        self.stats.count(Counter::ConnectionRequest);
        if matches!(self.role, Role::ReadOnly(_)) && req.read_only != Some(true) {
            // `processConnectRequest`: NOT_READ_ONLY_CLIENT, closed without an answer (a
            // client too old to send the flag counts as read-write)
            tracing::info!(client = %remote, "Refusing session request for not-read-only client");
            let _ = out.send(Outbound::Close);
            return;
        }
        let last = self.tree.last_processed_zxid();
        if req.last_zxid_seen > last {
            tracing::info!(
                client = %remote,
                "refusing session: client has seen zxid 0x{:x}, our last zxid is 0x{:x}; client must try another server",
                req.last_zxid_seen,
                last
            );
            let _ = out.send(Outbound::Close);
            return;
        }
        let timeout = req.time_out.clamp(
            self.config.min_session_timeout_ms,
            self.config
                .max_session_timeout_ms
                .max(self.config.min_session_timeout_ms),
        );
        let now = self.now_ms();
        // IPAuthenticationProvider: every connection carries its address as an id; a TLS
        // client's certificate ids follow (they were added before its first packet)
        let mut auth = vec![Id::new("ip", &remote.ip().to_string())];
        auth.extend(tls.auth);
        self.conns.insert(
            conn,
            ConnState {
                out,
                remote,
                session_id: 0,
                timeout_ms: timeout,
                auth,
                secure_port: tls.secure_port,
                established_ms: now,
                last_cxid: 0,
                last_zxid: 0,
                last_op: LastOp::NotAvailable,
                packets_received: 1,
                packets_sent: 0,
                last_response_ms: now,
                latency: Default::default(),
            },
        );
        if req.session_id == 0 {
            self.new_session(conn, timeout, req.read_only);
        } else {
            self.reopen_session(conn, req.session_id, &req.passwd, timeout, req.read_only);
        }
    }

    fn new_session(&mut self, conn: ConnId, timeout: i32, read_only: Option<bool>) {
        let now = self.now_ms();
        if let Role::ReadOnly(ro) = &self.role {
            if !ro.local_sessions {
                // 3.8's read-only server submits a global createSession, which its
                // ReadOnlyRequestProcessor answers with a NotReadOnly reply header in place of
                // the ConnectResponse; the connection stays open and is never read again
                tracing::info!(
                    "read-only mode without localSessionsEnabled: createSession refused"
                );
                let zxid = self.tree.last_processed_zxid();
                self.send(conn, Outbound::header(0, zxid, ErrorCode::NOT_READ_ONLY));
                return;
            }
            // a local session: tracked and expired here only, nothing logged
            let session_id = self.sessions.next_session_id();
            self.sessions.add_session(session_id, timeout, now);
            self.attach(conn, session_id);
            tracing::info!(
                session = format_args!("0x{session_id:x}"),
                timeout,
                "established local session in read-only mode"
            );
            self.send(conn, connect_response(session_id, timeout, read_only, true));
            return;
        }
        if self.local_sessions_on() {
            self.new_local_session(conn, timeout, read_only);
            return;
        }
        let session_id = self.sessions.next_session_id();
        if matches!(self.role, Role::Following(_)) {
            self.forward_create_session(conn, session_id, timeout, read_only);
            return;
        }
        self.sessions.add_session(session_id, timeout, now);
        if matches!(self.role, Role::Leading(_)) {
            // the leader's own clients share one owner (`ServerCnxn.me`)
            self.sessions
                .set_owner(session_id, Some(SessionOwner::Server));
        }
        let txn = self.prep_ctx(session_id, 0, &[]).create_session(timeout);
        // the ConnectResponse goes out once the createSession txn is durable
        self.submit_txn(
            txn,
            Completion::Connect {
                conn,
                timeout,
                read_only,
            },
        );
    }

    fn reopen_session(
        &mut self,
        conn: ConnId,
        session_id: i64,
        passwd: &[u8],
        timeout: i32,
        read_only: Option<bool>,
    ) {
        if self.is_local_session(session_id) {
            // `revalidateSession` of a session of our own: touched here, no leader asked
            let now = self.now_ms();
            if check_passwd(session_id, passwd) && self.local_sessions.touch(session_id, now) {
                self.resume_session(conn, session_id, timeout, read_only);
            } else {
                tracing::info!(
                    session = format_args!("0x{session_id:x}"),
                    "invalid local session (wrong password or expired)"
                );
                self.send(conn, connect_response(0, 0, read_only, false));
                self.close(conn);
            }
            return;
        }
        if matches!(self.role, Role::Following(_)) {
            if check_passwd(session_id, passwd) {
                self.revalidate(conn, session_id, timeout, read_only);
            } else {
                tracing::info!(
                    session = format_args!("0x{session_id:x}"),
                    "invalid session password"
                );
                self.send(conn, connect_response(0, 0, read_only, false));
                self.close(conn);
            }
            return;
        }
        let mut server_read_only = false;
        if let Role::ReadOnly(ro) = &self.role {
            if ro.global_sessions.contains(&session_id) {
                // `validateSession`: RENEW_GLOBAL_SESSION_IN_RO_MODE, closed without an answer
                tracing::info!(
                    session = format_args!("0x{session_id:x}"),
                    "Refusing global session reconnection in RO mode"
                );
                self.close(conn);
                self.forget_conn(conn);
                return;
            }
            if !ro.local_sessions && check_passwd(session_id, passwd) {
                // `LearnerSessionTracker#touchSession` without local sessions takes any
                // session it is not tracking as valid
                let now = self.now_ms();
                self.sessions.add_session(session_id, timeout, now);
            }
            server_read_only = true;
        }
        if !check_reconnect(self, session_id, passwd) {
            tracing::info!(
                session = format_args!("0x{session_id:x}"),
                "invalid session (wrong password or expired)"
            );
            self.send(conn, connect_response(0, 0, read_only, server_read_only));
            self.close(conn);
            return;
        }
        self.resume_session(conn, session_id, timeout, read_only);
    }

    /// A valid reconnect: the session moves to this connection.
    pub(super) fn resume_session(
        &mut self,
        conn: ConnId,
        session_id: i64,
        timeout: i32,
        read_only: Option<bool>,
    ) {
        // the session's previous connection is closed (DisconnectReason.CLIENT_RECONNECT)
        if let Some(old) = self.session_conns.get(&session_id).copied() {
            if old != conn {
                self.close(old);
                self.forget_conn(old);
            }
        }
        let now = self.now_ms();
        if self.is_local_session(session_id) {
            self.local_sessions.add_session(session_id, timeout, now);
        } else {
            self.sessions.add_session(session_id, timeout, now);
        }
        if matches!(self.role, Role::Leading(_)) {
            // `LeaderZooKeeperServer#revalidateSession`: the leader owns it from now on
            self.set_session_owner(session_id, SessionOwner::Server);
        }
        self.attach(conn, session_id);
        tracing::info!("Established session 0x{session_id:x} with negotiated timeout {timeout}");
        let server_read_only = matches!(self.role, Role::ReadOnly(_));
        self.send(
            conn,
            connect_response(session_id, timeout, read_only, server_read_only),
        );
    }

    pub(super) fn attach(&mut self, conn: ConnId, session_id: i64) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.session_id = session_id;
        }
        self.session_conns.insert(session_id, conn);
    }
}
