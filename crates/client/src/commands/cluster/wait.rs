//! Waiting for a membership change to finish: poll `GET /admin/cluster/nodes/{id}` (and the
//! migration's progress from `GET /admin/cluster`) until the node is active and the cluster
//! settled (`add`), or the node is safe to stop (`remove`), within a time limit. The loop
//! ([`wait_for`]) takes its clock and its poll as arguments, so its timing is tested without
//! sleeping; [`Poller`] is the real poll over the network.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::{migration_text, CLUSTER_PATH};
use crate::commands::Ctx;
use crate::http::push_encoded_key;

/// What the wait is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Goal {
    /// `cluster add`: the node is active and the cluster settled (its keys have arrived).
    Active,
    /// `cluster remove`: the node was removed (its keys have left): it may be stopped.
    SafeToStop,
}

impl Goal {
    /// Whether the node's answer `v` (`GET /admin/cluster/nodes/{id}`) says the goal is reached.
    pub fn reached(self, v: &Value) -> bool {
        match self {
            Goal::Active => v["status"] == "active" && v["settled"] == true,
            Goal::SafeToStop => v["safe_to_stop"] == true,
        }
    }

    /// The goal in words, for the timeout message.
    pub fn words(self) -> &'static str {
        match self {
            Goal::Active => "become active",
            Goal::SafeToStop => "leave the cluster",
        }
    }
}

/// One successful poll: the node's answer and, when the same node told it, the migration.
#[derive(Clone, Debug, Default)]
pub struct Observation {
    pub member: Value,
    pub migration: Value,
}

/// Where the time comes from: the real clock, or a test's.
pub trait Clock {
    /// Time since the wait started.
    fn elapsed(&self) -> Duration;
    fn sleep(&mut self, d: Duration);
}

/// The real clock.
pub struct SystemClock(Instant);

impl SystemClock {
    pub fn start() -> SystemClock {
        SystemClock(Instant::now())
    }
}

impl Clock for SystemClock {
    fn elapsed(&self) -> Duration {
        self.0.elapsed()
    }
    fn sleep(&mut self, d: Duration) {
        std::thread::sleep(d);
    }
}

/// How a wait ended.
#[derive(Debug)]
pub enum Outcome {
    /// The goal holds: the node's last answer.
    Reached(Value),
    /// The limit passed first: the last answer seen, if any, and the last poll's failure, if
    /// the last poll failed.
    TimedOut {
        last: Option<Value>,
        error: Option<String>,
    },
}

