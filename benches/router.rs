//! Router benchmarks: CovetPy's router against `matchit` on the same route table,
//! and CovetPy's lookup cost as the table grows from 10 to 10,000 routes.
//!
//! Every benchmark iteration looks up the same fixed, shuffled list of `LOOKUPS`
//! concrete paths that hit many different routes (a single repeated URL would
//! flatter branch predictors and caches), so "time per iteration / LOOKUPS" is the
//! cost of one lookup. Before anything is timed, each path is checked to resolve to
//! the route it was generated from, in both routers: a router that is timed while
//! answering 404 is a broken benchmark, not a fast router.
//!
//! Run: `cargo bench --bench router` (or `make bench`); smoke: `cargo test --benches`.

mod common;

use std::hint::black_box;

use covet_core::router::{Match, Router};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

/// Paths looked up per benchmark iteration.
const LOOKUPS: usize = 1024;

/// One route of the generated table: the pattern in CovetPy syntax, the same pattern
/// in matchit syntax, and a concrete path that must resolve to it.
struct RouteCase {
    covet: String,
    matchit: String,
    path: String,
}

/// A deterministic mixed table of `n` routes, roughly a quarter of each shape:
/// static, one int parameter, two parameters (int + str) and a static-tailed
/// parameter route. Routes are spread over `/s{group}/r{index}` so that the first
/// segment fans out (hashing) and the second is a mid-sized static level, like a
/// real API grouped by service and resource. Parameter names are the same at the
/// same position, as both routers require.
fn route_table(n: usize) -> Vec<RouteCase> {
    (0..n)
        .map(|i| {
            let (group, index) = (i / 50, i % 50);
            let base = format!("/s{group}/r{index}");
            let id = 1000 + (i * 7919) % 100_000;
            match i % 4 {
                0 => RouteCase {
                    covet: base.clone(),
                    matchit: base.clone(),
                    path: base,
                },
                1 => RouteCase {
                    covet: format!("{base}/{{id:int}}"),
                    matchit: format!("{base}/{{id}}"),
                    path: format!("{base}/{id}"),
                },
                2 => RouteCase {
                    covet: format!("{base}/{{id:int}}/posts/{{slug}}"),
                    matchit: format!("{base}/{{id}}/posts/{{slug}}"),
                    path: format!("{base}/{id}/posts/post-title-{i}"),
                },
                _ => RouteCase {
                    covet: format!("{base}/{{name}}/settings"),
                    matchit: format!("{base}/{{name}}/settings"),
                    path: format!("{base}/user{i}/settings"),
                },
            }
        })
        .collect()
}

/// `LOOKUPS` indices into a table of `n` routes, uniformly spread and shuffled with
/// a fixed-seed xorshift so every run and every router sees the same sequence.
fn lookup_order(n: usize) -> Vec<usize> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    // Every route at least once when the table is small, an even spread when large.
    let mut order: Vec<usize> = (0..LOOKUPS)
        .map(|k| if n >= LOOKUPS { k * n / LOOKUPS } else { k % n })
        .collect();
    for k in (1..order.len()).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let j = (state % (k as u64 + 1)) as usize;
        order.swap(k, j);
    }
    order
}

fn build_covet(table: &[RouteCase]) -> Router<usize> {
    let mut router = Router::new();
    for (i, case) in table.iter().enumerate() {
        router
            .insert(&case.covet, &["GET"], i)
            .unwrap_or_else(|e| panic!("covet rejected {}: {e}", case.covet));
    }
    router
}

fn build_matchit(table: &[RouteCase]) -> matchit::Router<usize> {
    let mut router = matchit::Router::new();
    for (i, case) in table.iter().enumerate() {
        router
            .insert(case.matchit.as_str(), i)
            .unwrap_or_else(|e| panic!("matchit rejected {}: {e}", case.matchit));
    }
    router
}

fn covet_lookup(router: &Router<usize>, path: &str) -> usize {
    match router.lookup("GET", path) {
        Match::Found { value, params, .. } => *value + params.len(),
        _ => usize::MAX,
    }
}

fn matchit_lookup(router: &matchit::Router<usize>, path: &str) -> usize {
    match router.at(path) {
        Ok(m) => *m.value + m.params.len(),
        Err(_) => usize::MAX,
    }
}

/// The paths to look up, after checking that every one of them reaches its own
/// route in both routers (with the expected number of parameters).
fn checked_paths<'t>(
    table: &'t [RouteCase],
    covet: &Router<usize>,
    matchit: &matchit::Router<usize>,
) -> Vec<&'t str> {
    for (i, case) in table.iter().enumerate() {
        match covet.lookup("GET", &case.path) {
            Match::Found { value, .. } => {
                assert_eq!(*value, i, "covet: {} hit the wrong route", case.path);
            }
            other => panic!("covet: {} did not match: {other:?}", case.path),
        }
        let m = matchit
            .at(&case.path)
            .unwrap_or_else(|e| panic!("matchit: {} did not match: {e}", case.path));
        assert_eq!(*m.value, i, "matchit: {} hit the wrong route", case.path);
    }
    lookup_order(table.len())
        .into_iter()
        .filter_map(|i| table.get(i).map(|c| c.path.as_str()))
        .collect()
}

