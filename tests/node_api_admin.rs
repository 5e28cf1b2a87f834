//! The node API across cores and under load from one connection (keep-alive, pipelining), the
//! Prometheus endpoint, and backup/restore through `/admin/export` and `/admin/import`.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;

use common::{build, request, Reader, Resp};

/// 500 distinct keys over ONE keep-alive connection on a 2-core node: roughly half live on the
/// other core, so every request that crosses cores must come back on the right connection.
#[test]
fn cross_core_keys_over_one_keep_alive_connection() {
    let node = common::run_single(2, "");
    let a = node.addr();
    let mut r = Reader::connect(a);
    for i in 0..500 {
        let body = format!("{{\"value\":{{\"i\":{i}}}}}");
        r.send(build("PUT", &format!("/api/v1/cache/key-{i}"), Some(&body)).as_bytes());
        let resp = r.response(false).expect("PUT response");
        assert_eq!(resp.status, 201, "key-{i}: {}", resp.text());
        assert!(!resp.closes());
    }
    for i in 0..500 {
        r.send(build("GET", &format!("/api/v1/cache/key-{i}"), None).as_bytes());
        let resp = r.response(false).expect("GET response");
        assert_eq!(
            resp.text(),
            format!("{{\"key\":\"key-{i}\",\"value\":{{\"i\":{i}}}}}")
        );
    }
    let m = request(a, "GET", "/admin/metrics", None).text();
    assert!(m.contains("cache_core_entries{core=\"0\"}"), "{m}");
    for core in 0..2 {
        let line = m
            .lines()
            .find(|l| l.starts_with(&format!("cache_core_entries{{core=\"{core}\"}}")))
            .expect("per-core gauge");
        let n: u64 = line.rsplit(' ').next().unwrap().parse().unwrap();
        assert!(n > 100, "core {core} holds only {n} of 500 keys: {line}");
    }
    assert!(metric(&m, "cache_cross_core_calls_total") > 0.0);
    assert!(node.stop());
}

/// What the node must answer for one request of the pipeline (a tiny model of the cache).
fn expect(model: &mut HashMap<String, u32>, op: u32, key: &str, i: u32) -> (u16, String) {
    match op {
        0 => {
            let created = model.insert(key.to_string(), i).is_none();
            let status = if created { 201 } else { 200 };
            (
                status,
                format!("{{\"key\":\"{key}\",\"created\":{created}}}"),
            )
        }
        1 => match model.get(key) {
            Some(v) => (200, format!("{{\"key\":\"{key}\",\"value\":{v}}}")),
            None => (
                404,
                format!("{{\"error\":\"key not found\",\"status\":404,\"key\":\"{key}\"}}"),
            ),
        },
        _ => match model.remove(key) {
            Some(_) => (200, format!("{{\"key\":\"{key}\",\"deleted\":true}}")),
            None => (
                404,
                format!("{{\"error\":\"key not found\",\"status\":404,\"key\":\"{key}\"}}"),
            ),
        },
    }
}

/// 200 mixed PUT/GET/DELETE requests in one write: 200 responses, in order, each with the body the
/// sequential model predicts (more than `max_pipeline` = 128, and keys on both cores).
#[test]
fn pipelined_mixed_requests_answer_in_order() {
    let node = common::run_single(2, "");
    let a = node.addr();
    let mut model = HashMap::new();
    let mut wire = String::new();
    let mut want = Vec::new();
    let mut seed: u32 = 12345;
    for i in 0..200u32 {
        seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
        let key = format!("p{}", (seed >> 16) % 23);
        let op = (seed >> 8) % 3;
        let path = format!("/api/v1/cache/{key}");
        wire.push_str(&match op {
            0 => build("PUT", &path, Some(&format!("{{\"value\":{i}}}"))),
            1 => build("GET", &path, None),
            _ => build("DELETE", &path, None),
        });
        want.push(expect(&mut model, op, &key, i));
    }
    let mut r = Reader::connect(a);
    r.send(wire.as_bytes());
    for (i, (status, body)) in want.iter().enumerate() {
        let resp = r
            .response(false)
            .unwrap_or_else(|| panic!("response {i} missing"));
        assert_eq!(
            (resp.status, resp.text()),
            (*status, body.clone()),
            "response {i}"
        );
    }
    r.send(build("GET", "/api/v1/health", None).as_bytes());
    assert_eq!(
        r.response(false).expect("in sync after pipeline").status,
        200
    );
    assert!(node.stop());
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("no sample {name}"))
        .parse()
        .expect("numeric sample")
}

