//! One renderer per four-letter word, in 3.8.0's exact text (`server/command/*Command.java`).

use std::collections::BTreeMap;
use std::fmt::Write;

use super::javafmt::{java_date_utc, java_double, java_socket_addr};
use super::view::{ConnectionView, ServerView};

/// `AbstractFourLetterCommand.ZK_NOT_SERVING`.
pub(super) const ZK_NOT_SERVING: &str = "This ZooKeeper instance is not currently serving requests";

/// `ServerCnxn#dumpConnectionInfo`.
fn connection_line(out: &mut String, c: &ConnectionView, brief: bool) {
    let ops = if c.interest_ops == 0 {
        "0".to_owned()
    } else {
        format!("{:x}", c.interest_ops)
    };
    let _ = write!(
        out,
        " {}[{ops}](queued={},recved={},sent={}",
        java_socket_addr(&c.remote),
        c.queued,
        c.received,
        c.sent
    );
    if let (false, Some(s)) = (brief, &c.session) {
        if s.session_id != 0 {
            let _ = write!(
                out,
                ",sid=0x{:x},lop={},est={},to={}",
                s.session_id, s.last_op, s.established_ms, s.timeout_ms
            );
            if s.last_cxid >= 0 {
                let _ = write!(out, ",lcxid=0x{:x}", s.last_cxid);
            }
            let _ = write!(
                out,
                ",lzxid=0x{:x},lresp={},llat={},minlat={},avglat={},maxlat={}",
                s.last_zxid,
                s.last_response_ms,
                s.last_latency,
                s.min_latency,
                s.avg_latency,
                s.max_latency
            );
        }
    }
    out.push(')');
}

/// `stat` (with clients) and `srvr` (without): `StatCommand`.
pub(super) fn stat(v: &ServerView, with_clients: bool) -> String {
    let mut out = format!("Zookeeper version: {}\n", v.version);
    if v.read_only {
        out.push_str("READ-ONLY mode; serving only read-only clients\n");
    }
    if with_clients {
        out.push_str("Clients:\n");
        for c in v.port_connections() {
            connection_line(&mut out, c, true);
            out.push('\n');
        }
        out.push('\n');
    }
    let s = v.stats.snapshot();
    let _ = write!(
        out,
        "Latency min/avg/max: {}/{}/{}\nReceived: {}\nSent: {}\nConnections: {}\nOutstanding: {}\nZxid: 0x{:x}\nMode: {}\nNode count: {}\n",
        s.min_latency,
        java_double(s.avg_latency),
        s.max_latency,
        s.packets_received,
        s.packets_sent,
        v.connections.len(),
        s.outstanding_requests,
        v.last_zxid,
        v.mode,
        v.node_count
    );
    // `StatCommand`: a leader adds its `Leader#getProposalStats` (`BufferStats#toString`).
    if v.mode == "leader" {
        let l = v.quorum.as_ref().and_then(|q| q.leader.as_ref());
        let (last, min, max) = l.map_or((-1, -1, -1), |l| {
            (
                l.last_proposal_size,
                l.min_proposal_size,
                l.max_proposal_size,
            )
        });
        let _ = writeln!(out, "Proposal sizes last/min/max: {last}/{min}/{max}");
    }
    out
}

/// `cons`: `ConsCommand`.
pub(super) fn cons(v: &ServerView) -> String {
    let mut out = String::new();
    for c in v.port_connections() {
        connection_line(&mut out, c, false);
        out.push('\n');
    }
    out.push('\n');
    out
}

/// `conf`: `ZooKeeperServer#dumpConf`, plus `QuorumZooKeeperServer#dumpConf` in an ensemble.
pub(super) fn conf(v: &ServerView) -> String {
    let c = &v.config;
    let mut out = format!(
        "clientPort={}\nsecureClientPort={}\ndataDir={}\ndataDirSize={}\ndataLogDir={}\ndataLogSize={}\ntickTime={}\nmaxClientCnxns={}\nminSessionTimeout={}\nmaxSessionTimeout={}\nclientPortListenBacklog={}\nserverId={}\n",
        // `getClientPort` is the listener's port, which follows a reconfig of our line
        v.quorum
            .as_ref()
            .and_then(|q| q.client_port)
            .or(c.client_port)
            .map_or(-1, i32::from),
        c.secure_client_port.map_or(-1, i32::from),
        v.snap_dir,
        v.data_dir_size,
        v.log_dir,
        v.log_dir_size,
        c.tick_time_ms,
        c.max_client_cnxns,
        c.min_session_timeout_ms,
        c.max_session_timeout_ms,
        c.client_port_listen_backlog,
        v.server_id
    );
    if v.quorum.is_some() {
        out.push_str(&super::quorum::conf_lines(v));
    }
    out
}

