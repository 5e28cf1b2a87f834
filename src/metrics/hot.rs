//! The hot-key families (issue 13): how many keys are hot now, reads answered from read copies
//! (on the requesting core, on a non-owner node), copies filled, invalidations sent and received,
//! writes that waited out a lease, and GETs that joined an identical forward.
//!
//! The counters are plain `Cell`s on [`CoreMetrics`](super::CoreMetrics) (`hot_copy_reads_core`
//! ...), bumped with [`inc`](super::inc) where the event happens; the `cache_hot_keys` gauge is
//! read from the core's tracker at scrape time. The families are rendered after the trust
//! counters, in [`HOT_FAMILIES`] order.

use super::counters::CoreMetrics;
use super::render::{Family, Kind, Samples};

/// One core's hot-key figures, copied at scrape time (see [`CoreSnapshot::hot`](super::CoreSnapshot)).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct HotCounts {
    /// Keys hot on this core now (gauge; set from the tracker by the scrape).
    pub keys: u64,
    /// Reads answered from a copy on the requesting core.
    pub copy_reads_core: u64,
    /// Reads answered from a copy on a non-owner node.
    pub copy_reads_node: u64,
    /// Copies installed on the requesting core.
    pub copy_fills_core: u64,
    /// Copies installed on a non-owner node (under a lease).
    pub copy_fills_node: u64,
    /// Invalidations sent to lease holders.
    pub invalidations_sent: u64,
    /// Invalidations received from a key's owner.
    pub invalidations_received: u64,
    /// Writes that waited for a lease to expire (an invalidation went unanswered).
    pub lease_waits: u64,
    /// GETs that joined an identical queued forward.
    pub forward_coalesced: u64,
}

impl HotCounts {
    /// The counters of `m` (the `keys` gauge stays 0: the tracker is not in the metrics).
    pub(super) fn read(m: &CoreMetrics) -> HotCounts {
        HotCounts {
            keys: 0,
            copy_reads_core: m.hot_copy_reads_core.get(),
            copy_reads_node: m.hot_copy_reads_node.get(),
            copy_fills_core: m.hot_copy_fills_core.get(),
            copy_fills_node: m.hot_copy_fills_node.get(),
            invalidations_sent: m.hot_invalidations_sent.get(),
            invalidations_received: m.hot_invalidations_received.get(),
            lease_waits: m.hot_lease_waits.get(),
            forward_coalesced: m.forward_coalesced.get(),
        }
    }
}

/// The hot-key families, in exposition order (after the trust counters).
pub(super) static HOT_FAMILIES: &[Family] = &[
    Family {
        name: "cache_hot_keys",
        kind: Kind::Gauge,
        help: "Keys read at least hot_keys.min_reads_per_sec on one core now (summed over cores).",
        samples: Samples::Sum(|c| c.hot.keys),
    },
    Family {
        name: "cache_hot_copy_reads_total",
        kind: Kind::Counter,
        help: "Reads of hot keys answered from a read copy: where=core on the requesting core, where=node on a non-owner node.",
        samples: Samples::Split(
            "where",
            &[
                ("core", |c| c.hot.copy_reads_core),
                ("node", |c| c.hot.copy_reads_node),
            ],
        ),
    },
    Family {
        name: "cache_hot_copy_fills_total",
        kind: Kind::Counter,
        help: "Read copies of hot keys installed: where=core on the requesting core, where=node on a non-owner node.",
        samples: Samples::Split(
            "where",
            &[
                ("core", |c| c.hot.copy_fills_core),
                ("node", |c| c.hot.copy_fills_node),
            ],
        ),
    },
    Family {
        name: "cache_hot_invalidations_total",
        kind: Kind::Counter,
        help: "Invalidations of hot-key copies: direction=sent by the owner, direction=received by a holder.",
        samples: Samples::Split(
            "direction",
            &[
                ("sent", |c| c.hot.invalidations_sent),
                ("received", |c| c.hot.invalidations_received),
            ],
        ),
    },
    Family {
        name: "cache_hot_lease_waits_total",
        kind: Kind::Counter,
        help: "Writes that waited for a read-copy lease to expire because an invalidation was not answered.",
        samples: Samples::Sum(|c| c.hot.lease_waits),
    },
    Family {
        name: "cache_forward_coalesced_total",
        kind: Kind::Counter,
        help: "GETs that joined an identical queued forward to the same peer instead of sending their own.",
        samples: Samples::Sum(|c| c.hot.forward_coalesced),
    },
];
