//! Fabricated histories the checker must flag, and ones it must accept. Times are milliseconds
//! after the start; each case uses key 1 unless it says otherwise.

use super::*;
use crate::faults::history::{Fab, History, Op, Outcome};

fn run(f: &Fab, events: Vec<Event>) -> (usize, usize, usize, usize) {
    let h = History {
        start: f.start,
        events,
    };
    let r = check(&h);
    eprint!("{}", r.details(&h, 5));
    (r.stale, r.lost, r.undone, r.divergent)
}

#[test]
fn a_404_after_an_acknowledged_put_is_stale() {
    let f = Fab::new();
    let h = vec![f.put(1, 1, (0, 10)), f.get(1, None, (20, 30))];
    assert_eq!(run(&f, h), (1, 0, 0, 0));
}

#[test]
fn an_older_value_than_the_acknowledged_one_is_stale() {
    let f = Fab::new();
    let h = vec![
        f.put(1, 1, (0, 10)),
        f.put(1, 2, (20, 30)),
        f.get(1, Some(1), (40, 50)),
    ];
    assert_eq!(run(&f, h), (1, 0, 0, 0));
}

#[test]
fn a_value_after_an_acknowledged_delete_is_stale() {
    let f = Fab::new();
    let h = vec![
        f.put(1, 1, (0, 10)),
        f.del(1, (20, 30)),
        f.get(1, Some(1), (40, 50)),
    ];
    assert_eq!(run(&f, h), (1, 0, 0, 0));
}

#[test]
fn a_value_nobody_wrote_is_stale() {
    let f = Fab::new();
    let h = vec![f.put(1, 1, (0, 10)), f.get(1, Some(9), (20, 30))];
    assert_eq!(run(&f, h), (1, 0, 0, 0));
    // ... or one that was written only after the read had completed.
    let h = vec![f.get(1, Some(1), (0, 10)), f.put(1, 1, (20, 30))];
    assert_eq!(run(&f, h), (1, 0, 0, 0));
}

#[test]
fn a_read_overlapping_the_acknowledged_write_may_see_either_value() {
    let f = Fab::new();
    // The GET was invoked before the PUT of 2 was acknowledged.
    let h = vec![
        f.put(1, 1, (0, 10)),
        f.put(1, 2, (20, 40)),
        f.get(1, Some(1), (30, 50)),
        f.get(1, Some(2), (35, 45)),
    ];
    assert_eq!(run(&f, h), (0, 0, 0, 0));
}

#[test]
fn unanswered_writes_and_deletes_may_explain_a_read() {
    let f = Fab::new();
    let h = vec![
        f.put(1, 1, (0, 10)),
        f.put_unknown(1, 2, (20, 3020)),
        f.get(1, Some(2), (3030, 3040)),
        f.get(1, Some(1), (3050, 3060)),
        f.ev(
            1,
            Op::Delete,
            None,
            (3070, 3080),
            Outcome::Failed("HTTP 504".into()),
        ),
        f.get(1, None, (3090, 3100)),
    ];
    assert_eq!(run(&f, h), (0, 0, 0, 0));
    // After an acknowledged DELETE, only a PUT invoked later explains a value.
    let h = vec![
        f.put(1, 1, (0, 10)),
        f.del(1, (20, 30)),
        f.put_unknown(1, 3, (40, 50)),
        f.get(1, Some(3), (60, 70)),
        f.get(1, None, (80, 90)),
    ];
    assert_eq!(run(&f, h), (0, 0, 0, 0));
}

#[test]
fn an_unanswered_write_older_than_the_floor_does_not_explain_a_read() {
    let f = Fab::new();
    let h = vec![
        f.put_unknown(1, 1, (0, 10)),
        f.put(1, 2, (20, 30)),
        f.get(1, Some(1), (40, 50)),
    ];
    assert_eq!(run(&f, h), (1, 0, 0, 0));
}

#[test]
fn failed_reads_and_reads_of_never_written_keys_are_not_anomalies() {
    let f = Fab::new();
    let h = vec![
        f.get(2, None, (0, 10)),
        f.put(1, 1, (0, 10)),
        f.ev(1, Op::Get, None, (20, 30), Outcome::Unknown("reset".into())),
        f.ev(
            1,
            Op::Get,
            None,
            (40, 50),
            Outcome::Failed("HTTP 502".into()),
        ),
    ];
    assert_eq!(run(&f, h), (0, 0, 0, 0));
}

#[test]
fn final_reads_find_lost_writes_undone_deletes_and_divergence() {
    let f = Fab::new();
    let h = vec![
        // key 1: acknowledged 2, later unanswered 3; final 1 is lost.
        f.put(1, 1, (0, 10)),
        f.put(1, 2, (20, 30)),
        f.put_unknown(1, 3, (40, 50)),
        f.final_get(1, 0, Some(1), 100),
        f.final_get(1, 1, Some(1), 100),
        // key 2: deleted last, comes back.
        f.put(2, 1, (0, 10)),
        f.del(2, (20, 30)),
        f.final_get(2, 0, Some(1), 100),
        // key 3: both legal (the unanswered write may have landed on one only), but they differ.
        f.put(3, 1, (0, 10)),
        f.put_unknown(3, 2, (20, 30)),
        f.final_get(3, 0, Some(1), 100),
        f.final_get(3, 1, Some(2), 100),
        // key 4: acknowledged and read back everywhere.
        f.put(4, 5, (0, 10)),
        f.final_get(4, 0, Some(5), 100),
        f.final_get(4, 1, Some(5), 100),
    ];
    assert_eq!(run(&f, h), (0, 1, 1, 1));
}

#[test]
fn a_failed_final_read_is_divergent() {
    let f = Fab::new();
    let mut failed = f.final_get(1, 1, None, 100);
    failed.outcome = Outcome::Failed("HTTP 502".into());
    let h = vec![
        f.put(1, 1, (0, 10)),
        f.final_get(1, 0, Some(1), 100),
        failed,
    ];
    assert_eq!(run(&f, h), (0, 0, 0, 1));
}

#[test]
fn figures_count_outcomes_and_the_longest_outage() {
    let f = Fab::new();
    let h = History {
        start: f.start,
        events: vec![
            f.put(1, 1, (0, 10)),
            f.get(1, Some(1), (10, 20)),
            f.ev(
                1,
                Op::Get,
                None,
                (30, 330),
                Outcome::Unknown("timeout".into()),
            ),
            f.ev(
                1,
                Op::Put,
                Some(2),
                (340, 350),
                Outcome::Failed("connect".into()),
            ),
            f.put(1, 3, (360, 2020)),
            f.get(1, Some(3), (2030, 2040)),
            f.final_get(1, 0, Some(3), 3000),
        ],
    };
    let r = check(&h);
    assert_eq!((r.ops, r.acked, r.failed, r.unknown), (6, 4, 1, 1));
    assert!(r.clean(), "{}", r.details(&h, 5));
    assert_eq!(r.unavailable, Duration::from_millis(2000));
}
