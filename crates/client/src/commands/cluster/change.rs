//! `cluster add NODE_ID HOST:PORT` and `cluster remove NODE_ID`: ask any member for the change
//! (`POST /admin/cluster/nodes`, `DELETE /admin/cluster/nodes/{id}`; it forwards to the leader),
//! then, unless `--no-wait`, wait until the node is active and the cluster settled, or until the
//! removed node is safe to stop ([`super::wait`]). The arguments are checked here first, with the
//! node's own rules, so a typo is a usage error naming the argument rather than a 400.
//!
//! Exit codes as every command: 0 done, 1 refused (409: another change still moving keys, or a
//! conflicting member; 404: not a member) or not finished within `--timeout`, 2 bad arguments or
//! no node reachable. `--json` errors carry a `kind`: `conflict`, `not_member`, `timeout`, or the
//! transport kinds of [`crate::ClientError::kind`].

use std::time::Duration;

use serde_json::{json, Value};

use super::wait::{self, Goal, Observation, Outcome, Poller, Report, Schedule, SystemClock};
use super::CLUSTER_PATH;
use crate::cli::{WaitArgs, DEFAULT_TIMEOUT};
use crate::commands::Ctx;
use crate::conn::{Options, Response};
use crate::output::served_by;
use crate::{EXIT_FAILED, EXIT_OK};

/// `--timeout` of a change: moving a node's share of the keys takes minutes at the default
/// `cluster.migration_rate` (64 MiB/s) for tens of GiB, and a human waiting longer than this
/// should look at `cluster status` rather than a silent terminal.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(10 * 60);

/// Longest node id, as the node's config accepts it (`MAX_NODE_ID_BYTES` there).
pub const MAX_NODE_ID_BYTES: usize = 64;

/// Longest DNS name (RFC 1035 section 2.3.4), as the node checks `cluster_nodes` addresses.
const MAX_HOST_BYTES: usize = 253;

/// The route that adds a member.
const NODES_PATH: &str = "/admin/cluster/nodes";

/// `id` when it is a node id the node accepts: `[A-Za-z0-9._-]{1,64}`.
pub fn check_node_id(id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > MAX_NODE_ID_BYTES {
        return Err(format!(
            "NODE_ID {id:?} must be 1 to {MAX_NODE_ID_BYTES} characters long"
        ));
    }
    match id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "._-".contains(*c)))
    {
        Some(c) => Err(format!(
            "NODE_ID {id:?} contains {c:?}; a node id has only letters, digits, '.', '_' and '-'"
        )),
        None => Ok(()),
    }
}

/// `addr` when it is a member address the node accepts: `host:port` (a DNS name, an IPv4
/// address or a bracketed IPv6 address; port 1 to 65535), no scheme.
pub fn check_address(addr: &str) -> Result<(), String> {
    if addr.contains("://") {
        return Err(format!(
            "HOST:PORT {addr:?}: write it without a scheme, as in cluster_nodes (whether peers \
             use TLS comes from the nodes' config)"
        ));
    }
    let Some((host, port)) = addr.rsplit_once(':') else {
        return Err(format!(
            "HOST:PORT {addr:?} has no port: write it as the other members reach the node, e.g. \
             10.0.0.4:8001"
        ));
    };
    if !port.bytes().all(|b| b.is_ascii_digit()) || !matches!(port.parse::<u16>(), Ok(1..)) {
        return Err(format!(
            "HOST:PORT {addr:?}: the port must be a number from 1 to 65535"
        ));
    }
    let host_ok = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(ip) => ip.parse::<std::net::Ipv6Addr>().is_ok(),
        None => {
            !host.is_empty()
                && host.len() <= MAX_HOST_BYTES
                && host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-_".contains(c))
        }
    };
    if host_ok {
        Ok(())
    } else {
        Err(format!(
            "HOST:PORT {addr:?}: invalid host {host:?} (a DNS name, an IPv4 address, or an IPv6 \
             address in brackets)"
        ))
    }
}

/// `cluster add NODE_ID HOST:PORT`.
pub fn add(ctx: &Ctx, node_id: &str, addr: &str, w: &WaitArgs, limit: Option<Duration>) -> u8 {
    if let Err(e) = check_node_id(node_id).and_then(|()| check_address(addr)) {
        return ctx.out.usage(&e);
    }
    let body = json!({"node_id": node_id, "address": addr}).to_string();
    let change = Change {
        what: format!("cluster add {node_id}"),
        node_id,
        goal: Goal::Active,
    };
    change.run(ctx, "POST", NODES_PATH, Some(body.as_bytes()), w, limit)
}

/// `cluster remove NODE_ID`.
pub fn remove(ctx: &Ctx, node_id: &str, w: &WaitArgs, limit: Option<Duration>) -> u8 {
    if let Err(e) = check_node_id(node_id) {
        return ctx.out.usage(&e);
    }
    let change = Change {
        what: format!("cluster remove {node_id}"),
        node_id,
        goal: Goal::SafeToStop,
    };
    let path = wait::member_path(node_id);
    change.run(ctx, "DELETE", &path, None, w, limit)
}

