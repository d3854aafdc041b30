//! The admin server's commands (`server/admin/Commands` and its `*Command` classes): names
//! and aliases, whether a running server is needed, and each answer's keys, as 3.8.0 emits
//! them (checked against captures in `fixtures/http/`).
//!
//! Invariants: the primary name is the first name and is what `command` reports, except for
//! an unknown command or a server that is not serving, where `command` is the name as asked
//! (`Commands#runCommand`); the four-letter-word whitelist does not apply here.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering::Relaxed};

use super::super::javafmt::java_socket_addr;
use super::super::json::{CommandResponse, Json};
use super::super::mntr::mntr;
use super::super::view::{ConnectionView, ServerView};
use super::super::words::ZK_NOT_SERVING;
use super::{ensemble, sysprops};

/// What a command needs besides the view.
pub(crate) struct Ctx<'a> {
    pub(crate) view: &'a ServerView,
    /// Query parameters, first value of each (`JettyAdminServer.CommandServlet#doGet`).
    pub(crate) kwargs: &'a BTreeMap<String, String>,
    /// `ZooTrace`'s text trace mask, as get/set over HTTP.
    pub(crate) trace_mask: &'a AtomicI64,
}

type Run = fn(&Ctx<'_>, CommandResponse) -> CommandResponse;

/// One command: names (primary first), whether it needs a serving server, and its body.
pub(crate) struct Command {
    pub(crate) names: &'static [&'static str],
    pub(crate) server_required: bool,
    run: Run,
}

impl Command {
    pub(crate) fn primary(&self) -> &'static str {
        self.names.first().copied().unwrap_or("")
    }
}

const fn cmd(names: &'static [&'static str], server_required: bool, run: Run) -> Command {
    Command {
        names,
        server_required,
        run,
    }
}

/// `Commands`' static registrations.
pub(crate) const COMMANDS: [Command; 26] = [
    cmd(&["connection_stat_reset", "crst"], true, plain),
    cmd(&["configuration", "conf", "config"], true, conf),
    cmd(&["connections", "cons"], true, cons),
    cmd(&["hash"], true, hash),
    cmd(&["dirs"], true, dirs),
    cmd(&["dump"], true, dump),
    cmd(&["environment", "env", "envi"], false, envi),
    cmd(&["get_trace_mask", "gtmk"], false, gtmk),
    cmd(&["initial_configuration", "icfg"], true, icfg),
    cmd(&["is_read_only", "isro"], true, isro),
    cmd(&["last_snapshot", "lsnp"], true, lsnp),
    cmd(&["leader", "lead"], true, leader),
    cmd(&["monitor", "mntr"], false, monitor),
    cmd(&["observer_connection_stat_reset", "orst"], true, plain),
    cmd(&["ruok"], true, plain),
    cmd(&["set_trace_mask", "stmk"], false, stmk),
    cmd(&["server_stats", "srvr"], true, srvr),
    cmd(&["stats", "stat"], true, stat),
    cmd(&["stat_reset", "srst"], true, srst),
    cmd(&["observers", "obsr"], true, observers),
    cmd(&["system_properties", "sysp"], false, sysp),
    cmd(&["voting_view"], true, voting_view),
    cmd(&["watches", "wchc"], true, wchc),
    cmd(&["watches_by_path", "wchp"], true, wchp),
    cmd(&["watch_summary", "wchs"], true, wchs),
    cmd(&["zabstate"], false, zabstate),
];

/// The command registered under `name` (exact, case-sensitive, as the reference's map).
pub(crate) fn find(name: &str) -> Option<&'static Command> {
    COMMANDS.iter().find(|c| c.names.contains(&name))
}

/// The primary names, sorted (`JettyAdminServer#commandLinks`).
pub(crate) fn primary_names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = COMMANDS.iter().map(Command::primary).collect();
    names.sort_unstable();
    names
}

/// The answer to a name no command has.
pub(crate) fn unknown(name: &str) -> CommandResponse {
    CommandResponse::failed(name, format!("Unknown command: {name}"))
}

/// `Commands#runCommand`.
pub(crate) fn run(name: &str, ctx: &Ctx<'_>) -> CommandResponse {
    let Some(command) = find(name) else {
        return unknown(name);
    };
    if command.server_required && !ctx.view.serving {
        return CommandResponse::failed(name, ZK_NOT_SERVING);
    }
    (command.run)(ctx, CommandResponse::new(command.primary()))
}