/// `dump`: sessions by expiry bucket, ephemerals by session, connections by expiry.
pub(super) fn dump(v: &ServerView) -> String {
    let mut out = String::from("SessionTracker dump:\nSession ");
    let sessions = v
        .sessions
        .iter()
        .map(|s| (s.expire_at_ms, format!("0x{:x}", s.session_id)));
    expiry_sets(&mut out, sessions.collect());
    let _ = writeln!(
        out,
        "ephemeral nodes dump:\nSessions with Ephemerals ({}):",
        v.ephemerals.len()
    );
    for (sid, paths) in &v.ephemerals {
        let _ = writeln!(out, "0x{sid:x}:");
        for p in paths {
            let _ = writeln!(out, "\t{p}");
        }
    }
    out.push_str("Connections dump:\nConnections ");
    let cnxns = v.connections.iter().filter_map(|c| {
        let sid = c.session.as_ref().map_or(0, |s| s.session_id);
        let line = format!("ip: {} sessionId: 0x{sid:x}", java_socket_addr(&c.remote));
        c.expire_at_ms.map(|t| (t, line))
    });
    expiry_sets(&mut out, cnxns.collect());
    out
}

/// `ExpiryQueue#dump`: `Sets (buckets)/(elements):` then each bucket, oldest first.
fn expiry_sets(out: &mut String, elems: Vec<(i64, String)>) {
    let mut buckets: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    let total = elems.len();
    for (t, e) in elems {
        buckets.entry(t).or_default().push(e);
    }
    let _ = writeln!(out, "Sets ({})/({total}):", buckets.len());
    for (t, set) in buckets {
        let _ = writeln!(out, "{} expire at {}:", set.len(), java_date_utc(t));
        for e in set {
            let _ = writeln!(out, "\t{e}");
        }
    }
}

/// `envi`: `EnvCommand` / `Environment#list`.
pub(super) fn envi(v: &ServerView) -> String {
    let mut out = format!("Environment:\nzookeeper.version={}\n", v.version);
    for (k, val) in &v.environment {
        let _ = writeln!(out, "{k}={val}");
    }
    out
}

/// `wchs`: `WatchManager#toString` over data watches, then a newline. A connection whose
/// watches all fired still counts.
pub(super) fn wchs(v: &ServerView) -> String {
    let paths: BTreeMap<&str, ()> = v
        .data_watches
        .iter()
        .flat_map(|(_, paths)| paths.iter().map(|p| (p.as_str(), ())))
        .collect();
    let total: usize = v.data_watches.iter().map(|(_, paths)| paths.len()).sum();
    format!(
        "{} connections watching {} paths\nTotal watches:{total}\n",
        v.data_watches.len(),
        paths.len(),
    )
}

/// `wchc` (by connection) and `wchp` (by path): `WatchManager#dumpWatches`, then a newline.
pub(super) fn wch_dump(v: &ServerView, by_path: bool) -> String {
    let mut out = String::new();
    if !by_path {
        for (sid, paths) in &v.data_watches {
            let _ = writeln!(out, "0x{sid:x}");
            for p in paths {
                let _ = writeln!(out, "\t{p}");
            }
        }
        out.push('\n');
        return out;
    }
    let mut groups: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    let mut order: Vec<&str> = Vec::new();
    for (sid, paths) in &v.data_watches {
        for p in paths {
            let sids = groups.entry(p.as_str()).or_insert_with(|| {
                order.push(p.as_str());
                Vec::new()
            });
            sids.push(*sid);
        }
    }
    for p in order {
        let _ = writeln!(out, "{p}");
        for sid in groups.get(p).into_iter().flatten() {
            let _ = writeln!(out, "\t0x{sid:x}");
        }
    }
    out.push('\n');
    out
}

/// `dirs`: `DirsCommand`.
pub(super) fn dirs(v: &ServerView) -> String {
    format!(
        "datadir_size: {}\nlogdir_size: {}\n",
        v.data_dir_size, v.log_dir_size
    )
}

/// `hash`: `DigestCommand`, one `hexzxid: digest` line per entry.
pub(super) fn hash(v: &ServerView) -> String {
    v.digests
        .iter()
        .map(|(zxid, digest)| format!("{zxid:x}: {digest}\n"))
        .collect()
}
