//! The history-recording load: `workers` threads, each the only writer of its own keys (key i
//! belongs to worker i % workers), so each key's operations are sequential and every value a key
//! ever held is known. A worker loops until stopped: it picks one of its keys and PUTs the next
//! value of that key's counter (`{"n": counter}`, strictly increasing, also across failed tries),
//! DELETEs it (10%) or GETs it (50%), sending each request to the next node round-robin (so two
//! requests in three are forwarded), skipping a node the schedule asked to avoid.
//!
//! Every fourth key is *cold*: written once by the preload, then only read. The hot keys are
//! rewritten every few seconds, which would hide a loss from the final reads; a cold key's final
//! read still has to show the preload's value after every fault. Another fourth are *doomed*:
//! hot until the schedule calls [`Load::retire`] (during a fault), then deleted at once and only
//! read afterwards, so a delete the cluster forgets (no tombstone) shows in the final reads.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::client::{Client, Fail};
use super::history::{Event, History, Op, Outcome};
use crate::cluster_common::{key_path, Rng};

/// Pause between a worker's operations: leaves the nodes (and their probes) CPU on a 2-core host.
const THINK: Duration = Duration::from_millis(2);
/// Attempts of a final read whose connection failed (a transport hiccup is not a lost write).
const FINAL_TRIES: usize = 3;

/// The name of key `i`.
pub fn key_name(i: u32) -> String {
    format!("k{i}")
}

/// A key the load only reads after the preload.
pub fn is_cold(key: u32) -> bool {
    key % 4 == 3
}

/// A key deleted for good when the schedule says so.
pub fn is_doomed(key: u32) -> bool {
    key % 4 == 1
}

/// What the schedule tells the workers while they run.
struct Control {
    stop: AtomicBool,
    /// Index of a node to send nothing to; `usize::MAX` for none.
    avoid: AtomicUsize,
    /// Nodes (bit i = node i) to send nothing to besides `avoid`: not started yet, or gone for
    /// good (a membership change added or removed them).
    idle: AtomicU64,
    /// Delete the doomed keys now, and never write them again.
    retire: AtomicBool,
}

/// A running load; [`Load::stop`] returns its history.
pub struct Load {
    start: Instant,
    control: Arc<Control>,
    workers: Vec<JoinHandle<Vec<Event>>>,
}

impl Load {
    /// Start the workers; returns once each has written value 1 to each of its keys (the preload,
    /// part of the history).
    pub fn start(addrs: &[SocketAddr], keys: u32, workers: usize) -> Load {
        // `FAULTS_READERS` (0): extra threads that only read, three quarters of the time one of
        // the first three keys (a skewed load whose top keys are hot on every node).
        let readers: usize = std::env::var("FAULTS_READERS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        Load::start_with(addrs, keys, workers, readers, 0)
    }

    /// [`Load::start`] with `readers` read-only threads, sending nothing to the nodes in `idle`
    /// (bit i = node i; see [`Load::set_idle`]) from the preload on.
    pub fn start_with(
        addrs: &[SocketAddr],
        keys: u32,
        workers: usize,
        readers: usize,
        idle: u64,
    ) -> Load {
        assert!(addrs.len() <= 64, "the idle mask has 64 bits");
        let start = Instant::now();
        let control = Arc::new(Control {
            stop: AtomicBool::new(false),
            avoid: AtomicUsize::new(usize::MAX),
            idle: AtomicU64::new(idle),
            retire: AtomicBool::new(false),
        });
        let ready = Arc::new(Barrier::new(workers + readers + 1));
        let handles = (0..workers + readers)
            .map(|w| {
                let mut worker = Worker {
                    reader: w >= workers,
                    keys: (0..keys)
                        .filter(|k| w >= workers || *k as usize % workers == w)
                        .collect(),
                    counters: vec![0; keys as usize],
                    clients: addrs.iter().map(|a| Client::new(*a)).collect(),
                    rng: Rng(0xFA17 + w as u64),
                    next_node: w,
                    events: Vec::new(),
                    doomed: None,
                };
                let (control, ready) = (control.clone(), ready.clone());
                std::thread::spawn(move || {
                    if !worker.reader {
                        worker.preload(control.idle.load(Ordering::SeqCst));
                    }
                    ready.wait();
                    worker.run(&control);
                    worker.events
                })
            })
            .collect();
        ready.wait();
        Load {
            start,
            control,
            workers: handles,
        }
    }

    /// When the load (and its history's clock) started.
    pub fn started(&self) -> Instant {
        self.start
    }

    /// Send nothing to node `node` (None: use every node again).
    pub fn avoid(&self, node: Option<usize>) {
        self.control
            .avoid
            .store(node.unwrap_or(usize::MAX), Ordering::SeqCst);
    }

    /// Send nothing to the nodes whose bit is set in `mask` (bit i = node i), on top of
    /// [`Load::avoid`]; 0 uses every node again.
    #[allow(dead_code)] // used by `tests/cluster_elastic.rs`, not by the fault suite
    pub fn set_idle(&self, mask: u64) {
        self.control.idle.store(mask, Ordering::SeqCst);
    }

    /// Delete every doomed key (each worker at once, retrying until acknowledged); from then on
    /// they are only read. Idempotent.
    pub fn retire(&self) {
        self.control.retire.store(true, Ordering::SeqCst);
    }

    pub fn stop(mut self) -> History {
        self.control.stop.store(true, Ordering::SeqCst);
        let mut h = History::new(self.start);
        for w in std::mem::take(&mut self.workers) {
            h.events.extend(w.join().expect("load worker"));
        }
        h
    }
}

impl Drop for Load {
    /// A scenario that panicked never called [`Load::stop`]: end the workers anyway, or they
    /// would go on loading the host (and the dead nodes' addresses) during the next scenario.
    fn drop(&mut self) {
        self.control.stop.store(true, Ordering::SeqCst);
    }
}

struct Worker {
    /// Only reads, skewed (see `FAULTS_READERS`); every key is in `keys`.
    reader: bool,
    keys: Vec<u32>,
    /// The last value attempted for each key (indexed by key, only own keys used).
    counters: Vec<u64>,
    clients: Vec<Client>,
    rng: Rng,
    next_node: usize,
    events: Vec<Event>,
    /// After `retire`: own doomed keys whose DELETE is not acknowledged yet.
    doomed: Option<Vec<u32>>,
}

impl Worker {
    fn preload(&mut self, idle: u64) {
        for i in 0..self.keys.len() {
            let node = self.pick_node(usize::MAX, idle);
            self.execute(self.keys[i], Op::Put, node);
        }
    }

