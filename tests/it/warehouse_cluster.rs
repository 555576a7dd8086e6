//! A real two-shard ClickHouse cluster for the warehouse tests: two `clickhouse-server`
//! processes on loopback ports, each with its own config and data under a temp dir, started
//! and waited for here and stopped by pid when the cluster is dropped.
//!
//! The server is Debian's `clickhouse-server` package (18.16); `.ci/run` installs it when it is
//! missing. Without it these tests fail with that instruction rather than pass unseen.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The cluster's name in the servers' `remote_servers`.
pub const CLUSTER: &str = "liftdeck_test";

pub struct Node {
    pub http: u16,

    child: Option<Child>,
    config: PathBuf,
}

pub struct Cluster {
    pub nodes: Vec<Node>,
    _dir: tempfile::TempDir,
}

fn server_binary() -> PathBuf {
    for candidate in ["/usr/sbin/clickhouse-server", "/usr/bin/clickhouse-server"] {
        if Path::new(candidate).exists() {
            return PathBuf::from(candidate);
        }
    }
    panic!(
        "clickhouse-server is not installed; the warehouse tests need it. `.ci/run` installs it \
         (apt-get install clickhouse-server), or install it by hand"
    );
}

/// A free port below Linux's ephemeral range (32768-60999). A port from `bind(0)` is an
/// ephemeral one: once its server is killed, any outgoing connection on the machine may take
/// it as its local port, and the restarted server can then never bind it (seen once: a restart
/// that never came up). Each test process starts at its own offset so parallel runs rarely
/// probe the same ports.
fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let base = 20_000 + (std::process::id() % 400) as u16 * 25;
    loop {
        let offset = NEXT.fetch_add(1, Ordering::Relaxed) % 12_000;
        let port = 20_000 + (base - 20_000 + offset) % 12_000;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

impl Cluster {
    /// Starts `shards` servers (one replica each) that all know the same cluster.
    pub fn start(shards: usize) -> Cluster {
        let binary = server_binary();
        let dir = tempfile::tempdir().expect("temp dir");
        let ports: Vec<(u16, u16, u16)> = (0..shards)
            .map(|_| (free_port(), free_port(), free_port()))
            .collect();
        let remote: String = ports
            .iter()
            .map(|(_, tcp, _)| {
                format!(
                    "<shard><replica><host>127.0.0.1</host><port>{tcp}</port></replica></shard>"
                )
            })
            .collect();
        let users = dir.path().join("users.xml");
        std::fs::write(
            &users,
            "<yandex><profiles><default></default></profiles>\
             <users><default><password></password><networks><ip>127.0.0.1</ip><ip>::1</ip>\
             </networks><profile>default</profile><quota>default</quota></default></users>\
             <quotas><default></default></quotas></yandex>",
        )
        .expect("users.xml");
        let mut nodes = Vec::new();
        for (i, (http, tcp, inter)) in ports.iter().enumerate() {
            let root = dir.path().join(format!("shard{}", i + 1));
            std::fs::create_dir_all(&root).expect("shard dir");
            let r = root.display();
            let config = root.join("config.xml");
            std::fs::write(
                &config,
                format!(
                    "<yandex>\
                     <logger><level>warning</level><log>{r}/server.log</log>\
                     <errorlog>{r}/error.log</errorlog><console>0</console></logger>\
                     <listen_host>127.0.0.1</listen_host>\
                     <http_port>{http}</http_port><tcp_port>{tcp}</tcp_port>\
                     <interserver_http_port>{inter}</interserver_http_port>\
                     <path>{r}/data/</path><tmp_path>{r}/tmp/</tmp_path>\
                     <user_files_path>{r}/user_files/</user_files_path>\
                     <format_schema_path>{r}/format_schemas/</format_schema_path>\
                     <users_config>{}</users_config>\
                     <default_profile>default</default_profile>\
                     <default_database>default</default_database>\
                     <mark_cache_size>67108864</mark_cache_size>\
                     <uncompressed_cache_size>67108864</uncompressed_cache_size>\
                     <remote_servers><{CLUSTER}>{remote}</{CLUSTER}></remote_servers>\
                     </yandex>",
                    users.display()
                ),
            )
            .expect("config.xml");
            let mut node = Node {
                http: *http,

                child: None,
                config,
            };
            node.spawn(&binary);
            nodes.push(node);
        }
        let cluster = Cluster { nodes, _dir: dir };
        for node in &cluster.nodes {
            node.wait_ready();
        }
        cluster
    }

    /// The warehouse URL of every node, with the cluster, for database `db`.
    pub fn url(&self, db: &str) -> String {
        let hosts: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.http))
            .collect();
        format!("clickhouse://{}/{db}?cluster={CLUSTER}", hosts.join(","))
    }

    /// Stops node `i` (SIGKILL, as a crashed host) and waits for it to be gone.
    pub fn kill(&mut self, i: usize) {
        self.nodes[i].stop();
    }

    /// Starts node `i` again on its own data and waits for it.
    pub fn restart(&mut self, i: usize) {
        let binary = server_binary();
        self.nodes[i].spawn(&binary);
        self.nodes[i].wait_ready();
    }
}

impl Node {
    fn spawn(&mut self, binary: &Path) {
        let child = Command::new(binary)
            .arg(format!("--config-file={}", self.config.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start clickhouse-server");
        self.child = Some(child);
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Polls `SELECT 1` over HTTP until the server answers (a cold start takes a few seconds;
    /// the limit only turns a server that never comes up into a failure with its log).
    fn wait_ready(&self) {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(120) {
            if self.query("SELECT 1").is_some_and(|b| b.trim() == "1") {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let log = self.config.with_file_name("error.log");
        panic!(
            "clickhouse-server on port {} did not come up; its error log:\n{}",
            self.http,
            std::fs::read_to_string(log).unwrap_or_default()
        );
    }

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

impl Drop for Cluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            node.stop();
        }
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
