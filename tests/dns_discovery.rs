//! `cluster.discovery` against a real DNS server: dnsmasq on 127.0.0.1 serving a `.test` zone
//! from a hosts file (several A records and an AAAA for one name, 40 for another so the UDP
//! answer is truncated and the client must ask again over TCP). Needs dnsmasq installed
//! (`apt-get install dnsmasq-base`, the binary without the system service; .ci/run installs
//! it): without it the test fails, saying so.

use std::io::Read;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use dcache::cluster::dns::{
    discover, encode_query, lookup, parse_answer, DnsError, WireError, QTYPE_A,
};
use dcache::config::Discovery;

/// Per lookup: dnsmasq answers from memory in well under a millisecond; the margin is for a
/// loaded CI machine.
const TIMEOUT: Duration = Duration::from_secs(2);
/// How long dnsmasq may take to start answering.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// Addresses of `big.test`: 40 A records are 40 x 16 bytes, past the 512 bytes of a UDP answer.
const BIG: u8 = 40;

/// A running dnsmasq, killed by PID when dropped.
struct Dnsmasq {
    child: Child,
    addr: SocketAddr,
    dir: PathBuf,
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn find_dnsmasq() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs = std::env::split_paths(&path).chain(["/usr/sbin".into(), "/sbin".into()]);
    for dir in dirs {
        let candidate = dir.join("dnsmasq");
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!(
        "dnsmasq is not installed, and this test needs a real DNS server: install it \
         (apt-get install -y dnsmasq-base; .ci/run does) and run the test again"
    );
}

fn hosts_file(dir: &Path) -> PathBuf {
    let mut hosts = String::new();
    for last in [11, 12, 13] {
        hosts.push_str(&format!("127.0.0.{last} cache-node.test\n"));
    }
    hosts.push_str("fd00::5 cache-node.test\n127.0.0.20 only-v4.test\n");
    for i in 1..=BIG {
        hosts.push_str(&format!("10.1.0.{i} big.test\n"));
    }
    let path = dir.join("hosts");
    std::fs::write(&path, hosts).expect("write the hosts file");
    path
}

/// A port that was free for UDP and for TCP a moment ago (dnsmasq binds it for both).
fn free_port() -> u16 {
    loop {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind an ephemeral port");
        let port = socket.local_addr().expect("local address").port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// Starts tried when the port is taken between [`free_port`] and dnsmasq's bind (another test
/// of this suite, or a connection of the other suites, can get it meanwhile).
const START_ATTEMPTS: usize = 5;

fn start_dnsmasq() -> Dnsmasq {
    let binary = find_dnsmasq();
    for _ in 1..START_ATTEMPTS {
        match try_start(&binary) {
            Ok(server) => return server,
            Err(busy) => eprintln!("dnsmasq: its port was taken meanwhile, another one: {busy}"),
        }
    }
    try_start(&binary).unwrap_or_else(|e| panic!("dnsmasq exited at start: {e}"))
}

/// Start dnsmasq on a free port; `Err` when the port was taken before it could bind.
fn try_start(binary: &Path) -> Result<Dnsmasq, String> {
    // One directory per server (tests of this file run dnsmasq at the same time); a failed
    // start removes its own when it is dropped.
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("dcache-dns-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create the scratch directory");
    let hosts = hosts_file(&dir);
    let port = free_port();
    let child = Command::new(binary)
        .args([
            "--no-daemon",
            "--conf-file=/dev/null", // ignore the host's /etc/dnsmasq.conf
            &format!("--port={port}"),
            "--listen-address=127.0.0.1",
            "--bind-interfaces",
            "--no-resolv",
            "--no-hosts",
            "--local=/test/", // answer .test from the hosts file only: NXDOMAIN for the rest
            &format!("--addn-hosts={}", hosts.display()),
            "--pid-file=", // no pid file: the child is killed by its PID
            "--log-facility=-",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start dnsmasq");
    let mut server = Dnsmasq {
        child,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        dir,
    };
    wait_until_answering(&mut server)?;
    Ok(server)
}

/// Wait until dnsmasq answers; `Err` when it exited because its port was in use (any other
/// exit, or no answer within [`START_TIMEOUT`], fails the test).
fn wait_until_answering(server: &mut Dnsmasq) -> Result<(), String> {
    let start = Instant::now();
    loop {
        if let Some(status) = server.child.try_wait().expect("dnsmasq status") {
            let mut stderr = String::new();
            if let Some(mut pipe) = server.child.stderr.take() {
                let _ = pipe.read_to_string(&mut stderr);
            }
            if stderr.contains("Address already in use") {
                return Err(format!("{status}: {stderr}"));
            }
            panic!("dnsmasq exited at start ({status}): {stderr}");
        }
        match lookup("only-v4.test", server.addr, Duration::from_millis(200)) {
            Ok(_) => return Ok(()),
            Err(e) if start.elapsed() > START_TIMEOUT => {
                panic!("dnsmasq at {} does not answer: {e}", server.addr)
            }
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// One A query over UDP, parsed as it arrives (no TCP fallback).
fn udp_answer(server: SocketAddr, name: &str) -> Result<Vec<IpAddr>, WireError> {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket.connect(server).expect("connect");
    socket.set_read_timeout(Some(TIMEOUT)).expect("timeout");
    let query = encode_query(0x1234, name, QTYPE_A).expect("query");
    socket.send(&query).expect("send");
    let mut buf = [0u8; 4096];
    let n = socket.recv(&mut buf).expect("dnsmasq answers");
    parse_answer(0x1234, &buf[..n])
}

fn source(name: &str) -> Discovery {
    Discovery::parse(&format!("dns:{name}:8001")).expect("valid discovery source")
}

fn addrs(list: &[&str]) -> Vec<SocketAddr> {
    list.iter().map(|a| a.parse().expect("address")).collect()
}

#[test]
fn discovery_against_dnsmasq() {
    let server = start_dnsmasq();
    let resolver = Some(server.addr);

    // Every A and AAAA record of the name, each with the source's port, sorted.
    let found = discover(&source("cache-node.test"), resolver, TIMEOUT).expect("discover");
    let want = addrs(&[
        "127.0.0.11:8001",
        "127.0.0.12:8001",
        "127.0.0.13:8001",
        "[fd00::5]:8001",
    ]);
    assert_eq!(found, want);
    // A trailing dot (an absolute name) asks the same.
    let absolute = discover(&source("cache-node.test."), resolver, TIMEOUT).expect("discover");
    assert_eq!(absolute, want);
    // A name with A records only: AAAA answers NOERROR without records.
    let v4 = discover(&source("only-v4.test"), resolver, TIMEOUT).expect("discover");
    assert_eq!(v4, addrs(&["127.0.0.20:8001"]));

    // 40 records do not fit a UDP answer (TC): the client asks again over TCP and gets them all.
    assert_eq!(
        udp_answer(server.addr, "big.test"),
        Err(WireError::Truncated),
        "dnsmasq should truncate the UDP answer, or the TCP path is not tested"
    );
    let big = lookup("big.test", server.addr, TIMEOUT).expect("lookup over TCP");
    let mut want: Vec<IpAddr> = (1..=BIG).map(|i| IpAddr::from([10, 1, 0, i])).collect();
    let mut got = big.clone();
    got.sort();
    want.sort();
    assert_eq!(got, want);

    // A name that does not exist: NXDOMAIN, named.
    let err = discover(&source("no-such-node.test"), resolver, TIMEOUT).expect_err("NXDOMAIN");
    assert!(matches!(err, DnsError::NotFound { .. }), "{err:?}");
    let shown = err.to_string();
    assert!(
        shown.contains("\"no-such-node.test\"") && shown.contains(&server.addr.to_string()),
        "{shown}"
    );

    // The resolver gone (its port closed): an error naming it, at once rather than a timeout.
    let addr = server.addr;
    drop(server);
    let err = discover(&source("cache-node.test"), Some(addr), TIMEOUT).expect_err("down");
    let shown = err.to_string();
    eprintln!("with the resolver down: {shown}");
    assert!(
        matches!(err, DnsError::Io { .. } | DnsError::Timeout { .. }),
        "{err:?}"
    );
    assert!(
        shown.contains(&addr.to_string()) && shown.contains("cache-node.test"),
        "{shown}"
    );
}

#[test]
fn a_silent_resolver_times_out_naming_it() {
    // Bound but never read: queries vanish, as with a resolver that is unreachable or hung.
    let silent = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let addr = silent.local_addr().expect("address");
    let timeout = Duration::from_millis(300);
    let start = Instant::now();
    let err = discover(&source("cache-node.test"), Some(addr), timeout).expect_err("timeout");
    let waited = start.elapsed();
    assert!(matches!(err, DnsError::Timeout { .. }), "{err:?}");
    let shown = err.to_string();
    assert!(
        shown.contains(&addr.to_string()) && shown.contains("timed out"),
        "{shown}"
    );
    // Bounded by the timeout (retry included), not hanging.
    assert!(waited >= timeout / 2 && waited < timeout * 10, "{waited:?}");
    // Both tries really went out: two queries (A and AAAA) per try.
    silent.set_nonblocking(true).expect("nonblocking");
    let mut buf = [0u8; 512];
    let mut received = 0;
    while silent.recv(&mut buf).is_ok() {
        received += 1;
    }
    assert_eq!(received, 4, "A and AAAA, each sent twice");
}

mod common;

/// Two nodes that know only themselves (`cluster_nodes` lists just the node, as a StatefulSet
/// pod's config does) find each other through `cluster.discovery` against dnsmasq and become one
/// cluster: the first forms alone, the second joins it (the larger id joins), and the keys the
/// first held are readable through the second once the change settled.
#[test]
fn nodes_that_know_only_themselves_find_each_other_through_dns() {
    use common::{eventually, request};
    let dns = start_dnsmasq();
    // cache-node.test has 127.0.0.11, .12 and .13: two nodes on the first two, nobody on .13.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.11:0").expect("bind an ephemeral port");
        l.local_addr().expect("local address").port()
    };
    let at = |last: u8| SocketAddr::from(([127, 0, 0, last], port));
    let yaml = |id: &str, me: SocketAddr| {
        format!(
            "node_id: \"{id}\"\naddress: \"{me}\"\ncluster_nodes:\n  {id}: \"{me}\"\ncache_size: 10000\n\
             threads: 1\npin_threads: false\nlog_level: warn\ncluster:\n  probe_interval: \"100ms\"\n  \
             probe_timeout: \"90ms\"\n  connect_timeout: \"90ms\"\n  discovery: \"dns:cache-node.test:{port}\"\n  \
             discovery_resolver: \"{}\"\n",
            dns.addr
        )
    };
    let start = |y: String| {
        std::thread::spawn(move || {
            let cfg = dcache::Config::from_yaml_str(&y, "<dns test>").expect("valid config");
            dcache::Node::start(cfg).expect("node starts")
        })
        .join()
        .expect("start thread")
    };
    let (a, b) = (at(11), at(12));
    let na = start(yaml("a", a));
    let formed = eventually(Duration::from_secs(10), || {
        request(a, "GET", "/api/v1/health", None).status == 200
    });
    assert!(
        formed,
        "{}",
        request(a, "GET", "/admin/cluster", None).text()
    );
    for i in 0..50 {
        let r = request(
            a,
            "PUT",
            &format!("/api/v1/cache/d{i}"),
            Some("{\"value\":1}"),
        );
        assert_eq!(r.status, 201, "{}", r.text());
    }
    let nb = start(yaml("b", b));
    let one = eventually(Duration::from_secs(20), || {
        let c: serde_json::Value =
            serde_json::from_slice(&request(a, "GET", "/admin/cluster", None).body)
                .unwrap_or_default();
        c["settled"] == true && c["membership"].as_array().is_some_and(|m| m.len() == 2)
    });
    assert!(one, "{}", request(a, "GET", "/admin/cluster", None).text());
    let readable = eventually(Duration::from_secs(10), || {
        (0..50).all(|i| request(b, "GET", &format!("/api/v1/cache/d{i}"), None).status == 200)
    });
    assert!(readable, "every key of a is readable through b");
    nb.shutdown();
    na.shutdown();
}