/// Prometheus text format 0.0.4: each sample's family has a `# TYPE`, values are numbers, family
/// names are unique, and keys never turn up (as labels or anywhere else).
#[test]
fn metrics_exposition_format() {
    let node = common::run_single(2, "");
    let a = node.addr();
    let secret = "k-secret-label-probe";
    assert_eq!(
        request(
            a,
            "PUT",
            &format!("/api/v1/cache/{secret}"),
            Some(r#"{"value":1}"#)
        )
        .status,
        201
    );
    assert_eq!(
        request(a, "GET", &format!("/api/v1/cache/{secret}"), None).status,
        200
    );
    assert_eq!(
        request(a, "GET", "/api/v1/cache/k-missing-probe", None).status,
        404
    );
    assert_eq!(request(a, "GET", "/api/v1/cache/%ff", None).status, 400);
    let resp = request(a, "GET", "/admin/metrics", None);
    assert_eq!(resp.status, 200);
    assert!(resp
        .header("content-type")
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let text = resp.text();
    assert!(text.ends_with('\n'));

    let mut types: BTreeMap<String, String> = BTreeMap::new();
    for l in text.lines().filter_map(|l| l.strip_prefix("# TYPE ")) {
        let (name, kind) = l.split_once(' ').expect("# TYPE name kind");
        assert!(
            ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
            "{l}"
        );
        assert!(
            types.insert(name.to_string(), kind.to_string()).is_none(),
            "duplicate family {name}"
        );
    }
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let name_end = line.find(['{', ' ']).expect("sample name");
        let name = &line[..name_end];
        let family = types.contains_key(name).then_some(name).or_else(|| {
            ["_bucket", "_sum", "_count"].iter().find_map(|s| {
                let base = name.strip_suffix(s)?;
                matches!(
                    types.get(base).map(String::as_str),
                    Some("histogram" | "summary")
                )
                .then_some(base)
            })
        });
        assert!(family.is_some(), "sample without # TYPE: {line}");
        let value = line.rsplit(' ').next().unwrap();
        assert!(value.parse::<f64>().is_ok(), "bad value: {line}");
        if let Some(labels) = line[name_end..].strip_prefix('{') {
            let labels = &labels[..labels.rfind('}').expect("closing brace")];
            for pair in labels.split("\",").filter(|p| !p.is_empty()) {
                let (k, _) = pair
                    .split_once("=\"")
                    .unwrap_or_else(|| panic!("label {pair} in {line}"));
                assert!(
                    k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                    "{line}"
                );
            }
        }
    }
    assert!(metric(&text, "cache_hits_total") >= 1.0);
    assert!(metric(&text, "cache_misses_total") >= 1.0);
    assert!(
        text.contains("cache_requests_total{route=\"cache\",method=\"PUT\",status=\"201\"} 1\n"),
        "{text}"
    );
    assert!(
        text.contains("cache_requests_total{route=\"cache\",method=\"GET\",status=\"400\"} 1\n")
    );
    assert!(
        !text.contains(secret) && !text.contains("k-missing-probe"),
        "a key leaked into metrics"
    );
    assert!(node.stop());
}

/// The standard `process_*` families, read from /proc at scrape time (the test process here:
/// the node runs in it), with values a real process has.
#[test]
fn metrics_have_process_families() {
    let node = common::run_single(2, "");
    let a = node.addr();
    let text = request(a, "GET", "/admin/metrics", None).text();
    let rss = metric(&text, "process_resident_memory_bytes");
    assert!(rss > 1024.0 * 1024.0, "resident {rss}");
    assert!(metric(&text, "process_virtual_memory_bytes") >= rss);
    let (open, max) = (
        metric(&text, "process_open_fds"),
        metric(&text, "process_max_fds"),
    );
    // The node's listeners and eventfds/rings at least; never above the limit.
    assert!(open >= 3.0 && open <= max, "open {open} max {max}");
    // Two workers, the test thread and the runtime's own.
    assert!(metric(&text, "process_threads") >= 3.0);
    let cpu = metric(&text, "process_cpu_seconds_total");
    assert!(cpu >= 0.0);
    assert!(metric(&text, "process_start_time_seconds") > 1.5e9);
    for (family, kind) in [
        ("process_cpu_seconds_total", "counter"),
        ("process_resident_memory_bytes", "gauge"),
        ("process_max_fds", "gauge"),
    ] {
        assert!(
            text.contains(&format!("# TYPE {family} {kind}\n")),
            "{family}"
        );
    }
    let later = request(a, "GET", "/admin/metrics", None).text();
    assert!(
        metric(&later, "process_cpu_seconds_total") >= cpu,
        "a counter never goes back"
    );
    assert!(node.stop());
}

fn export(a: SocketAddr) -> (Resp, serde_json::Value) {
    let resp = request(a, "GET", "/admin/export", None);
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.header("content-type"), Some("application/json"));
    let doc = resp.json();
    (resp, doc)
}

