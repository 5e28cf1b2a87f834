//! The "bare monoio responder" peer of `bench/run.sh`: the floor our node is measured against.
//!
//! One monoio runtime on the calling thread, one task per connection: read, parse every complete
//! request head with httparse, append a fixed response per request, one write per batch. No
//! routing, no storage, no metrics, no timeouts: whatever the node spends above this is the price
//! of being a cache. The response carries the same JSON body as the node's GET hit in run.sh.
//!
//!     cargo build --release --bench bare      # run.sh finds the binary through cargo's JSON output
//!     <binary> serve 127.0.0.1:18085 uring    # or epoll
//!     <binary> serve 127.0.0.1:18085 uring same-head
//!
//! `same-head` answers with the head our node writes for that GET hit (`Date`, `X-Cache-Node`,
//! `ETag`, `Cache-Control`, `Last-Modified`: fixed values of the same lengths), so the bytes on
//! the wire match and a comparison isolates our user-space work from the kernel's cost of the
//! larger answer (the default head is the minimal one run.sh's rows compare against).
//!
//! The io_uring ring is set up exactly as the node's workers set theirs up (`RingSetup`, with the
//! same `CACHE_URING_SETUP` / `CACHE_URING_ENTRIES` knob), so the two stay like for like.
//!
//! Run by `cargo bench` (or `cargo test --benches`) it only prints how to use it.

use std::net::SocketAddr;

use monoio::buf::IoBufMut;
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::{TcpListener, TcpStream};

use dcache::node::uring::RingSetup;

/// The body our node sends for run.sh's GET hit (a 32-byte JSON string value).
const BODY: &str = r#"{"key":"bench:hit","value":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}"#;
/// Header fields read per request (wrk sends one or two).
const MAX_HEADERS: usize = 16;
/// The headers our node adds to a GET hit's head for `same-head`, between `Content-Type` and the
/// end (values as `flags-coop` of bench/perf.sh sends them, with a fixed date).
const OUR_HEADERS: &str = "X-Cache-Node: flags-coop\r\nETag: \"01a240ed6d510000\"\r\n\
    Cache-Control: no-cache\r\nLast-Modified: Fri, 04 Dec 2026 12:00:31 GMT\r\n";
/// `Date` of the `same-head` answer (a fixed IMF-fixdate: the same 29 bytes as a real one).
const OUR_DATE: &str = "Date: Fri, 04 Dec 2026 12:00:31 GMT\r\n";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some("serve"), Some(addr)) = (args.get(1).map(String::as_str), args.get(2)) else {
        println!(
            "bare monoio responder: run as `bare serve ADDR [uring|epoll]` (bench/run.sh does)"
        );
        return;
    };
    let addr: SocketAddr = match addr.parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("bad address {addr}: {e}");
            std::process::exit(2);
        }
    };
    let same_head = match args.get(4).map(String::as_str) {
        None => false,
        Some("same-head") => true,
        Some(other) => {
            eprintln!("unknown option {other:?} (expected same-head)");
            std::process::exit(2);
        }
    };
    let built = match args.get(3).map_or("uring", String::as_str) {
        "epoll" => monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .build()
            .map(|mut rt| rt.block_on(serve(addr, same_head))),
        _ => {
            let ring = RingSetup::from_env().unwrap_or_else(|e| {
                eprintln!("{e}");
                std::process::exit(2);
            });
            eprintln!("io_uring ring: {}", ring.describe());
            monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
                .with_entries(ring.entries)
                .uring_builder(ring.builder())
                .build()
                .map(|mut rt| rt.block_on(serve(addr, same_head)))
        }
    };
    if let Err(e) = built {
        eprintln!("cannot build the runtime: {e}");
        std::process::exit(1);
    }
}

async fn serve(addr: SocketAddr, same_head: bool) {
    let (date, ours) = if same_head {
        (OUR_DATE, OUR_HEADERS)
    } else {
        ("", "")
    };
    let response: &'static [u8] = format!(
        "HTTP/1.1 200 OK\r\n{date}Content-Type: application/json\r\nContent-Length: {}\r\n{ours}\r\n{BODY}",
        BODY.len()
    )
    .into_bytes()
    .leak();
    let listener = match TcpListener::bind(addr) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("cannot listen on {addr}: {e}");
            std::process::exit(1);
        }
    };
    loop {
        if let Ok((stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            monoio::spawn(connection(stream, response));
        }
    }
}

async fn connection(mut stream: TcpStream, response: &'static [u8]) {
    let mut rbuf: Vec<u8> = Vec::with_capacity(64 * 1024);
    let mut wbuf: Vec<u8> = Vec::with_capacity(64 * 1024);
    loop {
        if rbuf.capacity() - rbuf.len() < 4096 {
            rbuf.reserve(4096);
        }
        let (len, cap) = (rbuf.len(), rbuf.capacity());
        let (res, slice) = stream.read(rbuf.slice_mut(len..cap)).await;
        rbuf = slice.into_inner();
        if !matches!(res, Ok(n) if n > 0) {
            return;
        }
        let mut at = 0;
        loop {
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut req = httparse::Request::new(&mut headers);
            match req.parse(&rbuf[at..]) {
                Ok(httparse::Status::Complete(n)) => {
                    at += n;
                    wbuf.extend_from_slice(response);
                }
                Ok(httparse::Status::Partial) => break,
                Err(_) => return,
            }
        }
        rbuf.drain(..at);
        if !wbuf.is_empty() {
            let (res, buf) = stream.write_all(wbuf).await;
            wbuf = buf;
            wbuf.clear();
            if res.is_err() {
                return;
            }
        }
    }
}
