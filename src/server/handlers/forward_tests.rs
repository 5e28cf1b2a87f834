//! Unit tests for `forward.rs`: the header lines a forward passes on, and how a failover served
//! here reads them back.

use super::*;
use crate::http::response::ConnHeader;
use crate::server::request_id::RequestId;
use crate::server::router::Route;

const TRACEPARENT: &[u8] = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

fn req<'a>(peer: bool, fields: ReqFields<'a>) -> Req<'a> {
    Req {
        method: Method::Put,
        route: Route::Cache,
        path: b"/api/v1/cache/k",
        path_escaped: false,
        body: b"{\"value\":1}",
        query: None,
        has_body: true,
        conn: ConnHeader::Default,
        forwarded: peer,
        peer,
        tls_peer: false,
        request_id: RequestId::NONE,
        fields,
        version: None,
        auth: crate::server::authz::Checked::PASSED,
        admin_elsewhere: false,
    }
}

#[test]
fn a_forward_passes_on_the_clients_id_and_trace_and_a_failover_reads_them_back() {
    let fields = ReqFields {
        if_match: Some(b"\"00000000000000ab\""),
        traceparent: Some(TRACEPARENT),
        request_id: Some(b"client-1"),
        ..ReqFields::default()
    };
    let client = req(false, fields);
    let lines = passed_on(&client);
    assert_eq!(
        &lines[..],
        &b"If-Match: \"00000000000000ab\"\r\nX-Cache-Client-Request-Id: client-1\r\ntraceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n"[..]
    );
    let back = fields_of(&lines, None);
    assert_eq!(back.if_match, fields.if_match);
    assert_eq!(back.traceparent, Some(TRACEPARENT));
    assert_eq!(back.client_request_id, Some(&b"client-1"[..]));
    // Copies and sub-batches carry the ids only.
    assert_eq!(
        &context_lines(&client)[..],
        &b"X-Cache-Client-Request-Id: client-1\r\ntraceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n"[..]
    );
}

#[test]
fn a_peers_own_number_is_not_passed_on_as_the_clients_id() {
    // A forward from a peer: its X-Request-Id is that node's number; the client's id is the
    // passed-on one, and without one there is none.
    let with = ReqFields {
        request_id: Some(b"72057594037927937"),
        client_request_id: Some(b"client-2"),
        ..ReqFields::default()
    };
    assert_eq!(req(true, with).client_id(), Some(&b"client-2"[..]));
    let without = ReqFields {
        request_id: Some(b"72057594037927937"),
        ..ReqFields::default()
    };
    assert_eq!(req(true, without).client_id(), None);
    assert!(context_lines(&req(true, without)).is_empty());
    // Nothing to pass on: nothing allocated.
    let none = req(false, ReqFields::default());
    assert!(passed_on(&none).is_empty());
    let mut v = Vec::new();
    push_context_lines(&none, &mut v);
    assert_eq!(v.capacity(), 0);
}
