//! The fixed label sets of the request counters (route, method, status) and their slot arithmetic.
//!
//! Labels are never derived from keys, so series cardinality is bounded by these tables.

/// Route label of a request (a fixed set: never derived from the key).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RouteLabel {
    Health,
    Cache,
    Metrics,
    Cluster,
    Export,
    Import,
    Internal,
    Unknown,
    /// `POST /api/v1/batch`.
    Batch,
    /// `DELETE /admin/cache` (flush, all or by prefix).
    Flush,
}

/// Label values of [`RouteLabel`], indexed by discriminant.
pub(super) const ROUTES: [&str; 10] = [
    "health", "cache", "metrics", "cluster", "export", "import", "internal", "unknown", "batch",
    "flush",
];

impl RouteLabel {
    /// The label value, as in the metrics.
    pub(crate) fn as_str(self) -> &'static str {
        ROUTES[self as usize]
    }
}

/// Method label of a request (a fixed set; anything unusual is `Other`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MethodLabel {
    Get,
    Head,
    Put,
    Post,
    Delete,
    Other,
}

/// Label values of [`MethodLabel`], indexed by discriminant.
pub(super) const METHODS: [&str; 6] = ["GET", "HEAD", "PUT", "POST", "DELETE", "OTHER"];

impl MethodLabel {
    /// The label value, as in the metrics.
    pub(crate) fn as_str(self) -> &'static str {
        METHODS[self as usize]
    }
}

/// Statuses we emit; anything else is counted under the last slot ("other"). Slots holding 0 are
/// spare and never rendered.
pub(super) const STATUSES: [u16; 30] = [
    200, 201, 204, 304, 400, 401, 403, 404, 405, 408, 409, 411, 412, 413, 414, 415, 417, 421, 431,
    500, 501, 502, 503, 504, 505, 507, 508, 100, 0, 0,
];

/// Status slots per (route, method); the last one is "other".
pub(super) const STATUS_SLOTS: usize = STATUSES.len();

/// Request counter cells per core: one per (route, method, status slot).
pub(super) const CELLS: usize = ROUTES.len() * METHODS.len() * STATUS_SLOTS;

/// Status slot of `status` (the last slot for statuses not in [`STATUSES`]).
#[inline]
pub(super) fn status_slot(status: u16) -> usize {
    STATUSES
        .iter()
        .position(|&s| s == status)
        .unwrap_or(STATUS_SLOTS - 1)
}

/// Index of the request cell for (route, method, status slot).
#[inline]
pub(super) const fn request_index(route: usize, method: usize, slot: usize) -> usize {
    (route * METHODS.len() + method) * STATUS_SLOTS + slot
}
