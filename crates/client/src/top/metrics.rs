//! The few series `top` reads from a node's Prometheus text (`GET /admin/metrics`), folded into one
//! [`Counters`] value per scrape. Pure: the text in, numbers out.

/// Routes left out of the request rate: `top`'s own scrapes (`metrics`, `cluster`), Prometheus's
/// (`metrics`) and the peers' probes (`internal`). Counting them would show a few requests per
/// second on an idle cluster, and the column is meant to show what clients ask of the cache.
const MONITORING_ROUTES: [&str; 3] = ["metrics", "cluster", "internal"];

/// What one scrape of one node says: counters since the node started, and gauges.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Counters {
    /// `cache_requests_total` summed over routes, less [`MONITORING_ROUTES`].
    pub requests: f64,
    pub hits: f64,
    pub misses: f64,
    /// `cache_errors_total`, both kinds (4xx except 404, and 5xx).
    pub errors: f64,
    /// `cache_forwarded_requests_total`, every peer and result.
    pub forwards: f64,
    /// Forwards whose result is not `ok` (`error`, `timeout`).
    pub forward_failures: f64,
    pub entries: f64,
    pub bytes: f64,
    /// The summary's quantiles since the node started (seconds); `None` before any request.
    pub p50: Option<f64>,
    pub p99: Option<f64>,
    pub draining: bool,
}

/// Fold the Prometheus text of one node into [`Counters`]. Unknown series, comments and lines
/// that do not parse are skipped: a newer node with more series must not break an older `top`.
pub fn parse(text: &str) -> Counters {
    let mut c = Counters::default();
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        if let Some((name, labels, value)) = sample(line) {
            add(&mut c, name, labels, value);
        }
    }
    c
}

fn add(c: &mut Counters, name: &str, labels: &str, v: f64) {
    match name {
        "cache_requests_total" if !MONITORING_ROUTES.contains(&label(labels, "route")) => {
            c.requests += v;
        }
        "cache_hits_total" => c.hits = v,
        "cache_misses_total" => c.misses = v,
        "cache_errors_total" => c.errors += v,
        "cache_forwarded_requests_total" => {
            c.forwards += v;
            if label(labels, "result") != "ok" {
                c.forward_failures += v;
            }
        }
        "cache_entries" => c.entries = v,
        "cache_bytes" => c.bytes = v,
        "cache_draining" => c.draining = v != 0.0,
        "cache_request_duration_quantile_seconds" => match label(labels, "quantile") {
            "0.5" => c.p50 = Some(v),
            "0.99" => c.p99 = Some(v),
            _ => {}
        },
        _ => {}
    }
}

/// `name{labels} value` split into its three parts (labels without the braces, maybe empty).
fn sample(line: &str) -> Option<(&str, &str, f64)> {
    let (series, value) = line.trim_end().rsplit_once(' ')?;
    let value = value.parse().ok()?;
    match series.split_once('{') {
        Some((name, rest)) => Some((name, rest.strip_suffix('}')?, value)),
        None => Some((series, "", value)),
    }
}

/// The raw value of label `key`, or `""`. Only used for the labels `top` matches on (route,
/// result, quantile), whose values never hold quotes or commas, so no unescaping is needed.
fn label<'a>(labels: &'a str, key: &str) -> &'a str {
    labels
        .split(',')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| k.trim() == key)
        .map_or("", |(_, v)| v.trim_matches('"'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"# HELP cache_requests_total HTTP responses sent, by route, method and status.
# TYPE cache_requests_total counter
cache_requests_total{route="cache",method="GET",status="200"} 90
cache_requests_total{route="cache",method="PUT",status="201"} 10
cache_requests_total{route="health",method="GET",status="200"} 5
cache_requests_total{route="metrics",method="GET",status="200"} 7
cache_requests_total{route="cluster",method="GET",status="200"} 7
cache_requests_total{route="internal",method="GET",status="200"} 30
cache_errors_total{kind="client"} 3
cache_errors_total{kind="server"} 1
cache_hits_total 60
cache_misses_total 30
cache_entries 1000
cache_bytes 123456
cache_draining 0
cache_request_duration_quantile_seconds{quantile="0.5"} 0.000073
cache_request_duration_quantile_seconds{quantile="0.9"} 0.009
cache_request_duration_quantile_seconds{quantile="0.99"} 0.0125
cache_forwarded_requests_total{peer="n\"1,x",result="ok"} 40
cache_forwarded_requests_total{peer="node-b",result="timeout"} 2
cache_forwarded_requests_total{peer="node-c",result="error"} 1
garbage line
extra_metric 1
"#;

    #[test]
    fn folds_the_series_top_shows() {
        let c = parse(TEXT);
        assert_eq!(
            c.requests, 105.0,
            "cache + health, not metrics/cluster/internal"
        );
        assert_eq!((c.hits, c.misses, c.errors), (60.0, 30.0, 4.0));
        assert_eq!((c.forwards, c.forward_failures), (43.0, 3.0));
        assert_eq!((c.entries, c.bytes), (1000.0, 123456.0));
        assert_eq!((c.p50, c.p99), (Some(0.000073), Some(0.0125)));
        assert!(!c.draining);
    }

    #[test]
    fn empty_or_foreign_text_is_all_zero() {
        assert_eq!(parse(""), Counters::default());
        assert_eq!(parse("<html>nope</html>\n"), Counters::default());
        assert!(parse("cache_draining 1\n").draining);
    }

    #[test]
    fn labels() {
        let l = r#"route="cache",method="GET",status="200""#;
        assert_eq!(label(l, "method"), "GET");
        assert_eq!(label(l, "status"), "200");
        assert_eq!(label(l, "nope"), "");
        assert_eq!(sample("x 1.5e3"), Some(("x", "", 1500.0)));
        assert_eq!(sample("x{a=\"b\"} 2"), Some(("x", "a=\"b\"", 2.0)));
        assert_eq!(sample("x{a=\"b\" 2"), None);
    }
}
