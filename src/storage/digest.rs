//! Repair digests: hash functions both ends of an anti-entropy exchange must compute identically.
//!
//! Two replicas compare one `u64` per bucket (the XOR of [`slot_digest`] over the bucket's slots,
//! see [`Shard::digest`](super::Shard::digest)) and then exchange only the slots of buckets that
//! differ ([`Shard::collect`](super::Shard::collect)). XOR makes a bucket's digest independent of
//! the order slots were written or walked in. Everything here is fixed-seed xxh64, never the
//! process-local ahash of the shard index (which is not stable across machines or versions).

use xxhash_rust::xxh64::{xxh64, Xxh64};

/// Buckets per repair exchange. 4096 x 8 B = 32 KiB of digest per exchange, small enough for one
/// request body; and with a million keys on a node a differing bucket holds ~250 keys, so a
/// repair moves a few hundred slots per mismatch rather than the whole key space. A power of two
/// so [`bucket_of`] spreads keys evenly.
pub const REPAIR_BUCKETS: usize = 4096;

/// Fixed seed: both ends of a repair must agree.
const SEED: u64 = 0;

/// The repair bucket of `key` among `buckets` (0 when `buckets` is 0).
/// Stable across processes and machines (xxh64, seed 0): both ends of a repair must agree.
pub fn bucket_of(key: &[u8], buckets: usize) -> usize {
    // `usize -> u64` is lossless on every supported target, and the remainder fits `usize`.
    (xxh64(key, SEED) % buckets.max(1) as u64) as usize
}

/// One slot's contribution to its bucket digest: xxh64 over the key, the version (little-endian),
/// a tombstone byte (1 or 0) and the value. The value counts too: versions carry no node id, so
/// two coordinators may (rarely) give different writes of a key the same version, and such
/// replicas must still differ here so repair converges them (last-writer-wins then breaks the
/// tie by value). Stable across processes and machines.
pub fn slot_digest(key: &[u8], version: u64, tomb: bool, value: &[u8]) -> u64 {
    // Streaming, so no buffer is built: equal to xxh64 over the concatenation.
    let mut h = Xxh64::new(SEED);
    h.update(key);
    h.update(&version.to_le_bytes());
    h.update(&[u8::from(tomb)]);
    h.update(value);
    h.digest()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_digest_is_xxh64_of_key_version_tomb_byte_and_value() {
        let mut buf = b"key".to_vec();
        buf.extend_from_slice(&7u64.to_le_bytes());
        buf.push(1);
        assert_eq!(slot_digest(b"key", 7, true, b""), xxh64(&buf, 0));
        assert_ne!(
            slot_digest(b"key", 7, true, b""),
            slot_digest(b"key", 7, false, b"")
        );
        assert_ne!(
            slot_digest(b"key", 7, false, b"1"),
            slot_digest(b"key", 8, false, b"1")
        );
        // Same version, different values (two coordinators in one millisecond): they differ.
        assert_ne!(
            slot_digest(b"key", 7, false, b"1"),
            slot_digest(b"key", 7, false, b"2")
        );
    }

    #[test]
    fn bucket_of_is_stable_and_in_range() {
        // xxh64("", 0) = 0xef46db3751d8e999 (published reference vector).
        assert_eq!(
            bucket_of(b"", 4096),
            (0xef46_db37_51d8_e999u64 % 4096) as usize
        );
        assert_eq!(bucket_of(b"abc", 0), 0);
        assert!((0u16..1000).all(|i| bucket_of(&i.to_le_bytes(), 10) < 10));
    }
}