    fn run(&mut self, control: &Control) {
        while !control.stop.load(Ordering::SeqCst) {
            if !self.reader && self.doomed.is_none() && control.retire.load(Ordering::SeqCst) {
                self.doomed = Some(
                    self.keys
                        .iter()
                        .copied()
                        .filter(|k| is_doomed(*k))
                        .collect(),
                );
            }
            let (key, op) = self.next_op();
            let avoid = control.avoid.load(Ordering::SeqCst);
            let node = self.pick_node(avoid, control.idle.load(Ordering::SeqCst));
            self.execute(key, op, node);
            if let Some(pending) = self.doomed.as_mut().filter(|p| p.first() == Some(&key)) {
                // Acknowledged: done with it; otherwise retry it after the others.
                let first = pending.remove(0);
                if !self.events.last().is_some_and(Event::acked_write) {
                    pending.push(first);
                }
            }
            if !self.reader {
                std::thread::sleep(THINK);
            }
        }
    }

    /// A pending doomed key's DELETE first; else a random own key: cold and retired doomed keys
    /// are only read, hot ones get the PUT/DELETE/GET mix.
    fn next_op(&mut self) -> (u32, Op) {
        if self.reader {
            let top = self.rng.below(4) < 3;
            let n = if top { 3 } else { self.keys.len() };
            return (self.keys[self.rng.below(n.min(self.keys.len()))], Op::Get);
        }
        if let Some(&key) = self.doomed.as_ref().and_then(|p| p.first()) {
            return (key, Op::Delete);
        }
        let key = self.keys[self.rng.below(self.keys.len())];
        let op = match self.rng.below(100) {
            _ if is_cold(key) || (is_doomed(key) && self.doomed.is_some()) => Op::Get,
            0..=9 => Op::Delete,
            10..=49 => Op::Put,
            _ => Op::Get,
        };
        (key, op)
    }

    /// The next node round-robin that is neither `avoid` nor in `idle` (if every node is, the
    /// next one anyway: its failures are recorded like any other).
    fn pick_node(&mut self, avoid: usize, idle: u64) -> usize {
        let n = self.clients.len();
        let usable = |i: usize| i != avoid && idle & (1 << i) == 0;
        let first = (self.next_node + 1) % n;
        self.next_node = (1..=n)
            .map(|step| (self.next_node + step) % n)
            .find(|&i| usable(i))
            .unwrap_or(first);
        self.next_node
    }

