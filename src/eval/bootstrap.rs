//! Percentile bootstrap intervals: with 223 test contracts a 2-point difference is noise, and
//! the interval says so.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    pub low: f64,
    pub high: f64,
}

/// The 95 % interval of `metric` over `resamples` resamples (with replacement) of the indices
/// `0..n`, seeded.
pub fn bootstrap(
    n: usize,
    resamples: usize,
    seed: u64,
    metric: impl Fn(&[usize]) -> f64,
) -> Interval {
    if n == 0 {
        return Interval {
            low: 0.0,
            high: 0.0,
        };
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut values: Vec<f64> = (0..resamples)
        .map(|_| {
            let idx: Vec<usize> = (0..n).map(|_| rng.random_range(0..n)).collect();
            metric(&idx)
        })
        .collect();
    values.sort_by(f64::total_cmp);
    let at =
        |q: f64| values[((q * (values.len() - 1) as f64).round() as usize).min(values.len() - 1)];
    Interval {
        low: at(0.025),
        high: at(0.975),
    }
}
