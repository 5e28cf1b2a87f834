//! A core's latency histogram, recorded cheaply: a value below [`EXACT_BELOW`] µs (nearly every
//! round of answers on a loaded core takes a few µs) is a plain counter increment, and the
//! counters are folded into the hdrhistogram when it is read (`snapshot`). A `record_n` of the
//! histogram itself costs ~100 instructions (bounds, index, count, min/max/total), ~3 % of an
//! unpipelined GET hit's round.
//!
//! Nothing is lost or approximated by the folding: a value is counted as itself, and recorded
//! later as itself, so it lands in the bucket (and the min, max and total) recording it at once
//! would have given.

use std::cell::{Cell, RefCell};

use hdrhistogram::Histogram;

/// Values below this are counted, not recorded: a round of answers on a loaded core takes a few
/// µs, far below it; 256 counters are 2 KiB per core.
const EXACT_BELOW: usize = 256;

pub(super) struct Latency {
    /// Counts of each value below [`EXACT_BELOW`] since the last fold (0 counts as 1, the
    /// histogram's lowest value).
    small: Box<[Cell<u64>; EXACT_BELOW]>,
    hist: RefCell<Histogram<u64>>,
    /// The histogram's bounds: values are clamped to them.
    max: u64,
}

impl Latency {
    pub(super) fn new(hist: Histogram<u64>) -> Latency {
        Latency {
            small: Box::new(std::array::from_fn(|_| Cell::new(0))),
            max: hist.high(),
            hist: RefCell::new(hist),
        }
    }

    /// Record `n` values of `us` µs.
    #[inline]
    pub(super) fn record_n(&self, us: u64, n: u64) {
        match self.small.get(us as usize) {
            Some(count) => count.set(count.get() + n),
            None => {
                let _ = self.hist.borrow_mut().record_n(us.clamp(1, self.max), n);
            }
        }
    }

    /// The histogram with everything recorded so far.
    pub(super) fn read(&self) -> Histogram<u64> {
        let mut hist = self.hist.borrow_mut();
        for (us, count) in self.small.iter().enumerate() {
            let n = count.replace(0);
            if n > 0 {
                let _ = hist.record_n((us as u64).clamp(1, self.max), n);
            }
        }
        hist.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folded_counts_read_as_if_recorded_at_once() {
        let direct = RefCell::new(super::super::counters::new_histogram());
        let fast = Latency::new(super::super::counters::new_histogram());
        let values = [
            0,
            1,
            2,
            3,
            17,
            100,
            255,
            256,
            257,
            1000,
            123_456,
            59_000_000,
            u64::MAX,
        ];
        for (i, &us) in values.iter().enumerate() {
            let n = i as u64 + 1;
            fast.record_n(us, n);
            let _ = direct
                .borrow_mut()
                .record_n(us.clamp(1, super::super::counters::LATENCY_MAX_US), n);
        }
        let read = fast.read();
        assert_eq!(read, *direct.borrow());
        assert_eq!(read.len(), direct.borrow().len());
        // Read again: nothing counted twice.
        assert_eq!(fast.read(), *direct.borrow());
        fast.record_n(5, 2);
        assert_eq!(fast.read().count_at(5), 2);
    }
}
