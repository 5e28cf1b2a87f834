//! Read copies, on this node, of hot keys another node owns (issue 13): filled from a forwarded
//! GET's 200 when the owner granted a lease with it, served for GET/HEAD like the owner's
//! answer, dropped when they expire. Why a copy is never older than an acknowledged write:
//! `lease.rs`.
//!
//! One small table per core (a thread of its own: no lock, no sharing); the version floors that
//! invalidations raise are node-wide ([`super::lease::Leases::floor`]), so an invalidation
//! received on any core reaches every core's copies at once.

use std::cell::RefCell;
use std::collections::HashMap;

use bytes::Bytes;

/// Copies one core keeps. A copy lives `copy_ttl` (50 ms by default); hot keys are a few dozen,
/// so this bounds memory without ever limiting the copies that matter. When full, expired
/// copies are dropped first; if none is, the new copy is not kept.
pub(crate) const MAX_COPIES_PER_CORE: usize = 256;

/// One copy: the owner's stored form of the value (what `Responder::value` encodes).
#[derive(Clone, Debug)]
pub(crate) struct RemoteCopy {
    pub stored: Bytes,
    pub version: u64,
    /// The node that granted the lease (served only while this node routes the key there).
    pub granter: usize,
    /// End of the lease on this node's monotonic clock (`Leases::now_ms`).
    pub valid_until: u64,
    /// The value's own expiry on the node's TTL clock (`None`: no TTL).
    pub expires_at: Option<u64>,
}

impl RemoteCopy {
    /// Whether it may answer a read of a key routed to `coordinator` now; `floor` is the key's
    /// invalidation floor, `lease_now` and `ttl_now` the two clocks.
    pub(crate) fn usable(
        &self,
        coordinator: usize,
        floor: u64,
        lease_now: u64,
        ttl_now: u64,
    ) -> bool {
        self.granter == coordinator
            && lease_now < self.valid_until
            && self.version >= floor
            && self.expires_at.is_none_or(|e| ttl_now < e)
    }
}

thread_local! {
    static COPIES: RefCell<HashMap<Bytes, RemoteCopy>> = RefCell::new(HashMap::new());
}

/// The copy of `key` if `usable` says it may be served (else it is dropped).
pub(crate) fn lookup(key: &[u8], usable: impl FnOnce(&RemoteCopy) -> bool) -> Option<RemoteCopy> {
    COPIES.with(|t| {
        let mut t = t.borrow_mut();
        let copy = t.get(key)?;
        if usable(copy) {
            return Some(copy.clone());
        }
        t.remove(key);
        None
    })
}

/// Keep `copy` of `key` (replacing an older one); `alive` says which copies may stay when the
/// table is full. False when it was not kept.
pub(crate) fn install(key: Bytes, copy: RemoteCopy, alive: impl Fn(&RemoteCopy) -> bool) -> bool {
    COPIES.with(|t| {
        let mut t = t.borrow_mut();
        if let Some(old) = t.get(&key) {
            if old.version > copy.version {
                return false;
            }
        } else if t.len() >= MAX_COPIES_PER_CORE {
            t.retain(|_, c| alive(c));
            if t.len() >= MAX_COPIES_PER_CORE {
                return false;
            }
        }
        t.insert(key, copy);
        true
    })
}

/// Forget every copy held on this core: the membership changed, and a key's new owner does not
/// know the leases its old owner granted.
pub(crate) fn clear_all() {
    COPIES.with(|t| t.borrow_mut().clear());
}

/// Copies held on this core (tests and `/admin` views).
#[cfg(test)]
pub(crate) fn held() -> usize {
    COPIES.with(|t| t.borrow().len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn copy(version: u64, granter: usize) -> RemoteCopy {
        RemoteCopy {
            stored: Bytes::from_static(b"1"),
            version,
            granter,
            valid_until: 100,
            expires_at: Some(1_000),
        }
    }

    #[test]
    fn a_copy_serves_only_for_its_granter_before_its_end_and_above_the_floor() {
        let c = copy(10, 1);
        assert!(c.usable(1, 10, 99, 999));
        assert!(!c.usable(2, 10, 99, 999), "routed elsewhere");
        assert!(!c.usable(1, 10, 100, 999), "lease over");
        assert!(!c.usable(1, 11, 99, 999), "invalidated");
        assert!(!c.usable(1, 10, 99, 1_000), "value expired");
    }

    #[test]
    fn an_unusable_copy_is_dropped_and_an_older_one_never_replaces_a_newer() {
        assert!(install(Bytes::from_static(b"k"), copy(10, 1), |_| true));
        assert!(!install(Bytes::from_static(b"k"), copy(9, 1), |_| true));
        assert_eq!(lookup(b"k", |_| true).unwrap().version, 10);
        assert!(lookup(b"k", |_| false).is_none());
        assert!(lookup(b"k", |_| true).is_none(), "dropped");
    }

    #[test]
    fn a_full_table_makes_room_from_dead_copies_only() {
        for i in 0..MAX_COPIES_PER_CORE {
            assert!(install(Bytes::from(format!("f{i}")), copy(1, 1), |_| true));
        }
        assert!(!install(Bytes::from_static(b"new"), copy(1, 1), |_| true));
        assert!(install(Bytes::from_static(b"new"), copy(1, 1), |_| false));
        assert_eq!(held(), 1);
    }
}
