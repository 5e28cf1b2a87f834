//! Hinted hand-off: writes kept for a replica that could not take them (down, draining, or it
//! did not answer in time), delivered when it takes writes again.
//!
//! One [`Hints`] per core, owned by that core (no locks). Bounded in entries and bytes: when a
//! bound is hit the new hint is dropped and counted, and the replica catches up by repair when it
//! syncs instead (repair compares every key, so a dropped hint costs time, never data). Hints
//! carry the write's version, so delivering one late, twice, or after a newer write changes
//! nothing the replica should keep (last writer wins).

use std::collections::VecDeque;

use crate::storage::Entry;

/// Bytes charged per hint beyond key and value (queue slot, `Bytes` handles, version, expiry).
const HINT_OVERHEAD_BYTES: u64 = 96;

/// One kept write.
struct Hint {
    entry: Entry,
    /// Node-clock time it was queued: its TTL keeps running while it waits.
    at_ms: u64,
}

/// Cumulative counters of one core's hints (metrics).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct HintStats {
    pub queued: u64,
    pub delivered: u64,
    pub dropped: u64,
}

/// One core's hints, a queue per peer.
pub(crate) struct Hints {
    queues: Vec<VecDeque<Hint>>,
    entries: usize,
    bytes: u64,
    max_entries: usize,
    max_bytes: u64,
    pub stats: HintStats,
}

fn cost(e: &Entry) -> u64 {
    (e.key.len() + e.value.len()) as u64 + HINT_OVERHEAD_BYTES
}

impl Hints {
    /// `max_entries`/`max_bytes` are this core's share of the node's bounds.
    pub(crate) fn new(peers: usize, max_entries: usize, max_bytes: u64) -> Hints {
        Hints {
            queues: (0..peers).map(|_| VecDeque::new()).collect(),
            entries: 0,
            bytes: 0,
            max_entries,
            max_bytes,
            stats: HintStats::default(),
        }
    }

    /// Keep `entry` for `peer`; false (and counted as dropped) when a bound is hit.
    pub(crate) fn push(&mut self, peer: usize, entry: Entry, now_ms: u64) -> bool {
        let c = cost(&entry);
        let full = self.entries >= self.max_entries
            || (self.max_bytes != 0 && self.bytes + c > self.max_bytes);
        if full || peer >= self.queues.len() {
            self.stats.dropped += 1;
            return false;
        }
        self.entries += 1;
        self.bytes += c;
        self.stats.queued += 1;
        self.queues[peer].push_back(Hint {
            entry,
            at_ms: now_ms,
        });
        true
    }

    /// Take hints for `peer`, oldest first, until `max_bytes` of keys and values are taken (at
    /// least one), their TTLs reduced by the time waited (hints whose TTL ran out while waiting
    /// are dropped: there is nothing left to deliver).
    pub(crate) fn take(&mut self, peer: usize, max_bytes: u64, now_ms: u64) -> Vec<Entry> {
        let mut out = Vec::new();
        let mut taken = 0;
        let Some(q) = self.queues.get_mut(peer) else {
            return out;
        };
        while out.is_empty() || taken < max_bytes {
            let Some(h) = q.pop_front() else { break };
            self.entries -= 1;
            self.bytes -= cost(&h.entry);
            let waited = now_ms.saturating_sub(h.at_ms);
            let mut e = h.entry;
            taken += cost(&e);
            match e.ttl_ms {
                Some(t) if t <= waited => continue,
                Some(t) => e.ttl_ms = Some(t - waited),
                None => {}
            }
            out.push(e);
        }
        out
    }

    /// Delivery of `entries` (taken at `now_ms`) failed: keep them again, first in line.
    pub(crate) fn put_back(&mut self, peer: usize, entries: Vec<Entry>, now_ms: u64) {
        for e in entries.into_iter().rev() {
            let c = cost(&e);
            if let Some(q) = self.queues.get_mut(peer) {
                self.entries += 1;
                self.bytes += c;
                q.push_front(Hint {
                    entry: e,
                    at_ms: now_ms,
                });
            }
        }
    }

    /// Hints were delivered and confirmed.
    pub(crate) fn delivered(&mut self, n: u64) {
        self.stats.delivered += n;
    }

    /// Hints waiting for `peer`.
    pub(crate) fn pending(&self, peer: usize) -> usize {
        self.queues.get(peer).map_or(0, VecDeque::len)
    }

    /// Hints waiting, all peers, and their accounted bytes.
    pub(crate) fn totals(&self) -> (usize, u64) {
        (self.entries, self.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn entry(k: &'static str, ttl_ms: Option<u64>) -> Entry {
        Entry {
            key: Bytes::from_static(k.as_bytes()),
            value: Bytes::from_static(b"1"),
            ttl_ms,
            version: 7,
            tomb: false,
        }
    }

    #[test]
    fn bounded_in_entries_and_bytes_and_drops_are_counted() {
        let mut h = Hints::new(2, 2, 0);
        assert!(h.push(1, entry("a", None), 0));
        assert!(h.push(1, entry("b", None), 0));
        assert!(!h.push(0, entry("c", None), 0));
        assert_eq!(h.stats.dropped, 1);
        assert_eq!((h.pending(1), h.pending(0)), (2, 0));
        let mut small = Hints::new(1, 100, HINT_OVERHEAD_BYTES + 2);
        assert!(small.push(0, entry("a", None), 0));
        assert!(!small.push(0, entry("b", None), 0));
    }

    #[test]
    fn take_ages_ttls_and_skips_expired_and_put_back_keeps_order() {
        let mut h = Hints::new(1, 10, 0);
        h.push(0, entry("a", Some(100)), 0);
        h.push(0, entry("b", Some(1000)), 0);
        h.push(0, entry("c", None), 0);
        let got = h.take(0, u64::MAX, 500);
        let keys: Vec<_> = got.iter().map(|e| (e.key.clone(), e.ttl_ms)).collect();
        assert_eq!(
            keys,
            vec![
                (Bytes::from_static(b"b"), Some(500)),
                (Bytes::from_static(b"c"), None)
            ]
        );
        assert_eq!(h.totals(), (0, 0));
        h.put_back(0, got, 500);
        assert_eq!(h.pending(0), 2);
        let one = h.take(0, 1, 500);
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].key, Bytes::from_static(b"b"));
    }
}
