//! Per-route statistics: every request is also counted under its route template
//! (`/users/{id:int}`, never the requested path), its method and its status class,
//! each such cell with its own latency histogram.
//!
//! Memory is bounded by the application's code, not by its traffic:
//!
//! - Templates are interned once in a process-wide registry ([`route_id`]) when a
//!   route is defined; requests only ever carry the small integer id. Requests that
//!   matched no route all count under [`UNMATCHED_TEMPLATE`], so random paths cannot
//!   grow anything.
//! - A route has at most `METHODS.len() * 5` cells (methods outside the fixed set
//!   count as `OTHER`), each allocated on its first request.
//! - A cell's histogram uses the global histogram's bucket layout but allocates its
//!   32-bucket groups (one per power of two) on first use: about 1 KiB per cell plus
//!   256 bytes per power of two its latencies actually span.
//!
//! Recording takes no lock: the route table is a list of lazily allocated segments
//! (segment `k` holds ids `2^k - 1 .. 2^(k+1) - 1`), found with two atomic loads.

use std::collections::HashMap;
use std::sync::atomic::{
    AtomicU32, AtomicU64, Ordering::Acquire, Ordering::Relaxed, Ordering::Release,
};
use std::sync::{Arc, Mutex, OnceLock};

use super::{bucket_index, Writers, BUCKETS, SUB_COUNT};

/// The template every request that matched no route is counted under.
pub const UNMATCHED_TEMPLATE: &str = "<unmatched>";
/// Its id, registered before any other.
pub const UNMATCHED: u32 = 0;

/// Methods with their own cells; any other method counts as `OTHER` (the last).
pub const METHODS: [&str; 9] = [
    "GET",
    "HEAD",
    "POST",
    "PUT",
    "PATCH",
    "DELETE",
    "OPTIONS",
    "WEBSOCKET",
    "OTHER",
];
/// Status classes 1xx..=5xx.
pub const CLASSES: usize = 5;
const CELLS: usize = METHODS.len() * CLASSES;
/// One histogram group per power of two (the first holds the exact values 0..32).
const GROUPS: usize = BUCKETS / SUB_COUNT;
/// Route table segments: enough for every id the registry hands out.
const SEGMENTS: usize = 32;
/// Ids are below this (so that they fit the route table's segments).
pub const MAX_ROUTE_IDS: u32 = (1 << (SEGMENTS - 1)) - 1;

/// The index of `method` in [`METHODS`].
pub fn method_index(method: &str) -> usize {
    match method {
        "GET" => 0,
        "HEAD" => 1,
        "POST" => 2,
        "PUT" => 3,
        "PATCH" => 4,
        "DELETE" => 5,
        "OPTIONS" => 6,
        "WEBSOCKET" => 7,
        _ => METHODS.len() - 1,
    }
}

/// The status class of `status` (1 for 1xx ... 5 for 5xx); None outside 100..=599.
pub fn status_class(status: u16) -> Option<u8> {
    (100..600).contains(&status).then_some((status / 100) as u8)
}

// -- the template registry -----------------------------------------------------------

struct Registry {
    ids: HashMap<Arc<str>, u32>,
    templates: Vec<Arc<str>>,
}

/// How many ids the registry has handed out; ids at or above it are unknown.
static REGISTERED: AtomicU32 = AtomicU32::new(0);

fn registry() -> &'static Mutex<Registry> {
    static REGISTRY: OnceLock<Mutex<Registry>> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let unmatched: Arc<str> = Arc::from(UNMATCHED_TEMPLATE);
        REGISTERED.store(1, Release);
        Mutex::new(Registry {
            ids: HashMap::from([(Arc::clone(&unmatched), UNMATCHED)]),
            templates: vec![unmatched],
        })
    })
}

fn lock() -> std::sync::MutexGuard<'static, Registry> {
    // A panic while holding the lock cannot leave the registry half-updated (the
    // map and the list are updated after every fallible step), so poison is ignored.
    registry()
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The registry is full: [`MAX_ROUTE_IDS`] distinct templates were interned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TooManyRoutes;

