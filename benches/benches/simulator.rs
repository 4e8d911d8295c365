//! Simulator throughput: one seed of `standard` (the CI default), beside a bare turmoil world of
//! the same shape — the same hosts, tick and simulated duration, hosts that only sleep — so the
//! harness's own cost is a ratio (`benches/README.md`), and beside the seed's timer floor: the
//! same bare world whose hosts also wake at every instant the run's own timers woke them and do
//! nothing else, what the run's timing alone costs. Seeds per second is 1 / the time per
//! iteration; simulated seconds per wall second is the seed's simulated time / it.
//! `cargo bench -p benches --bench simulator`.

use criterion::{Criterion, criterion_group, criterion_main};

/// Seeds benchmarked: none of them is a default seed of `standard` (1..101).
const SEEDS: [u64; 3] = [424_242, 515_151, 606_060];

fn standard_beside_a_bare_world(c: &mut Criterion) {
    let mut group = c.benchmark_group("simulator");
    group.sample_size(10);
    for seed in SEEDS {
        let (run, wakes) = benches::standard_run_recording_timers(seed);
        let shape = benches::WorldShape::of_standard(run.sim_time_ms);
        group.bench_function(format!("standard_seed_{seed}_{}_sim_ms", run.sim_time_ms), |b| {
            b.iter(|| benches::standard_run(seed))
        });
        // Named for its seed too: two seeds may run for the same simulated time, and criterion
        // refuses two benchmarks of one name.
        let bare = format!("bare_turmoil_{}_hosts_{}_sim_ms_beside_seed_{seed}", shape.hosts, shape.duration_ms);
        group.bench_function(bare, |b| b.iter(|| shape.run_bare()));
        let wakes_count: usize = wakes.values().map(Vec::len).sum();
        let floor = format!("timer_floor_{wakes_count}_wakes_beside_seed_{seed}");
        group.bench_function(floor, |b| b.iter(|| shape.run_timer_floor(&wakes)));
    }
    group.finish();
}

criterion_group!(benches, standard_beside_a_bare_world);
criterion_main!(benches);
