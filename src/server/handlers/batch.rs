//! `POST /api/v1/batch`: several key operations in one request (issue 12). Not built yet.

use super::Req;
use crate::server::core::Core;
use crate::server::respond::Meta;

/// Answer a batch.
pub(super) async fn run(c: &Core, out: &mut Vec<u8>, m: Meta, _req: &Req<'_>) {
    c.resp
        .error(out, m, 501, "batches are not implemented yet", None, &[]);
}
