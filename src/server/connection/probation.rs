//! The first request of a connection admitted on probation: beyond `max_connections` or the
//! per-address limit, only another node is served (see `server::admission`).

use super::{Conn, R};
use crate::http::{Head, Span};
use crate::metrics::Trust;
use crate::server::admission::{self, Limit};
use crate::server::authz;
use crate::server::core::Core;
use crate::server::router::Route;

/// Where the prober and the catch-up send their requests.
const INTERNAL_PREFIX: &[u8] = b"/internal/";

impl Conn {
    /// Decide the probation on the first request's head: a peer's request ends it and the
    /// connection is served from then on; anything else gets the 503 of the limit it exceeded.
    /// False: answer that 503 and close.
    pub(super) fn end_probation(&mut self, c: &Core, head: &Head) -> bool {
        let Some(limit) = self.probation.take() else {
            return true;
        };
        self.held.settle();
        if self.first_request_is_a_peers(c, head) {
            if limit == Limit::MaxConnections {
                c.resp.metrics.trust.inc(Trust::PeerReserveAdmitted);
            }
            return true;
        }
        self.refuse(c, limit);
        false
    }

    /// No complete request arrived within the probation: 503 (nothing of a peer's, a peer sends
    /// its request at once).
    pub(super) fn refuse_probation(&mut self, c: &Core) {
        if let Some(limit) = self.probation.take() {
            self.held.settle();
            self.refuse(c, limit);
        }
    }

    fn refuse(&mut self, c: &Core, limit: Limit) {
        admission::count_refused(&c.resp.metrics, limit);
        let msg = limit.message(self.ip);
        c.resp
            .error(&mut self.wbuf, R::closing(), 503, &msg, None, &[]);
        // Linger only when the client sent something not read (its request).
        self.closing = Some(self.close_kind());
    }

    /// The request carries the cluster secret (or a verified peer certificate), as `Req::peer`
    /// is decided. With no cluster secret configured, a forwarding marker or an `/internal/`
    /// path (the prober's `GET /internal/cluster/health` carries nothing else) is a peer's.
    fn first_request_is_a_peers(&self, c: &Core, head: &Head) -> bool {
        let base = self.start;
        let at = |s: Span| &self.rbuf[base + s.start()..base + s.end()];
        let path = at(head.path);
        let need = authz::need(Route::parse(path), head.method);
        let auth = head.authorization.map(at);
        let v = c
            .authz
            .check(need, auth, head.forwarded, false, self.tls_peer);
        v.peer || (path.starts_with(INTERNAL_PREFIX) && c.authz.keys().current().cluster.is_open())
    }
}