/// `ruok`, `crst` and `orst` (their resets were done while building the view).
fn plain(_: &Ctx<'_>, r: CommandResponse) -> CommandResponse {
    r
}

fn put(mut r: CommandResponse, key: &str, value: impl Into<Json>) -> CommandResponse {
    r.data.put(key, value);
    r
}

/// `ZooKeeperServerConf#toMap`.
fn conf(ctx: &Ctx<'_>, mut r: CommandResponse) -> CommandResponse {
    let (v, c) = (ctx.view, &ctx.view.config);
    r.data = Json::obj()
        .with("client_port", c.client_port.map_or(-1, i32::from))
        .with("data_dir", v.snap_dir.as_str())
        .with("data_log_dir", v.log_dir.as_str())
        .with("tick_time", c.tick_time_ms)
        .with("max_client_cnxns", c.max_client_cnxns)
        .with("min_session_timeout", c.min_session_timeout_ms)
        .with("max_session_timeout", c.max_session_timeout_ms)
        .with("server_id", v.server_id)
        .with("client_port_listen_backlog", c.client_port_listen_backlog);
    r
}

/// Jackson's `InetSocketAddress` form: `1.2.3.4:5`, `[0:0:0:0:0:0:0:1]:5`.
fn remote_address(c: &ConnectionView) -> String {
    let s = java_socket_addr(&c.remote);
    s.strip_prefix('/').map_or(s.clone(), str::to_owned)
}

/// `ServerCnxn#getConnectionInfo`; a connection without a session reports its defaults.
fn connection_info(c: &ConnectionView, brief: bool) -> Json {
    let mut j = Json::obj()
        .with("remote_socket_address", remote_address(c))
        .with("interest_ops", i64::from(c.interest_ops))
        .with("outstanding_requests", c.queued)
        .with("packets_received", c.received)
        .with("packets_sent", c.sent);
    if brief {
        return j;
    }
    let s = c.session.as_ref();
    j.put("session_id", s.map_or(0, |s| s.session_id));
    j.put(
        "last_operation",
        s.map_or("NA".to_owned(), |s| s.last_op.clone()),
    );
    j.put("established", s.map_or(0, |s| s.established_ms));
    j.put("session_timeout", s.map_or(0, |s| s.timeout_ms));
    j.put("last_cxid", s.map_or(-1, |s| s.last_cxid));
    j.put("last_zxid", s.map_or(-1, |s| s.last_zxid));
    j.put("last_response_time", s.map_or(0, |s| s.last_response_ms));
    j.put("last_latency", s.map_or(0, |s| s.last_latency));
    j.put("min_latency", s.map_or(0, |s| s.min_latency));
    j.put("avg_latency", s.map_or(0, |s| s.avg_latency));
    j.put("max_latency", s.map_or(0, |s| s.max_latency));
    j
}

/// The connections of the plaintext factory, or of the secure one (`secure_connections`).
fn connections(v: &ServerView, brief: bool, secure: bool) -> Json {
    Json::Arr(
        v.connections
            .iter()
            .filter(|c| c.secure_port == secure)
            .map(|c| connection_info(c, brief))
            .collect(),
    )
}

fn cons(ctx: &Ctx<'_>, r: CommandResponse) -> CommandResponse {
    let r = put(r, "connections", connections(ctx.view, false, false));
    put(r, "secure_connections", connections(ctx.view, false, true))
}

/// `DataTree#getDigestLog` as `ZxidDigest` beans.
fn hash(ctx: &Ctx<'_>, r: CommandResponse) -> CommandResponse {
    let digests = ctx.view.digests.iter().map(|(zxid, digest)| {
        Json::obj()
            .with("zxid", *zxid)
            .with("digest", *digest)
            .with("digest_version", 2i64)
    });
    put(r, "digests", Json::Arr(digests.collect()))
}

fn dirs(ctx: &Ctx<'_>, r: CommandResponse) -> CommandResponse {
    let r = put(r, "datadir_size", ctx.view.data_dir_size);
    put(r, "logdir_size", ctx.view.log_dir_size)
}

