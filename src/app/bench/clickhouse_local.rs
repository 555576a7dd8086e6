//! A throwaway ClickHouse cluster on this machine: `shards` `clickhouse-server` processes on
//! loopback ports, each with its own config and data under one directory, all knowing the same
//! cluster in `remote_servers`, stopped by pid when dropped. The warehouse tests and
//! `liftdeck bench warehouse` both run on it; production runs on real hosts (README).

use anyhow::{bail, Context};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The cluster's name in the servers' `remote_servers`.
pub const CLUSTER: &str = "liftdeck_local";

/// One server of the cluster.
pub struct LocalNode {
    pub http: u16,
    child: Option<Child>,
    config: PathBuf,
}

/// The servers, stopped when this is dropped.
pub struct LocalCluster {
    pub nodes: Vec<LocalNode>,
}

/// Debian's package puts the server here.
pub fn server_binary() -> anyhow::Result<PathBuf> {
    for candidate in ["/usr/sbin/clickhouse-server", "/usr/bin/clickhouse-server"] {
        if Path::new(candidate).exists() {
            return Ok(PathBuf::from(candidate));
        }
    }
    bail!(
        "clickhouse-server is not installed (apt-get install clickhouse-server; `.ci/run` does \
         it for the tests)"
    )
}

/// A free port below Linux's ephemeral range (32768-60999). A port from `bind(0)` is an
/// ephemeral one: once its server is killed, any outgoing connection on the machine may take
/// it as its local port, and the restarted server can then never bind it (seen once: a restart
/// that never came up). Each process starts at its own offset so parallel runs rarely probe
/// the same ports.
fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let base = (std::process::id() % 400) as u16 * 25;
    loop {
        let offset = NEXT.fetch_add(1, Ordering::Relaxed) % 12_000;
        let port = 20_000 + (base + offset) % 12_000;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

impl LocalCluster {
    /// Starts `shards` servers (one replica each) with their data under `dir`, and waits until
    /// every one answers.
    pub fn start(shards: usize, dir: &Path) -> anyhow::Result<LocalCluster> {
        let binary = server_binary()?;
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
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let users = dir.join("users.xml");
        std::fs::write(
            &users,
            "<yandex><profiles><default></default></profiles>\
             <users><default><password></password><networks><ip>127.0.0.1</ip><ip>::1</ip>\
             </networks><profile>default</profile><quota>default</quota></default></users>\
             <quotas><default></default></quotas></yandex>",
        )?;
        let mut cluster = LocalCluster { nodes: Vec::new() };
        for (i, (http, tcp, inter)) in ports.iter().enumerate() {
            let root = dir.join(format!("shard{}", i + 1));
            std::fs::create_dir_all(&root)?;
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
            )?;
            let mut node = LocalNode {
                http: *http,
                child: None,
                config,
            };
            node.spawn(&binary)?;
            cluster.nodes.push(node);
        }
        for node in &cluster.nodes {
            node.wait_ready()?;
        }
        Ok(cluster)
    }

    /// The warehouse URL of every node, with the cluster, for database `db`.
    pub fn url(&self, db: &str) -> String {
        let hosts: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.http))
            .collect();
        if self.nodes.len() == 1 {
            return format!("clickhouse://{}/{db}", hosts.join(","));
        }
        format!("clickhouse://{}/{db}?cluster={CLUSTER}", hosts.join(","))
    }

    /// Stops node `i` (SIGKILL, as a crashed host) and waits for it to be gone.
    pub fn kill(&mut self, i: usize) {
        self.nodes[i].stop();
    }

    /// Starts node `i` again on its own data and waits for it.
    pub fn restart(&mut self, i: usize) -> anyhow::Result<()> {
        let binary = server_binary()?;
        self.nodes[i].spawn(&binary)?;
        self.nodes[i].wait_ready()
    }
}

impl LocalNode {
    fn spawn(&mut self, binary: &Path) -> anyhow::Result<()> {
        let child = Command::new(binary)
            .arg(format!("--config-file={}", self.config.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting clickhouse-server")?;
        self.child = Some(child);
        Ok(())
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Polls the server's `/ping` until it answers (a cold start takes a few seconds; the limit
    /// only turns a server that never comes up into an error with its log).
    fn wait_ready(&self) -> anyhow::Result<()> {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(120) {
            if self.ping() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let log = self.config.with_file_name("error.log");
        bail!(
            "clickhouse-server on port {} did not come up; its error log:\n{}",
            self.http,
            std::fs::read_to_string(log).unwrap_or_default()
        )
    }

    /// Whether the server answers `GET /ping` with `Ok.`.
    pub fn ping(&self) -> bool {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.http)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
        if s.write_all(b"GET /ping HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            .is_err()
        {
            return false;
        }
        let mut out = String::new();
        s.read_to_string(&mut out).is_ok() && out.contains("200") && out.ends_with("Ok.\n")
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            node.stop();
        }
    }
}
