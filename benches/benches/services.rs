//! The backend's services on a real tokio runtime: a lock acquire and release, a jackpot
//! contribution, and a whole hand through the betting handler (start, every action, the
//! settlement) against the in-memory store. `cargo bench -p benches --bench services`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use engine::jackpot::Contribution;
use engine::locks::{LockCategory, LockKey, LockMode};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_time().build().expect("a runtime")
}

fn lock_acquire_release(c: &mut Criterion) {
    let runtime = runtime();
    let locks = benches::lock_manager();
    let key = LockKey::new(LockCategory::Table, "table-1");
    c.bench_function("lock_acquire_release", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let owner = locks.owner("bench");
                let guard = owner.acquire(black_box(key.clone()), LockMode::Write).await.expect("free");
                drop(guard);
            })
        })
    });
}

fn jackpot_contribute(c: &mut Criterion) {
    let runtime = runtime();
    let jackpot = runtime.block_on(benches::jackpot_service());
    let mut operation = 0u64;
    c.bench_function("jackpot_contribute", |b| {
        b.iter(|| {
            operation += 1;
            let contribution = Contribution::External { operation: format!("bench-{operation}") };
            runtime.block_on(jackpot.contribute(&contribution, 100)).expect("contributes")
        })
    });
}

fn hand_through_the_betting_handler(c: &mut Criterion) {
    let runtime = runtime();
    let table = runtime.block_on(benches::BenchTable::new(4));
    c.bench_function("hand_through_the_betting_handler_4_players", |b| b.iter(|| runtime.block_on(table.play_hand())));
}

criterion_group!(benches, lock_acquire_release, jackpot_contribute, hand_through_the_betting_handler);
criterion_main!(benches);
