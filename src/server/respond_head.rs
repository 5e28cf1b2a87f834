//! The `Date` pinned for a batch of answers, and the head of the most frequent answer, a `200` with a JSON body (every GET hit and PUT
//! replace), from bytes prepared once per `Date` second instead of a dozen small copies per
//! response: byte for byte what `encode_head` writes (tested below against it).

use super::caching::CachingParts;
use crate::http::response::{encode_fields, ConnHeader, DateCache};
use std::time::Instant;

/// `HTTP/1.1 200 OK` and the `Date` name, before the date.
const LEAD: &[u8] = b"HTTP/1.1 200 OK\r\nDate: ";
/// After the date, up to the Content-Length digits.
const TAIL: &[u8] = b"\r\nContent-Type: application/json\r\nContent-Length: ";
/// An IMF-fixdate (`Date` values are always this long).
const DATE_BYTES: usize = 29;
const PREFIX_BYTES: usize = LEAD.len() + DATE_BYTES + TAIL.len();

/// A core's prepared bytes for [`JsonOkHead::write`].
pub(super) struct JsonOkHead {
    /// [`LEAD`], the date it was prepared for, [`TAIL`].
    prefix: [u8; PREFIX_BYTES],
    /// `\r\nX-Cache-Node: <node id>`: the first extra header of every answer.
    node_line: Vec<u8>,
}

impl JsonOkHead {
    pub(super) fn new(node_header: &[u8]) -> JsonOkHead {
        let mut prefix = [0u8; PREFIX_BYTES];
        prefix[..LEAD.len()].copy_from_slice(LEAD);
        prefix[LEAD.len() + DATE_BYTES..].copy_from_slice(TAIL);
        let mut node_line = b"\r\nX-Cache-Node: ".to_vec();
        node_line.extend_from_slice(node_header);
        // The date slot holds zeros: no real date matches, so the first write fills it.
        JsonOkHead { prefix, node_line }
    }

    /// `encode_head(out, 200, CONTENT_JSON, BodyLength::Exact(len), conn, date,
    /// [("X-Cache-Node", node)] + extra)`. `None` when `date` is not an IMF-fixdate (never, in
    /// practice): the caller encodes the head the general way then.
    #[inline]
    pub(super) fn write(
        &mut self,
        out: &mut Vec<u8>,
        date: &[u8],
        len: usize,
        conn: ConnHeader,
        extra: &[(&str, &[u8])],
    ) -> Option<()> {
        self.start(out, date, len, conn)?;
        encode_fields(out, extra);
        Some(())
    }

    /// [`Self::write`] with a value's caching headers as parts, in `with_caching`'s order: each
    /// name and line break is one constant and the tag and date have fixed lengths, so the
    /// copies are inlined (a GET hit's head otherwise made a dozen small copy calls).
    #[inline]
    pub(super) fn write_parts(
        &mut self,
        out: &mut Vec<u8>,
        date: &[u8],
        len: usize,
        conn: ConnHeader,
        parts: CachingParts<'_>,
    ) -> Option<()> {
        self.start(out, date, len, conn)?;
        if let Some(tag) = parts.etag {
            out.extend_from_slice(b"\r\nETag: ");
            out.extend_from_slice(tag);
        }
        if !parts.control.is_empty() {
            out.extend_from_slice(b"\r\nCache-Control: ");
            out.extend_from_slice(parts.control);
        }
        if let Some(modified) = parts.modified {
            out.extend_from_slice(b"\r\nLast-Modified: ");
            out.extend_from_slice(modified);
        }
        out.extend_from_slice(b"\r\n\r\n");
        Some(())
    }

    /// Everything up to the extra headers: status line, date, type, length, `Connection` when
    /// the request needs one, `X-Cache-Node`.
    #[inline]
    fn start(
        &mut self,
        out: &mut Vec<u8>,
        date: &[u8],
        len: usize,
        conn: ConnHeader,
    ) -> Option<()> {
        let slot = &mut self.prefix[LEAD.len()..LEAD.len() + DATE_BYTES];
        if *slot != *date {
            slot.copy_from_slice(
                date.get(..DATE_BYTES)
                    .filter(|_| date.len() == DATE_BYTES)?,
            );
        }
        out.extend_from_slice(&self.prefix);
        out.extend_from_slice(itoa::Buffer::new().format(len).as_bytes());
        match conn {
            ConnHeader::Default => {}
            ConnHeader::KeepAlive => out.extend_from_slice(b"\r\nConnection: keep-alive"),
            ConnHeader::Close => out.extend_from_slice(b"\r\nConnection: close"),
        }
        out.extend_from_slice(&self.node_line);
        Some(())
    }
}

