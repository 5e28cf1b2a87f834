//! Which nodes the client talks to: `--nodes host:port,...`, else the `CACHE_NODES` environment
//! variable (same syntax), else the cluster described by the node configs in `config/` (as
//! `scripts/start_cluster.sh` starts it), else the deployment guide's `localhost:8001..8003`.
//! An address may carry its scheme: `https://host:port` is reached over TLS (a config with
//! `tls.cert_file` gives its nodes that scheme).

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

/// The deployment guide's three nodes, used when neither `--nodes` nor a config directory says.
pub const DEFAULT_NODES: [&str; 3] = ["localhost:8001", "localhost:8002", "localhost:8003"];

/// Environment variable naming the nodes when `--nodes` is absent, so a shell session or a script
/// sets the cluster once. `monitoring/check_live.sh` reads the same variable.
pub const NODES_ENV: &str = "CACHE_NODES";

/// One node to talk to: a display name (node id when known) and its `host:port`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeAddr {
    pub name: String,
    pub addr: String,
}

/// Where the node list came from, for the suite's first line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    Flag,
    Env,
    ConfigDir(String),
    Default,
}

/// Only the keys the client needs; every other key of a node config is ignored here.
#[derive(Deserialize)]
struct NodeFile {
    node_id: Option<String>,
    address: Option<String>,
    #[serde(default)]
    cluster_nodes: BTreeMap<String, String>,
    #[serde(default)]
    tls: NodeTls,
}

/// The node's `tls:` section: a certificate means its nodes are reached with `https://`.
#[derive(Deserialize, Default)]
struct NodeTls {
    #[serde(default)]
    cert_file: String,
}

/// `addr` as the client reaches it: `https://addr` when the config enables TLS.
fn with_scheme(addr: String, tls: &NodeTls) -> String {
    if tls.cert_file.is_empty() {
        addr
    } else {
        format!("https://{addr}")
    }
}

/// The node list from `--nodes`, [`NODES_ENV`] (read here), a config directory or the defaults;
/// see [`choose`].
pub fn select(flag: &[String], config_dir: &Path) -> Result<(Vec<NodeAddr>, Source), String> {
    let env = std::env::var(NODES_ENV).ok();
    choose(flag, env.as_deref(), config_dir)
}

/// The flag's addresses, else `env`'s, else `config_dir`'s cluster, else [`DEFAULT_NODES`]. A flag
/// or variable with no address in it counts as absent. Errors only for a config directory whose
/// node files cannot be read or parsed.
pub fn choose(
    flag: &[String],
    env: Option<&str>,
    config_dir: &Path,
) -> Result<(Vec<NodeAddr>, Source), String> {
    let flagged = address_list(flag.iter().map(String::as_str));
    if !flagged.is_empty() {
        return Ok((flagged, Source::Flag));
    }
    let from_env = address_list(env.into_iter());
    if !from_env.is_empty() {
        return Ok((from_env, Source::Env));
    }
    match from_config_dir(config_dir)? {
        Some(nodes) => Ok((nodes, Source::ConfigDir(config_dir.display().to_string()))),
        None => Ok((address_list(DEFAULT_NODES.into_iter()), Source::Default)),
    }
}

/// `host:port` items separated by commas or whitespace (`"a:1,b:2"`, `"a:1 b:2"`: the latter is
/// how `monitoring/check_live.sh` documents `CACHE_NODES`), each named after its address.
fn address_list<'a>(items: impl Iterator<Item = &'a str>) -> Vec<NodeAddr> {
    items
        .flat_map(|item| item.split(|c: char| c == ',' || c.is_whitespace()))
        .filter(|a| !a.is_empty())
        .map(|a| NodeAddr {
            name: a.to_string(),
            addr: a.to_string(),
        })
        .collect()
}

/// The nodes of `dir/node*.yaml`: the `cluster_nodes` of the first file that has them (ordered by
/// node id), else each file's own `address`; `https://` when the file has `tls.cert_file`. `None`
/// when there is no such file.
pub fn from_config_dir(dir: &Path) -> Result<Option<Vec<NodeAddr>>, String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(None);
    };
    let mut files: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            name.starts_with("node") && (name.ends_with(".yaml") || name.ends_with(".yml"))
        })
        .collect();
    files.sort();
    let mut own = Vec::new();
    for path in &files {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let f: NodeFile = serde_yaml::from_str(&text)
            .map_err(|e| format!("cannot parse {}: {e}", path.display()))?;
        if !f.cluster_nodes.is_empty() {
            let nodes = f
                .cluster_nodes
                .into_iter()
                .map(|(name, addr)| NodeAddr {
                    name,
                    addr: with_scheme(addr, &f.tls),
                })
                .collect();
            return Ok(Some(nodes));
        }
        if let Some(addr) = f.address.as_deref().map(reachable_addr) {
            let addr = with_scheme(addr, &f.tls);
            let name = f.node_id.unwrap_or_else(|| addr.clone());
            own.push(NodeAddr { name, addr });
        }
    }
    Ok((!own.is_empty()).then_some(own))
}

