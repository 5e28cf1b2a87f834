//! A blocking HTTP/1.1 keep-alive client over `std::net`, for the CLI commands and the test suite.
//!
//! One [`Conn`] talks to one node address and keeps its TCP connection between requests. A request
//! that fails on a *reused* connection before any byte of the answer arrived is retried once on a
//! fresh one (the node may have closed an idle keep-alive connection; the request never reached
//! it), unless its body is a stream that cannot be replayed. Bodies can be collected
//! ([`Conn::request`]) or streamed to a writer ([`Conn::request_to`]), so an export of any size
//! goes to a file with bounded memory; chunked bodies are decoded by the node's own
//! [`ChunkedDecoder`](dcache_http::ChunkedDecoder) (response reading lives in `conn/read.rs`).
//! [`Options`] add headers (conditions, a raw value's `Content-Type`) and mark requests that must
//! never be sent twice (`incr`). An address written `https://host:port` is reached over TLS
//! ([`crate::tls`]); `host:port` and `http://host:port` over plain TCP.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use super::error::ClientError;

mod options;
mod read;
mod stream;

pub use options::{field_value, Options, JSON_TYPE, MAX_FIELD_BYTES};
use stream::Stream;
pub use stream::Target;

/// Bytes asked of the socket per read.
const READ_CHUNK: usize = 64 * 1024;

/// A complete response with its body collected.
#[derive(Clone, Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// First header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }

    /// The body as JSON, if it is JSON.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The `error` member of a JSON error body, else the body text, else the status.
    pub fn error_message(&self) -> String {
        match self
            .json()
            .as_ref()
            .and_then(|v| v.get("error")?.as_str().map(str::to_string))
        {
            Some(msg) => msg,
            None if !self.body.is_empty() => self.text().trim().to_string(),
            None => format!("HTTP {}", self.status),
        }
    }
}

/// Status and headers of a response whose body went to a writer.
#[derive(Clone, Debug)]
pub struct ResponseMeta {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// The body when the status is not 2xx (then nothing was written to the sink).
    pub error_body: Vec<u8>,
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

impl ResponseMeta {
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }
}

/// A request body.
pub enum Body<'a> {
    None,
    Bytes(&'a [u8]),
    /// `len` bytes read from `reader` (sent with `Content-Length: len`); cannot be replayed.
    Stream {
        reader: &'a mut dyn Read,
        len: u64,
    },
}

/// Keep-alive connection to one node.
pub struct Conn {
    /// The address as given (with its scheme), for messages.
    addr: String,
    target: Target,
    timeout: Duration,
    stream: Option<Stream>,
    /// Bytes received and not yet consumed.
    rbuf: Vec<u8>,
}

/// A failed attempt, and whether it failed before anything of the answer arrived on a connection
/// that had served earlier requests (then the request is safe to send again once).
struct Failed {
    error: ClientError,
    stale: bool,
}

impl Conn {
    /// No I/O yet: the connection is opened by the first request.
    pub fn new(addr: impl Into<String>, timeout: Duration) -> Conn {
        let addr = addr.into();
        Conn {
            target: Target::parse(&addr),
            addr,
            timeout,
            stream: None,
            rbuf: Vec::new(),
        }
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Send one request and collect the whole response.
    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
    ) -> Result<Response, ClientError> {
        self.request_with(method, path, body, &Options::default())
    }

    /// [`Conn::request`] with the headers and retry rule of `opts`.
    pub fn request_with(
        &mut self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
        opts: &Options<'_>,
    ) -> Result<Response, ClientError> {
        let mut out = Vec::new();
        let body = body.map_or(Body::None, Body::Bytes);
        let meta = self.send(method, path, body, opts, &mut out)?;
        Ok(Response {
            status: meta.status,
            headers: meta.headers,
            body: if (200..300).contains(&meta.status) {
                out
            } else {
                meta.error_body
            },
        })
    }

    /// Send one request and write the body of a 2xx response to `sink` as it arrives. The body of
    /// any other status is collected into [`ResponseMeta::error_body`] instead, so a sink (a backup
    /// file) only ever receives what was asked for.
    pub fn request_to(
        &mut self,
        method: &str,
        path: &str,
        body: Body<'_>,
        sink: &mut dyn Write,
    ) -> Result<ResponseMeta, ClientError> {
        self.send(method, path, body, &Options::default(), sink)
    }

    fn send(
        &mut self,
        method: &str,
        path: &str,
        mut body: Body<'_>,
        opts: &Options<'_>,
        sink: &mut dyn Write,
    ) -> Result<ResponseMeta, ClientError> {
        let reused = self.stream.is_some();
        let replayable = opts.idempotent && !matches!(body, Body::Stream { .. });
        match self.attempt(method, path, &mut body, opts, sink) {
            Ok(meta) => Ok(meta),
            Err(f) if f.stale && reused && replayable => {
                self.drop_connection();
                self.attempt(method, path, &mut body, opts, sink)
                    .map_err(|f| f.error)
            }
            Err(f) => {
                self.drop_connection();
                Err(f.error)
            }
        }
    }

    fn drop_connection(&mut self) {
        self.stream = None;
        self.rbuf.clear();
    }

