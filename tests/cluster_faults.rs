//! Jepsen-style fault suite: does the cluster lose anything it acknowledged?
//!
//! Each scenario starts three real `cache-node` processes (`replicas: 2` when the build knows the
//! key), runs the recording load of `tests/faults/load.rs` (six workers, each the only writer of
//! its keys, PUT/DELETE/GET round-robin over the nodes), injects one kind of fault on a schedule
//! (repeated while the run lasts; during the first one the load deletes its doomed keys for
//! good, so deletes made during a fault are checked too), heals, waits until every node is
//! healthy and caught up, reads every key through every node, and checks the history
//! (`tests/faults/checker.rs`): no stale read, lost write, undone delete or disagreement between
//! nodes; failures and unanswered requests are only counted, and the longest time nothing
//! succeeded must stay under 10 s.
//!
//! Short by default (`FAULTS_SECS=10`, `FAULTS_KEYS=300`, scenarios run one at a time);
//! `scripts/chaos.sh` runs the long version. Figures: one `faults|` line per scenario, shown by
//!
//! ```text
//! cargo test --test cluster_faults -- --nocapture
//! ```

#[path = "common/cluster.rs"]
mod cluster_common;
mod common;
mod faults;

use std::thread::sleep;
use std::time::Duration;

use cluster_common::{owner, owner_without};
use faults::schedule::run;

/// How long survivors may take to mark a member down or up: many probe rounds on a busy host.
const SEEN_LIMIT: Duration = Duration::from_secs(10);
/// Load between the steps of a rolling restart, so every intermediate state is exercised.
const STEP_PAUSE: Duration = Duration::from_secs(1);

/// Control: the same load and checks with no fault. It must pass on any build, so an anomaly in
/// the scenarios below is the fault's doing, not the harness's.
#[test]
fn control_without_faults() {
    run("control", 48, false, |_, _| sleep(Duration::from_secs(2)));
}

/// a. kill -9 a node (a different one each cycle), restart it 2 s later; no data_dir.
#[test]
fn kill9_then_restart_after_2s() {
    run("kill9-restart", 40, false, |x, n| {
        let v = n % 3;
        x.kill9(v);
        x.load.retire();
        sleep(Duration::from_secs(2));
        x.restart(v);
        x.settle();
    });
}

/// One rolling upgrade: SIGTERM each node in turn, start it again, wait until it serves.
fn rolling_restart(x: &mut faults::schedule::Ctx) {
    for i in 0..3 {
        x.terminate(i);
        x.load.retire();
        x.restart(i);
        x.settle();
        sleep(STEP_PAUSE);
    }
}

/// b. SIGTERM rolling restart of all three nodes, each with a data_dir (warm restart).
#[test]
fn rolling_sigterm_restart_with_data_dir() {
    run("rolling-data-dir", 41, true, |x, _| rolling_restart(x));
}

/// c. The same rolling restart without data_dir: peers must hand the data back.
#[test]
fn rolling_sigterm_restart_without_data_dir() {
    run("rolling-no-data-dir", 42, false, |x, _| rolling_restart(x));
}

/// d. Freeze a node for 3 s while writes and deletes go to the other two, then thaw it.
#[test]
fn sigstop_for_3s_while_the_others_take_writes() {
    run("sigstop-3s", 43, false, |x, n| {
        let v = (n + 1) % 3;
        x.load.avoid(Some(v));
        x.freeze(v);
        x.load.retire();
        sleep(Duration::from_secs(3));
        x.thaw(v);
        x.settle();
        x.load.avoid(None);
    });
}

/// e. A replica down for 4 s while writes continue through the others (hinted hand-off), then
/// restarted.
#[test]
fn replica_down_for_4s_during_writes() {
    run("replica-down-4s", 44, false, |x, n| {
        let v = (n + 2) % 3;
        x.load.avoid(Some(v));
        x.kill9(v);
        x.load.retire();
        sleep(Duration::from_secs(4));
        x.restart(v);
        x.settle();
        x.load.avoid(None);
    });
}

/// f. kill -9 and restart at once on the same address, before peers can mark it down
/// (`fail_after` 2 probes 200 ms apart).
#[test]
fn restart_faster_than_fail_after() {
    run("fast-restart", 45, false, |x, n| {
        let v = n % 3;
        x.kill9(v);
        x.load.retire();
        x.restart(v);
        x.settle();
        sleep(Duration::from_millis(500));
    });
}

/// g. Stranded copy: freeze node1 (owner of some keys), write its keys through the two others
/// until node1 is seen down (node2 takes over part of them), thaw it, then restart node3, the
/// unrelated member (a membership change while node1 holds older copies): no value may go back.
#[test]
fn stranded_copy_then_an_unrelated_membership_change() {
    let ring = cluster_common::ring();
    let (frozen, holder, unrelated) = (0, 1, 2);
    let stranded = (0..300)
        .map(|i| format!("k{i}"))
        .filter(|k| owner(&ring, k) == frozen && owner_without(&ring, k, frozen) == holder)
        .count();
    assert!(
        stranded > 10,
        "node1 owns keys node2 takes over: {stranded}"
    );
    run("stranded-copy", 46, false, |x, _| {
        x.load.avoid(Some(frozen));
        x.freeze(frozen);
        x.wait_seen(frozen, "down", SEEN_LIMIT);
        x.load.retire();
        sleep(Duration::from_secs(2));
        x.thaw(frozen);
        x.settle();
        x.load.avoid(None);
        x.kill9(unrelated);
        x.restart(unrelated);
        x.settle();
    });
}

/// h. Import 3,000 entries through node1 while node2 is frozen.
#[test]
fn import_while_a_member_is_frozen() {
    faults::import::run(47);
}