impl std::fmt::Display for TooManyRoutes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "more than {MAX_ROUTE_IDS} distinct route templates")
    }
}

/// The id of `template`, registering it on first use; the same template always
/// gets the same id, in every `Stats` of the process.
pub fn route_id(template: &str) -> Result<u32, TooManyRoutes> {
    let mut registry = lock();
    if let Some(&id) = registry.ids.get(template) {
        return Ok(id);
    }
    let id = u32::try_from(registry.templates.len())
        .ok()
        .filter(|&id| id < MAX_ROUTE_IDS)
        .ok_or(TooManyRoutes)?;
    let template: Arc<str> = Arc::from(template);
    registry.templates.push(Arc::clone(&template));
    registry.ids.insert(template, id);
    REGISTERED.store(id + 1, Release);
    Ok(id)
}

/// The template registered under `id`.
pub fn route_template(id: u32) -> Option<Arc<str>> {
    lock().templates.get(id as usize).cloned()
}

/// Every registered template, indexed by id.
pub fn route_templates() -> Vec<Arc<str>> {
    lock().templates.clone()
}

/// Whether `id` was handed out by [`route_id`]. One atomic load once the registry
/// exists (`RouteTable::new` makes sure it does).
pub fn is_registered(id: u32) -> bool {
    id < REGISTERED.load(Acquire)
}

// -- one cell ------------------------------------------------------------------------

type Group = [AtomicU64; SUB_COUNT];

/// The requests of one route, method and status class.
pub struct Cell {
    total_ns: AtomicU64,
    min_ns: AtomicU64,
    max_ns: AtomicU64,
    groups: [OnceLock<Box<Group>>; GROUPS],
}

impl Default for Cell {
    fn default() -> Self {
        Self::new()
    }
}

impl Cell {
    pub fn new() -> Self {
        Self {
            total_ns: AtomicU64::new(0),
            min_ns: AtomicU64::new(u64::MAX),
            max_ns: AtomicU64::new(0),
            groups: [const { OnceLock::new() }; GROUPS],
        }
    }

    pub fn record(&self, elapsed_ns: u64, writers: Writers) {
        let index = bucket_index(elapsed_ns);
        if let Some(group) = self.groups.get(index / SUB_COUNT) {
            let group = group.get_or_init(|| Box::new([const { AtomicU64::new(0) }; SUB_COUNT]));
            writers.add(&group[index % SUB_COUNT], 1);
        }
        writers.add(&self.total_ns, elapsed_ns);
        // Read first: the extremes rarely change, and a plain load is cheaper than
        // a read-modify-write on every request.
        if elapsed_ns > self.max_ns.load(Relaxed) {
            self.max_ns.fetch_max(elapsed_ns, Relaxed);
        }
        if elapsed_ns < self.min_ns.load(Relaxed) {
            self.min_ns.fetch_min(elapsed_ns, Relaxed);
        }
    }

    fn reset(&self) {
        self.total_ns.store(0, Relaxed);
        self.min_ns.store(u64::MAX, Relaxed);
        self.max_ns.store(0, Relaxed);
        for group in self.groups.iter().filter_map(OnceLock::get) {
            for counter in group.iter() {
                counter.store(0, Relaxed);
            }
        }
    }

    pub fn snapshot(&self) -> CellSnapshot {
        let mut buckets = Vec::new();
        for (g, group) in self.groups.iter().enumerate() {
            if let Some(group) = group.get() {
                for (s, counter) in group.iter().enumerate() {
                    let n = counter.load(Relaxed);
                    if n > 0 {
                        buckets.push((g * SUB_COUNT + s, n));
                    }
                }
            }
        }
        CellSnapshot {
            count: buckets.iter().map(|&(_, n)| n).sum(),
            total_ns: self.total_ns.load(Relaxed),
            min_ns: self.min_ns.load(Relaxed),
            max_ns: self.max_ns.load(Relaxed),
            buckets,
        }
    }
}

