//! Writing rows: whole batches through the front tables, each an idempotent INSERT (re-sending
//! a batch writes the same rows again, which `FINAL` collapses).

use super::schema::FRONT;
use super::{Warehouse, WarehouseError};
use serde::Serialize;

/// An accepted assignment line, as the warehouse stores it.
#[derive(Debug, Clone, PartialEq, Serialize, clickhouse::Row)]
pub struct WarehouseAssignment {
    pub campaign_id: i64,
    pub unit: String,
    pub arm_id: i64,
    pub period: i64,
    pub propensity: f64,
    pub context: String,
    pub pre_value: Option<f64>,
    pub ts: i64,
}

/// An accepted event line, with the arm of its unit's assignment.
#[derive(Debug, Clone, PartialEq, Serialize, clickhouse::Row)]
pub struct WarehouseEvent {
    pub campaign_id: i64,
    pub unit: String,
    pub event_id: String,
    pub arm_id: i64,
    pub kind: String,
    pub value: f64,
    pub cost: f64,
    pub ts: i64,
}

/// An assignment line that put an assigned unit in another arm (a multiple exposure).
#[derive(Debug, Clone, PartialEq, Serialize, clickhouse::Row)]
pub struct WarehouseConflict {
    pub campaign_id: i64,
    pub unit: String,
    pub arm_id: i64,
    pub ts: i64,
}

/// One batch's rows for the warehouse.
#[derive(Debug, Default, Clone)]
pub struct WarehouseBatch {
    pub assignments: Vec<WarehouseAssignment>,
    pub events: Vec<WarehouseEvent>,
    pub conflicts: Vec<WarehouseConflict>,
}

impl WarehouseBatch {
    pub fn is_empty(&self) -> bool {
        self.assignments.is_empty() && self.events.is_empty() && self.conflicts.is_empty()
    }
}

impl Warehouse {
    /// Writes a batch: assignments first, so no reader ever sees an event whose assignment is
    /// missing for longer than the batch. Each table is one INSERT; a failure part-way leaves
    /// rows that the retry writes again identically.
    pub fn write_batch(&self, batch: &WarehouseBatch) -> Result<(), WarehouseError> {
        if batch.is_empty() {
            return Ok(());
        }
        self.run(async {
            insert(self, FRONT.assignments, &batch.assignments).await?;
            insert(self, FRONT.conflicts, &batch.conflicts).await?;
            insert(self, FRONT.events, &batch.events).await
        })
    }
}

async fn insert<T>(w: &Warehouse, table: &str, rows: &[T]) -> Result<(), WarehouseError>
where
    T: clickhouse::RowOwned + clickhouse::RowWrite,
{
    if rows.is_empty() {
        return Ok(());
    }
    let err = |e| w.node_error(0, e);
    let mut insert = w.primary().insert::<T>(table).await.map_err(err)?;
    for row in rows {
        insert.write(row).await.map_err(err)?;
    }
    insert.end().await.map_err(err)
}