/// One membership change being asked for and waited on.
struct Change<'a> {
    /// The command, for messages.
    what: String,
    node_id: &'a str,
    goal: Goal,
}

impl Change<'_> {
    fn run(
        &self,
        ctx: &Ctx,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
        w: &WaitArgs,
        limit: Option<Duration>,
    ) -> u8 {
        if w.poll_interval.is_zero() {
            return ctx.out.usage("--poll-interval must be at least 1ms");
        }
        let limit = limit.unwrap_or(DEFAULT_WAIT);
        // --timeout bounds the whole wait here; each request keeps the usual bound within it.
        let ctx = &Ctx {
            nodes: ctx.nodes.clone(),
            timeout: DEFAULT_TIMEOUT.min(limit),
            out: ctx.out,
        };
        let (node, r) = match ctx.any_with(method, path, body, &Options::default()) {
            Ok(x) => x,
            Err(e) => return ctx.out.client_error(&e),
        };
        let preferred = ctx
            .nodes
            .iter()
            .position(|n| std::ptr::eq(n, node))
            .unwrap_or(0);
        match r.status {
            200 | 202 => {}
            404 if self.goal == Goal::SafeToStop => return self.not_member(ctx, &r),
            409 => return self.conflict(ctx, preferred, &r),
            _ => return ctx.out.http_failure(&self.what, &r),
        }
        let accepted = r.json().unwrap_or(Value::Null);
        if w.no_wait {
            if ctx.out.json {
                ctx.out.body(&r);
            } else {
                println!("{}", self.accepted_text(&accepted, r.status));
            }
            return EXIT_OK;
        }
        if !ctx.out.json {
            println!("{}", self.accepted_text(&accepted, r.status));
        }
        let schedule = Schedule {
            limit,
            interval: w.poll_interval,
        };
        let mut poller = Poller::new(ctx, self.node_id, preferred);
        let json = ctx.out.json;
        let outcome = wait::wait_for(
            self.goal,
            schedule,
            &mut SystemClock::start(),
            &mut || poller.poll(),
            &mut |report| match report {
                _ if json => {}
                Report::Progress(line) => println!("{line}"),
                Report::Failure(why) => eprintln!("warning: {why}; still trying"),
            },
        );
        match outcome {
            Outcome::Reached(v) => {
                if ctx.out.json {
                    ctx.out.value(&v);
                } else {
                    println!("{}", self.done_text(&v));
                }
                EXIT_OK
            }
            Outcome::TimedOut { last, error } => {
                let msg = self.timeout_text(limit, last.as_ref(), error.as_deref());
                self.fail(ctx, &msg, "timeout", last.as_ref().map(|v| &v["status"]))
            }
        }
    }

    /// The first line after the cluster took the change.
    fn accepted_text(&self, v: &Value, status: u16) -> String {
        let id = self.node_id;
        match (self.goal, status) {
            (Goal::Active, 200) => format!("{id} is already a member"),
            (Goal::Active, _) => format!("{id} is joining the cluster at epoch {}", v["epoch"]),
            (Goal::SafeToStop, _) => format!("{id} is leaving the cluster at epoch {}", v["epoch"]),
        }
    }

    /// The last line once the goal holds.
    fn done_text(&self, v: &Value) -> String {
        let (id, epoch) = (self.node_id, &v["epoch"]);
        match self.goal {
            Goal::Active => format!("{id} joined the cluster at epoch {epoch}"),
            Goal::SafeToStop => {
                format!("{id} left the cluster at epoch {epoch}: safe to stop it now")
            }
        }
    }

    /// Why the wait ended without the goal: the last state seen and the last failure.
    fn timeout_text(&self, limit: Duration, last: Option<&Value>, error: Option<&str>) -> String {
        let mut msg = format!(
            "{} did not {} within {}",
            self.node_id,
            self.goal.words(),
            dcache_units::format_duration(limit)
        );
        match last {
            Some(v) => msg.push_str(&format!(
                ": last seen {}",
                wait::progress_line(&Observation {
                    member: v.clone(),
                    migration: Value::Null,
                })
                .trim_start_matches(&format!("{}: ", self.node_id))
            )),
            None => msg.push_str(": no node told its state"),
        }
        if let Some(e) = error {
            msg.push_str(&format!("; the last poll failed: {e}"));
        }
        msg
    }

    /// 404 on a removal: the node is not a member as the cluster sees it.
    fn not_member(&self, ctx: &Ctx, r: &Response) -> u8 {
        let by = served_by(r)
            .map(|n| format!(" (as {n} sees it)"))
            .unwrap_or_default();
        let msg = format!("{} is not a member{by}", self.node_id);
        self.fail(ctx, &msg, "not_member", None)
    }

    /// 409: another change is still moving keys (retry later), or the change contradicts the
    /// membership (a member with that id at another address, the last member). One look at the
    /// cluster's state tells which, for the hint.
    fn conflict(&self, ctx: &Ctx, preferred: usize, r: &Response) -> u8 {
        let msg = format!("{}: HTTP 409 {}", self.what, r.error_message());
        let unsettled = ctx
            .conn(&ctx.nodes[preferred])
            .request("GET", CLUSTER_PATH, None)
            .ok()
            .filter(|r| r.status == 200)
            .and_then(|r| r.json())
            .filter(|v| v["settled"] == false);
        if ctx.out.json {
            let doc = json!({"ok": false, "error": msg, "kind": "conflict",
                "node_id": self.node_id, "http_status": 409,
                "change_in_progress": unsettled.is_some()});
            ctx.out.value(&doc);
        } else {
            eprintln!("error: {msg}");
            if let Some(v) = unsettled {
                eprintln!(
                    "hint: the change of epoch {} is still moving keys; retry once `cache-client \
                     cluster status` says settled: yes",
                    v["epoch"]
                );
            }
        }
        EXIT_FAILED
    }

    /// A refusal or an unfinished wait: exit 1, `msg` on stderr or as a JSON error of `kind`.
    fn fail(&self, ctx: &Ctx, msg: &str, kind: &str, last_status: Option<&Value>) -> u8 {
        if ctx.out.json {
            let mut doc = json!({"ok": false, "error": msg, "kind": kind, "node_id": self.node_id});
            if let Some(s) = last_status {
                doc["last_status"] = s.clone();
            }
            ctx.out.value(&doc);
        } else {
            eprintln!("error: {msg}");
        }
        EXIT_FAILED
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_ids_follow_the_nodes_rule() {
        for ok in ["node4", "cache-node-0.eu_1", &"n".repeat(MAX_NODE_ID_BYTES)] {
            assert_eq!(check_node_id(ok), Ok(()), "{ok}");
        }
        let e = check_node_id("").unwrap_err();
        assert!(e.contains("1 to 64"), "{e}");
        assert!(check_node_id(&"n".repeat(MAX_NODE_ID_BYTES + 1)).is_err());
        for bad in ["node 4", "node/4", "nöde", "a:b"] {
            let e = check_node_id(bad).unwrap_err();
            assert!(e.contains("NODE_ID") && e.contains("letters"), "{bad}: {e}");
        }
    }

    #[test]
    fn addresses_need_a_host_and_a_port() {
        for ok in ["127.0.0.1:8004", "cache-4.svc:1", "[::1]:65535", "h_1:80"] {
            assert_eq!(check_address(ok), Ok(()), "{ok}");
        }
        let e = check_address("10.0.0.4").unwrap_err();
        assert!(e.contains("no port"), "{e}");
        for bad in ["h:", "h:0", "h:65536", "h:+80", "h:8o"] {
            let e = check_address(bad).unwrap_err();
            assert!(e.contains("port must be"), "{bad}: {e}");
        }
        for bad in [":8001", "::1:80", "[::x]:80", "a b:80", "[::1:80"] {
            let e = check_address(bad).unwrap_err();
            assert!(e.contains("invalid host"), "{bad}: {e}");
        }
        let e = check_address("https://h:1").unwrap_err();
        assert!(e.contains("without a scheme"), "{e}");
    }

    fn change(goal: Goal) -> Change<'static> {
        Change {
            what: "x".into(),
            node_id: "node3",
            goal,
        }
    }

    #[test]
    fn messages_name_the_node_the_epoch_and_the_last_state() {
        let v = json!({"status": "removed", "epoch": 9, "settled": true});
        assert_eq!(
            change(Goal::SafeToStop).done_text(&v),
            "node3 left the cluster at epoch 9: safe to stop it now"
        );
        let v = json!({"node_id": "node3", "status": "active", "epoch": 7, "settled": true});
        assert_eq!(
            change(Goal::Active).done_text(&v),
            "node3 joined the cluster at epoch 7"
        );
        let last = json!({"node_id": "node3", "status": "joining", "epoch": 6, "settled": false});
        let limit = Duration::from_secs(600);
        assert_eq!(
            change(Goal::Active).timeout_text(limit, Some(&last), Some("a:1 refused")),
            "node3 did not become active within 10m: last seen joining at epoch 6, not settled; \
             the last poll failed: a:1 refused"
        );
        assert_eq!(
            change(Goal::SafeToStop).timeout_text(Duration::from_millis(300), None, None),
            "node3 did not leave the cluster within 300ms: no node told its state"
        );
        let accepted = json!({"epoch": 6, "node_id": "node3", "status": "leaving"});
        assert_eq!(
            change(Goal::SafeToStop).accepted_text(&accepted, 202),
            "node3 is leaving the cluster at epoch 6"
        );
        assert_eq!(
            change(Goal::Active).accepted_text(&accepted, 200),
            "node3 is already a member"
        );
    }
}
