//! GETs of keys another core of this node owns: answered from this core's read copy while the
//! key is hot here and the copy is current (`server::hot::local`, proof in `storage::stripes`),
//! else asked of the owner core, and the answer kept as the copy when the key is hot.

use super::{deferred, remote, Core, Deferred, KeyKind, KeyReply, Meta, Routed};
use crate::metrics::inc;
use crate::server::hot::local::Lookup;
use crate::storage::KeyOp;

/// A plain GET (no conditions, not a replica's copy, this node coordinating) of a key that
/// core `core` owns. Encoded now from a copy when `direct`, else queued in the pipeline's order
/// sharing the copy's bytes; without a copy, sent to `core` (watching the key's stripe first
/// when the key is hot here, so that the answer can become the copy).
pub(super) fn read(
    c: &Core,
    m: Meta,
    key: &[u8],
    core: usize,
    direct: bool,
    out: &mut Vec<u8>,
) -> Routed {
    let (copies, stripes) = (&c.copies, &*c.node.stripes);
    let now = c.exec.now_ms();
    let mut hash = None;
    if !copies.is_empty() {
        let h = stripes.hash(key);
        let found = copies.lookup(stripes, key, h, now, |hit| {
            if direct {
                c.resp
                    .value(out, m, key, hit.value, hit.ttl_ms, hit.version);
                return None;
            }
            let reply = KeyReply::Value {
                value: hit.value.clone(),
                ttl_ms: hit.ttl_ms,
                version: hit.version,
            };
            Some((reply, hit.key.clone()))
        });
        match found {
            Lookup::Hit(queued) => {
                inc(&c.resp.metrics.hot_copy_reads_core);
                return match queued {
                    None => Routed::Done,
                    Some((reply, key)) => {
                        let d = Deferred {
                            meta: m,
                            key: crate::mesh::CallKey::Shared(key),
                            kind: KeyKind::Get,
                            version: 0,
                        };
                        Routed::Ready(reply, d)
                    }
                };
            }
            Lookup::Miss(h) => hash = Some(h),
        }
    }
    let kind = if c.hot.is_hot(key, now) {
        let h = hash.unwrap_or_else(|| stripes.hash(key));
        // Before the call below: the order the proof rests on.
        KeyKind::Fill(copies.watch(stripes, h, now))
    } else {
        KeyKind::Get
    };
    remote(c, core, KeyOp::Get, deferred(m, key, kind, 0))
}

/// The owner core answered `d`: when it was sent for a copy and found a value, keep it.
pub(super) fn filled(c: &Core, d: &Deferred, reply: &KeyReply) {
    let (
        KeyKind::Fill(f),
        KeyReply::Value {
            value,
            ttl_ms,
            version,
        },
    ) = (d.kind, reply)
    else {
        return;
    };
    if c.copies.fill(
        &c.node.stripes,
        f,
        &d.key.to_bytes(),
        value,
        *ttl_ms,
        *version,
    ) {
        inc(&c.resp.metrics.hot_copy_fills_core);
    }
}
