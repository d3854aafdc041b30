//! Server-wide request counters: `ServerStats` and its `AvgMinMaxCounter` request latency,
//! and the `ServerMetrics` counters and summaries ferrokeeper measures.
//!
//! Invariants: lock-free but for a percentile summary's reservoir (the connection, pipeline
//! and log tasks bump them concurrently); min is reported as 0 while empty and max as 0
//! while empty, as `AvgMinMaxCounter` does; `srst` ([`ServerStats::reset`]) clears latency,
//! packet counters and response sizes but not the outstanding-request gauge, and the metrics
//! too unless the Prometheus provider holds them (it cannot reset).

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use super::summary::{Summary, SummaryValues};
use crate::jute::codes::EventType;
use crate::persist::restore::DbLoad;

/// The `ServerMetrics` counters ferrokeeper measures besides the digest and admin ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Counter {
    /// An election started (`QuorumPeer#run` in LOOKING).
    Looking,
    /// A leader proposed a txn (`Leader#propose`).
    Proposal,
    /// A leader committed a txn (`Leader#commit`).
    Commit,
    /// A follower was sent a PROPOSAL in broadcast (`Follower#processPacket`).
    LearnerProposalReceived,
    /// A follower was sent a COMMIT, an observer an INFORM, in broadcast.
    LearnerCommitReceived,
    /// A leader synced a learner with a SNAP / with a DIFF or TRUNC (`LearnerHandler`).
    Snap,
    Diff,
    /// A client's ConnectRequest was taken up (`processConnectRequest`).
    ConnectionRequest,
}

impl Counter {
    const ALL: [Counter; 8] = [
        Counter::Looking,
        Counter::Proposal,
        Counter::Commit,
        Counter::LearnerProposalReceived,
        Counter::LearnerCommitReceived,
        Counter::Snap,
        Counter::Diff,
        Counter::ConnectionRequest,
    ];

    fn mntr_name(self) -> &'static str {
        match self {
            Counter::Looking => "looking_count",
            Counter::Proposal => "proposal_count",
            Counter::Commit => "commit_count",
            Counter::LearnerProposalReceived => "learner_proposal_received_count",
            Counter::LearnerCommitReceived => "learner_commit_received_count",
            Counter::Snap => "snap_count",
            Counter::Diff => "diff_count",
            Counter::ConnectionRequest => "connection_request_count",
        }
    }
}

/// Counters bumped by `conn` / `pipeline`, read by the four-letter words.
#[derive(Debug)]
pub struct ServerStats {
    packets_received: AtomicU64,
    packets_sent: AtomicU64,
    latency_count: AtomicU64,
    latency_total: AtomicU64,
    latency_min: AtomicU64,
    latency_max: AtomicU64,
    outstanding: AtomicI64,
    response_last: AtomicI64,
    response_min: AtomicI64,
    response_max: AtomicI64,
    /// `ServerMetrics.DIGEST_MISMATCHES_COUNT`.
    digest_mismatches: AtomicU64,
    /// `ServerMetrics.INSECURE_ADMIN`: plain HTTP connections on a port-unified AdminServer.
    insecure_admin: AtomicU64,
    /// `ServerMetrics.READ_LATENCY` / `UPDATE_LATENCY`: ms from a request's arrival to its
    /// reply, for requests that do not / do go through the quorum (`Request#isQuorum`).
    read_latency: Summary,
    update_latency: Summary,
    /// `ServerMetrics.FSYNC_TIME`: ms one commit of the txn log spent in fsync.
    fsync_time: Summary,
    /// `ServerMetrics.ELECTION_TIME`: ms from LOOKING to leading or following.
    election_time: Summary,
    /// `ServerMetrics.SYNC_PROCESSOR_BATCH_SIZE`: txns one fsync of the txn log made durable.
    sync_batch_size: Summary,
    /// `ServerMetrics.SNAPSHOT_TIME`: ms to write one snapshot.
    snapshot_time: Summary,
    /// `ServerMetrics.FOLLOWER_SYNC_TIME` / `OBSERVER_SYNC_TIME`: ms a learner took to sync
    /// with its leader.
    follower_sync_time: Summary,
    observer_sync_time: Summary,
    /// `ServerMetrics.DB_INIT_TIME`, `STARTUP_SNAP_LOAD_TIME`, `STARTUP_TXNS_LOADED`,
    /// `STARTUP_TXNS_LOAD_TIME`.
    db_init_time: Summary,
    snap_load_time: Summary,
    txns_loaded: Summary,
    txns_load_time: Summary,
    /// `ServerMetrics.NODE_*_WATCHER`: watchers one watch table had for a change, by type
    /// (created, deleted, changed, children).
    watch_counts: [Summary; 4],
    /// [`Counter`]s, in [`Counter::ALL`]'s order.
    counters: [AtomicU64; Counter::ALL.len()],
    /// Whether `srst` resets the metrics too (false under the Prometheus provider).
    metrics_resettable: AtomicBool,
}

