//! Shared set-ups for the criterion benchmarks in `benches/benches/`: the inputs each benchmark
//! measures over, built once, outside the timed loop, from fixed seeds so that every run
//! measures the same work. Benchmarks measure speed only; no test ever asserts on wall-clock
//! time.

use engine::cards::{Card, Deck};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// `count` seven-card hands dealt from decks shuffled by a RNG seeded `seed`.
pub fn seven_card_hands(count: usize, seed: u64) -> Vec<[Card; 7]> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..count)
        .map(|_| {
            let deck = Deck::shuffled(&mut rng);
            std::array::from_fn(|i| deck.card(i))
        })
        .collect()
}