/// A copy of a [`Cell`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CellSnapshot {
    /// Requests: the sum of the histogram, so the two always agree.
    pub count: u64,
    pub total_ns: u64,
    pub min_ns: u64,
    pub max_ns: u64,
    /// `(bucket index, count)` of the non-empty buckets, in ascending order.
    pub buckets: Vec<(usize, u64)>,
}

impl CellSnapshot {
    pub fn mean_ns(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.total_ns as f64 / self.count as f64
        }
    }

    pub fn percentile(&self, q: f64) -> u64 {
        super::percentile_sparse(&self.buckets, q, self.min_ns, self.max_ns)
    }

    /// For each bound (nanoseconds), how many requests took at most that long, as
    /// a Prometheus histogram's cumulative `le` buckets: a bucket counts toward a
    /// bound when its midpoint is within it, so a request within 1/64 of a bound may
    /// land on the other side of it.
    pub fn cumulative(&self, bounds_ns: &[u64]) -> Vec<u64> {
        bounds_ns
            .iter()
            .map(|&bound| {
                self.buckets
                    .iter()
                    .take_while(|&&(index, _)| super::bucket_midpoint(index) <= bound)
                    .map(|&(_, n)| n)
                    .sum()
            })
            .collect()
    }
}

// -- the route table -----------------------------------------------------------------

/// The cells of one route, `METHODS.len()` rows of `CLASSES`.
struct RouteCells {
    cells: [OnceLock<Box<Cell>>; CELLS],
}

type Segment = Box<[OnceLock<Box<RouteCells>>]>;

/// Per-route cells of one `Stats`, indexed by route id.
pub struct RouteTable {
    writers: Writers,
    segments: [OnceLock<Segment>; SEGMENTS],
}

/// One non-empty cell of a [`RouteTable`] snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteSnapshot {
    pub route: u32,
    pub method: &'static str,
    /// 1 for 1xx ... 5 for 5xx.
    pub class: u8,
    pub cell: CellSnapshot,
}

/// The segment and offset of route `id`.
fn locate(id: u32) -> (usize, usize) {
    let n = u64::from(id) + 1;
    let segment = n.ilog2() as usize;
    (segment, (n - (1u64 << segment)) as usize)
}

impl Default for RouteTable {
    fn default() -> Self {
        Self::new()
    }
}

impl RouteTable {
    /// A table any number of threads may record into at once.
    pub fn new() -> Self {
        Self::with_writers(Writers::Concurrent)
    }

    pub fn with_writers(writers: Writers) -> Self {
        registry(); // so that `is_registered` knows about `UNMATCHED`
        Self {
            writers,
            segments: [const { OnceLock::new() }; SEGMENTS],
        }
    }

    /// Records one request of route `id` (which must be registered: the caller
    /// checks it, as an unknown id would allocate a segment for nothing). A status
    /// outside 100..=599 is not recorded per route.
    pub fn record(&self, id: u32, method: usize, status: u16, elapsed_ns: u64) {
        let Some(class) = status_class(status) else {
            return;
        };
        let (index, offset) = locate(id);
        let Some(segment) = self.segments.get(index) else {
            return;
        };
        let segment =
            segment.get_or_init(|| (0..1usize << index).map(|_| OnceLock::new()).collect());
        let Some(route) = segment.get(offset) else {
            return;
        };
        let route = route.get_or_init(|| {
            Box::new(RouteCells {
                cells: [const { OnceLock::new() }; CELLS],
            })
        });
        let cell = method.min(METHODS.len() - 1) * CLASSES + usize::from(class - 1);
        if let Some(cell) = route.cells.get(cell) {
            cell.get_or_init(|| Box::new(Cell::new()))
                .record(elapsed_ns, self.writers);
        }
    }

    /// Zeroes every cell (allocations stay: they are reused by later requests).
    pub fn reset(&self) {
        self.for_each(|_, _, _, cell| cell.reset());
    }