/// A consistent-enough copy of [`ServerStats`] for one report.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StatsSnapshot {
    pub packets_received: u64,
    pub packets_sent: u64,
    pub min_latency: u64,
    /// Rounded to 4 decimals, half up (`AvgMinMaxCounter#getAvg`).
    pub avg_latency: f64,
    pub max_latency: u64,
    pub latency_count: u64,
    pub outstanding_requests: i64,
    /// -1 until a response was sent (`BufferStats`).
    pub last_client_response_size: i64,
    pub min_client_response_size: i64,
    pub max_client_response_size: i64,
    pub digest_mismatches: u64,
    pub insecure_admin: u64,
}

impl Default for ServerStats {
    fn default() -> Self {
        Self::new()
    }
}

impl ServerStats {
    pub fn new() -> Self {
        Self {
            packets_received: AtomicU64::new(0),
            packets_sent: AtomicU64::new(0),
            latency_count: AtomicU64::new(0),
            latency_total: AtomicU64::new(0),
            latency_min: AtomicU64::new(u64::MAX),
            latency_max: AtomicU64::new(0),
            outstanding: AtomicI64::new(0),
            response_last: AtomicI64::new(-1),
            response_min: AtomicI64::new(-1),
            response_max: AtomicI64::new(-1),
            digest_mismatches: AtomicU64::new(0),
            insecure_admin: AtomicU64::new(0),
            read_latency: Summary::with_percentiles(),
            update_latency: Summary::with_percentiles(),
            fsync_time: Summary::new(),
            election_time: Summary::new(),
            sync_batch_size: Summary::new(),
            snapshot_time: Summary::new(),
            follower_sync_time: Summary::new(),
            observer_sync_time: Summary::new(),
            watch_counts: std::array::from_fn(|_| Summary::new()),
            counters: std::array::from_fn(|_| AtomicU64::new(0)),
            db_init_time: Summary::new(),
            snap_load_time: Summary::new(),
            txns_loaded: Summary::new(),
            txns_load_time: Summary::new(),
            metrics_resettable: AtomicBool::new(true),
        }
    }

    /// Under the Prometheus provider `srst` leaves the metrics alone
    /// (`PrometheusMetricsProvider#resetAllValues` does nothing).
    pub fn keep_metrics_on_reset(&self) {
        self.metrics_resettable.store(false, Relaxed);
    }

    /// One commit of the txn log: its fsync (None without forceSync) and its txns.
    pub fn record_log_commit(&self, fsync: Option<Duration>, txns: usize) {
        if let Some(t) = fsync {
            self.fsync_time.add(millis(t));
        }
        self.sync_batch_size
            .add(i64::try_from(txns).unwrap_or(i64::MAX));
    }

    /// One snapshot written.
    pub fn record_snapshot(&self, took: Duration) {
        self.snapshot_time.add(millis(took));
    }

    pub fn count(&self, counter: Counter) {
        self.counters[counter as usize].fetch_add(1, Relaxed);
    }

    /// A `ServerMetrics` counter by its `mntr` name; None for one not measured.
    pub fn counter(&self, name: &str) -> Option<u64> {
        match name {
            "digest_mismatches_count" => Some(self.digest_mismatches.load(Relaxed)),
            "insecure_admin_count" => Some(self.insecure_admin.load(Relaxed)),
            _ => Counter::ALL
                .iter()
                .position(|c| c.mntr_name() == name)
                .map(|i| self.counters[i].load(Relaxed)),
        }
    }

    /// A database loaded at start-up, or fast-forwarded after a role.
    pub fn record_db_load(&self, load: &DbLoad) {
        if let Some(t) = load.total {
            self.db_init_time.add(millis(t));
        }
        if let Some(t) = load.snapshot {
            self.snap_load_time.add(millis(t));
        }
        self.txns_loaded
            .add(i64::try_from(load.txns).unwrap_or(i64::MAX));
        self.txns_load_time.add(millis(load.txns_time));
    }