    fn connect(&self) -> Result<Stream, ClientError> {
        let tcp = self.connect_tcp()?;
        if !self.target.tls {
            return Ok(Stream::Plain(tcp));
        }
        let tls_error = |reason| ClientError::Tls {
            addr: self.addr.clone(),
            reason,
        };
        let config = crate::tls::config().map_err(tls_error)?;
        crate::tls::connect(config, self.target.host(), tcp)
            .map(|s| Stream::Tls(Box::new(s)))
            .map_err(tls_error)
    }

    fn connect_tcp(&self) -> Result<TcpStream, ClientError> {
        let addrs =
            self.target
                .authority
                .to_socket_addrs()
                .map_err(|source| ClientError::Resolve {
                    addr: self.addr.clone(),
                    source,
                })?;
        let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
        for a in addrs {
            match TcpStream::connect_timeout(&a, self.timeout) {
                Ok(s) => {
                    let setup = s
                        .set_nodelay(true)
                        .and_then(|()| s.set_read_timeout(Some(self.timeout)))
                        .and_then(|()| s.set_write_timeout(Some(self.timeout)));
                    return setup.map(|()| s).map_err(|source| self.io_error(source));
                }
                Err(e) => last = e,
            }
        }
        Err(ClientError::Connect {
            addr: self.addr.clone(),
            source: last,
        })
    }

    fn io_error(&self, source: io::Error) -> ClientError {
        match source.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => ClientError::Timeout {
                addr: self.addr.clone(),
            },
            _ => ClientError::Io {
                addr: self.addr.clone(),
                source,
            },
        }
    }

    fn attempt(
        &mut self,
        method: &str,
        path: &str,
        body: &mut Body<'_>,
        opts: &Options<'_>,
        sink: &mut dyn Write,
    ) -> Result<ResponseMeta, Failed> {
        let fresh = |error| Failed {
            error,
            stale: false,
        };
        if self.stream.is_none() {
            self.stream = Some(self.connect().map_err(fresh)?);
            self.rbuf.clear();
        }
        if let Err(error) = self.send_head_and_body(method, path, body, opts) {
            // A node refuses a body it will not take (413, 401) with an answer and closes
            // without reading the rest: that answer says more than the broken pipe. Nothing
            // arrived: the request may never have reached the node.
            if !(matches!(error, ClientError::Io { .. }) && self.answer_arrived()) {
                return Err(Failed { error, stale: true });
            }
        }
        let (status, headers, framing, close) = self.read_head(method == "HEAD")?;
        let mut error_body = Vec::new();
        let sink: &mut dyn Write = if (200..300).contains(&status) {
            sink
        } else {
            &mut error_body
        };
        self.read_body(framing, sink).map_err(fresh)?;
        if close {
            self.drop_connection();
        }
        Ok(ResponseMeta {
            status,
            headers,
            error_body,
        })
    }

    /// After a send that failed: whether the node's answer is there to read anyway.
    fn answer_arrived(&mut self) -> bool {
        matches!(self.fill(), Ok(true)) && !self.rbuf.is_empty()
    }

    fn send_head_and_body(
        &mut self,
        method: &str,
        path: &str,
        body: &mut Body<'_>,
        opts: &Options<'_>,
    ) -> Result<(), ClientError> {
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nUser-Agent: cache-client/{}\r\n",
            self.target.authority,
            env!("CARGO_PKG_VERSION")
        );
        if let Some(auth) = crate::credential::header() {
            head.push_str(auth);
        }
        for (name, value) in opts.headers {
            head.push_str(name);
            head.push_str(": ");
            head.push_str(value);
            head.push_str("\r\n");
        }
        let len = match body {
            Body::None if matches!(method, "PUT" | "POST") => Some(0),
            Body::None => None,
            Body::Bytes(b) => Some(b.len() as u64),
            Body::Stream { len, .. } => Some(*len),
        };
        if let Some(len) = len {
            head.push_str("Content-Type: ");
            head.push_str(opts.content_type);
            head.push_str("\r\nContent-Length: ");
            head.push_str(&len.to_string());
            head.push_str("\r\n");
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        if let Body::Bytes(b) = body {
            bytes.extend_from_slice(b);
        }
        let addr = self.addr.clone();
        let Some(stream) = self.stream.as_mut() else {
            return Err(ClientError::Closed { addr });
        };
        let io_err = |source: io::Error| match source.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
                ClientError::Timeout { addr: addr.clone() }
            }
            _ => ClientError::Io {
                addr: addr.clone(),
                source,
            },
        };
        stream.write_all(&bytes).map_err(io_err)?;
        if let Body::Stream { reader, len } = body {
            let sent = io::copy(&mut reader.take(*len), stream).map_err(io_err)?;
            if sent != *len {
                return Err(ClientError::Local {
                    what: "request body".to_string(),
                    source: io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("ended after {sent} of {len} bytes"),
                    ),
                });
            }
        }
        // A TLS session may hold the end of the body in its buffer (a no-op on plain TCP).
        stream.flush().map_err(io_err)?;
        Ok(())
    }
}

#[cfg(test)]
#[path = "conn_tests.rs"]
mod tests;
