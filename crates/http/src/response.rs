//! Response encoding into the connection's reusable write buffer, and the per-core `Date` cache.
//!
//! Every response this node sends goes through [`encode_head`], so framing headers are written in
//! exactly one place: one `Content-Length` always (we never send chunked, so HTTP/1.0 clients are
//! fine), `Connection: close` whenever the connection is about to close, and `Connection: keep-alive`
//! only for HTTP/1.0 clients that asked for it.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Reason phrases for the statuses this server emits.
pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        417 => "Expectation Failed",
        421 => "Misdirected Request",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        507 => "Insufficient Storage",
        508 => "Loop Detected",
        _ => "Unknown",
    }
}

pub const CONTENT_JSON: &str = "application/json";
pub const CONTENT_PROMETHEUS: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What the connection layer decided about the connection for this response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnHeader {
    /// HTTP/1.1 persistent: no header needed.
    Default,
    /// HTTP/1.0 client that asked to keep the connection.
    KeepAlive,
    /// The server closes after this response.
    Close,
}

/// How the body of a response is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyLength {
    Exact(usize),
    /// `Transfer-Encoding: chunked` (HTTP/1.1 clients only).
    Chunked,
    /// Neither header: the body ends when the server closes (HTTP/1.0 streaming).
    UntilClose,
}

/// Write a status line and headers (ending with the blank line) into `out`.
/// `extra` headers are written verbatim as `name: value` lines.
pub fn encode_head(
    out: &mut Vec<u8>,
    status: u16,
    content_type: &str,
    content_length: BodyLength,
    conn: ConnHeader,
    date: &[u8],
    extra: &[(&str, &[u8])],
) {
    let mut num = itoa::Buffer::new();
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(num.format(status).as_bytes());
    out.push(b' ');
    out.extend_from_slice(reason(status).as_bytes());
    out.extend_from_slice(b"\r\nDate: ");
    out.extend_from_slice(date);
    out.extend_from_slice(b"\r\nContent-Type: ");
    out.extend_from_slice(content_type.as_bytes());
    // RFC 9110 §8.6: no Content-Length on 1xx and 204 responses.
    let content_length = if status < 200 || status == 204 {
        BodyLength::UntilClose
    } else {
        content_length
    };
    match content_length {
        BodyLength::Exact(len) => {
            out.extend_from_slice(b"\r\nContent-Length: ");
            out.extend_from_slice(num.format(len).as_bytes());
        }
        BodyLength::Chunked => out.extend_from_slice(b"\r\nTransfer-Encoding: chunked"),
        BodyLength::UntilClose => {}
    }
    match conn {
        ConnHeader::Default => {}
        ConnHeader::KeepAlive => out.extend_from_slice(b"\r\nConnection: keep-alive"),
        ConnHeader::Close => out.extend_from_slice(b"\r\nConnection: close"),
    }
    encode_fields(out, extra);
}

/// Append each of `extra` as a `\r\nname: value` line, then the blank line that ends a head.
#[inline]
pub fn encode_fields(out: &mut Vec<u8>, extra: &[(&str, &[u8])]) {
    for (name, value) in extra {
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
    }
    out.extend_from_slice(b"\r\n\r\n");
}

/// Append `s` as the inside of a JSON string (no quotes), escaping per RFC 8259.
pub fn json_escape(out: &mut Vec<u8>, s: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    // The usual key or message needs no escape: one copy instead of a look at each run.
    if s.iter().all(|&b| ESCAPED_LEN[b as usize] == 1) {
        out.extend_from_slice(s);
        return;
    }
    let mut start = 0;
    for (i, &b) in s.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f | 0x7f => b"",
            _ => continue,
        };
        out.extend_from_slice(&s[start..i]);
        if esc.is_empty() {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[(b >> 4) as usize]);
            out.push(HEX[(b & 0xf) as usize]);
        } else {
            out.extend_from_slice(esc);
        }
        start = i + 1;
    }
    out.extend_from_slice(&s[start..]);
}

/// Length of `s` after [`json_escape`], without writing it.
pub fn json_escaped_len(s: &[u8]) -> usize {
    s.iter().map(|&b| ESCAPED_LEN[b as usize] as usize).sum()
}

