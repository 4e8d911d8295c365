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

/// The seed of sub-stream `index` of stream `label` within a run seeded `seed`.
pub fn derive(seed: u64, label: &str, index: u64) -> u64 {
    derive_hashed(seed, engine::hash::fnv1a(label.as_bytes()), index)
}

/// [`derive`] for a label already hashed (FNV-1a of its bytes, as `derive` hashes it).
pub fn derive_hashed(seed: u64, label_hash: u64, index: u64) -> u64 {
    mix64(mix64(seed ^ label_hash) ^ index)
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
}
