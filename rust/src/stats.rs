//! Application statistics: request counts, per-status counts, 5xx errors, a latency
//! histogram and the number of open WebSocket connections.
//!
//! Recording is lock-free: every counter is an `AtomicU64`. With `Writers::Concurrent`
//! it is updated with relaxed fetch-adds, so concurrent recorders never wait on each
//! other and no update is ever lost; with `Writers::Serialized` (recorders that
//! already take turns: from Python, under the GIL) with a plain load and store,
//! several times cheaper than a locked add. The memory is fixed at construction
//! (about 23 KiB) whatever the traffic.
//!
//! Latencies go into a log-linear histogram (the HDR-histogram layout): values below
//! 32 ns have a bucket each, and every power of two above is split into 32 equal
//! sub-buckets, so a bucket is at most 1/32 of its value wide and a percentile read
//! from its midpoint is within about 1.6% of the true sample. The full `u64` range is
//! covered, so no sample is ever clipped.
//!
//! A snapshot reads the counters one by one; taken while requests are in flight, it
//! may see a request in one counter and not yet in another. Once recording is quiet,
//! the snapshot is exact.
//!
//! Each request may also be recorded under its route (`routes`): its template, method
//! and status class, with a histogram of the same layout.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

pub mod routes;

use routes::RouteTable;

/// Sub-buckets per power of two, as a bit count: 2^5 = 32.
const SUB_BITS: u32 = 5;
const SUB_COUNT: usize = 1 << SUB_BITS;
/// 32 exact buckets for 0..32, then 32 sub-buckets for each exponent 5..=63.
pub const BUCKETS: usize = SUB_COUNT + (64 - SUB_BITS as usize) * SUB_COUNT;

/// Status codes with their own counter: every three-digit code.
const STATUS_MIN: u16 = 100;
const STATUS_MAX: u16 = 999;
const STATUS_SLOTS: usize = (STATUS_MAX - STATUS_MIN + 1) as usize;

/// The histogram bucket a latency (in nanoseconds) falls into.
pub fn bucket_index(value: u64) -> usize {
    if value < SUB_COUNT as u64 {
        return value as usize;
    }
    // `exp` is the position of the highest set bit, at least SUB_BITS here.
    let exp = value.ilog2();
    let shift = exp - SUB_BITS;
    let mantissa = ((value >> shift) as usize) & (SUB_COUNT - 1);
    (exp - SUB_BITS + 1) as usize * SUB_COUNT + mantissa
}

/// The value a bucket stands for: the middle of its range.
pub fn bucket_midpoint(index: usize) -> u64 {
    let (low, high) = bucket_bounds(index);
    low + (high - low) / 2
}

/// The inclusive range of values that land in bucket `index`.
pub fn bucket_bounds(index: usize) -> (u64, u64) {
    if index < SUB_COUNT {
        let v = index as u64;
        return (v, v);
    }
    let group = (index / SUB_COUNT) as u32;
    let mantissa = (index % SUB_COUNT) as u64;
    let shift = group - 1;
    let low = (SUB_COUNT as u64 + mantissa) << shift;
    (low, low + ((1u64 << shift) - 1))
}

/// A consistent-once-quiet copy of the counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// Requests recorded.
    pub requests: u64,
    /// Sum of all recorded latencies, in nanoseconds (wraps after ~584 years).
    pub total_ns: u64,
    /// Responses with a 5xx status.
    pub errors: u64,
    /// `(status, count)` for every status seen, in ascending status order.
    pub status_codes: Vec<(u16, u64)>,
    pub p50_ns: u64,
    pub p90_ns: u64,
    pub p99_ns: u64,
    /// The largest latency recorded (exact, not bucketed).
    pub max_ns: u64,
    /// WebSocket connections open right now.
    pub websocket_active: u64,
    /// WebSocket connections accepted since start (or the last reset).
    pub websocket_total: u64,
    /// Requests whose client went away before the response was complete; not
    /// counted in `requests`.
    pub client_disconnects: u64,
}

impl Snapshot {
    /// Mean latency in nanoseconds; 0 before the first request.
    pub fn mean_ns(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            self.total_ns as f64 / self.requests as f64
        }
    }
}

