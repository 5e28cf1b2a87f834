//! Last-writer-wins: the one total order every replica uses to pick between two writes of a key.
//!
//! A write is a value or a tombstone at a version (a hybrid logical clock value assigned by the
//! node that took the write; 0 = unversioned). Replicas receive the same writes in different
//! orders (replication, repair, hand-over, snapshot load), so the winner must not depend on
//! arrival: it is the larger `(version, is_tombstone, value bytes)`, compared lexicographically.
//! The order is total, so two different writes at the same version still converge everywhere
//! (a tombstone beats a value, then the larger value bytes win), and a write never beats itself,
//! so replaying one is a no-op.

/// One write of a key as LWW sees it. A tombstone's `value` is empty.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Write<'a> {
    pub version: u64,
    pub tomb: bool,
    pub value: &'a [u8],
}

impl<'a> Write<'a> {
    pub fn value(version: u64, value: &'a [u8]) -> Write<'a> {
        Write {
            version,
            tomb: false,
            value,
        }
    }

    pub fn tomb(version: u64) -> Write<'static> {
        Write {
            version,
            tomb: true,
            value: &[],
        }
    }

    fn order_key(&self) -> (u64, u8, &'a [u8]) {
        (self.version, u8::from(self.tomb), self.value)
    }
}

/// Whether `new` replaces `old`: iff `new`'s `(version, tomb, value)` is strictly greater.
/// Equal writes do not replace each other, which makes a replayed write a no-op.
/// The value bytes are compared only when version and kind tie (rare), so this is O(1) normally.
pub fn supersedes(new: Write<'_>, old: Write<'_>) -> bool {
    new.order_key() > old.order_key()
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
}
