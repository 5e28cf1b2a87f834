//! [`Span`]: where a part of a request head lies in the caller's buffer, in 8 bytes.
//!
//! A [`Head`](crate::Head) holds a dozen of these; as `Range<usize>` (16 bytes, 24 as an
//! `Option`) they made the head ~290 bytes, copied and zeroed on every request (issue 13).

use std::num::NonZeroU32;
use std::ops::Range;

// `range()` widens u32 offsets to usize: lossless on every target this crate builds for.
const _: () = assert!(usize::BITS >= u32::BITS);

/// A byte range of the buffer a head was parsed from: `start..end`, both at most
/// [`MAX_HEAD_BYTES_CEILING`](crate::MAX_HEAD_BYTES_CEILING), `start <= end`.
///
/// `end` is never 0: every span of a head (the path, the query, a field value) ends after the
/// request line's first byte, since the target follows the method and a space and the field
/// values follow the request line. That lets `end` be a `NonZeroU32`, whose niche makes an
/// `Option<Span>` 8 bytes too. [`Span::new`] refuses a range that breaks either invariant, so
/// no input can make one.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Span {
    start: u32,
    end: NonZeroU32,
}

impl Span {
    /// The span of `range`; `None` when it ends at 0, ends past `u32::MAX` or starts after its
    /// end. The parsers bound a head by `MAX_HEAD_BYTES_CEILING`, so theirs always fit.
    #[inline]
    pub fn new(range: Range<usize>) -> Option<Span> {
        let start = u32::try_from(range.start).ok()?;
        let end = NonZeroU32::new(u32::try_from(range.end).ok()?)?;
        (start <= end.get()).then_some(Span { start, end })
    }

    /// The span as a range of the buffer, for slicing.
    #[inline]
    pub fn range(self) -> Range<usize> {
        self.start()..self.end()
    }

    /// The offset of the first byte.
    #[inline]
    pub fn start(self) -> usize {
        self.start as usize
    }

    /// The offset after the last byte.
    #[inline]
    pub fn end(self) -> usize {
        self.end.get() as usize
    }

    /// The number of bytes (`start <= end` holds by construction).
    #[inline]
    pub fn len(self) -> usize {
        (self.end.get() - self.start) as usize
    }

    /// True for an empty span (an empty query: `/a?`).
    #[inline]
    pub fn is_empty(self) -> bool {
        self.start == self.end.get()
    }
}

impl From<Span> for Range<usize> {
    #[inline]
    fn from(span: Span) -> Range<usize> {
        span.range()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::size_of;

    #[test]
    fn a_span_and_an_optional_span_are_8_bytes() {
        assert_eq!(size_of::<Span>(), 8);
        assert_eq!(size_of::<Option<Span>>(), 8);
    }

    #[test]
    fn the_head_stays_small() {
        // 288 bytes with `Range<usize>` offsets, 120 with spans: a regression past this shows.
        assert!(
            size_of::<crate::Head>() <= 128,
            "{}",
            size_of::<crate::Head>()
        );
    }

    #[test]
    fn round_trip_and_accessors() {
        let s = Span::new(4..27).expect("fits");
        assert_eq!(
            (s.start(), s.end(), s.len(), s.is_empty()),
            (4, 27, 23, false)
        );
        assert_eq!(s.range(), 4..27);
        assert_eq!(Range::from(s), 4..27);
        let empty = Span::new(13..13).expect("fits");
        assert_eq!(
            (empty.start(), empty.len(), empty.is_empty()),
            (13, 0, true)
        );
        let widest = Span::new(0..u32::MAX as usize).expect("fits");
        assert_eq!(widest.len(), u32::MAX as usize);
    }

    #[test]
    fn ranges_that_break_an_invariant_are_refused() {
        assert_eq!(Span::new(0..0), None);
        #[allow(clippy::reversed_empty_ranges)]
        let backwards = 5..4;
        assert_eq!(Span::new(backwards), None);
        let past = u32::MAX as usize + 1;
        assert_eq!(Span::new(0..past), None);
        assert_eq!(Span::new(past..past), None);
        assert_eq!(Span::new(usize::MAX..usize::MAX), None);
    }
}
