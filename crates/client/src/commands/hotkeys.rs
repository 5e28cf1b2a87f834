//! `hotkeys [--limit N]`: the keys each node reads most (`GET /admin/hotkeys`, an admin call: the
//! admin token when the nodes require tokens), one table per node. Every node counts the reads
//! it receives, so each is asked; exit 0 when all answered, 1 when some did not.

use serde_json::Value;

use super::Ctx;
use crate::{EXIT_FAILED, EXIT_OK};

/// Keys shown per node by default: the head of the list is what matters.
pub const DEFAULT_LIMIT: usize = 20;

/// `/admin/hotkeys?limit=N`.
pub fn hotkeys_path(limit: usize) -> String {
    format!("/admin/hotkeys?limit={limit}")
}

pub fn hotkeys(ctx: &Ctx, limit: usize) -> u8 {
    if limit == 0 {
        return ctx.out.usage("--limit must be at least 1");
    }
    let path = hotkeys_path(limit);
    let mut docs = Vec::new();
    let mut failed = false;
    for node in &ctx.nodes {
        let r = match ctx.conn(node).request("GET", &path, None) {
            Ok(r) => r,
            Err(e) => {
                failed = true;
                if !ctx.out.json {
                    eprintln!("{}: {e}", node.addr);
                }
                continue;
            }
        };
        let Some(v) = r.json().filter(|_| r.status == 200) else {
            failed = true;
            ctx.out.http_failure("hotkeys", &r);
            continue;
        };
        if !ctx.out.json {
            print_table(&node.addr, &v);
        }
        docs.push(v);
    }
    if ctx.out.json {
        ctx.out.value(&Value::Array(docs));
    }
    if failed {
        EXIT_FAILED
    } else {
        EXIT_OK
    }
}

/// One node's list as a table.
fn print_table(addr: &str, v: &Value) {
    let node = v["node_id"].as_str().unwrap_or("?");
    if v["enabled"] == false {
        println!("{node} ({addr}): hot-key tracking is off (hot_keys.enabled: false)");
        return;
    }
    let keys = v["keys"].as_array().map(Vec::as_slice).unwrap_or_default();
    println!(
        "{node} ({addr}): hot from {} reads/s on one core, {} keys tracked per core",
        v["min_reads_per_sec"], v["top_k"]
    );
    if keys.is_empty() {
        println!("  no key read at least once a second");
        return;
    }
    println!("  {:>10}  {:<3}  {:<7}  key", "reads/s", "hot", "cores");
    for k in keys {
        let cores: Vec<String> = k["cores"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .map(Value::to_string)
            .collect();
        println!(
            "  {:>10}  {:<3}  {:<7}  {}",
            k["reads_per_sec"].as_u64().unwrap_or(0),
            if k["hot"] == true { "yes" } else { "no" },
            cores.join(","),
            k["key"].as_str().unwrap_or("?"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_path_carries_the_limit() {
        assert_eq!(hotkeys_path(5), "/admin/hotkeys?limit=5");
        assert_eq!(hotkeys_path(DEFAULT_LIMIT), "/admin/hotkeys?limit=20");
    }
}
