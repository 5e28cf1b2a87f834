//! The Prometheus endpoint: the text format, and the standard `process_*` families.

use std::collections::BTreeMap;

use crate::common::{self, request};

pub fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("no sample {name}"))
        .parse()
        .expect("numeric sample")
}

/// Prometheus text format 0.0.4: each sample's family has a `# TYPE`, values are numbers, family
/// names are unique, and keys never turn up (as labels or anywhere else).
pub fn metrics_exposition_format() {
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
pub fn metrics_have_process_families() {
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
