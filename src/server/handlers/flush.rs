//! `DELETE /admin/cache[?prefix=P]`: cluster-wide invalidation (issue 12). Not built yet.

use super::Req;
use crate::server::core::Core;
use crate::server::respond::Meta;

/// Answer a flush.
pub(super) async fn run(c: &Core, out: &mut Vec<u8>, m: Meta, _req: &Req<'_>) {
    c.resp
        .error(out, m, 501, "flush is not implemented yet", None, &[]);
}
