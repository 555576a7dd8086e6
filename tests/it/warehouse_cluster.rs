//! A real two-shard ClickHouse cluster for the warehouse tests: liftdeck's own local cluster
//! (`app::bench::clickhouse_local`, which `bench warehouse` runs on too) under a temp dir,
//! plus a plain-HTTP query for the tests' own checks of what landed where.
//!
//! The server is Debian's `clickhouse-server` package (18.16); `.ci/run` installs it when it is
//! missing. Without it these tests fail with that instruction rather than pass unseen.

use liftdeck::app::bench::clickhouse_local::{LocalCluster, CLUSTER};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

pub struct Node {
    pub http: u16,
}

pub struct Cluster {
    // Declared first, so the servers stop before their directory is removed.
    inner: LocalCluster,
    pub nodes: Vec<Node>,
    _dir: tempfile::TempDir,
}

impl Cluster {
    /// Starts `shards` servers (one replica each) that all know the same cluster.
    pub fn start(shards: usize) -> Cluster {
        let dir = tempfile::tempdir().expect("temp dir");
        let inner = LocalCluster::start(shards, dir.path()).unwrap_or_else(|e| panic!("{e:#}"));
        let nodes = inner.nodes.iter().map(|n| Node { http: n.http }).collect();
        Cluster {
            inner,
            nodes,
            _dir: dir,
        }
    }

    /// The warehouse URL of every node, with the cluster, for database `db`.
    pub fn url(&self, db: &str) -> String {
        self.inner.url(db)
    }

    /// Stops node `i` (SIGKILL, as a crashed host) and waits for it to be gone.
    pub fn kill(&mut self, i: usize) {
        self.inner.kill(i);
    }

    /// Starts node `i` again on its own data and waits for it.
    pub fn restart(&mut self, i: usize) {
        self.inner.restart(i).unwrap_or_else(|e| panic!("{e:#}"));
    }
}

impl Node {
    /// A query over plain HTTP (for the harness's own checks; liftdeck uses its client).
    pub fn query(&self, sql: &str) -> Option<String> {
        let mut s = TcpStream::connect(("127.0.0.1", self.http)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
        let req = format!(
            "POST / HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n\r\n{sql}",
            sql.len()
        );
        s.write_all(req.as_bytes()).ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).ok()?;
        let (head, body) = out.split_once("\r\n\r\n")?;
        head.starts_with("HTTP/1.0 200")
            .then(|| body.to_string())
            .or_else(|| head.starts_with("HTTP/1.1 200").then(|| body.to_string()))
    }
}

#[test]
fn the_harness_starts_shards_that_each_know_the_whole_cluster() {
    let cluster = Cluster::start(2);
    for node in &cluster.nodes {
        let shards = node
            .query(&format!(
                "SELECT count() FROM system.clusters WHERE cluster = '{CLUSTER}'"
            ))
            .expect("system.clusters");
        assert_eq!(shards.trim(), "2", "node on port {}", node.http);
    }
}
