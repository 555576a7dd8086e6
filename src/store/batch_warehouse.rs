//! The data-plane half of a batch when the database has a ClickHouse warehouse: the same
//! control-plane checks as SQLite ingest (batch.rs runs them), then rows for the warehouse
//! instead of SQLite rows and rollup deltas.
//!
//! What the warehouse needs to decide a line, it looks up once per batch: the stored arm and
//! period of every unit the batch names (`Warehouse::assigned`), so an event finds its arm and
//! a second assignment line of a unit is a duplicate or a conflict, as in SQLite; and which of
//! its events are stored already (`Warehouse::stored_events`), so a re-sent event is a
//! duplicate and is not written again. Reads still collapse repeats with `FINAL`, which covers
//! the one way a row can be written twice: a batch whose rows reached ClickHouse but whose
//! SQLite commit did not, sent again by the same writer before any reader.
//!
//! One difference from SQLite: SQLite's event ids are unique over the whole database, the
//! warehouse's within a campaign and unit (its sort key). The same id sent for another unit is
//! a duplicate in SQLite and a second event here; storefronts' ids are unique, so only
//! malformed input can tell the two apart.

use super::warehouse::{
    Warehouse, WarehouseAssignment, WarehouseBatch, WarehouseConflict, WarehouseEvent,
};
use super::{Result, StoreError};
use crate::domain::EventRecord;
use crate::lines::{AssignmentLine, IngestRecord};
use foldhash::{HashMap, HashSet};

/// One batch's warehouse state.
#[derive(Default)]
pub(super) struct WarehouseState {
    pub rows: WarehouseBatch,
    /// (campaign id, unit) -> (arm id, period): stored before the batch, or assigned in it.
    units: HashMap<(i64, String), (i64, i64)>,
    /// Event ids written in this batch (a repeat inside one batch is a duplicate).
    event_ids: HashSet<String>,
    /// (campaign id, unit, event id) of the batch's events stored before it.
    stored_events: HashSet<(i64, String, String)>,
}

/// What a line did in the warehouse.
pub(super) enum WarehouseApplied {
    New,
    Duplicate,
    /// The unit is in another arm already: a conflict row was written.
    Conflict,
    /// No assignment for an event's unit.
    Unassigned,
}

impl WarehouseState {
    /// Looks up the stored assignments of every unit that `records` name, per campaign id
    /// (`campaign_id` resolves a campaign key, None for lines that will be rejected anyway).
    pub fn preload<'r>(
        warehouse: &Warehouse,
        records: impl Iterator<Item = &'r IngestRecord>,
        mut campaign_id: impl FnMut(&str) -> Option<i64>,
    ) -> Result<WarehouseState> {
        let mut wanted: HashMap<i64, HashSet<&str>> = HashMap::default();
        let mut events: HashMap<i64, Vec<(&str, &str)>> = HashMap::default();
        for record in records {
            let (campaign, unit) = match record {
                IngestRecord::Assignment(a) => (&a.campaign, &a.unit),
                IngestRecord::Event(e) => (&e.campaign, &e.unit),
                IngestRecord::Campaign(_) => continue,
            };
            if let Some(id) = campaign_id(campaign) {
                wanted.entry(id).or_default().insert(unit.as_str());
                if let IngestRecord::Event(e) = record {
                    events
                        .entry(id)
                        .or_default()
                        .push((e.unit.as_str(), e.event_id.as_str()));
                }
            }
        }
        let mut state = WarehouseState::default();
        for (id, units) in wanted {
            let units: Vec<&str> = units.into_iter().collect();
            let found = warehouse
                .assigned(id, &units)
                .map_err(|e| StoreError::Warehouse(e.to_string()))?;
            state.units.extend(
                found
                    .into_iter()
                    .map(|(unit, a)| ((id, unit), (a.arm_id, a.period))),
            );
        }
        for (id, pairs) in events {
            let found = warehouse
                .stored_events(id, &pairs)
                .map_err(|e| StoreError::Warehouse(e.to_string()))?;
            state
                .stored_events
                .extend(found.into_iter().map(|(u, e)| (id, u, e)));
        }
        Ok(state)
    }

    pub fn assignment(
        &mut self,
        campaign_id: i64,
        arm_id: i64,
        period: i64,
        propensity: f64,
        a: AssignmentLine,
    ) -> WarehouseApplied {
        let key = (campaign_id, a.unit);
        if let Some(&(existing, _)) = self.units.get(&key) {
            if existing == arm_id {
                return WarehouseApplied::Duplicate;
            }
            self.rows.conflicts.push(WarehouseConflict {
                campaign_id,
                unit: key.1,
                arm_id,
                ts: a.ts,
            });
            return WarehouseApplied::Conflict;
        }
        self.rows.assignments.push(WarehouseAssignment {
            campaign_id,
            unit: key.1.clone(),
            arm_id,
            period,
            propensity,
            context: a.context,
            pre_value: a.pre_value,
            ts: a.ts,
        });
        self.units.insert(key, (arm_id, period));
        WarehouseApplied::New
    }

    pub fn event(&mut self, campaign_id: i64, e: EventRecord) -> WarehouseApplied {
        let Some(&(arm_id, _)) = self.units.get(&(campaign_id, e.unit.clone())) else {
            return WarehouseApplied::Unassigned;
        };
        if !self.event_ids.insert(e.event_id.clone())
            || (!self.stored_events.is_empty()
                && self
                    .stored_events
                    .contains(&(campaign_id, e.unit.clone(), e.event_id.clone())))
        {
            return WarehouseApplied::Duplicate;
        }
        self.rows.events.push(WarehouseEvent {
            campaign_id,
            unit: e.unit,
            event_id: e.event_id,
            arm_id,
            kind: e.kind,
            value: e.value,
            cost: e.cost,
            ts: e.ts,
        });
        WarehouseApplied::New
    }
}
