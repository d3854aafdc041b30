//! One `mntr` summary: 3.8's `AvgMinMaxCounter` (avg / min / max / cnt / sum) and, for the
//! summaries with percentiles, `AvgMinMaxPercentileCounter`'s p50 / p95 / p99 / p999 over a
//! uniform reservoir of 4096 samples (`ResettableUniformReservoir`, read as Dropwizard's
//! `UniformSnapshot` reads it).
//!
//! Invariants: min and max are 0 while empty; the average is rounded half up to 4 decimals;
//! a percentile interpolates between the two samples around `q * (n + 1)`.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, Ordering::Relaxed};
use std::sync::Mutex;

use super::javafmt::java_double;
use super::mntr_names::LEARNER_SUMMARY_SETS;

/// `ResettableUniformReservoir.DEFAULT_SIZE`.
const RESERVOIR_SIZE: usize = 4096;

/// The percentiles `mntr` prints, by name prefix.
const PERCENTILES: [(&str, f64); 4] = [("p50", 0.5), ("p95", 0.95), ("p99", 0.99), ("p999", 0.999)];

/// A summary that connection and socket tasks add to concurrently.
#[derive(Debug)]
pub struct Summary {
    count: AtomicI64,
    total: AtomicI64,
    min: AtomicI64,
    max: AtomicI64,
    reservoir: Option<Mutex<Reservoir>>,
}

#[derive(Debug)]
struct Reservoir {
    seen: u64,
    values: Vec<i64>,
    /// xorshift64 state: which sample a full reservoir replaces need not be secure.
    rng: u64,
}

impl Reservoir {
    fn add(&mut self, value: i64) {
        self.seen += 1;
        if self.values.len() < RESERVOIR_SIZE {
            self.values.push(value);
            return;
        }
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let slot = self.rng % self.seen;
        if let Some(v) = usize::try_from(slot)
            .ok()
            .and_then(|i| self.values.get_mut(i))
        {
            *v = value;
        }
    }
}

/// What a [`Summary`] reports at one moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SummaryValues {
    pub avg: f64,
    pub min: i64,
    pub max: i64,
    pub count: i64,
    pub sum: i64,
    /// p50, p95, p99, p999, for a summary with percentiles.
    pub percentiles: Option<[i64; 4]>,
}

// the average is a finite quotient (0.0 when empty), never NaN
impl Eq for SummaryValues {}

impl Summary {
    /// An `AvgMinMaxCounter`.
    pub fn new() -> Self {
        Summary {
            count: AtomicI64::new(0),
            total: AtomicI64::new(0),
            min: AtomicI64::new(i64::MAX),
            max: AtomicI64::new(i64::MIN),
            reservoir: None,
        }
    }

    /// An `AvgMinMaxPercentileCounter`.
    pub fn with_percentiles() -> Self {
        Summary {
            reservoir: Some(Mutex::new(Reservoir {
                seen: 0,
                values: Vec::new(),
                rng: 0x9e37_79b9_7f4a_7c15,
            })),
            ..Summary::new()
        }
    }

    pub fn add(&self, value: i64) {
        self.count.fetch_add(1, Relaxed);
        self.total.fetch_add(value, Relaxed);
        self.min.fetch_min(value, Relaxed);
        self.max.fetch_max(value, Relaxed);
        if let Some(r) = &self.reservoir {
            r.lock().unwrap_or_else(|p| p.into_inner()).add(value);
        }
    }

    /// `srst` with the default metrics provider (`DefaultMetricsProvider#resetAllValues`).
    pub fn reset(&self) {
        self.count.store(0, Relaxed);
        self.total.store(0, Relaxed);
        self.min.store(i64::MAX, Relaxed);
        self.max.store(i64::MIN, Relaxed);
        if let Some(r) = &self.reservoir {
            let mut r = r.lock().unwrap_or_else(|p| p.into_inner());
            r.seen = 0;
            r.values.clear();
        }
    }

    pub fn values(&self) -> SummaryValues {
        let count = self.count.load(Relaxed);
        let sum = self.total.load(Relaxed);
        let zero_if = |v: i64, empty: i64| if v == empty { 0 } else { v };
        let avg = if count > 0 {
            ((sum as f64 / count as f64) * 10_000.0).round() / 10_000.0
        } else {
            0.0
        };
        let percentiles = self.reservoir.as_ref().map(|r| {
            let mut sorted = r.lock().unwrap_or_else(|p| p.into_inner()).values.clone();
            sorted.sort_unstable();
            PERCENTILES.map(|(_, q)| quantile(&sorted, q).round() as i64)
        });
        SummaryValues {
            avg,
            min: zero_if(self.min.load(Relaxed), i64::MAX),
            max: zero_if(self.max.load(Relaxed), i64::MIN),
            count,
            sum,
            percentiles,
        }
    }
}