    /// A change reached `watchers` watchers of one watch table.
    pub fn record_watch_trigger(&self, event: EventType, watchers: usize) {
        let i = match event {
            EventType::NODE_CREATED => 0,
            EventType::NODE_DELETED => 1,
            EventType::NODE_DATA_CHANGED => 2,
            EventType::NODE_CHILDREN_CHANGED => 3,
            _ => return,
        };
        self.watch_counts[i].add(i64::try_from(watchers).unwrap_or(i64::MAX));
    }

    /// A learner synced with its leader.
    pub fn record_learner_sync(&self, took: Duration, observer: bool) {
        let summary = if observer {
            &self.observer_sync_time
        } else {
            &self.follower_sync_time
        };
        summary.add(millis(took));
    }

    /// An election that ended in a role, since the peer went LOOKING.
    pub fn record_election(&self, took: Duration) {
        self.election_time.add(millis(took));
    }

    /// A measured `ServerMetrics` summary by its `mntr` name; None for one not measured.
    pub fn summary(&self, name: &str) -> Option<SummaryValues> {
        let s = match name {
            "readlatency" => &self.read_latency,
            "updatelatency" => &self.update_latency,
            "fsynctime" => &self.fsync_time,
            "election_time" => &self.election_time,
            "sync_processor_batch_size" => &self.sync_batch_size,
            "snapshottime" => &self.snapshot_time,
            "follower_sync_time" => &self.follower_sync_time,
            "observer_sync_time" => &self.observer_sync_time,
            "node_created_watch_count" => &self.watch_counts[0],
            "node_deleted_watch_count" => &self.watch_counts[1],
            "node_changed_watch_count" => &self.watch_counts[2],
            "node_children_watch_count" => &self.watch_counts[3],
            "dbinittime" => &self.db_init_time,
            "startup_snap_load_time" => &self.snap_load_time,
            "startup_txns_loaded" => &self.txns_loaded,
            "startup_txns_load_time" => &self.txns_load_time,
            _ => return None,
        };
        Some(s.values())
    }

    /// An applied txn left the tree with another digest than the one it carried
    /// (`DataTree#reportDigestMismatch`).
    pub fn digest_mismatch(&self) {
        self.digest_mismatches.fetch_add(1, Relaxed);
    }

    /// A plain HTTP connection on a port-unified AdminServer (`UnifiedConnectionFactory`).
    pub fn insecure_admin(&self) {
        self.insecure_admin.fetch_add(1, Relaxed);
    }

    /// One request (or four-letter word) read from a client.
    pub fn packet_received(&self) {
        self.packets_received.fetch_add(1, Relaxed);
    }

    /// One reply or watch event written to a client.
    pub fn packet_sent(&self) {
        self.packets_sent.fetch_add(1, Relaxed);
    }

    /// A request's latency, from arrival to reply, in ms (`ServerStats#updateLatency`);
    /// `quorum` for a request that goes through the quorum (`Request#isQuorum`).
    pub fn record_latency(&self, ms: u64, quorum: bool) {
        self.latency_total.fetch_add(ms, Relaxed);
        self.latency_count.fetch_add(1, Relaxed);
        self.latency_min.fetch_min(ms, Relaxed);
        self.latency_max.fetch_max(ms, Relaxed);
        let summary = if quorum {
            &self.update_latency
        } else {
            &self.read_latency
        };
        summary.add(i64::try_from(ms).unwrap_or(i64::MAX));
    }

    /// Size of one serialized reply (`ServerStats#updateClientResponseSize`).
    pub fn record_response_size(&self, bytes: i64) {
        self.response_last.store(bytes, Relaxed);
        let _ = self
            .response_min
            .fetch_update(Relaxed, Relaxed, |m| (m < 0 || bytes < m).then_some(bytes));
        self.response_max.fetch_max(bytes, Relaxed);
    }

    pub fn request_started(&self) {
        self.outstanding.fetch_add(1, Relaxed);
    }

    pub fn request_finished(&self) {
        self.outstanding.fetch_sub(1, Relaxed);
    }