/// Who records at the same time, which decides how a counter is bumped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Writers {
    /// Any number of threads: atomic read-modify-writes.
    Concurrent,
    /// One at a time (the recorders hold a lock, such as the GIL): a plain load and
    /// store of the atomic (~1 ns against ~5 ns for a locked add).
    Serialized,
}

impl Writers {
    fn add(self, counter: &AtomicU64, n: u64) {
        match self {
            Writers::Concurrent => {
                counter.fetch_add(n, Relaxed);
            }
            Writers::Serialized => counter.store(counter.load(Relaxed).wrapping_add(n), Relaxed),
        }
    }
}

pub struct Stats {
    writers: Writers,
    requests: AtomicU64,
    total_ns: AtomicU64,
    errors: AtomicU64,
    min_ns: AtomicU64,
    max_ns: AtomicU64,
    status: Box<[AtomicU64]>,
    histogram: Box<[AtomicU64]>,
    websocket_active: AtomicU64,
    websocket_total: AtomicU64,
    client_disconnects: AtomicU64,
    resets: AtomicU64,
    routes: RouteTable,
}

fn zeroed(len: usize) -> Box<[AtomicU64]> {
    (0..len).map(|_| AtomicU64::new(0)).collect()
}

impl Default for Stats {
    fn default() -> Self {
        Self::new()
    }
}

impl Stats {
    /// Statistics any number of threads may record at once.
    pub fn new() -> Self {
        Self::with_writers(Writers::Concurrent)
    }

    pub fn with_writers(writers: Writers) -> Self {
        Self {
            writers,
            requests: AtomicU64::new(0),
            total_ns: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            min_ns: AtomicU64::new(u64::MAX),
            max_ns: AtomicU64::new(0),
            status: zeroed(STATUS_SLOTS),
            histogram: zeroed(BUCKETS),
            websocket_active: AtomicU64::new(0),
            websocket_total: AtomicU64::new(0),
            client_disconnects: AtomicU64::new(0),
            resets: AtomicU64::new(0),
            routes: RouteTable::with_writers(writers),
        }
    }

    /// Records one finished request. A status outside 100..=999 is counted in the
    /// totals and the histogram but has no per-status entry.
    pub fn record(&self, status: u16, elapsed_ns: u64) {
        let writers = self.writers;
        writers.add(&self.requests, 1);
        writers.add(&self.total_ns, elapsed_ns);
        if let Some(slot) = status
            .checked_sub(STATUS_MIN)
            .and_then(|i| self.status.get(usize::from(i)))
        {
            writers.add(slot, 1);
        }
        if (500..600).contains(&status) {
            writers.add(&self.errors, 1);
        }
        if let Some(bucket) = self.histogram.get(bucket_index(elapsed_ns)) {
            writers.add(bucket, 1);
        }
        // Read first: the extremes rarely change, and a plain load is cheaper than
        // a read-modify-write on every request.
        if elapsed_ns > self.max_ns.load(Relaxed) {
            self.max_ns.fetch_max(elapsed_ns, Relaxed);
        }
        if elapsed_ns < self.min_ns.load(Relaxed) {
            self.min_ns.fetch_min(elapsed_ns, Relaxed);
        }
    }

    /// Records one request under its route as well: `route` an id from
    /// [`routes::route_id`], `method` an index into [`routes::METHODS`]. An unknown
    /// route id counts under [`routes::UNMATCHED`]; a status outside 100..=599 is
    /// not recorded per route.
    pub fn record_route(&self, route: u32, method: usize, status: u16, elapsed_ns: u64) {
        let route = if routes::is_registered(route) {
            route
        } else {
            routes::UNMATCHED
        };
        self.routes.record(route, method, status, elapsed_ns);
    }

    /// Per-route cells that counted a request since the last reset.
    pub fn route_snapshot(&self) -> Vec<routes::RouteSnapshot> {
        self.routes.snapshot()
    }

    /// How many times `reset` was called: lets an exporter keep its counters
    /// monotonic across resets.
    pub fn resets(&self) -> u64 {
        self.resets.load(Relaxed)
    }

    /// A client went away before its request was answered: the client's doing,
    /// so it is counted apart from the requests and their statuses.
    pub fn client_disconnected(&self) {
        self.client_disconnects.fetch_add(1, Relaxed);
    }