impl super::Responder {
    /// Bring the `Date` up to `refresh_at` (a monotonic reading the caller just took; `None`:
    /// leave it as it is) and let the responses encoded until [`Self::unpin_date`] use it as
    /// is: no clock read per answer, and the wall clock read only when its second has ended
    /// (`DateCache::get_at`). Set only around synchronous work (never across an await).
    #[inline]
    pub(crate) fn pin_date(&self, refresh_at: Option<Instant>) {
        if let Some(now) = refresh_at {
            let _ = self.date.borrow_mut().get_at(now);
        }
        self.date_pinned.set(true);
    }

    #[inline]
    pub(crate) fn unpin_date(&self) {
        self.date_pinned.set(false);
    }

    /// The `Date` value for a response being encoded (see [`Self::pin_date`]).
    #[inline]
    pub(super) fn date_of<'d>(&self, date: &'d mut DateCache) -> &'d [u8] {
        if self.date_pinned.get() {
            date.current()
        } else {
            date.get()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::response::{encode_head, format_http_date, BodyLength, CONTENT_JSON};

    #[test]
    fn the_prepared_head_is_what_encode_head_writes() {
        let mut h = JsonOkHead::new(b"node-1");
        let extras: [&[(&str, &[u8])]; 3] = [
            &[],
            &[("ETag", b"\"00000000000000ff\"")],
            &[
                ("ETag", b"\"00000000000000ff\""),
                ("Cache-Control", b"max-age=5"),
                ("Last-Modified", b"Thu, 01 Jan 1970 00:00:00 GMT"),
            ],
        ];
        // The date changes between answers, and back: the prepared bytes follow.
        for secs in [0, 1_700_000_000, 1_700_000_001, 0] {
            let date = format_http_date(secs);
            for conn in [
                ConnHeader::Default,
                ConnHeader::KeepAlive,
                ConnHeader::Close,
            ] {
                for extra in extras {
                    for len in [0, 7, 123_456] {
                        let mut fast = b"earlier".to_vec();
                        assert_eq!(h.write(&mut fast, &date, len, conn, extra), Some(()));
                        let mut all = vec![("X-Cache-Node", &b"node-1"[..])];
                        all.extend_from_slice(extra);
                        let mut slow = b"earlier".to_vec();
                        let n = BodyLength::Exact(len);
                        encode_head(&mut slow, 200, CONTENT_JSON, n, conn, &date, &all);
                        assert_eq!(String::from_utf8(fast), String::from_utf8(slow));
                    }
                }
            }
        }
    }

    #[test]
    fn caching_parts_write_what_the_same_headers_as_a_list_write() {
        let tag = *b"\"00000000000000ff\"";
        let modified = format_http_date(1_700_000_000);
        let date = format_http_date(1_700_000_005);
        for etag in [None, Some(&tag)] {
            for control in [&b""[..], b"no-cache", b"max-age=5"] {
                for last in [None, Some(&modified)] {
                    let parts = CachingParts {
                        etag,
                        control,
                        modified: last,
                    };
                    let mut list: Vec<(&str, &[u8])> = Vec::new();
                    list.extend(etag.map(|t| ("ETag", &t[..])));
                    if !control.is_empty() {
                        list.push(("Cache-Control", control));
                    }
                    list.extend(last.map(|m| ("Last-Modified", &m[..])));
                    for conn in [ConnHeader::Default, ConnHeader::Close] {
                        let mut h = JsonOkHead::new(b"node-1");
                        let (mut a, mut b) = (b"x".to_vec(), b"x".to_vec());
                        assert_eq!(h.write_parts(&mut a, &date, 60, conn, parts), Some(()));
                        assert_eq!(h.write(&mut b, &date, 60, conn, &list), Some(()));
                        assert_eq!(String::from_utf8(a), String::from_utf8(b), "{parts:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn a_date_of_another_length_is_left_to_the_general_encoder() {
        let mut h = JsonOkHead::new(b"n");
        let mut out = Vec::new();
        assert_eq!(
            h.write(&mut out, b"short", 1, ConnHeader::Default, &[]),
            None
        );
        assert!(out.is_empty());
    }
}
