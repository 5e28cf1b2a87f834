//! Reading an import document in bounded memory, in two passes over the request body.
//!
//! [`Validator`] checks the whole document without copying any of it, a bounded number of
//! entries per [`Validator::step`], so the caller can yield in between and a 256 MiB document
//! does not hold its core (and the probes it answers) for seconds. The [`ImportDoc`] it returns
//! then hands the entries out as owned [`Entry`]s one window at a time ([`ImportDoc::windows`]):
//! peak memory is the body plus one window, not the body plus a copy of every entry.
//!
//! The top level (the members, the `entries` array) is walked here, byte by byte; every value is
//! parsed by serde_json where it starts, so errors keep serde's wording, and their position is
//! the one in the whole document.

use std::borrow::Cow;
use std::ops::Range;

use bytes::Bytes;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::entry::{check_entry, error_at, serde_error};
use super::{DocError, EXPORT_FORMAT, EXPORT_VERSION};
use crate::storage::version::Version;
use crate::storage::Entry;

/// The document's members, in the order "unknown field" errors list them.
const MEMBERS: [&str; 8] = [
    "format",
    "version",
    "node_id",
    "exported_at",
    "nodes",
    "missing",
    "entries",
    "count",
];
const FORMAT: usize = 0;
const VERSION: usize = 1;
const ENTRIES: usize = 6;
const COUNT: usize = 7;

/// What an entry may hold: `max_key_bytes` and `max_value_bytes` of the node's config.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    pub max_key: usize,
    pub max_value: usize,
}

/// How far [`Validator::step`] got.
pub(crate) enum Checked<'a> {
    /// Entries are left to check: call `step` again.
    More,
    /// The whole document is valid.
    Done(ImportDoc<'a>),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the opening `{`.
    Start,
    /// Between members (`first`: none read yet).
    Members { first: bool },
    /// Inside the `entries` array (`first`: no entry read yet).
    Entries { first: bool },
    /// After the closing `}`.
    End,
}

/// Checks a document without copying it: the whole of it before anything is stored, so a
/// corrupt or truncated file changes nothing. Resumable: see [`Validator::step`].
pub(crate) struct Validator<'a> {
    doc: &'a [u8],
    pos: usize,
    state: State,
    limits: Limits,
    /// Members met so far, one bit per index of [`MEMBERS`].
    seen: u8,
    format: Option<Cow<'a, str>>,
    version: Option<u32>,
    count: Option<u64>,
    /// Where the `entries` array starts (its `[`) and, once closed, ends (after its `]`).
    entries: Range<usize>,
    /// Entries checked so far, those with something to restore, and the highest version given.
    index: usize,
    live: usize,
    max_version: Version,
    /// Reused for each value's minified form (its size is what `max_value_bytes` bounds).
    scratch: Vec<u8>,
}

impl<'a> Validator<'a> {
    pub(crate) fn new(doc: &'a [u8], limits: Limits) -> Validator<'a> {
        Validator {
            doc,
            pos: 0,
            state: State::Start,
            limits,
            seen: 0,
            format: None,
            version: None,
            count: None,
            entries: 0..0,
            index: 0,
            live: 0,
            max_version: 0,
            scratch: Vec::new(),
        }
    }

    /// Check up to `max_entries` more entries (and the members around them), stopping early
    /// once this step read `max_bytes` of document. An error names the problem and where it
    /// is; the validator must not be stepped again after one.
    pub(crate) fn step(
        &mut self,
        max_entries: usize,
        max_bytes: usize,
    ) -> Result<Checked<'a>, DocError> {
        let mut left = max_entries;
        let until = self.pos.saturating_add(max_bytes);
        loop {
            self.skip_ws();
            match self.state {
                State::Start => {
                    self.expect(b'{', "an object (the export document)")?;
                    self.state = State::Members { first: true };
                }
                State::Members { first } => {
                    if self.peek() == Some(b'}') {
                        self.pos += 1;
                        self.state = State::End;
                        continue;
                    }
                    if !first {
                        self.expect(b',', "',' or '}' after a member")?;
                        self.skip_ws();
                    }
                    self.state = State::Members { first: false };
                    self.member()?;
                }
                State::Entries { first } => {
                    if self.peek() == Some(b']') {
                        self.pos += 1;
                        self.entries.end = self.pos;
                        self.state = State::Members { first: false };
                        continue;
                    }
                    if left == 0 || self.pos >= until {
                        return Ok(Checked::More);
                    }
                    if !first {
                        self.expect(b',', "',' or ']' after an entry")?;
                        self.skip_ws();
                    }
                    self.state = State::Entries { first: false };
                    self.entry()?;
                    left -= 1;
                }
                State::End => return self.finish().map(Checked::Done),
            }
        }
    }

