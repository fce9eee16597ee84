//! Settings shared by the Criterion benches: short enough for `make bench` to finish
//! in minutes on 2 cores, overridable from the command line.

use std::time::Duration;

use criterion::Criterion;

pub fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50)
        .configure_from_args()
}
