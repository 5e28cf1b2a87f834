//! The parts of /etc/resolv.conf (resolv.conf(5)) that discovery uses when
//! `cluster.discovery_resolver` is empty: the first `nameserver`, the `search` list and
//! `options ndots:N`. In a Kubernetes pod these say "ask the cluster DNS, and try
//! `<name>.<namespace>.svc.cluster.local` first", which is what makes `dns:cache-node:8001` work.

use std::io::Read;
use std::net::IpAddr;

/// Where the system's resolver configuration lives.
pub const RESOLV_CONF: &str = "/etc/resolv.conf";
/// A resolv.conf is a few hundred bytes; reading stops here whatever the file is.
const MAX_RESOLV_CONF_BYTES: u64 = 64 * 1024;
/// glibc's limit on `search` domains (MAXDNSRCH): each one costs a round trip per lookup.
const MAX_SEARCH_DOMAINS: usize = 6;
/// glibc caps ndots at 15 (RES_MAXNDOTS).
const MAX_NDOTS: usize = 15;
/// glibc's default: a name with at least one dot is tried as written first.
const DEFAULT_NDOTS: usize = 1;

/// What discovery takes from resolv.conf.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvConf {
    /// The first `nameserver` line that holds an IP address.
    pub nameserver: Option<IpAddr>,
    /// The last `search` (or `domain`) line's domains, at most 6.
    pub search: Vec<String>,
    pub ndots: usize,
}

impl ResolvConf {
    /// Parses the text of a resolv.conf; unknown lines and malformed values are skipped, as the
    /// C library does.
    pub fn parse(text: &str) -> ResolvConf {
        let mut conf = ResolvConf {
            nameserver: None,
            search: Vec::new(),
            ndots: DEFAULT_NDOTS,
        };
        for line in text.lines() {
            let mut words = line.split_whitespace();
            match words.next() {
                Some("nameserver") if conf.nameserver.is_none() => {
                    conf.nameserver = words.next().and_then(|w| w.parse().ok());
                }
                Some("search" | "domain") => {
                    conf.search = words
                        .take(MAX_SEARCH_DOMAINS)
                        .map(|d| d.trim_end_matches('.').to_owned())
                        .filter(|d| !d.is_empty())
                        .collect();
                }
                Some("options") => {
                    for option in words {
                        if let Some(n) = option.strip_prefix("ndots:") {
                            if let Ok(n) = n.parse::<usize>() {
                                conf.ndots = n.min(MAX_NDOTS);
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        conf
    }

    /// Reads and parses [`RESOLV_CONF`].
    pub fn load() -> std::io::Result<ResolvConf> {
        let mut text = String::new();
        std::fs::File::open(RESOLV_CONF)?
            .take(MAX_RESOLV_CONF_BYTES)
            .read_to_string(&mut text)?;
        Ok(ResolvConf::parse(&text))
    }

    /// The names to ask for, in order, for `name` (the C library's rule): a name ending in `.`
    /// as written only; one with at least `ndots` dots as written, then with each search domain;
    /// any other with each search domain first, then as written.
    pub fn candidates(&self, name: &str) -> Vec<String> {
        if let Some(absolute) = name.strip_suffix('.') {
            return vec![absolute.to_owned()];
        }
        let searched = self.search.iter().map(|domain| format!("{name}.{domain}"));
        if name.matches('.').count() >= self.ndots {
            std::iter::once(name.to_owned()).chain(searched).collect()
        } else {
            searched.chain(std::iter::once(name.to_owned())).collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KUBERNETES: &str = "search default.svc.cluster.local svc.cluster.local cluster.local\n\
                              nameserver 10.96.0.10\noptions ndots:5\n";

    #[test]
    fn parses_a_pod_resolv_conf() {
        let conf = ResolvConf::parse(KUBERNETES);
        assert_eq!(conf.nameserver, Some("10.96.0.10".parse().unwrap()));
        assert_eq!(conf.search.len(), 3);
        assert_eq!(conf.ndots, 5);
        assert_eq!(
            conf.candidates("cache-node"),
            [
                "cache-node.default.svc.cluster.local",
                "cache-node.svc.cluster.local",
                "cache-node.cluster.local",
                "cache-node",
            ]
        );
        assert_eq!(conf.candidates("cache-node.test."), ["cache-node.test"]);
    }

    #[test]
    fn first_valid_nameserver_last_search_and_defaults() {
        let text = "# comment\n; other\nnameserver fe80::1%eth0\nnameserver ::1\nnameserver 10.0.0.1\n\
                    domain a.example\nsearch b.example. c.example\noptions rotate ndots:99 timeout:1\n";
        let conf = ResolvConf::parse(text);
        assert_eq!(conf.nameserver, Some("::1".parse().unwrap()));
        assert_eq!(conf.search, ["b.example", "c.example"]);
        assert_eq!(conf.ndots, MAX_NDOTS);
        let bare = ResolvConf::parse("");
        assert_eq!((bare.nameserver, bare.ndots), (None, DEFAULT_NDOTS));
        assert_eq!(bare.candidates("x.y"), ["x.y"]);
        let long = format!("search {}\n", ["d"; 10].join(" "));
        assert_eq!(ResolvConf::parse(&long).search.len(), MAX_SEARCH_DOMAINS);
        let conf = ResolvConf::parse("search s\n");
        assert_eq!(conf.candidates("a.b"), ["a.b", "a.b.s"]);
        assert_eq!(conf.candidates("a"), ["a.s", "a"]);
    }
}
