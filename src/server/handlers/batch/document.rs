//! The batch document, `{"ops":[...]}`, read in place: the ops stay borrowed JSON text (what a
//! sub-batch sends a peer, verbatim) until each is checked on its own (`parse.rs`). A document
//! that is not JSON or not `{"ops":[...]}` is one 400 for the whole batch, naming the op where the
//! JSON broke ([`DocError`]); more than [`MAX_BATCH_OPS`] ops is one 413.

use std::borrow::Cow;
use std::fmt;

use serde::de::{DeserializeSeed, Error as _, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserializer;
use serde_json::value::RawValue;

/// Most operations one batch carries. Every op costs a parse, a placement and a result held in
/// memory until the whole answer is written, and a batch holds its connection (answers are in
/// request order) until its slowest op is done; 1000 keeps one batch to a few milliseconds of a
/// core's work, ten times a typical multi-get (DynamoDB's BatchGetItem takes 100).
pub(crate) const MAX_BATCH_OPS: usize = 1000;

/// Why a whole batch document is refused (one answer for the batch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DocError {
    /// 400: not JSON, or not `{"ops":[...]}`; `op` is the index of the op where it broke.
    Malformed { op: Option<usize>, why: String },
    /// 413: more than [`MAX_BATCH_OPS`] ops.
    TooMany,
}

impl DocError {
    /// The one place a document error becomes a status.
    pub(crate) fn status(&self) -> u16 {
        match self {
            DocError::Malformed { .. } => 400,
            DocError::TooMany => 413,
        }
    }
}

impl fmt::Display for DocError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DocError::Malformed { op: Some(i), why } => {
                write!(f, "invalid batch document: op {i}: {why}")
            }
            DocError::Malformed { op: None, why } => write!(
                f,
                "invalid batch document: {why}; expected {{\"ops\":[{{\"op\":\"get\",\"key\":\"k\"}},...]}}"
            ),
            DocError::TooMany => write!(
                f,
                "a batch carries at most {MAX_BATCH_OPS} ops; split it into several batches"
            ),
        }
    }
}

/// The ops of a batch document, each its JSON text as sent (borrowed from `body`).
pub(crate) fn ops(body: &[u8]) -> Result<Vec<&RawValue>, DocError> {
    let mut ops = Vec::new();
    let mut broke = None;
    let mut de = serde_json::Deserializer::from_slice(body);
    let parsed = de
        .deserialize_map(DocVisitor {
            ops: &mut ops,
            broke: &mut broke,
        })
        .and_then(|()| de.end());
    match (parsed, broke) {
        (Ok(()), _) => Ok(ops),
        (Err(_), Some(Broke::TooMany)) => Err(DocError::TooMany),
        (Err(e), Some(Broke::At(i))) => Err(DocError::Malformed {
            op: Some(i),
            why: crate::server::json_error::describe(&e),
        }),
        (Err(e), None) => Err(DocError::Malformed {
            op: None,
            why: crate::server::json_error::describe(&e),
        }),
    }
}

/// Where reading the ops array stopped.
#[derive(Clone, Copy)]
enum Broke {
    At(usize),
    TooMany,
}

/// The top level: exactly one field, `ops`.
struct DocVisitor<'s, 'de> {
    ops: &'s mut Vec<&'de RawValue>,
    broke: &'s mut Option<Broke>,
}

impl<'de> Visitor<'de> for DocVisitor<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let DocVisitor { ops, broke } = self;
        let mut seen = false;
        while let Some(name) = map.next_key::<Cow<'de, str>>()? {
            if name != "ops" {
                return Err(A::Error::unknown_field(&name, &["ops"]));
            }
            if seen {
                return Err(A::Error::duplicate_field("ops"));
            }
            seen = true;
            map.next_value_seed(OpsSeed {
                ops: &mut *ops,
                broke: &mut *broke,
            })?;
        }
        if !seen {
            return Err(A::Error::missing_field("ops"));
        }
        Ok(())
    }
}

/// The `ops` array: each element kept as raw JSON, at most [`MAX_BATCH_OPS`] of them.
struct OpsSeed<'s, 'de> {
    ops: &'s mut Vec<&'de RawValue>,
    broke: &'s mut Option<Broke>,
}

impl<'de> DeserializeSeed<'de> for OpsSeed<'_, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for OpsSeed<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        loop {
            let i = self.ops.len();
            if i == MAX_BATCH_OPS {
                // One element more is too many: stop reading there.
                return match seq.next_element::<IgnoredAny>() {
                    Ok(None) => Ok(()),
                    Ok(Some(_)) => {
                        *self.broke = Some(Broke::TooMany);
                        Err(A::Error::custom("too many ops"))
                    }
                    Err(e) => {
                        *self.broke = Some(Broke::At(i));
                        Err(e)
                    }
                };
            }
            match seq.next_element::<&'de RawValue>() {
                Ok(Some(op)) => self.ops.push(op),
                Ok(None) => return Ok(()),
                Err(e) => {
                    *self.broke = Some(Broke::At(i));
                    return Err(e);
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "document_tests.rs"]
mod tests;
