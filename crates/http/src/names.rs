//! Field names compared without regard to case (RFC 9110 §5.1), a word at a time: reading an
//! answer compares each of its field names with the few the reader wants, and
//! `str::eq_ignore_ascii_case` lowers and compares one byte at a time (~6 instructions a byte,
//! most of a forwarded answer's field matching).

use super::syntax::lanes;

/// `w` with ASCII `A`-`Z` lowered in every lane, every other byte as it is: what
/// `u8::to_ascii_lowercase` does to each of its eight bytes.
#[inline]
fn lower_word(w: u64) -> u64 {
    // With the high bits cleared no lane carries into the next when added to; a lane of `w`
    // that had its high bit set is not a letter (`& !w`).
    let h = w & lanes(0x7f);
    let from_a = h.wrapping_add(lanes(0x80 - b'A'));
    let past_z = h.wrapping_add(lanes(0x80 - (b'Z' + 1)));
    let upper = from_a & !past_z & !w & lanes(0x80);
    w | (upper >> 2) // 0x80 >> 2 = 0x20, the case bit, in the same lane
}

/// Whether `name` is `lower`, in any case: `name.eq_ignore_ascii_case(lower)` for a `lower`
/// written in lowercase (checked in debug builds). Names of 8 to 16 bytes, most of them, are
/// compared as two words.
#[inline]
pub fn name_is(name: &str, lower: &str) -> bool {
    debug_assert!(!lower.bytes().any(|b| b.is_ascii_uppercase()), "{lower}");
    let (a, b) = (name.as_bytes(), lower.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    if a.len() > 16 {
        return name.eq_ignore_ascii_case(lower);
    }
    match (
        a.first_chunk::<8>(),
        a.last_chunk::<8>(),
        b.first_chunk::<8>(),
        b.last_chunk::<8>(),
    ) {
        (Some(a0), Some(a1), Some(b0), Some(b1)) => {
            lower_word(u64::from_ne_bytes(*a0)) == u64::from_ne_bytes(*b0)
                && lower_word(u64::from_ne_bytes(*a1)) == u64::from_ne_bytes(*b1)
        }
        _ => name.eq_ignore_ascii_case(lower),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each of the eight lanes lowers as `to_ascii_lowercase` does, for every byte value.
    #[test]
    fn a_word_lowers_each_byte_as_ascii_does() {
        for b in 0..=255u8 {
            for lane in 0..8 {
                for fill in [b'A', b'z', 0xff, 0x00] {
                    let mut w = [fill; 8];
                    w[lane] = b;
                    let want = w.map(|x| x.to_ascii_lowercase());
                    let got = lower_word(u64::from_ne_bytes(w)).to_ne_bytes();
                    assert_eq!(got, want, "byte {b:#04x} in lane {lane} among {fill:#04x}");
                }
            }
        }
    }

    /// `name_is` is `eq_ignore_ascii_case` at every length, for a case change and for a byte
    /// one bit away at every position (the bit a case change flips included).
    #[test]
    fn name_is_agrees_with_eq_ignore_ascii_case() {
        let base = "x-cache-client-request-id-and-more";
        for len in 0..=base.len() {
            let lower = &base[..len];
            assert!(name_is(lower, lower));
            assert!(name_is(&lower.to_ascii_uppercase(), lower));
            for at in 0..len {
                for bit in [0x01u8, 0x20, 0x40] {
                    let mut other = lower.as_bytes().to_vec();
                    other[at] ^= bit;
                    let Ok(other) = String::from_utf8(other) else {
                        continue;
                    };
                    let want = other.eq_ignore_ascii_case(lower);
                    assert_eq!(name_is(&other, lower), want, "{other:?} against {lower:?}");
                }
            }
            if len > 0 {
                assert!(!name_is(&base[..len - 1], lower), "a shorter name");
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn name_is_is_eq_ignore_ascii_case(name in "[ -~]{0,20}", lower in "[a-z0-9-]{0,20}") {
            proptest::prop_assert_eq!(name_is(&name, &lower), name.eq_ignore_ascii_case(&lower));
            let same = lower.to_ascii_uppercase();
            proptest::prop_assert!(name_is(&same, &lower));
        }
    }
}
