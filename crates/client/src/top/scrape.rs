//! Reading every node once per refresh: `GET /admin/metrics` and `GET /admin/cluster` on a
//! keep-alive connection per node, all nodes at the same time (one scoped thread each), so one
//! slow node delays a frame by at most [`SCRAPE_TIMEOUT_CAP`] instead of freezing the view.

use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::metrics;
use super::model::{NodeData, Scrape};
use crate::conn::{Conn, Response};
use crate::error::ClientError;
use crate::nodes::NodeAddr;

/// Longest wait for one node's answer, whatever `--timeout` says: under the one-second refresh,
/// so a node that stopped answering shows as down on the next frame and the keys stay responsive.
pub const SCRAPE_TIMEOUT_CAP: Duration = Duration::from_millis(800);

/// One keep-alive connection per node, kept between refreshes.
pub struct Scraper {
    conns: Vec<Conn>,
}

impl Scraper {
    pub fn new(nodes: &[NodeAddr], timeout: Duration) -> Scraper {
        let timeout = timeout.min(SCRAPE_TIMEOUT_CAP);
        Scraper {
            conns: nodes
                .iter()
                .map(|n| Conn::new(n.addr.clone(), timeout))
                .collect(),
        }
    }

    /// Every node's answer, in node order; a node that fails is an `Err` row, never a panic.
    pub fn scrape(&mut self) -> Vec<Scrape> {
        thread::scope(|s| {
            let handles: Vec<_> = self
                .conns
                .iter_mut()
                .map(|c| s.spawn(move || one(c)))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| Scrape {
                        at: Instant::now(),
                        result: Err("scrape thread panicked".to_string()),
                    })
                })
                .collect()
        })
    }
}

fn one(conn: &mut Conn) -> Scrape {
    let result = read(conn).map_err(|e| e.to_string());
    Scrape {
        at: Instant::now(),
        result,
    }
}

/// Why a node is shown down: the client error (which names the address) or the HTTP status.
#[derive(Debug)]
enum ReadError {
    Client(ClientError),
    Status { path: &'static str, status: u16 },
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Client(e) => write!(f, "{e}"),
            ReadError::Status { path, status } => write!(f, "{path} answered HTTP {status}"),
        }
    }
}

fn get(conn: &mut Conn, path: &'static str) -> Result<Response, ReadError> {
    let r = conn.request("GET", path, None).map_err(ReadError::Client)?;
    match r.status {
        200 => Ok(r),
        status => Err(ReadError::Status { path, status }),
    }
}

fn read(conn: &mut Conn) -> Result<NodeData, ReadError> {
    let counters = metrics::parse(&get(conn, "/admin/metrics")?.text());
    // A node without the cluster view (an old build) still shows its own numbers.
    let cluster = get(conn, "/admin/cluster").ok().and_then(|r| r.json());
    let mut data = cluster.as_ref().map(cluster_view).unwrap_or_default();
    data.counters = counters;
    Ok(data)
}

/// Id, own live ring share and the members seen down, from an `/admin/cluster` document.
pub fn cluster_view(v: &Value) -> NodeData {
    let members = v["nodes"].as_array().map(Vec::as_slice).unwrap_or_default();
    let me = members.iter().find(|m| m["state"] == "self");
    NodeData {
        id: v["node_id"].as_str().map(str::to_string),
        ring_share: me.and_then(|m| m["live_share"].as_f64().or(m["ring_share"].as_f64())),
        sees_down: members
            .iter()
            .filter(|m| m["state"] == "down")
            .filter_map(|m| m["id"].as_str().map(str::to_string))
            .collect(),
        ..NodeData::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_document() {
        let v: Value = serde_json::from_str(
            r#"{"node_id":"node2","nodes":[
                {"id":"node1","state":"down","ring_share":0.33,"live_share":0.0},
                {"id":"node2","state":"self","ring_share":0.33,"live_share":0.5},
                {"id":"node3","state":"up","ring_share":0.34,"live_share":0.5}],
                "nodes_up":2,"nodes_total":3}"#,
        )
        .unwrap();
        let d = cluster_view(&v);
        assert_eq!(d.id.as_deref(), Some("node2"));
        assert_eq!(d.ring_share, Some(0.5));
        assert_eq!(d.sees_down, ["node1"]);
        assert_eq!(cluster_view(&Value::Null), NodeData::default());
    }

    #[test]
    fn a_node_that_is_not_there_is_an_error_row() {
        // Port 1 on loopback: nothing listens there, the connection is refused at once.
        let nodes = [NodeAddr {
            name: "gone".into(),
            addr: "127.0.0.1:1".into(),
        }];
        let s = Scraper::new(&nodes, Duration::from_secs(5)).scrape();
        let err = s[0].result.as_ref().unwrap_err();
        assert!(err.contains("127.0.0.1:1"), "{err}");
    }
}