/// `SessionTracker#getSessionExpiryMap` (by expiry time, ascending) and
/// `DataTree#getEphemerals`.
fn dump(ctx: &Ctx<'_>, r: CommandResponse) -> CommandResponse {
    let mut buckets: BTreeMap<i64, Vec<Json>> = BTreeMap::new();
    for s in &ctx.view.sessions {
        buckets
            .entry(s.expire_at_ms)
            .or_default()
            .push(Json::Int(s.session_id));
    }
    let expiry = buckets
        .into_iter()
        .map(|(t, ids)| (t.to_string(), Json::Arr(ids)))
        .collect();
    let ephemerals = ctx
        .view
        .ephemerals
        .iter()
        .map(|(sid, paths)| (sid.to_string(), Json::from(paths.clone())))
        .collect();
    let r = put(r, "expiry_time_to_session_ids", Json::Obj(expiry));
    put(r, "session_id_to_ephemeral_paths", Json::Obj(ephemerals))
}

/// `Environment#list`, one key per entry.
fn envi(ctx: &Ctx<'_>, mut r: CommandResponse) -> CommandResponse {
    r.data.put("zookeeper.version", ctx.view.version.as_str());
    for (k, v) in &ctx.view.environment {
        r.data.put(k, v.as_str());
    }
    r
}

fn gtmk(ctx: &Ctx<'_>, r: CommandResponse) -> CommandResponse {
    put(r, "tracemask", ctx.trace_mask.load(Relaxed))
}

/// `SetTraceMaskCommand`: `traceMask` must be a Java long (`Long#parseLong`).
fn stmk(ctx: &Ctx<'_>, r: CommandResponse) -> CommandResponse {
    let Some(arg) = ctx.kwargs.get("traceMask") else {
        return put(r, "error", "setTraceMask requires long traceMask argument");
    };
    match parse_java_long(arg) {
        Some(mask) => {
            ctx.trace_mask.store(mask, Relaxed);
            put(r, "tracemask", mask)
        }
        None => put(
            r,
            "error",
            format!("setTraceMask requires long traceMask argument, got {arg}"),
        ),
    }
}

