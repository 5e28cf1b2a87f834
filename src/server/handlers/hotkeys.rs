//! `GET /admin/hotkeys[?limit=N]`: the keys this node reads most, merged from every core's
//! top-K (issue 13).
//!
//! Answer: 200 `{"node_id":..,"enabled":true,"min_reads_per_sec":M,"top_k":K,"keys":[{"key":..,
//! "reads_per_sec":R,"hot":B,"cores":[..]}, ..]}`, keys by estimated rate, highest first. A key
//! counted on several cores (it is read over connections accepted by several cores) is listed
//! once: its rates summed, `hot` when it is hot on any one of them (hotness is per core: that is
//! where copies are made), `cores` the cores that count it. Rates are each core's estimate over
//! the last second or so, rounded; only keys read at least once a second are listed. With
//! `hot_keys.enabled: false` the list is empty and `enabled` false. Keys are JSON strings; a key
//! that is not UTF-8 is shown with U+FFFD in place of its invalid bytes.

use std::fmt::Write as _;
use std::rc::Rc;

use super::admin::json_str;
use super::Req;
use crate::http::response::CONTENT_JSON;
use crate::server::core::Core;
use crate::server::hot::HotKey;
use crate::server::respond::Meta;

/// Largest `limit`: far above what a node lists (cores × `top_k`), small enough to be a number a
/// client meant rather than an overflow.
const MAX_LIMIT: usize = 1_000_000;

/// One key of the merged list.
#[derive(Debug, PartialEq)]
struct Merged {
    key: Vec<u8>,
    reads_per_sec: f64,
    hot: bool,
    cores: Vec<usize>,
}

/// Answer `GET /admin/hotkeys`.
pub(super) async fn serve(c: &Rc<Core>, out: &mut Vec<u8>, m: Meta, req: &Req<'_>) {
    let limit = match parse_limit(req.query) {
        Ok(l) => l,
        Err(e) => return c.resp.error(out, m, 400, &e, None, &[]),
    };
    let per_core = match c
        .on_every_core(|c| (c.exec.core, c.hot.top(c.exec.now_ms())))
        .await
    {
        Ok(p) => p,
        Err(e) => {
            let msg = format!("node is shutting down: {e}");
            return c.resp.error(out, m, 503, &msg, None, &[]);
        }
    };
    let keys = merge(per_core, limit);
    let cfg = &c.cfg().hot_keys;
    let mut s = String::with_capacity(128 + 64 * keys.len());
    let _ = write!(
        s,
        "{{\"node_id\":{},\"enabled\":{},\"min_reads_per_sec\":{},\"top_k\":{},\"keys\":[",
        json_str(&c.cfg().node_id),
        c.hot.enabled(),
        cfg.min_reads_per_sec,
        cfg.top_k,
    );
    for (i, k) in keys.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let _ = write!(
            s,
            "{{\"key\":{},\"reads_per_sec\":{},\"hot\":{},\"cores\":{:?}}}",
            json_str(&String::from_utf8_lossy(&k.key)),
            k.reads_per_sec.round() as u64,
            k.hot,
            k.cores,
        );
    }
    s.push_str("]}");
    c.resp.send(out, m, 200, CONTENT_JSON, s.as_bytes(), &[]);
}

/// The `limit` of the query (`None`: every key). Strict: an unknown or repeated parameter, or a
/// limit that is not a whole number in 1..=[`MAX_LIMIT`], is refused with a message saying so.
fn parse_limit(q: Option<&[u8]>) -> Result<Option<usize>, String> {
    let mut limit = None;
    for (name, value) in crate::server::router::query_pairs(q) {
        if name != b"limit" {
            return Err(format!(
                "unknown query parameter {:?}: GET /admin/hotkeys takes only ?limit=N",
                String::from_utf8_lossy(name)
            ));
        }
        if limit.is_some() {
            return Err("query parameter limit given twice".to_owned());
        }
        let n = std::str::from_utf8(value)
            .ok()
            .filter(|v| v.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|v| v.parse::<usize>().ok())
            .filter(|n| (1..=MAX_LIMIT).contains(n));
        match n {
            Some(n) => limit = Some(n),
            None => {
                return Err(format!(
                    "limit={:?} is not a whole number from 1 to {MAX_LIMIT}",
                    String::from_utf8_lossy(value)
                ))
            }
        }
    }
    Ok(limit)
}

