//! A connection's last request head, kept with its bytes: a client that sends the same head
//! again (a keep-alive or pipelined read of one key, a load balancer's health check) gets it
//! back without a second parse (issue 13: the parser was ~550 of a pipelined GET hit's ~2,000
//! instructions; a comparison of ~60 bytes costs ~30).
//!
//! The answer is always [`parse_head`]'s. A complete head is a function of its own bytes and
//! the limits: neither parser reads past the empty line that ends it (a property test holds
//! that, `conformance/props.rs`), so bytes that start with the kept head's bytes, under the
//! memo's limits, parse to the kept head. Only complete heads are kept; a partial head or an
//! error is parsed every time (an error closes the connection anyway).

use super::{parse_head, Head, Limits, ParseError, Parsed};

/// The longest head kept. A usual client's head is 40-200 bytes (wrk ~60, curl ~90, a peer's
/// forward ~150); a longer one is rarer and costs more to copy on every change, and this bound
/// is the memo's memory per connection.
pub const MAX_KEPT_HEAD: usize = 256;
/// Heads in a row that differ from the kept one before the memo rests: a client whose heads
/// all differ (reads of many keys) would otherwise pay a comparison and a copy per request for
/// nothing (~90 instructions, measured: 3 % of a pipelined read of a cold key).
const MISSES_BEFORE_REST: u32 = 8;
/// While resting, two heads in a row out of this many are still looked at (the first is kept,
/// the second compared with it), so a client that turns to one key is noticed within that
/// many requests.
const REST_PERIOD: u32 = 16;

/// How [`HeadMemo::parse`] answered its last call: what a caller that keeps something it
/// derives from the kept head (the node keeps the head's route) needs to keep it in step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answered {
    /// The kept head: the bytes started with its bytes.
    Kept,
    /// Parsed, and kept from now on in place of the last kept head.
    Stored,
    /// Parsed (complete, partial or an error); the kept head, if any, is unchanged.
    Parsed,
}

/// One connection's parser with its last complete head (see the module comment).
#[derive(Debug)]
pub struct HeadMemo {
    limits: Limits,
    /// The kept head's bytes (empty: nothing kept).
    bytes: Vec<u8>,
    head: Option<Head>,
    /// Heads parsed since the kept one last matched (wraps: after 2^32 the memo looks again).
    misses: u32,
    last: Answered,
}

impl HeadMemo {
    /// A memo that parses under `limits` for its whole life (a head kept under other limits
    /// could be an error under these).
    pub fn new(limits: Limits) -> HeadMemo {
        HeadMemo {
            limits,
            bytes: Vec::new(),
            head: None,
            misses: 0,
            last: Answered::Parsed,
        }
    }

    /// How the last [`Self::parse`] answered (`Parsed` before the first).
    #[inline]
    pub fn answered(&self) -> Answered {
        self.last
    }

    /// [`parse_head`] of `buf` under the memo's limits.
    #[inline]
    pub fn parse(&mut self, buf: &[u8]) -> Result<Parsed<Head>, ParseError> {
        let looking = self.misses < MISSES_BEFORE_REST || self.misses % REST_PERIOD < 2;
        if let Some(head) = self.head.filter(|_| looking) {
            if buf.get(..self.bytes.len()) == Some(&self.bytes[..]) {
                self.misses = 0;
                self.last = Answered::Kept;
                return Ok(Parsed::Complete(head));
            }
        }
        self.misses = self.misses.wrapping_add(1);
        self.last = Answered::Parsed;
        let parsed = parse_head(buf, &self.limits);
        if let Ok(Parsed::Complete(head)) = parsed {
            if looking && self.keep(buf, head) {
                self.last = Answered::Stored;
            }
        }
        parsed
    }

    /// Keep `head`, parsed from the start of `buf`, in place of the last one; false when not
    /// kept. A head over [`MAX_KEPT_HEAD`] is not kept (the last one stays: it is still a true
    /// answer for its bytes).
    fn keep(&mut self, buf: &[u8], head: Head) -> bool {
        let Some(bytes) = buf
            .get(..head.head_len)
            .filter(|b| b.len() <= MAX_KEPT_HEAD)
        else {
            return false;
        };
        self.bytes.clear();
        self.bytes.extend_from_slice(bytes);
        self.head = Some(head);
        true
    }

    /// Forget the kept head and give its memory back (an idle connection holds none).
    pub fn forget(&mut self) {
        self.bytes = Vec::new();
        self.head = None;
        self.last = Answered::Parsed;
    }
}

#[cfg(test)]
#[path = "head_memo_tests.rs"]
mod tests;