    fn execute(&mut self, key: u32, op: Op, node: usize) {
        let path = key_path(&key_name(key));
        let value = (op == Op::Put).then(|| {
            self.counters[key as usize] += 1;
            self.counters[key as usize]
        });
        let body = value.map(|n| format!("{{\"value\":{{\"n\":{n}}}}}"));
        let invoke = Instant::now();
        let answer = self.clients[node].call(op.name(), &path, body.as_deref().map(str::as_bytes));
        let complete = Instant::now();
        let (outcome, read) = classify(op, answer);
        self.events.push(Event {
            key,
            op,
            node: node as u8,
            value: if op == Op::Get { read } else { value },
            invoke,
            complete,
            outcome,
            final_read: false,
        });
    }
}

/// The outcome of an answer, and for a GET the value read.
pub fn classify(op: Op, answer: Result<(u16, Vec<u8>), Fail>) -> (Outcome, Option<u64>) {
    match answer {
        Err(Fail::Connect(why)) => (Outcome::Failed(format!("connect: {why}")), None),
        Err(Fail::Lost(why)) => (Outcome::Unknown(why), None),
        Ok((404, _)) if op != Op::Put => (Outcome::Ok(404), None),
        Ok((200, body)) if op == Op::Get => match read_n(&body) {
            Some(n) => (Outcome::Ok(200), Some(n)),
            None => (
                Outcome::Failed(format!(
                    "unreadable body {}",
                    String::from_utf8_lossy(&body)
                )),
                None,
            ),
        },
        Ok((status @ 200..=299, _)) => (Outcome::Ok(status), None),
        Ok((status, _)) => (Outcome::Failed(format!("HTTP {status}")), None),
    }
}

/// `n` of a GET answer `{"key":..,"value":{"n":N},..}`.
fn read_n(body: &[u8]) -> Option<u64> {
    let doc: serde_json::Value = serde_json::from_slice(body).ok()?;
    doc["value"]["n"].as_u64()
}

/// Read every key through every node (after the cluster settled) and append the reads to the
/// history as final reads.
pub fn final_reads(addrs: &[SocketAddr], keys: u32, h: &mut History) {
    let nodes: Vec<usize> = (0..addrs.len()).collect();
    final_reads_on(addrs, &nodes, keys, h);
}

/// [`final_reads`] through the nodes `nodes` (indices into `addrs`) only: the members left when
/// the membership changed.
pub fn final_reads_on(addrs: &[SocketAddr], nodes: &[usize], keys: u32, h: &mut History) {
    let mut clients: Vec<(usize, Client)> =
        nodes.iter().map(|&i| (i, Client::new(addrs[i]))).collect();
    for key in 0..keys {
        let path = key_path(&key_name(key));
        for (node, client) in clients.iter_mut() {
            let mut tries = 0;
            let (invoke, answer) = loop {
                let invoke = Instant::now();
                let answer = client.call("GET", &path, None);
                tries += 1;
                if answer.is_ok() || tries == FINAL_TRIES {
                    break (invoke, answer);
                }
                std::thread::sleep(Duration::from_millis(200));
            };
            let (outcome, value) = classify(Op::Get, answer);
            h.events.push(Event {
                key,
                op: Op::Get,
                node: *node as u8,
                value,
                invoke,
                complete: Instant::now(),
                outcome,
                final_read: true,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn worker(nodes: usize) -> Worker {
        let addr: SocketAddr = "127.0.0.1:9".parse().expect("address");
        Worker {
            reader: false,
            keys: vec![0],
            counters: vec![0],
            // No connection is made until a call.
            clients: (0..nodes).map(|_| Client::new(addr)).collect(),
            rng: Rng(1),
            next_node: 0,
            events: Vec::new(),
            doomed: None,
        }
    }

    fn picks(w: &mut Worker, avoid: usize, idle: u64, n: usize) -> Vec<usize> {
        (0..n).map(|_| w.pick_node(avoid, idle)).collect()
    }

    #[test]
    fn nodes_are_picked_round_robin_skipping_the_avoided_and_idle_ones() {
        let mut w = worker(5);
        assert_eq!(picks(&mut w, usize::MAX, 0, 6), [1, 2, 3, 4, 0, 1]);
        assert_eq!(picks(&mut w, 3, 0, 4), [2, 4, 0, 1]);
        // Nodes 4 and 5 not started yet, node 2 avoided: only 1 and 3 (indices 0 and 2).
        assert_eq!(picks(&mut w, 1, 0b11000, 4), [2, 0, 2, 0]);
        // Every node unusable: the next one anyway (its failures are recorded).
        assert_eq!(picks(&mut w, usize::MAX, 0b11111, 2), [1, 2]);
    }
}