    /// A WebSocket connection was accepted.
    pub fn websocket_opened(&self) {
        self.websocket_active.fetch_add(1, Relaxed);
        self.websocket_total.fetch_add(1, Relaxed);
    }

    /// An accepted WebSocket connection ended. Never goes below zero, even if called
    /// more often than `websocket_opened`.
    pub fn websocket_closed(&self) {
        let _ = self
            .websocket_active
            .fetch_update(Relaxed, Relaxed, |n| n.checked_sub(1));
    }

    /// Zeroes every counter except the number of open WebSocket connections, which
    /// is a gauge of the present rather than a count since some moment.
    pub fn reset(&self) {
        self.requests.store(0, Relaxed);
        self.total_ns.store(0, Relaxed);
        self.errors.store(0, Relaxed);
        self.min_ns.store(u64::MAX, Relaxed);
        self.max_ns.store(0, Relaxed);
        for counter in self.status.iter().chain(self.histogram.iter()) {
            counter.store(0, Relaxed);
        }
        self.websocket_total.store(0, Relaxed);
        self.client_disconnects.store(0, Relaxed);
        self.routes.reset();
        self.resets.fetch_add(1, Relaxed);
    }

    pub fn snapshot(&self) -> Snapshot {
        let counts: Vec<u64> = self.histogram.iter().map(|c| c.load(Relaxed)).collect();
        let min = self.min_ns.load(Relaxed);
        let max = self.max_ns.load(Relaxed);
        let percentile = |q: f64| percentile(&counts, q, min, max);
        let status_codes = self
            .status
            .iter()
            .zip(STATUS_MIN..=STATUS_MAX)
            .filter_map(|(c, code)| {
                let n = c.load(Relaxed);
                (n > 0).then_some((code, n))
            })
            .collect();
        Snapshot {
            requests: self.requests.load(Relaxed),
            total_ns: self.total_ns.load(Relaxed),
            errors: self.errors.load(Relaxed),
            status_codes,
            p50_ns: percentile(0.50),
            p90_ns: percentile(0.90),
            p99_ns: percentile(0.99),
            max_ns: max,
            websocket_active: self.websocket_active.load(Relaxed),
            websocket_total: self.websocket_total.load(Relaxed),
            client_disconnects: self.client_disconnects.load(Relaxed),
        }
    }
}

/// The nearest-rank `q`-quantile of the histogram `counts`: the midpoint of the bucket
/// holding the ceil(q * n)-th smallest sample, clamped to the exact observed
/// `[min, max]`. 0 for an empty histogram.
pub fn percentile(counts: &[u64], q: f64, min: u64, max: u64) -> u64 {
    let buckets: Vec<(usize, u64)> = counts
        .iter()
        .enumerate()
        .filter(|&(_, &n)| n > 0)
        .map(|(index, &n)| (index, n))
        .collect();
    percentile_sparse(&buckets, q, min, max)
}