/// What each byte becomes in [`json_escape`]: 1 (itself), 2 (`\n`, `\"`...) or 6 (`\u00XX`).
/// A table, since every key of every answer goes through it twice (length, then bytes).
static ESCAPED_LEN: [u8; 256] = table!(|b| match b {
    b'"' | b'\\' | b'\n' | b'\r' | b'\t' => 2,
    0..=0x1f | 0x7f => 6,
    _ => 1,
});

/// IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), 29 bytes, re-formatted at most once a second.
/// One per core: no sharing, no lock (may_minihttp's shared `date.rs` is the counter-example).
pub struct DateCache {
    secs: u64,
    text: [u8; 29],
    /// When the second shown ends, on the monotonic clock (an estimate no later than the real
    /// end: see [`Self::get_at`]); `None` until the wall clock is read through `get_at`.
    shown_until: Option<Instant>,
}

impl Default for DateCache {
    fn default() -> Self {
        let mut d = DateCache {
            secs: u64::MAX,
            text: [b' '; 29],
            shown_until: None,
        };
        d.refresh();
        d
    }
}

impl DateCache {
    /// A cache that shows `secs` until its next [`Self::get`] (a caller with its own clock:
    /// tests that pin the `Date` of answers they compare).
    pub fn at(secs: u64) -> DateCache {
        DateCache {
            secs,
            text: format_http_date(secs),
            shown_until: None,
        }
    }

    /// The current date header value; re-formats only when the second changed.
    pub fn get(&mut self) -> &[u8] {
        self.refresh();
        &self.text
    }

    /// The date as of the last [`Self::get`], without reading the clock (a caller that
    /// refreshed it moments ago: one clock read for a batch of responses).
    pub fn current(&self) -> &[u8] {
        &self.text
    }

    /// [`Self::get`] for a caller that has just read the monotonic clock (`now`): the wall
    /// clock is read only once the second shown has ended, about once a second instead of
    /// once per batch of answers (a clock read is ~23 ns on the VMs measured, and a batch of
    /// one GET hit read it six times).
    ///
    /// The end of the second is estimated as `now` plus what was left of that second when the
    /// wall clock was read, which was after `now`: the estimate is early, never late, so the
    /// `Date` never shows a second that has ended (the two clocks drift apart by parts per
    /// million at most; a step of the wall clock shows at the next boundary, within a second).
    pub fn get_at(&mut self, now: Instant) -> &[u8] {
        if self.shown_until.is_none_or(|end| now >= end) {
            let left = self.refresh();
            self.shown_until = Some(now + left);
        }
        &self.text
    }

    /// Read the wall clock and re-format if the second changed; what is left of that second.
    fn refresh(&mut self) -> Duration {
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        let secs = since.as_secs();
        if secs != self.secs {
            self.secs = secs;
            self.text = format_http_date(secs);
        }
        Duration::from_nanos(1_000_000_000 - u64::from(since.subsec_nanos()))
    }
}

