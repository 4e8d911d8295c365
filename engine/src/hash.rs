//! FNV-1a, 64 bits: the one stable hash of the workspace. Its value for given bytes never
//! changes across runs, processes, platforms or Rust versions, which is why it (and not
//! `std`'s randomly keyed `DefaultHasher`) fingerprints payloads, request IDs, seeds and traces.
//! Not cryptographic: it must never guard anything an adversary chooses.

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
}
