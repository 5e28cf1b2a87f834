//! Last-writer-wins: the one total order every replica uses to pick between two writes of a key.
//!
//! A write is a value or a tombstone at a version (a hybrid logical clock value assigned by the
//! node that took the write; 0 = unversioned). Replicas receive the same writes in different
//! orders (replication, repair, hand-over, snapshot load), so the winner must not depend on
//! arrival: it is the larger `(version, is_tombstone, value bytes)`, compared lexicographically.
//! The order is total, so two different writes at the same version still converge everywhere
//! (a tombstone beats a value, then the larger value bytes win), and a write never beats itself,
//! so replaying one is a no-op.

use std::cmp::Ordering;

/// One write of a key as LWW sees it. Its value bytes are `head` followed by `body`: a raw PUT
/// answered on the key's own core passes its stored header (`storage::value::encode_raw_head`)
/// and the request body separately, so the body is copied once, straight into the slot. Every
/// other writer passes an empty `head`. A tombstone's `head` and `body` are empty.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Write<'a> {
    pub version: u64,
    pub tomb: bool,
    pub head: &'a [u8],
    pub body: &'a [u8],
}

impl<'a> Write<'a> {
    pub fn value(version: u64, value: &'a [u8]) -> Write<'a> {
        Write::parts(version, &[], value)
    }

    /// A value whose bytes are `head` then `body` (see [`Write`]).
    pub fn parts(version: u64, head: &'a [u8], body: &'a [u8]) -> Write<'a> {
        Write {
            version,
            tomb: false,
            head,
            body,
        }
    }

    pub fn tomb(version: u64) -> Write<'static> {
        Write {
            version,
            tomb: true,
            head: &[],
            body: &[],
        }
    }

    /// Length of the value bytes (`head` plus `body`).
    #[inline]
    pub fn len(&self) -> usize {
        self.head.len() + self.body.len()
    }

    /// True when the value bytes are empty (a tombstone, or an empty value).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Whether `new` replaces `old`: iff `new`'s `(version, tomb, value bytes)` is strictly greater.
/// Equal writes do not replace each other, which makes a replayed write a no-op.
/// The value bytes are compared only when version and kind tie (rare), so this is O(1) normally.
#[inline]
pub fn supersedes(new: Write<'_>, old: Write<'_>) -> bool {
    match (new.version, new.tomb).cmp(&(old.version, old.tomb)) {
        Ordering::Equal => {
            cmp_parts([new.head, new.body], [old.head, old.body]) == Ordering::Greater
        }
        o => o == Ordering::Greater,
    }
}

