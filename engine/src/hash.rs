//! FNV-1a, 64 bits: the one stable hash of the workspace. Its value for given bytes never
//! changes across runs, processes, platforms or Rust versions, which is why it (and not
//! `std`'s randomly keyed `DefaultHasher`) fingerprints payloads, request IDs, seeds and traces.
//! Beside it, [`FxHasher`]: a word-at-a-time hasher for in-memory lookup tables on hot paths,
//! unkeyed, so a table filled in the same order is laid out the same in every run. Neither is
//! cryptographic: they must never guard anything an adversary chooses.

/// The FNV-1a 64-bit offset basis: the hash of no bytes.
pub const FNV1A_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
/// The FNV-1a 64-bit prime.
pub const FNV1A_PRIME: u64 = 0x0100_0000_01b3;

/// An FNV-1a hash in progress. Feeding `a` then `b` equals feeding `a ++ b`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fnv1a(u64);

impl Default for Fnv1a {
    fn default() -> Self {
        Fnv1a::new()
    }
}

impl Fnv1a {
    pub const fn new() -> Fnv1a {
        Fnv1a(FNV1A_OFFSET)
    }

    /// Folds `bytes` into the hash.
    pub fn write(&mut self, bytes: &[u8]) -> &mut Fnv1a {
        for &byte in bytes {
            self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(FNV1A_PRIME);
        }
        self
    }

    /// Folds `bytes` and then `separator` (so that `["ab", "c"]` and `["a", "bc"]` differ).
    pub fn write_part(&mut self, bytes: &[u8], separator: u8) -> &mut Fnv1a {
        self.write(bytes).write(&[separator])
    }

    pub fn finish(&self) -> u64 {
        self.0
    }
}

/// Formatting into the hash folds the text's UTF-8 bytes, exactly as hashing the formatted
/// `String` would, without allocating it.
impl std::fmt::Write for Fnv1a {
    fn write_str(&mut self, text: &str) -> std::fmt::Result {
        self.write(text.as_bytes());
        Ok(())
    }
}

/// The FNV-1a hash of `bytes`.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    Fnv1a::new().write(bytes).finish()
}

/// The Fx hash (rustc's): rotate, xor and multiply by a constant per machine word. Fast on
/// the small derived keys of lookup tables, unkeyed and deterministic; for tables only (a
/// value that must stay the same across versions is [`Fnv1a`]'s job).
#[derive(Clone, Copy, Debug, Default)]
pub struct FxHasher(u64);

/// Fx's multiplier (from rustc's `FxHasher`).
const FX_SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(FX_SEED);
    }
}

impl std::hash::Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            self.add(u64::from_le_bytes(chunk.try_into().expect("eight bytes")));
        }
        for &byte in chunks.remainder() {
            self.add(u64::from(byte));
        }
    }

    #[inline]
    fn write_u8(&mut self, value: u8) {
        self.add(u64::from(value));
    }

    #[inline]
    fn write_u16(&mut self, value: u16) {
        self.add(u64::from(value));
    }

    #[inline]
    fn write_u32(&mut self, value: u32) {
        self.add(u64::from(value));
    }

    #[inline]
    fn write_u64(&mut self, value: u64) {
        self.add(value);
    }

    #[inline]
    fn write_usize(&mut self, value: usize) {
        self.add(value as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

/// Builds [`FxHasher`]s, for `IndexMap<K, V, FxBuild>`.
pub type FxBuild = std::hash::BuildHasherDefault<FxHasher>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values_and_streaming_agree() {
        // Reference values of FNV-1a 64 (the published test vectors).
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
        assert_eq!(Fnv1a::new().write(b"foo").write(b"bar").finish(), fnv1a(b"foobar"));
        let mut formatted = Fnv1a::new();
        std::fmt::Write::write_fmt(&mut formatted, format_args!("foo{}", "bar")).expect("never fails");
        assert_eq!(formatted.finish(), fnv1a(b"foobar"));
        assert_ne!(
            Fnv1a::new().write_part(b"ab", 0).write_part(b"c", 0).finish(),
            Fnv1a::new().write_part(b"a", 0).write_part(b"bc", 0).finish()
        );
    }

    #[test]
    fn fx_is_unkeyed_and_tells_keys_apart() {
        use std::hash::BuildHasher;
        let build = FxBuild::default();
        assert_eq!(build.hash_one((3u8, 7u64)), FxBuild::default().hash_one((3u8, 7u64)));
        assert_ne!(build.hash_one((3u8, 7u64)), build.hash_one((3u8, 8u64)));
        assert_ne!(build.hash_one(b"abcdefgh1".as_slice()), build.hash_one(b"abcdefgh2".as_slice()));
    }
}
