//! The warehouse's tables, created on every node by `warehouse init` (idempotent).
//!
//! Every table is a ReplacingMergeTree keyed by what makes a row the same row: (campaign, unit)
//! for an assignment, (campaign, unit, event_id) for an event, (campaign, unit, arm) for a
//! conflicting assignment line. A re-sent batch writes identical rows; a background merge, or
//! `FINAL` at read time, keeps one. That is the exactly-once rule on 18.16, where insert
//! deduplication exists only for Replicated tables (see the README's production notes).
//! Times are Int64 microseconds, as in SQLite (18.16 has no DateTime64).

use super::{Warehouse, WarehouseError};

/// The columns and sort key of each table, shared by the local and the single-node form.
/// Macros, not consts, so `concat!` can build whole constant statements from them.
macro_rules! assignments_table {
    () => {
        "(campaign_id Int64, unit String, arm_id Int64, period Int64, propensity Float64,
          context String, pre_value Nullable(Float64), ts Int64)"
    };
}
macro_rules! events_table {
    () => {
        "(campaign_id Int64, unit String, event_id String, arm_id Int64, kind String,
          value Float64, cost Float64, ts Int64)"
    };
}
macro_rules! conflicts_table {
    () => {
        "(campaign_id Int64, unit String, arm_id Int64, ts Int64)"
    };
}
macro_rules! replacing {
    ($name:literal, $table:ident, $key:literal) => {
        // sql-splice: constant: $name, $table!(), $key -- macro literals of this module only
        concat!(
            "CREATE TABLE IF NOT EXISTS ",
            $name,
            " ",
            $table!(),
            " ENGINE = ReplacingMergeTree() ORDER BY ",
            $key
        )
    };
}
// The shard key is the unit's hash for every table, so a unit's assignment, events and
// conflicts are on one shard and its totals never cross shards. `?` is the cluster's name.
macro_rules! distributed {
    ($name:literal, $table:ident, $local:literal) => {
        // sql-splice: constant: $name, $table!(), $local -- macro literals of this module only
        concat!(
            "CREATE TABLE IF NOT EXISTS ",
            $name,
            " ",
            $table!(),
            " ENGINE = Distributed(?, currentDatabase(), '",
            $local,
            "', cityHash64(unit))"
        )
    };
}

/// A single node: the front tables hold the rows.
const SINGLE_NODE: [&str; 3] = [
    replacing!("assignments", assignments_table, "(campaign_id, unit)"),
    replacing!("events", events_table, "(campaign_id, unit, event_id)"),
    replacing!("conflicts", conflicts_table, "(campaign_id, unit, arm_id)"),
];
/// A cluster node: local tables, and front tables over every shard's local ones.
const CLUSTER_LOCAL: [&str; 3] = [
    replacing!(
        "assignments_local",
        assignments_table,
        "(campaign_id, unit)"
    ),
    replacing!(
        "events_local",
        events_table,
        "(campaign_id, unit, event_id)"
    ),
    replacing!(
        "conflicts_local",
        conflicts_table,
        "(campaign_id, unit, arm_id)"
    ),
];
const CLUSTER_FRONT: [&str; 3] = [
    distributed!("assignments", assignments_table, "assignments_local"),
    distributed!("events", events_table, "events_local"),
    distributed!("conflicts", conflicts_table, "conflicts_local"),
];

/// The names reads use on each node, and writes use through the front table.
#[derive(Debug, Clone, Copy)]
pub(super) struct Names {
    pub assignments: &'static str,
    pub events: &'static str,
    pub conflicts: &'static str,
}

pub(super) const LOCAL: Names = Names {
    assignments: "assignments_local",
    events: "events_local",
    conflicts: "conflicts_local",
};
pub(super) const FRONT: Names = Names {
    assignments: "assignments",
    events: "events",
    conflicts: "conflicts",
};

impl Warehouse {
    /// The tables each node holds its own rows in: `*_local` on a cluster, the front tables
    /// themselves on a single node.
    pub(super) fn local_names(&self) -> Names {
        if self.is_cluster() {
            LOCAL
        } else {
            FRONT
        }
    }

    /// Creates the database and tables on every node; a second run changes nothing.
    pub fn init(&self) -> Result<(), WarehouseError> {
        for i in 0..self.clients.len() {
            self.run(self.init_node(i))?;
        }
        Ok(())
    }

    async fn init_node(&self, i: usize) -> Result<(), WarehouseError> {
        let err = |e| self.node_error(i, e);
        // The database may not exist yet, so this one statement runs without it.
        self.clients[i]
            .clone()
            .with_database("default")
            .query("CREATE DATABASE IF NOT EXISTS ?")
            .bind(clickhouse::sql::Identifier(&self.url.database))
            .execute()
            .await
            .map_err(err)?;
        let client = &self.clients[i];
        match &self.url.cluster {
            None => {
                for ddl in SINGLE_NODE {
                    client.query(ddl).execute().await.map_err(err)?;
                }
            }
            Some(cluster) => {
                for ddl in CLUSTER_LOCAL {
                    client.query(ddl).execute().await.map_err(err)?;
                }
                for ddl in CLUSTER_FRONT {
                    client
                        .query(ddl)
                        .bind(cluster.as_str())
                        .execute()
                        .await
                        .map_err(err)?;
                }
            }
        }
        Ok(())
    }
}
