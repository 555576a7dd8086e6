//! The ClickHouse data plane. When a database names a warehouse (`warehouse init`, or
//! `--warehouse` / `$LIFTDECK_WAREHOUSE`), assignments and events live in ClickHouse and the
//! SQLite file keeps only the control plane (campaigns, arms, weights and periods, audit log,
//! runs and rejects, jobs, models, reports). Nothing outside `store/` knows which plane it reads:
//! the same `Store` methods answer from here.
//!
//! Layout on every node: MergeTree tables `*_local` (ReplacingMergeTree, so a re-sent row
//! collapses into its first copy when read with `FINAL`); on a cluster, `Distributed` tables in
//! front of them sharded by `cityHash64(unit)`, so each unit's rows are on one shard and its
//! totals are computed there. Writes go through the Distributed tables with
//! `insert_distributed_sync = 1` (the INSERT returns only once every shard has its part).
//! Reads fan out: each node aggregates its own units per arm and period, and liftdeck adds the
//! partial sums (see `reads.rs` for why not a Distributed view).
//!
//! The client is the `clickhouse` crate over HTTP, with validation off (ClickHouse 18.16, the
//! Debian package, predates the typed header the crate validates against). The store's API is
//! synchronous, so each call is driven to completion on the warehouse's own runtime, on a
//! scoped thread when the caller is itself inside a tokio runtime (the console).

mod erase;
mod reads;
mod schema;
mod units;
mod write;

pub use erase::HeldRows;
pub use reads::{Assigned, ShardHealth};
pub use units::{DataWindow, WarehouseBucket, WarehouseUnit};
pub use write::{WarehouseAssignment, WarehouseBatch, WarehouseConflict, WarehouseEvent};

use std::fmt;
use std::future::Future;

/// The database setting that attaches a warehouse.
pub const SETTING: &str = "warehouse";

/// Where the data plane is: `clickhouse://HOST:PORT[,HOST:PORT...]/DATABASE[?cluster=NAME]`.
/// PORT is the HTTP port. With a cluster, every shard's HTTP address is listed, because
/// ClickHouse 18.16 without ZooKeeper cannot run `ON CLUSTER` DDL and liftdeck creates the
/// local tables on each node itself; the first is the one writes and lookups go to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WarehouseUrl {
    pub nodes: Vec<String>,
    pub database: String,
    pub cluster: Option<String>,
}

impl WarehouseUrl {
    pub fn parse(s: &str) -> Result<WarehouseUrl, String> {
        let rest = s.strip_prefix("clickhouse://").ok_or_else(|| {
            format!("warehouse `{s}`: expected clickhouse://HOST:PORT/DATABASE[?cluster=NAME]")
        })?;
        let (path, query) = match rest.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (rest, None),
        };
        let (hosts, database) = path
            .split_once('/')
            .ok_or_else(|| format!("warehouse `{s}`: no /DATABASE after the host"))?;
        let nodes: Vec<String> = hosts.split(',').map(str::to_string).collect();
        for node in &nodes {
            let ok = node.rsplit_once(':').is_some_and(|(h, p)| {
                !h.is_empty()
                    && h.chars()
                        .all(|c| c.is_ascii_alphanumeric() || ".-_[]:".contains(c))
                    && p.parse::<u16>().is_ok()
            });
            if !ok {
                return Err(format!(
                    "warehouse `{s}`: `{node}` is not HOST:PORT (the HTTP port, e.g. 8123)"
                ));
            }
        }
        if !is_identifier(database) {
            return Err(format!(
                "warehouse `{s}`: database `{database}` must be letters, digits and _"
            ));
        }
        let mut cluster = None;
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("cluster", name)) if is_identifier(name) => cluster = Some(name.to_string()),
                _ => {
                    return Err(format!(
                        "warehouse `{s}`: `{pair}` is not understood (only cluster=NAME is)"
                    ))
                }
            }
        }
        if cluster.is_none() && nodes.len() > 1 {
            return Err(format!(
                "warehouse `{s}`: several nodes need ?cluster=NAME (the cluster as the servers' \
                 remote_servers names it)"
            ));
        }
        Ok(WarehouseUrl {
            nodes,
            database: database.to_string(),
            cluster,
        })
    }
}

impl fmt::Display for WarehouseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "clickhouse://{}/{}", self.nodes.join(","), self.database)?;
        if let Some(c) = &self.cluster {
            write!(f, "?cluster={c}")?;
        }
        Ok(())
    }
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[derive(Debug, thiserror::Error)]
pub enum WarehouseError {
    #[error("warehouse {node}: {source}")]
    Node {
        node: String,
        source: clickhouse::error::Error,
    },
    #[error("warehouse: {0}")]
    Other(String),
}

