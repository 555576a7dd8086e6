//! Erasure on request (`forget`) on the warehouse: a unit's assignments, events and conflict
//! lines deleted on every node, then checked gone. Rollups are computed from the rows at read
//! time, so nothing else needs subtracting (unlike SQLite's stored rollups).
//!
//! ClickHouse deletes by mutation (`ALTER TABLE ... DELETE`), which 18.16 runs in the
//! background with no synchronous mode; the call waits for each node's mutations to finish
//! and then counts the unit's rows again, so "forgotten" is only said of rows that are gone.

use super::{Warehouse, WarehouseError};
use std::time::{Duration, Instant};

/// What a unit holds on the warehouse: assignments per campaign id, and events.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HeldRows {
    pub assignments: Vec<(i64, u64)>,
    pub events: u64,
}

/// How long a forget waits for the nodes' delete mutations before it reports them unfinished
/// (they go on in the background; `forget` again checks and deletes what is left).
const MUTATION_WAIT: Duration = Duration::from_secs(120);

impl Warehouse {
    /// The unit's rows in campaign `scope` (0: every campaign), each counted once.
    pub fn unit_rows_held(&self, unit: &str, scope: i64) -> Result<HeldRows, WarehouseError> {
        let n = self.local_names();
        let (a, e) = (
            clickhouse::sql::Identifier(n.assignments),
            clickhouse::sql::Identifier(n.events),
        );
        let assigned = self.on_every_node(|client| {
            client
                .query(
                    "SELECT campaign_id, count() FROM ? FINAL
                     WHERE unit = ? AND (? = 0 OR campaign_id = ?) GROUP BY campaign_id",
                )
                .bind(a)
                .bind(unit)
                .bind(scope)
                .bind(scope)
                .fetch_all::<(i64, u64)>()
        })?;
        let events = self.on_every_node(|client| {
            client
                .query("SELECT count() FROM ? FINAL WHERE unit = ? AND (? = 0 OR campaign_id = ?)")
                .bind(e)
                .bind(unit)
                .bind(scope)
                .bind(scope)
                .fetch_one::<u64>()
        })?;
        let mut assignments: Vec<(i64, u64)> = assigned.into_iter().flatten().collect();
        assignments.sort_unstable();
        Ok(HeldRows {
            assignments,
            events: events.into_iter().sum(),
        })
    }

    /// Deletes the unit's rows in campaign `scope` (0: every campaign) on every node, waits
    /// for the deletes to finish and checks that nothing of the unit is left.
    pub fn erase_unit(&self, unit: &str, scope: i64) -> Result<(), WarehouseError> {
        let n = self.local_names();
        for table in [n.assignments, n.events, n.conflicts] {
            let t = clickhouse::sql::Identifier(table);
            self.on_every_node(|client| {
                client
                    .query("ALTER TABLE ? DELETE WHERE unit = ? AND (? = 0 OR campaign_id = ?)")
                    .bind(t)
                    .bind(unit)
                    .bind(scope)
                    .bind(scope)
                    .execute()
            })?;
        }
        let started = Instant::now();
        loop {
            let pending: u64 = self
                .on_every_node(|client| {
                    client
                        .query(
                            "SELECT count() FROM system.mutations
                             WHERE database = currentDatabase() AND NOT is_done",
                        )
                        .fetch_one::<u64>()
                })?
                .into_iter()
                .sum();
            if pending == 0 {
                break;
            }
            if started.elapsed() > MUTATION_WAIT {
                return Err(WarehouseError::Other(format!(
                    "{pending} delete mutations still running after {} s",
                    MUTATION_WAIT.as_secs()
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let left = self.unit_rows_held(unit, scope)?;
        if left.events > 0 || !left.assignments.is_empty() {
            return Err(WarehouseError::Other(format!(
                "after the deletes the unit still has {} assignments and {} events",
                left.assignments.iter().map(|(_, c)| c).sum::<u64>(),
                left.events
            )));
        }
        Ok(())
    }
}