/// `Long#parseLong`: optional sign, decimal digits only.
fn parse_java_long(s: &str) -> Option<i64> {
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn icfg(ctx: &Ctx<'_>, r: CommandResponse) -> CommandResponse {
    put(
        r,
        "initial_configuration",
        ctx.view.config.initial_config.as_str(),
    )
}

fn isro(ctx: &Ctx<'_>, r: CommandResponse) -> CommandResponse {
    put(r, "read_only", ctx.view.read_only)
}

/// No snapshot is taken yet, which the reference reports as `Long.toHexString(-1)` and -1.
fn lsnp(_: &Ctx<'_>, r: CommandResponse) -> CommandResponse {
    let r = put(r, "zxid", format!("{:x}", -1i64));
    put(r, "timestamp", -1i64)
}

fn leader(ctx: &Ctx<'_>, r: CommandResponse) -> CommandResponse {
    ensemble::leader(ctx.view, r)
}

/// `dumpMonitorValues` then the provider's dump: the `mntr` lines without `zk_`, numbers as
/// numbers.
fn monitor(ctx: &Ctx<'_>, mut r: CommandResponse) -> CommandResponse {
    for line in mntr(ctx.view).lines() {
        let Some((key, value)) = line.split_once('\t') else {
            continue;
        };
        let key = key.strip_prefix("zk_").unwrap_or(key);
        r.data.put(key, mntr_value(key, value));
    }
    r
}

fn mntr_value(key: &str, value: &str) -> Json {
    if matches!(key, "version" | "server_state" | "peer_state") {
        return Json::from(value);
    }
    if let Ok(n) = value.parse::<i64>() {
        return Json::Int(n);
    }
    match value.parse::<f64>() {
        Ok(x) => Json::Float(x),
        Err(_) => Json::from(value),
    }
}

/// `SrvrCommand`: version, read-only flag, the `ServerStats` bean, node count.
fn srvr(ctx: &Ctx<'_>, r: CommandResponse) -> CommandResponse {
    let v = ctx.view;
    let s = v.stats.snapshot();
    let client_response = Json::obj()
        .with("last_buffer_size", s.last_client_response_size)
        .with("min_buffer_size", s.min_client_response_size)
        .with("max_buffer_size", s.max_client_response_size);
    let stats = Json::obj()
        .with("packets_sent", s.packets_sent)
        .with("packets_received", s.packets_received)
        .with("fsync_threshold_exceed_count", 0i64)
        .with("client_response_stats", client_response.clone())
        .with("data_dir_size", v.data_dir_size)
        .with("log_dir_size", v.log_dir_size)
        .with("provider_null", false)
        .with("server_state", v.mode.as_str())
        .with("last_processed_zxid", v.last_zxid)
        .with("outstanding_requests", s.outstanding_requests)
        .with("avg_latency", s.avg_latency)
        .with("max_latency", s.max_latency)
        .with("min_latency", s.min_latency)
        .with("num_alive_client_connections", v.connections.len() as u64)
        .with("uptime", v.uptime_ms)
        .with("auth_failed_count", 0i64)
        .with("non_mtlsremote_conn_count", 0i64)
        .with("non_mtlslocal_conn_count", 0i64);
    let r = put(r, "version", v.version.as_str());
    let r = put(r, "read_only", v.read_only);
    let r = put(r, "server_stats", stats);
    let mut r = put(r, "client_response", client_response);
    // `SrvrCommand`: a leader adds `Leader#getProposalStats`.
    if let Some(l) = v.quorum.as_ref().and_then(|q| q.leader.as_ref()) {
        let proposal = Json::obj()
            .with("last_buffer_size", l.last_proposal_size)
            .with("min_buffer_size", l.min_proposal_size)
            .with("max_buffer_size", l.max_proposal_size);
        r = put(r, "proposal_stats", proposal);
    }
    put(r, "node_count", v.node_count)
}

fn stat(ctx: &Ctx<'_>, r: CommandResponse) -> CommandResponse {
    let r = put(
        srvr(ctx, r),
        "connections",
        connections(ctx.view, true, false),
    );
    put(r, "secure_connections", connections(ctx.view, true, true))
}

fn srst(ctx: &Ctx<'_>, r: CommandResponse) -> CommandResponse {
    ctx.view.stats.reset();
    r
}

fn observers(ctx: &Ctx<'_>, r: CommandResponse) -> CommandResponse {
    ensemble::observers(ctx.view, r)
}

fn sysp(ctx: &Ctx<'_>, mut r: CommandResponse) -> CommandResponse {
    for (k, v) in sysprops::system_properties(&ctx.view.config) {
        r.data.put(&k, v);
    }
    r
}

fn voting_view(ctx: &Ctx<'_>, r: CommandResponse) -> CommandResponse {
    ensemble::voting_view(ctx.view, r)
}

/// `WatchesReport#toMap`: session → watched paths, in the view's order; a connection whose
/// watches all fired maps to an empty list.
fn wchc(ctx: &Ctx<'_>, r: CommandResponse) -> CommandResponse {
    let mut m = Json::obj();
    for (sid, paths) in &ctx.view.data_watches {
        let key = sid.to_string();
        array_at(&mut m, &key);
        for p in paths {
            push_to(&mut m, &key, Json::from(p.as_str()));
        }
    }
    put(r, "session_id_to_watched_paths", m)
}

/// `WatchesPathReport#toMap`: path → watching sessions.
fn wchp(ctx: &Ctx<'_>, r: CommandResponse) -> CommandResponse {
    let mut m = Json::obj();
    for (sid, paths) in &ctx.view.data_watches {
        for p in paths {
            push_to(&mut m, p, Json::Int(*sid));
        }
    }
    put(r, "path_to_session_ids", m)
}

/// The array under `key` in object `m`, added empty if missing.
fn array_at<'a>(m: &'a mut Json, key: &str) -> Option<&'a mut Vec<Json>> {
    let Json::Obj(fields) = m else {
        return None;
    };
    let i = match fields.iter().position(|(k, _)| k == key) {
        Some(i) => i,
        None => {
            fields.push((key.to_owned(), Json::Arr(Vec::new())));
            fields.len() - 1
        }
    };
    match &mut fields[i].1 {
        Json::Arr(items) => Some(items),
        _ => None,
    }
}

/// Appends `item` to the array under `key`, once (the reference's values are sets).
fn push_to(m: &mut Json, key: &str, item: Json) {
    if let Some(items) = array_at(m, key) {
        if !items.contains(&item) {
            items.push(item);
        }
    }
}

/// `WatchesSummary#toMap`.
fn wchs(ctx: &Ctx<'_>, r: CommandResponse) -> CommandResponse {
    let w = &ctx.view.data_watches;
    let paths: std::collections::BTreeSet<&str> = w
        .iter()
        .flat_map(|(_, p)| p.iter().map(String::as_str))
        .collect();
    let total: usize = w.iter().map(|(_, p)| p.len()).sum();
    let r = put(r, "num_connections", w.len() as u64);
    let r = put(r, "num_paths", paths.len() as u64);
    put(r, "num_total_watches", total as u64)
}

fn zabstate(ctx: &Ctx<'_>, r: CommandResponse) -> CommandResponse {
    ensemble::zabstate(ctx.view, r)
}