/// Every core's list merged by key, highest rate first (ties by key), at most `limit` keys.
fn merge(per_core: Vec<(usize, Vec<HotKey>)>, limit: Option<usize>) -> Vec<Merged> {
    let mut by_key: std::collections::HashMap<Vec<u8>, Merged> = Default::default();
    for (core, keys) in per_core {
        for k in keys {
            let e = by_key.entry(k.key).or_insert_with_key(|key| Merged {
                key: key.clone(),
                reads_per_sec: 0.0,
                hot: false,
                cores: Vec::new(),
            });
            e.reads_per_sec += k.reads_per_sec;
            e.hot |= k.hot;
            e.cores.push(core);
        }
    }
    let mut keys: Vec<Merged> = by_key.into_values().collect();
    keys.sort_by(|a, b| {
        b.reads_per_sec
            .total_cmp(&a.reads_per_sec)
            .then_with(|| a.key.cmp(&b.key))
    });
    keys.truncate(limit.unwrap_or(usize::MAX));
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hk(key: &str, reads_per_sec: f64, hot: bool) -> HotKey {
        HotKey {
            key: key.as_bytes().to_vec(),
            reads_per_sec,
            hot,
        }
    }

    fn limit(q: &str) -> Result<Option<usize>, String> {
        parse_limit(Some(q.as_bytes()))
    }

    #[test]
    fn the_query_takes_only_a_positive_limit() {
        assert_eq!(parse_limit(None), Ok(None));
        assert_eq!(limit(""), Ok(None));
        assert_eq!(limit("limit=5"), Ok(Some(5)));
        assert_eq!(limit("&limit=1&"), Ok(Some(1)));
        for bad in [
            "limit=0", "limit=", "limit", "limit=-1", "limit=+3", "limit=1x",
        ] {
            let e = limit(bad).expect_err(bad);
            assert!(e.contains("not a whole number from 1 to"), "{bad}: {e}");
        }
        assert!(limit("limit=99999999999999999999999")
            .expect_err("overflow")
            .contains("not a whole number"));
        assert_eq!(
            limit("limit=1&limit=2"),
            Err("query parameter limit given twice".to_owned())
        );
        let e = limit("limt=3").expect_err("typo");
        assert!(e.contains("unknown query parameter \"limt\""), "{e}");
        assert!(e.contains("?limit=N"), "{e}");
    }

    #[test]
    fn cores_are_merged_by_key_and_sorted_by_rate() {
        let per_core = vec![
            (0, vec![hk("a", 100.0, false), hk("b", 900.0, true)]),
            (1, vec![hk("a", 150.0, false), hk("c", 400.0, false)]),
        ];
        let got = merge(per_core, None);
        let view: Vec<(&[u8], u64, bool, &[usize])> = got
            .iter()
            .map(|k| (&k.key[..], k.reads_per_sec as u64, k.hot, &k.cores[..]))
            .collect();
        assert_eq!(
            view,
            vec![
                (&b"b"[..], 900, true, &[0][..]),
                (b"c", 400, false, &[1]),
                (b"a", 250, false, &[0, 1]),
            ]
        );
    }

    #[test]
    fn hot_on_one_core_is_hot_and_the_limit_cuts_the_tail() {
        let per_core = vec![
            (0, vec![hk("k", 1_000.0, true), hk("x", 1.0, false)]),
            (1, vec![hk("k", 10.0, false), hk("y", 2.0, false)]),
        ];
        let got = merge(per_core, Some(2));
        assert_eq!(got.len(), 2);
        assert!(got[0].hot && got[0].key == b"k" && got[0].cores == [0, 1]);
        assert_eq!(got[1].key, b"y");
        assert!(merge(Vec::new(), Some(3)).is_empty());
    }
}