/// Compares `a[0] ++ a[1]` with `b[0] ++ b[1]` lexicographically (as `[u8]`'s `Ord` would
/// compare the concatenations) without building them: the overlapping parts of the current
/// pieces are compared with one slice comparison each, so at most three comparisons in all.
pub fn cmp_parts(a: [&[u8]; 2], b: [&[u8]; 2]) -> Ordering {
    let (mut a_next, mut b_next) = (1, 1);
    let (mut x, mut y) = (a[0], b[0]);
    loop {
        if x.is_empty() && a_next < 2 {
            x = a[a_next];
            a_next += 1;
            continue;
        }
        if y.is_empty() && b_next < 2 {
            y = b[b_next];
            b_next += 1;
            continue;
        }
        if x.is_empty() || y.is_empty() {
            // One side is used up: the shorter (a prefix of the other) is smaller.
            return (!x.is_empty()).cmp(&!y.is_empty());
        }
        let n = x.len().min(y.len());
        match x[..n].cmp(&y[..n]) {
            Ordering::Equal => (x, y) = (&x[n..], &y[n..]),
            unequal => return unequal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newer_version_wins_whatever_the_kind_or_bytes() {
        assert!(supersedes(Write::value(2, b"a"), Write::tomb(1)));
        assert!(supersedes(Write::tomb(2), Write::value(1, b"zzz")));
        assert!(supersedes(Write::value(2, b""), Write::value(1, b"zzz")));
        assert!(!supersedes(Write::value(1, b"zzz"), Write::value(2, b"")));
        assert!(!supersedes(Write::value(1, b"a"), Write::tomb(2)));
    }

    #[test]
    fn unversioned_loses_against_any_version() {
        assert!(supersedes(Write::value(1, b""), Write::value(0, b"zzz")));
        assert!(supersedes(Write::value(1, b""), Write::tomb(0)));
        assert!(!supersedes(Write::tomb(0), Write::value(1, b"")));
    }

    #[test]
    fn same_version_tombstone_then_larger_bytes_win() {
        assert!(supersedes(Write::tomb(5), Write::value(5, b"zzz")));
        assert!(!supersedes(Write::value(5, b"zzz"), Write::tomb(5)));
        assert!(supersedes(Write::value(5, b"b"), Write::value(5, b"a")));
        assert!(supersedes(Write::value(5, b"ab"), Write::value(5, b"a")));
        assert!(!supersedes(Write::value(5, b"a"), Write::value(5, b"b")));
    }

    #[test]
    fn a_write_never_supersedes_itself() {
        for w in [Write::tomb(0), Write::tomb(9), Write::value(9, b"x")] {
            assert!(!supersedes(w, w), "{w:?}");
        }
    }

    #[test]
    fn exactly_one_of_two_different_writes_wins() {
        let writes = [
            Write::tomb(1),
            Write::tomb(2),
            Write::value(1, b""),
            Write::value(1, b"a"),
            Write::value(2, b"a"),
            Write::value(2, b"b"),
        ];
        for a in writes {
            for b in writes.iter().copied().filter(|&b| b != a) {
                assert!(supersedes(a, b) != supersedes(b, a), "{a:?} vs {b:?}");
            }
        }
    }

    #[test]
    fn two_part_values_compare_as_their_concatenation() {
        use Ordering::*;
        type Parts<'a> = [&'a [u8]; 2];
        let cases: [(Parts, Parts, Ordering); 9] = [
            ([b"", b""], [b"", b""], Equal),
            ([b"ab", b"c"], [b"", b"abc"], Equal),
            ([b"\0\x03", b"x"], [b"\0", b"\x03x"], Equal),
            ([b"a", b"b"], [b"a", b"c"], Less),
            ([b"ab", b""], [b"a", b"bc"], Less),
            ([b"", b"b"], [b"a", b""], Greater),
            ([b"\0\x04", b""], [b"\0\x03", b"zzz"], Greater),
            ([b"x", b"yz"], [b"xy", b"z"], Equal),
            ([b"x", b"yz"], [b"xy", b""], Greater),
        ];
        for (a, b, want) in cases {
            assert_eq!(cmp_parts(a, b), want, "{a:?} vs {b:?}");
            assert_eq!(cmp_parts(b, a), want.reverse(), "{b:?} vs {a:?}");
        }
    }

    #[test]
    fn lww_ties_between_a_split_value_and_a_stored_one() {
        let raw = Write::parts(5, b"\0\x09image/png", b"\x89PNG");
        let stored = Write::value(5, b"\0\x09image/png\x89PNG");
        // The same bytes, however split: neither replaces the other (a replay is a no-op).
        assert!(!supersedes(raw, stored) && !supersedes(stored, raw));
        let bigger = Write::parts(5, b"\0\x09image/png", b"\x89PNH");
        assert!(supersedes(bigger, stored) && !supersedes(stored, bigger));
        // A JSON value (starts with a printable byte) beats a raw one at the same version.
        assert!(supersedes(Write::value(5, b"1"), raw));
        assert!(supersedes(Write::tomb(5), raw));
        assert!(supersedes(raw, Write::value(4, b"zzz")));
        assert_eq!(raw.len(), stored.len());
    }

    proptest::proptest! {
        /// The two-part comparison equals the one-slice comparison, for any split of either side.
        #[test]
        fn split_comparison_equals_slice_comparison(
            a in proptest::collection::vec(0u8..4, 0..12),
            b in proptest::collection::vec(0u8..4, 0..12),
            sa in 0usize..13,
            sb in 0usize..13,
        ) {
            let (sa, sb) = (sa.min(a.len()), sb.min(b.len()));
            let (ah, ab) = a.split_at(sa);
            let (bh, bb) = b.split_at(sb);
            proptest::prop_assert_eq!(cmp_parts([ah, ab], [bh, bb]), a.cmp(&b));
            let (wa, wb) = (Write::parts(1, ah, ab), Write::value(1, &b));
            proptest::prop_assert_eq!(supersedes(wa, wb), a > b);
        }
    }
}
