//! Preconditions on a key operation (HTTP `If-Match` / `If-None-Match`), evaluated against the
//! live entry inside the same shard call as the write they guard, so a compare-and-set cannot
//! interleave with another write of the key (the shard is single-threaded).
//!
//! An entity tag of this cache is the entry's version (`"` + 16 hex digits + `"`), so a tag list
//! is kept as the versions it names; tags of any other spelling can never match an entry and are
//! dropped by the parser (`server::conditions`). Comparison follows RFC 9110 §13.1: `If-Match`
//! compares strongly (a weak `W/` tag never matches; the parser leaves those out), `If-None-Match`
//! weakly (a `W/` tag of a version matches it). `*` matches any live value. An absent, expired or
//! deleted key has no current tag: `If-Match` then fails and `If-None-Match` holds.

/// Most versions one `If-Match` / `If-None-Match` list names. A client lists the versions it
/// holds: browsers and proxies send one, a cache revalidating a few variants a handful. The bound
/// keeps a [`Tags`] a fixed-size value; a longer list is refused with 400.
pub const MAX_TAGS: usize = 8;

/// One parsed `If-Match` or `If-None-Match` field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tags {
    /// `*`: any live value.
    Any,
    /// The versions the list names (possibly none: a list of foreign tags matches nothing).
    Versions(VersionList),
}

/// Up to [`MAX_TAGS`] versions, in a fixed array (no allocation).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VersionList {
    len: u8,
    v: [u64; MAX_TAGS],
}

impl VersionList {
    /// Add `version`; false (nothing added) when the list is full. A repeated version is kept
    /// once, so a list that repeats one tag never counts against the bound.
    pub fn push(&mut self, version: u64) -> bool {
        if self.contains(version) {
            return true;
        }
        let n = self.len as usize;
        if n == MAX_TAGS {
            return false;
        }
        self.v[n] = version;
        self.len += 1;
        true
    }

    pub fn contains(&self, version: u64) -> bool {
        self.as_slice().contains(&version)
    }

    pub fn as_slice(&self) -> &[u64] {
        &self.v[..self.len as usize]
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Tags {
    /// Whether the live entry (`Some(version)`, or `None` when there is none) matches.
    pub fn matches(&self, live: Option<u64>) -> bool {
        match (self, live) {
            (_, None) => false,
            (Tags::Any, Some(_)) => true,
            (Tags::Versions(list), Some(v)) => list.contains(v),
        }
    }
}

/// The preconditions one request carries (`None` = header absent).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Condition {
    pub if_match: Option<Tags>,
    pub if_none_match: Option<Tags>,
}

/// Why a precondition stops a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Go ahead.
    Proceed,
    /// `If-None-Match` matched on a read: 304, the client's copy is current.
    NotModified,
    /// 412: `If-Match` did not match, or `If-None-Match` matched on a write.
    Failed,
}

impl Condition {
    pub fn is_empty(&self) -> bool {
        self.if_match.is_none() && self.if_none_match.is_none()
    }

    /// Evaluate against the live entry's version (RFC 9110 §13.2.2 order: `If-Match` first, then
    /// `If-None-Match`). `read` is a GET or HEAD, where a matching `If-None-Match` means 304
    /// rather than 412.
    pub fn check(&self, live: Option<u64>, read: bool) -> Verdict {
        if let Some(m) = self.if_match {
            if !m.matches(live) {
                return Verdict::Failed;
            }
        }
        match self.if_none_match {
            Some(n) if n.matches(live) && read => Verdict::NotModified,
            Some(n) if n.matches(live) => Verdict::Failed,
            _ => Verdict::Proceed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn list(vs: &[u64]) -> Tags {
        let mut l = VersionList::default();
        for &v in vs {
            assert!(l.push(v));
        }
        Tags::Versions(l)
    }

    fn cond(if_match: Option<Tags>, if_none_match: Option<Tags>) -> Condition {
        Condition {
            if_match,
            if_none_match,
        }
    }

    #[test]
    fn if_match_needs_a_live_entry_whose_version_is_listed() {
        let c = cond(Some(list(&[7, 9])), None);
        assert_eq!(c.check(Some(9), false), Verdict::Proceed);
        assert_eq!(c.check(Some(8), false), Verdict::Failed);
        assert_eq!(c.check(None, false), Verdict::Failed);
        let any = cond(Some(Tags::Any), None);
        assert_eq!(any.check(Some(1), false), Verdict::Proceed);
        assert_eq!(any.check(None, false), Verdict::Failed);
        // A list of foreign tags only (none of ours) matches nothing.
        assert_eq!(
            cond(Some(list(&[])), None).check(Some(1), false),
            Verdict::Failed
        );
    }

    #[test]
    fn if_none_match_star_adds_only_when_absent() {
        let add = cond(None, Some(Tags::Any));
        assert_eq!(add.check(None, false), Verdict::Proceed);
        assert_eq!(add.check(Some(3), false), Verdict::Failed);
        assert_eq!(add.check(Some(3), true), Verdict::NotModified);
        assert_eq!(add.check(None, true), Verdict::Proceed);
    }

    #[test]
    fn if_none_match_list_is_304_on_reads_and_412_on_writes() {
        let c = cond(None, Some(list(&[5])));
        assert_eq!(c.check(Some(5), true), Verdict::NotModified);
        assert_eq!(c.check(Some(6), true), Verdict::Proceed);
        assert_eq!(c.check(Some(5), false), Verdict::Failed);
        assert_eq!(c.check(None, false), Verdict::Proceed);
    }

    #[test]
    fn if_match_is_evaluated_first() {
        let c = cond(Some(list(&[1])), Some(list(&[2])));
        assert_eq!(c.check(Some(2), true), Verdict::Failed);
        assert_eq!(c.check(Some(1), true), Verdict::Proceed);
        assert!(Condition::default().is_empty());
        assert_eq!(Condition::default().check(None, false), Verdict::Proceed);
    }

    #[test]
    fn the_list_is_bounded_and_keeps_repeats_once() {
        let mut l = VersionList::default();
        for v in 0..MAX_TAGS as u64 {
            assert!(l.push(v));
        }
        assert!(l.push(0), "a repeat is not a new entry");
        assert!(!l.push(99), "full");
        assert_eq!(l.as_slice().len(), MAX_TAGS);
    }

    proptest! {
        /// `If-Match: *` and `If-None-Match: *` are exact opposites on writes: exactly one of them
        /// lets a write through, whatever the entry.
        #[test]
        fn star_conditions_partition_writes(live in proptest::option::of(any::<u64>())) {
            let m = cond(Some(Tags::Any), None).check(live, false);
            let n = cond(None, Some(Tags::Any)).check(live, false);
            prop_assert!((m == Verdict::Proceed) != (n == Verdict::Proceed));
        }

        /// A listed version matches exactly the entries at that version.
        #[test]
        fn a_list_matches_exactly_its_versions(
            vs in proptest::collection::vec(any::<u64>(), 0..MAX_TAGS),
            live in any::<u64>(),
        ) {
            let t = list(&vs);
            prop_assert_eq!(t.matches(Some(live)), vs.contains(&live));
            prop_assert!(!t.matches(None));
        }
    }
}
