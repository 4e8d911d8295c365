//! The exit codes of `chipsim`, one per kind of outcome, so CI can tell them apart.
//!
//! Documented in the README; never reuse a code for a second meaning.

/// Everything ran and every check passed.
pub const SUCCESS: u8 = 0;
/// An unexpected error outside the simulation (I/O failure writing a report, …).
pub const INTERNAL_ERROR: u8 = 1;
/// Bad input: an unknown flag, an unreadable or malformed file. Nothing was run. (clap uses
/// the same code for usage errors.)
pub const BAD_INPUT: u8 = 2;
/// A correctness failure: an invariant was violated, or a hand disagrees with its history.
pub const CORRECTNESS_FAILED: u8 = 3;
/// A liveness failure: the system did not converge after faults stopped.
pub const LIVENESS_FAILED: u8 = 4;
/// A panic inside the simulation (a crash of the code under test).
pub const CRASHED: u8 = 5;
/// A performance regression: `compare --fail-if-worse PCT` found a lock hold or latency
/// percentile of the candidate worse than the base's by more than PCT.
pub const PERFORMANCE_REGRESSION: u8 = 6;
/// A non-deterministic run: the same seed gave two trace hashes (`sweep --check-determinism`).
/// Nothing else a sweep reports can be trusted then.
pub const NONDETERMINISTIC: u8 = 7;
/// Every run passed, but a probe the scenario requires (`[coverage] required`) was never
/// reached by any of them: the seeds did not explore the path they are meant to prove.
pub const COVERAGE_MISSING: u8 = 8;