/// A listen address as a client reaches it: `:8001` and `0.0.0.0:8001` become `127.0.0.1:8001`.
pub fn reachable_addr(listen: &str) -> String {
    let listen = listen.trim();
    match listen.rsplit_once(':') {
        Some(("" | "0.0.0.0", port)) => format!("127.0.0.1:{port}"),
        Some(("[::]" | "::", port)) => format!("[::1]:{port}"),
        _ => listen.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses_become_reachable() {
        assert_eq!(reachable_addr(":8001"), "127.0.0.1:8001");
        assert_eq!(reachable_addr("0.0.0.0:80"), "127.0.0.1:80");
        assert_eq!(reachable_addr("[::]:80"), "[::1]:80");
        assert_eq!(reachable_addr("10.0.0.1:80"), "10.0.0.1:80");
    }

    #[test]
    fn flag_wins_then_env_then_config() {
        let dir = std::env::temp_dir().join(format!("cc-nodes-env-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("node1.yaml"), "node_id: a\naddress: \":9001\"\n").unwrap();
        let flag = vec!["f:1".to_string()];
        let (n, s) = choose(&flag, Some("e:1,e:2"), &dir).unwrap();
        assert_eq!((n.len(), n[0].addr.as_str(), s), (1, "f:1", Source::Flag));
        for env in ["e:1,e:2", " e:1  e:2 ", "e:1, e:2\n"] {
            let (n, s) = choose(&[], Some(env), &dir).unwrap();
            let addrs: Vec<&str> = n.iter().map(|x| x.addr.as_str()).collect();
            assert_eq!((addrs, s), (vec!["e:1", "e:2"], Source::Env), "{env:?}");
        }
        // Empty or blank: as if unset, so the config directory decides.
        for env in [Some(""), Some(" , "), None] {
            let (n, s) = choose(&[], env, &dir).unwrap();
            assert_eq!(n[0].addr, "127.0.0.1:9001", "{env:?}");
            assert!(matches!(s, Source::ConfigDir(_)), "{env:?}");
        }
        let (n, _) = choose(&["a:1 b:2".to_string()], None, &dir).unwrap();
        assert_eq!(n.len(), 2, "--nodes accepts spaces too");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn flag_wins_then_config_then_default() {
        let dir = std::env::temp_dir().join(format!("cc-nodes-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let flag = vec!["a:1".to_string(), " b:2 ".to_string()];
        let (n, s) = choose(&flag, None, &dir).unwrap();
        assert_eq!((n.len(), n[1].addr.as_str(), s), (2, "b:2", Source::Flag));
        let (n, s) = choose(&[], None, &dir).unwrap();
        assert_eq!((n.len(), s), (3, Source::Default));

        std::fs::write(dir.join("node2.yaml"), "node_id: b\naddress: \":9002\"\n").unwrap();
        std::fs::write(
            dir.join("node1.yaml"),
            "node_id: a\naddress: \":9001\"\ncache_size: 5\n",
        )
        .unwrap();
        std::fs::write(dir.join("example.yaml"), "address: \":1\"\n").unwrap();
        let (n, _) = choose(&[], None, &dir).unwrap();
        assert_eq!(
            n,
            vec![
                NodeAddr {
                    name: "a".into(),
                    addr: "127.0.0.1:9001".into()
                },
                NodeAddr {
                    name: "b".into(),
                    addr: "127.0.0.1:9002".into()
                },
            ]
        );
        std::fs::write(
            dir.join("node3.yaml"),
            "node_id: c\naddress: \":9003\"\ncluster_nodes:\n  z: \"h:3\"\n  y: \"h:2\"\n",
        )
        .unwrap();
        let (n, _) = choose(&[], None, &dir).unwrap();
        assert_eq!(
            n[0],
            NodeAddr {
                name: "y".into(),
                addr: "h:2".into()
            }
        );
        // A node config with TLS: its cluster is reached with https://.
        std::fs::write(
            dir.join("node3.yaml"),
            "node_id: c\naddress: \":9003\"\ncluster_nodes:\n  y: \"h:2\"\ntls:\n  cert_file: /x.pem\n  key_file: /x.key\n",
        )
        .unwrap();
        let (n, _) = choose(&[], None, &dir).unwrap();
        assert_eq!(n[0].addr, "https://h:2");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_repository_config_dir_is_the_three_node_cluster() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
        let (n, _) = choose(&[], None, &dir).unwrap();
        let addrs: Vec<_> = n.iter().map(|n| n.addr.as_str()).collect();
        assert_eq!(addrs, DEFAULT_NODES);
    }
}