    /// `srst`: `ServerStats#reset`.
    pub fn reset(&self) {
        self.latency_count.store(0, Relaxed);
        self.latency_total.store(0, Relaxed);
        self.latency_min.store(u64::MAX, Relaxed);
        self.latency_max.store(0, Relaxed);
        self.packets_received.store(0, Relaxed);
        self.packets_sent.store(0, Relaxed);
        self.response_last.store(-1, Relaxed);
        self.response_min.store(-1, Relaxed);
        self.response_max.store(-1, Relaxed);
        // `ServerMetrics#resetAll`
        if self.metrics_resettable.load(Relaxed) {
            self.digest_mismatches.store(0, Relaxed);
            self.insecure_admin.store(0, Relaxed);
            for c in &self.counters {
                c.store(0, Relaxed);
            }
            for s in [
                &self.read_latency,
                &self.update_latency,
                &self.fsync_time,
                &self.election_time,
                &self.sync_batch_size,
                &self.snapshot_time,
                &self.follower_sync_time,
                &self.observer_sync_time,
                &self.db_init_time,
                &self.snap_load_time,
                &self.txns_loaded,
                &self.txns_load_time,
            ]
            .into_iter()
            .chain(&self.watch_counts)
            {
                s.reset();
            }
        }
    }

    pub fn snapshot(&self) -> StatsSnapshot {
        let count = self.latency_count.load(Relaxed);
        let total = self.latency_total.load(Relaxed);
        let min = self.latency_min.load(Relaxed);
        let avg = if count == 0 {
            0.0
        } else {
            round4(total as f64 / count as f64)
        };
        StatsSnapshot {
            packets_received: self.packets_received.load(Relaxed),
            packets_sent: self.packets_sent.load(Relaxed),
            min_latency: if min == u64::MAX { 0 } else { min },
            avg_latency: avg,
            max_latency: self.latency_max.load(Relaxed),
            latency_count: count,
            outstanding_requests: self.outstanding.load(Relaxed),
            digest_mismatches: self.digest_mismatches.load(Relaxed),
            insecure_admin: self.insecure_admin.load(Relaxed),
            last_client_response_size: self.response_last.load(Relaxed),
            min_client_response_size: self.response_min.load(Relaxed),
            max_client_response_size: self.response_max.load(Relaxed),
        }
    }
}

/// A duration as the whole ms `ServerMetrics` summaries take.
fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// `BigDecimal#setScale(4, HALF_UP)`.
pub(crate) fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_and_reset() {
        let s = ServerStats::new();
        assert_eq!(s.snapshot().min_latency, 0);
        for ms in [0, 1, 11, 2, 0, 1, 2] {
            s.record_latency(ms, ms > 1);
        }
        s.packet_received();
        s.request_started();
        s.digest_mismatch();
        s.count(Counter::Diff);
        s.count(Counter::Diff);
        assert_eq!(s.counter("diff_count"), Some(2));
        assert_eq!(s.counter("snap_count"), Some(0));
        assert_eq!(s.counter("stale_replies"), None);
        let snap = s.snapshot();
        assert_eq!((snap.min_latency, snap.max_latency), (0, 11));
        assert_eq!(snap.avg_latency, 2.4286);
        let update = s.summary("updatelatency").unwrap();
        assert_eq!(
            (update.count, update.sum, update.min, update.max),
            (3, 15, 2, 11)
        );
        assert_eq!(update.percentiles, Some([2, 11, 11, 11]));
        assert_eq!(s.summary("readlatency").unwrap().count, 4);
        assert_eq!(s.summary("leader_unavailable_time"), None);
        s.reset();
        let snap = s.snapshot();
        assert_eq!((snap.packets_received, snap.latency_count), (0, 0));
        assert_eq!(snap.outstanding_requests, 1);
        assert_eq!(snap.digest_mismatches, 0);
        assert_eq!(s.counter("diff_count"), Some(0));
        assert_eq!(
            s.summary("updatelatency").unwrap(),
            SummaryValues::empty(true)
        );
    }

    #[test]
    fn prometheus_keeps_the_metrics_on_reset() {
        let s = ServerStats::new();
        s.keep_metrics_on_reset();
        s.record_latency(3, true);
        s.record_log_commit(Some(Duration::from_millis(2)), 3);
        s.digest_mismatch();
        s.reset();
        assert_eq!(s.snapshot().latency_count, 0);
        assert_eq!(s.snapshot().digest_mismatches, 1);
        assert_eq!(s.summary("updatelatency").unwrap().count, 1);
        assert_eq!(s.summary("fsynctime").unwrap().sum, 2);
        assert_eq!(s.summary("sync_processor_batch_size").unwrap().sum, 3);
    }

    #[test]
    fn response_sizes() {
        let s = ServerStats::new();
        assert_eq!(s.snapshot().min_client_response_size, -1);
        s.record_response_size(93);
        s.record_response_size(16);
        let snap = s.snapshot();
        assert_eq!(
            (
                snap.last_client_response_size,
                snap.min_client_response_size,
                snap.max_client_response_size
            ),
            (16, 16, 93)
        );
    }
}
