//! The record of a fault run: one [`Event`] per operation a client attempted, with the times it
//! was invoked and completed and what came back. The checker reads nothing else, so a history
//! can be fabricated in a unit test exactly as the load records one.

use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Put,
    Delete,
    Get,
}

impl Op {
    pub fn name(self) -> &'static str {
        match self {
            Op::Put => "PUT",
            Op::Delete => "DELETE",
            Op::Get => "GET",
        }
    }
}

/// What the client learnt about an operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// An expected answer: 2xx, or 404 for GET (absent) and DELETE (already absent).
    Ok(u16),
    /// A definite answer that is not one of those (e.g. 502/503/504), or no connection at all.
    Failed(String),
    /// Sent, but no answer (timeout, reset, EOF): the operation may or may not have landed.
    Unknown(String),
}

/// One attempted operation on one key.
#[derive(Clone, Debug)]
pub struct Event {
    /// Index of the key (the load names it `k<index>`).
    pub key: u32,
    pub op: Op,
    /// Index of the node the request was sent to.
    pub node: u8,
    /// PUT: the value written. GET: the value read (None = 404). DELETE: None.
    pub value: Option<u64>,
    pub invoke: Instant,
    pub complete: Instant,
    pub outcome: Outcome,
    /// A read of the final check, made after the faults healed and the cluster settled.
    pub final_read: bool,
}

impl Event {
    /// An expected answer arrived.
    pub fn succeeded(&self) -> bool {
        matches!(self.outcome, Outcome::Ok(_))
    }

    /// A write or delete the cluster acknowledged: the key is known to be in this state.
    pub fn acked_write(&self) -> bool {
        self.op != Op::Get && self.succeeded()
    }

    /// A read that returned a state of the key (a value or a 404).
    pub fn read_ok(&self) -> bool {
        self.op == Op::Get && self.succeeded()
    }
}

/// Every event of a run, and the instant the clock of the report starts.
#[derive(Debug)]
pub struct History {
    pub start: Instant,
    pub events: Vec<Event>,
}

impl History {
    pub fn new(start: Instant) -> History {
        History {
            start,
            events: Vec::new(),
        }
    }

    /// `t` as seconds since the start of the run, for reports.
    pub fn secs(&self, t: Instant) -> f64 {
        t.saturating_duration_since(self.start).as_secs_f64()
    }
}

/// Builds events for unit tests: times are milliseconds after `start`.
pub struct Fab {
    pub start: Instant,
}

impl Fab {
    pub fn new() -> Fab {
        Fab {
            start: Instant::now(),
        }
    }

    pub fn at(&self, ms: u64) -> Instant {
        self.start + Duration::from_millis(ms)
    }

    pub fn ev(
        &self,
        key: u32,
        op: Op,
        value: Option<u64>,
        span: (u64, u64),
        outcome: Outcome,
    ) -> Event {
        Event {
            key,
            op,
            node: 0,
            value,
            invoke: self.at(span.0),
            complete: self.at(span.1),
            outcome,
            final_read: false,
        }
    }

    pub fn put(&self, key: u32, n: u64, span: (u64, u64)) -> Event {
        self.ev(key, Op::Put, Some(n), span, Outcome::Ok(200))
    }

    pub fn put_unknown(&self, key: u32, n: u64, span: (u64, u64)) -> Event {
        self.ev(
            key,
            Op::Put,
            Some(n),
            span,
            Outcome::Unknown("timeout".into()),
        )
    }

    pub fn del(&self, key: u32, span: (u64, u64)) -> Event {
        self.ev(key, Op::Delete, None, span, Outcome::Ok(200))
    }

    pub fn get(&self, key: u32, read: Option<u64>, span: (u64, u64)) -> Event {
        let status = if read.is_some() { 200 } else { 404 };
        self.ev(key, Op::Get, read, span, Outcome::Ok(status))
    }

    pub fn final_get(&self, key: u32, node: u8, read: Option<u64>, at: u64) -> Event {
        let mut e = self.get(key, read, (at, at));
        e.node = node;
        e.final_read = true;
        e
    }
}
