//! `cluster.discovery` and `cluster.discovery_resolver`: where a node looks for the other members
//! besides `cluster_nodes`. `dns:<name>:<port>` names a DNS name whose A/AAAA records are the
//! members' addresses (a Kubernetes headless Service), each reached on `<port>`; the prober
//! resolves it every round through `cluster::dns`. Both keys are checked at load time, so the
//! parsed forms below are available to the rest of the node without a second error path.

use super::error::Invalid;
use super::sections::ClusterConfig;
use std::fmt;
use std::net::SocketAddr;

/// The only discovery scheme so far; the prefix leaves room for others (`srv:`, `k8s:`).
pub const DISCOVERY_SCHEME: &str = "dns:";
/// Longest DNS name in its text form (RFC 1035 section 2.3.4: 255 octets on the wire).
pub const MAX_DNS_NAME_BYTES: usize = 253;
/// Longest label of a DNS name (RFC 1035 section 2.3.4).
pub const MAX_DNS_LABEL_BYTES: usize = 63;

/// A parsed `cluster.discovery`: resolve `name`, reach every address on `port`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Discovery {
    /// The DNS name, as written (without a trailing dot).
    pub name: String,
    pub port: u16,
}

impl Discovery {
    /// Parses `dns:<name>:<port>`; the message says which part is wrong.
    pub fn parse(text: &str) -> Result<Discovery, String> {
        let Some(rest) = text.strip_prefix(DISCOVERY_SCHEME) else {
            return Err(format!(
                "{text:?} is not a discovery source; expected \"\" (off) or \
                 \"dns:<name>:<port>\", e.g. \"dns:cache-node:8001\""
            ));
        };
        let Some((name, port)) = rest.rsplit_once(':') else {
            return Err(format!(
                "{text:?} has no port; expected \"dns:<name>:<port>\", e.g. \"dns:cache-node:8001\""
            ));
        };
        let port = match port.parse::<u16>() {
            Ok(p) if p != 0 && port.bytes().all(|b| b.is_ascii_digit()) => p,
            _ => return Err(format!("invalid port {port:?} in {text:?} (1..=65535)")),
        };
        let name = name.strip_suffix('.').unwrap_or(name);
        check_dns_name(name).map_err(|m| format!("{m} in {text:?}"))?;
        Ok(Discovery {
            name: name.to_owned(),
            port,
        })
    }
}

impl fmt::Display for Discovery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{DISCOVERY_SCHEME}{}:{}", self.name, self.port)
    }
}

/// Checks a DNS name: 1..=253 bytes, labels of 1..=63 letters, digits, `-` or `_`.
fn check_dns_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_DNS_NAME_BYTES {
        return Err(format!(
            "the DNS name {name:?} must be 1 to {MAX_DNS_NAME_BYTES} characters long"
        ));
    }
    for label in name.split('.') {
        if label.is_empty() || label.len() > MAX_DNS_LABEL_BYTES {
            return Err(format!(
                "the DNS name {name:?} has a label {label:?} that is empty or longer than \
                 {MAX_DNS_LABEL_BYTES} characters"
            ));
        }
        let valid = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
        if let Some(c) = label.chars().find(|&c| !valid(c)) {
            return Err(format!(
                "the DNS name {name:?} contains {c:?}; only letters, digits, '-', '_' and '.' are allowed"
            ));
        }
    }
    Ok(())
}

/// Parses `cluster.discovery_resolver`: an IP literal and a port, no name (resolving the
/// resolver's own name would need a resolver).
pub(super) fn parse_resolver(text: &str) -> Result<SocketAddr, String> {
    match text.parse::<SocketAddr>() {
        Ok(addr) if addr.port() != 0 => Ok(addr),
        Ok(_) => Err(format!("port 0 in {text:?} cannot be queried")),
        Err(_) => Err(format!(
            "expected \"ip:port\" of a DNS server, e.g. \"10.96.0.10:53\" or \"[fd00::10]:53\", \
             got {text:?}"
        )),
    }
}

