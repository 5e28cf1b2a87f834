//! Scenario h: `/admin/import` of a 3,000-entry document through one node while another member
//! is frozen (SIGSTOP). The import must answer within about `request_timeout` (never wait for the
//! 30 s body timeout), and afterwards every imported key must read back its imported value through
//! every node, unless the answer was a 502 naming the frozen member: then that member's keys may
//! be absent (but never hold anything else).

use std::time::{Duration, Instant};

use super::client::{Client, Fail};
use super::history::Op;
use super::load::classify;
use super::schedule::{node_options, serial, settle, PROBING, SETTLE_LIMIT, THREADS};
use crate::cluster_common::{cluster_addrs, key_path, owner, ProcCluster, IDS};

pub const ENTRIES: u64 = 3000;
/// The import may need one `request_timeout` (1 s) per member it could not reach, plus the work
/// of 3,000 entries on a loaded debug build; far below the 30 s body timeout it must not reach.
const IMPORT_BOUND: Duration = Duration::from_secs(10);
/// The client waits longer than the bound, so a slow answer is measured rather than cut off.
const IMPORT_WAIT: Duration = Duration::from_secs(40);

fn key(i: u64) -> String {
    format!("imp-{i}")
}

/// An export document (docs/api.md) with `imp-<i>` = `{"n": i+1}`.
fn document() -> String {
    let entries: Vec<String> = (0..ENTRIES)
        .map(|i| format!("{{\"key\":\"{}\",\"value\":{{\"n\":{}}}}}", key(i), i + 1))
        .collect();
    format!(
        "{{\"format\":\"distributed-cache-export\",\"version\":1,\"node_id\":\"faults\",\
         \"exported_at\":\"2026-01-01T00:00:00.000Z\",\"entries\":[\n{}\n],\"count\":{ENTRIES},\
         \"nodes\":[\"node1\",\"node2\",\"node3\"],\"missing\":[]}}",
        entries.join(",\n")
    )
}

/// What the read-back found.
#[derive(Default, Debug)]
struct Tally {
    ok: u64,
    /// Absent, and the answer said its member's part is unknown.
    excused: u64,
    missing: u64,
    wrong: u64,
    divergent: u64,
}

pub fn run(test_no: u8) {
    let _serial = serial();
    let addrs = cluster_addrs(test_no);
    let (_, notes) = node_options(&addrs, None);
    let extra = |_: &std::path::Path, _: usize| node_options(&addrs, None).0;
    let c = ProcCluster::start_each(test_no, "faults-import", THREADS, PROBING, &extra);
    let (paused, via) = (1, 0);
    let doc = document();

    c.signal(paused, libc::SIGSTOP);
    let t = Instant::now();
    let answer = Client::with_timeout(addrs[via], IMPORT_WAIT).call(
        "POST",
        "/admin/import",
        Some(doc.as_bytes()),
    );
    let took = t.elapsed();
    c.signal(paused, libc::SIGCONT);
    let (status, reply) = match &answer {
        Ok((status, body)) => (
            status.to_string(),
            serde_json::from_slice(body).unwrap_or_default(),
        ),
        Err(Fail::Connect(e) | Fail::Lost(e)) => {
            (format!("no answer ({e})"), serde_json::Value::Null)
        }
    };
    let excuse = answer.as_ref().is_ok_and(|(s, _)| *s == 502)
        && reply["error"]
            .as_str()
            .is_some_and(|e| e.contains(IDS[paused]));
    let settled = settle(&c.addrs, SETTLE_LIMIT).unwrap_or_else(|e| {
        panic!(
            "import: not settled within {SETTLE_LIMIT:?}: {e}; logs:\n{}",
            c.logs()
        )
    });
    let tally = read_back(&c, excuse.then_some(paused));
    eprintln!(
        "faults| {:<20} | import {status} in {:.2}s, imported {}/{ENTRIES} | ok {} excused {} missing {} \
         wrong {} divergent {} | {notes} settle={:.1}s",
        "import-paused",
        took.as_secs_f64(),
        reply["imported"],
        tally.ok,
        tally.excused,
        tally.missing,
        tally.wrong,
        tally.divergent,
        settled.as_secs_f64()
    );
    assert!(
        took < IMPORT_BOUND,
        "import answered after {took:?}: {status} {reply}"
    );
    assert!(
        matches!(answer, Ok((200 | 502, _))),
        "import answer: {status} {reply}"
    );
    assert_eq!(
        (tally.missing, tally.wrong, tally.divergent),
        (0, 0, 0),
        "{tally:?}; import: {status} {reply}"
    );
}

/// Read every imported key through every node.
fn read_back(c: &ProcCluster, excused_member: Option<usize>) -> Tally {
    let mut clients: Vec<Client> = c.addrs.iter().map(|a| Client::new(*a)).collect();
    let mut tally = Tally::default();
    for i in 0..ENTRIES {
        let path = key_path(&key(i));
        let reads: Vec<Option<Option<u64>>> = clients
            .iter_mut()
            .map(|client| {
                let (outcome, value) = classify(Op::Get, client.call("GET", &path, None));
                matches!(outcome, super::history::Outcome::Ok(_)).then_some(value)
            })
            .collect();
        if reads.iter().any(|r| *r != reads[0]) {
            tally.divergent += 1;
        }
        match reads[0] {
            Some(Some(n)) if n == i + 1 => tally.ok += 1,
            Some(None) if excused_member == Some(owner(&c.ring, &key(i))) => tally.excused += 1,
            Some(None) => tally.missing += 1,
            _ => tally.wrong += 1,
        }
    }
    tally
}