    /// One `"name": value` member of the document.
    fn member(&mut self) -> Result<(), DocError> {
        let name_at = self.pos;
        let name: Cow<'a, str> = self.value()?;
        self.skip_ws();
        self.expect(b':', "':' after a member name")?;
        self.skip_ws();
        let Some(i) = MEMBERS.iter().position(|m| *m == name) else {
            let what = format!("unknown field \"{name}\" (allowed: {})", MEMBERS.join(", "));
            return Err(error_at(self.doc, name_at, &what));
        };
        if self.seen & (1 << i) != 0 {
            return Err(error_at(
                self.doc,
                name_at,
                &format!("duplicate field \"{name}\""),
            ));
        }
        self.seen |= 1 << i;
        match i {
            FORMAT => self.format = Some(self.value()?),
            VERSION => self.version = Some(self.value()?),
            COUNT => self.count = Some(self.value()?),
            ENTRIES => {
                // A document of another format or version is refused as such, not for the
                // shape of its entries.
                self.check_format()?;
                self.entries.start = self.pos;
                self.expect(b'[', "an array of entries")?;
                self.state = State::Entries { first: true };
            }
            // `node_id`, `exported_at` (strings), `nodes`, `missing` (lists of member ids):
            // informative, checked for their type only.
            2 | 3 => drop(self.value::<Option<Cow<'a, str>>>()?),
            _ => drop(self.value::<Option<Vec<Cow<'a, str>>>>()?),
        }
        Ok(())
    }

    /// Check the next entry.
    fn entry(&mut self) -> Result<(), DocError> {
        let raw: &'a RawValue = self.value()?;
        let good = check_entry(self.index, raw, self.doc, self.limits, &mut self.scratch)?;
        if let Some(g) = good {
            self.live += 1;
            self.max_version = self.max_version.max(g.version);
        }
        self.index += 1;
        Ok(())
    }

    /// After the closing `}`: nothing else, every required member, and a consistent count.
    fn finish(&mut self) -> Result<ImportDoc<'a>, DocError> {
        if self.pos < self.doc.len() {
            return Err(error_at(self.doc, self.pos, "trailing characters"));
        }
        for i in [FORMAT, VERSION, ENTRIES, COUNT] {
            if self.seen & (1 << i) == 0 {
                let what = format!("missing field \"{}\"", MEMBERS[i]);
                return Err(error_at(self.doc, self.pos, &what));
            }
        }
        self.check_format()?;
        let count = self.count.unwrap_or_default();
        if count != self.index as u64 {
            return Err(DocError::CountMismatch {
                count,
                entries: self.index,
            });
        }
        Ok(ImportDoc {
            entries: &self.doc[self.entries.clone()],
            live: self.live,
            max_version: self.max_version,
            limits: self.limits,
        })
    }

    /// Refuse another format marker or version, once both are known.
    fn check_format(&self) -> Result<(), DocError> {
        match (&self.format, self.version) {
            (Some(f), Some(v)) if f != EXPORT_FORMAT || v != EXPORT_VERSION => {
                Err(DocError::Unsupported {
                    format: f.to_string(),
                    version: v,
                })
            }
            _ => Ok(()),
        }
    }

    /// Parse the JSON value that starts here (serde_json reads it, and only it).
    fn value<T: Deserialize<'a>>(&mut self) -> Result<T, DocError> {
        let doc: &'a [u8] = self.doc;
        let mut values = serde_json::Deserializer::from_slice(&doc[self.pos..]).into_iter();
        match values.next() {
            Some(Ok(v)) => {
                self.pos += values.byte_offset();
                Ok(v)
            }
            Some(Err(e)) => Err(serde_error(self.doc, self.pos, &e)),
            None => Err(error_at(self.doc, self.pos, TRUNCATED)),
        }
    }