fn entries_by_key(doc: &serde_json::Value) -> BTreeMap<String, serde_json::Value> {
    let entries = doc["entries"].as_array().expect("entries array");
    assert_eq!(doc["count"], entries.len(), "count field");
    entries
        .iter()
        .map(|e| (e["key"].as_str().unwrap().to_string(), e["value"].clone()))
        .collect()
}

fn import(a: SocketAddr, query: &str, body: &[u8]) -> Resp {
    let text = String::from_utf8(body.to_vec()).expect("utf-8 test document");
    request(a, "POST", &format!("/admin/import{query}"), Some(&text))
}

/// Export, delete everything, import the export with CR/LF stripped (as `curl -d @file` sends
/// it): the deletes are newer than the exported versions, so nothing comes back; imported with
/// `?overwrite=1` every key comes back with the same value, and the TTL survives.
#[test]
fn export_clear_import_round_trip() {
    let node = common::run_single(2, "");
    let a = node.addr();
    let mut bodies = BTreeMap::new();
    for i in 0..60 {
        let key = format!("e{i}");
        let value = match i % 4 {
            0 => format!("\"line one\\nline two\\r\\n {i}\""),
            1 => format!("{{ \"n\" : {i},\n \"list\": [1, 2.5, null, \"☃\"] }}"),
            2 => "\"tab\\tquote\\\"back\\\\slash \\u0001\"".to_string(),
            _ => format!("[{i}, true]"),
        };
        assert_eq!(
            request(
                a,
                "PUT",
                &format!("/api/v1/cache/{key}"),
                Some(&format!("{{\"value\":{value}}}"))
            )
            .status,
            201
        );
        bodies.insert(key, value);
    }
    assert_eq!(
        request(
            a,
            "PUT",
            "/api/v1/cache/ttl%2Fkey",
            Some(r#"{"value":"t","ttl":3600}"#)
        )
        .status,
        201
    );
    let before: BTreeMap<String, String> = bodies
        .keys()
        .map(|k| {
            (
                k.clone(),
                request(a, "GET", &format!("/api/v1/cache/{k}"), None).text(),
            )
        })
        .collect();

    let (raw, doc) = export(a);
    assert_eq!(doc["format"], "distributed-cache-export");
    assert_eq!(doc["version"], 1);
    assert_eq!(doc["count"], 61);
    let stripped: Vec<u8> = raw
        .body
        .iter()
        .copied()
        .filter(|b| *b != b'\r' && *b != b'\n')
        .collect();
    let stripped_doc: serde_json::Value =
        serde_json::from_slice(&stripped).expect("still JSON without CR/LF");
    assert_eq!(stripped_doc, doc, "removing CR/LF changed the document");

    for k in bodies
        .keys()
        .chain(std::iter::once(&"ttl%2Fkey".to_string()))
    {
        assert_eq!(
            request(a, "DELETE", &format!("/api/v1/cache/{k}"), None).status,
            200,
            "{k}"
        );
    }
    assert_eq!(export(a).1["count"], 0);

    let resp = import(a, "", &stripped);
    assert_eq!(resp.status, 200, "{}", resp.text());
    let j = resp.json();
    assert_eq!(
        (
            &j["imported"],
            &j["superseded"],
            &j["rejected"],
            &j["total"]
        ),
        (&0.into(), &61.into(), &0.into(), &61.into()),
        "{j}"
    );
    assert_eq!(
        j["nodes"],
        serde_json::json!({"t1": {"applied": 0, "superseded": 61, "rejected": 0}})
    );
    assert_eq!(export(a).1["count"], 0, "the deletes won");
    for k in before.keys() {
        let r = request(a, "GET", &format!("/api/v1/cache/{k}"), None);
        assert_eq!(r.status, 404, "{k} stays deleted");
    }

    let resp = import(a, "?overwrite=1", &stripped);
    assert_eq!(resp.status, 200, "{}", resp.text());
    let j = resp.json();
    assert_eq!(
        (
            &j["imported"],
            &j["superseded"],
            &j["rejected"],
            &j["total"]
        ),
        (&61.into(), &0.into(), &0.into(), &61.into()),
        "{j}"
    );
    for (k, body) in &before {
        assert_eq!(
            &request(a, "GET", &format!("/api/v1/cache/{k}"), None).text(),
            body,
            "{k}"
        );
    }
    let t = request(a, "GET", "/api/v1/cache/ttl%2Fkey", None).json();
    assert_eq!(t["value"], "t");
    assert!(
        (3590..=3600).contains(&t["ttl"].as_u64().expect("ttl kept")),
        "{t}"
    );
    assert_eq!(entries_by_key(&export(a).1), entries_by_key(&doc));
    assert!(node.stop());
}

/// A truncated or corrupt backup is refused whole (400 with a message) and stores nothing.
#[test]
fn corrupt_import_is_400_and_changes_nothing() {
    let node = common::run_single(2, "");
    let a = node.addr();
    for i in 0..20 {
        let r = request(
            a,
            "PUT",
            &format!("/api/v1/cache/c{i}"),
            Some(&format!("{{\"value\":{i}}}")),
        );
        assert_eq!(r.status, 201);
    }
    let (raw, doc) = export(a);
    for i in 0..20 {
        assert_eq!(
            request(a, "DELETE", &format!("/api/v1/cache/c{i}"), None).status,
            200
        );
    }
    let text = raw.text();
    let mut fewer = doc.clone();
    fewer["entries"].as_array_mut().unwrap().pop();
    let mut wrong_format = doc.clone();
    wrong_format["format"] = "something-else".into();
    let mut bad_entry = doc.clone();
    bad_entry["entries"][3]["key"] = "".into();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("truncated half", text.as_bytes()[..text.len() / 2].to_vec()),
        ("truncated tail", text.as_bytes()[..text.len() - 3].to_vec()),
        ("empty body", Vec::new()),
        ("not an object", b"[1,2,3]".to_vec()),
        ("empty object", b"{}".to_vec()),
        ("count mismatch", fewer.to_string().into_bytes()),
        ("wrong format", wrong_format.to_string().into_bytes()),
        ("empty key", bad_entry.to_string().into_bytes()),
        ("garbage", b"\x7fELF not json".to_vec()),
    ];
    for (what, body) in cases {
        let resp = import(a, "", &body);
        assert_eq!(resp.status, 400, "{what}: {}", resp.text());
        let j = resp.json();
        assert!(
            j["error"].as_str().is_some_and(|m| m.len() > 10),
            "{what}: {j}"
        );
        assert_eq!(
            export(a).1["count"],
            0,
            "{what}: a refused import stored entries"
        );
    }
    let keys: HashSet<String> = entries_by_key(&doc).into_keys().collect();
    assert_eq!(keys.len(), 20);
    assert!(node.stop());
}
