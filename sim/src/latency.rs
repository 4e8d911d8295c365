//! Latency distributions: how long a simulated call takes, drawn per call from that call's own
//! random stream. A scenario gives the store's calls (per operation) and the chat API's calls
//! the latencies the operators report — store writes of tens of ms, chat calls of hundreds —
//! as distributions rather than constants.
//!
//! Resolution: a draw is in µs, but inside a host tokio's timer wheel fires at 1 ms granularity,
//! so a call's simulated duration is its draw rounded up to the next millisecond: every
//! histogram is exact, and repeatable, to the millisecond. This module only draws.

use rand::Rng;
use serde::{Deserialize, Serialize};

/// The 99th percentile of the standard normal distribution.
const Z_P99: f64 = 2.326_347_874_040_841;
/// A draw is never longer than this many times the distribution's p99 (a lognormal's tail is
/// unbounded; a 20× p99 call is already far outside anything the operators saw).
const TAIL_CAP_OVER_P99: f64 = 20.0;

/// One latency distribution, in milliseconds. In TOML: `{ constant_ms = 50 }`,
/// `{ uniform_ms = [20, 80] }` (inclusive, uniform), or `{ lognormal_ms = { p50 = 50.0, p99 =
/// 120.0 } }` (a lognormal with that median and 99th percentile: most calls near the median, a
/// long right tail, as measured service latencies look).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Latency {
    ConstantMs(u64),
    UniformMs([u64; 2]),
    LognormalMs { p50: f64, p99: f64 },
}

impl Latency {
    /// Checks the parameters: a range low ≤ high, a lognormal 0 < p50 ≤ p99, every figure at
    /// most `max_ms`.
    pub fn validate(&self, max_ms: u64) -> Result<(), String> {
        match *self {
            Latency::ConstantMs(ms) if ms > max_ms => Err(format!("{ms} ms is over {max_ms} ms")),
            Latency::UniformMs([low, high]) if low > high => Err(format!("[{low}, {high}]: low is above high")),
            Latency::UniformMs([_, high]) if high > max_ms => Err(format!("{high} ms is over {max_ms} ms")),
            Latency::LognormalMs { p50, p99 } if !(p50 > 0.0 && p50 <= p99 && p99.is_finite()) => {
                Err(format!("p50 = {p50}, p99 = {p99}: a lognormal needs 0 < p50 <= p99"))
            }
            Latency::LognormalMs { p99, .. } if p99 * TAIL_CAP_OVER_P99 > max_ms as f64 => {
                Err(format!("p99 = {p99} ms: its tail would run past {max_ms} ms"))
            }
            _ => Ok(()),
        }
    }

    /// One draw, in µs.
    pub fn sample_us(&self, rng: &mut impl Rng) -> u64 {
        match *self {
            Latency::ConstantMs(ms) => ms * 1_000,
            Latency::UniformMs([low, high]) => {
                if low >= high {
                    low * 1_000
                } else {
                    rng.random_range(low * 1_000..=high * 1_000)
                }
            }
            Latency::LognormalMs { p50, p99 } => {
                let sigma = (p99 / p50).ln() / Z_P99;
                let ms = (p50.ln() + sigma * standard_normal(rng)).exp();
                (ms.min(p99 * TAIL_CAP_OVER_P99) * 1_000.0).round() as u64
            }
        }
    }
}

/// A standard normal draw (Box–Muller, from two uniform draws).
fn standard_normal(rng: &mut impl Rng) -> f64 {
    let u1: f64 = 1.0 - rng.random::<f64>(); // (0, 1]: ln is finite
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn percentile(mut draws: Vec<u64>, p: f64) -> u64 {
        draws.sort_unstable();
        draws[((draws.len() as f64 - 1.0) * p / 100.0).round() as usize]
    }

    #[test]
    fn a_lognormal_has_the_median_and_p99_it_was_given() {
        let latency = Latency::LognormalMs { p50: 50.0, p99: 120.0 };
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let draws: Vec<u64> = (0..200_000).map(|_| latency.sample_us(&mut rng)).collect();
        let (p50, p99) = (percentile(draws.clone(), 50.0), percentile(draws, 99.0));
        assert!((49_000..=51_000).contains(&p50), "p50 {p50} µs");
        assert!((115_000..=125_000).contains(&p99), "p99 {p99} µs");
    }

    #[test]
    fn constants_and_ranges_draw_what_they_say_and_bad_parameters_are_refused() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2);
        assert_eq!(Latency::ConstantMs(7).sample_us(&mut rng), 7_000);
        assert!((0..1_000).all(|_| (20_000..=80_000).contains(&Latency::UniformMs([20, 80]).sample_us(&mut rng))));
        assert!(Latency::UniformMs([80, 20]).validate(1_000).is_err());
        assert!(Latency::LognormalMs { p50: 100.0, p99: 50.0 }.validate(100_000).is_err());
        assert!(Latency::LognormalMs { p50: 0.0, p99: 50.0 }.validate(100_000).is_err());
        assert!(Latency::LognormalMs { p50: 50.0, p99: 120.0 }.validate(100_000).is_ok());
        let parsed: Latency = toml::from_str::<toml::Table>("l = { lognormal_ms = { p50 = 50.0, p99 = 120.0 } }")
            .unwrap()["l"]
            .clone()
            .try_into()
            .unwrap();
        assert_eq!(parsed, Latency::LognormalMs { p50: 50.0, p99: 120.0 });
    }
}
