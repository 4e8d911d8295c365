//! Shared set-ups for the criterion benchmarks in `benches/benches/`. Benchmarks measure
//! speed only; no test ever asserts on wall-clock time.