    fn peek(&self) -> Option<u8> {
        self.doc.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        self.pos += skip_ws(&self.doc[self.pos..]);
    }

    /// Consume `byte`, else say what was `expected` here.
    fn expect(&mut self, byte: u8, expected: &str) -> Result<(), DocError> {
        match self.peek() {
            Some(b) if b == byte => {
                self.pos += 1;
                Ok(())
            }
            Some(_) => Err(error_at(
                self.doc,
                self.pos,
                &format!("expected {expected}"),
            )),
            None => Err(error_at(self.doc, self.pos, TRUNCATED)),
        }
    }
}

/// What a document that stops too early gets (serde's "EOF while parsing", reworded).
const TRUNCATED: &str = "the JSON ends too early (truncated?)";

/// Bytes of JSON whitespace at the start of `s`.
fn skip_ws(s: &[u8]) -> usize {
    s.iter()
        .position(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
        .unwrap_or(s.len())
}

/// A checked document: its entries are still the body's bytes.
pub(crate) struct ImportDoc<'a> {
    /// The `entries` array, `[` to `]`.
    entries: &'a [u8],
    /// Entries with something to restore (every entry but those that expired in transit).
    pub live: usize,
    /// The highest version an entry gives (0: none gives one).
    pub max_version: Version,
    limits: Limits,
}

impl<'a> ImportDoc<'a> {
    /// The entries to restore, in document order, as owned data: at most `max_entries` per
    /// window, and a window ends after the entry that brings it to `max_bytes` of document text.
    /// `version` 0: the document gave none (the import stamps one); `tomb`: a versioned delete.
    pub(crate) fn windows(&self, max_entries: usize, max_bytes: usize) -> Windows<'a> {
        Windows {
            rest: &self.entries[1..],
            index: 0,
            max_entries: max_entries.max(1),
            max_bytes,
            limits: self.limits,
            scratch: Vec::new(),
        }
    }
}

/// See [`ImportDoc::windows`].
pub(crate) struct Windows<'a> {
    /// The array after what was handed out.
    rest: &'a [u8],
    index: usize,
    max_entries: usize,
    max_bytes: usize,
    limits: Limits,
    scratch: Vec<u8>,
}

impl<'a> Windows<'a> {
    /// The next entry's text (the array was checked whole: it is well-formed).
    fn next_raw(&mut self) -> Option<&'a RawValue> {
        let rest: &'a [u8] = self.rest;
        let mut at = skip_ws(rest);
        if rest.get(at) == Some(&b',') {
            at += 1 + skip_ws(&rest[at + 1..]);
        }
        let rest = &rest[at..];
        let mut values = serde_json::Deserializer::from_slice(rest).into_iter::<&RawValue>();
        let raw = values.next().and_then(Result::ok);
        // At the closing `]` (or on the impossible error): nothing more to hand out.
        self.rest = raw.map_or(&[][..], |_| &rest[values.byte_offset()..]);
        raw
    }
}

impl Iterator for Windows<'_> {
    type Item = Vec<Entry>;

    fn next(&mut self) -> Option<Vec<Entry>> {
        let mut out = Vec::with_capacity(self.max_entries.min(1024));
        let mut bytes = 0;
        while out.len() < self.max_entries && bytes < self.max_bytes {
            let (limits, index) = (self.limits, self.index);
            let mut value = std::mem::take(&mut self.scratch);
            let Some(raw) = self.next_raw() else {
                self.scratch = value;
                break;
            };
            bytes += raw.get().len();
            self.index += 1;
            // The checks passed in the validation pass; they cannot fail on the same bytes.
            if let Ok(Some(g)) = check_entry(index, raw, &[], limits, &mut value) {
                out.push(Entry {
                    key: Bytes::copy_from_slice(g.key.as_bytes()),
                    // Copied to its exact size: the value is stored as it is.
                    value: Bytes::copy_from_slice(&value),
                    ttl_ms: g.ttl_ms,
                    version: g.version,
                    tomb: g.tomb,
                });
            }
            self.scratch = value;
        }
        (!out.is_empty()).then_some(out)
    }
}
