//! `POST /internal/invalidate?v=<hex version>` (cluster secret class), body: the raw key. The
//! owner of a hot key tells a node holding a read copy of it that the key was written at that
//! version (see `server/hot/lease.rs`). The floor is raised node-wide BEFORE the 204, so every
//! core stops serving and installing copies older than the write from then on; the owner
//! acknowledges the write only after this answer (or the lease's end).

use super::Req;
use crate::http::response::CONTENT_JSON;
use crate::server::core::Core;
use crate::server::hot::lease::parse_version_query;
use crate::server::respond::Meta;

pub(crate) fn serve(c: &Core, out: &mut Vec<u8>, m: Meta, req: &Req<'_>) {
    let Some(version) = parse_version_query(req.query) else {
        let msg = "invalidation needs ?v=<version, 1-16 hex digits>";
        return c.resp.error(out, m, 400, msg, None, &[]);
    };
    if req.body.is_empty() {
        let msg = "invalidation needs the key as its body";
        return c.resp.error(out, m, 400, msg, None, &[]);
    }
    crate::metrics::inc(&c.resp.metrics.hot_invalidations_received);
    // With leases off this node keeps no copies (and has no floors to raise).
    if c.node.leases.enabled() {
        c.node.leases.raise_floor(req.body, version);
    }
    c.resp.send(out, m, 204, CONTENT_JSON, b"", &[]);
}
