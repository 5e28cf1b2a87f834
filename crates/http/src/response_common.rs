//! The usual answer head in one pass, before httparse: what our own nodes send a forwarder,
//! and what most servers send a client (`HTTP/1.1 200 OK`, a handful of plain fields, a
//! `Content-Length`). A forwarded GET spent about 2,000 instructions in the full parser's
//! httparse pass and field loop for seven fields; this path reads each byte once.
//!
//! It answers only when the answer is certain and leaves everything else to
//! [`super::response_head::parse_response_head_full`]: `HTTP/1.1`, a three-digit status and a
//! reason of VCHAR/SP/HTAB, CRLF line ends, field names of token bytes right before their
//! colon, values of VCHAR/SP/HTAB with no trailing whitespace, at most one `Content-Length`,
//! no `Transfer-Encoding` or `Connection` (their token lists are the full path's), at most
//! [`MAX_COMMON_RESPONSE_FIELDS`] fields. `on_header` is called only once the whole head is
//! read, so a head left to the full parser has not been shown to it yet. A property test and
//! the `response_head` fuzz target hold the two paths to the same answer and the same calls.

use std::ops::Range;

use super::response_head::{assemble, parse_decimal, ResponseHead};
use super::syntax::{class_run, plain_field_line, FIELD_VCHAR};

/// Fields this path reads before it leaves the head to the full parser: our nodes send 5-9,
/// and the ranges of this many fit in a small array on the stack.
const MAX_COMMON_RESPONSE_FIELDS: usize = 16;

/// The only version this path reads, with the space before the status.
const HTTP11_SP: &[u8] = b"HTTP/1.1 ";

/// The head at the start of `buf` if it is a usual one (see the module comment), after
/// showing each field to `on_header`; else `None`, and `on_header` was not called.
#[inline]
pub(crate) fn parse_common_response(
    buf: &[u8],
    to_head_request: bool,
    on_header: &mut impl FnMut(&str, &[u8]),
) -> Option<ResponseHead> {
    let (status, fields_at) = status_line(buf)?;
    let mut at = fields_at;
    let mut fields: [FieldAt; MAX_COMMON_RESPONSE_FIELDS] = std::array::from_fn(|_| (0..0, 0..0));
    let mut n = 0;
    let mut length = None;
    let head_len = loop {
        let line = buf.get(at..)?;
        if line.starts_with(b"\r\n") {
            break at + 2;
        }
        let (name, value, line_len) = plain_field_line(line)?;
        if value.end + 2 != line_len || n == MAX_COMMON_RESPONSE_FIELDS {
            return None; // trailing whitespace, or more fields than the array holds
        }
        let value_bytes = line.get(value.clone())?;
        if name.eq_ignore_ascii_case(b"content-length") {
            if length.is_some() {
                return None; // equal or not: the full path's rule
            }
            length = Some(parse_decimal(value_bytes)?);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding")
            || name.eq_ignore_ascii_case(b"connection")
        {
            return None;
        }
        *fields.get_mut(n)? = (at..at + name.len(), at + value.start..at + value.end);
        n += 1;
        at += line_len;
    };
    // Every byte of the field lines is a tchar or a VCHAR/SP/HTAB, all ASCII: one check of
    // the lines as text, then each name is a slice of it (a check per name cost ~100
    // instructions, a tenth of a forwarded answer's reading).
    let text = std::str::from_utf8(buf.get(fields_at..head_len)?).ok()?;
    for (name, value) in fields.get(..n)? {
        let name = text.get(name.start - fields_at..name.end - fields_at)?;
        on_header(name, buf.get(value.clone())?);
    }
    Some(assemble(
        status,
        head_len,
        to_head_request,
        false,
        length,
        false,
    ))
}

/// `HTTP/1.1 DDD reason CRLF`: the status and where the fields start.
#[inline]
fn status_line(buf: &[u8]) -> Option<(u16, usize)> {
    let rest = buf.strip_prefix(HTTP11_SP)?;
    let (code, rest) = rest.split_first_chunk::<3>()?;
    if !code.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let status = code
        .iter()
        .fold(0u16, |acc, &d| acc * 10 + u16::from(d - b'0'));
    let reason = rest.strip_prefix(b" ")?;
    let reason_len = class_run(reason, &FIELD_VCHAR);
    let end = HTTP11_SP.len() + 4 + reason_len;
    (buf.get(end..end + 2)? == b"\r\n").then_some((status, end + 2))
}

/// Where a field's name and value lie in the buffer.
type FieldAt = (Range<usize>, Range<usize>);

#[cfg(test)]
#[path = "response_common_tests.rs"]
mod tests;