    fn for_each(&self, mut f: impl FnMut(u32, usize, u8, &Cell)) {
        for (s, segment) in self.segments.iter().enumerate() {
            let Some(segment) = segment.get() else {
                continue;
            };
            for (offset, route) in segment.iter().enumerate() {
                let Some(route) = route.get() else {
                    continue;
                };
                // The inverse of `locate`; below 2^32 for every segment that exists.
                let id = ((1u64 << s) + offset as u64 - 1) as u32;
                for (index, cell) in route.cells.iter().enumerate() {
                    if let Some(cell) = cell.get() {
                        f(id, index / CLASSES, (index % CLASSES) as u8 + 1, cell);
                    }
                }
            }
        }
    }

    /// Every cell that has counted a request since the last reset, by route id,
    /// method and class.
    pub fn snapshot(&self) -> Vec<RouteSnapshot> {
        let mut out = Vec::new();
        self.for_each(|route, method, class, cell| {
            let cell = cell.snapshot();
            if cell.count > 0 {
                out.push(RouteSnapshot {
                    route,
                    method: METHODS[method],
                    class,
                    cell,
                });
            }
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::bucket_bounds;

    #[test]
    fn unmatched_is_registered_first() {
        RouteTable::new();
        assert!(is_registered(UNMATCHED));
        assert_eq!(
            route_template(UNMATCHED).as_deref(),
            Some(UNMATCHED_TEMPLATE)
        );
        assert_eq!(route_id(UNMATCHED_TEMPLATE), Ok(UNMATCHED));
    }

    #[test]
    fn a_template_keeps_its_id() {
        let a = route_id("/registry-test/{id:int}").expect("registry has room");
        let b = route_id("/registry-test/other").expect("registry has room");
        assert_ne!(a, b);
        assert_eq!(route_id("/registry-test/{id:int}"), Ok(a));
        assert_eq!(route_template(b).as_deref(), Some("/registry-test/other"));
        assert!(is_registered(a) && is_registered(b));
        assert!(!is_registered(u32::MAX));
    }

    #[test]
    fn methods_outside_the_set_count_as_other() {
        assert_eq!(METHODS[method_index("GET")], "GET");
        assert_eq!(METHODS[method_index("WEBSOCKET")], "WEBSOCKET");
        for odd in ["get", "PROPFIND", "", "GETX"] {
            assert_eq!(METHODS[method_index(odd)], "OTHER");
        }
    }

    #[test]
    fn status_classes() {
        assert_eq!(status_class(100), Some(1));
        assert_eq!(status_class(204), Some(2));
        assert_eq!(status_class(599), Some(5));
        assert_eq!(status_class(99), None);
        assert_eq!(status_class(600), None);
        assert_eq!(status_class(0), None);
    }

    #[test]
    fn locate_covers_ids_without_overlap() {
        let mut expected = (0usize, 0usize);
        for id in 0..5000u32 {
            assert_eq!(locate(id), expected, "id {id}");
            expected.1 += 1;
            if expected.1 == 1 << expected.0 {
                expected = (expected.0 + 1, 0);
            }
        }
        assert_eq!(locate(MAX_ROUTE_IDS - 1).0, SEGMENTS - 2);
        assert_eq!(locate(u32::MAX).0, SEGMENTS);
    }

    #[test]
    fn cells_are_kept_apart_by_route_method_and_class() {
        let table = RouteTable::new();
        table.record(3, method_index("GET"), 200, 1_000);
        table.record(3, method_index("GET"), 204, 3_000);
        table.record(3, method_index("GET"), 404, 5_000);
        table.record(3, method_index("POST"), 201, 7_000);
        table.record(700, method_index("BREW"), 503, 9_000);
        table.record(3, method_index("GET"), 0, 1);
        table.record(3, method_index("GET"), 600, 1);
        let mut cells: Vec<_> = table
            .snapshot()
            .into_iter()
            .map(|r| (r.route, r.method, r.class, r.cell.count, r.cell.total_ns))
            .collect();
        cells.sort_unstable();
        assert_eq!(
            cells,
            vec![
                (3, "GET", 2, 2, 4_000),
                (3, "GET", 4, 1, 5_000),
                (3, "POST", 2, 1, 7_000),
                (700, "OTHER", 5, 1, 9_000),
            ]
        );
    }

    #[test]
    fn an_out_of_table_id_is_ignored_not_a_panic() {
        let table = RouteTable::new();
        table.record(u32::MAX, 0, 200, 1);
        assert!(table.snapshot().is_empty());
    }

    #[test]
    fn cell_percentiles_match_the_global_histogram() {
        let cell = Cell::new();
        let stats = crate::stats::Stats::new();
        for v in 1..=10_000u64 {
            cell.record(v * 1_000, Writers::Concurrent);
            stats.record(200, v * 1_000);
        }
        let s = cell.snapshot();
        let g = stats.snapshot();
        assert_eq!(s.count, 10_000);
        assert_eq!(
            (s.percentile(0.5), s.percentile(0.9), s.percentile(0.99)),
            (g.p50_ns, g.p90_ns, g.p99_ns)
        );
        assert_eq!(s.max_ns, 10_000_000);
        assert_eq!(s.min_ns, 1_000);
        assert_eq!(s.mean_ns(), g.mean_ns());
    }

    #[test]
    fn cell_allocates_only_the_groups_it_uses() {
        let cell = Cell::new();
        for v in [0u64, 31, 1_000_000, 1_000_001, u64::MAX] {
            cell.record(v, Writers::Concurrent);
        }
        let used = cell.groups.iter().filter(|g| g.get().is_some()).count();
        assert_eq!(used, 3);
        let s = cell.snapshot();
        assert_eq!(s.count, 5);
        assert_eq!(s.buckets.first(), Some(&(0, 1)));
        assert_eq!(s.buckets.last(), Some(&(BUCKETS - 1, 1)));
    }

    #[test]
    fn cumulative_buckets_are_monotonic_and_end_at_the_count() {
        let cell = Cell::new();
        for ms in [1u64, 2, 3, 7, 40, 200, 900, 30_000] {
            cell.record(ms * 1_000_000, Writers::Concurrent);
        }
        let bounds: Vec<u64> = [5u64, 10, 50, 100, 1_000, 10_000]
            .iter()
            .map(|ms| ms * 1_000_000)
            .collect();
        let s = cell.snapshot();
        assert_eq!(s.cumulative(&bounds), vec![3, 4, 5, 5, 7, 7]);
        assert_eq!(s.cumulative(&[u64::MAX]), vec![s.count]);
        assert_eq!(s.cumulative(&[]), Vec::<u64>::new());
    }

    #[test]
    fn cumulative_uses_the_bucket_midpoint() {
        let cell = Cell::new();
        let value = 1_000_000u64;
        cell.record(value, Writers::Concurrent);
        let (low, high) = bucket_bounds(bucket_index(value));
        let mid = low + (high - low) / 2;
        let s = cell.snapshot();
        assert_eq!(s.cumulative(&[mid - 1, mid]), vec![0, 1]);
    }

    #[test]
    fn reset_zeroes_cells_and_the_snapshot_drops_them() {
        let table = RouteTable::new();
        table.record(1, 0, 200, 10);
        table.reset();
        assert!(table.snapshot().is_empty());
        table.record(1, 0, 200, 20);
        let s = table.snapshot();
        assert_eq!(s.len(), 1);
        assert_eq!(
            (s[0].cell.count, s[0].cell.min_ns, s[0].cell.max_ns),
            (1, 20, 20)
        );
    }

    #[test]
    fn concurrent_recording_into_one_cell_loses_nothing() {
        let table = Arc::new(RouteTable::new());
        let handles: Vec<_> = (0..8u64)
            .map(|t| {
                let table = Arc::clone(&table);
                std::thread::spawn(move || {
                    for i in 0..20_000u64 {
                        // Every thread races to create the same segment, route and cell.
                        table.record(9, 0, 200, t * 100 + i % 3);
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.join().expect("recorder thread panicked");
        }
        let s = table.snapshot();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].cell.count, 160_000);
        let expected: u64 = (0..8u64)
            .map(|t| (0..20_000u64).map(|i| t * 100 + i % 3).sum::<u64>())
            .sum();
        assert_eq!(s[0].cell.total_ns, expected);
    }
}