/// `percentile` over `(bucket index, count)` pairs in ascending index order.
pub fn percentile_sparse(buckets: &[(usize, u64)], q: f64, min: u64, max: u64) -> u64 {
    let total: u64 = buckets.iter().map(|&(_, n)| n).sum();
    if total == 0 {
        return 0;
    }
    let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).clamp(1, total);
    let mut seen = 0u64;
    for &(index, n) in buckets {
        seen += n;
        if seen >= rank {
            return bucket_midpoint(index).clamp(min.min(max), max);
        }
    }
    max
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::sync::Arc;

    #[test]
    fn buckets_are_contiguous_and_cover_u64() {
        assert_eq!(bucket_bounds(0), (0, 0));
        let mut next = 0u64;
        for index in 0..BUCKETS {
            let (low, high) = bucket_bounds(index);
            assert_eq!(low, next, "gap before bucket {index}");
            assert!(high >= low);
            assert_eq!(bucket_index(low), index);
            assert_eq!(bucket_index(high), index);
            if index + 1 < BUCKETS {
                next = high + 1;
            } else {
                assert_eq!(high, u64::MAX);
            }
        }
    }

    #[test]
    fn bucket_width_is_at_most_a_32nd_of_its_values() {
        for index in SUB_COUNT..BUCKETS {
            let (low, high) = bucket_bounds(index);
            assert!((high - low + 1) * 32 <= low, "bucket {index} too wide");
        }
    }

    proptest! {
        #[test]
        fn every_value_lies_in_its_bucket(v in any::<u64>()) {
            let index = bucket_index(v);
            prop_assert!(index < BUCKETS);
            let (low, high) = bucket_bounds(index);
            prop_assert!(low <= v && v <= high);
        }

        #[test]
        fn bucket_index_is_monotonic(a in any::<u64>(), b in any::<u64>()) {
            let (a, b) = (a.min(b), a.max(b));
            prop_assert!(bucket_index(a) <= bucket_index(b));
        }
    }

    #[test]
    fn empty_snapshot_is_all_zero() {
        let s = Stats::new().snapshot();
        assert_eq!(s.requests, 0);
        assert_eq!(s.mean_ns(), 0.0);
        assert_eq!((s.p50_ns, s.p90_ns, s.p99_ns, s.max_ns), (0, 0, 0, 0));
        assert!(s.status_codes.is_empty());
    }

    #[test]
    fn counts_statuses_errors_and_mean() {
        let stats = Stats::new();
        stats.record(200, 1_000);
        stats.record(200, 3_000);
        stats.record(404, 2_000);
        stats.record(500, 4_000);
        stats.record(503, 5_000);
        let s = stats.snapshot();
        assert_eq!(s.requests, 5);
        assert_eq!(s.errors, 2);
        assert_eq!(s.status_codes, vec![(200, 2), (404, 1), (500, 1), (503, 1)]);
        assert_eq!(s.total_ns, 15_000);
        assert_eq!(s.mean_ns(), 3_000.0);
        assert_eq!(s.max_ns, 5_000);
    }

    #[test]
    fn out_of_range_status_counts_in_totals_only() {
        let stats = Stats::new();
        stats.record(0, 10);
        stats.record(99, 10);
        stats.record(1000, 10);
        stats.record(u16::MAX, 10);
        let s = stats.snapshot();
        assert_eq!(s.requests, 4);
        assert_eq!(s.errors, 0);
        assert!(s.status_codes.is_empty());
    }

    #[test]
    fn extreme_latencies_do_not_panic() {
        let stats = Stats::new();
        stats.record(200, 0);
        stats.record(200, u64::MAX);
        let s = stats.snapshot();
        assert_eq!(s.max_ns, u64::MAX);
        assert_eq!(s.p50_ns, 0);
        assert_eq!(bucket_index(s.p99_ns), BUCKETS - 1);
    }

    #[test]
    fn identical_samples_give_exact_percentiles() {
        let stats = Stats::new();
        for _ in 0..100 {
            stats.record(200, 123_456);
        }
        let s = stats.snapshot();
        assert_eq!((s.p50_ns, s.p90_ns, s.p99_ns), (123_456, 123_456, 123_456));
    }

    #[test]
    fn percentiles_are_within_bucket_precision() {
        let stats = Stats::new();
        for v in 1..=10_000u64 {
            stats.record(200, v * 1_000);
        }
        let s = stats.snapshot();
        for (got, want) in [
            (s.p50_ns, 5_000_000u64),
            (s.p90_ns, 9_000_000),
            (s.p99_ns, 9_900_000),
        ] {
            let err = (got as f64 - want as f64).abs() / want as f64;
            assert!(err < 0.02, "got {got}, want {want}");
        }
        assert_eq!(s.max_ns, 10_000_000);
    }

    #[test]
    fn serialized_writers_count_as_concurrent_ones() {
        let concurrent = Stats::new();
        let serialized = Stats::with_writers(Writers::Serialized);
        let id = routes::route_id("/serialized/{id}").expect("registry has room");
        for (i, status) in [200u16, 201, 404, 500, 503, 200].into_iter().enumerate() {
            let elapsed = 1_000 * (i as u64 + 1);
            for stats in [&concurrent, &serialized] {
                stats.record(status, elapsed);
                stats.record_route(id, routes::method_index("GET"), status, elapsed);
            }
        }
        assert_eq!(concurrent.snapshot(), serialized.snapshot());
        assert_eq!(concurrent.route_snapshot(), serialized.route_snapshot());
        assert_eq!(serialized.snapshot().requests, 6);
    }

    #[test]
    fn percentile_uses_nearest_rank() {
        let mut counts = vec![0u64; BUCKETS];
        counts[1] = 9;
        counts[20] = 1;
        assert_eq!(percentile(&counts, 0.5, 1, 20), 1);
        assert_eq!(percentile(&counts, 0.9, 1, 20), 1);
        assert_eq!(percentile(&counts, 0.91, 1, 20), 20);
        assert_eq!(percentile(&counts, 1.0, 1, 20), 20);
        assert_eq!(percentile(&counts, 0.0, 1, 20), 1);
    }

    #[test]
    fn reset_zeroes_counts_but_keeps_open_websockets() {
        let stats = Stats::new();
        stats.record(500, 7);
        stats.websocket_opened();
        stats.websocket_opened();
        stats.reset();
        let s = stats.snapshot();
        assert_eq!((s.requests, s.errors, s.total_ns, s.max_ns), (0, 0, 0, 0));
        assert!(s.status_codes.is_empty());
        assert_eq!(s.p99_ns, 0);
        assert_eq!((s.websocket_active, s.websocket_total), (2, 0));
        stats.record(200, 9);
        assert_eq!(stats.snapshot().p50_ns, 9);
    }

    #[test]
    fn record_route_counts_per_route_and_globally_apart() {
        let stats = Stats::new();
        let id = routes::route_id("/stats-test/{id:int}").expect("registry has room");
        stats.record(200, 10);
        stats.record_route(id, routes::method_index("GET"), 200, 10);
        stats.record_route(u32::MAX, routes::method_index("GET"), 404, 5);
        let s = stats.snapshot();
        assert_eq!(s.requests, 1);
        let mut cells: Vec<_> = stats
            .route_snapshot()
            .into_iter()
            .map(|r| (r.route, r.method, r.class, r.cell.count))
            .collect();
        cells.sort_unstable();
        assert_eq!(
            cells,
            vec![(routes::UNMATCHED, "GET", 4, 1), (id, "GET", 2, 1)]
        );
    }

    #[test]
    fn reset_clears_routes_and_counts_itself() {
        let stats = Stats::new();
        stats.record_route(routes::UNMATCHED, 0, 404, 5);
        assert_eq!(stats.resets(), 0);
        stats.reset();
        assert_eq!(stats.resets(), 1);
        assert!(stats.route_snapshot().is_empty());
    }

    #[test]
    fn websocket_gauge_never_underflows() {
        let stats = Stats::new();
        stats.websocket_closed();
        assert_eq!(stats.snapshot().websocket_active, 0);
        stats.websocket_opened();
        stats.websocket_closed();
        stats.websocket_closed();
        let s = stats.snapshot();
        assert_eq!((s.websocket_active, s.websocket_total), (0, 1));
    }

    #[test]
    fn concurrent_recording_loses_nothing() {
        const THREADS: u64 = 8;
        const PER_THREAD: u64 = 50_000;
        let stats = Arc::new(Stats::new());
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let stats = Arc::clone(&stats);
                std::thread::spawn(move || {
                    for i in 0..PER_THREAD {
                        let code = if i % 10 == 0 { 500 } else { 200 };
                        stats.record(code, t * 1_000 + i % 7);
                        if i % 100 == 0 {
                            stats.websocket_opened();
                            stats.websocket_closed();
                        }
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.join().expect("recorder thread panicked");
        }
        let s = stats.snapshot();
        let total = THREADS * PER_THREAD;
        assert_eq!(s.requests, total);
        assert_eq!(s.errors, total / 10);
        assert_eq!(
            s.status_codes,
            vec![(200, total - total / 10), (500, total / 10)]
        );
        let expected_ns: u64 = (0..THREADS)
            .map(|t| (0..PER_THREAD).map(|i| t * 1_000 + i % 7).sum::<u64>())
            .sum();
        assert_eq!(s.total_ns, expected_ns);
        assert_eq!(s.max_ns, (THREADS - 1) * 1_000 + 6);
        assert_eq!(s.websocket_active, 0);
        assert_eq!(s.websocket_total, THREADS * PER_THREAD / 100);
    }
}