/// `secs` since the Unix epoch as an IMF-fixdate, without allocating (it is on the GET path:
/// `Last-Modified`). Clamped to the last second of 9999, the format's four-digit year.
pub fn format_http_date(secs: u64) -> [u8; 29] {
    const DAYS: [&[u8; 3]; 7] = [b"Thu", b"Fri", b"Sat", b"Sun", b"Mon", b"Tue", b"Wed"];
    const MONTHS: [&[u8; 3]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    /// 9999-12-31T23:59:59Z.
    const LAST: u64 = 253_402_300_799;
    let secs = secs.min(LAST);
    let days = secs / 86_400;
    let (y, m, d) = civil_from_days(days as i64);
    let s = secs % 86_400;
    let mut out = *b"Thu, 01 Jan 1970 00:00:00 GMT";
    let mut digits = |at: usize, width: usize, mut v: u64| {
        for i in (at..at + width).rev() {
            out[i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    digits(5, 2, u64::from(d));
    digits(12, 4, y as u64);
    digits(17, 2, s / 3600);
    digits(20, 2, (s / 60) % 60);
    digits(23, 2, s % 60);
    out[..3].copy_from_slice(DAYS[(days % 7) as usize]);
    out[8..11].copy_from_slice(MONTHS[(m - 1) as usize]);
    out
}

/// Append one chunk of a chunked response body (`len-hex CRLF data CRLF`); empty `data` is skipped
/// because a zero-size chunk would end the body.
pub fn encode_chunk(out: &mut Vec<u8>, data: &[u8]) {
    if data.is_empty() {
        return;
    }
    out.extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// The last chunk of a chunked body, with no trailers.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// Interim response for `Expect: 100-continue`.
pub const CONTINUE_100: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// Days since 1970-01-01 to (year, month, day), Howard Hinnant's algorithm.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_the_node_sends_has_its_reason_phrase() {
        let sent = [
            100, 200, 201, 204, 304, 400, 401, 403, 404, 405, 408, 409, 411, 412, 413, 414, 415,
            417, 421, 431, 500, 501, 502, 503, 504, 505, 507, 508,
        ];
        for s in sent {
            assert_ne!(reason(s), "Unknown", "status {s}");
        }
        assert_eq!(reason(401), "Unauthorized");
        assert_eq!(reason(403), "Forbidden");
    }

    #[test]
    fn http_date_matches_rfc_example() {
        assert_eq!(
            &format_http_date(784_111_777),
            b"Sun, 06 Nov 1994 08:49:37 GMT"
        );
    }

    /// The wall clock's second now: read before and after a `get_at`, it bounds the second
    /// that call read.
    fn wall_secs() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
    }

    #[test]
    fn a_date_pinned_to_a_monotonic_reading_is_read_again_only_when_its_second_ended() {
        let mut d = DateCache::at(0);
        let now = Instant::now();
        // Never read through `get_at`: the wall clock is read at once.
        let wall = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        let shown = d.get_at(now).to_vec();
        let after = wall_secs();
        assert!((wall.as_secs()..=after).any(|s| shown == format_http_date(s)));
        let end = d.shown_until.expect("the end of the second shown");
        assert!(end > now && end <= now + Duration::from_secs(1));
        if shown == format_http_date(wall.as_secs()) {
            // Read in `wall`'s second, no earlier in it than `wall`: the end estimated from
            // `now` (taken before both) is no later than that second's end, seen from `now`.
            let left = Duration::from_secs(1) - Duration::from_nanos(wall.subsec_nanos().into());
            assert!(end <= now + left, "{:?} > {left:?}", end - now);
        }
        // Until that end, the date shown is kept without a look at the wall clock: a stale
        // date planted in it stays.
        (d.secs, d.text) = (0, format_http_date(0));
        assert_eq!(d.get_at(now), &format_http_date(0));
        assert_eq!(
            d.get_at(end - Duration::from_nanos(1)),
            &format_http_date(0)
        );
        // From the end on, the wall clock is read again.
        let before = wall_secs();
        let shown = d.get_at(end).to_vec();
        let after = wall_secs();
        assert!((before..=after).any(|s| shown == format_http_date(s)));
        assert!(d.shown_until.unwrap() > end);
    }

    #[test]
    fn http_dates_at_the_edges_keep_their_width() {
        assert_eq!(&format_http_date(0), b"Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(
            &format_http_date(951_782_400),
            b"Tue, 29 Feb 2000 00:00:00 GMT"
        );
        for past_9999 in [253_402_300_799, 253_402_300_800, u64::MAX] {
            assert_eq!(
                &format_http_date(past_9999),
                b"Fri, 31 Dec 9999 23:59:59 GMT"
            );
        }
    }

    #[test]
    fn head_has_one_content_length_and_close() {
        let mut out = Vec::new();
        encode_head(
            &mut out,
            404,
            CONTENT_JSON,
            BodyLength::Exact(12),
            ConnHeader::Close,
            b"D",
            &[("X-Cache-Node", b"n1")],
        );
        let text = String::from_utf8(out).expect("ascii");
        assert_eq!(
            text,
            "HTTP/1.1 404 Not Found\r\nDate: D\r\nContent-Type: application/json\r\nContent-Length: 12\r\nConnection: close\r\nX-Cache-Node: n1\r\n\r\n"
        );
    }

    #[test]
    fn json_escape_controls_and_quotes() {
        let mut out = Vec::new();
        let input = b"a\"b\\c\n\x00\x7f\xc3\xa9";
        json_escape(&mut out, input);
        assert_eq!(out, b"a\\\"b\\\\c\\n\\u0000\\u007f\xc3\xa9".to_vec());
        assert_eq!(json_escaped_len(input), out.len());
        let parsed: String =
            serde_json::from_slice(&[b"\"".as_slice(), &out, b"\""].concat()).expect("valid json");
        assert_eq!(parsed.as_bytes(), input);
    }
}
