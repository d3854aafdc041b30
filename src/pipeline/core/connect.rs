//! Session establishment (`ZooKeeperServer#processConnectRequest`, `reopenSession`,
//! `finishSessionInit`).

use std::net::SocketAddr;

use super::{
    check_reconnect, connect_response, Completion, ConnId, ConnState, CoreState, Role, TlsOrigin,
};
use crate::jute::data::Id;
use crate::jute::proto::ConnectRequest;
use crate::pipeline::outbound::OutboundTx;
use crate::pipeline::reply::Outbound;
use crate::session::check_passwd;

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
                last_op: "NA",
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
        let session_id = self.sessions.next_session_id();
        if matches!(self.role, Role::Following(_)) {
            self.forward_create_session(conn, session_id, timeout, read_only);
            return;
        }
        self.sessions.add_session(session_id, timeout, now);
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
        if matches!(self.role, Role::Following(_)) {
            if check_passwd(session_id, passwd) {
                self.revalidate(conn, session_id, timeout, read_only);
            } else {
                tracing::info!(
                    session = format_args!("0x{session_id:x}"),
                    "invalid session password"
                );
                self.send(conn, connect_response(0, 0, read_only));
                self.close(conn);
            }
            return;
        }
        if !check_reconnect(self, session_id, passwd) {
            tracing::info!(
                session = format_args!("0x{session_id:x}"),
                "invalid session (wrong password or expired)"
            );
            self.send(conn, connect_response(0, 0, read_only));
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
        self.sessions.add_session(session_id, timeout, now);
        self.attach(conn, session_id);
        tracing::info!("Established session 0x{session_id:x} with negotiated timeout {timeout}");
        self.send(conn, connect_response(session_id, timeout, read_only));
    }

    pub(super) fn attach(&mut self, conn: ConnId, session_id: i64) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.session_id = session_id;
        }
        self.session_conns.insert(session_id, conn);
    }
}