/// A connection to the data plane: one HTTP client per node.
pub struct Warehouse {
    url: WarehouseUrl,
    clients: Vec<clickhouse::Client>,
    runtime: tokio::runtime::Runtime,
}

impl fmt::Debug for Warehouse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Warehouse({})", self.url)
    }
}

impl Warehouse {
    /// Makes the clients; nothing is sent until the first call.
    pub fn connect(url: WarehouseUrl) -> Result<Warehouse, WarehouseError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| WarehouseError::Other(format!("cannot start its runtime: {e}")))?;
        let clients = url
            .nodes
            .iter()
            .map(|node| {
                clickhouse::Client::default()
                    .with_url(format!("http://{node}"))
                    .with_database(url.database.clone())
                    .with_validation(false)
                    // A Distributed INSERT returns only after every shard has its part, so a
                    // batch that was acknowledged is readable and a failure is reported.
                    .with_setting("insert_distributed_sync", "1")
                    // A batch's look-ups bind its unit and event ids inline: allow more than
                    // the default 256 KiB of query text.
                    .with_setting("max_query_size", "67108864")
            })
            .collect();
        Ok(Warehouse {
            url,
            clients,
            runtime,
        })
    }

    pub fn url(&self) -> &WarehouseUrl {
        &self.url
    }

    fn is_cluster(&self) -> bool {
        self.url.cluster.is_some()
    }

    /// The node writes and single lookups go to.
    fn primary(&self) -> &clickhouse::Client {
        &self.clients[0]
    }

    fn node_error(&self, i: usize, source: clickhouse::error::Error) -> WarehouseError {
        WarehouseError::Node {
            node: self.url.nodes[i].clone(),
            source,
        }
    }

    /// Drives `fut` to completion. Inside a tokio runtime (the console) `block_on` would panic,
    /// so there the future runs on a scoped thread of its own.
    /// Runs one query on every node at once; the answers in node order, or the first
    /// node's error naming that node.
    fn on_every_node<'a, T, F, Fut>(&'a self, query: F) -> Result<Vec<T>, WarehouseError>
    where
        F: Fn(&'a clickhouse::Client) -> Fut,
        Fut: Future<Output = Result<T, clickhouse::error::Error>> + Send + 'a,
        T: Send,
    {
        let each: Vec<_> = self
            .clients
            .iter()
            .enumerate()
            .map(|(i, client)| {
                let answer = query(client);
                async move { answer.await.map_err(|e| self.node_error(i, e)) }
            })
            .collect();
        self.run(futures_util::future::join_all(each))
            .into_iter()
            .collect()
    }

    fn run<F: Future + Send>(&self, fut: F) -> F::Output
    where
        F::Output: Send,
    {
        if tokio::runtime::Handle::try_current().is_ok() {
            std::thread::scope(|s| {
                s.spawn(|| self.runtime.block_on(fut))
                    .join()
                    .unwrap_or_else(|p| std::panic::resume_unwind(p))
            })
        } else {
            self.runtime.block_on(fut)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_and_print_back() {
        let u = WarehouseUrl::parse("clickhouse://127.0.0.1:8123,127.0.0.1:8124/shop?cluster=two")
            .expect("parse");
        assert_eq!(u.nodes, vec!["127.0.0.1:8123", "127.0.0.1:8124"]);
        assert_eq!(u.database, "shop");
        assert_eq!(u.cluster.as_deref(), Some("two"));
        assert_eq!(
            u.to_string(),
            "clickhouse://127.0.0.1:8123,127.0.0.1:8124/shop?cluster=two"
        );
        let single = WarehouseUrl::parse("clickhouse://ch:8123/shop").expect("single");
        assert_eq!(single.cluster, None);
    }

    #[test]
    fn bad_urls_say_what_is_wrong() {
        for (bad, says) in [
            ("http://x:1/db", "expected clickhouse://"),
            ("clickhouse://x:1", "no /DATABASE"),
            ("clickhouse://x/db", "not HOST:PORT"),
            ("clickhouse://x:99999/db", "not HOST:PORT"),
            ("clickhouse://x:1/my-db", "letters, digits"),
            ("clickhouse://x:1/db?cluster=a;b", "not understood"),
            ("clickhouse://x:1/db?user=me", "not understood"),
            ("clickhouse://x:1,y:2/db", "need ?cluster"),
        ] {
            let e = WarehouseUrl::parse(bad).expect_err(bad);
            assert!(e.contains(says), "{bad}: {e}");
        }
    }
}