impl Default for Summary {
    fn default() -> Self {
        Summary::new()
    }
}

/// Dropwizard's `UniformSnapshot#getValue` over sorted samples.
fn quantile(sorted: &[i64], q: f64) -> f64 {
    let Some((&first, rest)) = sorted.split_first() else {
        return 0.0;
    };
    let pos = q * (sorted.len() + 1) as f64;
    let index = pos as usize;
    if index < 1 {
        return first as f64;
    }
    if index >= sorted.len() {
        return rest.last().copied().unwrap_or(first) as f64;
    }
    let lower = sorted[index - 1] as f64;
    let upper = sorted[index] as f64;
    lower + (pos - pos.floor()) * (upper - lower)
}

impl SummaryValues {
    /// The `zk_avg_<name>` ... lines of `mntr`, in 3.8's order.
    pub fn write_mntr(&self, out: &mut String, name: &str) {
        let _ = write!(
            out,
            "zk_avg_{name}\t{}\nzk_min_{name}\t{}\nzk_max_{name}\t{}\nzk_cnt_{name}\t{}\nzk_sum_{name}\t{}\n",
            java_double(self.avg),
            self.min,
            self.max,
            self.count,
            self.sum
        );
        if let Some(ps) = self.percentiles {
            for ((p, _), v) in PERCENTILES.iter().zip(ps) {
                let _ = writeln!(out, "zk_{p}_{name}\t{v}");
            }
        }
    }

    /// An empty summary, with percentiles or not.
    pub fn empty(percentiles: bool) -> Self {
        SummaryValues {
            percentiles: percentiles.then_some([0; 4]),
            ..SummaryValues::default()
        }
    }

    /// A learner handler's `learner_handler_qp_*` pair before it took a packet.
    pub fn empty_learner_queues() -> [Self; 2] {
        LEARNER_SUMMARY_SETS.map(|(_, percentiles)| SummaryValues::empty(percentiles))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_summary_reports_zeros() {
        let mut out = String::new();
        Summary::with_percentiles()
            .values()
            .write_mntr(&mut out, "x");
        assert_eq!(
            out,
            "zk_avg_x\t0.0\nzk_min_x\t0\nzk_max_x\t0\nzk_cnt_x\t0\nzk_sum_x\t0\n\
             zk_p50_x\t0\nzk_p95_x\t0\nzk_p99_x\t0\nzk_p999_x\t0\n"
        );
        assert_eq!(
            SummaryValues::empty(true),
            Summary::with_percentiles().values()
        );
        assert_eq!(SummaryValues::empty(false), Summary::new().values());
    }

    /// The figures of the leader fixture's `1_learner_handler_qp_size` (36 samples, 3 of
    /// them 1) and percentiles as `UniformSnapshot` gives them for 1..=100.
    #[test]
    fn avg_rounds_to_four_places_and_percentiles_interpolate() {
        let s = Summary::new();
        for i in 0..36 {
            s.add(i64::from(i % 12 == 0));
        }
        let v = s.values();
        assert_eq!((v.avg, v.min, v.max, v.count, v.sum), (0.0833, 0, 1, 36, 3));
        assert_eq!(v.percentiles, None);

        let p = Summary::with_percentiles();
        for i in 1..=100 {
            p.add(i);
        }
        // pos = q * 101: 50.5 → 50.5, 95.95 → 95.95, 99.99 → 99.99, 100.899 → the last
        assert_eq!(p.values().percentiles, Some([51, 96, 100, 100]));
        let one = Summary::with_percentiles();
        one.add(7);
        assert_eq!(one.values().percentiles, Some([7, 7, 7, 7]));
    }

    /// Past 4096 samples the reservoir keeps 4096, drawn from all of them.
    #[test]
    fn the_reservoir_stays_bounded() {
        let p = Summary::with_percentiles();
        for i in 0..20_000 {
            p.add(i);
        }
        let v = p.values();
        assert_eq!((v.count, v.min, v.max), (20_000, 0, 19_999));
        let [p50, .., p999] = v.percentiles.unwrap_or_default();
        assert!((7_000..13_000).contains(&p50), "{p50}");
        assert!(p999 > 18_000, "{p999}");
        let r = p.reservoir.as_ref().map(|r| r.lock().unwrap().values.len());
        assert_eq!(r, Some(RESERVOIR_SIZE));
    }
}
