//! Engine hot paths: seven-card evaluation and a whole random hand. `cargo bench -p benches`
//! measures; `cargo test -p benches --benches` runs each once so they never rot.

use criterion::{Criterion, criterion_group, criterion_main};
use engine::cards::Deck;
use engine::eval::evaluate;
use engine::rules::random_play::{play_out, random_setup};
use engine::rules::{GameState, RuleOptions};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::hint::black_box;

fn evaluate_seven_cards(c: &mut Criterion) {
    let hands = benches::seven_card_hands(1024, 1);
    c.bench_function("evaluate_7_cards_x1024", |b| {
        b.iter(|| hands.iter().map(|h| evaluate(black_box(h)).0 as u64).sum::<u64>())
    });
}

fn play_random_hand(c: &mut Criterion) {
    let mut seed = 0u64;
    c.bench_function("play_random_hand", |b| {
        b.iter(|| {
            seed += 1;
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let (config, stacks) = random_setup(&mut rng, RuleOptions::default());
            let mut state = GameState::start(config, &stacks, Deck::shuffled(&mut rng)).unwrap();
            play_out(&mut state, &mut rng)
        })
    });
}

criterion_group!(benches, evaluate_seven_cards, play_random_hand);
criterion_main!(benches);
