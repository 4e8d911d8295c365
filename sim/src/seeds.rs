//! Seed derivation: every random stream of a run is derived from the run's one `u64` seed
//! and a label, so streams are independent of each other and of the order they are created.
//!
//! Never seed anything from the OS or the clock.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// SplitMix64's finalizer: a bijective mix of 64 bits.
pub fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The stable hash of the trace and of opportunity sites: each 64-bit word is xored into the
/// state, which SplitMix64's finalizer (a bijection with full avalanche) then mixes; byte strings go in eight bytes at a
/// time (little-endian, the last word zero-padded) followed by their length, so `"ab", "c"`
/// and `"a", "bc"` differ. A word costs a few instructions where FNV-1a spent one multiply per
/// byte. Its value for given input never changes across builds, platforms or Rust versions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct WordHash(u64);

/// The hash of nothing (FNV-1a's offset basis, for want of a reason to pick another).
const WORD_HASH_START: u64 = 0xcbf2_9ce4_8422_2325;

impl WordHash {
    pub fn new() -> WordHash {
        WordHash(WORD_HASH_START)
    }

    pub fn word(&mut self, word: u64) {
        self.0 = mix64(self.0 ^ word);
    }

    pub fn words(&mut self, words: &[u64]) {
        words.iter().for_each(|&word| self.word(word));
    }

    pub fn bytes(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            self.word(u64::from_le_bytes(chunk.try_into().expect("eight bytes")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let last = rest.iter().rev().fold(0u64, |word, &byte| word << 8 | u64::from(byte));
            self.word(last);
        }
        self.word(bytes.len() as u64);
    }

    /// The hash so far.
    pub fn finish(&self) -> u64 {
        self.0
    }
}

/// The seed of sub-stream `index` of stream `label` within a run seeded `seed`.
pub fn derive(seed: u64, label: &str, index: u64) -> u64 {
    derive_hashed(seed, engine::hash::fnv1a(label.as_bytes()), index)
}

/// [`derive`] for a label already hashed (FNV-1a of its bytes, as `derive` hashes it).
pub fn derive_hashed(seed: u64, label_hash: u64, index: u64) -> u64 {
    mix64(mix64(seed ^ label_hash) ^ index)
}

/// The random stream of one opportunity (a store call's latency, a datagram's): SplitMix64
/// from its seed. An opportunity draws one to three values, and a ChaCha8 stream would spend
/// its seeding and a 256-byte first block on them (about a twentieth of a run); SplitMix64's
/// output is a bijective mix of a counter, equidistributed, and passes BigCrush — plenty for
/// latencies and yields, which no adversary chooses.
#[derive(Clone, Debug)]
pub struct SiteRng {
    state: u64,
}

impl SiteRng {
    pub fn new(seed: u64) -> SiteRng {
        SiteRng { state: seed }
    }
}

impl rand::RngCore for SiteRng {
    fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    fn next_u64(&mut self) -> u64 {
        // `mix64` adds the increment itself: the stream is mix64(seed + k·γ) for k = 0, 1, …
        let value = mix64(self.state);
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        value
    }

    fn fill_bytes(&mut self, dst: &mut [u8]) {
        rand::rand_core::impls::fill_bytes_via_next(self, dst)
    }
}

/// A deterministic RNG for sub-stream `index` of stream `label`.
pub fn rng(seed: u64, label: &str, index: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(derive(seed, label, index))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_differ_by_label_and_index_but_not_by_call() {
        assert_eq!(derive(7, "deck", 3), derive(7, "deck", 3));
        assert_ne!(derive(7, "deck", 3), derive(7, "deck", 4));
        assert_ne!(derive(7, "deck", 3), derive(7, "client", 3));
        assert_ne!(derive(7, "deck", 3), derive(8, "deck", 3));
        assert_eq!(derive_hashed(7, engine::hash::fnv1a(b"deck"), 3), derive(7, "deck", 3));
    }

    #[test]
    fn a_site_stream_is_its_seed_s_and_spreads_its_draws() {
        use rand::{Rng, RngCore};
        let draws = |seed| {
            let mut rng = SiteRng::new(seed);
            [rng.next_u64(), rng.next_u64(), rng.next_u64()]
        };
        assert_eq!(draws(5), draws(5));
        assert_ne!(draws(5), draws(6));
        assert_ne!(draws(5)[0], draws(5)[1]);
        // Uniform enough for latencies: 10,000 draws over ten buckets, each within 15 % of 1,000.
        let mut rng = SiteRng::new(42);
        let mut buckets = [0u32; 10];
        for _ in 0..10_000 {
            buckets[rng.random_range(0..10usize)] += 1;
        }
        assert!(buckets.iter().all(|&n| (850..=1_150).contains(&n)), "{buckets:?}");
    }
}