/// CovetPy vs matchit on the same 1,000-route table and the same lookup sequence.
fn bench_vs_matchit(c: &mut Criterion) {
    const ROUTES: usize = 1_000;
    let mut group = c.benchmark_group("router_vs_matchit");
    group.throughput(Throughput::Elements(LOOKUPS as u64));
    let table = route_table(ROUTES);
    let covet = build_covet(&table);
    let matchit = build_matchit(&table);
    let paths = checked_paths(&table, &covet, &matchit);
    group.bench_with_input(BenchmarkId::new("covet", ROUTES), &paths, |b, paths| {
        b.iter(|| {
            let mut acc = 0usize;
            for path in paths {
                acc = acc.wrapping_add(covet_lookup(&covet, black_box(path)));
            }
            acc
        });
    });
    group.bench_with_input(BenchmarkId::new("matchit", ROUTES), &paths, |b, paths| {
        b.iter(|| {
            let mut acc = 0usize;
            for path in paths {
                acc = acc.wrapping_add(matchit_lookup(&matchit, black_box(path)));
            }
            acc
        });
    });
    group.finish();
}

/// CovetPy's per-lookup cost at 10, 1,000 and 10,000 routes (varied lookups).
fn bench_scaling(c: &mut Criterion) {
    let mut group = c.benchmark_group("router_scaling");
    group.throughput(Throughput::Elements(LOOKUPS as u64));
    for n in [10usize, 1_000, 10_000] {
        let table = route_table(n);
        let covet = build_covet(&table);
        let matchit = build_matchit(&table);
        let paths = checked_paths(&table, &covet, &matchit);
        group.bench_with_input(BenchmarkId::new("covet", n), &paths, |b, paths| {
            b.iter(|| {
                let mut acc = 0usize;
                for path in paths {
                    acc = acc.wrapping_add(covet_lookup(&covet, black_box(path)));
                }
                acc
            });
        });
        // The reference router on the same tables: how much of the growth with the
        // table size is the working set outgrowing the caches, for any router.
        group.bench_with_input(BenchmarkId::new("matchit", n), &paths, |b, paths| {
            b.iter(|| {
                let mut acc = 0usize;
                for path in paths {
                    acc = acc.wrapping_add(matchit_lookup(&matchit, black_box(path)));
                }
                acc
            });
        });
        if n == 10_000 {
            // The big table with the small table's working set: 10 routes spread over
            // the table, cycled. Against `covet/10` this separates the algorithm's
            // dependence on table size from cache misses on a large working set.
            let hot: Vec<&str> = (0..LOOKUPS)
                .filter_map(|k| {
                    table
                        .get((k % 10) * (n / 10) + k % 4)
                        .map(|c| c.path.as_str())
                })
                .collect();
            group.bench_with_input(
                BenchmarkId::new("covet_10_hot_paths", n),
                &hot,
                |b, paths| {
                    b.iter(|| {
                        let mut acc = 0usize;
                        for path in paths {
                            acc = acc.wrapping_add(covet_lookup(&covet, black_box(path)));
                        }
                        acc
                    });
                },
            );
        }
    }
    group.finish();
}

/// Single-shape lookups on a small realistic table: the static fast path, a
/// two-parameter route with an int converter, a percent-encoded parameter, a 404
/// and a 405 (which must still find the `Allow` set).
fn bench_shapes(c: &mut Criterion) {
    let mut router: Router<usize> = Router::new();
    let table: [(&str, &[&str]); 8] = [
        ("/", &["GET"]),
        ("/health", &["GET"]),
        ("/users", &["GET", "POST"]),
        ("/users/me", &["GET"]),
        ("/users/{user_id:int}", &["GET", "PUT", "DELETE"]),
        ("/users/{user_id:int}/posts/{slug}", &["GET"]),
        ("/files/{path:path}", &["GET"]),
        ("/items/{item_id:uuid}", &["GET"]),
    ];
    for (i, (pattern, methods)) in table.iter().enumerate() {
        router
            .insert(pattern, methods, i)
            .unwrap_or_else(|e| panic!("{pattern}: {e}"));
    }
    let cases: [(&str, &str, &str, Option<usize>); 6] = [
        ("static", "GET", "/health", Some(1)),
        (
            "two_params_int",
            "GET",
            "/users/42/posts/hello-world",
            Some(5),
        ),
        (
            "percent_encoded",
            "GET",
            "/users/42/posts/caf%C3%A9%20au%20lait",
            Some(5),
        ),
        (
            "uuid",
            "GET",
            "/items/6f1c7a2e-2b9d-4c1e-9a55-0b3e2f4d5c6a",
            Some(7),
        ),
        ("not_found", "GET", "/nope/42/x", None),
        ("method_not_allowed", "PATCH", "/users/42", None),
    ];
    let mut group = c.benchmark_group("router_shapes");
    for (name, method, path, expected) in cases {
        let got = match router.lookup(method, path) {
            Match::Found { value, .. } => Some(*value),
            _ => None,
        };
        assert_eq!(got, expected, "{method} {path}");
        group.bench_function(name, |b| {
            b.iter(|| match router.lookup(black_box(method), black_box(path)) {
                Match::Found { value, params, .. } => *value + params.len(),
                Match::MethodNotAllowed { allow } => allow.len(),
                Match::Options { .. } => 1,
                Match::NotFound => 0,
            });
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = common::config();
    targets = bench_vs_matchit, bench_scaling, bench_shapes
}
criterion_main!(benches);