/// What a wait tells as it goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Report<'a> {
    /// What a poll saw, when it differs from the previous poll's.
    Progress(&'a str),
    /// Why a poll failed, when it differs from the previous failure.
    Failure(&'a str),
}

/// Timing of a wait.
#[derive(Clone, Copy, Debug)]
pub struct Schedule {
    pub limit: Duration,
    pub interval: Duration,
}

/// Poll until `goal` is reached or `schedule.limit` has passed (one poll at the start, one at
/// the limit). Each progress line that differs from the previous one goes to `report`, and so
/// does each new poll failure (the wait goes on: a node being removed stops answering, another
/// may answer the next poll).
pub fn wait_for(
    goal: Goal,
    schedule: Schedule,
    clock: &mut dyn Clock,
    poll: &mut dyn FnMut() -> Result<Observation, String>,
    report: &mut dyn FnMut(Report<'_>),
) -> Outcome {
    let mut last: Option<Value> = None;
    let mut shown = String::new();
    let mut error: Option<String> = None;
    loop {
        match poll() {
            Ok(seen) => {
                error = None;
                let line = progress_line(&seen);
                if line != shown {
                    report(Report::Progress(&line));
                    shown = line;
                }
                if goal.reached(&seen.member) {
                    return Outcome::Reached(seen.member);
                }
                last = Some(seen.member);
            }
            Err(e) => {
                if error.as_deref() != Some(e.as_str()) {
                    report(Report::Failure(&e));
                }
                error = Some(e);
            }
        }
        let elapsed = clock.elapsed();
        if elapsed >= schedule.limit {
            return Outcome::TimedOut { last, error };
        }
        clock.sleep(schedule.interval.min(schedule.limit - elapsed));
    }
}

/// `node4: joining at epoch 6, not settled; migration of epoch 6: ...`: what one poll saw.
pub fn progress_line(seen: &Observation) -> String {
    let m = &seen.member;
    let mut line = format!(
        "{}: {} at epoch {}, {}",
        m["node_id"].as_str().unwrap_or("?"),
        m["status"].as_str().unwrap_or("?"),
        m["epoch"],
        if m["settled"] == true {
            "settled"
        } else {
            "not settled"
        }
    );
    // The migration's age would change every poll: the line shows only what moved.
    if let Some(progress) = migration_text(&seen.migration, 0) {
        line.push_str("; ");
        line.push_str(&progress);
    }
    line
}

/// `/admin/cluster/nodes/{percent-encoded id}`.
pub fn member_path(node_id: &str) -> String {
    let mut out = b"/admin/cluster/nodes/".to_vec();
    push_encoded_key(&mut out, node_id.as_bytes());
    // Only ASCII was pushed.
    String::from_utf8(out).unwrap_or_default()
}

/// The real poll: asks the node that answered last (first: the one that took the change), and
/// the other nodes of the list in order when it does not answer or does not know the node.
pub struct Poller<'a> {
    ctx: &'a Ctx,
    path: String,
    /// Index in `ctx.nodes` of the node asked first.
    preferred: usize,
}

impl<'a> Poller<'a> {
    pub fn new(ctx: &'a Ctx, node_id: &str, preferred: usize) -> Poller<'a> {
        Poller {
            ctx,
            path: member_path(node_id),
            preferred,
        }
    }

    /// One poll: the first node that knows the member answers; why none did otherwise.
    pub fn poll(&mut self) -> Result<Observation, String> {
        let n = self.ctx.nodes.len();
        let mut why = Vec::new();
        for i in (0..n).map(|k| (self.preferred + k) % n) {
            let node = &self.ctx.nodes[i];
            let mut conn = self.ctx.conn(node);
            let member = match conn.request("GET", &self.path, None) {
                Ok(r) if r.status == 200 => r.json(),
                Ok(r) => {
                    why.push(format!(
                        "{}: HTTP {} {}",
                        node.addr,
                        r.status,
                        r.error_message()
                    ));
                    continue;
                }
                Err(e) => {
                    why.push(e.to_string());
                    continue;
                }
            };
            let Some(member) = member else {
                why.push(format!("{}: the answer is not JSON", node.addr));
                continue;
            };
            self.preferred = i;
            // Progress only: a node that cannot say still told the member's state.
            let migration = conn
                .request("GET", CLUSTER_PATH, None)
                .ok()
                .filter(|r| r.status == 200)
                .and_then(|r| r.json())
                .map(|mut v| v["migration"].take())
                .unwrap_or_default();
            return Ok(Observation { member, migration });
        }
        Err(why.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A clock that moves only when slept on.
    struct FakeClock(Duration);

    impl Clock for FakeClock {
        fn elapsed(&self) -> Duration {
            self.0
        }
        fn sleep(&mut self, d: Duration) {
            self.0 += d;
        }
    }

    fn member(status: &str, epoch: u64, settled: bool) -> Observation {
        Observation {
            member: json!({"node_id": "node4", "status": status, "epoch": epoch,
                           "settled": settled, "safe_to_stop": status == "removed"}),
            migration: Value::Null,
        }
    }

    const SCHEDULE: Schedule = Schedule {
        limit: Duration::from_secs(10),
        interval: Duration::from_millis(500),
    };

    #[test]
    fn waits_until_active_and_settled_and_reports_changes_once() {
        let mut answers = vec![
            member("joining", 6, false),
            member("joining", 6, false),
            member("active", 7, false),
            member("active", 7, true),
        ]
        .into_iter();
        let mut clock = FakeClock(Duration::ZERO);
        let mut lines = Vec::new();
        let outcome = wait_for(
            Goal::Active,
            SCHEDULE,
            &mut clock,
            &mut || Ok(answers.next().expect("no poll after the goal")),
            &mut |l| lines.push(format!("{l:?}")),
        );
        let Outcome::Reached(v) = outcome else {
            panic!("{outcome:?}")
        };
        assert_eq!(v["epoch"], 7);
        assert_eq!(
            lines,
            [
                "Progress(\"node4: joining at epoch 6, not settled\")",
                "Progress(\"node4: active at epoch 7, not settled\")",
                "Progress(\"node4: active at epoch 7, settled\")"
            ]
        );
        assert_eq!(clock.0, Duration::from_millis(1500), "three sleeps");
    }

    #[test]
    fn times_out_with_the_last_state_after_a_poll_at_the_limit() {
        let mut polls = 0;
        let mut clock = FakeClock(Duration::ZERO);
        let schedule = Schedule {
            limit: Duration::from_millis(1200),
            interval: Duration::from_millis(500),
        };
        let outcome = wait_for(
            Goal::SafeToStop,
            schedule,
            &mut clock,
            &mut || {
                polls += 1;
                Ok(member("leaving", 3, false))
            },
            &mut |_| {},
        );
        let Outcome::TimedOut { last, error } = outcome else {
            panic!("{outcome:?}")
        };
        assert_eq!(last.unwrap()["status"], "leaving");
        assert!(error.is_none());
        // At 0, 500, 1000 and 1200 ms: the last sleep is cut to the limit.
        assert_eq!((polls, clock.0), (4, Duration::from_millis(1200)));
    }

    #[test]
    fn failures_are_reported_once_and_do_not_end_the_wait() {
        let mut answers = vec![
            Ok(member("leaving", 3, false)),
            Err("cannot connect to a:1".to_string()),
            Err("cannot connect to a:1".to_string()),
            Ok(member("removed", 4, true)),
        ]
        .into_iter();
        let mut lines = Vec::new();
        let outcome = wait_for(
            Goal::SafeToStop,
            SCHEDULE,
            &mut FakeClock(Duration::ZERO),
            &mut || answers.next().expect("no poll after the goal"),
            &mut |l| lines.push(format!("{l:?}")),
        );
        assert!(matches!(outcome, Outcome::Reached(_)), "{outcome:?}");
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert_eq!(lines[1], "Failure(\"cannot connect to a:1\")");
        assert_eq!(lines[2], "Progress(\"node4: removed at epoch 4, settled\")");
    }

    #[test]
    fn progress_shows_what_the_migration_moved() {
        let mut seen = member("joining", 6, false);
        seen.migration = json!({"running": true, "epoch": 6, "keys_moved": 5,
                                "bytes_moved": 10, "keys_scanned": 8, "started_unix_ms": 1});
        assert_eq!(
            progress_line(&seen),
            "node4: joining at epoch 6, not settled; migration of epoch 6: 5 keys (10 B) moved, \
             8 scanned"
        );
    }

    #[test]
    fn goals_and_paths() {
        assert!(!Goal::Active.reached(&member("active", 7, false).member));
        assert!(Goal::Active.reached(&member("active", 7, true).member));
        assert!(!Goal::SafeToStop.reached(&member("leaving", 7, true).member));
        assert!(Goal::SafeToStop.reached(&member("removed", 8, true).member));
        assert_eq!(member_path("node-4.a_b"), "/admin/cluster/nodes/node-4.a_b");
    }
}