/// Load-time check of both keys (an empty value means off / the system resolver).
pub(super) fn validate(discovery: &str, resolver: &str) -> Result<(), Invalid> {
    if !discovery.is_empty() {
        Discovery::parse(discovery).map_err(|m| Invalid::at("cluster", "discovery", m))?;
    }
    if !resolver.is_empty() {
        parse_resolver(resolver).map_err(|m| Invalid::at("cluster", "discovery_resolver", m))?;
    }
    Ok(())
}

impl ClusterConfig {
    /// The discovery source, `None` when off (validated at load: a set value always parses).
    pub fn discovery(&self) -> Option<Discovery> {
        if self.discovery.is_empty() {
            return None;
        }
        Discovery::parse(&self.discovery).ok()
    }

    /// The DNS server to ask, `None` for the system's (first `nameserver` of /etc/resolv.conf).
    pub fn discovery_resolver(&self) -> Option<SocketAddr> {
        if self.discovery_resolver.is_empty() {
            return None;
        }
        parse_resolver(&self.discovery_resolver).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dns_sources() {
        let d = Discovery::parse("dns:cache-node:8001").expect("valid");
        assert_eq!((d.name.as_str(), d.port), ("cache-node", 8001));
        assert_eq!(d.to_string(), "dns:cache-node:8001");
        let d = Discovery::parse("dns:cache-node.default.svc.cluster.local.:1").expect("valid");
        assert_eq!(d.name, "cache-node.default.svc.cluster.local");
        let long = format!("dns:{}.{}:80", "a".repeat(63), "b".repeat(63));
        assert!(Discovery::parse(&long).is_ok());
    }

    #[test]
    fn rejects_bad_sources_saying_why() {
        let cases = [
            ("cache-node:8001", "not a discovery source"),
            ("srv:cache-node:8001", "not a discovery source"),
            ("dns:cache-node", "no port"),
            ("dns:cache-node:", "invalid port"),
            ("dns:cache-node:0", "invalid port"),
            ("dns:cache-node:+80", "invalid port"),
            ("dns:cache-node:65536", "invalid port"),
            ("dns::8001", "1 to 253"),
            ("dns:a..b:8001", "label"),
            ("dns:bad name:8001", "contains ' '"),
            ("dns:[::1]:8001", "contains"),
        ];
        for (text, want) in cases {
            let err = Discovery::parse(text).expect_err(text);
            assert!(err.contains(want), "{text}: {err}");
        }
        let too_long = format!("dns:{}:80", "a".repeat(64));
        assert!(Discovery::parse(&too_long).unwrap_err().contains("label"));
        let too_long = format!("dns:{}:80", ["a"; 128].join("."));
        assert!(Discovery::parse(&too_long)
            .unwrap_err()
            .contains("1 to 253"));
    }

    #[test]
    fn resolvers_are_ip_and_port() {
        assert_eq!(
            parse_resolver("10.96.0.10:53"),
            Ok("10.96.0.10:53".parse().unwrap())
        );
        assert_eq!(
            parse_resolver("[::1]:5353"),
            Ok("[::1]:5353".parse().unwrap())
        );
        for bad in [
            "10.96.0.10",
            "dns.local:53",
            "10.96.0.10:0",
            ":53",
            "1.2.3.4:99999",
        ] {
            assert!(parse_resolver(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn parsed_forms_follow_the_strings() {
        let mut c = ClusterConfig::default();
        assert_eq!((c.discovery(), c.discovery_resolver()), (None, None));
        c.discovery = "dns:cache-node:8001".into();
        c.discovery_resolver = "127.0.0.1:5353".into();
        let want = Discovery {
            name: "cache-node".into(),
            port: 8001,
        };
        assert_eq!(c.discovery(), Some(want));
        assert_eq!(
            c.discovery_resolver(),
            Some("127.0.0.1:5353".parse().unwrap())
        );
        assert!(c.validate().is_ok());
        c.discovery_resolver = "resolver:53".into();
        let err = c.validate().expect_err("a name is not a resolver");
        assert_eq!(
            (err.section, err.key.as_str()),
            (Some("cluster"), "discovery_resolver")
        );
        c.discovery = "dns:x".into();
        let err = c.validate().expect_err("no port");
        assert_eq!(err.key, "discovery");
    }
}
