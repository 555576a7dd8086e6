//! Which data plane a database reads and writes: its own tables, or a ClickHouse warehouse
//! (the `warehouse` setting). The reads every report, bandit and causal estimate stands on
//! answer from either; the rest refuse on a warehouse with `StoreError::NotOnWarehouse`
//! instead of reading this file's empty tables.

use super::warehouse::{Warehouse, WarehouseUrl, SETTING};
use super::{ArmSummary, PeriodRollups, Result, Store, StoreError};
use crate::domain::ArmRollup;

impl Store {
    /// Connects the warehouse the database names, if any (no network until the first call).
    pub(super) fn with_configured_warehouse(mut self) -> Result<Store> {
        if let Some(url) = self.setting(SETTING)? {
            let url = WarehouseUrl::parse(&url).map_err(StoreError::Corrupt)?;
            self.warehouse = Some(connect(url)?);
        }
        Ok(self)
    }

    /// The warehouse this database's data lives in, if any.
    pub fn warehouse(&self) -> Option<&Warehouse> {
        self.warehouse.as_ref()
    }

    /// Makes `url` this database's data plane. Refused when the file already holds
    /// assignments or events (there is no move of existing rows yet) or names another
    /// warehouse; the same URL again is a no-op.
    pub fn set_warehouse(&mut self, url: &WarehouseUrl) -> Result<()> {
        let text = url.to_string();
        match self.setting(SETTING)? {
            Some(existing) if existing == text => {}
            Some(existing) => {
                return Err(StoreError::Warehouse(format!(
                    "this database's data plane is already {existing}; it cannot move to {text}"
                )))
            }
            None => {
                let rows: i64 = self.conn.query_row(
                    "SELECT (SELECT COUNT(*) FROM assignments) + (SELECT COUNT(*) FROM events)",
                    [],
                    |r| r.get(0),
                )?;
                if rows > 0 {
                    return Err(StoreError::Warehouse(format!(
                        "this database holds {rows} assignment and event rows of its own; a \
                         warehouse can only be attached to a database without traffic (start \
                         a new file for the warehouse)"
                    )));
                }
                self.set_setting(SETTING, &text)?;
            }
        }
        self.warehouse = Some(connect(url.clone())?);
        Ok(())
    }

    /// Refuses a raw-row read (`what` names it) on a warehouse database.
    pub(super) fn sqlite_plane_only(&self, what: &'static str) -> Result<()> {
        match self.warehouse {
            Some(_) => Err(StoreError::NotOnWarehouse(what)),
            None => Ok(()),
        }
    }

    /// `arm_summaries` from the warehouse: the per-period rollups summed per arm.
    pub(super) fn warehouse_arm_summaries(
        &self,
        w: &Warehouse,
        campaign_id: i64,
        arms: Vec<(i64, String, f64)>,
    ) -> Result<Vec<ArmSummary>> {
        let by_period = w.period_rollups(campaign_id).map_err(warehouse_error)?;
        Ok(arms
            .into_iter()
            .map(|(id, key, weight)| {
                let mut rollup = ArmRollup::default();
                for ((arm, _), r) in &by_period {
                    if *arm == id {
                        rollup += r.clone();
                    }
                }
                ArmSummary {
                    key,
                    weight,
                    rollup,
                }
            })
            .collect())
    }

    /// Fills `out` (one slot per period and arm position) from the warehouse.
    pub(super) fn warehouse_period_rollups(
        &self,
        w: &Warehouse,
        campaign_id: i64,
        arm_ids: &[i64],
        out: &mut [PeriodRollups],
    ) -> Result<()> {
        let by_period = w.period_rollups(campaign_id).map_err(warehouse_error)?;
        for ((arm, period), rollup) in by_period {
            let slot = arm_ids
                .iter()
                .position(|&a| a == arm)
                .and_then(|pos| {
                    out.iter_mut()
                        .find(|p| p.period == period)
                        .and_then(|p| p.arms.get_mut(pos))
                })
                .ok_or_else(|| {
                    StoreError::Corrupt(format!(
                        "warehouse rollups for period {period}, arm id {arm}, which the campaign \
                         lacks"
                    ))
                })?;
            *slot = rollup;
        }
        Ok(())
    }
}

fn connect(url: WarehouseUrl) -> Result<Warehouse> {
    Warehouse::connect(url).map_err(warehouse_error)
}

pub(super) fn warehouse_error(e: super::warehouse::WarehouseError) -> StoreError {
    StoreError::Warehouse(e.to_string())
}
